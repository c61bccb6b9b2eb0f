/* engine-cli.h: dscoder-engine's command line: the parsed options (struct cli_args) and the verbs,
 * each an entry (struct cli_verb_entry, as tmux's cmd_entry) defined in its verb's file and listed in
 * the table of src/engine-main.c, which parses, checks and dispatches through it. */
#ifndef DS_ENGINE_CLI_H
#define DS_ENGINE_CLI_H

#include <stdbool.h>

#include "model.h"
#include "sampler.h"

enum cli_verb {
	VERB_NONE = 0, VERB_TOKENIZE, VERB_DETOKENIZE, VERB_LOGITS, VERB_GREEDY, VERB_GENERATE,
	VERB_COMPLETE, VERB_FIM, VERB_BENCH, VERB_PLAN, VERB_QUANTIZE, VERB_DEQUANTIZE, VERB_HTTP,
	VERB_BATCH_FILE, VERB_REMOTE,
};

/* --bench --batch N1,N2,...: at most this many sizes, measured in CLI_BENCH_ROUNDS rounds by default */
#define CLI_BENCH_CURVE_MAX 16
#define CLI_BENCH_ROUNDS 3

struct cli_args {
	enum cli_verb verb;
	const char *model;
	const char *ids_path, *logits_path;
	int greedy;
	const char *text, *system, *fim_prefix, *fim_suffix;
	bool json;
	bool profile;               /* --bench --profile: time per operation class (engine/op-profile.h) */
	int threads, n_ctx;
	struct ds_sampling sampling;
	bool seed_set;              /* --seed was given (else sampling.seed is random) */
	char **stop;
	int n_stop;
	/* parallelism (engine/plan.h): --gpus N or the count of --devices LIST, --gpu-mem GiB for
	 * --plan, --synthetic lite|full for a released config without files */
	int gpus;
	const char *devices;
	double gpu_mem_gb;
	const char *synthetic;
	int simulate_ranks;         /* --simulate-ranks N: the verbs run on N virtual ranks (engine/simulate.h) */
	/* --nodes N: one rank per process, joined over TCP (engine/net-ranks.h) */
	int nodes;
	int node_rank;              /* --node-rank R: 0 runs the verb, 1..N-1 follow */
	const char *rendezvous;     /* --rendezvous HOST:PORT, as given */
	char rdv_host[256];         /* its parts (checked by the option parser) */
	int rdv_port;
	int rdv_timeout_s;          /* --rendezvous-timeout S (default 300) */
	/* where the forward pass runs on one device (kernels/backend.h, engine/forward.h) */
	const char *backend;        /* --backend cpu|cuda|auto (NULL: $DSCODER_BACKEND, else auto) */
	int device;                 /* --device N */
	bool f32;                   /* --dtype f32 */
	int prompt_tokens;          /* --prompt-tokens N (--bench on a GPU; 0: 512 and 4096) */
	const char *quantize_type;  /* --quantize TYPE (engine/quantize-checkpoint.c) */
	const char *out_path;       /* --out FILE.gguf */
	bool split_kv_b;            /* --split-kv-b: attn_k_b and attn_v_b instead of attn_kv_b */
	const char *dequantize_name; /* --dequantize NAME (engine/cmd-dequantize.c) */
	/* --serve [HOST:]PORT (engine/cmd-serve.c) and --batch-file FILE (engine/cmd-batch-file.c) */
	const char *listen;         /* --serve's argument, as given */
	const char *batch_path;     /* --batch-file FILE ("-": stdin) */
	const char *api_key_file;   /* --api-key-file F: the Bearer token clients must send */
	int slots;                  /* --slots N: sequences decoded together (0: the default) */
	int queue;                  /* --queue N: requests waiting beyond the slots (-1: the default) */
	long max_body;              /* --max-body BYTES: largest request body (0: the default) */
	int timeout_s;              /* --timeout S: an idle connection is closed after S seconds (0: default) */
	int bench_batch;            /* --bench --batch N: N sequences decoded together (0: the one-sequence bench);
				       with a list, its largest size */
	int bench_curve[CLI_BENCH_CURVE_MAX];   /* --bench --batch N1,N2,...: the sizes of a batch curve */
	int n_bench_curve;          /* sizes in bench_curve; a curve when more than one */
	int bench_rounds;           /* --rounds R: rounds of the curve (0: CLI_BENCH_ROUNDS) */
	/* --remote URL (engine/cmd-remote.c): the pipe service answered by an OpenAI-compatible server */
	const char *remote_url;
	const char *remote_model;   /* --remote-model NAME */
	const char *remote_fim_url; /* --remote-fim-url URL: where fill-in-the-middle goes */
	const char *api_key_env;    /* --api-key-env VAR */
	bool model_given;           /* --model was on the command line (not the default model) */
};

/* One verb, as tmux's cmd_entry: what selects it, its lines in --help, what it combines with and the
 * function that runs it. The rules that main() checks come from flags, so a new verb is one entry in
 * its own file and one line in the table of src/engine-main.c. */
struct cli_verb_entry {
	enum cli_verb verb;
	const char *name;           /* as messages name it: "--logits", "the pipe service" */
	const char *usage;          /* its lines under "Verbs:" in --help ("" for the pipe service) */
	unsigned flags;
	int (*exec)(const struct cli_args *a);
};
#define CLI_FORWARD     0x01u   /* runs the forward pass: --backend is checked and chosen first */
#define CLI_SPLIT       0x02u   /* runs split: --gpus/--devices, --simulate-ranks and --nodes */
#define CLI_GPU_COUNT   0x04u   /* takes --gpus/--devices as a count (--plan) */
#define CLI_SYNTHETIC   0x08u   /* takes --synthetic */
#define CLI_SIGWAIT     0x10u   /* takes SIGINT and SIGTERM with sigwait: main blocks them before any thread
                                 * starts (the CUDA runtime starts some when the backend is probed) */

extern const struct cli_verb_entry cli_pipe_entry, cli_tokenize_entry, cli_detokenize_entry,
	cli_logits_entry, cli_greedy_entry, cli_generate_entry, cli_complete_entry, cli_fim_entry,
	cli_bench_entry, cli_plan_entry, cli_quantize_entry, cli_dequantize_entry, cli_http_entry, cli_remote_entry,
	cli_batch_file_entry;

/* Each returns the process exit status; errors are one line on stderr (cli_fail). */
int cli_tokenize(const struct cli_args *a);
int cli_detokenize(const struct cli_args *a);
int cli_logits(const struct cli_args *a);
int cli_greedy(const struct cli_args *a);
int cli_generate(const struct cli_args *a);
int cli_bench(const struct cli_args *a);
int cli_plan(const struct cli_args *a);
/* --quantize TYPE --out FILE: the Hugging Face checkpoint a->model as a GGUF file. */
int cli_quantize(const struct cli_args *a);
/* --dequantize NAME: tensor NAME of the GGUF file a->model as float32 on stdout. */
int cli_dequantize(const struct cli_args *a);
/* --bench on a GPU, or on a --synthetic model made on the GPU (engine/bench-gpu.c). */
int cli_bench_gpu(const struct cli_args *a);
struct ds_model;
struct ds_state;
/* With --simulate-ranks or --gpus/--devices, replaces *state (made on m) by rank 0 of the split model
 * with a context of n_ctx (0: *state's); otherwise does nothing. Returns 0, or cli_fail's status. */
int cli_ranks_state(const struct cli_args *a, const struct ds_model *m, struct ds_state **state, int n_ctx);
/* The same, returning -1 with one sentence in err instead of printing it (the pipe service reports
 * it as an error event); progress (may be NULL) hears the GPUs' weight upload. */
int cli_ranks_place(const struct cli_args *a, const struct ds_model *m, struct ds_state **state, int n_ctx,
		    ds_progress_fn progress, void *progress_arg, char *err, size_t errlen);
/* The context of the split model when the state was opened with the default one: --ctx when given;
 * with --simulate-ranks every rank holds the whole latent cache in this process, so a default
 * context (sized to the memory for one) is shared out among them; else 0 (the state's; --gpus caps
 * it to the GPUs' memory itself). */
int cli_ranks_context(const struct cli_args *a, const struct ds_state *state);
/* The backend as the ready event names a split model ("cuda, 2 GPUs over NCCL"), written to buf; NULL
 * when the model is not split. */
const char *cli_ranks_describe(const struct cli_args *a, char *buf, size_t len);
int cli_serve(const struct cli_args *a);
/* --serve [HOST:]PORT: the OpenAI-compatible HTTP server (engine/cmd-serve.c). */
int cli_http(const struct cli_args *a);
/* --batch-file FILE: every prompt of a JSON-lines file, answers in order (engine/cmd-batch-file.c). */
int cli_batch_file(const struct cli_args *a);
/* --nodes N --node-rank R with R >= 1: this process follows rank 0 (engine/cmd-nodes.c). */
int cli_follow(const struct cli_args *a);
/* Rank 0 of --nodes N: cli_ranks_place's part for it. */
int cli_nodes_place(const struct cli_args *a, const struct ds_model *m, struct ds_state **state, int n_ctx,
		    char *err, size_t errlen);

int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *cli_default_model(void);

#endif

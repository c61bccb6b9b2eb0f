/* engine-main.c: dscoder-engine's command line: the options into struct cli_args, then the rules and
 * the dispatch through the table of verbs (each verb's entry and function live in its own file). */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "engine-cli.h"
#include "forward.h"
#include "generate.h"
#include "params.h"
#include "paths.h"
#include "xalloc.h"

/* The verbs, in --help's order; each entry is in its verb's file. */
static const struct cli_verb_entry *const cli_verbs[] = {
	&cli_pipe_entry, &cli_http_entry, &cli_batch_file_entry, &cli_remote_entry,
	&cli_tokenize_entry, &cli_detokenize_entry, &cli_logits_entry, &cli_greedy_entry,
	&cli_generate_entry, &cli_complete_entry, &cli_fim_entry, &cli_plan_entry, &cli_bench_entry,
	&cli_quantize_entry, &cli_dequantize_entry,
};

static const char usage_head[] =
"usage: dscoder-engine [--model PATH] [options] [VERB]\n"
"\n"
"Runs DeepSeek-Coder-V2 (a Hugging Face checkpoint directory or a GGUF file) on this machine. With\n"
"no verb it serves the JSON-lines protocol of dscoder-engine(1) on stdin/stdout.\n"
"\n"
"Verbs:\n";

static const char usage_options[] =
"\n"
"Options:\n"
"  --model PATH             a checkpoint directory or a .gguf file (default: $DSCODER_MODEL, else the\n"
"                           bundled demo model)\n"
"  --system TEXT            system message for --generate\n"
"  --threads N              CPU threads (default: one per physical core)\n"
"  --kernels NAME           CPU kernel set: ref, avx2, avx512 (default: the fastest exact one this CPU\n"
"                           runs), avx512-int8 (AVX-512 VNNI: quantized weights times activations\n"
"                           rounded to 8 bits per block of 32 (K-quant decode: 256), like\n"
"                           llama.cpp; logits move by ~1e-2), avx2-int8 (the same for Q8_0, Q4_0,\n"
"                           Q5_0, Q5_1, Q4_K, Q5_K and Q6_K weights on CPUs with AVX2 but no AVX-512)\n"
"                           or avx512-bf16 (AVX-512 BF16: BF16 weights times activations rounded to\n"
"                           BF16, 8 significant bits; logits move by ~1e-2)\n"
"  --backend cpu|cuda|auto  where the forward pass runs (default: $DSCODER_BACKEND, else auto:\n"
"                           cuda when this build has it and a GPU is visible, else cpu)\n"
"  --device N               which GPU (default 0)\n"
"  --dtype bf16|f32         GPU weights in BF16 (default) or F32 (exact, twice the memory)\n"
"  --prompt-tokens N        --bench: the prompt's length (CPU: default 512; GPU: instead of 512\n"
"                           and 4096)\n"
"  --ctx N                  context length (default: the model's, capped by available memory;\n"
"                           --serve and --batch-file share the default out among the slots)\n"
"  --cache-type f32|bf16    the latent KV cache's values: f32 (exact; the default but with the\n"
"                           avx2-int8, avx512-int8 and avx512-bf16 kernels) or bf16 (CPU: half the memory, so\n"
"                           twice the context; keys and values rounded to BF16, and with AVX-512 BF16\n"
"                           decode's attention products too (faster); logits move by a few 1e-3)\n"
"  --max-tokens N           stop after N tokens (default: until EOS)\n"
"  --temperature T          0 = greedy (default 0)\n"
"  --top-k N, --top-p P, --min-p P, --repetition-penalty R, --seed S\n"
"  --stop STRING            stop before STRING (repeatable)\n"
"                           (with --serve and --batch-file: the defaults of requests that leave them out)\n"
"  --slots N                --serve, --batch-file: sequences decoded together (default 4)\n"
"  --queue N                --serve: requests that may wait for a slot; more get 429 (default 64)\n"
"  --api-key-file F         --serve: clients must send 'Authorization: Bearer KEY', KEY the first line\n"
"                           of F (required when HOST is not a loopback address); --remote: the key\n"
"                           sent to the server\n"
"  --api-key-env VAR        --remote: the key sent to the server is $VAR\n"
"  --remote-model NAME      --remote: the server's model (default: the first GET /v1/models lists)\n"
"  --remote-fim-url URL     --remote: fill-in-the-middle goes to this address instead (DeepSeek's API\n"
"                           serves it at https://api.deepseek.com/beta)\n"
"  --max-body BYTES         --serve: the largest request body (default 8388608); larger get 413\n"
"  --timeout S              --serve: an idle connection is closed after S seconds (default 60)\n"
"  --gpus N, --devices LIST split the model over N GPUs joined by NCCL, one thread each (LIST:\n"
"                           comma-separated device numbers); with --plan, the GPUs to plan for\n"
"  --gpu-mem GiB            memory of one GPU for --plan (default 80)\n"
"  --synthetic lite|full    --plan or --bench for a released configuration, no files needed\n"
"  --simulate-ranks N       run the pipe service, --logits, --greedy and generation on N virtual\n"
"                           ranks on the CPU\n"
"                           (the multi-GPU partition, joined by an in-process all-reduce)\n"
"  --nodes N --node-rank R --rendezvous HOST:PORT\n"
"                           the same partition over N processes (one per node, CPU), joined over\n"
"                           TCP: rank 0 runs the verb or the pipe service and listens on HOST:PORT;\n"
"                           ranks 1..N-1 get the same --model, --nodes and --rendezvous and no verb\n"
"  --rendezvous-timeout S   how long the nodes wait for each other at start-up (default 300)\n"
"  --help, --version\n";

static void usage(FILE *f)
{
	fputs(usage_head, f);
	for (size_t i = 0; i < sizeof cli_verbs / sizeof cli_verbs[0]; i++)
		fputs(cli_verbs[i]->usage, f);
	fputs(usage_options, f);
}

static const struct cli_verb_entry *verb_entry(enum cli_verb v)
{
	for (size_t i = 0; i < sizeof cli_verbs / sizeof cli_verbs[0]; i++)
		if (cli_verbs[i]->verb == v)
			return cli_verbs[i];
	return NULL;
}

/* "the pipe service, --logits and --greedy": the names of the verbs whose entries have flag f. */
static const char *verbs_with(unsigned f, char *buf, size_t len)
{
	size_t o = 0, n = 0, total = 0;

	for (size_t i = 0; i < sizeof cli_verbs / sizeof cli_verbs[0]; i++)
		total += (cli_verbs[i]->flags & f) != 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof cli_verbs / sizeof cli_verbs[0] && o < len; i++)
		if (cli_verbs[i]->flags & f)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", ++n == 1 ? "" : n == total ? " and " : ", ",
					      cli_verbs[i]->name);
	return buf;
}

enum {
	OPT_TOKENIZE = 256, OPT_DETOKENIZE, OPT_IDS, OPT_LOGITS, OPT_GREEDY, OPT_GENERATE, OPT_COMPLETE,
	OPT_FIM_PREFIX, OPT_FIM_SUFFIX, OPT_BENCH, OPT_JSON, OPT_MODEL, OPT_SYSTEM, OPT_THREADS, OPT_CTX,
	OPT_MAX_TOKENS, OPT_TEMPERATURE, OPT_TOP_K, OPT_TOP_P, OPT_MIN_P, OPT_REPEAT, OPT_SEED, OPT_STOP,
	OPT_HELP, OPT_VERSION,
	OPT_PLAN, OPT_GPUS, OPT_DEVICES, OPT_GPU_MEM, OPT_SYNTHETIC, OPT_SIMULATE_RANKS,
	OPT_BACKEND, OPT_DEVICE, OPT_DTYPE, OPT_PROMPT_TOKENS,
	OPT_NODES, OPT_NODE_RANK, OPT_RENDEZVOUS, OPT_RDV_TIMEOUT,
	OPT_QUANTIZE, OPT_OUT, OPT_SPLIT_KV_B, OPT_DEQUANTIZE,
	OPT_SERVE, OPT_BATCH_FILE, OPT_API_KEY_FILE, OPT_SLOTS, OPT_QUEUE, OPT_MAX_BODY, OPT_TIMEOUT,
	OPT_BENCH_BATCH, OPT_PROFILE, OPT_REMOTE, OPT_REMOTE_MODEL, OPT_REMOTE_FIM_URL, OPT_API_KEY_ENV,
	OPT_KERNELS, OPT_ROUNDS, OPT_CACHE_TYPE,
};

static const struct option long_options[] = {
	{ "tokenize", no_argument, NULL, OPT_TOKENIZE },
	{ "detokenize", no_argument, NULL, OPT_DETOKENIZE },
	{ "ids", required_argument, NULL, OPT_IDS },
	{ "logits", required_argument, NULL, OPT_LOGITS },
	{ "greedy", required_argument, NULL, OPT_GREEDY },
	{ "generate", required_argument, NULL, OPT_GENERATE },
	{ "complete", required_argument, NULL, OPT_COMPLETE },
	{ "fim-prefix", required_argument, NULL, OPT_FIM_PREFIX },
	{ "fim-suffix", required_argument, NULL, OPT_FIM_SUFFIX },
	{ "bench", no_argument, NULL, OPT_BENCH },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "profile", no_argument, NULL, OPT_PROFILE },
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "system", required_argument, NULL, OPT_SYSTEM },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "kernels", required_argument, NULL, OPT_KERNELS },
	{ "cache-type", required_argument, NULL, OPT_CACHE_TYPE },
	{ "ctx", required_argument, NULL, OPT_CTX },
	{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
	{ "temperature", required_argument, NULL, OPT_TEMPERATURE },
	{ "top-k", required_argument, NULL, OPT_TOP_K },
	{ "top-p", required_argument, NULL, OPT_TOP_P },
	{ "min-p", required_argument, NULL, OPT_MIN_P },
	{ "repetition-penalty", required_argument, NULL, OPT_REPEAT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "stop", required_argument, NULL, OPT_STOP },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "plan", no_argument, NULL, OPT_PLAN },
	{ "gpus", required_argument, NULL, OPT_GPUS },
	{ "devices", required_argument, NULL, OPT_DEVICES },
	{ "gpu-mem", required_argument, NULL, OPT_GPU_MEM },
	{ "synthetic", required_argument, NULL, OPT_SYNTHETIC },
	{ "simulate-ranks", required_argument, NULL, OPT_SIMULATE_RANKS },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "dtype", required_argument, NULL, OPT_DTYPE },
	{ "prompt-tokens", required_argument, NULL, OPT_PROMPT_TOKENS },
	{ "nodes", required_argument, NULL, OPT_NODES },
	{ "node-rank", required_argument, NULL, OPT_NODE_RANK },
	{ "rendezvous", required_argument, NULL, OPT_RENDEZVOUS },
	{ "rendezvous-timeout", required_argument, NULL, OPT_RDV_TIMEOUT },
	{ "quantize", required_argument, NULL, OPT_QUANTIZE },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "split-kv-b", no_argument, NULL, OPT_SPLIT_KV_B },
	{ "dequantize", required_argument, NULL, OPT_DEQUANTIZE },
	{ "serve", required_argument, NULL, OPT_SERVE },
	{ "batch-file", required_argument, NULL, OPT_BATCH_FILE },
	{ "api-key-file", required_argument, NULL, OPT_API_KEY_FILE },
	{ "slots", required_argument, NULL, OPT_SLOTS },
	{ "batch", required_argument, NULL, OPT_BENCH_BATCH },
	{ "rounds", required_argument, NULL, OPT_ROUNDS },
	{ "queue", required_argument, NULL, OPT_QUEUE },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "remote", required_argument, NULL, OPT_REMOTE },
	{ "remote-model", required_argument, NULL, OPT_REMOTE_MODEL },
	{ "remote-fim-url", required_argument, NULL, OPT_REMOTE_FIM_URL },
	{ "api-key-env", required_argument, NULL, OPT_API_KEY_ENV },
	{ NULL, 0, NULL, 0 },
};

/* Prints "dscoder-engine: message" as the one line a user sees, and returns exit status 1. */
int cli_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("dscoder-engine: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int parse_int(const char *opt, const char *arg, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < min || v > max) {
		cli_fail("%s needs a whole number from %ld to %ld, not '%s'", opt, min, max, arg);
		return -1;
	}
	*out = v;
	return 0;
}

/* --batch N, or N1,N2,... (a curve): each from 1 to 256, at most CLI_BENCH_CURVE_MAX of them;
 * bench_batch is the largest */
static int parse_batch_sizes(const char *arg, struct cli_args *a)
{
	char piece[32];
	const char *p = arg;
	a->n_bench_curve = 0;
	a->bench_batch = 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		long v;
		if (a->n_bench_curve == CLI_BENCH_CURVE_MAX)
			return cli_fail("--batch takes at most %d sizes, not '%s'", CLI_BENCH_CURVE_MAX, arg);
		snprintf(piece, sizeof piece, "%.*s", len < sizeof piece ? (int)len : (int)sizeof piece - 1, p);
		if (len >= sizeof piece || parse_int("--batch", piece, 1, 256, &v) != 0) {
			if (len >= sizeof piece)
				cli_fail("--batch needs whole numbers from 1 to 256 (N, or N1,N2,... for a curve), "
					 "not '%s'", arg);
			return -1;
		}
		a->bench_curve[a->n_bench_curve++] = (int)v;
		if (v > a->bench_batch)
			a->bench_batch = (int)v;
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

static int parse_float(const char *opt, const char *arg, double min, double max, float *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !(v >= min && v <= max)) {
		cli_fail("%s needs a number from %g to %g, not '%s'", opt, min, max, arg);
		return -1;
	}
	*out = (float)v;
	return 0;
}

/* A sampling option (OPT_MAX_TOKENS to OPT_SEED) into s: a number, whole for --max-tokens, --top-k and
 * --seed, in its range of params_ranges, which the pipe protocol and the profiles check too. Returns 0,
 * or cli_fail's status. */
static int parse_sampling(int opt, const char *arg, struct ds_sampling *s)
{
	static const struct { int opt; enum params_field field; } fields[] = {
		{ OPT_MAX_TOKENS, PARAMS_MAX_TOKENS }, { OPT_TEMPERATURE, PARAMS_TEMPERATURE },
		{ OPT_TOP_K, PARAMS_TOP_K }, { OPT_TOP_P, PARAMS_TOP_P }, { OPT_MIN_P, PARAMS_MIN_P },
		{ OPT_REPEAT, PARAMS_REPETITION_PENALTY }, { OPT_SEED, PARAMS_SEED },
	};
	enum params_field f = PARAMS_N_FIELDS;
	const struct params_range *r;
	char words[96], err[256], *end;

	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (fields[i].opt == opt)
			f = fields[i].field;
	if (f == PARAMS_N_FIELDS)
		return cli_fail("option %d is not a sampling option", opt);    /* a bug, not a user's mistake */
	r = &params_ranges[f];
	params_range_words(f, words, sizeof words);
	errno = 0;
	if (r->integer) {
		long long v = strtoll(arg, &end, 10);

		if (errno != 0 || end == arg || *end != '\0')
			return cli_fail("%s needs a whole number %s, not '%s'", r->option, words, arg);
		if (params_check_int(f, r->option, v, err, sizeof err) != 0)
			return cli_fail("%s", err);
		if (f == PARAMS_SEED)
			s->seed = (uint64_t)v;
		else if (f == PARAMS_TOP_K)
			s->top_k = (int)v;
		else
			s->max_tokens = (int)v;
	} else {
		double v = strtod(arg, &end);

		if (end == arg || *end != '\0')
			return cli_fail("%s needs a number %s, not '%s'", r->option, words, arg);
		if (params_check(f, r->option, v, err, sizeof err) != 0)
			return cli_fail("%s", err);
		if (f == PARAMS_TEMPERATURE)
			s->temperature = (float)v;
		else if (f == PARAMS_TOP_P)
			s->top_p = (float)v;
		else if (f == PARAMS_MIN_P)
			s->min_p = (float)v;
		else
			s->repetition_penalty = (float)v;
	}
	return 0;
}

/* Splits --rendezvous HOST:PORT (HOST may be [v6-address]) into a->rdv_host and a->rdv_port. */
static int parse_rendezvous(struct cli_args *a, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	long port;

	if (colon == NULL || colon == arg)
		return cli_fail("--rendezvous needs HOST:PORT (rank 0's address and a port, such as "
				"node0.example:29500), not '%s'", arg);
	if (parse_int("--rendezvous's port", colon + 1, 1, 65535, &port) != 0)
		return 1;
	const char *host = arg;
	size_t len = (size_t)(colon - arg);
	if (host[0] == '[' && len >= 2 && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof a->rdv_host)
		return cli_fail("--rendezvous needs HOST:PORT with a host name of 1 to %zu characters, not '%s'",
				sizeof a->rdv_host - 1, arg);
	a->rendezvous = arg;
	memcpy(a->rdv_host, host, len);
	a->rdv_host[len] = '\0';
	a->rdv_port = (int)port;
	return 0;
}

/* The rules of --nodes, --node-rank and --rendezvous. Returns 0, or cli_fail's status. */
static int check_nodes(const struct cli_args *a, bool node_rank_set)
{
	if (a->nodes == 0) {
		if (node_rank_set || a->rendezvous != NULL)
			return cli_fail("--node-rank and --rendezvous need --nodes N");
		return 0;
	}
	if (a->gpus > 0 || a->simulate_ranks > 0)
		return cli_fail("--nodes runs one CPU rank per process: leave out --gpus, --devices and "
				"--simulate-ranks");
	if (a->rendezvous == NULL)
		return cli_fail("--nodes needs --rendezvous HOST:PORT: rank 0's address, where it listens and "
				"the other nodes connect");
	if (!node_rank_set)
		return cli_fail("--nodes needs --node-rank R: 0 for the process that runs the verb, 1 to %d for "
				"the others", a->nodes - 1);
	if (a->node_rank >= a->nodes)
		return cli_fail("--node-rank %d is outside 0..%d (--nodes %d)", a->node_rank, a->nodes - 1,
				a->nodes);
	if (a->node_rank > 0 && a->verb != VERB_NONE)
		return cli_fail("--node-rank %d follows rank 0 and takes no verb: give the verb to --node-rank 0",
				a->node_rank);
	if ((verb_entry(a->verb)->flags & CLI_SPLIT) == 0) {
		char verbs[256];
		return cli_fail("--nodes works with %s", verbs_with(CLI_SPLIT, verbs, sizeof verbs));
	}
	return 0;
}

const char *cli_default_model(void)
{
	static char *demo;
	const char *env = getenv("DSCODER_MODEL");

	if (env != NULL && *env != '\0')
		return env;
	if (demo == NULL)
		demo = xasprintf("%s/models/dscoder-demo", paths_pkgdatadir());
	return demo;
}

int main(int argc, char **argv)
{
	const struct cli_verb_entry *verb;
	struct cli_args a;
	char list[256];
	bool node_rank_set = false;
	long v;
	int c;

	memset(&a, 0, sizeof a);
	a.rdv_timeout_s = 300;
	ds_sampling_defaults(&a.sampling);
	a.sampling.seed = ds_random_seed();     /* --seed makes a run reproducible */
	a.greedy = -1;
	a.queue = -1;
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_TOKENIZE: a.verb = VERB_TOKENIZE; break;
		case OPT_DETOKENIZE: a.verb = VERB_DETOKENIZE; break;
		case OPT_IDS: a.ids_path = optarg; break;
		case OPT_LOGITS: a.logits_path = optarg; a.verb = VERB_LOGITS; break;
		case OPT_GREEDY:
			if (parse_int("--greedy", optarg, 0, INT_MAX / 2, &v) != 0)
				return 1;
			a.greedy = (int)v;
			a.verb = VERB_GREEDY;
			break;
		case OPT_GENERATE: a.text = optarg; a.verb = VERB_GENERATE; break;
		case OPT_COMPLETE: a.text = optarg; a.verb = VERB_COMPLETE; break;
		case OPT_FIM_PREFIX: a.fim_prefix = optarg; a.verb = VERB_FIM; break;
		case OPT_FIM_SUFFIX: a.fim_suffix = optarg; a.verb = VERB_FIM; break;
		case OPT_BENCH: a.verb = VERB_BENCH; break;
		case OPT_JSON: a.json = true; break;
		case OPT_PROFILE: a.profile = true; break;
		case OPT_MODEL: a.model = optarg; a.model_given = true; break;
		case OPT_SYSTEM: a.system = optarg; break;
		case OPT_THREADS:
			if (parse_int("--threads", optarg, 1, 4096, &v) != 0)
				return 1;
			a.threads = (int)v;
			break;
		case OPT_KERNELS:
			/* the CPU backend reads DSCODER_KERNELS once, when it first multiplies */
			if (strcmp(optarg, "ref") != 0 && strcmp(optarg, "avx2") != 0 &&
			    strcmp(optarg, "avx2-int8") != 0 && strcmp(optarg, "avx512") != 0 && strcmp(optarg, "avx512-int8") != 0 &&
			    strcmp(optarg, "avx512-bf16") != 0) {
				fprintf(stderr, "dscoder-engine: --kernels %s is not a kernel set: use ref, avx2, "
					"avx2-int8, avx512, avx512-int8 or avx512-bf16.\n", optarg);
				return 1;
			}
			setenv("DSCODER_KERNELS", optarg, 1);
			break;
		case OPT_CACHE_TYPE: {
			/* every state the forward pass makes reads DSCODER_CACHE_TYPE; its names are forward's */
			char cerr[256];
			setenv("DSCODER_CACHE_TYPE", optarg, 1);
			if (ds_forward_cache_type(NULL, cerr, sizeof cerr) < 0) {
				fprintf(stderr, "dscoder-engine: %s.\n", cerr);
				return 1;
			}
			break;
		}
		case OPT_CTX:
			if (parse_int("--ctx", optarg, 16, INT_MAX / 2, &v) != 0)
				return 1;
			a.n_ctx = (int)v;
			break;
		case OPT_MAX_TOKENS:
		case OPT_TEMPERATURE:
		case OPT_TOP_K:
		case OPT_TOP_P:
		case OPT_MIN_P:
		case OPT_REPEAT:
		case OPT_SEED:
			if (parse_sampling(c, optarg, &a.sampling) != 0)
				return 1;
			a.seed_set |= c == OPT_SEED;
			break;
		case OPT_STOP: {
			static char *stops[PARAMS_MAX_STOP];    /* pointers into argv: nothing to free */
			char err[256];

			if (params_check_stop("--stop", (const char *const *)&optarg, 1, err, sizeof err) != 0 ||
			    params_check_stop("--stop", NULL, a.n_stop + 1, err, sizeof err) != 0)
				return cli_fail("%s", err);
			stops[a.n_stop++] = optarg;
			a.stop = stops;
			break;
		}
		case OPT_PLAN: a.verb = VERB_PLAN; break;
		case OPT_GPUS:
			if (parse_int("--gpus", optarg, 1, 4096, &v) != 0)
				return 1;
			a.gpus = (int)v;
			break;
		case OPT_DEVICES: {
			/* a comma-separated list of device numbers: its length is the GPU count */
			int n = params_devices_count(optarg);
			if (n < 0)
				return cli_fail("--devices needs device numbers separated by commas (such as 0,1,2,3), "
						"not '%s'", optarg);
			a.devices = optarg;
			a.gpus = n;
			break;
		}
		case OPT_GPU_MEM: {
			float gb;

			if (parse_float("--gpu-mem", optarg, 0.001, 1e6, &gb) != 0)
				return 1;
			a.gpu_mem_gb = gb;
			break;
		}
		case OPT_SYNTHETIC: a.synthetic = optarg; break;
		case OPT_BACKEND:
			if (strcmp(optarg, "cpu") != 0 && strcmp(optarg, "cuda") != 0 && strcmp(optarg, "auto") != 0)
				return cli_fail("--backend needs cpu, cuda or auto, not '%s'", optarg);
			a.backend = optarg;
			break;
		case OPT_DEVICE:
			if (parse_int("--device", optarg, 0, 4095, &v) != 0)
				return 1;
			a.device = (int)v;
			break;
		case OPT_DTYPE:
			if (strcmp(optarg, "f32") != 0 && strcmp(optarg, "bf16") != 0)
				return cli_fail("--dtype needs bf16 or f32, not '%s'", optarg);
			a.f32 = strcmp(optarg, "f32") == 0;
			break;
		case OPT_PROMPT_TOKENS:
			if (parse_int("--prompt-tokens", optarg, 1, 1 << 20, &v) != 0)
				return 1;
			a.prompt_tokens = (int)v;
			break;
		case OPT_SIMULATE_RANKS:
			if (parse_int("--simulate-ranks", optarg, 1, 4096, &v) != 0)
				return 1;
			a.simulate_ranks = (int)v;
			break;
		case OPT_NODES:
			if (parse_int("--nodes", optarg, 1, 4096, &v) != 0)
				return 1;
			a.nodes = (int)v;
			break;
		case OPT_NODE_RANK:
			if (parse_int("--node-rank", optarg, 0, 4095, &v) != 0)
				return 1;
			a.node_rank = (int)v;
			node_rank_set = true;
			break;
		case OPT_RENDEZVOUS:
			if (parse_rendezvous(&a, optarg) != 0)
				return 1;
			break;
		case OPT_RDV_TIMEOUT:
			if (parse_int("--rendezvous-timeout", optarg, 1, 86400, &v) != 0)
				return 1;
			a.rdv_timeout_s = (int)v;
			break;
		case OPT_QUANTIZE: a.quantize_type = optarg; a.verb = VERB_QUANTIZE; break;
		case OPT_OUT: a.out_path = optarg; break;
		case OPT_SPLIT_KV_B: a.split_kv_b = true; break;
		case OPT_DEQUANTIZE: a.dequantize_name = optarg; a.verb = VERB_DEQUANTIZE; break;
		case OPT_SERVE: a.listen = optarg; a.verb = VERB_HTTP; break;
		case OPT_BATCH_FILE: a.batch_path = optarg; a.verb = VERB_BATCH_FILE; break;
		case OPT_API_KEY_FILE: a.api_key_file = optarg; break;
		case OPT_REMOTE: a.remote_url = optarg; a.verb = VERB_REMOTE; break;
		case OPT_REMOTE_MODEL: a.remote_model = optarg; break;
		case OPT_REMOTE_FIM_URL: a.remote_fim_url = optarg; break;
		case OPT_API_KEY_ENV: a.api_key_env = optarg; break;
		case OPT_SLOTS:
			if (parse_int("--slots", optarg, 1, 256, &v) != 0)
				return 1;
			a.slots = (int)v;
			break;
		case OPT_BENCH_BATCH:
			if (parse_batch_sizes(optarg, &a) != 0)
				return 1;
			break;
		case OPT_ROUNDS:
			if (parse_int("--rounds", optarg, 1, 100, &v) != 0)
				return 1;
			a.bench_rounds = (int)v;
			break;
		case OPT_QUEUE:
			if (parse_int("--queue", optarg, 0, 100000, &v) != 0)
				return 1;
			a.queue = (int)v;
			break;
		case OPT_MAX_BODY:
			if (parse_int("--max-body", optarg, 1024, 1L << 30, &v) != 0)
				return 1;
			a.max_body = v;
			break;
		case OPT_TIMEOUT:
			if (parse_int("--timeout", optarg, 1, 86400, &v) != 0)
				return 1;
			a.timeout_s = (int)v;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("dscoder-engine %s\n", PACKAGE_VERSION);
			return 0;
		default:
			fputs("Try 'dscoder-engine --help'.\n", stderr);
			return 1;
		}
	}
	if (optind < argc)
		return cli_fail("unexpected argument '%s'; options start with -- (see --help)", argv[optind]);
	a.sampling.stop = a.stop;
	a.sampling.n_stop = a.n_stop;
	if (a.model == NULL)
		a.model = cli_default_model();
	if ((a.verb == VERB_LOGITS || a.verb == VERB_GREEDY) && a.ids_path == NULL)
		return cli_fail("--logits and --greedy need --ids FILE with the prompt's token ids");
	if (a.verb == VERB_NONE && a.ids_path != NULL)
		return cli_fail("--ids needs --logits OUT or --greedy N to say what to do with the ids");
	if ((a.verb == VERB_QUANTIZE) != (a.out_path != NULL))
		return cli_fail("--quantize TYPE and --out FILE.gguf go together: the type and the file to write");
	if (a.split_kv_b && a.verb != VERB_QUANTIZE)
		return cli_fail("--split-kv-b says how --quantize writes attn_kv_b: use it with --quantize TYPE --out FILE.gguf");
	if (a.verb == VERB_FIM && (a.fim_prefix == NULL || a.fim_suffix == NULL))
		return cli_fail("fill-in-the-middle needs both --fim-prefix and --fim-suffix");
	verb = verb_entry(a.verb);
	if (a.gpus > 0 && (verb->flags & (CLI_SPLIT | CLI_GPU_COUNT)) == 0)
		return cli_fail("--gpus and --devices work with %s",
				verbs_with(CLI_SPLIT | CLI_GPU_COUNT, list, sizeof list));
	if (a.gpus > 0 && a.simulate_ranks > 0 && (verb->flags & CLI_GPU_COUNT) == 0)
		return cli_fail("--simulate-ranks runs on the CPU: leave out --gpus or --devices");
	if (a.synthetic != NULL && (verb->flags & CLI_SYNTHETIC) == 0)
		return cli_fail("--synthetic works with %s", verbs_with(CLI_SYNTHETIC, list, sizeof list));
	if (a.simulate_ranks > 0 && (verb->flags & CLI_SPLIT) == 0)
		return cli_fail("--simulate-ranks works with %s", verbs_with(CLI_SPLIT, list, sizeof list));
	if ((a.max_body > 0 || a.timeout_s > 0 || a.queue >= 0) && a.verb != VERB_HTTP)
		return cli_fail("--max-body, --timeout and --queue work with --serve");
	if (a.api_key_file != NULL && a.verb != VERB_HTTP && a.verb != VERB_REMOTE)
		return cli_fail("--api-key-file works with --serve and --remote");
	if ((a.api_key_env != NULL || a.remote_model != NULL || a.remote_fim_url != NULL) && a.verb != VERB_REMOTE)
		return cli_fail("--api-key-env, --remote-model and --remote-fim-url work with --remote URL");
	if (a.api_key_env != NULL && a.api_key_file != NULL)
		return cli_fail("--api-key-env and --api-key-file both name the key: give one");
	if (a.bench_batch > 0 && a.verb != VERB_BENCH)
		return cli_fail("--batch N works with --bench (sequences decoded together)");
	if (a.profile && a.verb != VERB_BENCH)
		return cli_fail("--profile works with --bench: time per operation class");
	if (a.bench_batch > 0 && a.synthetic != NULL)
		return cli_fail("--bench --batch runs a checkpoint given with --model, not --synthetic weights");
	if (a.bench_rounds > 0 && (a.verb != VERB_BENCH || (a.bench_batch > 0 && a.n_bench_curve < 2)))
		return cli_fail("--rounds works with --bench (rounds of prefill and decode) and --bench --batch "
				"N1,N2,... (a batch curve), not with one --batch size");
	if (a.prompt_tokens > 0 && (a.verb != VERB_BENCH || a.bench_batch > 0))
		return cli_fail("--prompt-tokens works with --bench (the prompt's length), not with --batch");
	if (a.profile && a.n_bench_curve > 1)
		return cli_fail("--profile with --batch takes one size, not a curve");
	if (a.slots > 0 && a.verb != VERB_HTTP && a.verb != VERB_BATCH_FILE)
		return cli_fail("--slots works with --serve and --batch-file");
	if (check_nodes(&a, node_rank_set) != 0)
		return 1;

	/* The backend the forward pass of every verb runs on, checked once here: a missing GPU or a build
	 * without CUDA is one sentence before any model is loaded. --gpus and --simulate-ranks make their
	 * own ranks' states (the first state stays on the CPU, where it costs no device memory). */
	if (verb->flags & CLI_SIGWAIT) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	if (a.backend == NULL) {
		const char *env = getenv("DSCODER_BACKEND");
		a.backend = env != NULL && *env != '\0' ? env : "auto";
	}
	if (verb->flags & CLI_FORWARD) {
		char err[512];
		const struct ds_backend *be = ds_backend_find(a.backend, err, sizeof err);
		if (be == NULL)
			return cli_fail("%s", err);
		a.backend = be->name;
		if (a.gpus == 0 && a.simulate_ranks == 0 && a.nodes == 0) {
			struct ds_backend_choice bc = { .name = a.backend, .device = a.device, .f32 = a.f32 };
			ds_forward_set_backend(&bc);
		}
	}

	/* A reader that goes away (| head) ends us quietly instead of killing us with a signal. */
	signal(SIGPIPE, SIG_IGN);

	if (a.nodes > 0 && a.node_rank > 0)
		return cli_follow(&a);
	return verb->exec(&a);
}

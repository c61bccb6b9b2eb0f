/* forward.h: the DeepSeek-V2 forward pass over a latent (MLA) KV cache: prefill a batch, decode one. */
#ifndef DS_FORWARD_H
#define DS_FORWARD_H

#include "model.h"

struct ds_state;
struct ds_backend;

/* Creates the run state for m: a latent KV cache of n_ctx positions (kv_lora_rank + qk_rope_head_dim
 * floats per token per layer), scratch buffers sized for prefill batches, and a pool of n_threads
 * worker threads (0: all cores). Everything the decode loop needs is allocated here. Returns NULL
 * with a sentence in err when the memory cannot be had. m must outlive the state. It runs on the
 * process default backend: the CPU, unless the command line chose another (ds_forward_set_backend). */
struct ds_state *ds_state_new(const struct ds_model *m, int n_ctx, int n_threads, char *err, size_t errlen);

/* Where the forward pass runs, by name (kernels/backend.h: ds_backend_find). */
struct ds_backend_choice {
	const char *name;           /* "cpu", "cuda", "auto"; NULL: "cpu" */
	int device;                 /* GPU index */
	bool f32;                   /* GPU weights in F32 (exact tests), else BF16 */
	ds_progress_fn progress;    /* weight upload progress (a GPU's load), may be NULL */
	void *progress_arg;
};
void ds_forward_set_backend(const struct ds_backend_choice *c);
/* The process default, for a caller that adds its own progress callback to it. */
void ds_forward_get_backend(struct ds_backend_choice *c);
/* ds_state_new on an explicit choice (NULL: the process default); a GPU backend copies the weights
 * to the device here, once. */
struct ds_state *ds_state_new_on(const struct ds_model *m, int n_ctx, int n_threads,
				 const struct ds_backend_choice *c, char *err, size_t errlen);
/* "cpu" or "cuda": the backend s runs on. */
const char *ds_state_backend(const struct ds_state *s);
/* The backend's own context of s (for backend-specific calls: the GPU's synchronisation). */
void *ds_state_backend_ctx(const struct ds_state *s);
/* The same on backend be (kernels/backend.h), whose create picks up its own options (for CUDA, the
 * device set by ds_cuda_set_options): ds_state_new is this with the CPU backend. */
struct ds_state *ds_state_new_backend(const struct ds_model *m, const struct ds_backend *be, int n_ctx,
				      int n_threads, char *err, size_t errlen);
void ds_state_free(struct ds_state *s);

/* The latent cache's element type new states on backend be get: DS_F32, or DS_BF16 where
 * DSCODER_CACHE_TYPE (--cache-type) says bf16 (half the memory; keys and values rounded to BF16, the
 * attention's arithmetic F32); unset, be's default (cache_type_default: the CPU backend's is BF16
 * with the kernel sets that round activations), F32 where be is NULL; -1 with one sentence in err
 * for another value. */
int ds_forward_cache_type(const struct ds_backend *be, char *err, size_t errlen);
/* Bytes of one cached value of that type (4 or 2). */
size_t ds_cache_bytes_per_value(int cache_type);
/* The cache type of s (DS_F32 or DS_BF16). */
int ds_state_cache_type(const struct ds_state *s);
int ds_state_n_ctx(const struct ds_state *s);
int ds_state_threads(const struct ds_state *s);

/* Runs tokens[0..n) of the sequence in slot 0 at positions pos..pos+n-1, writing their latent K/V
 * into the cache (positions >= pos are overwritten: rewinding is just calling with a smaller pos).
 * n > 1 runs as a batch (matrix-matrix, K/V expanded with kv_b_proj); n == 1 runs the absorbed decode path. Both give the
 * same logits. If logits is not NULL it receives vocab_size floats per position when all_logits,
 * else only those of the last position. Requires 0 <= pos and pos + n <= n_ctx, token ids in
 * [0, vocab_size): returns -1 otherwise, without touching the cache. */
int ds_forward(struct ds_state *s, const int *tokens, int n, int pos, float *logits, bool all_logits);

/* Several sequences at once (llama.cpp's llama_batch is the model): the state's cache holds one slot
 * of n_ctx positions per sequence, and one call runs tokens of any of them, each at its own position,
 * so the weights are read once for all. Tokens of one sequence that follow each other in the batch at
 * consecutive positions attend to each other causally; every token also sees its slot's cache rows
 * before its position, which an earlier call (or an earlier token of the batch) wrote. */
struct ds_batch {
	int n;
	const int *tokens;          /* (n) ids */
	const int *pos;             /* (n) position of each token in its sequence */
	const int *seq;             /* (n) its sequence: a cache slot in [0, ds_state_slots) */
	const bool *want_logits;    /* (n) which tokens' logits to return; NULL: the last token's */
	/* Asked before each layer when not NULL: nonzero stops the pass there (a cancel need not wait
	 * for the whole batch: a 512-token step of the 27-layer Coder-V2-Lite takes seconds on a few
	 * cores). Not asked on a state split over ranks, whose other ranks run every layer. */
	int (*stop)(void *arg);
	void *stop_arg;
};

/* Gives s n_slots cache slots of n_ctx positions each (ds_state_new makes one). The cache contents
 * are lost; call it before the first forward pass (a GPU records its decode graph on the first).
 * Returns 0, or -1 with a sentence in err when the memory cannot be had or s is split over ranks
 * (ds_state_set_parallel; more than one slot there is not supported yet): s then keeps one slot. */
int ds_state_set_slots(struct ds_state *s, int n_slots, char *err, size_t errlen);
int ds_state_slots(const struct ds_state *s);

/* Runs batch b: writes each token's latent K/V into its slot at its position, and, if logits is not
 * NULL, vocab_size floats per token whose want_logits is set, in batch order. Requires token ids in
 * [0, vocab_size), positions in [0, n_ctx), sequences in [0, slots): returns -1 otherwise, without
 * touching the cache. Returns 1 when b->stop stopped it: then the cache rows at the batch's positions
 * hold nothing usable (the rows before them are as they were) and logits nothing. On a state split
 * over ranks (ds_state_set_parallel) only one sequence in slot 0 at consecutive positions with at most
 * the last token's logits is accepted (ds_forward). */
int ds_forward_batch(struct ds_state *s, const struct ds_batch *b, float *logits);

/* ds_forward, then the argmax of the last position's logits, taken where the logits are (on a GPU
 * only the id is read back, and one-token steps replay a recorded graph): greedy decoding and
 * benchmarks. Returns the id, or -1 as ds_forward. */
int ds_forward_next(struct ds_state *s, const int *tokens, int n, int pos);
/* ds_forward, then a token drawn from softmax(logits / temperature) of the last position: the first
 * index where the running sum exceeds u (uniform in [0, 1) from the caller's seeded generator),
 * drawn where the logits are. temperature <= 0 is ds_forward_next. For plain temperature sampling;
 * top-k, top-p and penalties need the logits on the host (ds_forward). */
int ds_forward_sample(struct ds_state *s, const int *tokens, int n, int pos, float temperature, float u);

/* Tensor and expert parallelism (engine/plan.h, engine/shard.h): a state created on one rank's shard
 * joins the other ranks through these hooks. Without them (the default) the pass is unchanged. */
struct ds_parallel {
	/* Sums n floats of buf, a buffer of the state's backend context bctx (device memory on a GPU),
	 * over all ranks in place; every rank must get the same values. Called on the partial output of
	 * attention (after o_proj) and of the FFN, before each is added to the residual stream. */
	void (*allreduce)(void *arg, void *bctx, float *buf, size_t n);
	/* Rank 0 only: called once per ds_forward, after the arguments are checked, so that the other
	 * ranks make the same call (with logits NULL). */
	void (*launch)(void *arg, const int *tokens, int n, int pos);
	/* Called last by ds_state_free (the state is gone by then), so whoever set up the ranks can tear
	 * them down with the state that stands for them. */
	void (*release)(void *arg);
	void *arg;
	/* n_routed_experts flags, the routed experts this rank evaluates (NULL: all). Every rank still
	 * routes over all experts; the others' choices reach the backend as id -1. */
	const unsigned char *expert_owned;
	/* With expert_owned: n_routed_experts entries, the index of each owned expert among the rank's
	 * own (the layers' exp_gate/up/down then hold only those, n_local_experts of them, and the MoE
	 * call gets n_routed = n_local_experts); NULL: experts keep their global index. A rank routes on
	 * the host, where the ids are marked and mapped, never in a recorded graph. */
	const int *expert_local;
	int n_local_experts;
};

/* Copies p (NULL: none) into s; p's arrays must outlive s. */
void ds_state_set_parallel(struct ds_state *s, const struct ds_parallel *p);

#endif

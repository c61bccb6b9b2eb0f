/* backend.h: the compute interface the forward pass is written against (CPU and CUDA). */
#ifndef DS_BACKEND_H
#define DS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* What a backend context is sized for; every scratch buffer is allocated from this at create time,
 * so that no operation allocates. */
struct ds_backend_params {
	const struct ds_config *cfg;
	int n_ctx;                 /* positions the KV cache holds */
	int max_batch;             /* the most tokens one call of an operation gets (prefill chunk) */
	int n_threads;             /* 0: one per core the process may run on */
	int device;                /* GPU backends: which GPU (--device N) */
	bool f32;                  /* GPU backends: keep weights in F32 (--dtype f32), not BF16 */
};

/* Multi-head latent attention of one layer for n query tokens of one sequence at positions
 * pos..pos+n-1. A batch of several sequences (engine/forward.h, ds_forward_batch) makes one call per
 * run of consecutive positions, each with its own sequence's cache slot. */
struct ds_attn_args {
	float *out;                     /* (n, heads * v_head_dim) */
	const float *q;                 /* (n, heads * (nope + rope)), q_pe already roped */
	const void *cache;              /* (n_ctx, kv_rank + rope) of cache_type: rows [0, pos + n) hold
	                                 * the normed c_kv and the roped k_pe of this layer */
	enum ds_dtype cache_type;       /* DS_F32, or DS_BF16 (--cache-type bf16: half the memory) */
	const float *cur;               /* (n, kv_rank + rope): rows pos..pos+n-1 as F32, the values the
	                                 * cache holds (the BF16 ones widened); NULL: an F32 cache's own */
	const struct ds_tensor *kv_b;   /* (heads * (nope + v), kv_rank): kv_b_proj; NULL where k_b and
	                                 * v_b hold it */
	const struct ds_tensor *k_b;    /* (heads * kv_rank, nope): each head's W_UK transposed */
	const struct ds_tensor *v_b;    /* (heads * v, kv_rank): each head's W_UV */
	const struct ds_tensor *uk4;    /* NULL, or kv_b's W_UK as the CPU backend's load tabled it
	                                 * for its int8 absorb (cpu-uk4.h) */
	const struct ds_tensor *uv4;    /* NULL, or kv_b's W_UV rows of every head together in the
	                                 * rows4 layout, as the CPU backend's load copied them
	                                 * (cpu_rows4_uv_model), for decode */
	int n, pos;
	int n_heads, nope, rope, v_dim, kv_rank;
	float scale;                    /* softmax scale */
};

/* One decode token of a multi-sequence attention call (.attention_decode). */
struct ds_attn_token {
	int pos;                        /* its position: it attends to rows [0, pos] of cache */
	const void *cache;              /* its sequence's cache (n_ctx, kv_rank + rope), of the call's
	                                 * cache_type */
};

/* The routed experts and shared experts of one MoE layer, once the router has chosen. */
struct ds_moe_args {
	const float *x;                 /* (n, hidden): the normed input */
	int n, hidden;
	int top_k;
	const int *ids;                 /* (n, top_k) expert ids, on the host; -1: an expert another
	                                 * rank evaluates (tensor/expert parallel), to be skipped */
	const float *weights;           /* (n, top_k) their weights, on the host */
	int n_routed;
	const struct ds_tensor *gate, *up, *down;  /* n_routed each */
	const struct ds_tensor *shared_gate, *shared_up, *shared_down;  /* rows == 0: none */
};

/* Buffers ("float *") come from .alloc and may live on a device: the forward pass only hands them
 * to operations and reads results back through .read. Weights are the mapped host tensors; a device
 * backend finds its own copy of each by address. Matrices act as PyTorch's Linear: y = x W^T. */
struct ds_backend {
	const char *name;
	/* Returns a context or NULL with a sentence in err. */
	void *(*create)(const struct ds_backend_params *p, char *err, size_t errlen);
	void (*destroy)(void *ctx);
	int (*threads)(const void *ctx);
	float *(*alloc)(void *ctx, size_t n_floats);   /* NULL when the memory cannot be had */
	void (*release)(void *ctx, float *buf);
	void (*read)(void *ctx, float *host, const float *buf, size_t n_floats);
	/* out[i] = table[ids[i]] (n rows of table->cols) */
	void (*embed)(void *ctx, float *out, const struct ds_tensor *table, const int *ids, int n);
	/* y (n, w->rows) = x (n, w->cols) W^T */
	void (*matmul)(void *ctx, float *y, const struct ds_tensor *w, const float *x, int n);
	/* Optional: matmul of two matrices on one input (a layer's query and latent K/V projections of
	 * h), y0 = x W0^T and y1 = x W1^T, the same sums as two matmul calls */
	void (*matmul2)(void *ctx, float *y0, const struct ds_tensor *w0, float *y1, const struct ds_tensor *w1,
			const float *x, int n);
	/* y[i] = x[i] * rsqrt(mean(x[i]^2) + eps) * w for n rows of w->cols, row strides ldy and ldx */
	void (*rmsnorm)(void *ctx, float *y, int ldy, const float *x, int ldx, const struct ds_tensor *w,
			int n, float eps);
	/* Rotates pairs (x[2i], x[2i+1]) of dim values at x + t*ld + h*head_ld (t < n, h < n_heads) by
	 * angle (pos + t) * inv_freq[i], cos and sin multiplied by mscale. */
	void (*rope)(void *ctx, float *x, int n, int n_heads, int ld, int head_ld, int dim, int pos,
		     const double *inv_freq, float mscale);
	void (*attention)(void *ctx, const struct ds_attn_args *a);
	/* Optional: decode attention of a->n tokens (rows of a->q and a->out), each the one token of its
	 * own sequence, tok[i] saying where (a->pos and a->cache are unused): a continuous-batching step
	 * in one call, so kv_b_proj is read once for all of them. NULL: one .attention call each. */
	void (*attention_decode)(void *ctx, const struct ds_attn_args *a, const struct ds_attn_token *tok);
	/* y (n, hidden) = down(silu(gate x) * up x) */
	void (*swiglu)(void *ctx, float *y, const struct ds_tensor *gate, const struct ds_tensor *up,
		       const struct ds_tensor *down, const float *x, int n);
	/* y (n, hidden) = sum over k of weights * expert(x) + shared(x) */
	void (*moe)(void *ctx, float *y, const struct ds_moe_args *a);
	/* y += x, n floats */
	void (*add)(void *ctx, float *y, const float *x, size_t n);
	/* dst = src, n floats (buffers from .alloc, not overlapping): the latent rows of a batch of
	 * several sequences into each one's cache slot */
	void (*copy)(void *ctx, float *dst, const float *src, size_t n);
	/* Optional (NULL: the backend keeps its latent cache in F32 only): n floats of rows rounded to
	 * BF16 (to nearest, ties to even) in place and stored as BF16 at cache, so that the batch that
	 * wrote them attends to the very values later tokens read back */
	void (*cache_store_bf16)(void *ctx, void *cache, float *rows, size_t n);
	/* Optional (NULL: DS_F32): the latent cache type where --cache-type (DSCODER_CACHE_TYPE) names
	 * none; DS_BF16 only from a backend with cache_store_bf16 */
	int (*cache_type_default)(void);

	/* Optional: NULL (0) where a backend has no use for them (the CPU's). */
	/* Copies the weights of m to the device once, reporting bytes done; -1 and a sentence in err
	 * when they do not fit. Weights it did not copy are copied when an operation first meets them. */
	int (*load)(void *ctx, const struct ds_model *m, ds_progress_fn progress, void *arg, char *err,
		    size_t errlen);
	/* The MoE router where the router logits are: ids and weights of n tokens from buf (n, n_routed);
	 * the next .moe then gets ids == NULL and weights == NULL and uses this choice. */
	void (*route)(void *ctx, const float *router_logits, int n);
	/* The index of the largest of vocab values in buf, the lowest on ties: only the id is read back. */
	int (*argmax)(void *ctx, const float *buf, int vocab);
	/* Temperature sampling of buf: the first index where the running sum of softmax(buf / temperature)
	 * exceeds u (uniform in [0, 1)); only the id is read back. */
	int (*sample)(void *ctx, const float *buf, int vocab, float temperature, float u);
	/* The decode step as a graph recorded once and replayed (ds_forward_next with one token).
	 * graph_begin feeds token and pos to the device and returns 1 when it replayed the recorded
	 * step, 0 when the caller must issue the step's operations now (they are recorded: the
	 * positions they use come from the device, so the new latent row goes into the cache through
	 * store_row, never through a pointer computed from pos), -1 for an ordinary step. graph_end
	 * (after 0 or 1) finishes the step and returns the argmax of logits (vocab values). */
	int (*graph_begin)(void *ctx, int token, int pos);
	int (*graph_end)(void *ctx, const float *logits, int vocab);
	/* cache row pos (lat floats, of a (n_ctx, lat) cache) = row */
	void (*store_row)(void *ctx, float *cache, const float *row, int lat, int pos);
	/* Tokens per prefill batch the backend prefers; 0: the forward pass's default. */
	int chunk;
	/* Bytes free now on device (where the weights and the cache will live; UINT64_MAX when it cannot
	 * be asked); NULL: host memory. The default context is capped to what fits there. */
	uint64_t (*free_memory)(int device);
};

/* The optional GPU operations above exist (the CUDA backend fills them in when this is defined). */
#define DS_BACKEND_GPU_OPS 1

extern const struct ds_backend ds_backend_cpu;

/* The backend called name: "cpu", "cuda", or "auto" (cuda when this build has it and a GPU is
 * visible, else cpu). NULL with one sentence in err for an unknown name, or "cuda" in a build
 * without CUDA or on a machine without a GPU. */
const struct ds_backend *ds_backend_find(const char *name, char *err, size_t errlen);

#endif

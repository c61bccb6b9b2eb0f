/* backend.h: the compute interface the forward pass is written against (CPU now, CUDA later). */
#ifndef DS_BACKEND_H
#define DS_BACKEND_H

#include <stddef.h>

#include "model.h"

/* What a backend context is sized for; every scratch buffer is allocated from this at create time,
 * so that no operation allocates. */
struct ds_backend_params {
	const struct ds_config *cfg;
	int n_ctx;                 /* positions the KV cache holds */
	int max_batch;             /* the most tokens one call of an operation gets (prefill chunk) */
	int n_threads;             /* 0: one per core the process may run on */
};

/* Multi-head latent attention of one layer for n query tokens at positions pos..pos+n-1. */
struct ds_attn_args {
	float *out;                     /* (n, heads * v_head_dim) */
	const float *q;                 /* (n, heads * (nope + rope)), q_pe already roped */
	const float *cache;             /* (n_ctx, kv_rank + rope): rows [0, pos + n) hold the normed
	                                 * c_kv and the roped k_pe of this layer */
	const struct ds_tensor *kv_b;   /* (heads * (nope + v), kv_rank): kv_b_proj */
	int n, pos;
	int n_heads, nope, rope, v_dim, kv_rank;
	float scale;                    /* softmax scale */
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
	/* y[i] = x[i] * rsqrt(mean(x[i]^2) + eps) * w for n rows of w->cols, row strides ldy and ldx */
	void (*rmsnorm)(void *ctx, float *y, int ldy, const float *x, int ldx, const struct ds_tensor *w,
			int n, float eps);
	/* Rotates pairs (x[2i], x[2i+1]) of dim values at x + t*ld + h*head_ld (t < n, h < n_heads) by
	 * angle (pos + t) * inv_freq[i], cos and sin multiplied by mscale. */
	void (*rope)(void *ctx, float *x, int n, int n_heads, int ld, int head_ld, int dim, int pos,
		     const double *inv_freq, float mscale);
	void (*attention)(void *ctx, const struct ds_attn_args *a);
	/* y (n, hidden) = down(silu(gate x) * up x) */
	void (*swiglu)(void *ctx, float *y, const struct ds_tensor *gate, const struct ds_tensor *up,
		       const struct ds_tensor *down, const float *x, int n);
	/* y (n, hidden) = sum over k of weights * expert(x) + shared(x) */
	void (*moe)(void *ctx, float *y, const struct ds_moe_args *a);
	/* y += x, n floats */
	void (*add)(void *ctx, float *y, const float *x, size_t n);
};

extern const struct ds_backend ds_backend_cpu;

#endif

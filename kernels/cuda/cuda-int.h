/* cuda-int.h: the CUDA backend's context and helpers shared by its C files (kernels/cuda only). */
#ifndef DS_CUDA_INT_H
#define DS_CUDA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backend.h"
#include "cuda-backend.h"
#include "cuda-check.h"

/* The device copy of one host tensor, found by the host tensor's data address. */
struct cuda_weight {
	const void *host;
	void *dev;
	int wtype;                 /* what dev holds (enum ds_dtype): DS_BF16, DS_F32, or the GGUF blocks as stored */
	bool bf16;                 /* the float form products use: BF16 (dev itself, or blocks decoded to it), else F32 */
	int64_t rows, cols;
	int group;                 /* > 0: first of group tensors stored back to back (experts) */
};

struct cuda_ctx {
	int device;
	int sm_count;              /* multiprocessors: how finely decode attention slices the positions */
	bool f32;                  /* weights kept in F32 */
	cudaStream_t st;
	cublasHandle_t blas;
	struct ds_config cfg;
	int n_ctx, max_batch;
	/* weights: open-addressing table keyed by host address, and the allocations behind them */
	struct cuda_weight *map;
	size_t map_cap, map_n;
	void **blocks;
	size_t n_blocks, cap_blocks;
	size_t weight_bytes, buffer_bytes;
	/* GGUF blocks decoded for one cuBLAS product (of a prompt's tokens): deq_elems values of the
	 * weights' float form */
	void *deq;
	size_t deq_elems;
	/* upload staging */
	void *stage_host, *stage_dev;
	size_t stage_bytes;
	/* scratch */
	void *xb;                  /* (max_batch, max_cols) BF16 activations of a product */
	size_t xb_elems;
	int ffn_width;
	float *ffn_g, *ffn_u;      /* (max_batch, ffn_width) */
	float *q_lat;              /* (max_batch, heads, kv_rank + rope) */
	float *o_lat;              /* (max_batch, heads, kv_rank) */
	float *att_part;           /* (att_rows, heads, kv_rank + 2) */
	int att_rows;              /* n * n_splits never exceeds it */
	int *ids_dev;              /* (max_batch) token ids */
	int *moe_ids;              /* (max_batch, top_k) */
	float *moe_w;              /* (max_batch, top_k) */
	bool moe_routed;           /* moe_ids/moe_w hold ds_cuda_route's choice for the next .moe */
	int *moe_offset, *moe_active;   /* n_routed + 1 each */
	int *moe_tok, *moe_slot;   /* (max_batch * top_k) */
	float *moe_h;              /* (max_batch * top_k, moe_inter) */
	float *moe_yr;             /* (max_batch * top_k, hidden) */
	/* a batch's experts through cuBLAS */
	void *moe_xg;              /* (max_batch * top_k, hidden) gathered inputs, BF16 (F32 with --dtype f32) */
	void *moe_hb;              /* (max_batch * top_k, moe_inter) SwiGLU outputs, same type */
	float *moe_u;              /* (max_batch * top_k, moe_inter) up products */
	int *moe_off_host;         /* n_routed + 1: the expert offsets, read back */
	int *argmax_dev;
	/* the recorded decode step (cuda-graph.c) */
	int *step_dev;             /* [token, pos] of the step being replayed */
	int *step_host;            /* pinned: the same, copied up before each replay */
	bool capturing;            /* operations issued now are recorded: positions from step_dev */
	int graph_calls;           /* decode steps seen: the first runs eagerly (uploads, warm-up) */
	int graph_splits;          /* attention slices of the recorded step (fixed, any position) */
	void *graph_exec;          /* cudaGraphExec_t */
	void *blas_ws;             /* cuBLAS workspace: recorded products allocate nothing */
	double *inv_freq_dev;
	double inv_freq_host[256];
	int inv_freq_n;
	float inv_freq_mscale;
};

/* Makes ctx's GPU current on this thread (the service may call from another thread than create). */
void cuda_enter(struct cuda_ctx *c);
/* What a weight is used for decides its device form. */
enum cuda_use {
	CUDA_USE_MATRIX,           /* a matrix product (cuda_gemm, the experts): GGUF blocks stay blocks */
	CUDA_USE_DENSE,            /* read element by element (embedding, norms, kv_b_proj): BF16 or F32 */
	CUDA_USE_EXACT,            /* the router: F32 */
};

/* The device copy of t for use (uploaded now if it was not), NULL for an empty tensor. */
const struct cuda_weight *cuda_weight(struct cuda_ctx *c, const struct ds_tensor *t, enum cuda_use use);
/* The device copies of n tensors of one shape stored back to back (experts); returns the first. */
const struct cuda_weight *cuda_weight_group(struct cuda_ctx *c, const struct ds_tensor *t, int n);
/* Allocates and registers device tensors for the host keys t[0..group) (group 0: one): F32 for
 * CUDA_USE_EXACT, with --dtype f32, or for a norm (one row), else BF16, and a block-quantized
 * matrix as its blocks; values not yet written. */
struct cuda_weight *cuda_weight_alloc(struct cuda_ctx *c, const struct ds_tensor *t, int group, enum cuda_use use,
				      char *err, size_t errlen);
/* Bytes of one device tensor of w's shape and form. */
size_t cuda_weight_bytes(const struct cuda_weight *w);
/* w's float form (BF16 or F32, as w->bf16): w->dev itself, or expert e's blocks decoded into
 * c->deq (valid until the next call). */
const void *cuda_weight_dense(struct cuda_ctx *c, const struct cuda_weight *w, int e);
void cuda_weights_free(struct cuda_ctx *c);

/* y (n, w->rows) with row stride ldy = x (n, w->cols) W^T with cuBLAS: BF16 inputs and FP32
 * accumulation, or F32 throughout with --dtype f32. */
void cuda_gemm(struct cuda_ctx *c, float *y, int ldy, const struct cuda_weight *w, const float *x, int n);
/* y (n, rows) = x W^T for a weight (rows x cols, BF16 when bf16 else F32) and x already in the
 * weight's type (n rows of cols): cuBLAS, FP32 accumulation and output. */
void cuda_gemm_typed(struct cuda_ctx *c, float *y, int ldy, const void *w, bool bf16, int rows, int cols,
		     const void *x, int n);

void cuda_op_attention(void *ctx, const struct ds_attn_args *a);
/* Slices of the positions for n queries over keys positions (the recorded step: keys = n_ctx). */
int cuda_attention_splits(const struct cuda_ctx *c, int n, int keys);
int cuda_graph_begin(void *ctx, int token, int pos);
int cuda_graph_end(void *ctx, const float *logits, int vocab);
void cuda_store_row(void *ctx, float *cache, const float *row, int lat, int pos);
void cuda_graph_free(struct cuda_ctx *c);
void cuda_op_moe(void *ctx, float *y, const struct ds_moe_args *a);
void cuda_op_swiglu(void *ctx, float *y, const struct ds_tensor *gate, const struct ds_tensor *up,
		    const struct ds_tensor *down, const float *x, int n);

#endif

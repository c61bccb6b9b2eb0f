/* cpu-backend.h: the CPU backend's context, shared by its operation files. */
#ifndef DS_CPU_BACKEND_H
#define DS_CPU_BACKEND_H

#include "backend.h"
#include "cpu-kernels.h"
#include "cpu-pool.h"

struct cpu_ctx {
	struct cpu_pool *pool;
	const struct cpu_kernels *k;
	int nth;
	int n_ctx, max_batch, hidden;
	int n_heads, nope, rope, v_dim, kv_rank;
	int ffn_width;              /* widest SwiGLU: dense, shared or one expert */
	float *ffn_gate, *ffn_up;   /* (max_batch, ffn_width) */
	float *moe_x, *moe_y;       /* (max_batch, hidden): gathered tokens of one expert, its output */
	float *moe_acc;             /* (max_batch, hidden): routed sum */
	int *moe_tok;               /* (max_batch) token index of each gathered row */
	float *moe_w;               /* (max_batch) its routing weight */
	float *att_q;               /* (max_batch, heads, kv_rank + rope): absorbed, scaled queries */
	float *att_kv;              /* (max_batch, heads * (nope + v)): expanded K/V of a batch */
	float *att_part;            /* (threads, heads, kv_rank + 2): decode partial sums per thread */
	float *att_scores;          /* (threads, score_ld) */
	long score_ld;              /* max(n_ctx, heads * 32) */
	float *att_lat;             /* (threads, kv_rank) */
};

/* Matrix product on all threads: y[i*ldy + r] = W[r] . x[i*ldx ..]. */
void cpu_matmul_ld(struct cpu_ctx *c, float *y, long ldy, const struct ds_tensor *w, const float *x,
		   long ldx, int n);
void cpu_attention(void *ctx, const struct ds_attn_args *a);

#endif

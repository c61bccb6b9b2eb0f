/* cuda-attention.c: the .attention operation: MLA in the absorbed form for decode and prefill alike
 * (query through W_UK, attention over the latent cache rows, output through W_UV), so a prompt
 * prefilled in chunks never expands K/V and decode reads each cache row once for all heads. */
#include "build-config.h"

#include "cuda-int.h"
#include "cuda-mla-absorb.h"
#include "cuda-mla-attention.h"

/* Slices of the key positions: enough blocks to fill the GPU at batch 1 (a slice of at least 64
 * positions), at most ATT_ROWS query-slices per call so the partial sums fit their buffer. */
static int attention_splits(const struct cuda_ctx *c, int n, int keys)
{
	int s = (keys + 63) / 64, cap = c->att_rows / n;
	if (s > 128)
		s = 128;
	if (s > cap)
		s = cap;
	return s < 1 ? 1 : s;
}

void cuda_op_attention(void *ctx, const struct ds_attn_args *a)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	const struct cuda_weight *kvb = cuda_weight(c, a->kv_b, CUDA_USE_DENSE);
	/* a recorded step reads its position on the device and uses the same slices at any position */
	int splits = c->capturing ? c->graph_splits : attention_splits(c, a->n, a->pos + a->n);
	cuda_mla_absorb(c->q_lat, a->q, kvb->dev, kvb->bf16, a->n, a->n_heads, a->nope, a->rope, a->v_dim, a->kv_rank,
			a->scale, c->st);
	cuda_mla_attention(c->o_lat, c->att_part, c->q_lat, a->cache, a->n, a->pos,
			   c->capturing ? c->step_dev + 1 : NULL, a->n_heads, a->kv_rank, a->rope,
			   splits, c->st);
	cuda_mla_unabsorb(a->out, c->o_lat, kvb->dev, kvb->bf16, a->n, a->n_heads, a->nope, a->v_dim, a->kv_rank, c->st);
}

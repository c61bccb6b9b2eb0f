/* cuda-attention.c: the .attention operation: MLA in the absorbed form for decode and prefill alike
 * (query through W_UK, attention over the latent cache rows, output through W_UV), so a prompt
 * prefilled in chunks never expands K/V and decode reads each cache row once for all heads. */
#include "build-config.h"

#include "cuda-int.h"
#include "cuda-mla-absorb.h"
#include "cuda-mla-attention.h"

/* Slices of the key positions: about two blocks per multiprocessor for the call (a decode step has
 * one query and a few groups of heads, so the positions are what is cut), no slice under one tile of
 * 16 positions, at most att_rows query-slices so the partial sums fit their buffer. */
int cuda_attention_splits(const struct cuda_ctx *c, int n, int keys)
{
	int groups = (c->cfg.num_attention_heads + CUDA_MLA_HEADS_PER_BLOCK - 1) / CUDA_MLA_HEADS_PER_BLOCK;
	int per_query = n * (groups > 0 ? groups : 1);
	int s = (2 * c->sm_count + per_query - 1) / per_query, most = (keys + 15) / 16, cap = c->att_rows / n;
	if (s > most)
		s = most;
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
	int splits = c->capturing ? c->graph_splits : cuda_attention_splits(c, a->n, a->pos + a->n);
	cuda_mla_absorb(c->q_lat, a->q, kvb->dev, kvb->bf16, a->n, a->n_heads, a->nope, a->rope, a->v_dim, a->kv_rank,
			a->scale, c->st);
	cuda_mla_attention(c->o_lat, c->att_part, c->q_lat, a->cache, a->n, a->pos,
			   c->capturing ? c->step_dev + 1 : NULL, a->n_heads, a->kv_rank, a->rope,
			   splits, c->st);
	cuda_mla_unabsorb(a->out, c->o_lat, kvb->dev, kvb->bf16, a->n, a->n_heads, a->nope, a->v_dim, a->kv_rank, c->st);
}

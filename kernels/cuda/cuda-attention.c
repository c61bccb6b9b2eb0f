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

/* Where the layer's W_UK and W_UV are on the GPU: kv_b_proj whole or the split attn_k_b / attn_v_b,
 * each uploaded as floats (cuda-weights.c: CUDA_USE_DENSE). */
static struct cuda_mla_weights attention_weights(struct cuda_ctx *c, const struct ds_attn_args *a)
{
	const size_t kr = (size_t)a->kv_rank, nope = (size_t)a->nope, v = (size_t)a->v_dim;
	if (a->kv_b != NULL) {
		const struct cuda_weight *kvb = cuda_weight(c, a->kv_b, CUDA_USE_DENSE);
		size_t es = kvb->bf16 ? 2 : 4;
		return (struct cuda_mla_weights){ .uk = kvb->dev, .uv = (const char *)kvb->dev + nope * kr * es,
						  .uk_head = (nope + v) * kr, .uk_j = kr, .uk_c = 1,
						  .uv_head = (nope + v) * kr, .bf16 = kvb->bf16 };
	}
	const struct cuda_weight *kb = cuda_weight(c, a->k_b, CUDA_USE_DENSE), *vb = cuda_weight(c, a->v_b, CUDA_USE_DENSE);
	if (kb->bf16 != vb->bf16)
		cuda_fail("attn_k_b and attn_v_b were uploaded in different types", "attention_weights", __FILE__, __LINE__);
	return (struct cuda_mla_weights){ .uk = kb->dev, .uv = vb->dev, .uk_head = kr * nope, .uk_j = 1, .uk_c = nope,
					  .uv_head = v * kr, .bf16 = kb->bf16 };
}

void cuda_op_attention(void *ctx, const struct ds_attn_args *a)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	struct cuda_mla_weights w = attention_weights(c, a);
	/* a recorded step reads its position on the device and uses the same slices at any position */
	int splits = c->capturing ? c->graph_splits : cuda_attention_splits(c, a->n, a->pos + a->n);
	cuda_mla_absorb(c->q_lat, a->q, &w, a->n, a->n_heads, a->nope, a->rope, a->kv_rank, a->scale, c->st);
	cuda_mla_attention(c->o_lat, c->att_part, c->q_lat, a->cache, a->n, a->pos,
			   c->capturing ? c->step_dev + 1 : NULL, a->n_heads, a->kv_rank, a->rope,
			   splits, c->st);
	cuda_mla_unabsorb(a->out, c->o_lat, &w, a->n, a->n_heads, a->v_dim, a->kv_rank, c->st);
}

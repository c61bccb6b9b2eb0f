/* cuda-moe.c: the FFN operations: the dense SwiGLU through cuBLAS, and the MoE layer: the tokens'
 * (token, expert) pairs grouped by expert on the GPU, the routed experts as two grouped launches over
 * all active experts, the weighted combine on top of the shared experts. */
#include "build-config.h"

#include "cuda-int.h"
#include "cuda-moe-experts.h"
#include "cuda-moe-group.h"
#include "cuda-silu-mul.h"

void cuda_op_swiglu(void *ctx, float *y, const struct ds_tensor *gate, const struct ds_tensor *up,
		    const struct ds_tensor *down, const float *x, int n)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	const struct cuda_weight *g = cuda_weight(c, gate), *u = cuda_weight(c, up), *d = cuda_weight(c, down);
	int w = (int)gate->rows;
	if (w > c->ffn_width)
		cuda_fail("an FFN is wider than the scratch it was sized for", "cuda_op_swiglu", __FILE__, __LINE__);
	cuda_gemm(c, c->ffn_g, w, g, x, n);
	cuda_gemm(c, c->ffn_u, w, u, x, n);
	cuda_silu_mul(c->ffn_g, c->ffn_u, (size_t)n * (size_t)w, c->st);
	cuda_gemm(c, y, (int)down->rows, d, c->ffn_g, n);
}

void cuda_op_moe(void *ctx, float *y, const struct ds_moe_args *a)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	int pairs = a->n * a->top_k;
	bool shared = a->shared_gate != NULL && a->shared_gate->rows > 0;
	if (a->ids != NULL) {
		/* the router ran on the host: its choice goes up (pageable copies: a and its arrays may be
		 * reused as soon as this returns) */
		CUDA_CHECK(cudaMemcpyAsync(c->moe_ids, a->ids, (size_t)pairs * sizeof(int), cudaMemcpyHostToDevice, c->st));
		CUDA_CHECK(cudaMemcpyAsync(c->moe_w, a->weights, (size_t)pairs * sizeof(float), cudaMemcpyHostToDevice,
					   c->st));
	} else if (!c->moe_routed) {
		cuda_fail("a MoE layer ran without routing (no ids, no ds_cuda_route)", "cuda_op_moe", __FILE__, __LINE__);
	}
	c->moe_routed = false;
	const struct cuda_weight *g = cuda_weight_group(c, a->gate, a->n_routed);
	const struct cuda_weight *u = cuda_weight_group(c, a->up, a->n_routed);
	const struct cuda_weight *d = cuda_weight_group(c, a->down, a->n_routed);
	int inter = (int)a->gate[0].rows;
	int max_active = pairs < a->n_routed ? pairs : a->n_routed;

	if (shared)
		cuda_op_swiglu(c, y, a->shared_gate, a->shared_up, a->shared_down, a->x, a->n);
	cuda_moe_group(c->moe_offset, c->moe_tok, c->moe_slot, c->moe_active, c->moe_ids, a->n, a->top_k, a->n_routed,
		       c->st);
	cuda_moe_gate_up(c->moe_h, a->x, c->moe_tok, c->moe_offset, c->moe_active, max_active, g->dev, u->dev, g->bf16,
			 inter, a->hidden, c->st);
	cuda_moe_down(c->moe_yr, c->moe_h, c->moe_offset, c->moe_active, max_active, d->dev, d->bf16, a->hidden, inter,
		      c->st);
	cuda_moe_combine(y, c->moe_yr, c->moe_slot, c->moe_w, a->n, a->top_k, a->hidden, shared, c->st);
}

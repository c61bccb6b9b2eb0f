/* cuda-moe.c: the FFN operations: the dense SwiGLU through cuBLAS, and the MoE layer: the tokens'
 * (token, expert) pairs grouped by expert on the GPU, the routed experts as two grouped launches over
 * all active experts, the weighted combine on top of the shared experts. */
#include "build-config.h"

#include "cuda-int.h"
#include "cuda-moe-experts.h"
#include "cuda-moe-gather.h"
#include "cuda-moe-group.h"
#include "cuda-silu-mul.h"

void cuda_op_swiglu(void *ctx, float *y, const struct ds_tensor *gate, const struct ds_tensor *up,
		    const struct ds_tensor *down, const float *x, int n)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	const struct cuda_weight *g = cuda_weight(c, gate, CUDA_USE_MATRIX), *u = cuda_weight(c, up, CUDA_USE_MATRIX);
	const struct cuda_weight *d = cuda_weight(c, down, CUDA_USE_MATRIX);
	int w = (int)gate->rows;
	if (w > c->ffn_width)
		cuda_fail("an FFN is wider than the scratch it was sized for", "cuda_op_swiglu", __FILE__, __LINE__);
	cuda_gemm(c, c->ffn_g, w, g, x, n);
	cuda_gemm(c, c->ffn_u, w, u, x, n);
	cuda_silu_mul(c->ffn_g, c->ffn_u, (size_t)n * (size_t)w, c->st);
	cuda_gemm(c, y, (int)down->rows, d, c->ffn_g, n);
}

/* Above this many tokens a MoE layer runs its experts as cuBLAS products (tensor cores), one per
 * active expert and matrix; below, the grouped kernels read each expert's weights once. */
#define MOE_GEMV_TOKENS 8

/* A batch: the expert offsets come back to the host (one small copy), the rows are gathered in
 * expert order in the weights' float type, and each active expert's rows are three products (GGUF
 * blocks decoded into the scratch before each). */
static void moe_batch(struct cuda_ctx *c, const struct ds_moe_args *a, const struct cuda_weight *g,
		      const struct cuda_weight *u, const struct cuda_weight *d, int inter)
{
	int hd = a->hidden;
	bool bf16 = g->bf16;
	size_t es = bf16 ? 2 : 4;
	if (d->bf16 != bf16 || u->bf16 != bf16)
		cuda_fail("expert matrices of one layer in different types", "moe_batch", __FILE__, __LINE__);
	CUDA_CHECK(cudaMemcpyAsync(c->moe_off_host, c->moe_offset, (size_t)(a->n_routed + 1) * sizeof(int),
				   cudaMemcpyDeviceToHost, c->st));
	CUDA_CHECK(cudaStreamSynchronize(c->st));
	/* only the grouped rows: pairs whose id is -1 (another rank's expert) get none, and moe_tok
	 * past the last grouped row holds whatever an earlier batch (or cudaMalloc) left there */
	int rows = c->moe_off_host[a->n_routed];
	if (rows <= 0)
		return;
	cuda_gather_rows(c->moe_xg, bf16, a->x, c->moe_tok, rows, hd, c->st);
	for (int e = 0; e < a->n_routed; e++) {
		int lo = c->moe_off_host[e], m = c->moe_off_host[e + 1] - lo;
		if (m <= 0)
			continue;
		const char *xg = (const char *)c->moe_xg + (size_t)lo * hd * es;
		cuda_gemm_typed(c, c->moe_h + (size_t)lo * inter, inter, cuda_weight_dense(c, g, e), bf16, inter, hd, xg, m);
		cuda_gemm_typed(c, c->moe_u + (size_t)lo * inter, inter, cuda_weight_dense(c, u, e), bf16, inter, hd, xg, m);
	}
	cuda_silu_mul(c->moe_h, c->moe_u, (size_t)rows * inter, c->st);
	cuda_gather_rows(c->moe_hb, bf16, c->moe_h, NULL, rows, inter, c->st);
	for (int e = 0; e < a->n_routed; e++) {
		int lo = c->moe_off_host[e], m = c->moe_off_host[e + 1] - lo;
		if (m <= 0)
			continue;
		cuda_gemm_typed(c, c->moe_yr + (size_t)lo * hd, hd, cuda_weight_dense(c, d, e), bf16, hd, inter,
				(const char *)c->moe_hb + (size_t)lo * inter * es, m);
	}
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
	if (a->n_routed <= 0 || a->gate == NULL) {
		/* a rank that holds no routed experts: the shared experts, or nothing */
		if (shared)
			cuda_op_swiglu(c, y, a->shared_gate, a->shared_up, a->shared_down, a->x, a->n);
		else
			CUDA_CHECK(cudaMemsetAsync(y, 0, (size_t)a->n * (size_t)a->hidden * sizeof *y, c->st));
		return;
	}
	const struct cuda_weight *g = cuda_weight_group(c, a->gate, a->n_routed);
	const struct cuda_weight *u = cuda_weight_group(c, a->up, a->n_routed);
	const struct cuda_weight *d = cuda_weight_group(c, a->down, a->n_routed);
	int inter = (int)a->gate[0].rows;
	int max_active = pairs < a->n_routed ? pairs : a->n_routed;

	if (shared)
		cuda_op_swiglu(c, y, a->shared_gate, a->shared_up, a->shared_down, a->x, a->n);
	cuda_moe_group(c->moe_offset, c->moe_tok, c->moe_slot, c->moe_active, c->moe_ids, a->n, a->top_k, a->n_routed,
		       c->st);
	if (a->n > MOE_GEMV_TOKENS && !c->capturing) {
		moe_batch(c, a, g, u, d, inter);
		cuda_moe_combine(y, c->moe_yr, c->moe_slot, c->moe_w, a->n, a->top_k, a->hidden, shared, c->st);
		return;
	}
	if (u->wtype != g->wtype ||
	    cuda_moe_gate_up(c->moe_h, a->x, c->moe_tok, c->moe_offset, c->moe_active, max_active, g->dev, u->dev,
			     g->wtype, inter, a->hidden, c->st) != 0 ||
	    cuda_moe_down(c->moe_yr, c->moe_h, c->moe_offset, c->moe_active, max_active, d->dev, d->wtype, a->hidden,
			  inter, c->st) != 0)
		cuda_fail("expert weights of a type (or mix of types) the GPU kernels do not take", "cuda_op_moe", __FILE__,
			  __LINE__);
	cuda_moe_combine(y, c->moe_yr, c->moe_slot, c->moe_w, a->n, a->top_k, a->hidden, shared, c->st);
}

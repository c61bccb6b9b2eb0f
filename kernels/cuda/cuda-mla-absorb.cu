/* cuda-mla-absorb.cu: the two halves of kv_b_proj in the absorbed MLA form. W_UK (the first nope rows
 * of each head's block, or attn_k_b) folds into the query, so scores are taken against the latent
 * c_kv directly; W_UV (the last v_dim rows, or attn_v_b) applies to the attention-weighted sum of c_kv. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-mla-absorb.h"

#define ABSORB_COLS 128

/* Block (column block, head, token): thread c computes column c of q_nope W_UK, reading W_UK rows
 * coalesced across the block (kv_b_proj whole; attn_k_b's columns are nope apart); the query's nope
 * values sit in shared memory. */
template <typename W>
static __global__ void absorb_kernel(float *q_lat, const float *q, const W *uk, size_t uk_head, size_t uk_j,
				     size_t uk_c, int nh, int nope, int rope, int kr, float scale)
{
	extern __shared__ float qs[];     /* nope */
	int h = blockIdx.y, i = blockIdx.z, c = blockIdx.x * ABSORB_COLS + threadIdx.x;
	int qd = nope + rope, lat = kr + rope;
	const float *qh = q + ((size_t)i * nh + h) * qd;
	float *out = q_lat + ((size_t)i * nh + h) * lat;
	for (int j = threadIdx.x; j < nope; j += blockDim.x)
		qs[j] = qh[j];
	__syncthreads();
	if (c < kr) {
		const W *wk = uk + (size_t)h * uk_head + (size_t)c * uk_c;
		float acc = 0;
		for (int j = 0; j < nope; j++)
			acc += qs[j] * dev_ld(wk, (size_t)j * uk_j);
		out[c] = acc * scale;
	}
	if (blockIdx.x == 0)
		for (int j = threadIdx.x; j < rope; j += blockDim.x)
			out[kr + j] = qh[nope + j] * scale;
}

/* Warp per output value: out[i, h*v + r] = W_UV_h[r] . o_lat[i, h]. */
template <typename W>
static __global__ void unabsorb_kernel(float *out, const float *o_lat, const W *uv, size_t uv_head, int nh,
				       int v_dim, int kr)
{
	int h = blockIdx.y, i = blockIdx.z, r = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
	if (r >= v_dim)
		return;
	const W *row = uv + (size_t)h * uv_head + (size_t)r * kr;
	const float *o = o_lat + ((size_t)i * nh + h) * kr;
	float acc = 0;
	for (int c = lane; c < kr; c += 32)
		acc += dev_ld(row, (size_t)c) * o[c];
	acc = warp_sum(acc);
	if (lane == 0)
		out[(size_t)i * nh * v_dim + (size_t)h * v_dim + r] = acc;
}

extern "C" void cuda_mla_absorb(float *q_lat, const float *q, const struct cuda_mla_weights *w, int n,
				int n_heads, int nope, int rope, int kv_rank, float scale, cudaStream_t st)
{
	if (n <= 0)
		return;
	dim3 grid((unsigned)((kv_rank + ABSORB_COLS - 1) / ABSORB_COLS), (unsigned)n_heads, (unsigned)n);
	size_t sh = (size_t)(nope > 0 ? nope : 1) * sizeof(float);
	if (w->bf16)
		absorb_kernel<<<grid, ABSORB_COLS, sh, st>>>(q_lat, q, (const __nv_bfloat16 *)w->uk, w->uk_head, w->uk_j,
							     w->uk_c, n_heads, nope, rope, kv_rank, scale);
	else
		absorb_kernel<<<grid, ABSORB_COLS, sh, st>>>(q_lat, q, (const float *)w->uk, w->uk_head, w->uk_j,
							     w->uk_c, n_heads, nope, rope, kv_rank, scale);
	CUDA_LAUNCH_CHECK("absorb_kernel");
}

extern "C" void cuda_mla_unabsorb(float *out, const float *o_lat, const struct cuda_mla_weights *w, int n,
				  int n_heads, int v_dim, int kv_rank, cudaStream_t st)
{
	if (n <= 0)
		return;
	dim3 grid((unsigned)((v_dim + 7) / 8), (unsigned)n_heads, (unsigned)n);
	if (w->bf16)
		unabsorb_kernel<<<grid, 256, 0, st>>>(out, o_lat, (const __nv_bfloat16 *)w->uv, w->uv_head, n_heads,
						      v_dim, kv_rank);
	else
		unabsorb_kernel<<<grid, 256, 0, st>>>(out, o_lat, (const float *)w->uv, w->uv_head, n_heads, v_dim,
						      kv_rank);
	CUDA_LAUNCH_CHECK("unabsorb_kernel");
}

/* cuda-mla-absorb.cu: the two halves of kv_b_proj in the absorbed MLA form. W_UK (the first nope rows
 * of each head's block) folds into the query, so scores are taken against the latent c_kv directly;
 * W_UV (the last v_dim rows) applies to the attention-weighted sum of c_kv. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-mla-absorb.h"

#define ABSORB_COLS 128

/* Block (column block, head, token): thread c computes column c of q_nope W_UK, reading W_UK rows
 * coalesced across the block; the query's nope values sit in shared memory. */
template <typename W>
static __global__ void absorb_kernel(float *q_lat, const float *q, const W *kv_b, int nh, int nope, int rope,
				     int v_dim, int kr, float scale)
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
		const W *wk = kv_b + (size_t)h * (nope + v_dim) * kr + c;
		float acc = 0;
		for (int j = 0; j < nope; j++)
			acc += qs[j] * dev_ld(wk, (size_t)j * kr);
		out[c] = acc * scale;
	}
	if (blockIdx.x == 0)
		for (int j = threadIdx.x; j < rope; j += blockDim.x)
			out[kr + j] = qh[nope + j] * scale;
}

/* Warp per output value: out[i, h*v + r] = W_UV_h[r] . o_lat[i, h]. */
template <typename W>
static __global__ void unabsorb_kernel(float *out, const float *o_lat, const W *kv_b, int nh, int nope, int v_dim,
				       int kr)
{
	int h = blockIdx.y, i = blockIdx.z, r = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
	if (r >= v_dim)
		return;
	const W *row = kv_b + ((size_t)h * (nope + v_dim) + nope + r) * kr;
	const float *o = o_lat + ((size_t)i * nh + h) * kr;
	float acc = 0;
	for (int c = lane; c < kr; c += 32)
		acc += dev_ld(row, (size_t)c) * o[c];
	acc = warp_sum(acc);
	if (lane == 0)
		out[(size_t)i * nh * v_dim + (size_t)h * v_dim + r] = acc;
}

extern "C" void cuda_mla_absorb(float *q_lat, const float *q, const void *kv_b, int bf16, int n, int n_heads,
				int nope, int rope, int v_dim, int kv_rank, float scale, cudaStream_t st)
{
	if (n <= 0)
		return;
	dim3 grid((unsigned)((kv_rank + ABSORB_COLS - 1) / ABSORB_COLS), (unsigned)n_heads, (unsigned)n);
	size_t sh = (size_t)(nope > 0 ? nope : 1) * sizeof(float);
	if (bf16)
		absorb_kernel<<<grid, ABSORB_COLS, sh, st>>>(q_lat, q, (const __nv_bfloat16 *)kv_b, n_heads, nope, rope,
							     v_dim, kv_rank, scale);
	else
		absorb_kernel<<<grid, ABSORB_COLS, sh, st>>>(q_lat, q, (const float *)kv_b, n_heads, nope, rope, v_dim,
							     kv_rank, scale);
	CUDA_LAUNCH_CHECK("absorb_kernel");
}

extern "C" void cuda_mla_unabsorb(float *out, const float *o_lat, const void *kv_b, int bf16, int n, int n_heads,
				  int nope, int v_dim, int kv_rank, cudaStream_t st)
{
	if (n <= 0)
		return;
	dim3 grid((unsigned)((v_dim + 7) / 8), (unsigned)n_heads, (unsigned)n);
	if (bf16)
		unabsorb_kernel<<<grid, 256, 0, st>>>(out, o_lat, (const __nv_bfloat16 *)kv_b, n_heads, nope, v_dim,
						      kv_rank);
	else
		unabsorb_kernel<<<grid, 256, 0, st>>>(out, o_lat, (const float *)kv_b, n_heads, nope, v_dim, kv_rank);
	CUDA_LAUNCH_CHECK("unabsorb_kernel");
}

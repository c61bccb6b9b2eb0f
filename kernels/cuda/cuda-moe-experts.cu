/* cuda-moe-experts.cu: the routed experts of a MoE layer as two grouped products over all active
 * experts at once (gate and up with the SwiGLU fused, then down), and the weighted combine. A warp
 * computes one output row for up to 4 of the expert's tokens at a time, so each weight row is read
 * from memory once per 4 tokens: decoding reads exactly the chosen experts' weights, F32, BF16 or
 * GGUF blocks decoded in the kernel (cuda-quant.cuh). */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-moe-experts.h"
#include "cuda-quant.cuh"

#define ROWS_PER_BLOCK 8

template <typename W>
static __global__ void gate_up_kernel(float *h, const float *x, const int *tok, const int *offset,
				      const int *active, const W *gate, const W *up, int inter, int hidden)
{
	if ((int)blockIdx.y >= active[0])
		return;
	int e = active[1 + blockIdx.y];
	int r = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
	if (r >= inter)
		return;
	size_t er = (size_t)e * inter + r;
	const W *g_row = w_row(gate, er, hidden), *u_row = w_row(up, er, hidden);
	int lo = offset[e], hi = offset[e + 1];
	for (int g0 = lo; g0 < hi; g0 += 4) {
		int nt = hi - g0 < 4 ? hi - g0 : 4;
		const float *xs[4];
		for (int t = 0; t < 4; t++)
			xs[t] = x + (size_t)tok[g0 + (t < nt ? t : 0)] * hidden;
		float gv[4], uv[4];
		warp_dot4(g_row, xs, nt, hidden, gv);
		warp_dot4(u_row, xs, nt, hidden, uv);
		if ((threadIdx.x & 31) == 0)
			for (int t = 0; t < nt; t++)
				h[(size_t)(g0 + t) * inter + r] = gv[t] / (1.0f + expf(-gv[t])) * uv[t];
	}
}

template <typename W>
static __global__ void down_kernel(float *yr, const float *h, const int *offset, const int *active,
				   const W *down, int hidden, int inter)
{
	if ((int)blockIdx.y >= active[0])
		return;
	int e = active[1 + blockIdx.y];
	int r = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
	if (r >= hidden)
		return;
	const W *d_row = w_row(down, (size_t)e * hidden + r, inter);
	int lo = offset[e], hi = offset[e + 1];
	for (int g0 = lo; g0 < hi; g0 += 4) {
		int nt = hi - g0 < 4 ? hi - g0 : 4;
		const float *hs[4];
		for (int t = 0; t < 4; t++)
			hs[t] = h + (size_t)(g0 + (t < nt ? t : 0)) * inter;
		float v[4];
		warp_dot4(d_row, hs, nt, inter, v);
		if ((threadIdx.x & 31) == 0)
			for (int t = 0; t < nt; t++)
				yr[(size_t)(g0 + t) * hidden + r] = v[t];
	}
}

extern "C" int cuda_moe_gate_up(float *h, const float *x, const int *tok, const int *offset, const int *active,
				int max_active, const void *gate, const void *up, int wtype, int inter, int hidden,
				cudaStream_t st)
{
	if (max_active <= 0)
		return 0;
	dim3 grid((unsigned)((inter + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK), (unsigned)max_active);
	bool ok;
	DS_W_DISPATCH(wtype, ok, gate_up_kernel<<<grid, 32 * ROWS_PER_BLOCK, 0, st>>>(h, x, tok, offset, active,
										      (const W *)gate, (const W *)up,
										      inter, hidden));
	if (!ok)
		return -1;
	CUDA_LAUNCH_CHECK("gate_up_kernel");
	return 0;
}

extern "C" int cuda_moe_down(float *yr, const float *h, const int *offset, const int *active, int max_active,
			     const void *down, int wtype, int hidden, int inter, cudaStream_t st)
{
	if (max_active <= 0)
		return 0;
	dim3 grid((unsigned)((hidden + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK), (unsigned)max_active);
	bool ok;
	DS_W_DISPATCH(wtype, ok, down_kernel<<<grid, 32 * ROWS_PER_BLOCK, 0, st>>>(yr, h, offset, active, (const W *)down,
										   hidden, inter));
	if (!ok)
		return -1;
	CUDA_LAUNCH_CHECK("down_kernel");
	return 0;
}

/* Block (token, 256 columns): a column per thread. */
static __global__ void combine_kernel(float *y, const float *yr, const int *slot_row, const float *weights,
				      int k, int hidden, int accumulate)
{
	int i = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
	if (c < hidden) {
		float s = 0;
		for (int j = 0; j < k; j++) {
			int r = slot_row[(size_t)i * k + j];
			if (r >= 0)
				s += weights[(size_t)i * k + j] * yr[(size_t)r * hidden + c];
		}
		float *yc = y + (size_t)i * hidden + c;
		*yc = accumulate ? *yc + s : s;
	}
}

extern "C" void cuda_moe_combine(float *y, const float *yr, const int *slot_row, const float *weights, int n, int top_k,
				 int hidden, int accumulate, cudaStream_t st)
{
	if (n <= 0)
		return;
	dim3 grid((unsigned)n, (unsigned)((hidden + 255) / 256));
	combine_kernel<<<grid, 256, 0, st>>>(y, yr, slot_row, weights, top_k, hidden, accumulate);
	CUDA_LAUNCH_CHECK("combine_kernel");
}

/* cuda-gemv.cu: the matrix product of decode: a warp per weight row, 16-byte loads of BF16 weights,
 * up to 4 tokens per pass over the row (warp_dot4), so a decode step reads each weight once. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-gemv.h"

#define ROWS_PER_BLOCK 8

template <typename W>
static __global__ void gemv_kernel(float *y, int ldy, const W *w, int rows, int cols, const float *x, int n)
{
	int r = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
	if (r >= rows)
		return;
	const W *row = w + (size_t)r * cols;
	for (int t0 = 0; t0 < n; t0 += 4) {
		int nt = n - t0 < 4 ? n - t0 : 4;
		const float *xs[4];
		for (int t = 0; t < 4; t++)
			xs[t] = x + (size_t)(t0 + (t < nt ? t : 0)) * cols;
		float v[4];
		warp_dot4(row, xs, nt, cols, v);
		if ((threadIdx.x & 31) == 0)
			for (int t = 0; t < nt; t++)
				y[(size_t)(t0 + t) * ldy + r] = v[t];
	}
}

extern "C" void cuda_gemv(float *y, int ldy, const void *w, int bf16, int rows, int cols, const float *x, int n,
			  cudaStream_t st)
{
	if (n <= 0 || rows <= 0)
		return;
	unsigned blocks = (unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
	if (bf16)
		gemv_kernel<<<blocks, 32 * ROWS_PER_BLOCK, 0, st>>>(y, ldy, (const __nv_bfloat16 *)w, rows, cols, x, n);
	else
		gemv_kernel<<<blocks, 32 * ROWS_PER_BLOCK, 0, st>>>(y, ldy, (const float *)w, rows, cols, x, n);
	CUDA_LAUNCH_CHECK("gemv_kernel");
}

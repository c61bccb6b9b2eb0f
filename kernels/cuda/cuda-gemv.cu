/* cuda-gemv.cu: the matrix product of decode: a warp per weight row, up to 4 tokens per pass over the
 * row (warp_dot4), so a decode step reads each weight once: BF16 rows in 16-byte loads, F32 rows, and
 * GGUF block-quantized rows decoded in the kernel (cuda-quant.cuh). */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-gemv.h"
#include "cuda-quant.cuh"

/* 4 warps a block: twice the blocks of 8 for the small products (kv_a_proj's 576 rows, the router's
 * 64), where 8 left most multiprocessors idle */
#define ROWS_PER_BLOCK 4

template <typename W>
static __global__ void gemv_kernel(float *y, int ldy, const W *w, int rows, int cols, const float *x, int n)
{
	int r = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
	if (r >= rows)
		return;
	const W *row = w_row(w, (size_t)r, cols);
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

extern "C" int cuda_gemv(float *y, int ldy, const void *w, int wtype, int rows, int cols, const float *x, int n,
			 cudaStream_t st)
{
	if (n <= 0 || rows <= 0)
		return 0;
	unsigned blocks = (unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
	bool ok;
	DS_W_DISPATCH(wtype, ok, gemv_kernel<<<blocks, 32 * ROWS_PER_BLOCK, 0, st>>>(y, ldy, (const W *)w, rows, cols,
										    x, n));
	if (!ok)
		return -1;
	CUDA_LAUNCH_CHECK("gemv_kernel");
	return 0;
}

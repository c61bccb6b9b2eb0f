/* cuda-moe-gather.cu: the rows of a MoE batch in expert order (and in the products' input type), so
 * that each expert's tokens are one contiguous matrix for cuBLAS. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-moe-gather.h"

static __global__ void gather_kernel(void *dst, int bf16, const float *src, const int *idx, int cols)
{
	int r = blockIdx.x;
	const float *s = src + (size_t)(idx != NULL ? idx[r] : r) * cols;
	for (int c = threadIdx.x; c < cols; c += blockDim.x) {
		if (bf16)
			((__nv_bfloat16 *)dst)[(size_t)r * cols + c] = __float2bfloat16(s[c]);
		else
			((float *)dst)[(size_t)r * cols + c] = s[c];
	}
}

extern "C" void cuda_gather_rows(void *dst, int bf16, const float *src, const int *idx, int rows, int cols,
				 cudaStream_t st)
{
	if (rows <= 0)
		return;
	gather_kernel<<<rows, 256, 0, st>>>(dst, bf16, src, idx, cols);
	CUDA_LAUNCH_CHECK("gather_kernel");
}

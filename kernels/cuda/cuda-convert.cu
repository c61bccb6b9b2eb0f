/* cuda-convert.cu: weights to their device type (BF16, or F32 for --dtype f32) from F32, F16 or BF16
 * as the checkpoint stores them, and F32 activations to BF16 for the cuBLAS products. */
#include <cuda_fp16.h>

#include "cuda-check.h"
#include "cuda-convert.h"
#include "cuda-device.cuh"

static __device__ __forceinline__ float src_at(const void *src, int t, size_t i)
{
	if (t == CUDA_SRC_F32)
		return ((const float *)src)[i];
	if (t == CUDA_SRC_F16)
		return __half2float(((const __half *)src)[i]);
	return __bfloat162float(((const __nv_bfloat16 *)src)[i]);
}

static __global__ void convert_kernel(void *dst, int dst_bf16, const void *src, int t, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		if (dst_bf16 && t == CUDA_SRC_BF16)
			((__nv_bfloat16 *)dst)[i] = ((const __nv_bfloat16 *)src)[i];
		else if (dst_bf16)
			((__nv_bfloat16 *)dst)[i] = __float2bfloat16(src_at(src, t, i));
		else
			((float *)dst)[i] = src_at(src, t, i);
	}
}

static unsigned grid_for(size_t n)
{
	size_t b = (n + 255) / 256;
	return (unsigned)(b > 65535 ? 65535 : b > 0 ? b : 1);
}

extern "C" void cuda_convert(void *dst, int dst_bf16, const void *src, int src_dtype, size_t n, cudaStream_t st)
{
	convert_kernel<<<grid_for(n), 256, 0, st>>>(dst, dst_bf16, src, src_dtype, n);
	CUDA_LAUNCH_CHECK("convert_kernel");
}

static __global__ void f32_to_bf16_kernel(__nv_bfloat16 *dst, const float *src, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		dst[i] = __float2bfloat16(src[i]);
}

extern "C" void cuda_f32_to_bf16(void *dst, const float *src, size_t n, cudaStream_t st)
{
	f32_to_bf16_kernel<<<grid_for(n), 256, 0, st>>>((__nv_bfloat16 *)dst, src, n);
	CUDA_LAUNCH_CHECK("f32_to_bf16_kernel");
}

/* cuda-dequant.cu: GGUF blocks on the GPU decoded to BF16 or F32 rows: a thread per group of 32
 * weights, with the decoders the in-kernel products use (cuda-quant.cuh). */
#include "cuda-check.h"
#include "cuda-dequant.h"
#include "cuda-quant.cuh"

template <typename B>
static __global__ void dequant_kernel(void *dst, int dst_bf16, const B *src, size_t groups)
{
	const int gpb = B::per / 32;
	for (size_t g = blockIdx.x * (size_t)blockDim.x + threadIdx.x; g < groups; g += (size_t)gridDim.x * blockDim.x) {
		float v[32];
		B::dec32((const uint8_t *)(src + g / gpb), (int)(g % gpb), v);
		if (dst_bf16) {
			__nv_bfloat162 *o = (__nv_bfloat162 *)dst + 16 * g;
#pragma unroll
			for (int j = 0; j < 16; j++)
				o[j] = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);
		} else {
			float4 *o = (float4 *)dst + 8 * g;
#pragma unroll
			for (int j = 0; j < 8; j++)
				o[j] = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
		}
	}
}

template <typename W>
static bool launch(void *dst, int dst_bf16, const void *src, size_t groups, cudaStream_t st)
{
	size_t b = (groups + 255) / 256;
	unsigned grid = (unsigned)(b > 65535 ? 65535 : b > 0 ? b : 1);
	dequant_kernel<<<grid, 256, 0, st>>>(dst, dst_bf16, (const W *)src, groups);
	return true;
}

/* the float types have nothing to decode (and no B::dec32) */
template <> bool launch<float>(void *, int, const void *, size_t, cudaStream_t) { return false; }
template <> bool launch<__nv_bfloat16>(void *, int, const void *, size_t, cudaStream_t) { return false; }

extern "C" int cuda_dequant(void *dst, int dst_bf16, const void *src, int wtype, size_t rows, int cols, cudaStream_t st)
{
	if (rows == 0 || cols <= 0)
		return 0;
	if (cols % 32 != 0)
		return -1;
	size_t groups = rows * (size_t)(cols / 32);
	bool ok, launched = false;
	DS_W_DISPATCH(wtype, ok, launched = launch<W>(dst, dst_bf16, src, groups, st));
	if (!ok || !launched)
		return -1;
	CUDA_LAUNCH_CHECK("dequant_kernel");
	return 0;
}

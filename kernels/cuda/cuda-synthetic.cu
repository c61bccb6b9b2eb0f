/* cuda-synthetic.cu: reproducible random weights written straight into GPU memory, for the
 * --synthetic benchmark models (no checkpoint file, no host copy). */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-synthetic.h"

/* splitmix64 of (seed, i): independent of the launch shape, so a buffer is the same on every GPU. */
static __device__ __forceinline__ float hash_uniform(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static __global__ void fill_kernel(void *dst, int bf16, size_t n, uint64_t seed, float scale, float offset)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		float v = offset + scale * hash_uniform(seed, i);
		if (bf16)
			((__nv_bfloat16 *)dst)[i] = __float2bfloat16(v);
		else
			((float *)dst)[i] = v;
	}
}

extern "C" void cuda_fill_random(void *dst, int bf16, size_t n, uint64_t seed, float scale, float offset,
				 cudaStream_t st)
{
	if (n == 0)
		return;
	size_t b = (n + 255) / 256;
	fill_kernel<<<(unsigned)(b > 8192 ? 8192 : b), 256, 0, st>>>(dst, bf16, n, seed, scale, offset);
	CUDA_LAUNCH_CHECK("fill_kernel");
}

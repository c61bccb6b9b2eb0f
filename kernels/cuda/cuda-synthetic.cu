/* cuda-synthetic.cu: reproducible random weights written straight into GPU memory, for the
 * --synthetic benchmark models (no checkpoint file, no host copy). */
#include <cuda_fp16.h>

#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-synthetic.h"
#include "dtype.h"

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

/* One GGUF block of type t at b: random quants and scales from the hash, then its f16 scale (and
 * min) fields set so that weights come out about scale in size, as the float fill's do. */
static __device__ void put_f16(uint8_t *p, float v)
{
	unsigned short h = __half_as_ushort(__float2half(v));
	p[0] = (uint8_t)(h & 0xff);
	p[1] = (uint8_t)(h >> 8);
}

static __global__ void fill_blocks_kernel(uint8_t *dst, int t, int block_bytes, size_t nblocks, uint64_t seed,
					  float scale)
{
	for (size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x; b < nblocks; b += (size_t)gridDim.x * blockDim.x) {
		uint8_t *p = dst + b * (size_t)block_bytes;
		for (int i = 0; i < block_bytes; i++)
			p[i] = (uint8_t)((hash_uniform(seed, b * (size_t)block_bytes + i) + 1.0f) * 127.99f);
		switch (t) {
		case DS_Q8_0: put_f16(p, scale / 128); break;
		case DS_Q4_0: put_f16(p, scale / 8); break;
		case DS_Q5_0: put_f16(p, scale / 16); break;
		case DS_Q4_1: put_f16(p, scale / 8); put_f16(p + 2, -scale); break;
		case DS_Q5_1: put_f16(p, scale / 16); put_f16(p + 2, -scale); break;
		/* d * sc * q - dmin * m with sc, m up to 63: centred about zero on average */
		case DS_Q4_K: put_f16(p, scale / 240); put_f16(p + 2, scale / 32); break;
		case DS_Q5_K: put_f16(p, scale / 480); put_f16(p + 2, scale / 32); break;
		case DS_Q6_K: put_f16(p + 208, scale / 2048); break;
		}
	}
}

extern "C" void cuda_fill_random_blocks(void *dst, int wtype, size_t nblocks, int block_bytes, uint64_t seed,
					float scale, cudaStream_t st)
{
	if (nblocks == 0)
		return;
	size_t b = (nblocks + 255) / 256;
	fill_blocks_kernel<<<(unsigned)(b > 8192 ? 8192 : b), 256, 0, st>>>((uint8_t *)dst, wtype, block_bytes, nblocks,
									   seed, scale);
	CUDA_LAUNCH_CHECK("fill_blocks_kernel");
}

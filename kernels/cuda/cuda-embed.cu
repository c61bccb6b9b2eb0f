/* cuda-embed.cu: the embedding gather: one block per token copies its table row as F32. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-embed.h"

template <typename W>
static __global__ void embed_kernel(float *out, const W *table, const int *ids, int cols)
{
	int i = blockIdx.x;
	const W *row = table + (size_t)ids[i] * (size_t)cols;
	for (int c = threadIdx.x; c < cols; c += blockDim.x)
		out[(size_t)i * cols + c] = dev_ld(row, (size_t)c);
}

extern "C" void cuda_embed(float *out, const void *table, int bf16, const int *ids, int n, int cols, cudaStream_t st)
{
	if (n <= 0)
		return;
	if (bf16)
		embed_kernel<<<n, 256, 0, st>>>(out, (const __nv_bfloat16 *)table, ids, cols);
	else
		embed_kernel<<<n, 256, 0, st>>>(out, (const float *)table, ids, cols);
	CUDA_LAUNCH_CHECK("embed_kernel");
}

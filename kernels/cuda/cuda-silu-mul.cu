/* cuda-silu-mul.cu: the SwiGLU activation silu(g) * u, in place in g. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-silu-mul.h"

static __global__ void silu_mul_kernel(float *g, const float *u, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		float v = g[i];
		g[i] = v / (1.0f + expf(-v)) * u[i];
	}
}

extern "C" void cuda_silu_mul(float *g, const float *u, size_t n, cudaStream_t st)
{
	if (n == 0)
		return;
	size_t b = (n + 255) / 256;
	silu_mul_kernel<<<(unsigned)(b > 4096 ? 4096 : b), 256, 0, st>>>(g, u, n);
	CUDA_LAUNCH_CHECK("silu_mul_kernel");
}

/* cuda-add.cu: the residual add y += x. */
#include "cuda-add.h"
#include "cuda-check.h"
#include "cuda-device.cuh"

static __global__ void add_kernel(float *y, const float *x, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		y[i] += x[i];
}

extern "C" void cuda_add(float *y, const float *x, size_t n, cudaStream_t st)
{
	if (n == 0)
		return;
	size_t b = (n + 255) / 256;
	add_kernel<<<(unsigned)(b > 4096 ? 4096 : b), 256, 0, st>>>(y, x, n);
	CUDA_LAUNCH_CHECK("add_kernel");
}

/* cuda-rmsnorm.cu: RMSNorm, one block per row; each thread scales the values it summed, so the
 * operation may run in place. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-rmsnorm.h"

template <typename W>
static __global__ void rmsnorm_kernel(float *y, int ldy, const float *x, int ldx, const W *w, int d, float eps)
{
	__shared__ float red[32];
	const float *xi = x + (size_t)blockIdx.x * ldx;
	float *yi = y + (size_t)blockIdx.x * ldy;
	float ss = 0;
	for (int j = threadIdx.x; j < d; j += blockDim.x)
		ss += xi[j] * xi[j];
	ss = block_sum(ss, red);
	float r = rsqrtf(ss / (float)d + eps);
	for (int j = threadIdx.x; j < d; j += blockDim.x)
		yi[j] = xi[j] * r * dev_ld(w, (size_t)j);
}

extern "C" void cuda_rmsnorm(float *y, int ldy, const float *x, int ldx, const void *w, int bf16, int n, int d,
			     float eps, cudaStream_t st)
{
	if (n <= 0)
		return;
	if (bf16)
		rmsnorm_kernel<<<n, 256, 0, st>>>(y, ldy, x, ldx, (const __nv_bfloat16 *)w, d, eps);
	else
		rmsnorm_kernel<<<n, 256, 0, st>>>(y, ldy, x, ldx, (const float *)w, d, eps);
	CUDA_LAUNCH_CHECK("rmsnorm_kernel");
}

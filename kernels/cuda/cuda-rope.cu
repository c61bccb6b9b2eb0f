/* cuda-rope.cu: rotary embedding of adjacent pairs; the angle and its cosine and sine are computed in
 * double precision as on the CPU, because positions reach 163840 and the F32 parity test is 1e-3. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-rope.h"

static __global__ void rope_kernel(float *x, int n, int n_heads, int ld, int head_ld, int half, int pos,
				   const int *pos_dev, const double *inv_freq, float mscale)
{
	int p0 = pos_dev != NULL ? *pos_dev : pos;
	size_t total = (size_t)n * n_heads * half;
	for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < total; k += (size_t)gridDim.x * blockDim.x) {
		int i = (int)(k % half), h = (int)((k / half) % n_heads), t = (int)(k / ((size_t)half * n_heads));
		double a = (double)(p0 + t) * inv_freq[i];
		float cs = (float)cos(a) * mscale, sn = (float)sin(a) * mscale;
		float *p = x + (size_t)t * ld + (size_t)h * head_ld + 2 * i;
		float x0 = p[0], x1 = p[1];
		p[0] = x0 * cs - x1 * sn;
		p[1] = x1 * cs + x0 * sn;
	}
}

extern "C" void cuda_rope(float *x, int n, int n_heads, int ld, int head_ld, int dim, int pos, const int *pos_dev,
			  const double *inv_freq, float mscale, cudaStream_t st)
{
	size_t total = (size_t)n * n_heads * (dim / 2);
	if (total == 0)
		return;
	size_t blocks = (total + 255) / 256;
	rope_kernel<<<(unsigned)(blocks > 4096 ? 4096 : blocks), 256, 0, st>>>(x, n, n_heads, ld, head_ld, dim / 2,
									      pos, pos_dev, inv_freq, mscale);
	CUDA_LAUNCH_CHECK("rope_kernel");
}

/* cuda-rmsnorm.h: launcher of RMSNorm over rows. */
#ifndef DS_CUDA_RMSNORM_H
#define DS_CUDA_RMSNORM_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[i*ldy + j] = x[i*ldx + j] * rsqrt(mean_j(x^2) + eps) * w[j], j < d, i < n; may run in place. */
void cuda_rmsnorm(float *y, int ldy, const float *x, int ldx, const void *w, int bf16, int n, int d,
		  float eps, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

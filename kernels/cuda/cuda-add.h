/* cuda-add.h: launcher of the residual add. */
#ifndef DS_CUDA_ADD_H
#define DS_CUDA_ADD_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] += x[i], n values. */
void cuda_add(float *y, const float *x, size_t n, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

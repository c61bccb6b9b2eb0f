/* cuda-silu-mul.h: launcher of the SwiGLU activation. */
#ifndef DS_CUDA_SILU_MUL_H
#define DS_CUDA_SILU_MUL_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* g[i] = silu(g[i]) * u[i], n values. */
void cuda_silu_mul(float *g, const float *u, size_t n, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

/* cuda-gemv.h: launcher of the matrix product for a few tokens (decode), straight from F32 activations. */
#ifndef DS_CUDA_GEMV_H
#define DS_CUDA_GEMV_H

#include <stddef.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[i*ldy + r] = W[r] . x[i*cols ..] for r < rows, i < n, W (rows, cols) of type wtype (an enum
 * ds_dtype value: F32, BF16 or a GGUF block type, decoded in the kernel): each weight row is read
 * once per 4 tokens, FP32 accumulation, no BF16 copy of x needed. Meant for n up to about 8, where
 * the product is a pass over the weights and cuBLAS's GEMM pays for the conversion of x and its
 * own launch heuristics. -1 for a type it has no kernel for (F16), else 0. */
int cuda_gemv(float *y, int ldy, const void *w, int wtype, int rows, int cols, const float *x, int n,
	      cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

/* cuda-gemv.h: launcher of the matrix product for a few tokens (decode), straight from F32 activations. */
#ifndef DS_CUDA_GEMV_H
#define DS_CUDA_GEMV_H

#include <stddef.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[i*ldy + r] = W[r] . x[i*cols ..] for r < rows, i < n, W (rows, cols) in BF16 (bf16) or F32:
 * each weight row is read once per 4 tokens, FP32 accumulation, no BF16 copy of x needed. Meant
 * for n up to about 8, where the product is a pass over the weights and cuBLAS's GEMM pays for
 * the conversion of x and its own launch heuristics. */
void cuda_gemv(float *y, int ldy, const void *w, int bf16, int rows, int cols, const float *x, int n,
	       cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

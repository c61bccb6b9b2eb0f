/* cuda-moe-gather.h: launcher gathering the grouped rows of a MoE batch for the cuBLAS expert products. */
#ifndef DS_CUDA_MOE_GATHER_H
#define DS_CUDA_MOE_GATHER_H

#include <stddef.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* dst row r (cols values, BF16 when bf16 else F32) = src row idx[r] (F32, cols values), r < rows;
 * idx NULL: row r itself (a plain conversion of rows x cols). */
void cuda_gather_rows(void *dst, int bf16, const float *src, const int *idx, int rows, int cols, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

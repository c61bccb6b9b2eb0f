/* cuda-dequant.h: launcher decoding GGUF block-quantized weights kept on the GPU into BF16 or F32
 * rows, for the matrix products of a prompt (cuBLAS reads float types only). */
#ifndef DS_CUDA_DEQUANT_H
#define DS_CUDA_DEQUANT_H

#include <stddef.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* dst (rows x cols values, BF16 when dst_bf16, else F32) = the weights at src, rows x cols of the block
 * type wtype (an enum ds_dtype value), each decoded exactly as kernels/dtype.c does (the BF16 copy
 * then rounded to nearest even). -1 for a type it has no decoder for, else 0. */
int cuda_dequant(void *dst, int dst_bf16, const void *src, int wtype, size_t rows, int cols, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

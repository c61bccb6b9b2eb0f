/* cuda-convert.h: launchers converting weights and activations between F32, F16 and BF16 on the GPU. */
#ifndef DS_CUDA_CONVERT_H
#define DS_CUDA_CONVERT_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types of the source side (the values of enum ds_dtype). */
enum { CUDA_SRC_F32 = 0, CUDA_SRC_F16 = 1, CUDA_SRC_BF16 = 2 };

/* dst (n values: BF16 when dst_bf16, else F32) = src (n values of type src_dtype), both on the GPU. */
void cuda_convert(void *dst, int dst_bf16, const void *src, int src_dtype, size_t n, cudaStream_t st);
/* dst (BF16) = src (F32), n values: the activations of a BF16 matrix product. */
void cuda_f32_to_bf16(void *dst, const float *src, size_t n, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

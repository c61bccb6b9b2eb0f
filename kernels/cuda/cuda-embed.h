/* cuda-embed.h: launcher of the embedding gather. */
#ifndef DS_CUDA_EMBED_H
#define DS_CUDA_EMBED_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out[i] (cols floats) = row ids[i] of table (F32, or BF16 when bf16), i < n; ids on the GPU. */
void cuda_embed(float *out, const void *table, int bf16, const int *ids, int n, int cols, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

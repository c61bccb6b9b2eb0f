/* cuda-cache-store.h: launcher writing one latent row into the KV cache at a position read on the GPU. */
#ifndef DS_CUDA_CACHE_STORE_H
#define DS_CUDA_CACHE_STORE_H

#include <stddef.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cache[p * lat + j] = row[j], j < lat, where p is *pos_dev when pos_dev is not NULL, else pos: a
 * recorded decode step stores its new c_kv | k_pe row wherever the replay's position says. */
void cuda_cache_store(float *cache, const float *row, int lat, int pos, const int *pos_dev, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

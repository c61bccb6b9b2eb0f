/* cuda-mla-attention.h: launcher of MLA attention over the latent cache (decode and causal prefill). */
#ifndef DS_CUDA_MLA_ATTENTION_H
#define DS_CUDA_MLA_ATTENTION_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest kv_rank and kv_rank + rope the kernel holds in registers (the real models: 512, 576). */
#define CUDA_MLA_MAX_RANK 512
#define CUDA_MLA_MAX_LAT 640
/* Heads one block of the attention kernel takes: a block reads its slice of cache rows once for them. */
#define CUDA_MLA_HEADS_PER_BLOCK 8

/* o_lat (n, heads, kv_rank) = softmax(q_lat . cache rows) . c_kv rows for query i at position p + i
 * seeing positions 0..p+i (causal), where p is *pos_dev when pos_dev is not NULL, else pos. q_lat
 * (n, heads, lat) comes from cuda_mla_absorb (scale folded in); cache (>= p + n, lat) holds c_kv |
 * k_pe. Each block reads its slice of cache rows once for CUDA_MLA_HEADS_PER_BLOCK heads; the
 * positions are split in n_splits slices whose partial sums (part: n * heads * n_splits * (kv_rank +
 * 2) floats) are merged in a second kernel. */
void cuda_mla_attention(float *o_lat, float *part, const float *q_lat, const float *cache, int n, int pos,
			const int *pos_dev, int n_heads, int kv_rank, int rope, int n_splits, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

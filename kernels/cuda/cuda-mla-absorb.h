/* cuda-mla-absorb.h: launchers folding kv_b_proj into the MLA query (W_UK) and output (W_UV). */
#ifndef DS_CUDA_MLA_ABSORB_H
#define DS_CUDA_MLA_ABSORB_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* q_lat (n, heads, kv_rank + rope) = [scale * q_nope W_UK_h | scale * q_pe] from q (n, heads,
 * nope + rope); kv_b is kv_b_proj (heads * (nope + v_dim), kv_rank), F32 or BF16. */
void cuda_mla_absorb(float *q_lat, const float *q, const void *kv_b, int bf16, int n, int n_heads,
		     int nope, int rope, int v_dim, int kv_rank, float scale, cudaStream_t st);
/* out (n, heads * v_dim) = W_UV_h o_lat[i, h] for o_lat (n, heads, kv_rank). */
void cuda_mla_unabsorb(float *out, const float *o_lat, const void *kv_b, int bf16, int n, int n_heads,
		       int nope, int v_dim, int kv_rank, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

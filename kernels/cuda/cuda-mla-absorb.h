/* cuda-mla-absorb.h: launchers folding kv_b_proj into the MLA query (W_UK) and output (W_UV). */
#ifndef DS_CUDA_MLA_ABSORB_H
#define DS_CUDA_MLA_ABSORB_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where each head's W_UK and W_UV are, in elements of one type (F32, or BF16 when bf16): W_UK_h[j][c]
 * (j < nope, c < kv_rank) at uk + h * uk_head + j * uk_j + c * uk_c, W_UV_h[r][c] (r < v_dim) at
 * uv + h * uv_head + r * kv_rank + c. kv_b_proj whole, (heads * (nope + v_dim), kv_rank), has uk_head
 * (nope + v_dim) * kv_rank, uk_j kv_rank, uk_c 1, and uv nope rows after uk; split as newer GGUF
 * converters write it, attn_k_b (heads * kv_rank, nope) has uk_head kv_rank * nope, uk_j 1, uk_c nope,
 * and attn_v_b (heads * v_dim, kv_rank) is uv with uv_head v_dim * kv_rank. */
struct cuda_mla_weights {
	const void *uk, *uv;
	size_t uk_head, uk_j, uk_c, uv_head;
	int bf16;
};

/* q_lat (n, heads, kv_rank + rope) = [scale * q_nope W_UK_h | scale * q_pe] from q (n, heads,
 * nope + rope). */
void cuda_mla_absorb(float *q_lat, const float *q, const struct cuda_mla_weights *w, int n, int n_heads,
		     int nope, int rope, int kv_rank, float scale, cudaStream_t st);
/* out (n, heads * v_dim) = W_UV_h o_lat[i, h] for o_lat (n, heads, kv_rank). */
void cuda_mla_unabsorb(float *out, const float *o_lat, const struct cuda_mla_weights *w, int n, int n_heads,
		       int v_dim, int kv_rank, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

/* cuda-moe-experts.h: launchers of the routed experts: grouped SwiGLU products over all experts at once. */
#ifndef DS_CUDA_MOE_EXPERTS_H
#define DS_CUDA_MOE_EXPERTS_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* h[r] (inter) = silu(gate_e x[tok[r]]) * up_e x[tok[r]] for the rows r of every active expert e
 * (offset, tok, active from cuda_moe_group); gate and up hold the n_routed experts back to back (inter
 * x hidden each). One launch for all experts: max_active (at most min(n * top_k, n_routed)) columns
 * of blocks, one per active expert, the extra ones return at once. */
int cuda_moe_gate_up(float *h, const float *x, const int *tok, const int *offset, const int *active,
		     int max_active, const void *gate, const void *up, int wtype, int inter, int hidden,
		     cudaStream_t st);
/* yr[r] (hidden) = down_e h[r] for the rows of every active expert e; down: n_routed x (hidden x inter).
 * Both take the weights' type as an enum ds_dtype value (F32, BF16 or a GGUF block type) and
 * return -1 for one they have no kernel for, else 0. */
int cuda_moe_down(float *yr, const float *h, const int *offset, const int *active, int max_active,
		  const void *down, int wtype, int hidden, int inter, cudaStream_t st);
/* y[i] = (accumulate ? y[i] : 0) + sum_j weights[i*top_k + j] * yr[slot_row[i*top_k + j]], slots
 * whose row is -1 (another rank's expert) left out. */
void cuda_moe_combine(float *y, const float *yr, const int *slot_row, const float *weights, int n, int top_k,
		      int hidden, int accumulate, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

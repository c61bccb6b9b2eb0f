/* cuda-moe-gate.h: launcher of the MoE router on the GPU (softmax, group limit, top-k, weights). */
#ifndef DS_CUDA_MOE_GATE_H
#define DS_CUDA_MOE_GATE_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* For each of n tokens, from its n_routed router logits: softmax, then greedy top-k or (group_limited)
 * the topk_group groups with the best max score first; weights normalised (norm) or times scaling.
 * ids, weights: (n, top_k). The same choices as engine/moe.c (ties: lower index first). */
void cuda_moe_gate(int *ids, float *weights, const float *logits, int n, int n_routed, int top_k,
		   int group_limited, int n_group, int topk_group, int norm, float scaling, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

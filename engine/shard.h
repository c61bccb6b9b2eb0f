/* shard.h: one rank's view of a model under a partition plan (engine/plan.h), runnable by the same
 * forward pass as the whole model. */
#ifndef DS_SHARD_H
#define DS_SHARD_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "plan.h"

/* model is a struct ds_model whose config and tensors are the rank's: num_attention_heads is the rank's
 * head count and intermediate_size its slice of the dense MLP, so engine/forward.c sizes and runs
 * everything per rank without knowing about ranks. Row slices (q_proj / q_b_proj, kv_b_proj, gate and
 * up of the dense MLP and the shared experts) point into the full model's mapping; column slices
 * (o_proj, the down projections of the dense MLP and the shared experts) are copied into buffers the
 * shard owns, so every tensor stays a plain row-major matrix with no stride for the kernels (and a GPU
 * uploads only the rank's bytes). The layers' exp_gate, exp_up and exp_down hold only the rank's
 * routed experts, n_local_experts of them in ascending global order; expert_local maps a global expert
 * id to its index there (-1: another rank's), which is what the forward pass's hook takes. Only
 * rank 0 has norm and lm_head; other ranks' are empty and they must not ask for logits. The router, the
 * norms, q_a_proj, kv_a_proj and the embedding are the full model's (replicated). */
struct ds_shard {
	int rank, n_ranks;
	struct ds_model model;         /* never passed to ds_model_free: use ds_shard_free */
	unsigned char *expert_owned;   /* n_routed_experts flags */
	int *expert_local;             /* n_routed_experts: index among the owned experts, or -1 */
	int n_local_experts;
	void **owned;                  /* copied column slices, freed with the shard */
	int n_owned;
	uint64_t copied_bytes;         /* bytes in owned */
};

/* Builds rank's shard of full (which must outlive it) under plan p (made from full->cfg). */
void ds_shard_build(const struct ds_model *full, const struct ds_plan *p, int rank, struct ds_shard *s);
void ds_shard_free(struct ds_shard *s);

#endif

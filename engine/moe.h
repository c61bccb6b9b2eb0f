/* moe.h: the MoE router: which experts a token goes to, and with what weights. */
#ifndef DS_MOE_H
#define DS_MOE_H

#include "model.h"

/* From the router logits of one token (n_routed_experts floats), picks num_experts_per_tok experts
 * into ids (ascending score order is not promised) with their weights, as DeepSeek-V2 does: softmax,
 * greedy or group-limited top-k (ties: lower index first), then normalised or scaled. scratch holds
 * 2 * n_routed_experts floats. */
void ds_moe_route(const struct ds_config *cfg, const float *logits, float *scratch, int *ids,
		  float *weights);

#endif

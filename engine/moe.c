/* moe.c: DeepSeek-V2 expert routing (softmax scores, greedy or group-limited top-k). */
#include "build-config.h"

#include <math.h>
#include <stdbool.h>

#include "moe.h"

void ds_moe_route(const struct ds_config *cfg, const float *logits, float *scratch, int *ids,
		  float *weights)
{
	const int ne = cfg->n_routed_experts, k = cfg->num_experts_per_tok;
	float *score = scratch, *allowed = scratch + ne;   /* 1: may be chosen, 0: masked, -1: taken */
	float m = -INFINITY, sum = 0;
	for (int e = 0; e < ne; e++)
		if (logits[e] > m)
			m = logits[e];
	for (int e = 0; e < ne; e++) {
		score[e] = expf(logits[e] - m);
		sum += score[e];
	}
	for (int e = 0; e < ne; e++) {
		score[e] /= sum;
		allowed[e] = 1;
	}

	if (cfg->topk_method == DS_TOPK_GROUP_LIMITED && cfg->n_group > 1 && ne % cfg->n_group == 0) {
		/* keep the topk_group groups whose best expert scores highest */
		int ng = cfg->n_group, per = ne / ng;
		for (int e = 0; e < ne; e++)
			allowed[e] = 0;
		for (int pick = 0; pick < cfg->topk_group && pick < ng; pick++) {
			int best = -1;
			float bs = -INFINITY;
			for (int g = 0; g < ng; g++) {
				if (allowed[g * per] != 0)
					continue;
				float gs = -INFINITY;
				for (int j = 0; j < per; j++)
					if (score[g * per + j] > gs)
						gs = score[g * per + j];
				if (gs > bs) {
					bs = gs;
					best = g;
				}
			}
			if (best < 0)
				break;
			for (int j = 0; j < per; j++)
				allowed[best * per + j] = 1;
		}
	}

	float wsum = 0;
	for (int j = 0; j < k; j++) {
		int best = -1;
		float bs = -INFINITY;
		for (int e = 0; e < ne; e++)
			if (allowed[e] == 1 && score[e] > bs) {
				bs = score[e];
				best = e;
			}
		if (best < 0) {
			/* fewer allowed experts than k (the reference takes masked, zero scores next), or
			 * NaN scores from a broken checkpoint: the first expert not yet taken */
			for (int e = 0; e < ne && best < 0; e++)
				if (allowed[e] == 0)
					best = e;
			for (int e = 0; e < ne && best < 0; e++)
				if (allowed[e] == 1)
					best = e;
			if (best < 0)
				best = 0;    /* k > n_routed: the loader refuses such configs */
			bs = 0;
		}
		allowed[best] = -1;
		ids[j] = best;
		weights[j] = bs;
		wsum += bs;
	}
	if (k > 1 && cfg->norm_topk_prob) {
		for (int j = 0; j < k; j++)
			weights[j] /= wsum + 1e-20f;
	} else {
		for (int j = 0; j < k; j++)
			weights[j] *= cfg->routed_scaling_factor;
	}
}

/* rope.h: rotary frequencies (plain or YaRN) and the attention softmax scale of a config. */
#ifndef DS_ROPE_H
#define DS_ROPE_H

#include "model.h"

struct ds_rope {
	double inv_freq[256];       /* qk_rope_head_dim / 2 frequencies */
	float cos_mscale;           /* cos and sin are multiplied by this */
	float attn_scale;           /* softmax scale of the scores */
};

/* Fills r from cfg. Returns -1 when qk_rope_head_dim is odd or above 512. */
int ds_rope_init(const struct ds_config *cfg, struct ds_rope *r);

#endif

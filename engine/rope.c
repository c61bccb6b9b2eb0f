/* rope.c: rotary frequencies of DeepSeek-V2, with YaRN's frequency blend and magnitude scales. */
#include "build-config.h"

#include <math.h>

#include "rope.h"

/* YaRN: attention magnitude grows with log(scale) when the context is stretched. */
static double rope_yarn_mscale(double scale, double mscale)
{
	return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0;
}

/* The rotary dimension at which a frequency completes n_rot turns over the original context. */
static double rope_corr_dim(double n_rot, int dim, double base, int orig_ctx)
{
	return dim * log(orig_ctx / (n_rot * 2 * M_PI)) / (2 * log(base));
}

int ds_rope_init(const struct ds_config *cfg, struct ds_rope *r)
{
	int dim = cfg->qk_rope_head_dim, half = dim / 2;
	double base = cfg->rope_theta;
	if (dim <= 0 || dim % 2 != 0 || half > (int)(sizeof r->inv_freq / sizeof r->inv_freq[0]))
		return -1;
	for (int i = 0; i < half; i++)
		r->inv_freq[i] = pow(base, -2.0 * i / dim);
	r->cos_mscale = 1.0f;
	double scale = 1.0 / sqrt((double)(cfg->qk_nope_head_dim + dim));
	if (cfg->yarn) {
		double f = cfg->yarn_factor;
		double low = floor(rope_corr_dim(cfg->yarn_beta_fast, dim, base, cfg->yarn_original_max_position));
		double high = ceil(rope_corr_dim(cfg->yarn_beta_slow, dim, base, cfg->yarn_original_max_position));
		if (low < 0)
			low = 0;
		if (high > dim - 1)
			high = dim - 1;
		if (low == high)
			high += 0.001;
		for (int i = 0; i < half; i++) {
			double ramp = (i - low) / (high - low);
			ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
			double mask = 1.0 - ramp;    /* 1: keep the original (extrapolated) frequency */
			double extra = r->inv_freq[i], inter = extra / f;
			r->inv_freq[i] = inter * (1.0 - mask) + extra * mask;
		}
		r->cos_mscale = (float)(rope_yarn_mscale(f, cfg->yarn_mscale) /
					rope_yarn_mscale(f, cfg->yarn_mscale_all_dim));
		if (cfg->yarn_mscale_all_dim != 0) {
			double m = rope_yarn_mscale(f, cfg->yarn_mscale_all_dim);
			scale *= m * m;
		}
	}
	r->attn_scale = (float)scale;
	return 0;
}

/* test-fwd-rope.c: rotary frequencies and softmax scale (engine/rope.c), plain and YaRN, against
 * numbers worked out by hand from the YaRN formulas for the Coder-V2 rope settings. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>

#include "rope.h"
#include "fixture-util.h"

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-9 * fabs(b) + 1e-15;
}

int main(void)
{
	struct ds_config cfg = { .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .rope_theta = 10000.0f };
	struct ds_rope r;

	CHECK(ds_rope_init(&cfg, &r) == 0, "plain rope refused");
	CHECK(near(r.inv_freq[0], 1.0) && near(r.inv_freq[16], 0.01) && near(r.inv_freq[31], pow(10000.0, -62.0 / 64)),
	      "plain rope: inv_freq[0,16,31] = %.12g %.12g %.12g", r.inv_freq[0], r.inv_freq[16], r.inv_freq[31]);
	CHECK(r.cos_mscale == 1.0f, "plain rope: cos scale %g", r.cos_mscale);
	CHECK(fabsf(r.attn_scale - 1.0f / sqrtf(192.0f)) < 1e-7f, "plain rope: softmax scale %.9g", r.attn_scale);

	/* YaRN as in Coder-V2-Lite: factor 40 over 4096, beta 32 / 1: the correction range is dims
	 * 10..23 (corr_dim 10.47 and 22.51), extrapolated below, interpolated (/40) above */
	cfg.yarn = true;
	cfg.yarn_factor = 40;
	cfg.yarn_original_max_position = 4096;
	cfg.yarn_beta_fast = 32;
	cfg.yarn_beta_slow = 1;
	cfg.yarn_mscale = 0.707f;
	cfg.yarn_mscale_all_dim = 0.707f;
	CHECK(ds_rope_init(&cfg, &r) == 0, "yarn refused");
	static const struct { int i; double v; } want[] = {
		{ 0, 1.0 }, { 9, 0.07498942093324558 }, { 10, 0.05623413251903491 }, { 16, 0.0055 },
		{ 22, 0.0001778279410038922 }, { 23, 3.33380358040831e-05 }, { 31, 3.3338035804083097e-06 },
	};
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
		CHECK(near(r.inv_freq[want[k].i], want[k].v), "yarn: inv_freq[%d] = %.12g, want %.12g", want[k].i,
		      r.inv_freq[want[k].i], want[k].v);
	CHECK(r.cos_mscale == 1.0f, "yarn, mscale = mscale_all_dim: cos scale %g, want 1", r.cos_mscale);
	CHECK(fabs(r.attn_scale - 0.11472138679292611) < 1e-7, "yarn: softmax scale %.9g, want 0.114721387", r.attn_scale);

	/* the 236B setting (mscale = mscale_all_dim = 1), and unequal ones scale cos/sin */
	cfg.yarn_mscale = cfg.yarn_mscale_all_dim = 1.0f;
	ds_rope_init(&cfg, &r);
	CHECK(fabs(r.attn_scale - 0.1352337788608801) < 1e-7, "yarn 1.0: softmax scale %.9g, want 0.135233779", r.attn_scale);
	cfg.yarn_mscale_all_dim = 0.707f;
	ds_rope_init(&cfg, &r);
	CHECK(fabs(r.cos_mscale - 1.0857263992561355) < 1e-6, "yarn 1.0/0.707: cos scale %.9g, want 1.085726399", r.cos_mscale);
	/* mscale_all_dim 0: no softmax rescaling */
	cfg.yarn_mscale_all_dim = 0;
	ds_rope_init(&cfg, &r);
	CHECK(fabsf(r.attn_scale - 1.0f / sqrtf(192.0f)) < 1e-7f, "yarn, mscale_all_dim 0: softmax scale %.9g", r.attn_scale);

	cfg.qk_rope_head_dim = 7;
	CHECK(ds_rope_init(&cfg, &r) != 0, "odd rope dim accepted");

	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	else
		printf("rope: plain and YaRN frequencies and scales as expected\n");
	return fix_failures ? 1 : 0;
}

/* test-fwd-route.c: MoE routing (engine/moe.c): greedy and group-limited top-k, ties, weights. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>

#include "moe.h"
#include "fixture-util.h"

static void softmax(const float *x, int n, double *p)
{
	double m = -INFINITY, s = 0;
	for (int i = 0; i < n; i++)
		m = x[i] > m ? x[i] : m;
	for (int i = 0; i < n; i++)
		s += p[i] = exp(x[i] - m);
	for (int i = 0; i < n; i++)
		p[i] /= s;
}

static void expect(const char *what, const struct ds_config *cfg, const float *logits, const int *want_ids,
		   const double *want_w)
{
	float scratch[64], w[8];
	int ids[8];
	ds_moe_route(cfg, logits, scratch, ids, w);
	for (int j = 0; j < cfg->num_experts_per_tok; j++) {
		CHECK(ids[j] == want_ids[j], "%s: pick %d is expert %d, want %d", what, j, ids[j], want_ids[j]);
		CHECK(fabs(w[j] - want_w[j]) <= 1e-6 * (1 + fabs(want_w[j])), "%s: weight %d is %.8g, want %.8g",
		      what, j, w[j], want_w[j]);
	}
}

int main(void)
{
	struct ds_config cfg = { .n_routed_experts = 8, .num_experts_per_tok = 3, .routed_scaling_factor = 16.0f,
				 .topk_method = DS_TOPK_GREEDY, .n_group = 1, .topk_group = 1 };
	double p[8], w[3];

	/* greedy: ties go to the lower index (3 before 4, 2 before 5); weights scaled */
	float l1[8] = { 0, 1, 2, 3, 3, 2, 1, 0 };
	softmax(l1, 8, p);
	int id1[3] = { 3, 4, 2 };
	for (int j = 0; j < 3; j++)
		w[j] = p[id1[j]] * 16.0;
	expect("greedy", &cfg, l1, id1, w);

	/* group-limited: groups {0,1} {2,3} {4,5} {6,7} scored by their best expert; the best two
	 * groups are 0 and 1, so expert 4 (third best overall) is out; normalised weights */
	float l2[8] = { 5, 0, 0, 4.9f, 4.8f, 4.8f, 0, 0 };
	cfg.topk_method = DS_TOPK_GROUP_LIMITED;
	cfg.n_group = 4;
	cfg.topk_group = 2;
	cfg.norm_topk_prob = true;
	softmax(l2, 8, p);
	int id2[3] = { 0, 3, 1 };
	double sum = p[0] + p[3] + p[1];
	for (int j = 0; j < 3; j++)
		w[j] = p[id2[j]] / sum;
	expect("group-limited", &cfg, l2, id2, w);

	/* the same logits, greedy: expert 4 is in */
	cfg.topk_method = DS_TOPK_GREEDY;
	int id3[3] = { 0, 3, 4 };
	sum = p[0] + p[3] + p[4];
	for (int j = 0; j < 3; j++)
		w[j] = p[id3[j]] / sum;
	expect("greedy, normalised", &cfg, l2, id3, w);

	/* top-1 ignores norm_topk_prob and scales */
	cfg.num_experts_per_tok = 1;
	int id4[1] = { 0 };
	w[0] = p[0] * 16.0;
	expect("top-1", &cfg, l2, id4, w);

	/* NaN logits (a broken checkpoint) still give valid, distinct expert ids */
	float l5[8];
	for (int e = 0; e < 8; e++)
		l5[e] = NAN;
	float scratch[64], w5[8];
	int ids5[8];
	cfg.num_experts_per_tok = 3;
	ds_moe_route(&cfg, l5, scratch, ids5, w5);
	for (int j = 0; j < 3; j++)
		CHECK(ids5[j] >= 0 && ids5[j] < 8 && (j == 0 || ids5[j] != ids5[j - 1]),
		      "NaN logits: pick %d is expert %d", j, ids5[j]);

	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	else
		printf("routing: greedy, group-limited, ties, normalised and scaled weights as expected\n");
	return fix_failures ? 1 : 0;
}

/* test-cuda-synthetic.c: the --synthetic models' host side, which needs no GPU: the released configs
 * laid out as a checkpoint (shapes, one BF16 tensor per weight at distinct reserved addresses, the
 * plan's parameter count), and the bytes a decoded token reads. */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda-backend.h"
#include "model.h"
#include "plan.h"
#include "xalloc.h"
#include "fixture-util.h"

struct span {
	const char *base;
	size_t size;
	uint64_t elems, bytes;
	int n;
};

/* A tensor lies inside the reservation, is BF16, and its bytes are counted. */
static void see(struct span *s, const struct ds_tensor *t, const char *what, long rows, long cols)
{
	if (t->rows == 0)
		return;
	CHECK(t->rows == rows && t->cols == cols, "%s is %lld x %lld, expected %ld x %ld", what, (long long)t->rows,
	      (long long)t->cols, rows, cols);
	CHECK(t->dtype == DS_BF16, "%s is not BF16", what);
	const char *p = t->data;
	size_t b = (size_t)t->rows * (size_t)t->cols * 2;
	CHECK(p >= s->base && p + b <= s->base + s->size, "%s lies outside the reserved range", what);
	s->elems += (uint64_t)t->rows * (uint64_t)t->cols;
	s->bytes += b;
	s->n++;
}

static void test_config(const char *which, double want_params_b)
{
	char err[512];
	struct ds_config cfg;
	struct ds_model m;
	if (ds_plan_synthetic_config(which, &cfg, err, sizeof err) != 0 ||
	    ds_cuda_synthetic_model(&cfg, which, &m, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", which, err);
		return;
	}
	const struct ds_config *c = &m.cfg;
	long hd = c->hidden_size, nh = c->num_attention_heads, qd = c->qk_nope_head_dim + c->qk_rope_head_dim;
	long kr = c->kv_lora_rank, mi = c->moe_intermediate_size, sh = (long)c->n_shared_experts * mi;
	struct span s = { .base = m.maps[0].addr, .size = m.maps[0].size };
	see(&s, &m.w.embed, "embed", c->vocab_size, hd);
	see(&s, &m.w.norm, "norm", 1, hd);
	see(&s, &m.w.lm_head, "lm_head", c->vocab_size, hd);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		const struct ds_layer *L = &m.w.layers[l];
		see(&s, &L->input_norm, "input_norm", 1, hd);
		if (c->q_lora_rank > 0) {
			see(&s, &L->q_a_proj, "q_a_proj", c->q_lora_rank, hd);
			see(&s, &L->q_a_norm, "q_a_norm", 1, c->q_lora_rank);
			see(&s, &L->q_b_proj, "q_b_proj", nh * qd, c->q_lora_rank);
		} else {
			see(&s, &L->q_proj, "q_proj", nh * qd, hd);
		}
		see(&s, &L->kv_a_proj, "kv_a_proj", kr + c->qk_rope_head_dim, hd);
		see(&s, &L->kv_a_norm, "kv_a_norm", 1, kr);
		see(&s, &L->kv_b_proj, "kv_b_proj", nh * (c->qk_nope_head_dim + c->v_head_dim), kr);
		see(&s, &L->o_proj, "o_proj", hd, nh * c->v_head_dim);
		see(&s, &L->post_norm, "post_norm", 1, hd);
		if (ds_layer_is_moe(c, l)) {
			see(&s, &L->router, "router", c->n_routed_experts, hd);
			for (int e = 0; e < c->n_routed_experts; e++) {
				see(&s, &L->exp_gate[e], "expert gate", mi, hd);
				see(&s, &L->exp_up[e], "expert up", mi, hd);
				see(&s, &L->exp_down[e], "expert down", hd, mi);
			}
			see(&s, &L->shared_gate, "shared gate", sh, hd);
			see(&s, &L->shared_up, "shared up", sh, hd);
			see(&s, &L->shared_down, "shared down", hd, sh);
		} else {
			see(&s, &L->gate_proj, "gate_proj", c->intermediate_size, hd);
			see(&s, &L->up_proj, "up_proj", c->intermediate_size, hd);
			see(&s, &L->down_proj, "down_proj", hd, c->intermediate_size);
		}
	}
	/* back to back: the tensors fill the reservation exactly, so no two overlap */
	CHECK(s.bytes == s.size, "%s: %llu bytes of tensors in a reservation of %zu", which,
	      (unsigned long long)s.bytes, s.size);
	CHECK(s.elems == m.n_params && m.weight_bytes == 2 * m.n_params, "%s: n_params %llu, counted %llu", which,
	      (unsigned long long)m.n_params, (unsigned long long)s.elems);
	CHECK(m.n_params == ds_plan_total_params(&cfg), "%s: %llu parameters, the plan says %llu", which,
	      (unsigned long long)m.n_params, (unsigned long long)ds_plan_total_params(&cfg));
	CHECK(m.n_params / 1e9 > want_params_b * 0.99 && m.n_params / 1e9 < want_params_b * 1.01,
	      "%s: %.2f B parameters, expected about %.1f B", which, m.n_params / 1e9, want_params_b);
	CHECK(strcmp(m.dir, strcmp(which, "lite") == 0 ? "synthetic:lite" : "synthetic:full") == 0,
	      "%s: dir %s", which, m.dir);
	printf("%s: %d tensors, %.2f B parameters, %.2f GB in BF16, %.2f GB read per decoded token\n", which, s.n,
	       m.n_params / 1e9, m.weight_bytes / 1e9, ds_model_bytes_per_token(&m) / 1e9);
	ds_model_free(&m);
}

int main(void)
{
	test_config("lite", 15.7);
	test_config("full", 235.7);
	char err[512] = "";
	struct ds_config cfg;
	CHECK(ds_plan_synthetic_config("huge", &cfg, err, sizeof err) != 0 && err[0] != '\0',
	      "an unknown synthetic model accepted");
	printf("%s\n", fix_failures ? "FAILED" : "the synthetic models have the released layouts");
	return fix_failures ? 1 : 0;
}

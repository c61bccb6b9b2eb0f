/* test-fwd-synth.c: the forward pass on a synthetic model built in memory, wide enough that every
 * product runs on the thread pool, with F32, F16 and BF16 tensors mixed: batch vs decode vs chunked
 * prefill, 1 vs 2 threads bit for bit, both q paths. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "model.h"
#include "xalloc.h"
#include "fixture-util.h"

#define SEQ 150

static uint64_t rng = 0x2545f4914f6cdd1dull;

/* Small normal numbers only (|f| < 2): enough for random weights. */
static uint16_t f32_to_f16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	uint32_t sign = (u >> 16) & 0x8000;
	int e = (int)((u >> 23) & 0xff) - 127 + 15;
	if (e <= 0)
		return (uint16_t)sign;
	return (uint16_t)(sign | (uint32_t)e << 10 | ((u >> 13) & 0x3ff));
}

static int dtype_turn;

/* A tensor of uniform values in [-scale, scale]; a norm weight (around 1) when norm. The dtype
 * cycles through F32, F16, BF16 across tensors. */
static struct ds_tensor tensor(long rows, long cols, float scale, bool norm)
{
	enum ds_dtype t = (enum ds_dtype)(dtype_turn++ % 3);
	size_t n = (size_t)rows * (size_t)cols;
	void *p = xmalloc(n * ds_dtype_get(t)->block_bytes);
	for (size_t i = 0; i < n; i++) {
		float v = norm ? 1.0f + 0.2f * fix_rndf(&rng) : scale * fix_rndf(&rng);
		if (t == DS_F32)
			((float *)p)[i] = v;
		else if (t == DS_BF16)
			((uint16_t *)p)[i] = fix_bf16(v);
		else
			((uint16_t *)p)[i] = f32_to_f16(v);
	}
	return (struct ds_tensor){ .dtype = t, .data = p, .rows = rows, .cols = cols };
}

static void build(struct ds_model *m, int q_lora)
{
	struct ds_config *c = &m->cfg;
	memset(m, 0, sizeof *m);
	*c = (struct ds_config){
		.vocab_size = 1000, .hidden_size = 256, .intermediate_size = 384, .moe_intermediate_size = 128,
		.num_hidden_layers = 3, .num_attention_heads = 4, .n_shared_experts = 1, .n_routed_experts = 8,
		.num_experts_per_tok = 2, .routed_scaling_factor = 1.5f, .topk_method = DS_TOPK_GREEDY,
		.n_group = 1, .topk_group = 1, .first_k_dense_replace = 1, .moe_layer_freq = 1,
		.q_lora_rank = q_lora, .kv_lora_rank = 96, .qk_nope_head_dim = 32, .qk_rope_head_dim = 16,
		.v_head_dim = 32, .max_position_embeddings = 4096, .rms_norm_eps = 1e-6f, .rope_theta = 10000,
		.yarn = true, .yarn_factor = 4, .yarn_original_max_position = 256, .yarn_beta_fast = 32,
		.yarn_beta_slow = 1, .yarn_mscale = 1, .yarn_mscale_all_dim = 0.8f,
	};
	m->name = (char *)"synthetic";
	const long h = c->hidden_size, nh = c->num_attention_heads, qd = c->qk_nope_head_dim + c->qk_rope_head_dim;
	const float ws = 0.08f;
	m->w.embed = tensor(c->vocab_size, h, 1.0f, false);
	m->w.norm = tensor(1, h, 0, true);
	m->w.lm_head = tensor(c->vocab_size, h, ws, false);
	m->w.layers = xcalloc((size_t)c->num_hidden_layers, sizeof *m->w.layers);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		struct ds_layer *L = &m->w.layers[l];
		L->input_norm = tensor(1, h, 0, true);
		if (q_lora) {
			L->q_a_proj = tensor(q_lora, h, ws, false);
			L->q_a_norm = tensor(1, q_lora, 0, true);
			L->q_b_proj = tensor(nh * qd, q_lora, ws, false);
		} else {
			L->q_proj = tensor(nh * qd, h, ws, false);
		}
		L->kv_a_proj = tensor(c->kv_lora_rank + c->qk_rope_head_dim, h, ws, false);
		L->kv_a_norm = tensor(1, c->kv_lora_rank, 0, true);
		L->kv_b_proj = tensor(nh * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank, ws, false);
		L->o_proj = tensor(h, nh * c->v_head_dim, ws, false);
		L->post_norm = tensor(1, h, 0, true);
		if (!ds_layer_is_moe(c, l)) {
			L->gate_proj = tensor(c->intermediate_size, h, ws, false);
			L->up_proj = tensor(c->intermediate_size, h, ws, false);
			L->down_proj = tensor(h, c->intermediate_size, ws, false);
			continue;
		}
		int ne = c->n_routed_experts, mi = c->moe_intermediate_size;
		L->router = tensor(ne, h, 0.5f, false);
		L->exp_gate = xcalloc((size_t)ne, sizeof *L->exp_gate);
		L->exp_up = xcalloc((size_t)ne, sizeof *L->exp_up);
		L->exp_down = xcalloc((size_t)ne, sizeof *L->exp_down);
		for (int e = 0; e < ne; e++) {
			L->exp_gate[e] = tensor(mi, h, ws, false);
			L->exp_up[e] = tensor(mi, h, ws, false);
			L->exp_down[e] = tensor(h, mi, ws, false);
		}
		L->shared_gate = tensor(mi * c->n_shared_experts, h, ws, false);
		L->shared_up = tensor(mi * c->n_shared_experts, h, ws, false);
		L->shared_down = tensor(h, mi * c->n_shared_experts, ws, false);
	}
}

static void release(struct ds_model *m)
{
	const struct ds_config *c = &m->cfg;
	free((void *)m->w.embed.data);
	free((void *)m->w.norm.data);
	free((void *)m->w.lm_head.data);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		struct ds_layer *L = &m->w.layers[l];
		const struct ds_tensor *all[] = { &L->input_norm, &L->q_proj, &L->q_a_proj, &L->q_a_norm,
			&L->q_b_proj, &L->kv_a_proj, &L->kv_a_norm, &L->kv_b_proj, &L->o_proj, &L->post_norm,
			&L->gate_proj, &L->up_proj, &L->down_proj, &L->router, &L->shared_gate, &L->shared_up,
			&L->shared_down };
		for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
			free((void *)all[i]->data);
		if (L->exp_gate != NULL)
			for (int e = 0; e < c->n_routed_experts; e++) {
				free((void *)L->exp_gate[e].data);
				free((void *)L->exp_up[e].data);
				free((void *)L->exp_down[e].data);
			}
		free(L->exp_gate);
		free(L->exp_up);
		free(L->exp_down);
	}
	free(m->w.layers);
}

static double max_diff(const float *a, const float *b, size_t n, double *mag)
{
	double m = 0;
	*mag = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);
		m = d > m || isnan(d) ? (isnan(d) ? INFINITY : d) : m;
		*mag = fabs(b[i]) > *mag ? fabs(b[i]) : *mag;
	}
	return m;
}

static void run(int q_lora)
{
	struct ds_model m;
	char err[256], what[32];
	build(&m, q_lora);
	snprintf(what, sizeof what, "q_lora_rank %d", q_lora);
	const int V = m.cfg.vocab_size;
	int ids[SEQ];
	for (int i = 0; i < SEQ; i++)
		ids[i] = (i * 37 + 11) % V;
	size_t nl = (size_t)SEQ * V;
	float *batch = xmalloc(nl * sizeof(float)), *dec = xmalloc(nl * sizeof(float));
	float *chunk = xmalloc(nl * sizeof(float)), *one = xmalloc(nl * sizeof(float));
	struct ds_state *s2 = ds_state_new(&m, SEQ, 2, err, sizeof err), *s1 = ds_state_new(&m, SEQ, 1, err, sizeof err);
	CHECK(s1 != NULL && s2 != NULL, "%s: ds_state_new: %s", what, err);
	if (s1 == NULL || s2 == NULL)
		goto out;
	double mag, d;
	CHECK(ds_forward(s2, ids, SEQ, 0, batch, true) == 0, "%s: batch refused", what);
	bool finite = true;
	for (size_t i = 0; i < nl; i++)
		finite = finite && isfinite(batch[i]);
	CHECK(finite, "%s: batch logits not finite", what);
	for (int i = 0; i < SEQ; i++)
		ds_forward(s2, &ids[i], 1, i, dec + (size_t)i * V, false);
	d = max_diff(dec, batch, nl, &mag);
	printf("%s: decode vs %d-token batch: max |diff| %.3g (logits up to %.3g)\n", what, SEQ, d, mag);
	CHECK(d <= 1e-4 * (1 + mag), "%s: decode differs from batch by %.3g", what, d);
	ds_forward(s2, ids, 61, 0, chunk, true);
	ds_forward(s2, ids + 61, SEQ - 61, 61, chunk + (size_t)61 * V, true);
	d = max_diff(chunk, batch, nl, &mag);
	printf("%s: chunks of 61 + %d vs one call: max |diff| %.3g\n", what, SEQ - 61, d);
	CHECK(d <= 1e-4 * (1 + mag), "%s: chunked prefill differs from one call by %.3g", what, d);
	ds_forward(s1, ids, SEQ, 0, one, true);
	CHECK(memcmp(one, batch, nl * sizeof(float)) == 0, "%s: batch on 1 thread differs from 2 threads", what);
	for (int i = 0; i < SEQ; i++)
		ds_forward(s1, &ids[i], 1, i, one + (size_t)i * V, false);
	CHECK(memcmp(one, dec, nl * sizeof(float)) == 0, "%s: decode on 1 thread differs from 2 threads", what);
out:
	ds_state_free(s1);
	ds_state_free(s2);
	free(batch);
	free(dec);
	free(chunk);
	free(one);
	release(&m);
}

int main(void)
{
	run(0);
	run(64);
	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	return fix_failures ? 1 : 0;
}

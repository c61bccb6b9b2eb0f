/* test-simulate.c: --simulate-ranks on the three fixture checkpoints: 2, 3 and 4 virtual ranks give the
 * unsharded logits (at most 1e-4 apart) and the same greedy ids; one rank is bit-identical; the shards
 * hold exactly the slices the plan names. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "model.h"
#include "plan.h"
#include "shard.h"
#include "simulate.h"
#include "xalloc.h"
#include "fixture-util.h"
#include "sampler.h"

#define GREEDY_N 24
#define TOL 1e-4
/* ranks of the same machine share its cores; 2 threads in all keeps the test light */
#define THREADS 2

/* Prefill as a batch, then one decode step at a time through the cache. */
static int greedy(struct ds_state *s, const int *prompt, int np, int vocab, int *out, int n_out)
{
	float *lg = xmalloc(sizeof *lg * (size_t)vocab);
	int rc = ds_forward(s, prompt, np, 0, lg, false);
	for (int i = 0; i < n_out && rc == 0; i++) {
		out[i] = ds_argmax(lg, vocab);
		if (i + 1 < n_out)
			rc = ds_forward(s, &out[i], 1, np + i, lg, false);
	}
	free(lg);
	return rc;
}

static float tensor_at(const struct ds_tensor *t, int64_t r, int64_t c)
{
	const char *p = (const char *)t->data + ((size_t)r * (size_t)t->cols + (size_t)c) * ds_dtype_get(t->dtype)->block_bytes;
	uint32_t u;
	float f;
	switch (t->dtype) {
	case DS_F32:
		memcpy(&f, p, 4);
		return f;
	case DS_BF16: {
		uint16_t h;
		memcpy(&h, p, 2);
		u = (uint32_t)h << 16;
		memcpy(&f, &u, 4);
		return f;
	}
	default: {
		uint16_t h;
		memcpy(&h, p, 2);
		return (float)h;   /* F16 fixtures do not exist; compare the bits */
	}
	}
}

/* The shards of a plan hold exactly its slices: heads, columns copied in the right place, experts. */
static void check_shards(const char *name, const struct ds_model *m, int n_ranks)
{
	struct ds_plan p;
	char err[256];
	if (ds_plan_make(&m->cfg, n_ranks, &p, err, sizeof err) != 0) {
		CHECK(0, "%s: plan of %d ranks: %s", name, n_ranks, err);
		return;
	}
	const struct ds_config *c = &m->cfg;
	int heads = 0, owned = 0;
	for (int r = 0; r < n_ranks; r++) {
		struct ds_shard s;
		ds_shard_build(m, &p, r, &s);
		heads += s.model.cfg.num_attention_heads;
		for (int e = 0; e < c->n_routed_experts; e++)
			owned += s.expert_owned[e];
		/* o_proj of the last layer: row i, local column j is global column head0 * v + j */
		int l = c->num_hidden_layers - 1;
		const struct ds_tensor *lo = &s.model.w.layers[l].o_proj, *fo = &m->w.layers[l].o_proj;
		int64_t c0 = (int64_t)p.rank[r].head0 * c->v_head_dim;
		bool same = lo->rows == fo->rows && lo->cols == (int64_t)p.rank[r].n_heads * c->v_head_dim;
		for (int64_t i = 0; same && i < lo->rows; i++)
			for (int64_t j = 0; same && j < lo->cols; j++)
				same = tensor_at(lo, i, j) == tensor_at(fo, i, c0 + j);
		CHECK(same, "%s: rank %d/%d: o_proj is not columns %lld.. of the model's", name, r, n_ranks, (long long)c0);
		/* the shared experts' down projection, the same way */
		const struct ds_tensor *ld = &s.model.w.layers[l].shared_down, *fd = &m->w.layers[l].shared_down;
		same = ld->cols == p.rank[r].n_shared;
		for (int64_t i = 0; same && i < ld->rows; i++)
			for (int64_t j = 0; same && j < ld->cols; j++)
				same = tensor_at(ld, i, j) == tensor_at(fd, i, p.rank[r].shared0 + j);
		CHECK(same, "%s: rank %d/%d: shared_down is not the plan's columns", name, r, n_ranks);
		/* the dense layer's down projection */
		ld = &s.model.w.layers[0].down_proj;
		fd = &m->w.layers[0].down_proj;
		same = ld->cols == p.rank[r].n_inter && s.model.cfg.intermediate_size == p.rank[r].n_inter;
		for (int64_t i = 0; same && i < ld->rows; i++)
			for (int64_t j = 0; same && j < ld->cols; j++)
				same = tensor_at(ld, i, j) == tensor_at(fd, i, p.rank[r].inter0 + j);
		CHECK(same, "%s: rank %d/%d: down_proj is not the plan's columns", name, r, n_ranks);
		CHECK((r == 0) == (s.model.w.lm_head.rows > 0), "%s: rank %d/%d: lm_head on the wrong rank", name, r,
		      n_ranks);
		struct ds_rank_memory mem[8];
		if (n_ranks <= 8) {
			ds_plan_memory(c, &p, 16, 4, 4, mem);
			CHECK(mem[r].weight_params == s.model.n_params,
			      "%s: rank %d/%d: the shard holds %llu elements, the plan counts %llu", name, r, n_ranks,
			      (unsigned long long)s.model.n_params, (unsigned long long)mem[r].weight_params);
		}
		ds_shard_free(&s);
	}
	CHECK(heads == c->num_attention_heads, "%s: %d ranks hold %d heads, not %d", name, n_ranks, heads,
	      c->num_attention_heads);
	CHECK(owned == c->n_routed_experts, "%s: %d ranks own %d experts, not %d", name, n_ranks, owned,
	      c->n_routed_experts);
	ds_plan_free(&p);
}

static void test_model(const char *name)
{
	char dir[1024], path[1200], err[512];
	snprintf(dir, sizeof dir, "%s/models/%s", fix_dir(), name);
	struct ds_model m;
	if (ds_model_load(dir, &m, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", name, err);
		return;
	}
	int np = 0, ng = 0;
	snprintf(path, sizeof path, "%s/golden/prompt.ids", dir);
	int *prompt = fix_read_ids(path, &np);
	snprintf(path, sizeof path, "%s/golden/greedy.ids", dir);
	int *golden = fix_read_ids(path, &ng);
	if (prompt == NULL || golden == NULL || np == 0) {
		CHECK(0, "%s: cannot read golden/prompt.ids or greedy.ids", name);
		free(prompt);
		free(golden);
		ds_model_free(&m);
		return;
	}
	const int vocab = m.cfg.vocab_size, ctx = np + GREEDY_N + 1;
	size_t nl = (size_t)np * (size_t)vocab;

	/* the unsharded pass: the reference of every comparison below */
	float *ref = xmalloc(nl * sizeof *ref), *got = xmalloc(nl * sizeof *got);
	int ref_ids[GREEDY_N], ids[GREEDY_N];
	struct ds_state *s = ds_state_new(&m, ctx, THREADS, err, sizeof err);
	CHECK(s != NULL, "%s: %s", name, err);
	if (s == NULL)
		goto out;
	CHECK(ds_forward(s, prompt, np, 0, ref, true) == 0, "%s: unsharded forward refused", name);
	CHECK(greedy(s, prompt, np, vocab, ref_ids, GREEDY_N) == 0, "%s: unsharded greedy failed", name);
	ds_state_free(s);
	CHECK(memcmp(ref_ids, golden, sizeof ref_ids) == 0 || ng < GREEDY_N,
	      "%s: the unsharded greedy ids differ from golden/greedy.ids", name);

	static const int ranks[] = { 1, 2, 3, 4 };
	for (size_t k = 0; k < sizeof ranks / sizeof *ranks; k++) {
		int n = ranks[k];
		check_shards(name, &m, n);
		struct ds_sim *sim = ds_sim_new(&m, n, ctx, THREADS, err, sizeof err);
		CHECK(sim != NULL, "%s: %d ranks: %s", name, n, err);
		if (sim == NULL)
			continue;
		struct ds_state *st = ds_sim_state(sim);
		memset(got, 0, nl * sizeof *got);
		CHECK(ds_forward(st, prompt, np, 0, got, true) == 0, "%s: %d ranks: forward refused", name, n);
		double d = fix_max_diff(ref, got, nl);
		if (n == 1)
			CHECK(d == 0, "%s: one rank is not bit-identical to the unsharded pass (max diff %g)", name, d);
		else
			CHECK(d <= TOL, "%s: %d ranks: logits differ from the unsharded pass by %g (> %g)", name, n, d, TOL);
		/* one all-reduce after attention and one after the FFN, per layer, per batch */
		long calls = ds_sim_allreduce_calls(sim);
		long want = n > 1 ? 2L * m.cfg.num_hidden_layers * ((np + 127) / 128) : 0;
		CHECK(calls == want, "%s: %d ranks: %ld all-reduces for one prefill, expected %ld", name, n, calls, want);
		memset(ids, 0, sizeof ids);
		CHECK(greedy(st, prompt, np, vocab, ids, GREEDY_N) == 0, "%s: %d ranks: greedy failed", name, n);
		bool same = memcmp(ids, ref_ids, sizeof ids) == 0;
		CHECK(same, "%s: %d ranks: greedy ids differ from the unsharded run", name, n);
		if (!same) {
			printf("  unsharded:");
			for (int i = 0; i < GREEDY_N; i++)
				printf(" %d", ref_ids[i]);
			printf("\n  %d ranks: ", n);
			for (int i = 0; i < GREEDY_N; i++)
				printf(" %d", ids[i]);
			printf("\n");
		}
		/* a call the rank 0 refuses reaches no rank (else the others would wait forever) */
		int bad = vocab;
		CHECK(ds_forward(st, &bad, 1, 0, got, false) != 0, "%s: %d ranks: an id out of range was accepted", name, n);
		printf("%s: %d rank%s: max |logit diff| %.3g, greedy %s\n", name, n, n == 1 ? "" : "s", d,
		       same ? "equal" : "DIFFERENT");
		ds_sim_free(sim);
	}
	/* more ranks than heads: refused with a sentence */
	struct ds_sim *sim = ds_sim_new(&m, m.cfg.num_attention_heads + 1, ctx, THREADS, err, sizeof err);
	CHECK(sim == NULL && strstr(err, "heads") != NULL, "%s: %d ranks for %d heads were not refused", name,
	      m.cfg.num_attention_heads + 1, m.cfg.num_attention_heads);
	ds_sim_free(sim);
out:
	free(ref);
	free(got);
	free(prompt);
	free(golden);
	ds_model_free(&m);
}

/* A sequence longer than one prefill batch (128 tokens), through ds_sim_replace_state, the way the
 * engine's verbs start a simulation, ended by ds_state_free. */
static void test_long(const char *name, int n_ranks)
{
	char dir[1024], path[1200], err[512];
	snprintf(dir, sizeof dir, "%s/models/%s", fix_dir(), name);
	struct ds_model m;
	if (ds_model_load(dir, &m, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", name, err);
		return;
	}
	int np = 0;
	snprintf(path, sizeof path, "%s/golden/prompt.ids", dir);
	int *prompt = fix_read_ids(path, &np);
	const int n = 200, vocab = m.cfg.vocab_size;
	int *seq = xmalloc(sizeof *seq * n);
	for (int i = 0; i < n; i++)
		seq[i] = prompt != NULL && np > 0 ? prompt[i % np] : i % vocab;
	float *ref = xmalloc(sizeof *ref * (size_t)n * (size_t)vocab), *got = xmalloc(sizeof *got * (size_t)n * (size_t)vocab);
	struct ds_state *s = ds_state_new(&m, n, THREADS, err, sizeof err);
	struct ds_state *p = ds_state_new(&m, n, THREADS, err, sizeof err);
	CHECK(s != NULL && p != NULL, "%s: %s", name, err);
	if (s != NULL && p != NULL) {
		CHECK(ds_sim_replace_state(&m, &p, n_ranks, 0, THREADS, err, sizeof err) == 0, "%s: %s", name, err);
		CHECK(ds_state_n_ctx(p) == n, "%s: the simulation's context is %d, not %d", name, ds_state_n_ctx(p), n);
		CHECK(ds_forward(s, seq, n, 0, ref, true) == 0 && ds_forward(p, seq, n, 0, got, true) == 0,
		      "%s: forward of %d tokens refused", name, n);
		double d = fix_max_diff(ref, got, (size_t)n * (size_t)vocab);
		CHECK(d <= TOL, "%s: %d ranks, %d tokens in two batches: logits differ by %g", name, n_ranks, n, d);
		printf("%s: %d ranks, %d tokens: max |logit diff| %.3g\n", name, n_ranks, n, d);
		/* a 0-rank simulation is refused and leaves the state as it was */
		struct ds_state *before = s;
		CHECK(ds_sim_replace_state(&m, &s, 0, 0, THREADS, err, sizeof err) != 0 && s == before,
		      "%s: 0 ranks accepted", name);
	}
	ds_state_free(s);
	ds_state_free(p);     /* ends the simulation: its threads, shards and states */
	free(seq);
	free(ref);
	free(got);
	free(prompt);
	ds_model_free(&m);
}

/* Another driver's hooks (what the NCCL path plugs in): its states, its all-reduce (here one rank,
 * where the sum is the identity, so the result must be bit-identical), and done once at the end. */
struct env_count {
	int states, reduces, done;
};

static struct ds_state *env_state(void *arg, int rank, const struct ds_model *shard, int n_ctx, int n_threads,
				  char *err, size_t errlen)
{
	((struct env_count *)arg)->states++;
	(void)rank;
	return ds_state_new(shard, n_ctx, n_threads, err, errlen);
}

static void env_reduce(void *rank_arg, void *bctx, float *buf, size_t n)
{
	((struct env_count *)rank_arg)->reduces++;
	(void)bctx;
	(void)buf;
	(void)n;
}

static void env_done(void *arg)
{
	((struct env_count *)arg)->done++;
}

static void test_env(const char *name)
{
	char dir[1024], path[1200], err[512];
	snprintf(dir, sizeof dir, "%s/models/%s", fix_dir(), name);
	struct ds_model m;
	if (ds_model_load(dir, &m, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", name, err);
		return;
	}
	int np = 0;
	snprintf(path, sizeof path, "%s/golden/prompt.ids", dir);
	int *prompt = fix_read_ids(path, &np);
	size_t nl = (size_t)np * (size_t)m.cfg.vocab_size;
	float *ref = xmalloc(nl * sizeof *ref), *got = xmalloc(nl * sizeof *got);
	struct ds_state *s = ds_state_new(&m, np, THREADS, err, sizeof err);
	CHECK(s != NULL && ds_forward(s, prompt, np, 0, ref, true) == 0, "%s: unsharded pass", name);
	ds_state_free(s);

	struct env_count c = { 0 };
	void *args[1] = { &c };
	struct ds_rank_env env = { .state_new = env_state, .allreduce = env_reduce, .rank_args = args,
				   .done = env_done, .arg = &c };
	struct ds_sim *sim = ds_ranks_new(&m, 1, np, THREADS, &env, err, sizeof err);
	CHECK(sim != NULL, "%s: ranks with an environment: %s", name, err);
	if (sim != NULL) {
		CHECK(ds_forward(ds_sim_state(sim), prompt, np, 0, got, true) == 0, "%s: env forward refused", name);
		CHECK(fix_max_diff(ref, got, nl) == 0, "%s: one rank through the env hooks is not bit-identical", name);
		CHECK(c.reduces == 2 * m.cfg.num_hidden_layers, "%s: the env all-reduce ran %d times, expected %d", name,
		      c.reduces, 2 * m.cfg.num_hidden_layers);
		ds_sim_free(sim);
	}
	CHECK(c.states == 1 && c.done == 1, "%s: env states %d, done %d (expected 1, 1)", name, c.states, c.done);
	/* a failed start still calls done */
	c.done = 0;
	sim = ds_ranks_new(&m, 99, np, THREADS, &env, err, sizeof err);
	CHECK(sim == NULL && c.done == 1, "%s: 99 ranks: done called %d times", name, c.done);
	/* two CPU ranks with the env's states and the in-process sum */
	struct env_count c2 = { 0 };
	struct ds_rank_env env2 = { .state_new = env_state, .done = env_done, .arg = &c2 };
	sim = ds_ranks_new(&m, 2, np, THREADS, &env2, err, sizeof err);
	CHECK(sim != NULL, "%s: 2 ranks with env states: %s", name, err);
	if (sim != NULL) {
		CHECK(ds_forward(ds_sim_state(sim), prompt, np, 0, got, true) == 0, "%s: env forward refused", name);
		CHECK(fix_max_diff(ref, got, nl) <= TOL, "%s: 2 env ranks differ by %g", name, fix_max_diff(ref, got, nl));
		ds_sim_free(sim);
	}
	CHECK(c2.states == 2 && c2.done == 1, "%s: 2 env ranks: states %d, done %d", name, c2.states, c2.done);
	free(ref);
	free(got);
	free(prompt);
	ds_model_free(&m);
}

int main(void)
{
	if (!fix_have_models())
		return 77;
	test_model("tiny-ds2-full");
	test_model("tiny-ds2-lite");
	test_model("tiny-ds2-group");
	test_long("tiny-ds2-full", 2);
	test_long("tiny-ds2-group", 3);
	test_env("tiny-ds2-full");
	if (fix_failures > 0) {
		printf("%d check(s) failed\n", fix_failures);
		return 1;
	}
	printf("simulate: all checks passed\n");
	return 0;
}

/* test-cache-bf16.c: the BF16 latent cache (--cache-type bf16, DSCODER_CACHE_TYPE=bf16) on the tiny
 * quantized fixture's BF16 and Q8_0 files. Rounding the cache moves the logits (its point is half the
 * memory), so every way to the logits is held to exact math (golden/logits-TYPE.f32) within the bounds
 * the quantized files get: a batch over the prompt, one token at a time, a prompt in chunks through
 * either form of the prefix attention, two sequences decoded in one call, and one token after 2,100
 * positions (the long-context form). 1 and 2 threads give the same bits; the logits are not the F32
 * cache's (the rounding happened); an unknown type is one sentence and no state. All of it twice on a
 * CPU with AVX-512 BF16: decode's products by vdpbf16ps (the default there) and by widened rows. */
#include "build-config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu-backend.h"
#include "cpu/cpu-mla-kernels.h"
#include "fixture-util.h"
#include "forward.h"
#include "model.h"
#include "quantize.h"
#include "sampler.h"
#include "xalloc.h"

/* The bounds of the GGUF issue's quantized files (mean |diff|, max |diff|, top-1 agreement): a BF16
 * cache here moves the logits by a mean of 2-4e-3, 0.02-0.04 at most. */
#define MEAN_BOUND 0.05
#define MAX_BOUND 0.5
#define TOP1_BOUND 0.9

/* Positions before the long-context check's token: past the one-token path's switch to blocks */
#define LONG_POS 2100

static const char *model_dir(void)
{
	static char dir[1024];
	snprintf(dir, sizeof dir, "%s/models/tiny-ds2-quant", fix_dir());
	return dir;
}

/* a against b over n rows of vocab: the three bounds, printed as what */
static void near(const char *what, const float *a, const float *b, int n, int vocab)
{
	double sum = 0, max = 0;
	int agree = 0;
	for (int i = 0; i < n; i++) {
		const float *x = a + (size_t)i * vocab, *y = b + (size_t)i * vocab;
		for (int v = 0; v < vocab; v++) {
			double d = fabs((double)x[v] - y[v]);
			sum += d;
			max = d > max || d != d ? d : max;
		}
		agree += ds_argmax(x, vocab) == ds_argmax(y, vocab);
	}
	double mean = sum / ((double)n * vocab), top1 = (double)agree / n;
	printf("%s: mean |diff| %.3g, max %.3g, top-1 %d of %d\n", what, mean, max, agree, n);
	CHECK(mean <= MEAN_BOUND && max <= MAX_BOUND && top1 >= TOP1_BOUND,
	      "%s: mean |diff| %.3g (bound %g), max %.3g (bound %g), top-1 %.2f (bound %g)", what, mean, MEAN_BOUND,
	      max, MAX_BOUND, top1, TOP1_BOUND);
}

static struct ds_state *state(const struct ds_model *m, int n_ctx, int threads, const char *type)
{
	char err[512];
	setenv("DSCODER_CACHE_TYPE", type, 1);
	struct ds_state *s = ds_state_new(m, n_ctx, threads, err, sizeof err);
	CHECK(s != NULL, "ds_state_new (%s cache, %d threads): %s", type, threads, err);
	return s;
}

/* how decode multiplies BF16 rows, for the messages */
static const char *dot_name = "";

static void test_file(const char *type)
{
	char path[1200], err[512];
	snprintf(path, sizeof path, "%s/model-%s.gguf", model_dir(), type);
	struct ds_model m;
	if (ds_model_load(path, &m, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", path, err);
		return;
	}
	const int V = m.cfg.vocab_size;
	int np = 0;
	snprintf(path, sizeof path, "%s/golden/prompt.ids", model_dir());
	int *prompt = fix_read_ids(path, &np);
	snprintf(path, sizeof path, "%s/golden/logits-%s.f32", model_dir(), type);
	size_t ng = 0;
	float *gold = fix_read_f32(path, &ng);
	if (prompt == NULL || gold == NULL || ng != (size_t)np * V) {
		CHECK(0, "%s: golden prompt or logits missing or of the wrong size", type);
		goto out;
	}
	char what[128];
	const int n_ctx = LONG_POS + 8;
	struct ds_state *s = state(&m, n_ctx, 2, "bf16"), *f32 = state(&m, n_ctx, 2, "f32");
	if (s == NULL || f32 == NULL)
		goto out_states;
	CHECK(ds_state_cache_type(s) == DS_BF16 && ds_state_cache_type(f32) == DS_F32, "%s: cache types %d, %d",
	      type, ds_state_cache_type(s), ds_state_cache_type(f32));
	size_t nlog = (size_t)np * V;
	float *batch = xcalloc(nlog, sizeof *batch), *other = xcalloc(nlog, sizeof *other);

	/* the prompt in one batch; the rounding moved it off the F32 cache's logits */
	CHECK(ds_forward(s, prompt, np, 0, batch, true) == 0, "%s: batch refused", type);
	snprintf(what, sizeof what, "%s, bf16 cache%s, batch vs golden", type, dot_name);
	near(what, batch, gold, np, V);
	CHECK(ds_forward(f32, prompt, np, 0, other, true) == 0, "%s: f32 batch refused", type);
	double d = fix_max_diff(batch, other, nlog);
	CHECK(d > 1e-5, "%s: the bf16 cache's logits are the f32 cache's within %.3g: was it rounded?", type, d);

	/* one token at a time: the one-token attention over rows written one at a time */
	for (int i = 0; i < np; i++)
		CHECK(ds_forward(s, &prompt[i], 1, i, other + (size_t)i * V, false) == 0, "%s: decode %d refused",
		      type, i);
	snprintf(what, sizeof what, "%s, bf16 cache%s, decode vs golden", type, dot_name);
	near(what, other, gold, np, V);

	/* the prompt in chunks: the second attends to the first through each form of the prefix sums */
	for (int form = 0; form <= 1; form++) {
		cpu_mla_prefix_form = form;
		int cut = np / 3;
		CHECK(ds_forward(s, prompt, cut, 0, other, true) == 0, "%s: chunk 1 refused", type);
		CHECK(ds_forward(s, prompt + cut, np - cut, cut, other + (size_t)cut * V, true) == 0,
		      "%s: chunk 2 refused", type);
		snprintf(what, sizeof what, "%s, bf16 cache%s, chunks of %d + %d (%s prefix) vs golden", type, dot_name,
			 cut, np - cut, form ? "expanded" : "absorbed");
		near(what, other, gold, np, V);
	}
	cpu_mla_prefix_form = -1;

	/* two sequences, each token of the step in one call (attention_decode) */
	if (ds_state_set_slots(s, 2, err, sizeof err) != 0) {
		CHECK(0, "%s: two slots: %s", type, err);
	} else {
		int half = np / 2, tok[2], pos[2], seq[2] = { 0, 1 };
		bool want[2] = { true, true };
		float two[2 * 320];
		CHECK(V <= 320, "the fixture's vocabulary is %d", V);
		/* slot 0 has the prompt's first half, slot 1 its first quarter */
		CHECK(ds_forward(s, prompt, half, 0, NULL, false) == 0, "%s: slot 0 prefill refused", type);
		int *zero = xcalloc((size_t)np, sizeof *zero), *one = xcalloc((size_t)np, sizeof *one);
		for (int i = 0; i < np; i++)
			one[i] = 1;
		struct ds_batch b1 = { .n = half / 2, .tokens = prompt, .pos = NULL, .seq = one };
		int *p1 = xcalloc((size_t)np, sizeof *p1);
		for (int i = 0; i < np; i++)
			p1[i] = i;
		b1.pos = p1;
		CHECK(ds_forward_batch(s, &b1, two) == 0, "%s: slot 1 prefill refused", type);
		int steps = half - half / 2;
		float *got = xcalloc((size_t)steps * 2 * V, sizeof *got), *want0 = xcalloc((size_t)steps * 2 * V,
											  sizeof *want0);
		for (int i = 0; i < steps; i++) {
			tok[0] = prompt[half + i];
			pos[0] = half + i;
			tok[1] = prompt[half / 2 + i];
			pos[1] = half / 2 + i;
			struct ds_batch b = { .n = 2, .tokens = tok, .pos = pos, .seq = seq, .want_logits = want };
			CHECK(ds_forward_batch(s, &b, two) == 0, "%s: two-sequence step %d refused", type, i);
			memcpy(got + (size_t)i * 2 * V, two, 2 * (size_t)V * sizeof *got);
			memcpy(want0 + (size_t)i * 2 * V, gold + (size_t)(half + i) * V, (size_t)V * sizeof *got);
			memcpy(want0 + ((size_t)i * 2 + 1) * V, gold + (size_t)(half / 2 + i) * V,
			       (size_t)V * sizeof *got);
		}
		snprintf(what, sizeof what, "%s, bf16 cache%s, two sequences a step per call vs golden", type, dot_name);
		near(what, got, want0, 2 * steps, V);
		free(got);
		free(want0);
		free(zero);
		free(one);
		free(p1);
	}

	/* a token after LONG_POS positions (the blocks form of one token) against the same token in a
	 * batch over them; and 1 thread against 2, bit for bit */
	{
		int *ids = xmalloc(sizeof *ids * (LONG_POS + 1));
		for (int i = 0; i <= LONG_POS; i++)
			ids[i] = prompt[i % np];
		float *last = xcalloc((size_t)V, sizeof *last), *last1 = xcalloc((size_t)V, sizeof *last1);
		float *ref = xcalloc((size_t)V, sizeof *ref);
		CHECK(ds_forward(f32, ids, LONG_POS + 1, 0, ref, false) == 0, "%s: f32 long prefill refused", type);
		CHECK(ds_forward(s, ids, LONG_POS, 0, NULL, false) == 0 &&
		      ds_forward(s, ids + LONG_POS, 1, LONG_POS, last, false) == 0, "%s: long decode refused", type);
		snprintf(what, sizeof what, "%s, bf16 cache%s, token %d vs the f32 cache's", type, dot_name, LONG_POS);
		near(what, last, ref, 1, V);
		struct ds_state *s1 = state(&m, n_ctx, 1, "bf16");
		if (s1 != NULL) {
			CHECK(ds_forward(s1, ids, LONG_POS, 0, NULL, false) == 0 &&
			      ds_forward(s1, ids + LONG_POS, 1, LONG_POS, last1, false) == 0, "%s: 1 thread refused",
			      type);
			CHECK(memcmp(last, last1, sizeof *last * (size_t)V) == 0, "%s: 1 and 2 threads differ by %.3g",
			      type, fix_max_diff(last, last1, (size_t)V));
			float *b1 = xcalloc(nlog, sizeof *b1);
			CHECK(ds_forward(s1, prompt, np, 0, b1, true) == 0, "%s: 1-thread batch refused", type);
			CHECK(memcmp(b1, batch, sizeof *b1 * nlog) == 0, "%s: batch on 1 and 2 threads differs by %.3g",
			      type, fix_max_diff(b1, batch, nlog));
			free(b1);
			ds_state_free(s1);
		}
		free(ids);
		free(last);
		free(last1);
		free(ref);
	}
	free(batch);
	free(other);
out_states:
	ds_state_free(s);
	ds_state_free(f32);
out:
	free(prompt);
	free(gold);
	ds_model_free(&m);
}

/* The CPU backend's cache store rounds as ds_f32_to_bf16 does, value for value: ties to even,
 * subnormals kept (vcvtne2ps2bf16 would flush them), NaN kept quiet, and each row value becomes
 * what was stored. Runs without the fixtures. */
static void test_store_rounding(void)
{
	static const uint32_t bits[] = { 0x00000001, 0x00400000, 0x007fffff, 0x80012345, 0x00008000, 0x3f808000,
					 0x3f818000, 0x3f80ffff, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00001,
					 0x7f800001, 0xbf800000, 0x00000000, 0x80000000, 0x42f6e979 };
	enum { N = sizeof bits / sizeof bits[0] };
	char err[256] = "";
	const struct ds_backend *be = ds_backend_find("cpu", err, sizeof err);
	struct ds_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.hidden_size = 64, cfg.num_attention_heads = 1, cfg.qk_nope_head_dim = 16, cfg.qk_rope_head_dim = 16;
	cfg.v_head_dim = 16, cfg.kv_lora_rank = 32, cfg.intermediate_size = 64, cfg.moe_intermediate_size = 64;
	cfg.num_hidden_layers = 1, cfg.vocab_size = 16;
	struct ds_backend_params bp = { .cfg = &cfg, .n_ctx = 4, .max_batch = 1, .n_threads = 1 };
	void *ctx = be != NULL ? be->create(&bp, err, sizeof err) : NULL;
	CHECK(ctx != NULL && be->cache_store_bf16 != NULL, "the CPU backend with a BF16 cache store: %s", err);
	if (ctx == NULL || be->cache_store_bf16 == NULL)
		return;
	float row[N];
	uint16_t cache[N];
	for (int i = 0; i < N; i++)
		memcpy(&row[i], &bits[i], sizeof row[i]);
	be->cache_store_bf16(ctx, cache, row, N);
	for (int i = 0; i < N; i++) {
		float x;
		memcpy(&x, &bits[i], sizeof x);
		uint32_t back;
		memcpy(&back, &row[i], sizeof back);
		CHECK(cache[i] == ds_f32_to_bf16(x) && back == (uint32_t)cache[i] << 16,
		      "cache store of %08x: stored %04x (ds_f32_to_bf16 %04x), row now %08x", (unsigned)bits[i],
		      (unsigned)cache[i], (unsigned)ds_f32_to_bf16(x), (unsigned)back);
	}
	be->destroy(ctx);
}

int main(void)
{
	test_store_rounding();
	if (!fix_have_models())
		return fix_failures ? 1 : 77;
	for (int widen = 0; widen <= 1; widen++) {
		if (widen && !cpu_kernels_have_avx512_bf16())
			break;    /* (widened rows were the only form) */
		cpu_mla_bf16_dot = widen ? 0 : -1;
		dot_name = !cpu_kernels_have_avx512_bf16() ? "" : widen ? " (rows widened)" : " (vdpbf16ps)";
		test_file("bf16");
		test_file("q8_0");
	}
	cpu_mla_bf16_dot = -1;

	/* a type the engine does not know: one sentence, no state */
	char path[1200], err[512] = "";
	snprintf(path, sizeof path, "%s/model-bf16.gguf", model_dir());
	struct ds_model m;
	if (ds_model_load(path, &m, NULL, NULL, err, sizeof err) == 0) {
		setenv("DSCODER_CACHE_TYPE", "fp8", 1);
		struct ds_state *s = ds_state_new(&m, 16, 1, err, sizeof err);
		CHECK(s == NULL && strstr(err, "fp8") != NULL && strstr(err, "bf16") != NULL,
		      "DSCODER_CACHE_TYPE=fp8: refused with '%s'", err);
		ds_state_free(s);
		ds_model_free(&m);
	}
	unsetenv("DSCODER_CACHE_TYPE");
	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	return fix_failures ? 1 : 0;
}

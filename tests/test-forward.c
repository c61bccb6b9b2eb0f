/* test-forward.c: the forward pass on the three fixture checkpoints: logits against the golden
 * reference, greedy decoding, decode vs batch vs chunked prefill, 1 vs 2 threads, bad arguments. */
#include "build-config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu-kernels.h"
#include "forward.h"
#include "model.h"
#include "xalloc.h"
#include "fixture-util.h"
#include "sampler.h"

#define GREEDY_N 24
/* The long sequence (prompt, answer, and again) runs as two internal batches of the forward pass. */
#define LONG_N 200

/* Greedy decoding one token at a time after a batch prefill of the prompt. */
static void greedy(struct ds_state *s, const int *prompt, int np, int vocab, int *out, int n_out)
{
	float *lg = xmalloc(sizeof *lg * (size_t)vocab);
	if (ds_forward(s, prompt, np, 0, lg, false) != 0) {
		CHECK(0, "prefill of %d tokens refused", np);
		free(lg);
		return;
	}
	for (int i = 0; i < n_out; i++) {
		out[i] = ds_argmax(lg, vocab);
		if (ds_forward(s, &out[i], 1, np + i, lg, false) != 0)
			CHECK(0, "decode step %d refused", i);
	}
	free(lg);
}

/* Fixture model NAME into *m, its folder into dir (dirlen bytes); false (a failed check) where it
 * does not load. */
static bool load_fixture(const char *name, char *dir, size_t dirlen, struct ds_model *m)
{
	char err[512];
	snprintf(dir, dirlen, "%s/models/%s", fix_dir(), name);
	if (ds_model_load(dir, m, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", name, err);
		return false;
	}
	return true;
}

static void test_model(const char *name)
{
	char dir[1024], err[512];
	struct ds_model m;
	if (!load_fixture(name, dir, sizeof dir, &m))
		return;
	const int V = m.cfg.vocab_size;
	struct fix_golden golden;
	int have_golden = fix_read_golden(dir, V, GREEDY_N, &golden) == 0;
	int *prompt = golden.prompt, *gold_ids = golden.greedy, np = golden.n_prompt;
	float *gold = golden.logits;
	if (!have_golden) {
		CHECK(0, "%s: golden files missing or of the wrong size", name);
		goto out_files;
	}
	const int n_ctx = LONG_N + 8;
	struct ds_state *s = ds_state_new(&m, n_ctx, 2, err, sizeof err);
	if (s == NULL) {
		CHECK(0, "%s: ds_state_new: %s", name, err);
		goto out_files;
	}
	CHECK(ds_state_n_ctx(s) == n_ctx, "%s: n_ctx %d, asked %d", name, ds_state_n_ctx(s), n_ctx);
	CHECK(ds_state_threads(s) == 2, "%s: %d threads, asked 2", name, ds_state_threads(s));

	/* batch pass over the whole prompt against the reference */
	size_t nlog = (size_t)LONG_N * V;
	float *batch = xcalloc(nlog, sizeof *batch), *other = xcalloc(nlog, sizeof *other);
	float *dec = xcalloc(nlog, sizeof *dec);
	CHECK(ds_forward(s, prompt, np, 0, batch, true) == 0, "%s: batch pass refused", name);
	double d = fix_max_diff(batch, gold, (size_t)np * V);
	printf("%s: batch logits vs golden: max |diff| %.3g over %d positions\n", name, d, np);
	CHECK(d <= 1e-3, "%s: batch logits differ from golden/logits.f32 by %.3g (> 1e-3)", name, d);

	/* greedy decoding, 2 threads */
	int ids2[GREEDY_N], ids1[GREEDY_N];
	greedy(s, prompt, np, V, ids2, GREEDY_N);
	for (int i = 0; i < GREEDY_N; i++)
		CHECK(ids2[i] == gold_ids[i], "%s: greedy token %d is %d, golden/greedy.ids says %d", name, i,
		      ids2[i], gold_ids[i]);

	/* decode path for every position equals the batch path */
	int *all = xmalloc(sizeof *all * LONG_N);
	for (int i = 0; i < LONG_N; i++)
		all[i] = i % (np + GREEDY_N) < np ? prompt[i % (np + GREEDY_N)] : gold_ids[i % (np + GREEDY_N) - np];
	for (int i = 0; i < LONG_N; i++)
		CHECK(ds_forward(s, &all[i], 1, i, dec + (size_t)i * V, false) == 0, "%s: decode %d refused", name, i);
	d = fix_max_diff(dec, batch, (size_t)np * V);
	printf("%s: decode (one token at a time) vs batch: max |diff| %.3g\n", name, d);
	CHECK(d <= 1e-4, "%s: decode logits differ from the batch logits by %.3g (> 1e-4)", name, d);
	d = fix_max_diff(dec, gold, (size_t)np * V);
	CHECK(d <= 1e-3, "%s: decode logits differ from golden/logits.f32 by %.3g (> 1e-3)", name, d);

	/* one call over the long sequence runs as more than one internal batch */
	CHECK(ds_forward(s, all, LONG_N, 0, batch, true) == 0, "%s: long batch refused", name);
	d = fix_max_diff(batch, dec, nlog);
	printf("%s: %d-token batch vs decode: max |diff| %.3g\n", name, LONG_N, d);
	CHECK(d <= 1e-4, "%s: %d-token batch differs from decode by %.3g (> 1e-4)", name, LONG_N, d);

	/* prompt in two chunks (the second attends to the cached first) equals one pass */
	int cut = np / 3;
	CHECK(ds_forward(s, prompt, cut, 0, other, true) == 0, "%s: chunk 1 refused", name);
	CHECK(ds_forward(s, prompt + cut, np - cut, cut, other + (size_t)cut * V, true) == 0,
	      "%s: chunk 2 refused", name);
	d = fix_max_diff(other, batch, (size_t)np * V);
	printf("%s: two chunks (%d + %d) vs one pass: max |diff| %.3g\n", name, cut, np - cut, d);
	CHECK(d <= 1e-4, "%s: chunked prefill differs from one pass by %.3g (> 1e-4)", name, d);

	/* rewinding: a shorter pos overwrites the cache, last-position logits only */
	float *last = xmalloc(sizeof *last * (size_t)V);
	CHECK(ds_forward(s, prompt + 5, np - 5, 5, last, false) == 0, "%s: rewind refused", name);
	d = fix_max_diff(last, batch + (size_t)(np - 1) * V, (size_t)V);
	CHECK(d <= 1e-4, "%s: prefill after rewinding to 5 differs by %.3g (> 1e-4)", name, d);

	/* bad arguments are refused */
	int bad = V;
	CHECK(ds_forward(s, &bad, 1, 0, last, false) == -1, "%s: token id %d accepted", name, V);
	bad = -1;
	CHECK(ds_forward(s, &bad, 1, 0, last, false) == -1, "%s: token id -1 accepted", name);
	CHECK(ds_forward(s, prompt, 2, n_ctx - 1, last, false) == -1, "%s: pos + n > n_ctx accepted", name);
	CHECK(ds_forward(s, prompt, 1, -1, last, false) == -1, "%s: pos -1 accepted", name);
	ds_state_free(s);

	/* one thread gives the same tokens */
	s = ds_state_new(&m, n_ctx, 1, err, sizeof err);
	if (s == NULL) {
		CHECK(0, "%s: ds_state_new (1 thread): %s", name, err);
	} else {
		greedy(s, prompt, np, V, ids1, GREEDY_N);
		CHECK(memcmp(ids1, ids2, sizeof ids1) == 0, "%s: 1 thread and 2 threads decode different ids", name);
		/* work is split into blocks by size, never by thread count: the numbers are identical */
		float *one = xcalloc(nlog, sizeof *one);
		CHECK(ds_forward(s, all, LONG_N, 0, one, true) == 0, "%s: 1-thread batch refused", name);
		CHECK(memcmp(one, batch, sizeof *one * nlog) == 0, "%s: batch logits on 1 thread differ from 2 threads "
		      "(max |diff| %.3g)", name, fix_max_diff(one, batch, nlog));
		for (int i = 0; i < LONG_N; i++)
			CHECK(ds_forward(s, &all[i], 1, i, one + (size_t)i * V, false) == 0, "%s: decode refused", name);
		CHECK(memcmp(one, dec, sizeof *one * nlog) == 0, "%s: decode logits on 1 thread differ "
		      "from 2 threads (max |diff| %.3g)", name, fix_max_diff(one, dec, nlog));
		free(one);
		ds_state_free(s);
	}
	free(last);
	free(all);
	free(batch);
	free(other);
	free(dec);
out_files:
	fix_golden_free(&golden);
	ds_model_free(&m);
}

/* A prompt of PREFIX_N tokens in chunks of PREFIX_CHUNK against one pass: each later chunk attends
 * to several blocks of the positions before it (the prefix sums, cpu-mla.c's MLA_TB keys a block),
 * a block boundary falling inside and between chunks. The tokens are arbitrary ids; the two ways
 * must agree, whatever the model says. */
#define PREFIX_N 700
#define PREFIX_CHUNK 150

static void test_long_prefix(const char *name)
{
	char dir[1024], err[512] = "";
	struct ds_model m;
	if (!load_fixture(name, dir, sizeof dir, &m))
		return;
	const int V = m.cfg.vocab_size;
	int *tok = xmalloc(PREFIX_N * sizeof *tok);
	for (int i = 0; i < PREFIX_N; i++)
		tok[i] = (int)(((long)i * 7919 + 13) % V);
	float *one = xmalloc((size_t)V * sizeof *one), *chunked = xmalloc((size_t)V * sizeof *chunked);
	struct ds_state *s = ds_state_new(&m, PREFIX_N + 8, 2, err, sizeof err);
	CHECK(s != NULL && ds_forward(s, tok, PREFIX_N, 0, one, false) == 0, "%s: %d-token pass: %s", name,
	      PREFIX_N, err);
	ds_state_free(s);
	s = ds_state_new(&m, PREFIX_N + 8, 2, err, sizeof err);
	for (int p = 0; s != NULL && p < PREFIX_N; p += PREFIX_CHUNK) {
		int k = PREFIX_N - p < PREFIX_CHUNK ? PREFIX_N - p : PREFIX_CHUNK;
		CHECK(ds_forward(s, tok + p, k, p, chunked, false) == 0, "%s: chunk at %d refused", name, p);
	}
	double d = fix_max_diff(one, chunked, (size_t)V);
	printf("%s: %d tokens in chunks of %d vs one pass: max |diff| %.3g\n", name, PREFIX_N, PREFIX_CHUNK, d);
	CHECK(d <= 1e-4, "%s: %d tokens in chunks of %d differ from one pass by %.3g (> 1e-4)", name, PREFIX_N,
	      PREFIX_CHUNK, d);
	ds_state_free(s);
	free(one);
	free(chunked);
	free(tok);
	ds_model_free(&m);
}

int main(void)
{
	if (!fix_have_models())
		return 77;
	printf("CPU kernels: %s\n", cpu_kernels_best()->name);
	test_model("tiny-ds2-full");
	test_model("tiny-ds2-lite");
	test_model("tiny-ds2-group");
	test_long_prefix("tiny-ds2-full");
	test_long_prefix("tiny-ds2-lite");
	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	return fix_failures ? 1 : 0;
}

/* test-cuda-forward.c: the whole forward pass on the CUDA backend against the three fixture models:
 * with --dtype f32 the logits within 1e-3 of golden/logits.f32 and the greedy ids exactly those of
 * golden/greedy.ids (decoding through the GPU's KV cache and argmax); in BF16 the top-1 token of at
 * least 95% of the positions equal to the golden one, with the max difference reported. Exits 77
 * without a GPU or without the fixtures. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda-backend.h"
#include "forward.h"
#include "model.h"
#include "xalloc.h"
#include "fixture-util.h"
#include "sampler.h"

#define GREEDY_N 24

static int bf16_agree, bf16_total;

static void test_model(const char *name, bool f32)
{
	char dir[1024], err[512];
	const char *mode = f32 ? "f32" : "bf16";
	snprintf(dir, sizeof dir, "%s/models/%s", fix_dir(), name);
	struct ds_model m;
	if (ds_model_load(dir, &m, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", name, err);
		return;
	}
	const int V = m.cfg.vocab_size;
	struct fix_golden golden;
	int have_golden = fix_read_golden(dir, V, GREEDY_N, &golden) == 0;
	int *prompt = golden.prompt, *gold_ids = golden.greedy, np = golden.n_prompt;
	float *gold = golden.logits;
	struct ds_backend_choice bc = { .name = "cuda", .device = 0, .f32 = f32 };
	struct ds_state *s = NULL;
	float *batch = NULL, *dec = NULL;
	if (!have_golden) {
		CHECK(0, "%s: golden files missing or of the wrong size", name);
		goto out;
	}
	s = ds_state_new_on(&m, np + GREEDY_N + 8, 1, &bc, err, sizeof err);
	if (s == NULL) {
		CHECK(0, "%s %s: ds_state_new_on: %s", name, mode, err);
		goto out;
	}
	CHECK(strcmp(ds_state_backend(s), "cuda") == 0, "%s: runs on %s, not cuda", name, ds_state_backend(s));

	/* one batch pass over the prompt */
	batch = xcalloc((size_t)np * V, sizeof *batch);
	dec = xcalloc((size_t)np * V, sizeof *dec);
	CHECK(ds_forward(s, prompt, np, 0, batch, true) == 0, "%s: batch pass refused", name);
	double d = fix_max_diff(batch, gold, (size_t)np * V);
	int agree = 0;
	for (int i = 0; i < np; i++)
		agree += ds_argmax(batch + (size_t)i * V, V) == ds_argmax(gold + (size_t)i * V, V);
	printf("%s %s: batch logits vs golden: max |diff| %.3g, top-1 agrees at %d of %d positions\n", name, mode, d,
	       agree, np);
	if (f32) {
		CHECK(d <= 1e-3, "%s f32: batch logits differ from golden/logits.f32 by %.3g (> 1e-3)", name, d);
	} else {
		bf16_agree += agree;
		bf16_total += np;
	}

	/* the same positions one token at a time through the GPU cache */
	for (int i = 0; i < np; i++)
		CHECK(ds_forward(s, &prompt[i], 1, i, dec + (size_t)i * V, false) == 0, "%s: decode %d refused", name, i);
	d = fix_max_diff(dec, gold, (size_t)np * V);
	printf("%s %s: decode logits vs golden: max |diff| %.3g\n", name, mode, d);
	if (f32)
		CHECK(d <= 1e-3, "%s f32: decode logits differ from golden/logits.f32 by %.3g (> 1e-3)", name, d);

	/* greedy: prefill, then one token at a time with the argmax on the GPU */
	int ids[GREEDY_N], same = 0;
	int next = ds_forward_next(s, prompt, np, 0);
	for (int i = 0; i < GREEDY_N; i++) {
		ids[i] = next;
		next = ds_forward_next(s, &ids[i], 1, np + i);
	}
	for (int i = 0; i < GREEDY_N; i++)
		same += ids[i] == gold_ids[i];
	printf("%s %s: greedy ids equal to golden/greedy.ids: %d of %d\n", name, mode, same, GREEDY_N);
	if (f32)
		for (int i = 0; i < GREEDY_N; i++)
			CHECK(ids[i] == gold_ids[i], "%s f32: greedy token %d is %d, golden/greedy.ids says %d", name, i,
			      ids[i], gold_ids[i]);
out:
	ds_state_free(s);
	free(batch);
	free(dec);
	fix_golden_free(&golden);
	ds_model_free(&m);
}

int main(void)
{
	if (ds_cuda_device_count() == 0) {
		printf("SKIP: no CUDA GPU visible\n");
		return 77;
	}
	if (!fix_have_models())
		return 77;
	const char *models[] = { "tiny-ds2-full", "tiny-ds2-lite", "tiny-ds2-group" };
	for (int i = 0; i < 3; i++) {
		test_model(models[i], true);
		test_model(models[i], false);
	}
	if (bf16_total > 0) {
		printf("bf16: top-1 agreement %d of %d positions (%.1f%%)\n", bf16_agree, bf16_total,
		       100.0 * bf16_agree / bf16_total);
		CHECK(bf16_agree * 100 >= 95 * bf16_total, "bf16: top-1 agreement %.1f%% below 95%%",
		      100.0 * bf16_agree / bf16_total);
	}
	printf("%s\n", fix_failures ? "FAILED" : "the CUDA forward pass matches the fixtures");
	return fix_failures ? 1 : 0;
}

/* test-int8-decode.c: the opt-in int8 kernels (DSCODER_KERNELS=avx512-int8, and avx2-int8 in a process of
 * its own) on the decode path, one
 * token at a time through the KV cache, on the quantized fixtures (tiny-ds2-quant: Q8_0 and Q4_K_M
 * GGUF files made by llama.cpp): every position's logits against golden/logits-TYPE.f32 (exact math on
 * the dequantized weights) within the GGUF issue's bounds for mean and max, |diff| <= 0.05 and <= 0.5.
 * int8-logits.sh holds the batch forms (a prompt at once, 9 tokens at once) to them; this is the form a
 * conversation spends its time in: every product with one token (the activations rounded per 256 for
 * Q4_K), one token's attention (absorb, scores, weighted sums, W_UV). Top-1 agreement must reach 85%,
 * what int8-logits.sh asks against llama.cpp's own quantized kernels, not the 90% of the batch form:
 * 10 of the 47 golden positions have their two best logits under 0.05 apart, and with a mean |diff| of
 * about 0.03 which of those wins is a coin toss (one token at a time the q8_0 file agrees on 41,
 * the batch form on 44; llama.cpp's kernels on 45 and 44). Each file runs twice, its Q8_0 and Q4_K
 * matrices in the rows4 layout (what the CPU backend does with this set) and as the file has them
 * (DSCODER_ROWS4=0): the logits must be the same bits; a third time with W_UK folded into the
 * queries in F32 rather than from the uk4 tables (DSCODER_UK4=0), within the same bounds; those three
 * with the latent cache this set gets when --cache-type names none (BF16), and a fourth with an F32
 * cache (DSCODER_CACHE_TYPE=f32), within the same bounds. The AVX2 set reads no uk4 tables: its runs with
 * and without DSCODER_UK4 are the same. Skips (77) where the CPU has neither set (no AVX2). */
#include "build-config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu-kernels.h"
#include "cpu/cpu-uk4.h"
#include "forward.h"
#include "model.h"
#include "sampler.h"
#include "xalloc.h"
#include "fixture-util.h"

#define MEAN_BOUND 0.05
#define MAX_BOUND 0.5
#define TOP1_BOUND 0.85

/* Decodes the prompt of type's fixture one token at a time against the golden; returns every
 * position's logits (to free). rows4: whether the CPU backend may rearrange the Q8_0 matrices into the
 * rows4 layout (DSCODER_ROWS4), and then must have: the output head is one. */
static float *test_type(const char *type, bool rows4, bool uk4, bool f32_cache, size_t *n_logits)
{
	*n_logits = 0;
	char dir[1024], path[1200], err[512];
	snprintf(dir, sizeof dir, "%s/models/tiny-ds2-quant", fix_dir());
	snprintf(path, sizeof path, "%s/model-%s.gguf", dir, type);
	struct ds_model m;
	if (ds_model_load(path, &m, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", type, err);
		return NULL;
	}
	const int V = m.cfg.vocab_size;
	int np = 0;
	size_t n_gold = 0;
	snprintf(path, sizeof path, "%s/golden/prompt.ids", dir);
	int *prompt = fix_read_ids(path, &np);
	snprintf(path, sizeof path, "%s/golden/logits-%s.f32", dir, type);
	float *gold = fix_read_f32(path, &n_gold);
	struct ds_state *s = NULL;
	float *lg = xmalloc(sizeof *lg * (size_t)V), *all = NULL;
	if (prompt == NULL || gold == NULL || n_gold != (size_t)np * (size_t)V) {
		CHECK(0, "%s: golden prompt or logits missing or of the wrong size", type);
		goto out;
	}
	setenv("DSCODER_ROWS4", rows4 ? "1" : "0", 1);
	setenv("DSCODER_UK4", uk4 ? "1" : "0", 1);
	if (f32_cache)
		setenv("DSCODER_CACHE_TYPE", "f32", 1);
	else
		unsetenv("DSCODER_CACHE_TYPE");
	s = ds_state_new(&m, np + 8, 2, err, sizeof err);
	if (s == NULL) {
		CHECK(0, "%s: ds_state_new: %s", type, err);
		goto out;
	}
	/* the int8 set rounds activations: its states' cache is BF16 unless asked for F32 */
	CHECK(ds_state_cache_type(s) == (f32_cache ? DS_F32 : DS_BF16), "%s: the latent cache is %s, not %s", type,
	      ds_state_cache_type(s) == DS_BF16 ? "bf16" : "f32", f32_cache ? "f32" : "bf16 (the int8 set's default)");
	/* only weights read into memory at load are rearranged (not where the kernel lacks huge pages) */
	bool in_memory = m.n_maps == 1 && m.maps[0].in_memory;
	const struct ds_tensor *probe[] = { &m.w.lm_head, &m.w.layers[0].q_proj, &m.w.layers[0].o_proj };
	for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
		const struct ds_tensor *t = probe[i];
		bool can = cpu_kernels_best()->rows4(t->dtype) && t->rows % 4 == 0;
		CHECK((t->layout == DS_LAYOUT_ROWS4) == (rows4 && can && in_memory), "%s: matrix %zu (%s) is %sin "
		      "rows4", type, i, ds_dtype_get(t->dtype)->name, t->layout == DS_LAYOUT_ROWS4 ? "" : "not ");
	}
	/* the absorb's tables of a Q4_K kv_b_proj (cpu-uk4.h), in every layer where the set reads them */
	const struct ds_config *cfg = &m.cfg;
	for (int l = 0; l < cfg->num_hidden_layers; l++) {
		const struct ds_layer *L = &m.w.layers[l];
		bool fits = cpu_uk4_fits(&L->kv_b_proj, cfg->num_attention_heads, cfg->qk_nope_head_dim, cfg->v_head_dim) &&
			    cpu_kernels_best()->absorb_uk4 != NULL;
		CHECK((L->kv_b_uk4.rows > 0) == (uk4 && fits) && (!uk4 || !fits || (L->kv_b_uk4.layout == DS_LAYOUT_UK4 &&
		      L->kv_b_uk4.rows == (int64_t)cfg->num_attention_heads * cfg->qk_nope_head_dim)),
		      "%s: layer %d's kv_b_proj (%s) %s uk4 tables", type, l, ds_dtype_get(L->kv_b_proj.dtype)->name,
		      L->kv_b_uk4.rows > 0 ? "has" : "lacks");
	}
	if (rows4 && !in_memory)
		printf("%s: the file stayed mapped (no transparent huge pages?): rows4 not exercised here\n", type);
	all = xmalloc(sizeof *all * (size_t)np * (size_t)V);
	double sum = 0, worst = 0;
	int top1 = 0;
	for (int i = 0; i < np; i++) {
		if (ds_forward(s, &prompt[i], 1, i, lg, false) != 0) {
			CHECK(0, "%s: decode step %d refused", type, i);
			goto out;
		}
		memcpy(all + (size_t)i * (size_t)V, lg, sizeof *lg * (size_t)V);
		const float *g = gold + (size_t)i * (size_t)V;
		for (int v = 0; v < V; v++) {
			double d = fabs((double)lg[v] - (double)g[v]);
			if (!(d <= worst))
				worst = isnan(d) ? INFINITY : d;
			sum += d;
		}
		top1 += ds_argmax(lg, V) == ds_argmax(g, V);
	}
	double mean = sum / ((double)np * V), agree = (double)top1 / np;
	CHECK(mean <= MEAN_BOUND && worst <= MAX_BOUND && agree >= TOP1_BOUND,
	      "%s: decoded one token at a time, mean |diff| %.4f (bound %.2f), max %.4f (bound %.1f), top-1 %d of %d",
	      type, mean, MEAN_BOUND, worst, MAX_BOUND, top1, np);
	printf("%s%s%s, %s cache: %d positions decoded one at a time: mean |diff| %.4f, max %.4f, top-1 %d of %d\n",
	       type, rows4 ? "" : " (rows layout)", uk4 ? "" : " (W_UK folded in F32)", f32_cache ? "f32" : "bf16", np,
	       mean, worst, top1, np);
	*n_logits = (size_t)np * (size_t)V;
out:
	ds_state_free(s);
	free(lg);
	free(prompt);
	free(gold);
	ds_model_free(&m);
	return all;
}

/* The tests on the set DSCODER_KERNELS names (set in this process before its first state) */
static int test_set(const char *set, const char *name)
{
	setenv("DSCODER_KERNELS", set, 1);
	static const char *types[] = { "q8_0", "q4_k_m" };
	for (int i = 0; i < 2; i++) {
		size_t n4 = 0, n0 = 0, nf = 0, nc = 0;
		float *l4 = test_type(types[i], true, true, false, &n4), *l0 = test_type(types[i], false, true, false, &n0);
		/* the rows4 kernels take each row's steps of the rows layout's in its order */
		CHECK(l4 != NULL && l0 != NULL && n4 == n0 && memcmp(l4, l0, sizeof *l4 * n4) == 0,
		      "%s: the logits with the matrices in rows4 differ from those in the file's layout", types[i]);
		/* and the F32 fold of W_UK, within the same bounds (the tables change the sums a little) */
		float *lf = test_type(types[i], true, false, false, &nf);
		/* and with an F32 cache */
		float *lc = test_type(types[i], true, true, true, &nc);
		free(l4);
		free(l0);
		free(lf);
		free(lc);
	}
	CHECK(strcmp(cpu_kernels_best()->name, name) == 0, "the states ran on the %s kernels, not %s",
	      cpu_kernels_best()->name, name);
	if (fix_failures)
		printf("%s: %d checks failed\n", set, fix_failures);
	return fix_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	/* a process chooses its kernels once: each set in a child of its own */
	const char *child = getenv("INT8_DECODE_SET");
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)
	if (child != NULL && strcmp(child, "avx512-int8") == 0)
		return test_set(child, cpu_kernels_avx512_int8.name);
#endif
#ifdef HAVE_AVX2_TARGET
	if (child != NULL && strcmp(child, "avx2-int8") == 0)
		return test_set(child, cpu_kernels_avx2_int8.name);
#endif
	static const char *const sets[] = { "avx512-int8", "avx2-int8" };
	const int have[] = { cpu_kernels_have_avx512_int8(), cpu_kernels_have_avx2() };
	int ran = 0;
	for (int i = 0; i < 2; i++) {
		if (!have[i]) {
			printf("this CPU lacks %s: not tested\n", sets[i]);
			continue;
		}
		printf("--- %s\n", sets[i]);
		fflush(stdout);
		char *cmd = xasprintf("INT8_DECODE_SET=%s '%s'", sets[i], argv[0]);
		CHECK(system(cmd) == 0, "%s: failed (above)", sets[i]);
		free(cmd);
		ran = 1;
	}
	if (!ran) {
		printf("SKIP: this CPU (or this build) has neither int8 set\n");
		return 77;
	}
	return fix_failures ? 1 : 0;
}

/* test-sampler.c: the sampler's filters and its seeded reproducibility, on hand-made logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

#define FIX_CHECK_AT
#include "fixture-util.h"

/* Draws n samples from probabilities p (as log-probabilities) and counts each id. */
static void histogram(const struct ds_sampling *sp, const float *p, int vocab, int n, int *count)
{
	struct ds_sampler *s = ds_sampler_new(vocab, sp);
	float *logits = malloc(vocab * sizeof *logits);

	memset(count, 0, vocab * sizeof *count);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < vocab; j++)
			logits[j] = logf(p[j]);
		count[ds_sampler_pick(s, logits, NULL, 0)]++;
	}
	free(logits);
	ds_sampler_free(s);
}

/* One pick from a fresh sampler; *ok says whether the id is in [0, vocab) and its logit was finite
 * (or no logit was finite at all, when the sampler must still answer with an id in range). */
static int pick_once(const struct ds_sampling *sp, const float *in, int vocab, const int *hist, int n_hist,
		     int *ok)
{
	struct ds_sampler *s = ds_sampler_new(vocab, sp);
	float *logits = malloc(vocab * sizeof *logits);
	int any_finite = 0, id;

	for (int j = 0; j < vocab; j++) {
		logits[j] = in[j];
		any_finite |= isfinite(in[j]);
	}
	id = ds_sampler_pick(s, logits, hist, n_hist);
	*ok = id >= 0 && id < vocab && (!any_finite || isfinite(in[id]));
	free(logits);
	ds_sampler_free(s);
	return id;
}

/* The sampler is total: whatever the logits (NaN, infinities) and whatever the settings (even ones
 * the protocol refuses), it answers an id in [0, vocab) and never reads outside its candidates.
 * Issue 10: repetition_penalty 1e-40 turned positive logits into +inf, every weight into NaN, kept
 * no candidate and read cand[-1]. */
static void test_total(void)
{
	static const float nan_first[4] = { NAN, 1.0f, 3.0f, 2.0f };
	static const float all_nan[4] = { NAN, NAN, NAN, NAN };
	static const float all_ninf[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
	static const float pinf[4] = { 1.0f, INFINITY, 2.0f, INFINITY };
	static const float mixed[6] = { -INFINITY, NAN, 0.5f, INFINITY, -2.0f, NAN };
	static const float plain[5] = { 2.0f, 1.5f, -1.0f, 0.25f, 3.0f };
	int hist[5] = { 0, 1, 2, 3, 4 }, ok, id;
	struct ds_sampling sp;

	/* The request of the issue, on hand-made logits: every id was seen, the penalty overflows. */
	ds_sampling_defaults(&sp);
	sp.repetition_penalty = 1e-40f;
	sp.temperature = 0.7f;
	sp.top_p = 0.9f;
	sp.seed = 1;
	for (int i = 0; i < 50; i++) {
		sp.seed = (uint64_t)i;
		id = pick_once(&sp, plain, 5, hist, 5, &ok);
		CHECK(ok, "repetition_penalty 1e-40, seed %d: id %d", i, id);
	}
	/* A huge penalty divides positive logits to 0 and multiplies negative ones to -inf. */
	sp.repetition_penalty = 1e38f;
	id = pick_once(&sp, plain, 5, hist, 5, &ok);
	CHECK(ok, "repetition_penalty 1e38: id %d", id);

	/* Greedy skips NaN: the best finite logit, not the NaN at id 0. */
	ds_sampling_defaults(&sp);
	id = pick_once(&sp, nan_first, 4, NULL, 0, &ok);
	CHECK(ok && id == 2, "greedy over {NaN, 1, 3, 2} picked %d, want 2", id);
	id = pick_once(&sp, pinf, 4, NULL, 0, &ok);
	CHECK(ok && id == 2, "greedy over {1, inf, 2, inf} picked %d, want 2 (the best finite)", id);
	/* Nothing finite: a defined id, 0. */
	id = pick_once(&sp, all_nan, 4, NULL, 0, &ok);
	CHECK(id == 0, "greedy over all-NaN logits picked %d, want 0", id);
	id = pick_once(&sp, all_ninf, 4, NULL, 0, &ok);
	CHECK(id == 0, "greedy over all -inf logits picked %d, want 0", id);

	/* Sampling over broken logits: only finite ones are drawn; none finite gives id 0. */
	ds_sampling_defaults(&sp);
	sp.temperature = 1.0f;
	sp.top_p = 0.9f;
	sp.min_p = 0.05f;
	for (int i = 0; i < 50; i++) {
		sp.seed = (uint64_t)i;
		id = pick_once(&sp, nan_first, 4, NULL, 0, &ok);
		CHECK(ok, "sampling over {NaN, 1, 3, 2}, seed %d: id %d", i, id);
		id = pick_once(&sp, pinf, 4, NULL, 0, &ok);
		CHECK(ok, "sampling over {1, inf, 2, inf}, seed %d: id %d", i, id);
		id = pick_once(&sp, mixed, 6, NULL, 0, &ok);
		CHECK(ok && (id == 2 || id == 4), "sampling over {-inf, NaN, 0.5, inf, -2, NaN}, seed %d: id %d", i, id);
		id = pick_once(&sp, all_nan, 4, NULL, 0, &ok);
		CHECK(id == 0, "sampling over all-NaN logits, seed %d: id %d, want 0", i, id);
		id = pick_once(&sp, all_ninf, 4, NULL, 0, &ok);
		CHECK(id == 0, "sampling over all -inf logits, seed %d: id %d, want 0", i, id);
	}

	/* Settings at and past the edges: top_p 0 or a denormal, min_p 1, a denormal or huge
	 * temperature, top_k past the vocabulary, a vocabulary of one. */
	{
		static const struct { float temperature, top_p, min_p; int top_k; } edge[] = {
			{ 1.0f, 0.0f, 0.0f, 0 }, { 1.0f, 1e-45f, 0.0f, 0 }, { 1.0f, 1.0f, 1.0f, 0 },
			{ 1e-45f, 0.5f, 0.0f, 0 }, { 1e30f, 0.9f, 0.05f, 0 }, { INFINITY, 0.9f, 0.0f, 0 },
			{ 0.7f, 0.9f, 0.0f, 1000 }, { 0.7f, -1.0f, 2.0f, 1 }, { NAN, NAN, NAN, 0 },
		};

		for (size_t e = 0; e < sizeof edge / sizeof edge[0]; e++) {
			ds_sampling_defaults(&sp);
			sp.temperature = edge[e].temperature;
			sp.top_p = edge[e].top_p;
			sp.min_p = edge[e].min_p;
			sp.top_k = edge[e].top_k;
			for (int i = 0; i < 20; i++) {
				sp.seed = (uint64_t)i;
				id = pick_once(&sp, plain, 5, NULL, 0, &ok);
				CHECK(ok, "edge case %zu (T %g, top_p %g, min_p %g, top_k %d): id %d", e,
				      edge[e].temperature, edge[e].top_p, edge[e].min_p, edge[e].top_k, id);
				id = pick_once(&sp, mixed, 6, NULL, 0, &ok);
				CHECK(ok, "edge case %zu over broken logits: id %d", e, id);
				id = pick_once(&sp, plain + 1, 1, NULL, 0, &ok);
				CHECK(id == 0, "edge case %zu, vocabulary of one: id %d", e, id);
			}
		}
		/* top_p 0 keeps only the best token, like greedy. */
		ds_sampling_defaults(&sp);
		sp.temperature = 1.0f;
		sp.top_p = 0.0f;
		id = pick_once(&sp, plain, 5, NULL, 0, &ok);
		CHECK(id == 4, "top_p 0 picked %d, want the best, 4", id);
	}

	/* Random logits sprinkled with NaN and infinities, random settings in and out of range. */
	{
		uint64_t st = 0x5eed;
		float x[64];

		for (int round = 0; round < 2000; round++) {
			int vocab = 1 + (int)(fix_xorshift(&st) % 64), n_hist = (int)(fix_xorshift(&st) % 6);
			static const float pens[] = { 1e-40f, 1e-20f, 0.01f, 0.5f, 1.0f, 2.0f, 100.0f, 1e38f };
			static const float temps[] = { 0.0f, 1e-40f, 0.01f, 0.7f, 1.0f, 100.0f, 1e38f };
			static const float ps[] = { 0.0f, 1e-40f, 0.1f, 0.9f, 1.0f };

			for (int j = 0; j < vocab; j++) {
				uint64_t r = fix_xorshift(&st) % 16;

				x[j] = r == 0 ? NAN : r == 1 ? INFINITY : r == 2 ? -INFINITY :
				       r == 3 ? 3e38f : r == 4 ? -3e38f : fix_rndf(&st) * 20.0f;
			}
			for (int j = 0; j < n_hist; j++)
				hist[j] = (int)(fix_xorshift(&st) % 70) - 3;   /* some outside the vocabulary */
			ds_sampling_defaults(&sp);
			sp.seed = fix_xorshift(&st);
			sp.repetition_penalty = pens[fix_xorshift(&st) % 8];
			sp.temperature = temps[fix_xorshift(&st) % 7];
			sp.top_p = ps[fix_xorshift(&st) % 5];
			sp.min_p = ps[fix_xorshift(&st) % 5];
			sp.top_k = (int)(fix_xorshift(&st) % 4);
			id = pick_once(&sp, x, vocab, hist, n_hist, &ok);
			CHECK(ok, "random round %d (vocab %d, penalty %g, T %g, top_p %g, min_p %g, top_k %d): id %d",
			      round, vocab, sp.repetition_penalty, sp.temperature, sp.top_p, sp.min_p, sp.top_k, id);
		}
	}
}

/* The loops the vectorised arg-max replaced: what it must answer on any input. */
static int argmax_loop(const float *x, int n)
{
	int best = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static int argmax_finite_loop(const float *x, int n)
{
	int best = -1;

	for (int i = 0; i < n; i++)
		if (isfinite(x[i]) && (best < 0 || x[i] > x[best]))
			best = i;
	return best < 0 ? 0 : best;    /* the sampler answers 0 when nothing is finite */
}

/* ds_argmax and the greedy pick (the largest finite logit) against those loops, on lengths around
 * the 16-value steps and a whole vocabulary, with ties, signed zeros, NaN (first or elsewhere),
 * the infinities, and the maximum in the tail or the first place. */
static void test_argmax_equal(void)
{
	uint64_t st = 0xa5a5;
	static const int lens[] = { 1, 2, 15, 16, 17, 31, 32, 33, 47, 100, 1000, 102400 };
	float *x = malloc(102400 * sizeof *x), *y = malloc(102400 * sizeof *y);
	struct ds_sampling sp;

	ds_sampling_defaults(&sp);
	for (int round = 0; round < 600; round++) {
		int n = lens[round % 12], kind = round / 12 % 10;
		struct ds_sampler *s = ds_sampler_new(n, &sp);

		for (int j = 0; j < n; j++) {
			uint64_t r = fix_xorshift(&st) % 64;

			/* kind 0: plain; 1: few distinct values (ties); 2..: specials at growing rates */
			x[j] = kind == 1 ? (float)(fix_xorshift(&st) % 4) : fix_rndf(&st) * 10.0f;
			if (kind >= 2 && r < (uint64_t)kind) {
				static const float special[] = { NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 3e38f, -3e38f };

				x[j] = special[fix_xorshift(&st) % 7];
			}
		}
		if (round % 5 == 1)
			x[n - 1] = 50.0f;                      /* the maximum in the tail */
		if (round % 7 == 2)
			x[0] = NAN;
		if (round % 11 == 3)
			for (int j = 0; j < n; j++)
				x[j] = j % 2 ? -0.0f : 0.0f;
		if (round % 13 == 4)
			for (int j = 0; j < n; j++)
				x[j] = j % 3 ? NAN : -INFINITY;
		int want = argmax_loop(x, n), got = ds_argmax(x, n);
		CHECK(got == want, "round %d, %d values (kind %d): ds_argmax %d, the loop %d", round, n, kind, got, want);
		memcpy(y, x, (size_t)n * sizeof *y);
		want = argmax_finite_loop(x, n);
		got = ds_sampler_pick(s, y, NULL, 0);
		CHECK(got == want, "round %d, %d values (kind %d): greedy pick %d, the largest finite is %d", round, n,
		      kind, got, want);
		ds_sampler_free(s);
	}
	free(x);
	free(y);
}

int main(void)
{
	const float probs[5] = { 0.5f, 0.3f, 0.15f, 0.04f, 0.01f };
	struct ds_sampling sp;
	int count[5], n = 200000;

	/* Greedy: the first maximum, like torch.argmax. */
	{
		float x[4] = { 1, 3, 3, 2 };

		CHECK(ds_argmax(x, 4) == 1, "argmax of {1,3,3,2} is %d, want 1", ds_argmax(x, 4));
		ds_sampling_defaults(&sp);
		histogram(&sp, probs, 5, 10, count);
		CHECK(count[0] == 10, "temperature 0 picked id 0 only %d of 10 times", count[0]);
	}

	/* Temperature 1 samples the distribution itself. */
	ds_sampling_defaults(&sp);
	sp.temperature = 1.0f;
	sp.seed = 42;
	histogram(&sp, probs, 5, n, count);
	for (int j = 0; j < 5; j++)
		CHECK(fabs((double)count[j] / n - probs[j]) < 0.01, "id %d drawn %.4f of the time, want %.2f",
		      j, (double)count[j] / n, probs[j]);

	/* top_k 2: only the two best, renormalised 0.5 : 0.3. */
	sp.top_k = 2;
	histogram(&sp, probs, 5, n, count);
	CHECK(count[2] + count[3] + count[4] == 0, "top_k 2 drew ids outside the best two");
	CHECK(fabs((double)count[0] / n - 0.625) < 0.01, "top_k 2: id 0 drawn %.4f, want 0.625", (double)count[0] / n);

	/* top_p 0.7: the nucleus is {0, 1} (0.5 + 0.3 >= 0.7). */
	ds_sampling_defaults(&sp);
	sp.temperature = 1.0f;
	sp.top_p = 0.7f;
	histogram(&sp, probs, 5, n, count);
	CHECK(count[2] + count[3] + count[4] == 0 && count[1] > 0, "top_p 0.7 drew %d, %d, %d of ids 2..4",
	      count[2], count[3], count[4]);

	/* min_p 0.25: keeps ids with p >= 0.125: {0, 1, 2}. */
	ds_sampling_defaults(&sp);
	sp.temperature = 1.0f;
	sp.min_p = 0.25f;
	histogram(&sp, probs, 5, n, count);
	CHECK(count[3] + count[4] == 0 && count[2] > 0, "min_p 0.25 kept ids 3,4 (%d, %d) or lost id 2 (%d)",
	      count[3], count[4], count[2]);

	/* A low temperature sharpens: p^(1/T) renormalised, 0.5^10 / sum(p_i^10) = 0.99396 for id 0. */
	ds_sampling_defaults(&sp);
	sp.temperature = 0.1f;
	histogram(&sp, probs, 5, n, count);
	CHECK(fabs((double)count[0] / n - 0.99396) < 0.002, "temperature 0.1 drew id 0 %.4f of the time, want 0.9940",
	      (double)count[0] / n);

	/* The same seed gives the same draws; another seed differs somewhere. */
	{
		struct ds_sampler *a, *b, *c;
		float la[5], lb[5], lc[5];
		int same = 1, differ = 0;

		ds_sampling_defaults(&sp);
		sp.temperature = 1.0f;
		sp.seed = 7;
		a = ds_sampler_new(5, &sp);
		b = ds_sampler_new(5, &sp);
		sp.seed = 8;
		c = ds_sampler_new(5, &sp);
		for (int i = 0; i < 1000; i++) {
			int ia, ib, ic;

			for (int j = 0; j < 5; j++)
				la[j] = lb[j] = lc[j] = logf(probs[j]);
			ia = ds_sampler_pick(a, la, NULL, 0);
			ib = ds_sampler_pick(b, lb, NULL, 0);
			ic = ds_sampler_pick(c, lc, NULL, 0);
			same &= ia == ib;
			differ |= ia != ic;
		}
		CHECK(same, "two samplers with seed 7 disagreed");
		CHECK(differ, "seeds 7 and 8 gave the same 1000 draws");
		ds_sampler_free(a);
		ds_sampler_free(b);
		ds_sampler_free(c);
	}

	/* Repetition penalty as Hugging Face applies it: positive logits divided, negative multiplied,
	 * once per distinct id. */
	{
		struct ds_sampler *s;
		float x[4] = { 2.0f, -1.0f, 1.9f, 0.5f };
		int hist[3] = { 0, 1, 0 };

		ds_sampling_defaults(&sp);
		sp.repetition_penalty = 2.0f;
		s = ds_sampler_new(4, &sp);
		CHECK(ds_sampler_pick(s, x, hist, 3) == 2, "penalised greedy pick is not id 2");
		CHECK(x[0] == 1.0f && x[1] == -2.0f && x[2] == 1.9f, "penalised logits are %g %g %g, want 1 -2 1.9",
		      x[0], x[1], x[2]);
		ds_sampler_free(s);
	}

	test_total();
	test_argmax_equal();

	if (fix_failures == 0)
		printf("sampler: all checks passed\n");
	return fix_failures ? 1 : 0;
}

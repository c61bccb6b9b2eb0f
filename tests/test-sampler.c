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

	if (fix_failures == 0)
		printf("sampler: all checks passed\n");
	return fix_failures ? 1 : 0;
}

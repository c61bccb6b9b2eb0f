/* f32-compare.c: test helper: two logits files (little-endian float32, positions x vocab) compared as
 * the quantization tests need: mean and largest absolute difference and the share of positions whose
 * argmax agrees; exit 1 when one is outside its bound. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fixture-util.h"

int main(int argc, char **argv)
{
	size_t na, nb, vocab, agree = 0;
	float *a, *b;
	double sum = 0, max = 0, mean, top1;

	if (argc != 7) {
		fprintf(stderr, "usage: f32-compare A B VOCAB MEAN_BOUND MAX_BOUND TOP1_MIN\n");
		return 2;
	}
	a = fix_read_f32(argv[1], &na);
	b = fix_read_f32(argv[2], &nb);
	vocab = (size_t)atol(argv[3]);
	if (a == NULL || b == NULL || vocab == 0) {
		fprintf(stderr, "f32-compare: cannot read %s\n", a == NULL ? argv[1] : argv[2]);
		return 2;
	}
	if (na != nb || na % vocab != 0) {
		printf("%s has %zu values, %s has %zu (vocab %zu)\n", argv[1], na, argv[2], nb, vocab);
		return 1;
	}
	for (size_t p = 0; p < na / vocab; p++) {
		size_t ia = 0, ib = 0;

		for (size_t i = 0; i < vocab; i++) {
			double d = fabs((double)a[p * vocab + i] - b[p * vocab + i]);

			sum += d;
			max = isnan(d) || d > max ? (isnan(d) ? INFINITY : d) : max;
			if (a[p * vocab + i] > a[p * vocab + ia])
				ia = i;
			if (b[p * vocab + i] > b[p * vocab + ib])
				ib = i;
		}
		agree += ia == ib;
	}
	mean = sum / (double)na;
	top1 = (double)agree / (double)(na / vocab);
	printf("mean |diff| %.4g (bound %s), max %.4g (bound %s), top-1 agreement %.0f%% of %zu positions (at least %.0f%%)\n",
	       mean, argv[4], max, argv[5], 100 * top1, na / vocab, 100 * atof(argv[6]));
	free(a);
	free(b);
	return mean <= atof(argv[4]) && max <= atof(argv[5]) && top1 >= atof(argv[6]) ? 0 : 1;
}

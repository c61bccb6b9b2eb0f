/* f32-maxdiff.c: test helper: the largest absolute difference between two little-endian float32 files
 * of the same length; exit 1 if it exceeds the bound given as the third argument. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fixture-util.h"

/* Exits 2 with one line when path cannot be read as float32 values. */
static float *read_or_exit(const char *path, size_t *n)
{
	float *v = fix_read_f32(path, n);
	if (v == NULL) {
		fprintf(stderr, "f32-maxdiff: cannot read %s\n", path);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	size_t na, nb, worst = 0;
	float *a, *b;
	double max = 0, bound;

	if (argc != 4) {
		fprintf(stderr, "usage: f32-maxdiff A B BOUND\n");
		return 2;
	}
	a = read_or_exit(argv[1], &na);
	b = read_or_exit(argv[2], &nb);
	bound = atof(argv[3]);
	if (na != nb) {
		printf("%s has %zu values, %s has %zu\n", argv[1], na, argv[2], nb);
		return 1;
	}
	for (size_t i = 0; i < na; i++) {
		double d = fabs((double)a[i] - (double)b[i]);

		if (!(d <= max)) {          /* also catches NaN */
			max = isnan(d) ? INFINITY : d;
			worst = i;
		}
	}
	printf("max abs diff %.3g at value %zu (%g vs %g), bound %g\n", max, worst, a[worst], b[worst], bound);
	free(a);
	free(b);
	return max <= bound ? 0 : 1;
}

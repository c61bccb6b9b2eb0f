/* f32-maxdiff.c: test helper: the largest absolute difference between two little-endian float32 files
 * of the same length; exit 1 if it exceeds the bound given as the third argument. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *read_f32(const char *path, long *n)
{
	FILE *f = fopen(path, "rb");
	float *v;
	long size;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "f32-maxdiff: cannot read %s\n", path);
		exit(2);
	}
	*n = size / 4;
	v = malloc((size_t)size + 4);
	if (v == NULL || fread(v, 4, (size_t)*n, f) != (size_t)*n) {
		fprintf(stderr, "f32-maxdiff: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	long na, nb, worst = 0;
	float *a, *b;
	double max = 0, bound;

	if (argc != 4) {
		fprintf(stderr, "usage: f32-maxdiff A B BOUND\n");
		return 2;
	}
	a = read_f32(argv[1], &na);
	b = read_f32(argv[2], &nb);
	bound = atof(argv[3]);
	if (na != nb) {
		printf("%s has %ld values, %s has %ld\n", argv[1], na, argv[2], nb);
		return 1;
	}
	for (long i = 0; i < na; i++) {
		double d = fabs((double)a[i] - (double)b[i]);

		if (!(d <= max)) {          /* also catches NaN */
			max = isnan(d) ? INFINITY : d;
			worst = i;
		}
	}
	printf("max abs diff %.3g at value %ld (%g vs %g), bound %g\n", max, worst, a[worst], b[worst], bound);
	free(a);
	free(b);
	return max <= bound ? 0 : 1;
}

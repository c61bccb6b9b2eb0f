/* quant-error.c: test helper: is every value of DEQ (a tensor --dequantize wrote) within half of its
 * block's quantization step of SRC (the same tensor before quantizing)? The step is the coarsest the
 * format needs for the block's source values when the scales are chosen to cover them (kernels/
 * quantize.c), so a quantizer that clips or picks coarse scales fails. TYPE: q8_0, q5_0, q5_1, q4_K,
 * q5_K, q6_K.
 * Exit 1 with the worst value when one is outside. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture-util.h"

/* The step the block of n values at x needs around element i: Q8_0 blocks of 32, Q4_K super-blocks of
 * 256 with sub-blocks of 32 (6-bit scale and min), Q6_K of 256 with sub-blocks of 16 (8-bit scale). */
static double needed_step(const char *type, const float *x, size_t i)
{
	if (strcmp(type, "q8_0") == 0) {
		const float *b = x + i / 32 * 32;
		double amax = 0;

		for (int j = 0; j < 32; j++)
			amax = fmax(amax, fabs(b[j]));
		return amax / 127 * (1 + 0x1p-10) + 0x1p-24;
	}
	if (strcmp(type, "q5_0") == 0) {
		const float *b = x + i / 32 * 32;
		double hi = 0, lo = 0;

		for (int j = 0; j < 32; j++) {
			hi = fmax(hi, b[j]);
			lo = fmin(lo, b[j]);
		}
		return fmax(hi / 15, -lo / 16) * (1 + 0x1p-10) + 0x1p-24;
	}
	if (strcmp(type, "q5_1") == 0) {
		/* the min an f16 at or below the block's minimum (one f16 step under it at most), then 31
		 * steps to its maximum */
		const float *b = x + i / 32 * 32;
		double hi = b[0], lo = b[0];

		for (int j = 1; j < 32; j++) {
			hi = fmax(hi, b[j]);
			lo = fmin(lo, b[j]);
		}
		return (hi - lo + fabs(lo) * 0x1p-10 + 0x1p-24) / 31 * (1 + 0x1p-10) + 0x1p-24;
	}
	const float *b = x + i / 256 * 256;
	if (strcmp(type, "q4_K") == 0 || strcmp(type, "q5_K") == 0) {
		const double qmax = strcmp(type, "q5_K") == 0 ? 31 : 15;
		double lo[8], hi[8], max_neg = 0, max_range = 0, dmin, d;
		int j = (int)(i % 256) / 32;

		for (int k = 0; k < 8; k++) {
			lo[k] = 0;
			hi[k] = -INFINITY;
			for (int l = 0; l < 32; l++) {
				lo[k] = fmin(lo[k], b[32 * k + l]);
				hi[k] = fmax(hi[k], b[32 * k + l]);
			}
			max_neg = fmax(max_neg, -lo[k]);
		}
		dmin = max_neg / 63 * (1 + 0x1p-10) + 0x1p-24;
		for (int k = 0; k < 8; k++)
			max_range = fmax(max_range, hi[k] - lo[k] + dmin);
		d = max_range / (qmax * 63) * (1 + 0x1p-10) + 0x1p-24;
		return (hi[j] - lo[j] + dmin) / qmax * (1 + 0x1p-20) + d;
	}
	double want = 0, max_want = 0;
	int j = (int)(i % 256) / 16;

	for (int k = 0; k < 16; k++) {
		double pos = 0, neg = 0;

		for (int l = 0; l < 16; l++) {
			pos = fmax(pos, b[16 * k + l]);
			neg = fmax(neg, -b[16 * k + l]);
		}
		double w = fmax(pos / 31.5, neg / 32.5);
		max_want = fmax(max_want, w);
		if (k == j)
			want = w;
	}
	return want * (1 + 0x1p-20) + max_want / 127 * (1 + 0x1p-10) + 0x1p-24;
}

int main(int argc, char **argv)
{
	size_t n, nd, worst = 0, block;
	float *x, *y;
	double worst_ratio = 0, se = 0, sx = 0;

	if (argc != 4 || (strcmp(argv[1], "q8_0") != 0 && strcmp(argv[1], "q5_0") != 0 &&
			  strcmp(argv[1], "q5_1") != 0 && strcmp(argv[1], "q4_K") != 0 &&
			  strcmp(argv[1], "q5_K") != 0 && strcmp(argv[1], "q6_K") != 0)) {
		fprintf(stderr, "usage: quant-error q8_0|q5_0|q5_1|q4_K|q5_K|q6_K SRC.f32 DEQ.f32\n");
		return 2;
	}
	x = fix_read_f32(argv[2], &n);
	y = fix_read_f32(argv[3], &nd);
	block = argv[1][1] == '8' || strcmp(argv[1], "q5_0") == 0 || strcmp(argv[1], "q5_1") == 0 ? 32 : 256;
	if (x == NULL || y == NULL || n != nd || n % block != 0) {
		fprintf(stderr, "quant-error: %s and %s are not two tensors of the same length in whole blocks\n", argv[2], argv[3]);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		double err = fabs((double)x[i] - y[i]), half = needed_step(argv[1], x, i) / 2 * (1 + 1e-5);

		se += err * err;
		sx += (double)x[i] * x[i];
		if (!(err / half <= worst_ratio)) {
			worst_ratio = isnan(err) ? INFINITY : err / half;
			worst = i;
		}
	}
	printf("%s: %zu values, RMS error %.4f of the RMS value; worst value %zu (%g decoded %g) at %.3f of half its block's step\n",
	       argv[1], n, sqrt(se / (sx > 0 ? sx : 1)), worst, x[worst], y[worst], worst_ratio);
	free(x);
	free(y);
	return worst_ratio <= 1 ? 0 : 1;
}

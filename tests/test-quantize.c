/* test-quantize.c: the quantizers of kernels/quantize.c against the decoders of kernels/dtype.c:
 * random and adversarial rows (all equal, all zero, one huge outlier, negative or positive only,
 * tiny, large) quantized, decoded with to_float, every value within half of its block's step of
 * the source, and each block's step no coarser than the format needs for the values it holds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX_CHECK_AT
#include "fixture-util.h"
#include "dtype.h"
#include "quantize.h"

#define N 1024		/* elements per row: four K-quant blocks */
#define SLACK 1e-5	/* relative: float rounding in x / step and in the decoder's products */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double gauss(void)
{
	double u = (fix_xorshift(&rng) >> 11) * 0x1.0p-53, v = (fix_xorshift(&rng) >> 11) * 0x1.0p-53;

	return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static float rd16f(const uint8_t *p)
{
	return ds_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

/* The step of the block or sub-block that element i of the quantized row q decodes with, and the
 * coarsest step the format needs there (from the source x), or -1 for the float types. */
static double step_of(enum ds_dtype t, const uint8_t *q, const float *x, int64_t i, double *needed)
{
	const int64_t bsz = t == DS_Q8_0 || t == DS_Q5_0 || t == DS_Q5_1 ? 32 : 256, blk = i / bsz;
	const float *xb = x + blk * bsz;
	const uint8_t *b;

	if (t == DS_Q8_0) {
		double amax = 0;

		b = q + blk * 34;
		for (int j = 0; j < 32; j++)
			amax = fmax(amax, fabs(xb[j]));
		*needed = amax / 127 * (1 + 0x1p-10) + 0x1p-24;
		return rd16f(b);
	}
	if (t == DS_Q5_0) {
		double hi = 0, lo = 0;

		for (int j = 0; j < 32; j++) {
			hi = fmax(hi, xb[j]);
			lo = fmin(lo, xb[j]);
		}
		*needed = fmax(hi / 15, -lo / 16) * (1 + 0x1p-10) + 0x1p-24;
		return rd16f(q + blk * 22);
	}
	if (t == DS_Q5_1) {
		double hi = xb[0], lo = xb[0], m;

		for (int j = 1; j < 32; j++) {
			hi = fmax(hi, xb[j]);
			lo = fmin(lo, xb[j]);
		}
		b = q + blk * 24;
		m = rd16f(b + 2);
		/* the min at or below the block's minimum, at most one f16 step under it */
		CHECK(m <= lo && m >= lo - fabs(lo) * 0x1p-10 - 0x1p-24, "q5_1 min %g for a minimum of %g", m, lo);
		*needed = (hi - lo + fabs(lo) * 0x1p-10 + 0x1p-24) / 31 * (1 + 0x1p-10) + 0x1p-24;
		return rd16f(b);
	}
	if (t == DS_Q4_K || t == DS_Q5_K) {
		const int j = (int)(i % 256) / 32, qmax = t == DS_Q5_K ? 31 : 15;
		const uint8_t *s;
		double lo[8], hi[8], max_neg = 0, max_range = 0, d, dmin;
		uint8_t sc;

		b = q + blk * (t == DS_Q5_K ? 176 : 144);
		s = b + 4;
		d = rd16f(b);
		dmin = rd16f(b + 2);
		sc = j < 4 ? s[j] & 63 : (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
		for (int k = 0; k < 8; k++) {
			lo[k] = 0;
			hi[k] = -INFINITY;
			for (int l = 0; l < 32; l++) {
				lo[k] = fmin(lo[k], xb[32 * k + l]);
				hi[k] = fmax(hi[k], xb[32 * k + l]);
			}
			max_neg = fmax(max_neg, -lo[k]);
		}
		/* dmin at most one f16 rounding above max_neg / 63; then each range grows by at most dmin */
		CHECK(dmin <= max_neg / 63 * (1 + 0x1p-10) + 0x1p-24, "q4_K dmin %g for a minimum of %g", dmin, -max_neg);
		for (int k = 0; k < 8; k++)
			max_range = fmax(max_range, hi[k] - lo[k] + dmin);
		CHECK(d <= max_range / (qmax * 63) * (1 + 0x1p-10) + 0x1p-24, "%s d %g for a range of %g",
		      ds_dtype_get(t)->name, d, max_range);
		*needed = (hi[j] - lo[j] + dmin) / qmax * (1 + 0x1p-20) + d;
		return d * sc;
	}
	if (t == DS_Q6_K) {
		const int j = (int)(i % 256) / 16;
		double max_want = 0, want = 0, d;

		b = q + blk * 210;
		d = rd16f(b + 208);
		for (int k = 0; k < 16; k++) {
			double pos = 0, neg = 0;

			for (int l = 0; l < 16; l++) {
				pos = fmax(pos, xb[16 * k + l]);
				neg = fmax(neg, -xb[16 * k + l]);
			}
			double w = fmax(pos / 31.5, neg / 32.5);
			max_want = fmax(max_want, w);
			if (k == j)
				want = w;
		}
		CHECK(d <= max_want / 127 * (1 + 0x1p-10) + 0x1p-24, "q6_K d %g for a step of %g", d, max_want);
		*needed = want * (1 + 0x1p-20) + d;
		return d * ((const int8_t *)(b + 192))[j];
	}
	return -1;
}

/* Quantizes x as t, decodes it, checks every value; returns the RMS error over the RMS of x. */
static double check_row(enum ds_dtype t, const float *x, const char *what)
{
	const struct ds_dtype_info *info = ds_dtype_get(t);
	uint8_t *q = malloc(ds_row_bytes(t, N));
	float y[N];
	double se = 0, sx = 0;
	int bad = 0;

	ds_quantize_row(t, x, q, N);
	info->to_float(q, y, N);
	for (int64_t i = 0; i < N; i++) {
		double err = fabs((double)x[i] - y[i]), bound, needed = 0, step;

		se += err * err;
		sx += (double)x[i] * x[i];
		step = step_of(t, q, x, i, &needed);
		if (step >= 0) {
			CHECK(step <= needed, "%s %s: value %lld's block step %g is coarser than the %g it needs",
			      info->name, what, (long long)i, step, needed);
			bound = step / 2 * (1 + SLACK) + 1e-30;
		} else if (t == DS_F16) {
			bound = fabs(x[i]) * 0x1p-11 + 0x1p-25;
		} else if (t == DS_BF16) {
			bound = fabs(x[i]) * 0x1p-8;
		} else {
			bound = 0;
		}
		if (!(err <= bound) && bad++ < 3)
			CHECK(0, "%s %s: value %lld is %.9g, decoded %.9g: off by %g, more than %g", info->name, what,
			      (long long)i, x[i], y[i], err, bound);
	}
	free(q);
	return sx > 0 ? sqrt(se / sx) : sqrt(se);
}

/* The 32-weight types with a fifth bit or a min, decoded from blocks written by hand from the format's
 * definition: d = 0.5 (f16 0x3800), m = -1.25 (0xbd00), nibbles j and 15 - j, fifth bits 0, 5 and 31. */
static void test_known_blocks(void)
{
	uint8_t b[24];
	float y[32];
	const uint32_t qh = 1u << 0 | 1u << 5 | 1u << 31;

	for (int k = 0; k < 3; k++) {
		const enum ds_dtype t = k == 0 ? DS_Q4_1 : k == 1 ? DS_Q5_0 : DS_Q5_1;
		const int has_m = t != DS_Q5_0, q5 = t != DS_Q4_1;
		int o = 0;

		b[o++] = 0x00, b[o++] = 0x38;
		if (has_m)
			b[o++] = 0x00, b[o++] = 0xbd;
		if (q5)
			for (int j = 0; j < 4; j++)
				b[o++] = (uint8_t)(qh >> (8 * j));
		for (int j = 0; j < 16; j++)
			b[o++] = (uint8_t)(j | (15 - j) << 4);
		CHECK((size_t)o == ds_dtype_get(t)->block_bytes, "%s: the hand-made block has %d bytes", ds_dtype_get(t)->name, o);
		ds_dtype_get(t)->to_float(b, y, 32);
		for (int i = 0; i < 32; i++) {
			int code = i < 16 ? i : 15 - (i - 16);
			if (q5 && (qh >> i & 1))
				code += 16;
			double want = t == DS_Q5_0 ? (code - 16) * 0.5 : code * 0.5 - 1.25;
			CHECK(y[i] == (float)want, "%s: weight %d decodes to %g, the format says %g", ds_dtype_get(t)->name,
			      i, y[i], want);
		}
	}
}

int main(void)
{
	static const enum ds_dtype types[] = { DS_F32, DS_F16, DS_BF16, DS_Q8_0, DS_Q5_0, DS_Q5_1, DS_Q4_K, DS_Q5_K,
					       DS_Q6_K };

	test_known_blocks();
	static float x[N];

	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		enum ds_dtype t = types[ti];
		double rms = 0;

		/* random: normal weights at several scales, and rows whose blocks have scales far apart */
		for (int r = 0; r < 50; r++) {
			double scale = pow(10, r % 7 - 4);

			for (int i = 0; i < N; i++)
				x[i] = (float)(gauss() * scale * (r >= 40 ? pow(10, (i / 32) % 5 - 2) : 1));
			double e = check_row(t, x, "random row");
			if (r < 40)
				rms = fmax(rms, e);
		}
		printf("%-5s random normal rows: RMS error at most %.4f of the RMS value\n", ds_dtype_get(t)->name, rms);

		for (int i = 0; i < N; i++)
			x[i] = 0.0123f;
		check_row(t, x, "all equal");
		for (int i = 0; i < N; i++)
			x[i] = -3.5f;
		check_row(t, x, "all equal, negative");
		memset(x, 0, sizeof x);
		check_row(t, x, "all zero");
		for (int i = 0; i < N; i++)
			x[i] = (float)(gauss() * 0.02);
		x[300] = 1000.0f;
		check_row(t, x, "one huge outlier");
		x[300] = -1000.0f;
		check_row(t, x, "one huge negative outlier");
		for (int i = 0; i < N; i++)
			x[i] = (float)-fabs(gauss() * 0.05);
		check_row(t, x, "negative only");
		for (int i = 0; i < N; i++)
			x[i] = (float)fabs(gauss() * 0.05) + 0.01f;
		check_row(t, x, "positive only");
		for (int i = 0; i < N; i++)
			x[i] = (float)(gauss() * 1e-7);
		check_row(t, x, "tiny (f16 subnormal scales)");
		for (int i = 0; i < N; i++)
			x[i] = (float)(gauss() * 50);
		check_row(t, x, "large");
		for (int i = 0; i < N; i++)
			x[i] = i % 32 == 0 ? 1.0f : 0.0f;
		check_row(t, x, "one value per block");
	}
	for (int i = 0; i < 100000; i++) {
		float f = (float)(gauss() * pow(10, i % 20 - 10));

		if (ds_f32_to_bf16(f) != fix_bf16(f)) {
			CHECK(0, "bf16 of %.9g is 0x%04x, not 0x%04x", f, ds_f32_to_bf16(f), fix_bf16(f));
			break;
		}
	}
	return fix_failures ? 1 : 0;
}

/* quantize.c: float rows to F32, F16, BF16, Q8_0, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K, written from the block layouts
 * that dtype.c decodes. The scales are chosen so that every value is representable (the grid of
 * each block covers its values), rounding the f16 super-scales up and the 6- or 8-bit sub-block
 * scales up too; each value is then rounded to the nearest point of the grid its block decodes to,
 * so the decoded value is within half a step of the source. This is plainer than llama.cpp's
 * search for the scales that minimise the squared error (it may clip a value to lower the error
 * of the rest), and its error is a little larger; the file it writes decodes the same way. */
#include "quantize.h"

#include <math.h>
#include <stdlib.h>

#define QK_K 256

bool ds_quantize_supported(enum ds_dtype t)
{
	return t == DS_F32 || t == DS_F16 || t == DS_BF16 || t == DS_Q8_0 || t == DS_Q5_0 || t == DS_Q5_1 ||
	       t == DS_Q4_K || t == DS_Q5_K || t == DS_Q6_K;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* The smallest finite f16 not below v (v >= 0), or the largest finite one. */
static uint16_t f16_up(float v)
{
	uint16_t h = ds_f32_to_f16(v);

	if (h > 0x7bff)
		return 0x7bff;
	if (ds_f16_to_f32(h) < v && h < 0x7bff)
		h++;
	return h;
}

static int clampi(float v, int lo, int hi)
{
	int i = (int)nearbyintf(v);

	return i < lo ? lo : i > hi ? hi : i;
}

/* A scale code that makes code * unit at least want (so the grid covers the values), at most max. */
static int code_up(float want, float unit, int max)
{
	float c;

	if (!(unit > 0) || !(want > 0))
		return 0;
	c = ceilf(want / unit);
	return c > (float)max ? max : (int)c;
}

/* block_q8_0: d = amax / 127 (rounded up to an f16), q = round(x / d) */
static void quantize_q8_0(const float *x, uint8_t *b, int64_t n)
{
	for (int64_t i = 0; i < n; i += 32, x += 32, b += 34) {
		float amax = 0;

		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const uint16_t h = f16_up(amax / 127.0f);
		const float d = ds_f16_to_f32(h);

		wr16(b, h);
		for (int j = 0; j < 32; j++)
			b[2 + j] = (uint8_t)(int8_t)(d > 0 ? clampi(x[j] / d, -127, 127) : 0);
	}
}

/* block_q5_0: x = (q - 16) * d with q in 0..31: d is the least f16 with 15 d >= the largest value
 * and -16 d <= the smallest, q = round(x / d) + 16; the fifth bits go to qh (bit j: weight j) */
static void quantize_q5_0(const float *x, uint8_t *b, int64_t n)
{
	for (int64_t i = 0; i < n; i += 32, x += 32, b += 22) {
		float hi = 0, lo = 0;

		for (int j = 0; j < 32; j++) {
			hi = fmaxf(hi, x[j]);
			lo = fminf(lo, x[j]);
		}
		const uint16_t h = f16_up(fmaxf(hi / 15.0f, -lo / 16.0f));
		const float d = ds_f16_to_f32(h);
		uint32_t qh = 0;
		int q[32];

		for (int j = 0; j < 32; j++) {
			q[j] = d > 0 ? clampi(x[j] / d, -16, 15) + 16 : 16;
			qh |= (uint32_t)(q[j] >> 4) << j;
		}
		wr16(b, h);
		for (int j = 0; j < 4; j++)
			b[2 + j] = (uint8_t)(qh >> (8 * j));
		for (int j = 0; j < 16; j++)
			b[6 + j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
	}
}

/* block_q5_1: x = q * d + m with q in 0..31: m is the greatest f16 not above the block's minimum,
 * d the least f16 with 31 d + m at or above its maximum; the fifth bits go to qh as in q5_0 */
static void quantize_q5_1(const float *x, uint8_t *b, int64_t n)
{
	for (int64_t i = 0; i < n; i += 32, x += 32, b += 24) {
		float hi = x[0], lo = x[0];

		for (int j = 1; j < 32; j++) {
			hi = fmaxf(hi, x[j]);
			lo = fminf(lo, x[j]);
		}
		/* the f16 at or below lo: rounded up as -lo's negation */
		const uint16_t hm = lo < 0 ? (uint16_t)(f16_up(-lo) | 0x8000) : ds_f32_to_f16(lo);
		uint16_t hmin = hm;
		if (ds_f16_to_f32(hmin) > lo)
			hmin = hmin == 0 ? 0x8001 : hmin & 0x8000 ? (uint16_t)(hmin + 1) : (uint16_t)(hmin - 1);
		const float m = ds_f16_to_f32(hmin);
		const uint16_t h = f16_up((hi - m) / 31.0f);
		const float d = ds_f16_to_f32(h);
		uint32_t qh = 0;
		int q[32];

		for (int j = 0; j < 32; j++) {
			q[j] = d > 0 ? clampi((x[j] - m) / d, 0, 31) : 0;
			qh |= (uint32_t)(q[j] >> 4) << j;
		}
		wr16(b, h);
		wr16(b + 2, hmin);
		for (int j = 0; j < 4; j++)
			b[4 + j] = (uint8_t)(qh >> (8 * j));
		for (int j = 0; j < 16; j++)
			b[8 + j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
	}
}

/* block_q4_K (q5 false) and block_q5_K: x = d * sc * q - dmin * m with q in 0..15 (0..31) and sc, m
 * 6-bit codes per sub-block of 32. m takes the sub-block's minimum (or 0, when all are positive) so
 * that the grid starts at or below it; sc then makes 15 (31) steps reach the maximum. */
static void quantize_k45(const float *x, uint8_t *b, int64_t n, bool q5)
{
	const int qmax = q5 ? 31 : 15;
	const size_t bb = q5 ? 176 : 144;

	for (int64_t i = 0; i < n; i += QK_K, x += QK_K, b += bb) {
		float lo[8], hi[8], m1[8], range[8], max_neg = 0, max_range = 0;
		uint8_t sc[8], mc[8], *scales = b + 4, *qh = b + 16, *qs = b + (q5 ? 48 : 16);

		for (int j = 0; j < 8; j++) {
			lo[j] = 0;
			hi[j] = -INFINITY;
			for (int l = 0; l < 32; l++) {
				lo[j] = fminf(lo[j], x[32 * j + l]);
				hi[j] = fmaxf(hi[j], x[32 * j + l]);
			}
			max_neg = fmaxf(max_neg, -lo[j]);
		}
		const uint16_t hmin = f16_up(max_neg / 63.0f);
		const float dmin = ds_f16_to_f32(hmin);

		for (int j = 0; j < 8; j++) {
			mc[j] = (uint8_t)code_up(-lo[j], dmin, 63);
			m1[j] = dmin * mc[j];
			range[j] = fmaxf(hi[j] + m1[j], 0);
			max_range = fmaxf(max_range, range[j]);
		}
		const uint16_t hd = f16_up(max_range / ((float)qmax * 63.0f));
		const float d = ds_f16_to_f32(hd);

		for (int j = 0; j < 8; j++)
			sc[j] = (uint8_t)code_up(range[j] / (float)qmax, d, 63);
		wr16(b, hd);
		wr16(b + 2, hmin);
		/* The packing k_scale_min (dtype.c) reads. */
		memset(scales, 0, 12);
		for (int j = 0; j < 8; j++) {
			if (j < 4) {
				scales[j] = sc[j];
				scales[j + 4] = mc[j];
			} else {
				scales[j + 4] = (uint8_t)((sc[j] & 0x0f) | (mc[j] & 0x0f) << 4);
				scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
				scales[j] |= (uint8_t)((mc[j] >> 4) << 6);
			}
		}
		/* Weights 64k .. 64k+31 are the low nibbles of qs[32k ..], the next 32 the high ones;
		 * q5_K: the fifth bit of weight 32j + l is bit j of qh[l]. */
		memset(qs, 0, 128);
		if (q5)
			memset(qh, 0, 32);
		for (int j = 0; j < 8; j++) {
			const float step = d * sc[j];

			for (int l = 0; l < 32; l++) {
				const int q = step > 0 ? clampi((x[32 * j + l] + m1[j]) / step, 0, qmax) : 0;
				uint8_t *p = &qs[32 * (j / 2) + l];

				*p = (uint8_t)(*p | (j % 2 == 0 ? q & 15 : (q & 15) << 4));
				if (q5)
					qh[l] = (uint8_t)(qh[l] | (q >> 4) << j);
			}
		}
	}
}

/* block_q6_K: x = d * sc * q with q in -32..31 and an int8 sc per sub-block of 16 (used positive). */
static void quantize_q6_k(const float *x, uint8_t *b, int64_t n)
{
	for (int64_t i = 0; i < n; i += QK_K, x += QK_K, b += 210) {
		float want[16], max_want = 0;
		uint8_t L[QK_K], *ql = b, *qh = b + 128;
		int8_t *sc = (int8_t *)(b + 192);

		/* A step s maps the sub-block into [-32.5, 31.5] s, which q = round(x / s) keeps in range. */
		for (int j = 0; j < 16; j++) {
			float pos = 0, neg = 0;

			for (int l = 0; l < 16; l++) {
				pos = fmaxf(pos, x[16 * j + l]);
				neg = fmaxf(neg, -x[16 * j + l]);
			}
			want[j] = fmaxf(pos / 31.5f, neg / 32.5f);
			max_want = fmaxf(max_want, want[j]);
		}
		const uint16_t hd = f16_up(max_want / 127.0f);
		const float d = ds_f16_to_f32(hd);

		for (int j = 0; j < 16; j++) {
			sc[j] = (int8_t)code_up(want[j], d, 127);
			const float step = d * sc[j];

			for (int l = 0; l < 16; l++)
				L[16 * j + l] = (uint8_t)(step > 0 ? clampi(x[16 * j + l] / step, -32, 31) + 32 : 32);
		}
		/* The bit layout q6_k_to_float (dtype.c) reads: per half of 128, four groups of 32. */
		for (int h = 0; h < 2; h++) {
			const uint8_t *q = L + 128 * h;

			for (int l = 0; l < 32; l++) {
				ql[64 * h + l] = (uint8_t)((q[l] & 0x0f) | (q[l + 64] & 0x0f) << 4);
				ql[64 * h + l + 32] = (uint8_t)((q[l + 32] & 0x0f) | (q[l + 96] & 0x0f) << 4);
				qh[32 * h + l] = (uint8_t)(q[l] >> 4 | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 |
							   (q[l + 96] >> 4) << 6);
			}
		}
		wr16(b + 208, hd);
	}
}

void ds_quantize_row(enum ds_dtype t, const float *src, void *dst, int64_t n)
{
	uint8_t *p = dst;

	switch (t) {
	case DS_F32:
		memcpy(dst, src, (size_t)n * sizeof(float));
		return;
	case DS_F16:
		for (int64_t i = 0; i < n; i++)
			wr16(p + 2 * i, ds_f32_to_f16(src[i]));
		return;
	case DS_BF16:
		for (int64_t i = 0; i < n; i++)
			wr16(p + 2 * i, ds_f32_to_bf16(src[i]));
		return;
	case DS_Q8_0:
		quantize_q8_0(src, p, n);
		return;
	case DS_Q5_0:
		quantize_q5_0(src, p, n);
		return;
	case DS_Q5_1:
		quantize_q5_1(src, p, n);
		return;
	case DS_Q4_K:
		quantize_k45(src, p, n, false);
		return;
	case DS_Q5_K:
		quantize_k45(src, p, n, true);
		return;
	case DS_Q6_K:
		quantize_q6_k(src, p, n);
		return;
	default:
		abort();	/* the caller checks ds_quantize_supported */
	}
}

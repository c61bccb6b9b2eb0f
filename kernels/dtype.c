/* dtype.c: the element type table and each type's conversion to float, written from the GGUF block
 * formats' definitions (ggml's block_q8_0, block_q4_0, block_q4_1, block_q5_0, block_q5_1, block_q4_K,
 * block_q5_K, block_q6_K). The
 * arithmetic is done in the order and precision the definitions give, so that results are equal bit
 * for bit to the reference dequantizer; this file is compiled with -ffp-contract=off for that (a
 * fused multiply-add rounds once where the definition rounds twice). */
#include "dtype.h"

#define QK_K 256

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void f32_to_float(const void *src, float *dst, int64_t n)
{
	memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f16_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *p = src;

	for (int64_t i = 0; i < n; i++)
		dst[i] = ds_f16_to_f32(rd16(p + 2 * i));
}

static void bf16_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *p = src;

	for (int64_t i = 0; i < n; i++)
		dst[i] = ds_bf16_to_f32(rd16(p + 2 * i));
}

/* block_q8_0: f16 d, int8 qs[32]; x = qs * d */
static void q8_0_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += 32, b += 34) {
		const float d = ds_f16_to_f32(rd16(b));
		const int8_t *qs = (const int8_t *)(b + 2);

		for (int j = 0; j < 32; j++)
			dst[i + j] = qs[j] * d;
	}
}

/* block_q4_0: f16 d, uint8 qs[16]; low nibbles are weights 0..15, high nibbles 16..31, offset 8 */
static void q4_0_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += 32, b += 18) {
		const float d = ds_f16_to_f32(rd16(b));
		const uint8_t *qs = b + 2;

		for (int j = 0; j < 16; j++) {
			const int x0 = (qs[j] & 0x0f) - 8, x1 = (qs[j] >> 4) - 8;

			dst[i + j] = x0 * d;
			dst[i + j + 16] = x1 * d;
		}
	}
}

/* block_q4_1: f16 d, f16 m, uint8 qs[16]; x = q * d + m, nibbles as in q4_0 */
static void q4_1_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += 32, b += 20) {
		const float d = ds_f16_to_f32(rd16(b)), m = ds_f16_to_f32(rd16(b + 2));
		const uint8_t *qs = b + 4;

		for (int j = 0; j < 16; j++) {
			dst[i + j] = (qs[j] & 0x0f) * d + m;
			dst[i + j + 16] = (qs[j] >> 4) * d + m;
		}
	}
}

/* The fifth bits of q5_0 and q5_1: bit j of the little-endian 32-bit qh belongs to weight j. */
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* block_q5_0: f16 d, uint8 qh[4], uint8 qs[16]; x = (q - 16) * d with q the nibble plus 16 * its
 * fifth bit */
static void q5_0_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += 32, b += 22) {
		const float d = ds_f16_to_f32(rd16(b));
		const uint32_t qh = rd32(b + 2);
		const uint8_t *qs = b + 6;

		for (int j = 0; j < 16; j++) {
			const int x0 = (int)((qs[j] & 0x0f) | ((qh >> j) & 1) << 4) - 16;
			const int x1 = (int)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16;

			dst[i + j] = x0 * d;
			dst[i + j + 16] = x1 * d;
		}
	}
}

/* block_q5_1: f16 d, f16 m, uint8 qh[4], uint8 qs[16]; x = q * d + m */
static void q5_1_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += 32, b += 24) {
		const float d = ds_f16_to_f32(rd16(b)), m = ds_f16_to_f32(rd16(b + 2));
		const uint32_t qh = rd32(b + 4);
		const uint8_t *qs = b + 8;

		for (int j = 0; j < 16; j++) {
			const int x0 = (int)((qs[j] & 0x0f) | ((qh >> j) & 1) << 4);
			const int x1 = (int)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);

			dst[i + j] = x0 * d + m;
			dst[i + j + 16] = x1 * d + m;
		}
	}
}

/* The 6-bit scale and min of sub-block j (of 8) of a K-quant block's 12 scale bytes: the first four
 * pairs sit in the low 6 bits of bytes 0-7, the last four in the nibbles of bytes 8-11 with their
 * top two bits in the high bits of bytes 0-7. */
static void k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* block_q4_K (144 bytes): f16 d, f16 dmin, scales[12], qs[128]; each 64 weights take the low then
 * the high nibbles of 32 bytes; x = d * sc * q - dmin * m */
static void q4_k_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += QK_K, b += 144) {
		const float d = ds_f16_to_f32(rd16(b)), min = ds_f16_to_f32(rd16(b + 2));
		const uint8_t *scales = b + 4, *q = b + 16;
		float *y = dst + i;

		for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
			uint8_t sc, m;

			k_scale_min(is, scales, &sc, &m);
			const float d1 = d * sc, m1 = min * m;
			k_scale_min(is + 1, scales, &sc, &m);
			const float d2 = d * sc, m2 = min * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (q[l] & 0x0f) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (q[l] >> 4) - m2;
		}
	}
}

/* block_q5_K (176 bytes): f16 d, f16 dmin, scales[12], qh[32], qs[128]; as Q4_K, the fifth bit of
 * weight l of the k-th group of 32 is bit k of qh[l] */
static void q5_k_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += QK_K, b += 176) {
		const float d = ds_f16_to_f32(rd16(b)), min = ds_f16_to_f32(rd16(b + 2));
		const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
		uint8_t u1 = 1, u2 = 2;
		float *y = dst + i;

		for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32) {
			uint8_t sc, m;

			k_scale_min(is, scales, &sc, &m);
			const float d1 = d * sc, m1 = min * m;
			k_scale_min(is + 1, scales, &sc, &m);
			const float d2 = d * sc, m2 = min * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * ((ql[l] & 0x0f) + (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
			u1 = (uint8_t)(u1 << 2);
			u2 = (uint8_t)(u2 << 2);
		}
	}
}

/* block_q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], f16 d;
 * each half of 128 weights is four groups of 32, x = d * scale * (q - 32) */
static void q6_k_to_float(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += QK_K, b += 210) {
		const uint8_t *ql = b, *qh = b + 128;
		const int8_t *sc = (const int8_t *)(b + 192);
		const float d = ds_f16_to_f32(rd16(b + 208));
		float *y = dst + i;

		for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
			for (int l = 0; l < 32; l++) {
				const int is = l / 16;
				const int8_t q1 = (int8_t)((ql[l] & 0x0f) | ((qh[l] >> 0 & 3) << 4)) - 32;
				const int8_t q2 = (int8_t)((ql[l + 32] & 0x0f) | ((qh[l] >> 2 & 3) << 4)) - 32;
				const int8_t q3 = (int8_t)((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32;
				const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32;

				y[l] = d * sc[is] * q1;
				y[l + 32] = d * sc[is + 2] * q2;
				y[l + 64] = d * sc[is + 4] * q3;
				y[l + 96] = d * sc[is + 6] * q4;
			}
		}
	}
}

static const struct ds_dtype_info dtypes[DS_N_DTYPES] = {
	[DS_F32] = { "f32", 1, 4, 0, f32_to_float },
	[DS_F16] = { "f16", 1, 2, 1, f16_to_float },
	[DS_BF16] = { "bf16", 1, 2, 30, bf16_to_float },
	[DS_Q8_0] = { "q8_0", 32, 34, 8, q8_0_to_float },
	[DS_Q4_0] = { "q4_0", 32, 18, 2, q4_0_to_float },
	[DS_Q4_K] = { "q4_K", QK_K, 144, 12, q4_k_to_float },
	[DS_Q5_K] = { "q5_K", QK_K, 176, 13, q5_k_to_float },
	[DS_Q6_K] = { "q6_K", QK_K, 210, 14, q6_k_to_float },
	[DS_Q4_1] = { "q4_1", 32, 20, 3, q4_1_to_float },
	[DS_Q5_0] = { "q5_0", 32, 22, 6, q5_0_to_float },
	[DS_Q5_1] = { "q5_1", 32, 24, 7, q5_1_to_float },
};

const struct ds_dtype_info *ds_dtype_get(enum ds_dtype t)
{
	return &dtypes[t];
}

int ds_dtype_from_ggml(uint32_t ggml_type)
{
	for (int t = 0; t < DS_N_DTYPES; t++)
		if ((uint32_t)dtypes[t].ggml_type == ggml_type)
			return t;
	return -1;
}

const char *ds_ggml_type_name(uint32_t ggml_type)
{
	/* GGUF's type numbers (ggml_type); gaps are numbers no longer written. */
	static const char *const names[] = {
		[0] = "f32", [1] = "f16", [2] = "q4_0", [3] = "q4_1", [6] = "q5_0", [7] = "q5_1",
		[8] = "q8_0", [9] = "q8_1", [10] = "q2_K", [11] = "q3_K", [12] = "q4_K", [13] = "q5_K",
		[14] = "q6_K", [15] = "q8_K", [16] = "iq2_xxs", [17] = "iq2_xs", [18] = "iq3_xxs",
		[19] = "iq1_s", [20] = "iq4_nl", [21] = "iq3_s", [22] = "iq2_s", [23] = "iq4_xs",
		[24] = "i8", [25] = "i16", [26] = "i32", [27] = "i64", [28] = "f64", [29] = "iq1_m",
		[30] = "bf16", [34] = "tq1_0", [35] = "tq2_0", [39] = "mxfp4",
	};

	return ggml_type < sizeof(names) / sizeof(names[0]) ? names[ggml_type] : NULL;
}

uint16_t ds_f32_to_f16(float f)
{
	uint32_t x, sign, mant;
	int exp;

	memcpy(&x, &f, sizeof x);
	sign = (x >> 16) & 0x8000;
	exp = (int)((x >> 23) & 0xff);
	mant = x & 0x7fffff;
	if (exp == 0xff)	/* infinity, or NaN kept quiet */
		return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
	exp -= 127 - 15;
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		/* subnormal half (or zero): shift the mantissa with its hidden bit, round to even */
		if (exp < -10)
			return (uint16_t)sign;
		mant |= 0x800000;
		int shift = 14 - exp;
		uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);

		if (rest > mid || (rest == mid && (half & 1)))
			half++;
		return (uint16_t)(sign | half);
	}
	uint32_t h = (uint32_t)exp << 10 | mant >> 13, rest = mant & 0x1fff;

	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;	/* may carry into the exponent, up to infinity: still correct */
	return (uint16_t)(sign | h);
}

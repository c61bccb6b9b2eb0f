/* cpu-kernels-int8.c: the opt-in AVX-512 VNNI set (DSCODER_KERNELS=avx512-int8, --kernels avx512-int8):
 * products of block-quantized weights with activations rounded to int8, summed by vpdpbusd; every other
 * kernel (float weights, axpy_row, dot, pv, exp_sum) is the exact AVX-512 set's.
 *
 * Why a separate set: the F32 kernels widen every quantized weight to F32 before a multiply, which makes
 * K-quant decode compute-bound (25-33% of memory bandwidth on 2 cores). vpdpbusd multiplies 64 byte
 * pairs and sums them by 4 into 16 int32 lanes in one instruction, so the weight codes are used as they
 * are stored. The price is the activations' rounding: each block of 32 is stored as d * q with
 * d = max|x| / 127 and q = round(x / d) in int8 (llama.cpp's q8_0 activations do the same), which moves a
 * dot product by up to sum |w| d / 2 and the logits by about 1e-2.
 *
 * Every weight type is read as w = s * u + m per group of 16 weights, with u an unsigned code (0..255) and
 * s, m floats: q8_0 stores u = q + 128 (m = -128 d), q4_0 u = nibble (m = -8 d), q5_0 (m = -16 d), q4_1 and
 * q5_1 (m = the block's min), q4_K and q5_K (s = d * sc, m = -dmin * min per sub-block of 32), q6_K
 * (s = d * sc per 16, m = -32 s). Then W . x = sum over lanes of s dx (u . q) + m (dx sum q), where a lane
 * is 4 consecutive weights: (u . q) is vpdpbusd's int32 lane, exact; dx and dx * sum q of each lane are
 * stored with the quantized activations, so both terms are one multiply-add per 64 weights. Decode of
 * the K-quants (a few tokens) goes further: one activation scale per super-block of 256 and the
 * sub-block scales applied in integers (vpmaddubsw, then vpdpwssd by the scales), one conversion
 * per super-block (i8_ksb_step, i8_q6sb_step). */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)

#include <immintrin.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-kernels.h"
#include "cpu-rows4.h"
#include "cpu-scratch.h"
#include "cpu-uk4.h"

#define I8_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"
#define I8_FN static inline __attribute__((always_inline, target(I8_TARGET)))
#define I8_API static __attribute__((target(I8_TARGET)))

/* Quantized activations, per token: per chunk of 64 values, 64 int8 codes, then the 16 lanes' dx, then
 * the 16 lanes' c dx (sum of their 4 codes), c the weight type's offset multiple (i8_offset_mult) or 1.
 * One stream per token, as the weights are read. */
#define I8_CHUNK 192
#define I8_ROWBLOCK 16     /* rows whose weights stay in L1 while every token group passes over them */
#ifndef I8_PF
#define I8_PF 8192         /* bytes of prefetch ahead in the weights (decode streams from memory) */
#endif
/* the loops over rows, tokens and chunks of a tile, unrolled whole so that its accumulators stay in
 * registers (GCC otherwise keeps them on the stack) */
#define I8_UNROLL _Pragma("GCC unroll 16")

I8_FN float i8_h2f(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return _cvtsh_ss(h);
}

/* ---- activations ---- */

/* The 32 values at x rounded to int8 codes q = round(x / d), d = max |x| / 127 (0 for a block of 0s):
 * the codes of values 0-15 in *lo and 16-31 in *hi (16 int32 lanes each); returns d. Every layout
 * below rounds its blocks of 32 here, so they all hold the same codes. */
I8_FN void i8_codes32(const float *x, __m512 id, __m512i *lo, __m512i *hi)
{
	*lo = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), id));
	*hi = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16), id));
}

I8_FN float i8_round32(const float *x, __m512i *lo, __m512i *hi)
{
	__m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
	float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
	i8_codes32(x, _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f), lo, hi);
	return amax / 127.0f;
}

/* 16 int32 codes as bytes at o */
I8_FN void i8_store16(uint8_t *o, __m512i q)
{
	_mm_storeu_si128((__m128i *)(void *)o, _mm512_cvtsepi32_epi8(q));
}

/* The n tokens of x (k values each, ldx apart) as int8 blocks of 32 (lane sums times mult) at buf,
 * tokens i8_dec_stride apart (the decode form of every type but q4_0/q5_0 and q4_K/q5_K). */
I8_API void i8_quantize(const float *x, int n, long ldx, long k, float mult, uint8_t *buf)
{
	long nc = (k + 63) / 64;
	const __m512i ones = _mm512_set1_epi8(1);
	for (int i = 0; i < n; i++) {
		const float *xi = x + (long)i * ldx;
		uint8_t *o = buf + (size_t)i * (size_t)nc * I8_CHUNK;

		for (long c = 0; c < nc; c++, o += I8_CHUNK) {
			float d[2];
			for (int h = 0; h < 2; h++) {
				long e = c * 64 + h * 32;
				if (e >= k) {   /* k is a multiple of 32: the second half of the last chunk */
					memset(o + h * 32, 0, 32);
					d[h] = 0;
					continue;
				}
				__m512i qa, qb;
				d[h] = i8_round32(xi + e, &qa, &qb);
				i8_store16(o + h * 32, qa);
				i8_store16(o + h * 32 + 16, qb);
			}
			__m512 dl = _mm512_mask_mov_ps(_mm512_set1_ps(d[0]), 0xff00, _mm512_set1_ps(d[1]));
			__m512i s4 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, _mm512_loadu_si512(o));
			_mm512_storeu_ps(o + 64, dl);
			_mm512_storeu_ps(o + 128, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(mult), dl),
								_mm512_cvtepi32_ps(s4)));
		}
	}
}

/* q4_K and q5_K activations (decode form), per token and super-block of 256, I8_KSB bytes: the 256
 * codes rounded with one scale dx = max |x| / 127 over the whole super-block (as llama.cpp's Q8_K
 * does), the sub-blocks in the order the weights' nibbles come out of two 64-byte loads (0 2 1 3 4 6 5
 * 7, see i8_ktile); then dx (sum q) of the 8 sub-blocks in natural order, for the mins; then dx. One
 * scale per super-block lets i8_ktile sum all 256 products in integers and convert once: with a
 * scale per 32 it converted and multiplied per 64 codes, and q4_K decode was bound by those
 * multiplies, not by memory. The price: a value's rounding error is up to half the super-block's
 * dx, not its block of 32's (logits move by about as much as llama.cpp's, tests/int8-logits.sh).
 * q6_K's form (i8_quantize_k with q6 set) is the same size with the codes in natural order,
 * i8_q6codes's, and at I8_KSB_GS, in place of the sub-block sums, the 16 groups of 16's sums of
 * codes as int16 (at most 16 x 127 in size), for the -32 offset of q6_K's codes. */
#define I8_KSB 320
#define I8_KSB_BS 256
#define I8_KSB_GS 256
#define I8_KSB_DX 288
static const int i8_ksb_order[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };

/* One super-block xs of either form into o */
I8_FN void i8_quantize_ksb(const float *xs, int q6, uint8_t *o)
{
	__m512 mx = _mm512_setzero_ps();
	for (int c = 0; c < 256; c += 16)
		mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(xs + c)));
	float amax = _mm512_reduce_max_ps(mx), dx = amax / 127.0f, bsum[8];
	int16_t gsum[16];
	__m512 id = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
	for (int p = 0; p < 8; p++) {
		int j = q6 ? p : i8_ksb_order[p];
		__m512i qa, qb;
		i8_codes32(xs + 32 * j, id, &qa, &qb);
		i8_store16(o + 32 * p, qa);
		i8_store16(o + 32 * p + 16, qb);
		gsum[2 * j] = (int16_t)_mm512_reduce_add_epi32(qa);
		gsum[2 * j + 1] = (int16_t)_mm512_reduce_add_epi32(qb);
		if (!q6)
			bsum[j] = dx * (float)(gsum[2 * j] + gsum[2 * j + 1]);
	}
	if (q6)
		memcpy(o + I8_KSB_GS, gsum, sizeof gsum);
	else
		memcpy(o + I8_KSB_BS, bsum, sizeof bsum);
	memcpy(o + I8_KSB_DX, &dx, sizeof dx);
}

I8_API void i8_quantize_k(const float *x, int n, long ldx, long k, int q6, uint8_t *buf)
{
	long nsb = k / 256;
	for (int i = 0; i < n; i++)
		for (long sb = 0; sb < nsb; sb++)
			i8_quantize_ksb(x + (long)i * ldx + sb * 256, q6, buf + ((size_t)i * (size_t)nsb + (size_t)sb) * I8_KSB);
}

/* q4_0 and q5_0 activations (decode form), per token and group of 4 blocks of 32 (128 values),
 * I8_NSB bytes: the 64 codes of the blocks' first halves (block b's values 0-15 in bytes 16b..), the
 * 64 of their second halves, then per 32-bit lane l (block l / 4) dx, then c dx (sum of the lane's 8
 * codes: 4 of each half), c the type's offset multiple. A missing last block (k not a multiple of
 * 128) has codes and dx 0. Blocks of 32 rounded as i8_quantize does. */
#define I8_NSB 256

I8_API void i8_quantize_n(const float *x, int n, long ldx, long k, float mult, uint8_t *buf)
{
	long ng = (k + 127) / 128;
	const __m512i ones = _mm512_set1_epi8(1);
	for (int i = 0; i < n; i++) {
		const float *xi = x + (long)i * ldx;
		uint8_t *o = buf + (size_t)i * (size_t)ng * I8_NSB;

		for (long g = 0; g < ng; g++, o += I8_NSB) {
			float dx[4];
			for (int b = 0; b < 4; b++) {
				long e = g * 128 + b * 32;
				if (e >= k) {   /* k is a multiple of 32 */
					memset(o + 16 * b, 0, 16);
					memset(o + 64 + 16 * b, 0, 16);
					dx[b] = 0;
					continue;
				}
				__m512i qa, qb;
				dx[b] = i8_round32(xi + e, &qa, &qb);
				i8_store16(o + 16 * b, qa);
				i8_store16(o + 64 + 16 * b, qb);
			}
			__m512 dl = _mm512_permutexvar_ps(_mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8,
					9, 10, 11, 12, 13, 14, 15), 2), _mm512_castps128_ps512(_mm_loadu_ps(dx)));
			__m512i s8 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones,
									     _mm512_loadu_si512(o)),
							 ones, _mm512_loadu_si512(o + 64));
			_mm512_storeu_ps(o + 128, dl);
			_mm512_storeu_ps(o + 192, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(mult), dl),
								_mm512_cvtepi32_ps(s8)));
		}
	}
}

/* ---- weights: 64 codes, and the lanes' s and m ---- */

/* 32 nibbles of a q4/q5 block's 16 bytes in natural order: low nibbles are weights 0-15, high 16-31 */
I8_FN __m256i i8_nib32(const uint8_t *qs)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)qs), f = _mm_set1_epi8(0x0f);
	return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, f)),
				       _mm_and_si128(_mm_srli_epi16(v, 4), f), 1);
}

/* The 32 codes (u) of block b of a 32-weight type (the scales are read by i8_chunk32). */
I8_FN __m256i i8_block32(enum ds_dtype t, const uint8_t *b)
{
	uint32_t qh;
	__m256i u;

	switch (t) {
	case DS_Q8_0:
		return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(b + 2)),
					_mm256_set1_epi8((char)0x80));
	case DS_Q4_0:
		return i8_nib32(b + 2);
	case DS_Q4_1:
		return i8_nib32(b + 4);
	case DS_Q5_0:
		memcpy(&qh, b + 2, 4);
		u = i8_nib32(b + 6);
		return _mm256_mask_add_epi8(u, (__mmask32)qh, u, _mm256_set1_epi8(16));
	default:   /* DS_Q5_1 */
		memcpy(&qh, b + 4, 4);
		u = i8_nib32(b + 8);
		return _mm256_mask_add_epi8(u, (__mmask32)qh, u, _mm256_set1_epi8(16));
	}
}

/* The halves at offset off of blocks b0 and b1 as floats in lanes 0-7 and 8-15 (two scalar loads
 * and one conversion: cheaper than two broadcasts and a blend) */
I8_FN __m512 i8_halves(const uint8_t *b0, const uint8_t *b1, int off)
{
	uint16_t h0, h1;
	memcpy(&h0, b0 + off, 2);
	memcpy(&h1, b1 + off, 2);
	__m512 f = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)(h0 | (uint32_t)h1 << 16))));
	return _mm512_permutexvar_ps(_mm512_mask_mov_epi32(_mm512_setzero_si512(), 0xff00,
							   _mm512_set1_epi32(1)), f);
}

/* Chunk of blocks b0 and (when two) b0 + bytes of a 32-weight type: codes, s and (q4_1, q5_1) m; a
 * missing second block has codes 0 and reads b0's scales again (its activations are 0). */
I8_FN __m512i i8_chunk32(enum ds_dtype t, const uint8_t *b0, size_t bytes, int two, __m512 *s, __m512 *m)
{
	const uint8_t *b1 = two ? b0 + bytes : b0;
	__m256i u0 = i8_block32(t, b0), u1 = two ? i8_block32(t, b1) : _mm256_setzero_si256();

	*s = i8_halves(b0, b1, 0);
	if (t == DS_Q4_1 || t == DS_Q5_1)
		*m = i8_halves(b0, b1, 2);
	return _mm512_inserti64x4(_mm512_castsi256_si512(u0), u1, 1);
}

/* Where the parts of one row's q4_K/q5_K super-block lie: the file's block at b, or a rows4 group's
 * super-block g (cpu-rows4.h) for its row i */
struct i8_kparts {
	const uint8_t *dm, *sc, *qh, *qs;   /* d and dmin, 12 scale bytes, fifth bits (q5_K), nibbles */
};

I8_FN struct i8_kparts i8_kparts_block(const uint8_t *b, int q5)
{
	return (struct i8_kparts){ .dm = b, .sc = b + 4, .qh = b + 16, .qs = b + (q5 ? 48 : 16) };
}

I8_FN struct i8_kparts i8_kparts_rows4(const uint8_t *g, int q5, int i)
{
	return (struct i8_kparts){ .dm = g + 4 * i, .sc = g + 16 + 12 * i, .qh = g + 64 + 32 * i,
				   .qs = g + (q5 ? 192 : 64) + 128 * i };
}

/* The 6-bit scales (bytes 0-7) and mins (bytes 8-15) of the 12 bytes v (lanes 0-2 of each 128-bit lane;
 * lane 3 is not read) as ds_k_scales8 unpacks them: the 12 bytes as three 32-bit lanes u0 u1 u2,
 * scales u0 & 0x3f.. | (u2 & 0x0f.. | (u0 >> 2) & 0x30..) << 32, mins the same of u1 and u2 >> 4.
 * Scalar, the unpacking was a fifth of the decode tile's instructions. 128-bit: one super-block;
 * 512-bit (i8_kscale_bytes4): four, one per 128-bit lane. */
I8_FN __m128i i8_kscale_v(__m128i v)
{
	__m128i low = _mm_and_si128(v, _mm_set1_epi32(0x3f3f3f3f));
	__m128i u2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0xaa), _mm_setr_epi32(0, 4, 0, 0));
	__m128i high = _mm_or_si128(_mm_and_si128(u2, _mm_set1_epi32(0x0f0f0f0f)),
				    _mm_and_si128(_mm_srli_epi32(v, 2), _mm_set1_epi32(0x30303030)));
	return _mm_unpacklo_epi32(low, high);
}

/* The scale and min bytes of a super-block's 12 scale bytes at sc (16 bytes are read) */
I8_FN __m128i i8_kscale_bytes(const uint8_t *sc)
{
	return i8_kscale_v(_mm_loadu_si128((const __m128i *)(const void *)sc));
}

/* The same for the 4 rows of a rows4 super-block g at once: row i's in 128-bit lane i */
I8_FN __m512i i8_kscale_bytes4(const uint8_t *g)
{
	/* the 48 scale bytes from 16 (and 16 more, not read), row i's three words into lane i */
	__m512i v = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11),
					     _mm512_loadu_si512(g + 16));
	__m512i low = _mm512_and_si512(v, _mm512_set1_epi32(0x3f3f3f3f));
	__m512i u2 = _mm512_srlv_epi32(_mm512_shuffle_epi32(v, 0xaa),
				       _mm512_setr_epi32(0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0));
	__m512i high = _mm512_or_si512(_mm512_and_si512(u2, _mm512_set1_epi32(0x0f0f0f0f)),
				       _mm512_and_si512(_mm512_srli_epi32(v, 2), _mm512_set1_epi32(0x30303030)));
	return _mm512_unpacklo_epi32(low, high);
}

/* q4_K/q5_K: the 8 sub-blocks' s = d * sc and m = -dmin * min in lanes 0-7 */
I8_FN void i8_kscales(struct i8_kparts b, __m512 *s, __m512 *m)
{
	__m128i sm = i8_kscale_bytes(b.sc);
	__m512 scf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_move_epi64(sm)));
	__m512 mnf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpackhi_epi64(sm, _mm_setzero_si128())));
	*s = _mm512_mul_ps(_mm512_set1_ps(i8_h2f(b.dm)), scf);
	*m = _mm512_mul_ps(_mm512_set1_ps(-i8_h2f(b.dm + 2)), mnf);
}

/* Codes of chunk j of a q4_K (q5 = 0) or q5_K block: the 32 bytes of j hold weights 64j.. in their low
 * nibbles and 64j + 32.. in their high ones; q5_K's fifth bit of weight l of group 2j (2j + 1) is bit 2j
 * (2j + 1) of qh[l]. */
I8_FN __m512i i8_kcodes(struct i8_kparts b, int q5, int j)
{
	const uint8_t *qs = b.qs + 32 * j;
	__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)qs), f = _mm256_set1_epi8(0x0f);
	__m512i u = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, f)),
				       _mm256_and_si256(_mm256_srli_epi16(v, 4), f), 1);
	if (q5) {
		__m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)b.qh));
		__m512i bit = _mm512_mask_mov_epi8(_mm512_set1_epi8((char)(1 << (2 * j))),
						   0xffffffff00000000ull, _mm512_set1_epi8((char)(1 << (2 * j + 1))));
		u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(qh, bit), u, _mm512_set1_epi8(16));
	}
	return u;
}

/* Where the parts of one row's q6_K super-block lie: the file's block at b, or a rows4 group's
 * super-block g (cpu-rows4.h) for its row i */
struct i8_q6parts {
	const uint8_t *ql, *qh, *sc, *d;   /* 128 bytes of low nibbles, 64 of high pairs, 16 scales, d */
};

I8_FN struct i8_q6parts i8_q6parts_block(const uint8_t *b)
{
	return (struct i8_q6parts){ .ql = b, .qh = b + 128, .sc = b + 192, .d = b + 208 };
}

I8_FN struct i8_q6parts i8_q6parts_rows4(const uint8_t *g, int i)
{
	return (struct i8_q6parts){ .ql = g + 128 * i, .qh = g + 512 + 64 * i, .sc = g + 768 + 16 * i,
				    .d = g + 832 + 2 * i };
}

/* q6_K: s = d * sc of each of the 16 groups, m = -32 s */
I8_FN void i8_q6scales(struct i8_q6parts b, __m512 *s, __m512 *m)
{
	__m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)b.sc));
	*s = _mm512_mul_ps(_mm512_set1_ps(i8_h2f(b.d)), _mm512_cvtepi32_ps(sc));
	*m = _mm512_mul_ps(_mm512_set1_ps(-32.0f), *s);
}

/* Codes of chunk j of a q6_K block: half h = j / 2 has 64 bytes of low nibbles (weights 128h + 0..63
 * in the low nibbles, + 64..127 in the high ones) and 32 bytes of high 2-bit pairs (bits 0-1 for
 * weights + 0..31, 2-3 for + 32..63, 4-5 for + 64..95, 6-7 for + 96..127). */
I8_FN __m512i i8_q6codes(struct i8_q6parts b, int j)
{
	int h = j / 2;
	__m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
	__m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(b.qh + 32 * h));
	__m512i hz = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
	const __m512i f = _mm512_set1_epi8(0x0f), k30 = _mm512_set1_epi8(0x30);
	if (j % 2 == 0)
		return _mm512_or_si512(_mm512_and_si512(ql, f), _mm512_and_si512(_mm512_slli_epi16(hz, 4), k30));
	return _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), f), _mm512_and_si512(hz, k30));
}

/* ---- the product ---- */

/* Types whose offset is a fixed multiple of the scale (m = c s): q8_0, q4_0, q5_0, q6_K. Their
 * activations carry c dx (sum q) in place of dx (sum q), so a lane adds s (dx (u . q) + c dx sum q):
 * two multiply-adds and no m. */
static inline int i8_offset_mult(enum ds_dtype t)
{
	switch (t) {
	case DS_Q8_0: return -128;
	case DS_Q4_0: return -8;
	case DS_Q5_0: return -16;
	case DS_Q6_K: return -32;
	default: return 0;
	}
}

/* acc[t] += the chunk's lanes for weight codes u (lanes s, m) and token t's chunk at a; accm takes the
 * m terms when M (types with a free offset per block of 32: q4_1, q5_1) */
#define I8_STEP(T, M, NT, u, s, m, a, acc, accm) do { \
	I8_UNROLL for (int t_ = 0; t_ < (NT); t_++) { \
		__m512i xq_ = _mm512_loadu_si512((a)[t_]); \
		__m512 dl_ = _mm512_loadu_ps((const float *)((a)[t_] + 64)); \
		__m512 sl_ = _mm512_loadu_ps((const float *)((a)[t_] + 128)); \
		__m512 p_ = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), (u), xq_)); \
		if (i8_offset_mult(T)) { \
			(acc)[t_] = _mm512_fmadd_ps((s), _mm512_fmadd_ps(p_, dl_, sl_), (acc)[t_]); \
		} else { \
			(acc)[t_] = _mm512_fmadd_ps(p_, _mm512_mul_ps((s), dl_), (acc)[t_]); \
			if (M) \
				(accm)[t_] = _mm512_fmadd_ps((m), sl_, (accm)[t_]); \
		} \
	} \
} while (0)

/* Prefetch each line once, up to upto: *next is the first line not yet asked for. More prefetches
 * than lines stall on a full miss queue (perf: half of q8_0 decode on a prefetch per 64 bytes read).
 * Non-temporal: decode reads each weight line once per token, and the hint asks the CPU not to keep
 * it at the expense of what the token reuses (activations, the latent cache, the uk4 tables, the
 * scratch). --bench --rounds 3, 2 threads, alternating pairs against T0, decode tokens/s and
 * bandwidth fraction: bench Q4_K_M the fraction higher in 7 of 8 pairs (medians 0.627 -> 0.635, and
 * 4 of 5 in --profile pairs), bench Q8_0 in 4 of 4 (0.706 -> 0.728), lite4 Q4_K_M tokens/s higher
 * in 3 of 4 (medians 102.5 -> 105.2); prefill of 512 no slower. */
I8_FN void i8_prefetch(const uint8_t **next, const uint8_t *upto)
{
	while (*next < upto) {
		_mm_prefetch((const char *)*next, _MM_HINT_NTA);
		*next += 64;
	}
}

/* The first I8_PF bytes of [p, end), asked for at once where a range of rows begins: each row's tile
 * asks for the lines I8_PF bytes past it, so the first I8_PF bytes of a range were left to the
 * hardware prefetcher, which only starts after a few misses. A task's rows are a new stream every
 * time (a block of a small matrix is 20-40 KB), so those misses were a good part of it. */
I8_FN void i8_prefetch_start(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *upto = p + I8_PF < end ? p + I8_PF : end;
	i8_prefetch(&p, upto);
}

/* One row w (k weights of type t) times NT tokens (quantized at a0, tstride apart), into out[t * ldo];
 * the lines I8_PF bytes ahead in the row are asked for as it goes */
I8_FN void i8_tile(enum ds_dtype t, int NT, const uint8_t *w, long k, const uint8_t *a0, long tstride,
		   float *out, long ldo)
{
	__m512 acc[4], accm[4];
	const uint8_t *a[4], *next = w + I8_PF;
	I8_UNROLL for (int i = 0; i < NT; i++) {
		acc[i] = accm[i] = _mm512_setzero_ps();
		a[i] = a0 + (long)i * tstride;
	}

	/* the 32-weight types (q4_K, q5_K and q6_K decode in i8_ktile and i8_q6tile) */
	size_t bb = ds_dtype_get(t)->block_bytes;
	long nb = k / 32;
	for (long c = 0; c < nb; c += 2) {
		__m512 s, m;
		const uint8_t *b = w + (size_t)c * bb;
		i8_prefetch(&next, b + I8_PF + 2 * bb);
		__m512i u = i8_chunk32(t, b, bb, c + 1 < nb, &s, &m);
		I8_STEP(t, !i8_offset_mult(t), NT, u, s, m, a, acc, accm);
		I8_UNROLL for (int i = 0; i < NT; i++)
			a[i] += I8_CHUNK;
	}
	I8_UNROLL for (int i = 0; i < NT; i++)
		out[(long)i * ldo] = _mm512_reduce_add_ps(i8_offset_mult(t) ? acc[i] : _mm512_add_ps(acc[i], accm[i]));
}

/* q4_K and q5_K, few tokens (decode): one row w times NT tokens (i8_quantize_k's layout at a0, tstride
 * apart) into out[t * ldo]. A super-block's 128 bytes of nibbles are two 64-byte loads; the low and
 * high nibbles of each are 64 codes of two sub-blocks (load 0: sub-blocks 0 and 2 low, 1 and 3 high;
 * load 1: 4 and 6, 5 and 7), met by the activations stored in that order. vpmaddubsw sums code pairs
 * times activation codes into 16-bit lanes (at most 2 x 31 x 127), vpdpwssd multiplies those by the
 * lanes' 6-bit scale and sums them into 32-bit lanes (at most 8 x 7874 x 63 after the 4 vectors): the
 * sub-block scales cost no float work, and with one activation scale per super-block neither do the
 * sub-blocks: one conversion and one multiply-add with d dx per super-block; the mins, dmin min . (dx
 * sum q), one more on 8 lanes. A float multiply-add per 64 codes with s = d sc permuted into the
 * lanes read q4_K at 51% of the machine's bandwidth on 2 threads; integer sub-block scales with a
 * conversion and a multiply-add with the activations' dx per 64 codes (a scale per 32) at 60-65%
 * (tools/quant-bench), and the one conversion per super-block takes 11% less time from cache than
 * that (1 thread, pinned: 4.7 against 5.3 us for 256 rows of 1024) and 10-15% more GB/s streaming
 * 113 MB on 2 threads (34-37 against 27-33 on average over 20 passes, alternating). */
/* One token's super-block in the K form at a (i8_quantize_k's) times a row's 4 code vectors u, each
 * 16-bit lane pair taking its scale from sc: vpmaddubsw sums code pairs times activation codes into
 * 16-bit lanes, vpdpwssd multiplies those by the scales into 32-bit lanes (their sum is the
 * super-block's, in integers); *dx the token's scale. The step of q4_K/q5_K and of q6_K. */
I8_FN __m512i i8_ksb_dot(const __m512i u[4], const __m512i sc[4], const uint8_t *a, float *dx)
{
	memcpy(dx, a + I8_KSB_DX, sizeof *dx);
	__m512i p = _mm512_setzero_si512();
	I8_UNROLL for (int q = 0; q < 4; q++)
		p = _mm512_dpwssd_epi32(p, _mm512_maddubs_epi16(u[q], _mm512_loadu_si512(a + 64 * q)), sc[q]);
	return p;
}

/* One row's super-block sb (parts b, scale bytes sm, d and dmin as floats) times NT tokens into
 * acc[t] and accm[t]: the step of i8_ktile and i8_r4ktile */
I8_FN void i8_ksb_step(int q5, int NT, int MINS, struct i8_kparts b, __m512i smb, float dh, float dmin,
		       const uint8_t *a0, long tstride, long sb, __m512 *acc, __m256 *accm)
{
	const __m512i f = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
	/* 16-bit lanes 0-15 take the scale byte of the first sub-block of a code vector, 16-31 the
	 * second: a byte shuffle of smb (the scale bytes in every 128-bit lane) whose odd bytes take
	 * zeros (index bit 7). (vpermw of the widened bytes did it; the shuffle is 4% faster from cache.) */
	const __m512i sidx[4] = {
		_mm512_mask_mov_epi16(_mm512_set1_epi16(0x8000), 0xffff0000u, _mm512_set1_epi16(0x8002)),
		_mm512_mask_mov_epi16(_mm512_set1_epi16(0x8001), 0xffff0000u, _mm512_set1_epi16(0x8003)),
		_mm512_mask_mov_epi16(_mm512_set1_epi16(0x8004), 0xffff0000u, _mm512_set1_epi16(0x8006)),
		_mm512_mask_mov_epi16(_mm512_set1_epi16(0x8005), 0xffff0000u, _mm512_set1_epi16(0x8007)),
	};
	/* q5_K: the fifth bit of the code vectors' two sub-blocks s is bit s of qh[weight] */
	const __m512i hbit[4] = {
		_mm512_mask_mov_epi8(_mm512_set1_epi8(0x01), 0xffffffff00000000ull, _mm512_set1_epi8(0x04)),
		_mm512_mask_mov_epi8(_mm512_set1_epi8(0x02), 0xffffffff00000000ull, _mm512_set1_epi8(0x08)),
		_mm512_mask_mov_epi8(_mm512_set1_epi8(0x10), 0xffffffff00000000ull, _mm512_set1_epi8(0x40)),
		_mm512_mask_mov_epi8(_mm512_set1_epi8(0x20), 0xffffffff00000000ull, _mm512_set1_epi8((char)0x80)),
	};
	__m512i u[4], sc[4];
	__m128i sm = _mm512_castsi512_si128(smb);
	__m256 mn = _mm256_setzero_ps();
	if (MINS)
		mn = _mm256_mul_ps(_mm256_set1_ps(dmin),
				   _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(sm, sm))));
	I8_UNROLL for (int h = 0; h < 2; h++) {
		__m512i v = _mm512_loadu_si512(b.qs + 64 * h);
		u[2 * h] = _mm512_and_si512(v, f);
		u[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), f);
	}
	if (q5) {
		__m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)b.qh));
		I8_UNROLL for (int q = 0; q < 4; q++)
			u[q] = _mm512_mask_add_epi8(u[q], _mm512_test_epi8_mask(qh, hbit[q]), u[q], sixteen);
	}
	I8_UNROLL for (int q = 0; q < 4; q++)
		sc[q] = _mm512_shuffle_epi8(smb, sidx[q]);
	I8_UNROLL for (int i = 0; i < NT; i++) {
		const uint8_t *a = a0 + (long)i * tstride + sb * I8_KSB;
		float dx;
		__m512i p = i8_ksb_dot(u, sc, a, &dx);
		acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(dh * dx), acc[i]);
		if (MINS)
			accm[i] = _mm256_fnmadd_ps(mn, _mm256_loadu_ps((const float *)(const void *)(a + I8_KSB_BS)),
						   accm[i]);
	}
}

/* The sum of a row's acc and accm (i8_ksb_step's) */
I8_FN float i8_ksum(__m512 acc, __m256 m)
{
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	h = _mm_add_ss(h, _mm_movehdup_ps(h));
	return _mm512_reduce_add_ps(acc) + _mm_cvtss_f32(h);
}

I8_FN void i8_ktile(int q5, int NT, const uint8_t *w, long k, const uint8_t *a0, long tstride, float *out,
		    long ldo)
{
	const size_t bb = q5 ? 176 : 144;
	__m512 acc[4];
	__m256 accm[4];
	const uint8_t *next = w + I8_PF;

	I8_UNROLL for (int i = 0; i < NT; i++) {
		acc[i] = _mm512_setzero_ps();
		accm[i] = _mm256_setzero_ps();
	}
	/* the row's lines I8_PF ahead, asked for at once: asked for per super-block, the loop cost about
	 * as many instructions as the scales did. With both, 256 rows of 1024 from cache take 4.16-4.18
	 * us against 4.70-4.72 (pinned, one thread), and bench-q4km decode read 63-76% of the measured
	 * bandwidth against 60-69% (4 alternating runs); the sums are the same, bit for bit. */
	i8_prefetch(&next, w + (size_t)(k / 256) * bb + I8_PF);
	for (long sb = 0; sb < k / 256; sb++) {
		const uint8_t *b = w + (size_t)sb * bb;
		int d2;
		memcpy(&d2, b, sizeof d2);
		__m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(d2));   /* d, dmin */
		i8_ksb_step(q5, NT, 1, i8_kparts_block(b, q5), _mm512_broadcast_i32x4(i8_kscale_bytes(b + 4)),
			    _mm_cvtss_f32(dd), _mm_cvtss_f32(_mm_movehdup_ps(dd)), a0, tstride, sb, acc, accm);
	}
	I8_UNROLL for (int i = 0; i < NT; i++)
		out[(long)i * ldo] = i8_ksum(acc[i], accm[i]);
}

/* q4_K/q5_K rows4 (cpu-rows4.h), few tokens (decode): the 4 rows of group g times NT tokens into
 * o[t][row]. Per super-block the 4 rows' d and dmin are one conversion and their scale bytes one
 * unpacking on 512 bits (i8_kscale_bytes4); each row then takes i8_ktile's step in its order, so the
 * sums are i8_ktile's on the rows layout, bit for bit. */
I8_FN void i8_r4ktile(int q5, int NT, const uint8_t *g, long nsb, const uint8_t *a0, long tstride,
		      float o[4][4], const uint8_t **next)
{
	const size_t ub = 4 * (size_t)(q5 ? 176 : 144);
	__m512 acc[4][4], accm2[2][4];   /* accm2[p]: rows 2p (lanes 0-7) and 2p + 1 (8-15) */
	I8_UNROLL for (int i = 0; i < NT; i++) {
		I8_UNROLL for (int r = 0; r < 4; r++)
			acc[r][i] = _mm512_setzero_ps();
		accm2[0][i] = accm2[1][i] = _mm512_setzero_ps();
	}
	/* lanes 0-7 take dmin of row 2p, 8-15 of row 2p + 1, from d0 dmin0 d1 dmin1 .. */
	const __m512i dmin_idx[2] = {
		_mm512_mask_mov_epi32(_mm512_set1_epi32(1), 0xff00, _mm512_set1_epi32(3)),
		_mm512_mask_mov_epi32(_mm512_set1_epi32(5), 0xff00, _mm512_set1_epi32(7)),
	};
	for (long sb = 0; sb < nsb; sb++) {
		const uint8_t *gs = g + (size_t)sb * ub;
		i8_prefetch(next, gs + I8_PF + ub);
		__m512i sm4 = i8_kscale_bytes4(gs);
		__m256 dm8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)gs));
		float dm[8];   /* d, dmin of each row */
		_mm256_storeu_ps(dm, dm8);
		i8_ksb_step(q5, NT, 0, i8_kparts_rows4(gs, q5, 0), _mm512_shuffle_i32x4(sm4, sm4, 0x00), dm[0], dm[1],
			    a0, tstride, sb, acc[0], NULL);
		i8_ksb_step(q5, NT, 0, i8_kparts_rows4(gs, q5, 1), _mm512_shuffle_i32x4(sm4, sm4, 0x55), dm[2], dm[3],
			    a0, tstride, sb, acc[1], NULL);
		i8_ksb_step(q5, NT, 0, i8_kparts_rows4(gs, q5, 2), _mm512_shuffle_i32x4(sm4, sm4, 0xaa), dm[4], dm[5],
			    a0, tstride, sb, acc[2], NULL);
		i8_ksb_step(q5, NT, 0, i8_kparts_rows4(gs, q5, 3), _mm512_shuffle_i32x4(sm4, sm4, 0xff), dm[6], dm[7],
			    a0, tstride, sb, acc[3], NULL);
		/* the mins of two rows at a time, lane for lane the products and sums of i8_ksb_step's
		 * (the min bytes are the odd quadwords of sm4) */
		__m512i mq = _mm512_permutexvar_epi64(_mm512_setr_epi64(1, 3, 5, 7, 1, 3, 5, 7), sm4);
		I8_UNROLL for (int p = 0; p < 2; p++) {
			__m128i mb = p == 0 ? _mm512_castsi512_si128(mq) : _mm512_extracti32x4_epi32(mq, 1);
			__m512 mn = _mm512_mul_ps(_mm512_permutexvar_ps(dmin_idx[p], _mm512_castps256_ps512(dm8)),
						  _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mb)));
			I8_UNROLL for (int i = 0; i < NT; i++) {
				const float *bs = (const float *)(const void *)(a0 + (long)i * tstride + sb * I8_KSB +
										 I8_KSB_BS);
				accm2[p][i] = _mm512_fnmadd_ps(mn, _mm512_broadcast_f32x8(_mm256_loadu_ps(bs)),
							       accm2[p][i]);
			}
		}
	}
	I8_UNROLL for (int r = 0; r < 4; r++)
		I8_UNROLL for (int i = 0; i < NT; i++)
			o[i][r] = i8_ksum(acc[r][i], r % 2 == 0 ? _mm512_castps512_ps256(accm2[r / 2][i])
								: _mm512_extractf32x8_ps(accm2[r / 2][i], 1));
}

/* The start of a rows4 decode tile: the 4 rows' sums for NT tokens zeroed, the tokens' activations
 * at a[t] (from a0, tstride apart) */
I8_FN void i8_r4_begin(int NT, __m512 acc[4][4], __m512 accm[4][4], const uint8_t **a, const uint8_t *a0,
		       long tstride)
{
	I8_UNROLL for (int r = 0; r < 4; r++)
		I8_UNROLL for (int i = 0; i < NT; i++)
			acc[r][i] = accm[r][i] = _mm512_setzero_ps();
	I8_UNROLL for (int i = 0; i < NT; i++)
		a[i] = a0 + (long)i * tstride;
}

/* Its end: each row's sum for each token into o[t][row] */
I8_FN void i8_r4_end(int NT, __m512 acc[4][4], float o[4][4])
{
	I8_UNROLL for (int r = 0; r < 4; r++)
		I8_UNROLL for (int i = 0; i < NT; i++)
			o[i][r] = _mm512_reduce_add_ps(acc[r][i]);
}

/* Q8_0 rows4 (cpu-rows4.h), few tokens (decode): the 4 rows of group g times NT tokens (i8_quantize's
 * layout at a0, tstride apart) into o[t][row]. Per block pair one 16-byte load gives the 4 rows'
 * scales, and each row's codes are one aligned 64-byte load; each row then takes the steps of i8_tile
 * in its order (codes, s lanes, I8_STEP, one sum per row), so the results are i8_tile's on the rows
 * layout, bit for bit. next: the first line of the stream not yet asked for. */
I8_FN void i8_r4tile_q8_0(int NT, const uint8_t *g, long nb, const uint8_t *a0, long tstride, float o[4][4],
			  const uint8_t **next)
{
	/* lanes 0-7 take row i's first block's scale (2i), 8-15 its second's (2i + 1) */
	const __m512i sidx[4] = {
		_mm512_mask_mov_epi32(_mm512_set1_epi32(0), 0xff00, _mm512_set1_epi32(1)),
		_mm512_mask_mov_epi32(_mm512_set1_epi32(2), 0xff00, _mm512_set1_epi32(3)),
		_mm512_mask_mov_epi32(_mm512_set1_epi32(4), 0xff00, _mm512_set1_epi32(5)),
		_mm512_mask_mov_epi32(_mm512_set1_epi32(6), 0xff00, _mm512_set1_epi32(7)),
	};
	const __m512i flip = _mm512_set1_epi8((char)0x80);
	__m512 acc[4][4], accm[4][4];
	const uint8_t *a[4];
	i8_r4_begin(NT, acc, accm, a, a0, tstride);
	for (long p = 0; p < nb / 2; p++) {
		const uint8_t *pp = g + (size_t)p * CPU_ROWS4_Q8_0_PAIR;
		i8_prefetch(next, pp + I8_PF + CPU_ROWS4_Q8_0_PAIR);
		__m512 d8 = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)pp)));
		I8_UNROLL for (int r = 0; r < 4; r++) {
			__m512i u = _mm512_xor_si512(_mm512_loadu_si512(pp + 16 + 64 * r), flip);
			__m512 s = _mm512_permutexvar_ps(sidx[r], d8), m = s;
			I8_STEP(DS_Q8_0, 0, NT, u, s, m, a, acc[r], accm[r]);
		}
		I8_UNROLL for (int i = 0; i < NT; i++)
			a[i] += I8_CHUNK;
	}
	i8_r4_end(NT, acc, o);
}

/* q4_0 and q5_0, few tokens (decode): one row w times NT tokens (i8_quantize_n's layout at a0, tstride
 * apart) into out[t * ldo]. Four blocks at a time: their 16 bytes of nibbles in the four 128-bit
 * lanes of one vector, so the low nibbles are the blocks' first halves and the high ones their second
 * (q5_0: the fifth bits are qh's low and high 16 bits, spread into two byte masks); two vpdpbusd
 * sum both halves into 32-bit lanes of 8 codes of one block, and two multiply-adds apply the blocks'
 * d dx and offsets. The form of i8_tile takes two blocks per vector and a block's halves apart, about
 * twice the instructions per byte (q5_0 read at 40-53% of one thread's bandwidth, compute-bound). */

/* The group of nblk (1-4) blocks at b: codes of the blocks' first halves (lo) and second halves (hi),
 * block j in 128-bit lane j, and d in the 32-bit lanes of block j (lanes 4j..4j+3); a block past the
 * row's end (its last group) reads as codes 0, scale 0. Scalar loads and inserts gather the blocks
 * (i8_ngroup_vbmi does it with byte permutes where the CPU has them). */
I8_FN void i8_ngroup(int q5, const uint8_t *b, int nblk, __m512i *lo, __m512i *hi, __m512 *d)
{
	const size_t bb = q5 ? 22 : 18;
	const __m512i f = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
	const __m512i lane4 = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
								   14, 15), 2);
	uint64_t hh = 0, qh01 = 0, qh23 = 0;
	__m128i q[4];
	I8_UNROLL for (int j = 0; j < 4; j++) {
		q[j] = _mm_setzero_si128();
		if (j >= nblk)
			continue;
		const uint8_t *bj = b + (size_t)j * bb;
		uint16_t h;
		memcpy(&h, bj, 2);
		hh |= (uint64_t)h << (16 * j);
		q[j] = _mm_loadu_si128((const __m128i *)(const void *)(bj + (q5 ? 6 : 2)));
		if (q5) {
			uint32_t qh;
			memcpy(&qh, bj + 2, 4);
			if (j < 2)
				qh01 |= (uint64_t)qh << (32 * j);
			else
				qh23 |= (uint64_t)qh << (32 * (j - 2));
		}
	}
	/* (constant lane numbers: the insert's immediate must be one at every -O level) */
	__m512i v = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(
		_mm512_castsi128_si512(q[0]), q[1], 1), q[2], 2), q[3], 3);
	*lo = _mm512_and_si512(v, f);
	*hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), f);
	if (q5) {
		/* block j's qh in 128-bit lane j, its bytes 0-1 (2-3) spread over the lane's 16 bytes and
		 * tested against each byte's bit: the fifth bits as byte masks */
		const __m512i spread_lo = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
										1, 1, 1));
		const __m512i spread_hi = _mm512_broadcast_i32x4(_mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
										3, 3, 3));
		const __m512i bitsel = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 1, 2,
									     4, 8, 16, 32, 64, (char)128));
		__m512i qv = _mm512_permutexvar_epi32(lane4, _mm512_castsi128_si512(
			_mm_set_epi64x((long long)qh23, (long long)qh01)));
		__mmask64 mlo = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qv, spread_lo), bitsel);
		__mmask64 mhi = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qv, spread_hi), bitsel);
		*lo = _mm512_mask_add_epi8(*lo, mlo, *lo, sixteen);
		*hi = _mm512_mask_add_epi8(*hi, mhi, *hi, sixteen);
	}
	*d = _mm512_permutexvar_ps(lane4, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)hh))));
}

/* acc[t] += group g's blocks (codes lo, hi, scales d) times token t's activations */
I8_FN void i8_ngroup_dot(int NT, const uint8_t *a0, long tstride, long g, __m512i lo, __m512i hi, __m512 d,
			 __m512 *acc)
{
	I8_UNROLL for (int i = 0; i < NT; i++) {
		const uint8_t *a = a0 + (long)i * tstride + g * I8_NSB;
		__m512i xl = _mm512_loadu_si512(a), xh = _mm512_loadu_si512(a + 64);
		__m512 dl = _mm512_loadu_ps((const float *)(const void *)(a + 128));
		__m512 ol = _mm512_loadu_ps((const float *)(const void *)(a + 192));
		__m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl), hi, xh);
		acc[i] = _mm512_fmadd_ps(d, _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), dl, ol), acc[i]);
	}
}

/* q6_K, few tokens (decode): one row's super-block (parts b, d as a float) times NT tokens (q6_K's form
 * of i8_quantize_k at a0, tstride apart) into acc[t]. As i8_ksb_step does for q4_K: vpmaddubsw sums
 * code pairs (0-63) times activation codes into 16-bit lanes (at most 2 x 63 x 127), vpdpwssd
 * multiplies those by their group's scale (int8, widened) into 32-bit lanes; the -32 of every code is
 * -32 sum_g sc_g (the sum of group g's activation codes), one more vpdpwssd over the 16 groups; then
 * one conversion and one multiply-add by d dx per super-block. With a scale per 32 activations and
 * the scales applied in floats (a conversion and two multiply-adds per 64 codes) 595 KB of rows4 q6_K
 * from L2 took 11.9 us on one thread, now 11.2 (the least of 8 alternating runs), and 80 MB from
 * memory on 2 threads 974 against 884 us. */
I8_FN void i8_q6sb_step(int NT, struct i8_q6parts b, float d, const uint8_t *a0, long tstride, long sb,
			__m512 *acc)
{
	/* 16-bit lane l of chunk j's products belongs to group 4j + l / 8 */
#define I8_Q6_R8(x) x, x, x, x, x, x, x, x
#define I8_Q6_IDX(j) I8_Q6_R8(4 * (j)), I8_Q6_R8(4 * (j) + 1), I8_Q6_R8(4 * (j) + 2), I8_Q6_R8(4 * (j) + 3)
	static const uint16_t sidx[4][32] = { { I8_Q6_IDX(0) }, { I8_Q6_IDX(1) }, { I8_Q6_IDX(2) }, { I8_Q6_IDX(3) } };
#undef I8_Q6_IDX
#undef I8_Q6_R8
	__m512i u[4], sc[4];
	__m512i sc16 = _mm512_zextsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)b.sc)));
	I8_UNROLL for (int j = 0; j < 4; j++) {
		u[j] = i8_q6codes(b, j);
		sc[j] = _mm512_permutexvar_epi16(_mm512_loadu_si512(sidx[j]), sc16);
	}
	I8_UNROLL for (int i = 0; i < NT; i++) {
		const uint8_t *a = a0 + (long)i * tstride + sb * I8_KSB;
		float dx;
		__m512i p = i8_ksb_dot(u, sc, a, &dx);
		__m512i gs = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(a + I8_KSB_GS)));
		__m512i off = _mm512_dpwssd_epi32(_mm512_setzero_si512(), sc16, gs);
		p = _mm512_sub_epi32(p, _mm512_slli_epi32(off, 5));
		acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(d * dx), acc[i]);
	}
}

I8_FN void i8_q6tile(int NT, const uint8_t *w, long k, const uint8_t *a0, long tstride, float *out, long ldo)
{
	__m512 acc[4];
	const uint8_t *next = w + I8_PF;
	I8_UNROLL for (int i = 0; i < NT; i++)
		acc[i] = _mm512_setzero_ps();
	i8_prefetch(&next, w + (size_t)(k / 256) * 210 + I8_PF);
	for (long sb = 0; sb < k / 256; sb++) {
		struct i8_q6parts b = i8_q6parts_block(w + (size_t)sb * 210);
		i8_q6sb_step(NT, b, i8_h2f(b.d), a0, tstride, sb, acc);
	}
	I8_UNROLL for (int i = 0; i < NT; i++)
		out[(long)i * ldo] = _mm512_reduce_add_ps(acc[i]);
}

/* q6_K rows4 (cpu-rows4.h), few tokens (decode): the 4 rows of group g times NT tokens into o[t][row],
 * each row by i8_q6tile's step, so the sums are i8_q6tile's on the rows layout, bit for bit. */
I8_FN void i8_r4tile_q6(int NT, const uint8_t *g, long nsb, const uint8_t *a0, long tstride, float o[4][4],
			const uint8_t **next)
{
	__m512 acc[4][4];
	I8_UNROLL for (int r = 0; r < 4; r++)
		I8_UNROLL for (int i = 0; i < NT; i++)
			acc[r][i] = _mm512_setzero_ps();
	for (long sb = 0; sb < nsb; sb++) {
		const uint8_t *gs = g + (size_t)sb * CPU_ROWS4_Q6_K_UNIT;
		i8_prefetch(next, gs + I8_PF + CPU_ROWS4_Q6_K_UNIT);
		float d[4];
		_mm_storeu_ps(d, _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(const void *)(gs + 832))));
		I8_UNROLL for (int r = 0; r < 4; r++)
			i8_q6sb_step(NT, i8_q6parts_rows4(gs, r), d[r], a0, tstride, sb, acc[r]);
	}
	i8_r4_end(NT, acc, o);
}

/* q4_0/q5_0 rows4 (cpu-rows4.h), few tokens (decode): the 4 rows of group g (nb blocks a row, a
 * multiple of 4) times NT tokens into o[t][row]. A unit's 16 scales are one conversion; each row's 4
 * blocks of nibbles are one load, in the 128-bit lanes i8_ngroup gathers them into, and its fifth
 * bits two narrowing moves into the byte masks i8_ngroup tests for: the same codes and scales, then
 * i8_ngroup_dot, so the sums are the rows layout's bit for bit. */
I8_FN void i8_r4ntile(int q5, int NT, const uint8_t *g, long nb, const uint8_t *a0, long tstride, float o[4][4],
		      const uint8_t **next)
{
	const size_t ub = q5 ? 352 : 288;
	const __m512i f = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
	const __m512i lane4 = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
								   14, 15), 2);
	__m512 acc[4][4];
	I8_UNROLL for (int r = 0; r < 4; r++)
		I8_UNROLL for (int i = 0; i < NT; i++)
			acc[r][i] = _mm512_setzero_ps();
	for (long u = 0; u < nb / 4; u++) {
		const uint8_t *gu = g + (size_t)u * ub;
		i8_prefetch(next, gu + I8_PF + ub);
		__m512 d16 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)gu));
		I8_UNROLL for (int r = 0; r < 4; r++) {
			__m512i v = _mm512_loadu_si512(gu + (q5 ? 96 : 32) + 64 * r);
			__m512i lo = _mm512_and_si512(v, f), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), f);
			if (q5) {
				__m128i qh = _mm_loadu_si128((const __m128i *)(const void *)(gu + 32 + 16 * r));
				__mmask64 mlo = (__mmask64)_mm_cvtsi128_si64(_mm_cvtepi32_epi16(qh));
				__mmask64 mhi = (__mmask64)_mm_cvtsi128_si64(_mm_cvtepi32_epi16(_mm_srli_epi32(qh, 16)));
				lo = _mm512_mask_add_epi8(lo, mlo, lo, sixteen);
				hi = _mm512_mask_add_epi8(hi, mhi, hi, sixteen);
			}
			__m512 d = _mm512_permutexvar_ps(_mm512_add_epi32(lane4, _mm512_set1_epi32(4 * r)), d16);
			i8_ngroup_dot(NT, a0, tstride, u, lo, hi, d, acc[r]);
		}
	}
	i8_r4_end(NT, acc, o);
}

/* The rows4 decode tile of type t (Q8_0, Q4_K, Q5_K, Q6_K, Q4_0, Q5_0) for the group at g */
I8_FN void i8_r4any(enum ds_dtype t, int NT, const uint8_t *g, long k, const uint8_t *a, long tstride, float o[4][4],
		    const uint8_t **next)
{
	if (t == DS_Q8_0)
		i8_r4tile_q8_0(NT, g, k / 32, a, tstride, o, next);
	else if (t == DS_Q6_K)
		i8_r4tile_q6(NT, g, k / 256, a, tstride, o, next);
	else if (t == DS_Q4_0 || t == DS_Q5_0)
		i8_r4ntile(t == DS_Q5_0, NT, g, k / 32, a, tstride, o, next);
	else
		i8_r4ktile(t == DS_Q5_K, NT, g, k / 256, a, tstride, o, next);
}

/* rows [r0, r1) of a rows4 w of type t for n (few) tokens: groups of 4 rows in order, each for every
 * group of up to 4 tokens while its bytes are in L1; rows of a group outside [r0, r1) are not stored */
I8_FN void i8_rows4_dec(const struct ds_tensor *w, enum ds_dtype t, long r0, long r1, const uint8_t *aq,
			long tstride, int n, float *y, long ldy)
{
	long k = (long)w->cols;
	size_t gb = 4 * ds_row_bytes(t, w->cols);
	const uint8_t *base = w->data, *next = base + (size_t)(r0 / 4) * gb;
	i8_prefetch_start(next, base + (size_t)((r1 + 3) / 4) * gb);
	next += I8_PF;
	for (long g = r0 / 4; g * 4 < r1; g++) {
		const uint8_t *gp = base + (size_t)g * gb;
		for (int i = 0; i < n; i += 4) {
			int nt = n - i < 4 ? n - i : 4;
			const uint8_t *a = aq + (long)i * tstride;
			float o[4][4];
			switch (nt) {
			case 1: i8_r4any(t, 1, gp, k, a, tstride, o, &next); break;
			case 2: i8_r4any(t, 2, gp, k, a, tstride, o, &next); break;
			case 3: i8_r4any(t, 3, gp, k, a, tstride, o, &next); break;
			default: i8_r4any(t, 4, gp, k, a, tstride, o, &next); break;
			}
			for (int j = 0; j < nt; j++)
				for (int r = 0; r < 4; r++)
					if (g * 4 + r >= r0 && g * 4 + r < r1)
						y[(long)(i + j) * ldy + g * 4 + r] = o[j][r];
		}
	}
}

/* The q4_0/q5_0 decode tile's loop over groups of 4 blocks, GATHER(b, nblk, &lo, &hi, &d) reading
 * each group's codes and scales (a macro: the VBMI form's gathering needs its own target) */
#define I8_NTILE_LOOP(GATHER) do { \
	const size_t bb_ = q5 ? 22 : 18; \
	const long nb_ = k / 32; \
	__m512 acc_[4]; \
	const uint8_t *next_ = w + I8_PF; \
	I8_UNROLL for (int i_ = 0; i_ < NT; i_++) \
		acc_[i_] = _mm512_setzero_ps(); \
	i8_prefetch(&next_, w + (size_t)nb_ * bb_ + I8_PF); \
	for (long g_ = 0; g_ * 4 < nb_; g_++) { \
		const uint8_t *b_ = w + (size_t)g_ * 4 * bb_; \
		__m512i lo_, hi_; \
		__m512 d_; \
		GATHER(b_, nb_ - g_ * 4 < 4 ? (int)(nb_ - g_ * 4) : 4, &lo_, &hi_, &d_); \
		i8_ngroup_dot(NT, a0, tstride, g_, lo_, hi_, d_, acc_); \
	} \
	I8_UNROLL for (int i_ = 0; i_ < NT; i_++) \
		out[(long)i_ * ldo] = _mm512_reduce_add_ps(acc_[i_]); \
} while (0)

#define I8_NGROUP(b, nblk, lo, hi, d) i8_ngroup(q5, b, nblk, lo, hi, d)

I8_FN void i8_ntile(int q5, int NT, const uint8_t *w, long k, const uint8_t *a0, long tstride, float *out,
		    long ldo)
{
	I8_NTILE_LOOP(I8_NGROUP);
}

/* ---- q4_0/q5_0 decode with AVX-512 VBMI (byte permutes across two registers) ----
 *
 * The scalar gathering of i8_ngroup (4 scale loads, 4 qh loads, shifts and ors, 4 inserts) was most
 * of the q5_0 tile's instructions. With vpermi2b the group's 88 (72) bytes, in two registers, give
 * the four blocks' nibbles, their qh bytes spread for the bit tests, and their scales in one permute
 * each. The codes, scales and sums are those of i8_ngroup, so the results are the same bit for bit
 * (tests/test-int8-kernels compares the two). A CPU with VNNI but not VBMI (Cascade Lake) keeps
 * i8_ngroup; DSCODER_INT8_VBMI=0 does too (for comparisons). */
#define I8V_TARGET I8_TARGET ",avx512vbmi"
#define I8V_FN static inline __attribute__((always_inline, target(I8V_TARGET)))
#define I8V_API static __attribute__((target(I8V_TARGET)))

/* The byte permutes' indices into the 128 bytes at a group (two registers), for q4_0 [0] and q5_0
 * [1]: the 16 nibble bytes of block j into 128-bit lane j; its qh bytes 0-1 and 2-3, each spread
 * over 8 bytes of the lane (q5_0); the 4 blocks' scales as the first 4 words. Filled once
 * (cpu_kernels_int8_vbmi). */
static uint8_t i8v_qs[2][64], i8v_qh_lo[2][64], i8v_qh_hi[2][64];
static uint16_t i8v_d[2][32];

static void i8v_tables(void)
{
	for (int q5 = 0; q5 < 2; q5++) {
		const int bb = q5 ? 22 : 18, qs = q5 ? 6 : 2;
		for (int j = 0; j < 4; j++)
			for (int i = 0; i < 16; i++) {
				i8v_qs[q5][16 * j + i] = (uint8_t)(bb * j + qs + i);
				i8v_qh_lo[q5][16 * j + i] = (uint8_t)(bb * j + 2 + i / 8);
				i8v_qh_hi[q5][16 * j + i] = (uint8_t)(bb * j + 4 + i / 8);
			}
		for (int i = 0; i < 32; i++)
			i8v_d[q5][i] = (uint16_t)(i < 4 ? bb / 2 * i : 0);
	}
}

/* A whole group of 4 blocks at b, as i8_ngroup gives it; ix: the type's 4 index vectors */
I8V_FN void i8_ngroup_vbmi(int q5, const uint8_t *b, const __m512i *ix, __m512i *lo, __m512i *hi, __m512 *d)
{
	const __m512i f = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
	const __m512i lane4 = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
								   14, 15), 2);
	__m512i z0 = _mm512_loadu_si512(b);
	__m512i z1 = _mm512_maskz_loadu_epi8(q5 ? 0xffffffull : 0xffull, b + 64);   /* to byte 87 (71) */
	__m512i v = _mm512_permutex2var_epi8(z0, ix[0], z1);
	*lo = _mm512_and_si512(v, f);
	*hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), f);
	if (q5) {
		const __m512i bitsel = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 1, 2,
									     4, 8, 16, 32, 64, (char)128));
		__mmask64 mlo = _mm512_test_epi8_mask(_mm512_permutex2var_epi8(z0, ix[1], z1), bitsel);
		__mmask64 mhi = _mm512_test_epi8_mask(_mm512_permutex2var_epi8(z0, ix[2], z1), bitsel);
		*lo = _mm512_mask_add_epi8(*lo, mlo, *lo, sixteen);
		*hi = _mm512_mask_add_epi8(*hi, mhi, *hi, sixteen);
	}
	__m512i dw = _mm512_permutex2var_epi16(z0, ix[3], z1);
	*d = _mm512_permutexvar_ps(lane4, _mm512_castps128_ps512(_mm_cvtph_ps(_mm512_castsi512_si128(dw))));
}

/* a whole group by permutes, a row's short last group as i8_ngroup does it */
#define I8_NGROUP_VBMI(b, nblk, lo, hi, d) do { \
	if ((nblk) == 4) \
		i8_ngroup_vbmi(q5, b, ix, lo, hi, d); \
	else \
		i8_ngroup(q5, b, nblk, lo, hi, d); \
} while (0)

I8V_FN void i8_ntile_vbmi(int q5, int NT, const uint8_t *w, long k, const uint8_t *a0, long tstride, float *out,
			  long ldo)
{
	const __m512i ix[4] = { _mm512_loadu_si512(i8v_qs[q5]), _mm512_loadu_si512(i8v_qh_lo[q5]),
				_mm512_loadu_si512(i8v_qh_hi[q5]), _mm512_loadu_si512(i8v_d[q5]) };
	I8_NTILE_LOOP(I8_NGROUP_VBMI);
}

/* The decode form's tile of type t: q4_K/q5_K and q4_0/q5_0 have their own, every other type i8_tile */
I8_FN void i8_any_tile(enum ds_dtype t, int NT, const uint8_t *w, long k, const uint8_t *a0, long tstride,
		       float *out, long ldo)
{
	if (t == DS_Q4_K || t == DS_Q5_K)
		i8_ktile(t == DS_Q5_K, NT, w, k, a0, tstride, out, ldo);
	else if (t == DS_Q4_0 || t == DS_Q5_0)
		i8_ntile(t == DS_Q5_0, NT, w, k, a0, tstride, out, ldo);
	else if (t == DS_Q6_K)
		i8_q6tile(NT, w, k, a0, tstride, out, ldo);
	else
		i8_tile(t, NT, w, k, a0, tstride, out, ldo);
}

/* rows [r0, r1) of w (type t) for n (few) tokens: blocks of rows whose weights stay in cache while
 * each group of up to 4 tokens passes over them, one row at a time: one stream of weights. Two rows
 * at a time (two streams, the activations loaded once for both) were faster from cache but slower
 * from memory, where decode reads: tools/quant-bench, one thread, 128 MB, q4_K 17 -> 25 GB/s, q6_K
 * 20 -> 29, q8_0 23 -> 31; the engine on bench-q4km 91 -> 108 tokens/s (2 threads, alternating
 * runs), and batches of 2 and 4 gain as much. */
/* The loop of the decode form over rows [r0, r1) and tokens, TILE(NT, row, activations, out) for
 * each row and group of up to 4 tokens. */
#define I8_ROWS_LOOP(TILE) do { \
	long k_ = (long)w->cols; \
	size_t rb_ = ds_row_bytes(t, k_); \
	const uint8_t *base_ = w->data; \
	i8_prefetch_start(base_ + (size_t)r0 * rb_, base_ + (size_t)r1 * rb_); \
	for (long rb0_ = r0; rb0_ < r1; rb0_ += I8_ROWBLOCK) { \
		long rb1_ = rb0_ + I8_ROWBLOCK < r1 ? rb0_ + I8_ROWBLOCK : r1; \
		for (int i_ = 0; i_ < n; i_ += 4) { \
			int nt_ = n - i_ < 4 ? n - i_ : 4; \
			const uint8_t *a_ = aq + (long)i_ * tstride; \
			for (long r_ = rb0_; r_ < rb1_; r_++) { \
				const uint8_t *wr_ = base_ + (size_t)r_ * rb_; \
				float *o_ = y + (long)i_ * ldy + r_; \
				switch (nt_) { \
				case 1: TILE(1, wr_, k_, a_, o_); break; \
				case 2: TILE(2, wr_, k_, a_, o_); break; \
				case 3: TILE(3, wr_, k_, a_, o_); break; \
				default: TILE(4, wr_, k_, a_, o_); break; \
				} \
			} \
		} \
	} \
} while (0)

#define I8_ANY_TILE(NT, wr, k, a, o) i8_any_tile(t, NT, wr, k, a, tstride, o, ldy)
#define I8_NTILE_VBMI(NT, wr, k, a, o) i8_ntile_vbmi(t == DS_Q5_0, NT, wr, k, a, tstride, o, ldy)

I8_FN void i8_rows_t(const struct ds_tensor *w, enum ds_dtype t, long r0, long r1, const uint8_t *aq,
		     long tstride, int n, float *y, long ldy)
{
	I8_ROWS_LOOP(I8_ANY_TILE);
}

/* q4_0/q5_0 decode rows with the VBMI group gathering */
I8V_API void i8_rows_n_vbmi(const struct ds_tensor *w, enum ds_dtype t, long r0, long r1, const uint8_t *aq,
			    long tstride, int n, float *y, long ldy)
{
	I8_ROWS_LOOP(I8_NTILE_VBMI);
}

/* Whether q4_0/q5_0 decode gathers with VBMI: the CPU has it (CPUID 7.0 ECX bit 1) and
 * DSCODER_INT8_VBMI is not 0, decided once (pool threads ask concurrently), or as set by
 * cpu_kernels_int8_vbmi(0 or 1) */
static atomic_int i8_vbmi;
static pthread_once_t i8_vbmi_once = PTHREAD_ONCE_INIT;

static void i8_vbmi_init(void)
{
	i8v_tables();
	const char *e = getenv("DSCODER_INT8_VBMI");
	atomic_store(&i8_vbmi, cpu_kernels_have_avx512_vbmi() && !(e != NULL && strcmp(e, "0") == 0));
}

int cpu_kernels_int8_vbmi(int on)
{
	pthread_once(&i8_vbmi_once, i8_vbmi_init);
	if (on >= 0)
		atomic_store(&i8_vbmi, on && cpu_kernels_have_avx512_vbmi());
	return atomic_load(&i8_vbmi);
}

/* ---- prefill: rows in lanes ----
 *
 * With many tokens the form above spends 4 vector instructions per 64 products (its float work is per
 * lane of 4 weights). Here a lane is a row instead: a panel holds 32 rows' codes decoded once, each
 * vector of it 16 rows x 4 consecutive codes, and vpdpbusd with 4 activation codes broadcast sums a
 * whole block of 32 per row in one int32 lane (8 instructions for 16 rows x 32 weights); then 3 float
 * instructions apply the block's scales. Tiles of 32 rows x 6 tokens, the panel in L2 for every token. */

/* Tokens from which the panel form is used (one thread, from cache, q8_0/q4_K/q6_K: at 8 tokens the
 * fused form does 81/98/100 GMAC/s and the panel form 92/83/79, at 12 80/98/97 against 121/112/105) */
#define I8_GEMM_MIN 10
#define I8_GB 64           /* bytes per block of 32 activations: 32 codes, dx, the codes' sum, the sums
                              of the halves, dx sum (i8_quantize_blocks) */
#define I8_GR 32           /* rows per panel: two vectors of 16 */
#define I8_GT 6            /* tokens per tile */
/* Panel bytes per block of 32 columns: 8 steps x 2 vectors x 64 B of codes, then s of the first (all
 * types) and second half (q6_K: a scale per 16) of each row's block, then m (free offsets) */
#define I8_PB (1024 + 3 * I8_GR * 4)
#define I8_PB_S 1024
#define I8_PB_M (1024 + 2 * I8_GR * 4)

/* The n tokens of x as blocks of 32 in the prefill layout at buf (n * k / 32 * I8_GB bytes): the same
 * for every weight type, so that one packing serves a whole product (cpu_pack). */
I8_API void i8_quantize_blocks(const float *x, int n, long ldx, long k, uint8_t *buf)
{
	long nb = k / 32;

	for (int i = 0; i < n; i++) {
		const float *xi = x + (long)i * ldx;
		uint8_t *o = buf + (size_t)i * (size_t)nb * I8_GB;

		for (long b = 0; b < nb; b++, o += I8_GB) {
			__m512i qa, qb;
			float d = i8_round32(xi + 32 * b, &qa, &qb);
			int32_t sa = _mm512_reduce_add_epi32(qa), sb = _mm512_reduce_add_epi32(qb);
			int32_t v[3] = { sa + sb, sa, sb };
			float bs = d * (float)(sa + sb);

			i8_store16(o, qa);
			i8_store16(o + 16, qb);
			memcpy(o + 32, &d, 4);
			memcpy(o + 36, v, 12);
			memcpy(o + 48, &bs, 4);
		}
	}
}

/* r[i][j] -> r[j][i] for 16 x 16 dwords: pairs, quads, then 128-bit lanes */
I8_FN void i8_transpose16(__m512i *r)
{
	__m512i t[16], u[16];
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
	}
	/* u[i + e], lane L: rows i..i+3 of dword 4L + e */
	for (int i = 0; i < 16; i += 4) {
		u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
		u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
		u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
		u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
	}
	for (int e = 0; e < 4; e++) {
		__m512i ablo = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x88);
		__m512i abhi = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xdd);
		__m512i cdlo = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x88);
		__m512i cdhi = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xdd);
		r[e] = _mm512_shuffle_i32x4(ablo, cdlo, 0x88);
		r[4 + e] = _mm512_shuffle_i32x4(abhi, cdhi, 0x88);
		r[8 + e] = _mm512_shuffle_i32x4(ablo, cdlo, 0xdd);
		r[12 + e] = _mm512_shuffle_i32x4(abhi, cdhi, 0xdd);
	}
}

/* The 16 x 64 codes of chunk c of vector rv (u[i]: row i's), transposed into the panel's steps */
I8_FN void i8_store_chunk(__m512i *u, uint8_t *panel, long c, long nb, int rv)
{
	i8_transpose16(u);
	for (int j = 0; j < 16 && 2 * c + j / 8 < nb; j++)
		_mm512_storeu_si512(panel + (size_t)(2 * c + j / 8) * I8_PB + ((j % 8) * 2 + rv) * 64, u[j]);
}

/* Rows rt .. rt + nrows - 1 (nrows <= 32, row bytes rb from base) of w (type t) into the panel: codes
 * decoded once, 16 rows a vector; s (and q6_K's second s, and m) per row and block of 32. A rows4 w
 * gives each row's codes and scales from their places in its group, the same values. */
I8_FN void i8_pack_panel(const struct ds_tensor *w, enum ds_dtype t, const uint8_t *base, size_t rb, long rt,
			 int nrows, long nb, uint8_t *panel)
{
	const bool rows4 = w->layout == DS_LAYOUT_ROWS4;
	const int kq = t == DS_Q4_K || t == DS_Q5_K || t == DS_Q6_K;
	for (int rv = 0; rv * 16 < nrows; rv++) {
		int nr = nrows - rv * 16 < 16 ? nrows - rv * 16 : 16;
		if (kq) {
			size_t bb = t == DS_Q4_K ? 144 : t == DS_Q5_K ? 176 : 210;
			for (long sb = 0; sb < nb / 8; sb++) {
				__m512i u[4][16];
				for (int i = 0; i < 16; i++) {
					float sv[16], mv[16];
					if (i >= nr) {
						for (int j = 0; j < 4; j++)
							u[j][i] = _mm512_setzero_si512();
						continue;
					}
					long row = rt + rv * 16 + i;
					const uint8_t *b = base + (size_t)row * rb + (size_t)sb * bb;
					/* rows4: the row's super-block in its group's unit (4 blocks' bytes) */
					const uint8_t *unit = base + (size_t)(row / 4) * 4 * rb + (size_t)sb * 4 * bb;
					int ri = (int)(row % 4), q5 = t == DS_Q5_K;
					struct i8_kparts kp = rows4 ? i8_kparts_rows4(unit, q5, ri) : i8_kparts_block(b, q5);
					struct i8_q6parts q6 = rows4 ? i8_q6parts_rows4(unit, ri) : i8_q6parts_block(b);
					__m512 s8, m8;
					if (t == DS_Q6_K)
						i8_q6scales(q6, &s8, &m8);
					else
						i8_kscales(kp, &s8, &m8);
					_mm512_storeu_ps(sv, s8);
					_mm512_storeu_ps(mv, m8);
					for (int j = 0; j < 4; j++)
						u[j][i] = t == DS_Q6_K ? i8_q6codes(q6, j) : i8_kcodes(kp, q5, j);
					for (int jb = 0; jb < 8; jb++) {
						uint8_t *pb = panel + (size_t)(8 * sb + jb) * I8_PB;
						float *ps = (float *)(void *)(pb + I8_PB_S), *pm = (float *)(void *)(pb + I8_PB_M);
						ps[16 * rv + i] = t == DS_Q6_K ? sv[2 * jb] : sv[jb];
						ps[I8_GR + 16 * rv + i] = t == DS_Q6_K ? sv[2 * jb + 1] : 0;
						pm[16 * rv + i] = t == DS_Q6_K ? 0 : mv[jb];
					}
				}
				for (int j = 0; j < 4; j++)
					i8_store_chunk(u[j], panel, 4 * sb + j, nb, rv);
			}
			continue;
		}
		size_t bb = ds_dtype_get(t)->block_bytes;
		for (long c = 0; c < (nb + 1) / 2; c++) {
			__m512i u[16];
			for (int i = 0; i < 16; i++) {
				float sv[16], mv[16];
				__m512 s, m = _mm512_setzero_ps();
				if (i >= nr) {
					u[i] = _mm512_setzero_si512();
					continue;
				}
				long row = rt + rv * 16 + i;
				if (rows4 && t == DS_Q8_0) {   /* nb even: i8_chunk32's codes and scales, from the group */
					int ri;
					const uint8_t *pp = cpu_rows4_q8_0_pair(w, row, c, &ri);
					u[i] = _mm512_xor_si512(_mm512_loadu_si512(pp + 16 + 64 * ri),
								_mm512_set1_epi8((char)0x80));
					s = i8_halves(pp + 4 * ri, pp + 4 * ri + 2, 0);
				} else if (rows4) {   /* Q4_0, Q5_0 (nb a multiple of 4): i8_chunk32's, from the unit */
					int q5 = t == DS_Q5_0, h = (int)(2 * c % 4), ri = (int)(row % 4);
					const uint8_t *un = base + (size_t)(row / 4) * 4 * rb + (size_t)(2 * c / 4) * (q5 ? 352 : 288);
					__m256i uu[2];
					for (int e = 0; e < 2; e++) {
						uu[e] = i8_nib32(un + (q5 ? 96 : 32) + 64 * ri + 16 * (h + e));
						if (q5) {
							uint32_t qh;
							memcpy(&qh, un + 32 + 16 * ri + 4 * (h + e), 4);
							uu[e] = _mm256_mask_add_epi8(uu[e], (__mmask32)qh, uu[e], _mm256_set1_epi8(16));
						}
					}
					s = i8_halves(un + 8 * ri + 2 * h, un + 8 * ri + 2 * h + 2, 0);
					u[i] = _mm512_inserti64x4(_mm512_castsi256_si512(uu[0]), uu[1], 1);
				} else {
					const uint8_t *b = base + (size_t)row * rb + (size_t)(2 * c) * bb;
					u[i] = i8_chunk32(t, b, bb, 2 * c + 1 < nb, &s, &m);
				}
				_mm512_storeu_ps(sv, s);
				_mm512_storeu_ps(mv, m);
				for (int h = 0; h < 2 && 2 * c + h < nb; h++) {
					uint8_t *pb = panel + (size_t)(2 * c + h) * I8_PB;
					((float *)(void *)(pb + I8_PB_S))[16 * rv + i] = sv[8 * h];
					((float *)(void *)(pb + I8_PB_M))[16 * rv + i] = mv[8 * h];
				}
			}
			i8_store_chunk(u, panel, c, nb, rv);
		}
	}
}

/* y of the panel's rows (nrows of 32) for NT tokens at a0 (tstride apart) into out[t * ldo + row] */
I8_FN void i8_gemm_tile(enum ds_dtype t, int NT, const uint8_t *panel, long nb, const uint8_t *a0,
			long tstride, float *out, long ldo, int nrows)
{
	const int g16 = t == DS_Q6_K, c = i8_offset_mult(t);
	__m512 acc[2][I8_GT];
	I8_UNROLL for (int v = 0; v < 2; v++)
		I8_UNROLL for (int i = 0; i < NT; i++)
			acc[v][i] = _mm512_setzero_ps();

	for (long b = 0; b < nb; b++) {
		const uint8_t *pb = panel + (size_t)b * I8_PB, *ab = a0 + (size_t)b * I8_GB;
		I8_UNROLL for (int h = 0; h < 1 + g16; h++) {
			__m512i acci[2][I8_GT];
			I8_UNROLL for (int i = 0; i < NT; i++) {
				int32_t sum = 0;   /* the offsets c * sum(q), summed with the codes' products */
				if (c)
					memcpy(&sum, ab + (long)i * tstride + (g16 ? 40 + 4 * h : 36), 4);
				acci[0][i] = acci[1][i] = _mm512_set1_epi32(c * sum);
			}
/* step j: 16 rows x 4 codes of each vector times 4 codes of each token */
#define I8_GSTEP(j) do { \
	__m512i w0_ = _mm512_loadu_si512(pb + (j) * 128), w1_ = _mm512_loadu_si512(pb + (j) * 128 + 64); \
	I8_UNROLL for (int i_ = 0; i_ < NT; i_++) { \
		int32_t q4_; \
		memcpy(&q4_, ab + (long)i_ * tstride + 4 * (j), 4); \
		__m512i xb_ = _mm512_set1_epi32(q4_); \
		acci[0][i_] = _mm512_dpbusd_epi32(acci[0][i_], w0_, xb_); \
		acci[1][i_] = _mm512_dpbusd_epi32(acci[1][i_], w1_, xb_); \
	} \
} while (0)
			if (g16) {
				I8_UNROLL for (int jj = 0; jj < 4; jj++)
					I8_GSTEP(4 * h + jj);
			} else {
				I8_UNROLL for (int jj = 0; jj < 8; jj++)
					I8_GSTEP(jj);
			}
#undef I8_GSTEP
			__m512 s0 = _mm512_loadu_ps(pb + I8_PB_S + h * I8_GR * 4);
			__m512 s1 = _mm512_loadu_ps(pb + I8_PB_S + h * I8_GR * 4 + 64);
			I8_UNROLL for (int i = 0; i < NT; i++) {
				float d;
				memcpy(&d, ab + (long)i * tstride + 32, 4);
				__m512 dx = _mm512_set1_ps(d);
				acc[0][i] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acci[0][i]), s0), dx, acc[0][i]);
				acc[1][i] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acci[1][i]), s1), dx, acc[1][i]);
			}
		}
		if (!c) {
			__m512 m0 = _mm512_loadu_ps(pb + I8_PB_M), m1 = _mm512_loadu_ps(pb + I8_PB_M + 64);
			I8_UNROLL for (int i = 0; i < NT; i++) {
				float bs;
				memcpy(&bs, ab + (long)i * tstride + 48, 4);
				acc[0][i] = _mm512_fmadd_ps(m0, _mm512_set1_ps(bs), acc[0][i]);
				acc[1][i] = _mm512_fmadd_ps(m1, _mm512_set1_ps(bs), acc[1][i]);
			}
		}
	}
	__mmask16 k0 = nrows >= 16 ? 0xffff : (__mmask16)((1u << nrows) - 1);
	__mmask16 k1 = nrows >= 32 ? 0xffff : nrows <= 16 ? 0 : (__mmask16)((1u << (nrows - 16)) - 1);
	I8_UNROLL for (int i = 0; i < NT; i++) {
		_mm512_mask_storeu_ps(out + (long)i * ldo, k0, acc[0][i]);
		_mm512_mask_storeu_ps(out + (long)i * ldo + 16, k1, acc[1][i]);
	}
}

/* rows [r0, r1) of w (type t) for n tokens quantized at aq (tstride apart): panels of 32 rows, each
 * decoded once for all n tokens */
I8_FN void i8_gemm_t(const struct ds_tensor *w, enum ds_dtype t, long r0, long r1, const uint8_t *aq,
		     long tstride, int n, float *y, long ldy)
{
	long k = (long)w->cols, nb = k / 32;
	size_t rb = ds_row_bytes(t, k), need = (size_t)nb * I8_PB;
	const uint8_t *base = w->data;
	uint8_t *panel = cpu_scratch(CPU_SCRATCH_I8_PANEL, need);

	for (long rt = r0; rt < r1; rt += I8_GR) {
		int nrows = r1 - rt < I8_GR ? (int)(r1 - rt) : I8_GR;
		if (nrows < I8_GR)
			memset(panel, 0, need);
		i8_pack_panel(w, t, base, rb, rt, nrows, nb, panel);
		for (int i = 0; i < n; i += I8_GT) {
			int nt = n - i < I8_GT ? n - i : I8_GT;
			const uint8_t *a = aq + (long)i * tstride;
			float *o = y + (long)i * ldy + rt;
			switch (nt) {
			case 1: i8_gemm_tile(t, 1, panel, nb, a, tstride, o, ldy, nrows); break;
			case 2: i8_gemm_tile(t, 2, panel, nb, a, tstride, o, ldy, nrows); break;
			case 3: i8_gemm_tile(t, 3, panel, nb, a, tstride, o, ldy, nrows); break;
			case 4: i8_gemm_tile(t, 4, panel, nb, a, tstride, o, ldy, nrows); break;
			case 5: i8_gemm_tile(t, 5, panel, nb, a, tstride, o, ldy, nrows); break;
			default: i8_gemm_tile(t, I8_GT, panel, nb, a, tstride, o, ldy, nrows); break;
			}
		}
	}
}

I8_API void i8_rows_q8_0(const struct ds_tensor *w, long r0, long r1, const uint8_t *a, long ts, int n,
			 float *y, long ldy)
{
	if (ts == 0)
		i8_gemm_t(w, DS_Q8_0, r0, r1, a, (long)w->cols / 32 * I8_GB, n, y, ldy);
	else if (w->layout == DS_LAYOUT_ROWS4)
		i8_rows4_dec(w, DS_Q8_0, r0, r1, a, ts, n, y, ldy);
	else
		i8_rows_t(w, DS_Q8_0, r0, r1, a, ts, n, y, ldy);
}

I8_API void i8_rows_q4_0(const struct ds_tensor *w, long r0, long r1, const uint8_t *a, long ts, int n,
			 float *y, long ldy)
{
	if (ts == 0)
		i8_gemm_t(w, DS_Q4_0, r0, r1, a, (long)w->cols / 32 * I8_GB, n, y, ldy);
	else if (w->layout == DS_LAYOUT_ROWS4)
		i8_rows4_dec(w, DS_Q4_0, r0, r1, a, ts, n, y, ldy);
	else if (cpu_kernels_int8_vbmi(-1))
		i8_rows_n_vbmi(w, DS_Q4_0, r0, r1, a, ts, n, y, ldy);
	else
		i8_rows_t(w, DS_Q4_0, r0, r1, a, ts, n, y, ldy);
}

I8_API void i8_rows_q4_1(const struct ds_tensor *w, long r0, long r1, const uint8_t *a, long ts, int n,
			 float *y, long ldy)
{
	if (ts == 0)
		i8_gemm_t(w, DS_Q4_1, r0, r1, a, (long)w->cols / 32 * I8_GB, n, y, ldy);
	else
		i8_rows_t(w, DS_Q4_1, r0, r1, a, ts, n, y, ldy);
}

I8_API void i8_rows_q5_0(const struct ds_tensor *w, long r0, long r1, const uint8_t *a, long ts, int n,
			 float *y, long ldy)
{
	if (ts == 0)
		i8_gemm_t(w, DS_Q5_0, r0, r1, a, (long)w->cols / 32 * I8_GB, n, y, ldy);
	else if (w->layout == DS_LAYOUT_ROWS4)
		i8_rows4_dec(w, DS_Q5_0, r0, r1, a, ts, n, y, ldy);
	else if (cpu_kernels_int8_vbmi(-1))
		i8_rows_n_vbmi(w, DS_Q5_0, r0, r1, a, ts, n, y, ldy);
	else
		i8_rows_t(w, DS_Q5_0, r0, r1, a, ts, n, y, ldy);
}

I8_API void i8_rows_q5_1(const struct ds_tensor *w, long r0, long r1, const uint8_t *a, long ts, int n,
			 float *y, long ldy)
{
	if (ts == 0)
		i8_gemm_t(w, DS_Q5_1, r0, r1, a, (long)w->cols / 32 * I8_GB, n, y, ldy);
	else
		i8_rows_t(w, DS_Q5_1, r0, r1, a, ts, n, y, ldy);
}

I8_API void i8_rows_q4_k(const struct ds_tensor *w, long r0, long r1, const uint8_t *a, long ts, int n,
			 float *y, long ldy)
{
	if (ts == 0)
		i8_gemm_t(w, DS_Q4_K, r0, r1, a, (long)w->cols / 32 * I8_GB, n, y, ldy);
	else if (w->layout == DS_LAYOUT_ROWS4)
		i8_rows4_dec(w, DS_Q4_K, r0, r1, a, ts, n, y, ldy);
	else
		i8_rows_t(w, DS_Q4_K, r0, r1, a, ts, n, y, ldy);
}

I8_API void i8_rows_q5_k(const struct ds_tensor *w, long r0, long r1, const uint8_t *a, long ts, int n,
			 float *y, long ldy)
{
	if (ts == 0)
		i8_gemm_t(w, DS_Q5_K, r0, r1, a, (long)w->cols / 32 * I8_GB, n, y, ldy);
	else if (w->layout == DS_LAYOUT_ROWS4)
		i8_rows4_dec(w, DS_Q5_K, r0, r1, a, ts, n, y, ldy);
	else
		i8_rows_t(w, DS_Q5_K, r0, r1, a, ts, n, y, ldy);
}

I8_API void i8_rows_q6_k(const struct ds_tensor *w, long r0, long r1, const uint8_t *a, long ts, int n,
			 float *y, long ldy)
{
	if (ts == 0)
		i8_gemm_t(w, DS_Q6_K, r0, r1, a, (long)w->cols / 32 * I8_GB, n, y, ldy);
	else if (w->layout == DS_LAYOUT_ROWS4)
		i8_rows4_dec(w, DS_Q6_K, r0, r1, a, ts, n, y, ldy);
	else
		i8_rows_t(w, DS_Q6_K, r0, r1, a, ts, n, y, ldy);
}

/* Bytes per token of the decode form's activations for weights of type t, k columns */
static long i8_dec_stride(enum ds_dtype t, long k)
{
	switch (t) {
	case DS_Q4_K: case DS_Q5_K: case DS_Q6_K: return k / 256 * I8_KSB;
	case DS_Q4_0: case DS_Q5_0: return (k + 127) / 128 * I8_NSB;
	default: return (k + 63) / 64 * I8_CHUNK;
	}
}

/* Every block-quantized type packs from one token on: the activations are rounded to int8 once per
 * product (cpu_pack), not once per row block. Float weights never (their rows() is the AVX-512
 * set's, which packs for itself). */
static int i8_packed_from(enum ds_dtype t)
{
	return ds_dtype_is_quantized(t) ? 1 : INT_MAX;
}

static size_t i8_pack_floats(enum ds_dtype t, int n, long k)
{
	size_t per_token = n >= I8_GEMM_MIN ? (size_t)(k / 32) * I8_GB : (size_t)i8_dec_stride(t, k);
	size_t bytes = (size_t)n * per_token;
	return (bytes + sizeof(float) - 1) / sizeof(float);
}

/* n tokens from I8_GEMM_MIN on: the prefill layout (i8_quantize_blocks); fewer: the decode layout of
 * the type */
static void i8_pack(enum ds_dtype t, const float *x, int n, long ldx, long k, float *xp)
{
	uint8_t *o = (uint8_t *)xp;
	int c = i8_offset_mult(t);

	if (n >= I8_GEMM_MIN)
		i8_quantize_blocks(x, n, ldx, k, o);
	else if (t == DS_Q4_K || t == DS_Q5_K)
		i8_quantize_k(x, n, ldx, k, 0, o);
	else if (t == DS_Q6_K)
		i8_quantize_k(x, n, ldx, k, 1, o);
	else if (t == DS_Q4_0 || t == DS_Q5_0)
		i8_quantize_n(x, n, ldx, k, (float)c, o);
	else
		i8_quantize(x, n, ldx, k, c ? (float)c : 1.0f, o);
}

static void i8_rows_packed(const struct ds_tensor *w, long r0, long r1, const float *xp, int n, float *y,
			   long ldy)
{
	void (*f)(const struct ds_tensor *, long, long, const uint8_t *, long, int, float *, long);

	switch (w->dtype) {
	case DS_Q8_0: f = i8_rows_q8_0; break;
	case DS_Q4_0: f = i8_rows_q4_0; break;
	case DS_Q4_1: f = i8_rows_q4_1; break;
	case DS_Q5_0: f = i8_rows_q5_0; break;
	case DS_Q5_1: f = i8_rows_q5_1; break;
	case DS_Q4_K: f = i8_rows_q4_k; break;
	case DS_Q5_K: f = i8_rows_q5_k; break;
	default: f = i8_rows_q6_k; break;   /* i8_packed_from: only quantized types are packed */
	}
	/* ts 0: the prefill layout */
	long ts = n >= I8_GEMM_MIN ? 0 : i8_dec_stride(w->dtype, (long)w->cols);
	if (r0 < r1 && n > 0)
		f(w, r0, r1, (const uint8_t *)xp, ts, n, y, ldy);
}

/* Unpacked: packed here into a buffer of this thread, kept for its next call */
static void i8_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx, float *y,
		    long ldy)
{
	if (!ds_dtype_is_quantized(w->dtype)) {
		cpu_kernels_avx512.rows(w, r0, r1, x, n, ldx, y, ldy);
		return;
	}
	if (r0 >= r1 || n <= 0)
		return;
	float *buf = cpu_scratch(CPU_SCRATCH_I8_ACT, i8_pack_floats(w->dtype, n, (long)w->cols) *
				 sizeof(float));
	i8_pack(w->dtype, x, n, ldx, (long)w->cols, buf);
	i8_rows_packed(w, r0, r1, buf, n, y, ldy);
}

static void i8_axpy_row(float *y, float a, const struct ds_tensor *w, long row)
{
	cpu_kernels_avx512.axpy_row(y, a, w, row);
}

static float i8_dot(const float *a, const float *b, long n)
{
	return cpu_kernels_avx512.dot(a, b, n);
}

static void i8_axpy(float *y, float a, const float *x, long n)
{
	cpu_kernels_avx512.axpy(y, a, x, n);
}

static void i8_pv(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int n, int m,
		  long kdim)
{
	cpu_kernels_avx512.pv(o, ldo, p, ldp, v, ldv, n, m, kdim);
}

static void i8_silu_mul(float *g, const float *u, long n)
{
	cpu_kernels_avx512.silu_mul(g, u, n);
}

static float i8_exp_sum(float *s, long n, float max)
{
	return cpu_kernels_avx512.exp_sum(s, n, max);
}

/* ---- decode attention's absorb from a uk4 table (cpu-uk4.h) ---- */

/* Bytes ahead of the codes it reads that the absorb asks for: the table is read from start to end,
 * the heads of a layer one after another, and comes from memory in decode */
#ifndef I8_UK4_PF
#define I8_UK4_PF 2048
#endif

/* Sixteen rows' (j .. j + 15) scale or min of sub-block sb of the block whose scale planes are pl:
 * ds_k_scales8 on sixteen rows at once */
I8_FN __m512 i8_uk4_scale(const uint8_t *pl, int nope, int sb, int j, int min)
{
#define I8_PL(i) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(pl + (size_t)(i) * nope + j)))
	const __m512i m6 = _mm512_set1_epi32(63), m4 = _mm512_set1_epi32(15);
	__m512i v;
	if (sb < 4)
		v = _mm512_and_si512(I8_PL(min ? sb + 4 : sb), m6);
	else if (!min)
		v = _mm512_or_si512(_mm512_and_si512(I8_PL(sb + 4), m4),
				    _mm512_slli_epi32(_mm512_srli_epi32(I8_PL(sb - 4), 6), 4));
	else
		v = _mm512_or_si512(_mm512_srli_epi32(I8_PL(sb + 4), 4),
				    _mm512_slli_epi32(_mm512_srli_epi32(I8_PL(sb), 6), 4));
#undef I8_PL
	return _mm512_cvtepi32_ps(v);
}

/* cpu_uk4_absorb_ref's sums, the same roundings (bit for bit): per sub-block, the rows' weights
 * q_j d_j sc_j rounded to 15 bits and split into two int8 halves, then 32 rows at a time two 64-byte
 * units of codes against both halves (vpdpbusd: 4 rows per lane), in two sets of accumulators so
 * that the chains of vpdpbusd overlap. */
I8_API void i8_absorb_uk4(float *y, const float *q, float scale, const uint8_t *t, int nope, long kv_rank)
{
	const __m512i nib = _mm512_set1_epi8(15), half = _mm512_set1_epi32(64);
	const __m512 sign = _mm512_set1_ps(-0.0f);
	float w[nope] __attribute__((aligned(64)));
	int8_t e_hi[nope] __attribute__((aligned(64))), e_lo[nope] __attribute__((aligned(64)));

	for (long s = 0; s < kv_rank / 32; s++) {
		const int sb = (int)(s % 8);
		const struct cpu_uk4_block tb = cpu_uk4_block(t, nope, s / 8);
		const uint8_t *dd = tb.d, *dm = tb.dmin, *pl = tb.scales;
		const uint8_t *u = tb.codes + (size_t)sb * (nope / 4) * 64;
		__m512 vmax = _mm512_setzero_ps(), lanes = _mm512_setzero_ps();
		for (int j = 0; j < nope; j += 16) {
			__m512 qv = _mm512_loadu_ps(q + j);
			__m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(dd + 2 * j)));
			__m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(dm + 2 * j)));
			__m512 wv = _mm512_mul_ps(qv, _mm512_mul_ps(d, i8_uk4_scale(pl, nope, sb, j, 0)));
			__m512 mv = _mm512_mul_ps(dmin, i8_uk4_scale(pl, nope, sb, j, 1));
			__asm__("" : "+v"(mv));  /* (fmaf's operand, rounded) */
			lanes = _mm512_fmadd_ps(qv, mv, lanes);
			vmax = _mm512_max_ps(vmax, _mm512_andnot_ps(sign, wv));
			_mm512_store_ps(w + j, wv);
		}
		float lane[16], mins = 0;
		_mm512_storeu_ps(lane, lanes);
		for (int i = 0; i < 16; i++)
			mins += lane[i];
		const float max = _mm512_reduce_max_ps(vmax);
		const float inv = max > 0 ? (float)CPU_UK4_EMAX / max : 0, unit = max / (float)CPU_UK4_EMAX;
		const __m512 vinv = _mm512_set1_ps(inv);
		for (int j = 0; j < nope; j += 16) {
			__m512i e = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_load_ps(w + j), vinv));
			__m512i hi = _mm512_srai_epi32(_mm512_add_epi32(e, half), 7);
			_mm_store_si128((__m128i *)(void *)(e_hi + j), _mm512_cvtepi32_epi8(hi));
			_mm_store_si128((__m128i *)(void *)(e_lo + j),
					_mm512_cvtepi32_epi8(_mm512_sub_epi32(e, _mm512_slli_epi32(hi, 7))));
		}
		/* sets 0 and 1: low-nibble (columns c) and high-nibble (c + 16) sums against e_hi and e_lo */
		__m512i acc[2][4];
		for (int k = 0; k < 2; k++)
			for (int i = 0; i < 4; i++)
				acc[k][i] = _mm512_setzero_si512();
		for (int g = 0; g < nope / 4; g += 2) {
#pragma GCC unroll 2
			for (int k = 0; k < 2; k++) {
				const uint8_t *unit_p = u + (size_t)(g + k) * 64;
				_mm_prefetch((const char *)unit_p + I8_UK4_PF, _MM_HINT_T0);
				__m512i z = _mm512_load_si512((const void *)unit_p);
				__m512i lo = _mm512_and_si512(z, nib), hn = _mm512_and_si512(_mm512_srli_epi16(z, 4), nib);
				int32_t eh, el;
				memcpy(&eh, e_hi + 4 * (g + k), 4);
				memcpy(&el, e_lo + 4 * (g + k), 4);
				__m512i vh = _mm512_set1_epi32(eh), vl = _mm512_set1_epi32(el);
				acc[k][0] = _mm512_dpbusd_epi32(acc[k][0], lo, vh);
				acc[k][1] = _mm512_dpbusd_epi32(acc[k][1], hn, vh);
				acc[k][2] = _mm512_dpbusd_epi32(acc[k][2], lo, vl);
				acc[k][3] = _mm512_dpbusd_epi32(acc[k][3], hn, vl);
			}
		}
		const __m512 vunit = _mm512_set1_ps(unit), vmins = _mm512_set1_ps(mins), vscale = _mm512_set1_ps(scale);
		for (int h = 0; h < 2; h++) {
			__m512i hi = _mm512_add_epi32(acc[0][h], acc[1][h]), lo = _mm512_add_epi32(acc[0][2 + h], acc[1][2 + h]);
			__m512 v = _mm512_mul_ps(vunit, _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_slli_epi32(hi, 7), lo)));
			__asm__("" : "+v"(v));   /* rounded before the difference, as the reference */
			_mm512_storeu_ps(y + 32 * s + 16 * h, _mm512_mul_ps(vscale, _mm512_sub_ps(v, vmins)));
		}
	}
}

/* Q8_0, Q4_K, Q5_K, Q6_K, Q4_0 and Q5_0 matrices in rows4 (cpu-rows4.h): decode 4 rows at a time
 * (i8_r4tile_q8_0, i8_r4ktile, i8_r4tile_q6, i8_r4ntile), prefill panels gathered from the groups */
static bool i8_rows4(enum ds_dtype t)
{
	return t == DS_Q8_0 || t == DS_Q4_K || t == DS_Q5_K || t == DS_Q6_K || t == DS_Q4_0 || t == DS_Q5_0;
}

const struct cpu_kernels cpu_kernels_avx512_int8 = {
	.name = "AVX-512 VNNI int8",
	.rounds_activations = true,
	.rows = i8_rows,
	.packed_from = i8_packed_from,
	.pack_floats = i8_pack_floats,
	.pack = i8_pack,
	.rows_packed = i8_rows_packed,
	.rows4 = i8_rows4,
	.absorb_uk4 = i8_absorb_uk4,
	.axpy_row = i8_axpy_row,
	.dot = i8_dot,
	.axpy = i8_axpy,
	.pv = i8_pv,
	.exp_sum = i8_exp_sum,
	.silu_mul = i8_silu_mul,
};

#else

int cpu_kernels_int8_vbmi(int on)
{
	(void)on;
	return 0;
}

#endif

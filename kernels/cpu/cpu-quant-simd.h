/* cpu-quant-simd.h: the block-quantized kernels (q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K) written once over a
 * float vector of QV_W lanes and included by each SIMD set: cpu-kernels-avx2.c (8 lanes) and
 * cpu-kernels-avx512.c (16 lanes). The includer defines QV_W, QV_TARGET (the target attribute) and
 * QV(name) (its prefix for the exported entry points).
 *
 * Activations stay F32; weights are widened to F32 in registers, never rounded below the format's
 * own values, so a product is as exact as an F32 product of the dequantized matrix:
 * - few tokens (decode, n < QV_FUSED_MAX): a fused decode+dot per row and up to 4 tokens, no row
 *   buffer (more tokens: rows in blocks of 16, reread from cache by each 4 tokens). The block's
 *   scales are factored out of each sub-block's sum (q8_0/q4_0/q4_K/q5_K: d*sc * sum(q x) -
 *   dmin*m * sum(x), with sum(x) per 32 activations computed once per call), q6_K multiplies each
 *   16 weights by their scale (its scales change every 16). Rows are contiguous, so each thread reads
 *   one stream, prefetched ahead. With 8 lanes, q4_1/q5_0/q5_1/q5_K/q6_K codes are widened in lane
 *   order against activations permuted to match (qv8_*, below), and q4_K, q5_K, q6_K, q4_1, q5_0 and
 *   q5_1 codes are taken as subnormal floats where the CPU multiplies those at full speed (qv8s_*; with
 *   16 lanes, qv16_*).
 * - many tokens (prefill): 4 rows x QV_KC columns decoded to the format's values in an L1 buffer,
 *   then tiles of 4 rows x QV_TT tokens of F32 FMAs; each weight is decoded once per token group
 *   (tokens whose activations fit in L2).
 * Both forms agree with exact math on the dequantized weights within F32 rounding of the sums
 * (tests/test-quant-kernels.c states the bound). */

#include <immintrin.h>
#include <math.h>

#include "cpu-scratch.h"

#define QV_FN static inline __attribute__((always_inline, target(QV_TARGET)))
#define QV_API static __attribute__((target(QV_TARGET)))

/* From this many tokens on, decode to L1 and multiply as F32 tiles (measured with tools/quant-bench:
 * with 16 ymm registers the AVX2 tiles are no faster than the fused form until about 64 tokens. The
 * AVX-512 tiles of 4 x 6 won from about 8-16 tokens over the widening fused form; over the fused form
 * with subnormal codes they do not: one thread, a 1408 x 2048 Q8_0 expert's gate, up and down, 12-15
 * tokens: 56-63 GFLOP/s against 108-114, so they serve only matrices too small for cpu-gemm-simd.h) */
#ifndef QV_FUSED_MAX
#if QV_W == 8
#define QV_FUSED_MAX 48
#else
#define QV_FUSED_MAX 16
#endif
#endif
#define QV_RB 16           /* rows per block of the fused form, reused from cache by each 4 tokens */
#define QV_KC 1024         /* columns decoded per row tile: 4 x 1024 floats = 16 KB */
#ifndef QV_PF
/* bytes of prefetch ahead of the block being read (decode). tools/quant-bench, q8_0 on one thread:
 * 768: 18-20 GB/s per CPU-second, 2048: 20-23, 4096: 25. Engine, lite4 Q4_K_M on Zen 5, 2 threads,
 * exact decode's fraction of the bandwidth: 1536: 0.49-0.52, 3072: 0.53-0.54, 6144: 0.54-0.57,
 * 9216 and 16384: 0.55-0.57 (a non-temporal hint: the same) */
#define QV_PF 6144
#endif
#define QV_XGROUP (512L * 1024)   /* bytes of activations kept in L2 by the prefill tiles */

#if QV_W == 8
typedef __m256 qv_f;
#define qv_zero() _mm256_setzero_ps()
#define qv_set1(a) _mm256_set1_ps(a)
#define qv_load(p) _mm256_loadu_ps(p)
#define qv_store(p, v) _mm256_storeu_ps((p), (v))
#define qv_fma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define qv_mul(a, b) _mm256_mul_ps((a), (b))
#define qv_sub(a, b) _mm256_sub_ps((a), (b))
#define qv_add(a, b) _mm256_add_ps((a), (b))
/* QV_W bytes at p, in the low lanes of an SSE register */
#define qv_bytes(p) _mm_loadl_epi64((const __m128i *)(const void *)(p))
#define qv_u8(b) _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b))
#define qv_i8(b) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b))
/* QV_W BF16 or F16 values at p, widened */
#define qv_bf16(p) _mm256_castsi256_ps(_mm256_slli_epi32( \
	_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16))
#define qv_f16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
QV_FN float qv_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}
#elif QV_W == 16
typedef __m512 qv_f;
#define qv_zero() _mm512_setzero_ps()
#define qv_set1(a) _mm512_set1_ps(a)
#define qv_load(p) _mm512_loadu_ps(p)
#define qv_store(p, v) _mm512_storeu_ps((p), (v))
#define qv_fma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define qv_mul(a, b) _mm512_mul_ps((a), (b))
#define qv_sub(a, b) _mm512_sub_ps((a), (b))
#define qv_add(a, b) _mm512_add_ps((a), (b))
#define qv_bytes(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define qv_u8(b) _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b))
#define qv_i8(b) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b))
#define qv_bf16(p) _mm512_castsi512_ps(_mm512_slli_epi32( \
	_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))), 16))
#define qv_f16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
QV_FN float qv_hsum(__m512 v)
{
	__m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
				 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}
#else
#error "QV_W must be 8 or 16"
#endif

#define QV_NV32 (32 / QV_W)   /* vectors per 32 weights */

/* v as the compiler cannot see into: keeps a product from being fused with the next subtraction,
 * so the decoders round twice, as the formats' definitions do */
#if QV_W == 8
#define QV_OPAQUE(v) __asm__("" : "+x"(v))
#else
#define QV_OPAQUE(v) __asm__("" : "+v"(v))
#endif

QV_FN float qv_h2f(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return _cvtsh_ss(h);   /* exact for every half, subnormals included */
}

QV_FN float qv_hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

QV_FN __m128i qv_lo4(__m128i b)
{
	return _mm_and_si128(b, _mm_set1_epi8(0x0f));
}

QV_FN __m128i qv_hi4(__m128i b)
{
	return _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0x0f));
}

/* QV_W bytes at p widened to 32-bit lanes once, their low and high nibbles (minus off) as floats:
 * one widening per QV_W bytes instead of one per nibble vector (qv_lo4/qv_hi4 then qv_u8), the same
 * values */
QV_FN void qv_nibbles(const uint8_t *p, int off, qv_f *lo, qv_f *hi)
{
#if QV_W == 16
	__m512i w = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
	__m512i o = _mm512_set1_epi32(off);
	*lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x0f)), o));
	*hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(w, 4), o));
#else
	__m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
	__m256i o = _mm256_set1_epi32(off);
	*lo = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x0f)), o));
	*hi = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(w, 4), o));
#endif
}

/* q plus 16 where bit k of the byte of h is set (q5_K's fifth bit): with AVX-512BW a test into a
 * mask and a masked add, else the bit shifted into place */
QV_FN __m128i qv_add_bit16(__m128i q, __m128i h, int k)
{
#if QV_W == 16
	return _mm_mask_add_epi8(q, _mm_test_epi8_mask(h, _mm_set1_epi8((char)(1 << k))), q, _mm_set1_epi8(16));
#else
	return _mm_or_si128(q, _mm_slli_epi16(_mm_and_si128(_mm_srl_epi16(h, _mm_cvtsi32_si128(k)),
							    _mm_set1_epi8(1)), 4));
#endif
}

/* 16 in the bytes of weights whose bit is set in qh (q5_0/q5_1: bit j for weight j), for the
 * weights half*16 + v*QV_W onwards, QV_W of them in the low lanes */
QV_FN __m128i qv_fifth(uint32_t qh, int half, int v)
{
	const __m128i sel = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
	const __m128i bit = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
	__m128i b = _mm_shuffle_epi8(_mm_cvtsi32_si128((int)(qh >> (16 * half))), sel);
	__m128i h = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(b, bit), bit), _mm_set1_epi8(16));
	return v == 0 ? h : _mm_srli_si128(h, 8);
}

/* A q4_K/q5_K block's eight six-bit mins (bytes 0-7) and scales (bytes 8-15) from its 12 bytes at
 * b + 4, in one register (ggml's get_scale_min_k4 for all 8 sub-blocks). The bytes as words u0-u2:
 * mins 0-3 = u1 & 0x3f.., 4-7 = (u2 >> 4) & 0x0f.. | (u1 >> 6 & 3..) << 4, scales 0-3 = u0 & 0x3f..,
 * 4-7 = u2 & 0x0f.. | (u0 >> 6 & 3..) << 4, and (u >> 6 & 3) << 4 is (u >> 2) & 0x30. (Four scalar
 * words, each moved to a vector register to convert, were a third of one token's q4_K time.) */
QV_FN __m128i qv_k_mins_scales(const uint8_t *b)
{
	const __m128i u = _mm_loadu_si128((const __m128i *)(const void *)(b + 4));   /* and 4 code bytes */
	const __m128i lo = _mm_srlv_epi32(_mm_shuffle_epi32(u, _MM_SHUFFLE(2, 0, 2, 1)), _mm_setr_epi32(0, 4, 0, 0));
	const __m128i hi = _mm_srlv_epi32(_mm_shuffle_epi32(u, _MM_SHUFFLE(0, 0, 1, 1)), _mm_setr_epi32(0, 2, 0, 2));
	return _mm_or_si128(_mm_and_si128(lo, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f)),
			    _mm_and_si128(hi, _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
}

/* A q4_K/q5_K block's mins dmin*m and scales d*sc, 8 floats each */
QV_FN void qv_k_block_scales(const uint8_t *b, __m256 *dm, __m256 *dsc)
{
	const __m128i ms = qv_k_mins_scales(b);
	const __m128 d = _mm_cvtph_ps(_mm_loadu_si32(b));   /* d, dmin */
	*dm = _mm256_mul_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(d)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(ms)));
	*dsc = _mm256_mul_ps(_mm256_broadcastss_ps(d), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(ms, 8))));
}

/* Asks for the lines QV_PF bytes ahead of the block of `bytes` at p being read, one per 64 bytes
 * whatever lines they fall in: no branch, so nothing to mispredict. (A loop that asked for each
 * line once, keeping a pointer to the next, took 1.3 times the time of a q4_K or q5_0 row from
 * cache: its branch, taken or not by the block's place in a line, mispredicted. The same stream
 * with a select in place of the branch, the block itself asked for when no line was due, so that
 * each line is asked for once: 1.04-1.08 times the time of this, from cache and from memory,
 * on Zen 5.) */
QV_FN void qv_prefetch(const uint8_t *p, size_t bytes)
{
	for (size_t o = 0; o < bytes; o += 64)
		_mm_prefetch((const char *)p + QV_PF + o, _MM_HINT_T0);
}

/* ---- decoders: one block to its float values, the format's arithmetic (tests compare them) ---- */

QV_FN void qv_dec_q8_0(const uint8_t *b, float *y)
{
	qv_f d = qv_set1(qv_h2f(b));
	for (int v = 0; v < QV_NV32; v++)
		qv_store(y + v * QV_W, qv_mul(qv_i8(qv_bytes(b + 2 + v * QV_W)), d));
}

QV_FN void qv_dec_q4_0(const uint8_t *b, float *y)
{
	qv_f d = qv_set1(qv_h2f(b));
	const __m128i eight = _mm_set1_epi8(8);
	for (int v = 0; v < 16 / QV_W; v++) {
		__m128i q = qv_bytes(b + 2 + v * QV_W);
		qv_store(y + v * QV_W, qv_mul(qv_i8(_mm_sub_epi8(qv_lo4(q), eight)), d));
		qv_store(y + 16 + v * QV_W, qv_mul(qv_i8(_mm_sub_epi8(qv_hi4(q), eight)), d));
	}
}

/* The 32 codes of a q4_1/q5_0/q5_1 block (qs: 16 nibble bytes; fifth bits from qh when q5), QV_W
 * at a time: weights v*QV_W.. of the low half in *lo, of the high half (16 + ...) in *hi */
QV_FN void qv_codes32(const uint8_t *qs, uint32_t qh, int q5, int v, __m128i *lo, __m128i *hi)
{
	__m128i q = qv_bytes(qs + v * QV_W);
	*lo = qv_lo4(q);
	*hi = qv_hi4(q);
	if (q5) {
#if QV_W == 16
		/* v is 0: the 16 weights of each half, their fifth bits qh's low and high 16 bits as
		 * masks (AVX-512BW), one masked add each instead of spreading the bits to bytes */
		*lo = _mm_mask_add_epi8(*lo, (__mmask16)qh, *lo, _mm_set1_epi8(16));
		*hi = _mm_mask_add_epi8(*hi, (__mmask16)(qh >> 16), *hi, _mm_set1_epi8(16));
#else
		*lo = _mm_or_si128(*lo, qv_fifth(qh, 0, v));
		*hi = _mm_or_si128(*hi, qv_fifth(qh, 1, v));
#endif
	}
}

/* q5_0: x = (q - 16) * d */
QV_FN void qv_dec_q5_0(const uint8_t *b, float *y)
{
	qv_f d = qv_set1(qv_h2f(b));
	uint32_t qh;
	memcpy(&qh, b + 2, 4);
	const __m128i k16 = _mm_set1_epi8(16);
	for (int v = 0; v < 16 / QV_W; v++) {
		__m128i lo, hi;
		qv_codes32(b + 6, qh, 1, v, &lo, &hi);
		qv_store(y + v * QV_W, qv_mul(qv_i8(_mm_sub_epi8(lo, k16)), d));
		qv_store(y + 16 + v * QV_W, qv_mul(qv_i8(_mm_sub_epi8(hi, k16)), d));
	}
}

/* q4_1 and q5_1: x = q * d + m, rounded twice as the format's definition does */
QV_FN void qv_dec_q41_q51(const uint8_t *b, int q5, float *y)
{
	qv_f d = qv_set1(qv_h2f(b)), m = qv_set1(qv_h2f(b + 2));
	uint32_t qh = 0;
	if (q5)
		memcpy(&qh, b + 4, 4);
	for (int v = 0; v < 16 / QV_W; v++) {
		__m128i lo, hi;
		qv_codes32(b + (q5 ? 8 : 4), qh, q5, v, &lo, &hi);
		qv_f pl = qv_mul(qv_u8(lo), d), ph = qv_mul(qv_u8(hi), d);
		QV_OPAQUE(pl);
		QV_OPAQUE(ph);
		qv_store(y + v * QV_W, qv_add(pl, m));
		qv_store(y + 16 + v * QV_W, qv_add(ph, m));
	}
}

/* The codes of chunk j of a q4_K (hb NULL) or q5_K block as floats, QV_W of each half from v*QV_W:
 * weights 64j + v*QV_W.. (low nibbles) in *fl, 64j + 32 + v*QV_W.. (high nibbles) in *fh */
QV_FN void qv_k45_codes(const uint8_t *qs, const uint8_t *hb, int j, int v, qv_f *fl, qv_f *fh)
{
	if (hb != NULL) {
		__m128i q = qv_bytes(qs + 32 * j + v * QV_W), h = qv_bytes(hb + v * QV_W);
		*fl = qv_u8(qv_add_bit16(qv_lo4(q), h, 2 * j));
		*fh = qv_u8(qv_add_bit16(qv_hi4(q), h, 2 * j + 1));
	} else {
		qv_nibbles(qs + 32 * j + v * QV_W, 0, fl, fh);
	}
}

/* q4_K (hb == NULL) and q5_K: x = d*sc*q - dmin*m per sub-block of 32 */
QV_FN void qv_dec_k45(const uint8_t *b, const uint8_t *hb, const uint8_t *qs, float *y)
{
	float dsc[8], dm[8];
	__m256 vm, vs;
	qv_k_block_scales(b, &vm, &vs);
	_mm256_storeu_ps(dsc, vs);
	_mm256_storeu_ps(dm, vm);
	for (int j = 0; j < 4; j++)
		for (int v = 0; v < QV_NV32; v++) {
			qv_f fl, fh;
			qv_k45_codes(qs, hb, j, v, &fl, &fh);
			qv_f pl = qv_mul(qv_set1(dsc[2 * j]), fl), ph = qv_mul(qv_set1(dsc[2 * j + 1]), fh);
			QV_OPAQUE(pl);
			QV_OPAQUE(ph);
			qv_store(y + 64 * j + v * QV_W, qv_sub(pl, qv_set1(dm[2 * j])));
			qv_store(y + 64 * j + 32 + v * QV_W, qv_sub(ph, qv_set1(dm[2 * j + 1])));
		}
}

/* The four groups of 32 six-bit values of half h of a q6_K block, QV_W at a time from l = v*QV_W,
 * already less 32: g[0] weights l, g[1] l+32, g[2] l+64, g[3] l+96 (of that half). */
QV_FN void qv_q6_group(const uint8_t *ql, const uint8_t *qh, int v, __m128i g[4])
{
	const __m128i m3 = _mm_set1_epi8(3), k32 = _mm_set1_epi8(32);
	__m128i a = qv_bytes(ql + v * QV_W), c = qv_bytes(ql + 32 + v * QV_W), h = qv_bytes(qh + v * QV_W);
	__m128i h0 = _mm_slli_epi16(_mm_and_si128(h, m3), 4);
	__m128i h1 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 2), m3), 4);
	__m128i h2 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 4), m3), 4);
	__m128i h3 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 6), m3), 4);
	g[0] = _mm_sub_epi8(_mm_or_si128(qv_lo4(a), h0), k32);
	g[1] = _mm_sub_epi8(_mm_or_si128(qv_lo4(c), h1), k32);
	g[2] = _mm_sub_epi8(_mm_or_si128(qv_hi4(a), h2), k32);
	g[3] = _mm_sub_epi8(_mm_or_si128(qv_hi4(c), h3), k32);
}

/* q6_K: x = d * sc * q, sc per 16 weights */
QV_FN void qv_dec_q6_k(const uint8_t *b, float *y)
{
	const float d = qv_h2f(b + 208);
	const int8_t *sc = (const int8_t *)(b + 192);
	for (int half = 0; half < 2; half++)
		for (int v = 0; v < QV_NV32; v++) {
			__m128i g[4];
			qv_q6_group(b + 64 * half, b + 128 + 32 * half, v, g);
			int is = 8 * half + v * QV_W / 16;
			for (int k = 0; k < 4; k++)
				qv_store(y + 128 * half + 32 * k + v * QV_W,
					 qv_mul(qv_set1(d * (float)sc[is + 2 * k]), qv_i8(g[k])));
		}
}

QV_FN void qv_dec_block(enum ds_dtype t, const uint8_t *b, float *y)
{
	switch (t) {
	case DS_Q8_0: qv_dec_q8_0(b, y); break;
	case DS_Q4_0: qv_dec_q4_0(b, y); break;
	case DS_Q4_K: qv_dec_k45(b, NULL, b + 16, y); break;
	case DS_Q5_K: qv_dec_k45(b, b + 16, b + 48, y); break;
	case DS_Q4_1: qv_dec_q41_q51(b, 0, y); break;
	case DS_Q5_0: qv_dec_q5_0(b, y); break;
	case DS_Q5_1: qv_dec_q41_q51(b, 1, y); break;
	default: qv_dec_q6_k(b, y); break;
	}
}

/* ---- fused decode+dot of one row with NT (1..4) tokens: out[t] = row . x[t] ---- */

/* x[t] + off, for token t */
#define QV_X(t, off) qv_load(x[t] + (off))

/* q8_0 and q4_0: d * sum(q x) per block of 32, blocks alternating between two accumulators */
QV_FN void qv_dot_q8_q4_0(const uint8_t *row, long nb, int q4, const float *const *x, int NT, float *out)
{
	const size_t bb = q4 ? 18 : 34;
	qv_f acc[2][4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = qv_zero();
	/* blocks in pairs, the parity a constant once unrolled: acc stays in registers (indexed by
	 * b & 1 it went through the stack, a store and reload per block) */
	for (long b0 = 0; b0 < nb; b0 += 2, row += 2 * bb)
#pragma GCC unroll 2
	for (int par = 0; par < 2; par++) {
		const long b = b0 + par;
		if (b >= nb)
			break;
		const uint8_t *const row0 = row;
		const uint8_t *row = row0 + par * bb;
		qv_prefetch(row, bb);
		qv_f d = qv_set1(qv_h2f(row)), s[4];
		if (q4) {
#pragma GCC unroll 2
			for (int v = 0; v < 16 / QV_W; v++) {
				qv_f lo, hi;
				qv_nibbles(row + 2 + v * QV_W, 8, &lo, &hi);
#pragma GCC unroll 4
				for (int t = 0; t < NT; t++) {
					qv_f p = qv_mul(lo, QV_X(t, b * 32 + v * QV_W));
					p = qv_fma(hi, QV_X(t, b * 32 + 16 + v * QV_W), p);
					s[t] = v == 0 ? p : qv_add(s[t], p);
				}
			}
		} else {
#pragma GCC unroll 4
			for (int v = 0; v < QV_NV32; v++) {
				qv_f q = qv_i8(qv_bytes(row + 2 + v * QV_W));
#pragma GCC unroll 4
				for (int t = 0; t < NT; t++)
					s[t] = v == 0 ? qv_mul(q, QV_X(t, b * 32)) : qv_fma(q, QV_X(t, b * 32 + v * QV_W), s[t]);
			}
		}
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++)
			acc[par][t] = qv_fma(s[t], d, acc[par][t]);
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t]));
}

/* q4_1, q5_0 and q5_1 (blocks of 32 with a fifth bit and/or a min): d * sum(q x) + m * sum(x), with
 * q5_0's offset folded into its min (-16 d) and sx[t][b] = the sum of block b's 32 activations */
QV_FN void qv_dot_32m(const uint8_t *row, long nb, enum ds_dtype ty, const float *const *x,
		      const float *const *sx, int NT, float *out)
{
	const int q5 = ty != DS_Q4_1, has_m = ty != DS_Q5_0;
	const size_t bb = ty == DS_Q4_1 ? 20 : ty == DS_Q5_0 ? 22 : 24;
	const size_t qs_off = ty == DS_Q4_1 ? 4 : ty == DS_Q5_0 ? 6 : 8;
	qv_f acc[2][4];
	float corr[4] = { 0, 0, 0, 0 };
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = qv_zero();
	for (long b0 = 0; b0 < nb; b0 += 2, row += 2 * bb)
#pragma GCC unroll 2
	for (int par = 0; par < 2; par++) {
		const long b = b0 + par;
		if (b >= nb)
			break;
		const uint8_t *const row0 = row;
		const uint8_t *row = row0 + par * bb;
		qv_prefetch(row, bb);
		const float d = qv_h2f(row), m = has_m ? qv_h2f(row + 2) : -16.0f * d;
		uint32_t qh = 0;
		if (q5)
			memcpy(&qh, row + qs_off - 4, 4);
		qv_f s[4];
#pragma GCC unroll 2
		for (int v = 0; v < 16 / QV_W; v++) {
			__m128i lo, hi;
			qv_codes32(row + qs_off, qh, q5, v, &lo, &hi);
			qv_f fl = qv_u8(lo), fh = qv_u8(hi);
#pragma GCC unroll 4
			for (int t = 0; t < NT; t++) {
				qv_f p = qv_mul(fl, QV_X(t, b * 32 + v * QV_W));
				p = qv_fma(fh, QV_X(t, b * 32 + 16 + v * QV_W), p);
				s[t] = v == 0 ? p : qv_add(s[t], p);
			}
		}
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++) {
			acc[par][t] = qv_fma(s[t], qv_set1(d), acc[par][t]);
			corr[t] += m * sx[t][b];
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) + corr[t];
}

/* q4_K and q5_K (hb_off 16, qs_off 48): per sub-block j of 32, d*sc_j * sum(q x) - dmin*m_j * sx_j
 * with sx[t][j] = sum of the 32 activations (precomputed per call) */
QV_FN void qv_dot_k45(const uint8_t *row, long nb, int q5, const float *const *x, const float *const *sx,
		      int NT, float *out)
{
	const size_t bb = q5 ? 176 : 144;
	qv_f acc[2][4];
	__m256 corr[4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++) {
		acc[0][t] = acc[1][t] = qv_zero();
		corr[t] = _mm256_setzero_ps();
	}
	for (long b = 0; b < nb; b++, row += bb) {
		qv_prefetch(row, bb);
		float dsc[8];
		__m256 dm, vs;
		qv_k_block_scales(row, &dm, &vs);
		_mm256_storeu_ps(dsc, vs);
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++)
			corr[t] = _mm256_fmadd_ps(dm, _mm256_loadu_ps(sx[t] + b * 8), corr[t]);
		const uint8_t *qs = row + (q5 ? 48 : 16), *qh = row + 16;
		for (int j = 0; j < 4; j++) {
			qv_f s0[4], s1[4];
#pragma GCC unroll 4
			for (int v = 0; v < QV_NV32; v++) {
				qv_f fl, fh;
				qv_k45_codes(qs, q5 ? qh : NULL, j, v, &fl, &fh);
				long o = b * 256 + 64 * j + v * QV_W;
#pragma GCC unroll 4
				for (int t = 0; t < NT; t++) {
					s0[t] = v == 0 ? qv_mul(fl, QV_X(t, o)) : qv_fma(fl, QV_X(t, o), s0[t]);
					s1[t] = v == 0 ? qv_mul(fh, QV_X(t, o + 32)) : qv_fma(fh, QV_X(t, o + 32), s1[t]);
				}
			}
#pragma GCC unroll 4
			for (int t = 0; t < NT; t++) {
				acc[0][t] = qv_fma(s0[t], qv_set1(dsc[2 * j]), acc[0][t]);
				acc[1][t] = qv_fma(s1[t], qv_set1(dsc[2 * j + 1]), acc[1][t]);
			}
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) - qv_hsum8(corr[t]);
}

/* q6_K: each QV_W weights times their scale d*sc (the format's value), then one FMA per token */
QV_FN void qv_dot_q6_k(const uint8_t *row, long nb, const float *const *x, int NT, float *out)
{
	qv_f acc[2][4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = qv_zero();
	for (long b = 0; b < nb; b++, row += 210) {
		qv_prefetch(row, 210);
		const float d = qv_h2f(row + 208);
		float dsc[16];
		__m128i sc8 = _mm_loadu_si128((const __m128i *)(row + 192));
		_mm256_storeu_ps(dsc, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8))));
		_mm256_storeu_ps(dsc + 8, _mm256_mul_ps(_mm256_set1_ps(d),
			_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc8, 8)))));
		for (int half = 0; half < 2; half++)
#pragma GCC unroll 4
			for (int v = 0; v < QV_NV32; v++) {
				__m128i g[4];
				qv_q6_group(row + 64 * half, row + 128 + 32 * half, v, g);
				int is = 8 * half + v * QV_W / 16;
#pragma GCC unroll 4
				for (int k = 0; k < 4; k++) {
					qv_f w = qv_mul(qv_set1(dsc[is + 2 * k]), qv_i8(g[k]));
					long o = b * 256 + 128 * half + 32 * k + v * QV_W;
#pragma GCC unroll 4
					for (int t = 0; t < NT; t++)
						acc[k & 1][t] = qv_fma(w, QV_X(t, o), acc[k & 1][t]);
				}
			}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t]));
}

#if QV_W == 8
/* ---- 8 lanes: codes widened in lane order ----
 *
 * Widening codes to floats dominated the AVX2 decode: vpmovzxbd/vpmovsxbd (8 bytes over 8 lanes) runs
 * at about one a cycle on Zen 3 and shares its pipes with the byte shuffles, while shifts and masks
 * within 32-bit lanes run at 2-4 a cycle. So here the 32 codes of a block (or sub-block) are formed as
 * bytes in one 256-bit register, natural order, and vector k of its 4 takes byte k of each 32-bit
 * lane: lane i holds weight 4i + k. The activations are permuted to match once per call
 * (qv8_permute): xq[32b + 8k + i] = x[32b + 4i + k]. The sums have the same terms as the format's
 * dot product in another order; one-hot activations still give each decoded weight exactly. */

/* x (k columns, a multiple of 32) permuted to lane order into xq */
QV_FN void qv8_permute(const float *x, long k, float *xq)
{
	const __m256i idx = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	for (long c = 0; c < k; c += 32) {
		/* rows r = 0..3 of x[c + 8r ..]: a 4 x 8 -> 8 x 4 transpose of the block viewed as 8 x 4 */
		__m256 a = _mm256_loadu_ps(x + c), b = _mm256_loadu_ps(x + c + 8), e = _mm256_loadu_ps(x + c + 16),
		       f = _mm256_loadu_ps(x + c + 24);
		/* a = x0..7: lanes i = 0,1 of k = 0..3; unpack pairs then quads */
		__m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);   /* x0 x8 x1 x9 | x4 x12 x5 x13 ; x2 x10 x3 x11 | x6 x14 x7 x15 */
		__m256 t2 = _mm256_unpacklo_ps(e, f), t3 = _mm256_unpackhi_ps(e, f);   /* x16 x24 x17 x25 | x20 x28 x21 x29 ; ... */
		__m256 u0 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2))); /* x0 x8 x16 x24 | x4 x12 x20 x28 */
		__m256 u1 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2))); /* x1 x9 x17 x25 | x5 .. */
		__m256 u2 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3))); /* x2 x10 x18 x26 | x6 .. */
		__m256 u3 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3))); /* x3 x11 x19 x27 | x7 .. */
		/* u_k holds lanes i = 0, 2, 4, 6, 1, 3, 5, 7 of vector k: put them in order */
		_mm256_storeu_ps(xq + c, _mm256_permutevar8x32_ps(u0, idx));
		_mm256_storeu_ps(xq + c + 8, _mm256_permutevar8x32_ps(u1, idx));
		_mm256_storeu_ps(xq + c + 16, _mm256_permutevar8x32_ps(u2, idx));
		_mm256_storeu_ps(xq + c + 24, _mm256_permutevar8x32_ps(u3, idx));
	}
}

/* 32 unsigned byte codes as 4 vectors of floats in lane order */
QV_FN void qv8_widen_u8(__m256i c, __m256 f[4])
{
	const __m256i ff = _mm256_set1_epi32(0xff);
	f[0] = _mm256_cvtepi32_ps(_mm256_and_si256(c, ff));
	f[1] = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(c, 8), ff));
	f[2] = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(c, 16), ff));
	f[3] = _mm256_cvtepi32_ps(_mm256_srli_epi32(c, 24));
}

/* 32 signed byte codes as 4 vectors of floats in lane order */
QV_FN void qv8_widen_i8(__m256i c, __m256 f[4])
{
	f[0] = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(c, 24), 24));
	f[1] = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(c, 16), 24));
	f[2] = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(c, 8), 24));
	f[3] = _mm256_cvtepi32_ps(_mm256_srai_epi32(c, 24));
}

/* The sum over the 4 vectors of f[v] * xq + 8v: one token's products of 32 weights, lanes apart, from
 * an FMA on zero rather than a multiply (the same bits for widened codes; subnormal codes need it,
 * qv16_sum4) */
QV_FN __m256 qv8_sum4z(const __m256 f[4], const float *xq)
{
	__m256 e = qv_fma(f[0], qv_load(xq), qv_zero());
	e = qv_fma(f[1], qv_load(xq + 8), e);
	e = qv_fma(f[2], qv_load(xq + 16), e);
	return qv_fma(f[3], qv_load(xq + 24), e);
}

/* 32 unsigned byte codes, each byte its code alone, as 4 vectors in lane order: widened (sub 0) or as
 * subnormal floats (sub 1: in place at bits 0, 8 and 16, the top byte shifted down, for activations
 * scaled by qv8s_order_bytes) */
QV_FN void qv8_codes_u8(__m256i c, int sub, __m256 f[4])
{
	if (!sub) {
		qv8_widen_u8(c, f);
		return;
	}
	f[0] = _mm256_castsi256_ps(_mm256_and_si256(c, _mm256_set1_epi32(0xff)));
	f[1] = _mm256_castsi256_ps(_mm256_and_si256(c, _mm256_set1_epi32(0xff00)));
	f[2] = _mm256_castsi256_ps(_mm256_and_si256(c, _mm256_set1_epi32(0xff0000)));
	f[3] = _mm256_castsi256_ps(_mm256_srli_epi32(c, 24));
}

/* The 16 nibble bytes at p: low nibbles (weights 0-15) in lane 0, high nibbles (16-31) in lane 1 */
QV_FN __m256i qv8_nibbles16(const uint8_t *p)
{
	__m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p));
	return _mm256_and_si256(_mm256_srlv_epi32(q, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
				_mm256_set1_epi8(0x0f));
}

/* 16 in the byte of each weight j < 32 whose bit j of qh is set */
QV_FN __m256i qv8_fifth32(uint32_t qh)
{
	/* lane 0: qh's byte 0 to bytes 0-7, byte 1 to bytes 8-15; lane 1: bytes 2 and 3 */
	const __m256i sel = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
					       0x0303030303030303LL);
	const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
	__m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), sel);
	return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit), _mm256_set1_epi8(16));
}

/* q4_1, q5_0 and q5_1: d * sum(q x) + m * sum(x) per block, as qv_dot_32m (q5_0's offset -16 d folded
 * in as its min). Its own function: qv_dot_32m's loop fed these codes (pairs of products added) took
 * 1.05-1.09 times the time for 4 tokens (in-process A/B, one thread from L3; even for one). */
/* us not NULL: the codes as subnormal floats against activations in qv8s_order_bytes' order and scale,
 * us[t] undoing token t's (the 8-lane subnormal section, below) */
QV_FN void qv8_dot_b32(const uint8_t *row, long nb, enum ds_dtype ty, const float *const *x,
		       const float *const *sx, const float *us, int NT, float *out)
{
	const int q5 = ty != DS_Q4_1, has_m = ty != DS_Q5_0;
	const size_t bb = ty == DS_Q4_1 ? 20 : ty == DS_Q5_0 ? 22 : 24;
	const size_t qs_off = ty == DS_Q4_1 ? 4 : ty == DS_Q5_0 ? 6 : 8;
	__m256 acc[2][4];
	float corr[4] = { 0, 0, 0, 0 };
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = qv_zero();
	/* blocks in pairs, the parity a constant once unrolled (see qv_dot_q8_q4_0) */
	for (long b0 = 0; b0 < nb; b0 += 2, row += 2 * bb)
#pragma GCC unroll 2
	for (int par = 0; par < 2; par++) {
		const long b = b0 + par;
		if (b >= nb)
			break;
		const uint8_t *const row0 = row;
		const uint8_t *row = row0 + par * bb;
		qv_prefetch(row, bb);
		const float d = qv_h2f(row);
		const float m = has_m ? qv_h2f(row + 2) : -16.0f * d;
		__m256i c = qv8_nibbles16(row + qs_off);
		if (q5) {
			uint32_t qh;
			memcpy(&qh, row + qs_off - 4, 4);
			c = _mm256_or_si256(c, qv8_fifth32(qh));
		}
		__m256 f[4];
		qv8_codes_u8(c, us != NULL, f);
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++) {
			acc[par][t] = qv_fma(qv8_sum4z(f, x[t] + b * 32), qv_set1(d), acc[par][t]);
			corr[t] += m * sx[t][b];
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) * (us != NULL ? us[t] : 1.0f) + corr[t];
}

/* q5_K: per sub-block j of 32, d*sc_j * sum(q x) - dmin*m_j * sx_j, as qv_dot_k45. (q4_K stays with
 * qv_dot_k45, as q8_0 and q4_0 with qv_dot_q8_q4_0: their codes widen straight from memory,
 * vpmovzxbd/vpmovsxbd with a memory operand, which was faster than these: in-process A/B, one thread
 * from L3, q4_K 1.00-1.10 of the time, q8_0 1.09-1.15, q4_0 1.07.) */
QV_FN void qv8_dot_q5_k(const uint8_t *row, long nb, const float *const *x, const float *const *sx,
			const float *us, int NT, float *out)
{
	const size_t bb = 176;
	__m256 acc[2][4], corr[4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++) {
		acc[0][t] = acc[1][t] = qv_zero();
		corr[t] = _mm256_setzero_ps();
	}
	const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
	for (long b = 0; b < nb; b++, row += bb) {
		qv_prefetch(row, bb);
		float dsc[8];
		__m256 dm, vs;
		qv_k_block_scales(row, &dm, &vs);
		_mm256_storeu_ps(dsc, vs);
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++)
			corr[t] = _mm256_fmadd_ps(dm, _mm256_loadu_ps(sx[t] + b * 8), corr[t]);
		const uint8_t *qs = row + 48;
		const __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)(row + 16));
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			__m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * j));
			__m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
			/* bit 2j of each qh byte is weight 64j + l's fifth, bit 2j + 1 weight 64j + 32 + l's:
			 * each moved to bit 4 of its byte (16-bit shifts; the mask keeps bits of the byte) */
			const __m256i l5 = 2 * j <= 4 ? _mm256_slli_epi16(hb, 4 - 2 * j) : _mm256_srli_epi16(hb, 2 * j - 4);
			const __m256i h5 = 2 * j + 1 <= 4 ? _mm256_slli_epi16(hb, 3 - 2 * j) : _mm256_srli_epi16(hb, 2 * j - 3);
			lo = _mm256_or_si256(lo, _mm256_and_si256(l5, b4));
			hi = _mm256_or_si256(hi, _mm256_and_si256(h5, b4));
			__m256 fl[4], fh[4];
			qv8_codes_u8(lo, us != NULL, fl);
			qv8_codes_u8(hi, us != NULL, fh);
			const long o = b * 256 + 64 * j;
#pragma GCC unroll 4
			for (int t = 0; t < NT; t++) {
				acc[0][t] = qv_fma(qv8_sum4z(fl, x[t] + o), qv_set1(dsc[2 * j]), acc[0][t]);
				acc[1][t] = qv_fma(qv8_sum4z(fh, x[t] + o + 32), qv_set1(dsc[2 * j + 1]), acc[1][t]);
			}
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) * (us != NULL ? us[t] : 1.0f) - qv_hsum8(corr[t]);
}

/* q6_K: each 32 weights' sum times the scales of their two halves of 16 (lanes 0-3 and 4-7 in lane
 * order), one multiply per 8 lanes: q * (d * sc) rounded as the format's value when x is one-hot */
QV_FN void qv8_dot_q6_k(const uint8_t *row, long nb, const float *const *x, const float *const *sx,
			const float *us, int NT, float *out)
{
	__m256 acc[2][4], corr[4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = corr[t] = qv_zero();
	const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30), k32 = _mm256_set1_epi8(32);
	for (long b = 0; b < nb; b++, row += 210) {
		qv_prefetch(row, 210);
		const __m256 d = _mm256_set1_ps(qv_h2f(row + 208));
		__m128i sc8 = _mm_loadu_si128((const __m128i *)(row + 192));
		const __m256 dsc[2] = { _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8))),
					_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc8, 8)))) };
		/* subnormal codes are unsigned (0-63): the offset of 32 comes off as d*sc times the sums of
		 * 16 activations */
		if (us != NULL)
#pragma GCC unroll 4
			for (int t = 0; t < NT; t++) {
				corr[t] = _mm256_fmadd_ps(dsc[0], _mm256_loadu_ps(sx[t] + b * 16), corr[t]);
				corr[t] = _mm256_fmadd_ps(dsc[1], _mm256_loadu_ps(sx[t] + b * 16 + 8), corr[t]);
			}
#pragma GCC unroll 2
		for (int half = 0; half < 2; half++) {
			const uint8_t *ql = row + 64 * half, *qh = row + 128 + 32 * half;
			__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)ql);
			__m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
			__m256i h = _mm256_loadu_si256((const __m256i *)(const void *)qh);
			__m256i g[4] = {
				_mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30)),
				_mm256_or_si256(_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30)),
				_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(h, m30)),
				_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4),
						_mm256_and_si256(_mm256_srli_epi16(h, 2), m30)),
			};
#pragma GCC unroll 4
			for (int k = 0; k < 4; k++) {
				__m256 f[4];
				if (us != NULL)
					qv8_codes_u8(g[k], 1, f);
				else
					qv8_widen_i8(_mm256_sub_epi8(g[k], k32), f);
				/* weights 128 half + 32 k + 4i + j: scale 8 half + 2k (lanes 0-3), + 1 (4-7) */
				const __m256i si = _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1,
								     2 * k + 1, 2 * k + 1);
				const __m256 sv = _mm256_permutevar8x32_ps(dsc[half], si);
				const long o = b * 256 + 128 * half + 32 * k;
#pragma GCC unroll 4
				for (int t = 0; t < NT; t++)
					acc[k & 1][t] = qv_fma(qv8_sum4z(f, x[t] + o), sv, acc[k & 1][t]);
			}
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = us != NULL ? qv_hsum(qv_add(acc[0][t], acc[1][t])) * us[t] - 32.0f * qv_hsum8(corr[t])
				    : qv_hsum(qv_add(acc[0][t], acc[1][t]));
}
#endif

/* ---- codes as exact subnormal floats (the 16-lane section below tells how) ---- */

/* Where nibble field n's lowest bit lies once masked */
#define QV_SUB_POS(n) ((n) < 6 ? 4 * (n) : 4 * (n) - 8)

/* The scale exponent s for activations whose largest magnitude is amax: 0 when the scaled form
 * could leave the normal range (activations above 2^100 or nonzero below 2^-100, infinities, NaN),
 * and then the caller keeps the widening kernels; s = 125 - e for 2^e <= amax < 2^(e + 1) */
QV_FN int qv_scale_exp(float amax)
{
	if (amax == 0)
		return 125;
	if (!(amax >= 0x1p-100f && amax < 0x1p100f))
		return 0;
	int e;
	(void)frexpf(amax, &e);   /* amax = f 2^e, 0.5 <= f < 1 */
	return 125 - (e - 1);
}

/* The largest |x| of k activations (k a multiple of QV_W) */
QV_FN float qv_amax(const float *x, long k)
{
#if QV_W == 16
	__m512 m = _mm512_setzero_ps();
	for (long c = 0; c < k; c += 16)
		m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + c)));
	return _mm512_reduce_max_ps(m);
#else
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 m = _mm256_setzero_ps();
	for (long c = 0; c < k; c += 8)
		m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + c)));
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	h = _mm_max_ps(h, _mm_movehl_ps(h, h));
	return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
#endif
}

#if QV_W == 8
/* ---- 8 lanes: q4_K, q6_K and blocks of 32 codes as exact subnormal floats ----
 *
 * The 16-lane section's way on 256-bit registers, for q4_K (the bulk of a Q4_K_M file): the widening
 * form spends a vpmovzxbd, a shift or mask and a vcvtdq2ps per 8 codes, and the byte widening takes a
 * shuffle port; here each 8 codes are one mask (nibbles 6 and 7 after a shift of their word by 8)
 * and go to the FMA as they are. Chunk j of a block (32 bytes: weights 64 j + l in the low nibbles,
 * 64 j + 32 + l in the high) as one vector: lane i holds bytes 4 i .. 4 i + 3, so field n of lane i
 * is weight 64 j + 32 (n & 1) + 4 i + n / 2, every lane of field n in sub-block 2 j + (n & 1): its
 * scale is one broadcast. The activations are put in that order and scaled by 2^(s - pos n) once per
 * product (qv8s_order_q4_k). tools/quant-bench with the AVX2 set forced on a Zen 4, 2048 columns, 64
 * MB from memory: one thread 9.9-10.3 -> 13.9-14.0 GB/s, two 17.6-19.8 -> 27.0-27.4; the engine's
 * decode of lite4 Q4_K_M (--kernels avx2, 2 threads) 50.7-50.8 -> 54.6-55.2 tokens/s. Not measured on
 * an AVX2-only processor (Zen 2 and 3): there the timing at the first ask decides
 * (cpu_kernels_subnormal_codes). q6_K (qv8_dot_q6_k, above) the same way in qv8_permute's order: one
 * thread 10.9 -> 15.5 GB/s, two 19.1-21.6 -> 24.8-30.5; with both, lite4 Q4_K_M --kernels avx2 decodes
 * at 60.9-64.0 tokens/s where it decoded 50.5-51.4 (its Q6_K output head 21.2-21.5 -> 29.2-30.3 GB/s).
 * q4_1, q5_0 and q5_1 in qv8_dot_b32 (above) on the same order: one thread q4_1 8.8-9.2 -> 11.9-12.1,
 * q5_0 7.6-7.8 -> 9.6, q5_1 7.7 -> 8.8-9.7; lite4 Q4_K_M --kernels avx2 then 63.1-64.8 tokens/s
 * against 50.6-51.2 with none of them (its dense ffn_down is q5_0: 17.2-17.5 -> 20.9-22.2 GB/s).
 * q5_K in qv8_dot_q5_k the same way: one thread 9.9 -> 12.4-12.6 GB/s. */

/* 2^e as the factors *f and *g: e reaches 226 (qv_scale_exp), past a float, so past 127 it is 2^100
 * and the rest, both scaling up, and neither product x f g rounds (the result stays below 2^126) */
QV_FN void qv8s_pow2(int e, float *f, float *g)
{
	*f = ldexpf(1.0f, e > 127 ? e - 100 : e);
	*g = e > 127 ? 0x1p100f : 1.0f;
}

QV_FN void qv8s_order_q4_k(const float *x, long k, int s, float *xq)
{
	float f[8], g[8];
	for (int n = 0; n < 8; n++)
		qv8s_pow2(s - QV_SUB_POS(n), &f[n], &g[n]);
	for (long c = 0; c < k; c += 64)
		for (int n = 0; n < 8; n++) {
			const float *src = x + c + 32 * (n & 1) + n / 2;
			for (int i = 0; i < 8; i++)
				xq[c + 8 * n + i] = src[4 * i] * f[n] * g[n];
		}
}

/* q4_K on activations in that order: per sub-block d*sc * sum(q x) - dmin*m * sx, us[t] = 2^(149 - s)
 * undoing token t's scale */
QV_FN void qv8s_dot_q4_k(const uint8_t *row, long nb, const float *const *x, const float *const *sx,
			 const float *us, int NT, float *out)
{
	__m256 acc[2][4], corr[4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = corr[t] = _mm256_setzero_ps();
	for (long b = 0; b < nb; b++, row += 144) {
		qv_prefetch(row, 144);
		float dsc[8];
		__m256 dm, vs;
		qv_k_block_scales(row, &dm, &vs);
		_mm256_storeu_ps(dsc, vs);
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++)
			corr[t] = _mm256_fmadd_ps(dm, _mm256_loadu_ps(sx[t] + b * 8), corr[t]);
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			const __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(row + 16 + 32 * j));
			const __m256i c3 = _mm256_srli_epi32(c, 8);
			__m256 q[8];
#pragma GCC unroll 8
			for (int n = 0; n < 8; n++)
				q[n] = _mm256_castsi256_ps(_mm256_and_si256(n < 6 ? c : c3,
									     _mm256_set1_epi32((int)(0xfu << QV_SUB_POS(n)))));
			const __m256 s0 = _mm256_set1_ps(dsc[2 * j]), s1 = _mm256_set1_ps(dsc[2 * j + 1]);
#pragma GCC unroll 4
			for (int t = 0; t < NT; t++) {
				const float *xt = x[t] + b * 256 + 64 * j;
				/* from an FMA on zero, not a multiply: see qv16_sum4 */
				__m256 e = _mm256_fmadd_ps(q[0], _mm256_loadu_ps(xt), _mm256_setzero_ps());
				__m256 o = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(xt + 8), _mm256_setzero_ps());
#pragma GCC unroll 3
				for (int n = 2; n < 8; n += 2) {
					e = _mm256_fmadd_ps(q[n], _mm256_loadu_ps(xt + 8 * n), e);
					o = _mm256_fmadd_ps(q[n + 1], _mm256_loadu_ps(xt + 8 * n + 8), o);
				}
				acc[0][t] = _mm256_fmadd_ps(e, s0, acc[0][t]);
				acc[1][t] = _mm256_fmadd_ps(o, s1, acc[1][t]);
			}
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) * us[t] - qv_hsum8(corr[t]);
}

/* q6_K and the blocks of 32 (q4_1, q5_0, q5_1) in qv8_permute's lane order (byte k of each lane:
 * weight 4 i + k of each 32), each vector k of every 32 scaled by 2^(s - pos k), the code bytes at
 * bits 0, 8 and 16 and the top one shifted down */
QV_FN void qv8s_order_bytes(const float *x, long k, int s, float *xq)
{
	static const int pos[4] = { 0, 8, 16, 0 };
	float f[4], g[4];
	for (int v = 0; v < 4; v++)
		qv8s_pow2(s - pos[v], &f[v], &g[v]);
	qv8_permute(x, k, xq);
	for (long c = 0; c < k; c += 32)
		for (int v = 0; v < 4; v++) {
			const __m256 fv = _mm256_set1_ps(f[v]), gv = _mm256_set1_ps(g[v]);
			float *p = xq + c + 8 * v;
			_mm256_storeu_ps(p, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p), fv), gv));
		}
}

#endif

#if QV_W == 16
/* ---- 16 lanes: K-quant and q8_0 codes as exact subnormal floats ----
 *
 * On 512-bit registers the widening was the bound: each 16 codes took a vpmovzxbd and a vcvtdq2ps,
 * and both share the two FP pipes with the FMAs (Zen 5: 16 weights a cycle for widen + convert +
 * FMA, 26 for mask + FMA). A float whose exponent field is 0 is the subnormal m * 2^-149 of its
 * mantissa bits m, exactly (and the encoding runs on seamlessly into exponent 1: any m below 2^24
 * is m * 2^-149); so a code masked in place at bit p of a 32-bit lane, its neighbours cleared, is
 * the float q * 2^(p - 149) with no conversion (q8_0's codes keep their sign in bit 31). FMAs take
 * subnormal inputs at full speed and their products are exact, so each code is multiplied by its
 * activation scaled by 2^(s - p) (s per token, from the largest |x|), which makes every product
 * q x 2^(s - 149): the same terms as q x, scaled by a power of 2, and rounded as they are. The sums
 * are scaled back at the end. s keeps the scaled activations below 2^126 and the products of the
 * largest activations at most 2^-16, so no product or sum leaves the normal range unless it is below
 * 2^-100 of the largest. q6_K's codes are summed unsigned (0-63), its offset of 32 subtracted apart.
 *
 * The 64 bytes of two q4_K chunks (qs + 64 g) give 8 vectors: vector n takes nibble n of each
 * 32-bit lane (byte n / 2, high nibble when n is odd), lane i holding weight
 * 128 g + 64 (i >= 8) + 32 (n & 1) + 4 (i & 7) + n / 2 of the super-block, so lanes 0-7 are in
 * sub-block 4 g + (n & 1), lanes 8-15 in 4 g + 2 + (n & 1). Nibbles 6 and 7 would overlap the
 * exponent field: their byte is first shifted down by 8. q5_K, q6_K, q8_0 and the blocks of 32
 * form their codes as bytes, one vector per byte of the lane (the top byte shifted down to bits 0-7,
 * qv16_top). The activations are put in the matching order and scaled
 * once per call (qv16_permute). Only where FMAs take subnormals at full speed: Intel cores take a
 * microcode assist for them, and there the widening kernels above run (cpu_kernels_subnormal_codes). */

/* x (k columns, whole 128s; the q6 order also takes a last 64) put in the order of a type's vectors
 * (qv16_permute), each vector n of every 128 scaled by 2^(s - pos n): vector n lane i takes
 * x[base + 4 (i & 7) + b[n]] where base is the 32 columns at lo[n] for lanes 0-7 and at hi[n] for
 * lanes 8-15 (offsets in the 128). xs, when asked for (q6 order), gets for each 64 the sum of its 4
 * vectors unscaled: lane i the sum of x[64 p + 4 i .. 4 i + 3], the activations a block of 32's offset
 * or min multiplies (qv16_dot_b32). */
struct qv16_order {
	int lo[8], hi[8], b[8], pos[8];
};

/* q4_K (above): vector n holds weights 64 (i >= 8) + 32 (n & 1) + 4 (i & 7) + n / 2 */
static const struct qv16_order qv16_order_k4 = {
	{ 0, 32, 0, 32, 0, 32, 0, 32 }, { 64, 96, 64, 96, 64, 96, 64, 96 }, { 0, 0, 1, 1, 2, 2, 3, 3 },
	{ QV_SUB_POS(0), QV_SUB_POS(1), QV_SUB_POS(2), QV_SUB_POS(3), QV_SUB_POS(4), QV_SUB_POS(5), QV_SUB_POS(6), QV_SUB_POS(7) },
};

/* q5_K and q6_K (qv16_q5_block, qv16_dot_q6_k): vector 4 g + k holds weights 64 g + 4 i + k, its code
 * in byte k of each lane (byte 3 shifted down to byte 0) */
static const struct qv16_order qv16_order_q6 = {
	{ 0, 0, 0, 0, 64, 64, 64, 64 }, { 32, 32, 32, 32, 96, 96, 96, 96 }, { 0, 1, 2, 3, 0, 1, 2, 3 },
	{ 0, 8, 16, 0, 0, 8, 16, 0 },
};

/* q8_0 (qv16_dot_q8_0) and q4_0/q4_1/q5_0/q5_1 (qv16_dot_b32): the same, their codes at the same places */
#define qv16_order_q8 qv16_order_q6

QV_FN void qv16_permute(const float *x, long k, int s, const struct qv16_order *o, float *xq, float *xs)
{
	const __m512i lanes = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
	for (long c = 0; c < k; c += 128) {
		/* a last 64 (q6 order only: its vectors 0-3 take the first 64 of the 128, 4-7 the second) */
		const int nv = k - c >= 128 ? 8 : 4;
		__m512 v[8], sum = _mm512_setzero_ps();
		for (int j = 0; j < nv; j++)
			v[j] = _mm512_loadu_ps(x + c + 16 * j);
#pragma GCC unroll 8
		for (int n = 0; n < 8; n++) {
			if (n >= nv)
				break;
			const __m512i idx = _mm512_add_epi32(lanes, _mm512_set1_epi32(o->b[n]));
			__m512 lo = _mm512_permutex2var_ps(v[o->lo[n] / 16], idx, v[o->lo[n] / 16 + 1]);
			__m512 hi = _mm512_permutex2var_ps(v[o->hi[n] / 16], idx, v[o->hi[n] / 16 + 1]);
			__m512 y = _mm512_mask_blend_ps(0xff00, lo, hi);
			_mm512_storeu_ps(xq + c + 16 * n, _mm512_scalef_ps(y, _mm512_set1_ps((float)(s - o->pos[n]))));
			if (xs != NULL) {
				sum = _mm512_add_ps(sum, y);
				if (n % 4 == 3) {
					_mm512_storeu_ps(xs + c / 4 + 16 * (n / 4), sum);
					sum = _mm512_setzero_ps();
				}
			}
		}
	}
}

/* sum over j < 4 of q[j] times the 16 activations at x + j * step, starting from an FMA on zero, not
 * a multiply: multiplies take subnormal inputs slowly (Zen 5: 5 cycles, not 3), FMAs at full speed
 * (a first version with a multiply took 1.7 times the widening kernel's time) */
QV_FN __m512 qv16_sum4(__m512 q0, __m512 q1, __m512 q2, __m512 q3, const float *x, int step)
{
	__m512 v = _mm512_fmadd_ps(q0, _mm512_loadu_ps(x), _mm512_setzero_ps());
	v = _mm512_fmadd_ps(q1, _mm512_loadu_ps(x + step), v);
	v = _mm512_fmadd_ps(q2, _mm512_loadu_ps(x + 2 * step), v);
	return _mm512_fmadd_ps(q3, _mm512_loadu_ps(x + 3 * step), v);
}

/* The magnitudes' bits in mask, with bit 31 of s as the sign: a signed code as a subnormal float */
QV_FN __m512 qv16_signed(__m512i mag, uint32_t mask, __m512i s)
{
	return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_and_si512(mag, _mm512_set1_epi32((int)mask)), s,
							     _mm512_set1_epi32((int)0x80000000u), 0xf8));   /* a | (b & c) */
}

/* The top byte of each lane of c, moved to bits 0-7 (one shift: in place, bits 24-31, it would
 * overlap the exponent field), as floats */
QV_FN __m512 qv16_top(__m512i c)
{
	return _mm512_castsi512_ps(_mm512_srli_epi32(c, 24));
}

/* The bits of c in mask, as floats */
QV_FN __m512 qv16_field(__m512i c, uint32_t mask)
{
	return _mm512_castsi512_ps(_mm512_and_si512(c, _mm512_set1_epi32((int)mask)));
}

/* 32 bytes at p in both 256-bit halves */
QV_FN __m512i qv16_bcast32(const uint8_t *p)
{
	return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

/* Lanes 0-7 from s[a], lanes 8-15 from s[b] */
QV_FN __m512 qv16_scales2(__m512 s, int a, int b)
{
	/* (a set of constants once unrolled: a blend of two broadcasts was built at run time, 1.09 times
	 * the time of one token's q4_K) */
	return _mm512_permutexvar_ps(_mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b), s);
}

/* The halves at a and at b as 4 floats: a, a + 2, b, b + 2 (a pair of blocks' d, and m where it follows) */
QV_FN __m512 qv16_pair_halves(const uint8_t *a, const uint8_t *b)
{
	return _mm512_castps128_ps512(_mm_cvtph_ps(_mm_unpacklo_epi32(_mm_loadu_si32(a), _mm_loadu_si32(b))));
}

/* Lanes 0-7 from element e of v, lanes 8-15 from element e + 2 (of qv16_pair_halves: block a's, then b's) */
QV_FN __m512 qv16_pair_lanes(__m512 v, int e)
{
	return _mm512_permutexvar_ps(_mm512_setr_epi32(e, e, e, e, e, e, e, e, e + 2, e + 2, e + 2, e + 2, e + 2, e + 2,
						       e + 2, e + 2), v);
}

/* A q4_K/q5_K block's mins dmin*m in lanes 0-7 and scales d*sc in lanes 8-15 (returned), and the
 * mins' part of each token's sum, dmin*m times the sums of 32 activations sx, added to corr (lanes
 * 0-7; 8-15 stay 0) */
QV_FN __m512 qv16_k_block(const uint8_t *row, long b, const float *const *sx, int NT, __m512 corr[4])
{
	/* dmin to lanes 0-7, d to 8-15 */
	const __m512 f = _mm512_permutexvar_ps(_mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
					       _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadu_si32(row))));
	const __m512 v = _mm512_mul_ps(f, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(qv_k_mins_scales(row))));
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		corr[t] = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(0x00ff, sx[t] + b * 8), corr[t]);
	return v;
}

/* q4_K (qv16_order_k4): the 64 bytes of chunks 2 g and 2 g + 1 as 8 vectors of nibbles, lanes 0-7 in
 * sub-block 4 g + (n & 1), 8-15 in 4 g + 2 + (n & 1); acc[h] takes the vectors of nibble parity h */
QV_FN void qv16_q4_block(const uint8_t *row, long b, __m512 mins_scales, const float *const *x, int NT,
			   __m512 acc[2][4])
{
#pragma GCC unroll 2
	for (int g = 0; g < 2; g++) {
		const __m512i c = _mm512_loadu_si512((const void *)(row + 16 + 64 * g));
		const __m512i c3 = _mm512_srli_epi32(c, 8);
		__m512 q[8];
#pragma GCC unroll 8
		for (int n = 0; n < 8; n++)
			q[n] = qv16_field(n < 6 ? c : c3, 0xfu << QV_SUB_POS(n));
#pragma GCC unroll 2
		for (int h = 0; h < 2; h++) {
			const __m512 sv = qv16_scales2(mins_scales, 8 + 4 * g + h, 8 + 4 * g + 2 + h);
			const long o = b * 256 + 128 * g + 16 * h;
#pragma GCC unroll 4
			for (int t = 0; t < NT; t++)
				acc[h][t] = _mm512_fmadd_ps(qv16_sum4(q[h], q[2 + h], q[4 + h], q[6 + h], x[t] + o, 32),
							    sv, acc[h][t]);
		}
	}
}

/* q5_K (qv16_order_q6, the same order as q6_K): each chunk j of 32 qs bytes and the 32 qh bytes make
 * 64 five-bit codes as bytes: bytes 0-31 sub-block 2 j (low nibbles, fifth bit 2 j of qh), bytes 32-63
 * sub-block 2 j + 1 (high nibbles, bit 2 j + 1), so vector k lane i holds weight
 * 64 j + 32 (i >= 8) + 4 (i & 7) + k, its code in byte k of the lane (byte 3 shifted down to byte 0) */
QV_FN void qv16_q5_block(const uint8_t *row, long b, __m512 mins_scales, const float *const *x, int NT,
			   __m512 acc[2][4])
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), b4 = _mm512_set1_epi8(0x10);
	/* the nibble of each half: low in bytes 0-31, high in 32-63 */
	const __m512i nib_sh = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
	const __m512i qh = qv16_bcast32(row + 16);
#pragma GCC unroll 4
	for (int j = 0; j < 4; j++) {
		const __m512i qs = qv16_bcast32(row + 48 + 32 * j);
		/* bit 2 j (bytes 0-31) or 2 j + 1 (32-63) of each qh byte to bit 4: rotations by 4 - 2 j and
		 * 3 - 2 j, modulo 64 (a right shift by up to 3 stays in the byte) */
		const long r0 = (4 - 2 * j) & 63, r1 = (3 - 2 * j) & 63;
		const __m512i rot = _mm512_setr_epi64(r0, r0, r0, r0, r1, r1, r1, r1);
		const __m512i c = _mm512_ternarylogic_epi32(_mm512_srlv_epi64(qs, nib_sh), m4,
							    _mm512_and_si512(_mm512_rolv_epi64(qh, rot), b4), 0xea);
		const __m512 q0 = qv16_field(c, 0x1f), q1 = qv16_field(c, 0x1f00), q2 = qv16_field(c, 0x1f0000),
			     q3 = qv16_top(c);
		const __m512 sv = qv16_scales2(mins_scales, 8 + 2 * j, 8 + 2 * j + 1);
		const long o = b * 256 + 64 * j;
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++)
			acc[j & 1][t] = _mm512_fmadd_ps(qv16_sum4(q0, q1, q2, q3, x[t] + o, 16), sv, acc[j & 1][t]);
	}
}

/* q4_K and q5_K on activations ordered (above) and scaled: per sub-block d*sc * sum(q x) - dmin*m * sx
 * as qv_dot_k45, us[t] = 2^(149 - s) undoing token t's scale */
QV_FN void qv16_dot_k45(const uint8_t *row, long nb, int q5, const float *const *x, const float *const *sx,
			const float *us, int NT, float *out)
{
	const size_t bb = q5 ? 176 : 144;
	__m512 acc[2][4], corr[4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = corr[t] = _mm512_setzero_ps();
	for (long b = 0; b < nb; b++, row += bb) {
		qv_prefetch(row, bb);
		const __m512 mins_scales = qv16_k_block(row, b, sx, NT, corr);
		if (q5)
			qv16_q5_block(row, b, mins_scales, x, NT, acc);
		else
			qv16_q4_block(row, b, mins_scales, x, NT, acc);
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) * us[t] - qv_hsum(corr[t]);
}

/* q8_0 (rows of whole 128s) on activations in qv16_order_q6, scaled: blocks in pairs, the 32 codes of block 2 p in lanes
 * 0-7 and of 2 p + 1 in lanes 8-15 (vector k lane i: weight 64 p + 32 (i >= 8) + 4 (i & 7) + k). The
 * codes are signed, so each is its magnitude (up to 128: 8 bits, in place at bits 0, 8, 16, or 0
 * after a shift for byte 3; at bit 16, 128 lands on the exponent's lowest bit as 2^-126 = 128 2^-133,
 * the same value) with the code's sign bit moved to bit 31: d * sum(q x) per block exactly as the
 * widened codes give it. */
QV_FN void qv16_dot_q8_0(const uint8_t *row, long nb, const float *const *x, const float *us, int NT,
			 float *out)
{
	__m512 acc[2][4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = _mm512_setzero_ps();
	/* two pairs a step (nb is a multiple of 4), each into its own accumulators */
	for (long b = 0; b < nb; b += 4, row += 136)
#pragma GCC unroll 2
	for (int par = 0; par < 2; par++) {
		const uint8_t *const p = row + 68 * par;
		qv_prefetch(p, 68);
		const __m512i c = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(
			(const __m256i *)(const void *)(p + 2))), _mm256_loadu_si256((const __m256i *)(const void *)(p + 36)), 1);
		const __m512i a = _mm512_abs_epi8(c);
		const __m512 q0 = qv16_signed(a, 0xff, _mm512_slli_epi32(c, 24)),
			     q1 = qv16_signed(a, 0xff00, _mm512_slli_epi32(c, 16)),
			     q2 = qv16_signed(a, 0xff0000, _mm512_slli_epi32(c, 8)),
			     q3 = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_srli_epi32(a, 24), c,
					     _mm512_set1_epi32((int)0x80000000u), 0xf8));   /* a | (b & c) */
		const __m512 sv = qv16_pair_lanes(qv16_pair_halves(p, p + 34), 0);
		const long o = (b + 2 * par) * 32;
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++)
			acc[par][t] = _mm512_fmadd_ps(qv16_sum4(q0, q1, q2, q3, x[t] + o, 16), sv, acc[par][t]);
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) * us[t];
}

/* q4_0, q4_1, q5_0 and q5_1 (rows of whole 64s) on activations in qv16_order_q6, scaled: blocks in pairs
 * as q8_0, the 32 codes of block 2 p in lanes 0-7 and of 2 p + 1 in lanes 8-15. A pair's 16 + 16 qs
 * bytes, each in two 128-bit lanes, the second copy shifted down by 4, are its 64 nibbles as bytes in
 * weight order (low nibbles are weights 0-15 of a block, high ones 16-31); q5's fifth bits, one per
 * weight in qh, are added as 16 where a 64-bit mask of both blocks' qh is set. The codes stay
 * unsigned: d * sum(q x) per block, plus its offset (-8 d, -16 d) or min m times the sums of its
 * activations (xs: per lane, the 4 unscaled activations its fields multiply). Tried and not kept:
 * one token's q8_0 here too, its codes + 128 (top bits flipped) with a -128 d offset, 7 vector
 * operations per 64 weights besides the FMAs against 8 conversions widened: in-process 0.71-0.80 of
 * the widening kernel's time at 2048 columns (past 6144 slower: the sums push the activations out
 * of L1), but in the engine lite4 Q8_0 decoded no faster (2 threads 78-80 against 81-83 tokens/s, 1
 * thread 45-48 against 50: the bandwidth binds), and the offset doubles the largest terms' rounding. */
QV_FN void qv16_dot_b32(const uint8_t *row, long nb, enum ds_dtype ty, const float *const *x,
			const float *const *xs, const float *us, int NT, float *out)
{
	const int q5 = ty == DS_Q5_0 || ty == DS_Q5_1, has_m = ty == DS_Q4_1 || ty == DS_Q5_1;
	const size_t bb = ty == DS_Q4_0 ? 18 : ty == DS_Q4_1 ? 20 : ty == DS_Q5_0 ? 22 : 24;
	const size_t qs_off = bb - 16, qh_off = qs_off - 4;
	/* the offset's factor of d where there is no min (q4_0: q - 8, q5_0: q - 16) */
	const float off = has_m ? 1.0f : ty == DS_Q4_0 ? -8.0f : -16.0f;
	const __m512i nib_sh = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4), m4 = _mm512_set1_epi8(0x0f),
		      k16 = _mm512_set1_epi8(16);
	__m512 acc[2][4], corr[4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = corr[t] = _mm512_setzero_ps();
	const long np = nb / 2;
	for (long p0 = 0; p0 < np; p0 += 2)
#pragma GCC unroll 2
	for (int par = 0; par < 2; par++) {
		const long p = p0 + par;
		if (p >= np)
			break;
		const uint8_t *const a = row + (size_t)(2 * p) * bb, *const b = a + bb;
		qv_prefetch(a, 2 * bb);
		__m512i c = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_broadcastsi128_si256(qv_bytes(a + qs_off))),
					       _mm256_broadcastsi128_si256(qv_bytes(b + qs_off)), 1);
		c = _mm512_and_si512(_mm512_srlv_epi64(c, nib_sh), m4);
		if (q5) {
			uint32_t ha, hb;
			memcpy(&ha, a + qh_off, 4);
			memcpy(&hb, b + qh_off, 4);
			c = _mm512_mask_add_epi8(c, (__mmask64)ha | (__mmask64)hb << 32, c, k16);
		}
		const __m512 q0 = qv16_field(c, 0x1f), q1 = qv16_field(c, 0x1f00), q2 = qv16_field(c, 0x1f0000),
			     q3 = qv16_top(c);
		/* d of each block (and m) to its 8 lanes */
		const __m512 dm = qv16_pair_halves(a, b);
		const __m512 sv = qv16_pair_lanes(dm, 0), mv = has_m ? qv16_pair_lanes(dm, 1) : sv;
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++) {
			acc[par][t] = _mm512_fmadd_ps(qv16_sum4(q0, q1, q2, q3, x[t] + 64 * p, 16), sv, acc[par][t]);
			corr[t] = _mm512_fmadd_ps(_mm512_loadu_ps(xs[t] + 16 * p), mv, corr[t]);
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) * us[t] + off * qv_hsum(corr[t]);
}

/* q6_K on activations in qv16_order_q6, scaled: its codes q (0-63) as subnormals, and
 * d * sc * (q - 32) summed as d * sc * sum(q x) - 32 d * sc * sx16, sx16[t][j] the sum of activations
 * 16 j .. 16 j + 15 (precomputed per call). Scales change every 16 weights: lanes 4 m .. 4 m + 3 of
 * group g of half h hold weights 128 h + 64 g + 16 m + 4 (i & 3) + k, scale 8 h + 4 g + m. */
QV_FN void qv16_dot_q6_k(const uint8_t *row, long nb, const float *const *x, const float *const *sx16,
			 const float *us, int NT, float *out)
{
	__m512 acc[2][4], corr[4];
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		acc[0][t] = acc[1][t] = corr[t] = _mm512_setzero_ps();
	const __m512i si[4] = {
		_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
		_mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7),
		_mm512_setr_epi32(8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11),
		_mm512_setr_epi32(12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15),
	};
	const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
	/* qh's two bits of weight l + 32 j at bits 4-5 of byte l: shifts by 4 - 2 j (j = 0, 1 for the
	 * low 64 weights of a half, bytes 0-31 and 32-63) and by 2 j - 4... (j = 2, 3: right by 0, 2) */
	const __m512i sh_lo = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), sh_hi = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
	for (long b = 0; b < nb; b++, row += 210) {
		qv_prefetch(row, 210);
		const __m512 dsc = _mm512_mul_ps(_mm512_set1_ps(qv_h2f(row + 208)), _mm512_cvtepi32_ps(
			_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(row + 192)))));
#pragma GCC unroll 4
		for (int t = 0; t < NT; t++)
			corr[t] = _mm512_fmadd_ps(dsc, _mm512_loadu_ps(sx16[t] + b * 16), corr[t]);
#pragma GCC unroll 2
		for (int h = 0; h < 2; h++) {
			const __m512i ql = _mm512_loadu_si512((const void *)(row + 64 * h));
			const __m512i qh = qv16_bcast32(row + 128 + 32 * h);
			__m512i c[2] = {
				_mm512_ternarylogic_epi32(ql, m4, _mm512_and_si512(_mm512_sllv_epi64(qh, sh_lo), m30), 0xea),
				_mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4,
							  _mm512_and_si512(_mm512_srlv_epi64(qh, sh_hi), m30), 0xea),
			};
#pragma GCC unroll 2
			for (int g = 0; g < 2; g++) {
				const __m512 q0 = qv16_field(c[g], 0x3f), q1 = qv16_field(c[g], 0x3f00),
					     q2 = qv16_field(c[g], 0x3f0000), q3 = qv16_top(c[g]);
				const __m512 sv = _mm512_permutexvar_ps(si[2 * h + g], dsc);
				const long o = b * 256 + 128 * h + 64 * g;
#pragma GCC unroll 4
				for (int t = 0; t < NT; t++)
					acc[g][t] = _mm512_fmadd_ps(qv16_sum4(q0, q1, q2, q3, x[t] + o, 16), sv, acc[g][t]);
			}
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < NT; t++)
		out[t] = qv_hsum(qv_add(acc[0][t], acc[1][t])) * us[t] - 32.0f * qv_hsum(corr[t]);
}
#endif

QV_FN void qv_dot_row(enum ds_dtype ty, const uint8_t *row, long k, const float *const *x,
		      const float *const *sx, const float *us, int NT, float *out)
{
#if QV_W == 8
	if (us != NULL && ty == DS_Q4_K) {   /* codes as subnormal floats (qv8s_order_q4_k) */
		qv8s_dot_q4_k(row, k / 256, x, sx, us, NT, out);
		return;
	}
	/* x in lane order (qv8_permute; scaled where us is given) for these */
	/* each kernel made twice, with and without us, so that neither carries the other's branches */
	switch (ty) {
	case DS_Q5_K:
		if (us != NULL)
			qv8_dot_q5_k(row, k / 256, x, sx, us, NT, out);
		else
			qv8_dot_q5_k(row, k / 256, x, sx, NULL, NT, out);
		return;
	case DS_Q6_K:
		if (us != NULL)
			qv8_dot_q6_k(row, k / 256, x, sx, us, NT, out);
		else
			qv8_dot_q6_k(row, k / 256, x, sx, NULL, NT, out);
		return;
	case DS_Q4_1: case DS_Q5_0: case DS_Q5_1:
		if (us != NULL)
			qv8_dot_b32(row, k / 32, ty, x, sx, us, NT, out);
		else
			qv8_dot_b32(row, k / 32, ty, x, sx, NULL, NT, out);
		return;
	default: break;
	}
#endif
#if QV_W == 16
	if (us != NULL) {
		if (ty == DS_Q4_K || ty == DS_Q5_K)
			qv16_dot_k45(row, k / 256, ty == DS_Q5_K, x, sx, us, NT, out);
		else if (ty == DS_Q8_0)
			qv16_dot_q8_0(row, k / 32, x, us, NT, out);
		else if (ty != DS_Q6_K)
			qv16_dot_b32(row, k / 32, ty, x, sx, us, NT, out);
		else
			qv16_dot_q6_k(row, k / 256, x, sx, us, NT, out);
		return;
	}
#endif
	switch (ty) {
	case DS_Q8_0: qv_dot_q8_q4_0(row, k / 32, 0, x, NT, out); break;
	case DS_Q4_0: qv_dot_q8_q4_0(row, k / 32, 1, x, NT, out); break;
	case DS_Q4_K: qv_dot_k45(row, k / 256, 0, x, sx, NT, out); break;
	case DS_Q5_K: qv_dot_k45(row, k / 256, 1, x, sx, NT, out); break;
	case DS_Q4_1: qv_dot_32m(row, k / 32, DS_Q4_1, x, sx, NT, out); break;
	case DS_Q5_0: qv_dot_32m(row, k / 32, DS_Q5_0, x, sx, NT, out); break;
	case DS_Q5_1: qv_dot_32m(row, k / 32, DS_Q5_1, x, sx, NT, out); break;
	default: qv_dot_q6_k(row, k / 256, x, NT, out); break;
	}
}

/* Rows [r0, r1) for NT tokens, one type: the compiler makes one loop per (type, NT). The rows' bytes
 * start at base (each rb apart) and hold kc columns; add: add to y, not store (a later column chunk). */
QV_FN void qv_fused_rows(enum ds_dtype ty, const uint8_t *base, size_t rb, long r0, long r1, long kc, int add,
			 size_t piece, const float *const *x, const float *const *sx, const float *us, int NT, float *const *y)
{
	/* A chunk's piece of each row is read apart from the rest of the row, so the prefetches ahead of
	 * each block (qv_prefetch) land in the row's later chunks: each row asks for its piece of the
	 * row QV_RB on (the next block's, read next) into L2: piece bytes, 0 where rows are whole. Past
	 * the call's rows too: a thread's next call mostly takes the rows that follow (tools/quant-bench,
	 * 16384 columns, one thread: stopping at the call's last row took q8_0 from 17.5 to 13.2 GB/s,
	 * q4_K from 13.2 to 11.3), and a prefetch past the tensor does not fault. */
	for (long r = r0; r < r1; r++) {
		float o[4];
		for (size_t b = 0; b < piece; b += 64)
			_mm_prefetch((const char *)base + (size_t)(r + QV_RB) * rb + b, _MM_HINT_T1);
		qv_dot_row(ty, base + (size_t)r * rb, kc, x, sx, us, NT, o);
		for (int t = 0; t < NT; t++)
			y[t][r] = add ? y[t][r] + o[t] : o[t];
	}
}

#define QV_FUSED_CASES(NT, lo, hi) \
	switch (ty) { \
	case DS_Q8_0: qv_fused_rows(DS_Q8_0, cbase, rb, lo, hi, kc, c0 > 0, piece, xp, sp, usp, NT, yp); break; \
	case DS_Q4_0: qv_fused_rows(DS_Q4_0, cbase, rb, lo, hi, kc, c0 > 0, piece, xp, sp, usp, NT, yp); break; \
	case DS_Q4_K: qv_fused_rows(DS_Q4_K, cbase, rb, lo, hi, kc, c0 > 0, piece, xp, sp, usp, NT, yp); break; \
	case DS_Q5_K: qv_fused_rows(DS_Q5_K, cbase, rb, lo, hi, kc, c0 > 0, piece, xp, sp, usp, NT, yp); break; \
	case DS_Q4_1: qv_fused_rows(DS_Q4_1, cbase, rb, lo, hi, kc, c0 > 0, piece, xp, sp, usp, NT, yp); break; \
	case DS_Q5_0: qv_fused_rows(DS_Q5_0, cbase, rb, lo, hi, kc, c0 > 0, piece, xp, sp, usp, NT, yp); break; \
	case DS_Q5_1: qv_fused_rows(DS_Q5_1, cbase, rb, lo, hi, kc, c0 > 0, piece, xp, sp, usp, NT, yp); break; \
	default: qv_fused_rows(DS_Q6_K, cbase, rb, lo, hi, kc, c0 > 0, piece, xp, sp, usp, NT, yp); break; \
	}

/* One product's activations as the fused decode forms read them (qv_fused_prep) */
struct qv_prep {
	const float *x;     /* n tokens, ldx apart: as given, or ordered and scaled for the codes */
	long ldx;
	const float *sx;    /* n tokens' sums of activations, ns apart, or NULL */
	long ns;
	const float *us;    /* 16 lanes: each token's factor that undoes its scaling, or NULL (widened) */
};

/* n tokens' activations x (ldx apart, k columns) prepared for rows of type ty into the caller's room:
 * lanes (n k floats), sums (n k / 4) and usroom (n). 16 lanes: q4_K, q5_K, q6_K, q4_0/q4_1/q5_0/q5_1
 * (rows of whole 64s) and q8_0 (rows of whole 128s, 2 tokens or more: for one its signs cost as much
 * as the widening, in-process A/B 0.98 of the time, 4 tokens 0.64-0.68) take their codes as
 * subnormal floats against activations ordered and scaled to match; 8 lanes: q4_K, q5_K, q6_K, q4_1,
 * q5_0 and q5_1, for one token. On CPUs that
 * multiply subnormals at full speed (cpu_kernels_subnormal_codes) and where every token's
 * activations allow it (qv_scale_exp). */
QV_FN void qv_fused_prep(enum ds_dtype ty, long k, const float *x, int n, long ldx, float *lanes, float *sums,
			 float *usroom, struct qv_prep *p)
{
	/* usroom[i] holds token i's scale exponent until the activations are ordered, then the factor
	 * that undoes it */
	float *us = NULL;
	const int b32 = ty == DS_Q4_0 || ty == DS_Q4_1 || ty == DS_Q5_0 || ty == DS_Q5_1;
#if QV_W == 16
	const int sub_type = ty == DS_Q4_K || ty == DS_Q5_K || ty == DS_Q6_K || (b32 && k % 64 == 0) ||
			     (ty == DS_Q8_0 && k % 128 == 0 && n >= 2);
#else
	/* one token: with more, each kernel's codes, sums and scales outgrow the 16 ymm registers
	 * (tools/quant-bench, Zen 4, AVX2 set forced, 4 and 8 tokens: q4_K 0.7 of the widening form's
	 * speed, q6_K 0.75-0.8, q5_0 0.9-0.95) */
	const int sub_type = n == 1 && (ty == DS_Q4_K || ty == DS_Q5_K || ty == DS_Q6_K || ty == DS_Q4_1 ||
					ty == DS_Q5_0 || ty == DS_Q5_1);
#endif
	if (sub_type && cpu_kernels_subnormal_codes(-1)) {
		int ok = 1;
		for (int i = 0; i < n && ok; i++) {
			int s = qv_scale_exp(qv_amax(x + (long)i * ldx, k));
			ok = s != 0;
			usroom[i] = (float)s;
		}
		if (ok)
			us = usroom;
	}
	/* that q6_K subtracts its codes' offset as sums of 16 activations (its scales' span), and that the
	 * blocks of 32 take theirs as sums of each lane's 4 activations (from qv16_permute) */
	const int q6_16 = us != NULL && ty == DS_Q6_K, b32_16 = QV_W == 16 && us != NULL && b32;
	const int need_sx = !b32_16 && (ty == DS_Q4_K || ty == DS_Q5_K || ty == DS_Q4_1 || ty == DS_Q5_0 ||
					 ty == DS_Q5_1 || q6_16);
	const long sw = b32_16 ? 4 : q6_16 ? 16 : 32, ns = k / sw;
	*p = (struct qv_prep){ .x = x, .ldx = ldx, .sx = need_sx || b32_16 ? sums : NULL, .ns = ns };
	if (need_sx)
		for (int i = 0; i < n; i++)
			for (long c = 0; c < k; c += sw) {
				const float *xi = x + (long)i * ldx + c;
				qv_f s = qv_load(xi);
				for (int v = 1; v < sw / QV_W; v++)
					s = qv_add(s, qv_load(xi + v * QV_W));
				sums[(long)i * ns + c / sw] = qv_hsum(s);
			}
#if QV_W == 8
	if (us != NULL) {
		for (int i = 0; i < n; i++) {
			const int s = (int)us[i];
			if (ty == DS_Q4_K)
				qv8s_order_q4_k(x + (long)i * ldx, k, s, lanes + (long)i * k);
			else
				qv8s_order_bytes(x + (long)i * ldx, k, s, lanes + (long)i * k);
			us[i] = ldexpf(1.0f, 149 - s);
		}
		p->x = lanes;
		p->ldx = k;
		p->us = us;
	} else if (ty != DS_Q8_0 && ty != DS_Q4_0 && ty != DS_Q4_K) {
		/* activations in lane order for the types read that way (rows are whole blocks of 32) */
		for (int i = 0; i < n; i++)
			qv8_permute(x + (long)i * ldx, k, lanes + (long)i * k);
		p->x = lanes;
		p->ldx = k;
	}
#else
	if (us != NULL) {
		for (int i = 0; i < n; i++) {
			const int s = (int)us[i];
			qv16_permute(x + (long)i * ldx, k, s, ty == DS_Q4_K ? &qv16_order_k4 : ty == DS_Q8_0 ?
				     &qv16_order_q8 : &qv16_order_q6, lanes + (long)i * k,
				     b32_16 ? sums + (long)i * ns : NULL);
			us[i] = ldexpf(1.0f, 149 - s);
		}
		p->x = lanes;
		p->ldx = k;
		p->us = us;
	}
#endif
}

/* Columns of a row that the fused form takes at a time. Its kernels read 4 bytes of activations per
 * weight (ordered, scaled F32) against 0.5-1 byte of weights, so in one piece a long row pushed its
 * own activations out of L1 with its weights, and every row waited on them from L2.
 * tools/quant-bench, one thread, 64 MB from memory, Zen 4 (32 KB L1), GB/s of weights at 2048 /
 * 4096 / 5120 / 8192 / 16384 columns in one piece: q8_0 18.9 / 14.7-17.3 / 11.4-14.6 / 11.1-11.8 /
 * 10.5-12.0, q4_K 14.5 / 13.4-14.8 / 12.5-13.5 / 9.0-9.4 / 8.5-8.8. (DeepSeek-V2 236B's rows are
 * mostly 5120 long, its o_proj's 16384; Lite's dense ffn_down's 10944.) So longer rows are taken
 * QV_XCOLS columns at a time for a block of QV_RB rows, their partial sums added: at 16384 columns
 * q8_0 17.2-18.1, q4_K 12.5-13.1, q6_K 13.5-14.5, q5_0 11.8; two threads, 256 MB, 16384 / 5120
 * columns: q8_0 20.5-22.7 -> 29.7-34.6 / 27.3-27.6 -> 34.1-35.3, q4_K 17.8-18.0 -> 27.3-27.8 /
 * 25.3-25.8 -> 26.9-28.0, q6_K 18.4 -> 30.3-31.0 / 25.2-27.5 -> 31.6. Chunks of 1024 and of 4096 did
 * no better; for 2-4 tokens chunks of 2048 / tokens lost (at 2048 columns, 4 tokens: 4 chunks of two
 * q4_K blocks each, whose sums and stores cost a fifth of their products). The chunks leave the rows'
 * one stream, so each row asks for its next-block piece ahead (qv_fused_rows): without that, 16384
 * columns gave q8_0 10.4-11.5, q4_K 7.0-7.2, below the rows in one piece. */
#ifndef QV_XCOLS
#define QV_XCOLS 2048L
#endif

/* The longest rows taken in one piece: those whose activations (4 bytes a column) and the weights
 * in flight ahead of them (QV_PF) fill at most 3/5 of L1, whole 256s, and never fewer than QV_XCOLS.
 * The line is the L1's, not a fixed width: on a Zen 5 (48 KB L1) rows of 5120 columns in one
 * piece ran at 1.3-1.6 times their speed in chunks of QV_XCOLS (tools/quant-bench, 256 MB, two
 * threads, alternating: q8_0 55-57 against 34-41 GB/s, q4_K 42.5-43.0 against 26-33, q6_K 45.5-46.6
 * against 29-35), where on a Zen 4 (32 KB) the chunks won (above); that is 20 + 6 KB in 48 and in
 * 32 KB. Rows of 10752 and 16384 columns (43 and 64 KB of activations) still ran best in chunks of
 * QV_XCOLS on the Zen 5 (one thread, q4_K 13-19 against 9-11 GB/s in one piece and 14-16 in two or
 * three chunks of 5376-5632). So 3328 columns on a 32 KB L1, 5632 on 48 KB, 8192 on 64 KB. */
QV_FN long qv_whole_cols(void)
{
	const long fit = (cpu_kernels_l1d_bytes() * 3 / 5 - QV_PF) / 4 / 256 * 256;
	return fit > QV_XCOLS ? fit : QV_XCOLS;
}

/* The columns per chunk for rows of k columns: k itself where the row is taken in one piece
 * (qv_whole_cols), else whole 256s (every type's blocks and activation order) of at most QV_XCOLS,
 * as equal as they can be */
QV_FN long qv_chunk_cols(long k)
{
	if (k <= qv_whole_cols())
		return k;
	const long chunks = (k + QV_XCOLS - 1) / QV_XCOLS, per = (k + chunks - 1) / chunks;
	return (per + 255) / 256 * 256;
}

/* Rows [r0, r1) of w times the n prepared tokens into y[i*ldy + r] */
QV_FN void qv_fused_run(const struct ds_tensor *w, long r0, long r1, const struct qv_prep *pr, int n, float *y,
			long ldy)
{
	const enum ds_dtype ty = w->dtype;
	const long k = (long)w->cols, ldx = pr->ldx, ns = pr->ns;
	const size_t rb = ds_row_bytes(ty, k);
	const uint8_t *base = w->data;
	const float *x = pr->x, *qv_sx_buf = pr->sx, *us = pr->us;
	const long ck = qv_chunk_cols(k);
	/* the first QV_PF bytes of the rows: the kernels ask for the lines QV_PF ahead of each block
	 * they read (qv_prefetch), one stream over the rows */
	for (size_t o = 0; o < QV_PF && o < (size_t)(r1 - r0) * rb; o += 64)
		_mm_prefetch((const char *)base + (size_t)r0 * rb + o, _MM_HINT_T0);
	/* Tokens in groups whose activations stay in L2, rows in blocks of QV_RB: for more than 4
	 * tokens, a block's weights come from cache for every 4 tokens after the first. */
	long tg = QV_XGROUP / 4 / (k > 0 ? k : 1);
	tg = tg < 4 ? 4 : tg - tg % 4;
	for (long g0 = 0; g0 < n; g0 += tg) {
		int g1 = n - g0 < tg ? n : (int)(g0 + tg);
		for (long lo = r0; lo < r1; lo += QV_RB) {
			long hi = r1 - lo < QV_RB ? r1 : lo + QV_RB;
			for (int i = (int)g0; i < g1;) {
				int nt = g1 - i >= 4 ? 4 : g1 - i;
				for (long c0 = 0; c0 < k; c0 += ck) {
					const long kc = k - c0 < ck ? k - c0 : ck;
					const uint8_t *cbase = base + ds_row_bytes(ty, c0);
					const size_t piece = ck < k ? ds_row_bytes(ty, kc) : 0;
					const float *xp[4];
					const float *sp[4] = { NULL, NULL, NULL, NULL };
					const float *usp = NULL;
					float *yp[4];
					for (int t = 0; t < nt; t++) {
						xp[t] = x + (long)(i + t) * ldx + c0;
						yp[t] = y + (long)(i + t) * ldy;
						if (qv_sx_buf != NULL)
							sp[t] = qv_sx_buf + (long)(i + t) * ns + c0 / (k / ns);
					}
					if (us != NULL)
						usp = us + i;
					switch (nt) {
					case 1: QV_FUSED_CASES(1, lo, hi) break;
					case 2: QV_FUSED_CASES(2, lo, hi) break;
					case 3: QV_FUSED_CASES(3, lo, hi) break;
					default: QV_FUSED_CASES(4, lo, hi) break;
					}
				}
				i += nt;
			}
		}
	}
}

/* ---- prefill: decoded panels of 4 rows x QV_KC in L1, tiles of R rows x T tokens ---- */

#if QV_W == 8
#define QV_TT 3     /* 12 accumulators + 3 activations + 1 weight = 16 ymm registers */
#else
#define QV_TT 6     /* 24 accumulators + 6 activations + 1 weight of 32 zmm registers */
#endif

/* out[j*T + t] = sum over c < kc of wb[j*QV_KC + c] * x[t][c] */
QV_FN void qv_tile(const float *wb, const float *const *x, long kc, int R, int T, float *out)
{
	qv_f acc[4][QV_TT];
#pragma GCC unroll 4
	for (int j = 0; j < R; j++)
#pragma GCC unroll 6
		for (int t = 0; t < T; t++)
			acc[j][t] = qv_zero();
	for (long c = 0; c < kc; c += QV_W) {
		qv_f xv[QV_TT];
#pragma GCC unroll 6
		for (int t = 0; t < T; t++)
			xv[t] = qv_load(x[t] + c);
#pragma GCC unroll 4
		for (int j = 0; j < R; j++) {
			qv_f wv = qv_load(wb + j * QV_KC + c);
#pragma GCC unroll 6
			for (int t = 0; t < T; t++)
				acc[j][t] = qv_fma(wv, xv[t], acc[j][t]);
		}
	}
#pragma GCC unroll 4
	for (int j = 0; j < R; j++)
#pragma GCC unroll 6
		for (int t = 0; t < T; t++)
			out[j * T + t] = qv_hsum(acc[j][t]);
}

QV_FN void qv_tile_rt(const float *wb, const float *const *x, long kc, int R, int T, float *out)
{
	if (R == 4) {
		switch (T) {
		case 1: qv_tile(wb, x, kc, 4, 1, out); break;
		case 2: qv_tile(wb, x, kc, 4, 2, out); break;
		case 3: qv_tile(wb, x, kc, 4, 3, out); break;
#if QV_TT > 3
		case 4: qv_tile(wb, x, kc, 4, 4, out); break;
		case 5: qv_tile(wb, x, kc, 4, 5, out); break;
		case 6: qv_tile(wb, x, kc, 4, 6, out); break;
#endif
		}
	} else {
		for (int j = 0; j < R; j++)
			switch (T) {
			case 1: qv_tile(wb + j * QV_KC, x, kc, 1, 1, out + j * T); break;
			case 2: qv_tile(wb + j * QV_KC, x, kc, 1, 2, out + j * T); break;
			case 3: qv_tile(wb + j * QV_KC, x, kc, 1, 3, out + j * T); break;
#if QV_TT > 3
			case 4: qv_tile(wb + j * QV_KC, x, kc, 1, 4, out + j * T); break;
			case 5: qv_tile(wb + j * QV_KC, x, kc, 1, 5, out + j * T); break;
			case 6: qv_tile(wb + j * QV_KC, x, kc, 1, 6, out + j * T); break;
#endif
			}
	}
}

QV_API void QV(quant_tiled)(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			    float *y, long ldy)
{
	const enum ds_dtype ty = w->dtype;
	const long k = (long)w->cols;
	const size_t rb = ds_row_bytes(ty, k);
	const struct ds_dtype_info *info = ds_dtype_get(ty);
	const long blk = info->block;
	const uint8_t *base = w->data;
	float wb[4 * QV_KC] __attribute__((aligned(64)));
	long tg = QV_XGROUP / 4 / (k > 0 ? k : 1);
	tg -= tg % QV_TT;
	if (tg < QV_TT)
		tg = QV_TT;
	for (long i0 = 0; i0 < n; i0 += tg) {
		int ng = n - i0 < tg ? (int)(n - i0) : (int)tg;
		for (long r = r0; r < r1; r += 4) {
			int R = r1 - r >= 4 ? 4 : (int)(r1 - r);
			for (long c0 = 0; c0 < k; c0 += QV_KC) {
				long kc = k - c0 < QV_KC ? k - c0 : QV_KC;
				/* the next panel (next chunk, else the next 4 rows) is asked for while this one
				 * is decoded and multiplied: pieces of rows give the hardware prefetcher no
				 * stream to follow */
				long nr = c0 + QV_KC < k ? r : r + 4, nc = c0 + QV_KC < k ? c0 + QV_KC : 0;
				int nR = nr < r1 ? (r1 - nr >= 4 ? 4 : (int)(r1 - nr)) : 0;
				size_t nbytes = (size_t)((k - nc < QV_KC ? k - nc : QV_KC) / blk) * info->block_bytes;
				for (int j = 0; j < R; j++) {
					const uint8_t *p = base + (size_t)(r + j) * rb + (size_t)(c0 / blk) * info->block_bytes;
					const uint8_t *next = j < nR ? base + (size_t)(nr + j) * rb +
							      (size_t)(nc / blk) * info->block_bytes : NULL;
					size_t ahead = 0;
					for (long c = 0; c < kc; c += blk, p += info->block_bytes) {
						for (; next != NULL && ahead < nbytes &&
						       ahead < (size_t)(c + blk) / (size_t)blk * info->block_bytes; ahead += 64)
							_mm_prefetch((const char *)next + ahead, _MM_HINT_T1);
						qv_dec_block(ty, p, wb + j * QV_KC + c);
					}
				}
				for (int i = 0; i < ng; i += QV_TT) {
					int T = ng - i >= QV_TT ? QV_TT : ng - i;
					const float *xp[QV_TT];
					float s[4 * QV_TT];
					for (int t = 0; t < T; t++)
						xp[t] = x + (i0 + i + t) * ldx + c0;
					qv_tile_rt(wb, xp, kc, R, T, s);
					for (int j = 0; j < R; j++)
						for (int t = 0; t < T; t++) {
							float *yy = y + (i0 + i + t) * ldy + r + j;
							*yy = c0 == 0 ? s[j * T + t] : *yy + s[j * T + t];
						}
				}
			}
		}
	}
}

QV_API void QV(quant_fused)(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			    float *y, long ldy)
{
	const long k = (long)w->cols;
	/* this thread's room for the prepared activations */
	float *lanes = cpu_scratch(CPU_SCRATCH_QUANT_LANES, (size_t)n * (size_t)(k + 16) * sizeof(float));
	float *sums = cpu_scratch(CPU_SCRATCH_QUANT_SUMS, (size_t)n * (size_t)(k / 4 + 1) * sizeof(float));
	struct qv_prep pr;
	qv_fused_prep(w->dtype, k, x, n, ldx, lanes, sums, lanes + (size_t)n * (size_t)k, &pr);
	qv_fused_run(w, r0, r1, &pr, n, y, ldy);
}

/* Decode's packed form (a few tokens, cpu_pack): the activations prepared once per product instead of
 * once per row block. A step's experts are multiplied in chunks of about 128 KB of weights, a rows()
 * call each, and every call ordered, scaled and summed its activations again (in-process, one
 * thread, a 64 MB q4_K matrix of 2048 columns in calls of 28 rows: 15.2 GB/s against 23.2 in one
 * call). The floats at xp: QV_PACK_HEAD of header (the n factors us; at 16, 17 and 18 whether us
 * holds, whether sums follow, and ns), then the n tokens' activations k apart (prepared, or as given
 * where they are widened), then their sums. */
#define QV_PACK_HEAD 32
#define QV_PACK_MAX 16     /* tokens the header has room for */

static inline size_t qv_pack_floats(int n, long k)
{
	return QV_PACK_HEAD + (size_t)n * (size_t)k + ((size_t)n * (size_t)(k / 4 + 1) + 15) / 16 * 16;
}

QV_API void QV(quant_pack)(enum ds_dtype t, const float *x, int n, long ldx, long k, float *xp)
{
	float *lanes = xp + QV_PACK_HEAD, *sums = lanes + (size_t)n * (size_t)k;
	struct qv_prep pr;
	qv_fused_prep(t, k, x, n, ldx, lanes, sums, xp, &pr);
	if (pr.x != lanes)
		for (int i = 0; i < n; i++)
			memcpy(lanes + (size_t)i * (size_t)k, x + (long)i * ldx, (size_t)k * sizeof *xp);
	xp[16] = pr.us != NULL;
	xp[17] = pr.sx != NULL;
	xp[18] = (float)pr.ns;
}

QV_API void QV(quant_rows_packed)(const struct ds_tensor *w, long r0, long r1, const float *xp, int n, float *y,
				  long ldy)
{
	const long k = (long)w->cols;
	const struct qv_prep pr = { .x = xp + QV_PACK_HEAD, .ldx = k,
				    .sx = xp[17] != 0 ? xp + QV_PACK_HEAD + (size_t)n * (size_t)k : NULL,
				    .ns = (long)xp[18], .us = xp[16] != 0 ? xp : NULL };
	qv_fused_run(w, r0, r1, &pr, n, y, ldy);
}

/* Block-quantized w: y[i*ldy + r] = W[r] . x[i] */
QV_API void QV(quant_rows)(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			   float *y, long ldy)
{
	if (n < QV_FUSED_MAX)
		QV(quant_fused)(w, r0, r1, x, n, ldx, y, ldy);
	else
		QV(quant_tiled)(w, r0, r1, x, n, ldx, y, ldy);
}

/* y += a * W[row], decoded a block at a time */
QV_API void QV(quant_axpy_row)(float *y, float a, const struct ds_tensor *w, long row)
{
	const enum ds_dtype ty = w->dtype;
	const struct ds_dtype_info *info = ds_dtype_get(ty);
	const long k = (long)w->cols, blk = info->block;
	const uint8_t *p = (const uint8_t *)w->data + (size_t)row * ds_row_bytes(ty, k);
	float buf[256] __attribute__((aligned(64)));
	qv_f va = qv_set1(a);
	for (long c = 0; c < k; c += blk, p += info->block_bytes) {
		qv_dec_block(ty, p, buf);
		for (long v = 0; v < blk; v += QV_W)
			qv_store(y + c + v, qv_fma(va, qv_load(buf + v), qv_load(y + c + v)));
	}
}

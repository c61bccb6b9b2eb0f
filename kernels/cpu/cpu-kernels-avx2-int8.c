/* cpu-kernels-avx2-int8.c: the opt-in AVX2 int8 set (DSCODER_KERNELS=avx2-int8, --kernels avx2-int8):
 * Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K weights times activations rounded to int8, summed by
 * vpmaddubsw and vpmaddwd (the types of a Q4_K_M, Q5_K_M or Q8_0 file: the K-quant files keep Q5_0, Q5_1
 * and Q8_0 for rows whose width is not a multiple of 256, as Coder-V2-Lite's experts' down projections);
 * every other kernel (float weights, the other block types, axpy_row, dot, pv, exp_sum) is the exact
 * AVX2 set's.
 *
 * Why: on a CPU without AVX-512 (AMD Zen 2 and 3, Intel before Ice Lake) the exact AVX2 set widens each
 * quantized weight to F32 before its multiply, and K-quant decode is bound by that arithmetic, not by
 * memory: bench Q4_K_M reached 28% of the read bandwidth on 2 Zen 3 cores. Here the weight codes are
 * multiplied as the file stores them, 32 byte pairs an instruction, and one scale conversion is left
 * per block (Q8_0) or super-block (Q4_K, Q5_K, Q6_K).
 *
 * The price is the activations' rounding, as in the AVX-512 VNNI set: per token, each block of 32
 * values (Q8_0, Q4_0, Q5_0) or super-block of 256 (the K-quants, as llama.cpp's Q8_K) is stored as dx * q with
 * dx = max |x| / 127 and q = round(x / dx) in int8, which moves a dot product by up to sum |w| dx / 2.
 *
 * The sums, per row and token:
 * - Q8_0, Q4_0, Q5_0: sum over blocks of d dx (c . q), c the signed codes (Q4_0 nibble - 8, Q5_0 5 bits
 *   - 16); vpmaddubsw takes |c| and q with c's sign (vpsignb), exact: pairs reach at most 2 x 128 x 127
 *   < 2^15. Each block's c . q is a whole integer S, added as fma(S, d dx, acc) block after block.
 *   Q5_1 (w = d u + m, u 0..31): fma(S, d dx, acc), then fma(Q, m dx, acc) with Q the sum of the
 *   block's q, as llama.cpp's q8_1 blocks carry it.
 * - Q4_K, Q5_K: d dx sum_j sc_j (u_j . q_j) - dmin dx sum_j m_j (sum of q_j), j the 8 sub-blocks of 32,
 *   u the nibbles (0..15; Q5_K with the fifth bit, 0..31); the sub-block scales are applied in
 *   integers (vpmaddwd by sc_j), one conversion per super-block.
 * - Q6_K: d dx (sum_g sc_g (u_g . q_g) - 32 sum_g sc_g (sum of q_g)), g the 16 groups of 16, u the 6-bit
 *   codes (0..63: pairs at most 2 x 63 x 127 < 2^15).
 * Each row's sum is formed the same way in any tile, row range or layout (the rows layout of the file
 * or rows4, cpu-rows4.h), so results do not depend on the number of threads or tokens. One token takes
 * row tiles (a row's block in the lanes, the rows' sums in registers; a rows4 Q4_K tile puts each 64
 * weights' two sub-blocks side by side, one per 128-bit lane, a8_tile_k45); a prompt takes panels
 * of 8 rows with the rows in the lanes, each token's codes broadcast (about twice the products a
 * second). */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#ifdef HAVE_AVX2_TARGET

/* GCC's -O3 on this file alone (the build's -O2 elsewhere): in-process A/B from L3, one thread, the two
 * builds alternating call by call, 2 runs each: Q6_K 0.86-0.91 of the time, Q5_0 0.92-0.94, Q4_K
 * 0.94-0.99, Q8_0 0.98-1.00 */
#pragma GCC optimize("O3")

#include <immintrin.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "cpu-kernels.h"
#include "cpu-scratch.h"
#include "cpu-uk4.h"

#define A8_TARGET "avx2,fma,f16c"
#define A8_FN static inline __attribute__((always_inline, target(A8_TARGET)))
#define A8_API static __attribute__((target(A8_TARGET)))
#define A8_UNROLL _Pragma("GCC unroll 8")

/* Bytes of weights ahead of the tile that decode asks for (it streams them from memory) */
#define A8_PF 4096
#define A8_ROWBLOCK 16     /* rows whose weights stay in L1 while every group of tokens passes over them */
#define A8_NT 4            /* tokens per tile */

/* ---- activations ----
 * Q8_0 form (also Q4_0's and Q5_0's), per token and block of 32: the 32 codes, dx, then the codes'
 * sum as int32 (40 bytes; Q4_0's and Q5_0's offset, once for every row).
 * K form, per token and super-block of 256 (A8_KSB bytes): the 256 codes in order; at A8_KSB_GS the
 * 16 groups of 16's sums of codes as int16 (Q6_K's offset); at A8_KSB_BS the 8 sub-blocks of 32's
 * (Q4_K's mins); at A8_KSB_DX dx. */
#define A8_QB 40
#define A8_QB_SUM 36
#define A8_KSB 320
#define A8_KSB_GS 256
#define A8_KSB_BS 288
#define A8_KSB_DX 304

/* Whether weights of type t (one of this set's) take the K form of the activations: the K-quants */
static inline bool a8_k_form(enum ds_dtype t)
{
	return t == DS_Q4_K || t == DS_Q5_K || t == DS_Q6_K;
}

A8_FN float a8_absmax(const float *x, int n)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 m = _mm256_setzero_ps();
	for (int i = 0; i < n; i += 8)
		m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	h = _mm_max_ps(h, _mm_movehl_ps(h, h));
	h = _mm_max_ss(h, _mm_movehdup_ps(h));
	return _mm_cvtss_f32(h);
}

/* The 32 values at x times id rounded to int8 codes at o (nearest, ties to even) */
A8_FN void a8_codes32(const float *x, __m256 id, int8_t *o)
{
	__m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
	__m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
	__m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
	__m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
	/* the packs work per 128-bit lane: a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7, then put in order */
	__m256i v = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
	v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)(void *)o, v);
}

/* The n values at x (a multiple of 32) rounded to int8 codes at o with one scale dx = max |x| / 127
 * (0 for values all 0), returned */
A8_FN float a8_round(const float *x, int n, int8_t *o)
{
	const float amax = a8_absmax(x, n);
	const __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
	for (int j = 0; j < n; j += 32)
		a8_codes32(x + j, id, o + j);
	return amax / 127.0f;
}

A8_API void a8_quantize_q8(const float *x, int n, long ldx, long k, uint8_t *buf)
{
	long nb = k / 32;
	for (int i = 0; i < n; i++)
		for (long b = 0; b < nb; b++) {
			uint8_t *o = buf + ((size_t)i * (size_t)nb + (size_t)b) * A8_QB;
			const float dx = a8_round(x + (long)i * ldx + b * 32, 32, (int8_t *)o);
			int32_t sum = 0;
			for (int c = 0; c < 32; c++)
				sum += ((const int8_t *)o)[c];
			memcpy(o + 32, &dx, sizeof dx);
			memcpy(o + A8_QB_SUM, &sum, sizeof sum);
		}
}

A8_API void a8_quantize_k(const float *x, int n, long ldx, long k, uint8_t *buf)
{
	long nsb = k / 256;
	for (int i = 0; i < n; i++)
		for (long s = 0; s < nsb; s++) {
			uint8_t *o = buf + ((size_t)i * (size_t)nsb + (size_t)s) * A8_KSB;
			const float dx = a8_round(x + (long)i * ldx + s * 256, 256, (int8_t *)o);
			int16_t gs[16], bs[8];
			for (int g = 0; g < 16; g++) {
				int sum = 0;
				for (int c = 0; c < 16; c++)
					sum += ((const int8_t *)o)[16 * g + c];
				gs[g] = (int16_t)sum;
			}
			for (int j = 0; j < 8; j++)
				bs[j] = (int16_t)(gs[2 * j] + gs[2 * j + 1]);
			memcpy(o + A8_KSB_GS, gs, sizeof gs);
			memcpy(o + A8_KSB_BS, bs, sizeof bs);
			memcpy(o + A8_KSB_DX, &dx, sizeof dx);
		}
}

/* ---- where a row's blocks lie ----
 * A tile reads NR rows (4 in rows4, where a group's rows are interleaved, 1 in the file's layout)
 * through the pointers of their first block's parts and the bytes from one block of a row to the next
 * (the unit: a rows4 group's block of 4 rows, or one block). */
struct a8_rows {
	const uint8_t *p0[4];   /* 32-weight types: the scale; Q4_K, Q5_K: d and dmin; Q6_K: the low nibbles */
	const uint8_t *p1[4];   /* 32-weight types: the codes; Q4_K, Q5_K: the 12 scale bytes; Q6_K: the high
	                         * pairs */
	const uint8_t *p2[4];   /* Q5_0, Q5_1: the fifth bits; Q4_K, Q5_K: the nibbles; Q6_K: the 16 scales */
	const uint8_t *p3[4];   /* Q5_1: the min; Q5_K: the 32 bytes of fifth bits; Q6_K: d */
	size_t unit;            /* bytes between consecutive units of a row: rows4 units or blocks */
	int per;                /* 32-weight types: blocks of a row per unit (rows4 2 or 4, else 1) */
	int cstep;              /* 32-weight types in rows4: bytes from a block's codes to the next's */
};

/* The 4 rows of rows4 group g (cpu-rows4.h) */
static void a8_rows_group(enum ds_dtype t, const uint8_t *g, struct a8_rows *r)
{
	switch (t) {
	case DS_Q8_0:   /* pairs of blocks: the 4 rows' scales, then each row's two blocks of codes */
		*r = (struct a8_rows){ .unit = 272, .per = 2, .cstep = 32 };
		break;
	case DS_Q4_0:   /* blocks in fours: 16 scales, then each row's 4 x 16 bytes of nibbles */
		*r = (struct a8_rows){ .unit = 288, .per = 4, .cstep = 16 };
		break;
	case DS_Q5_0:   /* as Q4_0, with each row's 4 x 4 bytes of fifth bits before the nibbles */
		*r = (struct a8_rows){ .unit = 352, .per = 4, .cstep = 16 };
		break;
	case DS_Q5_1:   /* as Q5_0, with the 16 mins after the 16 scales */
		*r = (struct a8_rows){ .unit = 384, .per = 4, .cstep = 16 };
		break;
	case DS_Q4_K:
		*r = (struct a8_rows){ .unit = 576 };
		break;
	case DS_Q5_K:
		*r = (struct a8_rows){ .unit = 704 };
		break;
	default:        /* Q6_K */
		*r = (struct a8_rows){ .unit = 840 };
		break;
	}
	for (int i = 0; i < 4; i++)
		switch (t) {
		case DS_Q8_0:
			r->p0[i] = g + 4 * i;
			r->p1[i] = g + 16 + 64 * i;
			break;
		case DS_Q4_0:
			r->p0[i] = g + 8 * i;
			r->p1[i] = g + 32 + 64 * i;
			break;
		case DS_Q5_0:
			r->p0[i] = g + 8 * i;
			r->p2[i] = g + 32 + 16 * i;
			r->p1[i] = g + 96 + 64 * i;
			break;
		case DS_Q5_1:
			r->p0[i] = g + 8 * i;
			r->p3[i] = g + 32 + 8 * i;
			r->p2[i] = g + 64 + 16 * i;
			r->p1[i] = g + 128 + 64 * i;
			break;
		case DS_Q4_K:
			r->p0[i] = g + 4 * i;
			r->p1[i] = g + 16 + 12 * i;
			r->p2[i] = g + 64 + 128 * i;
			break;
		case DS_Q5_K:
			r->p0[i] = g + 4 * i;
			r->p1[i] = g + 16 + 12 * i;
			r->p3[i] = g + 64 + 32 * i;
			r->p2[i] = g + 192 + 128 * i;
			break;
		default:
			r->p0[i] = g + 128 * i;
			r->p1[i] = g + 512 + 64 * i;
			r->p2[i] = g + 768 + 16 * i;
			r->p3[i] = g + 832 + 2 * i;
			break;
		}
}

/* Row w in the file's layout, in slot 0 (and in the others, which are computed but not stored) */
static void a8_rows_plain(enum ds_dtype t, const uint8_t *w, struct a8_rows *r)
{
	*r = (struct a8_rows){ .unit = ds_dtype_get(t)->block_bytes, .per = 1 };
	for (int i = 0; i < 4; i++) {
		r->p0[i] = w;
		switch (t) {
		case DS_Q8_0: case DS_Q4_0:
			r->p1[i] = w + 2;
			break;
		case DS_Q5_0:
			r->p2[i] = w + 2;
			r->p1[i] = w + 6;
			break;
		case DS_Q5_1:
			r->p3[i] = w + 2;
			r->p2[i] = w + 4;
			r->p1[i] = w + 8;
			break;
		case DS_Q4_K:
			r->p1[i] = w + 4;
			r->p2[i] = w + 16;
			break;
		case DS_Q5_K:
			r->p1[i] = w + 4;
			r->p3[i] = w + 16;
			r->p2[i] = w + 48;
			break;
		default:
			r->p1[i] = w + 128;
			r->p2[i] = w + 192;
			r->p3[i] = w + 208;
			break;
		}
	}
}

/* ---- reductions ---- */

/* The sums of the 16 int16 lanes of p[0..3] as 4 int32, in that order, for lanes small enough that
 * four of them add in 16 bits (|lane| <= 8191): two rows' 32-bit pieces interleaved and added, then
 * the two pairs' 64-bit pieces, in 16 bits, and only then one vpmaddwd to 32 bits, for the 4 rows at
 * once (a8_hsum4_epi32 after a vpmaddwd per row: 4 multiplies and 11 steps against 1 and 11) */
A8_FN __m128i a8_hsum4_epi16(const __m256i *p)
{
	const __m256i s01 = _mm256_add_epi16(_mm256_unpacklo_epi32(p[0], p[1]), _mm256_unpackhi_epi32(p[0], p[1]));
	const __m256i s23 = _mm256_add_epi16(_mm256_unpacklo_epi32(p[2], p[3]), _mm256_unpackhi_epi32(p[2], p[3]));
	const __m256i t = _mm256_add_epi16(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23));
	const __m256i w = _mm256_madd_epi16(t, _mm256_set1_epi16(1));
	return _mm_add_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

/* The sums of the 8 lanes of a[0..3], in that order (integers: exact in any order), by unpacks and
 * adds: with vphaddd the one-token Q5_0 tile took 1.03-1.04 times as long (in-process A/B from memory) */
A8_FN __m128i a8_hsum4_epi32(const __m256i *a)
{
	const __m256i t0 = _mm256_add_epi32(_mm256_unpacklo_epi32(a[0], a[1]), _mm256_unpackhi_epi32(a[0], a[1]));
	const __m256i t1 = _mm256_add_epi32(_mm256_unpacklo_epi32(a[2], a[3]), _mm256_unpackhi_epi32(a[2], a[3]));
	const __m256i h = _mm256_add_epi32(_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1));
	return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

A8_FN __m128 a8_hsum4_ps(const __m256 *a)
{
	__m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
	return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

A8_FN float a8_h2f(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return _cvtsh_ss(h);
}

/* Prefetch the unit that starts A8_PF bytes after p, a line at a time */
A8_FN void a8_prefetch_unit(const uint8_t *p, size_t unit)
{
	const size_t dist = A8_PF;
	for (size_t o = 0; o < unit; o += 64)
		_mm_prefetch((const char *)p + dist + o, _MM_HINT_T0);
}

/* ---- Q8_0, Q4_0 and Q5_0: blocks of 32 weights w = d c, c signed (Q4_0: nibble - 8, Q5_0: 5 bits - 16) ---- */

/* The 32 unsigned codes of a Q4_0 (qh NULL) or Q5_0 block: 16 bytes of nibbles at q (weights 0-15 in
 * the low ones, 16-31 in the high ones) and, for Q5_0, bit v of the 4 bytes at qh as weight v's fifth
 * bit (byte v / 8 spread over 8 bytes, then each tested for its bit) */
A8_FN __m256i a8_nibble_codes(const uint8_t *q, const uint8_t *qh)
{
	const __m256i x = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)q));
	const __m256i c = _mm256_and_si256(_mm256_srlv_epi32(x, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
					   _mm256_set1_epi8(0x0f));
	if (qh == NULL)
		return c;
	uint32_t h;
	memcpy(&h, qh, 4);
	const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h),
		_mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
				 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
	const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	return _mm256_or_si256(c, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit),
						   _mm256_set1_epi8(0x10)));
}

/* Block b of row i of r: its scale, and its 32 codes as signed bytes (Q5_1: its unsigned codes, 0..31,
 * and its min in *m; the others leave *m alone) */
A8_FN __m256i a8_b32_codes(enum ds_dtype t, const struct a8_rows *r, int i, long b, float *d, float *m)
{
	const size_t u = (size_t)(b / r->per) * r->unit, j = (size_t)(b % r->per);
	const uint8_t *q = r->p1[i] + u + j * (size_t)r->cstep;
	*d = a8_h2f(r->p0[i] + u + 2 * j);
	if (t == DS_Q8_0)
		return _mm256_loadu_si256((const __m256i *)(const void *)q);
	const __m256i c = a8_nibble_codes(q, t == DS_Q5_0 || t == DS_Q5_1 ? r->p2[i] + u + 4 * j : NULL);
	if (t == DS_Q5_1) {
		*m = a8_h2f(r->p3[i] + u + 2 * j);
		return c;
	}
	return _mm256_sub_epi8(c, _mm256_set1_epi8(t == DS_Q4_0 ? 8 : 16));
}

/* The sum of the codes of an activation block */
A8_FN float a8_qsum(const uint8_t *a)
{
	int32_t qsum;
	memcpy(&qsum, a + A8_QB_SUM, sizeof qsum);
	return (float)qsum;
}

/* Block b of a row times token a's block: the 8 lanes of c . q (vpmaddubsw takes its first operand
 * unsigned: |c| times q with c's sign), each lane the products of 4 consecutive columns */
A8_FN __m256i a8_b32_lanes(__m256i w, __m256i aw, const uint8_t *a)
{
	const __m256i xq = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(const void *)a), w);
	return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xq), _mm256_set1_epi16(1));
}

A8_FN float a8_dx(const uint8_t *a)
{
	float dx;
	memcpy(&dx, a + 32, sizeof dx);
	return dx;
}

/* The sum of the 8 lanes of v */
A8_FN int a8_hsum_epi32(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
	return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1))));
}

/* d dx of a rows4 unit of Q8_0 (per 2: lane 2 i + j of c[0], c[1] the same) or Q4_0/Q5_0 (per 4: rows
 * 0-1 in c[0], 2-3 in c[1], row i's block j at lane 4 (i % 2) + j): the unit's f16 scales converted
 * at once and multiplied by the blocks' dx from the token's activations at a (the unit's first block) */
A8_FN void a8_unit_scales(const uint8_t *unit, int per, const uint8_t *a, __m256 c[2])
{
	float dx[4];
	for (int j = 0; j < per; j++)
		dx[j] = a8_dx(a + j * A8_QB);
	const __m256 dv = per == 2 ? _mm256_setr_ps(dx[0], dx[1], dx[0], dx[1], dx[0], dx[1], dx[0], dx[1])
				   : _mm256_setr_ps(dx[0], dx[1], dx[2], dx[3], dx[0], dx[1], dx[2], dx[3]);
	c[0] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)unit)), dv);
	c[1] = per == 2 ? c[0] : _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(unit + 16))), dv);
}

/* Block j's d dx for the unit's 4 rows, row i in lane i, from a8_unit_scales' c */
A8_FN __m128 a8_block_scales4(const __m256 c[2], int per, int j)
{
	if (per == 2)
		return _mm256_castps256_ps128(_mm256_permutevar8x32_ps(c[0], _mm256_setr_epi32(j, 2 + j, 4 + j, 6 + j, 0, 0, 0, 0)));
	const __m256i ix = _mm256_setr_epi32(j, 4 + j, 0, 0, 0, 0, 0, 0);
	return _mm_movelh_ps(_mm256_castps256_ps128(_mm256_permutevar8x32_ps(c[0], ix)),
			     _mm256_castps256_ps128(_mm256_permutevar8x32_ps(c[1], ix)));
}

/* One token on a rows4 group of Q8_0, Q4_0 or Q5_0: per unit (2 or 4 blocks of the 4 rows) the rows'
 * scales converted at once and multiplied by the blocks' dx, each block's activations loaded once for
 * the 4 rows, and Q4_0/Q5_0's codes taken unsigned (u = c + 8 or c + 16), the offset subtracted from
 * vpmaddubsw's pairs (u . q - o (q pair sums), the same 16-bit values as |c| times q with c's sign).
 * Each block's 4 sums are whole integers (one horizontal sum for the 4 rows), converted and added as
 * fma(S, d dx, acc) in block order: the sums every b32 tile forms, bit for bit. Q4_0's and Q5_0's
 * pairs are small enough to add four rows' in 16 bits (a8_hsum4_epi16) and take the offset from
 * the 4 sums at the end (the codes' sum of the activations' block): in-process A/B one thread from
 * L3 against a vpmaddwd and a subtraction per row, Q4_0 0.73-0.80 of the time, Q5_0 0.91-0.93 (its
 * fifth bits, 5 steps a row and block, are most of the rest). */
A8_FN void a8_tile1_b32_r4(enum ds_dtype t, const struct a8_rows *r, long k, const uint8_t *a0, int pf,
			   float out[][4])
{
	const long nb = k / 32;
	const int per = r->per;                  /* 2 (Q8_0) or 4 */
	__m128 acc = _mm_setzero_ps();
	for (long b0 = 0; b0 < nb; b0 += per) {
		const uint8_t *unit = r->p0[0] + (size_t)(b0 / per) * r->unit;
		if (pf)
			a8_prefetch_unit(unit, r->unit);
		__m256 c[2], cm[2];
		a8_unit_scales(unit, per, a0 + b0 * A8_QB, c);
		if (t == DS_Q5_1)   /* the mins times dx */
			a8_unit_scales(unit + 32, per, a0 + b0 * A8_QB, cm);
		A8_UNROLL for (int j = 0; j < per; j++) {
			const long b = b0 + j;
			const uint8_t *ab = a0 + b * A8_QB;
			const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)ab);
			__m256i sv[4];
			A8_UNROLL for (int i = 0; i < 4; i++) {
				const uint8_t *cq = r->p1[i] + (size_t)(b0 / per) * r->unit + (size_t)j * (size_t)r->cstep;
				if (t == DS_Q8_0) {
					const __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)cq);
					sv[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w)),
								  _mm256_set1_epi16(1));
				} else {   /* u . q in 16 bits: pairs of at most 2 x 31 x 127 */
					const __m256i u = a8_nibble_codes(cq, t == DS_Q5_0 || t == DS_Q5_1 ? r->p2[i] +
									  (size_t)(b0 / per) * r->unit + 4 * (size_t)j : NULL);
					sv[i] = _mm256_maddubs_epi16(u, q);
				}
			}
			__m128i sums;
			if (t == DS_Q8_0) {
				sums = a8_hsum4_epi32(sv);
			} else if (t == DS_Q5_1) {   /* its min is added apart */
				sums = a8_hsum4_epi16(sv);
			} else {   /* less the offset o (8 for Q4_0, 16 for Q5_0) times the codes' sum */
				int32_t qsum;
				memcpy(&qsum, ab + A8_QB_SUM, sizeof qsum);
				sums = _mm_sub_epi32(a8_hsum4_epi16(sv), _mm_set1_epi32(qsum * (t == DS_Q4_0 ? 8 : 16)));
			}
			acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), a8_block_scales4(c, per, j), acc);
			if (t == DS_Q5_1)
				acc = _mm_fmadd_ps(_mm_set1_ps(a8_qsum(ab)), a8_block_scales4(cm, per, j), acc);
		}
	}
	_mm_storeu_ps(out[0], acc);
}

/* Two tokens on a rows4 group of Q8_0, Q4_0 or Q5_0 (prompts and batches, the group's bytes in cache):
 * a8_tile1_b32_r4's steps with each block's codes taken apart once for both tokens; each (row, token)
 * sum is a8_tile1_b32_r4's, bit for bit. */
A8_FN void a8_tile2_b32_r4(enum ds_dtype t, const struct a8_rows *r, long k, const uint8_t *a0, long tstride,
			   float out[][4])
{
	const long nb = k / 32;
	const int per = r->per;
	const __m256i ones8 = _mm256_set1_epi8(1);
	__m128 acc[2] = { _mm_setzero_ps(), _mm_setzero_ps() };
	for (long b0 = 0; b0 < nb; b0 += per) {
		const uint8_t *unit = r->p0[0] + (size_t)(b0 / per) * r->unit;
		__m256 c[2][2], cm[2][2];
		A8_UNROLL for (int n = 0; n < 2; n++) {
			a8_unit_scales(unit, per, a0 + (long)n * tstride + b0 * A8_QB, c[n]);
			if (t == DS_Q5_1)
				a8_unit_scales(unit + 32, per, a0 + (long)n * tstride + b0 * A8_QB, cm[n]);
		}
		A8_UNROLL for (int j = 0; j < per; j++) {
			const long b = b0 + j;
			__m256i q[2], corr[2];
			A8_UNROLL for (int n = 0; n < 2; n++) {
				q[n] = _mm256_loadu_si256((const __m256i *)(const void *)(a0 + (long)n * tstride + b * A8_QB));
				corr[n] = t == DS_Q8_0 || t == DS_Q5_1 ? _mm256_setzero_si256()
						       : _mm256_slli_epi16(_mm256_maddubs_epi16(ones8, q[n]), t == DS_Q4_0 ? 3 : 4);
			}
			__m256i sv[2][4];
			A8_UNROLL for (int i = 0; i < 4; i++) {
				const uint8_t *cq = r->p1[i] + (size_t)(b0 / per) * r->unit + (size_t)j * (size_t)r->cstep;
				__m256i w = _mm256_setzero_si256(), u = w;
				if (t == DS_Q8_0) {
					w = _mm256_loadu_si256((const __m256i *)(const void *)cq);
					u = _mm256_sign_epi8(w, w);
				} else {
					u = a8_nibble_codes(cq, t == DS_Q5_0 || t == DS_Q5_1 ? r->p2[i] + (size_t)(b0 / per) *
									  r->unit + 4 * (size_t)j : NULL);
				}
				A8_UNROLL for (int n = 0; n < 2; n++) {
					const __m256i p = t == DS_Q8_0 ? _mm256_maddubs_epi16(u, _mm256_sign_epi8(q[n], w))
								       : _mm256_sub_epi16(_mm256_maddubs_epi16(u, q[n]), corr[n]);
					sv[n][i] = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
				}
			}
			A8_UNROLL for (int n = 0; n < 2; n++) {
				acc[n] = _mm_fmadd_ps(_mm_cvtepi32_ps(a8_hsum4_epi32(sv[n])), a8_block_scales4(c[n], per, j), acc[n]);
				if (t == DS_Q5_1)
					acc[n] = _mm_fmadd_ps(_mm_set1_ps(a8_qsum(a0 + (long)n * tstride + b * A8_QB)),
							      a8_block_scales4(cm[n], per, j), acc[n]);
			}
		}
	}
	A8_UNROLL for (int n = 0; n < 2; n++)
		_mm_storeu_ps(out[n], acc[n]);
}

/* out[t][i] = row i . token t for NR rows and NT tokens (activations at a0, tstride apart). rows4 takes
 * the tokens in pairs; the file's layout walks a row at a time with the tokens' sums in registers, 4
 * blocks' integer sums of a token at once (one horizontal sum), then added block by block. Each (row,
 * token) sum is fma(S_b, d_b dx_b, acc) over the blocks b in order either way. */
A8_FN void a8_tile_b32(enum ds_dtype t, int NR, int NT, const struct a8_rows *r, long k, const uint8_t *a0,
		       long tstride, int pf, float out[][4])
{
	const long nb = k / 32;
	if (NR == 4) {   /* rows4: the tokens in pairs, a last odd one alone */
		int n = 0;
		for (; n + 2 <= NT; n += 2)
			a8_tile2_b32_r4(t, r, k, a0 + (long)n * tstride, tstride, out + n);
		if (n < NT)
			a8_tile1_b32_r4(t, r, k, a0 + (long)n * tstride, pf, out + n);
		return;
	}
	float acc[A8_NT] = { 0 };
	long b = 0;
	for (; b + 4 <= nb; b += 4) {
		if (pf)   /* a block is one row's */
			for (int j = 0; j < 4; j++)
				a8_prefetch_unit(r->p0[0] + (size_t)(b + j) * r->unit, 64);
		float d[4], m[4] = { 0, 0, 0, 0 };
		__m256i w[4], aw[4];
		A8_UNROLL for (int j = 0; j < 4; j++) {
			w[j] = a8_b32_codes(t, r, 0, b + j, &d[j], &m[j]);
			aw[j] = _mm256_sign_epi8(w[j], w[j]);
		}
		A8_UNROLL for (int n = 0; n < NT; n++) {
			const uint8_t *a = a0 + (long)n * tstride + b * A8_QB;
			__m256i sv[4];
			float s[4];
			A8_UNROLL for (int j = 0; j < 4; j++)
				sv[j] = a8_b32_lanes(w[j], aw[j], a + j * A8_QB);
			_mm_storeu_ps(s, _mm_cvtepi32_ps(a8_hsum4_epi32(sv)));
			A8_UNROLL for (int j = 0; j < 4; j++) {
				acc[n] = __builtin_fmaf(s[j], d[j] * a8_dx(a + j * A8_QB), acc[n]);
				if (t == DS_Q5_1)
					acc[n] = __builtin_fmaf(a8_qsum(a + j * A8_QB), m[j] * a8_dx(a + j * A8_QB), acc[n]);
			}
		}
	}
	for (; b < nb; b++) {
		if (pf)
			a8_prefetch_unit(r->p0[0] + (size_t)b * r->unit, 64);
		float d, m = 0;
		const __m256i w = a8_b32_codes(t, r, 0, b, &d, &m), aw = _mm256_sign_epi8(w, w);
		A8_UNROLL for (int n = 0; n < NT; n++) {
			const uint8_t *a = a0 + (long)n * tstride + b * A8_QB;
			acc[n] = __builtin_fmaf((float)a8_hsum_epi32(a8_b32_lanes(w, aw, a)), d * a8_dx(a), acc[n]);
			if (t == DS_Q5_1)
				acc[n] = __builtin_fmaf(a8_qsum(a), m * a8_dx(a), acc[n]);
		}
	}
	A8_UNROLL for (int n = 0; n < NT; n++)
		out[n][0] = out[n][1] = out[n][2] = out[n][3] = acc[n];
}

/* ---- Q4_K ---- */

/* shuffle indices that repeat int16 lane j of each 128-bit lane */
static const int8_t a8_bcast16[8][32] __attribute__((aligned(32))) = {
#define A8_B(j) { 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, \
	2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1, 2*j, 2*j+1 }
	A8_B(0), A8_B(1), A8_B(2), A8_B(3), A8_B(4), A8_B(5), A8_B(6), A8_B(7)
#undef A8_B
};

A8_FN __m256i a8_bcast(__m256i v, int j)
{
	return _mm256_shuffle_epi8(v, _mm256_load_si256((const __m256i *)(const void *)a8_bcast16[j]));
}

/* One row's Q4_K super-block (12 scale bytes at sc12, nibbles at qs) times NT tokens' super-blocks (at
 * a, tstride apart): per token t the integer sum of sc_j (u_j . q_j) in 8 lanes at isum[t * os], and of
 * m_j (sum of q_j) in 4 at msum[t * os]; each sub-block's nibbles taken apart once for all the tokens */
A8_FN void a8_q4k_row(int NT, const uint8_t *sc12, const uint8_t *qs, const uint8_t *a, long tstride,
		      __m256i *isum, __m128i *msum, int os)
{
	const __m256i nib = _mm256_set1_epi8(0x0f);
	uint64_t sc, mn;
	ds_k_scales8(sc12, &sc, &mn);
	const __m256i scv = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
	const __m128i mnv = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn));
	__m256i acc[A8_NT];
	A8_UNROLL for (int t = 0; t < NT; t++) {
		msum[t * os] = _mm_madd_epi16(mnv, _mm_loadu_si128((const __m128i *)(const void *)
							(a + (long)t * tstride + A8_KSB_BS)));
		acc[t] = _mm256_setzero_si256();
	}
	A8_UNROLL for (int j = 0; j < 4; j++) {
		const __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * j));
		const __m256i lo = _mm256_and_si256(w, nib), hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), nib);
		const __m256i slo = a8_bcast(scv, 2 * j), shi = a8_bcast(scv, 2 * j + 1);
		A8_UNROLL for (int t = 0; t < NT; t++) {
			const uint8_t *at = a + (long)t * tstride + 64 * j;
			__m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(const void *)at));
			__m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(const void *)(at + 32)));
			acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(_mm256_madd_epi16(pl, slo), _mm256_madd_epi16(ph, shi)));
		}
	}
	A8_UNROLL for (int t = 0; t < NT; t++)
		isum[t * os] = acc[t];
}

/* d and dmin of the NR rows (4: a rows4 group's, interleaved at dm; 1: the row's, in every lane) */
A8_FN void a8_q4k_dm(int NR, const uint8_t *dm, __m128 *d, __m128 *dmin)
{
	__m128i h;
	if (NR == 4) {
		h = _mm_loadu_si128((const __m128i *)(const void *)dm);
	} else {
		int32_t v;
		memcpy(&v, dm, 4);
		h = _mm_set1_epi32(v);
	}
	const __m256 f = _mm256_cvtph_ps(h);
	const __m128 lo = _mm256_castps256_ps128(f), hi = _mm256_extractf128_ps(f, 1);
	*d = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
	*dmin = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
}

/* acc (the NR rows' sums) += one super-block's integer sums is (4 rows' 8 lanes) and m4 (the rows' min
 * sums, one a lane), scaled by d dx and dmin dx */
A8_FN __m128 a8_q4k_add4(__m128 acc, const __m256i *is, __m128i m4, __m128 d, __m128 dmin, const uint8_t *a)
{
	float dx;
	memcpy(&dx, a + A8_KSB_DX, sizeof dx);
	const __m128 vdx = _mm_set1_ps(dx);
	acc = _mm_fmadd_ps(_mm_cvtepi32_ps(a8_hsum4_epi32(is)), _mm_mul_ps(d, vdx), acc);
	return _mm_fnmadd_ps(_mm_cvtepi32_ps(m4), _mm_mul_ps(dmin, vdx), acc);
}

/* The same with each row's min sums in 4 lanes (m0..m3) */
A8_FN __m128 a8_q4k_add(__m128 acc, const __m256i *is, __m128i m0, __m128i m1, __m128i m2, __m128i m3, __m128 d,
			__m128 dmin, const uint8_t *a)
{
	return a8_q4k_add4(acc, is, _mm_hadd_epi32(_mm_hadd_epi32(m0, m1), _mm_hadd_epi32(m2, m3)), d, dmin, a);
}

/* Two rows' 12 scale bytes (row A's at sa, row B's at sb) unpacked as ds_k_scales8 does, lane 0 row A's
 * and lane 1 row B's: bytes 0-7 the 8 sub-block scales, 8-15 the 8 mins (16 bytes read at each) */
A8_FN __m256i a8_q4k_scales2(const uint8_t *sa, const uint8_t *sb)
{
	const __m256i raw = _mm256_loadu2_m128i((const __m128i *)(const void *)sb, (const __m128i *)(const void *)sa);
	const __m256i a = _mm256_shuffle_epi8(raw, _mm256_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11,
								   0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
	const __m256i b = _mm256_shuffle_epi8(raw, _mm256_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7,
								   -1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
	const __m256i low = _mm256_and_si256(a, _mm256_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0,
								  0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0));
	const __m256i high_nibble = _mm256_and_si256(_mm256_srli_epi16(a, 4), _mm256_setr_epi32(0, 0, 0, 0x0f0f0f0f,
												 0, 0, 0, 0x0f0f0f0f));
	const __m256i top = _mm256_and_si256(_mm256_srli_epi16(b, 2), _mm256_setr_epi32(0, 0x30303030, 0, 0x30303030,
											0, 0x30303030, 0, 0x30303030));
	return _mm256_or_si256(_mm256_or_si256(low, high_nibble), top);
}

/* NT tokens (1..A8_NT, at a0, tstride apart) on NR rows (4 of a rows4 group, or 1 in the file's
 * layout) of Q4_K, or of Q5_K (q5: a fifth bit per weight from 32 bytes, bit 2 j of byte i for weight
 * 64 j + i, bit 2 j + 1 for 64 j + 32 + i): a8_tile_k's integer sums and float steps, with the two
 * sub-blocks of each 64 weights side by side, one per 128-bit lane. Byte i of a row's 32 bytes at
 * 32 j holds weight 64 j + i in its low nibble and 64 j + 32 + i in its high one, so its first 16
 * bytes broadcast to both lanes and shifted by 0 in lane 0 and 4 in lane 1 are weights 0-15 of
 * sub-block 2 j and 0-15 of sub-block 2 j + 1, its last 16 bytes the same for 16-31 (Q5_K's fifth
 * bits the same way: bit 2 j tested in lane 0, 2 j + 1 in lane 1). Against the activations in that
 * order (permuted once a super-block for the rows) the two products add in 16 bits (at most
 * 4 x 15 x 127, Q5_K 4 x 31 x 127), and one vpmaddwd by (scale 2 j, scale 2 j + 1) a lane takes them
 * to 32. Against a8_tile_k, which took each 32 bytes' low and high nibbles apart as whole sub-blocks:
 * one multiply in 16 bits and one broadcast of a scale less per 64 weights and row, the scales
 * unpacked two rows at once in vector registers, the activations loaded once for the 4 rows; for
 * one token of Q4_K about 280 instructions a super-block of 4 rows against 400.
 * In-process A/B against a8_tile_k on Q4_K rows4 (same bits):
 * - one token, one thread, 1-16 MB (this kernel, not the memory, is the limit there): 0.71-0.77 of
 *   the time (10.1 -> 14.2 GB/s); two threads streaming 256 MB from memory: 0.85-0.97;
 * - 2-12 tokens (tiles of up to 4), one thread, 4 MB from L3: 0.78-0.84.
 * A one-token copy that kept the activations in registers across the rows was 0.93-0.97 of this
 * one's time from L3, but even or slower with two threads from memory, where decode reads. */
A8_FN void a8_tile_k45(int q5, int NR, int NT, const struct a8_rows *r, long k, const uint8_t *a0, long tstride,
		       int pf, float out[][4])
{
	const long nsb = k / 256;
	const __m256i nib = _mm256_set1_epi8(0x0f), lane_shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
	const __m256i min_words = _mm256_setr_epi8(8, -1, 9, -1, 10, -1, 11, -1, 12, -1, 13, -1, 14, -1, 15, -1,
						   8, -1, 9, -1, 10, -1, 11, -1, 12, -1, 13, -1, 14, -1, 15, -1);
	__m128 acc[A8_NT];
	A8_UNROLL for (int t = 0; t < NT; t++)
		acc[t] = _mm_setzero_ps();
	for (long s = 0; s < nsb; s++) {
		const size_t off = (size_t)s * r->unit;
		if (pf)
			a8_prefetch_unit(r->p0[0] + off, NR == 4 ? r->unit : q5 ? 176 : 144);
		__m256i x[A8_NT][4][2];
		A8_UNROLL for (int t = 0; t < NT; t++)
			A8_UNROLL for (int j = 0; j < 4; j++) {
				const uint8_t *a = a0 + (long)t * tstride + s * A8_KSB + 64 * j;
				const __m256i a_first = _mm256_loadu_si256((const __m256i *)(const void *)a);
				const __m256i a_second = _mm256_loadu_si256((const __m256i *)(const void *)(a + 32));
				x[t][j][0] = _mm256_permute2x128_si256(a_first, a_second, 0x20);
				x[t][j][1] = _mm256_permute2x128_si256(a_first, a_second, 0x31);
			}
		/* the rows' scales and mins, lane 0 row 0 (2), lane 1 row 1 (3); one row: itself in both */
		const __m256i sc01 = a8_q4k_scales2(r->p1[0] + off, r->p1[NR == 4 ? 1 : 0] + off);
		const __m256i sc23 = NR == 4 ? a8_q4k_scales2(r->p1[2] + off, r->p1[3] + off) : sc01;
		__m256i is[A8_NT][4];
		A8_UNROLL for (int i = 0; i < NR; i++) {
			const __m256i sv = _mm256_permute2x128_si256(i < 2 ? sc01 : sc23, i < 2 ? sc01 : sc23,
								     i % 2 ? 0x11 : 0x00);
			__m256i row[A8_NT];
			A8_UNROLL for (int t = 0; t < NT; t++)
				row[t] = _mm256_setzero_si256();
			A8_UNROLL for (int j = 0; j < 4; j++) {
				const uint8_t *q = r->p2[i] + off + 32 * j;
				__m256i w_lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_broadcastsi128_si256(
					_mm_loadu_si128((const __m128i *)(const void *)q)), lane_shift), nib);
				__m256i w_hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_broadcastsi128_si256(
					_mm_loadu_si128((const __m128i *)(const void *)(q + 16))), lane_shift), nib);
				if (q5) {   /* + 16 where the weight's fifth bit is set */
					const uint8_t *qh = r->p3[i] + off;
					const __m256i bit = _mm256_setr_m128i(_mm_set1_epi8((char)(1 << 2 * j)),
									_mm_set1_epi8((char)(1 << (2 * j + 1))));
					const __m256i h_lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)qh));
					const __m256i h_hi = _mm256_broadcastsi128_si256(
						_mm_loadu_si128((const __m128i *)(const void *)(qh + 16)));
					const __m256i sixteen = _mm256_set1_epi8(16);
					w_lo = _mm256_or_si256(w_lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h_lo, bit), bit),
										       sixteen));
					w_hi = _mm256_or_si256(w_hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h_hi, bit), bit),
										       sixteen));
				}
				const __m256i scale = _mm256_shuffle_epi8(sv, _mm256_setr_epi8(
					2 * j, -1, 2 * j, -1, 2 * j, -1, 2 * j, -1, 2 * j, -1, 2 * j, -1, 2 * j, -1, 2 * j, -1,
					2 * j + 1, -1, 2 * j + 1, -1, 2 * j + 1, -1, 2 * j + 1, -1, 2 * j + 1, -1, 2 * j + 1, -1,
					2 * j + 1, -1, 2 * j + 1, -1));
				A8_UNROLL for (int t = 0; t < NT; t++) {
					const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w_lo, x[t][j][0]),
									   _mm256_maddubs_epi16(w_hi, x[t][j][1]));
					row[t] = _mm256_add_epi32(row[t], _mm256_madd_epi16(p, scale));
				}
			}
			A8_UNROLL for (int t = 0; t < NT; t++)
				is[t][i] = row[t];
		}
		A8_UNROLL for (int t = 0; t < NT; t++)   /* one row: its sums in every slot, as a8_tile_k */
			for (int i = NR; i < 4; i++)
				is[t][i] = is[t][0];
		__m128 d, dmin;
		a8_q4k_dm(NR, r->p0[0] + off, &d, &dmin);
		const __m256i mw01 = _mm256_shuffle_epi8(sc01, min_words), mw23 = _mm256_shuffle_epi8(sc23, min_words);
		A8_UNROLL for (int t = 0; t < NT; t++) {
			const uint8_t *a = a0 + (long)t * tstride + s * A8_KSB;
			const __m256i bs = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(a + A8_KSB_BS)));
			const __m256i h = _mm256_hadd_epi32(_mm256_madd_epi16(mw01, bs), _mm256_madd_epi16(mw23, bs));
			const __m256i hh = _mm256_hadd_epi32(h, h);
			/* hh: lane 0 (rows 0, 2, 0, 2), lane 1 (rows 1, 3, 1, 3) */
			const __m128i m4 = _mm_unpacklo_epi32(_mm256_castsi256_si128(hh), _mm256_extracti128_si256(hh, 1));
			acc[t] = a8_q4k_add4(acc[t], is[t], m4, d, dmin, a);
		}
	}
	A8_UNROLL for (int t = 0; t < NT; t++)
		_mm_storeu_ps(out[t], acc[t]);
}

/* ---- Q6_K ---- */

/* pshufb indices that give, from 8 int16 scales in each 128-bit lane, scale 2c in every int16 of the
 * low lane and scale 2c + 1 in every int16 of the high lane (c < 4) */
static const int8_t a8_q6_pair[4][32] __attribute__((aligned(32))) = {
#define A8_P(c) { 4*c, 4*c+1, 4*c, 4*c+1, 4*c, 4*c+1, 4*c, 4*c+1, 4*c, 4*c+1, 4*c, 4*c+1, 4*c, 4*c+1, 4*c, 4*c+1, \
	4*c+2, 4*c+3, 4*c+2, 4*c+3, 4*c+2, 4*c+3, 4*c+2, 4*c+3, 4*c+2, 4*c+3, 4*c+2, 4*c+3, 4*c+2, 4*c+3, 4*c+2, 4*c+3 }
	A8_P(0), A8_P(1), A8_P(2), A8_P(3)
#undef A8_P
};

/* One row's Q6_K super-block (low nibbles ql, high pairs qh, 16 scales at scp) times NT tokens'
 * super-blocks (at a, tstride apart): per token t the integer sum of sc_g (u_g . q_g) - 32 sc_g (sum of
 * q_g) in 8 lanes at isum[t * os]; the codes taken apart once for all the tokens */
A8_FN void a8_q6k_row(int NT, const uint8_t *ql, const uint8_t *qh, const uint8_t *scp, const uint8_t *a,
		      long tstride, __m256i *isum, int os)
{
	const __m256i nib = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(0x30);
	const __m128i sc = _mm_loadu_si128((const __m128i *)(const void *)scp);
	const __m256i sc16 = _mm256_cvtepi8_epi16(sc);
	/* scales 0-7 (for the first half's chunks) and 8-15 (the second's) as int16 in both lanes */
	const __m256i sclo = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc16));
	const __m256i schi = _mm256_broadcastsi128_si256(_mm256_extracti128_si256(sc16, 1));
	__m256i acc[A8_NT];
	A8_UNROLL for (int t = 0; t < NT; t++)   /* the -32 offset first: -32 sum_g sc_g (sum of q_g) */
		acc[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16,
			_mm256_loadu_si256((const __m256i *)(const void *)(a + (long)t * tstride + A8_KSB_GS))), 5));
	A8_UNROLL for (int h = 0; h < 2; h++) {
		const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 64 * h));
		const __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 64 * h + 32));
		const __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)(qh + 32 * h));
		__m256i u[4];
		u[0] = _mm256_or_si256(_mm256_and_si256(l0, nib), _mm256_and_si256(_mm256_slli_epi16(hb, 4), two));
		u[1] = _mm256_or_si256(_mm256_and_si256(l1, nib), _mm256_and_si256(_mm256_slli_epi16(hb, 2), two));
		u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), nib), _mm256_and_si256(hb, two));
		u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), nib),
				       _mm256_and_si256(_mm256_srli_epi16(hb, 2), two));
		A8_UNROLL for (int q = 0; q < 4; q++) {
			const int c = 4 * h + q;   /* values 32c .. 32c + 31: groups 2c and 2c + 1 */
			const __m256i scq = _mm256_shuffle_epi8(h ? schi : sclo,
					_mm256_load_si256((const __m256i *)(const void *)a8_q6_pair[q]));
			A8_UNROLL for (int t = 0; t < NT; t++) {
				const uint8_t *at = a + (long)t * tstride + 32 * c;
				__m256i p = _mm256_maddubs_epi16(u[q], _mm256_loadu_si256((const __m256i *)(const void *)at));
				acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(p, scq));
			}
		}
	}
	A8_UNROLL for (int t = 0; t < NT; t++)
		isum[t * os] = acc[t];
}

/* d of the NR rows (4: a rows4 group's, one after another at dp; 1: the row's, in every lane) */
A8_FN __m128 a8_q6k_d(int NR, const uint8_t *dp)
{
	if (NR == 4)
		return _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(const void *)dp));
	return _mm_set1_ps(a8_h2f(dp));
}

A8_FN __m128 a8_q6k_add(__m128 acc, const __m256i *is, __m128 d, const uint8_t *a)
{
	float dx;
	memcpy(&dx, a + A8_KSB_DX, sizeof dx);
	return _mm_fmadd_ps(_mm_cvtepi32_ps(a8_hsum4_epi32(is)), _mm_mul_ps(d, _mm_set1_ps(dx)), acc);
}

/* ---- the K-quant tiles (Q4_K: q6 0, Q6_K: q6 1) ---- */

/* Row i of r's super-block at off times NT tokens' (at a, tstride apart): its integer sums into is[t * os]
 * (and Q4_K's min sums into ms[t * os]) */
A8_FN void a8_krow(int q6, int NT, const struct a8_rows *r, int i, size_t off, const uint8_t *a, long tstride,
		   __m256i *is, __m128i *ms, int os)
{
	if (q6)
		a8_q6k_row(NT, r->p0[i] + off, r->p1[i] + off, r->p2[i] + off, a, tstride, is, os);
	else
		a8_q4k_row(NT, r->p1[i] + off, r->p2[i] + off, a, tstride, is, ms, os);
}

/* acc (the 4 rows' sums for one token) += a super-block's integer sums is and ms, converted and scaled */
A8_FN __m128 a8_kadd(int q6, int NR, const struct a8_rows *r, size_t off, __m128 acc, const __m256i *is,
		     const __m128i *ms, const uint8_t *a)
{
	if (q6)
		return a8_q6k_add(acc, is, a8_q6k_d(NR, r->p3[0] + off), a);
	__m128 d, dmin;
	a8_q4k_dm(NR, r->p0[0] + off, &d, &dmin);
	return a8_q4k_add(acc, is, ms[0], ms[1], ms[2], ms[3], d, dmin, a);
}

/* Several tokens: each row's sums for the NT tokens written to is and ms (on the stack: written once a
 * row and super-block, while the sums of the row's loop stay in registers) */
A8_FN void a8_tile_k(int q6, int NR, int NT, const struct a8_rows *r, long k, const uint8_t *a0, long tstride,
		     int pf, float out[][4])
{
	const long nsb = k / 256;
	__m128 acc[A8_NT];
	A8_UNROLL for (int t = 0; t < NT; t++)
		acc[t] = _mm_setzero_ps();
	for (long s = 0; s < nsb; s++) {
		const size_t off = (size_t)s * r->unit;
		const uint8_t *a = a0 + s * A8_KSB;
		if (pf)
			a8_prefetch_unit(r->p0[0] + off, NR == 4 ? r->unit : q6 ? 210 : 144);
		__m256i is[A8_NT][4];
		__m128i ms[A8_NT][4];
		for (int i = 0; i < NR; i++)
			a8_krow(q6, NT, r, i, off, a, tstride, &is[0][i], &ms[0][i], 4);
		A8_UNROLL for (int t = 0; t < NT; t++) {
			for (int i = NR; i < 4; i++) {
				is[t][i] = is[t][0];
				ms[t][i] = ms[t][0];
			}
			acc[t] = a8_kadd(q6, NR, r, off, acc[t], is[t], ms[t], a + (long)t * tstride);
		}
	}
	A8_UNROLL for (int t = 0; t < NT; t++)
		_mm_storeu_ps(out[t], acc[t]);
}

/* One token (decode): the same sums with each row's in plain variables. a8_tile_k's arrays, sized for
 * A8_NT tokens, GCC leaves on the stack: a 5 KB frame and a third of the loop's instructions moving
 * sums to and from it (in-process A/B from L3, one thread: these 0.90-0.98 of the time). Each row's
 * integer sums are a8_tile_k's, in the same order, and so are the conversions. */
A8_FN void a8_tile1_k(int q6, int NR, const struct a8_rows *r, long k, const uint8_t *a0, int pf, float out[][4])
{
	const long nsb = k / 256;
	__m128 acc = _mm_setzero_ps();
	for (long s = 0; s < nsb; s++) {
		const size_t off = (size_t)s * r->unit;
		const uint8_t *a = a0 + s * A8_KSB;
		if (pf)
			a8_prefetch_unit(r->p0[0] + off, NR == 4 ? r->unit : q6 ? 210 : 144);
		__m256i i0, i1, i2, i3;
		__m128i m0 = _mm_setzero_si128(), m1, m2, m3;
		a8_krow(q6, 1, r, 0, off, a, 0, &i0, &m0, 1);
		i1 = i2 = i3 = i0;
		m1 = m2 = m3 = m0;
		if (NR == 4) {
			a8_krow(q6, 1, r, 1, off, a, 0, &i1, &m1, 1);
			a8_krow(q6, 1, r, 2, off, a, 0, &i2, &m2, 1);
			a8_krow(q6, 1, r, 3, off, a, 0, &i3, &m3, 1);
		}
		const __m256i is[4] = { i0, i1, i2, i3 };
		const __m128i ms[4] = { m0, m1, m2, m3 };
		acc = a8_kadd(q6, NR, r, off, acc, is, ms, a);
	}
	_mm_storeu_ps(out[0], acc);
}

/* ---- the rows ---- */

A8_FN void a8_tile(enum ds_dtype t, int NR, int NT, const struct a8_rows *r, long k, const uint8_t *a,
		   long tstride, int pf, float out[][4])
{
	/* Q4_K in the file's layout keeps a8_tile_k's form: for one row a8_tile_k45 permutes the
	 * activations for that row alone (in-process A/B, one token: 1.05-1.08 times a8_tile1_k's time) */
	if (t == DS_Q8_0 || t == DS_Q4_0 || t == DS_Q5_0 || t == DS_Q5_1)
		a8_tile_b32(t, NR, NT, r, k, a, tstride, pf, out);
	else if ((t == DS_Q4_K && NR == 4) || t == DS_Q5_K)
		a8_tile_k45(t == DS_Q5_K, NR, NT, r, k, a, tstride, pf, out);
	else if (NT == 1)
		a8_tile1_k(t == DS_Q6_K, NR, r, k, a, pf, out);
	else
		a8_tile_k(t == DS_Q6_K, NR, NT, r, k, a, tstride, pf, out);
}

/* One tile of NR rows (4 of a rows4 group, or 1) for nt (1..A8_NT) tokens */
A8_FN void a8_tile_n(enum ds_dtype t, int r4, int nt, const struct a8_rows *r, long k, const uint8_t *a,
		     long tstride, int pf, float out[][4])
{
	switch (nt) {
	case 1: a8_tile(t, r4 ? 4 : 1, 1, r, k, a, tstride, pf, out); break;
	case 2: a8_tile(t, r4 ? 4 : 1, 2, r, k, a, tstride, pf, out); break;
	case 3: a8_tile(t, r4 ? 4 : 1, 3, r, k, a, tstride, pf, out); break;
	default: a8_tile(t, r4 ? 4 : 1, 4, r, k, a, tstride, pf, out); break;
	}
}

/* rows [r0, r1) of w for n tokens quantized at aq (tstride apart), into y[t * ldy + row]: blocks of
 * A8_ROWBLOCK rows whose weights stay in cache while each group of up to A8_NT tokens passes over
 * them; rows4 matrices a group of 4 rows a tile (rows outside [r0, r1) computed, not stored), the
 * file's layout a row a tile (one stream from memory). */
A8_FN void a8_rows_t(enum ds_dtype t, int r4, const struct ds_tensor *w, long r0, long r1, const uint8_t *aq,
		     long tstride, int n, float *y, long ldy)
{
	const long k = (long)w->cols;
	const size_t rb = ds_row_bytes(t, w->cols);
	const uint8_t *base = w->data;
	const int step = r4 ? 4 : 1, pf = n <= A8_NT;
	for (long b0 = r4 ? r0 / 4 * 4 : r0; b0 < r1; b0 += A8_ROWBLOCK) {
		long b1 = b0 + A8_ROWBLOCK < r1 ? b0 + A8_ROWBLOCK : r1;
		for (int i = 0; i < n; i += A8_NT) {
			int nt = n - i < A8_NT ? n - i : A8_NT;
			for (long g = b0; g < b1; g += step) {
				struct a8_rows r;
				float o[A8_NT][4];
				if (r4)
					a8_rows_group(t, base + (size_t)g * rb, &r);
				else
					a8_rows_plain(t, base + (size_t)g * rb, &r);
				a8_tile_n(t, r4, nt, &r, k, aq + (long)i * tstride, tstride, pf, o);
				for (int j = 0; j < nt; j++)
					for (int q = 0; q < step; q++)
						if (g + q >= r0 && g + q < r1)
							y[(long)(i + j) * ldy + g + q] = o[j][q];
			}
		}
	}
}

/* ---- Q4_K on many tokens: rows in the lanes ----
 * The tiles above keep a row's super-block in the lanes and the tokens in registers; every (row,
 * token) then pays for its own sums across the lanes, and a16 products of one token reach the lanes
 * of only one row. On a prompt the rows take the lanes instead: a panel of 8 rows is taken apart once
 * (each 32-bit lane one row's 4 codes of 4 consecutive columns) and every token's 4 activation codes
 * of those columns are broadcast against it, so one vpmaddubsw forms 32 products for 8 rows and the
 * sums need no reduction across lanes: the sub-block's int16 sums meet its scales in one vpmaddwd
 * (pairs of 16 bits: at most 8 x 2 x 15 x 127 = 30480), the mins in 4 per super-block. The integers
 * are those of a8_q4k_row (exact sums, in any order) and the float steps per super-block those of
 * a8_q4k_add lane for lane (the same fused products of d dx and dmin dx), so each (row, token) sum is
 * the one-token tile's, bit for bit, whatever the tokens' number. The panel (2496 bytes a super-block)
 * is rebuilt per 8 rows and read from L1 by every group of 4 tokens. In-process A/B, 2 MB of Q4_K
 * (rows4) from L3, one thread, against the row tiles: 64 tokens 41 -> 75 G products a second (0.55
 * of the time), 96 tokens 0.54, 16 0.67, 8 0.86. With the weights from memory (64 MB), as a batch of
 * decode steps reads them, the row tiles' prefetch wins up to 12 tokens (8: 1.28 times the time, 12:
 * 1.05; 16: 0.94, 24: 0.82, 32: 0.69), hence A8_PQ_MIN; against the later row tiles with each 64
 * weights' sub-blocks side by side (a8_tile_k45), even at 16 tokens (0.96-1.00 of the panels'
 * time), 1.06 at 20, 1.09 at 24, 1.15 at 32. Kept out of line (a8_rows_packed chooses):
 * inlined next to the row tiles, it cost those 5-10% at 2-3 tokens. */

#define A8_PQ_SB 2496       /* panel bytes per super-block: the codes, then: */
#define A8_PQ_SC 2048       /* each sub-block's scales, row r's in int16 lanes 2r and 2r + 1 */
#define A8_PQ_MN 2304       /* each pair of sub-blocks' mins, row r's (m_2p, m_2p+1) in lanes 2r, 2r + 1 */
#define A8_PQ_D 2432        /* the 8 rows' d as floats */
#define A8_PQ_DMIN 2464     /* and their dmin */
#ifndef A8_PQ_MIN
#define A8_PQ_MIN 16        /* tokens from which Q4_K goes this way (the A/B above) */
#endif

/* v[i] lane j <- v[j] lane i, for 8 vectors of 8 32-bit lanes */
A8_FN void a8_transpose8(__m256i v[8])
{
	__m256i t[8], u[8];
	for (int i = 0; i < 8; i += 2) {
		t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
		t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
	}
	for (int i = 0; i < 8; i += 4) {
		u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
		u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
		u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
		u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
	}
	for (int i = 0; i < 4; i++) {
		v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
		v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
	}
}

/* A panel's lane r: the rows4 group rows[r / 4], slot r % 4 (r4), or the row rows[r], slot 0 */
A8_FN const struct a8_rows *a8_lane_row(const struct a8_rows *rows, int r4, int r, int *slot)
{
	*slot = r4 ? r % 4 : 0;
	return &rows[r4 ? r / 4 : r];
}

/* The panel of 8 Q4_K rows (lane r: a8_lane_row; see a8_rows_lanes_t) over nsb super-blocks */
A8_FN void a8_pq_build(int q5, const struct a8_rows *rows, int r4, long nsb, uint8_t *panel)
{
	const __m256i nib = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
	const uint8_t *dm[8], *sc12[8], *qs[8], *qh[8];
	for (int r = 0; r < 8; r++) {
		int i;
		const struct a8_rows *g = a8_lane_row(rows, r4, r, &i);
		dm[r] = g->p0[i], sc12[r] = g->p1[i], qs[r] = g->p2[i], qh[r] = g->p3[i];
	}
	const size_t unit = rows[0].unit;
	for (long s = 0; s < nsb; s++) {
		uint8_t *ps = panel + (size_t)s * A8_PQ_SB;
		const size_t off = (size_t)s * unit;
		for (int j = 0; j < 8; j++) {   /* sub-block j: the low (j even) or high nibbles of 32 bytes */
			__m256i v[8];
			A8_UNROLL for (int r = 0; r < 8; r++) {
				const __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(qs[r] + off + 32 * (j / 2)));
				v[r] = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(w, 4) : w, nib);
				if (q5) {   /* Q5_K: bit j of byte c is column c's fifth bit, worth 16 */
					const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(qh[r] + off));
					v[r] = _mm256_or_si256(v[r], _mm256_slli_epi16(_mm256_and_si256(
						_mm256_srli_epi16(h, j), one), 4));
				}
			}
			a8_transpose8(v);
			A8_UNROLL for (int q = 0; q < 8; q++)
				_mm256_store_si256((__m256i *)(void *)(ps + 256 * j + 32 * q), v[q]);
		}
		int16_t sc[128], mn[64];
		float d[8], dmin[8];
		for (int r = 0; r < 8; r++) {
			uint64_t scv, mnv;
			ds_k_scales8(sc12[r] + off, &scv, &mnv);
			for (int j = 0; j < 8; j++) {
				sc[16 * j + 2 * r] = sc[16 * j + 2 * r + 1] = (int16_t)(uint8_t)(scv >> (8 * j));
				mn[16 * (j / 2) + 2 * r + j % 2] = (int16_t)(uint8_t)(mnv >> (8 * j));
			}
			d[r] = a8_h2f(dm[r] + off);
			dmin[r] = a8_h2f(dm[r] + off + 2);
		}
		memcpy(ps + A8_PQ_SC, sc, sizeof sc);
		memcpy(ps + A8_PQ_MN, mn, sizeof mn);
		memcpy(ps + A8_PQ_D, d, sizeof d);
		memcpy(ps + A8_PQ_DMIN, dmin, sizeof dmin);
	}
}

/* The 8 rows of a panel times T tokens (K form at a, tstride apart): acc[t] lane r += row r . token t */
A8_FN void a8_pq_tile(int q5, int T, const uint8_t *panel, long nsb, const uint8_t *a, long tstride, __m256 *acc)
{
	for (long s = 0; s < nsb; s++) {
		const uint8_t *ps = panel + (size_t)s * A8_PQ_SB, *as = a + s * A8_KSB;
		__m256i isum[4];
		A8_UNROLL for (int t = 0; t < T; t++)
			isum[t] = _mm256_setzero_si256();
		for (int j = 0; j < 8; j++) {
			__m256i a16[4];
			A8_UNROLL for (int t = 0; t < T; t++)
				a16[t] = _mm256_setzero_si256();
			const __m256i sc = _mm256_load_si256((const __m256i *)(const void *)(ps + A8_PQ_SC + 32 * j));
			_Pragma("GCC unroll 2") for (int q = 0; q < 8; q++) {
				const __m256i w = _mm256_load_si256((const __m256i *)(const void *)(ps + 256 * j + 32 * q));
				A8_UNROLL for (int t = 0; t < T; t++) {
					int32_t x;
					memcpy(&x, as + (long)t * tstride + 32 * j + 4 * q, 4);
					a16[t] = _mm256_add_epi16(a16[t], _mm256_maddubs_epi16(w, _mm256_set1_epi32(x)));
				}
				if (q5 && q == 3)   /* Q5_K's codes reach 31: 4 steps at most in 16 bits (31496) */
					A8_UNROLL for (int t = 0; t < T; t++) {
						isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(a16[t], sc));
						a16[t] = _mm256_setzero_si256();
					}
			}
			A8_UNROLL for (int t = 0; t < T; t++)
				isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(a16[t], sc));
		}
		const __m256 d = _mm256_load_ps((const float *)(const void *)(ps + A8_PQ_D));
		const __m256 dmin = _mm256_load_ps((const float *)(const void *)(ps + A8_PQ_DMIN));
		A8_UNROLL for (int t = 0; t < T; t++) {
			const uint8_t *at = as + (long)t * tstride;
			__m256i m4 = _mm256_setzero_si256();
			A8_UNROLL for (int p = 0; p < 4; p++) {
				int32_t b;
				memcpy(&b, at + A8_KSB_BS + 4 * p, 4);
				m4 = _mm256_add_epi32(m4, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(const void *)
							(ps + A8_PQ_MN + 32 * p)), _mm256_set1_epi32(b)));
			}
			float dx;
			memcpy(&dx, at + A8_KSB_DX, sizeof dx);
			const __m256 vdx = _mm256_set1_ps(dx);
			acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, vdx), acc[t]);
			acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m4), _mm256_mul_ps(dmin, vdx), acc[t]);
		}
	}
}

/* Q5_K takes the same panels (a8_pq_build and a8_pq_tile with q5): its fifth bit joins each code in the
 * panel (bit j of byte c: column c of sub-block j, worth 16), and since codes reach 31 a sub-block's
 * 16-bit sums meet its scales every 4 steps (4 x 2 x 31 x 127 = 31496) instead of 8. In-process A/B
 * against the 4-token row tiles, same bits: from memory (64 MB) 16 tokens 0.99, 24 0.87; 4 MB from
 * L3, 64 tokens 0.74 of the time. */

/* ---- Q6_K on many tokens: rows in the lanes ----
 * As Q4_K's panels, for a8_q6k_row's integers: each 32 columns' 8 steps (codes 0..63: two steps'
 * pairs at most 2 x 2 x 63 x 127 = 32004 in 16 bits) meet their group's scale by vpmaddwd, the -32
 * offset comes from the tokens' group sums in 8 more, and fma(S, d dx, acc) per super-block as
 * a8_q6k_add lane for lane: the one-token tile's bits. In-process A/B, 2 MB (rows4) from L3, one
 * thread, against the row tiles: 64 tokens 39 -> 61 G products a second (0.64 of the time), 16 tokens
 * 0.88, 12 the same, 8 1.24 times (hence A8_P6_MIN); from memory (64 MB) 16 tokens 0.81, 32 0.70. */

#define A8_P6_SB 2848       /* panel bytes per super-block: the codes (2048), then: */
#define A8_P6_SC 2048       /* each group of 16's scales, row r's in int16 lanes 2r and 2r + 1 */
#define A8_P6_OFF 2560      /* each pair of groups' scales, row r's (sc_2p, sc_2p+1) in lanes 2r, 2r + 1 */
#define A8_P6_D 2816        /* the 8 rows' d as floats */
#ifndef A8_P6_MIN
#define A8_P6_MIN 16        /* tokens from which Q6_K goes this way */
#endif

/* The panel of 8 Q6_K rows (lane r: a8_lane_row) over nsb super-blocks */
A8_FN void a8_p6_build(const struct a8_rows *rows, int r4, long nsb, uint8_t *panel)
{
	const __m256i nib = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(0x30);
	const uint8_t *ql[8], *qh[8], *scp[8], *dp[8];
	for (int r = 0; r < 8; r++) {
		int i;
		const struct a8_rows *g = a8_lane_row(rows, r4, r, &i);
		ql[r] = g->p0[i], qh[r] = g->p1[i], scp[r] = g->p2[i], dp[r] = g->p3[i];
	}
	const size_t unit = rows[0].unit;
	for (long s = 0; s < nsb; s++) {
		uint8_t *ps = panel + (size_t)s * A8_P6_SB;
		const size_t off = (size_t)s * unit;
		for (int c = 0; c < 8; c++) {   /* columns 32 c .. 32 c + 31, as a8_q6k_row's u[c % 4] of half c / 4 */
			const int h = c / 4, q = c % 4;
			__m256i v[8];
			A8_UNROLL for (int r = 0; r < 8; r++) {
				const __m256i l = _mm256_loadu_si256((const __m256i *)(const void *)(ql[r] + off + 64 * h + 32 * (q % 2)));
				const __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)(qh[r] + off + 32 * h));
				const __m256i lo = _mm256_and_si256(q < 2 ? l : _mm256_srli_epi16(l, 4), nib);
				const __m256i hi = q == 0 ? _mm256_slli_epi16(hb, 4) : q == 1 ? _mm256_slli_epi16(hb, 2)
						 : q == 2 ? hb : _mm256_srli_epi16(hb, 2);
				v[r] = _mm256_or_si256(lo, _mm256_and_si256(hi, two));
			}
			a8_transpose8(v);
			A8_UNROLL for (int k = 0; k < 8; k++)
				_mm256_store_si256((__m256i *)(void *)(ps + 256 * c + 32 * k), v[k]);
		}
		int16_t sc[256], pr[128];
		float d[8];
		for (int r = 0; r < 8; r++) {
			for (int g = 0; g < 16; g++) {
				const int16_t v = (int8_t)scp[r][off + (size_t)g];
				sc[16 * g + 2 * r] = sc[16 * g + 2 * r + 1] = v;
				pr[16 * (g / 2) + 2 * r + g % 2] = v;
			}
			d[r] = a8_h2f(dp[r] + off);
		}
		memcpy(ps + A8_P6_SC, sc, sizeof sc);
		memcpy(ps + A8_P6_OFF, pr, sizeof pr);
		memcpy(ps + A8_P6_D, d, sizeof d);
	}
}

/* The 8 rows of a Q6_K panel times T tokens (K form at a, tstride apart): acc[t] lane r += row r . token t */
A8_FN void a8_p6_tile(int T, const uint8_t *panel, long nsb, const uint8_t *a, long tstride, __m256 *acc)
{
	for (long s = 0; s < nsb; s++) {
		const uint8_t *ps = panel + (size_t)s * A8_P6_SB, *as = a + s * A8_KSB;
		__m256i isum[4];
		A8_UNROLL for (int t = 0; t < T; t++) {   /* the -32 offset first: -32 sum_g sc_g (sum of q_g) */
			__m256i o = _mm256_setzero_si256();
			A8_UNROLL for (int p = 0; p < 8; p++) {
				int32_t gs;
				memcpy(&gs, as + (long)t * tstride + A8_KSB_GS + 4 * p, 4);
				o = _mm256_add_epi32(o, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(const void *)
							(ps + A8_P6_OFF + 32 * p)), _mm256_set1_epi32(gs)));
			}
			isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(o, 5));
		}
		for (int g = 0; g < 16; g++) {   /* group g: columns 16 g .. 16 g + 15, 4 steps */
			const uint8_t *pg = ps + 128 * g;
			const __m256i w0 = _mm256_load_si256((const __m256i *)(const void *)pg);
			const __m256i w1 = _mm256_load_si256((const __m256i *)(const void *)(pg + 32));
			const __m256i w2 = _mm256_load_si256((const __m256i *)(const void *)(pg + 64));
			const __m256i w3 = _mm256_load_si256((const __m256i *)(const void *)(pg + 96));
			const __m256i sc = _mm256_load_si256((const __m256i *)(const void *)(ps + A8_P6_SC + 32 * g));
			A8_UNROLL for (int t = 0; t < T; t++) {
				int32_t x[4];
				memcpy(x, as + (long)t * tstride + 16 * g, 16);
				const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_set1_epi32(x[0])),
								     _mm256_maddubs_epi16(w1, _mm256_set1_epi32(x[1])));
				const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(w2, _mm256_set1_epi32(x[2])),
								     _mm256_maddubs_epi16(w3, _mm256_set1_epi32(x[3])));
				isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(p01, sc),
										     _mm256_madd_epi16(p23, sc)));
			}
		}
		const __m256 d = _mm256_load_ps((const float *)(const void *)(ps + A8_P6_D));
		A8_UNROLL for (int t = 0; t < T; t++) {
			float dx;
			memcpy(&dx, as + (long)t * tstride + A8_KSB_DX, sizeof dx);
			acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(dx)), acc[t]);
		}
	}
}

/* ---- Q8_0, Q4_0 and Q5_0 on many tokens: rows in the lanes ----
 * As for Q4_K above: a panel of 8 rows (per block of 32 columns: each 32-bit lane one row's signed
 * codes of 4 consecutive columns, then the rows' d), each token's 4 codes of those columns broadcast
 * against it. A block's sums are whole integers in any form (pairs of |c| times q with c's sign, at
 * most 2 x 128 x 127: Q8_0's are widened at once, Q4_0/Q5_0's, |c| <= 16, kept in 16 bits for the
 * block's 8 steps: 8 x 2 x 16 x 127 = 32512), then fma(S, d dx, acc) as the row tiles: the same bits.
 * In-process A/B, 2 MB (rows4) from L3, one thread, against the row tiles: Q8_0 64 tokens 0.67 of the
 * time, 8 tokens 0.76, 4 0.80; Q5_0, against its rows rewritten as Q8_0 for the Q8_0 tiles (the form
 * before): 64 tokens 0.55, 8 0.65. From memory (64 MB), as batches of decode steps read them: Q8_0 3
 * tokens 1.17 times the row tiles' time, 4 1.03, 5 0.95, 8 0.83, 16 0.74; Q5_0 2 tokens 1.18, 3 0.85,
 * 4 0.76, 16 0.42 (hence A8_PB_MIN and A8_P5_MIN). */

#define A8_PB_BLK 288       /* panel bytes per block: 8 steps of 32 bytes of codes, then the 8 rows' d */
#define A8_PB1_BLK 320      /* Q5_1: then the 8 rows' m */
#ifndef A8_PB_MIN
#define A8_PB_MIN 5         /* tokens from which Q8_0 goes this way */
#endif
#ifndef A8_P5_MIN
#define A8_P5_MIN 3         /* and Q4_0, Q5_0 */
#endif
#ifndef A8_P51_MIN
#define A8_P51_MIN 3        /* and Q5_1 */
#endif

/* The panel of 8 rows of type t (lane r: a8_lane_row) over nb blocks */
A8_FN void a8_pb_build(enum ds_dtype t, const struct a8_rows *rows, int r4, long nb, uint8_t *panel)
{
	const size_t blk = t == DS_Q5_1 ? A8_PB1_BLK : A8_PB_BLK;
	for (long b = 0; b < nb; b++) {
		uint8_t *pb = panel + (size_t)b * blk;
		__m256i v[8];
		float d[8], m[8];
		A8_UNROLL for (int r = 0; r < 8; r++) {
			int i;
			const struct a8_rows *g = a8_lane_row(rows, r4, r, &i);
			v[r] = a8_b32_codes(t, g, i, b, &d[r], &m[r]);
		}
		a8_transpose8(v);
		A8_UNROLL for (int q = 0; q < 8; q++)
			_mm256_store_si256((__m256i *)(void *)(pb + 32 * q), v[q]);
		memcpy(pb + 256, d, sizeof d);
		if (t == DS_Q5_1)
			memcpy(pb + 288, m, sizeof m);
	}
}

/* The 8 rows of a panel times T tokens (Q8_0 form at a, tstride apart): acc[t] lane r += row r . token t.
 * Q8 (Q8_0, Q5_1): each step's pairs widened to 32 bits (Q8_0's reach 2 x 128 x 127, Q5_1's 2 x 31 x 127:
 * 8 steps of either overflow 16 bits); Q5_1 then adds m dx times the token's code sum, after the
 * block's d dx S as its row tile does. */
A8_FN void a8_pb_tile(int Q8, int Q51, int T, const uint8_t *panel, long nb, const uint8_t *a, long tstride,
		      __m256 *acc)
{
	const __m256i ones = _mm256_set1_epi16(1);
	for (long b = 0; b < nb; b++) {
		const uint8_t *pb = panel + (size_t)b * (Q51 ? A8_PB1_BLK : A8_PB_BLK), *ab = a + b * A8_QB;
		__m256i sum[4];
		A8_UNROLL for (int t = 0; t < T; t++)
			sum[t] = _mm256_setzero_si256();
		_Pragma("GCC unroll 2") for (int q = 0; q < 8; q++) {
			const __m256i c = _mm256_load_si256((const __m256i *)(const void *)(pb + 32 * q));
			const __m256i ac = _mm256_sign_epi8(c, c);
			A8_UNROLL for (int t = 0; t < T; t++) {
				int32_t x;
				memcpy(&x, ab + (long)t * tstride + 4 * q, 4);
				const __m256i p = _mm256_maddubs_epi16(ac, _mm256_sign_epi8(_mm256_set1_epi32(x), c));
				sum[t] = Q8 ? _mm256_add_epi32(sum[t], _mm256_madd_epi16(p, ones)) : _mm256_add_epi16(sum[t], p);
			}
		}
		const __m256 d = _mm256_load_ps((const float *)(const void *)(pb + 256));
		A8_UNROLL for (int t = 0; t < T; t++) {
			const __m256i s = Q8 ? sum[t] : _mm256_madd_epi16(sum[t], ones);
			acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(d, _mm256_set1_ps(a8_dx(ab + (long)t * tstride))),
						 acc[t]);
			if (Q51)
				acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(a8_qsum(ab + (long)t * tstride)),
							 _mm256_mul_ps(_mm256_load_ps((const float *)(const void *)(pb + 288)),
								       _mm256_set1_ps(a8_dx(ab + (long)t * tstride))), acc[t]);
		}
	}
}

/* ---- the panels' loops, for every type ---- */

/* Panel bytes per unit of type t's rows (a super-block of 256 or a block of 32 columns) */
#define A8_PANEL_UNIT(t) ((t) == DS_Q4_K || (t) == DS_Q5_K ? A8_PQ_SB : (t) == DS_Q6_K ? A8_P6_SB \
			  : (t) == DS_Q5_1 ? A8_PB1_BLK : A8_PB_BLK)

/* T tokens over a panel of type t with nu units */
A8_FN void a8_panel_tile(enum ds_dtype t, int T, const uint8_t *panel, long nu, const uint8_t *a, long tstride,
			 __m256 *acc)
{
	if (t == DS_Q4_K || t == DS_Q5_K)
		a8_pq_tile(t == DS_Q5_K, T, panel, nu, a, tstride, acc);
	else if (t == DS_Q6_K)
		a8_p6_tile(T, panel, nu, a, tstride, acc);
	else
		a8_pb_tile(t == DS_Q8_0 || t == DS_Q5_1, t == DS_Q5_1, T, panel, nu, a, tstride, acc);
}

/* Rows [r0, r1) of a matrix of type t (rows4: r4 1) for n tokens, 8 rows a panel: rows past r1 in a
 * panel repeat its first group or row (computed, not stored), as do the rows of a first rows4 group
 * before r0; each panel built once and read by every group of 4 tokens */
A8_FN void a8_rows_lanes_t(enum ds_dtype t, int r4, const struct ds_tensor *w, long r0, long r1, const uint8_t *aq,
			   long tstride, int n, float *y, long ldy)
{
	const long nu = (long)w->cols / (a8_k_form(t) ? 256 : 32);
	const size_t rb = ds_row_bytes(t, w->cols);
	const uint8_t *base = w->data;
	uint8_t *panel = cpu_scratch(CPU_SCRATCH_I8_PANEL, (size_t)nu * A8_PANEL_UNIT(t));
	for (long g = r4 ? r0 / 4 * 4 : r0; g < r1; g += 8) {
		struct a8_rows rows[8];
		for (int i = 0; i < (r4 ? 2 : 8); i++) {
			const long row = g + (long)i * (r4 ? 4 : 1) < r1 ? g + (long)i * (r4 ? 4 : 1) : g;
			if (r4)
				a8_rows_group(t, base + (size_t)row * rb, &rows[i]);
			else
				a8_rows_plain(t, base + (size_t)row * rb, &rows[i]);
		}
		if (t == DS_Q4_K || t == DS_Q5_K)
			a8_pq_build(t == DS_Q5_K, rows, r4, nu, panel);
		else if (t == DS_Q6_K)
			a8_p6_build(rows, r4, nu, panel);
		else
			a8_pb_build(t, rows, r4, nu, panel);
		for (int i = 0; i < n; i += 4) {
			const int nt = n - i < 4 ? n - i : 4;
			__m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
			const uint8_t *a = aq + (long)i * tstride;
			switch (nt) {
			case 1: a8_panel_tile(t, 1, panel, nu, a, tstride, acc); break;
			case 2: a8_panel_tile(t, 2, panel, nu, a, tstride, acc); break;
			case 3: a8_panel_tile(t, 3, panel, nu, a, tstride, acc); break;
			default: a8_panel_tile(t, 4, panel, nu, a, tstride, acc); break;
			}
			for (int j = 0; j < nt; j++) {
				float o[8];
				_mm256_storeu_ps(o, acc[j]);
				for (int r = 0; r < 8; r++)
					if (g + r >= r0 && g + r < r1)
						y[(long)(i + j) * ldy + g + r] = o[r];
			}
		}
	}
}

/* The panels' form of w, a function of its own: a branch to it inside the row tiles' functions
 * changed their code for one token (Q4_K decode from memory, in-process A/B: 1.27 times the time) */
static __attribute__((noinline, target(A8_TARGET))) void a8_rows_lanes(const struct ds_tensor *w, long r0, long r1,
		const uint8_t *aq, long ts, int n, float *y, long ldy)
{
#define A8_LANES(type) (w->layout == DS_LAYOUT_ROWS4 ? a8_rows_lanes_t(type, 1, w, r0, r1, aq, ts, n, y, ldy) \
						     : a8_rows_lanes_t(type, 0, w, r0, r1, aq, ts, n, y, ldy))
	switch (w->dtype) {
	case DS_Q8_0: A8_LANES(DS_Q8_0); break;
	case DS_Q4_0: A8_LANES(DS_Q4_0); break;
	case DS_Q5_0: A8_LANES(DS_Q5_0); break;
	case DS_Q5_1: A8_LANES(DS_Q5_1); break;
	case DS_Q4_K: A8_LANES(DS_Q4_K); break;
	case DS_Q5_K: A8_LANES(DS_Q5_K); break;
	default: A8_LANES(DS_Q6_K); break;
	}
#undef A8_LANES
}

/* Each type and layout its own copy of the loops, the type's tile inlined */
#define A8_ROWS_FN(name, type) \
A8_API void name(const struct ds_tensor *w, long r0, long r1, const uint8_t *aq, long ts, int n, float *y, \
		 long ldy) \
{ \
	if (w->layout == DS_LAYOUT_ROWS4) \
		a8_rows_t(type, 1, w, r0, r1, aq, ts, n, y, ldy); \
	else \
		a8_rows_t(type, 0, w, r0, r1, aq, ts, n, y, ldy); \
}
A8_ROWS_FN(a8_rows_q8_0, DS_Q8_0)
A8_ROWS_FN(a8_rows_q4_0, DS_Q4_0)
A8_ROWS_FN(a8_rows_q5_0, DS_Q5_0)
A8_ROWS_FN(a8_rows_q5_1, DS_Q5_1)
A8_ROWS_FN(a8_rows_q4_k, DS_Q4_K)
A8_ROWS_FN(a8_rows_q5_k, DS_Q5_K)
A8_ROWS_FN(a8_rows_q6_k, DS_Q6_K)
#undef A8_ROWS_FN

/* ---- the set ---- */

static bool a8_type(enum ds_dtype t)
{
	return t == DS_Q8_0 || t == DS_Q4_0 || t == DS_Q5_0 || t == DS_Q5_1 || t == DS_Q4_K || t == DS_Q5_K ||
	       t == DS_Q6_K;
}

/* Bytes per token of the activations for weights of type t, k columns */
static long a8_stride(enum ds_dtype t, long k)
{
	return a8_k_form(t) ? k / 256 * A8_KSB : k / 32 * A8_QB;
}

/* This set's types pack from one token on: the activations are rounded to int8 once per product
 * (cpu_pack), not once per row block. Other types never (their rows() is the AVX2 set's, which packs
 * for itself). */
static int a8_packed_from(enum ds_dtype t)
{
	return a8_type(t) ? 1 : INT_MAX;
}

static size_t a8_pack_floats(enum ds_dtype t, int n, long k)
{
	return ((size_t)n * (size_t)a8_stride(t, k) + sizeof(float) - 1) / sizeof(float);
}

static void a8_pack(enum ds_dtype t, const float *x, int n, long ldx, long k, float *xp)
{
	if (a8_k_form(t))
		a8_quantize_k(x, n, ldx, k, (uint8_t *)xp);
	else
		a8_quantize_q8(x, n, ldx, k, (uint8_t *)xp);
}

static void a8_rows_packed(const struct ds_tensor *w, long r0, long r1, const float *xp, int n, float *y,
			   long ldy)
{
	if (r0 >= r1 || n <= 0)
		return;
	const long ts = a8_stride(w->dtype, (long)w->cols);
	const uint8_t *a = (const uint8_t *)xp;
	const enum ds_dtype t = w->dtype;   /* a8_packed_from: only this set's types */
	const int panels_from = t == DS_Q8_0 ? A8_PB_MIN : t == DS_Q4_0 || t == DS_Q5_0 ? A8_P5_MIN
			      : t == DS_Q4_K || t == DS_Q5_K ? A8_PQ_MIN : t == DS_Q5_1 ? A8_P51_MIN : A8_P6_MIN;
	if (n >= panels_from) {
		a8_rows_lanes(w, r0, r1, a, ts, n, y, ldy);
		return;
	}
	switch (t) {
	case DS_Q8_0: a8_rows_q8_0(w, r0, r1, a, ts, n, y, ldy); break;
	case DS_Q4_0: a8_rows_q4_0(w, r0, r1, a, ts, n, y, ldy); break;
	case DS_Q5_0: a8_rows_q5_0(w, r0, r1, a, ts, n, y, ldy); break;
	case DS_Q5_1: a8_rows_q5_1(w, r0, r1, a, ts, n, y, ldy); break;
	case DS_Q4_K: a8_rows_q4_k(w, r0, r1, a, ts, n, y, ldy); break;
	case DS_Q5_K: a8_rows_q5_k(w, r0, r1, a, ts, n, y, ldy); break;
	default: a8_rows_q6_k(w, r0, r1, a, ts, n, y, ldy); break;
	}
}

/* Unpacked: packed here into a buffer of this thread, kept for its next call */
static void a8_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx, float *y,
		    long ldy)
{
	if (!a8_type(w->dtype)) {
		cpu_avx2_rows(w, r0, r1, x, n, ldx, y, ldy);
		return;
	}
	if (r0 >= r1 || n <= 0)
		return;
	float *buf = cpu_scratch(CPU_SCRATCH_I8_ACT, a8_pack_floats(w->dtype, n, (long)w->cols) * sizeof(float));
	a8_pack(w->dtype, x, n, ldx, (long)w->cols, buf);
	a8_rows_packed(w, r0, r1, buf, n, y, ldy);
}

/* ---- decode attention's absorb from a uk4 table (cpu-uk4.h) ---- */

/* Row j .. j + 7's 6-bit scale (mins 0) or min (1) of sub-block sb of the block whose scale planes are
 * pl (byte i of row j at i nope + j), as floats */
A8_FN __m256 a8_uk4_scale(const uint8_t *pl, int nope, int sb, int j, int mins)
{
#define A8_PL(i) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(pl + (size_t)(i) * nope + j)))
	const __m256i m63 = _mm256_set1_epi32(63), m15 = _mm256_set1_epi32(15);
	__m256i v;
	if (sb < 4)
		v = _mm256_and_si256(A8_PL(sb + 4 * mins), m63);
	else if (!mins)
		v = _mm256_or_si256(_mm256_and_si256(A8_PL(sb + 4), m15), _mm256_slli_epi32(_mm256_srli_epi32(A8_PL(sb - 4), 6), 4));
	else
		v = _mm256_or_si256(_mm256_srli_epi32(A8_PL(sb + 4), 4), _mm256_slli_epi32(_mm256_srli_epi32(A8_PL(sb), 6), 4));
#undef A8_PL
	return _mm256_cvtepi32_ps(v);
}

/* 8 int32 lanes in [-128, 127] as their 8 bytes, in order, in the low half */
A8_FN __m128i a8_bytes8(__m256i v)
{
	const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	return _mm_packs_epi16(w, w);
}

/* cpu_uk4_absorb_ref's sums with the same roundings, bit for bit: per sub-block the rows' weights
 * q_j d_j sc_j rounded to 15 bits in two int8 halves, times the codes by vpmaddubsw (a 32-bit lane holds
 * 4 rows' codes of a column; pairs are at most 2 x 15 x 127, and 8 groups of rows' sums stay in 16
 * bits), the mins in 16 lanes summed in order. The halves are packed to bytes by vector packs, and
 * each sub-block asks for the next one's codes (2 KB on) as it goes: 8 layers' tables read in turn,
 * one thread, tables from memory 105 -> 71-82 us a layer (from L3 77 -> 40), where the bytes went out
 * one at a time and the codes came in on demand. */
A8_API void a8_absorb_uk4(float *y, const float *q, float scale, const uint8_t *t, int nope, long kv_rank)
{
	float w[nope] __attribute__((aligned(32)));
	int8_t e_hi[nope] __attribute__((aligned(32))), e_lo[nope] __attribute__((aligned(32)));
	const __m256 sign = _mm256_set1_ps(-0.0f);
	const __m256i nib = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
	for (long s = 0; s < kv_rank / 32; s++) {
		const struct cpu_uk4_block tb = cpu_uk4_block(t, nope, s / 8);
		const int sb = (int)(s % 8);
		const uint8_t *codes = tb.codes + (size_t)sb * (size_t)(nope / 4) * 64;
		__m256 vmax = _mm256_setzero_ps(), lane[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };
		for (int j = 0; j < nope; j += 16)   /* nope: a multiple of 16 (cpu_uk4_fits) */
			for (int u = 0; u < 2; u++) {
				const int jj = j + 8 * u;
				const __m256 qv = _mm256_loadu_ps(q + jj);
				const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(tb.d + 2 * jj)));
				const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(tb.dmin + 2 * jj)));
				const __m256 wv = _mm256_mul_ps(qv, _mm256_mul_ps(d, a8_uk4_scale(tb.scales, nope, sb, jj, 0)));
				__m256 mv = _mm256_mul_ps(dm, a8_uk4_scale(tb.scales, nope, sb, jj, 1));
				__asm__("" : "+x"(mv));  /* (fmaf's operand, rounded) */
				lane[u] = _mm256_fmadd_ps(qv, mv, lane[u]);
				vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, wv));
				_mm256_store_ps(w + jj, wv);
			}
		float l16[16], mins = 0;
		_mm256_storeu_ps(l16, lane[0]);
		_mm256_storeu_ps(l16 + 8, lane[1]);
		for (int i = 0; i < 16; i++)
			mins += l16[i];
		__m128 mx = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
		mx = _mm_max_ps(mx, _mm_movehl_ps(mx, mx));
		mx = _mm_max_ss(mx, _mm_movehdup_ps(mx));
		const float max = _mm_cvtss_f32(mx);
		const float inv = max > 0 ? (float)CPU_UK4_EMAX / max : 0, unit = max / (float)CPU_UK4_EMAX;
		const __m256 vinv = _mm256_set1_ps(inv);
		for (int j = 0; j < nope; j += 8) {
			const __m256i ev = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_load_ps(w + j), vinv));
			const __m256i hv = _mm256_srai_epi32(_mm256_add_epi32(ev, _mm256_set1_epi32(64)), 7);
			_mm_storel_epi64((__m128i *)(void *)(e_hi + j), a8_bytes8(hv));
			_mm_storel_epi64((__m128i *)(void *)(e_lo + j), a8_bytes8(_mm256_sub_epi32(ev, _mm256_slli_epi32(hv, 7))));
		}
		/* columns c of the sub-block's halves (low nibbles: 32 s + c, high: 32 s + 16 + c), 8 a pass */
		for (int part = 0; part < 2; part++) {
			__m256i sum[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
					   _mm256_setzero_si256() };   /* lo x e_hi, lo x e_lo, hi x e_hi, hi x e_lo */
			for (int g0 = 0; g0 < nope / 4; g0 += 8) {
				__m256i p16[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
						   _mm256_setzero_si256() };
				const int g1 = g0 + 8 < nope / 4 ? g0 + 8 : nope / 4;
				for (int g = g0; g < g1; g++) {
					if (part == 0) {
						_mm_prefetch((const char *)codes + (size_t)g * 64 + 2048, _MM_HINT_T0);
						if (sb == 7)
							_mm_prefetch((const char *)codes + (size_t)g * 64 + 4096, _MM_HINT_T0);
					}
					const __m256i z = _mm256_loadu_si256((const __m256i *)(const void *)(codes + (size_t)g * 64 + 32 * part));
					const __m256i lo = _mm256_and_si256(z, nib), hn = _mm256_and_si256(_mm256_srli_epi16(z, 4), nib);
					int32_t eh, el;
					memcpy(&eh, e_hi + 4 * g, 4);
					memcpy(&el, e_lo + 4 * g, 4);
					const __m256i vh = _mm256_set1_epi32(eh), vl = _mm256_set1_epi32(el);
					p16[0] = _mm256_add_epi16(p16[0], _mm256_maddubs_epi16(lo, vh));
					p16[1] = _mm256_add_epi16(p16[1], _mm256_maddubs_epi16(lo, vl));
					p16[2] = _mm256_add_epi16(p16[2], _mm256_maddubs_epi16(hn, vh));
					p16[3] = _mm256_add_epi16(p16[3], _mm256_maddubs_epi16(hn, vl));
				}
				for (int i = 0; i < 4; i++)
					sum[i] = _mm256_add_epi32(sum[i], _mm256_madd_epi16(p16[i], ones));
			}
			const __m256 vunit = _mm256_set1_ps(unit), vmins = _mm256_set1_ps(mins), vscale = _mm256_set1_ps(scale);
			for (int h = 0; h < 2; h++) {
				const __m256i tot = _mm256_add_epi32(_mm256_slli_epi32(sum[2 * h], 7), sum[2 * h + 1]);
				__m256 v = _mm256_mul_ps(vunit, _mm256_cvtepi32_ps(tot));
				__asm__("" : "+x"(v));   /* rounded before the difference, as the reference */
				_mm256_storeu_ps(y + 32 * s + 16 * h + 8 * part, _mm256_mul_ps(vscale, _mm256_sub_ps(v, vmins)));
			}
		}
	}
}

/* Matrices of these types are read in rows4 (cpu-rows4.h): a tile's 4 rows one stream, their codes
 * loaded once per block for every token */
static bool a8_rows4(enum ds_dtype t)
{
	return a8_type(t);
}

const struct cpu_kernels cpu_kernels_avx2_int8 = {
	.name = "AVX2 int8",
	.rounds_activations = true,
	.rows = a8_rows,
	.packed_from = a8_packed_from,
	.pack_floats = a8_pack_floats,
	.pack = a8_pack,
	.rows_packed = a8_rows_packed,
	.rows4 = a8_rows4,
	.absorb_uk4 = a8_absorb_uk4,
	.axpy_row = cpu_avx2_axpy_row,
	.dot = cpu_avx2_dot,
	.axpy = cpu_avx2_axpy,
	.pv = cpu_avx2_pv,
	.exp_sum = cpu_avx2_exp_sum,
	.silu_mul = cpu_avx2_silu_mul,
};

#endif

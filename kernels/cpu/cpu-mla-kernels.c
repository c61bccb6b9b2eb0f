/* cpu-mla-kernels.c: decode attention's weighted row sums (cpu-mla-kernels.h): the generic set on
 * any kernel set's axpy_row and pv, and an AVX-512 set that keeps 16 sums in registers while it
 * walks the rows, so y and o are loaded and stored once per block instead of once per row. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "cpu-mla-kernels.h"
#include "quantize.h"

static void generic_axpy_rows(const struct cpu_kernels *k, float *y, const float *a, const struct ds_tensor *w,
			      long row0, int m)
{
	for (int j = 0; j < m; j++)
		k->axpy_row(y, a[j], w, row0 + j);
}

static void generic_axpy_rows_n(const struct cpu_kernels *k, float *y, long ldy, const float *a, long lda, int n,
				const struct ds_tensor *w, long row0, int m)
{
	for (int i = 0; i < n; i++)
		generic_axpy_rows(k, y + (long)i * ldy, a + (long)i * lda, w, row0, m);
}

const float *cpu_mla_rows_f32(const void *v, enum ds_dtype vt, long ldv, int m, long kdim,
			      enum cpu_scratch_use use, long *ld)
{
	if (vt == DS_F32) {
		*ld = ldv;
		return v;
	}
	float *w = cpu_scratch(use, (size_t)(m > 0 ? m : 1) * (size_t)kdim * sizeof *w);
	for (int t = 0; t < m; t++) {
		const uint16_t *r = (const uint16_t *)v + (long)t * ldv;
		for (long c = 0; c < kdim; c++)
			w[(long)t * kdim + c] = ds_bf16_to_f32(r[c]);
	}
	*ld = kdim;
	return w;
}

static void generic_pv_scaled(const struct cpu_kernels *k, float *o, long ldo, const float *f, const float *p,
			      long ldp, const void *vv, enum ds_dtype vt, long ldv, int n, int m, long kdim)
{
	const float *v = cpu_mla_rows_f32(vv, vt, ldv, m, kdim, CPU_SCRATCH_MLA_ROWS, &ldv);
	for (int i = 0; i < n; i++) {
		if (f[i] == 1.0f)
			continue;
		float *oi = o + (long)i * ldo;
		for (long c = 0; c < kdim; c++)
			oi[c] *= f[i];
	}
	k->pv(o, ldo, p, ldp, v, ldv, n, m, kdim);
}

static void generic_pv_add_scaled(const struct cpu_kernels *k, float *o, long ldo, const float *f, const float *p,
				  long ldp, const void *vv, enum ds_dtype vt, long ldv, int n, int m, long kdim)
{
	const float *v = cpu_mla_rows_f32(vv, vt, ldv, m, kdim, CPU_SCRATCH_MLA_ROWS, &ldv);
	float sum[kdim];
	for (int i = 0; i < n; i++) {
		memset(sum, 0, sizeof sum);
		k->pv(sum, kdim, p + (long)i * ldp, ldp, v, ldv, 1, m, kdim);
		k->axpy(o + (long)i * ldo, f[i], sum, kdim);
	}
}

static void generic_scores(const struct cpu_kernels *k, float *s, long lds, const float *q, const uint16_t *qb,
			   long ldq, int n, const void *vv, enum ds_dtype vt, long ldv, int m, long kdim)
{
	/* rows with a row stride: the cache rows as a tensor (cols = ldv) whose first kdim are used is
	 * not what rows() takes, so the block is a tensor only where kdim spans the whole row (decided
	 * on the rows as given, so that BF16 rows widened get the sums of F32 rows of their values) */
	const bool whole = kdim == ldv;
	const float *v = cpu_mla_rows_f32(vv, vt, ldv, m, kdim, CPU_SCRATCH_MLA_ROWS, &ldv);
	if (whole) {
		struct ds_tensor vb = { .dtype = DS_F32, .data = v, .rows = m, .cols = kdim };
		k->rows(&vb, 0, m, q, n, ldq, s, lds);
		return;
	}
	for (int i = 0; i < n; i++)
		for (int t = 0; t < m; t++)
			s[(long)i * lds + t] = k->dot(q + (long)i * ldq, v + (long)t * ldv, kdim);
}

const struct cpu_mla_kernels cpu_mla_kernels_generic = {
	.name = "generic",
	.axpy_rows = generic_axpy_rows,
	.axpy_rows_n = generic_axpy_rows_n,
	.pv_scaled = generic_pv_scaled,
	.pv_add_scaled = generic_pv_add_scaled,
	.scores = generic_scores,
};

#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)

#include <immintrin.h>

#define MK512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define MK512_INLINE static inline __attribute__((always_inline, \
	target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

/* Sums kept in registers by axpy_rows: 256 columns per pass over the rows (two passes over a
 * kv_rank of 512; the second finds the rows in L2). */
#define AR_V 16
/* Rows ahead of the one being summed that the first pass asks for whole (the later passes find
 * them in L2): the rows of one head are contiguous, but a pass reads only part of each, which the
 * hardware prefetcher follows late. */
#define AR_AHEAD 8

/* Lanes [0, n) of 16 set, for n in [0, 16]. */
MK512_INLINE __mmask16 mk_lanes(long n)
{
	return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* 16 weights of a float-type row from column c widened to F32 (BF16 is the top half of an F32);
 * lanes outside m are 0. */
MK512_INLINE __m512 mk_ld(const char *row, long c, enum ds_dtype t, __mmask16 m)
{
	if (t == DS_F32)
		return _mm512_maskz_loadu_ps(m, (const float *)row + c);
	__m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c);
	if (t == DS_BF16)
		return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
	return _mm512_cvtph_ps(h);
}

MK512_INLINE __m512 mk_ld16(const char *row, long c, enum ds_dtype t)
{
	if (t == DS_F32)
		return _mm512_loadu_ps((const float *)row + c);
	__m256i h = _mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)row + c));
	if (t == DS_BF16)
		return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
	return _mm512_cvtph_ps(h);
}

/* Weights 16h .. 16h+15 of a Q8_0 block (f16 scale d, then 32 int8): q * d, as the quantized
 * kernels decode them. */
MK512_INLINE __m512 mk_q8_half(const uint8_t *blk, int h, __m512 d)
{
	__m128i q = _mm_loadu_si128((const __m128i *)(const void *)(blk + 2 + 16 * h));
	return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d);
}

MK512_INLINE __m512 mk_q8_scale(const uint8_t *blk)
{
	uint16_t h;
	memcpy(&h, blk, 2);
	return _mm512_set1_ps(_cvtsh_ss(h));
}

MK512_INLINE void mk_prefetch(const char *p, size_t len)
{
	for (size_t o = 0; o < len; o += 64)
		_mm_prefetch(p + o, _MM_HINT_T0);
}

/* Columns [c, c + 256) of m rows of a float-type W (rows rb bytes apart from base). */
MK512_INLINE void ar_float_pass(float *y, const float *a, const char *base, size_t rb, int m, long c,
				enum ds_dtype t)
{
	__m512 acc[AR_V];
#pragma GCC unroll 16
	for (int v = 0; v < AR_V; v++)
		acc[v] = _mm512_loadu_ps(y + c + 16 * v);
	for (int j = 0; j < m; j++) {
		const char *row = base + (size_t)j * rb;
		if (c == 0 && j + AR_AHEAD < m)
			mk_prefetch(row + AR_AHEAD * rb, rb);
		__m512 va = _mm512_set1_ps(a[j]);
#pragma GCC unroll 16
		for (int v = 0; v < AR_V; v++)
			acc[v] = _mm512_fmadd_ps(va, mk_ld16(row, c + 16 * v, t), acc[v]);
	}
#pragma GCC unroll 16
	for (int v = 0; v < AR_V; v++)
		_mm512_storeu_ps(y + c + 16 * v, acc[v]);
}

static MK512 void ar_float(float *y, const float *a, const char *base, size_t rb, int m, long k, enum ds_dtype t)
{
	long c = 0;
	for (; c + 16 * AR_V <= k; c += 16 * AR_V) {
		switch (t) {
		case DS_F32: ar_float_pass(y, a, base, rb, m, c, DS_F32); break;
		case DS_BF16: ar_float_pass(y, a, base, rb, m, c, DS_BF16); break;
		default: ar_float_pass(y, a, base, rb, m, c, DS_F16); break;
		}
	}
	/* the last columns, 16 at a time down the rows */
	for (; c < k; c += 16) {
		__mmask16 mk = mk_lanes(k - c);
		__m512 acc = _mm512_maskz_loadu_ps(mk, y + c);
		for (int j = 0; j < m; j++)
			acc = _mm512_fmadd_ps(_mm512_set1_ps(a[j]), mk_ld(base + (size_t)j * rb, c, t, mk), acc);
		_mm512_mask_storeu_ps(y + c, mk, acc);
	}
}

/* Several queries: columns [c, c + 64) of m rows of a float-type W for NT (1-4) queries, each row's
 * 64 columns widened once for all of them; per query and column the sums of ar_float_pass, in the
 * same order. */
#define ARN_V 4

MK512_INLINE void ar_float_n_pass(int NT, float *y, long ldy, const float *a, long lda, const char *base,
				  size_t rb, int m, long c, enum ds_dtype t)
{
	__m512 acc[4][ARN_V];
#pragma GCC unroll 4
	for (int i = 0; i < NT; i++)
#pragma GCC unroll 4
		for (int v = 0; v < ARN_V; v++)
			acc[i][v] = _mm512_loadu_ps(y + (long)i * ldy + c + 16 * v);
	for (int j = 0; j < m; j++) {
		const char *row = base + (size_t)j * rb;
		if (c == 0 && j + AR_AHEAD < m)
			mk_prefetch(row + AR_AHEAD * rb, rb);
		__m512 wv[ARN_V];
#pragma GCC unroll 4
		for (int v = 0; v < ARN_V; v++)
			wv[v] = mk_ld16(row, c + 16 * v, t);
#pragma GCC unroll 4
		for (int i = 0; i < NT; i++) {
			__m512 va = _mm512_set1_ps(a[(long)i * lda + j]);
#pragma GCC unroll 4
			for (int v = 0; v < ARN_V; v++)
				acc[i][v] = _mm512_fmadd_ps(va, wv[v], acc[i][v]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < NT; i++)
#pragma GCC unroll 4
		for (int v = 0; v < ARN_V; v++)
			_mm512_storeu_ps(y + (long)i * ldy + c + 16 * v, acc[i][v]);
}

MK512_INLINE void ar_float_n_t(int NT, float *y, long ldy, const float *a, long lda, const char *base, size_t rb,
			       int m, long k, enum ds_dtype t)
{
	long c = 0;
	for (; c + 16 * ARN_V <= k; c += 16 * ARN_V)
		ar_float_n_pass(NT, y, ldy, a, lda, base, rb, m, c, t);
	/* the last columns as ar_float's, a query at a time */
	for (; c < k; c += 16) {
		__mmask16 mk = mk_lanes(k - c);
		for (int i = 0; i < NT; i++) {
			float *yi = y + (long)i * ldy;
			__m512 acc = _mm512_maskz_loadu_ps(mk, yi + c);
			for (int j = 0; j < m; j++)
				acc = _mm512_fmadd_ps(_mm512_set1_ps(a[(long)i * lda + j]),
						      mk_ld(base + (size_t)j * rb, c, t, mk), acc);
			_mm512_mask_storeu_ps(yi + c, mk, acc);
		}
	}
}

static MK512 void ar_float_n(float *y, long ldy, const float *a, long lda, int n, const char *base, size_t rb,
			     int m, long k, enum ds_dtype t)
{
	for (int i = 0; i < n; i += 4) {
		float *yi = y + (long)i * ldy;
		const float *ai = a + (long)i * lda;
		int nt = n - i < 4 ? n - i : 4;
#define ARN_CASE(T) \
		switch (nt) { \
		case 1: ar_float_n_t(1, yi, ldy, ai, lda, base, rb, m, k, T); break; \
		case 2: ar_float_n_t(2, yi, ldy, ai, lda, base, rb, m, k, T); break; \
		case 3: ar_float_n_t(3, yi, ldy, ai, lda, base, rb, m, k, T); break; \
		default: ar_float_n_t(4, yi, ldy, ai, lda, base, rb, m, k, T); break; \
		}
		switch (t) {
		case DS_F32: ARN_CASE(DS_F32) break;
		case DS_BF16: ARN_CASE(DS_BF16) break;
		default: ARN_CASE(DS_F16) break;
		}
#undef ARN_CASE
	}
}

/* Q8_0: 8 blocks of 34 bytes per pass of 256 columns. */
static MK512 void ar_q8_0(float *y, const float *a, const char *base, size_t rb, int m, long k)
{
	long c = 0;
	for (; c + 16 * AR_V <= k; c += 16 * AR_V) {
		__m512 acc[AR_V];
#pragma GCC unroll 16
		for (int v = 0; v < AR_V; v++)
			acc[v] = _mm512_loadu_ps(y + c + 16 * v);
		for (int j = 0; j < m; j++) {
			const uint8_t *row = (const uint8_t *)base + (size_t)j * rb + (size_t)(c / 32) * 34;
			if (c == 0 && j + AR_AHEAD < m)
				mk_prefetch((const char *)row + AR_AHEAD * rb, rb);
			__m512 va = _mm512_set1_ps(a[j]);
#pragma GCC unroll 8
			for (int b = 0; b < AR_V / 2; b++) {
				__m512 d = mk_q8_scale(row + 34 * b);
				acc[2 * b] = _mm512_fmadd_ps(va, mk_q8_half(row + 34 * b, 0, d), acc[2 * b]);
				acc[2 * b + 1] = _mm512_fmadd_ps(va, mk_q8_half(row + 34 * b, 1, d), acc[2 * b + 1]);
			}
		}
#pragma GCC unroll 16
		for (int v = 0; v < AR_V; v++)
			_mm512_storeu_ps(y + c + 16 * v, acc[v]);
	}
	/* the last blocks (a row of Q8_0 is whole blocks of 32), one down the rows at a time */
	for (; c < k; c += 32) {
		__m512 a0 = _mm512_loadu_ps(y + c), a1 = _mm512_loadu_ps(y + c + 16);
		for (int j = 0; j < m; j++) {
			const uint8_t *blk = (const uint8_t *)base + (size_t)j * rb + (size_t)(c / 32) * 34;
			__m512 va = _mm512_set1_ps(a[j]), d = mk_q8_scale(blk);
			a0 = _mm512_fmadd_ps(va, mk_q8_half(blk, 0, d), a0);
			a1 = _mm512_fmadd_ps(va, mk_q8_half(blk, 1, d), a1);
		}
		_mm512_storeu_ps(y + c, a0);
		_mm512_storeu_ps(y + c + 16, a1);
	}
}

/* Q4_K (q5 = 0) and Q5_K: a pass of 256 columns is one block of each row, decoded as the quantized
 * kernels decode it (x = d sc q rounded, less dmin m, per sub-block of 32) and summed down the rows
 * in registers: the same sums, in the same order, as the generic set's axpy_row a row at a time,
 * without a row buffer and y stored and loaded again per row. A sub-block's 16 (Q5_K: 32) possible
 * values are formed once, d sc q - dmin m for q = 0..15 (31) with the same two roundings, and each
 * weight looked up by its code (vpermps reads the code's low bits, so the low nibbles need no mask):
 * a lookup in place of a conversion, a multiply and a subtraction per 16 weights. */
MK512_INLINE void ar_k45_pass(float *y, const float *a, const char *base, size_t rb, int m, long c, int q5)
{
	const size_t bb = q5 ? 176 : 144;
	const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	const __m512 iota16 = _mm512_add_ps(iota, _mm512_set1_ps(16));
	__m512 acc[AR_V];
#pragma GCC unroll 16
	for (int v = 0; v < AR_V; v++)
		acc[v] = _mm512_loadu_ps(y + c + 16 * v);
	for (int j = 0; j < m; j++) {
		const uint8_t *blk = (const uint8_t *)base + (size_t)j * rb + (size_t)(c / 256) * bb;
		if (c == 0 && j + AR_AHEAD < m)
			mk_prefetch((const char *)blk + AR_AHEAD * rb, rb);
		uint16_t h0, h1;
		memcpy(&h0, blk, 2);
		memcpy(&h1, blk + 2, 2);
		const float d = _cvtsh_ss(h0), dmin = _cvtsh_ss(h1);
		const uint8_t *qh = blk + 16, *qs = blk + (q5 ? 48 : 16);
		uint64_t sc, mn;
		ds_k_scales8(blk + 4, &sc, &mn);
		__m512 va = _mm512_set1_ps(a[j]);
#pragma GCC unroll 4
		for (int s = 0; s < 4; s++) {
			/* the values of sub-blocks 2s (t[0], t[1] for Q5_K's codes 16-31) and 2s + 1 (t[2], t[3]):
			 * the product rounded before the difference, as the format's definition */
			__m512 t[4];
#pragma GCC unroll 2
			for (int i = 0; i < 2; i++) {
				__m512 ds = _mm512_set1_ps(d * (float)(uint8_t)(sc >> (16 * s + 8 * i)));
				__m512 dm = _mm512_set1_ps(dmin * (float)(uint8_t)(mn >> (16 * s + 8 * i)));
				__m512 p0 = _mm512_mul_ps(ds, iota);
				__asm__("" : "+v"(p0));
				t[2 * i] = _mm512_sub_ps(p0, dm);
				if (q5) {
					__m512 p1 = _mm512_mul_ps(ds, iota16);
					__asm__("" : "+v"(p1));
					t[2 * i + 1] = _mm512_sub_ps(p1, dm);
				}
			}
#pragma GCC unroll 2
			for (int h = 0; h < 2; h++) {
				__m512i w = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)
										 (qs + 32 * s + 16 * h)));
				__m512i lo = w, hi = _mm512_srli_epi32(w, 4);
				__m512 xl, xh;
				if (q5) {
					__m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)
											 (qh + 16 * h)));
					lo = _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0x0f)), _mm512_slli_epi32(
						_mm512_and_si512(_mm512_srli_epi32(b, 2 * s), _mm512_set1_epi32(1)), 4));
					hi = _mm512_or_si512(hi, _mm512_slli_epi32(_mm512_and_si512(
						_mm512_srli_epi32(b, 2 * s + 1), _mm512_set1_epi32(1)), 4));
					xl = _mm512_permutex2var_ps(t[0], lo, t[1]);
					xh = _mm512_permutex2var_ps(t[2], hi, t[3]);
				} else {
					xl = _mm512_permutexvar_ps(lo, t[0]);
					xh = _mm512_permutexvar_ps(hi, t[2]);
				}
				acc[4 * s + h] = _mm512_fmadd_ps(va, xl, acc[4 * s + h]);
				acc[4 * s + 2 + h] = _mm512_fmadd_ps(va, xh, acc[4 * s + 2 + h]);
			}
		}
	}
#pragma GCC unroll 16
	for (int v = 0; v < AR_V; v++)
		_mm512_storeu_ps(y + c + 16 * v, acc[v]);
}

static MK512 void ar_k45(float *y, const float *a, const char *base, size_t rb, int m, long k, int q5)
{
	for (long c = 0; c < k; c += 256) {   /* a K-quant row is whole blocks of 256 */
		if (q5)
			ar_k45_pass(y, a, base, rb, m, c, 1);
		else
			ar_k45_pass(y, a, base, rb, m, c, 0);
	}
}

static void avx512_axpy_rows(const struct cpu_kernels *k, float *y, const float *a, const struct ds_tensor *w,
			     long row0, int m)
{
	const long cols = (long)w->cols;
	const size_t rb = ds_row_bytes(w->dtype, cols);
	const char *base = (const char *)w->data + (size_t)row0 * rb;
	switch (w->dtype) {
	case DS_F32:
	case DS_BF16:
	case DS_F16:
		ar_float(y, a, base, rb, m, cols, w->dtype);
		break;
	case DS_Q8_0:
		ar_q8_0(y, a, base, rb, m, cols);
		break;
	case DS_Q4_K:
	case DS_Q5_K:
		ar_k45(y, a, base, rb, m, cols, w->dtype == DS_Q5_K);
		break;
	default:
		/* the other block types: the set's decoder a row at a time */
		generic_axpy_rows(k, y, a, w, row0, m);
		break;
	}
}

/* Float types read each row once for up to 4 queries; block types a query at a time (their rows
 * are decoded in the pass itself) */
static void avx512_axpy_rows_n(const struct cpu_kernels *k, float *y, long ldy, const float *a, long lda, int n,
			       const struct ds_tensor *w, long row0, int m)
{
	if (w->dtype == DS_F32 || w->dtype == DS_BF16 || w->dtype == DS_F16) {
		const long cols = (long)w->cols;
		const size_t rb = ds_row_bytes(w->dtype, cols);
		ar_float_n(y, ldy, a, lda, n, (const char *)w->data + (size_t)row0 * rb, rb, m, cols, w->dtype);
		return;
	}
	for (int i = 0; i < n; i++)
		avx512_axpy_rows(k, y + (long)i * ldy, a + (long)i * lda, w, row0, m);
}

/* Rows ahead whose piece the first query group of pv_add_scaled asks for. One token's weighted sums
 * (the column tasks of cpu-mla.c) read a 64-column piece of every cache row, 256 bytes 2304 apart,
 * that the score phase left in L2 or in the other core's, and the hardware prefetcher did not follow:
 * tools/mla-bench, 544 positions, 2 threads, caches flushed, 208-266 -> 183-233 us a call. Past m they
 * are the next block's rows, or nothing: a prefetch past the cache does not fault. pv_scaled (the
 * blocks of the long-context path) sums rows its scores have just read, in L1: there the prefetches
 * cost 2-10% (1024 positions). */
#define PV_AHEAD 8

/* Q queries (1..4) x 64 columns from c of pv_scaled: 16 sums in registers over the m rows of v,
 * each 64-column piece of a row loaded once for the Q queries; lanes past kdim are masked off. */
MK512_INLINE void pv_tile(int Q, int ADD, int B16, float *o, long ldo, const float *f, const float *p, long ldp,
			  const void *v, long ldv, int m, long c, long kdim, int pf)
{
	__mmask16 mk[4];
	__m512 acc[4][4];
#pragma GCC unroll 4
	for (int u = 0; u < 4; u++)
		mk[u] = mk_lanes(kdim - c - 16 * u);
#pragma GCC unroll 4
	for (int q = 0; q < Q; q++) {
		__m512 fq = _mm512_set1_ps(f[q]);
#pragma GCC unroll 4
		for (int u = 0; u < 4; u++)
			acc[q][u] = ADD ? _mm512_setzero_ps()
					: _mm512_mul_ps(_mm512_maskz_loadu_ps(mk[u], o + (long)q * ldo + c + 16 * u), fq);
	}
	for (int t = 0; t < m; t++) {
		const char *vt = (const char *)v + ((long)t * ldv + c) * (B16 ? 2 : 4);
		__m512 vv[4];
		if (pf)
#pragma GCC unroll 4
			for (int u = 0; u < 4; u++)
				_mm_prefetch(vt + (PV_AHEAD * ldv + 16 * u) * (B16 ? 2 : 4), _MM_HINT_T0);
#pragma GCC unroll 4
		for (int u = 0; u < 4; u++)
			vv[u] = mk_ld(vt, 16 * u, B16 ? DS_BF16 : DS_F32, mk[u]);
#pragma GCC unroll 4
		for (int q = 0; q < Q; q++) {
			__m512 pq = _mm512_set1_ps(p[(long)q * ldp + t]);
#pragma GCC unroll 4
			for (int u = 0; u < 4; u++)
				acc[q][u] = _mm512_fmadd_ps(pq, vv[u], acc[q][u]);
		}
	}
#pragma GCC unroll 4
	for (int q = 0; q < Q; q++) {
		__m512 fq = _mm512_set1_ps(f[q]);
#pragma GCC unroll 4
		for (int u = 0; u < 4; u++) {
			float *oq = o + (long)q * ldo + c + 16 * u;
			if (ADD)
				acc[q][u] = _mm512_fmadd_ps(acc[q][u], fq, _mm512_maskz_loadu_ps(mk[u], oq));
			_mm512_mask_storeu_ps(oq, mk[u], acc[q][u]);
		}
	}
}

/* pv_scaled (ADD 0) and pv_add_scaled (ADD 1) on F32 (B16 0) or BF16 rows: tiles of up to 4 queries
 * x 64 columns */
MK512_INLINE void pv_tiles(int ADD, int B16, float *o, long ldo, const float *f, const float *p, long ldp,
			   const void *v, long ldv, int n, int m, long kdim)
{
	/* columns outermost: the piece of v's m rows that a tile reads (8 KB for 32 rows) stays in L1
	 * for every group of queries */
	for (long c = 0; c < kdim; c += 64) {
		for (int i = 0; i < n; i += 4) {
			float *oi = o + (long)i * ldo;
			const float *pi = p + (long)i * ldp;
			switch (n - i) {
			case 1: pv_tile(1, ADD, B16, oi, ldo, f + i, pi, ldp, v, ldv, m, c, kdim, ADD && i == 0); break;
			case 2: pv_tile(2, ADD, B16, oi, ldo, f + i, pi, ldp, v, ldv, m, c, kdim, ADD && i == 0); break;
			case 3: pv_tile(3, ADD, B16, oi, ldo, f + i, pi, ldp, v, ldv, m, c, kdim, ADD && i == 0); break;
			default: pv_tile(4, ADD, B16, oi, ldo, f + i, pi, ldp, v, ldv, m, c, kdim, ADD && i == 0); break;
			}
		}
	}
}

/* Rows ahead of the tile being summed whose lines scores asks for. */
#define SC_AHEAD 8

/* How many of the 4 rows SC_AHEAD on each query group of a score tile asks for (n queries: groups
 * of 4, then single ones): a row each where there are 4 groups or more, else 2 or all 4 in the first
 * groups. The first group alone asked for all 4 rows: 72 prefetches in a burst on a 576-wide BF16
 * cache, then none for the other 3 groups' 3/4 of the tile, and the burst waited on a full miss
 * queue. tools/mla-bench, 576 positions, 2 threads, q4_K kv_b, BF16 cache, caches flushed, 4
 * alternating pairs: 113.6-120.4 -> 108.9-111.6 us a call. */
static inline int sc_prefetch_rows(int n)
{
	const int groups = n / 4 + n % 4;
	return groups >= 4 ? 1 : groups >= 2 ? 2 : 4;
}

/* The rows that query group g asks for, per of them a group: none past the tile's 4 */
static inline int sc_prefetch_count(int g, int per)
{
	return g * per < 4 ? per : 0;
}

/* The 16 lane sums of acc[i][t] as sum[i] = {t = 0..3}: a tree of adds over interleaved halves
 * (45 instructions, against about 130 for 16 separate horizontal sums). */
MK512_INLINE void sc_sum16(__m512 acc[4][4], __m128 sum[4])
{
	__m512 h[8], u[4];
	/* each 128-bit lane holds the partial sums of acc j at 0 and 2, of acc j+1 at 1 and 3 */
#pragma GCC unroll 8
	for (int k = 0; k < 8; k++) {
		__m512 x = acc[k / 2][(k % 2) * 2], y = acc[k / 2][(k % 2) * 2 + 1];
		h[k] = _mm512_add_ps(_mm512_unpacklo_ps(x, y), _mm512_unpackhi_ps(x, y));
	}
	/* each 128-bit lane holds one partial sum of each of 4 consecutive accs */
#pragma GCC unroll 4
	for (int k = 0; k < 4; k++)
		u[k] = _mm512_add_ps(_mm512_shuffle_ps(h[2 * k], h[2 * k + 1], 0x44),
				     _mm512_shuffle_ps(h[2 * k], h[2 * k + 1], 0xee));
	/* the four 128-bit lanes added: lanes of u0 and u1, then of both pairs */
	__m512 w0 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88), _mm512_shuffle_f32x4(u[0], u[1], 0xdd));
	__m512 w1 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x88), _mm512_shuffle_f32x4(u[2], u[3], 0xdd));
	__m512 all = _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, 0x88), _mm512_shuffle_f32x4(w0, w1, 0xdd));
	sum[0] = _mm512_extractf32x4_ps(all, 0);
	sum[1] = _mm512_extractf32x4_ps(all, 1);
	sum[2] = _mm512_extractf32x4_ps(all, 2);
	sum[3] = _mm512_extractf32x4_ps(all, 3);
}

/* A tile's R x Q score sums (lane sums of acc[i][t]) into s[i * lds + t] */
MK512_INLINE void sc_store(int R, int Q, __m512 acc[4][4], float *s, long lds)
{
	if (R == 4 && Q == 4) {
		__m128 sum[4];
		sc_sum16(acc, sum);
#pragma GCC unroll 4
		for (int i = 0; i < 4; i++)
			_mm_storeu_ps(s + (long)i * lds, sum[i]);
		return;
	}
#pragma GCC unroll 4
	for (int i = 0; i < Q; i++)
#pragma GCC unroll 4
		for (int t = 0; t < R; t++)
			s[(long)i * lds + t] = _mm512_reduce_add_ps(acc[i][t]);
}

/* ---- BF16 rows times BF16 queries and weights (vdpbf16ps) ----
 *
 * On a BF16 cache the scores and weighted sums are half of decode attention's time and all its
 * arithmetic: a 16-lane FMA per 16 products where vdpbf16ps does 32 (pairs of BF16 products added
 * to F32 sums). The queries (scores) and the softmax weights (sums) are rounded to BF16 for it, once
 * per call; the cache rows already are. The scores' pairs are neighbouring columns of a row, as
 * stored; the sums' pairs are neighbouring rows of a column, so each two rows are interleaved by
 * 16-bit words (vpunpcklwd/vpunpckhwd, which leave the columns in a lane order that the tile's last
 * step puts back), for all the queries of a tile at once. */
#if defined(HAVE_AVX512BF16_TARGET)

#define MKB16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")))
#define MKB16_INLINE static inline __attribute__((always_inline, \
	target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")))

/* Lanes [0, n) of 32, for n in [0, 32]. */
MKB16_INLINE __mmask32 mk_lanes32(long n)
{
	return n >= 32 ? (__mmask32)0xffffffffu : n <= 0 ? (__mmask32)0 : (__mmask32)((1u << n) - 1);
}

MKB16_INLINE __m512 mk_dot(__m512 acc, __m512i a, __m512i b)
{
	return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

/* y (ny values) = x (the first nx of them, 0 past) rounded to BF16, to nearest, ties to even */
MKB16_INLINE void mk_round_row(const float *x, long nx, uint16_t *y, long ny)
{
	for (long c = 0; c < ny; c += 32) {
		__m512 lo = _mm512_maskz_loadu_ps(mk_lanes(nx - c), x + c);
		__m512 hi = _mm512_maskz_loadu_ps(mk_lanes(nx - c - 16), x + c + 16);
		_mm512_mask_storeu_epi16(y + c, mk_lanes32(ny - c), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
	}
}

static MKB16 void mk_round_into(const float *x, uint16_t *y, long n)
{
	mk_round_row(x, n, y, n);
}

/* n rows of x (kdim floats, ldx apart) rounded to BF16 (to nearest, ties to even) into rows ldb
 * values apart in this thread's scratch for use; a row's values past kdim up to ldb are 0. */
static MKB16 const uint16_t *mk_round_rows(const float *x, long ldx, int n, long kdim, long ldb,
					   enum cpu_scratch_use use)
{
	uint16_t *b = cpu_scratch(use, (size_t)(n > 0 ? n : 1) * (size_t)ldb * sizeof *b);
	for (int i = 0; i < n; i++)
		mk_round_row(x + (long)i * ldx, kdim, b + (long)i * ldb, ldb);
	return b;
}

/* R rows (1..4) x Q queries (1..4) of scores over BF16 queries and rows: 32 products per vdpbf16ps,
 * summed as sc_tile sums */
MKB16_INLINE void sd_tile(int R, int Q, float *s, long lds, const uint16_t *q, long ldq, const uint16_t *v,
			  long ldv, long kdim, const uint16_t *pf, int npf)
{
	__m512 acc[4][4];
#pragma GCC unroll 4
	for (int i = 0; i < Q; i++)
#pragma GCC unroll 4
		for (int t = 0; t < R; t++)
			acc[i][t] = _mm512_setzero_ps();
	for (long c = 0; c < kdim; c += 32) {
		__mmask32 mk = mk_lanes32(kdim - c);
		__m512i vv[4];
		for (int t = 0; t < npf; t++)
			_mm_prefetch((const char *)(pf + (long)t * ldv + c), _MM_HINT_T0);
#pragma GCC unroll 4
		for (int t = 0; t < R; t++)
			vv[t] = _mm512_maskz_loadu_epi16(mk, v + (long)t * ldv + c);
#pragma GCC unroll 4
		for (int i = 0; i < Q; i++) {
			__m512i qi = _mm512_maskz_loadu_epi16(mk, q + (long)i * ldq + c);
#pragma GCC unroll 4
			for (int t = 0; t < R; t++)
				acc[i][t] = mk_dot(acc[i][t], qi, vv[t]);
		}
	}
	sc_store(R, Q, acc, s, lds);
}

static MKB16 void sd_rows(float *s, long lds, const float *qf, const uint16_t *qb, long ldqf, int n,
			  const uint16_t *v, long ldv, int m, long kdim)
{
	long ldq = ldqf;
	const uint16_t *q = qb;
	if (q == NULL) {
		ldq = (kdim + 31) / 32 * 32;
		q = mk_round_rows(qf, ldqf, n, kdim, ldq, CPU_SCRATCH_MLA_QB16);
	}
	const int per = sc_prefetch_rows(n);
	int t = 0;
	for (; t + 4 <= m; t += 4) {
		const uint16_t *vt = v + (long)t * ldv, *pf = vt + (long)SC_AHEAD * ldv;
		int i = 0, g = 0;
		for (; i + 4 <= n; i += 4, g++)
			sd_tile(4, 4, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim,
				pf + (long)g * per * ldv, sc_prefetch_count(g, per));
		for (; i < n; i++, g++)
			sd_tile(4, 1, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim,
				pf + (long)g * per * ldv, sc_prefetch_count(g, per));
	}
	for (; t < m; t++) {
		const uint16_t *vt = v + (long)t * ldv;
		int i = 0;
		for (; i + 4 <= n; i += 4)
			sd_tile(1, 4, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim, NULL, 0);
		for (; i < n; i++)
			sd_tile(1, 1, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim, NULL, 0);
	}
}

/* Q queries (1..4) x 64 columns from c of the weighted sums over BF16 rows and weights (pb: each
 * query's m weights as BF16, ldpb apart, 0 past m): sums from 0 over pairs of rows, then o = f o + sum
 * (ADD 0) or o += f sum (ADD 1). acc[q][2h] and acc[q][2h + 1] hold columns c + 32h .. + 31 in the
 * order the interleave leaves them: of each 8, the first 4 in the first, the last 4 in the second. */
MKB16_INLINE void pd_tile(int Q, int ADD, float *o, long ldo, const float *f, const uint16_t *pb, long ldpb,
			  const uint16_t *v, long ldv, int m, long c, long kdim, int pf)
{
	const __m512i back0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
	const __m512i back1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
	__mmask32 mk[2] = { mk_lanes32(kdim - c), mk_lanes32(kdim - c - 32) };
	__m512 acc[4][4];
#pragma GCC unroll 4
	for (int q = 0; q < Q; q++)
#pragma GCC unroll 4
		for (int u = 0; u < 4; u++)
			acc[q][u] = _mm512_setzero_ps();
	for (int t = 0; t < m; t += 2) {
		const uint16_t *va = v + (long)t * ldv + c, *vb = va + ldv;
		const int pair = t + 1 < m;
		if (pf)
#pragma GCC unroll 2
			for (int h = 0; h < 2; h++) {
				_mm_prefetch((const char *)(va + PV_AHEAD * ldv + 32 * h), _MM_HINT_T0);
				_mm_prefetch((const char *)(vb + PV_AHEAD * ldv + 32 * h), _MM_HINT_T0);
			}
		__m512i w[4];
#pragma GCC unroll 2
		for (int h = 0; h < 2; h++) {
			__m512i a = _mm512_maskz_loadu_epi16(mk[h], va + 32 * h);
			__m512i b = pair ? _mm512_maskz_loadu_epi16(mk[h], vb + 32 * h) : _mm512_setzero_si512();
			w[2 * h] = _mm512_unpacklo_epi16(a, b);
			w[2 * h + 1] = _mm512_unpackhi_epi16(a, b);
		}
#pragma GCC unroll 4
		for (int q = 0; q < Q; q++) {
			uint32_t pp;
			memcpy(&pp, pb + (long)q * ldpb + t, sizeof pp);
			__m512i p2 = _mm512_set1_epi32((int)pp);
#pragma GCC unroll 4
			for (int u = 0; u < 4; u++)
				acc[q][u] = mk_dot(acc[q][u], p2, w[u]);
		}
	}
#pragma GCC unroll 4
	for (int q = 0; q < Q; q++) {
		__m512 fq = _mm512_set1_ps(f[q]);
#pragma GCC unroll 2
		for (int h = 0; h < 2; h++) {
			__m512 col[2] = { _mm512_permutex2var_ps(acc[q][2 * h], back0, acc[q][2 * h + 1]),
					  _mm512_permutex2var_ps(acc[q][2 * h], back1, acc[q][2 * h + 1]) };
#pragma GCC unroll 2
			for (int g = 0; g < 2; g++) {
				__mmask16 mg = mk_lanes(kdim - c - 32 * h - 16 * g);
				float *oq = o + (long)q * ldo + c + 32 * h + 16 * g;
				__m512 old = _mm512_maskz_loadu_ps(mg, oq);
				__m512 r = ADD ? _mm512_fmadd_ps(col[g], fq, old) : _mm512_fmadd_ps(old, fq, col[g]);
				_mm512_mask_storeu_ps(oq, mg, r);
			}
		}
	}
}

static MKB16 void pd_tiles(int ADD, float *o, long ldo, const float *f, const float *p, long ldp,
			   const uint16_t *v, long ldv, int n, int m, long kdim)
{
	const long ldpb = (m + 1) / 2 * 2;
	const uint16_t *pb = mk_round_rows(p, ldp, n, m, ldpb, CPU_SCRATCH_MLA_PB16);
	for (long c = 0; c < kdim; c += 64)
		for (int i = 0; i < n; i += 4) {
			float *oi = o + (long)i * ldo;
			const uint16_t *pi = pb + (long)i * ldpb;
			int pf = ADD && i == 0;
#define PD_CASE(Q) \
			(ADD ? pd_tile(Q, 1, oi, ldo, f + i, pi, ldpb, v, ldv, m, c, kdim, pf) \
			     : pd_tile(Q, 0, oi, ldo, f + i, pi, ldpb, v, ldv, m, c, kdim, pf))
			switch (n - i) {
			case 1: PD_CASE(1); break;
			case 2: PD_CASE(2); break;
			case 3: PD_CASE(3); break;
			default: PD_CASE(4); break;
			}
#undef PD_CASE
		}
}

#endif

/* Whether the CPU has AVX-512 BF16, asked once: CPUID traps to the hypervisor in a virtual machine
 * (asked per call, it took 60% of a decode attention call's time) */
static pthread_once_t mk_cpu_once = PTHREAD_ONCE_INIT;
static int mk_cpu_bf16;

static void mk_cpu_ask(void)
{
	mk_cpu_bf16 = cpu_kernels_have_avx512_bf16();
}

/* Whether BF16 rows go to the vdpbf16ps forms above */
static int mk_bf16_dot(void)
{
#if defined(HAVE_AVX512BF16_TARGET)
	if (cpu_mla_bf16_dot == 0)
		return 0;
	pthread_once(&mk_cpu_once, mk_cpu_ask);
	return mk_cpu_bf16;
#else
	return 0;
#endif
}

/* pv_scaled (ADD 0) and pv_add_scaled (ADD 1) on rows of type vt: BF16 rows by vdpbf16ps where it
 * applies, else widened in the F32 tiles */
MK512_INLINE void pv_any(int ADD, float *o, long ldo, const float *f, const float *p, long ldp, const void *v,
			 enum ds_dtype vt, long ldv, int n, int m, long kdim)
{
#if defined(HAVE_AVX512BF16_TARGET)
	if (vt == DS_BF16 && mk_bf16_dot()) {
		pd_tiles(ADD, o, ldo, f, p, ldp, v, ldv, n, m, kdim);
		return;
	}
#endif
	if (vt == DS_BF16)
		pv_tiles(ADD, 1, o, ldo, f, p, ldp, v, ldv, n, m, kdim);
	else
		pv_tiles(ADD, 0, o, ldo, f, p, ldp, v, ldv, n, m, kdim);
}

static MK512 void avx512_pv_scaled(const struct cpu_kernels *k, float *o, long ldo, const float *f, const float *p,
				   long ldp, const void *v, enum ds_dtype vt, long ldv, int n, int m, long kdim)
{
	pv_any(0, o, ldo, f, p, ldp, v, vt, ldv, n, m, kdim);
}

static MK512 void avx512_pv_add_scaled(const struct cpu_kernels *k, float *o, long ldo, const float *f,
				       const float *p, long ldp, const void *v, enum ds_dtype vt, long ldv, int n,
				       int m, long kdim)
{
	pv_any(1, o, ldo, f, p, ldp, v, vt, ldv, n, m, kdim);
}

/* R rows (1..4) x Q queries (1..4) of scores: R * Q sums in registers over kdim, each 16-float piece
 * of a row or a query loaded once per tile. */
MK512_INLINE void sc_tile(int R, int Q, int B16, float *s, long lds, const float *q, long ldq, const void *v,
			  long ldv, long kdim, const void *pf, int npf)
{
	const int vb = B16 ? 2 : 4;     /* bytes of a value of v */
	__m512 acc[4][4];
#pragma GCC unroll 4
	for (int i = 0; i < Q; i++)
#pragma GCC unroll 4
		for (int t = 0; t < R; t++)
			acc[i][t] = _mm512_setzero_ps();
	for (long c = 0; c < kdim; c += 16) {
		__mmask16 mk = mk_lanes(kdim - c);
		__m512 vv[4];
		for (int t = 0; t < npf; t++)
			_mm_prefetch((const char *)pf + ((long)t * ldv + c) * vb, _MM_HINT_T0);
#pragma GCC unroll 4
		for (int t = 0; t < R; t++)
			vv[t] = mk_ld((const char *)v + (long)t * ldv * vb, c, B16 ? DS_BF16 : DS_F32, mk);
#pragma GCC unroll 4
		for (int i = 0; i < Q; i++) {
			__m512 qi = _mm512_maskz_loadu_ps(mk, q + (long)i * ldq + c);
#pragma GCC unroll 4
			for (int t = 0; t < R; t++)
				acc[i][t] = _mm512_fmadd_ps(qi, vv[t], acc[i][t]);
		}
	}
	sc_store(R, Q, acc, s, lds);
}

MK512_INLINE void sc_rows(int B16, float *s, long lds, const float *q, long ldq, int n, const void *v, long ldv,
			  int m, long kdim)
{
	const int vb = B16 ? 2 : 4;
	/* rows outermost: 4 rows (9 KB of a 576-wide cache) stay in L1 for every group of queries */
	const int per = sc_prefetch_rows(n);
	int t = 0;
	for (; t + 4 <= m; t += 4) {
		/* the 4 rows SC_AHEAD rows on asked for, a line of each per step: the loads waited on
		 * memory. Past m they are the cache's next rows (the next block's), or nothing: a
		 * prefetch of an address past the cache does not fault. */
		const char *vt = (const char *)v + (long)t * ldv * vb, *pf = vt + (long)SC_AHEAD * ldv * vb;
		int i = 0, g = 0;
		for (; i + 4 <= n; i += 4, g++)
			sc_tile(4, 4, B16, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim,
				pf + (long)g * per * ldv * vb, sc_prefetch_count(g, per));
		for (; i < n; i++, g++)
			sc_tile(4, 1, B16, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim,
				pf + (long)g * per * ldv * vb, sc_prefetch_count(g, per));
	}
	for (; t < m; t++) {
		const char *vt = (const char *)v + (long)t * ldv * vb;
		int i = 0;
		for (; i + 4 <= n; i += 4)
			sc_tile(1, 4, B16, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim, NULL, 0);
		for (; i < n; i++)
			sc_tile(1, 1, B16, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim, NULL, 0);
	}
}

static MK512 void avx512_scores(const struct cpu_kernels *k, float *s, long lds, const float *q, const uint16_t *qb,
				long ldq, int n, const void *v, enum ds_dtype vt, long ldv, int m, long kdim)
{
#if defined(HAVE_AVX512BF16_TARGET)
	if (vt == DS_BF16 && mk_bf16_dot()) {
		sd_rows(s, lds, q, qb, ldq, n, v, ldv, m, kdim);
		return;
	}
#endif
	if (vt == DS_BF16)
		sc_rows(1, s, lds, q, ldq, n, v, ldv, m, kdim);
	else
		sc_rows(0, s, lds, q, ldq, n, v, ldv, m, kdim);
}

const struct cpu_mla_kernels cpu_mla_kernels_avx512 = {
	.name = "AVX-512",
	.queries_alone = true,     /* tiles of 4 queries, each with its own sums (sc_rows, pv_tiles) */
	.axpy_rows = avx512_axpy_rows,
	.axpy_rows_n = avx512_axpy_rows_n,
	.pv_scaled = avx512_pv_scaled,
	.pv_add_scaled = avx512_pv_add_scaled,
	.scores = avx512_scores,
};

#endif

int cpu_mla_bf16_dot = -1;

int cpu_mla_bf16_products(const struct cpu_mla_kernels *mk)
{
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
	return mk == &cpu_mla_kernels_avx512 && mk_bf16_dot();
#else
	return 0;
#endif
}

void cpu_mla_round_bf16(const float *x, uint16_t *y, long n)
{
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512BF16_TARGET)
	if (mk_bf16_dot()) {
		mk_round_into(x, y, n);
		return;
	}
#endif
	for (long i = 0; i < n; i++)
		y[i] = ds_f32_to_bf16(x[i]);
}

const struct cpu_mla_kernels *cpu_mla_kernels_for(const struct cpu_kernels *k)
{
#ifdef HAVE_AVX2_TARGET
	if (k == &cpu_kernels_avx2 || k == &cpu_kernels_avx2_int8)
		return &cpu_mla_kernels_avx2;
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
	if (k == &cpu_kernels_avx512)
		return &cpu_mla_kernels_avx512;
#endif
	/* the opt-in sets' attention kernels (axpy_row, pv, dot) are the exact AVX-512 set's, so its MLA
	 * kernels are theirs too (their rounding of activations is in the matrix products only) */
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)
	if (k == &cpu_kernels_avx512_int8)
		return &cpu_mla_kernels_avx512;
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512BF16_TARGET)
	if (k == &cpu_kernels_avx512_bf16)
		return &cpu_mla_kernels_avx512;
#endif
	return &cpu_mla_kernels_generic;
}

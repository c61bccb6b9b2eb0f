/* cpu-mla-kernels-avx2.c: decode attention's inner loops (cpu-mla-kernels.h) for the AVX2 kernel sets
 * (avx2, avx2-int8): sums kept in registers while the rows go by, as the AVX-512 set does with 8 lanes
 * and half the registers.
 *
 * Why: on the generic set a token's weighted sums over the cache went through the AVX2 set's pv one
 * query at a time (pv_add_scaled), which loads and stores the query's sums once per cache row, and a
 * BF16 cache was first widened into a scratch copy of every block of rows; on 2 Zen 3 cores decode
 * attention took 1.1-1.5 ms a layer at 576 positions (tools/mla-bench), a quarter of a bench Q4_K_M
 * token. Here each tile keeps 8 sums in registers, BF16 rows are widened as they are loaded, and
 * each piece of a row is loaded once for 4 or 6 queries.
 *
 * The weighted sums (pv_scaled, pv_add_scaled) and axpy_rows on float, Q8_0 and Q4_K rows are the
 * generic set's on the AVX2 set bit for bit: per column the same fused multiply-adds in the same order. The scores sum
 * in their own order (8 lanes, then the lanes added), as the generic set's rows() does in its. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#ifdef HAVE_AVX2_TARGET

#include <immintrin.h>
#include <string.h>

#include "cpu-mla-kernels.h"

#define MK2 __attribute__((target("avx2,fma,f16c")))
#define MK2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))
#define MK2_UNROLL _Pragma("GCC unroll 8")

/* Rows ahead that axpy_rows' first pass asks for whole (the later passes find them in L2) */
#define AR2_AHEAD 8
/* Cache rows ahead that the scores and the first query group of pv_add_scaled ask for */
#define SC2_AHEAD 8
#define PV2_AHEAD 8

/* Lanes [0, n) of 8 as a mask for maskload/maskstore */
MK2_INLINE __m256i m2_mask(long n)
{
	n = n < 0 ? 0 : n > 8 ? 8 : n;
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* 8 halves widened: BF16 is the top half of an F32 */
MK2_INLINE __m256 m2_widen(__m128i h, enum ds_dtype t)
{
	if (t == DS_BF16)
		return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
	return _mm256_cvtph_ps(h);
}

/* 8 values of a row of type t (F32, BF16 or F16) from column c as F32 */
MK2_INLINE __m256 m2_ld(const char *row, long c, enum ds_dtype t)
{
	if (t == DS_F32)
		return _mm256_loadu_ps((const float *)(const void *)row + c);
	return m2_widen(_mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)(const void *)row + c)), t);
}

/* The same for the n values left at the end of a row (the first 8 of them); lanes past n are 0 */
MK2_INLINE __m256 m2_ld_tail(const char *row, long c, enum ds_dtype t, long n)
{
	if (t == DS_F32)
		return _mm256_maskload_ps((const float *)(const void *)row + c, m2_mask(n));
	uint16_t h[8] = { 0 };
	n = n < 0 ? 0 : n > 8 ? 8 : n;
	memcpy(h, (const uint16_t *)(const void *)row + c, sizeof h[0] * (size_t)n);
	return m2_widen(_mm_loadu_si128((const __m128i *)(const void *)h), t);
}

MK2_INLINE void m2_prefetch(const char *p, size_t len)
{
	for (size_t o = 0; o < len; o += 64)
		_mm_prefetch(p + o, _MM_HINT_T0);
}

/* The sum of the 8 lanes, the same additions for every accumulator */
MK2_INLINE float m2_hsum(__m256 a)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* ---- axpy_rows: y += sum over rows of a[j] W[row j] ---- */

/* Columns [c, c + 64) of m rows of a float-type W (rows rb bytes apart from base): 8 sums a column
 * group in registers down the rows, each column's fused multiply-adds in row order as axpy_row's */
MK2_INLINE void ar2_pass(float *y, const float *a, const char *base, size_t rb, int m, long c, enum ds_dtype t)
{
	__m256 acc[8];
	MK2_UNROLL for (int v = 0; v < 8; v++)
		acc[v] = _mm256_loadu_ps(y + c + 8 * v);
	for (int j = 0; j < m; j++) {
		const char *row = base + (size_t)j * rb;
		if (c == 0 && j + AR2_AHEAD < m)
			m2_prefetch(row + AR2_AHEAD * rb, rb);
		const __m256 va = _mm256_set1_ps(a[j]);
		MK2_UNROLL for (int v = 0; v < 8; v++)
			acc[v] = _mm256_fmadd_ps(va, m2_ld(row, c + 8 * v, t), acc[v]);
	}
	MK2_UNROLL for (int v = 0; v < 8; v++)
		_mm256_storeu_ps(y + c + 8 * v, acc[v]);
}

static MK2 void ar2_float(float *y, const float *a, const char *base, size_t rb, int m, long k, enum ds_dtype t)
{
	long c = 0;
	for (; c + 64 <= k; c += 64)
		switch (t) {
		case DS_F32: ar2_pass(y, a, base, rb, m, c, DS_F32); break;
		case DS_BF16: ar2_pass(y, a, base, rb, m, c, DS_BF16); break;
		default: ar2_pass(y, a, base, rb, m, c, DS_F16); break;
		}
	/* the last columns, 8 at a time down the rows */
	for (; c < k; c += 8) {
		const __m256i mk = m2_mask(k - c);
		__m256 acc = _mm256_maskload_ps(y + c, mk);
		for (int j = 0; j < m; j++)
			acc = _mm256_fmadd_ps(_mm256_set1_ps(a[j]), m2_ld_tail(base + (size_t)j * rb, c, t, k - c), acc);
		_mm256_maskstore_ps(y + c, mk, acc);
	}
}

/* 8 codes at q (bytes, signed or not) as floats */
MK2_INLINE __m256 m2_u8(const uint8_t *q)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)q)));
}

MK2_INLINE __m256 m2_i8(const uint8_t *q)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)q)));
}

/* Columns [c, c + 64) of m rows of a Q8_0 (K4 0) or Q4_K (K4 1) W: two blocks (Q8_0) or sub-blocks
 * (Q4_K) of each row decoded as the AVX2 set's decoder does (Q8_0 q * d; Q4_K (d sc) q rounded, less
 * dmin m) and summed down the rows in registers, each column in row order: axpy_row's sums */
MK2_INLINE void ar2_quant_pass(int K4, float *y, const float *a, const char *base, size_t rb, int m, long c)
{
	__m256 acc[8];
	MK2_UNROLL for (int v = 0; v < 8; v++)
		acc[v] = _mm256_loadu_ps(y + c + 8 * v);
	for (int j = 0; j < m; j++) {
		const uint8_t *row = (const uint8_t *)base + (size_t)j * rb;
		if (c == 0 && j + AR2_AHEAD < m)
			m2_prefetch((const char *)row + AR2_AHEAD * rb, rb);
		const __m256 va = _mm256_set1_ps(a[j]);
		__m256 x[8];
		if (K4) {
			const uint8_t *blk = row + (size_t)(c / 256) * 144;
			const int s = (int)(c % 256 / 64);   /* the pair of sub-blocks 2s, 2s + 1 */
			uint64_t sc, mn;
			ds_k_scales8(blk + 4, &sc, &mn);
			uint16_t h0, h1;
			memcpy(&h0, blk, 2);
			memcpy(&h1, blk + 2, 2);
			const float d = _cvtsh_ss(h0), dmin = _cvtsh_ss(h1);
			const __m256 ds[2] = { _mm256_set1_ps(d * (float)(uint8_t)(sc >> (16 * s))),
					       _mm256_set1_ps(d * (float)(uint8_t)(sc >> (16 * s + 8))) };
			const __m256 dm[2] = { _mm256_set1_ps(dmin * (float)(uint8_t)(mn >> (16 * s))),
					       _mm256_set1_ps(dmin * (float)(uint8_t)(mn >> (16 * s + 8))) };
			const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 16 + 32 * s));
			uint8_t nib[64] __attribute__((aligned(32)));
			_mm256_store_si256((__m256i *)(void *)nib, _mm256_and_si256(q, _mm256_set1_epi8(0x0f)));
			_mm256_store_si256((__m256i *)(void *)(nib + 32),
					   _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f)));
			MK2_UNROLL for (int v = 0; v < 8; v++) {
				__m256 p = _mm256_mul_ps(ds[v / 4], m2_u8(nib + 8 * v));
				__asm__("" : "+x"(p));   /* rounded before the difference, as the decoder */
				x[v] = _mm256_sub_ps(p, dm[v / 4]);
			}
		} else {
			const uint8_t *blk = row + (size_t)(c / 32) * 34;
			MK2_UNROLL for (int v = 0; v < 8; v++) {
				const uint8_t *b = blk + 34 * (v / 4);
				uint16_t h;
				memcpy(&h, b, 2);
				x[v] = _mm256_mul_ps(m2_i8(b + 2 + 8 * (v % 4)), _mm256_set1_ps(_cvtsh_ss(h)));
			}
		}
		MK2_UNROLL for (int v = 0; v < 8; v++)
			acc[v] = _mm256_fmadd_ps(va, x[v], acc[v]);
	}
	MK2_UNROLL for (int v = 0; v < 8; v++)
		_mm256_storeu_ps(y + c + 8 * v, acc[v]);
}

static MK2 void ar2_quant(float *y, const float *a, const char *base, size_t rb, int m, long k, int k4)
{
	for (long c = 0; c < k; c += 64) {   /* 64 divides both rows' lengths: the caller checks */
		if (k4)
			ar2_quant_pass(1, y, a, base, rb, m, c);
		else
			ar2_quant_pass(0, y, a, base, rb, m, c);
	}
}

static void avx2_axpy_rows(const struct cpu_kernels *k, float *y, const float *a, const struct ds_tensor *w,
			   long row0, int m)
{
	const size_t rb = ds_row_bytes(w->dtype, w->cols);
	const char *base = (const char *)w->data + (size_t)row0 * rb;
	if (w->dtype == DS_F32 || w->dtype == DS_BF16 || w->dtype == DS_F16)
		ar2_float(y, a, base, rb, m, (long)w->cols, w->dtype);
	else if (w->dtype == DS_Q4_K)
		ar2_quant(y, a, base, rb, m, (long)w->cols, 1);
	else if (w->dtype == DS_Q8_0 && w->cols % 64 == 0)
		ar2_quant(y, a, base, rb, m, (long)w->cols, 0);
	else   /* the other block types: the set's decoder a row at a time */
		cpu_mla_kernels_generic.axpy_rows(k, y, a, w, row0, m);
}

static void avx2_axpy_rows_n(const struct cpu_kernels *k, float *y, long ldy, const float *a, long lda, int n,
			     const struct ds_tensor *w, long row0, int m)
{
	for (int i = 0; i < n; i++)
		avx2_axpy_rows(k, y + (long)i * ldy, a + (long)i * lda, w, row0, m);
}

/* ---- weighted sums of cache rows ---- */

/* Q queries (1..6) x 16 columns from c of pv_scaled (ADD 0: o = f o, then o += p_t v_t in row order)
 * or pv_add_scaled (ADD 1: o += f (the sum from 0 of p_t v_t)); FULL: all 16 columns lie before kdim,
 * else lanes past kdim are masked off. */
MK2_INLINE void pv2_tile(int Q, int ADD, int B16, int FULL, float *o, long ldo, const float *f, const float *p,
			 long ldp, const void *v, long ldv, int m, long c, long kdim, int pf)
{
	const enum ds_dtype vt = B16 ? DS_BF16 : DS_F32;
	const int vb = B16 ? 2 : 4;
	const long n0 = kdim - c, n1 = kdim - c - 8;
	const __m256i mk[2] = { m2_mask(n0), m2_mask(n1) };
	__m256 acc[6][2];
	MK2_UNROLL for (int q = 0; q < Q; q++) {
		const __m256 fq = _mm256_set1_ps(f[q]);
		MK2_UNROLL for (int u = 0; u < 2; u++) {
			float *oq = o + (long)q * ldo + c + 8 * u;
			acc[q][u] = ADD ? _mm256_setzero_ps()
					: _mm256_mul_ps(FULL ? _mm256_loadu_ps(oq) : _mm256_maskload_ps(oq, mk[u]), fq);
		}
	}
	for (int t = 0; t < m; t++) {
		const char *row = (const char *)v + ((long)t * ldv + c) * vb;
		if (pf)
			_mm_prefetch(row + (long)PV2_AHEAD * ldv * vb, _MM_HINT_T0);
		__m256 vv[2];
		MK2_UNROLL for (int u = 0; u < 2; u++)
			vv[u] = FULL ? m2_ld(row, 8 * u, vt) : m2_ld_tail(row, 8 * u, vt, u ? n1 : n0);
		MK2_UNROLL for (int q = 0; q < Q; q++) {
			const __m256 pq = _mm256_set1_ps(p[(long)q * ldp + t]);
			MK2_UNROLL for (int u = 0; u < 2; u++)
				acc[q][u] = _mm256_fmadd_ps(pq, vv[u], acc[q][u]);
		}
	}
	MK2_UNROLL for (int q = 0; q < Q; q++) {
		const __m256 fq = _mm256_set1_ps(f[q]);
		MK2_UNROLL for (int u = 0; u < 2; u++) {
			float *oq = o + (long)q * ldo + c + 8 * u;
			__m256 r = acc[q][u];
			if (ADD)
				r = _mm256_fmadd_ps(fq, r, FULL ? _mm256_loadu_ps(oq) : _mm256_maskload_ps(oq, mk[u]));
			if (FULL)
				_mm256_storeu_ps(oq, r);
			else
				_mm256_maskstore_ps(oq, mk[u], r);
		}
	}
}

MK2_INLINE void pv2_tiles(int ADD, int B16, float *o, long ldo, const float *f, const float *p, long ldp,
			  const void *v, long ldv, int n, int m, long kdim)
{
	/* columns outermost: the piece of v's m rows that a tile reads stays in L1 for every group of
	 * queries. Groups of 6 queries (12 sums, each row piece loaded once for 6) against 4: 0.89-0.90 of
	 * the time at 16 heads x 576 positions, one thread */
	for (long c = 0; c < kdim; c += 16) {
		const int full = c + 16 <= kdim;
		for (int i = 0; i < n; i += 6) {
			float *oi = o + (long)i * ldo;
			const float *pi = p + (long)i * ldp;
			const int pf = ADD && i == 0;
#define PV2_CASE(Q) (full ? pv2_tile(Q, ADD, B16, 1, oi, ldo, f + i, pi, ldp, v, ldv, m, c, kdim, pf) \
			      : pv2_tile(Q, ADD, B16, 0, oi, ldo, f + i, pi, ldp, v, ldv, m, c, kdim, pf))
			switch (n - i) {
			case 1: PV2_CASE(1); break;
			case 2: PV2_CASE(2); break;
			case 3: PV2_CASE(3); break;
			case 4: PV2_CASE(4); break;
			case 5: PV2_CASE(5); break;
			default: PV2_CASE(6); break;
			}
#undef PV2_CASE
		}
	}
}

/* pv_scaled (ADD 0) and pv_add_scaled (ADD 1) on F32 or BF16 rows */
MK2_INLINE void pv2_any(int ADD, float *o, long ldo, const float *f, const float *p, long ldp, const void *v,
			enum ds_dtype vt, long ldv, int n, int m, long kdim)
{
	if (vt == DS_BF16)
		pv2_tiles(ADD, 1, o, ldo, f, p, ldp, v, ldv, n, m, kdim);
	else
		pv2_tiles(ADD, 0, o, ldo, f, p, ldp, v, ldv, n, m, kdim);
}

static MK2 void avx2_pv_scaled(const struct cpu_kernels *k, float *o, long ldo, const float *f, const float *p,
			       long ldp, const void *v, enum ds_dtype vt, long ldv, int n, int m, long kdim)
{
	(void)k;
	pv2_any(0, o, ldo, f, p, ldp, v, vt, ldv, n, m, kdim);
}

static MK2 void avx2_pv_add_scaled(const struct cpu_kernels *k, float *o, long ldo, const float *f, const float *p,
				   long ldp, const void *v, enum ds_dtype vt, long ldv, int n, int m, long kdim)
{
	(void)k;
	pv2_any(1, o, ldo, f, p, ldp, v, vt, ldv, n, m, kdim);
}

/* ---- scores ---- */

/* R rows (1..3) x Q queries (1..4) of scores: R * Q sums of 8 lanes over kdim, each 8 values of a row
 * or a query loaded once per tile; npf rows at pf asked for a line per 64 bytes as the tile goes */
MK2_INLINE void sc2_tile(int R, int Q, int B16, float *s, long lds, const float *q, long ldq, const void *v,
			 long ldv, long kdim, const char *pf, int npf)
{
	const enum ds_dtype vt = B16 ? DS_BF16 : DS_F32;
	const int vb = B16 ? 2 : 4;
	__m256 acc[4][3];
	MK2_UNROLL for (int i = 0; i < Q; i++)
		MK2_UNROLL for (int t = 0; t < R; t++)
			acc[i][t] = _mm256_setzero_ps();
	long c = 0;
	/* 32 values a step, the rows' lines asked for once a step and each query's 8 values loaded once
	 * into a register for the R rows (left to itself the compiler folded them into every product,
	 * twice the loads): tools/mla-bench-style A/B, 16 heads x 576 positions, one thread, with the
	 * 3-row tiles, 163 -> 140 us */
	for (; c + 32 <= kdim; c += 32) {
		for (int t = 0; t < npf; t++)
			for (int o = 0; o < 32 * vb; o += 64)
				_mm_prefetch(pf + ((long)t * ldv + c) * vb + o, _MM_HINT_T0);
		MK2_UNROLL for (int u = 0; u < 4; u++) {
			__m256 vv[3];
			MK2_UNROLL for (int t = 0; t < R; t++)
				vv[t] = m2_ld((const char *)v + (long)t * ldv * vb, c + 8 * u, vt);
			MK2_UNROLL for (int i = 0; i < Q; i++) {
				__m256 qi = _mm256_loadu_ps(q + (long)i * ldq + c + 8 * u);
				__asm__("" : "+x"(qi));
				MK2_UNROLL for (int t = 0; t < R; t++)
					acc[i][t] = _mm256_fmadd_ps(qi, vv[t], acc[i][t]);
			}
		}
	}
	for (; c + 8 <= kdim; c += 8) {
		__m256 vv[3];
		MK2_UNROLL for (int t = 0; t < R; t++)
			vv[t] = m2_ld((const char *)v + (long)t * ldv * vb, c, vt);
		MK2_UNROLL for (int i = 0; i < Q; i++) {
			const __m256 qi = _mm256_loadu_ps(q + (long)i * ldq + c);
			MK2_UNROLL for (int t = 0; t < R; t++)
				acc[i][t] = _mm256_fmadd_ps(qi, vv[t], acc[i][t]);
		}
	}
	if (c < kdim) {
		const __m256i mk = m2_mask(kdim - c);
		__m256 vv[3];
		MK2_UNROLL for (int t = 0; t < R; t++)
			vv[t] = m2_ld_tail((const char *)v + (long)t * ldv * vb, c, vt, kdim - c);
		MK2_UNROLL for (int i = 0; i < Q; i++) {
			const __m256 qi = _mm256_maskload_ps(q + (long)i * ldq + c, mk);
			MK2_UNROLL for (int t = 0; t < R; t++)
				acc[i][t] = _mm256_fmadd_ps(qi, vv[t], acc[i][t]);
		}
	}
	MK2_UNROLL for (int i = 0; i < Q; i++)
		MK2_UNROLL for (int t = 0; t < R; t++)
			s[(long)i * lds + t] = m2_hsum(acc[i][t]);
}

/* Scores of R rows from row t for all n queries, in groups of 4 (then 1); pf: the first group asks for
 * the rows SC2_AHEAD on (past m, the next block's rows or nothing: a prefetch does not fault) */
MK2_INLINE void sc2_group(int R, int B16, float *s, long lds, const float *q, long ldq, int n, const void *v,
			  long ldv, int t, long kdim, int pf)
{
	const int vb = B16 ? 2 : 4;
	const char *vt = (const char *)v + (long)t * ldv * vb, *pfp = pf ? vt + (long)SC2_AHEAD * ldv * vb : NULL;
	int i = 0;
	for (; i + 4 <= n; i += 4)
		sc2_tile(R, 4, B16, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim, pfp,
			 pf && i == 0 ? R : 0);
	for (; i < n; i++)
		sc2_tile(R, 1, B16, s + (long)i * lds + t, lds, q + (long)i * ldq, ldq, vt, ldv, kdim, pfp,
			 pf && i == 0 ? R : 0);
}

/* Rows outermost: 3 rows (12 sums in registers) stay in L1 for every group of queries. 3 rows x 4
 * queries against 2 x 4: 0.85-0.86 of the time; 2 x 6 no faster than 3 x 4, nor chunks of 12 or 24
 * rows with the queries outermost. */
MK2_INLINE void sc2_rows(int B16, float *s, long lds, const float *q, long ldq, int n, const void *v, long ldv,
			 int m, long kdim)
{
	int t = 0;
	for (; t + 3 <= m; t += 3)
		sc2_group(3, B16, s, lds, q, ldq, n, v, ldv, t, kdim, 1);
	if (t + 2 <= m) {
		sc2_group(2, B16, s, lds, q, ldq, n, v, ldv, t, kdim, 1);
		t += 2;
	}
	for (; t < m; t++)
		sc2_group(1, B16, s, lds, q, ldq, n, v, ldv, t, kdim, 0);
}

static MK2 void avx2_scores(const struct cpu_kernels *k, float *s, long lds, const float *q, const uint16_t *qb,
			    long ldq, int n, const void *v, enum ds_dtype vt, long ldv, int m, long kdim)
{
	(void)k;
	(void)qb;
	if (vt == DS_BF16)
		sc2_rows(1, s, lds, q, ldq, n, v, ldv, m, kdim);
	else
		sc2_rows(0, s, lds, q, ldq, n, v, ldv, m, kdim);
}

const struct cpu_mla_kernels cpu_mla_kernels_avx2 = {
	.name = "AVX2",
	.queries_alone = true,     /* each query's sums on their own, whatever tile it falls in */
	.axpy_rows = avx2_axpy_rows,
	.axpy_rows_n = avx2_axpy_rows_n,
	.pv_scaled = avx2_pv_scaled,
	.pv_add_scaled = avx2_pv_add_scaled,
	.scores = avx2_scores,
};

#endif

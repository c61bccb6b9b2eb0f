/* cpu-kernels-avx2.c: the AVX2/FMA/F16C kernels, compiled with target attributes so the binary
 * still starts on CPUs without them (cpu_kernels_best picks this set only where it runs). */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#ifdef HAVE_AVX2_TARGET

#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-kernels.h"

#define QV_W 8
#define QV_TARGET "avx2,fma,f16c"
#define QV(name) avx2_##name
#include "cpu-quant-simd.h"

/* The few tokens the prefill tiles leave (cpu-gemm-simd.h) to rows() itself, which takes them in
 * its few-token forms. One thread, a 1408 x 2048 expert's gate, up and down from cache, GFLOP/s
 * with the last r tokens in the tiles / apart: Q8_0 17 tokens 53 / 72, 19: 60 / 77, 25: 66 / 70;
 * BF16 17: 50 / 67, 19: 56 / 70. Four or more apart won at 20-22 tokens and lost at 44-46, where
 * the tiles that are left end in a block of one vector. */
#define GM_REST_MAX 3
#define GM_REST_ROWS cpu_avx2_rows
/* From this many tokens on, on matrices of 96 rows or more (fewer do not pay for the packing; the
 * matrix decides, not the row range, so the sums do not depend on the threads), the matrix product
 * of cpu-gemm-simd.h */
#define GM_MIN_TOKENS 16
#include "cpu-gemm-simd.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* Eight consecutive weights from element i of a row of type t, widened to float. BF16 is the top
 * half of an F32, so widening is a shift. */
AVX2_INLINE __m256 ld8(const void *row, long i, enum ds_dtype t)
{
	if (t == DS_F32)
		return _mm256_loadu_ps((const float *)row + i);
	__m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + i));
	if (t == DS_BF16)
		return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
	return _mm256_cvtph_ps(h);
}

AVX2_INLINE float ld1(const void *row, long i, enum ds_dtype t)
{
	if (t == DS_F32)
		return ((const float *)row)[i];
	uint16_t h = ((const uint16_t *)row)[i];
	return t == DS_BF16 ? cpu_bf16_to_f32(h) : cpu_f16_to_f32(h);
}

#define PF_AHEAD 512   /* bytes; measured best of 256..2048 for BF16 rows on the dev machine */
#define PF16_AHEAD 1024   /* bytes; rows1_16's (one token, 16-bit rows) */

AVX2_INLINE void pf(const void *row, long i, enum ds_dtype t)
{
	_mm_prefetch((const char *)row + i * (t == DS_F32 ? 4 : 2) + PF_AHEAD, _MM_HINT_T0);
	if (t == DS_F32)    /* 32 floats span two cache lines */
		_mm_prefetch((const char *)row + i * 4 + PF_AHEAD + 64, _MM_HINT_T0);
}

AVX2_INLINE float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* One token on rows [r0, r1) of a 16-bit type (BF16, F16): a row at a time, one stream from memory,
 * with its lines PF16_AHEAD on asked for once each and two accumulators (the 8-column steps of odd
 * and even 8-column groups, added at the end; then the last columns one by one). History: the form
 * before this read 4 rows in turn with the loop left rolled and the next 4 rows sent to L2, which on
 * an AMD Zen 5 EPYC read 27.5 GB/s against 16.5 for the unrolled loop (256 MB of BF16, one thread,
 * 1024 columns); on a 2-core Zen 3 EPYC one row at a time took 0.72-0.91 of its time and 0.93-0.99 of
 * the same with one accumulator (256 MB, 1024 and 2048 columns, 2 threads, the forms alternating call
 * by call); 512 or 2048 bytes ahead were 4-14% slower. */
AVX2_INLINE void rows1_16_t(const char *base, enum ds_dtype t, long r0, long r1, long k, const float *x, float *y)
{
	const long k8 = k & ~7L;
	const size_t rb = (size_t)k * 2;
	for (long r = r0; r < r1; r++) {
		const char *w = base + (size_t)r * rb;
		__m256 a0 = _mm256_setzero_ps(), a1 = a0;
		long c = 0;
		for (; c + 32 <= k8; c += 32) {
			_mm_prefetch(w + (size_t)c * 2 + PF16_AHEAD, _MM_HINT_T0);
			a0 = _mm256_fmadd_ps(ld8(w, c, t), _mm256_loadu_ps(x + c), a0);
			a1 = _mm256_fmadd_ps(ld8(w, c + 8, t), _mm256_loadu_ps(x + c + 8), a1);
			a0 = _mm256_fmadd_ps(ld8(w, c + 16, t), _mm256_loadu_ps(x + c + 16), a0);
			a1 = _mm256_fmadd_ps(ld8(w, c + 24, t), _mm256_loadu_ps(x + c + 24), a1);
		}
		__m256 acc = _mm256_add_ps(a0, a1);
		for (; c < k8; c += 8)
			acc = _mm256_fmadd_ps(ld8(w, c, t), _mm256_loadu_ps(x + c), acc);
		float sum = hsum(acc);
		for (; c < k; c++)
			sum += ld1(w, c, t) * x[c];
		y[r] = sum;
	}
}

/* (t a constant in each: a run-time type left its tests in the loop) */
static AVX2 void rows1_16(const char *base, enum ds_dtype t, long r0, long r1, long k, const float *x, float *y)
{
	if (t == DS_BF16)
		rows1_16_t(base, DS_BF16, r0, r1, k, x, y);
	else
		rows1_16_t(base, DS_F16, r0, r1, k, x, y);
}

/* Tiles of 4 rows x 3 tokens keep 12 accumulators in registers: each weight vector loaded serves
 * three tokens, each activation vector four rows (4 x 2 and 4 x 1 for the leftover tokens; decode
 * is 4 x 1). Every (row, token) sum is accumulated in the same order in every tile shape. */
AVX2_INLINE void rows_generic(const struct ds_tensor *w, long r0, long r1, const float *x, int n,
			      long ldx, float *y, long ldy, enum ds_dtype t)
{
	const long k = (long)w->cols, k8 = k & ~7L;
	const size_t es = t == DS_F32 ? 4 : 2;
	const char *base = w->data;
	long r = r0;
	if (n == 1 && t != DS_F32) {   /* every row: its sums do not depend on the range */
		rows1_16(base, t, r0, r1, k, x, y);
		return;
	}
	for (; r + 4 <= r1; r += 4) {
		const void *w0 = base + (size_t)r * (size_t)k * es;
		const void *w1 = base + (size_t)(r + 1) * (size_t)k * es;
		const void *w2 = base + (size_t)(r + 2) * (size_t)k * es;
		const void *w3 = base + (size_t)(r + 3) * (size_t)k * es;
		int i = 0;
		for (; i + 3 <= n; i += 3) {
			const float *xa = x + (long)i * ldx, *xb = xa + ldx, *xc = xb + ldx;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			__m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
			for (long c = 0; c < k8; c += 8) {
				__m256 va = _mm256_loadu_ps(xa + c), vb = _mm256_loadu_ps(xb + c);
				__m256 vc = _mm256_loadu_ps(xc + c), v;
				v = ld8(w0, c, t);
				a0 = _mm256_fmadd_ps(v, va, a0);
				b0 = _mm256_fmadd_ps(v, vb, b0);
				c0 = _mm256_fmadd_ps(v, vc, c0);
				v = ld8(w1, c, t);
				a1 = _mm256_fmadd_ps(v, va, a1);
				b1 = _mm256_fmadd_ps(v, vb, b1);
				c1 = _mm256_fmadd_ps(v, vc, c1);
				v = ld8(w2, c, t);
				a2 = _mm256_fmadd_ps(v, va, a2);
				b2 = _mm256_fmadd_ps(v, vb, b2);
				c2 = _mm256_fmadd_ps(v, vc, c2);
				v = ld8(w3, c, t);
				a3 = _mm256_fmadd_ps(v, va, a3);
				b3 = _mm256_fmadd_ps(v, vb, b3);
				c3 = _mm256_fmadd_ps(v, vc, c3);
			}
			float sa[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
			float sb[4] = {hsum(b0), hsum(b1), hsum(b2), hsum(b3)};
			float sc[4] = {hsum(c0), hsum(c1), hsum(c2), hsum(c3)};
			for (long c = k8; c < k; c++) {
				float e[4] = {ld1(w0, c, t), ld1(w1, c, t), ld1(w2, c, t), ld1(w3, c, t)};
				for (int j = 0; j < 4; j++) {
					sa[j] += e[j] * xa[c];
					sb[j] += e[j] * xb[c];
					sc[j] += e[j] * xc[c];
				}
			}
			for (int j = 0; j < 4; j++) {
				y[(long)i * ldy + r + j] = sa[j];
				y[(long)(i + 1) * ldy + r + j] = sb[j];
				y[(long)(i + 2) * ldy + r + j] = sc[j];
			}
		}
		for (; i + 2 <= n; i += 2) {
			const float *xa = x + (long)i * ldx, *xb = xa + ldx;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			__m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
			for (long c = 0; c < k8; c += 8) {
				__m256 va = _mm256_loadu_ps(xa + c), vb = _mm256_loadu_ps(xb + c);
				__m256 v0 = ld8(w0, c, t), v1 = ld8(w1, c, t);
				a0 = _mm256_fmadd_ps(v0, va, a0);
				b0 = _mm256_fmadd_ps(v0, vb, b0);
				a1 = _mm256_fmadd_ps(v1, va, a1);
				b1 = _mm256_fmadd_ps(v1, vb, b1);
				__m256 v2 = ld8(w2, c, t), v3 = ld8(w3, c, t);
				a2 = _mm256_fmadd_ps(v2, va, a2);
				b2 = _mm256_fmadd_ps(v2, vb, b2);
				a3 = _mm256_fmadd_ps(v3, va, a3);
				b3 = _mm256_fmadd_ps(v3, vb, b3);
			}
			float sa[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
			float sb[4] = {hsum(b0), hsum(b1), hsum(b2), hsum(b3)};
			for (long c = k8; c < k; c++) {
				float e[4] = {ld1(w0, c, t), ld1(w1, c, t), ld1(w2, c, t), ld1(w3, c, t)};
				for (int j = 0; j < 4; j++) {
					sa[j] += e[j] * xa[c];
					sb[j] += e[j] * xb[c];
				}
			}
			for (int j = 0; j < 4; j++) {
				y[(long)i * ldy + r + j] = sa[j];
				y[(long)(i + 1) * ldy + r + j] = sb[j];
			}
		}
		for (; i < n; i++) {
			const float *xa = x + (long)i * ldx;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			long c = 0;
			/* decode streams the weights from memory: ask for each row's lines ahead */
			for (; c + 32 <= k8; c += 32) {
				pf(w0, c, t);
				pf(w1, c, t);
				pf(w2, c, t);
				pf(w3, c, t);
				for (int u = 0; u < 32; u += 8) {
					__m256 va = _mm256_loadu_ps(xa + c + u);
					a0 = _mm256_fmadd_ps(ld8(w0, c + u, t), va, a0);
					a1 = _mm256_fmadd_ps(ld8(w1, c + u, t), va, a1);
					a2 = _mm256_fmadd_ps(ld8(w2, c + u, t), va, a2);
					a3 = _mm256_fmadd_ps(ld8(w3, c + u, t), va, a3);
				}
			}
			for (; c < k8; c += 8) {
				__m256 va = _mm256_loadu_ps(xa + c);
				a0 = _mm256_fmadd_ps(ld8(w0, c, t), va, a0);
				a1 = _mm256_fmadd_ps(ld8(w1, c, t), va, a1);
				a2 = _mm256_fmadd_ps(ld8(w2, c, t), va, a2);
				a3 = _mm256_fmadd_ps(ld8(w3, c, t), va, a3);
			}
			float sa[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
			for (long c = k8; c < k; c++) {
				sa[0] += ld1(w0, c, t) * xa[c];
				sa[1] += ld1(w1, c, t) * xa[c];
				sa[2] += ld1(w2, c, t) * xa[c];
				sa[3] += ld1(w3, c, t) * xa[c];
			}
			for (int j = 0; j < 4; j++)
				y[(long)i * ldy + r + j] = sa[j];
		}
	}
	for (; r < r1; r++) {
		const void *w0 = base + (size_t)r * (size_t)k * es;
		for (int i = 0; i < n; i++) {
			const float *xa = x + (long)i * ldx;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0;
			long c = 0;
			for (; c + 16 <= k8; c += 16) {
				a0 = _mm256_fmadd_ps(ld8(w0, c, t), _mm256_loadu_ps(xa + c), a0);
				a1 = _mm256_fmadd_ps(ld8(w0, c + 8, t), _mm256_loadu_ps(xa + c + 8), a1);
			}
			for (; c < k8; c += 8)
				a0 = _mm256_fmadd_ps(ld8(w0, c, t), _mm256_loadu_ps(xa + c), a0);
			float s = hsum(_mm256_add_ps(a0, a1));
			for (c = k8; c < k; c++)
				s += ld1(w0, c, t) * xa[c];
			y[(long)i * ldy + r] = s;
		}
	}
}

/* Tokens are taken in groups whose activations fit in L2 (512 KB), so that a wide input (a dense
 * down_proj of 10944 columns) is not streamed from memory once per row tile. Each (row, token)
 * sum is formed the same way whatever the grouping. Block-quantized types go to cpu-quant-simd.h. */
AVX2 void cpu_avx2_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n,
			   long ldx, float *y, long ldy)
{
	long tb = 512L * 1024 / 4 / (w->cols > 0 ? (long)w->cols : 1);

	if (n >= GM_MIN_TOKENS && (long)w->rows >= GM_RB) {
		avx2_gemm_rows(w, r0, r1, x, n, ldx, y, ldy);
		return;
	}
	if (ds_dtype_is_quantized(w->dtype)) {
		avx2_quant_rows(w, r0, r1, x, n, ldx, y, ldy);
		return;
	}
	tb -= tb % 3;
	if (tb < 3)
		tb = 3;
	for (long i0 = 0; i0 < n; i0 += tb) {
		int nb = n - i0 < tb ? (int)(n - i0) : (int)tb;
		const float *xb = x + i0 * ldx;
		float *yb = y + i0 * ldy;
		switch (w->dtype) {
		case DS_F32: rows_generic(w, r0, r1, xb, nb, ldx, yb, ldy, DS_F32); break;
		case DS_BF16: rows_generic(w, r0, r1, xb, nb, ldx, yb, ldy, DS_BF16); break;
		default: rows_generic(w, r0, r1, xb, nb, ldx, yb, ldy, DS_F16); break;
		}
	}
}

AVX2_INLINE void axpy_row_generic(float *y, float a, const void *row, long n, enum ds_dtype t)
{
	__m256 va = _mm256_set1_ps(a);
	long c = 0;
	for (; c + 8 <= n; c += 8)
		_mm256_storeu_ps(y + c, _mm256_fmadd_ps(va, ld8(row, c, t), _mm256_loadu_ps(y + c)));
	/* the tails fused explicitly, as the vector parts and the AVX-512 kernels are: whether a * b + c
	 * is contracted otherwise depends on the optimisation level (-O1 did not, -O2 did) */
	for (; c < n; c++)
		y[c] = fmaf(a, ld1(row, c, t), y[c]);
}

AVX2 void cpu_avx2_axpy_row(float *y, float a, const struct ds_tensor *w, long row)
{
	long n = (long)w->cols;
	const char *p = (const char *)w->data + (size_t)row * ds_row_bytes(w->dtype, n);

	if (ds_dtype_is_quantized(w->dtype)) {
		avx2_quant_axpy_row(y, a, w, row);
		return;
	}
	switch (w->dtype) {
	case DS_F32: axpy_row_generic(y, a, p, n, DS_F32); break;
	case DS_BF16: axpy_row_generic(y, a, p, n, DS_BF16); break;
	default: axpy_row_generic(y, a, p, n, DS_F16); break;
	}
}

AVX2 float cpu_avx2_dot(const float *a, const float *b, long n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0;
	long c = 0;
	for (; c + 16 <= n; c += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + c), _mm256_loadu_ps(b + c), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + c + 8), _mm256_loadu_ps(b + c + 8), s1);
	}
	for (; c + 8 <= n; c += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + c), _mm256_loadu_ps(b + c), s0);
	float s = hsum(_mm256_add_ps(s0, s1));
	for (; c < n; c++)
		s += a[c] * b[c];
	return s;
}

AVX2 void cpu_avx2_axpy(float *y, float a, const float *x, long n)
{
	__m256 va = _mm256_set1_ps(a);
	long c = 0;
	for (; c + 8 <= n; c += 8)
		_mm256_storeu_ps(y + c, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + c), _mm256_loadu_ps(y + c)));
	for (; c < n; c++)
		y[c] = fmaf(a, x[c], y[c]);
}

/* Tiles of 2 queries x 32 columns (8 accumulators) over all m rows: each row of v loaded serves
 * both queries, and o is read and written once per tile instead of once per row. */
AVX2 void cpu_avx2_pv(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int n,
			 int m, long kdim)
{
	int i = 0;
	for (; i + 2 <= n; i += 2) {
		float *oa = o + (long)i * ldo, *ob = oa + ldo;
		const float *pa = p + (long)i * ldp, *pb = pa + ldp;
		long k = 0;
		for (; k + 32 <= kdim; k += 32) {
			__m256 a0 = _mm256_loadu_ps(oa + k), a1 = _mm256_loadu_ps(oa + k + 8);
			__m256 a2 = _mm256_loadu_ps(oa + k + 16), a3 = _mm256_loadu_ps(oa + k + 24);
			__m256 b0 = _mm256_loadu_ps(ob + k), b1 = _mm256_loadu_ps(ob + k + 8);
			__m256 b2 = _mm256_loadu_ps(ob + k + 16), b3 = _mm256_loadu_ps(ob + k + 24);
			for (int t = 0; t < m; t++) {
				const float *vt = v + (long)t * ldv + k;
				__m256 v0 = _mm256_loadu_ps(vt), v1 = _mm256_loadu_ps(vt + 8);
				__m256 v2 = _mm256_loadu_ps(vt + 16), v3 = _mm256_loadu_ps(vt + 24);
				__m256 sa = _mm256_set1_ps(pa[t]), sb = _mm256_set1_ps(pb[t]);
				a0 = _mm256_fmadd_ps(sa, v0, a0);
				a1 = _mm256_fmadd_ps(sa, v1, a1);
				a2 = _mm256_fmadd_ps(sa, v2, a2);
				a3 = _mm256_fmadd_ps(sa, v3, a3);
				b0 = _mm256_fmadd_ps(sb, v0, b0);
				b1 = _mm256_fmadd_ps(sb, v1, b1);
				b2 = _mm256_fmadd_ps(sb, v2, b2);
				b3 = _mm256_fmadd_ps(sb, v3, b3);
			}
			_mm256_storeu_ps(oa + k, a0);
			_mm256_storeu_ps(oa + k + 8, a1);
			_mm256_storeu_ps(oa + k + 16, a2);
			_mm256_storeu_ps(oa + k + 24, a3);
			_mm256_storeu_ps(ob + k, b0);
			_mm256_storeu_ps(ob + k + 8, b1);
			_mm256_storeu_ps(ob + k + 16, b2);
			_mm256_storeu_ps(ob + k + 24, b3);
		}
		for (; k + 8 <= kdim; k += 8) {
			__m256 a0 = _mm256_loadu_ps(oa + k), b0 = _mm256_loadu_ps(ob + k);
			for (int t = 0; t < m; t++) {
				__m256 v0 = _mm256_loadu_ps(v + (long)t * ldv + k);
				a0 = _mm256_fmadd_ps(_mm256_set1_ps(pa[t]), v0, a0);
				b0 = _mm256_fmadd_ps(_mm256_set1_ps(pb[t]), v0, b0);
			}
			_mm256_storeu_ps(oa + k, a0);
			_mm256_storeu_ps(ob + k, b0);
		}
		for (; k < kdim; k++)
			for (int t = 0; t < m; t++) {
				oa[k] = fmaf(pa[t], v[(long)t * ldv + k], oa[k]);
				ob[k] = fmaf(pb[t], v[(long)t * ldv + k], ob[k]);
			}
	}
	for (; i < n; i++)
		for (int t = 0; t < m; t++)
			cpu_avx2_axpy(o + (long)i * ldo, p[(long)i * ldp + t], v + (long)t * ldv, kdim);
}

/* exp(x) for x <= 0 (a softmax after subtracting the max): 2^n * e^r with |r| <= ln2 / 2, e^r by
 * a degree-6 polynomial (relative error about 2e-7); below -87 it is 0. */
AVX2_INLINE __m256 exp_neg(__m256 x)
{
	const __m256 lo = _mm256_set1_ps(-87.0f);
	__m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
	x = _mm256_max_ps(x, lo);
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
				   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 y = _mm256_set1_ps(1.9875691500e-4f);
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
	y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
	y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
	return _mm256_andnot_ps(under, y);
}

AVX2 float cpu_avx2_exp_sum(float *s, long n, float max)
{
	__m256 vm = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
	long j = 0;
	for (; j + 8 <= n; j += 8) {
		__m256 e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
		_mm256_storeu_ps(s + j, e);
		sum = _mm256_add_ps(sum, e);
	}
	float t = hsum(sum);
	if (j < n) {
		float buf[8] = { 0 };
		for (long k = j; k < n; k++)
			buf[k - j] = s[k] - max;
		for (long k = n - j; k < 8; k++)
			buf[k] = -INFINITY;
		__m256 e = exp_neg(_mm256_loadu_ps(buf));
		_mm256_storeu_ps(buf, e);
		for (long k = j; k < n; k++) {
			s[k] = buf[k - j];
			t += buf[k - j];
		}
	}
	return t;
}

/* silu(g) * u on 8 lanes: with e = exp(-|g|) (never above 1, so exp_neg), sigmoid(g) is 1 / (1 + e)
 * for g >= 0 and e / (1 + e) below, without the overflow of exp(-g) for large negative g. */
AVX2_INLINE __m256 silu_mul8(__m256 g, __m256 u)
{
	__m256 neg = _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ);
	__m256 e = exp_neg(_mm256_or_ps(g, _mm256_set1_ps(-0.0f)));   /* -|g| */
	__m256 sig = _mm256_div_ps(_mm256_blendv_ps(_mm256_set1_ps(1.0f), e, neg),
				   _mm256_add_ps(_mm256_set1_ps(1.0f), e));
	return _mm256_mul_ps(_mm256_mul_ps(g, sig), u);
}

/* the last n % 8 values through the same lanes (padded), so that a value's result does not depend
 * on where it lies */
AVX2 void cpu_avx2_silu_mul(float *g, const float *u, long n)
{
	long j = 0;
	for (; j + 8 <= n; j += 8)
		_mm256_storeu_ps(g + j, silu_mul8(_mm256_loadu_ps(g + j), _mm256_loadu_ps(u + j)));
	if (j < n) {
		float gb[8] = { 0 }, ub[8] = { 0 };
		memcpy(gb, g + j, (size_t)(n - j) * sizeof *gb);
		memcpy(ub, u + j, (size_t)(n - j) * sizeof *ub);
		_mm256_storeu_ps(gb, silu_mul8(_mm256_loadu_ps(gb), _mm256_loadu_ps(ub)));
		memcpy(g + j, gb, (size_t)(n - j) * sizeof *gb);
	}
}

const struct cpu_kernels cpu_kernels_avx2 = {
	.name = "AVX2/FMA/F16C",
	.rows = cpu_avx2_rows,
	.packed_from = avx2_packed_from,
	.pack_floats = avx2_pack_floats,
	.pack = avx2_pack,
	.rows_packed = avx2_rows_packed,
	.axpy_row = cpu_avx2_axpy_row,
	.dot = cpu_avx2_dot,
	.axpy = cpu_avx2_axpy,
	.pv = cpu_avx2_pv,
	.exp_sum = cpu_avx2_exp_sum,
	.silu_mul = cpu_avx2_silu_mul,
};

#endif

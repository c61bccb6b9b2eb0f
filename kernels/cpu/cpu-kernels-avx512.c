/* cpu-kernels-avx512.c: the AVX-512 (F/BW/VL/DQ) set: the block-quantized kernels of
 * cpu-quant-simd.h on 16-lane registers, and matrix products of the float types (F32/F16/BF16) on
 * 16-lane registers too: a fused form for decode (each weight line read once, prefetched), 4 x 6
 * tiles for a few tokens, and for many tokens (prefill) every type as the matrix product of
 * cpu-gemm-simd.h; pv on 16 lanes too; the other vector kernels are the AVX2 set's. Compiled with
 * target attributes;
 * cpu_kernels_best picks it only where it runs.
 *
 * No VNNI or BF16 dot instruction is used: both would round the activations (to int8 or bf16) and
 * move the logits by far more than F32 rounding does, which this engine does not do by default. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-kernels.h"

#define QV_W 16
#define QV_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"
#define QV(name) avx512_##name
#include "cpu-quant-simd.h"

/* The few tokens the prefill tiles leave (cpu-gemm-simd.h): the fused decode forms, quantized or
 * float. One thread, a 1408 x 2048 expert's gate, up and down from cache, GFLOP/s with the last
 * r <= 7 tokens in the tiles / apart: Q8_0 17 tokens 91 / 123, 20: 105 / 128, 33: 117 / 161, 39:
 * 137 / 154; BF16 17: 93 / 114, 33: 122 / 155; 8 left apart would cost what a vector of the tiles
 * does. The 64 experts of a 512-token prompt on lite4 (7-162 tokens each) from memory: Q8_0 140 /
 * 148-153, BF16 139-146 / 151-153. */
#define GM_REST_MAX 7
static void avx512_rest_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			     float *y, long ldy);
#define GM_REST_ROWS avx512_rest_rows
/* From this many tokens on, the matrix-product form (below, its 16 lanes of tokens are partly empty:
 * one thread, 2816 x 1024 BF16 from cache, 4 / 8 / 12 / 16 tokens: 34 / 66 / 101 / 130 GFLOP/s
 * against 65 / 81 / 112 / 120 for the 4 x 6 tiles and the fused form) */
#define GM_MIN_TOKENS 16
#include "cpu-gemm-simd.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define AVX512_INLINE static inline __attribute__((always_inline, \
	target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

/* 16 weights of a float-type row from element i, widened to F32 (BF16 is the top half of an F32:
 * widening is a shift); m selects the lanes to load (the rest are 0). */
AVX512_INLINE __m512 f_ld(const void *row, long i, enum ds_dtype t, __mmask16 m)
{
	if (t == DS_F32)
		return _mm512_maskz_loadu_ps(m, (const float *)row + i);
	__m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + i);
	if (t == DS_BF16)
		return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
	return _mm512_cvtph_ps(h);
}

AVX512_INLINE __m512 f_ld16(const void *row, long i, enum ds_dtype t)
{
	if (t == DS_F32)
		return _mm512_loadu_ps((const float *)row + i);
	__m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i));
	if (t == DS_BF16)
		return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
	return _mm512_cvtph_ps(h);
}

#ifndef F_PF
#define F_PF 1024      /* bytes of prefetch ahead in each row that decode streams */
#endif

/* Decode: y[t][r] = W[r] . x[t] for NT (1-4) tokens, RR (up to 4) rows at a time. Each row is read
 * once, one 64-byte line per step for 16-bit types, widened once for all tokens; each token's two
 * 16-column pieces are loaded once for all rows; one accumulator per (row, token), RR x NT FMA chains
 * of two multiply-adds a step (4 rows hide the FMA latency with one token). Loads per FMA are what
 * bounds the few-token form: two accumulators per (row, token) with 2 rows reloaded each token's
 * activations for every row, 20 loads and 4 prefetches per 16 FMAs (tools/quant-bench, BF16, 8
 * tokens, one thread, medians of 5 interleaved runs: 105 -> 129 GFLOP/s). The lines F_PF bytes on
 * are asked for while these are summed. Every (row, token) sums its 16-column pieces in column
 * order whatever RR and NT are, so a token's result does not depend on how many others it came
 * with. */
AVX512_INLINE void f_fused(const void *base, enum ds_dtype t, long r0, long r1, long k,
			   const float *const *x, int NT, int RR, float *const *y)
{
	const size_t es = t == DS_F32 ? 4 : 2, rb = (size_t)k * es;
	const long k32 = k & ~31L;
	const __mmask16 tail = (__mmask16)((1u << (k & 15)) - 1);
	long r = r0;
	for (; r < r1; r += RR) {
		int R = r1 - r >= RR ? RR : (int)(r1 - r);
		const char *w[4];
		for (int j = 0; j < RR; j++)
			w[j] = (const char *)base + (size_t)(r + (j < R ? j : 0)) * rb;
		__m512 a[4][4];
#pragma GCC unroll 4
		for (int j = 0; j < RR; j++)
#pragma GCC unroll 4
			for (int i = 0; i < NT; i++)
				a[j][i] = _mm512_setzero_ps();
		long c = 0;
		for (; c < k32; c += 32) {
#pragma GCC unroll 4
			for (int j = 0; j < RR; j++) {
				_mm_prefetch(w[j] + (size_t)c * es + F_PF, _MM_HINT_T0);
				if (es == 4)
					_mm_prefetch(w[j] + (size_t)c * es + F_PF + 64, _MM_HINT_T0);
				/* the same line of the next rows, to L2: each row is a short stream
				 * that the in-row prefetch reaches only 1 KB into (tools/quant-bench, one
				 * thread: F32 28 -> 31-37 GB/s, BF16 20 -> 20-25); past r1 too, as
				 * f_dec16 */
				_mm_prefetch(w[j] + RR * rb + (size_t)c * es, _MM_HINT_T1);
				if (es == 4)
					_mm_prefetch(w[j] + RR * rb + (size_t)c * es + 64, _MM_HINT_T1);
			}
			__m512 v0[4], v1[4];
#pragma GCC unroll 4
			for (int j = 0; j < RR; j++) {
				v0[j] = f_ld16(w[j], c, t);
				v1[j] = f_ld16(w[j], c + 16, t);
			}
#pragma GCC unroll 4
			for (int i = 0; i < NT; i++) {
				__m512 x0 = _mm512_loadu_ps(x[i] + c), x1 = _mm512_loadu_ps(x[i] + c + 16);
#pragma GCC unroll 4
				for (int j = 0; j < RR; j++)
					a[j][i] = _mm512_fmadd_ps(v1[j], x1, _mm512_fmadd_ps(v0[j], x0, a[j][i]));
			}
		}
		for (; c < k; c += 16) {
			__mmask16 m = k - c >= 16 ? (__mmask16)0xffff : tail;
#pragma GCC unroll 4
			for (int j = 0; j < RR; j++) {
				__m512 v = f_ld(w[j], c, t, m);
#pragma GCC unroll 4
				for (int i = 0; i < NT; i++)
					a[j][i] = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, x[i] + c), a[j][i]);
			}
		}
		/* (constant indices: a row count known only at run time would put a on the stack) */
#pragma GCC unroll 4
		for (int j = 0; j < RR; j++)
#pragma GCC unroll 4
			for (int i = 0; i < NT; i++)
				if (j < R)
					y[i][r + j] = _mm512_reduce_add_ps(a[j][i]);
	}
}

#ifndef F_KC          /* -DF_KC=... to measure: BF16, 48 tokens, one thread: 512: 134-143 GFLOP/s, */
#define F_KC 1024     /* 1024: 143-148, 2048: 119. Columns per chunk of the prefill tiles: 6 tokens x */
#endif                /* 1024 floats = 24 KB of activations and a 16 KB weight panel in L1 (48 KB) */
#define F_TT 6        /* tokens per tile: 4 x 6 accumulators + 6 activations + 1 weight of 32 zmm */
#define F_XGROUP (512L * 1024)   /* bytes of activations kept in L2 per token group */

/* out[j*T + i] = sum over c < kc of w[j][c] * x[i][c]; w rows of F32 (wld apart), kc a multiple of
 * 16 except in the last chunk, where lanes past kc are masked. */
AVX512_INLINE void f_tile(const float *w, long wld, const float *const *x, long kc, int R, int T,
			  float *out)
{
	__m512 acc[4][F_TT];
#pragma GCC unroll 4
	for (int j = 0; j < R; j++)
#pragma GCC unroll 6
		for (int i = 0; i < T; i++)
			acc[j][i] = _mm512_setzero_ps();
	long c = 0, k16 = kc & ~15L;
	for (; c < k16; c += 16) {
		__m512 xv[F_TT];
#pragma GCC unroll 6
		for (int i = 0; i < T; i++)
			xv[i] = _mm512_loadu_ps(x[i] + c);
#pragma GCC unroll 4
		for (int j = 0; j < R; j++) {
			__m512 wv = _mm512_loadu_ps(w + j * wld + c);
#pragma GCC unroll 6
			for (int i = 0; i < T; i++)
				acc[j][i] = _mm512_fmadd_ps(wv, xv[i], acc[j][i]);
		}
	}
	if (c < kc) {
		__mmask16 m = (__mmask16)((1u << (kc - c)) - 1);
		__m512 xv[F_TT];
#pragma GCC unroll 6
		for (int i = 0; i < T; i++)
			xv[i] = _mm512_maskz_loadu_ps(m, x[i] + c);
#pragma GCC unroll 4
		for (int j = 0; j < R; j++) {
			__m512 wv = _mm512_maskz_loadu_ps(m, w + j * wld + c);
#pragma GCC unroll 6
			for (int i = 0; i < T; i++)
				acc[j][i] = _mm512_fmadd_ps(wv, xv[i], acc[j][i]);
		}
	}
#pragma GCC unroll 4
	for (int j = 0; j < R; j++)
#pragma GCC unroll 6
		for (int i = 0; i < T; i++)
			out[j * T + i] = _mm512_reduce_add_ps(acc[j][i]);
}

AVX512_INLINE void f_tile_rt(const float *w, long wld, const float *const *x, long kc, int R, int T,
			     float *out)
{
	if (R == 4) {
		switch (T) {
		case 1: f_tile(w, wld, x, kc, 4, 1, out); break;
		case 2: f_tile(w, wld, x, kc, 4, 2, out); break;
		case 3: f_tile(w, wld, x, kc, 4, 3, out); break;
		case 4: f_tile(w, wld, x, kc, 4, 4, out); break;
		case 5: f_tile(w, wld, x, kc, 4, 5, out); break;
		default: f_tile(w, wld, x, kc, 4, 6, out); break;
		}
		return;
	}
	for (int j = 0; j < R; j++)
		switch (T) {
		case 1: f_tile(w + j * wld, wld, x, kc, 1, 1, out + j * T); break;
		case 2: f_tile(w + j * wld, wld, x, kc, 1, 2, out + j * T); break;
		case 3: f_tile(w + j * wld, wld, x, kc, 1, 3, out + j * T); break;
		case 4: f_tile(w + j * wld, wld, x, kc, 1, 4, out + j * T); break;
		case 5: f_tile(w + j * wld, wld, x, kc, 1, 5, out + j * T); break;
		default: f_tile(w + j * wld, wld, x, kc, 1, 6, out + j * T); break;
		}
}

/* Prefill: tokens in groups whose activations stay in L2; per group, 4 rows x F_KC columns (widened
 * into an L1 buffer for 16-bit types, read in place for F32) serve every tile of F_TT tokens. */
AVX512_INLINE void f_tiled(const void *base, enum ds_dtype t, long r0, long r1, long k, const float *x,
			   int n, long ldx, float *y, long ldy)
{
	const size_t es = t == DS_F32 ? 4 : 2, rb = (size_t)k * es;
	float wb[4 * F_KC] __attribute__((aligned(64)));
	long tg = F_XGROUP / 4 / (k > 0 ? k : 1);
	tg -= tg % F_TT;
	if (tg < F_TT)
		tg = F_TT;
	for (long i0 = 0; i0 < n; i0 += tg) {
		int ng = n - i0 < tg ? (int)(n - i0) : (int)tg;
		for (long r = r0; r < r1; r += 4) {
			int R = r1 - r >= 4 ? 4 : (int)(r1 - r);
			for (long c0 = 0; c0 < k; c0 += F_KC) {
				long kc = k - c0 < F_KC ? k - c0 : F_KC;
				/* the next panel (next chunk, else the next 4 rows) is asked for now, so it
				 * comes from memory while this one is multiplied: short row pieces leave the
				 * hardware prefetcher no stream to follow (the widening waited on memory) */
				long nr = c0 + F_KC < k ? r : r + 4, nc = c0 + F_KC < k ? c0 + F_KC : 0;
				int nR = nr < r1 ? (r1 - nr >= 4 ? 4 : (int)(r1 - nr)) : 0;
				long nkc = k - nc < F_KC ? k - nc : F_KC;
				const float *wp;
				long wld;
				if (t == DS_F32) {
					wp = (const float *)((const char *)base + (size_t)r * rb) + c0;
					wld = k;
					for (int j = 0; j < nR; j++) {
						const char *row = (const char *)base + (size_t)(nr + j) * rb + (size_t)nc * es;
						for (long c = 0; c < nkc * (long)es; c += 64)
							_mm_prefetch(row + c, _MM_HINT_T1);
					}
				} else {
					for (int j = 0; j < R; j++) {
						const char *row = (const char *)base + (size_t)(r + j) * rb;
						const char *next = j < nR ? (const char *)base + (size_t)(nr + j) * rb +
								   (size_t)nc * es : NULL;
						for (long c = 0; c < kc; c += 16) {
							__mmask16 m = kc - c >= 16 ? (__mmask16)0xffff :
								(__mmask16)((1u << (kc - c)) - 1);
							if (next != NULL && (c & 31) == 0 && c < nkc)
								_mm_prefetch(next + (size_t)c * es, _MM_HINT_T1);
							_mm512_store_ps(wb + j * F_KC + c, f_ld(row, c0 + c, t, m));
						}
					}
					wp = wb;
					wld = F_KC;
				}
				for (int i = 0; i < ng; i += F_TT) {
					int T = ng - i >= F_TT ? F_TT : ng - i;
					const float *xp[F_TT];
					float s[4 * F_TT];
					for (int q = 0; q < T; q++)
						xp[q] = x + (i0 + i + q) * ldx + c0;
					f_tile_rt(wp, wld, xp, kc, R, T, s);
					for (int j = 0; j < R; j++)
						for (int q = 0; q < T; q++) {
							float *yy = y + (i0 + i + q) * ldy + r + j;
							*yy = c0 == 0 ? s[j * T + q] : *yy + s[j * T + q];
						}
				}
			}
		}
	}
}

/* One-token decode of a 16-bit type (BF16, F16) with k a multiple of 32: f_fused's sums (each row's
 * 32-column steps in column order, one accumulator, the same reduction: bit for bit), but with the
 * loop over the 4 rows left rolled, so the accumulators live in memory and each row's step is its
 * own short chain. Unrolled (f_fused), the 4 rows' loads issue back to back and this CPU (AMD Zen 5,
 * EPYC) read less: 256 MB of BF16 from memory, one thread, 1024 columns 20-22 -> 26-28 GB/s, 2048
 * 24-25 -> 29 (the same rolled loop with 2 rows: 18, 8 rows: 27; F32 reads 28-29 either way, its
 * step being two lines a row); bench model BF16, 2 threads, 3 alternating pairs: decode 42-44 ->
 * 49-51 tokens/s. The pragmas keep the compiler from unrolling it back. */
static AVX512 void f_dec16(const void *base, enum ds_dtype t, long r0, long r1, long k, const float *x,
			   float *y)
{
	const size_t rb = (size_t)k * 2;
	for (long r = r0; r < r1; r += 4) {
		const int R = r1 - r >= 4 ? 4 : (int)(r1 - r);
		/* the next group's rows, to L2, past r1 too: a decode product's blocks and the experts'
		 * chunks (cpu-ffn.c) are runs of rows that one thread mostly takes one after another,
		 * and each run's first group waited on memory. A prefetch past the matrix does not
		 * fault. In-process A/B per token, bench model BF16, 2 threads: 0.913-0.937 of the
		 * token's time (3 runs; 0.990-0.997 with the two sides the same). */
		const size_t next = 4 * rb;
		const char *w[4];
		__m512 a[4];
#pragma GCC unroll 1
		for (int j = 0; j < 4; j++) {
			w[j] = (const char *)base + (size_t)(r + (j < R ? j : 0)) * rb;
			a[j] = _mm512_setzero_ps();
		}
		for (long c = 0; c < k; c += 32) {
#pragma GCC unroll 1
			for (int j = 0; j < 4; j++) {
				_mm_prefetch(w[j] + (size_t)c * 2 + F_PF, _MM_HINT_T0);
				_mm_prefetch(w[j] + next + (size_t)c * 2, _MM_HINT_T1);
			}
			const __m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + 16);
#pragma GCC unroll 1
			for (int j = 0; j < 4; j++)
				a[j] = _mm512_fmadd_ps(f_ld16(w[j], c + 16, t), x1,
						       _mm512_fmadd_ps(f_ld16(w[j], c, t), x0, a[j]));
		}
#pragma GCC unroll 1
		for (int j = 0; j < R; j++)
			y[r + j] = _mm512_reduce_add_ps(a[j]);
	}
}

/* Tokens from which the tiles take over from the fused form: 1-3 tokens go through the fused form 4
 * rows at a time (one token of a 16-bit type through f_dec16, the same sums), 4-15 in groups of at most 4 tokens 4 rows at a time (16 accumulators, each
 * activation vector loaded once for the 4 rows), every group passing over a block of rows that the
 * first one read from memory. The 4 x 6 tiles widened BF16 rows into a panel first and ran at a
 * quarter of the FMA peak with so few tokens (tools/quant-bench, 2 threads, 128 MB from memory, 8
 * tokens: BF16 93-152 -> 193-206 GFLOP/s, F32 103-108 -> 110-124; 12 tokens: BF16 176 -> 204-220,
 * F32 about the same; one row x 8 tokens, 4 x 3 and 4 x 2 were slower). Batched decode and the
 * experts' few tokens each in a prompt take this path. */
#define F_FUSED_MAX 4
#ifndef F_DEC_RR     /* rows at a time of one-token decode (-DF_DEC_RR=1|2 to measure: tools/quant-bench, */
#define F_DEC_RR 4    /* BF16 from memory, 2 threads, 1024 and 2048 columns: 1, 2 and 4 within the noise) */
#endif
#define F_FEW_MAX 16
#define F_FEW_NT 4         /* tokens per group */
#define F_FEW_RR 4         /* rows at a time */
#define F_FEW_RB 16        /* rows per block that every token group passes over */

AVX512_INLINE void f_rows_t(const struct ds_tensor *w, enum ds_dtype t, long r0, long r1, const float *x,
			    int n, long ldx, float *y, long ldy)
{
	const long k = (long)w->cols;
	if (n >= F_FEW_MAX) {
		f_tiled(w->data, t, r0, r1, k, x, n, ldx, y, ldy);
		return;
	}
	const float *xp[F_FEW_MAX];
	float *yp[F_FEW_MAX];
	for (int i = 0; i < n; i++) {
		xp[i] = x + (long)i * ldx;
		yp[i] = y + (long)i * ldy;
	}
	if (n < F_FUSED_MAX) {
		switch (n) {
		case 1:
			if (t != DS_F32 && k % 32 == 0)
				f_dec16(w->data, t, r0, r1, k, x, y);
			else
				f_fused(w->data, t, r0, r1, k, xp, 1, F_DEC_RR, yp);
			break;
		case 2: f_fused(w->data, t, r0, r1, k, xp, 2, F_DEC_RR, yp); break;
		default: f_fused(w->data, t, r0, r1, k, xp, 3, F_DEC_RR, yp); break;
		}
		return;
	}
	int ng = (n + F_FEW_NT - 1) / F_FEW_NT, gs = (n + ng - 1) / ng;
	for (long rb0 = r0; rb0 < r1; rb0 += F_FEW_RB) {
		long rb1 = rb0 + F_FEW_RB < r1 ? rb0 + F_FEW_RB : r1;
		for (int i = 0; i < n; i += gs) {
			switch (n - i < gs ? n - i : gs) {
			case 1: f_fused(w->data, t, rb0, rb1, k, xp + i, 1, F_FEW_RR, yp + i); break;
			case 2: f_fused(w->data, t, rb0, rb1, k, xp + i, 2, F_FEW_RR, yp + i); break;
			case 3: f_fused(w->data, t, rb0, rb1, k, xp + i, 3, F_FEW_RR, yp + i); break;
			default: f_fused(w->data, t, rb0, rb1, k, xp + i, 4, F_FEW_RR, yp + i); break;
			}
		}
	}
}

static AVX512 void avx512_float_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n,
				     long ldx, float *y, long ldy)
{
	switch (w->dtype) {
	case DS_F32: f_rows_t(w, DS_F32, r0, r1, x, n, ldx, y, ldy); break;
	case DS_BF16: f_rows_t(w, DS_BF16, r0, r1, x, n, ldx, y, ldy); break;
	default: f_rows_t(w, DS_F16, r0, r1, x, n, ldx, y, ldy); break;
	}
}

static void avx512_rest_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			     float *y, long ldy)
{
	if (ds_dtype_is_quantized(w->dtype))
		avx512_quant_fused(w, r0, r1, x, n, ldx, y, ldy);
	else
		avx512_float_rows(w, r0, r1, x, n, ldx, y, ldy);
}

static void avx512_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			float *y, long ldy)
{
	/* a matrix of few rows does not pay for packing the activations here (one thread, 48 rows,
	 * 96 tokens: 118 GFLOP/s against 150 for the tiles). The choice looks at the matrix, never at
	 * the row range, so that a row's sums do not depend on how the rows were split among threads. */
	if (n >= GM_MIN_TOKENS && (long)w->rows >= GM_RB)
		avx512_gemm_rows(w, r0, r1, x, n, ldx, y, ldy);
	else if (ds_dtype_is_quantized(w->dtype))
		avx512_quant_rows(w, r0, r1, x, n, ldx, y, ldy);
	else
		avx512_float_rows(w, r0, r1, x, n, ldx, y, ldy);
}

/* pv on 16-lane registers, tiles of PV_Q queries x 64 columns: each v line loaded once for PV_Q queries
 * (16 accumulators, 4 loads and PV_Q broadcasts per 16 multiply-adds; the AVX2 form's 2 x 32 tiles took
 * 6 per 8). Every o element is the same chain of fused multiply-adds in t order as in the AVX2 and
 * portable forms, so all three agree bit for bit. A long prompt's attention is mostly this and its
 * scores (bench-bf16, 2048-token prompt: 14% of the time was the AVX2 pv). */
#define PV_Q 4

AVX512_INLINE void pv_tile(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int nq, int m,
			   long k, int nv, __mmask16 last)
{
	__m512 acc[PV_Q][4];
#pragma GCC unroll 4
	for (int i = 0; i < PV_Q; i++)
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			if (i < nq && j < nv)
				acc[i][j] = _mm512_maskz_loadu_ps(j == nv - 1 ? last : 0xffff, o + (long)i * ldo + k + 16 * j);
	for (int t = 0; t < m; t++) {
		const float *vt = v + (long)t * ldv + k;
		__m512 vv[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			if (j < nv)
				vv[j] = _mm512_maskz_loadu_ps(j == nv - 1 ? last : 0xffff, vt + 16 * j);
#pragma GCC unroll 4
		for (int i = 0; i < PV_Q; i++)
			if (i < nq) {
				__m512 pi = _mm512_set1_ps(p[(long)i * ldp + t]);
#pragma GCC unroll 4
				for (int j = 0; j < 4; j++)
					if (j < nv)
						acc[i][j] = _mm512_fmadd_ps(pi, vv[j], acc[i][j]);
			}
	}
#pragma GCC unroll 4
	for (int i = 0; i < PV_Q; i++)
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			if (i < nq && j < nv)
				_mm512_mask_storeu_ps(o + (long)i * ldo + k + 16 * j, j == nv - 1 ? last : 0xffff, acc[i][j]);
}

/* (nq and nv constant in each call, so the tile's loops unroll to registers) */
AVX512_INLINE void pv_cols(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int nq, int m,
			   long kdim)
{
	long k = 0;
	for (; k + 64 <= kdim; k += 64)
		pv_tile(o, ldo, p, ldp, v, ldv, nq, m, k, 4, 0xffff);
	if (k < kdim) {
		long r = kdim - k;
		int nv = (int)((r + 15) / 16);
		__mmask16 last = (__mmask16)(r % 16 == 0 ? 0xffff : (1u << (r % 16)) - 1);
		switch (nv) {
		case 1: pv_tile(o, ldo, p, ldp, v, ldv, nq, m, k, 1, last); break;
		case 2: pv_tile(o, ldo, p, ldp, v, ldv, nq, m, k, 2, last); break;
		case 3: pv_tile(o, ldo, p, ldp, v, ldv, nq, m, k, 3, last); break;
		default: pv_tile(o, ldo, p, ldp, v, ldv, nq, m, k, 4, last); break;
		}
	}
}

static AVX512 void avx512_pv(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int n, int m,
			     long kdim)
{
	int i = 0;
	for (; i + PV_Q <= n; i += PV_Q)
		pv_cols(o + (long)i * ldo, ldo, p + (long)i * ldp, ldp, v, ldv, PV_Q, m, kdim);
	switch (n - i) {
	case 1: pv_cols(o + (long)i * ldo, ldo, p + (long)i * ldp, ldp, v, ldv, 1, m, kdim); break;
	case 2: pv_cols(o + (long)i * ldo, ldo, p + (long)i * ldp, ldp, v, ldv, 2, m, kdim); break;
	case 3: pv_cols(o + (long)i * ldo, ldo, p + (long)i * ldp, ldp, v, ldv, 3, m, kdim); break;
	default: break;
	}
}

static void avx512_axpy_row(float *y, float a, const struct ds_tensor *w, long row)
{
	if (ds_dtype_is_quantized(w->dtype))
		avx512_quant_axpy_row(y, a, w, row);
	else
		cpu_avx2_axpy_row(y, a, w, row);
}

const struct cpu_kernels cpu_kernels_avx512 = {
	.name = "AVX-512",
	.rows = avx512_rows,
	.packed_from = avx512_packed_from,
	.pack_floats = avx512_pack_floats,
	.pack = avx512_pack,
	.rows_packed = avx512_rows_packed,
	.axpy_row = avx512_axpy_row,
	.dot = cpu_avx2_dot,
	.axpy = cpu_avx2_axpy,
	.pv = avx512_pv,
	.exp_sum = cpu_avx2_exp_sum,
	.silu_mul = cpu_avx2_silu_mul,
};

#endif

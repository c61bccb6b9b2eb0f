/* cpu-kernels-avx512.c: the AVX-512 (F/BW/VL/DQ) set: the block-quantized kernels of
 * cpu-quant-simd.h on 16-lane registers, and matrix products of the float types (F32/F16/BF16) on
 * 16-lane registers too: a fused form for decode (each weight line read once, prefetched) and 4 x 6
 * tiles for prefill; the vector kernels are the AVX2 set's. Compiled with target attributes;
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

#define F_PF 1024      /* bytes of prefetch ahead in each row that decode streams */

/* Decode: y[t][r] = W[r] . x[t] for NT (1..3) tokens, 4 rows at a time. Each row is read once, one
 * 64-byte line per step for 16-bit types, with two accumulators per (row, token) so 8 FMA chains
 * hide the FMA latency; the lines PF_AHEAD bytes on are asked for while these are summed. */
AVX512_INLINE void f_fused(const void *base, enum ds_dtype t, long r0, long r1, long k,
			   const float *const *x, int NT, float *const *y)
{
	const size_t es = t == DS_F32 ? 4 : 2, rb = (size_t)k * es;
	const long k32 = k & ~31L;
	const __mmask16 tail = (__mmask16)((1u << (k & 15)) - 1);
	long r = r0;
	for (; r < r1; r += 4) {
		int R = r1 - r >= 4 ? 4 : (int)(r1 - r);
		const char *w[4];
		for (int j = 0; j < 4; j++)
			w[j] = (const char *)base + (size_t)(r + (j < R ? j : 0)) * rb;
		__m512 a[4][3], b[4][3];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
#pragma GCC unroll 3
			for (int i = 0; i < NT; i++)
				a[j][i] = b[j][i] = _mm512_setzero_ps();
		long c = 0;
		for (; c < k32; c += 32) {
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++) {
				_mm_prefetch(w[j] + (size_t)c * es + F_PF, _MM_HINT_T0);
				if (es == 4)
					_mm_prefetch(w[j] + (size_t)c * es + F_PF + 64, _MM_HINT_T0);
				/* the same line of the next 4 rows, to L2: each row is a short stream
				 * that the in-row prefetch reaches only 1 KB into (tools/quant-bench, one
				 * thread: F32 28 -> 31-37 GB/s, BF16 20 -> 20-25) */
				if (r + 4 + j < r1) {
					_mm_prefetch(w[j] + 4 * rb + (size_t)c * es, _MM_HINT_T1);
					if (es == 4)
						_mm_prefetch(w[j] + 4 * rb + (size_t)c * es + 64, _MM_HINT_T1);
				}
			}
			__m512 xa[3], xb[3];
#pragma GCC unroll 3
			for (int i = 0; i < NT; i++) {
				xa[i] = _mm512_loadu_ps(x[i] + c);
				xb[i] = _mm512_loadu_ps(x[i] + c + 16);
			}
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++) {
				__m512 v0 = f_ld16(w[j], c, t), v1 = f_ld16(w[j], c + 16, t);
#pragma GCC unroll 3
				for (int i = 0; i < NT; i++) {
					a[j][i] = _mm512_fmadd_ps(v0, xa[i], a[j][i]);
					b[j][i] = _mm512_fmadd_ps(v1, xb[i], b[j][i]);
				}
			}
		}
		for (; c < k; c += 16) {
			__mmask16 m = k - c >= 16 ? (__mmask16)0xffff : tail;
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++) {
				__m512 v = f_ld(w[j], c, t, m);
#pragma GCC unroll 3
				for (int i = 0; i < NT; i++)
					a[j][i] = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, x[i] + c), a[j][i]);
			}
		}
		for (int j = 0; j < R; j++)
			for (int i = 0; i < NT; i++)
				y[i][r + j] = _mm512_reduce_add_ps(_mm512_add_ps(a[j][i], b[j][i]));
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

/* ---- prefill: a matrix product with the tokens in the vector lanes ----
 *
 * y[t][r] = sum over c of W[r][c] * x[t][c] for many tokens. The activations of up to G_TG tokens
 * are packed per G_KC columns as xp[c][token] (32 tokens, two vectors, per block), the weights of
 * G_MR rows as an F32 panel (BF16/F16 widened, quantized blocks decoded to the format's values), and
 * each step c of the micro-tile multiplies 2 vectors of tokens by the G_MR weights W[r][c]
 * broadcast from the panel: 24 independent accumulators, 2 vector loads and 12 broadcasts per 24
 * FMAs, and no horizontal sums (the 4 x 6 tiles this replaces, with a sum per lane-vector per chunk
 * and 10 vector loads per 24 FMAs, reached about 40% of the FMA peak in the model). */
#define G_MR 12                /* weight rows per micro-tile */
#define G_KC 512               /* columns per panel: 12 x 512 F32 = 24 KB of L1 */
#define G_LDW (G_KC + 16)      /* panel row stride: 2 KB apart, the 12 rows' lines would share L1 sets */
#define G_TG 128               /* tokens per group: 128 x 512 packed floats (256 KB) stay in L2 */

/* The lines of the next weight panel, asked for a few at a time from inside the micro-tiles: a
 * burst of 200 prefetches at once mostly waits in the miss queues (one thread, 46 MB of BF16 from
 * memory, 96 tokens: 167 GFLOP/s with the burst, against 200 from cache) */
struct g_pf {
	const char *p;       /* the next panel's first row, at its first column */
	size_t rb, len;      /* bytes between rows, bytes of each row's piece */
	int rows, j;         /* rows of the panel, the row being asked for */
	size_t o;            /* next byte offset in that row */
};

#ifndef G_PF_HINT
#define G_PF_HINT _MM_HINT_T1
#endif

AVX512_INLINE void g_pf_step(struct g_pf *pf)
{
	if (pf->j >= pf->rows)
		return;
	_mm_prefetch(pf->p + (size_t)pf->j * pf->rb + pf->o, G_PF_HINT);
	pf->o += 64;
	if (pf->o >= pf->len) {
		pf->o = 0;
		pf->j++;
	}
}

#define G_KS 128               /* columns summed in registers before they join the tile sums */

/* acc[j*G_TG + t] (=, or += when add) sum over c < kc of wb[j*G_LDW + c] * xp[c*16*NV + t], for
 * j < G_MR and t < 16*NV: the sums stay in vectors of tokens, so nothing is summed across lanes and
 * nothing is scattered until a row block is done. Each G_KS columns are summed apart and then added
 * to the tile, so rounding grows with G_KS + k / G_KS terms, not with k. */
AVX512_INLINE void g_micro(const float *wb, const float *xp, long kc, int NV, float *acc_io, int add,
			   struct g_pf *pf)
{
	for (long c0 = 0; c0 < kc; c0 += G_KS) {
		long ce = kc - c0 < G_KS ? kc : c0 + G_KS;
		__m512 acc[G_MR][2];
#pragma GCC unroll 12
		for (int j = 0; j < G_MR; j++)
			acc[j][0] = acc[j][1] = _mm512_setzero_ps();
		for (long c = c0; c < ce; c++) {
			if ((c & 1) == 0)
				g_pf_step(pf);
			__m512 x0 = _mm512_load_ps(xp + c * 16 * NV);
			__m512 x1 = NV > 1 ? _mm512_load_ps(xp + c * 32 + 16) : x0;
#pragma GCC unroll 12
			for (int j = 0; j < G_MR; j++) {
				__m512 wv = _mm512_set1_ps(wb[j * G_LDW + c]);
				acc[j][0] = _mm512_fmadd_ps(wv, x0, acc[j][0]);
				if (NV > 1)
					acc[j][1] = _mm512_fmadd_ps(wv, x1, acc[j][1]);
			}
		}
		int first = !add && c0 == 0;
#pragma GCC unroll 12
		for (int j = 0; j < G_MR; j++)
			for (int v = 0; v < NV; v++) {
				float *p = acc_io + j * G_TG + 16 * v;
				_mm512_store_ps(p, first ? acc[j][v] : _mm512_add_ps(_mm512_load_ps(p), acc[j][v]));
			}
	}
}

/* 16 vectors as their transpose: r[i] lane j becomes r[j] lane i */
AVX512_INLINE void g_transpose16(__m512 r[16])
{
	__m512 t[16];
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
	}
	for (int i = 0; i < 16; i += 4) {
		r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
		r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
		r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
		r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
	}
	/* lanes now hold 4 x 4 transposed quads; exchange the 128-bit quarters */
	for (int i = 0; i < 4; i++) {
		t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
		t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
		t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
		t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
	}
	for (int i = 0; i < 4; i++) {
		r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
		r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
		r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
		r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
	}
}

/* Columns [c0, c0 + kc) of T tokens of x (ldx apart), packed for g_micro: blocks of 32 tokens at
 * xp + b0 * kc (b0 the block's first token), each column's 32 values together (a last block of 16
 * or fewer tokens is packed 16 wide); lanes past T are 0. Transposed 16 x 16 in registers. */
AVX512_INLINE void g_pack_x(const float *x, long ldx, int T, long c0, long kc, float *xp)
{
	for (int b0 = 0; b0 < T; b0 += 32) {
		int nb = T - b0 < 32 ? T - b0 : 32, wd = nb > 16 ? 32 : 16;
		float *blk = xp + (long)b0 * kc;
		for (int h = 0; h < wd; h += 16) {
			int nt = nb - h < 16 ? (nb - h > 0 ? nb - h : 0) : 16;
			for (long c = 0; c < kc; c += 16) {
				int ncol = kc - c < 16 ? (int)(kc - c) : 16;
				__mmask16 m = (__mmask16)((1u << ncol) - 1);
				__m512 r[16];
				for (int i = 0; i < 16; i++)
					r[i] = i < nt ? _mm512_maskz_loadu_ps(m, x + (long)(b0 + h + i) * ldx + c0 + c) :
							_mm512_setzero_ps();
				g_transpose16(r);
				for (int i = 0; i < ncol; i++)
					_mm512_store_ps(blk + (c + i) * wd + h, r[i]);
			}
		}
	}
}

/* Row r, columns [c0, c0 + kc), as F32 into dst: widened, or each block decoded (c0 and kc whole
 * blocks: a row is whole blocks and G_KC a multiple of every block size). */
AVX512_INLINE void g_fill_row(const struct ds_tensor *w, long r, long c0, long kc, float *dst)
{
	const enum ds_dtype t = w->dtype;
	const long k = (long)w->cols;
	if (ds_dtype_is_quantized(t)) {
		const struct ds_dtype_info *info = ds_dtype_get(t);
		const uint8_t *p = (const uint8_t *)w->data + (size_t)r * ds_row_bytes(t, k) +
				   (size_t)(c0 / info->block) * info->block_bytes;
		for (long c = 0; c < kc; c += info->block, p += info->block_bytes)
			qv_dec_block(t, p, dst + c);
		return;
	}
	const size_t es = t == DS_F32 ? 4 : 2;
	const char *row = (const char *)w->data + (size_t)r * (size_t)k * es;
	long c = 0;
	for (; c + 16 <= kc; c += 16)
		_mm512_store_ps(dst + c, f_ld16(row, c0 + c, t));
	if (c < kc)
		_mm512_store_ps(dst + c, f_ld(row, c0 + c, t, (__mmask16)((1u << (kc - c)) - 1)));
}

/* The bytes of rows [r, r + R), columns [c0, c0 + kc), asked for in L2: the next panel comes from
 * memory while this one is multiplied (pieces of 12 rows give the hardware prefetcher no stream) */
AVX512_INLINE void g_prefetch_panel(const struct ds_tensor *w, long r, int R, long c0, long kc)
{
	const long k = (long)w->cols;
	const size_t rb = ds_row_bytes(w->dtype, k);
	const size_t from = ds_row_bytes(w->dtype, c0), len = ds_row_bytes(w->dtype, kc);
	for (int j = 0; j < R; j++) {
		const char *p = (const char *)w->data + (size_t)(r + j) * rb + from;
		for (size_t o = 0; o < len; o += 64)
			_mm_prefetch(p + o, _MM_HINT_T1);
	}
}

#define G_RB 96                /* rows whose sums for a token group (96 x 128 F32, 48 KB) are kept */

/* Tile sums (row-major, G_TG apart) of R rows x T tokens into y (ldy apart): 16 x 16 transposes */
AVX512_INLINE void g_store_y(const float *acc, int R, int T, float *y, long ldy)
{
	for (int j0 = 0; j0 < R; j0 += 16) {
		int nr = R - j0 < 16 ? R - j0 : 16;
		__mmask16 m = (__mmask16)((1u << nr) - 1);
		for (int t0 = 0; t0 < T; t0 += 16) {
			__m512 v[16];
			for (int i = 0; i < 16; i++)
				v[i] = i < nr ? _mm512_load_ps(acc + (long)(j0 + i) * G_TG + t0) : _mm512_setzero_ps();
			g_transpose16(v);
			int nt = T - t0 < 16 ? T - t0 : 16;
			for (int i = 0; i < nt; i++)
				_mm512_mask_storeu_ps(y + (long)(t0 + i) * ldy + j0, m, v[i]);
		}
	}
}

/* The thread's tile sums of one row block, kept for its next call */
static __thread float *g_acc;

/* Rows [r0, r1) times ng <= G_TG packed tokens (the block of 32 from token b0 at xg + b0 * k) into
 * y[t*ldy + r]. Per block of G_RB rows and per G_KC columns, each panel of G_MR rows (decoded once)
 * serves every token block; the sums wait in g_acc until the last chunk. */
AVX512_INLINE void g_core(const struct ds_tensor *w, long r0, long r1, const float *xg, int ng, float *y,
			  long ldy)
{
	const long k = (long)w->cols;
	float wb[G_MR * G_LDW] __attribute__((aligned(64)));
	if (g_acc == NULL && posix_memalign((void **)&g_acc, 64, (size_t)(G_RB + G_MR) * G_TG * sizeof(float)) != 0) {
		fprintf(stderr, "dscoder-engine: out of memory\n");
		abort();
	}
	for (long rb = r0; rb < r1; rb += G_RB) {
		long re = r1 - rb < G_RB ? r1 : rb + G_RB;
		for (long c0 = 0; c0 < k; c0 += G_KC) {
			long kc = k - c0 < G_KC ? k - c0 : G_KC;
			for (long r = rb; r < re; r += G_MR) {
				int R = re - r < G_MR ? (int)(re - r) : G_MR;
				/* the call's first panel was prefetched by nobody: ask for all of its lines
				 * before decoding, so that their misses overlap */
				if (r == r0 && c0 == 0)
					g_prefetch_panel(w, r, R, c0, kc);
				for (int j = 0; j < R; j++)
					g_fill_row(w, r + j, c0, kc, wb + j * G_LDW);
				if (R < G_MR)
					memset(wb + R * G_LDW, 0, sizeof(float) * (size_t)(G_MR - R) * G_LDW);
				long nr = r + G_MR < re ? r + G_MR : c0 + G_KC < k ? rb : re;
				long nc = r + G_MR < re ? c0 : c0 + G_KC;
				struct g_pf pf = { .rows = 0 };
				if (nr < re)
					pf = (struct g_pf){ .p = (const char *)w->data + (size_t)nr * ds_row_bytes(w->dtype, k) +
								 ds_row_bytes(w->dtype, nc),
							    .rb = ds_row_bytes(w->dtype, k),
							    .len = ds_row_bytes(w->dtype, k - nc < G_KC ? k - nc : G_KC),
							    .rows = re - nr < G_MR ? (int)(re - nr) : G_MR };
				float *acc = g_acc + (r - rb) * G_TG;
				for (int b0 = 0; b0 < ng; b0 += 32) {
					if (ng - b0 > 16)
						g_micro(wb, xg + (long)b0 * k + c0 * 32, kc, 2, acc + b0, c0 > 0, &pf);
					else
						g_micro(wb, xg + (long)b0 * k + c0 * 16, kc, 1, acc + b0, c0 > 0, &pf);
				}
			}
		}
		g_store_y(g_acc, (int)(re - rb), ng, y + rb, ldy);
	}
}

/* The thread's packed activations for rows(), kept for its next call */
#define G_XGROUP (512L * 1024)   /* bytes of them */
static __thread float *g_xbuf;
static __thread size_t g_xcap;

/* rows() for many tokens: groups of tokens whose packed activations (all k columns) stay in L2 */
static AVX512 void g_gemm(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			  float *y, long ldy)
{
	const long k = (long)w->cols;
	long tg = G_XGROUP / 4 / (k > 0 ? k : 1) / 32 * 32;
	if (tg < 32)
		tg = 32;
	if (tg > G_TG)
		tg = G_TG;
	if ((size_t)tg * (size_t)k > g_xcap) {
		free(g_xbuf);
		g_xcap = (size_t)tg * (size_t)k;
		if (posix_memalign((void **)&g_xbuf, 64, g_xcap * sizeof(float)) != 0) {
			fprintf(stderr, "dscoder-engine: out of memory\n");
			abort();
		}
	}
	for (long i0 = 0; i0 < n; i0 += tg) {
		int ng = n - i0 < tg ? (int)(n - i0) : (int)tg;
		g_pack_x(x + i0 * ldx, ldx, ng, 0, k, g_xbuf);
		g_core(w, r0, r1, g_xbuf, ng, y + i0 * ldy, ldy);
	}
}

static size_t avx512_pack_floats(int n, long k)
{
	return (size_t)(n + 31) / 32 * 32 * (size_t)k;
}

static AVX512 void avx512_pack(const float *x, int n, long ldx, long k, float *xp)
{
	g_pack_x(x, ldx, n, 0, k, xp);
}

/* rows() on activations packed once by avx512_pack for all row blocks of a product */
static AVX512 void avx512_rows_packed(const struct ds_tensor *w, long r0, long r1, const float *xp, int n,
				      float *y, long ldy)
{
	const long k = (long)w->cols;
	for (long i0 = 0; i0 < n; i0 += G_TG) {
		int ng = n - i0 < G_TG ? (int)(n - i0) : G_TG;
		g_core(w, r0, r1, xp + i0 * k, ng, y + i0 * ldy, ldy);
	}
}

/* Tokens at which the tiles overtake the fused form (each weight read from memory once either way;
 * past this, the fused form's 4 x 3 accumulators run out of registers) */
#define F_FUSED_MAX 4

AVX512_INLINE void f_rows_t(const struct ds_tensor *w, enum ds_dtype t, long r0, long r1, const float *x,
			    int n, long ldx, float *y, long ldy)
{
	const long k = (long)w->cols;
	if (n >= F_FUSED_MAX) {
		f_tiled(w->data, t, r0, r1, k, x, n, ldx, y, ldy);
		return;
	}
	const float *xp[3];
	float *yp[3];
	for (int i = 0; i < n; i++) {
		xp[i] = x + (long)i * ldx;
		yp[i] = y + (long)i * ldy;
	}
	switch (n) {
	case 1: f_fused(w->data, t, r0, r1, k, xp, 1, yp); break;
	case 2: f_fused(w->data, t, r0, r1, k, xp, 2, yp); break;
	default: f_fused(w->data, t, r0, r1, k, xp, 3, yp); break;
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

/* From this many tokens on, the matrix-product form (below, its 16 lanes of tokens are partly empty:
 * one thread, 2816 x 1024 BF16 from cache, 4 / 8 / 12 / 16 tokens: 34 / 66 / 101 / 130 GFLOP/s
 * against 65 / 81 / 112 / 120 for the 4 x 6 tiles and the fused form) */
#define G_MIN_TOKENS 16

static int avx512_packed_from(enum ds_dtype t)
{
	(void)t;
	return G_MIN_TOKENS;
}

static void avx512_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			float *y, long ldy)
{
	/* a few rows do not pay for packing the activations here (one thread, 48 rows per call, 96
	 * tokens: 118 GFLOP/s against 150 for the tiles); a product packed once per call does */
	if (n >= G_MIN_TOKENS && r1 - r0 >= G_RB)
		g_gemm(w, r0, r1, x, n, ldx, y, ldy);
	else if (ds_dtype_is_quantized(w->dtype))
		avx512_quant_rows(w, r0, r1, x, n, ldx, y, ldy);
	else
		avx512_float_rows(w, r0, r1, x, n, ldx, y, ldy);
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
	.pv = cpu_avx2_pv,
	.exp_sum = cpu_avx2_exp_sum,
};

#endif

/* cpu-kernels-bf16.c: the opt-in AVX-512 BF16 set (DSCODER_KERNELS=avx512-bf16, --kernels avx512-bf16):
 * BF16 weights (what Hugging Face checkpoints hold) times activations rounded to BF16, summed by
 * vdpbf16ps; every other kernel (F32/F16 and quantized weights, axpy_row, dot, pv, exp_sum) is the exact
 * AVX-512 set's.
 *
 * Why a separate set: the exact set widens each BF16 weight to F32 before an FMA, so a 64-byte line of
 * 32 weights costs two widenings and two 16-lane FMAs; vdpbf16ps multiplies the line by 32 BF16
 * activations and adds the pairs into 16 F32 lanes in one instruction (this Zen 5 core: 427 GFLOP/s
 * against 216 for vfmadd231ps). The price is the activations' rounding to BF16 (8 significant bits,
 * nearest even), once per call: each product moves by up to 2^-9 |w x|, the logits by about 1e-2.
 * The products of two BF16 values are exact in F32; the sums are F32 as in the exact set.
 *
 * Two forms, as in the exact set:
 * - decode (2 to B16_GEMM_MIN - 1 tokens): each row read once per tile of 4 rows x up to 6 tokens, a
 *   64-byte line times the token's 32 rounded activations per vdpbf16ps, the lines ahead prefetched.
 *   One token is the exact set's (exact, and no slower: memory bounds it, see b16_rows);
 * - prefill (B16_GEMM_MIN tokens or more, on B16_RB rows or more, or packed once per product by the
 *   backend): a matrix product with the tokens in the lanes. The activations are packed per pair of
 *   columns: xp[c/2][t] = the 32-bit word bf16(x[t][c]) | bf16(x[t][c+1]) << 16, 16 tokens per vector;
 *   the weights need no panel: the word W[r][c..c+1] is broadcast straight from the row, and 12 rows x
 *   2 vectors of tokens are 24 accumulators. Rows' pieces of 2 * B16_KP columns stay in L1 while every
 *   block of 32 tokens passes over them.
 * Odd row lengths (a column without a pair) go to the exact set whole. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512BF16_TARGET)

#include <immintrin.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-kernels.h"
#include "cpu-scratch.h"

#define B16_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c"
#define B16_FN static inline __attribute__((always_inline, target(B16_TARGET)))
#define B16_API static __attribute__((target(B16_TARGET)))

#define B16_GEMM_MIN 16     /* tokens from which the matrix-product form runs (16 lanes full) */
#define B16_FR 4            /* rows per decode tile */
#define B16_FT 6            /* tokens per decode tile at most: 4 x 6 accumulators + 6 activations */
#ifndef B16_PF
#define B16_PF 1024         /* bytes of prefetch ahead in each row decode streams */
#endif
#define B16_MR 12           /* rows per micro-tile of the product */
#define B16_TB 32           /* tokens per packed block: two vectors */
#ifndef B16_KP
#define B16_KP 256          /* column pairs per chunk: 12 rows x 1 KB of weights in L1 */
#endif
#define B16_TG 128          /* tokens per group whose tile sums are kept */
#define B16_RB 96           /* rows per block whose tile sums (96 x 128 F32) are kept */
#define B16_XGROUP (512L * 1024)   /* bytes of packed activations rows() packs at a time (L2) */

/* 32 floats from p, of which the first nvalid are read (the rest are 0), rounded to BF16 to nearest
 * even: as 16 32-bit words, word j = pair (2j, 2j + 1) with the even column in the low half */
B16_FN __m512i b16_round32(const float *p, long nvalid)
{
	__mmask16 m0 = nvalid >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nvalid) - 1);
	__mmask16 m1 = nvalid >= 32 ? (__mmask16)0xffff : nvalid <= 16 ? 0 :
		       (__mmask16)((1u << (nvalid - 16)) - 1);
	__m512 lo = _mm512_maskz_loadu_ps(m0, p), hi = _mm512_maskz_loadu_ps(m1, p + 16);
	return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

B16_FN __m512 b16_dot(__m512 acc, __m512i w, __m512i x)
{
	return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)x);
}

/* ---- decode ---- */

/* The n tokens of x rounded to BF16, kp (k rounded up to 32) values each, zeros past k, in a buffer of
 * this thread kept for its next call */
B16_API const uint16_t *b16_round_tokens(const float *x, int n, long ldx, long k, long kp)
{
	uint16_t *buf = cpu_scratch(CPU_SCRATCH_B16_TOKENS, (size_t)n * (size_t)kp * sizeof(uint16_t));

	for (int i = 0; i < n; i++)
		for (long c = 0; c < kp; c += 32)
			_mm512_store_si512(buf + (size_t)i * (size_t)kp + c, b16_round32(x + (long)i * ldx + c, k - c));
	return buf;
}

/* y[i*ldy + j] = W[j] . xb[i] for R <= 4 rows from w0 (rb bytes apart) and NT tokens (kp apart). A
 * lines per step with A accumulators per (row, token), so 4 x NT x A >= 12 chains hide the latency.
 * With pf, each row's line B16_PF bytes on is asked for, and the same line of the next nnext rows (the
 * next tile: short rows are streams the in-row prefetch reaches only 1 KB into). */
B16_FN void b16_fused(const char *w0, size_t rb, int R, long k, const uint16_t *xb, long kp, int NT, int A,
		      int pf, int nnext, float *y, long ldy)
{
	const char *w[B16_FR];
	__m512 acc[2][B16_FR][B16_FT];
	const long step = 32L * A, kf = k / step * step;

#pragma GCC unroll 4
	for (int j = 0; j < B16_FR; j++)
		w[j] = w0 + (size_t)(j < R ? j : 0) * rb;
#pragma GCC unroll 2
	for (int a = 0; a < A; a++)
#pragma GCC unroll 4
		for (int j = 0; j < B16_FR; j++)
#pragma GCC unroll 6
			for (int i = 0; i < NT; i++)
				acc[a][j][i] = _mm512_setzero_ps();
	long c = 0;
	for (; c < kf; c += step) {
		if (pf) {
#pragma GCC unroll 4
			for (int j = 0; j < B16_FR; j++)
#pragma GCC unroll 2
				for (int a = 0; a < A; a++) {
					_mm_prefetch(w[j] + (size_t)c * 2 + 64 * a + B16_PF, _MM_HINT_T0);
					if (j < nnext)
						_mm_prefetch(w[j] + B16_FR * rb + (size_t)c * 2 + 64 * a, _MM_HINT_T1);
				}
		}
		__m512i xv[2][B16_FT];
#pragma GCC unroll 2
		for (int a = 0; a < A; a++)
#pragma GCC unroll 6
			for (int i = 0; i < NT; i++)
				xv[a][i] = _mm512_load_si512(xb + (long)i * kp + c + 32 * a);
#pragma GCC unroll 4
		for (int j = 0; j < B16_FR; j++)
#pragma GCC unroll 2
			for (int a = 0; a < A; a++) {
				__m512i wv = _mm512_loadu_si512(w[j] + (size_t)c * 2 + 64 * a);
#pragma GCC unroll 6
				for (int i = 0; i < NT; i++)
					acc[a][j][i] = b16_dot(acc[a][j][i], wv, xv[a][i]);
			}
	}
	for (; c < k; c += 32) {   /* the last lines: one at a time, the very last masked */
		__mmask32 m = k - c >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (k - c)) - 1);
#pragma GCC unroll 4
		for (int j = 0; j < B16_FR; j++) {
			__m512i wv = _mm512_maskz_loadu_epi16(m, w[j] + (size_t)c * 2);
#pragma GCC unroll 6
			for (int i = 0; i < NT; i++)
				acc[0][j][i] = b16_dot(acc[0][j][i], wv, _mm512_load_si512(xb + (long)i * kp + c));
		}
	}
	for (int j = 0; j < R; j++)
		for (int i = 0; i < NT; i++)
			y[(long)i * ldy + j] = _mm512_reduce_add_ps(A > 1 ? _mm512_add_ps(acc[0][j][i], acc[1][j][i]) :
								    acc[0][j][i]);
}

B16_FN void b16_fused_nt(const char *w0, size_t rb, int R, long k, const uint16_t *xb, long kp, int NT,
			 int pf, int nnext, float *y, long ldy)
{
	/* two lines per step where 4 x NT accumulators are too few chains; never one token (b16_rows
	 * gives it to the exact set, and b16_rows_decode's groups of 2-15 tokens are 2 or more each) */
	switch (NT) {
	case 2: b16_fused(w0, rb, R, k, xb, kp, 2, 2, pf, nnext, y, ldy); break;
	case 3: b16_fused(w0, rb, R, k, xb, kp, 3, 1, pf, nnext, y, ldy); break;
	case 4: b16_fused(w0, rb, R, k, xb, kp, 4, 1, pf, nnext, y, ldy); break;
	case 5: b16_fused(w0, rb, R, k, xb, kp, 5, 1, pf, nnext, y, ldy); break;
	default: b16_fused(w0, rb, R, k, xb, kp, 6, 1, pf, nnext, y, ldy); break;
	}
}

/* Rows [r0, r1) for 2 <= n < B16_GEMM_MIN tokens: per tile of 4 rows, every group of tokens (groups
 * of equal size, at most 6, so at least 2 each); the first group streams the rows from memory, the
 * others find them in L1. */
B16_API void b16_rows_decode(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			     float *y, long ldy)
{
	const long k = (long)w->cols, kp = (k + 31) & ~31L;
	const size_t rb = (size_t)k * 2;
	const uint16_t *xb = b16_round_tokens(x, n, ldx, k, kp);
	int ng = (n + B16_FT - 1) / B16_FT, gs = (n + ng - 1) / ng;

	for (long r = r0; r < r1; r += B16_FR) {
		int R = r1 - r < B16_FR ? (int)(r1 - r) : B16_FR;
		long nn = r1 - (r + B16_FR);
		int nnext = nn <= 0 ? 0 : nn < B16_FR ? (int)nn : B16_FR;
		const char *w0 = (const char *)w->data + (size_t)r * rb;
		for (int i = 0; i < n; i += gs)
			b16_fused_nt(w0, rb, R, k, xb + (long)i * kp, kp, n - i < gs ? n - i : gs, i == 0, nnext,
				     y + (long)i * ldy + r, ldy);
	}
}

/* ---- prefill: the matrix product ---- */

/* 16 vectors of 32-bit words as their transpose: r[i] lane j becomes r[j] lane i */
B16_FN void b16_transpose16(__m512i r[16])
{
	__m512i t[16];
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
	}
	/* r[4g + m], 128-bit lane q: rows 4g .. 4g + 3 at element 4q + m */
	for (int g = 0; g < 16; g += 4) {
		r[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
		r[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
		r[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
		r[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
	}
	/* gather lane q of r[m], r[4 + m], r[8 + m], r[12 + m] into element row 4q + m */
	for (int m = 0; m < 4; m++) {
		t[m] = _mm512_shuffle_i32x4(r[m], r[4 + m], 0x88);       /* lanes 0, 2 of each */
		t[4 + m] = _mm512_shuffle_i32x4(r[m], r[4 + m], 0xdd);   /* lanes 1, 3 */
		t[8 + m] = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0x88);
		t[12 + m] = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0xdd);
	}
	for (int m = 0; m < 4; m++) {
		r[m] = _mm512_shuffle_i32x4(t[m], t[8 + m], 0x88);
		r[8 + m] = _mm512_shuffle_i32x4(t[m], t[8 + m], 0xdd);
		r[4 + m] = _mm512_shuffle_i32x4(t[4 + m], t[12 + m], 0x88);
		r[12 + m] = _mm512_shuffle_i32x4(t[4 + m], t[12 + m], 0xdd);
	}
}

/* T tokens of x (ldx apart, k even) packed: blocks of B16_TB tokens at xp + b0 * k/2 (b0 the block's
 * first token), word [p][t] the pair p of token t rounded to BF16; a last block of 16 tokens or fewer
 * is 16 wide, lanes past T are 0 */
B16_FN void b16_pack_x(const float *x, long ldx, int T, long k, uint32_t *xp)
{
	const long kp = k / 2;
	for (int b0 = 0; b0 < T; b0 += B16_TB) {
		int nb = T - b0 < B16_TB ? T - b0 : B16_TB, wd = nb > 16 ? B16_TB : 16;
		uint32_t *blk = xp + (long)b0 * kp;
		for (int h = 0; h < wd; h += 16) {
			int nt = nb - h < 16 ? nb - h : 16;
			for (long p = 0; p < kp; p += 16) {
				int np = kp - p < 16 ? (int)(kp - p) : 16;
				__m512i v[16];
				for (int i = 0; i < 16; i++)
					v[i] = i < nt ? b16_round32(x + (long)(b0 + h + i) * ldx + 2 * p, 2L * np) :
							_mm512_setzero_si512();
				b16_transpose16(v);
				for (int i = 0; i < np; i++)
					_mm512_store_si512(blk + (p + i) * wd + h, v[i]);
			}
		}
	}
}

/* The next panel's lines, asked for one per step of the micro-tile (a burst waits in the miss queues) */
struct b16_pf {
	const char *p;       /* the next panel's first row, at its first pair */
	size_t rb, len;      /* bytes between rows, bytes of each row's piece */
	int rows, j;         /* rows of the panel, the row being asked for */
	size_t o;            /* next byte offset in that row */
};

B16_FN void b16_pf_step(struct b16_pf *pf)
{
	if (pf->j >= pf->rows)
		return;
	_mm_prefetch(pf->p + (size_t)pf->j * pf->rb + pf->o, _MM_HINT_T0);
	pf->o += 64;
	if (pf->o >= pf->len) {
		pf->o = 0;
		pf->j++;
	}
}

/* acc[j*B16_TG + t] (=, or += with add) sum over pairs p < np of W[j] pair p . xb[p][t], for the 12 rows
 * at w (ws bytes apart, from the chunk's first pair) and the 16 * NV tokens of xb */
B16_FN void b16_micro(const char *w, size_t ws, const uint32_t *xb, long np, int NV, float *acc_io, int add,
		      struct b16_pf *pf)
{
	__m512 a[B16_MR][2];
#pragma GCC unroll 12
	for (int j = 0; j < B16_MR; j++)
		a[j][0] = a[j][1] = _mm512_setzero_ps();
	for (long p = 0; p < np; p++) {
		b16_pf_step(pf);
		__m512i x0 = _mm512_load_si512(xb + p * 16 * NV);
		__m512i x1 = NV > 1 ? _mm512_load_si512(xb + p * 32 + 16) : x0;
#pragma GCC unroll 12
		for (int j = 0; j < B16_MR; j++) {
			int32_t u;
			memcpy(&u, w + (size_t)j * ws + (size_t)p * 4, 4);
			__m512i wv = _mm512_set1_epi32(u);
			a[j][0] = b16_dot(a[j][0], wv, x0);
			if (NV > 1)
				a[j][1] = b16_dot(a[j][1], wv, x1);
		}
	}
#pragma GCC unroll 12
	for (int j = 0; j < B16_MR; j++)
		for (int v = 0; v < NV; v++) {
			float *q = acc_io + j * B16_TG + 16 * v;
			_mm512_store_ps(q, add ? _mm512_add_ps(_mm512_load_ps(q), a[j][v]) : a[j][v]);
		}
}

/* Tile sums (row-major, B16_TG apart) of R rows x T tokens into y (ldy apart) */
B16_FN void b16_store_y(const float *acc, int R, int T, float *y, long ldy)
{
	for (int j0 = 0; j0 < R; j0 += 16) {
		int nr = R - j0 < 16 ? R - j0 : 16;
		__mmask16 m = (__mmask16)((1u << nr) - 1);
		for (int t0 = 0; t0 < T; t0 += 16) {
			__m512i v[16];
			for (int i = 0; i < 16; i++)
				v[i] = i < nr ? _mm512_load_si512(acc + (long)(j0 + i) * B16_TG + t0) : _mm512_setzero_si512();
			b16_transpose16(v);
			int nt = T - t0 < 16 ? T - t0 : 16;
			for (int i = 0; i < nt; i++)
				_mm512_mask_storeu_ps(y + (long)(t0 + i) * ldy + j0, m, _mm512_castsi512_ps(v[i]));
		}
	}
}

/* Rows [r0, r1) times ng <= B16_TG packed tokens (block b0 at xg + b0 * k/2) into y[t*ldy + r]: per
 * block of B16_RB rows and per chunk of B16_KP pairs, each 12 rows' pieces serve every token block; the
 * sums wait in this thread's buffer until the last chunk. */
B16_FN void b16_core(const struct ds_tensor *w, long r0, long r1, const uint32_t *xg, int ng, float *y,
		     long ldy)
{
	const long k = (long)w->cols, kp = k / 2;
	const size_t rb = (size_t)k * 2;
	const char *base = w->data;
	uint32_t tail[B16_MR * B16_KP] __attribute__((aligned(64)));   /* a last panel of fewer rows */

	float *sums = cpu_scratch(CPU_SCRATCH_B16_SUMS,
				  (size_t)(B16_RB + B16_MR) * B16_TG * sizeof(float));
	for (long rs = r0; rs < r1; rs += B16_RB) {
		long re = r1 - rs < B16_RB ? r1 : rs + B16_RB;
		for (long p0 = 0; p0 < kp; p0 += B16_KP) {
			long np = kp - p0 < B16_KP ? kp - p0 : B16_KP;
			for (long r = rs; r < re; r += B16_MR) {
				int R = re - r < B16_MR ? (int)(re - r) : B16_MR;
				const char *wp = base + (size_t)r * rb + (size_t)p0 * 4;
				size_t ws = rb;
				/* the call's first panel was prefetched by nobody: all of its lines now */
				if (r == r0 && p0 == 0)
					for (int j = 0; j < R; j++)
						for (long o = 0; o < np * 4; o += 64)
							_mm_prefetch(wp + (size_t)j * rb + o, _MM_HINT_T0);
				if (R < B16_MR) {
					memset(tail, 0, sizeof tail);
					for (int j = 0; j < R; j++)
						memcpy(tail + j * B16_KP, wp + (size_t)j * rb, (size_t)np * 4);
					wp = (const char *)tail;
					ws = B16_KP * 4;
				}
				/* the next panel: the next rows of this chunk, else the block's first rows of
				 * the next chunk */
				long nr = r + B16_MR < re ? r + B16_MR : p0 + B16_KP < kp ? rs : re;
				long nc = r + B16_MR < re ? p0 : p0 + B16_KP;
				struct b16_pf pf = { .rows = 0 };
				if (nr < re)
					pf = (struct b16_pf){ .p = base + (size_t)nr * rb + (size_t)nc * 4, .rb = rb,
							      .len = (size_t)(kp - nc < B16_KP ? kp - nc : B16_KP) * 4,
							      .rows = re - nr < B16_MR ? (int)(re - nr) : B16_MR };
				float *acc = sums + (r - rs) * B16_TG;
				for (int b0 = 0; b0 < ng; b0 += B16_TB) {
					if (ng - b0 > 16)
						b16_micro(wp, ws, xg + (long)b0 * kp + p0 * 32, np, 2, acc + b0, p0 > 0, &pf);
					else
						b16_micro(wp, ws, xg + (long)b0 * kp + p0 * 16, np, 1, acc + b0, p0 > 0, &pf);
				}
			}
		}
		b16_store_y(sums, (int)(re - rs), ng, y + rs, ldy);
	}
}

static size_t b16_words(int n, long k)
{
	return (size_t)(n + B16_TB - 1) / B16_TB * B16_TB * (size_t)(k / 2);
}

/* rows() in the product form: tokens in groups whose packed activations stay in L2 */
B16_API void b16_rows_gemm(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			   float *y, long ldy)
{
	const long k = (long)w->cols;
	long tg = B16_XGROUP / (2 * k) / B16_TB * B16_TB;
	if (tg < B16_TB)
		tg = B16_TB;
	if (tg > B16_TG)
		tg = B16_TG;
	uint32_t *buf = cpu_scratch(CPU_SCRATCH_B16_WORDS, b16_words((int)tg, k) * sizeof(uint32_t));
	for (long i0 = 0; i0 < n; i0 += tg) {
		int ng = n - i0 < tg ? (int)(n - i0) : (int)tg;
		b16_pack_x(x + i0 * ldx, ldx, ng, k, buf);
		b16_core(w, r0, r1, buf, ng, y + i0 * ldy, ldy);
	}
}

B16_API void b16_pack_words(const float *x, int n, long ldx, long k, uint32_t *xp)
{
	b16_pack_x(x, ldx, n, k, xp);
}

B16_API void b16_rows_packed_words(const struct ds_tensor *w, long r0, long r1, const uint32_t *xp, int n,
				   float *y, long ldy)
{
	const long kp = (long)w->cols / 2;
	for (long i0 = 0; i0 < n; i0 += B16_TG) {
		int ng = n - i0 < B16_TG ? (int)(n - i0) : B16_TG;
		b16_core(w, r0, r1, xp + i0 * kp, ng, y + i0 * ldy, ldy);
	}
}

/* ---- the table ---- */

static void b16_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx, float *y,
		     long ldy)
{
	if (w->dtype != DS_BF16 || w->cols % 2 != 0 || n == 1 || (n >= B16_GEMM_MIN && r1 - r0 < B16_RB)) {
		/* a few rows do not pay for packing many tokens; the exact set's tiles do. One token is
		 * bound by memory, and the exact set's loop for it reads more of it a second than the tile
		 * below: tools/quant-bench, BF16 from memory, 2 threads, 1024 columns: 51-53 GB/s against
		 * 42-46 (the tile with its row loop rolled, as the exact set's, read no more) */
		cpu_kernels_avx512.rows(w, r0, r1, x, n, ldx, y, ldy);
		return;
	}
	if (r0 >= r1 || n <= 0)
		return;
	if (n < B16_GEMM_MIN)
		b16_rows_decode(w, r0, r1, x, n, ldx, y, ldy);
	else
		b16_rows_gemm(w, r0, r1, x, n, ldx, y, ldy);
}

/* Packed once per product (cpu_pack) for BF16 weights only (the other types' rows() is the exact
 * set's, which packs for itself) */
static int b16_packed_from(enum ds_dtype t)
{
	return t == DS_BF16 ? B16_GEMM_MIN : INT_MAX;
}

/* An odd row length is the exact set's whole: its packing, its product */
static size_t b16_pack_floats(enum ds_dtype t, int n, long k)
{
	if (k % 2 != 0)
		return cpu_kernels_avx512.pack_floats(t, n, k);
	return b16_words(n, k);   /* a 32-bit word per pair and token: as many floats */
}

static void b16_pack(enum ds_dtype t, const float *x, int n, long ldx, long k, float *xp)
{
	if (k % 2 != 0)
		cpu_kernels_avx512.pack(t, x, n, ldx, k, xp);
	else
		b16_pack_words(x, n, ldx, k, (uint32_t *)(void *)xp);
}

static void b16_rows_packed(const struct ds_tensor *w, long r0, long r1, const float *xp, int n, float *y,
			    long ldy)
{
	if (w->dtype != DS_BF16) {
		/* packed for a BF16 tensor (b16_packed_from): another type sharing its activations */
		fprintf(stderr, "dscoder-engine: the avx512-bf16 kernels got a packed product on a %s tensor; "
			"run without --kernels avx512-bf16.\n", ds_dtype_get(w->dtype)->name);
		abort();
	}
	if (w->cols % 2 != 0)
		cpu_kernels_avx512.rows_packed(w, r0, r1, xp, n, y, ldy);
	else if (r0 < r1)
		b16_rows_packed_words(w, r0, r1, (const uint32_t *)(const void *)xp, n, y, ldy);
}

static void b16_axpy_row(float *y, float a, const struct ds_tensor *w, long row)
{
	cpu_kernels_avx512.axpy_row(y, a, w, row);
}

static float b16_dot_f32(const float *a, const float *b, long n)
{
	return cpu_kernels_avx512.dot(a, b, n);
}

static void b16_axpy(float *y, float a, const float *x, long n)
{
	cpu_kernels_avx512.axpy(y, a, x, n);
}

static void b16_pv(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int n, int m,
		   long kdim)
{
	cpu_kernels_avx512.pv(o, ldo, p, ldp, v, ldv, n, m, kdim);
}

static void b16_silu_mul(float *g, const float *u, long n)
{
	cpu_kernels_avx512.silu_mul(g, u, n);
}

static float b16_exp_sum(float *s, long n, float max)
{
	return cpu_kernels_avx512.exp_sum(s, n, max);
}

const struct cpu_kernels cpu_kernels_avx512_bf16 = {
	.name = "AVX-512 BF16",
	.rounds_activations = true,
	.rows = b16_rows,
	.packed_from = b16_packed_from,
	.pack_floats = b16_pack_floats,
	.pack = b16_pack,
	.rows_packed = b16_rows_packed,
	.axpy_row = b16_axpy_row,
	.dot = b16_dot_f32,
	.axpy = b16_axpy,
	.pv = b16_pv,
	.exp_sum = b16_exp_sum,
	.silu_mul = b16_silu_mul,
};

#endif

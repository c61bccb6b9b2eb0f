/* cpu-gemm-simd.h: prefill as a matrix product with the tokens in the vector lanes, written once
 * over the QV_W-lane vectors of cpu-quant-simd.h (included first) for every weight type, and included
 * by cpu-kernels-avx2.c (8 lanes) and cpu-kernels-avx512.c (16 lanes).
 *
 * y[t][r] = sum over c of W[r][c] * x[t][c] for many tokens. The activations are packed as
 * xp[c][token], two vectors of tokens per block (a last block of QV_W tokens or fewer one vector
 * wide); the weights of GM_MR rows as an F32 panel of GM_KC columns (BF16/F16 widened, quantized
 * blocks decoded to the format's values); each column c of the micro-tile multiplies the two vectors
 * of tokens by the GM_MR weights W[r][c] broadcast from the panel: 2 x GM_MR independent
 * accumulators, no horizontal sums. AVX-512: 12 rows x 32 tokens in 24 of 32 registers; AVX2: 6 rows
 * x 16 tokens in 12 of 16. (The 4 x 6 tiles before, a sum across lanes per vector and chunk and 10
 * vector loads per 24 FMAs, reached about 40% of this Zen 5 core's FMA peak in the model; these reach
 * 80-90% from cache.) Each (row, token) sum is formed the same way whatever the row range, token
 * grouping or packing, so the packed and unpacked entry points agree bit for bit; only a call's last
 * few tokens may go to other kernels (gm_rest), decided on the call's token count alone. */

#if QV_W == 16
#define GM_MR 12                 /* weight rows per micro-tile */
#else
#define GM_MR 6
#endif
#define GM_TB (2 * QV_W)         /* tokens per packed block: two vectors */
#define GM_KC 512                /* columns per panel: 12 x 512 F32 = 24 KB of L1 */
#define GM_LDW (GM_KC + 16)      /* panel row stride: 2 KB apart, the rows' lines would share L1 sets */
#define GM_TG 128                /* tokens per group: 128 x 512 packed floats (256 KB) stay in L2 */
#define GM_RB 96                 /* rows whose sums for a token group (96 x 128 F32, 48 KB) are kept */
#define GM_KS 128                /* columns summed in registers before they join the tile sums */
#define GM_XGROUP (512L * 1024)  /* bytes of activations the unpacked entry packs at a time */

/* The tokens past the last whole vector, when they are GM_REST_MAX or fewer, go to the few-token
 * kernels GM_REST_ROWS(w, r0, r1, x, n, ldx, y, ldy) that the including file names (none where it
 * does not): in the tiles a last vector of r tokens costs what a whole one does, in the fused decode
 * forms r tokens cost about r/8 of it. A routed expert of a prompt has some 48 tokens, seldom a
 * whole number of vectors (figures at GM_REST_MAX's definition). */
#ifndef GM_REST_MAX
#define GM_REST_MAX 0
#endif

/* Of n tokens, those the tiles leave to GM_REST_ROWS: the same for every row range, so a row's sums
 * never depend on how the rows were split */
static inline int gm_rest(int n)
{
	return n > QV_W && n % QV_W <= GM_REST_MAX ? n % QV_W : 0;
}

/* The lines of the next weight panel, asked for a few at a time from inside the micro-tiles: a
 * burst of 200 prefetches at once mostly waits in the miss queues (one thread, 46 MB of BF16 from
 * memory, 96 tokens: 167 GFLOP/s with the burst, against 179 spread out and 200 from cache) */
struct gm_pf {
	const char *p;       /* the next panel's first row, at its first column */
	size_t rb, len;      /* bytes between rows, bytes of each row's piece */
	int rows, j;         /* rows of the panel, the row being asked for */
	size_t o;            /* next byte offset in that row */
};

QV_FN void gm_pf_step(struct gm_pf *pf)
{
	if (pf->j >= pf->rows)
		return;
	_mm_prefetch(pf->p + (size_t)pf->j * pf->rb + pf->o, _MM_HINT_T1);
	pf->o += 64;
	if (pf->o >= pf->len) {
		pf->o = 0;
		pf->j++;
	}
}

/* acc[j*GM_TG + t] (=, or += when add) sum over c < kc of wb[j*GM_LDW + c] * xp[c*QV_W*NV + t],
 * for j < GM_MR and t < QV_W*NV: the sums stay in vectors of tokens until a row block is done.
 * Each GM_KS columns are summed apart and then added to the tile, so rounding grows with
 * GM_KS + k / GM_KS terms, not with k. */
QV_FN void gm_micro(const float *wb, const float *xp, long kc, int NV, float *acc_io, int add,
		    struct gm_pf *pf)
{
	for (long c0 = 0; c0 < kc; c0 += GM_KS) {
		long ce = kc - c0 < GM_KS ? kc : c0 + GM_KS;
		qv_f acc[GM_MR][2];
#pragma GCC unroll 12
		for (int j = 0; j < GM_MR; j++)
			acc[j][0] = acc[j][1] = qv_zero();
		for (long c = c0; c < ce; c++) {
			if ((c & 1) == 0)
				gm_pf_step(pf);
			qv_f x0 = qv_load(xp + c * QV_W * NV);
			qv_f x1 = NV > 1 ? qv_load(xp + c * GM_TB + QV_W) : x0;
#pragma GCC unroll 12
			for (int j = 0; j < GM_MR; j++) {
				qv_f wv = qv_set1(wb[j * GM_LDW + c]);
				acc[j][0] = qv_fma(wv, x0, acc[j][0]);
				if (NV > 1)
					acc[j][1] = qv_fma(wv, x1, acc[j][1]);
			}
		}
		int first = !add && c0 == 0;
#pragma GCC unroll 12
		for (int j = 0; j < GM_MR; j++)
			for (int v = 0; v < NV; v++) {
				float *p = acc_io + j * GM_TG + QV_W * v;
				qv_store(p, first ? acc[j][v] : qv_add(qv_load(p), acc[j][v]));
			}
	}
}

#if QV_W == 16
/* 16 vectors as their transpose: r[i] lane j becomes r[j] lane i */
QV_FN void gm_transpose16(__m512 r[16])
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
#endif

/* Columns [c0, c0 + kc) of T tokens of x (ldx apart), packed for gm_micro: blocks of GM_TB tokens at
 * xp + b0 * kc (b0 the block's first token), each column's values together (a last block of QV_W
 * or fewer tokens is packed QV_W wide); lanes past T are 0. AVX-512 transposes 16 x 16 in registers;
 * AVX2 moves one float at a time (against the product's k/16 cycles per packed float, ~2%). */
QV_FN void gm_pack_x(const float *x, long ldx, int T, long c0, long kc, float *xp)
{
	for (int b0 = 0; b0 < T; b0 += GM_TB) {
		int nb = T - b0 < GM_TB ? T - b0 : GM_TB, wd = nb > QV_W ? GM_TB : QV_W;
		float *blk = xp + (long)b0 * kc;
#if QV_W == 16
		for (int h = 0; h < wd; h += 16) {
			int nt = nb - h < 16 ? (nb - h > 0 ? nb - h : 0) : 16;
			for (long c = 0; c < kc; c += 16) {
				int ncol = kc - c < 16 ? (int)(kc - c) : 16;
				__mmask16 m = (__mmask16)((1u << ncol) - 1);
				__m512 r[16];
				for (int i = 0; i < 16; i++)
					r[i] = i < nt ? _mm512_maskz_loadu_ps(m, x + (long)(b0 + h + i) * ldx + c0 + c) :
							_mm512_setzero_ps();
				gm_transpose16(r);
				for (int i = 0; i < ncol; i++)
					_mm512_store_ps(blk + (c + i) * wd + h, r[i]);
			}
		}
#else
		for (long c = 0; c < kc; c++)
			for (int t = nb; t < wd; t++)
				blk[c * wd + t] = 0;
		for (int t = 0; t < nb; t++) {
			const float *src = x + (long)(b0 + t) * ldx + c0;
			for (long c = 0; c < kc; c++)
				blk[c * wd + t] = src[c];
		}
#endif
	}
}

/* Tile sums (row-major, GM_TG apart) of R rows x T tokens into y (ldy apart) */
QV_FN void gm_store_y(const float *acc, int R, int T, float *y, long ldy)
{
#if QV_W == 16
	for (int j0 = 0; j0 < R; j0 += 16) {
		int nr = R - j0 < 16 ? R - j0 : 16;
		__mmask16 m = (__mmask16)((1u << nr) - 1);
		for (int t0 = 0; t0 < T; t0 += 16) {
			__m512 v[16];
			for (int i = 0; i < 16; i++)
				v[i] = i < nr ? _mm512_load_ps(acc + (long)(j0 + i) * GM_TG + t0) : _mm512_setzero_ps();
			gm_transpose16(v);
			int nt = T - t0 < 16 ? T - t0 : 16;
			for (int i = 0; i < nt; i++)
				_mm512_mask_storeu_ps(y + (long)(t0 + i) * ldy + j0, m, v[i]);
		}
	}
#else
	for (int t = 0; t < T; t++)
		for (int j = 0; j < R; j++)
			y[(long)t * ldy + j] = acc[(long)j * GM_TG + t];
#endif
}

/* Row r, columns [c0, c0 + kc), as F32 into dst: widened, or each block decoded (c0 and kc whole
 * blocks: a row is whole blocks and GM_KC a multiple of every block size). */
QV_FN void gm_fill_row(const struct ds_tensor *w, long r, long c0, long kc, float *dst)
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
	long c = 0;
	if (t == DS_F32) {
		const float *row = (const float *)w->data + (size_t)r * (size_t)k + c0;
		for (; c + QV_W <= kc; c += QV_W)
			qv_store(dst + c, qv_load(row + c));
		for (; c < kc; c++)
			dst[c] = row[c];
		return;
	}
	const uint16_t *row = (const uint16_t *)w->data + (size_t)r * (size_t)k + c0;
	for (; c + QV_W <= kc; c += QV_W)
		qv_store(dst + c, t == DS_BF16 ? qv_bf16(row + c) : qv_f16(row + c));
	for (; c < kc; c++)
		dst[c] = t == DS_BF16 ? ds_bf16_to_f32(row[c]) : ds_f16_to_f32(row[c]);
}

/* Rows [r0, r1) times ng <= GM_TG packed tokens (the block from token b0 at xg + b0 * k) into
 * y[t*ldy + r]. Per block of GM_RB rows and per GM_KC columns, each panel of GM_MR rows (decoded
 * once) serves every token block; the sums wait in this thread's buffer until the last chunk. */
QV_FN void gm_core(const struct ds_tensor *w, long r0, long r1, const float *xg, int ng, float *y, long ldy)
{
	const long k = (long)w->cols;
	const size_t rowb = ds_row_bytes(w->dtype, k);
	float wb[GM_MR * GM_LDW] __attribute__((aligned(64)));
	float *gm_acc = cpu_scratch(CPU_SCRATCH_GEMM_SUMS,
				    (size_t)(GM_RB + GM_MR) * GM_TG * sizeof(float));
	for (long rb = r0; rb < r1; rb += GM_RB) {
		long re = r1 - rb < GM_RB ? r1 : rb + GM_RB;
		for (long c0 = 0; c0 < k; c0 += GM_KC) {
			long kc = k - c0 < GM_KC ? k - c0 : GM_KC;
			for (long r = rb; r < re; r += GM_MR) {
				int R = re - r < GM_MR ? (int)(re - r) : GM_MR;
				/* the call's first panel was prefetched by nobody: ask for all of its lines
				 * before decoding, so that their misses overlap */
				if (r == r0 && c0 == 0)
					for (int j = 0; j < R; j++)
						for (size_t o = 0; o < ds_row_bytes(w->dtype, kc); o += 64)
							_mm_prefetch((const char *)w->data + (size_t)(r + j) * rowb + o,
								     _MM_HINT_T1);
				for (int j = 0; j < R; j++)
					gm_fill_row(w, r + j, c0, kc, wb + j * GM_LDW);
				if (R < GM_MR)
					memset(wb + R * GM_LDW, 0, sizeof(float) * (size_t)(GM_MR - R) * GM_LDW);
				/* the next panel: the next rows of this chunk, else the block's first rows of
				 * the next chunk, else the next block's first rows (a block's first panel
				 * waited on memory before) */
				long nr = r + GM_MR < re ? r + GM_MR : c0 + GM_KC < k ? rb : re;
				long nc = r + GM_MR < re ? c0 : c0 + GM_KC < k ? c0 + GM_KC : 0;
				long ne = nr < re ? re : r1 - re < GM_RB ? r1 : re + GM_RB;
				struct gm_pf pf = { .rows = 0 };
				if (nr < r1)
					pf = (struct gm_pf){ .p = (const char *)w->data + (size_t)nr * rowb +
								  ds_row_bytes(w->dtype, nc),
							     .rb = rowb,
							     .len = ds_row_bytes(w->dtype, k - nc < GM_KC ? k - nc : GM_KC),
							     .rows = ne - nr < GM_MR ? (int)(ne - nr) : GM_MR };
				float *acc = gm_acc + (r - rb) * GM_TG;
				for (int b0 = 0; b0 < ng; b0 += GM_TB) {
					if (ng - b0 > QV_W)
						gm_micro(wb, xg + (long)b0 * k + c0 * GM_TB, kc, 2, acc + b0, c0 > 0, &pf);
					else
						gm_micro(wb, xg + (long)b0 * k + c0 * QV_W, kc, 1, acc + b0, c0 > 0, &pf);
				}
			}
		}
		gm_store_y(gm_acc, (int)(re - rb), ng, y + rb, ldy);
	}
}

/* rows() in this form: tokens in groups whose packed activations (all k columns) stay in L2 */
QV_API void QV(gemm_rows)(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			  float *y, long ldy)
{
	const long k = (long)w->cols;
	long tg = GM_XGROUP / 4 / (k > 0 ? k : 1) / GM_TB * GM_TB;
	if (tg < GM_TB)
		tg = GM_TB;
	if (tg > GM_TG)
		tg = GM_TG;
	const int rest = gm_rest(n), tiled = n - rest;
	/* this thread's packed activations */
	float *gm_xbuf = cpu_scratch(CPU_SCRATCH_GEMM_X, (size_t)tg * (size_t)k * sizeof(float));
	for (long i0 = 0; i0 < tiled; i0 += tg) {
		int ng = tiled - i0 < tg ? (int)(tiled - i0) : (int)tg;
		gm_pack_x(x + i0 * ldx, ldx, ng, 0, k, gm_xbuf);
		gm_core(w, r0, r1, gm_xbuf, ng, y + i0 * ldy, ldy);
	}
#if GM_REST_MAX > 0
	if (rest > 0)
		GM_REST_ROWS(w, r0, r1, x + tiled * ldx, rest, ldx, y + tiled * ldy, ldy);
#endif
}

/* Packed: the tiled tokens in blocks, then the rest (gm_rest) as rows of k */
static inline size_t gm_tiled_floats(int n, long k)
{
	return (size_t)(n - gm_rest(n) + GM_TB - 1) / GM_TB * GM_TB * (size_t)k;
}

static size_t QV(gemm_pack_floats)(enum ds_dtype t, int n, long k)
{
	return gm_tiled_floats(n, k) + (size_t)gm_rest(n) * (size_t)k;
}

QV_API void QV(gemm_pack)(enum ds_dtype t, const float *x, int n, long ldx, long k, float *xp)
{
	const int rest = gm_rest(n), tiled = n - rest;
	gm_pack_x(x, ldx, tiled, 0, k, xp);
	for (int i = 0; i < rest; i++)
		memcpy(xp + gm_tiled_floats(n, k) + (size_t)i * (size_t)k, x + (long)(tiled + i) * ldx,
		       (size_t)k * sizeof *xp);
}

/* rows() on activations packed once by gemm_pack for all row blocks of a product */
QV_API void QV(gemm_rows_packed)(const struct ds_tensor *w, long r0, long r1, const float *xp, int n,
				 float *y, long ldy)
{
	const long k = (long)w->cols;
	const int rest = gm_rest(n), tiled = n - rest;
	for (long i0 = 0; i0 < tiled; i0 += GM_TG) {
		int ng = tiled - i0 < GM_TG ? (int)(tiled - i0) : GM_TG;
		gm_core(w, r0, r1, xp + i0 * k, ng, y + i0 * ldy, ldy);
	}
#if GM_REST_MAX > 0
	if (rest > 0)
		GM_REST_ROWS(w, r0, r1, xp + gm_tiled_floats(n, k), rest, k, y + tiled * ldy, ldy);
#endif
}

/* The set's packed products: quantized types from one token on, below GM_MIN_TOKENS (the including
 * file's) in the decode form of cpu-quant-simd.h (activations prepared once per product), from it on
 * the tiles' */
_Static_assert(GM_MIN_TOKENS <= QV_PACK_MAX, "the decode form's header holds fewer tokens");

static int QV(packed_from)(enum ds_dtype t)
{
	return ds_dtype_is_quantized(t) ? 1 : GM_MIN_TOKENS;
}

static size_t QV(pack_floats)(enum ds_dtype t, int n, long k)
{
	return n < GM_MIN_TOKENS && ds_dtype_is_quantized(t) ? qv_pack_floats(n, k) : QV(gemm_pack_floats)(t, n, k);
}

QV_API void QV(pack)(enum ds_dtype t, const float *x, int n, long ldx, long k, float *xp)
{
	if (n < GM_MIN_TOKENS && ds_dtype_is_quantized(t))
		QV(quant_pack)(t, x, n, ldx, k, xp);
	else
		QV(gemm_pack)(t, x, n, ldx, k, xp);
}

QV_API void QV(rows_packed)(const struct ds_tensor *w, long r0, long r1, const float *xp, int n, float *y,
			    long ldy)
{
	if (n < GM_MIN_TOKENS && ds_dtype_is_quantized(w->dtype))
		QV(quant_rows_packed)(w, r0, r1, xp, n, y, ldy);
	else
		QV(gemm_rows_packed)(w, r0, r1, xp, n, y, ldy);
}

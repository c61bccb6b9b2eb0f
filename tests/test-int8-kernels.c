/* test-int8-kernels.c: the opt-in int8 sets (cpu_kernels_avx512_int8, cpu_kernels_avx2_int8), each where
 * the CPU runs it, on every block-quantized type (q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K; the
 * AVX2 set rounds all but q4_1 and leaves that to the exact AVX2 set, which the same bound holds)
 * against exact math on the decoded weights: random
 * blocks, odd row counts and row ranges, every token count 1..70 at k = 256 and a few at k = 2304 (and
 * 2080 = 65 blocks for the 32-weight types: an odd last block), strided x and y (the fused form below
 * 10 tokens, the panel form from 10, and pack + rows_packed equal to rows() bit for bit); float
 * weights and the vector kernels must equal the exact set's (AVX-512, AVX2) bit for bit;
 * DSCODER_KERNELS=avx512-int8 and avx2-int8 pick them.
 * Exits 77 where the CPU (or the build) has neither (no AVX2).
 *
 * The bound is the activations' rounding itself: each x_c is stored as d_b q_c with d_b = max |x| / 127
 * over its block b of 32 (of 256 for q4_K, q5_K and q6_K: the AVX-512 set below 10 tokens, the AVX2 set
 * always), so |x_c - d_b q_c| <= d_b / 2 and
 *   |y - exact| <= sum_c |w_c| d_b / 2 (1 + 1e-4) + 1e-5 sum_c (|w_c| + |o_c|) (|x_c| + d_b)
 * where exact is the double sum of w_c x_c and o_c the offset the kernel subtracts apart (128 d for
 * q8_0, 8 d / 16 d for q4_0 / q5_0, the min of q4_1/q5_1 and of a K-quant sub-block, 32 d sc for q6_K):
 * the second term is F32 rounding of sums of a few thousand such terms. A wrong code, scale or lane
 * is off by about |w x| per weight, some 50 times the first term. */
#include "build-config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu-kernels.h"
#include "cpu/cpu-rows4.h"
#include "cpu/cpu-uk4.h"
#include "xalloc.h"
#include "fixture-util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	return (uint32_t)(fix_xorshift(&rng) >> 11);
}

#ifdef HAVE_AVX2_TARGET

/* The set under test: its exact sibling (float weights and vector kernels), and the token count from
 * which its K-quant products round activations per 32 instead of per 256 */
struct int8_set {
	const struct cpu_kernels *k, *exact;
	int k256_below;
	bool rows4_k5;      /* it reads q5_K in rows4 too */
	bool tokens_alone;  /* each token's sums (on the types it rounds) are those of a call with it alone */
	bool rows4_q51;     /* it rounds q5_1 (in rows4 too) */
};
static struct int8_set cur;

static const enum ds_dtype types[] = {
	DS_Q8_0, DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1, DS_Q4_K, DS_Q5_K, DS_Q6_K
};
#define N_TYPES (sizeof types / sizeof types[0])

/* A half as real files have them: 2^-12 .. 2^-3, either sign (the q6_K and min fields may be negative). */
static uint16_t rnd_scale(void)
{
	return (uint16_t)((rnd() % 4 == 0) << 15 | (3 + rnd() % 10) << 10 | (rnd() & 0x3ff));
}

static void put16(uint8_t *p, uint16_t h)
{
	p[0] = (uint8_t)h;
	p[1] = (uint8_t)(h >> 8);
}

/* Bytes of a block before its codes (kept when the codes are zeroed to find the offsets). */
static size_t head_bytes(enum ds_dtype t)
{
	switch (t) {
	case DS_Q8_0: case DS_Q4_0: return 2;
	case DS_Q4_1: return 4;
	case DS_Q5_0: return 6;
	case DS_Q5_1: return 8;
	case DS_Q4_K: case DS_Q5_K: return 16;
	default: return 0;
	}
}

struct qmat {
	struct ds_tensor w;
	float *deq, *off;   /* rows x cols: the decoded weights, |offset| of each weight's group */
};

/* 1: every code at its largest magnitude (Q8_0 -128, the others all bits set) and every activation 1,
 * so that each activation code is 127: the 16-bit sums of the int8 sets at their bound */
static int extreme;

static struct qmat make_qmat(enum ds_dtype t, long rows, long cols)
{
	const struct ds_dtype_info *info = ds_dtype_get(t);
	size_t rb = ds_row_bytes(t, cols), bb = info->block_bytes;
	uint8_t *data = xmalloc(rb * (size_t)rows + 1), z[256];
	struct qmat q = { .deq = xmalloc(sizeof(float) * (size_t)(rows * cols)),
			  .off = xmalloc(sizeof(float) * (size_t)(rows * cols)) };

	for (long r = 0; r < rows; r++)
		for (long c = 0; c < cols; c += info->block) {
			uint8_t *b = data + (size_t)r * rb + (size_t)(c / info->block) * bb;
			float *o = q.off + r * cols + c;

			for (size_t i = 0; i < bb; i++)
				b[i] = extreme ? (t == DS_Q8_0 ? 0x80 : 0xff) : (uint8_t)rnd();
			if (t == DS_Q6_K)
				put16(b + 208, rnd_scale());
			else
				put16(b, rnd_scale());
			if (t == DS_Q4_1 || t == DS_Q5_1 || t == DS_Q4_K || t == DS_Q5_K)
				put16(b + 2, rnd_scale());
			info->to_float(b, q.deq + r * cols + c, info->block);
			/* the offsets: what the block gives with every code 0 (q6_K keeps its scales at the end) */
			memset(z, 0, sizeof z);
			if (t == DS_Q6_K)
				memcpy(z + 192, b + 192, 18);
			else
				memcpy(z, b, head_bytes(t));
			info->to_float(z, o, info->block);
			for (int i = 0; i < info->block; i++)
				o[i] = fabsf(t == DS_Q8_0 ? 128 * ds_f16_to_f32((uint16_t)(b[0] | b[1] << 8)) : o[i]);
		}
	q.w = (struct ds_tensor){ .dtype = t, .data = data, .rows = rows, .cols = cols };
	return q;
}

static void free_qmat(struct qmat *q)
{
	free((void *)q->w.data);
	free(q->deq);
	free(q->off);
}

static double worst_ratio[N_TYPES], sum_rel[N_TYPES];
static long n_rel[N_TYPES];

/* x for n tokens: mostly values in [-1, 1], an outlier now and then (as real activations have), and
 * some tokens scaled far from 1 */
static void fill_x(float *x, int n, long ldx)
{
	for (int i = 0; i < n; i++) {
		float s = i % 5 == 3 ? 1e3f : i % 5 == 4 ? 1e-3f : 1;
		for (long c = 0; c < ldx; c++)
			x[i * ldx + c] = extreme ? 1.0f : s * fix_rndf(&rng) * (rnd() % 61 == 0 ? 20.0f : 1.0f);
	}
}

static void test_rows(const struct cpu_kernels *k, int ti, long rows, long cols, int n)
{
	enum ds_dtype t = types[ti];
	struct qmat q = make_qmat(t, rows, cols);
	long ldx = cols + 16, ldy = rows + 3;
	float *x = xmalloc(sizeof *x * (size_t)(n * ldx)), *y = xmalloc(sizeof *y * (size_t)(n * ldy));
	float *dh = xmalloc(sizeof *dh * (size_t)(n * cols));   /* d_b / 2 of each activation */

	fill_x(x, n, ldx);
	/* q4_K, q5_K and q6_K in the decode form (fewer than 10 tokens, I8_GEMM_MIN) round the activations
	 * with one scale per super-block of 256, llama.cpp's Q8_K; every other product per block of 32 */
	int rb = (t == DS_Q4_K || t == DS_Q5_K || t == DS_Q6_K) && n < cur.k256_below ? 256 : 32;
	for (int i = 0; i < n; i++)
		for (long b = 0; b < cols; b += 32) {
			float amax = 0;
			for (int c = 0; c < rb; c++)
				amax = fmaxf(amax, fabsf(x[i * ldx + b / rb * rb + c]));
			float d = amax / 127;
			for (int c = 0; c < 32; c++)
				dh[i * cols + b + c] = d / 2;
		}
	for (long i = 0; i < n * ldy; i++)
		y[i] = -777;
	long r0 = 1, r1 = rows - 1;
	k->rows(&q.w, r0, r1, x, n, ldx, y, ldy);
	if (n >= k->packed_from(t)) {
		/* packed once per product (cpu_pack), then row blocks: rows()'s results bit for bit */
		float *xp = aligned_alloc(64, (k->pack_floats(t, n, cols) * sizeof(float) + 63) & ~(size_t)63);
		float *y2 = xmalloc(sizeof *y2 * (size_t)(n * ldy));
		for (long i = 0; i < n * ldy; i++)
			y2[i] = -777;
		k->pack(t, x, n, ldx, cols, xp);
		k->rows_packed(&q.w, r0, 3, xp, n, y2, ldy);
		k->rows_packed(&q.w, 3, r1, xp, n, y2, ldy);
		CHECK(memcmp(y, y2, sizeof *y * (size_t)(n * ldy)) == 0, "%s %ldx%ld, %d tokens: rows_packed in two "
		      "blocks differs from rows()", ds_dtype_get(t)->name, rows, cols, n);
		free(xp);
		free(y2);
	}
	if (cur.tokens_alone && k->packed_from(t) == 1 && n > 1 && (n % 7 == 2 || n == 33 || n == 13))
		for (int i = 0; i < n; i++) {
			float *y1 = xmalloc(sizeof *y1 * (size_t)ldy);
			k->rows(&q.w, r0, r1, x + (long)i * ldx, 1, ldx, y1, ldy);
			CHECK(memcmp(y1 + r0, y + (long)i * ldy + r0, sizeof *y1 * (size_t)(r1 - r0)) == 0, "%s %ldx%ld: token %d "
			      "of %d differs from a call with it alone", ds_dtype_get(t)->name, rows, cols, i, n);
			free(y1);
		}
	int bad = 0;
	for (int i = 0; i < n && bad < 3; i++) {
		if (y[i * ldy] != -777 || y[i * ldy + rows - 1] != -777 || y[i * ldy + rows] != -777) {
			CHECK(0, "%s %ldx%ld, %d tokens: a row outside [%ld, %ld) was written", ds_dtype_get(t)->name,
			      rows, cols, n, r0, r1);
			bad++;
		}
		for (long r = r0; r < r1 && bad < 3; r++) {
			double exact = 0, mag = 0, round = 0, fl = 0;
			for (long c = 0; c < cols; c++) {
				double w = q.deq[r * cols + c], xc = x[i * ldx + c], e = dh[i * cols + c];
				exact += w * xc;
				mag += fabs(w * xc);
				round += fabs(w) * e;
				fl += (fabs(w) + q.off[r * cols + c]) * (fabs(xc) + 2 * e);
			}
			double diff = fabs(y[i * ldy + r] - exact), bound = round * (1 + 1e-4) + 1e-5 * fl;
			if (!(diff <= bound)) {
				CHECK(0, "%s %ldx%ld, %d tokens: row %ld token %d is %.9g, exact %.9g (|diff| %.3g, "
				      "bound %.3g)", ds_dtype_get(t)->name, rows, cols, n, r, i, y[i * ldy + r], exact,
				      diff, bound);
				bad++;
			}
			if (round > 0 && diff / round > worst_ratio[ti])
				worst_ratio[ti] = diff / round;
			if (mag > 0) {
				sum_rel[ti] += diff / mag;
				n_rel[ti]++;
			}
		}
	}
	free(x);
	free(y);
	free(dh);
	free_qmat(&q);
}

/* Float weights and the vector kernels are the exact set's (cur.exact), bit for bit. */
static void test_delegated(const struct cpu_kernels *k)
{
	long rows = 9, cols = 80, n = 5;
	float *w = xmalloc(sizeof *w * (size_t)(rows * cols)), *x = xmalloc(sizeof *x * (size_t)(n * cols));
	float *y1 = xcalloc(256, sizeof *y1), *y2 = xcalloc(256, sizeof *y2);   /* n * rows, then a q4_K row */
	for (long i = 0; i < rows * cols; i++)
		w[i] = fix_rndf(&rng);
	for (long i = 0; i < n * cols; i++)
		x[i] = fix_rndf(&rng);
	struct ds_tensor t = { .dtype = DS_F32, .data = w, .rows = rows, .cols = cols };
	k->rows(&t, 0, rows, x, (int)n, cols, y1, rows);
	cur.exact->rows(&t, 0, rows, x, (int)n, cols, y2, rows);
	CHECK(memcmp(y1, y2, sizeof *y1 * (size_t)(n * rows)) == 0, "F32 rows differ from the %s set's", cur.exact->name);
	CHECK(k->dot(w, x, cols) == cur.exact->dot(w, x, cols), "dot differs from the %s set's", cur.exact->name);
	struct qmat q = make_qmat(DS_Q4_K, 3, 256);
	memset(y1, 0, sizeof *y1 * 256);
	memset(y2, 0, sizeof *y2 * 256);
	k->axpy_row(y1, 0.5f, &q.w, 1);
	cur.exact->axpy_row(y2, 0.5f, &q.w, 1);
	CHECK(memcmp(y1, y2, sizeof *y1 * 256) == 0,
	      "q4_K axpy_row differs from the %s set's (it stays exact)", cur.exact->name);
	free_qmat(&q);
	free(w), free(x), free(y1), free(y2);
}

/* q4_0/q5_0 decode gathers its groups of 4 blocks with VBMI byte permutes where the CPU has them:
 * the same codes, scales and sums as the scalar gathering, so the same outputs bit for bit, for whole
 * groups and a short last one (cols 416: 13 blocks), 1-5 tokens. */
static void test_vbmi_gather(const struct cpu_kernels *k)
{
	if (!cpu_kernels_have_avx512_vbmi()) {
		printf("this CPU lacks AVX-512 VBMI: the int8 set's permute gathering was not tested\n");
		return;
	}
	static const enum ds_dtype ts[] = { DS_Q4_0, DS_Q5_0 };
	static const long colss[] = { 416, 1408, 128 };
	for (size_t ti = 0; ti < 2; ti++)
		for (size_t ci = 0; ci < 3; ci++)
			for (int n = 1; n <= 5; n++) {
				long rows = 7, cols = colss[ci];
				struct qmat q = make_qmat(ts[ti], rows, cols);
				float *x = xmalloc(sizeof *x * (size_t)(n * cols));
				float *y1 = xmalloc(sizeof *y1 * (size_t)(n * rows)), *y0 = xmalloc(sizeof *y0 * (size_t)(n * rows));
				fill_x(x, n, cols);
				cpu_kernels_int8_vbmi(1);
				k->rows(&q.w, 0, rows, x, n, cols, y1, rows);
				cpu_kernels_int8_vbmi(0);
				k->rows(&q.w, 0, rows, x, n, cols, y0, rows);
				CHECK(memcmp(y1, y0, sizeof *y1 * (size_t)(n * rows)) == 0,
				      "%s, %ld columns, %d tokens: the VBMI gathering differs from the scalar one",
				      ds_dtype_get(ts[ti])->name, cols, n);
				free(x), free(y1), free(y0);
				free_qmat(&q);
			}
	cpu_kernels_int8_vbmi(1);
	printf("q4_0/q5_0 decode: the VBMI and scalar gatherings agree bit for bit\n");
}

/* Q8_0, Q4_K, Q5_K, Q6_K, Q4_0, Q5_0 and Q5_1 matrices in the rows4 layout (cpu-rows4.h: 4 rows interleaved per unit of
 * blocks): rows() and pack + rows_packed give the rows layout's results bit for bit, in every form a
 * set takes by the number of tokens (the AVX2 set: row tiles, and panels of 8 rows from 3, 5 or 16
 * tokens by type, up to 21), for row ranges that start and end inside a group; rows outside the
 * range are not written; the rows read back as floats the same; restoring gives the file's bytes back. */
static void test_rows4(const struct cpu_kernels *k)
{
	static const enum ds_dtype r4types[] = { DS_Q8_0, DS_Q4_K, DS_Q5_K, DS_Q6_K, DS_Q4_0, DS_Q5_0, DS_Q5_1 };
	/* rows, then columns for Q8_0, the K-quants, Q4_0/Q5_0/Q5_1 */
	static const long shapes[][4] = { { 8, 64, 256, 128 }, { 36, 2304, 2304, 1408 }, { 12, 2112, 1280, 2304 } };
	static const int ns[] = { 1, 2, 3, 4, 5, 9, 10, 13, 17, 21 };
	static const long ranges[][2] = { { 0, 0 }, { 1, -1 }, { 4, 0 }, { 3, -2 } };   /* r1 from rows */
	for (size_t ti = 0; ti < sizeof r4types / sizeof r4types[0]; ti++)
	for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
		enum ds_dtype t = r4types[ti];
		const char *tn = ds_dtype_get(t)->name;
		long rows = shapes[si][0];
		long cols = shapes[si][t == DS_Q8_0 ? 1 : t == DS_Q4_0 || t == DS_Q5_0 || t == DS_Q5_1 ? 3 : 2];
		if ((t == DS_Q5_K && !cur.rows4_k5) || (t == DS_Q5_1 && !cur.rows4_q51))
			continue;
		CHECK(k->rows4 != NULL && k->rows4(t), "the int8 set does not read %s in rows4", tn);
		struct qmat q = make_qmat(t, rows, cols);
		size_t rb = ds_row_bytes(t, cols), bytes = rb * (size_t)rows;
		uint8_t *d4 = xmalloc(bytes), *scratch = xmalloc(4 * rb);
		memcpy(d4, q.w.data, bytes);
		struct ds_tensor w4 = q.w;
		w4.data = d4;
		CHECK(cpu_rows4_fits(&q.w), "%s %ldx%ld does not fit rows4", tn, rows, cols);
		cpu_rows4_arrange(&w4, d4, scratch);
		w4.layout = DS_LAYOUT_ROWS4;
		CHECK(memcmp(d4, q.w.data, bytes) != 0, "rows4 left %s %ldx%ld as it was", tn, rows, cols);
		float *r_a = xmalloc(sizeof(float) * (size_t)cols), *r_b = xmalloc(sizeof(float) * (size_t)cols);
		for (long r = 0; r < rows; r++) {
			cpu_tensor_row(&q.w, r, r_a);
			cpu_tensor_row(&w4, r, r_b);
			CHECK(memcmp(r_a, r_b, sizeof(float) * (size_t)cols) == 0, "rows4 row %ld of %s %ldx%ld reads "
			      "back otherwise", r, tn, rows, cols);
			CHECK(cpu_tensor_at(&w4, r, cols - 1) == r_a[cols - 1], "rows4 %s element (%ld, %ld) differs", tn,
			      r, cols - 1);
		}
		for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
			for (size_t ri = 0; ri < sizeof ranges / sizeof ranges[0]; ri++) {
				int n = ns[ni];
				long r0 = ranges[ri][0], r1 = rows + ranges[ri][1], ldx = cols + 16, ldy = rows + 3;
				float *x = xmalloc(sizeof *x * (size_t)(n * ldx));
				float *y = xmalloc(sizeof *y * (size_t)(n * ldy)), *y4 = xmalloc(sizeof *y4 * (size_t)(n * ldy));
				fill_x(x, n, ldx);
				for (long i = 0; i < n * ldy; i++)
					y[i] = y4[i] = -777;
				k->rows(&q.w, r0, r1, x, n, ldx, y, ldy);
				k->rows(&w4, r0, r1, x, n, ldx, y4, ldy);
				CHECK(memcmp(y, y4, sizeof *y * (size_t)(n * ldy)) == 0, "%s %ldx%ld rows [%ld, %ld), %d "
				      "tokens: rows4 differs from the rows layout", tn, rows, cols, r0, r1, n);
				float *xp = aligned_alloc(64, (k->pack_floats(t, n, cols) * sizeof(float) + 63) & ~(size_t)63);
				for (long i = 0; i < n * ldy; i++)
					y4[i] = -777;
				k->pack(t, x, n, ldx, cols, xp);
				k->rows_packed(&w4, r0, r0 + (r1 - r0) / 2, xp, n, y4, ldy);
				k->rows_packed(&w4, r0 + (r1 - r0) / 2, r1, xp, n, y4, ldy);
				CHECK(memcmp(y, y4, sizeof *y * (size_t)(n * ldy)) == 0, "%s %ldx%ld rows [%ld, %ld), %d "
				      "tokens: rows4 rows_packed in two blocks differs from rows()", tn, rows, cols, r0, r1, n);
				free(xp), free(x), free(y), free(y4);
			}
		cpu_rows4_restore(&w4, d4, scratch);
		CHECK(memcmp(d4, q.w.data, bytes) == 0, "rows4 of %s %ldx%ld restored is not the original", tn, rows,
		      cols);
		free(r_a), free(r_b), free(d4), free(scratch);
		free_qmat(&q);
	}
	struct ds_tensor odd_rows = { .dtype = DS_Q8_0, .rows = 6, .cols = 64 };
	struct ds_tensor odd_blocks = { .dtype = DS_Q8_0, .rows = 8, .cols = 96 };
	struct ds_tensor q4 = { .dtype = DS_Q4_0, .rows = 8, .cols = 96 };
	CHECK(!cpu_rows4_fits(&odd_rows) && !cpu_rows4_fits(&odd_blocks) && !cpu_rows4_fits(&q4),
	      "rows4 claims shapes or types it has no form for");
	printf("q8_0, q4_K,%s q6_K, q4_0, q5_0%s rows4: the same sums as the rows layout, bit for bit\n",
	       cur.rows4_k5 ? " q5_K," : "", cur.rows4_q51 ? ", q5_1" : "");
}

/* The absorb from uk4 tables (cpu-uk4.h) of Q4_K kv_b_proj rows against the exact sum down the
 * rows: the VNNI kernel equal to the portable reference bit for bit, both within the rounding of
 * the rows' weights to 15 bits, |y_k - exact| <= scale (7.5 nope U_s (1 + 1e-3) + 1e-5 sum_j |q_j|
 * (|W_jk| + |o_jk|)) with U_s = max_j |q_j d_j sc_js| / 16319 for k's sub-block s. */
static void test_uk4(const struct cpu_kernels *k, int heads, int nope, int vd, long kr, int zero_q)
{
	struct qmat m = make_qmat(DS_Q4_K, (long)heads * (nope + vd), kr);
	const size_t hb = cpu_uk4_head_bytes(nope, kr), rb = ds_row_bytes(DS_Q4_K, kr);
	uint8_t *t = aligned_alloc(64, hb * (size_t)heads);
	float *q = xmalloc(sizeof *q * (size_t)nope), *y = xmalloc(sizeof *y * (size_t)kr),
	      *yr = xmalloc(sizeof *yr * (size_t)kr);
	const float scale = 0.0883883f;
	double worst = 0, sum_err = 0, sum_ex = 0;

	CHECK(cpu_uk4_fits(&m.w, heads, nope, vd), "uk4 refuses a Q4_K kv_b of %d heads, %d + %d rows, %ld wide",
	      heads, nope, vd, kr);
	for (int h = 0; h < heads; h++) {
		const long row0 = (long)h * (nope + vd);
		cpu_uk4_build(&m.w, h, nope, vd, t + (size_t)h * hb);
		fill_x(q, 1, nope);
		for (int j = 0; j < nope; j++)
			q[j] = zero_q ? 0 : q[j] * (j % 7 == 3 ? 30.0f : 1.0f);
		k->absorb_uk4(y, q, scale, t + (size_t)h * hb, nope, kr);
		cpu_uk4_absorb_ref(yr, q, scale, t + (size_t)h * hb, nope, kr);
		CHECK(memcmp(y, yr, sizeof *y * (size_t)kr) == 0, "uk4 absorb (%d heads, nope %d, %ld wide, head %d): "
		      "the %s kernel differs from the reference", heads, nope, kr, h, k->name);
		for (long c = 0; c < kr; c++) {
			double ex = 0, mag = 0, umax = 0;
			for (int j = 0; j < nope; j++) {
				long r = row0 + j;
				const uint8_t *blk = (const uint8_t *)m.w.data + (size_t)r * rb + (size_t)(c / 256) * 144;
				uint64_t sc, mn;
				ds_k_scales8(blk + 4, &sc, &mn);
				double w = fabs((double)q[j] * ds_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8)) *
						(double)(uint8_t)(sc >> (8 * (c % 256 / 32))));
				umax = w > umax ? w : umax;
				ex += (double)q[j] * m.deq[r * kr + c];
				mag += fabs(q[j]) * (fabs(m.deq[r * kr + c]) + m.off[r * kr + c]);
			}
			ex *= scale;
			double bound = scale * (7.5 * nope * umax / CPU_UK4_EMAX * (1 + 1e-3) + 1e-5 * mag) + 1e-30;
			double ratio = fabs(y[c] - ex) / bound;
			sum_err += fabs(y[c] - ex);
			sum_ex += fabs(ex);
			worst = ratio > worst ? ratio : worst;
			if (zero_q)
				CHECK(y[c] == 0, "uk4 absorb of q = 0 gave %g at column %ld", y[c], c);
			if (ratio > 1) {
				CHECK(0, "uk4 absorb (%d heads, nope %d, %ld wide, head %d) column %ld: %.9g, exact %.9g "
				      "(bound %.3g)", heads, nope, kr, h, c, y[c], ex, bound);
				break;
			}
		}
	}
	printf("uk4 absorb (%s), %d heads, nope %d, %ld wide%s: kernel = reference bit for bit; worst |y - exact| / "
	       "bound %.3f, mean |y - exact| / mean |exact| %.1e\n", k->name, heads, nope, kr, zero_q ? ", q = 0" : "", worst,
	       sum_ex > 0 ? sum_err / sum_ex : 0);
	free(t);
	free(q);
	free(y);
	free(yr);
	free_qmat(&m);
}

/* Every test on one set, after DSCODER_KERNELS=env picked it in a child process */
static void test_set(const struct int8_set *set, const char *env)
{
	const struct cpu_kernels *k = set->k;
	cur = *set;
	memset(worst_ratio, 0, sizeof worst_ratio);
	memset(sum_rel, 0, sizeof sum_rel);
	memset(n_rel, 0, sizeof n_rel);
	printf("--- %s (DSCODER_KERNELS=%s)\n", k->name, env);
	for (size_t ti = 0; ti < N_TYPES; ti++) {
		int kq = ds_dtype_get(types[ti])->block == 256;
		for (int n = 1; n <= 70; n++)
			test_rows(k, (int)ti, n % 2 ? 37 : 6, 256, n);
		static const int few[] = { 1, 2, 3, 5, 8, 13, 33 };
		for (size_t i = 0; i < sizeof few / sizeof few[0]; i++) {
			test_rows(k, (int)ti, 21, 2304, few[i]);
			if (!kq)
				test_rows(k, (int)ti, 19, 2080, few[i]);
		}
		printf("%-5s worst |y - exact| / (rounding bound sum |w| d/2): %.3f; mean |y - exact| / sum |w x|: "
		       "%.2e\n", ds_dtype_get(types[ti])->name, worst_ratio[ti], sum_rel[ti] / (double)n_rel[ti]);
	}
	test_rows4(k);
	test_delegated(k);
}

/* The largest codes against activation codes of 127 in every form of the AVX2 set (row tiles of 1-4
 * tokens, panels from 3, 5 or 16 tokens, rows4), whose sums go through 16 bits (vpmaddubsw pairs
 * added before vpmaddwd): one that could overflow would be far off. (The VNNI set widens each
 * vpmaddubsw pair at once, by vpdpwssd or vpdpbusd, so it has no such sums.) */
static void test_extreme(const struct int8_set *set, const char *env)
{
	cur = *set;
	extreme = 1;
	static const int big[] = { 1, 2, 3, 4, 5, 8, 16, 17, 24 };
	for (size_t ti = 0; ti < N_TYPES; ti++)
		for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
			test_rows(set->k, (int)ti, 37, 256, big[i]);
	test_rows4(set->k);
	extreme = 0;
	printf("%s: the largest codes against activation codes of 127 within the bound, every form\n", env);
}

/* DSCODER_KERNELS=env chooses set k, asked of a process of its own (a process chooses once) */
static void check_chosen(const char *self, const char *env, const struct cpu_kernels *k)
{
	char *cmd = xasprintf("INT8_TEST_CHOOSE='%s' DSCODER_KERNELS=%s '%s'", k->name, env, self);
	CHECK(system(cmd) == 0, "DSCODER_KERNELS=%s did not choose %s", env, k->name);
	free(cmd);
}

int main(int argc, char **argv)
{
	(void)argc;
	const char *choose = getenv("INT8_TEST_CHOOSE");
	if (choose != NULL)   /* check_chosen's child: which set did DSCODER_KERNELS pick? */
		return strcmp(cpu_kernels_best()->name, choose) == 0 ? 0 : 1;
	int ran = 0;
#if defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)
	if (cpu_kernels_have_avx512_int8()) {
		check_chosen(argv[0], "avx512-int8", &cpu_kernels_avx512_int8);
		const struct int8_set s = { &cpu_kernels_avx512_int8, &cpu_kernels_avx512, 10, true, false };
		const struct cpu_kernels *k = s.k;
		test_set(&s, "avx512-int8");
		/* q4_0/q5_0 decode again on the scalar gathering (the above ran on VBMI where the CPU has it) */
		int vbmi = cpu_kernels_int8_vbmi(-1);
		cpu_kernels_int8_vbmi(0);
		for (size_t ti = 0; ti < N_TYPES; ti++)
			if (types[ti] == DS_Q4_0 || types[ti] == DS_Q5_0)
				for (int n = 1; n <= 5; n++) {
					test_rows(k, (int)ti, 21, 2304, n);
					test_rows(k, (int)ti, 19, 2080, n);
				}
		cpu_kernels_int8_vbmi(vbmi);
		test_vbmi_gather(k);
		test_uk4(k, 3, 16, 8, 256, 0);
		test_uk4(k, 2, 128, 128, 512, 0);
		test_uk4(k, 1, 32, 0, 768, 1);
		ran = 1;
	} else {
		printf("this CPU lacks AVX-512 VNNI: the avx512-int8 set was not tested\n");
	}
#endif
	if (cpu_kernels_have_avx2()) {
		check_chosen(argv[0], "avx2-int8", &cpu_kernels_avx2_int8);
		const struct int8_set s = { &cpu_kernels_avx2_int8, &cpu_kernels_avx2, INT_MAX, true, true, true };
		test_set(&s, "avx2-int8");
		test_extreme(&s, "avx2-int8");
		test_uk4(s.k, 3, 16, 8, 256, 0);
		test_uk4(s.k, 2, 128, 128, 512, 0);
		test_uk4(s.k, 1, 32, 0, 768, 1);
		ran = 1;
	}
	if (!ran) {
		printf("SKIP: this CPU has neither int8 set (no AVX2)\n");
		return 77;
	}
	return fix_failures ? 1 : 0;
}

#else

int main(void)
{
	(void)rnd;
	printf("SKIP: this build has no AVX2 kernels\n");
	return 77;
}

#endif

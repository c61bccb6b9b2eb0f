/* test-bf16-kernels.c: the opt-in BF16 set (cpu_kernels_avx512_bf16) on BF16 weights against sums in
 * double: random weights, odd row counts and row ranges, token counts 1..40, 100 and 140 (the decode
 * tiles from 2 to 15 tokens, the matrix product from 16 on 96 rows or more, the exact set's on one token
 * and on fewer rows),
 * row lengths 64, 1000 (a masked last line), 2048 and 2050 (a last pair past the 64-byte lines), strided
 * x and y; pack + rows_packed equal to rows() bit for bit; an odd row length, the other weight types and
 * the vector kernels equal to the exact AVX-512 set's bit for bit; DSCODER_KERNELS=avx512-bf16 picks it.
 * Exits 77 where the CPU (or the build) lacks AVX-512 BF16.
 *
 * Two bounds. With xb the activations rounded to BF16 to nearest even, the products w xb are exact in
 * F32 and only the F32 sums round: |y - sum w xb| <= (k + 64) 2^-24 sum |w xb| (each product passes
 * through at most k + a few additions). And against the exact sum of w x, the rounding of x adds
 * |x - xb| <= 2^-8 |x| (half a unit in the 8th bit): |y - sum w x| <= 2^-8 sum |w x| + the F32 term. A wrong lane, pair or token is
 * off by about |w x| per weight, far past both; a rounding that truncates fails the first. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu-kernels.h"
#include "xalloc.h"
#include "fixture-util.h"

static uint64_t rng = 0x5bd1e9955bd1e995ull;

static uint32_t rnd(void)
{
	return (uint32_t)(fix_xorshift(&rng) >> 11);
}

#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512BF16_TARGET)

#include "packed-check.h"

/* x rounded to BF16, nearest even (finite x) */
static float round_bf16(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
	memcpy(&x, &u, 4);
	return x;
}

/* BF16 weights as checkpoints have them: |w| in 2^-10 .. 2^1, either sign */
static struct ds_tensor make_bf16(long rows, long cols)
{
	uint16_t *d = xmalloc(sizeof *d * (size_t)(rows * cols) + 64);
	for (long i = 0; i < rows * cols; i++)
		d[i] = (uint16_t)((rnd() & 1) << 15 | (117 + rnd() % 12) << 7 | (rnd() & 0x7f));
	return (struct ds_tensor){ .dtype = DS_BF16, .data = d, .rows = rows, .cols = cols };
}

/* mostly values in [-1, 1], an outlier now and then, some tokens scaled far from 1 */
static void fill_x(float *x, int n, long ldx)
{
	for (int i = 0; i < n; i++) {
		float s = i % 5 == 3 ? 1e3f : i % 5 == 4 ? 1e-3f : 1;
		for (long c = 0; c < ldx; c++)
			x[i * ldx + c] = s * fix_rndf(&rng) * (rnd() % 61 == 0 ? 20.0f : 1.0f);
	}
}

static double worst_f32, worst_x, sum_rel;
static long n_rel;

static void test_rows(const struct cpu_kernels *k, long rows, long cols, int n, long r0, long r1)
{
	struct ds_tensor w = make_bf16(rows, cols);
	long ldx = cols + 16, ldy = rows + 3;
	float *x = xmalloc(sizeof *x * (size_t)(n * ldx)), *y = xmalloc(sizeof *y * (size_t)(n * ldy));

	fill_x(x, n, ldx);
	for (long i = 0; i < n * ldy; i++)
		y[i] = -777;
	k->rows(&w, r0, r1, x, n, ldx, y, ldy);
	if (n == 1 || (n >= 16 && r1 - r0 < 96)) {
		/* one token, or many tokens on a few rows: the exact set's, bit for bit */
		float *ye = xmalloc(sizeof *ye * (size_t)(n * ldy));
		for (long i = 0; i < n * ldy; i++)
			ye[i] = -777;
		cpu_kernels_avx512.rows(&w, r0, r1, x, n, ldx, ye, ldy);
		CHECK(memcmp(y, ye, sizeof *y * (size_t)(n * ldy)) == 0, "%ldx%ld, %d tokens on %ld rows: not the "
		      "exact set's sums", rows, cols, n, r1 - r0);
		free(ye);
		goto done;
	}
	int bad = 0;
	for (int i = 0; i < n && bad < 3; i++) {
		for (long r = 0; r < rows; r++)
			if ((r < r0 || r >= r1) && y[i * ldy + r] != -777 && bad++ < 3)
				CHECK(0, "%ldx%ld, %d tokens: row %ld outside [%ld, %ld) was written", rows, cols, n, r, r0, r1);
		if (y[i * ldy + rows] != -777 && bad++ < 3)
			CHECK(0, "%ldx%ld, %d tokens: past the last row was written", rows, cols, n);
		for (long r = r0; r < r1 && bad < 3; r++) {
			double exact = 0, exb = 0, mag = 0, magb = 0;
			for (long c = 0; c < cols; c++) {
				double wc = cpu_tensor_at(&w, r, c), xc = x[i * ldx + c], xb = round_bf16(x[i * ldx + c]);
				exact += wc * xc;
				exb += wc * xb;
				mag += fabs(wc * xc);
				magb += fabs(wc * xb);
			}
			double v = y[i * ldy + r], fl = (double)(cols + 64) * ldexp(1, -24) * magb;
			double dx = fabs(v - exact), db = fabs(v - exb), bx = ldexp(1, -8) * mag + fl;
			if (!(db <= fl) || !(dx <= bx)) {
				CHECK(0, "%ldx%ld, %d tokens: row %ld token %d is %.9g; with x rounded to BF16 %.9g "
				      "(|diff| %.3g, bound %.3g), exact %.9g (|diff| %.3g, bound %.3g)", rows, cols, n, r,
				      i, v, exb, db, fl, exact, dx, bx);
				bad++;
			}
			if (magb > 0 && db / (ldexp(1, -24) * magb) > worst_f32)
				worst_f32 = db / (ldexp(1, -24) * magb);
			if (mag > 0) {
				if (dx / (ldexp(1, -8) * mag) > worst_x)
					worst_x = dx / (ldexp(1, -8) * mag);
				sum_rel += dx / mag;
				n_rel++;
			}
		}
	}
done:
	free(x);
	free(y);
	free((void *)w.data);
}

/* pack + rows_packed in blocks against rows() on 96 rows or more (the product form both take) */
static void test_packed(const struct cpu_kernels *k, long rows, long cols, int n)
{
	struct ds_tensor w = make_bf16(rows, cols);
	long ldx = cols + 5;
	float *x = xmalloc(sizeof *x * (size_t)(n * ldx));
	fill_x(x, n, ldx);
	packed_check(k, &w, x, n, ldx, 24, "bf16");
	packed_check(k, &w, x, n, ldx, 37, "bf16");
	free(x);
	free((void *)w.data);
}

/* What the set does not round is the exact set's, bit for bit: other weight types, an odd row length
 * (no pairs), the vector kernels */
static void same_as_exact(const struct cpu_kernels *k, const struct ds_tensor *w, int n, const char *what)
{
	long ldx = (long)w->cols, rows = (long)w->rows;
	float *x = xmalloc(sizeof *x * (size_t)(n * ldx));
	float *y1 = xcalloc((size_t)(n * rows), sizeof *y1), *y2 = xcalloc((size_t)(n * rows), sizeof *y2);
	fill_x(x, n, ldx);
	k->rows(w, 0, rows, x, n, ldx, y1, rows);
	cpu_kernels_avx512.rows(w, 0, rows, x, n, ldx, y2, rows);
	CHECK(memcmp(y1, y2, sizeof *y1 * (size_t)(n * rows)) == 0, "%s, %d tokens: rows differ from the AVX-512 "
	      "set's", what, n);
	if (n >= k->packed_from(w->dtype)) {
		float *xp = NULL;
		if (posix_memalign((void **)&xp, 64, k->pack_floats(w->dtype, n, ldx) * sizeof *xp) != 0)
			abort();
		k->pack(w->dtype, x, n, ldx, ldx, xp);
		memset(y1, 0, sizeof *y1 * (size_t)(n * rows));
		k->rows_packed(w, 0, rows, xp, n, y1, rows);
		CHECK(memcmp(y1, y2, sizeof *y1 * (size_t)(n * rows)) == 0, "%s, %d tokens: packed differs from the "
		      "AVX-512 set's rows", what, n);
		free(xp);
	}
	free(x), free(y1), free(y2);
}

static void test_delegated(const struct cpu_kernels *k)
{
	static const enum ds_dtype types[] = { DS_F32, DS_F16, DS_Q8_0 };
	long rows = 101, cols = 256;
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		size_t bytes = ds_row_bytes(types[ti], cols) * (size_t)rows;
		uint8_t *d = xmalloc(bytes);
		for (size_t i = 0; i < bytes; i++)
			d[i] = (uint8_t)rnd();
		if (types[ti] == DS_F32 || types[ti] == DS_F16)   /* finite values */
			for (long i = 0; i < rows * cols; i++) {
				if (types[ti] == DS_F32)
					((float *)(void *)d)[i] = fix_rndf(&rng);
				else
					((uint16_t *)(void *)d)[i] = (uint16_t)((rnd() & 0x83ff) | (10 + rnd() % 8) << 10);
			}
		else
			for (long r = 0; r < rows; r++)   /* q8_0: each block's scale a small half */
				for (long b = 0; b < cols / 32; b++) {
					uint8_t *blk = d + (size_t)r * ds_row_bytes(types[ti], cols) + (size_t)b * 34;
					blk[0] = 0;
					blk[1] = (uint8_t)(0x20 + rnd() % 8);
				}
		struct ds_tensor w = { .dtype = types[ti], .data = d, .rows = rows, .cols = cols };
		same_as_exact(k, &w, 3, ds_dtype_get(types[ti])->name);
		same_as_exact(k, &w, 40, ds_dtype_get(types[ti])->name);
		float y1[256] = { 0 }, y2[256] = { 0 };
		k->axpy_row(y1, 0.5f, &w, 7);
		cpu_kernels_avx512.axpy_row(y2, 0.5f, &w, 7);
		CHECK(memcmp(y1, y2, sizeof y1) == 0, "%s axpy_row differs from the AVX-512 set's",
		      ds_dtype_get(types[ti])->name);
		free(d);
	}
	struct ds_tensor odd = make_bf16(101, 255);
	same_as_exact(k, &odd, 3, "BF16 with an odd row length");
	same_as_exact(k, &odd, 40, "BF16 with an odd row length");
	free((void *)odd.data);
	float a[100], b[100];
	for (int i = 0; i < 100; i++)
		a[i] = fix_rndf(&rng), b[i] = fix_rndf(&rng);
	CHECK(k->dot(a, b, 100) == cpu_kernels_avx512.dot(a, b, 100), "dot differs from the AVX-512 set's");
}

int main(void)
{
	if (!cpu_kernels_have_avx512_bf16()) {
		printf("SKIP: this CPU lacks AVX-512 BF16: the bf16 set cannot run here\n");
		return 77;
	}
	setenv("DSCODER_KERNELS", "avx512-bf16", 1);
	const struct cpu_kernels *k = cpu_kernels_best();
	CHECK(k == &cpu_kernels_avx512_bf16, "DSCODER_KERNELS=avx512-bf16 chose %s", k->name);
	k = &cpu_kernels_avx512_bf16;

	static const long ks[] = { 64, 1000, 2048, 2050 };
	for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
		long cols = ks[ki];
		/* decode tiles (and the exact set's on fewer than 96 rows past 16 tokens) */
		for (int n = 1; n <= 40; n++)
			test_rows(k, n % 2 ? 23 : 10, cols, n, 1, n % 2 ? 22 : 9);
		/* the product form: 96 rows or more, a last panel of fewer than 12 rows */
		static const int many[] = { 16, 17, 31, 33, 40, 100, 140 };
		for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
			test_rows(k, 131, cols, many[i], 2, 131);
		for (int n = 1; n <= 15; n += 7)
			test_rows(k, 131, cols, n, 3, 130);
		for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
			test_packed(k, 133, cols, many[i]);
	}
	printf("worst |y - sum w bf16(x)| / (2^-24 sum |w x|): %.1f (bound k + 64); worst |y - exact| / "
	       "(2^-8 sum |w x|): %.3f; mean |y - exact| / sum |w x|: %.2e\n", worst_f32, worst_x,
	       sum_rel / (double)n_rel);
	test_delegated(k);
	return fix_failures ? 1 : 0;
}

#else

int main(void)
{
	(void)rnd;
	printf("SKIP: this build has no AVX-512 BF16 kernels\n");
	return 77;
}

#endif

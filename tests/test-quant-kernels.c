/* test-quant-kernels.c: every CPU kernel set on every block-quantized type (q8_0, q4_0, q4_1, q5_0,
 * q5_1, q4_K, q5_K, q6_K) against exact math on the weights as the format's decoder gives them: random blocks with
 * extreme scales (subnormal, huge, zero, negative), token counts 1..7, 13, 20 and 50 (the fused form
 * and the prefill tiles of each set), row ranges off the tiles, widths past the decode panel; one-hot activations
 * that must give the decoded weights bit for bit; axpy_row; and the DSCODER_KERNELS choice. The
 * AVX-512 set runs twice: its quantized decode with codes as subnormal floats and widened.
 *
 * The bound: |y - exact| <= QK_TOL * sum over c of (|w_c| + 2 |m_c|) |x_c|, where exact is the sum
 * in double of w_c x_c, and m_c the offset of c's block or sub-block: dmin * m in q4_K/q5_K, the
 * min in q4_1/q5_1, 16 d in q5_0, 8 d in q4_0, 32 d * sc in q6_K (0 in q8_0). That sum bounds every
 * term the kernels add (the K-quant kernels sum d*sc*q*x and m*x apart; the AVX-512 set's q6_K sums
 * d*sc*q*x over codes 0-63 and 32 d*sc*x apart, its q4_0 and q5_0 d*q*x over codes 0-15 or 0-31 and
 * 8 d*x or 16 d*x apart), so the bound says: F32 rounding of sums of at
 * most a few thousand terms, and nothing
 * coarser (no activation rounded to 8 or 16 bits). */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu/cpu-kernels.h"
#include "xalloc.h"
#include "fixture-util.h"
#include "packed-check.h"

#define QK_TOL 2e-6

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t rnd(void)
{
	return (uint32_t)(fix_xorshift(&rng) >> 11);
}

/* A half for a scale: mostly 2^-10..2^0, sometimes subnormal, zero, huge (up to 2^15) or negative. */
static uint16_t rnd_scale(void)
{
	uint32_t k = rnd() % 16, sign = (rnd() % 8 == 0) << 15, mant = rnd() & 0x3ff;
	if (k == 0)
		return (uint16_t)(sign | mant);                  /* subnormal (or zero) */
	if (k == 1)
		return 0;
	if (k == 2)
		return (uint16_t)(sign | (26 + rnd() % 4) << 10 | mant);   /* 2^11 .. 2^14 */
	return (uint16_t)(sign | (5 + rnd() % 11) << 10 | mant);
}

static void put16(uint8_t *p, uint16_t h)
{
	p[0] = (uint8_t)h;
	p[1] = (uint8_t)(h >> 8);
}

/* One random block of type t at b. */
static void rnd_block(enum ds_dtype t, uint8_t *b)
{
	size_t n = ds_dtype_get(t)->block_bytes;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
	switch (t) {
	case DS_Q8_0: case DS_Q4_0: put16(b, rnd_scale()); break;
	case DS_Q5_0: put16(b, rnd_scale()); break;
	case DS_Q4_1: case DS_Q5_1: case DS_Q4_K: case DS_Q5_K: put16(b, rnd_scale()); put16(b + 2, rnd_scale()); break;
	default: put16(b + 208, rnd_scale()); break;
	}
}

/* The offset dmin*m of each weight's sub-block: minus the value a block with all quants 0 gives. */
static void block_offsets(enum ds_dtype t, const uint8_t *b, float *m)
{
	int blk = ds_dtype_get(t)->block;
	/* bytes of scales and mins before the quants */
	size_t head = t == DS_Q4_K || t == DS_Q5_K ? 16 : t == DS_Q4_1 || t == DS_Q5_1 ? 4 :
		      t == DS_Q5_0 || t == DS_Q4_0 ? 2 : t == DS_Q6_K ? 18 : 0;
	if (head == 0) {
		memset(m, 0, sizeof *m * (size_t)blk);
		return;
	}
	uint8_t z[210];
	memset(z, 0, sizeof z);
	if (t == DS_Q6_K)
		memcpy(z + 192, b + 192, 18);   /* scales and d after the codes */
	else
		memcpy(z, b, head);
	ds_dtype_get(t)->to_float(z, m, blk);
	for (int i = 0; i < blk; i++)
		m[i] = -m[i];
}

struct qmat {
	enum ds_dtype t;
	struct ds_tensor w;
	float *deq, *off;   /* rows x cols: the decoded weights, the sub-block offsets */
};

static struct qmat make_qmat(enum ds_dtype t, long rows, long cols)
{
	const struct ds_dtype_info *info = ds_dtype_get(t);
	size_t rb = ds_row_bytes(t, cols);
	uint8_t *data = xmalloc(rb * (size_t)rows + 1);
	struct qmat q = { .t = t, .deq = xmalloc(sizeof(float) * (size_t)(rows * cols)),
			  .off = xmalloc(sizeof(float) * (size_t)(rows * cols)) };
	for (long r = 0; r < rows; r++)
		for (long c = 0; c < cols; c += info->block) {
			uint8_t *b = data + (size_t)r * rb + (size_t)(c / info->block) * info->block_bytes;
			rnd_block(t, b);
			info->to_float(b, q.deq + r * cols + c, info->block);
			block_offsets(t, b, q.off + r * cols + c);
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

static double worst_ratio[8];

/* Token i's activations are scale[i] times random values in [-1, 1) (scale NULL: 1, with every
 * fifth token at 1e4 and at 1e-4); where spike is set, each token's column 5 is spike times its scale
 * (a wide range within one token) */
static void test_rows_scaled(const struct cpu_kernels *k, int si, enum ds_dtype t, long rows, long cols, int n,
			     const float *scale, float spike)
{
	struct qmat q = make_qmat(t, rows, cols);
	long ldx = cols + 16, ldy = rows + 3;
	float *x = xmalloc(sizeof *x * (size_t)(n * ldx)), *y = xmalloc(sizeof *y * (size_t)(n * ldy));
	for (int i = 0; i < n; i++) {
		/* some tokens far from 1 in size */
		float s = scale != NULL ? scale[i] : i % 5 == 3 ? 1e4f : i % 5 == 4 ? 1e-4f : 1;
		for (long c = 0; c < ldx; c++)
			x[i * ldx + c] = s * fix_rndf(&rng);
		if (spike != 0 && cols > 5)
			x[i * ldx + 5] = s * spike;
	}
	for (long i = 0; i < n * ldy; i++)
		y[i] = -777;
	long r0 = rows > 2 ? 1 : 0, r1 = rows > 3 ? rows - 1 : rows;
	k->rows(&q.w, r0, r1, x, n, ldx, y, ldy);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		CHECK(r0 == 0 || y[i * ldy] == -777, "%s %s: row %ld below the range was written", k->name,
		      ds_dtype_get(t)->name, r0 - 1);
		for (long r = r0; r < r1; r++) {
			double exact = 0, mag = 0;
			for (long c = 0; c < cols; c++) {
				double w = q.deq[r * cols + c], xc = x[i * ldx + c];
				exact += w * xc;
				mag += (fabs(w) + 2 * fabs((double)q.off[r * cols + c])) * fabs(xc);
			}
			/* sums past F32's range are not asked for; sums in its subnormal range lose up to
			 * half of 2^-149 an addition */
			if (mag >= 0x1p126)
				continue;
			double got = y[i * ldy + r], err = fabs(got - exact);
			if (mag > 0x1p-100 && err / mag > worst_ratio[si])
				worst_ratio[si] = err / mag;
			if (!(err <= QK_TOL * mag + (double)cols * 0x1p-150) && bad++ < 3)
				CHECK(0, "%s %s %ldx%ld, %d tokens: row %ld token %d is %.9g, exact %.9g (|diff| %.3g, bound %.3g)",
				      k->name, ds_dtype_get(t)->name, rows, cols, n, r, i, got, exact, err,
				      QK_TOL * mag + (double)cols * 0x1p-150);
		}
	}
	free(x);
	free(y);
	free_qmat(&q);
}

static void test_rows(const struct cpu_kernels *k, int si, enum ds_dtype t, long rows, long cols, int n)
{
	test_rows_scaled(k, si, t, rows, cols, n, NULL, 0);
}

/* Activations at the edges of the AVX-512 set's scaled q4_K form (2^100 and 2^-100: inside, it
 * scales them; outside, it widens the codes instead), all zero, subnormal, and one token far outside
 * among ordinary ones (the whole product then takes the widening form): each within the bound */
static void test_magnitudes(const struct cpu_kernels *k, int si, enum ds_dtype t)
{
	static const float one[][4] = {
		{ 0x1p99f, 0x1p99f, 0x1p99f, 0x1p99f }, { 0x1p-99f, 0x1p-99f, 0x1p-99f, 0x1p-99f },
		{ 0x1p101f, 0x1p101f, 0x1p101f, 0x1p101f }, { 0x1p-101f, 0x1p-101f, 0x1p-101f, 0x1p-101f },
		{ 0, 0, 0, 0 }, { 0x1p-140f, 0x1p-140f, 0x1p-140f, 0x1p-140f },
		{ 1, 0x1p101f, 1e-3f, 0 }, { 1, 1e-3f, 0x1p-120f, 7 },
	};
	long cols = ds_dtype_get(t)->block == 32 ? 384 : 768;
	for (size_t c = 0; c < sizeof one / sizeof one[0]; c++)
		for (int n = 1; n <= 4; n++)
			test_rows_scaled(k, si, t, 13, cols, n, one[c], 0);
	/* one column 2^40 times the rest: the products of the others come within 2^-60 of the
	 * largest, far inside the normal range either way */
	static const float wide[4] = { 0x1p50f, 1, 0x1p-60f, 3 };
	test_rows_scaled(k, si, t, 13, cols, 1, wide, 0x1p40f);
	test_rows_scaled(k, si, t, 13, cols, 4, wide, 0x1p40f);
}

/* One-hot activations pick single weights: every form must give the decoded value bit for bit. */
static void test_onehot(const struct cpu_kernels *k, enum ds_dtype t, int n)
{
	long rows = 9, cols = 2304;
	struct qmat q = make_qmat(t, rows, cols);
	float *x = xcalloc((size_t)(n * cols), sizeof *x), *y = xmalloc(sizeof *y * (size_t)(n * rows));
	long *col = xmalloc(sizeof *col * (size_t)n);
	for (int i = 0; i < n; i++) {
		col[i] = (long)(rnd() % (uint32_t)cols);
		x[i * cols + col[i]] = 1;
	}
	k->rows(&q.w, 0, rows, x, n, cols, y, rows);
	int bad = 0;
	for (int i = 0; i < n; i++)
		for (long r = 0; r < rows; r++) {
			float want = q.deq[r * cols + col[i]], got = y[i * rows + r];
			if (memcmp(&want, &got, sizeof want) != 0 && !(want == 0 && got == 0) && bad++ < 3)
				CHECK(0, "%s %s, %d one-hot tokens: weight (%ld, %ld) comes out %.9g, decoded %.9g",
				      k->name, ds_dtype_get(t)->name, n, r, col[i], got, want);
		}
	free(x);
	free(y);
	free(col);
	free_qmat(&q);
}

static void test_axpy_row(const struct cpu_kernels *k, enum ds_dtype t)
{
	long rows = 3, cols = 1280;
	struct qmat q = make_qmat(t, rows, cols);
	float *y = xmalloc(sizeof *y * (size_t)cols), a = 0.37f;
	double *want = xmalloc(sizeof *want * (size_t)cols);
	for (long c = 0; c < cols; c++)
		want[c] = y[c] = fix_rndf(&rng);
	k->axpy_row(y, a, &q.w, 1);
	int bad = 0;
	for (long c = 0; c < cols; c++) {
		want[c] += (double)a * q.deq[cols + c];
		double mag = fabs((double)a * q.deq[cols + c]) + fabs(want[c]);
		if (!(fabs(y[c] - want[c]) <= 2.5e-7 * mag) && bad++ < 3)
			CHECK(0, "%s %s axpy_row: column %ld is %.9g, want %.9g", k->name, ds_dtype_get(t)->name, c,
			      y[c], want[c]);
	}
	free(y);
	free(want);
	free_qmat(&q);
}

/* The set's packed product equals its rows() bit for bit */
static void test_packed(const struct cpu_kernels *k, enum ds_dtype t)
{
	for (size_t s = 0; s < sizeof packed_check_ns / sizeof packed_check_ns[0]; s++) {
		int n = packed_check_ns[s];
		long blk = ds_dtype_get(t)->block, cols = blk * (3 + (long)s % 4) * (blk == 32 ? 6 : 1), ldx = cols + 16;
		struct qmat q = make_qmat(t, 100 + (long)s, cols);
		float *x = xmalloc(sizeof *x * (size_t)n * (size_t)ldx);
		for (long i = 0; i < n * ldx; i++)
			x[i] = fix_rndf(&rng);
		packed_check(k, &q.w, x, n, ldx, 24, ds_dtype_get(t)->name);
		free(x);
		free_qmat(&q);
	}
}

static const enum ds_dtype types[] = { DS_Q8_0, DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1, DS_Q4_K, DS_Q5_K, DS_Q6_K };

static void test_set(const struct cpu_kernels *k, int si)
{
	static const int ns[] = { 1, 2, 3, 4, 5, 6, 7, 13, 20, 50 };
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		enum ds_dtype t = types[ti];
		int small = ds_dtype_get(t)->block == 32;
		/* widths: one block, a few, past the 1024-column panel with a short last panel, whole 128s
		 * (the AVX-512 set's q8_0 pairs of pairs) and an odd number of 64s (its other blocks of 32 in
		 * pairs: an odd last pair, and a last 64 put in lane order alone); then rows the fused form
		 * takes in column chunks on a 32 KB L1 and in one piece on a 48 KB one (qv_whole_cols: three
		 * chunks, the last shorter), and rows it takes in chunks on any L1 up to 64 KB (five, the
		 * last shorter), each of whole 128s and of an odd number of 64s */
		long widths[9] = { small ? 32 : 256, small ? 96 : 768, small ? 1056 : 2304, small ? 640 : 1280,
				   small ? 1472 : 3328, small ? 4224 : 5376, small ? 4160 : 4352,
				   small ? 8576 : 8704, small ? 8640 : 8448 };
		for (int wi = 0; wi < 9; wi++)
			for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
				test_rows(k, si, t, 11 + (long)ni % 3, widths[wi], ns[ni]);
		/* the matrix-product form: rows past a 96-row block, tokens past a group of 128 */
		test_rows(k, si, t, 110, widths[1], 140);
		test_packed(k, t);
		test_magnitudes(k, si, t);
		test_onehot(k, t, 1);
		test_onehot(k, t, 3);
		test_onehot(k, t, 13);
		test_onehot(k, t, 50);
		test_axpy_row(k, t);
	}
	printf("%-14s worst |y - exact| / sum |terms|: %.2e (bound %.0e)\n", k->name, worst_ratio[si], QK_TOL);
}

/* cpu_kernels_best in a child with DSCODER_KERNELS=value: its exit status, and the set's name on
 * success (through a pipe). */
static int choose_in_child(const char *value, char *name, size_t len)
{
	int fd[2];
	if (pipe(fd) != 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		setenv("DSCODER_KERNELS", value, 1);
		const char *n = cpu_kernels_best()->name;
		if (write(fd[1], n, strlen(n)) < 0)
			_exit(3);
		_exit(0);
	}
	close(fd[1]);
	ssize_t got = read(fd[0], name, len - 1);
	name[got > 0 ? got : 0] = '\0';
	close(fd[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_choice(void)
{
	char name[64];
	CHECK(choose_in_child("ref", name, sizeof name) == 0 && strcmp(name, cpu_kernels_ref.name) == 0,
	      "DSCODER_KERNELS=ref chose '%s'", name);
	CHECK(choose_in_child("avx3", name, sizeof name) == 1, "DSCODER_KERNELS=avx3 was not refused");
	int st = choose_in_child("avx2", name, sizeof name);
	CHECK(cpu_kernels_have_avx2() ? st == 0 && strstr(name, "AVX2") != NULL : st == 1,
	      "DSCODER_KERNELS=avx2: status %d, set '%s'", st, name);
	st = choose_in_child("avx512", name, sizeof name);
	CHECK(cpu_kernels_have_avx512() ? st == 0 && strstr(name, "AVX-512") != NULL : st == 1,
	      "DSCODER_KERNELS=avx512: status %d, set '%s'", st, name);
}

/* A set's quantized decode both ways: codes as subnormal floats (where FMAs take them at full speed)
 * and widened (where they do not), whichever this CPU would choose */
static void test_set_both_ways(const struct cpu_kernels *k, int si, const char *name)
{
	int sub = cpu_kernels_subnormal_codes(-1);
	for (int pass = 0; pass < 2; pass++) {
		cpu_kernels_subnormal_codes(pass == 0 ? 1 : 0);
		printf("%s set, codes %s:\n", name, pass == 0 ? "as subnormal floats" : "widened");
		test_set(k, si);
	}
	cpu_kernels_subnormal_codes(sub);
}

int main(void)
{
	int si = 0;
	test_set(&cpu_kernels_ref, si++);
#ifdef HAVE_AVX2_TARGET
	if (cpu_kernels_have_avx2())
		test_set_both_ways(&cpu_kernels_avx2, si++, "AVX2");
	else
		printf("this CPU lacks AVX2/FMA/F16C: the AVX2 set was not tested\n");
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
	if (cpu_kernels_have_avx512())
		test_set_both_ways(&cpu_kernels_avx512, si++, "AVX-512");
	else
		printf("this CPU lacks AVX-512: the AVX-512 set was not tested\n");
#else
	printf("built without AVX-512 kernels\n");
#endif
	test_choice();
	printf("kernel set in use: %s\n", cpu_kernels_best()->name);
	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	return fix_failures ? 1 : 0;
}

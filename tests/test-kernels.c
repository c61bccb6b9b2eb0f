/* test-kernels.c: the SIMD kernels against the portable ones (every dtype, odd sizes with tails),
 * F16 widening over all finite halves, the thread pool, threaded products against one thread, and
 * the MoE step of a few tokens against the expert-at-a-time form. */
#include "build-config.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "cpu/cpu-backend.h"
#include "cpu/cpu-kernels.h"
#include "cpu/cpu-pool.h"
#include "cpu/cpu-scratch.h"
#include "xalloc.h"
#include "fixture-util.h"
#include "packed-check.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	return (uint32_t)(fix_xorshift(&rng_state) >> 11);
}

static float rndf(void)
{
	return (float)(rnd() % 2000001) / 1000000.0f - 1.0f;
}

static const char *dtype_name(enum ds_dtype t)
{
	return t == DS_F32 ? "F32" : t == DS_F16 ? "F16" : t == DS_BF16 ? "BF16" : ds_dtype_get(t)->name;
}

/* A rows x cols tensor of values in about [-2, 2], some F16 ones subnormal. */
static struct ds_tensor make_tensor(enum ds_dtype t, long rows, long cols)
{
	size_t n = (size_t)rows * (size_t)cols;
	void *data = xmalloc(n * ds_dtype_get(t)->block_bytes + 1);
	for (size_t i = 0; i < n; i++) {
		if (t == DS_F32) {
			((float *)data)[i] = 2 * rndf();
		} else if (t == DS_BF16) {
			uint16_t exp = 118 + rnd() % 10;   /* 2^-9 .. 2^1 */
			((uint16_t *)data)[i] = (uint16_t)((rnd() & 1) << 15 | exp << 7 | (rnd() & 0x7f));
		} else {
			uint16_t exp = rnd() % 8 == 0 ? 0 : 5 + rnd() % 11;   /* subnormal, or 2^-10 .. 2^0 */
			((uint16_t *)data)[i] = (uint16_t)((rnd() & 1) << 15 | exp << 10 | (rnd() & 0x3ff));
		}
	}
	return (struct ds_tensor){ .dtype = t, .data = data, .rows = rows, .cols = cols };
}

/* |a - b| small against the sum of |w x| that produced them. */
static int close_enough(double a, double b, double mag)
{
	return fabs(a - b) <= 2e-6 * mag + 1e-30;
}

static void test_conversions(void)
{
	CHECK(cpu_f16_to_f32(0x3c00) == 1.0f, "F16 0x3c00 is not 1");
	CHECK(cpu_f16_to_f32(0xc000) == -2.0f, "F16 0xc000 is not -2");
	CHECK(cpu_f16_to_f32(0x7bff) == 65504.0f, "F16 0x7bff is not 65504");
	CHECK(cpu_f16_to_f32(0x0001) == ldexpf(1, -24), "F16 0x0001 is not 2^-24");
	CHECK(cpu_f16_to_f32(0x03ff) == ldexpf(1023, -24), "F16 0x03ff is not the largest subnormal");
	CHECK(isinf(cpu_f16_to_f32(0xfc00)) && cpu_f16_to_f32(0xfc00) < 0, "F16 0xfc00 is not -inf");
	CHECK(isnan(cpu_f16_to_f32(0x7e00)), "F16 0x7e00 is not NaN");
	CHECK(cpu_bf16_to_f32(0x3f80) == 1.0f, "BF16 0x3f80 is not 1");
	CHECK(cpu_bf16_to_f32(0xc0a0) == -5.0f, "BF16 0xc0a0 is not -5");
}

/* Every finite half through both kernel sets: a one-hot x picks one column, exactly. */
static void test_f16_all(const struct cpu_kernels *k)
{
	const long rows = 8192, cols = 8;
	uint16_t *h = xmalloc(sizeof *h * (size_t)(rows * cols));
	for (long i = 0; i < rows * cols; i++)
		h[i] = ((i >> 10) & 0x1f) == 0x1f ? 0 : (uint16_t)i;
	struct ds_tensor w = { .dtype = DS_F16, .data = h, .rows = rows, .cols = cols };
	float *y = xmalloc(sizeof *y * (size_t)(rows * cols)), x[8 * 8] = {0};
	for (int j = 0; j < 8; j++)
		x[j * 8 + j] = 1;
	k->rows(&w, 0, rows, x, 8, 8, y, rows);
	int bad = 0;
	for (long r = 0; r < rows && bad < 3; r++)
		for (int j = 0; j < 8; j++) {
			float want = cpu_f16_to_f32(h[r * cols + j]), got = y[(long)j * rows + r];
			if (memcmp(&want, &got, sizeof want) != 0 && !(want == 0 && got == 0)) {
				CHECK(0, "%s: F16 0x%04x widens to %g, want %g", k->name, h[r * cols + j], got, want);
				bad++;
			}
		}
	free(h);
	free(y);
}

static void test_rows(const struct cpu_kernels *a, const struct cpu_kernels *b)
{
	static const long shapes[][3] = { {1, 1, 1}, {4, 8, 1}, {13, 37, 1}, {9, 8, 3}, {17, 70, 5},
					  {5, 1, 2}, {33, 131, 7}, {8, 16, 2}, {7, 263, 4}, {64, 512, 9},
					  /* past one 1024-column chunk of the AVX-512 tiles, several tiles of 6 */
					  {6, 2100, 8}, {9, 48, 13}, {3, 1030, 2},
					  /* the matrix-product form: two vectors of tokens, several blocks of 32
					   * and groups of 128, rows past a 96-row block, columns past 512 */
					  {25, 77, 33}, {110, 530, 40}, {30, 1100, 140},
					  /* one token, columns a multiple of 32: the AVX-512 set's 16-bit decode
					   * loop (f_dec16), with a partial group of rows */
					  {37, 256, 1}, {10, 2048, 1} };
	for (int t = 0; t < 3; t++) {
		enum ds_dtype dt = (enum ds_dtype)t;
		for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
			long rows = shapes[s][0], cols = shapes[s][1];
			int n = (int)shapes[s][2];
			long ldx = cols + 3, ldy = rows + 2;
			struct ds_tensor w = make_tensor(dt, rows, cols);
			float *x = xmalloc(sizeof *x * (size_t)(n * ldx));
			float *ya = xcalloc((size_t)(n * ldy), sizeof *ya), *yb = xcalloc((size_t)(n * ldy), sizeof *yb);
			for (long i = 0; i < n * ldx; i++)
				x[i] = rndf();
			/* a row range that starts and ends off the 4-row tiles */
			long r0 = rows > 2 ? 1 : 0, r1 = rows > 3 ? rows - 1 : rows;
			a->rows(&w, r0, r1, x, n, ldx, ya, ldy);
			b->rows(&w, r0, r1, x, n, ldx, yb, ldy);
			int bad = 0;
			for (int i = 0; i < n; i++)
				for (long r = r0; r < r1; r++) {
					double exact = 0, mag = 0;
					for (long c = 0; c < cols; c++) {
						double p = (double)cpu_tensor_at(&w, r, c) * x[i * ldx + c];
						exact += p;
						mag += fabs(p);
					}
					float va = ya[i * ldy + r], vb = yb[i * ldy + r];
					if ((!close_enough(va, exact, mag) || !close_enough(vb, exact, mag)) && bad++ < 3)
						CHECK(0, "rows %s %ldx%ld n=%d: row %ld token %d: %s %.9g, %s %.9g, exact %.9g",
						      dtype_name(dt), rows, cols, n, r, i, a->name, va, b->name, vb, exact);
				}
			/* rows outside [r0, r1) untouched */
			for (int i = 0; i < n; i++)
				for (long r = 0; r < ldy; r++)
					if ((r < r0 || r >= r1) && (ya[i * ldy + r] != 0 || yb[i * ldy + r] != 0) && bad++ < 3)
						CHECK(0, "rows %s: wrote outside its row range at %ld", dtype_name(dt), r);
			free((void *)w.data);
			free(x);
			free(ya);
			free(yb);
		}
	}
}

/* rows() gives each row the same bits whatever the row range it is called with: the backend splits
 * products into blocks by the number of threads, and the results must not depend on it */
static void test_blocks(const struct cpu_kernels *k)
{
	static const int ns[] = { 1, 3, 5, 15, 16, 40, 140 };
	for (int t = 0; t < 3; t++)
		for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
			int n = ns[s];
			long rows = 130, cols = 100 + 3 * (long)s;
			struct ds_tensor w = make_tensor((enum ds_dtype)t, rows, cols);
			float *x = xmalloc(sizeof *x * (size_t)n * (size_t)cols);
			float *ya = xcalloc((size_t)n * (size_t)rows, sizeof *ya), *yb = xcalloc((size_t)n * (size_t)rows, sizeof *yb);
			for (long i = 0; i < n * cols; i++)
				x[i] = rndf();
			k->rows(&w, 0, rows, x, n, cols, ya, rows);
			for (long r = 0; r < rows; r += 24)
				k->rows(&w, r, r + 24 < rows ? r + 24 : rows, x, n, cols, yb, rows);
			CHECK(memcmp(ya, yb, sizeof *ya * (size_t)n * (size_t)rows) == 0,
			      "%s %s, %d tokens: rows() in blocks of 24 rows differs from one call", k->name,
			      dtype_name((enum ds_dtype)t), n);
			free((void *)w.data);
			free(x);
			free(ya);
			free(yb);
		}
}

/* Below the matrix-product form (fewer than 16 tokens), each token of a float matrix gets the bits
 * it gets alone: a sequence decoded in a batch gives what it gives alone (AVX-512 set; the others'
 * tiles sum in another order). Rows 37 and odd columns: partial row groups and masked tails. */
static void test_tokens_alone(const struct cpu_kernels *k)
{
	for (int t = 0; t < 3; t++)
		for (int n = 2; n < 16; n++) {
			long rows = 37, cols = 200 + 7 * (long)n;
			struct ds_tensor w = make_tensor((enum ds_dtype)t, rows, cols);
			float *x = xmalloc(sizeof *x * (size_t)n * (size_t)cols);
			float *ya = xcalloc((size_t)n * (size_t)rows, sizeof *ya), *yb = xcalloc((size_t)rows, sizeof *yb);
			for (long i = 0; i < n * cols; i++)
				x[i] = rndf();
			k->rows(&w, 0, rows, x, n, cols, ya, rows);
			for (int i = 0; i < n; i++) {
				k->rows(&w, 0, rows, x + (long)i * cols, 1, cols, yb, rows);
				CHECK(memcmp(ya + (long)i * rows, yb, sizeof *yb * (size_t)rows) == 0,
				      "%s %s: token %d of %d differs from the token alone", k->name,
				      dtype_name((enum ds_dtype)t), i, n);
			}
			free((void *)w.data);
			free(x);
			free(ya);
			free(yb);
		}
}

/* The set's packed product equals its rows() bit for bit, every float type and edge token count */
static void test_packed(const struct cpu_kernels *k)
{
	for (int t = 0; t < 3; t++)
		for (size_t s = 0; s < sizeof packed_check_ns / sizeof packed_check_ns[0]; s++) {
			int n = packed_check_ns[s];
			long rows = 100 + (long)s, cols = 513 + 16 * (long)s, ldx = cols + 7;
			struct ds_tensor w = make_tensor((enum ds_dtype)t, rows, cols);
			float *x = xmalloc(sizeof *x * (size_t)n * (size_t)ldx);
			for (long i = 0; i < n * ldx; i++)
				x[i] = rndf();
			packed_check(k, &w, x, n, ldx, 24 + 12 * (long)(s % 3), dtype_name((enum ds_dtype)t));
			free((void *)w.data);
			free(x);
		}
}

/* silu_mul of sets a and b against double math within 4e-7 relative or 1e-30 (silu of -100 to 100:
 * 0 far below, g far above, no NaN), and each value's result the same wherever it lies in the
 * vector (one call on all, another on every tail from each offset). */
static void test_silu_mul(const struct cpu_kernels *a, const struct cpu_kernels *b)
{
	enum { N = 203 };
	float g[N], u[N], ga[N], gb[N], gs[N];
	for (int i = 0; i < N; i++) {
		g[i] = i < 100 ? -100.0f + 2.0f * (float)i : 4.0f * rndf();
		u[i] = i % 7 == 0 ? 1.0f : rndf();
	}
	g[100] = 0.0f;
	g[101] = -0.0f;
	g[102] = 1e-30f;
	memcpy(ga, g, sizeof g);
	memcpy(gb, g, sizeof g);
	a->silu_mul(ga, u, N);
	b->silu_mul(gb, u, N);
	for (int i = 0; i < N; i++) {
		double want = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
		double tol = 4e-7 * fabs(want) + 1e-30;   /* below -87 the vector exp is 0 */
		CHECK(fabs(ga[i] - want) <= tol && fabs(gb[i] - want) <= tol,
		      "silu_mul at %d (g %.9g, u %.9g): %s %.9g, %s %.9g, want %.9g", i, g[i], u[i], a->name, ga[i],
		      b->name, gb[i], want);
	}
	for (int off = 1; off < 17; off++) {
		memcpy(gs, g, sizeof g);
		b->silu_mul(gs + off, u + off, N - off);
		CHECK(memcmp(gs + off, gb + off, sizeof *gs * (size_t)(N - off)) == 0,
		      "silu_mul of %s: values from offset %d differ from the whole vector's", b->name, off);
	}
}

static void test_vectors(const struct cpu_kernels *a, const struct cpu_kernels *b)
{
	static const long lens[] = { 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 515 };
	for (size_t s = 0; s < sizeof lens / sizeof lens[0]; s++) {
		long n = lens[s];
		float *x = xmalloc(sizeof *x * (size_t)n), *y = xmalloc(sizeof *y * (size_t)n);
		float *ya = xmalloc(sizeof *y * (size_t)n), *yb = xmalloc(sizeof *y * (size_t)n);
		double exact = 0, mag = 0;
		for (long i = 0; i < n; i++) {
			x[i] = rndf();
			y[i] = rndf();
			exact += (double)x[i] * y[i];
			mag += fabs((double)x[i] * y[i]);
		}
		float da = a->dot(x, y, n), db = b->dot(x, y, n);
		CHECK(close_enough(da, exact, mag) && close_enough(db, exact, mag),
		      "dot n=%ld: %s %.9g, %s %.9g, exact %.9g", n, a->name, da, b->name, db, exact);
		memcpy(ya, y, sizeof *y * (size_t)n);
		memcpy(yb, y, sizeof *y * (size_t)n);
		a->axpy(ya, 0.37f, x, n);
		b->axpy(yb, 0.37f, x, n);
		for (long i = 0; i < n; i++)
			CHECK(fabsf(ya[i] - yb[i]) <= 1e-6f && fabsf(ya[i] - (y[i] + 0.37f * x[i])) <= 1e-6f,
			      "axpy n=%ld at %ld: %s %.9g, %s %.9g", n, i, a->name, ya[i], b->name, yb[i]);
		for (int t = 0; t < 3; t++) {
			struct ds_tensor w = make_tensor((enum ds_dtype)t, 3, n);
			memcpy(ya, y, sizeof *y * (size_t)n);
			memcpy(yb, y, sizeof *y * (size_t)n);
			a->axpy_row(ya, -1.25f, &w, 2);
			b->axpy_row(yb, -1.25f, &w, 2);
			for (long i = 0; i < n; i++) {
				float want = y[i] + -1.25f * cpu_tensor_at(&w, 2, i);
				CHECK(fabsf(ya[i] - want) <= 1e-5f && fabsf(yb[i] - want) <= 1e-5f,
				      "axpy_row %s n=%ld at %ld: %s %.9g, %s %.9g, want %.9g",
				      dtype_name((enum ds_dtype)t), n, i, a->name, ya[i], b->name, yb[i], want);
			}
			free((void *)w.data);
		}
		free(x);
		free(y);
		free(ya);
		free(yb);
	}
	test_silu_mul(a, b);
}

/* pv of sets a and b on n queries of m rows of kd columns, odd strides: both within F32 rounding
 * of the sums in double, and when bitwise, equal to each other bit for bit (the columns past kd,
 * ldo's padding, left as they were too) */
static void pv_case(const struct cpu_kernels *a, const struct cpu_kernels *b, int n, int m, long kd, int bitwise)
{
	long ldo = kd + 2, ldp = m + 3, ldv = kd + 5;
	float *p = xmalloc(sizeof *p * (size_t)(n * ldp)), *v = xmalloc(sizeof *v * (size_t)(m * ldv));
	float *oa = xmalloc(sizeof *oa * (size_t)(n * ldo)), *ob = xmalloc(sizeof *ob * (size_t)(n * ldo));
	float *o0 = xmalloc(sizeof *o0 * (size_t)(n * ldo));
	for (long i = 0; i < n * ldp; i++)
		p[i] = rndf() + 1;
	for (long i = 0; i < m * ldv; i++)
		v[i] = rndf();
	for (long i = 0; i < n * ldo; i++)
		o0[i] = oa[i] = ob[i] = rndf();
	a->pv(oa, ldo, p, ldp, v, ldv, n, m, kd);
	b->pv(ob, ldo, p, ldp, v, ldv, n, m, kd);
	if (bitwise)
		CHECK(memcmp(oa, ob, sizeof *oa * (size_t)(n * ldo)) == 0, "pv n=%d m=%d k=%ld: %s and %s differ", n, m,
		      kd, a->name, b->name);
	int bad = 0;
	for (int i = 0; i < n; i++)
		for (long k = 0; k < ldo; k++) {
			double want = o0[i * ldo + k], mag = fabs(want);
			if (k < kd)
				for (int t = 0; t < m; t++) {
					want += (double)p[i * ldp + t] * v[t * ldv + k];
					mag += fabs((double)p[i * ldp + t] * v[t * ldv + k]);
				}
			if ((!close_enough(oa[i * ldo + k], want, mag) || !close_enough(ob[i * ldo + k], want, mag)) &&
			    bad++ < 3)
				CHECK(0, "pv n=%d m=%d k=%ld at (%d, %ld): %s %.9g, %s %.9g, exact %.9g", n, m, kd, i, k,
				      a->name, oa[i * ldo + k], b->name, ob[i * ldo + k], want);
		}
	free(p);
	free(v);
	free(oa);
	free(ob);
	free(o0);
}

/* pv: the weighted sums of rows; exp_sum: softmax numerators. Odd sizes and strides. */
static void test_attention_kernels(const struct cpu_kernels *a, const struct cpu_kernels *b)
{
	static const int ns[] = { 1, 2, 3, 5 }, ms[] = { 1, 7, 33 };
	static const long ks[] = { 1, 7, 8, 31, 32, 33, 77 };
	for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++)
		for (size_t im = 0; im < sizeof ms / sizeof ms[0]; im++)
			for (size_t ik = 0; ik < sizeof ks / sizeof ks[0]; ik++)
				pv_case(a, b, ns[in], ms[im], ks[ik], 0);
	for (long n = 1; n <= 41; n += (n < 20 ? 1 : 10)) {
		float *sa = xmalloc(sizeof *sa * (size_t)n), *sb = xmalloc(sizeof *sb * (size_t)n);
		float *x = xmalloc(sizeof *x * (size_t)n);
		for (long i = 0; i < n; i++)
			x[i] = 30 * rndf() - 60;    /* -90 .. -30 around the max -40: some underflow to 0 */
		if (n > 3)
			x[2] = -INFINITY;
		memcpy(sa, x, sizeof *x * (size_t)n);
		memcpy(sb, x, sizeof *x * (size_t)n);
		float ta = a->exp_sum(sa, n, -40), tb = b->exp_sum(sb, n, -40);
		double want_sum = 0;
		for (long i = 0; i < n; i++) {
			double want = exp((double)x[i] + 40);
			want_sum += want;
			CHECK(fabs(sa[i] - want) <= 1e-6 * want + 1e-37 && fabs(sb[i] - want) <= 1e-6 * want + 1e-37,
			      "exp_sum n=%ld at %ld (x %g): %s %.9g, %s %.9g, want %.9g", n, i, x[i] + 40,
			      a->name, sa[i], b->name, sb[i], want);
		}
		CHECK(fabs(ta - want_sum) <= 1e-6 * want_sum && fabs(tb - want_sum) <= 1e-6 * want_sum,
		      "exp_sum n=%ld: sums %.9g and %.9g, want %.9g", n, ta, tb, want_sum);
		free(sa);
		free(sb);
		free(x);
	}
}

struct pool_sum {
	atomic_int seen[64];      /* times each block ran */
	atomic_int bad_ith;
	int slow;                 /* blocks take 0.3 ms: the caller outwaits its spin for the workers' and sleeps */
};

/* Kernel scratch: per thread, aligned, kept while big enough, and freed when its thread ends (a
 * pool's workers made and freed again must not leave their buffers behind). */
static void scratch_run(void *arg, int b, int ith)
{
	(void)arg;
	(void)ith;
	float *p = cpu_scratch(CPU_SCRATCH_I8_PANEL, (size_t)(b + 1) * 4096);
	memset(p, b, (size_t)(b + 1) * 4096);
}

static void test_scratch(void)
{
	char *p = cpu_scratch(CPU_SCRATCH_ROW, 100);
	CHECK(((uintptr_t)p & 63) == 0, "scratch not aligned to 64 bytes");
	CHECK(cpu_scratch(CPU_SCRATCH_ROW, 50) == p, "scratch reallocated for a smaller size");
	CHECK(cpu_scratch(CPU_SCRATCH_CAUSAL, 100) != p, "two uses share one buffer");
	p = cpu_scratch(CPU_SCRATCH_ROW, 100000);
	CHECK(((uintptr_t)p & 63) == 0, "grown scratch not aligned to 64 bytes");
	memset(p, 1, 100000);
	/* the caller runs blocks too: its buffer is as big as any block asks already */
	cpu_scratch(CPU_SCRATCH_I8_PANEL, 64 * 4096);
	size_t before = cpu_scratch_bytes();
	for (int round = 0; round < 3; round++) {
		struct cpu_pool *pool = cpu_pool_new(4);
		CHECK(pool != NULL, "no pool");
		if (pool == NULL)
			return;
		cpu_pool_run(pool, scratch_run, NULL, 64);
		cpu_pool_free(pool);
		CHECK(cpu_scratch_bytes() == before,
		      "round %d: %zu bytes of scratch left by ended threads (%zu before)", round,
		      cpu_scratch_bytes(), before);
	}
}

static void pool_sum_run(void *arg, int b, int ith)
{
	struct pool_sum *p = arg;
	if (p->slow) {
		struct timespec ts = { 0, 300000 };
		nanosleep(&ts, NULL);
	}
	atomic_fetch_add(&p->seen[b], 1);
	if (ith < 0 || ith >= 3)
		atomic_fetch_add(&p->bad_ith, 1);
}

/* Every block runs exactly once per task, over many tasks (workers joining late included). */
static void test_pool(void)
{
	struct cpu_pool *pool = cpu_pool_new(3);
	CHECK(pool != NULL && cpu_pool_threads(pool) == 3, "cpu_pool_new(3) failed");
	if (pool == NULL)
		return;
	for (int it = 0; it < 3000; it++) {
		struct pool_sum p;
		int nb = 1 + it % 64;
		for (int b = 0; b < 64; b++)
			atomic_init(&p.seen[b], 0);
		atomic_init(&p.bad_ith, 0);
		p.slow = it % 50 == 0;
		cpu_pool_run(pool, pool_sum_run, &p, nb);
		int ok = atomic_load(&p.bad_ith) == 0;
		for (int b = 0; b < 64; b++)
			ok = ok && atomic_load(&p.seen[b]) == (b < nb);
		if (!ok) {
			CHECK(0, "pool task %d of %d blocks: a block ran other than once, or a bad thread index", it, nb);
			break;
		}
	}
	cpu_pool_free(pool);
	/* the default: one thread per physical core, at least one, at most one per online CPU */
	pool = cpu_pool_new(0);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	CHECK(pool != NULL && cpu_pool_threads(pool) >= 1 && (online < 1 || cpu_pool_threads(pool) <= online),
	      "cpu_pool_new(0): %d threads for %ld online CPUs", pool ? cpu_pool_threads(pool) : -1, online);
	cpu_pool_free(pool);
}

struct pool_order {
	atomic_int done;          /* blocks finished */
	int nb;
	int ran[3][64], n_ran[3]; /* each thread's blocks in the order it ran them */
	int stalled;              /* block 0 waited for all the others */
};

static void pool_order_run(void *arg, int b, int ith)
{
	struct pool_order *p = arg;
	if (b == 0) {
		/* block 0 (the caller's first, unless a worker got there before it) stalls: the others
		 * must take the rest of its share */
		struct timespec ts = { 0, 100000 };
		for (int i = 0; i < 20000 && atomic_load(&p->done) < p->nb - 1; i++)
			nanosleep(&ts, NULL);
		p->stalled = atomic_load(&p->done) == p->nb - 1;
	}
	p->ran[ith][p->n_ran[ith]++] = b;
	atomic_fetch_add(&p->done, 1);
}

/* Thread i owns the i-th run of consecutive blocks and takes its blocks from the front, in order
 * (one stream of rows); a thread done with its own takes others' from the back, so a stalled
 * thread's share is done by the others. */
static void test_pool_shares(void)
{
	struct cpu_pool *pool = cpu_pool_new(3);
	if (pool == NULL)
		return;
	for (int round = 0; round < 5; round++) {
		static struct pool_order p;
		memset(&p, 0, sizeof p);
		p.nb = 30;
		cpu_pool_run(pool, pool_order_run, &p, p.nb);
		CHECK(p.stalled, "round %d: while block 0 stalled, the other threads did not take the rest of its "
		      "share", round);
		for (int t = 1; t < 3; t++) {
			int lo = p.nb * t / 3, hi = p.nb * (t + 1) / 3, next = lo;
			for (int i = 0; i < p.n_ran[t]; i++) {
				int b = p.ran[t][i];
				if (b >= lo && b < hi) {
					CHECK(b == next, "round %d: thread %d ran block %d of its share where %d came next",
					      round, t, b, next);
					next = b + 1;
				}
			}
		}
	}
	cpu_pool_free(pool);
}

static struct ds_tensor make_q8_0(long rows, long cols);

/* The CPU backend's products and SwiGLU on 2 and 3 threads equal those on 1 bit for bit, with the
 * kernel set k: a few tokens split the rows, a prompt's (100) the tokens; never a sum. matmul2 of
 * two matrices equals two matmul calls. */
static void test_backend_threads(const struct cpu_kernels *k)
{
	enum { H = 96, W = 200, NMAX = 100 };
	struct ds_config cfg = { .hidden_size = H, .intermediate_size = W, .moe_intermediate_size = 40,
				 .num_attention_heads = 2, .kv_lora_rank = 16, .qk_nope_head_dim = 8,
				 .qk_rope_head_dim = 4, .v_head_dim = 8 };
	const struct ds_backend *be = &ds_backend_cpu;
	char err[256];
	struct cpu_ctx *c[4] = { NULL };
	for (int th = 1; th <= 3; th++) {
		struct ds_backend_params p = { .cfg = &cfg, .n_ctx = 16, .max_batch = NMAX, .n_threads = th };
		c[th] = be->create(&p, err, sizeof err);
		CHECK(c[th] != NULL, "backend create: %s", err);
		if (c[th] == NULL)
			goto out;
		c[th]->k = k;
	}
	CHECK(be->threads(c[3]) == 3, "backend has %d threads, asked 3", be->threads(c[3]));
	for (int ti = 0; ti < 4; ti++) {
		enum ds_dtype t = ti == 3 ? DS_Q8_0 : (enum ds_dtype)ti;
		struct ds_tensor g = t == DS_Q8_0 ? make_q8_0(W, H) : make_tensor(t, W, H);
		struct ds_tensor u = t == DS_Q8_0 ? make_q8_0(W, H) : make_tensor(t, W, H);
		struct ds_tensor d = make_tensor(t == DS_Q8_0 ? DS_BF16 : t, H, W);   /* (W is no block multiple) */
		float *x = xmalloc(sizeof *x * NMAX * W), *y[4];
		for (int i = 0; i < NMAX * W; i++)
			x[i] = rndf();
		for (int th = 1; th <= 3; th++)
			y[th] = xmalloc(sizeof *y[th] * NMAX * W);
		/* 99 and 100: products split by tokens, whose tiles leave their last 3 (99) or 4 tokens to
		 * the few-token forms (cpu-gemm-simd.h, gm_rest) */
		static const int ns[] = { 5, 6, 64, 99, 100 };
		for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
			int n = ns[ni];
			for (int th = 1; th <= 3; th++)
				be->matmul(c[th], y[th], &d, x, n);
			for (int th = 2; th <= 3; th++)
				CHECK(memcmp(y[1], y[th], sizeof *y[1] * (size_t)n * H) == 0,
				      "matmul %s, %s set, %d tokens: 1 and %d threads differ", dtype_name(d.dtype), k->name,
				      n, th);
			/* matmul2 (gate and up on x) equals two matmul calls on 1 thread */
			float *r0 = xmalloc(sizeof *r0 * NMAX * W), *r1 = xmalloc(sizeof *r1 * NMAX * W);
			be->matmul(c[1], r0, &g, x, n);
			be->matmul(c[1], r1, &u, x, n);
			for (int th = 1; th <= 3; th++) {
				float *z0 = xmalloc(sizeof *z0 * NMAX * W), *z1 = xmalloc(sizeof *z1 * NMAX * W);
				for (int i = 0; i < NMAX * W; i++)
					z0[i] = z1[i] = NAN;   /* no row left from an earlier call */
				be->matmul2(c[th], z0, &g, z1, &u, x, n);
				CHECK(memcmp(z0, r0, sizeof *z0 * (size_t)n * W) == 0 &&
				      memcmp(z1, r1, sizeof *z1 * (size_t)n * W) == 0,
				      "matmul2 %s, %s set, %d tokens, %d threads: differs from two matmul calls",
				      dtype_name(t), k->name, n, th);
				free(z0);
				free(z1);
			}
			free(r0);
			free(r1);
			for (int th = 1; th <= 3; th++)
				be->swiglu(c[th], y[th], &g, &u, &d, x, n);
			for (int th = 2; th <= 3; th++)
				CHECK(memcmp(y[1], y[th], sizeof *y[1] * (size_t)n * H) == 0,
				      "swiglu %s, %s set, %d tokens: 1 and %d threads differ", dtype_name(t), k->name, n, th);
			for (int i = 0; i < n * H; i++)
				if (!isfinite(y[1][i])) {
					CHECK(0, "swiglu %s: output %d not finite", dtype_name(t), i);
					break;
				}
		}
		for (int th = 1; th <= 3; th++)
			free(y[th]);
		free(x);
		free((void *)g.data);
		free((void *)u.data);
		free((void *)d.data);
	}
out:
	for (int th = 1; th <= 3; th++)
		if (c[th] != NULL)
			be->destroy(c[th]);
}

/* The attention dimensions of the backend tests below */
struct attn_dims {
	int nh, nope, rope, vd, kr;
};

/* Head h of query q (heads x (nope + rope)) over cache rows [0, n_keys) in double: scores of the
 * absorbed query, softmax, W_UV of the weighted latent sum; CHECKs out (v_dim values) against it */
static void check_attention_double(const struct attn_dims *d, const float *w, const float *cache, const float *q,
				   int n_keys, float scale, int h, const float *out, const char *what, int query)
{
	const int lat = d->kr + d->rope, qd = d->nope + d->rope;
	double qa[lat], sc[n_keys], mx = -1e300, l = 0, olat[d->kr];
	for (int c = 0; c < d->kr; c++) {
		qa[c] = 0;
		for (int e = 0; e < d->nope; e++)
			qa[c] += (double)q[h * qd + e] * w[((long)h * (d->nope + d->vd) + e) * d->kr + c];
	}
	for (int c = 0; c < d->rope; c++)
		qa[d->kr + c] = q[h * qd + d->nope + c];
	for (int t = 0; t < n_keys; t++) {
		sc[t] = 0;
		for (int c = 0; c < lat; c++)
			sc[t] += qa[c] * cache[(long)t * lat + c];
		sc[t] *= scale;
		mx = sc[t] > mx ? sc[t] : mx;
	}
	for (int c = 0; c < d->kr; c++)
		olat[c] = 0;
	for (int t = 0; t < n_keys; t++) {
		double p = exp(sc[t] - mx);
		l += p;
		for (int c = 0; c < d->kr; c++)
			olat[c] += p * cache[(long)t * lat + c];
	}
	for (int v = 0; v < d->vd; v++) {
		double want = 0, mag = 0;
		for (int c = 0; c < d->kr; c++) {
			double term = w[((long)h * (d->nope + d->vd) + d->nope + v) * d->kr + c] * olat[c] / l;
			want += term;
			mag += fabs(term);
		}
		CHECK(fabs(out[h * d->vd + v] - want) <= 1e-4 * (mag + 1), "%s query %d head %d value %d: %.7g, "
		      "in double %.7g", what, query, h, v, out[h * d->vd + v], want);
	}
}

/* n queries after pos positions through the CPU backend's attention on 1 and 3 threads: equal bit
 * for bit, and each query within F32 rounding of its softmax in double over the positions up to its
 * own. form is how a chunk attends to the positions before it (cpu_mla_prefix_form: 0 absorbed, 1
 * expanded, -1 by cost; one query is a decode step either way). nh heads, latent 160. */
static void check_backend_attention(int nh_, int pos, int n, int form, const char *what)
{
	const struct attn_dims d = { .nh = nh_, .nope = 8, .rope = 8, .vd = 8, .kr = 160 };
	const int nh = d.nh, nope = d.nope, rope = d.rope, vd = d.vd, kr = d.kr, lat = kr + rope, qd = nope + rope;
	struct ds_config cfg = { .hidden_size = 96, .intermediate_size = 64, .moe_intermediate_size = 32,
				 .num_attention_heads = nh, .kv_lora_rank = kr, .qk_nope_head_dim = nope,
				 .qk_rope_head_dim = rope, .v_head_dim = vd };
	struct ds_backend_params p1 = { .cfg = &cfg, .n_ctx = pos + n + 10, .max_batch = n, .n_threads = 1 };
	struct ds_backend_params p3 = p1;
	p3.n_threads = 3;
	const struct ds_backend *be = &ds_backend_cpu;
	char err[256];
	void *c1 = be->create(&p1, err, sizeof err), *c3 = be->create(&p3, err, sizeof err);
	CHECK(c1 != NULL && c3 != NULL, "backend create: %s", err);
	if (c1 == NULL || c3 == NULL)
		return;
	struct ds_tensor kv_b = make_tensor(DS_F32, (long)nh * (nope + vd), kr);
	float *cache = be->alloc(c1, (size_t)(pos + n) * lat), *q = be->alloc(c1, (size_t)n * nh * qd);
	float *o1 = be->alloc(c1, (size_t)n * nh * vd), *o3 = be->alloc(c3, (size_t)n * nh * vd);
	for (int i = 0; i < (pos + n) * lat; i++)
		cache[i] = rndf();
	for (int i = 0; i < n * nh * qd; i++)
		q[i] = rndf();
	const float scale = 0.3f;
	cpu_mla_prefix_form = form;
	struct ds_attn_args a = { .out = o1, .q = q, .cache = cache, .kv_b = &kv_b, .n = n, .pos = pos,
				  .n_heads = nh, .nope = nope, .rope = rope, .v_dim = vd, .kv_rank = kr, .scale = scale };
	be->attention(c1, &a);
	a.out = o3;
	be->attention(c3, &a);
	cpu_mla_prefix_form = -1;
	CHECK(memcmp(o1, o3, sizeof *o1 * (size_t)(n * nh * vd)) == 0, "%s: 1 and 3 threads differ", what);
	for (int i = 0; i < n; i++)
		for (int h = 0; h < nh; h++)
			check_attention_double(&d, kv_b.data, cache, q + (long)i * nh * qd, pos + i + 1, scale, h,
					       o1 + (long)i * nh * vd, what, i);
	be->release(c1, cache);
	be->release(c1, q);
	be->release(c1, o1);
	be->release(c3, o3);
	free((void *)kv_b.data);
	be->destroy(c1);
	be->destroy(c3);
}

/* One token's decode attention: positions in blocks, latent columns in tasks of 64 (160 here: two
 * whole, one part), heads in the output; with 8 and 12 heads, the blocks and columns in tasks of 4
 * heads (a group that took another's queries, scores or outputs fails); past 2048 positions, blocks
 * summed apart and merged. A prompt chunk of 37 queries after 150 positions (three blocks of 64, the
 * last part full) in both forms of its attention to the earlier positions: a form that dropped a
 * block, its rescale or its scale fails. */
static void test_backend_attention(void)
{
	check_backend_attention(3, 250, 1, -1, "decode attention");
	check_backend_attention(8, 250, 1, -1, "decode attention, 8 heads");
	check_backend_attention(12, 131, 1, -1, "decode attention, 12 heads");
	check_backend_attention(3, 2100, 1, -1, "long decode attention");   /* blocks scored and summed at once */
	check_backend_attention(3, 150, 37, 0, "absorbed prefix");
	check_backend_attention(3, 150, 37, 1, "expanded prefix");
}

/* A Q8_0 matrix of random codes and small scales (the int8 set packs its activations) */
static struct ds_tensor make_q8_0(long rows, long cols)
{
	size_t nb = (size_t)rows * (size_t)(cols / 32);
	uint8_t *data = xmalloc(nb * 34);
	for (size_t b = 0; b < nb; b++) {
		uint16_t d = (uint16_t)(0x2000 + rnd() % 0x800);   /* 2^-7 .. 2^-6 */
		memcpy(data + b * 34, &d, 2);
		for (int i = 0; i < 32; i++)
			data[b * 34 + 2 + i] = (uint8_t)rnd();
	}
	return (struct ds_tensor){ .dtype = DS_Q8_0, .data = data, .rows = rows, .cols = cols };
}

/* The MoE step of 1-16 tokens (every SwiGLU of the step in two pool tasks; one token's on 1 and 2
 * threads, whose three matrices share out evenly, a matrix per thread, its chunks shared once every
 * matrix has a thread) and of a prompt chunk
 * (17-64 tokens: on several threads an expert per thread) equal, bit for bit, the expert-at-a-time
 * form: the shared experts by swiglu, each chosen expert by swiglu (its rows split among the threads)
 * on the tokens that chose it (an expert chosen twice by one token counted twice, a skipped id -1 not
 * at all), weighted into an accumulator in expert order, the shared output plus it; on 1, 2 and 3
 * threads, with each weight type and with the int8 set's packed activations. */
static void test_backend_moe(const struct cpu_kernels *k)
{
	enum { H = 128, W = 64, NR = 8, TOPK = 3, NMAX = 64 };
	struct ds_config cfg = { .hidden_size = H, .intermediate_size = 2 * W, .moe_intermediate_size = W,
				 .n_shared_experts = 2, .n_routed_experts = NR, .num_experts_per_tok = TOPK,
				 .num_attention_heads = 2, .kv_lora_rank = 16, .qk_nope_head_dim = 8,
				 .qk_rope_head_dim = 4, .v_head_dim = 8 };
	const struct ds_backend *be = &ds_backend_cpu;
	char err[256];
	for (int ti = 0; ti < 4; ti++) {
		enum ds_dtype t = ti == 3 ? DS_Q8_0 : (enum ds_dtype)ti;
		struct ds_tensor g[NR + 1], u[NR + 1], d[NR + 1];
		for (int e = 0; e <= NR; e++) {
			long w = e == NR ? 2 * W : W;   /* the last: the shared experts */
			g[e] = t == DS_Q8_0 ? make_q8_0(w, H) : make_tensor(t, w, H);
			u[e] = t == DS_Q8_0 ? make_q8_0(w, H) : make_tensor(t, w, H);
			d[e] = t == DS_Q8_0 ? make_q8_0(H, w) : make_tensor(t, H, w);
		}
		float *x = xmalloc(sizeof *x * NMAX * H), *wts = xmalloc(sizeof *wts * NMAX * TOPK);
		int ids[NMAX * TOPK];
		for (int i = 0; i < NMAX * H; i++)
			x[i] = rndf();
		for (int i = 0; i < NMAX * TOPK; i++) {
			ids[i] = (int)(rnd() % NR);
			wts[i] = 0.5f * rndf();
		}
		ids[0 * TOPK + 2] = ids[0 * TOPK + 0];   /* tokens 0 and 1 chose one expert twice */
		ids[1 * TOPK + 2] = ids[1 * TOPK + 0];
		ids[2 * TOPK + 1] = -1;                  /* token 2: an expert another rank evaluates */
		for (int th = 1; th <= 3; th++) {
			struct ds_backend_params bp = { .cfg = &cfg, .n_ctx = 16, .max_batch = NMAX, .n_threads = th };
			struct cpu_ctx *c = be->create(&bp, err, sizeof err);
			CHECK(c != NULL, "backend create: %s", err);
			if (c == NULL)
				continue;
			c->k = k;
			static const int ns[] = { 1, 2, 5, 16, 17, 40, 64 };
			for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
				int n = ns[ni];
				float *y = xmalloc(sizeof *y * NMAX * H), *ref = xmalloc(sizeof *ref * NMAX * H);
				float *acc = xcalloc(NMAX * H, sizeof *acc), *xs = xmalloc(sizeof *xs * NMAX * TOPK * H);
				float *ys = xmalloc(sizeof *ys * NMAX * TOPK * H), ws[NMAX * TOPK];
				int tok[NMAX * TOPK];
				struct ds_moe_args a = { .x = x, .n = n, .hidden = H, .top_k = TOPK, .ids = ids,
							 .weights = wts, .n_routed = NR, .gate = g, .up = u, .down = d,
							 .shared_gate = &g[NR], .shared_up = &u[NR], .shared_down = &d[NR] };
				be->moe(c, y, &a);
				be->swiglu(c, ref, &g[NR], &u[NR], &d[NR], x, n);
				for (int e = 0; e < NR; e++) {
					int m = 0;
					for (int i = 0; i < n; i++)
						for (int j = 0; j < TOPK; j++)
							if (ids[i * TOPK + j] == e) {
								memcpy(xs + m * H, x + i * H, sizeof *xs * H);
								tok[m] = i;
								ws[m++] = wts[i * TOPK + j];
							}
					if (m == 0)
						continue;
					be->swiglu(c, ys, &g[e], &u[e], &d[e], xs, m);
					for (int r = 0; r < m; r++)
						k->axpy(acc + tok[r] * H, ws[r], ys + r * H, H);
				}
				k->axpy(ref, 1.0f, acc, (long)n * H);
				int bad = -1;
				for (int i = 0; i < n * H && bad < 0; i++)
					if (memcmp(&y[i], &ref[i], sizeof *y) != 0)
						bad = i;
				if (bad >= 0)
					printf("first difference at %d: %.9g vs %.9g\n", bad, y[bad], ref[bad]);
				CHECK(memcmp(y, ref, sizeof *y * (size_t)n * H) == 0,
				      "moe %s, %s set, %d tokens, %d threads: the step differs from expert at a time",
				      dtype_name(t), k->name, n, th);
				free(y);
				free(ref);
				free(acc);
				free(xs);
				free(ys);
			}
			be->destroy(c);
		}
		for (int e = 0; e <= NR; e++) {
			free((void *)g[e].data);
			free((void *)u[e].data);
			free((void *)d[e].data);
		}
		free(x);
		free(wts);
	}
}

/* pv of two sets that both sum each element as fused multiply-adds in t order (AVX2, AVX-512): equal
 * bit for bit, at query counts past the AVX-512 tile of 4 and column counts past its 64 */
static void test_pv_bitwise(const struct cpu_kernels *a, const struct cpu_kernels *b)
{
	static const long ks[] = { 1, 15, 16, 17, 63, 64, 65, 100, 128, 130, 512 };
	static const int ms[] = { 1, 7, 33, 64 };
	for (int n = 1; n <= 9; n++)
		for (size_t im = 0; im < sizeof ms / sizeof ms[0]; im++)
			for (size_t ik = 0; ik < sizeof ks / sizeof ks[0]; ik++)
				pv_case(a, b, n, ms[im], ks[ik], 1);
}

int main(void)
{
	test_conversions();
	test_f16_all(&cpu_kernels_ref);
	test_rows(&cpu_kernels_ref, &cpu_kernels_ref);
	test_vectors(&cpu_kernels_ref, &cpu_kernels_ref);
	test_attention_kernels(&cpu_kernels_ref, &cpu_kernels_ref);
#ifdef HAVE_AVX2_TARGET
	if (cpu_kernels_have_avx2()) {
		test_f16_all(&cpu_kernels_avx2);
		test_rows(&cpu_kernels_ref, &cpu_kernels_avx2);
		test_packed(&cpu_kernels_avx2);
		test_blocks(&cpu_kernels_avx2);
		test_vectors(&cpu_kernels_ref, &cpu_kernels_avx2);
		test_attention_kernels(&cpu_kernels_ref, &cpu_kernels_avx2);
		printf("compared %s with %s\n", cpu_kernels_avx2.name, cpu_kernels_ref.name);
	} else {
		printf("this CPU lacks AVX2/FMA/F16C: only the portable kernels were tested\n");
	}
#else
	printf("built without AVX2 kernels: only the portable kernels were tested\n");
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
	if (cpu_kernels_have_avx512()) {
		test_f16_all(&cpu_kernels_avx512);
		test_rows(&cpu_kernels_ref, &cpu_kernels_avx512);
		test_packed(&cpu_kernels_avx512);
		test_blocks(&cpu_kernels_avx512);
		test_tokens_alone(&cpu_kernels_avx512);
		test_vectors(&cpu_kernels_ref, &cpu_kernels_avx512);
		test_attention_kernels(&cpu_kernels_ref, &cpu_kernels_avx512);
		if (cpu_kernels_have_avx2())
			test_pv_bitwise(&cpu_kernels_avx2, &cpu_kernels_avx512);
		printf("compared %s with %s\n", cpu_kernels_avx512.name, cpu_kernels_ref.name);
	}
#endif
	printf("kernel set in use: %s\n", cpu_kernels_best()->name);
	test_pool();
	test_pool_shares();
	test_scratch();
	test_backend_threads(&cpu_kernels_ref);
	test_backend_threads(cpu_kernels_best());
	test_backend_attention();
	test_backend_moe(cpu_kernels_best());
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)
	if (cpu_kernels_have_avx512_int8()) {
		test_backend_threads(&cpu_kernels_avx512_int8);
		test_backend_moe(&cpu_kernels_avx512_int8);
	}
#endif
#ifdef HAVE_AVX2_TARGET
	if (cpu_kernels_have_avx2()) {
		test_backend_threads(&cpu_kernels_avx2_int8);
		test_backend_moe(&cpu_kernels_avx2_int8);
	}
#endif
	/* one token's matrices in chunks of 16 rows (several each), which the threads share */
	long chunk_bytes = cpu_moef_chunk_bytes;
	cpu_moef_chunk_bytes = 1;
	test_backend_moe(cpu_kernels_best());
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)
	if (cpu_kernels_have_avx512_int8())
		test_backend_moe(&cpu_kernels_avx512_int8);
#endif
#ifdef HAVE_AVX2_TARGET
	if (cpu_kernels_have_avx2())
		test_backend_moe(&cpu_kernels_avx2_int8);
#endif
	cpu_moef_chunk_bytes = chunk_bytes;
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512BF16_TARGET)
	if (cpu_kernels_have_avx512_bf16())
		test_backend_threads(&cpu_kernels_avx512_bf16);
#endif
	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	return fix_failures ? 1 : 0;
}

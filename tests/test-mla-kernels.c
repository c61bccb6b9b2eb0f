/* test-mla-kernels.c: decode attention's kernels (kernels/cpu/cpu-mla-kernels.h) on every kernel set
 * this CPU runs, against sums in double: axpy_rows on every weight type (float and block-quantized),
 * row counts and widths off the 256-column pass and the 16-lane vectors; pv_scaled with rescales of
 * 1, 0 and in between, query counts off the 4-query tile; pv_add_scaled likewise; scores with row
 * strides wider than the sum; pv and scores again on BF16 rows (a --cache-type bf16 cache), which must
 * sum the widened values exactly as F32 rows of them. The AVX-512 and AVX2 sets must also equal the generic set on
 * their kernels
 * bit for bit where it claims the same sums in the same order (axpy_rows on F32/F16/BF16/Q8_0/Q4_K/Q5_K,
 * pv_scaled, pv_add_scaled), and nothing
 * outside the outputs may be written. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu-kernels.h"
#include "cpu/cpu-mla-kernels.h"
#include "xalloc.h"
#include "fixture-util.h"

/* Relative bound per term summed: F32 rounding of a sum of that many terms, with room. */
#define MK_TOL 2.5e-7

#define GUARD -777.0f

static uint64_t rng = 0x6a09e667f3bcc908ull;

static uint32_t rnd(void)
{
	return (uint32_t)(fix_xorshift(&rng) >> 11);
}

static const enum ds_dtype types[] = { DS_F32, DS_F16, DS_BF16, DS_Q8_0, DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1,
				       DS_Q4_K, DS_Q5_K, DS_Q6_K };

/* A half of moderate size (2^-8 .. 2^0), either sign. */
static uint16_t rnd_half(void)
{
	return (uint16_t)((rnd() & 1) << 15 | (7 + rnd() % 8) << 10 | (rnd() & 0x3ff));
}

/* rows x cols of type t with random contents, and the same weights decoded to float in deq. */
static struct ds_tensor make_w(enum ds_dtype t, long rows, long cols, float **deq)
{
	const struct ds_dtype_info *info = ds_dtype_get(t);
	size_t rb = ds_row_bytes(t, cols);
	uint8_t *data = xmalloc(rb * (size_t)rows + 1);
	*deq = xmalloc(sizeof **deq * (size_t)(rows * cols));
	for (long r = 0; r < rows; r++) {
		uint8_t *row = data + (size_t)r * rb;
		if (t == DS_F32) {
			for (long c = 0; c < cols; c++)
				((float *)row)[c] = 2 * fix_rndf(&rng);
		} else if (t == DS_F16 || t == DS_BF16) {
			for (long c = 0; c < cols; c++)
				((uint16_t *)row)[c] = t == DS_F16 ? rnd_half() : fix_bf16(2 * fix_rndf(&rng));
		} else {
			for (size_t i = 0; i < rb; i++)
				row[i] = (uint8_t)rnd();
			/* sane scales where each format keeps them (the byte soup elsewhere is valid) */
			for (long b = 0; b < cols / info->block; b++) {
				uint8_t *blk = row + (size_t)b * info->block_bytes;
				uint16_t h0 = rnd_half(), h1 = rnd_half();
				size_t at = t == DS_Q6_K ? 208 : 0;
				blk[at] = (uint8_t)h0;
				blk[at + 1] = (uint8_t)(h0 >> 8);
				if (t == DS_Q4_1 || t == DS_Q5_1 || t == DS_Q4_K || t == DS_Q5_K) {
					blk[2] = (uint8_t)h1;
					blk[3] = (uint8_t)(h1 >> 8);
				}
			}
		}
		info->to_float(row, *deq + r * cols, cols);
	}
	return (struct ds_tensor){ .dtype = t, .data = data, .rows = rows, .cols = cols };
}

static const char *set_name(const struct cpu_mla_kernels *mk, const struct cpu_kernels *k)
{
	static char buf[96];
	snprintf(buf, sizeof buf, "%s on %s", mk->name, k->name);
	return buf;
}

/* axpy_rows of rows [row0, row0 + m) into y, against double; into y2 by the generic set on the same
 * kernels, which must match bit for bit when exact is set. */
static void test_axpy_rows(const struct cpu_mla_kernels *mk, const struct cpu_kernels *k, enum ds_dtype t,
			   long cols, int m, int exact)
{
	long rows = m + 5, row0 = 3;
	float *deq;
	struct ds_tensor w = make_w(t, rows, cols, &deq);
	float *a = xmalloc(sizeof *a * (size_t)m), *y = xmalloc(sizeof *y * (size_t)(cols + 1));
	float *y2 = xmalloc(sizeof *y2 * (size_t)cols), *y0 = xmalloc(sizeof *y0 * (size_t)cols);
	for (int j = 0; j < m; j++)
		a[j] = fix_rndf(&rng) * (j % 7 == 3 ? 100.0f : 1.0f);
	for (long c = 0; c < cols; c++)
		y0[c] = y[c] = y2[c] = fix_rndf(&rng);
	y[cols] = GUARD;
	mk->axpy_rows(k, y, a, &w, row0, m);
	cpu_mla_kernels_generic.axpy_rows(k, y2, a, &w, row0, m);
	int bad = 0;
	CHECK(y[cols] == GUARD, "%s %s axpy_rows %ldx%d: wrote past the row", set_name(mk, k), ds_dtype_get(t)->name,
	      cols, m);
	for (long c = 0; c < cols; c++) {
		double want = y0[c], mag = fabs(y0[c]);
		for (int j = 0; j < m; j++) {
			want += (double)a[j] * deq[(row0 + j) * cols + c];
			mag += fabs((double)a[j] * deq[(row0 + j) * cols + c]);
		}
		if (!(fabs(y[c] - want) <= MK_TOL * (m + 1) * mag) && bad++ < 3)
			CHECK(0, "%s %s axpy_rows %ldx%d: column %ld is %.9g, exact %.9g", set_name(mk, k),
			      ds_dtype_get(t)->name, cols, m, c, y[c], want);
		if (exact && memcmp(&y[c], &y2[c], sizeof y[c]) != 0 && bad++ < 3)
			CHECK(0, "%s %s axpy_rows %ldx%d: column %ld is %.9g, the generic set's %.9g (not bit for bit)",
			      set_name(mk, k), ds_dtype_get(t)->name, cols, m, c, y[c], y2[c]);
	}
	free(a);
	free(y);
	free(y2);
	free(y0);
	free(deq);
	free((void *)w.data);
}

/* v (count values) as the kernels get it: F32 as it is, or each value rounded to BF16 into vb (and
 * v rounded in place, the values the sums are held to) */
/* The AVX-512 set's BF16 rows go to vdpbf16ps (cpu_mla_bf16_dot 1): queries and softmax weights are
 * rounded to BF16 too, so the sums are held to those of the rounded values, in F32 rounding, and not
 * to another form's bits */
static int dp_on;

/* x rounded to BF16 in place (count values) */
static void round_bf16(float *x, long count)
{
	for (long i = 0; i < count; i++) {
		uint32_t u = (uint32_t)fix_bf16(x[i]) << 16;
		memcpy(&x[i], &u, sizeof u);
	}
}

static const void *rows_of(enum ds_dtype vt, float *v, long count, uint16_t **vb)
{
	*vb = NULL;
	if (vt == DS_F32)
		return v;
	round_bf16(v, count);
	*vb = xmalloc(sizeof **vb * (size_t)count);
	for (long i = 0; i < count; i++)
		(*vb)[i] = fix_bf16(v[i]);     /* (exact: v is rounded) */
	return *vb;
}

/* pv_scaled (add 0: o_i = f_i o_i + sum of p v) or pv_add_scaled (add 1: o_i += f_i (sum of p v)),
 * on rows of type vt (F32 or BF16) */
static void test_pv(const struct cpu_mla_kernels *mk, const struct cpu_kernels *k, int n, int m, long kdim, int add,
		    enum ds_dtype vt)
{
	const char *what = add ? "pv_add_scaled" : "pv_scaled";
	long ldo = kdim + 3 + 2 * add, ldp = m + 2 + add, ldv = kdim + 9 - 2 * add;
	float *o = xmalloc(sizeof *o * (size_t)(n * ldo)), *o2 = xmalloc(sizeof *o2 * (size_t)(n * ldo));
	float *o0 = xmalloc(sizeof *o0 * (size_t)(n * ldo)), *f = xmalloc(sizeof *f * (size_t)n);
	float *p = xmalloc(sizeof *p * (size_t)(n * ldp)), *v = xmalloc(sizeof *v * (size_t)(m * ldv));
	for (int i = 0; i < n; i++) {
		f[i] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? 0.0f : 0.25f + 0.5f * fabsf(fix_rndf(&rng));
		for (long c = 0; c < ldo; c++)
			o0[i * ldo + c] = c < kdim ? fix_rndf(&rng) : GUARD;
		for (int t = 0; t < m; t++)
			p[i * ldp + t] = fabsf(fix_rndf(&rng));
	}
	for (long i = 0; i < m * ldv; i++)
		v[i] = fix_rndf(&rng);
	memcpy(o, o0, sizeof *o * (size_t)(n * ldo));
	memcpy(o2, o0, sizeof *o * (size_t)(n * ldo));
	uint16_t *vb;
	const void *rows = rows_of(vt, v, m * ldv, &vb);
	(add ? mk->pv_add_scaled : mk->pv_scaled)(k, o, ldo, f, p, ldp, rows, vt, ldv, n, m, kdim);
	(add ? cpu_mla_kernels_generic.pv_add_scaled : cpu_mla_kernels_generic.pv_scaled)(k, o2, ldo, f, p, ldp, rows,
											   vt, ldv, n, m, kdim);
	const int dp = vt == DS_BF16 && dp_on && mk != &cpu_mla_kernels_generic;
	if (dp)
		round_bf16(p, n * ldp);
	if (vt == DS_BF16 && !dp) {
		/* the same sums as F32 rows of the widened values, bit for bit */
		float *o3 = xmalloc(sizeof *o3 * (size_t)(n * ldo));
		memcpy(o3, o0, sizeof *o3 * (size_t)(n * ldo));
		(add ? mk->pv_add_scaled : mk->pv_scaled)(k, o3, ldo, f, p, ldp, v, DS_F32, ldv, n, m, kdim);
		CHECK(memcmp(o3, o, sizeof *o3 * (size_t)(n * ldo)) == 0, "%s %s %dx%dx%ld on BF16 rows: not its sums "
		      "on the widened rows as F32", set_name(mk, k), add ? "pv_add_scaled" : "pv_scaled", n, m, kdim);
		free(o3);
	}
	free(vb);
	int bad = 0;
	for (int i = 0; i < n; i++)
		for (long c = 0; c < ldo; c++) {
			float got = o[i * ldo + c];
			if (c >= kdim) {
				if (got != GUARD && bad++ < 3)
					CHECK(0, "%s %s %dx%dx%ld: query %d column %ld past kdim was written",
					      set_name(mk, k), what, n, m, kdim, i, c);
				continue;
			}
			double sum = 0, mag = 0;
			for (int t = 0; t < m; t++) {
				sum += (double)p[i * ldp + t] * v[t * ldv + c];
				mag += fabs((double)p[i * ldp + t] * v[t * ldv + c]);
			}
			double o_in = o0[i * ldo + c];
			double want = add ? o_in + (double)f[i] * sum : (double)f[i] * o_in + sum;
			mag = add ? fabs(o_in) + (double)f[i] * mag : (double)f[i] * fabs(o_in) + mag;
			if (!(fabs(got - want) <= MK_TOL * (m + 2) * mag) && bad++ < 3)
				CHECK(0, "%s %s %dx%dx%ld: query %d column %ld is %.9g, exact %.9g", set_name(mk, k), what,
				      n, m, kdim, i, c, got, want);
			if (!dp && memcmp(&got, &o2[i * ldo + c], sizeof got) != 0 && bad++ < 3)
				CHECK(0, "%s %s %dx%dx%ld: query %d column %ld is %.9g, the generic set's %.9g",
				      set_name(mk, k), what, n, m, kdim, i, c, got, o2[i * ldo + c]);
		}
	free(o);
	free(o2);
	free(o0);
	free(f);
	free(p);
	free(v);
}

static void test_scores(const struct cpu_mla_kernels *mk, const struct cpu_kernels *k, int n, int m, long kdim,
			long ldv, enum ds_dtype vt)
{
	long lds = m + 4, ldq = kdim + 5;
	float *s = xmalloc(sizeof *s * (size_t)(n * lds)), *q = xmalloc(sizeof *q * (size_t)(n * ldq));
	float *v = xmalloc(sizeof *v * (size_t)(m * ldv));
	for (long i = 0; i < n * ldq; i++)
		q[i] = fix_rndf(&rng);
	for (long i = 0; i < m * ldv; i++)
		v[i] = fix_rndf(&rng) * (i % 11 == 0 ? 50.0f : 1.0f);
	for (long i = 0; i < n * lds; i++)
		s[i] = GUARD;
	uint16_t *vb;
	const void *rows = rows_of(vt, v, m * ldv, &vb);
	mk->scores(k, s, lds, q, NULL, ldq, n, rows, vt, ldv, m, kdim);
	const int dp = vt == DS_BF16 && dp_on && mk != &cpu_mla_kernels_generic;
	CHECK(dp == (vt == DS_BF16 && cpu_mla_bf16_products(mk)), "%s: cpu_mla_bf16_products says %d",
	      set_name(mk, k), cpu_mla_bf16_products(mk));
	if (dp) {
		/* the queries rounded by the caller (qb) give the same bits */
		uint16_t *qb = xmalloc(sizeof *qb * (size_t)(n * ldq));
		float *s4 = xmalloc(sizeof *s4 * (size_t)(n * lds));
		for (long i = 0; i < n * lds; i++)
			s4[i] = GUARD;
		cpu_mla_round_bf16(q, qb, n * ldq);
		mk->scores(k, s4, lds, q, qb, ldq, n, rows, vt, ldv, m, kdim);
		CHECK(memcmp(s4, s, sizeof *s4 * (size_t)(n * lds)) == 0, "%s scores %dx%dx%ld: queries rounded by "
		      "the caller give other sums", set_name(mk, k), n, m, kdim);
		free(qb);
		free(s4);
		round_bf16(q, n * ldq);
	}
	if (vt == DS_BF16 && !dp) {
		float *s3 = xmalloc(sizeof *s3 * (size_t)(n * lds));
		for (long i = 0; i < n * lds; i++)
			s3[i] = GUARD;
		mk->scores(k, s3, lds, q, NULL, ldq, n, v, DS_F32, ldv, m, kdim);
		CHECK(memcmp(s3, s, sizeof *s3 * (size_t)(n * lds)) == 0, "%s scores %dx%dx%ld on BF16 rows: not its "
		      "sums on the widened rows as F32", set_name(mk, k), n, m, kdim);
		free(s3);
	}
	free(vb);
	int bad = 0;
	for (int i = 0; i < n; i++)
		for (long t = 0; t < lds; t++) {
			float got = s[i * lds + t];
			if (t >= m) {
				if (got != GUARD && bad++ < 3)
					CHECK(0, "%s scores %dx%dx%ld: query %d slot %ld past the rows was written",
					      set_name(mk, k), n, m, kdim, i, t);
				continue;
			}
			double want = 0, mag = 0;
			for (long c = 0; c < kdim; c++) {
				want += (double)q[i * ldq + c] * v[t * ldv + c];
				mag += fabs((double)q[i * ldq + c] * v[t * ldv + c]);
			}
			if (!(fabs(got - want) <= MK_TOL * (kdim + 1) * mag) && bad++ < 3)
				CHECK(0, "%s scores %dx%dx%ld: query %d row %ld is %.9g, exact %.9g", set_name(mk, k), n, m,
				      kdim, i, t, got, want);
		}
	free(s);
	free(q);
	free(v);
}

/* axpy_rows_n for n queries (y rows ldy apart, a rows lda apart) equals n calls of the same set's
 * axpy_rows bit for bit, and writes nothing between or past the rows. */
static void test_axpy_rows_n(const struct cpu_mla_kernels *mk, const struct cpu_kernels *k, enum ds_dtype t,
			     long cols, int m, int n)
{
	long rows = m + 5, row0 = 2, ldy = cols + 3, lda = m + 1;
	float *deq;
	struct ds_tensor w = make_w(t, rows, cols, &deq);
	float *a = xmalloc(sizeof *a * (size_t)(n * lda)), *y = xmalloc(sizeof *y * (size_t)(n * ldy));
	float *y1 = xmalloc(sizeof *y1 * (size_t)(n * ldy));
	for (long i = 0; i < n * lda; i++)
		a[i] = fix_rndf(&rng);
	for (long i = 0; i < n * ldy; i++)
		y[i] = y1[i] = (i % ldy) < cols ? fix_rndf(&rng) : GUARD;
	mk->axpy_rows_n(k, y, ldy, a, lda, n, &w, row0, m);
	for (int i = 0; i < n; i++)
		mk->axpy_rows(k, y1 + i * ldy, a + i * lda, &w, row0, m);
	CHECK(memcmp(y, y1, sizeof *y * (size_t)(n * ldy)) == 0,
	      "%s %s axpy_rows_n %ldx%d, %d queries: not the sums of %d axpy_rows calls (or wrote between rows)",
	      set_name(mk, k), ds_dtype_get(t)->name, cols, m, n, n);
	free(a);
	free(y);
	free(y1);
	free(deq);
	free((void *)w.data);
}

static void test_set(const struct cpu_kernels *k)
{
	const struct cpu_mla_kernels *mk = cpu_mla_kernels_for(k);
	int same_order = mk != &cpu_mla_kernels_generic;
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		enum ds_dtype t = types[ti];
		long blk = ds_dtype_get(t)->block;
		/* widths: under one pass, one pass, two (kv_rank 512), passes and a tail */
		long widths[] = { blk == 1 ? 17 : blk, 256, 512, blk == 1 ? 300 : blk == 32 ? 288 : 768, 1040 / blk * blk };
		static const int ms[] = { 1, 7, 9, 128, 130 };
		int exact = t == DS_F32 || t == DS_F16 || t == DS_BF16 || t == DS_Q8_0 || t == DS_Q4_K || t == DS_Q5_K;
		for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
			for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
				if (widths[wi] % blk == 0) {
					test_axpy_rows(mk, k, t, widths[wi], ms[mi], exact || !same_order);
					test_axpy_rows_n(mk, k, t, widths[wi], ms[mi], 1 + (int)(wi + mi) % 7);
				}
	}
	static const int ns[] = { 1, 2, 3, 4, 5, 16, 17 };
	static const int pms[] = { 1, 5, 32 };
	static const long kdims[] = { 512, 17, 100, 64 };
	for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
		for (size_t mi = 0; mi < sizeof pms / sizeof pms[0]; mi++)
			for (size_t ki = 0; ki < sizeof kdims / sizeof kdims[0]; ki++) {
				for (int b16 = 0; b16 <= 1; b16++) {
					enum ds_dtype vt = b16 ? DS_BF16 : DS_F32;
					test_pv(mk, k, ns[ni], pms[mi], kdims[ki], 0, vt);
					test_pv(mk, k, ns[ni], pms[mi] == 32 ? 64 : pms[mi], kdims[ki], 1, vt);
					test_scores(mk, k, ns[ni], pms[mi] == 5 ? 29 : pms[mi], kdims[ki] + 64, kdims[ki] + 64,
						    vt);
					test_scores(mk, k, ns[ni], pms[mi] + 2, kdims[ki], kdims[ki] + 13, vt);
				}
			}
	printf("%s: checked\n", set_name(mk, k));
}

int main(void)
{
	CHECK(cpu_mla_kernels_for(&cpu_kernels_ref) == &cpu_mla_kernels_generic,
	      "the portable kernels do not get the generic attention kernels");
	test_set(&cpu_kernels_ref);
#ifdef HAVE_AVX2_TARGET
	if (cpu_kernels_have_avx2()) {
		CHECK(cpu_mla_kernels_for(&cpu_kernels_avx2) == &cpu_mla_kernels_avx2 &&
		      cpu_mla_kernels_for(&cpu_kernels_avx2_int8) == &cpu_mla_kernels_avx2,
		      "the AVX2 kernels do not get the AVX2 attention kernels");
		test_set(&cpu_kernels_avx2);
		/* the generic set on the same kernels: the reference the AVX2 one is compared to */
		printf("generic on %s: ", cpu_kernels_avx2.name);
		for (int ni = 1; ni <= 17; ni += 8) {
			test_pv(&cpu_mla_kernels_generic, &cpu_kernels_avx2, ni, 32, 512, 0, DS_F32);
			test_pv(&cpu_mla_kernels_generic, &cpu_kernels_avx2, ni, 64, 512, 1, DS_F32);
		}
		printf("checked\n");
	} else
		printf("this CPU lacks AVX2/FMA/F16C: the AVX2 set was not tested\n");
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
	if (cpu_kernels_have_avx512()) {
		CHECK(cpu_mla_kernels_for(&cpu_kernels_avx512) == &cpu_mla_kernels_avx512,
		      "the AVX-512 kernels do not get the AVX-512 attention kernels");
		cpu_mla_bf16_dot = 0;
		test_set(&cpu_kernels_avx512);
		cpu_mla_bf16_dot = -1;
		if (cpu_kernels_have_avx512_bf16()) {
			printf("BF16 rows by vdpbf16ps: ");
			dp_on = 1;
			test_set(&cpu_kernels_avx512);
			dp_on = 0;
		} else {
			printf("this CPU lacks AVX-512 BF16: BF16 rows by vdpbf16ps were not tested\n");
		}
		/* the generic set on the same kernels: the reference the AVX-512 one is compared to */
		printf("generic on %s: ", cpu_kernels_avx512.name);
		for (int ni = 1; ni <= 17; ni += 8) {
			test_pv(&cpu_mla_kernels_generic, &cpu_kernels_avx512, ni, 32, 512, 0, DS_F32);
			test_pv(&cpu_mla_kernels_generic, &cpu_kernels_avx512, ni, 64, 512, 1, DS_F32);
		}
		printf("checked\n");
	} else {
		printf("this CPU lacks AVX-512: the AVX-512 attention kernels were not tested\n");
	}
#else
	printf("built without AVX-512 kernels\n");
#endif
	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	return fix_failures ? 1 : 0;
}

/* cpu-mla-kernels.h: the two inner loops of decode attention (cpu-mla.c) as kernels of their own:
 * the weighted sum of a block of weight rows (the absorbed query, q_nope W_UK) and the weighted sum
 * of cache rows with the online softmax's rescale folded in. A set per kernel set of cpu-kernels.h:
 * the generic one runs that set's axpy_row and pv in loops (its results, bit for bit); the AVX-512
 * one keeps the sums in registers and reads each row once, with the same sums in the same order. */
#ifndef DS_CPU_MLA_KERNELS_H
#define DS_CPU_MLA_KERNELS_H

#include "cpu-kernels.h"
#include "cpu-scratch.h"

/* The cache rows v of pv_scaled, pv_add_scaled and scores are of type vt, DS_F32 or DS_BF16 (a
 * --cache-type bf16 cache), ldv values apart; BF16 values are widened to F32 exactly, so a set's sums
 * over BF16 rows are its sums over those rows widened. */
struct cpu_mla_kernels {
	const char *name;
	/* scores and pv_add_scaled form each query's sums alone where the queries come in fours: a call
	 * for queries [4g, 4g + 4) gives them the bits a call for all of them does */
	bool queries_alone;
	/* y[c] += sum over j < m, in order, of a[j] * W[row0 + j][c] for c < w->cols: W^T a over a
	 * block of rows, the same sums as m calls of k->axpy_row. Every weight type. */
	void (*axpy_rows)(const struct cpu_kernels *k, float *y, const float *a, const struct ds_tensor *w,
			  long row0, int m);
	/* axpy_rows for n queries: y_i (at y + i*ldy) += sum over j < m, in order, of a_i[j] * W[row0 + j]
	 * (a_i at a + i*lda): the same sums as n calls of axpy_rows, each row read once for all where
	 * the set can (the absorbed queries of a batch of sequences, a head at a time). */
	void (*axpy_rows_n)(const struct cpu_kernels *k, float *y, long ldy, const float *a, long lda, int n,
			    const struct ds_tensor *w, long row0, int m);
	/* For each query i < n: o_i = f[i] * o_i, then o_i[c] += p[i*ldp + t] * v[t*ldv + c] for t < m
	 * in order, c < kdim (o_i at o + i*ldo): k->pv after a rescale of each o_i (none where f[i] is
	 * 1, which leaves o_i as it is). */
	void (*pv_scaled)(const struct cpu_kernels *k, float *o, long ldo, const float *f, const float *p,
			  long ldp, const void *v, enum ds_dtype vt, long ldv, int n, int m, long kdim);
	/* For each query i < n: o_i[c] += f[i] * (the sum over t < m, in order, of p[i*ldp + t] *
	 * v[t*ldv + c]) for c < kdim: a block of rows summed on its own and added with its softmax
	 * rescale (one token's decode sums a column slice of every block so). */
	void (*pv_add_scaled)(const struct cpu_kernels *k, float *o, long ldo, const float *f, const float *p,
			      long ldp, const void *v, enum ds_dtype vt, long ldv, int n, int m, long kdim);
	/* s[i*lds + t] = q_i . v_t over kdim for queries i < n (q_i at q + i*ldq) and rows t < m
	 * (v_t at v + t*ldv): the attention scores of a block of cache rows, each row read once for
	 * all queries. The generic set is k->rows; others sum in their own order (F32 rounding). qb,
	 * where not NULL, is q rounded by cpu_mla_round_bf16 (the same layout), which the vdpbf16ps
	 * form of BF16 rows then uses instead of rounding q itself on every call. */
	void (*scores)(const struct cpu_kernels *k, float *s, long lds, const float *q, const uint16_t *qb,
		       long ldq, int n, const void *v, enum ds_dtype vt, long ldv, int m, long kdim);
};

extern const struct cpu_mla_kernels cpu_mla_kernels_generic;
#ifdef HAVE_AVX2_TARGET
/* The AVX2 sets' (avx2, avx2-int8): cpu-mla-kernels-avx2.c */
extern const struct cpu_mla_kernels cpu_mla_kernels_avx2;
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
extern const struct cpu_mla_kernels cpu_mla_kernels_avx512;
#endif

/* Rows [0, m) of v (type vt, ldv values apart), columns [0, kdim), as F32 rows *ld apart: v itself
 * where it is F32 (*ld = ldv), else widened into this thread's scratch buffer for use (*ld = kdim). */
const float *cpu_mla_rows_f32(const void *v, enum ds_dtype vt, long ldv, int m, long kdim,
			      enum cpu_scratch_use use, long *ld);

/* BF16 rows in the AVX-512 set: -1 (default) multiplies them by queries and softmax weights rounded
 * to BF16 with vdpbf16ps where the CPU has AVX-512 BF16 (about twice the products per instruction;
 * sums in F32), else, and at 0, widens them to F32 and multiplies as F32 rows (tests force both) */
extern int cpu_mla_bf16_dot;

/* Whether mk's scores and weighted sums on BF16 rows take the vdpbf16ps form (so a qb is worth
 * making for its scores) */
int cpu_mla_bf16_products(const struct cpu_mla_kernels *mk);

/* y[i] = x[i] rounded to BF16 as the vdpbf16ps form rounds queries (to nearest, ties to even), n values */
void cpu_mla_round_bf16(const float *x, uint16_t *y, long n);

/* The set that goes with kernel set k: the AVX-512 one with the AVX-512 sets, the AVX2 one with the
 * AVX2 sets, the generic one with the portable set (so DSCODER_KERNELS=ref reaches attention too). */
const struct cpu_mla_kernels *cpu_mla_kernels_for(const struct cpu_kernels *k);

#endif

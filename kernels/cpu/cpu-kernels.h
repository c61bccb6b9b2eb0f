/* cpu-kernels.h: single-threaded compute kernels over mapped weights (F32/F16/BF16 and the GGUF
 * block-quantized types) with F32 activations: a portable C set (the reference), an AVX2/FMA/F16C
 * set and an AVX-512 (F/BW/VL/DQ) set, with the same results within F32 rounding. */
#ifndef DS_CPU_KERNELS_H
#define DS_CPU_KERNELS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "model.h"

struct cpu_kernels {
	const char *name;
	/* Whether the set rounds the activations of its products (avx512-int8 to 8 bits, avx512-bf16 to
	 * BF16): the latent cache is then BF16 unless --cache-type says otherwise (cpu-backend.c) */
	bool rounds_activations;
	/* y[i*ldy + r] = W[r] . x[i*ldx ..] for rows r in [r0, r1) and tokens i < n: each weight row is
	 * read once for all n tokens. */
	void (*rows)(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
		     float *y, long ldy);
	/* Activations prepared once per product, in sets that have such a form (NULL elsewhere): from
	 * packed_from(type) tokens on, x is rearranged for weights of type t by pack (pack_floats(t, n, k)
	 * floats at a 64-byte aligned xp) and every row block multiplies it with rows_packed: the sums of
	 * rows() (bit for bit where rows() itself takes that form, on 96 rows or more). The float sets
	 * pack for their prefill tiles (the AVX-512 set, for quantized types, from one token on: below
	 * the tiles, decode's activations ordered, scaled and summed once per product); the int8 set
	 * rounds the activations to int8 here, once instead of once per row block. */
	int (*packed_from)(enum ds_dtype t);
	size_t (*pack_floats)(enum ds_dtype t, int n, long k);
	void (*pack)(enum ds_dtype t, const float *x, int n, long ldx, long k, float *xp);
	void (*rows_packed)(const struct ds_tensor *w, long r0, long r1, const float *xp, int n, float *y,
			    long ldy);
	/* Types whose matrices this set also reads in the rows4 layout (cpu-rows4.h), through rows and
	 * rows_packed: the CPU backend rearranges them so at load. NULL: none. */
	bool (*rows4)(enum ds_dtype t);
	/* Decode attention's absorb from one head's uk4 table t (cpu-uk4.h), y[k] = scale * sum over
	 * j < nope of q[j] W_UK[j][k] (k < kv_rank), in sets that read such tables (the CPU backend makes
	 * them at load then); NULL: none. */
	void (*absorb_uk4)(float *y, const float *q, float scale, const uint8_t *t, int nope, long kv_rank);
	/* y[c] += a * W[row][c] for c < w->cols */
	void (*axpy_row)(float *y, float a, const struct ds_tensor *w, long row);
	float (*dot)(const float *a, const float *b, long n);
	/* y += a * x */
	void (*axpy)(float *y, float a, const float *x, long n);
	/* o[i*ldo + k] += sum over t < m of p[i*ldp + t] * v[t*ldv + k], for i < n, k < kdim: the
	 * attention-weighted sum of m rows of v for n queries; t runs in order, as repeated axpy. */
	void (*pv)(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int n, int m,
		   long kdim);
	/* s[j] = exp(s[j] - max) for j < n; returns their sum. */
	float (*exp_sum)(float *s, long n, float max);
	/* g[j] = silu(g[j]) * u[j] = g[j] / (1 + exp(-g[j])) * u[j] for j < n: the SwiGLU. Each value's
	 * result does not depend on where it lies in g (the FFN splits rows and tokens many ways). */
	void (*silu_mul)(float *g, const float *u, long n);
};

extern const struct cpu_kernels cpu_kernels_ref;
#ifdef HAVE_AVX2_TARGET
extern const struct cpu_kernels cpu_kernels_avx2;
/* The AVX2 set's float kernels, which the AVX-512 set shares. */
void cpu_avx2_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
		   float *y, long ldy);
void cpu_avx2_axpy_row(float *y, float a, const struct ds_tensor *w, long row);
float cpu_avx2_dot(const float *a, const float *b, long n);
void cpu_avx2_axpy(float *y, float a, const float *x, long n);
void cpu_avx2_pv(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int n, int m,
		 long kdim);
float cpu_avx2_exp_sum(float *s, long n, float max);
void cpu_avx2_silu_mul(float *g, const float *u, long n);
/* Opt-in, never the default: Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K weights times activations rounded to int8 with AVX2
 * (cpu-kernels-avx2-int8.c), for CPUs without AVX-512; the rest is the AVX2 set. */
extern const struct cpu_kernels cpu_kernels_avx2_int8;
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
extern const struct cpu_kernels cpu_kernels_avx512;
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)
/* Opt-in, never the default: quantized weights times activations rounded to int8 per block of 32
 * (cpu-kernels-int8.c); the rest is the AVX-512 set. */
extern const struct cpu_kernels cpu_kernels_avx512_int8;
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512BF16_TARGET)
/* Opt-in, never the default: BF16 weights times activations rounded to BF16 (cpu-kernels-bf16.c); the
 * rest is the AVX-512 set. */
extern const struct cpu_kernels cpu_kernels_avx512_bf16;
#endif

/* The set this process uses: DSCODER_KERNELS=ref|avx2|avx2-int8|avx512|avx512-int8|avx512-bf16 in the
 * environment names one (read at the first call); unset, the fastest exact set this CPU runs (AVX-512,
 * then AVX2, then portable; avx2-int8, avx512-int8 and avx512-bf16 only when named). A named set that is not compiled in or
 * that this CPU lacks, or an unknown name, is refused: one sentence on stderr and exit(1). */
const struct cpu_kernels *cpu_kernels_best(void);
/* Is the AVX2 set compiled in and supported by this CPU? */
int cpu_kernels_have_avx2(void);
/* Is the AVX-512 set compiled in and supported by this CPU (and its OS saves the ZMM registers)? */
int cpu_kernels_have_avx512(void);
/* Is the int8 set compiled in and supported by this CPU (AVX-512 and AVX512_VNNI)? */
int cpu_kernels_have_avx512_int8(void);
/* AVX-512 VBMI (byte permutes: the int8 set's q4_0/q5_0 decode gathers its blocks with them) */
int cpu_kernels_have_avx512_vbmi(void);
/* The processor as --bench reports it, into buf (len bytes, NUL-terminated): on x86 the CPUID brand
 * string and its family and model numbers ("AMD EPYC, x86 family 25 model 17"), which tell apart
 * machines a virtual machine's brand string does not (that one is Zen 4); elsewhere "unknown".
 * Printable ASCII without quotes or backslashes, so it goes into JSON as it is. */
void cpu_kernels_cpu_name(char *buf, size_t len);
/* Whether the int8 set's q4_0/q5_0 decode uses VBMI: on = 1 or 0 sets it (1 only where the CPU has
 * it), -1 asks (the first ask reads DSCODER_INT8_VBMI: 0 turns it off). For tests and benchmarks. */
int cpu_kernels_int8_vbmi(int on);
/* Whether the exact quantized decode (the AVX-512 set's K-quants, q8_0 and other blocks of 32, the AVX2
 * set's K-quants, q4_1, q5_0 and q5_1) takes the codes as subnormal floats: where a timing at the first ask finds this CPU's FMAs
 * as fast on subnormal inputs as on normal ones (AMD Zen 4 and 5; not Intel cores that take an assist);
 * DSCODER_SUBNORMAL_CODES=0 or 1 overrides, read at the first ask. on = 1 or 0 sets it, -1 asks. */
int cpu_kernels_subnormal_codes(int on);
/* The L1 data cache of one core in bytes, as the C library reads it from the CPU (sysconf), or 32 KB
 * where it tells nothing: the fused decode kernels size their whole rows by it (cpu-quant-simd.h) */
long cpu_kernels_l1d_bytes(void);
/* Is the BF16 set compiled in and supported by this CPU (AVX-512 and AVX512_BF16)? */
int cpu_kernels_have_avx512_bf16(void);

static inline float cpu_bf16_to_f32(uint16_t h)
{
	return ds_bf16_to_f32(h);
}

static inline float cpu_f16_to_f32(uint16_t h)
{
	return ds_f16_to_f32(h);
}

/* Element c of row r of a block-quantized w (decodes its block). */
float cpu_tensor_at_quant(const struct ds_tensor *w, long r, long c);

/* Element c of row r of w, as float. */
static inline float cpu_tensor_at(const struct ds_tensor *w, long r, long c)
{
	size_t i = (size_t)r * (size_t)w->cols + (size_t)c;
	switch (w->dtype) {
	case DS_F32: return ((const float *)w->data)[i];
	case DS_BF16: return cpu_bf16_to_f32(((const uint16_t *)w->data)[i]);
	case DS_F16: return cpu_f16_to_f32(((const uint16_t *)w->data)[i]);
	default: return cpu_tensor_at_quant(w, r, c);
	}
}

/* Row r of w converted to n = w->cols floats. */
void cpu_tensor_row(const struct ds_tensor *w, long r, float *out);

/* A buffer of at least n floats private to the calling thread, kept for its next call: where a
 * quantized row is decoded before its dot products. */
float *cpu_row_scratch(long n);

#endif

/* cpu-kernels.c: the portable kernels, and the choice of kernel set at run time. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "clock.h"
#include "cpu-kernels.h"
#include "cpu-rows4.h"
#include "cpu-scratch.h"

void cpu_tensor_row(const struct ds_tensor *w, long r, float *out)
{
	const struct ds_dtype_info *info = ds_dtype_get(w->dtype);

	if (w->layout == DS_LAYOUT_ROWS4) {
		uint8_t block[256];
		for (long b = 0; b < w->cols / info->block; b++) {
			cpu_rows4_block(w, r, b, block);
			info->to_float(block, out + b * info->block, info->block);
		}
		return;
	}
	info->to_float((const char *)w->data + (size_t)r * ds_row_bytes(w->dtype, w->cols), out, w->cols);
}

float cpu_tensor_at_quant(const struct ds_tensor *w, long r, long c)
{
	const struct ds_dtype_info *info = ds_dtype_get(w->dtype);
	long b = c / info->block;
	const void *block = (const char *)w->data + (size_t)r * ds_row_bytes(w->dtype, w->cols) +
			    (size_t)b * info->block_bytes;
	uint8_t gathered[256];
	float v[256];

	if (w->layout == DS_LAYOUT_ROWS4) {
		cpu_rows4_block(w, r, b, gathered);
		block = gathered;
	}
	info->to_float(block, v, info->block);
	return v[c - b * info->block];
}

float *cpu_row_scratch(long n)
{
	return cpu_scratch(CPU_SCRATCH_ROW, (size_t)n * sizeof(float));
}

/* Eight partial sums in fixed-size blocks: the shape compilers turn into vector code (SSE, NEON)
 * without target options, and the same summation pattern as the AVX2 kernel's lanes. */
#define REF_LANES 8

static inline __attribute__((always_inline)) float ref_sum(const float *s)
{
	return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

static inline __attribute__((always_inline)) float ref_dot_row(const void *wrow, enum ds_dtype t,
							      const float *x, long n)
{
	float s[REF_LANES] = {0};
	long c = 0, n8 = n - n % REF_LANES;
	if (t == DS_F32) {
		const float *w = wrow;
		for (; c < n8; c += REF_LANES)
			for (int j = 0; j < REF_LANES; j++)
				s[j] += w[c + j] * x[c + j];
	} else if (t == DS_BF16) {
		const uint16_t *w = wrow;
		for (; c < n8; c += REF_LANES)
			for (int j = 0; j < REF_LANES; j++) {
				uint32_t u = (uint32_t)w[c + j] << 16;
				float f;
				memcpy(&f, &u, sizeof f);
				s[j] += f * x[c + j];
			}
	} else {
		const uint16_t *w = wrow;
		for (; c < n8; c += REF_LANES)
			for (int j = 0; j < REF_LANES; j++)
				s[j] += cpu_f16_to_f32(w[c + j]) * x[c + j];
	}
	float sum = ref_sum(s);
	for (; c < n; c++)
		sum += (t == DS_F32 ? ((const float *)wrow)[c] : t == DS_BF16 ?
			cpu_bf16_to_f32(((const uint16_t *)wrow)[c]) : cpu_f16_to_f32(((const uint16_t *)wrow)[c])) * x[c];
	return sum;
}

static float ref_dot(const float *a, const float *b, long n);

static void ref_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
		     float *y, long ldy)
{
	long k = (long)w->cols;
	size_t rb = ds_row_bytes(w->dtype, k);

	if (ds_dtype_is_quantized(w->dtype)) {
		/* Each row is decoded once, then serves every token. */
		float *row = cpu_row_scratch(k);

		for (long r = r0; r < r1; r++) {
			cpu_tensor_row(w, r, row);
			for (int i = 0; i < n; i++)
				y[(long)i * ldy + r] = ref_dot(row, x + (long)i * ldx, k);
		}
		return;
	}
	for (long r = r0; r < r1; r++) {
		const char *wrow = (const char *)w->data + (size_t)r * rb;
		for (int i = 0; i < n; i++)
			y[(long)i * ldy + r] = ref_dot_row(wrow, w->dtype, x + (long)i * ldx, k);
	}
}

static void ref_axpy(float *y, float a, const float *x, long n);

static void ref_axpy_row(float *y, float a, const struct ds_tensor *w, long row)
{
	long n = (long)w->cols;

	if (ds_dtype_is_quantized(w->dtype)) {
		float *buf = cpu_row_scratch(n);

		cpu_tensor_row(w, row, buf);
		ref_axpy(y, a, buf, n);
		return;
	}
	for (long c = 0; c < n; c++)
		y[c] += a * cpu_tensor_at(w, row, c);
}

static float ref_dot(const float *a, const float *b, long n)
{
	float s[REF_LANES] = {0};
	long c = 0, n8 = n - n % REF_LANES;
	for (; c < n8; c += REF_LANES)
		for (int j = 0; j < REF_LANES; j++)
			s[j] += a[c + j] * b[c + j];
	float sum = ref_sum(s);
	for (; c < n; c++)
		sum += a[c] * b[c];
	return sum;
}

static void ref_axpy(float *y, float a, const float *x, long n)
{
	for (long c = 0; c < n; c++)
		y[c] += a * x[c];
}

static void ref_pv(float *o, long ldo, const float *p, long ldp, const float *v, long ldv, int n, int m,
		   long kdim)
{
	for (int i = 0; i < n; i++)
		for (int t = 0; t < m; t++)
			ref_axpy(o + (long)i * ldo, p[(long)i * ldp + t], v + (long)t * ldv, kdim);
}

static float ref_exp_sum(float *s, long n, float max)
{
	float sum = 0;
	for (long j = 0; j < n; j++) {
		s[j] = expf(s[j] - max);
		sum += s[j];
	}
	return sum;
}

static void ref_silu_mul(float *g, const float *u, long n)
{
	for (long j = 0; j < n; j++)
		g[j] = g[j] / (1.0f + expf(-g[j])) * u[j];
}

const struct cpu_kernels cpu_kernels_ref = {
	.name = "portable C",
	.rows = ref_rows,
	.axpy_row = ref_axpy_row,
	.dot = ref_dot,
	.axpy = ref_axpy,
	.pv = ref_pv,
	.exp_sum = ref_exp_sum,
	.silu_mul = ref_silu_mul,
};

/* CPUID rather than __builtin_cpu_supports, which clang does not know "f16c" for; the OS must also
 * save the YMM registers (XCR0 bits 1 and 2). */
int cpu_kernels_have_avx2(void)
{
#if defined(HAVE_AVX2_TARGET) && (defined(__x86_64__) || defined(__i386__))
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
	if (!fma || !osxsave || !f16c || !avx)
		return 0;
	unsigned xlo, xhi;
	__asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
	if ((xlo & 6) != 6)
		return 0;
	if (__get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	return (b >> 5) & 1;     /* AVX2 */
#else
	return 0;
#endif
}

void cpu_kernels_cpu_name(char *buf, size_t len)
{
	if (len == 0)
		return;
	snprintf(buf, len, "unknown");
#if defined(__x86_64__) || defined(__i386__)
	unsigned r[12], a, b, c, d;
	char brand[49] = "";
	if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
		for (unsigned i = 0; i < 3; i++)
			__get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
		memcpy(brand, r, 48);
	}
	/* the brand string padded with spaces (Intel pads in front), anything unprintable dropped */
	char clean[49];
	size_t n = 0;
	for (const char *p = brand; *p != '\0'; p++)
		if (*p >= ' ' && *p <= '~' && *p != '"' && *p != '\\' && !(*p == ' ' && (n == 0 || clean[n - 1] == ' ')))
			clean[n++] = *p;
	while (n > 0 && clean[n - 1] == ' ')
		n--;
	clean[n] = '\0';
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	/* the displayed family and model: the extended fields count where the base family is 15 (and the
	 * extended model from family 6 on) */
	unsigned family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
	if (family == 0xf)
		family += (a >> 20) & 0xff;
	if (family >= 6)
		model += ((a >> 16) & 0xf) << 4;
	snprintf(buf, len, "%s%sx86 family %u model %u", clean, n > 0 ? ", " : "", family, model);
#endif
}

/* AVX-512 F, BW, VL and DQ (CPUID 7.EBX bits 16, 30, 31, 17) on top of AVX2, with the opmask and
 * ZMM state enabled by the OS (XCR0 bits 5-7). */
int cpu_kernels_have_avx512(void)
{
#if defined(HAVE_AVX512_TARGET) && (defined(__x86_64__) || defined(__i386__))
	unsigned a, b, c, d;
	if (!cpu_kernels_have_avx2())
		return 0;
	unsigned xlo, xhi;
	__asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
	if ((xlo & 0xe6) != 0xe6)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	return ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
#else
	return 0;
#endif
}

long cpu_kernels_l1d_bytes(void)
{
	static atomic_long cached;
	long b = atomic_load(&cached);
	if (b == 0) {
#ifdef _SC_LEVEL1_DCACHE_SIZE
		b = sysconf(_SC_LEVEL1_DCACHE_SIZE);
#endif
		/* below 16 KB or past 1 MB is no L1 of an x86 core of this century: a reading to ignore */
		if (b < 16384 || b > (1L << 20))
			b = 32768;
		atomic_store(&cached, b);
	}
	return b;
}

/* Whether the exact quantized decode takes codes as subnormal floats (cpu-quant-simd.h: the AVX-512
 * set's K-quants, q8_0 and other blocks of 32, the AVX2 set's K-quants, q4_1, q5_0 and q5_1): where this CPU's FMAs take
 * subnormal inputs at full speed, as AMD's Zen 4 and 5 do (measured), and DSCODER_SUBNORMAL_CODES is
 * not 0. Many Intel cores take a microcode assist for a subnormal operand, a hundred cycles or more,
 * and older cores may, so the CPU is asked by timing it (fma_subnormal_fast), not by its vendor.
 * Decided once (pool threads ask concurrently), or as set by cpu_kernels_subnormal_codes(0 or 1). */
static atomic_int subnormal_codes;
static pthread_once_t subnormal_codes_once = PTHREAD_ONCE_INIT;

#if defined(HAVE_AVX2_TARGET) && (defined(__x86_64__) || defined(__i386__))
/* Seconds for reps rounds of 8 independent FMA chains of q times x, as the kernels multiply a code
 * by a scaled activation (the products normal) */
__attribute__((target("avx2,fma"), noinline)) static double fma_chains(float q, int reps)
{
	const __m256 vq = _mm256_set1_ps(q), vx = _mm256_set1_ps(0x1p120f);
	__m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3);
	__m256 a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7);
	const double t0 = clock_now();
	for (int r = 0; r < reps; r++) {
		a0 = _mm256_fmadd_ps(vq, vx, a0);
		a1 = _mm256_fmadd_ps(vq, vx, a1);
		a2 = _mm256_fmadd_ps(vq, vx, a2);
		a3 = _mm256_fmadd_ps(vq, vx, a3);
		a4 = _mm256_fmadd_ps(vq, vx, a4);
		a5 = _mm256_fmadd_ps(vq, vx, a5);
		a6 = _mm256_fmadd_ps(vq, vx, a6);
		a7 = _mm256_fmadd_ps(vq, vx, a7);
		/* in registers, and not folded into fewer operations */
		__asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));
	}
	const double t1 = clock_now();
	__asm__ volatile("" : : "x"(a0), "x"(a1), "x"(a2), "x"(a3), "x"(a4), "x"(a5), "x"(a6), "x"(a7));
	return t1 - t0;
}

/* Whether FMAs with a subnormal multiplicand run at the speed of normal ones: the quicker of 5 timings
 * of 16384 FMAs each way (2.4 us on one Zen 4 core, both ways). An assist costs
 * 50-100 times an FMA, so a ratio of 4 tells the two apart through any noise of a shared machine. */
static int fma_subnormal_fast(void)
{
	if (!cpu_kernels_have_avx2())
		return 0;
	double sub = 1e9, normal = 1e9;
	for (int i = 0; i < 5; i++) {
		double a = fma_chains(15 * 0x1p-149f, 2048), b = fma_chains(15 * 0x1p-126f, 2048);
		sub = a < sub ? a : sub;
		normal = b < normal ? b : normal;
	}
	return sub < 4 * normal;
}
#else
static int fma_subnormal_fast(void)
{
	return 0;
}
#endif

static void subnormal_codes_init(void)
{
	const char *e = getenv("DSCODER_SUBNORMAL_CODES");
	atomic_store(&subnormal_codes, e != NULL ? strcmp(e, "0") != 0 : fma_subnormal_fast());
}

int cpu_kernels_subnormal_codes(int on)
{
	pthread_once(&subnormal_codes_once, subnormal_codes_init);
	if (on >= 0)
		atomic_store(&subnormal_codes, on != 0);
	return atomic_load(&subnormal_codes);
}

#if defined(__x86_64__) || defined(__i386__)
enum { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

/* An extension of AVX-512: AVX-512 itself, and bit of register reg of CPUID leaf 7, sub-leaf sub */
static int avx512_extension(unsigned sub, int reg, int bit)
{
	unsigned r[4];
	if (!cpu_kernels_have_avx512() || __get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, sub, r[CPUID_EAX], r[CPUID_EBX], r[CPUID_ECX], r[CPUID_EDX]);
	return (r[reg] >> bit) & 1;
}
#endif

/* AVX512_VNNI: CPUID 7.0.ECX bit 11. */
int cpu_kernels_have_avx512_int8(void)
{
#if defined(HAVE_AVX512VNNI_TARGET) && (defined(__x86_64__) || defined(__i386__))
	return avx512_extension(0, CPUID_ECX, 11);
#else
	return 0;
#endif
}

/* AVX512_VBMI: CPUID 7.0.ECX bit 1 (with AVX-512: the int8 set's byte permutes) */
int cpu_kernels_have_avx512_vbmi(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return avx512_extension(0, CPUID_ECX, 1);
#else
	return 0;
#endif
}

/* AVX512_BF16: CPUID 7.1.EAX bit 5. */
int cpu_kernels_have_avx512_bf16(void)
{
#if defined(HAVE_AVX512BF16_TARGET) && (defined(__x86_64__) || defined(__i386__))
	return avx512_extension(1, CPUID_EAX, 5);
#else
	return 0;
#endif
}

static const struct cpu_kernels *kernels_chosen;
static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;

static void kernels_choose(void)
{
	const char *force = getenv("DSCODER_KERNELS");
	int avx2 = cpu_kernels_have_avx2(), avx512 = cpu_kernels_have_avx512();

	kernels_chosen = &cpu_kernels_ref;
#ifdef HAVE_AVX2_TARGET
	if (avx2)
		kernels_chosen = &cpu_kernels_avx2;
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
	if (avx512)
		kernels_chosen = &cpu_kernels_avx512;
#endif
	if (force == NULL || *force == '\0')
		return;
	if (strcmp(force, "ref") == 0) {
		kernels_chosen = &cpu_kernels_ref;
		return;
	}
	if (strcmp(force, "avx2") == 0 && avx2) {
#ifdef HAVE_AVX2_TARGET
		kernels_chosen = &cpu_kernels_avx2;
#endif
		return;
	}
	if (strcmp(force, "avx2-int8") == 0 && avx2) {
#ifdef HAVE_AVX2_TARGET
		kernels_chosen = &cpu_kernels_avx2_int8;
#endif
		return;
	}
	if (strcmp(force, "avx512") == 0 && avx512) {
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
		kernels_chosen = &cpu_kernels_avx512;
#endif
		return;
	}
	if (strcmp(force, "avx512-int8") == 0 && cpu_kernels_have_avx512_int8()) {
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)
		kernels_chosen = &cpu_kernels_avx512_int8;
#endif
		return;
	}
	if (strcmp(force, "avx512-bf16") == 0 && cpu_kernels_have_avx512_bf16()) {
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512BF16_TARGET)
		kernels_chosen = &cpu_kernels_avx512_bf16;
#endif
		return;
	}
	if (strcmp(force, "avx512-bf16") == 0)
		fprintf(stderr, "dscoder-engine: DSCODER_KERNELS=avx512-bf16: this CPU (or this build) lacks "
			"AVX-512 BF16 (vdpbf16ps); use avx512 or leave DSCODER_KERNELS unset.\n");
	else if (strcmp(force, "avx2") == 0 || strcmp(force, "avx2-int8") == 0 || strcmp(force, "avx512") == 0 ||
		 strcmp(force, "avx512-int8") == 0)
		fprintf(stderr, "dscoder-engine: DSCODER_KERNELS=%s: this CPU (or this build) lacks %s; "
			"the sets it runs are %s.\n", force, strncmp(force, "avx2", 4) == 0 ? "AVX2/FMA/F16C" :
			strcmp(force, "avx512") == 0 ? "AVX-512 F/BW/VL/DQ" : "AVX-512 with VNNI",
			cpu_kernels_have_avx512_int8() ? "ref, avx2, avx2-int8, avx512 and avx512-int8" :
			avx512 ? "ref, avx2, avx2-int8 and avx512" : avx2 ? "ref, avx2 and avx2-int8" : "ref alone");
	else
		fprintf(stderr, "dscoder-engine: DSCODER_KERNELS=%s is not a kernel set: use ref, avx2, avx2-int8, "
			"avx512, avx512-int8 or avx512-bf16.\n", force);
	exit(1);
}

const struct cpu_kernels *cpu_kernels_best(void)
{
	pthread_once(&kernels_once, kernels_choose);
	return kernels_chosen;
}

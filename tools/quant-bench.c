/* quant-bench.c: the CPU matrix kernels alone, per weight type and kernel set, on 1 and 2 threads:
 * decode (1 token) as GB/s of weights against the measured read bandwidth, prefill (64 tokens) as
 * tokens x rows per second. Medians of several runs: the machine is shared. Run by hand:
 *   tools/quant-bench [TYPES [SETS [THREADS [MB [TOKENS [COLS]]]]]]   e.g. tools/quant-bench q4_K,q8_0 avx512 2
 * (SETS: ref, avx2, avx512 and the opt-in avx512-int8, avx512-bf16 and avx2-int8)
 * (MB of weights for decode, default 256; prefill takes 1/16 of them and TOKENS tokens, default 64;
 * COLS weights per row, default 2048: the bench model's rows are 1024 long, Coder-V2-Lite's 2048) */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/cpu-backend.h"
#include "cpu/cpu-kernels.h"
#include "cpu/cpu-pool.h"
#include "cpu/cpu-rows4.h"
#include "cpu/membw.h"
#include "xalloc.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of all threads: on a shared machine, steadier than the wall clock */
static double cpu_now(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

struct job {
	const struct cpu_kernels *k;
	const struct ds_tensor *w;
	const float *x;
	float *y;
	int n;
	long bs;
};

static void job_run(void *arg, int b, int ith)
{
	struct job *j = arg;
	long lo, hi;
	cpu_block((long)j->w->rows, j->bs, b, &lo, &hi);
	if (lo < hi)
		j->k->rows(j->w, lo, hi, j->x, j->n, (long)j->w->cols, j->y, (long)j->w->rows);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median seconds of one product over runs; *cpu: the median CPU seconds per thread. */
static double time_rows(struct cpu_pool *pool, struct job *j, int runs, int nt, double *cpu)
{
	double t[16], c[16];
	long bs = ((j->w->rows + 63) / 64 + 3) & ~3L;
	j->bs = bs < 16 ? 16 : bs;
	/* prefill in the engine's blocks (a few long ones): in 64 blocks of 16 rows the float sets' matrix
	 * product packed its activations again for every 16 rows, and read at 52-56 GFLOP/s a core where
	 * it reaches 146-184 */
	if (j->n > 16)
		j->bs = cpu_row_block((long)j->w->rows, ds_row_bytes(j->w->dtype, j->w->cols), j->n, nt);
	int nb = (int)((j->w->rows + j->bs - 1) / j->bs);
	cpu_pool_run(pool, job_run, j, nb);   /* warm */
	for (int r = 0; r < runs; r++) {
		double t0 = now(), c0 = cpu_now();
		cpu_pool_run(pool, job_run, j, nb);
		t[r] = now() - t0;
		c[r] = (cpu_now() - c0) / nt;
	}
	qsort(t, (size_t)runs, sizeof t[0], cmp_d);
	qsort(c, (size_t)runs, sizeof c[0], cmp_d);
	*cpu = c[runs / 2];
	return t[runs / 2];
}

static struct ds_tensor make(enum ds_dtype t, long rows, long cols)
{
	const struct ds_dtype_info *info = ds_dtype_get(t);
	size_t rb = ds_row_bytes(t, cols), n = rb * (size_t)rows;
	uint8_t *p = xmalloc(n);
	uint64_t s = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		p[i] = (uint8_t)(s >> 24);
	}
	/* finite scales: every half written as a small positive value */
	static const uint16_t h = 0x2c00;   /* 2^-4 */
	for (size_t b = 0; b < n; b += info->block_bytes)
		switch (t) {
		case DS_F16: case DS_BF16: memcpy(p + b, &h, 2); break;
		case DS_F32: { float f = (float)(p[b] % 7) * 0.01f; memcpy(p + b, &f, 4); } break;
		case DS_Q8_0: case DS_Q4_0: case DS_Q5_0: memcpy(p + b, &h, 2); break;
		case DS_Q4_1: case DS_Q5_1: case DS_Q4_K: case DS_Q5_K:
			memcpy(p + b, &h, 2);
			memcpy(p + b + 2, &h, 2);
			break;
		case DS_Q6_K: memcpy(p + b + 208, &h, 2); break;
		default: break;
		}
	return (struct ds_tensor){ .dtype = t, .data = p, .rows = rows, .cols = cols };
}

int main(int argc, char **argv)
{
	const char *types = argc > 1 ? argv[1] : "q8_0,q4_0,q4_K,q5_K,q6_K";
	const char *sets = argc > 2 ? argv[2] : "ref,avx2,avx512";
	const char *ths = argc > 3 ? argv[3] : "1,2";
	long mb = argc > 4 ? atol(argv[4]) : 256;
	const int np = argc > 5 ? atoi(argv[5]) : 64;
	const long cols = argc > 6 ? atol(argv[6]) : 2048;
	if (np < 1 || mb < 1 || cols < 256 || cols % 256 != 0) {
		fprintf(stderr, "quant-bench: MB and TOKENS must be at least 1, COLS a multiple of 256\n");
		return 2;
	}

	double bw[3] = { 0, cpu_measure_read_bandwidth(1), cpu_measure_read_bandwidth(2) };
	printf("read bandwidth: %.1f GB/s (1 thread), %.1f GB/s (2 threads)\n", bw[1], bw[2]);
	printf("wall clock, and in brackets per CPU-second of each thread (steadier when others share the machine)\n");
	printf("%-6s %-8s %3s  %-16s %6s  %-20s %s\n", "type", "set", "thr", "decode GB/s", "of bw",
	       "prefill tok*rows/s", "GFLOP/s");
	float *x = xmalloc(sizeof *x * (size_t)(np * cols));
	for (long i = 0; i < np * cols; i++)
		x[i] = (float)((i * 7919) % 2001 - 1000) * 1e-3f;
	for (int ti = 0; ti < DS_N_DTYPES; ti++) {
		enum ds_dtype t = (enum ds_dtype)ti;
		const char *tn = ds_dtype_get(t)->name;
		char pat[32];
		snprintf(pat, sizeof pat, ",%s,", tn);
		char all[256];
		snprintf(all, sizeof all, ",%s,", types);
		if (strstr(all, pat) == NULL)
			continue;
		long rows = (long)((size_t)mb << 20) / (long)ds_row_bytes(t, cols);
		rows -= rows % 64;
		struct ds_tensor w = make(t, rows, cols);
		/* prefill on a matrix of 1/16 the size: still past the caches, 64x the work per byte */
		struct ds_tensor wp = w;
		wp.rows = rows / 16;
		float *y = xmalloc(sizeof *y * (size_t)(np * rows));
		static const char *const sn[] = { "ref", "avx2", "avx512", "avx512-int8", "avx512-bf16",
						     "avx2-int8" };
		for (int si = 0; si < (int)(sizeof sn / sizeof sn[0]); si++) {
			const struct cpu_kernels *k = NULL;
			snprintf(pat, sizeof pat, ",%s,", sn[si]);
			snprintf(all, sizeof all, ",%s,", sets);
			if (strstr(all, pat) == NULL)
				continue;
			if (si == 0)
				k = &cpu_kernels_ref;
#ifdef HAVE_AVX2_TARGET
			if (si == 1 && cpu_kernels_have_avx2())
				k = &cpu_kernels_avx2;
			if (si == 5 && cpu_kernels_have_avx2())
				k = &cpu_kernels_avx2_int8;   /* opt-in: activations rounded to int8 */
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)
			if (si == 2 && cpu_kernels_have_avx512())
				k = &cpu_kernels_avx512;
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512VNNI_TARGET)
			if (si == 3 && cpu_kernels_have_avx512_int8())
				k = &cpu_kernels_avx512_int8;   /* opt-in: activations rounded to int8 */
#endif
#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET) && defined(HAVE_AVX512BF16_TARGET)
			if (si == 4 && cpu_kernels_have_avx512_bf16())
				k = &cpu_kernels_avx512_bf16;   /* opt-in: activations rounded to bf16 */
#endif
			if (k == NULL)
				continue;
			/* a set that reads this type in rows4 gets the matrix so, as the engine gives it (but with
			 * DSCODER_ROWS4=0, as the engine) */
			struct ds_tensor w4 = w;
			const char *r4env = getenv("DSCODER_ROWS4");
			if (k->rows4 != NULL && k->rows4(t) && cpu_rows4_fits(&w) && (r4env == NULL || strcmp(r4env, "0") != 0)) {
				size_t bytes4 = ds_row_bytes(t, cols) * (size_t)rows;
				void *d4 = xmalloc(bytes4), *scratch = xmalloc(4 * ds_row_bytes(t, cols));
				memcpy(d4, w.data, bytes4);
				cpu_rows4_arrange(&w, d4, scratch);
				free(scratch);
				w4.data = d4;
				w4.layout = DS_LAYOUT_ROWS4;
			}
			struct ds_tensor wp4 = w4;
			wp4.rows = wp.rows;
			for (int nt = 1; nt <= 2; nt++) {
				char tpat[8];
				snprintf(tpat, sizeof tpat, ",%d,", nt);
				snprintf(all, sizeof all, ",%s,", ths);
				if (strstr(all, tpat) == NULL)
					continue;
				struct cpu_pool *pool = cpu_pool_new(nt);
				struct job j = { .k = k, .w = &w4, .x = x, .y = y, .n = 1 };
				double cd, cp;
				double td = time_rows(pool, &j, 7, nt, &cd);
				double bytes = (double)ds_row_bytes(t, cols) * (double)rows;
				j.w = &wp4;
				j.n = np;
				double tp = time_rows(pool, &j, si == 0 ? 3 : 5, nt, &cp);
				double tr = (double)np * (double)wp.rows / tp, trc = (double)np * (double)wp.rows / cp / nt;
				printf("%-6s %-8s %3d  %6.2f (%6.2f) %5.0f%%  %8.3g (%8.3g) %6.1f (%6.1f)\n", tn, sn[si], nt,
				       bytes / td / 1e9, bytes / cd / nt / 1e9, 100 * bytes / td / 1e9 / bw[nt], tr, trc,
				       2 * tr * (double)cols / 1e9, 2 * trc * (double)cols / 1e9);
				fflush(stdout);
				cpu_pool_free(pool);
			}
			if (w4.data != w.data)
				free((void *)w4.data);
		}
		free((void *)w.data);
		free(y);
	}
	free(x);
	return 0;
}

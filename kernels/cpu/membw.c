/* membw.c: the read bandwidth every thread together gets from a buffer that no cache holds. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_AVX2_TARGET
#include <immintrin.h>
#endif

#include "clock.h"
#include "cpu-kernels.h"
#include "cpu-pool.h"
#include "membw.h"

#define MEMBW_BYTES ((size_t)1 << 30)
#define MEMBW_RUNS 3

struct membw_task {
	const uint64_t *buf;
	size_t n;              /* uint64 words */
	uint64_t sink[64];     /* per-thread results, so the reads are not optimised away */
	int avx2;
};

#ifdef HAVE_AVX2_TARGET
__attribute__((target("avx2"))) static uint64_t membw_sum_avx2(const uint64_t *p, size_t n)
{
	__m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		s0 = _mm256_xor_si256(s0, _mm256_loadu_si256((const __m256i *)(p + i)));
		s1 = _mm256_xor_si256(s1, _mm256_loadu_si256((const __m256i *)(p + i + 4)));
		s2 = _mm256_xor_si256(s2, _mm256_loadu_si256((const __m256i *)(p + i + 8)));
		s3 = _mm256_xor_si256(s3, _mm256_loadu_si256((const __m256i *)(p + i + 12)));
	}
	s0 = _mm256_xor_si256(_mm256_xor_si256(s0, s1), _mm256_xor_si256(s2, s3));
	uint64_t out[4];
	_mm256_storeu_si256((__m256i *)out, s0);
	uint64_t s = out[0] ^ out[1] ^ out[2] ^ out[3];
	for (; i < n; i++)
		s ^= p[i];
	return s;
}
#endif

static uint64_t membw_sum(const uint64_t *p, size_t n)
{
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 ^= p[i];
		s1 ^= p[i + 1];
		s2 ^= p[i + 2];
		s3 ^= p[i + 3];
	}
	for (; i < n; i++)
		s0 ^= p[i];
	return s0 ^ s1 ^ s2 ^ s3;
}

#define MEMBW_BLOCK (((size_t)16 << 20) / sizeof(uint64_t))

static void membw_run(void *arg, int b, int ith)
{
	struct membw_task *t = arg;
	long lo, hi;
	cpu_block((long)t->n, (long)MEMBW_BLOCK, b, &lo, &hi);
	uint64_t s;
#ifdef HAVE_AVX2_TARGET
	if (t->avx2)
		s = membw_sum_avx2(t->buf + lo, (size_t)(hi - lo));
	else
#endif
		s = membw_sum(t->buf + lo, (size_t)(hi - lo));
	t->sink[ith % 64] ^= s;
}

/* The buffer, filled once and kept for the process's next probes: allocating and touching 1 GiB again
 * took 3 s a probe here (page faults on a virtual machine), against 0.05 s for the reads themselves,
 * and --bench --rounds 3 probes six times */
static uint64_t *membw_buf;
static pthread_mutex_t membw_lock = PTHREAD_MUTEX_INITIALIZER;

double cpu_measure_read_bandwidth(int n_threads)
{
	pthread_mutex_lock(&membw_lock);
	if (membw_buf == NULL && (membw_buf = malloc(MEMBW_BYTES)) != NULL)
		memset(membw_buf, 0x5a, MEMBW_BYTES);   /* every page touched: first-touch faults are not bandwidth */
	struct cpu_pool *pool = membw_buf != NULL ? cpu_pool_new(n_threads) : NULL;
	if (pool == NULL) {
		pthread_mutex_unlock(&membw_lock);
		return 0;
	}
	struct membw_task t = { .buf = membw_buf, .n = MEMBW_BYTES / sizeof *membw_buf,
				.avx2 = cpu_kernels_have_avx2() };
	double best = 0;
	for (int run = 0; run < MEMBW_RUNS; run++) {
		double t0 = clock_now();
		cpu_pool_run(pool, membw_run, &t, (int)((t.n + MEMBW_BLOCK - 1) / MEMBW_BLOCK));
		double dt = clock_now() - t0;
		double gbs = (double)MEMBW_BYTES / dt / 1e9;
		if (gbs > best)
			best = gbs;
	}
	cpu_pool_free(pool);
	pthread_mutex_unlock(&membw_lock);
	return best;
}

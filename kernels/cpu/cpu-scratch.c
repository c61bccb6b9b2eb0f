/* cpu-scratch.c: per-thread kernel buffers (cpu-scratch.h). A thread-specific key's destructor frees
 * a worker's buffers when the pool's threads end, where plain __thread pointers lost them (a pool
 * made and freed per model or per test leaked every worker's buffers). */
#include "build-config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu-scratch.h"

struct scratch_set {
	void *buf[CPU_SCRATCH_N];
	size_t cap[CPU_SCRATCH_N];
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static __thread struct scratch_set *scratch_mine;   /* this thread's, once it asked */
static _Atomic size_t scratch_total;

static void scratch_set_free(void *arg)
{
	struct scratch_set *s = arg;
	for (int u = 0; u < CPU_SCRATCH_N; u++) {
		free(s->buf[u]);
		atomic_fetch_sub(&scratch_total, s->cap[u]);
	}
	free(s);
}

static void scratch_out_of_memory(size_t bytes)
{
	fprintf(stderr, "dscoder-engine: out of memory for %zu bytes of CPU kernel buffers\n", bytes);
	abort();
}

static void scratch_key_create(void)
{
	if (pthread_key_create(&scratch_key, scratch_set_free) != 0) {
		fprintf(stderr, "dscoder-engine: cannot create a thread-specific key for kernel buffers\n");
		abort();
	}
}

void *cpu_scratch(enum cpu_scratch_use use, size_t bytes)
{
	struct scratch_set *s = scratch_mine;
	if (s == NULL) {
		pthread_once(&scratch_once, scratch_key_create);
		s = calloc(1, sizeof *s);
		if (s == NULL)
			scratch_out_of_memory(sizeof *s);
		if (pthread_setspecific(scratch_key, s) != 0)
			scratch_out_of_memory(sizeof *s);
		scratch_mine = s;
	}
	if (bytes > s->cap[use]) {
		size_t cap = (bytes + 63) & ~(size_t)63;
		void *p;
		free(s->buf[use]);
		atomic_fetch_sub(&scratch_total, s->cap[use]);
		s->buf[use] = NULL;
		s->cap[use] = 0;
		if ((p = cpu_buffer_alloc(cap)) == NULL)
			scratch_out_of_memory(cap);
		s->buf[use] = p;
		s->cap[use] = cap;
		atomic_fetch_add(&scratch_total, cap);
	}
	return s->buf[use];
}

#define HUGE_FROM ((size_t)1 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

void *cpu_buffer_alloc(size_t bytes)
{
	void *p = NULL;
	if (bytes == 0)
		bytes = 64;
#ifdef MADV_HUGEPAGE
	if (bytes >= HUGE_FROM) {
		size_t whole = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
		if (whole < bytes || posix_memalign(&p, HUGE_PAGE, whole) != 0)
			return NULL;
		/* advice only: without huge pages the buffer works as it is */
		madvise(p, whole, MADV_HUGEPAGE);
		return p;
	}
#endif
	if (posix_memalign(&p, 64, bytes) != 0)
		return NULL;
	/* every page touched now: a first touch later is a page fault in the middle of a token, 30-55 us
	 * each on this virtual machine. A short context's latent cache (under HUGE_FROM a layer) took a
	 * new 4 KB page every 3.6 positions: 69 of the bench's 1,536 decode row stores faulted, 35-49 us
	 * each against 1.3 without. */
	memset(p, 0, bytes);
	return p;
}

size_t cpu_scratch_bytes(void)
{
	return atomic_load(&scratch_total);
}

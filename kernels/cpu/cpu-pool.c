/* cpu-pool.c: the worker threads. Workers spin briefly between tasks (decode issues hundreds of
 * small tasks per token) and then sleep on a condition variable, so an idle engine costs no CPU.
 * A task is finished when its blocks are, not when every worker has checked in: a worker the OS
 * did not run in time joins late, finds the task closed, and leaves it alone. The caller, once its
 * share is done, spins briefly for the blocks still running and then sleeps on a futex until the
 * last one ends: on a machine shared with other work the block it waits for may belong to a worker
 * that is off its core, and a spinning caller would keep that core from it. */
#include "build-config.h"

#include <pthread.h>
#include <sched.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu-pool.h"
#include "xalloc.h"

/* pause loops a worker spins for the next task before it sleeps (decode's gaps are microseconds) */
#define POOL_SPIN 2000
/* pause loops the caller spins for a block a worker still runs before it sleeps (tens of
 * microseconds: the blocks of one task end within that when every thread has its core) */
#define POOL_WAIT_SPIN 4000

struct pool_worker {
	struct cpu_pool *pool;
	int ith;
	pthread_t th;
};

/* Thread i's share of a task: blocks [lo, hi) packed in one word (lo in the low half), its own line.
 * The owner claims from the front, so its blocks are one run of consecutive rows (a single stream
 * that its prefetches keep ahead of, not a new one to start every block); a thread whose share is
 * done takes blocks from the back of another's. With one shared counter the threads' blocks
 * interleaved and each began cold: a 576 x 1024 q4_K product (kv_a_proj, 0.3 MB) in 16 blocks read
 * 17 GB/s against 24 in 2 (2 threads, from memory); with shares 24-26 in 16. bench-q4km int8 decode
 * 79 -> 87 tokens/s, prefill 415 -> 530 (medians of 8 alternating runs). */
struct pool_share {
	_Alignas(64) _Atomic unsigned long long range;
};

/* Lines by who writes them, since a line written on one core and read on another crosses between
 * them (0.5 us each way here): the task, written by the caller and read by the workers; what the
 * workers write and the caller waits on, done and active together (a worker leaving a task writes
 * both, one after the other, and the caller reads both); the mutex and condition variable of
 * sleeping workers apart from both. */
struct cpu_pool {
	int n;
	struct pool_worker *w;
	struct pool_share *share;  /* one per thread */
	_Alignas(64) atomic_uint gen;   /* bumped for each task */
	atomic_uint closed;       /* gen of the last task whose blocks are all done */
	atomic_int sleeping;      /* the caller sleeps on done (futex) */
	atomic_bool quit;
	int n_blocks;
	cpu_task_fn fn;
	void *arg;
	_Alignas(64) atomic_int done;   /* blocks finished */
	atomic_int active;        /* workers inside a task */
	_Alignas(64) pthread_mutex_t mu;
	pthread_cond_t start;
};

static inline void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void pool_futex_wake(atomic_int *v)
{
#ifdef __linux__
	syscall(SYS_futex, (int *)v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
	(void)v;
#endif
}

static unsigned long long pool_range(unsigned lo, unsigned hi)
{
	return (unsigned long long)lo | (unsigned long long)hi << 32;
}

/* A block of share s: the front one for its owner, the back one for another thread; -1 when none
 * is left. */
static int pool_claim(struct pool_share *s, bool front)
{
	unsigned long long r = atomic_load(&s->range);
	for (;;) {
		unsigned lo = (unsigned)r, hi = (unsigned)(r >> 32);
		if (lo >= hi)
			return -1;
		unsigned long long want = front ? pool_range(lo + 1, hi) : pool_range(lo, hi - 1);
		if (atomic_compare_exchange_weak(&s->range, &r, want))
			return front ? (int)lo : (int)hi - 1;
	}
}

/* The blocks a thread ran are added to done once per share it worked on, not once a block: done is
 * the one line every thread writes, and each add moved it between cores (a round trip between this
 * machine's two cores took 1 us; a pool run of 16 empty blocks 3.9-4.2 us with an add per block).
 * Its own share's count goes in before it looks at the others' (each look a line from another core),
 * so a caller waiting for it does not wait for the look too. */
static void pool_work(struct cpu_pool *p, int ith)
{
	const int n_blocks = p->n_blocks;   /* read while the task is open: done's last add may end it */
	for (int k = 0; k < p->n; k++) {
		int owner = (ith + k) % p->n, b, ran = 0;
		while ((b = pool_claim(&p->share[owner], k == 0)) >= 0) {
			p->fn(p->arg, b, ith);
			ran++;
		}
		if (ran > 0 && atomic_fetch_add(&p->done, ran) + ran == n_blocks && atomic_load(&p->sleeping))
			pool_futex_wake(&p->done);
	}
}

static void *pool_main(void *arg)
{
	struct pool_worker *w = arg;
	struct cpu_pool *p = w->pool;
	unsigned seen = 0;

	for (;;) {
		unsigned g = atomic_load(&p->gen);
		for (int i = 0; i < POOL_SPIN && g == seen && !atomic_load(&p->quit); i++) {
			pool_relax();
			g = atomic_load(&p->gen);
		}
		if (g == seen) {
			pthread_mutex_lock(&p->mu);
			while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit))
				pthread_cond_wait(&p->start, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->quit))
			return NULL;
		seen = g;
		/* join, then check the task is still the open one: the caller closes it before it waits
		 * for active == 0 and rewrites the task only after, so either it sees us or we see the
		 * close (or a newer gen, which we take up on the next turn) */
		atomic_fetch_add(&p->active, 1);
		if (atomic_load(&p->gen) == g && atomic_load(&p->closed) != g)
			pool_work(p, w->ith);
		atomic_fetch_sub(&p->active, 1);
	}
}

/* An integer from a sysfs file; -1 when it cannot be read. */
static long pool_sysfs_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Physical cores this process may run on (a taskset or cpuset can allow fewer than are online):
 * the allowed CPUs counted once per (package, core), since two hardware threads of one core share
 * its vector units and its bandwidth and a matrix product gains little from the second. */
static int pool_cores(void)
{
#ifdef CPU_COUNT
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
		long seen[CPU_SETSIZE];
		int n_seen = 0, logical = CPU_COUNT(&set);
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
			if (!CPU_ISSET(cpu, &set))
				continue;
			char path[96];
			snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
			long core = pool_sysfs_long(path);
			snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
			long pkg = pool_sysfs_long(path);
			if (core < 0 || pkg < 0)
				return logical;     /* no topology (not Linux, or hidden): every CPU */
			long key = pkg * 1000000 + core;
			int dup = 0;
			for (int i = 0; i < n_seen && !dup; i++)
				dup = seen[i] == key;
			if (!dup)
				seen[n_seen++] = key;
		}
		return n_seen > 0 ? n_seen : logical;
	}
#endif
	long c = sysconf(_SC_NPROCESSORS_ONLN);
	return c > 0 ? (int)c : 1;
}

struct cpu_pool *cpu_pool_new(int n_threads)
{
	if (n_threads <= 0)
		n_threads = pool_cores();
	struct cpu_pool *p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);   /* its lines as laid out */
	if (p == NULL)
		fatal("out of memory allocating a pool of %d threads", n_threads);
	memset(p, 0, sizeof *p);
	p->n = n_threads;
	p->w = xcalloc((size_t)n_threads, sizeof *p->w);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->start, NULL);
	atomic_init(&p->gen, 0);
	atomic_init(&p->closed, 0);
	atomic_init(&p->active, 0);
	p->share = aligned_alloc(64, sizeof *p->share * (size_t)n_threads);
	if (p->share == NULL)
		fatal("out of memory allocating %d thread shares", n_threads);
	for (int i = 0; i < n_threads; i++)
		atomic_init(&p->share[i].range, 0);
	atomic_init(&p->done, 0);
	atomic_init(&p->sleeping, 0);
	atomic_init(&p->quit, false);
	/* workers take no signals: the engine's own threads handle SIGINT, SIGPIPE and friends */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 1; i < n_threads; i++) {
		p->w[i].pool = p;
		p->w[i].ith = i;
		if (pthread_create(&p->w[i].th, NULL, pool_main, &p->w[i]) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			p->n = i;     /* only workers 1..i-1 exist */
			cpu_pool_free(p);
			return NULL;
		}
#ifdef __GLIBC__
		char name[16];
		snprintf(name, sizeof name, "dscoder-cpu%d", i % 1000);
		pthread_setname_np(p->w[i].th, name);
#endif
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
}

void cpu_pool_free(struct cpu_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->quit, true);
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->w[i].th, NULL);
	pthread_cond_destroy(&p->start);
	pthread_mutex_destroy(&p->mu);
	free(p->share);
	free(p->w);
	free(p);
}

int cpu_pool_threads(const struct cpu_pool *p)
{
	return p->n;
}

/* Waits for *v == want: spinning first, then yielding (on a full machine the thread we wait for may
 * need our core). */
static void pool_wait(atomic_int *v, int want)
{
	for (int i = 0; atomic_load(v) != want; i++) {
		if (i < POOL_WAIT_SPIN)
			pool_relax();
		else
			sched_yield();
	}
}

/* Waits for every block of the task: spinning first, then asleep on the futex of done, which the
 * worker that ends the last block wakes. */
static void pool_wait_done(struct cpu_pool *p, int n_blocks)
{
	for (int i = 0; i < POOL_WAIT_SPIN; i++) {
		if (atomic_load(&p->done) == n_blocks)
			return;
		pool_relax();
	}
#ifdef __linux__
	atomic_store(&p->sleeping, 1);
	for (;;) {
		int d = atomic_load(&p->done);
		if (d == n_blocks)
			break;
		/* sleeps only while done is still d: a wake between the load and the call is not lost */
		syscall(SYS_futex, (int *)&p->done, FUTEX_WAIT_PRIVATE, d, NULL, NULL, 0);
	}
	atomic_store(&p->sleeping, 0);
#else
	pool_wait(&p->done, n_blocks);
#endif
}

void cpu_pool_run(struct cpu_pool *p, cpu_task_fn fn, void *arg, int n_blocks)
{
	if (n_blocks <= 0)
		return;
	if (p->n == 1 || n_blocks == 1) {
		for (int b = 0; b < n_blocks; b++)
			fn(arg, b, 0);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	p->n_blocks = n_blocks;
	for (int i = 0; i < p->n; i++)
		atomic_store(&p->share[i].range, pool_range((unsigned)cpu_pool_share(n_blocks, p->n, i),
							    (unsigned)cpu_pool_share(n_blocks, p->n, i + 1)));
	atomic_store(&p->done, 0);
	pthread_mutex_lock(&p->mu);
	unsigned g = atomic_fetch_add(&p->gen, 1) + 1;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);

	pool_work(p, 0);
	pool_wait_done(p, n_blocks);
	atomic_store(&p->closed, g);
	pool_wait(&p->active, 0);
}

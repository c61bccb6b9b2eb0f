/* cpu-pool.c: the worker threads; they spin briefly between tasks (decode issues hundreds of small
 * tasks per token) and then sleep on a condition variable so an idle engine costs no CPU. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpu-pool.h"
#include "xalloc.h"

#define POOL_SPIN 20000

struct pool_worker {
	struct cpu_pool *pool;
	int ith;
	pthread_t th;
};

struct cpu_pool {
	int n;
	struct pool_worker *w;
	pthread_mutex_t mu;
	pthread_cond_t start, done;
	atomic_uint gen;          /* bumped for each task */
	atomic_int pending;       /* workers still running the current task */
	atomic_bool quit;
	cpu_task_fn fn;
	void *arg;
};

static inline void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
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
		p->fn(p->arg, w->ith, p->n);
		if (atomic_fetch_sub(&p->pending, 1) == 1) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

struct cpu_pool *cpu_pool_new(int n_threads)
{
	if (n_threads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n_threads = c > 0 ? (int)c : 1;
	}
	struct cpu_pool *p = xcalloc(1, sizeof *p);
	p->n = n_threads;
	p->w = xcalloc((size_t)n_threads, sizeof *p->w);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->start, NULL);
	pthread_cond_init(&p->done, NULL);
	atomic_init(&p->gen, 0);
	atomic_init(&p->pending, 0);
	atomic_init(&p->quit, false);
	for (int i = 1; i < n_threads; i++) {
		p->w[i].pool = p;
		p->w[i].ith = i;
		if (pthread_create(&p->w[i].th, NULL, pool_main, &p->w[i]) != 0) {
			p->n = i;     /* only workers 1..i-1 exist */
			cpu_pool_free(p);
			return NULL;
		}
	}
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
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p->w);
	free(p);
}

int cpu_pool_threads(const struct cpu_pool *p)
{
	return p->n;
}

void cpu_pool_run(struct cpu_pool *p, cpu_task_fn fn, void *arg)
{
	if (p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->pending, p->n - 1);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->gen, 1);
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);

	fn(arg, 0, p->n);

	for (int i = 0; i < POOL_SPIN && atomic_load(&p->pending) != 0; i++)
		pool_relax();
	if (atomic_load(&p->pending) != 0) {
		pthread_mutex_lock(&p->mu);
		while (atomic_load(&p->pending) != 0)
			pthread_cond_wait(&p->done, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
}

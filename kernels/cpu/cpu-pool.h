/* cpu-pool.h: a fixed pool of worker threads that run one parallel task at a time. */
#ifndef DS_CPU_POOL_H
#define DS_CPU_POOL_H

/* A task runs as fn(arg, ith, nth) on every thread, ith in [0, nth); it splits its own work. */
typedef void (*cpu_task_fn)(void *arg, int ith, int nth);

struct cpu_pool;

/* Starts n_threads - 1 workers (the caller is thread 0); n_threads <= 0 means all online cores.
 * Returns NULL when a thread cannot be created. */
struct cpu_pool *cpu_pool_new(int n_threads);
void cpu_pool_free(struct cpu_pool *p);
int cpu_pool_threads(const struct cpu_pool *p);
/* Runs the task on all threads and returns when every one has finished. Not reentrant. */
void cpu_pool_run(struct cpu_pool *p, cpu_task_fn fn, void *arg);

/* The part [*lo, *hi) of [0, n) that thread ith of nth gets, in multiples of align. */
static inline void cpu_split(long n, long align, int ith, int nth, long *lo, long *hi)
{
	long blocks = (n + align - 1) / align;
	long b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth;
	*lo = b0 * align < n ? b0 * align : n;
	*hi = b1 * align < n ? b1 * align : n;
}

#endif

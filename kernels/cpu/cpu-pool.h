/* cpu-pool.h: a fixed pool of worker threads that share out the blocks of one task at a time. */
#ifndef DS_CPU_POOL_H
#define DS_CPU_POOL_H

/* fn(arg, block, ith) runs once for each block in [0, n_blocks), on whichever thread claims it;
 * ith (in [0, threads)) names that thread, for per-thread scratch. */
typedef void (*cpu_task_fn)(void *arg, int block, int ith);

struct cpu_pool;

/* Starts n_threads - 1 workers (the caller is thread 0); n_threads <= 0 means one per physical core
 * this process may run on (hardware threads of one core counted once).
 * Returns NULL when a thread cannot be created. */
struct cpu_pool *cpu_pool_new(int n_threads);
void cpu_pool_free(struct cpu_pool *p);
int cpu_pool_threads(const struct cpu_pool *p);
/* Runs every block of the task and returns when all are done. The caller works too. Thread i owns
 * the i-th of n equal runs of consecutive blocks and takes them in order (consecutive rows of a
 * matrix: one stream for the prefetchers); a thread done with its own takes blocks from the back of
 * another's, so a worker that the OS has not scheduled (a busy machine) delays nothing: the others
 * take its share. Not reentrant. */
void cpu_pool_run(struct cpu_pool *p, cpu_task_fn fn, void *arg, int n_blocks);

/* The first block of thread i's share of n_blocks on n_threads (cpu_pool_run's equal runs; thread
 * i owns [cpu_pool_share(n, t, i), cpu_pool_share(n, t, i + 1))). */
static inline int cpu_pool_share(int n_blocks, int n_threads, int i)
{
	return (int)((long)n_blocks * i / n_threads);
}

/* Block b of size bs in [0, n): [*lo, *hi). */
static inline void cpu_block(long n, long bs, int b, long *lo, long *hi)
{
	*lo = (long)b * bs < n ? (long)b * bs : n;
	*hi = *lo + bs < n ? *lo + bs : n;
}

#endif

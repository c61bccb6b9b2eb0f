/* simulate.c: N virtual ranks in one process: rank 0 is the caller's thread, ranks 1.. are threads that
 * repeat each ds_forward call of rank 0 on their own shards; the all-reduce is a sum over shared memory
 * between two barriers. The same hooks (forward.h) drive the NCCL path with a real communicator, and
 * ranks in other processes (net-ranks.c), of which this process holds only its own. */
#include "build-config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "plan.h"
#include "shard.h"
#include "simulate.h"
#include "xalloc.h"

/* The sum buffer starts at this many tokens of hidden_size and grows to the largest batch the ranks
 * sum (the first prefill; decode steps are one token). */
#define SIM_FIRST_BATCH 16

struct sim_rank {
	struct ds_sim *sim;
	int rank;
	struct ds_shard shard;
	struct ds_state *state;
	pthread_t thread;
	bool started;
};

struct ds_sim {
	int n_ranks;
	struct ds_plan plan;
	struct sim_rank *ranks;
	pthread_barrier_t barrier;
	bool barrier_ok;
	/* the call rank 0 launched; read by the followers after the launch barrier */
	const int *tokens;
	int n, pos;
	bool quit;
	/* all-reduce: each rank's buffer, and the sum they all copy back */
	float **slot;
	float *sum;
	size_t sum_cap;
	long calls;
	struct ds_rank_env env;     /* all NULL for the CPU simulation */
};

static void sim_wait(struct ds_sim *sim)
{
	pthread_barrier_wait(&sim->barrier);
}

/* Sum over ranks, in rank order, of n floats: rank r adds up its share of the positions, so the work
 * is spread and the result is the same bits whoever computes it. */
static void sim_allreduce(void *arg, void *bctx, float *buf, size_t n)
{
	struct sim_rank *me = arg;
	struct ds_sim *sim = me->sim;
	(void)bctx;              /* CPU buffers: plain host memory */
	/* decided before the barrier, where no rank is changing sum_cap; every rank has the same n, so
	 * all take the same branch */
	bool grow = n > sim->sum_cap;
	sim->slot[me->rank] = buf;
	sim_wait(sim);
	if (grow) {
		if (me->rank == 0) {
			free(sim->sum);
			sim->sum_cap = n;
			sim->sum = xmalloc(n * sizeof *sim->sum);
		}
		sim_wait(sim);
	}
	size_t per = (n + (size_t)sim->n_ranks - 1) / (size_t)sim->n_ranks;
	size_t lo = per * (size_t)me->rank, hi = lo + per < n ? lo + per : n;
	for (size_t i = lo; i < hi; i++) {
		float s = sim->slot[0][i];
		for (int r = 1; r < sim->n_ranks; r++)
			s += sim->slot[r][i];
		sim->sum[i] = s;
	}
	if (me->rank == 0)
		sim->calls++;
	sim_wait(sim);
	memcpy(buf, sim->sum, n * sizeof *buf);
}

/* Another driver's all-reduce (the NCCL path), with that rank's argument. */
static void env_allreduce(void *arg, void *bctx, float *buf, size_t n)
{
	struct sim_rank *me = arg;
	struct ds_sim *sim = me->sim;
	if (me->rank == 0)
		sim->calls++;
	sim->env.allreduce(sim->env.rank_args[me->rank], bctx, buf, n);
}

/* Rank 0 of ranks in other processes: the driver hands the call on. */
static void env_launch(void *arg, const int *tokens, int n, int pos)
{
	struct sim_rank *me = arg;
	me->sim->env.launch(me->sim->env.rank_args[me->rank], tokens, n, pos);
}

/* Rank 0, inside ds_forward: hand the same call to the followers. */
static void sim_launch(void *arg, const int *tokens, int n, int pos)
{
	struct sim_rank *me = arg;
	struct ds_sim *sim = me->sim;
	sim->tokens = tokens;
	sim->n = n;
	sim->pos = pos;
	sim->quit = false;
	sim_wait(sim);
}

static void *sim_follower(void *arg)
{
	struct sim_rank *me = arg;
	struct ds_sim *sim = me->sim;
	for (;;) {
		sim_wait(sim);
		if (sim->quit)
			break;
		/* same arguments as rank 0, which already checked them: this cannot fail */
		if (ds_forward(me->state, sim->tokens, sim->n, sim->pos, NULL, false) != 0)
			fatal("simulated rank %d rejected a forward call that rank 0 accepted", me->rank);
	}
	return NULL;
}

/* The rank whose state stands for the run: 0, or the only one here when the others are remote. */
static int sim_local(const struct ds_sim *sim)
{
	return sim->env.remote ? sim->env.local_rank : 0;
}

struct ds_state *ds_sim_state(struct ds_sim *sim)
{
	return sim->ranks[sim_local(sim)].state;
}

long ds_sim_allreduce_calls(const struct ds_sim *sim)
{
	return sim->calls;
}

/* Everything but rank 0's state: stops the followers (they wait at the launch barrier between
 * calls), frees their states and all shards. */
static void sim_teardown(struct ds_sim *sim)
{
	bool any = false;
	for (int r = 1; r < sim->n_ranks; r++)
		any = any || sim->ranks[r].started;
	if (any) {
		sim->quit = true;
		sim_wait(sim);
		for (int r = 1; r < sim->n_ranks; r++)
			if (sim->ranks[r].started)
				pthread_join(sim->ranks[r].thread, NULL);
	}
	for (int r = 0; r < sim->n_ranks; r++) {
		if (r != sim_local(sim))
			ds_state_free(sim->ranks[r].state);
		ds_shard_free(&sim->ranks[r].shard);
	}
	if (sim->barrier_ok)
		pthread_barrier_destroy(&sim->barrier);
	free(sim->ranks);
	free(sim->slot);
	free(sim->sum);
	ds_plan_free(&sim->plan);
	struct ds_rank_env env = sim->env;
	free(sim);
	if (env.done != NULL)
		env.done(env.arg);
}

/* ds_state_free of rank 0's state (or the local rank's) lands here: it stands for the whole run. */
static void sim_release(void *arg)
{
	struct sim_rank *me = arg;
	sim_teardown(me->sim);
}

void ds_sim_free(struct ds_sim *sim)
{
	if (sim == NULL)
		return;
	if (sim->ranks[sim_local(sim)].state != NULL)
		ds_state_free(sim->ranks[sim_local(sim)].state);     /* calls sim_release */
	else
		sim_teardown(sim);
}

struct ds_sim *ds_sim_new(const struct ds_model *full, int n_ranks, int n_ctx, int n_threads, char *err,
			  size_t errlen)
{
	return ds_ranks_new(full, n_ranks, n_ctx, n_threads, NULL, err, errlen);
}

struct ds_sim *ds_ranks_new(const struct ds_model *full, int n_ranks, int n_ctx, int n_threads,
			    const struct ds_rank_env *env, char *err, size_t errlen)
{
	struct ds_sim *sim = xcalloc(1, sizeof *sim);
	if (env != NULL)
		sim->env = *env;
	if (ds_plan_make(&full->cfg, n_ranks, &sim->plan, err, errlen) != 0) {
		free(sim);
		if (env != NULL && env->done != NULL)
			env->done(env->arg);
		return NULL;
	}
	sim->n_ranks = n_ranks;
	sim->ranks = xcalloc((size_t)n_ranks, sizeof *sim->ranks);
	sim->slot = xcalloc((size_t)n_ranks, sizeof *sim->slot);
	sim->sum_cap = (size_t)SIM_FIRST_BATCH * (size_t)full->cfg.hidden_size;
	sim->sum = xmalloc(sim->sum_cap * sizeof *sim->sum);
	if (n_threads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n_threads = c > 0 ? (int)c : 1;
	}
	/* remote ranks: this process's cores are all its own rank's */
	int per = sim->env.remote ? n_threads : n_threads / n_ranks > 0 ? n_threads / n_ranks : 1;
	int lo = sim_local(sim), hi = sim->env.remote ? lo + 1 : n_ranks;
	for (int r = lo; r < hi; r++) {
		struct sim_rank *sr = &sim->ranks[r];
		sr->sim = sim;
		sr->rank = r;
		ds_shard_build(full, &sim->plan, r, &sr->shard);
		if (sim->env.state_new != NULL)
			sr->state = sim->env.state_new(sim->env.arg, r, &sr->shard.model, n_ctx, per, err, errlen);
		else      /* the CPU, whatever backend the process chose for itself */
			sr->state = ds_state_new_backend(&sr->shard.model, &ds_backend_cpu, n_ctx, per, err, errlen);
		if (sr->state == NULL) {
			ds_sim_free(sim);
			return NULL;
		}
		struct ds_parallel par = {
			.allreduce = sim->env.allreduce != NULL ? env_allreduce : n_ranks > 1 ? sim_allreduce : NULL,
			.launch = r != 0 || n_ranks == 1 ? NULL : sim->env.remote ? env_launch : sim_launch,
			.release = r == lo ? sim_release : NULL,
			.arg = sr,
			.expert_owned = sr->shard.expert_owned,
			.expert_local = sr->shard.expert_local,
			.n_local_experts = sr->shard.n_local_experts,
		};
		ds_state_set_parallel(sr->state, &par);
	}
	if (sim->env.remote)
		return sim;
	if (pthread_barrier_init(&sim->barrier, NULL, (unsigned)n_ranks) != 0) {
		errorf(err, errlen, "cannot set up the barrier of %d simulated ranks", n_ranks);
		ds_sim_free(sim);
		return NULL;
	}
	sim->barrier_ok = true;
	for (int r = 1; r < n_ranks; r++) {
		/* followers already started wait at a barrier of n_ranks that could never fill */
		if (pthread_create(&sim->ranks[r].thread, NULL, sim_follower, &sim->ranks[r]) != 0)
			fatal("cannot start the thread of simulated rank %d", r);
		sim->ranks[r].started = true;
	}
	return sim;
}

int ds_sim_replace_state(const struct ds_model *full, struct ds_state **state, int n_ranks, int n_ctx,
			 int n_threads, char *err, size_t errlen)
{
	if (n_ctx <= 0)
		n_ctx = ds_state_n_ctx(*state);
	struct ds_sim *sim = ds_sim_new(full, n_ranks, n_ctx, n_threads, err, errlen);
	if (sim == NULL)
		return -1;
	ds_state_free(*state);
	*state = ds_sim_state(sim);
	return 0;
}

/* simulate.h: --simulate-ranks N: N virtual ranks on the CPU, each running the forward pass on its shard
 * (engine/shard.h), joined by an in-process all-reduce; proves the partition before any GPU runs it. */
#ifndef DS_SIMULATE_H
#define DS_SIMULATE_H

#include <stdbool.h>
#include <stddef.h>

#include "forward.h"
#include "model.h"

struct ds_sim;

/* Splits full over n_ranks (engine/plan.h), builds each rank's shard and run state (a context of n_ctx
 * tokens, n_threads CPU threads shared out among the ranks; 0: all cores) and starts ranks 1..n_ranks-1
 * on their own threads. Returns NULL with a sentence in err when the plan cannot be made or memory is
 * short. full must outlive the simulation. */
struct ds_sim *ds_sim_new(const struct ds_model *full, int n_ranks, int n_ctx, int n_threads, char *err,
			  size_t errlen);

/* Rank 0's run state: ds_forward on it runs every rank (the others follow the same call and only rank
 * 0 computes logits), so it stands in for an unsharded state wherever one is used (ds_generate too).
 * ds_state_free on it ends the whole simulation, as ds_sim_free does. With a remote env, the state of
 * this process's rank. */
struct ds_state *ds_sim_state(struct ds_sim *sim);

/* Stops the rank threads and frees everything (the state from ds_sim_state included). */
void ds_sim_free(struct ds_sim *sim);

/* Replaces *state (created on full; freed here) by rank 0 of an n_ranks simulation with a context of
 * n_ctx tokens (0: the same as *state's): the engine then runs the ranks wherever it used the state.
 * Every rank holds the whole latent cache, so a context sized to the memory of one state should be
 * divided by n_ranks. Returns -1 with err set and *state untouched when the simulation cannot start. */
int ds_sim_replace_state(const struct ds_model *full, struct ds_state **state, int n_ranks, int n_ctx,
			 int n_threads, char *err, size_t errlen);

/* Other drivers of the same ranks (the NCCL path): how each rank's state is made and how the ranks
 * are joined, instead of CPU states and the in-process sum. */
struct ds_rank_env {
	/* rank's state on its shard (NULL: ds_state_new on the CPU) */
	struct ds_state *(*state_new)(void *arg, int rank, const struct ds_model *shard, int n_ctx, int n_threads,
				      char *err, size_t errlen);
	/* the all-reduce, called with rank_args[rank]; NULL: the in-process sum. When set it runs even
	 * with one rank, so that a one-GPU run goes through the same path. */
	void (*allreduce)(void *rank_arg, void *bctx, float *buf, size_t n);
	void **rank_args;
	/* called once when the ranks end (after every state is freed), also when ds_ranks_new fails */
	void (*done)(void *arg);
	void *arg;
	/* The other ranks live in other processes (engine/net-ranks.h): this one builds only rank
	 * local_rank's shard and state (ds_sim_state returns it) and starts no threads; rank 0 hands each
	 * forward call on through launch, called with rank_args[0], instead of waking local threads. */
	bool remote;
	int local_rank;
	void (*launch)(void *rank_arg, const int *tokens, int n, int pos);
};

/* ds_sim_new with env (NULL: the CPU simulation). */
struct ds_sim *ds_ranks_new(const struct ds_model *full, int n_ranks, int n_ctx, int n_threads,
			    const struct ds_rank_env *env, char *err, size_t errlen);

/* How the rank threads sum their buffers: exposed for tests. Each all-reduce waits for all ranks, sums
 * the buffers in rank order (so every rank gets the same bits), and counts one call. */
long ds_sim_allreduce_calls(const struct ds_sim *sim);

#endif

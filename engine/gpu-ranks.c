/* gpu-ranks.c: the multi-GPU engine of one node: the shards and launch of engine/simulate.c, with each
 * rank's state on the CUDA backend of its GPU and the NCCL all-reduce on that backend's stream. */
#include "build-config.h"

#include <stdlib.h>

#include "cuda/nccl-comm.h"
#include "gpu-ranks.h"
#include "simulate.h"
#include "xalloc.h"

struct gpu_env {
	int n;
	int *devices;
	bool f32;
	struct ds_nccl **comms;
};

/* Rank r's state on its GPU (ranks are created one after another on the calling thread). */
static struct ds_state *gpu_state(void *arg, int rank, const struct ds_model *shard, int n_ctx, int n_threads,
				  char *err, size_t errlen)
{
	struct gpu_env *g = arg;
	struct ds_backend_choice c = { .name = "cuda", .device = g->devices[rank], .f32 = g->f32 };
	(void)n_threads;
	/* the backend copies the shard's weights (only this rank's slices and experts) to its GPU here */
	return ds_state_new_on(shard, n_ctx, 1, &c, err, errlen);
}

static void gpu_done(void *arg)
{
	struct gpu_env *g = arg;
	for (int r = 0; r < g->n; r++)
		ds_nccl_free(g->comms[r]);
	free(g->comms);
	free(g->devices);
	free(g);
}

int ds_gpu_ranks_replace_state(const struct ds_model *full, struct ds_state **state, const int *devices, int n,
			       int n_ctx, bool f32, char *err, size_t errlen)
{
	if (n_ctx <= 0)
		n_ctx = ds_state_n_ctx(*state);
	struct gpu_env *g = xcalloc(1, sizeof *g);
	g->n = n;
	g->f32 = f32;
	g->devices = xcalloc((size_t)n, sizeof *g->devices);
	for (int r = 0; r < n; r++)
		g->devices[r] = devices[r];
	g->comms = xcalloc((size_t)n, sizeof *g->comms);
	if (ds_nccl_init_all(g->devices, n, g->comms, err, errlen) != 0) {
		g->n = 0;          /* no communicator to free */
		gpu_done(g);
		return -1;
	}
	struct ds_rank_env env = {
		.state_new = gpu_state, .allreduce = ds_nccl_allreduce, .rank_args = (void **)g->comms,
		.done = gpu_done, .arg = g,
	};
	struct ds_sim *ranks = ds_ranks_new(full, n, n_ctx, 0, &env, err, errlen);
	if (ranks == NULL)
		return -1;         /* gpu_done has run */
	ds_state_free(*state);
	*state = ds_sim_state(ranks);
	return 0;
}

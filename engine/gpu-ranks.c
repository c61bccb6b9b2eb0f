/* gpu-ranks.c: the multi-GPU engine of one node: the shards and launch of engine/simulate.c, with each
 * rank's state on the CUDA backend of its GPU and the NCCL all-reduce on that backend's stream. */
#include "build-config.h"

#include <stdlib.h>

#include "cuda/cuda-backend.h"
#include "cuda/nccl-comm.h"
#include "gpu-ranks.h"
#include "plan.h"
#include "simulate.h"
#include "xalloc.h"

struct gpu_env {
	int n;
	int *devices;
	bool f32;
	struct ds_nccl **comms;
	/* weight upload progress over all ranks: rank r reports base + its bytes of grand_total */
	ds_progress_fn progress;
	void *progress_arg;
	uint64_t base, rank_total, grand_total;
};

static void rank_progress(uint64_t done, uint64_t total, void *arg)
{
	struct gpu_env *g = arg;
	uint64_t at = g->base + done;
	g->rank_total = total;
	g->progress(at < g->grand_total ? at : g->grand_total, g->grand_total, g->progress_arg);
}

/* Rank r's state on its GPU (ranks are created one after another on the calling thread). */
static struct ds_state *gpu_state(void *arg, int rank, const struct ds_model *shard, int n_ctx, int n_threads,
				  char *err, size_t errlen)
{
	struct gpu_env *g = arg;
	struct ds_backend_choice c = { .name = "cuda", .device = g->devices[rank], .f32 = g->f32 };
	(void)n_threads;
	if (g->progress != NULL) {
		c.progress = rank_progress;
		c.progress_arg = g;
		g->rank_total = 0;
	}
	/* the backend copies the shard's weights (only this rank's slices and experts) to its GPU here */
	struct ds_state *s = ds_state_new_on(shard, n_ctx, 1, &c, err, errlen);
	g->base += g->rank_total;
	return s;
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

/* The longest context up to want that the plan fits in the GPUs' free memory now, or -1 (err set). */
static int fit_context(const struct ds_config *cfg, const struct ds_plan *plan, const int *devices, int want,
		       bool f32, char *err, size_t errlen)
{
	int n = plan->n_ranks;
	uint64_t *free_bytes = xcalloc((size_t)n, sizeof *free_bytes);
	double least = 0;
	for (int r = 0; r < n; r++) {
		struct ds_cuda_device_info info;
		if (ds_cuda_device_info(devices[r], &info, err, errlen) != 0) {
			free(free_bytes);
			return -1;
		}
		free_bytes[r] = (uint64_t)(info.mem_free_gb * 1e9);
		if (r == 0 || info.mem_free_gb < least)
			least = info.mem_free_gb;
	}
	int64_t fit = ds_plan_fit_context(cfg, plan, want, f32 ? 4 : 2, 4, free_bytes);
	free(free_bytes);
	if (fit <= 0) {
		errorf(err, errlen, "the model's slices do not fit in %d GPU%s (%.1f GB free on the fullest); use "
		       "more GPUs (dscoder-engine --plan --gpus N shows how it splits)", n, n == 1 ? "" : "s", least);
		return -1;
	}
	return (int)fit;
}

/* Bytes the ranks upload together: every rank's elements (the plan counts them exactly) in the
 * checkpoint's element size, so the progress of all uploads is one bar. */
static uint64_t upload_bytes(const struct ds_model *full, const struct ds_plan *plan)
{
	uint64_t sum = 0;
	struct ds_rank_memory *mem = xcalloc((size_t)plan->n_ranks, sizeof *mem);
	ds_plan_memory(&full->cfg, plan, 1, 2, 4, mem);
	for (int r = 0; r < plan->n_ranks; r++)
		sum += (uint64_t)((double)mem[r].weight_params * (double)ds_tensor_bytes(&full->w.embed) /
				 (double)((uint64_t)full->w.embed.rows * (uint64_t)full->w.embed.cols));
	free(mem);
	return sum;
}

int ds_gpu_ranks_replace_state(const struct ds_model *full, struct ds_state **state, const int *devices, int n,
			       int n_ctx, bool f32, ds_progress_fn progress, void *progress_arg, char *err,
			       size_t errlen)
{
	struct ds_plan plan;
	if (ds_plan_make(&full->cfg, n, &plan, err, errlen) != 0)
		return -1;
	uint64_t grand_total = upload_bytes(full, &plan);
	if (n_ctx < 0)
		n_ctx = fit_context(&full->cfg, &plan, devices, ds_state_n_ctx(*state), f32, err, errlen);
	else if (n_ctx == 0)
		n_ctx = ds_state_n_ctx(*state);
	ds_plan_free(&plan);
	if (n_ctx < 0)
		return -1;
	struct gpu_env *g = xcalloc(1, sizeof *g);
	g->n = n;
	g->f32 = f32;
	g->devices = xcalloc((size_t)n, sizeof *g->devices);
	for (int r = 0; r < n; r++)
		g->devices[r] = devices[r];
	g->comms = xcalloc((size_t)n, sizeof *g->comms);
	g->grand_total = grand_total;
	if (progress != NULL && g->grand_total > 0) {
		g->progress = progress;
		g->progress_arg = progress_arg;
	}
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

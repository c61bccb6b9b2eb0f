/* cmd-ranks.c: where the verbs' forward passes run when the model is split: --simulate-ranks N (N
 * virtual ranks on the CPU), --gpus N / --devices LIST (one thread per GPU, joined by NCCL) or --nodes N
 * (one process per rank, joined over TCP: engine/cmd-nodes.c). */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-cli.h"
#include "simulate.h"
#include "xalloc.h"
#ifdef HAVE_CUDA
#include "gpu-ranks.h"
#endif

#define ERR_LEN 1024

/* The device numbers of --devices LIST (checked by the option parser), else 0..gpus-1. */
static int *device_list(const struct cli_args *a)
{
	int *d = xcalloc((size_t)a->gpus, sizeof *d);
	const char *p = a->devices;
	for (int i = 0; i < a->gpus; i++) {
		if (p == NULL) {
			d[i] = i;
			continue;
		}
		char *end;
		d[i] = (int)strtol(p, &end, 10);
		p = *end == ',' ? end + 1 : end;
	}
	return d;
}

int cli_ranks_place(const struct cli_args *a, const struct ds_model *m, struct ds_state **state, int n_ctx,
		    ds_progress_fn progress, void *progress_arg, char *err, size_t errlen)
{
	char why[ERR_LEN];

	if (a->nodes > 0)
		return cli_nodes_place(a, m, state, n_ctx, err, errlen);
	if (a->simulate_ranks > 0) {
		if (ds_sim_replace_state(m, state, a->simulate_ranks, n_ctx, a->threads, why, sizeof why) != 0) {
			snprintf(err, errlen, "--simulate-ranks %d: %s", a->simulate_ranks, why);
			return -1;
		}
		return 0;
	}
	if (a->gpus <= 0)
		return 0;
#ifdef HAVE_CUDA
	int *devices = device_list(a);
	/* without --ctx the context is capped to what fits the GPUs, as it is to host memory on the CPU */
	int ctx = n_ctx == 0 && a->n_ctx == 0 ? -1 : n_ctx;
	int rc = ds_gpu_ranks_replace_state(m, state, devices, a->gpus, ctx, a->f32, progress, progress_arg, why,
					    sizeof why);
	free(devices);
	if (rc != 0) {
		snprintf(err, errlen, "--gpus %d: %s", a->gpus, why);
		return -1;
	}
	return 0;
#else
	(void)device_list;
	(void)m;
	(void)state;
	(void)n_ctx;
	(void)why;
	(void)progress;
	(void)progress_arg;
	snprintf(err, errlen, "--gpus %d: this dscoder-engine was built without CUDA (configure --with-cuda)",
		 a->gpus);
	return -1;
#endif
}

int cli_ranks_context(const struct cli_args *a, const struct ds_state *state)
{
	if (a->simulate_ranks <= 0 || a->n_ctx > 0)
		return a->n_ctx;
	int ctx = ds_state_n_ctx(state) / a->simulate_ranks;
	return ctx < 16 ? 16 : ctx;
}

const char *cli_ranks_describe(const struct cli_args *a, char *buf, size_t len)
{
	if (a->simulate_ranks > 0)
		snprintf(buf, len, "cpu, %d simulated ranks", a->simulate_ranks);
	else if (a->nodes > 0)
		snprintf(buf, len, "cpu, %d node%s over TCP", a->nodes, a->nodes == 1 ? "" : "s");
	else if (a->gpus > 0)
		snprintf(buf, len, "cuda, %d GPU%s over NCCL", a->gpus, a->gpus == 1 ? "" : "s");
	else
		return NULL;
	return buf;
}

int cli_ranks_state(const struct cli_args *a, const struct ds_model *m, struct ds_state **state, int n_ctx)
{
	char err[ERR_LEN];

	if (cli_ranks_place(a, m, state, n_ctx, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	return 0;
}

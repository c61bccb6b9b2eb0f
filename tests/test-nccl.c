/* test-nccl.c: the NCCL all-reduce hook and the id broadcast on the GPUs of this machine (one thread
 * per GPU, up to 4), against sums computed on the host. Exits 77 when no CUDA GPU is visible. */
#include "build-config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cuda/cuda-backend.h"
#include "cuda/nccl-comm.h"
#include "xalloc.h"
#include "fixture-util.h"

#define MAX_GPUS 4
#define N_FLOATS 5000      /* not a multiple of anything NCCL likes */
#define N_INTS 300

struct rank_job {
	int rank, n;
	struct ds_nccl *comm;
	void *ctx;
	float *buf;                /* device */
	float host[N_FLOATS];
	int ints[N_INTS];
};

static float value(int rank, int i)
{
	return (float)((i * 7 + rank * 13) % 101) * 0.25f - 12.0f;
}

static void *rank_run(void *arg)
{
	struct rank_job *j = arg;
	ds_nccl_allreduce(j->comm, j->ctx, j->buf, N_FLOATS);
	ds_backend_cuda.read(j->ctx, j->host, j->buf, N_FLOATS);
	if (j->rank == 0)
		for (int i = 0; i < N_INTS; i++)
			j->ints[i] = 1000 + i;
	ds_nccl_broadcast_ints(j->comm, j->ints, N_INTS);
	return NULL;
}

int main(void)
{
	int count = ds_cuda_device_count();
	if (count == 0) {
		printf("SKIP: no CUDA GPU visible\n");
		return 77;
	}
	int n = count < MAX_GPUS ? count : MAX_GPUS;
	int devices[MAX_GPUS];
	char err[512] = "";
	struct ds_nccl *comms[MAX_GPUS];

	/* a device that does not exist is a sentence */
	int bad = count + 7;
	CHECK(ds_nccl_init_all(&bad, 1, comms, err, sizeof err) != 0 && strstr(err, "does not exist") != NULL,
	      "GPU %d accepted or unclear: %s", bad, err);

	for (int i = 0; i < n; i++)
		devices[i] = i;
	if (ds_nccl_init_all(devices, n, comms, err, sizeof err) != 0) {
		printf("FAIL: %s\n", err);
		return 1;
	}
	struct ds_config cfg = {
		.vocab_size = 64, .hidden_size = 64, .intermediate_size = 64, .moe_intermediate_size = 16,
		.num_hidden_layers = 1, .num_attention_heads = 2, .kv_lora_rank = 16, .qk_nope_head_dim = 8,
		.qk_rope_head_dim = 8, .v_head_dim = 8, .rms_norm_eps = 1e-6f, .rope_theta = 10000.0f,
	};
	struct ds_backend_params bp = { .cfg = &cfg, .n_ctx = 16, .max_batch = 4 };
	struct rank_job *jobs = xcalloc((size_t)n, sizeof *jobs);
	for (int r = 0; r < n; r++) {
		struct ds_cuda_options o = { .device = devices[r] };
		ds_cuda_set_options(&o);
		jobs[r].rank = r;
		jobs[r].n = n;
		jobs[r].comm = comms[r];
		jobs[r].ctx = ds_backend_cuda.create(&bp, err, sizeof err);
		if (jobs[r].ctx == NULL) {
			printf("FAIL: GPU %d: %s\n", devices[r], err);
			return 1;
		}
		CHECK(ds_nccl_rank(comms[r]) == r && ds_nccl_size(comms[r]) == n, "rank %d: communicator says rank %d of %d",
		      r, ds_nccl_rank(comms[r]), ds_nccl_size(comms[r]));
		jobs[r].buf = ds_backend_cuda.alloc(jobs[r].ctx, N_FLOATS);
		for (int i = 0; i < N_FLOATS; i++)
			jobs[r].host[i] = value(r, i);
		ds_cuda_write(jobs[r].ctx, jobs[r].buf, jobs[r].host, N_FLOATS);
	}
	/* every rank must be inside the collective at once: one thread each */
	pthread_t th[MAX_GPUS];
	for (int r = 0; r < n; r++)
		pthread_create(&th[r], NULL, rank_run, &jobs[r]);
	for (int r = 0; r < n; r++)
		pthread_join(th[r], NULL);
	for (int r = 0; r < n; r++) {
		double worst = 0;
		for (int i = 0; i < N_FLOATS; i++) {
			double want = 0;
			for (int q = 0; q < n; q++)
				want += value(q, i);
			double d = fabs(want - jobs[r].host[i]);
			if (d > worst)
				worst = d;
		}
		/* quarter-integers summed over at most 4 ranks are exact in F32 */
		CHECK(worst == 0, "rank %d: the all-reduce is %g from the host's sum", r, worst);
		bool same = true;
		for (int i = 0; i < N_INTS; i++)
			same = same && jobs[r].ints[i] == 1000 + i;
		CHECK(same, "rank %d: the broadcast ints differ from rank 0's", r);
	}
	for (int r = 0; r < n; r++) {
		ds_backend_cuda.release(jobs[r].ctx, jobs[r].buf);
		ds_backend_cuda.destroy(jobs[r].ctx);
		ds_nccl_free(comms[r]);
	}
	free(jobs);
	printf("%s (%d GPU%s)\n", fix_failures ? "FAILED" : "NCCL all-reduce and broadcast agree with the host", n,
	       n == 1 ? "" : "s");
	return fix_failures ? 1 : 0;
}

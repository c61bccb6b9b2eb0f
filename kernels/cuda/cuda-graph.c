/* cuda-graph.c: the decode step recorded once as a CUDA graph and replayed: one launch per token
 * instead of hundreds. What changes between steps (the token and its position) is copied into
 * device memory before each replay, and every operation of a recorded step reads it from there. */
#include "build-config.h"

#include <stdlib.h>

#include "cuda-argmax.h"
#include "cuda-cache-store.h"
#include "cuda-int.h"

int cuda_graph_begin(void *ctx, int token, int pos)
{
	struct cuda_ctx *c = ctx;
	const char *env = getenv("DSCODER_CUDA_GRAPH");
	cuda_enter(c);
	/* DSCODER_CUDA_GRAPH=0 turns recording off (to compare with the eager path); the first step is
	 * eager so that everything a step touches is uploaded and cuBLAS has chosen its kernels */
	if ((env != NULL && env[0] == '0') || c->graph_calls++ == 0)
		return -1;
	c->step_host[0] = token;
	c->step_host[1] = pos;
	CUDA_CHECK(cudaMemcpyAsync(c->step_dev, c->step_host, 2 * sizeof(int), cudaMemcpyHostToDevice, c->st));
	if (c->graph_exec != NULL) {
		CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)c->graph_exec, c->st));
		return 1;
	}
	CUDA_CHECK(cudaStreamBeginCapture(c->st, cudaStreamCaptureModeThreadLocal));
	c->capturing = true;
	return 0;
}

int cuda_graph_end(void *ctx, const float *logits, int vocab)
{
	struct cuda_ctx *c = ctx;
	int id = 0;
	cuda_enter(c);
	if (c->capturing) {
		cudaGraph_t g;
		cudaGraphExec_t exec;
		cuda_argmax(c->argmax_dev, logits, 1, vocab, c->st);
		c->capturing = false;
		CUDA_CHECK(cudaStreamEndCapture(c->st, &g));
		CUDA_CHECK(cudaGraphInstantiateWithFlags(&exec, g, 0));
		CUDA_CHECK(cudaGraphDestroy(g));
		c->graph_exec = exec;
		CUDA_CHECK(cudaGraphLaunch(exec, c->st));
	}
	CUDA_CHECK(cudaMemcpyAsync(c->step_host, c->argmax_dev, sizeof(int), cudaMemcpyDeviceToHost, c->st));
	CUDA_CHECK(cudaStreamSynchronize(c->st));
	id = c->step_host[0];
	return id;
}

void cuda_store_row(void *ctx, float *cache, const float *row, int lat, int pos)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	cuda_cache_store(cache, row, lat, pos, c->capturing ? c->step_dev + 1 : NULL, c->st);
}

void cuda_graph_free(struct cuda_ctx *c)
{
	if (c->graph_exec != NULL)
		cudaGraphExecDestroy((cudaGraphExec_t)c->graph_exec);
	c->graph_exec = NULL;
}

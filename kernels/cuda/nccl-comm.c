/* nccl-comm.c: NCCL communicators (one process with a thread per GPU, or one rank per process joined
 * by a shared unique id) and the in-place F32 sum the forward pass calls after attention and the FFN. */
#include "build-config.h"

#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#include "cuda-int.h"
#include "nccl-comm.h"
#include "xalloc.h"

/* ints one ds_nccl_broadcast_ints call may carry at most per round (larger calls go in rounds) */
#define NCCL_BCAST_INTS 4096

struct ds_nccl {
	ncclComm_t comm;
	int rank, size, device;
	cudaStream_t st;           /* for the broadcasts, which are not tied to a backend context */
	int *bcast_dev;
};

_Static_assert(DS_NCCL_ID_BYTES == NCCL_UNIQUE_ID_BYTES, "nccl-comm.h's id size must be NCCL's");

static struct ds_nccl *comm_wrap(ncclComm_t comm, int device)
{
	struct ds_nccl *c = xcalloc(1, sizeof *c);
	c->comm = comm;
	c->device = device;
	NCCL_CHECK(ncclCommUserRank(comm, &c->rank));
	NCCL_CHECK(ncclCommCount(comm, &c->size));
	CUDA_CHECK(cudaSetDevice(device));
	CUDA_CHECK(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking));
	CUDA_CHECK(cudaMalloc((void **)&c->bcast_dev, NCCL_BCAST_INTS * sizeof(int)));
	return c;
}

int ds_nccl_init_all(const int *devices, int n, struct ds_nccl **comms, char *err, size_t errlen)
{
	int count = 0;
	if (cudaGetDeviceCount(&count) != cudaSuccess)
		count = 0;
	if (count == 0)
		return errorf(err, errlen, "no CUDA GPU is visible on this machine");
	for (int i = 0; i < n; i++)
		if (devices[i] < 0 || devices[i] >= count)
			return errorf(err, errlen, "GPU %d does not exist: this machine has %d (devices 0 to %d)",
				      devices[i], count, count - 1);
	ncclComm_t *raw = xcalloc((size_t)n, sizeof *raw);
	ncclResult_t r = ncclCommInitAll(raw, n, devices);
	if (r != ncclSuccess) {
		free(raw);
		return errorf(err, errlen, "NCCL cannot connect %d GPUs: %s", n, ncclGetErrorString(r));
	}
	for (int i = 0; i < n; i++)
		comms[i] = comm_wrap(raw[i], devices[i]);
	free(raw);
	return 0;
}

int ds_nccl_unique_id(unsigned char id[DS_NCCL_ID_BYTES], char *err, size_t errlen)
{
	ncclUniqueId u;
	ncclResult_t r = ncclGetUniqueId(&u);
	if (r != ncclSuccess)
		return errorf(err, errlen, "NCCL cannot make a unique id: %s", ncclGetErrorString(r));
	memcpy(id, u.internal, DS_NCCL_ID_BYTES);
	return 0;
}

struct ds_nccl *ds_nccl_init_rank(const unsigned char id[DS_NCCL_ID_BYTES], int n_ranks, int rank, int device,
				  char *err, size_t errlen)
{
	ncclUniqueId u;
	ncclComm_t comm;
	memcpy(u.internal, id, DS_NCCL_ID_BYTES);
	if (cudaSetDevice(device) != cudaSuccess) {
		errorf(err, errlen, "rank %d: GPU %d cannot be used", rank, device);
		return NULL;
	}
	ncclResult_t r = ncclCommInitRank(&comm, n_ranks, u, rank);
	if (r != ncclSuccess) {
		errorf(err, errlen, "rank %d of %d cannot join the NCCL communicator: %s", rank, n_ranks,
		       ncclGetErrorString(r));
		return NULL;
	}
	return comm_wrap(comm, device);
}

void ds_nccl_free(struct ds_nccl *c)
{
	if (c == NULL)
		return;
	CUDA_CHECK(cudaSetDevice(c->device));
	CUDA_CHECK(cudaFree(c->bcast_dev));
	CUDA_CHECK(cudaStreamDestroy(c->st));
	NCCL_CHECK(ncclCommDestroy(c->comm));
	free(c);
}

int ds_nccl_rank(const struct ds_nccl *c)
{
	return c->rank;
}

int ds_nccl_size(const struct ds_nccl *c)
{
	return c->size;
}

void ds_nccl_allreduce(void *comm, void *bctx, float *buf, size_t n)
{
	struct ds_nccl *c = comm;
	struct cuda_ctx *b = bctx;
	cuda_enter(b);
	/* on the backend's own stream: ordered after the o_proj / FFN kernels that wrote buf and before
	 * the residual add that reads it, with no host synchronisation (and capturable in a CUDA graph) */
	NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, c->comm, b->st));
}

void ds_nccl_broadcast_ints(struct ds_nccl *c, int *ints, int n)
{
	CUDA_CHECK(cudaSetDevice(c->device));
	for (int done = 0; done < n; done += NCCL_BCAST_INTS) {
		int m = n - done < NCCL_BCAST_INTS ? n - done : NCCL_BCAST_INTS;
		if (c->rank == 0)
			CUDA_CHECK(cudaMemcpyAsync(c->bcast_dev, ints + done, (size_t)m * sizeof(int),
						   cudaMemcpyHostToDevice, c->st));
		NCCL_CHECK(ncclBroadcast(c->bcast_dev, c->bcast_dev, (size_t)m, ncclInt32, 0, c->comm, c->st));
		if (c->rank != 0)
			CUDA_CHECK(cudaMemcpyAsync(ints + done, c->bcast_dev, (size_t)m * sizeof(int),
						   cudaMemcpyDeviceToHost, c->st));
		CUDA_CHECK(cudaStreamSynchronize(c->st));
	}
}

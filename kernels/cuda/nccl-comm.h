/* nccl-comm.h: NCCL communicators and the all-reduce of the multi-GPU engine, in plain C (no CUDA or
 * NCCL types), for the rank drivers in engine/. Only compiled when configure found CUDA (HAVE_CUDA). */
#ifndef DS_NCCL_COMM_H
#define DS_NCCL_COMM_H

#include <stddef.h>

/* Size of an NCCL unique id (NCCL_UNIQUE_ID_BYTES): what rank 0 shares with every other process. */
#define DS_NCCL_ID_BYTES 128

struct ds_nccl;

/* One process, one thread per GPU: a communicator for each of devices[0..n), rank i on devices[i]
 * (ncclCommInitAll). Fills comms[0..n); returns -1 with a sentence in err when NCCL cannot start
 * (for example a device that does not exist). */
int ds_nccl_init_all(const int *devices, int n, struct ds_nccl **comms, char *err, size_t errlen);

/* Several processes (one per GPU, or one per node with a thread per GPU): rank 0 makes the id and
 * shares it (engine/rendezvous.h carries it over TCP); then every rank joins with the same id, the
 * world size and its own rank, on device (ncclCommInitRank; blocks until all ranks have joined). */
int ds_nccl_unique_id(unsigned char id[DS_NCCL_ID_BYTES], char *err, size_t errlen);
struct ds_nccl *ds_nccl_init_rank(const unsigned char id[DS_NCCL_ID_BYTES], int n_ranks, int rank, int device,
				  char *err, size_t errlen);

void ds_nccl_free(struct ds_nccl *c);
int ds_nccl_rank(const struct ds_nccl *c);
int ds_nccl_size(const struct ds_nccl *c);

/* The forward pass's all-reduce hook (struct ds_parallel in engine/forward.h), with comm as its arg:
 * sums n floats of buf, a device buffer of the CUDA backend context bctx, over all ranks, in place,
 * queued on that context's stream after the kernels that wrote buf and before those that read it. */
void ds_nccl_allreduce(void *comm, void *bctx, float *buf, size_t n);

/* Rank 0's n ints (host memory) reach every rank's ints (multi-process runs: the token ids of each
 * forward call); goes through a small device buffer of the communicator and waits for completion. */
void ds_nccl_broadcast_ints(struct ds_nccl *c, int *ints, int n);

#endif

/* gpu-ranks.h: --gpus N / --devices LIST: the ranks of engine/simulate.h on GPUs, one thread per GPU in
 * this process, joined by NCCL. Only compiled when configure found CUDA (HAVE_CUDA). */
#ifndef DS_GPU_RANKS_H
#define DS_GPU_RANKS_H

#include <stdbool.h>
#include <stddef.h>

#include "forward.h"
#include "model.h"

/* Replaces *state (freed here) by rank 0 of n ranks on devices[0..n): each rank's shard on its GPU
 * (CUDA backend, BF16 weights, or F32 with f32), an NCCL all-reduce after attention and after the FFN
 * (also with one GPU: --gpus 1 runs the NCCL path). n_ctx 0: *state's context; n_ctx -1: *state's
 * context capped to what the partition plan fits in the GPUs' free memory (the default context).
 * progress (may be NULL) hears the weight upload of all ranks as one count of bytes. ds_state_free on the
 * new state ends every rank and the communicators. Returns -1 with a sentence in err and *state
 * untouched when the GPUs or NCCL cannot be had. */
int ds_gpu_ranks_replace_state(const struct ds_model *full, struct ds_state **state, const int *devices, int n,
			       int n_ctx, bool f32, ds_progress_fn progress, void *progress_arg, char *err,
			       size_t errlen);

#endif

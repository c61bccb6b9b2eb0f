/* cuda-moe-group.h: launcher grouping the (token, expert) pairs of a batch by expert. */
#ifndef DS_CUDA_MOE_GROUP_H
#define DS_CUDA_MOE_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* From ids (n, top_k): offset[e] .. offset[e+1] are the grouped rows of expert e (offset: n_routed + 1
 * ints), tok[r] the token of grouped row r, slot_row[i*top_k + j] the grouped row of slot j of token i,
 * active[0] the number of experts with rows and active[1..] those experts in id order (n_routed + 1
 * ints). Rows of an expert keep token order, so the grouping is the same on every run. An id of -1
 * (an expert another rank evaluates) gets no row: its slot_row is -1.
 * n_routed < 1024. */
void cuda_moe_group(int *offset, int *tok, int *slot_row, int *active, const int *ids, int n, int top_k,
		    int n_routed, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

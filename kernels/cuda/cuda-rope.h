/* cuda-rope.h: launcher of the rotary embedding (plain or YaRN frequencies). */
#ifndef DS_CUDA_ROPE_H
#define DS_CUDA_ROPE_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Rotates pairs (x[2i], x[2i+1]) at x + t*ld + h*head_ld (t < n, h < n_heads, i < dim/2) by the angle
 * (p + t) * inv_freq[i] in double precision, cos and sin times mscale; p is *pos_dev when pos_dev is
 * not NULL (a graph replayed at a new position), else pos. inv_freq: dim/2 doubles on the GPU. */
void cuda_rope(float *x, int n, int n_heads, int ld, int head_ld, int dim, int pos, const int *pos_dev,
	       const double *inv_freq, float mscale, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

/* cuda-synthetic.h: launcher filling GPU buffers with reproducible random values (the --synthetic models). */
#ifndef DS_CUDA_SYNTHETIC_H
#define DS_CUDA_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* dst (n values, BF16 when bf16 else F32) = offset + scale * u, u uniform in [-1, 1) from a hash of
 * (seed, index): the same for any launch shape. */
void cuda_fill_random(void *dst, int bf16, size_t n, uint64_t seed, float scale, float offset, cudaStream_t st);
/* dst = nblocks GGUF blocks of type wtype (an enum ds_dtype value, block_bytes each): random quants,
 * scales that make weights about scale in size (the quantized --synthetic models). */
void cuda_fill_random_blocks(void *dst, int wtype, size_t nblocks, int block_bytes, uint64_t seed, float scale,
			     cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

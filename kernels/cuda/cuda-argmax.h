/* cuda-argmax.h: launchers choosing the next token on the GPU (only the id crosses to the host). */
#ifndef DS_CUDA_ARGMAX_H
#define DS_CUDA_ARGMAX_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out[i] = the index of the largest of row i of logits (n rows of vocab), the lowest on ties. */
void cuda_argmax(int *out, const float *logits, int n, int vocab, cudaStream_t st);
/* Temperature sampling of one row over the whole vocabulary: *out = the index where the running sum
 * of softmax(logits / temperature) first exceeds u (uniform in [0, 1), drawn by the host's seeded
 * generator). Top-k/top-p/penalties stay with the host sampler, which reads the logits. */
void cuda_sample(int *out, const float *logits, int vocab, float temperature, float u, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif

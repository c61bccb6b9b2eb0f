/* cuda-argmax.cu: greedy choice and temperature sampling on the GPU, one block per row, so that only
 * the chosen id is copied to the host. */
#include "cuda-argmax.h"
#include "cuda-check.h"
#include "cuda-device.cuh"

#define ARGMAX_THREADS 1024

/* The better of two (value, index) candidates: larger value, then lower index; NaN never wins. */
static __device__ __forceinline__ void better(float &v, int &i, float v2, int i2)
{
	if (v2 > v || (v2 == v && i2 < i) || (v != v && v2 == v2)) {
		v = v2;
		i = i2;
	}
}

static __global__ void argmax_kernel(int *out, const float *logits, int vocab)
{
	__shared__ float sv[32];
	__shared__ int si[32];
	const float *row = logits + (size_t)blockIdx.x * vocab;
	float v = -INFINITY;
	int idx = 0x7fffffff;
	for (int j = threadIdx.x; j < vocab; j += blockDim.x)
		better(v, idx, row[j], j);
	for (int o = 16; o > 0; o >>= 1)
		better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	if (lane == 0) {
		sv[w] = v;
		si[w] = idx;
	}
	__syncthreads();
	if (w == 0) {
		int nw = blockDim.x / 32;
		v = lane < nw ? sv[lane] : -INFINITY;
		idx = lane < nw ? si[lane] : 0x7fffffff;
		for (int o = 16; o > 0; o >>= 1)
			better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
		if (lane == 0)
			out[blockIdx.x] = idx == 0x7fffffff ? 0 : idx;
	}
}

extern "C" void cuda_argmax(int *out, const float *logits, int n, int vocab, cudaStream_t st)
{
	if (n <= 0)
		return;
	argmax_kernel<<<n, ARGMAX_THREADS, 0, st>>>(out, logits, vocab);
	CUDA_LAUNCH_CHECK("argmax_kernel");
}

/* Each thread owns a contiguous chunk, so the running sum goes in index order: max, then the chunk
 * sums of exp((l - max) / T), then a scan over the chunks finds the one where u * total falls. */
static __global__ void sample_kernel(int *out, const float *logits, int vocab, float temp, float u)
{
	__shared__ float red[32];
	__shared__ float chunk[ARGMAX_THREADS];
	__shared__ int pick;
	int per = (vocab + blockDim.x - 1) / blockDim.x, lo = threadIdx.x * per;
	int hi = lo + per < vocab ? lo + per : vocab;
	float m = -INFINITY;
	for (int j = lo; j < hi; j++)
		m = fmaxf(m, logits[j]);
	m = warp_max(m);
	if ((threadIdx.x & 31) == 0)
		red[threadIdx.x >> 5] = m;
	__syncthreads();
	m = -INFINITY;
	for (int w = 0; w < (int)blockDim.x / 32; w++)
		m = fmaxf(m, red[w]);
	float s = 0;
	for (int j = lo; j < hi; j++)
		s += expf((logits[j] - m) / temp);
	chunk[threadIdx.x] = s;
	__syncthreads();
	if (threadIdx.x == 0) {
		float total = 0;
		for (int t = 0; t < (int)blockDim.x; t++)
			total += chunk[t];
		float target = u * total, run = 0;
		/* when rounding leaves u * total at or past the sum, the last token is chosen (as on the
		 * host): the last thread whose chunk is not empty, never one past the vocabulary, whose
		 * id would fall back to 0 */
		pick = (vocab - 1) / per;
		for (int t = 0; t < (int)blockDim.x; t++) {
			if (run + chunk[t] > target && chunk[t] > 0) {
				pick = t;
				break;
			}
			run += chunk[t];
		}
		chunk[0] = target - run;   /* what is left to cover inside the chosen chunk */
	}
	__syncthreads();
	if ((int)threadIdx.x == pick) {
		float left = chunk[0], run = 0;
		int id = hi > lo ? hi - 1 : 0;
		for (int j = lo; j < hi; j++) {
			run += expf((logits[j] - m) / temp);
			if (run > left) {
				id = j;
				break;
			}
		}
		*out = id;
	}
}

extern "C" void cuda_sample(int *out, const float *logits, int vocab, float temperature, float u, cudaStream_t st)
{
	sample_kernel<<<1, ARGMAX_THREADS, 0, st>>>(out, logits, vocab, temperature, u);
	CUDA_LAUNCH_CHECK("sample_kernel");
}

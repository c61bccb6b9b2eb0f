/* cuda-cache-store.cu: stores a decode step's latent row (normed c_kv | roped k_pe) into the cache at
 * the position the device holds, so that a recorded step can be replayed at any position. */
#include "cuda-cache-store.h"
#include "cuda-check.h"
#include "cuda-device.cuh"

static __global__ void cache_store_kernel(float *cache, const float *row, int lat, int pos, const int *pos_dev)
{
	int p = pos_dev != NULL ? *pos_dev : pos;
	for (int j = threadIdx.x; j < lat; j += blockDim.x)
		cache[(size_t)p * lat + j] = row[j];
}

extern "C" void cuda_cache_store(float *cache, const float *row, int lat, int pos, const int *pos_dev, cudaStream_t st)
{
	cache_store_kernel<<<1, 256, 0, st>>>(cache, row, lat, pos, pos_dev);
	CUDA_LAUNCH_CHECK("cache_store_kernel");
}

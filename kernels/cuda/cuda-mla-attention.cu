/* cuda-mla-attention.cu: attention of MLA over the latent cache (c_kv | roped k_pe per position) with
 * the absorbed query, for decode and for causal prefill alike. A block takes one query token, 8 heads
 * and one slice of positions: it loads 16 cache rows at a time into shared memory and every head of
 * the block uses them, so a cache row is read once per 8 heads (flash-decoding: online softmax per
 * slice, then a merge of the slices). Decode has one query: the work is spread by slicing the
 * positions finely (cuda-attention.c) and by groups of heads, not by reading the cache once. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-mla-attention.h"

#define TILE 16                                  /* cache rows per shared-memory tile */
#define HEADS_PER_WARP 2
#define HEADS_PER_BLOCK CUDA_MLA_HEADS_PER_BLOCK
#define WARPS (HEADS_PER_BLOCK / HEADS_PER_WARP)
#define LAT_REGS (CUDA_MLA_MAX_LAT / 32)         /* latent values of a query per lane */
#define RANK_REGS (CUDA_MLA_MAX_RANK / 32)       /* output accumulators per lane */

static __global__ void __launch_bounds__(32 * WARPS)
mla_split_kernel(float *part, const float *q_lat, const float *cache, int n, int pos0, const int *pos_dev,
		 int nh, int kr, int lat, int n_splits)
{
	__shared__ float tile[TILE][CUDA_MLA_MAX_LAT];
	int s = blockIdx.x, i = blockIdx.y, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	int pos = pos_dev != NULL ? *pos_dev : pos0;
	int total = pos + n, len = (total + n_splits - 1) / n_splits;
	int lo = s * len, hi = lo + len;
	if (hi > pos + i + 1)
		hi = pos + i + 1;           /* causal: query i sits at position pos + i */

	float q[HEADS_PER_WARP][LAT_REGS], acc[HEADS_PER_WARP][RANK_REGS], m[HEADS_PER_WARP], l[HEADS_PER_WARP];
#pragma unroll
	for (int hh = 0; hh < HEADS_PER_WARP; hh++) {
		int h = blockIdx.z * HEADS_PER_BLOCK + w * HEADS_PER_WARP + hh;
#pragma unroll
		for (int j = 0; j < LAT_REGS; j++) {
			int d = lane + 32 * j;
			q[hh][j] = h < nh && d < lat ? q_lat[((size_t)i * nh + h) * lat + d] : 0.0f;
		}
#pragma unroll
		for (int j = 0; j < RANK_REGS; j++)
			acc[hh][j] = 0;
		m[hh] = -INFINITY;
		l[hh] = 0;
	}

	for (int t0 = lo; t0 < hi; t0 += TILE) {
		int nt = hi - t0 < TILE ? hi - t0 : TILE;
		__syncthreads();
		for (int k = threadIdx.x; k < nt * lat; k += blockDim.x)
			tile[k / lat][k % lat] = cache[(size_t)(t0 + k / lat) * lat + k % lat];
		__syncthreads();
#pragma unroll
		for (int hh = 0; hh < HEADS_PER_WARP; hh++) {
			int h = blockIdx.z * HEADS_PER_BLOCK + w * HEADS_PER_WARP + hh;
			if (h >= nh)
				continue;
			float sc[TILE], mx = m[hh];
#pragma unroll
			for (int t = 0; t < TILE; t++) {
				float p = 0;
				if (t < nt) {
#pragma unroll
					for (int j = 0; j < LAT_REGS; j++) {
						int d = lane + 32 * j;
						if (d < lat)
							p += q[hh][j] * tile[t][d];
					}
				}
				p = warp_sum(p);
				sc[t] = t < nt ? p : -INFINITY;
				mx = fmaxf(mx, sc[t]);
			}
			float f = expf(m[hh] - mx);       /* 0 on the first tile (m = -inf) */
			l[hh] *= f;
#pragma unroll
			for (int j = 0; j < RANK_REGS; j++)
				acc[hh][j] *= f;
#pragma unroll
			for (int t = 0; t < TILE; t++) {
				if (t < nt) {
					float p = expf(sc[t] - mx);
					l[hh] += p;
#pragma unroll
					for (int j = 0; j < RANK_REGS; j++) {
						int d = lane + 32 * j;
						if (d < kr)
							acc[hh][j] += p * tile[t][d];
					}
				}
			}
			m[hh] = mx;
		}
	}

#pragma unroll
	for (int hh = 0; hh < HEADS_PER_WARP; hh++) {
		int h = blockIdx.z * HEADS_PER_BLOCK + w * HEADS_PER_WARP + hh;
		if (h >= nh)
			continue;
		float *ps = part + (((size_t)i * nh + h) * n_splits + s) * (kr + 2);
		if (lane == 0) {
			ps[0] = m[hh];
			ps[1] = l[hh];
		}
#pragma unroll
		for (int j = 0; j < RANK_REGS; j++) {
			int d = lane + 32 * j;
			if (d < kr)
				ps[2 + d] = acc[hh][j];
		}
	}
}

/* Block (head, token, 128 columns): merges the slices' (max, sum, weighted c_kv) into the normalised
 * o_lat: each slice's weight exp(m_s - max) once in shared memory, then a column per thread. */
#define MERGE_THREADS 128
static __global__ void __launch_bounds__(MERGE_THREADS)
mla_merge_kernel(float *o_lat, const float *part, int nh, int kr, int n_splits)
{
	extern __shared__ float wsplit[];        /* n_splits weights, then 32 for the reductions */
	float *red = wsplit + n_splits;
	int h = blockIdx.x, i = blockIdx.y, c = blockIdx.z * MERGE_THREADS + threadIdx.x;
	const float *ph = part + ((size_t)i * nh + h) * n_splits * (kr + 2);
	float mx = -INFINITY;
	for (int s = threadIdx.x; s < n_splits; s += MERGE_THREADS)
		mx = fmaxf(mx, ph[(size_t)s * (kr + 2)]);
	mx = warp_max(mx);
	if ((threadIdx.x & 31) == 0)
		red[threadIdx.x >> 5] = mx;
	__syncthreads();
	mx = red[0];
	for (int w = 1; w < MERGE_THREADS / 32; w++)
		mx = fmaxf(mx, red[w]);
	float l = 0;
	for (int s = threadIdx.x; s < n_splits; s += MERGE_THREADS) {
		const float *p = ph + (size_t)s * (kr + 2);
		float w = p[1] > 0 ? expf(p[0] - mx) : 0.0f;
		wsplit[s] = w;
		l += p[1] * w;
	}
	l = block_sum(l, red);       /* syncs: wsplit is complete after it */
	if (c >= kr)
		return;
	float o = 0;
	for (int s = 0; s < n_splits; s++)
		if (wsplit[s] != 0)
			o += ph[(size_t)s * (kr + 2) + 2 + c] * wsplit[s];
	o_lat[((size_t)i * nh + h) * kr + c] = o / l;
}

extern "C" void cuda_mla_attention(float *o_lat, float *part, const float *q_lat, const float *cache, int n, int pos,
				   const int *pos_dev, int n_heads, int kv_rank, int rope, int n_splits, cudaStream_t st)
{
	if (n <= 0)
		return;
	dim3 grid((unsigned)n_splits, (unsigned)n, (unsigned)((n_heads + HEADS_PER_BLOCK - 1) / HEADS_PER_BLOCK));
	mla_split_kernel<<<grid, 32 * WARPS, 0, st>>>(part, q_lat, cache, n, pos, pos_dev, n_heads, kv_rank,
						       kv_rank + rope, n_splits);
	CUDA_LAUNCH_CHECK("mla_split_kernel");
	dim3 mgrid((unsigned)n_heads, (unsigned)n, (unsigned)((kv_rank + MERGE_THREADS - 1) / MERGE_THREADS));
	mla_merge_kernel<<<mgrid, MERGE_THREADS, ((size_t)n_splits + 32) * sizeof(float), st>>>(o_lat, part, n_heads,
												    kv_rank, n_splits);
	CUDA_LAUNCH_CHECK("mla_merge_kernel");
}

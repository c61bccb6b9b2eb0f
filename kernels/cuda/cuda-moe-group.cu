/* cuda-moe-group.cu: groups the (token, expert) pairs of a batch by expert in one block: thread e
 * counts and then places expert e's pairs in token order, so the layout never depends on timing. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-moe-group.h"

static __global__ void moe_group_kernel(int *offset, int *tok, int *slot_row, int *active, const int *ids, int pairs,
					int k, int ne)
{
	extern __shared__ int cnt[];     /* ne + 1 */
	int e = threadIdx.x;
	/* a pair whose expert another rank evaluates (id -1) gets no row */
	for (int p = threadIdx.x; p < pairs; p += blockDim.x)
		slot_row[p] = -1;
	if (e < ne) {
		int c = 0;
		for (int p = 0; p < pairs; p++)
			c += ids[p] == e;
		cnt[e + 1] = c;
	}
	__syncthreads();
	if (threadIdx.x == 0) {
		cnt[0] = 0;
		int na = 0;
		for (int j = 1; j <= ne; j++) {
			if (cnt[j] > 0)
				active[1 + na++] = j - 1;
			cnt[j] += cnt[j - 1];
		}
		active[0] = na;
	}
	__syncthreads();
	if (e <= ne)
		offset[e] = cnt[e];
	if (e < ne) {
		int r = cnt[e];
		for (int p = 0; p < pairs; p++)
			if (ids[p] == e) {
				tok[r] = p / k;
				slot_row[p] = r;
				r++;
			}
	}
}

extern "C" void cuda_moe_group(int *offset, int *tok, int *slot_row, int *active, const int *ids, int n, int top_k,
			       int n_routed, cudaStream_t st)
{
	int threads = (n_routed + 1 + 31) / 32 * 32;
	moe_group_kernel<<<1, threads, (size_t)(n_routed + 1) * sizeof(int), st>>>(offset, tok, slot_row, active, ids,
										     n * top_k, top_k, n_routed);
	CUDA_LAUNCH_CHECK("moe_group_kernel");
}

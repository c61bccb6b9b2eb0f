/* cuda-moe-gate.cu: the MoE router of DeepSeek-V2 on the GPU, one warp per token: softmax of the
 * router logits, greedy or group-limited top-k, weights normalised or scaled, with the choices and
 * ties of engine/moe.c: the maximum and each pick are warp reductions (the larger score, the lower
 * expert on a tie: the serial loop's first maximum), the softmax sum and the group choice run in
 * the serial order on one lane. A decode step routes one token, so the serial version (one thread
 * for a few hundred dependent steps) was a visible part of it. */
#include "cuda-check.h"
#include "cuda-device.cuh"
#include "cuda-moe-gate.h"

#define FULL 0xffffffffu

static __global__ void moe_gate_kernel(int *ids, float *weights, const float *logits, int ne, int k,
				       int group_limited, int n_group, int topk_group, int norm, float scaling)
{
	extern __shared__ float sh[];
	float *score = sh, *allowed = sh + ne;    /* 1: may be chosen, 0: masked, -1: taken */
	const float *lg = logits + (size_t)blockIdx.x * ne;
	int *id = ids + (size_t)blockIdx.x * k;
	float *wt = weights + (size_t)blockIdx.x * k;
	int lane = threadIdx.x;

	/* the largest logit (NaN skipped, as the serial comparison does) */
	float m = -INFINITY;
	for (int e = lane; e < ne; e += 32)
		m = lg[e] > m ? lg[e] : m;
	m = warp_max(m);
	for (int e = lane; e < ne; e += 32) {
		score[e] = expf(lg[e] - m);
		allowed[e] = 1;
	}
	__syncwarp();
	float sum = 0;
	if (lane == 0)
		for (int e = 0; e < ne; e++)
			sum += score[e];
	sum = __shfl_sync(FULL, sum, 0);
	for (int e = lane; e < ne; e += 32)
		score[e] /= sum;
	__syncwarp();
	if (group_limited && n_group > 1 && ne % n_group == 0) {
		if (lane == 0) {
			int per = ne / n_group;
			for (int e = 0; e < ne; e++)
				allowed[e] = 0;
			for (int pick = 0; pick < topk_group && pick < n_group; pick++) {
				int best = -1;
				float bs = -INFINITY;
				for (int g = 0; g < n_group; g++) {
					if (allowed[g * per] != 0)
						continue;
					float gs = -INFINITY;
					for (int j = 0; j < per; j++)
						gs = score[g * per + j] > gs ? score[g * per + j] : gs;
					if (gs > bs) {
						bs = gs;
						best = g;
					}
				}
				if (best < 0)
					break;
				for (int j = 0; j < per; j++)
					allowed[best * per + j] = 1;
			}
		}
		__syncwarp();
	}
	float wsum = 0;
	for (int j = 0; j < k; j++) {
		int best = -1;
		float bs = -INFINITY;
		for (int e = lane; e < ne; e += 32)
			if (allowed[e] == 1 && score[e] > bs) {
				bs = score[e];
				best = e;
			}
		for (int o = 16; o > 0; o >>= 1) {
			float obs = __shfl_xor_sync(FULL, bs, o);
			int ob = __shfl_xor_sync(FULL, best, o);
			if (ob >= 0 && (best < 0 || obs > bs || (obs == bs && ob < best))) {
				bs = obs;
				best = ob;
			}
		}
		if (best < 0) {
			/* fewer allowed experts than k: masked (zero) scores come next, as in the reference;
			 * NaN scores (a broken checkpoint): the first allowed expert not yet taken, so that
			 * no expert is chosen twice */
			if (lane == 0) {
				for (int e = 0; e < ne && best < 0; e++)
					if (allowed[e] == 0)
						best = e;
				for (int e = 0; e < ne && best < 0; e++)
					if (allowed[e] == 1)
						best = e;
				if (best < 0)
					best = 0;
			}
			best = __shfl_sync(FULL, best, 0);
			bs = 0;
		}
		if (lane == 0) {
			allowed[best] = -1;
			id[j] = best;
			wt[j] = bs;
		}
		wsum += bs;
		__syncwarp();
	}
	if (lane == 0)
		for (int j = 0; j < k; j++)
			wt[j] = k > 1 && norm ? wt[j] / (wsum + 1e-20f) : wt[j] * scaling;
}

extern "C" void cuda_moe_gate(int *ids, float *weights, const float *logits, int n, int n_routed, int top_k,
			      int group_limited, int n_group, int topk_group, int norm, float scaling, cudaStream_t st)
{
	if (n <= 0)
		return;
	moe_gate_kernel<<<n, 32, 2 * (size_t)n_routed * sizeof(float), st>>>(ids, weights, logits, n_routed, top_k,
									      group_limited, n_group, topk_group, norm,
									      scaling);
	CUDA_LAUNCH_CHECK("moe_gate_kernel");
}

/* cuda-device.cuh: device helpers the kernels share (C++ for nvcc only): weight loads as float
 * from F32 or BF16 storage, warp reductions. */
#ifndef DS_CUDA_DEVICE_CUH
#define DS_CUDA_DEVICE_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

static __device__ __forceinline__ float dev_ld(const float *p, size_t i) { return p[i]; }
static __device__ __forceinline__ float dev_ld(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }

static __device__ __forceinline__ float warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
static __device__ __forceinline__ float block_sum(float v, float *red /* 32 floats of shared */)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
	v = warp_sum(v);
	__syncthreads();
	if (lane == 0)
		red[w] = v;
	__syncthreads();
	v = lane < nw ? red[lane] : 0.0f;
	return warp_sum(v);
}

/* Dot products of one weight row (cols values) with nt <= 4 activation rows, by one warp; every
 * lane gets the sums. F32 and BF16 rows load 16 bytes per lane where they can (below). */
template <typename W>
static __device__ __forceinline__ void warp_dot4(const W *row, const float *const *x, int nt, int cols,
						 float out[4])
{
	float acc[4] = { 0, 0, 0, 0 };
	int lane = threadIdx.x & 31;
	for (int c = lane; c < cols; c += 32) {
		float wv = dev_ld(row, (size_t)c);
#pragma unroll
		for (int t = 0; t < 4; t++)
			if (t < nt)
				acc[t] += wv * x[t][c];
	}
#pragma unroll
	for (int t = 0; t < 4; t++)
		out[t] = warp_sum(acc[t]);
}

/* F32 rows whose length is a multiple of 4 load 16 bytes per lane (the router, --dtype f32) */
template <>
__device__ __forceinline__ void warp_dot4<float>(const float *row, const float *const *x, int nt, int cols,
						 float out[4])
{
	float acc[4] = { 0, 0, 0, 0 };
	int lane = threadIdx.x & 31;
	bool aligned = (cols & 3) == 0 && ((uintptr_t)row & 15) == 0;
	for (int t = 0; t < nt; t++)
		aligned = aligned && ((uintptr_t)x[t] & 15) == 0;
	if (aligned) {
		const float4 *r4 = (const float4 *)row;
		for (int c4 = lane; c4 < cols / 4; c4 += 32) {
			float4 w = r4[c4];
#pragma unroll
			for (int t = 0; t < 4; t++) {
				if (t < nt) {
					float4 a = ((const float4 *)x[t])[c4];
					acc[t] += w.x * a.x + w.y * a.y + w.z * a.z + w.w * a.w;
				}
			}
		}
	} else {
		for (int c = lane; c < cols; c += 32) {
			float wv = row[c];
#pragma unroll
			for (int t = 0; t < 4; t++)
				if (t < nt)
					acc[t] += wv * x[t][c];
		}
	}
#pragma unroll
	for (int t = 0; t < 4; t++)
		out[t] = warp_sum(acc[t]);
}

template <>
__device__ __forceinline__ void warp_dot4<__nv_bfloat16>(const __nv_bfloat16 *row, const float *const *x,
							 int nt, int cols, float out[4])
{
	float acc[4] = { 0, 0, 0, 0 };
	int lane = threadIdx.x & 31;
	bool aligned = (cols & 7) == 0 && ((uintptr_t)row & 15) == 0;
	for (int t = 0; t < nt; t++)
		aligned = aligned && ((uintptr_t)x[t] & 15) == 0;
	if (aligned) {
		const uint4 *r8 = (const uint4 *)row;
		for (int c8 = lane; c8 < cols / 8; c8 += 32) {
			uint4 u = r8[c8];
			const __nv_bfloat16 *b = (const __nv_bfloat16 *)&u;
			float wv[8];
#pragma unroll
			for (int j = 0; j < 8; j++)
				wv[j] = __bfloat162float(b[j]);
#pragma unroll
			for (int t = 0; t < 4; t++) {
				if (t < nt) {
					const float4 *x4 = (const float4 *)(x[t] + 8 * c8);
					float4 a = x4[0], bq = x4[1];
					acc[t] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w +
						  wv[4] * bq.x + wv[5] * bq.y + wv[6] * bq.z + wv[7] * bq.w;
				}
			}
		}
	} else {
		for (int c = lane; c < cols; c += 32) {
			float wv = __bfloat162float(row[c]);
#pragma unroll
			for (int t = 0; t < 4; t++)
				if (t < nt)
					acc[t] += wv * x[t][c];
		}
	}
#pragma unroll
	for (int t = 0; t < 4; t++)
		out[t] = warp_sum(acc[t]);
}

#endif

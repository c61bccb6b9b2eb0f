/* cuda-quant.cuh: GGUF block-quantized weights read in place on the GPU (C++ for nvcc only): one
 * struct per block type, whose size is the block's bytes, and the decoding of one group of 32
 * weights of a block, with the arithmetic of kernels/dtype.c in the same order and rounding (no
 * fused multiply-add where the definition rounds twice), so a decoded weight equals the CPU's bit
 * for bit. A row of cols weights is cols / per blocks; a warp's dot product gives each lane one
 * group of 32 at a time. */
#ifndef DS_CUDA_QUANT_CUH
#define DS_CUDA_QUANT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "cuda-device.cuh"
#include "dtype.h"

static __device__ __forceinline__ float q_f16(const uint8_t *p)
{
	return __half2float(__ushort_as_half((unsigned short)(p[0] | p[1] << 8)));
}

/* x = d * q, the product rounded once (the definition's qs[j] * d) */
static __device__ __forceinline__ float q_mul(float a, float b) { return __fmul_rn(a, b); }
/* x = a * b - c with both steps rounded (d1 * q - m1) */
static __device__ __forceinline__ float q_mul_sub(float a, float b, float c) { return __fsub_rn(__fmul_rn(a, b), c); }
static __device__ __forceinline__ float q_mul_add(float a, float b, float c) { return __fadd_rn(__fmul_rn(a, b), c); }

/* N bytes at p as N/2 16-bit loads (p 2-byte aligned: every block type's size and field offsets
 * are even) or N/16 16-byte loads (p 16-byte aligned: q4_K's and q5_K's quants, 144- and 176-byte
 * blocks), instead of a load per byte. */
template <int N>
static __device__ __forceinline__ void q_ld16(const uint8_t *p, uint8_t out[N])
{
	const unsigned short *h = (const unsigned short *)p;
#pragma unroll
	for (int j = 0; j < N / 2; j++) {
		unsigned short v = h[j];
		out[2 * j] = (uint8_t)(v & 0xff);
		out[2 * j + 1] = (uint8_t)(v >> 8);
	}
}

template <int N>
static __device__ __forceinline__ void q_ld128(const uint8_t *p, uint8_t out[N])
{
	const uint4 *v = (const uint4 *)p;
#pragma unroll
	for (int j = 0; j < N / 16; j++) {
		uint4 u = v[j];
		unsigned w[4] = { u.x, u.y, u.z, u.w };
#pragma unroll
		for (int k = 0; k < 16; k++)
			out[16 * j + k] = (uint8_t)(w[k / 4] >> (8 * (k % 4)));
	}
}

/* K-quants' 6-bit scale and min of sub-block j (of 8) from the 12 scale bytes */
static __device__ __forceinline__ void q_scale_min(int j, const uint8_t *q, int *sc, int *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

struct blk_q8_0 {
	uint8_t b[34];
	enum { per = 32 };
	static __device__ __forceinline__ void dec32(const uint8_t *b, int sub, float v[32])
	{
		float d = q_f16(b);
		uint8_t qs[32];
		q_ld16<32>(b + 2, qs);
#pragma unroll
		for (int j = 0; j < 32; j++)
			v[j] = q_mul((float)(int8_t)qs[j], d);
	}
};

struct blk_q4_0 {
	uint8_t b[18];
	enum { per = 32 };
	static __device__ __forceinline__ void dec32(const uint8_t *b, int sub, float v[32])
	{
		float d = q_f16(b);
		uint8_t qs[16];
		q_ld16<16>(b + 2, qs);
#pragma unroll
		for (int j = 0; j < 16; j++) {
			v[j] = q_mul((float)((qs[j] & 0x0f) - 8), d);
			v[j + 16] = q_mul((float)((qs[j] >> 4) - 8), d);
		}
	}
};

struct blk_q4_1 {
	uint8_t b[20];
	enum { per = 32 };
	static __device__ __forceinline__ void dec32(const uint8_t *b, int sub, float v[32])
	{
		float d = q_f16(b), m = q_f16(b + 2);
		uint8_t qs[16];
		q_ld16<16>(b + 4, qs);
#pragma unroll
		for (int j = 0; j < 16; j++) {
			v[j] = q_mul_add((float)(qs[j] & 0x0f), d, m);
			v[j + 16] = q_mul_add((float)(qs[j] >> 4), d, m);
		}
	}
};

static __device__ __forceinline__ uint32_t q_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct blk_q5_0 {
	uint8_t b[22];
	enum { per = 32 };
	static __device__ __forceinline__ void dec32(const uint8_t *b, int sub, float v[32])
	{
		float d = q_f16(b);
		uint8_t hq[20];
		q_ld16<20>(b + 2, hq);          /* qh[4], then qs[16] */
		uint32_t qh = q_u32(hq);
		const uint8_t *qs = hq + 4;
#pragma unroll
		for (int j = 0; j < 16; j++) {
			int x0 = (int)((qs[j] & 0x0f) | ((qh >> j) & 1) << 4) - 16;
			int x1 = (int)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16;
			v[j] = q_mul((float)x0, d);
			v[j + 16] = q_mul((float)x1, d);
		}
	}
};

struct blk_q5_1 {
	uint8_t b[24];
	enum { per = 32 };
	static __device__ __forceinline__ void dec32(const uint8_t *b, int sub, float v[32])
	{
		float d = q_f16(b), m = q_f16(b + 2);
		uint8_t hq[20];
		q_ld16<20>(b + 4, hq);          /* qh[4], then qs[16] */
		uint32_t qh = q_u32(hq);
		const uint8_t *qs = hq + 4;
#pragma unroll
		for (int j = 0; j < 16; j++) {
			int x0 = (int)((qs[j] & 0x0f) | ((qh >> j) & 1) << 4);
			int x1 = (int)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
			v[j] = q_mul_add((float)x0, d, m);
			v[j + 16] = q_mul_add((float)x1, d, m);
		}
	}
};

/* q4_K: group sub (0..7) is the low (even sub) or high (odd) nibbles of the 32 bytes of its 64 */
struct blk_q4_K {
	uint8_t b[144];
	enum { per = 256 };
	static __device__ __forceinline__ void dec32(const uint8_t *b, int sub, float v[32])
	{
		int sc, m;
		q_scale_min(sub, b + 4, &sc, &m);
		float d1 = q_mul(q_f16(b), (float)sc), m1 = q_mul(q_f16(b + 2), (float)m);
		uint8_t q[32];
		q_ld128<32>(b + 16 + 32 * (sub >> 1), q);
		int shift = 4 * (sub & 1);
#pragma unroll
		for (int l = 0; l < 32; l++)
			v[l] = q_mul_sub(d1, (float)((q[l] >> shift) & 0x0f), m1);
	}
};

/* q5_K: as q4_K, the fifth bit of weight l of group sub is bit sub of qh[l] */
struct blk_q5_K {
	uint8_t b[176];
	enum { per = 256 };
	static __device__ __forceinline__ void dec32(const uint8_t *b, int sub, float v[32])
	{
		int sc, m;
		q_scale_min(sub, b + 4, &sc, &m);
		float d1 = q_mul(q_f16(b), (float)sc), m1 = q_mul(q_f16(b + 2), (float)m);
		uint8_t qh[32], ql[32];
		q_ld128<32>(b + 16, qh);
		q_ld128<32>(b + 48 + 32 * (sub >> 1), ql);
		int shift = 4 * (sub & 1);
#pragma unroll
		for (int l = 0; l < 32; l++)
			v[l] = q_mul_sub(d1, (float)(((ql[l] >> shift) & 0x0f) + ((qh[l] >> sub) & 1 ? 16 : 0)), m1);
	}
};

/* q6_K: group sub = 4 * half + k; k picks the low/high nibble of ql[l] or ql[l + 32] and bits 2k of
 * qh[l]; weights l < 16 take scale is = 2k, the rest 2k + 1 */
struct blk_q6_K {
	uint8_t b[210];
	enum { per = 256 };
	static __device__ __forceinline__ void dec32(const uint8_t *b, int sub, float v[32])
	{
		int half = sub >> 2, k = sub & 3;
		uint8_t ql[32], qh[32];
		q_ld16<32>(b + 64 * half + 32 * (k & 1), ql);
		q_ld16<32>(b + 128 + 32 * half, qh);
		const int8_t *sc = (const int8_t *)(b + 192 + 8 * half);
		float d = q_f16(b + 208);
		float s0 = q_mul(d, (float)sc[2 * k]), s1 = q_mul(d, (float)sc[2 * k + 1]);
		int lshift = 4 * (k >> 1), hshift = 2 * k;
#pragma unroll
		for (int l = 0; l < 32; l++) {
			int q = (int)(((ql[l] >> lshift) & 0x0f) | (((qh[l] >> hshift) & 3) << 4)) - 32;
			v[l] = q_mul(l < 16 ? s0 : s1, (float)q);
		}
	}
};

/* Elements per stored unit of a weight type: 1 for float types, the block for quantized ones. */
template <typename W> struct w_per { enum { n = 1 }; };
template <> struct w_per<blk_q8_0> { enum { n = 32 }; };
template <> struct w_per<blk_q4_0> { enum { n = 32 }; };
template <> struct w_per<blk_q4_1> { enum { n = 32 }; };
template <> struct w_per<blk_q5_0> { enum { n = 32 }; };
template <> struct w_per<blk_q5_1> { enum { n = 32 }; };
template <> struct w_per<blk_q4_K> { enum { n = 256 }; };
template <> struct w_per<blk_q5_K> { enum { n = 256 }; };
template <> struct w_per<blk_q6_K> { enum { n = 256 }; };

/* Row r of a weight of cols columns stored as W units. */
template <typename W>
static __device__ __forceinline__ const W *w_row(const W *base, size_t r, int cols)
{
	return base + r * (size_t)(cols / w_per<W>::n);
}

/* Dot products of one quantized row with nt <= 4 activation rows by one warp (every lane gets the
 * sums): lane i decodes groups of 32 weights i, i + 32, ... and multiplies each with the tokens'
 * 32 activations, so each weight byte is read once per 4 tokens. */
template <typename B>
static __device__ __forceinline__ void warp_dot4_q(const B *row, const float *const *x, int nt, int cols, float out[4])
{
	float acc[4] = { 0, 0, 0, 0 };
	int lane = threadIdx.x & 31, groups = cols / 32, gpb = B::per / 32;
	bool aligned = true;
	for (int t = 0; t < nt; t++)
		aligned = aligned && ((uintptr_t)x[t] & 15) == 0;
	for (int g = lane; g < groups; g += 32) {
		float v[32];
		B::dec32((const uint8_t *)(row + g / gpb), g % gpb, v);
#pragma unroll
		for (int t = 0; t < 4; t++) {
			if (t >= nt)
				break;
			const float *xt = x[t] + 32 * (size_t)g;
			float s = 0;
			if (aligned) {
				const float4 *x4 = (const float4 *)xt;
#pragma unroll
				for (int j = 0; j < 8; j++) {
					float4 a = x4[j];
					s += v[4 * j] * a.x + v[4 * j + 1] * a.y + v[4 * j + 2] * a.z + v[4 * j + 3] * a.w;
				}
			} else {
#pragma unroll
				for (int j = 0; j < 32; j++)
					s += v[j] * xt[j];
			}
			acc[t] += s;
		}
	}
#pragma unroll
	for (int t = 0; t < 4; t++)
		out[t] = warp_sum(acc[t]);
}

/* warp_dot4 for the block types (cuda-device.cuh has the float ones) */
#define DS_Q_WARP_DOT4(B) \
	static __device__ __forceinline__ void warp_dot4(const B *row, const float *const *x, int nt, int cols, \
							 float out[4]) \
	{ \
		warp_dot4_q(row, x, nt, cols, out); \
	}
DS_Q_WARP_DOT4(blk_q8_0)
DS_Q_WARP_DOT4(blk_q4_0)
DS_Q_WARP_DOT4(blk_q4_1)
DS_Q_WARP_DOT4(blk_q5_0)
DS_Q_WARP_DOT4(blk_q5_1)
DS_Q_WARP_DOT4(blk_q4_K)
DS_Q_WARP_DOT4(blk_q5_K)
DS_Q_WARP_DOT4(blk_q6_K)
#undef DS_Q_WARP_DOT4

/* Runs the statements after ok with W bound to the storage type of weight type wtype (an enum
 * ds_dtype value: F32, BF16 or a block type); another type runs nothing and leaves ok false. */
#define DS_W_DISPATCH(wtype, ok, ...) \
	do { \
		(ok) = true; \
		switch (wtype) { \
		case DS_F32: { typedef float W; __VA_ARGS__; break; } \
		case DS_BF16: { typedef __nv_bfloat16 W; __VA_ARGS__; break; } \
		case DS_Q8_0: { typedef blk_q8_0 W; __VA_ARGS__; break; } \
		case DS_Q4_0: { typedef blk_q4_0 W; __VA_ARGS__; break; } \
		case DS_Q4_1: { typedef blk_q4_1 W; __VA_ARGS__; break; } \
		case DS_Q5_0: { typedef blk_q5_0 W; __VA_ARGS__; break; } \
		case DS_Q5_1: { typedef blk_q5_1 W; __VA_ARGS__; break; } \
		case DS_Q4_K: { typedef blk_q4_K W; __VA_ARGS__; break; } \
		case DS_Q5_K: { typedef blk_q5_K W; __VA_ARGS__; break; } \
		case DS_Q6_K: { typedef blk_q6_K W; __VA_ARGS__; break; } \
		default: (ok) = false; break; \
		} \
	} while (0)

#endif

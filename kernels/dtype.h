/* dtype.h: the element types weights may have (float and GGUF block-quantized) as one table: name,
 * elements per block, bytes per block and the conversion to float. A row's size is asked of the
 * table; adding a type touches the table and its kernels, nothing else. */
#ifndef DS_DTYPE_H
#define DS_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum ds_dtype {
	DS_F32 = 0,
	DS_F16,
	DS_BF16,
	DS_Q8_0,	/* 32 weights: f16 scale, 32 x int8 */
	DS_Q4_0,	/* 32 weights: f16 scale, 32 x 4 bits, offset 8 */
	DS_Q4_K,	/* 256 weights: f16 scale and min, 8 x (6-bit scale, 6-bit min), 256 x 4 bits */
	DS_Q5_K,	/* 256 weights: as Q4_K with a fifth bit per weight */
	DS_Q6_K,	/* 256 weights: 16 x int8 scale, 256 x 6 bits, f16 super-scale */
	DS_Q4_1,	/* 32 weights: f16 scale and min, 32 x 4 bits */
	DS_Q5_0,	/* 32 weights: f16 scale, 32 fifth bits, 32 x 4 bits, offset 16 */
	DS_Q5_1,	/* 32 weights: f16 scale and min, 32 fifth bits, 32 x 4 bits */
	DS_N_DTYPES
};

struct ds_dtype_info {
	const char *name;	/* as GGUF tools print it: "f32", "q4_K" */
	int block;		/* elements per block (1 for float types) */
	size_t block_bytes;	/* bytes per block */
	int ggml_type;		/* the type's number in GGUF files */
	/* dst[0, n) = the n elements at src (n a multiple of block), exactly as the format defines */
	void (*to_float)(const void *src, float *dst, int64_t n);
};

/* The entry of t (t < DS_N_DTYPES). */
const struct ds_dtype_info *ds_dtype_get(enum ds_dtype t);

/* The type a GGUF file numbers ggml_type; -1 when this program does not read it. */
int ds_dtype_from_ggml(uint32_t ggml_type);

/* The name of a GGUF type number, also for types this program does not read ("q2_K"); NULL for a
 * number no GGUF writer uses. */
const char *ds_ggml_type_name(uint32_t ggml_type);

/* The 8 six-bit scales and mins of a Q4_K/Q5_K block's 12 scale bytes, all at once: sub-block j's in
 * byte j of *sc and *mn (dtype.c's k_scale_min for every j: the first four pairs in the low 6 bits of
 * bytes 0-7, the last four in the nibbles of bytes 8-11 with their top bits in bytes 0-7). */
static inline void ds_k_scales8(const uint8_t *s12, uint64_t *sc, uint64_t *mn)
{
	uint32_t u0, u1, u2;
	memcpy(&u0, s12, 4);
	memcpy(&u1, s12 + 4, 4);
	memcpy(&u2, s12 + 8, 4);
	*sc = (u0 & 0x3f3f3f3fu) | (uint64_t)((u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u)) << 32;
	*mn = (u1 & 0x3f3f3f3fu) | (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u)) << 32;
}

static inline bool ds_dtype_is_quantized(enum ds_dtype t)
{
	return ds_dtype_get(t)->block > 1;
}

/* Bytes of cols elements of type t; cols must be a multiple of the block (loaders check it). */
static inline size_t ds_row_bytes(enum ds_dtype t, int64_t cols)
{
	const struct ds_dtype_info *i = ds_dtype_get(t);

	return (size_t)(cols / i->block) * i->block_bytes;
}

static inline float ds_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

/* Float to bfloat16, round to nearest even (NaN kept a quiet NaN, subnormals kept). Inline: the CPU
 * backend rounds each latent cache row with it on the decode path. */
static inline uint16_t ds_f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);	/* NaN: keep it a quiet NaN */
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* IEEE half to float, exact (subnormals, infinities and NaN included). */
static inline float ds_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
	float f;

	if (e == 0) {
		/* zero or subnormal: m * 2^-24 is exact in float */
		f = (float)m * (1.0f / 16777216.0f);
		return sign ? -f : f;
	}
	if (e == 31)
		u = sign | 0x7f800000u | (m << 13);
	else
		u = sign | ((e + 112) << 23) | (m << 13);
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Float to IEEE half, round to nearest even (for --quantize). */
uint16_t ds_f32_to_f16(float f);

#endif

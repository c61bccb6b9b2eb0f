/* quantize.h: float rows to the element types of dtype.h (the inverse of their to_float), for
 * dscoder-engine --quantize. Every block's scales are chosen so that every value of the block is
 * representable: decoded, each value lies within half of its block's step of the source. */
#ifndef DS_QUANTIZE_H
#define DS_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "dtype.h"

/* Can ds_quantize_row write type t? (f32, f16, bf16, q8_0, q5_0, q4_K, q6_K) */
bool ds_quantize_supported(enum ds_dtype t);

/* Writes the n floats at src as type t to dst (ds_row_bytes(t, n) bytes); n is a multiple of t's
 * block and t is supported (both are the caller's to check: anything else aborts). Non-finite
 * inputs are not representable in the block types and give unspecified codes. */
void ds_quantize_row(enum ds_dtype t, const float *src, void *dst, int64_t n);

/* (ds_f32_to_bf16, float to bfloat16, is in dtype.h) */

#endif

/* cpu-kernels-avx512.c: the AVX-512 (F/BW/VL/DQ) set: the block-quantized kernels of
 * cpu-quant-simd.h on 16-lane registers; the float types (F32/F16/BF16) and the vector kernels are the
 * AVX2 set's. Compiled with target attributes; cpu_kernels_best picks it only where it runs.
 *
 * No VNNI or BF16 dot instruction is used: both would round the activations (to int8 or bf16) and
 * move the logits by far more than F32 rounding does, which this engine does not do by default. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#if defined(HAVE_AVX2_TARGET) && defined(HAVE_AVX512_TARGET)

#include <stdio.h>
#include <stdlib.h>

#include "cpu-kernels.h"

#define QV_W 16
#define QV_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"
#define QV(name) avx512_##name
#include "cpu-quant-simd.h"

static void avx512_rows(const struct ds_tensor *w, long r0, long r1, const float *x, int n, long ldx,
			float *y, long ldy)
{
	if (ds_dtype_is_quantized(w->dtype))
		avx512_quant_rows(w, r0, r1, x, n, ldx, y, ldy);
	else
		cpu_avx2_rows(w, r0, r1, x, n, ldx, y, ldy);
}

static void avx512_axpy_row(float *y, float a, const struct ds_tensor *w, long row)
{
	if (ds_dtype_is_quantized(w->dtype))
		avx512_quant_axpy_row(y, a, w, row);
	else
		cpu_avx2_axpy_row(y, a, w, row);
}

const struct cpu_kernels cpu_kernels_avx512 = {
	.name = "AVX-512",
	.rows = avx512_rows,
	.axpy_row = avx512_axpy_row,
	.dot = cpu_avx2_dot,
	.axpy = cpu_avx2_axpy,
	.pv = cpu_avx2_pv,
	.exp_sum = cpu_avx2_exp_sum,
};

#endif

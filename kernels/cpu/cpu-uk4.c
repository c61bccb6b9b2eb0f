/* cpu-uk4.c: W_UK of a Q4_K kv_b_proj as uk4 tables (cpu-uk4.h): building them, and their absorb in
 * portable C, the reference the VNNI kernel is checked against. */
#include "build-config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-uk4.h"
#include "dtype.h"
#include "xalloc.h"

bool cpu_uk4_fits(const struct ds_tensor *kv_b, int heads, int nope, int v_dim)
{
	return kv_b != NULL && kv_b->dtype == DS_Q4_K && kv_b->layout == DS_LAYOUT_ROWS && nope > 0 && nope % 16 == 0 &&
	       v_dim >= 0 && heads > 0 && kv_b->cols > 0 && kv_b->cols % 256 == 0 &&
	       kv_b->rows == (int64_t)heads * (nope + v_dim);
}

size_t cpu_uk4_head_bytes(int nope, long kv_rank)
{
	return (size_t)nope * ds_row_bytes(DS_Q4_K, kv_rank);
}

/* The 4-bit code of column x of a Q4_K row (x < its columns) */
static unsigned q4k_code(const uint8_t *row, long x)
{
	const uint8_t *qs = row + (size_t)(x / 256) * CPU_UK4_ROW_BYTES + 16;
	long i = x % 256, p = i / 64, c = i % 64;
	return c < 32 ? qs[32 * p + c] & 15 : qs[32 * p + c - 32] >> 4;
}

void cpu_uk4_build(const struct ds_tensor *kv_b, int h, int nope, int v_dim, uint8_t *out)
{
	const long kr = (long)kv_b->cols, nb = kr / 256;
	const size_t rb = ds_row_bytes(DS_Q4_K, kr);
	const uint8_t *rows = (const uint8_t *)kv_b->data + (size_t)h * (size_t)(nope + v_dim) * rb;

	for (long b = 0; b < nb; b++) {
		struct cpu_uk4_block tb = cpu_uk4_block(out, nope, b);
		uint8_t *dd = (uint8_t *)tb.d, *dm = (uint8_t *)tb.dmin, *sp = (uint8_t *)tb.scales;
		uint8_t *codes = (uint8_t *)tb.codes;
		for (int j = 0; j < nope; j++) {
			const uint8_t *blk = rows + (size_t)j * rb + (size_t)b * CPU_UK4_ROW_BYTES;
			memcpy(dd + 2 * j, blk, 2);
			memcpy(dm + 2 * j, blk + 2, 2);
			for (int i = 0; i < 12; i++)
				sp[i * nope + j] = blk[4 + i];
		}
		for (int sb = 0; sb < 8; sb++)
			for (int g = 0; g < nope / 4; g++) {
				uint8_t *u = codes + (size_t)(sb * (nope / 4) + g) * 64;
				for (int c = 0; c < 16; c++)
					for (int r = 0; r < 4; r++) {
						const uint8_t *row = rows + (size_t)(4 * g + r) * rb;
						long x = 256 * b + 32 * sb + c;
						u[4 * c + r] = (uint8_t)(q4k_code(row, x) | q4k_code(row, x + 16) << 4);
					}
			}
	}
}

void cpu_uk4_absorb_ref(float *y, const float *q, float scale, const uint8_t *t, int nope, long kv_rank)
{
	float w[nope];
	int8_t e_hi[nope], e_lo[nope];

	for (long s = 0; s < kv_rank / 32; s++) {
		const struct cpu_uk4_block tb = cpu_uk4_block(t, nope, s / 8);
		const uint8_t *codes = tb.codes + (size_t)(s % 8) * (nope / 4) * 64;
		float max = 0, mins = 0, lane[16] = { 0 };
		for (int j = 0; j < nope; j++) {
			uint8_t s12[12];
			uint64_t sc, mn;
			uint16_t h0, h1;
			for (int i = 0; i < 12; i++)   /* row j's scale bytes, gathered from their planes */
				s12[i] = tb.scales[i * nope + j];
			ds_k_scales8(s12, &sc, &mn);
			memcpy(&h0, tb.d + 2 * j, 2);
			memcpy(&h1, tb.dmin + 2 * j, 2);
			w[j] = q[j] * (ds_f16_to_f32(h0) * (float)(uint8_t)(sc >> (8 * (s % 8))));
			lane[j % 16] = fmaf(q[j], ds_f16_to_f32(h1) * (float)(uint8_t)(mn >> (8 * (s % 8))), lane[j % 16]);
			max = fabsf(w[j]) > max ? fabsf(w[j]) : max;
		}
		for (int i = 0; i < 16; i++)   /* the mins summed as the kernel's 16 lanes, then in order */
			mins += lane[i];
		const float inv = max > 0 ? (float)CPU_UK4_EMAX / max : 0, unit = max / (float)CPU_UK4_EMAX;
		for (int j = 0; j < nope; j++) {
			int e = (int)nearbyintf(w[j] * inv);
			int hi = (e + 64) >> 7;
			e_hi[j] = (int8_t)hi;
			e_lo[j] = (int8_t)(e - hi * 128);
		}
		for (int half = 0; half < 2; half++)
			for (int c = 0; c < 16; c++) {
				int32_t acc_hi = 0, acc_lo = 0;
				for (int j = 0; j < nope; j++) {
					uint8_t byte = codes[(size_t)(j / 4) * 64 + 4 * c + j % 4];
					int code = half ? byte >> 4 : byte & 15;
					acc_hi += code * e_hi[j];
					acc_lo += code * e_lo[j];
				}
				/* rounded before the difference, as the kernel (volatile: no fused multiply-add) */
				volatile float prod = unit * (float)(acc_hi * 128 + acc_lo);
				y[32 * s + 16 * half + c] = scale * (prod - mins);
			}
	}
}

bool cpu_uk4_make(const struct ds_tensor *kv_b, int heads, int nope, int v_dim, struct ds_tensor *out)
{
	if (!cpu_uk4_fits(kv_b, heads, nope, v_dim))
		return false;
	const size_t hb = cpu_uk4_head_bytes(nope, (long)kv_b->cols);
	uint8_t *t = aligned_alloc(64, (hb * (size_t)heads + 63) / 64 * 64);
	if (t == NULL)
		return false;
	for (int h = 0; h < heads; h++)
		cpu_uk4_build(kv_b, h, nope, v_dim, t + (size_t)h * hb);
	*out = (struct ds_tensor){ .dtype = DS_Q4_K, .data = t, .rows = (int64_t)heads * nope, .cols = kv_b->cols,
				   .layout = DS_LAYOUT_UK4 };
	return true;
}

int cpu_uk4_model(struct ds_model *m)
{
	const struct ds_config *cfg = &m->cfg;
	int done = 0;

	for (int l = 0; l < cfg->num_hidden_layers; l++) {
		struct ds_layer *L = &m->w.layers[l];
		/* where it does not fit, or memory is short, the float absorb reads kv_b_proj itself */
		if (!cpu_uk4_make(&L->kv_b_proj, cfg->num_attention_heads, cfg->qk_nope_head_dim, cfg->v_head_dim,
				  &L->kv_b_uk4))
			continue;
		ds_model_own(m, (void *)L->kv_b_uk4.data);
		done++;
	}
	return done;
}

/* cpu-uk4.h: a Q4_K kv_b_proj's key rows (W_UK) copied per head into the layout the int8 set's
 * absorb reads (the "uk4" table), and that absorb in portable C (the reference for the VNNI kernel).
 *
 * Why: decode folds W_UK into the query, q_lat = sum over the head's nope rows j of q_j W_UK[j], a sum
 * down the rows that no dot-product kernel forms. The float form (cpu-mla-kernels.c, ar_k45) decodes
 * every weight to F32 and multiply-adds it: 1M weights a layer at the real widths, 70 us of a 210 us
 * decode attention on 2 threads at 576 positions (tools/mla-bench, caches flushed), a third of it with
 * a BF16 cache. Written as sum_j (q_j d_j sc_js) u_jk - sum_j q_j dmin_j m_js per sub-block s of 32
 * columns (u the 4-bit codes, d sc, dmin m the row's sub-block scale and min), the first sum is an
 * integer one once the weights w_js = q_j d_j sc_js of the sub-block are rounded to integers, which
 * vpdpbusd forms 64 byte products at a time if each 32-bit lane holds 4 rows' codes of one column.
 *
 * Measured: 16 heads of 128 x 512 from cache, one thread, 44 -> 20 us; tools/mla-bench at 576 positions,
 * 2 threads, caches flushed, the absorb 54 -> 35 us of a 184 -> 168 us call; the bench model's Q4_K_M
 * decode (--bench --profile, 4 alternating pairs) spent 1.21-1.29 ms a token in attention's latent
 * part against 1.35-1.54 with the F32 fold.
 *
 * The weights are rounded to 15 bits per sub-block, e = round(w / U) with U = max_j |w_js| / 16319, and
 * split as e = 128 e_hi + e_lo (e_hi in [-127, 127], e_lo in [-64, 63]) so that both halves are int8:
 * the error is at most U / 2 per row, about 3e-5 of the largest term; the codes are exact. Same bytes as
 * the rows it copies.
 *
 * Table of one head (nope rows J, a multiple of 16; kv_rank columns K, a multiple of 256): for each
 * block b of 256 columns, in order, J 144 bytes (what its J rows' blocks b hold):
 * - every row's d (f16, row j at 2j), then every row's dmin;
 * - the rows' 12 scale bytes as planes, byte i of row j at 12-plane offset i J + j: sixteen rows'
 *   scales of a sub-block are one 16-byte load;
 * - the codes of its 8 sub-blocks of 32 columns: unit (sb, g) of 64 bytes at (sb J / 4 + g) 64 for
 *   rows 4g .. 4g + 3, whose byte 4c + r holds row 4g + r's code of column 32 sb + c in its low nibble
 *   and of column 32 sb + 16 + c in its high nibble (c < 16).
 * The kernel reads it from start to end, and the heads of a layer one after another. */
#ifndef DS_CPU_UK4_H
#define DS_CPU_UK4_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* The largest |e| of a sub-block's rounded weights: 127 * 128 + 63 */
#define CPU_UK4_EMAX 16319

/* Bytes of one row's part of a block of 256 columns: Q4_K's block */
#define CPU_UK4_ROW_BYTES 144

/* Where block b (256 columns) of a head's table t keeps its parts (the layout above) */
struct cpu_uk4_block {
	const uint8_t *d, *dmin, *scales, *codes;
};

static inline struct cpu_uk4_block cpu_uk4_block(const uint8_t *t, int nope, long b)
{
	const uint8_t *d = t + (size_t)b * (size_t)nope * CPU_UK4_ROW_BYTES;
	return (struct cpu_uk4_block){ .d = d, .dmin = d + 2 * nope, .scales = d + 4 * nope, .codes = d + 16 * nope };
}

/* Whether kv_b (heads * (nope + v_dim) rows of kv_rank) has a uk4 table: Q4_K in the rows layout,
 * nope a multiple of 16 */
bool cpu_uk4_fits(const struct ds_tensor *kv_b, int heads, int nope, int v_dim);

/* Bytes of one head's table (the bytes of its nope rows) */
size_t cpu_uk4_head_bytes(int nope, long kv_rank);

/* Head h's table in out (cpu_uk4_head_bytes, 64-byte aligned) from its key rows of kv_b */
void cpu_uk4_build(const struct ds_tensor *kv_b, int h, int nope, int v_dim, uint8_t *out);

/* Every head's table of kv_b (cpu_uk4_fits) in one 64-byte aligned allocation, as *out: (heads * nope,
 * kv_rank), layout DS_LAYOUT_UK4, its data to free(); false where kv_b does not fit or memory is
 * short */
bool cpu_uk4_make(const struct ds_tensor *kv_b, int heads, int nope, int v_dim, struct ds_tensor *out);

/* y[k] = scale * sum over j < nope of q[j] W_UK[j][k] for k < kv_rank, from head table t: the
 * portable form of the VNNI kernel (cpu_kernels.absorb_uk4), the same roundings */
void cpu_uk4_absorb_ref(float *y, const float *q, float scale, const uint8_t *t, int nope, long kv_rank);

/* Every layer's kv_b_proj that fits gets its tables (layer.kv_b_uk4, owned by m); returns how many */
int cpu_uk4_model(struct ds_model *m);

#endif

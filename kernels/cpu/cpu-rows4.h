/* cpu-rows4.h: the rows4 layout, weights that the int8 kernels read four rows at a time, and the
 * CPU backend's rearranging of a model's matrices into it in place (same bytes, other order).
 *
 * Why: the decode form of the int8 set multiplies one row at a time, and per block pair it spent more
 * instructions gathering two scales from 34-byte blocks (scalar loads, shifts, a conversion, a
 * permute) and two unaligned halves of codes than on the products; its compute was only 1.1-1.3x the
 * memory rate, so the stream of weights reached 60-70% of the bandwidth. Four rows interleaved per
 * pair of blocks give the four rows' eight scales in one 16-byte load and each row's 64 codes in one
 * aligned load, and the activations are loaded once for four rows; one stream instead of four.
 *
 * Group g holds rows 4g .. 4g + 3 where those rows lay (4 x row bytes from row 4g), in units of the
 * same blocks of the 4 rows, one after another (rows a multiple of 4):
 * - Q8_0 (blocks per row even): unit p is blocks 2p, 2p + 1, 272 bytes: the 8 f16 scales, row i's
 *   block 2p + h at scale 2i + h, then each row's 64 codes (block 2p's 32, then block 2p + 1's) at
 *   16 + 64 i.
 * - Q4_K: unit s is super-block s, 576 bytes: each row's d and dmin (4 bytes, row i at 4 i), its 12
 *   scale bytes at 16 + 12 i, its 128 bytes of nibbles at 64 + 128 i.
 * - Q5_K: as Q4_K, 704 bytes, with each row's 32 bytes of fifth bits at 64 + 32 i and the nibbles at
 *   192 + 128 i.
 * - Q6_K: unit s is super-block s, 840 bytes: each row's 128 bytes of low nibbles at 128 i, its 64 of
 *   high pairs at 512 + 64 i, its 16 scales at 768 + 16 i, its d at 832 + 2 i.
 * - Q4_0 (blocks per row a multiple of 4): unit q is blocks 4q .. 4q + 3, 288 bytes: the 16 f16 scales,
 *   row i's block 4q + j at scale 4i + j, then each row's 4 x 16 bytes of nibbles at 32 + 64 i.
 * - Q5_0: as Q4_0, 352 bytes, with each row's 4 x 4 bytes of fifth bits at 32 + 16 i and the nibbles at
 *   96 + 64 i.
 * - Q5_1: as Q5_0, 384 bytes: the 16 f16 scales, then the 16 f16 mins in the same order at 32, each
 *   row's 4 x 4 bytes of fifth bits at 64 + 16 i and its nibbles at 128 + 64 i. */
#ifndef DS_CPU_ROWS4_H
#define DS_CPU_ROWS4_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

#define CPU_ROWS4_Q8_0_PAIR 272   /* bytes of a group's Q8_0 block pair */
#define CPU_ROWS4_Q6_K_UNIT 840   /* bytes of a group's Q6_K super-block */

/* Whether w's type and shape have a rows4 form (Q8_0, Q4_K, Q5_K, Q6_K, Q4_0, Q5_0, Q5_1; rows a multiple
 * of 4; Q8_0 an even number of blocks per row, Q4_0, Q5_0 and Q5_1 a multiple of 4) */
bool cpu_rows4_fits(const struct ds_tensor *w);

/* Block pair p of row r of a Q8_0 rows4 tensor: its group's pair, and r's place in the group */
static inline const uint8_t *cpu_rows4_q8_0_pair(const struct ds_tensor *w, long r, long p, int *ri)
{
	size_t rb = (size_t)(w->cols / 32) * 34;

	*ri = (int)(r % 4);
	return (const uint8_t *)w->data + (size_t)(r / 4) * 4 * rb + (size_t)p * CPU_ROWS4_Q8_0_PAIR;
}

/* Block b of row r of a rows4 tensor as the file stores a block into out */
void cpu_rows4_block(const struct ds_tensor *w, long r, long b, uint8_t *out);

/* The rows of w (rows layout, cpu_rows4_fits) rearranged into rows4 at data, which holds w's bytes
 * and is writable; scratch holds 4 rows' bytes */
void cpu_rows4_arrange(const struct ds_tensor *w, void *data, void *scratch);

/* The inverse: rows4 back to rows (tests) */
void cpu_rows4_restore(const struct ds_tensor *w, void *data, void *scratch);

/* Every matrix of m that the CPU multiplies through rows() and that fits (the projections, the
 * experts, the output head: not the embeddings, nor kv_b, whose rows attention reads one at a time)
 * rearranged in place where it lies in one of m's mappings that was read into memory at load
 * (ds_mapping.in_memory), its layout then DS_LAYOUT_ROWS4; types(t) says which types to rearrange.
 * The mappings are made writable for it and read-only again after. Tensors elsewhere (a model too
 * large to be read in, DSCODER_WEIGHTS=mmap) keep the file's layout: the kernels read both. Returns
 * the number of tensors rearranged. */
int cpu_rows4_model(struct ds_model *m, bool (*types)(enum ds_dtype t));

/* Each layer's W_UV rows of kv_b_proj (whole, of a type types(t) takes and that fits), every head's
 * copied one after another and rearranged into rows4, as layer.kv_b_uv4 (owned by m): one-token
 * decode's last MLA phase multiplies each head's W_UV by its latent output, 16 products of v_dim rows
 * that in kv_b_proj lie between the key rows and read one row at a time. Same bytes again (0.6 MB a
 * layer at Coder-V2-Lite's widths in Q4_K). Returns how many layers got one. */
int cpu_rows4_uv_model(struct ds_model *m, bool (*types)(enum ds_dtype t));

/* One kv_b_proj's copy of that kind into *out (its data the caller's to free); false where kv does
 * not fit (shape, layout, types(t)) or memory is short. */
bool cpu_rows4_uv_make(const struct ds_tensor *kv, int heads, int nope, int vd, bool (*types)(enum ds_dtype t),
		       struct ds_tensor *out);

#endif

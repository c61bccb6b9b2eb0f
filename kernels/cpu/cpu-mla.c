/* cpu-mla.c: multi-head latent attention over the latent cache (c_kv | roped k_pe per position).
 * Decode folds kv_b_proj into the query and the output (W_UK, W_UV) and reads each cache row once
 * for all heads; a batch expands its own K/V with kv_b_proj and reaches cached positions before it
 * through the same absorbed form, so a prompt prefilled in chunks costs no re-expansion. */
#include "build-config.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "cpu-backend.h"
#include "cpu-mla-kernels.h"
#include "cpu-scratch.h"
#include "cpu-uk4.h"

#define MLA_BLOCK 32

struct mla_task {
	struct cpu_ctx *c;
	const struct ds_attn_args *a;
	int n_keys;               /* decode: positions 0..n_keys-1 */
	int expanded;             /* batch: positions before it through expanded K/V (mla_prefix_expanded) */
	int n_blk;                /* decode: position blocks, of blk_len positions */
	long blk_len;
	long ldp;                 /* decode: row stride of att_p */
	int groups;               /* one token's decode: head groups of a phase's tasks (mla1_groups) */
};

/* The cached value values into cache (values of a->cache_type, whose bytes the type table gives) */
static const void *mla_cache_at(const struct ds_attn_args *a, const void *cache, long values)
{
	return (const char *)cache + ds_row_bytes(a->cache_type, values);
}

/* W_UV of head h (v_dim rows of kv_rank): rows of kv_b_proj after the head's W_UK, or of attn_v_b. */
static struct ds_tensor mla_w_uv(const struct ds_attn_args *a, int h)
{
	if (a->kv_b == NULL)
		return ds_tensor_rows(a->v_b, (int64_t)h * a->v_dim, a->v_dim);
	return ds_tensor_rows(a->kv_b, (int64_t)h * (a->nope + a->v_dim) + a->nope, a->v_dim);
}

/* W_UV of head h for decode's products: the rows4 copy where the backend made one (cpu_rows4_uv_model),
 * one stream read four rows at a time by the int8 set's rows4 kernels, not 16 runs of rows between
 * the key rows read a row at a time (the engine's one-token decode timed per phase, bench model
 * Q4_K_M, about 576 positions, 2 threads, 2 alternating pairs: the last phase 27.5-31.5 -> 23-25 us
 * a layer), else mla_w_uv's rows. */
static struct ds_tensor mla_w_uv_decode(const struct ds_attn_args *a, int h)
{
	if (a->uv4 != NULL)
		return ds_tensor_rows(a->uv4, (int64_t)h * a->v_dim, a->v_dim);
	return mla_w_uv(a, h);
}

/* The largest of x[0 .. n): eight running maxima, so the compares are not one chain of n (at -O2 the
 * compiler keeps a plain loop scalar and serial: a 576-position decode's 16 heads x 576 scores waited
 * on it; tools/mla-bench, 576 positions, 2 threads, 3 alternating pairs: 96-97 -> 90-92.5 us a call
 * from cache, 120-141 -> 118-133 flushed). The largest value is the same in any order. */
static float mla_max(const float *x, long n)
{
	float m[8] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY };
	long j = 0;
	for (; j + 8 <= n; j += 8)
		for (int i = 0; i < 8; i++)
			m[i] = x[j + i] > m[i] ? x[j + i] : m[i];
	for (; j < n; j++)
		m[0] = x[j] > m[0] ? x[j] : m[0];
	for (int i = 1; i < 8; i++)
		m[0] = m[i] > m[0] ? m[i] : m[0];
	return m[0];
}

/* Rows of attn_k_b decoded at a time by mla_w_uk, then written out transposed a line per column. */
#define MLA_UK_TILE 16

/* W_UK of head h (nope rows of kv_rank), for expanding keys: rows of kv_b_proj, or attn_k_b's
 * (kv_rank rows of nope) transposed into this thread's floats. That costs a decode of the head's
 * weights per call (64K values at the real widths) against the product of every position of the
 * block or chunk by them; decode's absorbed form uses attn_k_b as it is (mla_absorb). The rows are
 * decoded by the kernel set's axpy_row (into zeros, with weight 1: the values exactly) a tile of
 * MLA_UK_TILE at a time, and each column of the tile is one line of the result: 512 x 128 Q5_0, 44
 * us a head against 320-500 us row by row through the type's scalar decoder with a store per value
 * (one thread). */
static struct ds_tensor mla_w_uk(const struct cpu_ctx *c, const struct ds_attn_args *a, int h)
{
	if (a->kv_b != NULL)
		return ds_tensor_rows(a->kv_b, (int64_t)h * (a->nope + a->v_dim), a->nope);
	const long kr = a->kv_rank, nope = a->nope;
	struct ds_tensor kb = ds_tensor_rows(a->k_b, h * kr, kr);
	float *w = cpu_scratch(CPU_SCRATCH_W_UK, (size_t)(nope * kr + MLA_UK_TILE * nope) * sizeof(float));
	float *tile = w + nope * kr;
	for (long r0 = 0; r0 < kr; r0 += MLA_UK_TILE) {
		int m = kr - r0 < MLA_UK_TILE ? (int)(kr - r0) : MLA_UK_TILE;
		memset(tile, 0, (size_t)(m * nope) * sizeof *tile);
		for (int i = 0; i < m; i++)
			c->k->axpy_row(tile + i * nope, 1.0f, &kb, r0 + i);
		for (long j = 0; j < nope; j++)
			for (int i = 0; i < m; i++)
				w[j * kr + r0 + i] = tile[i * nope + j];
	}
	return (struct ds_tensor){ .dtype = DS_F32, .data = w, .rows = nope, .cols = kr };
}

/* Rows of W_UK summed by one axpy_rows call of mla_absorb. */
#define MLA_ABSORB_ROWS 256

/* Tokens whose absorbed queries one axpy_rows_n call forms. */
#define MLA_ABSORB_TOKENS 4

/* mla_absorb from attn_k_b: q_nope W_UK is the product of the head's attn_k_b rows (W_UK transposed)
 * by q_nope, a plain product in the file's own type, each row read once for the n tokens. */
static void mla_absorb_split(struct cpu_ctx *c, const struct ds_attn_args *a, int i0, int n, int h)
{
	const long lat = a->kv_rank + a->rope, qd = a->nope + a->rope, ldq = (long)a->n_heads * lat;
	struct ds_tensor kb = ds_tensor_rows(a->k_b, (int64_t)h * a->kv_rank, a->kv_rank);
	float *qc = c->att_q + ((long)i0 * a->n_heads + h) * lat;
	const float *q = a->q + (long)i0 * a->n_heads * qd + (long)h * qd;
	c->k->rows(&kb, 0, a->kv_rank, q, n, (long)a->n_heads * qd, qc, ldq);
	for (int t = 0; t < n; t++) {
		float *qt = qc + t * ldq;
		const float *qi = q + (long)t * a->n_heads * qd;
		for (int k = 0; k < a->kv_rank; k++)
			qt[k] *= a->scale;
		for (int j = 0; j < a->rope; j++)
			qt[a->kv_rank + j] = qi[a->nope + j] * a->scale;
	}
}

/* mla_absorb from the head's uk4 table (cpu-uk4.h): the int8 set's, a token at a time (the table
 * stays in L1/L2 from one token to the next). */
static void mla_absorb_uk4(struct cpu_ctx *c, const struct ds_attn_args *a, int i0, int n, int h)
{
	const long lat = a->kv_rank + a->rope, qd = a->nope + a->rope;
	const uint8_t *t = (const uint8_t *)a->uk4->data + (size_t)h * cpu_uk4_head_bytes(a->nope, a->kv_rank);
	for (int i = i0; i < i0 + n; i++) {
		float *qc = c->att_q + ((long)i * a->n_heads + h) * lat;
		const float *q = a->q + (long)i * a->n_heads * qd + (long)h * qd;
		c->k->absorb_uk4(qc, q, a->scale, t, a->nope, a->kv_rank);
		for (int j = 0; j < a->rope; j++)
			qc[a->kv_rank + j] = q[a->nope + j] * a->scale;
	}
}

/* The absorbed, scaled queries of tokens i0 .. i0 + n - 1, head h: [scale * q_nope W_UK | scale *
 * q_pe]: the head's nope rows of kv_b_proj weighted by each token's scaled q_nope and summed, each
 * row read once for up to MLA_ABSORB_TOKENS tokens. */
static void mla_absorb(struct cpu_ctx *c, const struct ds_attn_args *a, int i0, int n, int h)
{
	if (a->kv_b == NULL) {
		mla_absorb_split(c, a, i0, n, h);
		return;
	}
	if (a->uk4 != NULL && c->k->absorb_uk4 != NULL) {
		mla_absorb_uk4(c, a, i0, n, h);
		return;
	}
	const struct cpu_mla_kernels *mk = cpu_mla_kernels_for(c->k);
	const long lat = a->kv_rank + a->rope, qd = a->nope + a->rope, ldq = (long)a->n_heads * lat;
	const long row0 = (long)h * (a->nope + a->v_dim);
	float qs[MLA_ABSORB_TOKENS][MLA_ABSORB_ROWS];
	for (int g = i0; g < i0 + n; g += MLA_ABSORB_TOKENS) {
		int nt = i0 + n - g < MLA_ABSORB_TOKENS ? i0 + n - g : MLA_ABSORB_TOKENS;
		float *qc = c->att_q + ((long)g * a->n_heads + h) * lat;
		for (int t = 0; t < nt; t++)
			memset(qc + t * ldq, 0, (size_t)a->kv_rank * sizeof *qc);
		for (int j0 = 0; j0 < a->nope; j0 += MLA_ABSORB_ROWS) {
			int m = a->nope - j0 < MLA_ABSORB_ROWS ? a->nope - j0 : MLA_ABSORB_ROWS;
			for (int t = 0; t < nt; t++) {
				const float *q = a->q + (long)(g + t) * a->n_heads * qd + (long)h * qd;
				for (int j = 0; j < m; j++)
					qs[t][j] = q[j0 + j] * a->scale;
			}
			mk->axpy_rows_n(c->k, qc, ldq, qs[0], MLA_ABSORB_ROWS, nt, a->kv_b, row0 + j0, m);
		}
		for (int t = 0; t < nt; t++) {
			const float *q = a->q + (long)(g + t) * a->n_heads * qd + (long)h * qd;
			for (int j = 0; j < a->rope; j++)
				qc[t * ldq + a->kv_rank + j] = q[a->nope + j] * a->scale;
		}
	}
}

/* Where decode's scores multiply BF16 rows by BF16 queries (cpu_mla_bf16_products), the absorbed
 * queries rounded once per call into att_qb (else every block of positions would round them again:
 * at 4,096 positions a fifth of the scores' time), NULL elsewhere. Sized by mla_qb_ready. */
static bool mla_qb_wanted(const struct cpu_ctx *c, const struct ds_attn_args *a)
{
	return a->cache_type == DS_BF16 && cpu_mla_bf16_products(cpu_mla_kernels_for(c->k));
}

static uint16_t *mla_qb(const struct cpu_ctx *c, const struct ds_attn_args *a)
{
	return mla_qb_wanted(c, a) ? (uint16_t *)c->att_qb : NULL;
}

/* att_qb with room for n tokens' queries, on the caller before the decode tasks that fill it */
static void mla_qb_ready(struct cpu_ctx *c, const struct ds_attn_args *a, int n)
{
	if (mla_qb_wanted(c, a))
		cpu_grow(&c->att_qb, &c->att_qb_cap,
			 ((size_t)n * (size_t)a->n_heads * (size_t)(a->kv_rank + a->rope) + 1) / 2);
}

/* token i, head h's absorbed query into att_qb, where it is used */
static void mla_qb_round(const struct cpu_ctx *c, const struct ds_attn_args *a, int i, int h)
{
	uint16_t *qb = mla_qb(c, a);
	const long lat = a->kv_rank + a->rope, at = ((long)i * a->n_heads + h) * lat;
	if (qb != NULL)
		cpu_mla_round_bf16(c->att_q + at, qb + at, lat);
}

static void mla_absorb_run(void *arg, int b, int ith)
{
	struct mla_task *t = arg;
	int h = b % t->a->n_heads;
	mla_absorb(t->c, t->a, b / t->a->n_heads, 1, h);
	/* one token's decode (a batch's absorbed prefix does not use it). W_UV of the head was asked
	 * for into L2 here too, for the last phase: with the uk4 tables that cost the absorb more than
	 * it saved the last phase (tools/mla-bench, 576 positions, 2 threads, caches flushed, BF16
	 * cache: absorb 56-60 -> 41-42 us, W_UV 27.5 -> 31-32.5; the call 145-184 -> 137-174 us in 3
	 * alternating pairs), and the exact set's call took the same time without it (186-191 against
	 * 190-193 us). */
	if (t->a->n == 1)
		mla_qb_round(t->c, t->a, 0, h);
}

/* Decode, phase 1: each block of positions [lo, hi) of cache keeps, for every head of the absorbed
 * queries qa (heads, lat), a running max, the sum of exponentials and the weighted sum of c_kv
 * (online softmax) in part (heads, kv_rank + 2), CPU_MLA_STEP rows at a time. */
static void mla_decode_block(struct cpu_ctx *c, const struct ds_attn_args *a, const void *cache, const float *qa,
			     const uint16_t *qb, float *part, long lo, long hi, int ith)
{
	const int kr = a->kv_rank, lat = a->kv_rank + a->rope, nh = a->n_heads;
	const struct cpu_mla_kernels *mk = cpu_mla_kernels_for(c->k);
	float *s = c->att_scores + (long)ith * c->score_ld;   /* (heads, CPU_MLA_STEP) */
	float f[nh];                                          /* each head's rescale of this block */
	for (int h = 0; h < nh; h++) {
		float *ph = part + (long)h * (kr + 2);
		ph[0] = -INFINITY;
		ph[1] = 0;
		memset(ph + 2, 0, (size_t)kr * sizeof *ph);
	}
	for (long b = lo; b < hi; b += CPU_MLA_STEP) {
		int nb = hi - b < CPU_MLA_STEP ? (int)(hi - b) : CPU_MLA_STEP;
		/* scores of every head against these rows: the rows are the "weights", each read once */
		const void *rows = mla_cache_at(a, cache, b * lat);
		mk->scores(c->k, s, CPU_MLA_STEP, qa, qb, lat, nh, rows, a->cache_type, lat, nb, lat);
		for (int h = 0; h < nh; h++) {
			float *ph = part + (long)h * (kr + 2), *sh = s + h * CPU_MLA_STEP;
			float m = mla_max(sh, nb);
			m = ph[0] > m ? ph[0] : m;
			f[h] = 1.0f;
			if (m > ph[0]) {
				f[h] = expf(ph[0] - m);
				ph[1] *= f[h];
				ph[0] = m;
			}
			ph[1] += c->k->exp_sum(sh, nb, m);
		}
		/* o_lat of every head = f * o_lat + its weights times these rows' c_kv */
		mk->pv_scaled(c->k, part + 2, kr + 2, f, s, CPU_MLA_STEP, rows, a->cache_type, lat, nh, nb, kr);
	}
}

/* Decode, phase 2a: head h's latent output o (kv_rank) from the partial sums of n_blk blocks
 * (parts, a block every heads * (kv_rank + 2) floats). */
static void mla_merge_head(const struct cpu_ctx *c, const struct ds_attn_args *a, const float *parts, int n_blk,
			   int h, float *o)
{
	const int kr = a->kv_rank, nh = a->n_heads;
	float m = -INFINITY, l = 0;
	for (int p = 0; p < n_blk; p++) {
		float mp = parts[((long)p * nh + h) * (kr + 2)];
		if (mp > m)
			m = mp;
	}
	memset(o, 0, (size_t)kr * sizeof *o);
	for (int p = 0; p < n_blk; p++) {
		const float *ph = parts + ((long)p * nh + h) * (kr + 2);
		if (ph[1] == 0)
			continue;
		float f = expf(ph[0] - m);
		l += ph[1] * f;
		c->k->axpy(o, f, ph + 2, kr);
	}
	for (int k = 0; k < kr; k++)
		o[k] /= l;
}

/* Positions per block when n_keys positions are cut into n_blk blocks: a whole number of MLA_BLOCK
 * rows, so that no block ends in a short piece of a score tile (blocks of 61 positions left a piece of
 * 29 in every block), and only the last block is shorter. */
static long mla_block_len(int n_keys, int n_blk)
{
	long len = (n_keys + n_blk - 1) / n_blk;
	return (len + MLA_BLOCK - 1) / MLA_BLOCK * MLA_BLOCK;
}

/* Blocks of n blocks' length over n_keys positions (at most cap of them), each mla_block_len long:
 * the count that gives back. Neither depends on the threads, so the sums do not either. */
static int mla_blocks_of(int n_keys, int n, int cap)
{
	if (n > cap)
		n = cap;
	long len = mla_block_len(n_keys, n);
	return (int)((n_keys + len - 1) / len);
}

/* One token's column path (cpu_attention): score tasks of about 64 positions each. */
static int mla_decode_blocks(int n_keys, int cap)
{
	return mla_blocks_of(n_keys, (n_keys + 63) / 64, cap);
}

/* The block path (cpu_attention_decode), where a block's latent sums are its own and merged at the
 * end: about 256 positions a block, and as many as 16 blocks (of at least 64 positions) where that
 * gives more, so that a 16-core machine has a block a core from 1024 positions. Blocks of 64 merged
 * 32 KB of sums per 64 positions: tools/mla-bench (2 threads, Q4_K, BF16 cache, caches flushed, with
 * CPU_MLA_STEP 128) at 2048 positions 245-254 us a call with blocks of 64, 232-248 with 128, 226-230
 * with 256; at 3072 312-336, 319-332, 294. */
static int mla_long_blocks(int n_keys, int cap)
{
	int n = (n_keys + 255) / 256, n64 = (n_keys + 63) / 64;
	if (n < 16)
		n = n64 < 16 ? n64 : 16;
	return mla_blocks_of(n_keys, n, cap);
}

/* ---- several sequences' decode tokens in one call ---------------------------------------------- */

struct mla_multi_task {
	struct cpu_ctx *c;
	const struct ds_attn_args *a;
	const struct ds_attn_token *tok;
};

/* Phase 0: the absorbed queries, a head at a time for every token, so W_UK of the head is read
 * once for the whole step. */
static void mla_multi_absorb_run(void *arg, int h, int ith)
{
	struct mla_multi_task *t = arg;
	mla_absorb(t->c, t->a, 0, t->a->n, h);
	for (int i = 0; i < t->a->n; i++)
		mla_qb_round(t->c, t->a, i, h);
}

/* Phase 1: block b of all the tokens' blocks (token i has blocks att_blk0[i] .. att_blk0[i+1]). */
static void mla_multi_decode_run(void *arg, int b, int ith)
{
	struct mla_multi_task *t = arg;
	struct cpu_ctx *c = t->c;
	const struct ds_attn_args *a = t->a;
	const long lat = a->kv_rank + a->rope;
	int lo_i = 0, hi_i = a->n;       /* the token whose blocks hold b */
	while (hi_i - lo_i > 1) {
		int mid = (lo_i + hi_i) / 2;
		if (c->att_blk0[mid] <= b)
			lo_i = mid;
		else
			hi_i = mid;
	}
	int i = lo_i, n_keys = t->tok[i].pos + 1, n_blk = c->att_blk0[i + 1] - c->att_blk0[i];
	long lo, hi;
	cpu_block(n_keys, mla_block_len(n_keys, n_blk), b - c->att_blk0[i], &lo, &hi);
	const uint16_t *qb = mla_qb(c, a);
	mla_decode_block(c, a, t->tok[i].cache, c->att_q + (long)i * a->n_heads * lat,
			 qb != NULL ? qb + (long)i * a->n_heads * lat : NULL,
			 c->att_part + (long)b * a->n_heads * (a->kv_rank + 2), lo, hi, ith);
}

/* Phase 2a: token i, head h: its latent output into att_q, whose queries are no longer needed
 * (rows of kv_rank floats, token-major). */
static void mla_multi_merge_run(void *arg, int p, int ith)
{
	struct mla_multi_task *t = arg;
	struct cpu_ctx *c = t->c;
	const struct ds_attn_args *a = t->a;
	int i = p / a->n_heads, h = p % a->n_heads;
	mla_merge_head(c, a, c->att_part + (long)c->att_blk0[i] * a->n_heads * (a->kv_rank + 2),
		       c->att_blk0[i + 1] - c->att_blk0[i], h, c->att_q + (long)p * a->kv_rank);
}

/* Phase 2b: out = W_UV o_lat for every token, a head at a time (W_UV of the head read once). */
static void mla_multi_unabsorb_run(void *arg, int h, int ith)
{
	struct mla_multi_task *t = arg;
	const struct ds_attn_args *a = t->a;
	struct ds_tensor uv = mla_w_uv_decode(a, h);
	t->c->k->rows(&uv, 0, a->v_dim, t->c->att_q + (long)h * a->kv_rank, a->n, (long)a->n_heads * a->kv_rank,
		      a->out + (long)h * a->v_dim, (long)a->n_heads * a->v_dim);
}

/* Each token gets the blocks a decode of it alone would (the same sums), unless the step has too
 * many tokens for att_part: then fewer, at least one each. */
void cpu_attention_decode(void *ctx, const struct ds_attn_args *a, const struct ds_attn_token *tok)
{
	struct cpu_ctx *c = ctx;
	struct mla_multi_task t = { .c = c, .a = a, .tok = tok };
	int cap = cpu_mla_part_blocks(c->max_batch) / (a->n > 0 ? a->n : 1);
	if (cap > CPU_MLA_BLOCKS)
		cap = CPU_MLA_BLOCKS;
	if (cap < 1)
		cap = 1;
	c->att_blk0[0] = 0;
	for (int i = 0; i < a->n; i++)
		c->att_blk0[i + 1] = c->att_blk0[i] + mla_long_blocks(tok[i].pos + 1, cap);
	mla_qb_ready(c, a, a->n);
	cpu_pool_run(c->pool, mla_multi_absorb_run, &t, a->n_heads);
	cpu_pool_run(c->pool, mla_multi_decode_run, &t, c->att_blk0[a->n]);
	cpu_pool_run(c->pool, mla_multi_merge_run, &t, a->n * a->n_heads);
	cpu_pool_run(c->pool, mla_multi_unabsorb_run, &t, a->n_heads);
}

/* Positions per block of the batch path: a block of the cache (128 x 576 floats for the real
 * models, 295 KB) stays in L2 while every query of a head uses it. Each block also rescales the
 * chunk's running sums (n x kv_rank or n x v_dim a head), so 128 did that half as often as 64:
 * lite4 Q4_K_M (int8 set), a 4,096-token prompt, alternating, prefill 644-657 -> 677-693 tokens/s;
 * lite4 BF16 (exact set), 2,048 tokens, 350-353 -> 358-361; 256 was no faster (626-646); a 512-token
 * prompt (no positions before its chunk) is unchanged. */
#define MLA_TB 128

/* Row stride of the per-thread score block: it holds MLA_TB prefix scores or n in-batch ones per
 * query, and then the n x v_dim output of W_UV. */
static long mla_sld(int max_batch, int v_dim)
{
	long w = max_batch > MLA_TB ? max_batch : MLA_TB;
	return w > v_dim ? w : v_dim;
}

size_t cpu_mla_batch_floats(int max_batch, int kv_rank, int v_dim)
{
	return (size_t)max_batch * ((size_t)kv_rank + (size_t)v_dim + 3 + (size_t)mla_sld(max_batch, v_dim));
}

/* ---- a prompt chunk's attention to the positions before it ----
 *
 * Two forms of the same sums. Absorbed: the queries folded with W_UK score the latent rows (kv_rank +
 * rope per key and head), the softmax weights sum the latent rows (kv_rank), and W_UV applies once per
 * query; nothing per key is expanded. Expanded: each block of earlier positions is expanded by kv_b_proj
 * once for all the chunk's queries, as the chunk's own keys are, and the queries score K (nope + rope)
 * and sum V (v_dim). Per query, key and head the absorbed form costs lat + kv_rank multiply-adds plus
 * its per-query folds spread over the keys, kv_rank (nope + v) / pos; the expanded form nope + rope +
 * v_dim plus the expansion spread over the queries, kv_rank (nope + v) / n. At the real widths that is
 * 1088 + 131072 / pos against 320 + 131072 / n: a chunk of 512 tokens after 1536 others costs about
 * half as much expanded; a few tokens (a batch of decode steps) are cheaper absorbed. DeepSeek's own
 * inference splits prefill and decode the same way. */

int cpu_mla_prefix_form = -1;

static int mla_prefix_expanded(const struct ds_attn_args *a)
{
	if (a->pos <= 0 || a->v_dim > a->kv_rank)    /* (the expanded sums live where the latent ones would) */
		return 0;
	if (cpu_mla_prefix_form >= 0)
		return cpu_mla_prefix_form;
	const double fold = (double)a->kv_rank * (a->nope + a->v_dim);
	double absorbed = a->kv_rank + a->rope + a->kv_rank + fold / a->pos;
	double expanded = a->nope + a->rope + a->v_dim + fold / a->n;
	return expanded < absorbed;
}

/* One block of tb keys' scores s (n queries, sld apart) times scale, then each query's online
 * softmax: its running maximum m and sum l, and its weighted sums o (n rows of width) rescaled when
 * the maximum grows; s becomes the block's exp(score - maximum), for pv. (The absorbed queries carry
 * the scale already: 1, which changes nothing.) */
static void mla_softmax_block(const struct cpu_ctx *c, float *s, long sld, int n, int tb, float scale, float *m,
			      float *l, float *o, long width)
{
	for (int i = 0; i < n; i++) {
		float *si = s + (long)i * sld, bm = m[i];
		for (int j = 0; j < tb; j++) {
			si[j] *= scale;
			bm = si[j] > bm ? si[j] : bm;
		}
		if (bm > m[i]) {
			float r = expf(m[i] - bm);
			l[i] *= r;
			for (long k = 0; k < width; k++)
				o[(long)i * width + k] *= r;
			m[i] = bm;
		}
		l[i] += c->k->exp_sum(si, tb, m[i]);
	}
}

/* Rows [t0, t0 + tb) of the cache before the batch as F32 rows lat apart: the cache's own, or a
 * BF16 cache's widened into this thread's scratch (once per head and block: one conversion per value
 * against the 2n multiply-adds of the batch's n queries on it). */
static const float *mla_prefix_rows(const struct ds_attn_args *a, long t0, int tb)
{
	const long lat = a->kv_rank + a->rope;
	long ld;
	return cpu_mla_rows_f32(mla_cache_at(a, a->cache, t0 * lat), a->cache_type, lat, tb, lat,
				CPU_SCRATCH_PREFIX_ROWS, &ld);
}

/* Head h of the absorbed form: m, l as below, o (n, kv_rank) the weighted sum of the latent rows */
static void mla_prefix_absorbed_head(const struct cpu_ctx *c, const struct ds_attn_args *a, int h, float *s,
				     long sld, float *m, float *l, float *o)
{
	const int n = a->n, kr = a->kv_rank, lat = a->kv_rank + a->rope, nh = a->n_heads;
	memset(o, 0, (size_t)n * (size_t)kr * sizeof *o);
	for (int t0 = 0; t0 < a->pos; t0 += MLA_TB) {
		int tb = a->pos - t0 < MLA_TB ? a->pos - t0 : MLA_TB;
		const float *cr = mla_prefix_rows(a, t0, tb);
		struct ds_tensor cb = { .dtype = DS_F32, .data = cr, .rows = tb, .cols = lat };
		c->k->rows(&cb, 0, tb, c->att_q + (long)h * lat, n, (long)nh * lat, s, sld);
		mla_softmax_block(c, s, sld, n, tb, 1.0f, m, l, o, kr);
		c->k->pv(o, kr, s, sld, cr, lat, n, tb, kr);
	}
}

/* Keys per expanded block: the absorbed form's, which the score rows are sized for; 128 x (nope + rope +
 * v) floats (160 KB at the real widths) stay in L2 */
#define MLA_XB MLA_TB

/* Head h of the expanded form: the running maximum m and sum l of each query's softmax over the
 * positions before the chunk, and o (n, v_dim) the weighted sum of their V, from s (n, sld) as
 * scratch for the scores. */
static void mla_prefix_expanded_head(const struct cpu_ctx *c, const struct ds_attn_args *a, int h, float *s,
				     long sld, float *m, float *l, float *o)
{
	const int n = a->n, nope = a->nope, rope = a->rope, qd = nope + rope, kr = a->kv_rank, vd = a->v_dim;
	const long lat = kr + rope, ldq = (long)a->n_heads * qd;
	float *kb = cpu_scratch(CPU_SCRATCH_PREFIX_KV, (size_t)MLA_XB * (size_t)(qd + vd) * sizeof(float));
	float *vb = kb + (long)MLA_XB * qd;
	struct ds_tensor wk = mla_w_uk(c, a, h), wv = mla_w_uv(a, h);
	memset(o, 0, (size_t)n * (size_t)vd * sizeof *o);
	for (int t0 = 0; t0 < a->pos; t0 += MLA_XB) {
		int tb = a->pos - t0 < MLA_XB ? a->pos - t0 : MLA_XB;
		const float *cr = mla_prefix_rows(a, t0, tb);
		/* K = [W_UK c_kv | k_pe] and V = W_UV c_kv of these positions */
		c->k->rows(&wk, 0, nope, cr, tb, lat, kb, qd);
		for (int j = 0; j < tb; j++)
			memcpy(kb + (long)j * qd + nope, cr + (long)j * lat + kr, (size_t)rope * sizeof *kb);
		c->k->rows(&wv, 0, vd, cr, tb, lat, vb, vd);
		struct ds_tensor kt = { .dtype = DS_F32, .data = kb, .rows = tb, .cols = qd };
		c->k->rows(&kt, 0, tb, a->q + (long)h * qd, n, ldq, s, sld);
		mla_softmax_block(c, s, sld, n, tb, a->scale, m, l, o, vd);
		c->k->pv(o, vd, s, sld, vb, vd, n, tb, vd);
	}
}

/* The batch's own K/V of head h from the split attn_k_b / attn_v_b (kv_b_proj whole takes one
 * product for all heads): att_kv as that product lays it out, per token [K | V] of each head. */
static void mla_expand_run(void *arg, int h, int ith)
{
	struct mla_task *t = arg;
	const struct cpu_ctx *c = t->c;
	const struct ds_attn_args *a = t->a;
	const long lat = a->kv_rank + a->rope, ld = (long)a->n_heads * (a->nope + a->v_dim);
	const float *cr = cpu_mla_cur(a);
	float *kv = c->att_kv + (long)h * (a->nope + a->v_dim);
	struct ds_tensor wk = mla_w_uk(c, a, h), wv = mla_w_uv(a, h);
	c->k->rows(&wk, 0, a->nope, cr, a->n, lat, kv, ld);
	c->k->rows(&wv, 0, a->v_dim, cr, a->n, lat, kv + a->nope, ld);
}

/* Batch: one head for all n queries. Keys before the batch go through the absorbed queries as
 * block products (scores = Qc C^T, then the weighted sum of c_kv with an online softmax), so each
 * cached row is read once per head rather than once per query, or through their expanded K/V (above);
 * keys inside the batch use the expanded K/V in att_kv. W_UV then applies to all queries' latent sums
 * at once (absorbed). */
static void mla_batch_run(void *arg, int h, int ith)
{
	struct mla_task *t = arg;
	struct cpu_ctx *c = t->c;
	const struct ds_attn_args *a = t->a;
	const int n = a->n, kr = a->kv_rank, nh = a->n_heads, vd = a->v_dim;
	const long sld = mla_sld(c->max_batch, vd);
	float *o = c->att_batch + (long)ith * (long)cpu_mla_batch_floats(c->max_batch, kr, vd);
	float *vsum = o + (long)c->max_batch * kr;              /* (n, v): in-batch weighted V */
	float *m = vsum + (long)c->max_batch * vd, *l = m + c->max_batch, *f = l + c->max_batch;
	float *s = f + c->max_batch;                             /* (n, sld) scores */

	for (int i = 0; i < n; i++) {
		m[i] = -INFINITY;
		l[i] = 0;
	}
	if (t->expanded)
		mla_prefix_expanded_head(c, a, h, s, sld, m, l, o);
	else if (a->pos > 0)
		mla_prefix_absorbed_head(c, a, h, s, sld, m, l, o);
	/* keys of the batch itself, causal */
	cpu_mla_causal(c, a, h, s, sld, m, l, f, vsum);
	/* out = (f * W_UV o_lat + sum of p v) / l (expanded: o is the sum of p v already) */
	float *u = t->expanded ? o : s;    /* (n, v), row stride v; the scores are no longer needed */
	if (a->pos > 0 && !t->expanded) {
		struct ds_tensor uv = mla_w_uv(a, h);
		c->k->rows(&uv, 0, vd, o, n, kr, u, vd);
	}
	for (int i = 0; i < n; i++) {
		float *out = a->out + (long)i * nh * vd + (long)h * vd, inv = 1.0f / l[i];
		for (int k = 0; k < vd; k++)
			out[k] = ((a->pos > 0 ? f[i] * u[(long)i * vd + k] : 0) + vsum[(long)i * vd + k]) * inv;
	}
}

/* ---- one token's decode: scores by blocks of positions, weighted sums by columns ----
 *
 * The latent sums are split by columns, not by positions: a block of positions summed on its own
 * leaves a partial latent output per head (32 KB per block at 16 heads x 512) that another core then
 * merges, and with two threads those parts crossing between cores cost about as much as the sums.
 * Here each block of positions writes its scores as exponentials of its own maximum into P (heads x
 * positions), with that maximum and their sum; a column task then sweeps every block for 64 columns
 * of every head, each block's sum added with its rescale to the common maximum, into the head's one
 * latent output. Every sum has the same terms in the same order on any number of threads.
 * tools/mla-bench, position 576, 16 heads, Q4_K kv_b, int8 set, caches warm: 1 thread 190-210 us a
 * call either way, 2 threads 150-165 -> 120-131. With the caches flushed between calls, as decode
 * leaves them, about 190 us either way: there the latent cache and kv_b come from memory, and the
 * engine's decode tokens/s did not move measurably.
 *
 * On a long context the column tasks' second pass over the latent cache costs more than the merges
 * it saves: a layer's cache (2304 bytes a position at the real widths) outgrows the cores' L2 and the
 * sums read it again from L3 or memory after the scores. From MLA1_FUSED_FROM positions one token goes
 * the multi-token path's way (cpu_attention_decode): each block of positions scored and summed while
 * it is in cache, the blocks' partial sums merged per head. tools/mla-bench, 2 threads, Q4_K kv_b,
 * int8 set, caches flushed as decode leaves them, alternating: 1024 positions 461-465 us (columns)
 * against 520-536 (blocks), 1536 630-747 against 653-683, 2048 796-915 against 689-742, 4096
 * 1462-1588 against 1056-1138, 8192 2389-2454 against 1804-1852; one thread at 2048 1218 against 887.
 * Since each thread takes its own run of blocks (cpu_pool_run), the blocks win from fewer positions:
 * 768 positions 329-353 us (columns) against 301-331 (blocks), 1024 429-460 against 367-390, 576
 * 260-297 against 251-290 (the same, within the noise; one thread 380 against 325). Since the weighted
 * sums ask for their strided pieces of the rows ahead (pv_add_scaled), the columns win again up to
 * about 2048 (tools/mla-bench with its workers awake at each call, 2 threads, caches flushed): 768
 * positions 228-262 us (columns) against 245-251 (blocks), 1024 309-310 against 318-320, 1536 379-392
 * against 416-423, 2048 467-528 against 436-535, 4096 876-966 against 820-836. With the block path's
 * blocks of about 256 positions and steps of 128 (mla_long_blocks, CPU_MLA_STEP), alternating, caches
 * flushed, Q4_K kv_b, BF16 cache: 576 positions 111-117 us (columns) against 119-123 (blocks), 1024
 * 141-150 against 146-194, 1536 186-201 against 174-204, so the threshold stays. */
#define MLA1_FUSED_FROM 2048

/* Where the one-token path keeps its per-block numbers in att_part (floats): the blocks' maxima and
 * sums (block, head, 2), each block's rescale (block, head), 1 / the softmax sum per head,
 * then the heads' latent outputs (head, kv_rank), 64-byte aligned. */
static float *mla1_stat(const struct cpu_ctx *c)
{
	return c->att_part;
}

static float *mla1_scale(const struct cpu_ctx *c)
{
	return c->att_part + 2L * CPU_MLA_BLOCKS * c->n_heads;
}

static float *mla1_linv(const struct cpu_ctx *c)
{
	return c->att_part + 3L * CPU_MLA_BLOCKS * c->n_heads;
}

static float *mla1_olat(const struct cpu_ctx *c)
{
	return c->att_part + ((3L * CPU_MLA_BLOCKS + 1) * c->n_heads + 15) / 16 * 16;
}

/* Row stride of att_p for n_keys positions: whole lines, and never a multiple of 4 KB, which would
 * put every head's row in the same cache sets (n_ctx floats apart, 16 heads' rows thrashed L1). */
long cpu_mla_p_stride(long n_keys)
{
	long ld = (n_keys + 15) / 16 * 16;
	return ld % 1024 == 0 ? ld + 16 : ld;
}

/* Head groups of one token's score or sum tasks: with fewer than two tasks a thread (n_tasks per
 * group of all the heads), the heads split in groups of a multiple of 4 where the kernels form each
 * head's sums alone in fours (queries_alone: then a group's results are those it gets among all
 * the heads, bit for bit, so they do not depend on the threads), as few groups as give two tasks a
 * thread. A 576-position decode had 9 score tasks and 8 column tasks: past 8 or 9 threads the rest
 * waited. On 2 threads it keeps one group: more groups read each block's rows again per group
 * (tools/mla-bench, 1024 positions: 233 -> 245-252 us a call with 4 groups always). */
static int mla1_groups(const struct cpu_ctx *c, int n_heads, int n_tasks)
{
	if (!cpu_mla_kernels_for(c->k)->queries_alone || n_heads % 4 != 0)
		return 1;
	int g = 1;
	for (int d = 2; d <= n_heads / 4 && (long)n_tasks * g < 2L * c->nth; d++)
		if ((n_heads / d) % 4 == 0 && n_heads % d == 0)
			g = d;
	return g;
}

/* Phase 1: task b: block b / groups of positions, head group b % groups (t->groups): those heads'
 * scores against the block's cache rows into P, as exp(score - the block's maximum), with the
 * maximum and the sum kept per head. */
static void mla1_scores_run(void *arg, int b, int ith)
{
	struct mla_task *t = arg;
	struct cpu_ctx *c = t->c;
	const struct ds_attn_args *a = t->a;
	const int nh = a->n_heads, lat = a->kv_rank + a->rope, gh = nh / t->groups;
	const int blk = b / t->groups, h0 = b % t->groups * gh;
	long lo, hi;
	cpu_block(t->n_keys, t->blk_len, blk, &lo, &hi);
	float *p = c->att_p + lo, *st = mla1_stat(c) + (long)blk * nh * 2;
	const uint16_t *qb = mla_qb(c, a);
	cpu_mla_kernels_for(c->k)->scores(c->k, p + (long)h0 * t->ldp, t->ldp, c->att_q + (long)h0 * lat,
					   qb != NULL ? qb + (long)h0 * lat : NULL, lat, gh,
					   mla_cache_at(a, a->cache, lo * lat), a->cache_type, lat, (int)(hi - lo), lat);
	for (int h = h0; h < h0 + gh; h++) {
		float *ph = p + (long)h * t->ldp, m = mla_max(ph, hi - lo);
		st[2 * h] = m;
		st[2 * h + 1] = c->k->exp_sum(ph, hi - lo, m);
	}
}

/* Between the phases, on the caller: each head's maximum over the blocks, each block's rescale
 * exp(its maximum - that) and 1 / the sum of the rescaled sums. */
static void mla1_rescale(struct cpu_ctx *c, int nh, int n_blk)
{
	const float *st = mla1_stat(c);
	float *f = mla1_scale(c), *linv = mla1_linv(c), fh[n_blk];
	for (int h = 0; h < nh; h++) {
		float m = -INFINITY, l = 0;
		for (int b = 0; b < n_blk; b++) {
			fh[b] = st[((long)b * nh + h) * 2];
			m = fh[b] > m ? fh[b] : m;
		}
		c->k->exp_sum(fh, n_blk, m);
		for (int b = 0; b < n_blk; b++) {
			f[(long)b * nh + h] = fh[b];
			l += fh[b] * st[((long)b * nh + h) * 2 + 1];
		}
		linv[h] = 1.0f / l;
	}
}

/* Columns per task of phase 2: one tile of the weighted-sum kernel */
#define MLA1_COLS 64

/* Phase 2: task b: columns [64 cc, 64 cc + 64) (cc = b / groups) of head group b % groups' latent
 * outputs: each block's weighted sum of those columns of its cache rows, added with the block's
 * rescale. */
static void mla1_sums_run(void *arg, int b, int ith)
{
	struct mla_task *t = arg;
	struct cpu_ctx *c = t->c;
	const struct ds_attn_args *a = t->a;
	const int nh = a->n_heads, kr = a->kv_rank, lat = a->kv_rank + a->rope, gh = nh / t->groups;
	const int cc = b / t->groups, h0 = b % t->groups * gh;
	const long c0 = (long)cc * MLA1_COLS, w = kr - c0 < MLA1_COLS ? kr - c0 : MLA1_COLS;
	const struct cpu_mla_kernels *mk = cpu_mla_kernels_for(c->k);
	float *o = mla1_olat(c) + (long)h0 * kr + c0;
	for (int h = 0; h < gh; h++)
		memset(o + (long)h * kr, 0, (size_t)w * sizeof *o);
	for (int bl = 0; bl < t->n_blk; bl++) {
		long lo, hi;
		cpu_block(t->n_keys, t->blk_len, bl, &lo, &hi);
		mk->pv_add_scaled(c->k, o, kr, mla1_scale(c) + (long)bl * nh + h0, c->att_p + (long)h0 * t->ldp + lo,
				  t->ldp, mla_cache_at(a, a->cache, lo * lat + c0), a->cache_type, lat, gh,
				  (int)(hi - lo), w);
	}
}

/* Phase 3: head h: out = W_UV (o_lat / the softmax sum). */
static void mla1_out_run(void *arg, int h, int ith)
{
	struct mla_task *t = arg;
	struct cpu_ctx *c = t->c;
	const struct ds_attn_args *a = t->a;
	const int kr = a->kv_rank;
	const float *oh = mla1_olat(c) + (long)h * kr, inv = mla1_linv(c)[h];
	float *o = c->att_lat + (long)ith * kr;
	for (int k = 0; k < kr; k++)
		o[k] = oh[k] * inv;
	struct ds_tensor uv = mla_w_uv_decode(a, h);
	c->k->rows(&uv, 0, a->v_dim, o, 1, kr, a->out + (long)h * a->v_dim, a->v_dim);
}

void cpu_attention(void *ctx, const struct ds_attn_args *a)
{
	struct cpu_ctx *c = ctx;
	struct mla_task t = { .c = c, .a = a, .n_keys = a->pos + a->n };
	int pairs = a->n * a->n_heads;
	if (a->n == 1 && t.n_keys >= MLA1_FUSED_FROM) {
		struct ds_attn_token tok = { .pos = a->pos, .cache = a->cache };
		cpu_attention_decode(ctx, a, &tok);
		return;
	}
	if (a->n == 1) {
		/* blocks of about 64 positions, at most CPU_MLA_BLOCKS of them */
		t.n_blk = mla_decode_blocks(t.n_keys, CPU_MLA_BLOCKS);
		t.blk_len = mla_block_len(t.n_keys, t.n_blk);
		t.ldp = cpu_mla_p_stride(t.n_keys);
		mla_qb_ready(c, a, 1);
		cpu_pool_run(c->pool, mla_absorb_run, &t, pairs);
		const int n_cols = (a->kv_rank + MLA1_COLS - 1) / MLA1_COLS;
		t.groups = mla1_groups(c, a->n_heads, t.n_blk);
		cpu_pool_run(c->pool, mla1_scores_run, &t, t.n_blk * t.groups);
		mla1_rescale(c, a->n_heads, t.n_blk);
		t.groups = mla1_groups(c, a->n_heads, n_cols);
		cpu_pool_run(c->pool, mla1_sums_run, &t, n_cols * t.groups);
		cpu_pool_run(c->pool, mla1_out_run, &t, a->n_heads);
		return;
	}
	long lat = a->kv_rank + a->rope;
	/* K/V of the batch's own positions: kv_b_proj (c_kv) for n rows of the cache */
	if (a->kv_b != NULL)
		cpu_matmul_ld(c, c->att_kv, (long)a->kv_b->rows, a->kv_b, cpu_mla_cur(a), lat, a->n);
	else
		cpu_pool_run(c->pool, mla_expand_run, &t, a->n_heads);
	t.expanded = mla_prefix_expanded(a);
	if (a->pos > 0 && !t.expanded)
		cpu_pool_run(c->pool, mla_absorb_run, &t, pairs);
	cpu_pool_run(c->pool, mla_batch_run, &t, a->n_heads);
}

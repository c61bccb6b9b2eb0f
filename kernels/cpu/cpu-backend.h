/* cpu-backend.h: the CPU backend's context, shared by its operation files. */
#ifndef DS_CPU_BACKEND_H
#define DS_CPU_BACKEND_H

#include "backend.h"
#include "cpu-kernels.h"
#include "cpu-pool.h"

/* Decode attention splits the positions into at most this many blocks (by length, not by threads,
 * so that the sums come out the same on any number of threads). */
#define CPU_MLA_BLOCKS 32

/* Positions a decode block's online softmax takes per step (scores of every head, then their
 * weighted sums): att_scores holds a step's scores, heads x CPU_MLA_STEP a thread. Each step
 * rescales and rewrites the block's latent sums (heads x kv_rank floats, 32 KB at 16 x 512), so a
 * longer step rewrites them less often; tools/mla-bench, 2 threads, Q4_K, BF16 cache, caches flushed,
 * steps of 32 -> 128 with blocks of about 256 positions (cpu-mla.c): 2048 positions 226-268 -> 211-234
 * us a call, 4096 389-432 -> 340-379, 8192 671-790 -> 652-667. */
#define CPU_MLA_STEP 128

/* One SwiGLU of a few tokens' MoE step (cpu-ffn.c): the shared experts for every token, or one
 * routed expert for the tokens that chose it */
struct moef_mat {
	const struct ds_tensor *gate, *up, *down;
	int n;                  /* its tokens */
	int ent;                /* routed: its first entry in the step's (token, weight) lists */
	const float *x;         /* its tokens' inputs (n, hidden) */
	const float *xp;        /* x packed for gate and up, or NULL */
	const float *down_xp;   /* its intermediate packed for down, or NULL */
	float *down_pack;       /* a matrix per thread: where its thread packs it, or NULL */
	float *g, *u;           /* its intermediates (n, gate rows) */
	float *out;             /* its down projection's output (n, hidden) */
	long row0;              /* where its gate rows start among all the matrices' gate rows */
};

struct cpu_ctx {
	struct cpu_pool *pool;
	const struct cpu_kernels *k;
	int nth;
	int n_ctx, max_batch, hidden;
	int n_heads, nope, rope, v_dim, kv_rank;
	int ffn_width;              /* widest SwiGLU: dense, shared or one expert */
	float *ffn_gate, *ffn_up;   /* (max_batch, ffn_width) */
	float *moe_x, *moe_y;       /* (max_batch, hidden): gathered tokens of one expert, its output */
	float *moe_acc;             /* (max_batch, hidden): routed sum */
	float *xpack;               /* activations of one product packed by the kernels' pack */
	size_t xpack_cap;           /* floats at xpack */
	float *xpack_each;          /* several products' activations (cpu_pack_each) */
	size_t xpack_each_cap;      /* floats at xpack_each */
	int *moe_tok;               /* (max_batch) token index of each gathered row */
	float *moe_w;               /* (max_batch) its routing weight */
	float *att_q;               /* (max_batch, heads, kv_rank + rope): absorbed, scaled queries */
	float *att_qb;              /* decode on a BF16 cache: att_q rounded to BF16 (uint16_t), for the
	                             * vdpbf16ps scores, made once per call (grown at first use) */
	size_t att_qb_cap;          /* floats at att_qb */
	float *att_kv;              /* (max_batch, heads * (nope + v)): expanded K/V of a batch */
	float *att_part;            /* (cpu_mla_part_blocks, heads, kv_rank + 2): decode partial sums */
	int *att_blk0;              /* (max_batch + 1): a multi-token decode's first block per token */
	float *att_scores;          /* (threads, score_ld): decode scores of one block of positions */
	long score_ld;              /* heads * 32 */
	float *att_lat;             /* (threads, kv_rank) */
	float *att_p;               /* (heads, cpu_mla_p_stride(n_ctx)): one decode token's softmax weights */
	float *att_batch;           /* (threads, cpu_mla_batch_floats): batch attention scratch */
	int n_routed;               /* routed experts of the model */
	struct moef_mat *moef_mats; /* (n_routed + 1): the SwiGLUs of a few tokens' step (cpu-ffn.c) */
	float *moef_buf;            /* their inputs, intermediates and outputs */
	size_t moef_cap;            /* floats at moef_buf */
	/* RoPE's cos and sin (times mscale) of positions rope_pos .. rope_pos + rope_n - 1, dim values a
	 * position (cos, sin of each pair), for rope_freq and rope_mscale: made by the first call at a
	 * position, read by the rest (cpu_rope_table) */
	float *rope_cs;
	size_t rope_cap;            /* floats at rope_cs */
	double *rope_freq;          /* rope_dim / 2 */
	int rope_pos, rope_n, rope_dim;
	float rope_mscale;
};

/* Bytes of weights per chunk of one token's experts, a matrix per thread (cpu-ffn.c): 128 KB; tests
 * make it small so that a matrix has many chunks */
extern long cpu_moef_chunk_bytes;

/* Bytes of weights per block that decode aims at (a few tokens: the product streams them from memory) */
#define CPU_BLOCK_BYTES (256L * 1024)

/* Blocks (cpu_block_count) and rows per block (cpu_row_block) of a product of rows x row_bytes
 * weights with n tokens: at least 4 blocks per
 * thread, a multiple of 12 (the row tiles are 4 rows in decode, 12 in prefill) and at least 24 rows;
 * for a few tokens (at most 16) also no more than about CPU_BLOCK_BYTES each. A thread takes its own
 * blocks in order (cpu_pool_run), so short blocks cost no new weight stream, and they let a thread
 * that is ahead take a fair part of a slower one's (a busy machine: 8 blocks of a 16 MB BF16 matrix
 * read 22 GB/s on 2 threads, 64 of 256 KB 36-40, tools-style streaming of 256 MB). Prefill keeps
 * few long blocks, each reading all the tokens' activations once. Every kernel forms each row's
 * sums the same way whatever its block, so the results do not depend on the number of threads. */
static inline long cpu_block_count(size_t bytes, int n, int threads)
{
	long per = 4L * (threads > 0 ? threads : 1), by_bytes = (long)(bytes / CPU_BLOCK_BYTES);
	return n <= 16 && by_bytes > per ? by_bytes : per;
}

/* A block of about rows_per_block rows as cpu_row_block sizes it: a multiple of 12, at least 24 */
static inline long cpu_block_rows(long rows_per_block)
{
	long bs = (rows_per_block + 11) / 12 * 12;
	return bs < 24 ? 24 : bs;
}

static inline long cpu_row_block(long rows, size_t row_bytes, int n, int threads)
{
	long per = cpu_block_count((size_t)rows * row_bytes, n, threads);
	return cpu_block_rows((rows + per - 1) / per);
}

/* A prompt's products split by tokens instead of rows (cpu-backend.c): the blocks of n tokens for
 * a product on w, or 0 where the rows are split; block b is [cpu_split_token(n, nb, b),
 * cpu_split_token(n, nb, b + 1)). packed: whether the blocks pack their activations for
 * rows_packed (as cpu_pack would for all n) or take rows(). */
int cpu_split_tokens(const struct cpu_ctx *c, const struct ds_tensor *w, int n, bool *packed);

static inline long cpu_split_token(int n, int n_blocks, int b)
{
	/* at multiples of 16 tokens but the last: the prefill tiles hand a product's last few tokens to
	 * other kernels (cpu-gemm-simd.h, gm_rest), so only the last block may leave such a rest, and it
	 * is the one all n tokens would leave (blocks of 32 or more stay at 17 or more) */
	return b >= n_blocks ? n : (long)n * b / n_blocks / 16 * 16;
}

/* x (n tokens, ldx apart) packed for the kernels' rows_packed on w, in c->xpack; NULL when this
 * set or this many tokens takes rows() on x as it is. */
const float *cpu_pack(struct cpu_ctx *c, const struct ds_tensor *w, const float *x, long ldx, int n);

/* Floats (whole 64-byte lines) that n tokens' inputs to w take packed for rows_packed, or 0 where
 * the kernels do not pack that type for that many tokens: cpu_pack_each's room for each matrix */
size_t cpu_pack_room(const struct cpu_ctx *c, const struct ds_tensor *w, int n);

/* The inputs of count matrices w[m] (x[m]: n[m] tokens, w[m]->cols apart) packed for them into
 * c->xpack_each: xp[m], or NULL where the kernels do not pack that type for that many tokens.
 * Products split in row blocks then round their activations once, not once per block. */
void cpu_pack_each(struct cpu_ctx *c, const struct ds_tensor *const *w, const float *const *x, const int *n,
		   int count, const float **xp);

/* *buf with room for n floats (64-byte aligned), replaced by a larger one when *cap is less; what
 * it held is not kept. */
float *cpu_grow(float **buf, size_t *cap, size_t n);

/* Matrix product on all threads: y[i*ldy + r] = W[r] . x[i*ldx ..]. */
void cpu_matmul_ld(struct cpu_ctx *c, float *y, long ldy, const struct ds_tensor *w, const float *x,
		   long ldx, int n);
void cpu_attention(void *ctx, const struct ds_attn_args *a);
void cpu_attention_decode(void *ctx, const struct ds_attn_args *a, const struct ds_attn_token *tok);
/* How a prompt chunk attends to the positions before it (cpu-mla.c): -1 the cheaper form by count of
 * multiply-adds, 0 absorbed, 1 expanded (tests set it to compare the two) */
extern int cpu_mla_prefix_form;

/* The latent rows of an attention call's own tokens as F32 (struct ds_attn_args, cur). */
static inline const float *cpu_mla_cur(const struct ds_attn_args *a)
{
	return a->cur != NULL ? a->cur : (const float *)a->cache + (long)a->pos * (a->kv_rank + a->rope);
}
/* Row stride of a decode token's softmax weights (att_p) over n_keys positions (cpu-mla.c) */
long cpu_mla_p_stride(long n_keys);

/* Blocks of decode partial sums att_part holds: CPU_MLA_BLOCKS for one token, at least one per token
 * of a multi-token decode. */
static inline int cpu_mla_part_blocks(int max_batch)
{
	return max_batch > CPU_MLA_BLOCKS ? max_batch : CPU_MLA_BLOCKS;
}
void cpu_swiglu(void *ctx, float *y, const struct ds_tensor *gate, const struct ds_tensor *up,
		const struct ds_tensor *down, const float *x, int n);
void cpu_moe(void *ctx, float *y, const struct ds_moe_args *a);
/* The in-chunk (causal) part of the batch attention of head h: scores in s (n rows, sld apart),
 * the running max m and sum l of each query (from the prefix) updated, the prefix's rescale in f,
 * the weighted sum of the chunk's V in vsum (n, v_dim). */
void cpu_mla_causal(const struct cpu_ctx *c, const struct ds_attn_args *a, int h, float *s, long sld,
		    float *m, float *l, float *f, float *vsum);
/* Floats of per-thread scratch the batch attention needs. */
size_t cpu_mla_batch_floats(int max_batch, int kv_rank, int v_dim);

#endif

/* cpu-backend.c: the CPU backend table: buffers in host memory, matrix products split by rows
 * over the thread pool, the small element-wise steps on the calling thread. */
#include "build-config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-backend.h"
#include "cpu-rows4.h"
#include "cpu-uk4.h"
#include "cpu-scratch.h"
#include "quantize.h"
#include "xalloc.h"

static float *cpu_alloc(void *ctx, size_t n)
{
	return cpu_buffer_alloc(n * sizeof(float));
}

/* Scratch of the context, every page touched now (cpu_buffer_alloc leaves buffers of 1 MB or more
 * to be touched on use): the first touch of new memory is slow on a virtual machine (this one: 64 MB
 * in 160 ms on small pages, 27-80 on huge pages, then 2 ms), and the first prompt after loading paid
 * for all of it (a 512-token lite4 Q8_0 prompt: 1.3-1.9 s against 1.1 for the next ones). */
static float *cpu_xalloc(size_t n)
{
	float *p = cpu_alloc(NULL, n);
	if (p == NULL)
		fatal("out of memory allocating %zu bytes of CPU scratch", n * sizeof(float));
	memset(p, 0, n * sizeof(float));
	return p;
}

float *cpu_grow(float **buf, size_t *cap, size_t n)
{
	if (n > *cap) {
		free(*buf);
		*buf = cpu_xalloc(n);
		*cap = n;
	}
	return *buf;
}

static void cpu_release(void *ctx, float *buf)
{
	free(buf);
}

static void cpu_destroy(void *ctx)
{
	struct cpu_ctx *c = ctx;
	if (c == NULL)
		return;
	cpu_pool_free(c->pool);
	free(c->ffn_gate);
	free(c->ffn_up);
	free(c->moe_x);
	free(c->xpack);
	free(c->xpack_each);
	free(c->moe_y);
	free(c->moe_acc);
	free(c->moe_tok);
	free(c->moe_w);
	free(c->att_q);
	free(c->att_kv);
	free(c->att_part);
	free(c->att_blk0);
	free(c->att_scores);
	free(c->att_lat);
	free(c->att_p);
	free(c->att_batch);
	free(c->moef_buf);
	free(c->att_qb);
	free(c->moef_mats);
	free(c->rope_cs);
	free(c->rope_freq);
	free(c);
}

static void *cpu_create(const struct ds_backend_params *p, char *err, size_t errlen)
{
	const struct ds_config *cfg = p->cfg;
	struct cpu_ctx *c = xcalloc(1, sizeof *c);
	c->pool = cpu_pool_new(p->n_threads);
	if (c->pool == NULL) {
		free(c);
		errorf(err, errlen, "cannot start the CPU worker threads");
		return NULL;
	}
	c->k = cpu_kernels_best();
	c->nth = cpu_pool_threads(c->pool);
	c->n_ctx = p->n_ctx;
	c->max_batch = p->max_batch;
	c->hidden = cfg->hidden_size;
	c->n_heads = cfg->num_attention_heads;
	c->nope = cfg->qk_nope_head_dim;
	c->rope = cfg->qk_rope_head_dim;
	c->v_dim = cfg->v_head_dim;
	c->kv_rank = cfg->kv_lora_rank;
	int w = cfg->intermediate_size;
	if (cfg->n_shared_experts * cfg->moe_intermediate_size > w)
		w = cfg->n_shared_experts * cfg->moe_intermediate_size;
	if (cfg->moe_intermediate_size > w)
		w = cfg->moe_intermediate_size;
	c->ffn_width = w;
	size_t mb = (size_t)p->max_batch, hd = (size_t)c->hidden, nh = (size_t)c->n_heads;
	size_t lat = (size_t)c->kv_rank + (size_t)c->rope;
	c->ffn_gate = cpu_xalloc(mb * (size_t)w);
	c->ffn_up = cpu_xalloc(mb * (size_t)w);
	c->moe_x = cpu_xalloc(mb * hd);
	c->moe_y = cpu_xalloc(mb * hd);
	c->moe_acc = cpu_xalloc(mb * hd);
	c->moe_tok = xcalloc(mb, sizeof *c->moe_tok);
	c->moe_w = cpu_xalloc(mb);
	c->att_q = cpu_xalloc(mb * nh * lat);
	c->att_kv = cpu_xalloc(mb * nh * (size_t)(c->nope + c->v_dim));
	c->att_part = cpu_xalloc((size_t)cpu_mla_part_blocks(c->max_batch) * nh * (size_t)(c->kv_rank + 2));
	c->att_blk0 = xcalloc(mb + 1, sizeof *c->att_blk0);
	c->score_ld = (long)c->n_heads * CPU_MLA_STEP;
	c->att_scores = cpu_xalloc((size_t)c->nth * (size_t)c->score_ld);
	c->att_lat = cpu_xalloc((size_t)c->nth * (size_t)c->kv_rank);
	c->att_p = cpu_xalloc(nh * (size_t)cpu_mla_p_stride(c->n_ctx));
	c->att_batch = cpu_xalloc((size_t)c->nth * cpu_mla_batch_floats(c->max_batch, c->kv_rank, c->v_dim));
	c->n_routed = cfg->n_routed_experts;
	c->moef_mats = xcalloc((size_t)c->n_routed + 1, sizeof *c->moef_mats);
	/* a prompt chunk's routed outputs (cpu_moe), at their largest, touched now as above */
	if (cfg->n_routed_experts > 0)
		cpu_grow(&c->moef_buf, &c->moef_cap, mb * (size_t)cfg->num_experts_per_tok * hd);
	return c;
}

static int cpu_threads(const void *ctx)
{
	return ((const struct cpu_ctx *)ctx)->nth;
}

static void cpu_read(void *ctx, float *host, const float *buf, size_t n)
{
	if (host != buf)
		memcpy(host, buf, n * sizeof *host);
}

static void cpu_embed(void *ctx, float *out, const struct ds_tensor *table, const int *ids, int n)
{
	for (int i = 0; i < n; i++)
		cpu_tensor_row(table, ids[i], out + (size_t)i * (size_t)table->cols);
}

struct matmul_task {
	const struct cpu_kernels *k;
	float *y;
	long ldy, ldx;
	const struct ds_tensor *w;
	const float *x;
	const float *xp;    /* x packed, or NULL */
	int n;
	long bs;            /* split by rows: rows per block */
	int n_blocks;       /* split by tokens: blocks of tokens */
	bool packed;        /* split by tokens: each block packs its tokens */
};

static void matmul_run(void *arg, int b, int ith)
{
	struct matmul_task *t = arg;
	long lo, hi;
	cpu_block((long)t->w->rows, t->bs, b, &lo, &hi);
	if (lo >= hi)
		return;
	if (t->xp != NULL)
		t->k->rows_packed(t->w, lo, hi, t->xp, t->n, t->y, t->ldy);
	else
		t->k->rows(t->w, lo, hi, t->x, t->n, t->ldx, t->y, t->ldy);
}

const float *cpu_pack(struct cpu_ctx *c, const struct ds_tensor *w, const float *x, long ldx, int n)
{
	const struct cpu_kernels *k = c->k;
	if (k->pack == NULL || n < k->packed_from(w->dtype))
		return NULL;
	cpu_grow(&c->xpack, &c->xpack_cap, k->pack_floats(w->dtype, n, (long)w->cols));
	k->pack(w->dtype, x, n, ldx, (long)w->cols, c->xpack);
	return c->xpack;
}

size_t cpu_pack_room(const struct cpu_ctx *c, const struct ds_tensor *w, int n)
{
	const struct cpu_kernels *k = c->k;
	if (k->pack == NULL || n <= 0 || k->packed_from(w->dtype) > n)
		return 0;
	return (k->pack_floats(w->dtype, n, (long)w->cols) + 15) & ~(size_t)15;   /* 64 B apart */
}

void cpu_pack_each(struct cpu_ctx *c, const struct ds_tensor *const *w, const float *const *x, const int *n,
		   int count, const float **xp)
{
	const struct cpu_kernels *k = c->k;
	size_t off[count + 1];
	off[0] = 0;
	for (int m = 0; m < count; m++)
		off[m + 1] = off[m] + cpu_pack_room(c, w[m], n[m]);
	cpu_grow(&c->xpack_each, &c->xpack_each_cap, off[count]);
	for (int m = 0; m < count; m++) {
		xp[m] = NULL;
		if (off[m + 1] > off[m]) {
			k->pack(w[m]->dtype, x[m], n[m], (long)w[m]->cols, (long)w[m]->cols, c->xpack_each + off[m]);
			xp[m] = c->xpack_each + off[m];
		}
	}
}

/* ---- a prompt's products: the tokens split among the threads ----
 *
 * Split by rows, a product of many tokens packs all their activations on the caller alone while the
 * other threads wait (and each packing writes lines the other cores were reading a moment ago: 1 MB
 * of 256 tokens took 150 us on one thread, 340-370 with a second one working), and every thread
 * reads all of them. Split by tokens, each thread packs and multiplies its own tokens by all the rows:
 * nothing serial, nothing shared but the weights, which each thread reads through L3 (a prompt's
 * product is compute-bound many times over: 64 BF16 tokens do 64 multiply-adds per 2 bytes). A
 * kernel forms each (row, token) sum the same way whatever the token blocks, as long as each
 * block takes the form all n tokens would (blocks of at least 32: every set's matrix-product
 * form; cpu_split_token puts every bound but the last at a multiple of 16, so that only the last
 * block leaves a few tokens to other kernels, the ones all n would), so the results do not depend
 * on the number of threads either. */
#define CPU_SPLIT_FROM 64       /* tokens from which products split by tokens */
#define CPU_SPLIT_MIN 32        /* tokens a block has at least */
#define CPU_SPLIT_MAX 128       /* tokens a block has at most, where there are enough */

int cpu_split_tokens(const struct cpu_ctx *c, const struct ds_tensor *w, int n, bool *packed)
{
	const struct cpu_kernels *k = c->k;
	if (c->nth < 2 || n < CPU_SPLIT_FROM || n < CPU_SPLIT_MIN * c->nth)
		return 0;
	/* a whole number of blocks per thread, as long as the blocks have CPU_SPLIT_MAX tokens or more */
	int per_thread = (n + c->nth * CPU_SPLIT_MAX - 1) / (c->nth * CPU_SPLIT_MAX);
	while (per_thread > 1 && n / (c->nth * per_thread) < CPU_SPLIT_MIN)
		per_thread--;
	*packed = k->pack != NULL && n >= k->packed_from(w->dtype);
	return c->nth * per_thread;
}

static void matmul_split_run(void *arg, int b, int ith)
{
	struct matmul_task *t = arg;
	const long t0 = cpu_split_token(t->n, t->n_blocks, b), m = cpu_split_token(t->n, t->n_blocks, b + 1) - t0;
	const long rows = (long)t->w->rows, cols = (long)t->w->cols;
	if (t->packed) {
		float *xp = cpu_scratch(CPU_SCRATCH_SPLIT_X, t->k->pack_floats(t->w->dtype, (int)m, cols) * sizeof *xp);
		t->k->pack(t->w->dtype, t->x + t0 * t->ldx, (int)m, t->ldx, cols, xp);
		t->k->rows_packed(t->w, 0, rows, xp, (int)m, t->y + t0 * t->ldy, t->ldy);
	} else {
		t->k->rows(t->w, 0, rows, t->x + t0 * t->ldx, (int)m, t->ldx, t->y + t0 * t->ldy, t->ldy);
	}
}

void cpu_matmul_ld(struct cpu_ctx *c, float *y, long ldy, const struct ds_tensor *w, const float *x,
		   long ldx, int n)
{
	struct matmul_task st = { .k = c->k, .y = y, .ldy = ldy, .ldx = ldx, .w = w, .x = x, .n = n };
	if ((st.n_blocks = cpu_split_tokens(c, w, n, &st.packed)) > 0) {
		cpu_pool_run(c->pool, matmul_split_run, &st, st.n_blocks);
		return;
	}
	struct matmul_task t = { .k = c->k, .y = y, .ldy = ldy, .ldx = ldx, .w = w, .x = x, .n = n,
				 .bs = cpu_row_block((long)w->rows, ds_row_bytes(w->dtype, w->cols), n, c->nth),
				 .xp = cpu_pack(c, w, x, ldx, n) };
	int nb = (int)(((long)w->rows + t.bs - 1) / t.bs);
	/* tiny products (the router, the test models) are not worth waking the workers: handing a task
	 * to another core and back costs microseconds on a virtual machine (a round trip between this
	 * one's two cores took 1 us), more than a thread takes for 128 KB of weights once (bench model's
	 * BF16 router, 32 x 1024, one token: 4.6-4.9 us a product on 2 threads, 1.7 on the caller) */
	if ((double)w->rows * (double)ds_row_bytes(w->dtype, w->cols) * n < 128 * 1024.0)
		for (int b = 0; b < nb; b++)
			matmul_run(&t, b, 0);
	else
		cpu_pool_run(c->pool, matmul_run, &t, nb);
}

static void cpu_matmul(void *ctx, float *y, const struct ds_tensor *w, const float *x, int n)
{
	cpu_matmul_ld(ctx, y, (long)w->rows, w, x, (long)w->cols, n);
}

/* Two products on one input split by rows in one pool run: blocks of both matrices' rows, of about
 * equal bytes, one list. Decode's kv_a_proj alone (0.33 MB at the bench and Lite widths in Q4_K)
 * was a run of its own whose blocks were each a new short stream: 9-13 us a layer, against 34-50
 * for q_proj's 1.77 MB. Each block's rows are multiplied as matmul multiplies them, so the sums are
 * the same. */
struct matmul2_task {
	struct matmul_task m[2];
	int nb0;            /* blocks of m[0]; m[1]'s follow */
};

static void matmul2_run(void *arg, int b, int ith)
{
	struct matmul2_task *t = arg;
	if (b < t->nb0)
		matmul_run(&t->m[0], b, ith);
	else
		matmul_run(&t->m[1], b - t->nb0, ith);
}

static void cpu_matmul2(void *ctx, float *y0, const struct ds_tensor *w0, float *y1, const struct ds_tensor *w1,
			const float *x, int n)
{
	struct cpu_ctx *c = ctx;
	bool packed;
	const double bytes = (double)ds_tensor_bytes(w0) + (double)ds_tensor_bytes(w1);
	if (c->nth < 2 || w0->cols != w1->cols || cpu_split_tokens(c, w0, n, &packed) > 0 ||
	    cpu_split_tokens(c, w1, n, &packed) > 0 || bytes * n < 128 * 1024.0) {
		cpu_matmul(c, y0, w0, x, n);
		cpu_matmul(c, y1, w1, x, n);
		return;
	}
	/* cpu_row_block's blocks for the two as one matrix, each matrix's rows cut to their bytes */
	const long blocks = cpu_block_count((size_t)bytes, n, c->nth);
	const struct ds_tensor *w[2] = { w0, w1 };
	const float *xs[2] = { x, x }, *xp[2];
	const int ns[2] = { n, n };
	cpu_pack_each(c, w, xs, ns, 2, xp);
	struct matmul2_task t;
	float *y[2] = { y0, y1 };
	int nb[2];
	for (int i = 0; i < 2; i++) {
		t.m[i] = (struct matmul_task){ .k = c->k, .y = y[i], .ldy = (long)w[i]->rows, .ldx = (long)w[i]->cols,
					       .w = w[i], .x = x, .n = n, .bs = cpu_block_rows((long)(bytes / (double)blocks /
								     (double)ds_row_bytes(w[i]->dtype, w[i]->cols))),
					       .xp = xp[i] };
		nb[i] = (int)(((long)w[i]->rows + t.m[i].bs - 1) / t.m[i].bs);
	}
	t.nb0 = nb[0];
	cpu_pool_run(c->pool, matmul2_run, &t, nb[0] + nb[1]);
}

static void cpu_rmsnorm(void *ctx, float *y, int ldy, const float *x, int ldx, const struct ds_tensor *w,
			int n, float eps)
{
	long d = (long)w->cols;
	/* the weights as floats: an F32 row in place, another type's converted once a call, not an
	 * element at a time through the type switch. With the partial sums below, a bench-width decode
	 * layer's three norms and its residual add took 3.2-4.5 us instead of 5.5-8.6. */
	const float *wv = w->data;
	if (w->dtype != DS_F32 || w->layout != DS_LAYOUT_ROWS) {
		float *row = cpu_row_scratch(d);
		cpu_tensor_row(w, 0, row);
		wv = row;
	}
	for (int i = 0; i < n; i++) {
		const float *xi = x + (long)i * ldx;
		float *yi = y + (long)i * ldy;
		/* eight partial sums of exact double products: one chain of d additions waited on each */
		double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
		long j = 0;
		for (; j + 8 <= d; j += 8) {
			s0 += (double)xi[j] * xi[j];
			s1 += (double)xi[j + 1] * xi[j + 1];
			s2 += (double)xi[j + 2] * xi[j + 2];
			s3 += (double)xi[j + 3] * xi[j + 3];
			s4 += (double)xi[j + 4] * xi[j + 4];
			s5 += (double)xi[j + 5] * xi[j + 5];
			s6 += (double)xi[j + 6] * xi[j + 6];
			s7 += (double)xi[j + 7] * xi[j + 7];
		}
		double ss = ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7));
		for (; j < d; j++)
			ss += (double)xi[j] * xi[j];
		float r = (float)(1.0 / sqrt(ss / (double)d + (double)eps));
		for (j = 0; j < d; j++)
			yi[j] = xi[j] * r * wv[j];
	}
}

/* RoPE's cos and sin for n positions from pos (cpu_ctx's rope_cs): a decode step ropes k_pe and
 * every head's q_pe in each layer at the same position, and each call made its dim / 2 double cos
 * and sin again. Made once a step, the same values: a bench-width layer's two ropes and its cache row
 * store took 2.8-3.3 us instead of 4.1-6.7 (with the vector store below). */
static const float *cpu_rope_table(struct cpu_ctx *c, int n, int dim, int pos, const double *inv_freq,
				   float mscale)
{
	const int half = dim / 2;
	if (c->rope_cs != NULL && c->rope_dim == dim && c->rope_mscale == mscale && pos >= c->rope_pos &&
	    pos + n <= c->rope_pos + c->rope_n && memcmp(c->rope_freq, inv_freq, (size_t)half * sizeof *inv_freq) == 0)
		return c->rope_cs + (size_t)(pos - c->rope_pos) * dim;
	size_t need = (size_t)n * dim;
	if (need > c->rope_cap) {
		c->rope_cs = xreallocarray(c->rope_cs, need, sizeof *c->rope_cs);
		c->rope_cap = need;
	}
	if (dim != c->rope_dim || c->rope_freq == NULL)
		c->rope_freq = xreallocarray(c->rope_freq, half > 0 ? (size_t)half : 1, sizeof *c->rope_freq);
	memcpy(c->rope_freq, inv_freq, (size_t)half * sizeof *inv_freq);
	for (int t = 0; t < n; t++)
		for (int i = 0; i < half; i++) {
			double a = (double)(pos + t) * inv_freq[i];
			c->rope_cs[(size_t)t * dim + 2 * i] = (float)cos(a) * mscale;
			c->rope_cs[(size_t)t * dim + 2 * i + 1] = (float)sin(a) * mscale;
		}
	c->rope_pos = pos;
	c->rope_n = n;
	c->rope_dim = dim;
	c->rope_mscale = mscale;
	return c->rope_cs;
}

static void cpu_rope(void *ctx, float *x, int n, int n_heads, int ld, int head_ld, int dim, int pos,
		     const double *inv_freq, float mscale)
{
	const float *table = cpu_rope_table(ctx, n, dim, pos, inv_freq, mscale);
	for (int t = 0; t < n; t++) {
		const float *cs = table + (size_t)t * dim;
		for (int h = 0; h < n_heads; h++) {
			float *p = x + (long)t * ld + (long)h * head_ld;
			for (int i = 0; i < dim / 2; i++) {
				float x0 = p[2 * i], x1 = p[2 * i + 1];
				p[2 * i] = x0 * cs[2 * i] - x1 * cs[2 * i + 1];
				p[2 * i + 1] = x1 * cs[2 * i] + x0 * cs[2 * i + 1];
			}
		}
	}
}

static void cpu_add(void *ctx, float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}

static void cpu_copy(void *ctx, float *dst, const float *src, size_t n)
{
	memcpy(dst, src, n * sizeof *dst);
}

/* BF16 with the kernel sets that round their products' activations: their logits move by about
 * 1e-2 (the int8 set's), the BF16 cache's rounding by about 3e-3 more (tests/test-cache-bf16 on the
 * tiny fixtures), and decode attention over BF16 rows takes vdpbf16ps, 32 products an instruction
 * against 16, on half the bytes: the bench model's Q4_K_M decode, attention's latent part 1.36-1.61
 * -> 0.96-1.13 ms a token (--bench --profile, 4 alternating pairs). F32 with the exact sets. */
static int cpu_cache_type_default(void)
{
	return cpu_kernels_best()->rounds_activations ? DS_BF16 : DS_F32;
}

/* The row rounded as ds_f32_to_bf16 rounds (to nearest, ties to even; NaN kept quiet; subnormals
 * kept, which vcvtne2ps2bf16 would flush), the function inline (dtype.h), all of the row stored and
 * then read back: a 576-value row at the bench widths 1.15-1.73 us, against 1.69-1.98 with each value
 * taken back as it is stored, and 1.75-3.25 with the function out of line. */
static void cpu_cache_store_bf16(void *ctx, void *cache, float *rows, size_t n)
{
	uint16_t *dst = cache;
	for (size_t i = 0; i < n; i++)
		dst[i] = ds_f32_to_bf16(rows[i]);
	for (size_t i = 0; i < n; i++)
		rows[i] = ds_bf16_to_f32(dst[i]);
}

/* The CPU reads the weights where they lie, so its copy of them is the model's own: with a kernel set
 * that reads some types four rows at a time (the int8 set), those matrices are rearranged in place
 * (cpu-rows4.h) and each kv_b_proj's value rows copied beside it in that layout for decode, and
 * where the set absorbs from uk4 tables, each Q4_K kv_b_proj's key rows are tabled so beside it
 * (cpu-uk4.h). Nothing else of the model changes; a model is loaded for one
 * backend. */
static int cpu_load(void *ctx, const struct ds_model *m, ds_progress_fn progress, void *arg, char *err,
		    size_t errlen)
{
	const struct cpu_kernels *k = cpu_kernels_best();
	const char *rows4 = getenv("DSCODER_ROWS4");   /* 0: the file's layout, for comparisons */
	const char *uk4 = getenv("DSCODER_UK4");       /* 0: the float absorb from kv_b_proj */
	(void)ctx, (void)progress, (void)arg, (void)err, (void)errlen;
	if (k->rows4 != NULL && (rows4 == NULL || strcmp(rows4, "0") != 0)) {
		cpu_rows4_model((struct ds_model *)m, k->rows4);
		cpu_rows4_uv_model((struct ds_model *)m, k->rows4);
	}
	if (k->absorb_uk4 != NULL && (uk4 == NULL || strcmp(uk4, "0") != 0))
		cpu_uk4_model((struct ds_model *)m);
	return 0;
}

const struct ds_backend ds_backend_cpu = {
	.name = "cpu",
	.create = cpu_create,
	.destroy = cpu_destroy,
	.threads = cpu_threads,
	.alloc = cpu_alloc,
	.release = cpu_release,
	.read = cpu_read,
	.embed = cpu_embed,
	.matmul = cpu_matmul,
	.matmul2 = cpu_matmul2,
	.rmsnorm = cpu_rmsnorm,
	.rope = cpu_rope,
	.attention = cpu_attention,
	.attention_decode = cpu_attention_decode,
	.swiglu = cpu_swiglu,
	.moe = cpu_moe,
	.add = cpu_add,
	.copy = cpu_copy,
	.cache_store_bf16 = cpu_cache_store_bf16,
	.cache_type_default = cpu_cache_type_default,
	.load = cpu_load,
};

/* test-cuda-kernels.c: every operation of the CUDA backend against the CPU backend on the same inputs
 * (F32 weights with --dtype f32, BF16 weights in BF16 mode, and every GGUF block type kept as blocks
 * on the GPU), the GPU router against engine/moe.c, and the GPU argmax. Exits 77 when no CUDA GPU is
 * visible. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cuda/cuda-backend.h"
#include "moe.h"
#include "quantize.h"
#include "rope.h"
#include "xalloc.h"
#include "fixture-util.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

/* A rows x cols weight of values about scale in size, F32 or BF16. */
static struct ds_tensor weight(enum ds_dtype t, long rows, long cols, float scale, float offset)
{
	size_t n = (size_t)rows * (size_t)cols;
	void *d = xmalloc(n * ds_dtype_get(t)->block_bytes);
	for (size_t i = 0; i < n; i++) {
		float v = offset + scale * fix_rndf(&rng);
		if (t == DS_F32)
			((float *)d)[i] = v;
		else
			((uint16_t *)d)[i] = fix_bf16(v);
	}
	return (struct ds_tensor){ .dtype = t, .data = d, .rows = rows, .cols = cols };
}

/* A rows x cols weight of type t (a GGUF block type) quantized from values about scale in size. */
static struct ds_tensor qweight(enum ds_dtype t, long rows, long cols, float scale)
{
	size_t rb = ds_row_bytes(t, cols);
	char *d = xmalloc((size_t)rows * rb);
	float *row = xmalloc((size_t)cols * sizeof *row);
	for (long r = 0; r < rows; r++) {
		for (long i = 0; i < cols; i++)
			row[i] = scale * fix_rndf(&rng);
		ds_quantize_row(t, row, d + (size_t)r * rb, cols);
	}
	free(row);
	return (struct ds_tensor){ .dtype = t, .data = d, .rows = rows, .cols = cols };
}

static float *rnd_vec(size_t n, float scale)
{
	float *v = xmalloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = scale * fix_rndf(&rng);
	return v;
}

struct pair {
	const struct ds_backend *cb, *gb;
	void *c, *g;
	bool f32;
	const char *mode;
};

static float *cpu_buf(struct pair *p, const float *h, size_t n)
{
	float *b = p->cb->alloc(p->c, n);
	if (h != NULL)
		memcpy(b, h, n * sizeof *b);
	else
		memset(b, 0, n * sizeof *b);
	return b;
}

static float *gpu_buf(struct pair *p, const float *h, size_t n)
{
	float *b = p->gb->alloc(p->g, n);
	CHECK(b != NULL, "cuda alloc of %zu floats", n);
	if (h != NULL)
		ds_cuda_write(p->g, b, h, n);
	return b;
}

/* Compares the CPU result with the GPU one: max |difference| against the largest |value|. */
static void compare(struct pair *p, const char *what, const float *cpu, const float *gpu_dev, size_t n, double tol)
{
	float *g = xmalloc(n * sizeof *g);
	p->gb->read(p->g, g, gpu_dev, n);
	double md = 0, mx = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)cpu[i] - (double)g[i]);
		if (!(d <= md))
			md = isnan(d) ? INFINITY : d;
		if (fabs(cpu[i]) > mx)
			mx = fabs(cpu[i]);
	}
	double lim = tol * (mx > 1 ? mx : 1);
	printf("%-5s %-28s max |diff| %.3g (largest |value| %.3g)\n", p->mode, what, md, mx);
	CHECK(md <= lim, "%s %s: max |diff| %g above %g", p->mode, what, md, lim);
	free(g);
}

static struct ds_config small_config(void)
{
	struct ds_config c;
	memset(&c, 0, sizeof c);
	c.vocab_size = 300;
	c.hidden_size = 64;
	c.intermediate_size = 96;
	c.moe_intermediate_size = 40;
	c.num_hidden_layers = 1;
	c.num_attention_heads = 20;      /* more than one block of 16 heads */
	c.n_shared_experts = 1;
	c.n_routed_experts = 12;
	c.num_experts_per_tok = 3;
	c.routed_scaling_factor = 2.5f;
	c.topk_method = DS_TOPK_GROUP_LIMITED;
	c.n_group = 4;
	c.topk_group = 2;
	c.first_k_dense_replace = 0;
	c.moe_layer_freq = 1;
	c.kv_lora_rank = 512;            /* the real latent sizes: all registers of the kernel in use */
	c.qk_nope_head_dim = 24;
	c.qk_rope_head_dim = 64;
	c.v_head_dim = 20;
	c.max_position_embeddings = 4096;
	c.rms_norm_eps = 1e-6f;
	c.rope_theta = 10000;
	c.yarn = true;
	c.yarn_factor = 40;
	c.yarn_original_max_position = 512;
	c.yarn_beta_fast = 32;
	c.yarn_beta_slow = 1;
	c.yarn_mscale = 0.707f;
	c.yarn_mscale_all_dim = 0.707f;
	return c;
}

#define N_CTX 300
#define BATCH 24                /* above 8 the products go through cuBLAS */

static void test_ops(struct pair *p, const struct ds_config *cfg)
{
	enum ds_dtype wt = p->f32 ? DS_F32 : DS_BF16;
	double tol = p->f32 ? 2e-4 : 3e-2;
	int hd = cfg->hidden_size, n = 5;

	/* embed */
	struct ds_tensor table = weight(wt, cfg->vocab_size, hd, 1, 0);
	int ids[BATCH] = { 3, 299, 0, 150, 3 };
	float *ce = cpu_buf(p, NULL, (size_t)n * hd), *ge = gpu_buf(p, NULL, (size_t)n * hd);
	p->cb->embed(p->c, ce, &table, ids, n);
	p->gb->embed(p->g, ge, &table, ids, n);
	compare(p, "embed", ce, ge, (size_t)n * hd, 0);

	/* matmul, odd sizes: one token, a few (the decode kernel), a batch (cuBLAS) */
	struct ds_tensor w = weight(wt, 77, hd, 0.3f, 0);
	float *x = rnd_vec((size_t)BATCH * hd, 1);
	int sizes[] = { 1, 5, BATCH };
	for (int si = 0; si < 3; si++) {
		int nn = sizes[si];
		char what[64];
		snprintf(what, sizeof what, "matmul n=%d", nn);
		float *cx = cpu_buf(p, x, (size_t)nn * hd), *gx = gpu_buf(p, x, (size_t)nn * hd);
		float *cy = cpu_buf(p, NULL, (size_t)nn * 77), *gy = gpu_buf(p, NULL, (size_t)nn * 77);
		p->cb->matmul(p->c, cy, &w, cx, nn);
		p->gb->matmul(p->g, gy, &w, gx, nn);
		compare(p, what, cy, gy, (size_t)nn * 77, tol);
	}

	/* rmsnorm with row strides, in place on the first part of a row like the latent c_kv */
	struct ds_tensor nw = weight(wt, 1, 48, 0.1f, 1);
	float *cr = cpu_buf(p, x, (size_t)n * hd), *gr = gpu_buf(p, x, (size_t)n * hd);
	p->cb->rmsnorm(p->c, cr, hd, cr, hd, &nw, n, 1e-6f);
	p->gb->rmsnorm(p->g, gr, hd, gr, hd, &nw, n, 1e-6f);
	compare(p, "rmsnorm in place, ld 64", cr, gr, (size_t)n * hd, p->f32 ? 1e-5 : 1e-5);

	/* rope on 3 heads of a strided layout at a large position */
	struct ds_rope rope;
	ds_rope_init(cfg, &rope);
	int rd = cfg->qk_rope_head_dim, ld = 3 * (rd + 16);
	float *q = rnd_vec((size_t)n * ld, 1);
	float *cq = cpu_buf(p, q, (size_t)n * ld), *gq = gpu_buf(p, q, (size_t)n * ld);
	p->cb->rope(p->c, cq + 16, n, 3, ld, rd + 16, rd, 100000, rope.inv_freq, rope.cos_mscale);
	p->gb->rope(p->g, gq + 16, n, 3, ld, rd + 16, rd, 100000, rope.inv_freq, rope.cos_mscale);
	compare(p, "rope at position 100000", cq, gq, (size_t)n * ld, 1e-5);

	/* add */
	float *ca = cpu_buf(p, x, (size_t)n * hd), *ga = gpu_buf(p, x, (size_t)n * hd);
	float *cb2 = cpu_buf(p, q, (size_t)n * hd), *gb2 = gpu_buf(p, q, (size_t)n * hd);
	p->cb->add(p->c, ca, cb2, (size_t)n * hd);
	p->gb->add(p->g, ga, gb2, (size_t)n * hd);
	compare(p, "add", ca, ga, (size_t)n * hd, 1e-6);

	/* swiglu, a few tokens and a batch */
	struct ds_tensor fg = weight(wt, cfg->intermediate_size, hd, 0.2f, 0);
	struct ds_tensor fu = weight(wt, cfg->intermediate_size, hd, 0.2f, 0);
	struct ds_tensor fd = weight(wt, hd, cfg->intermediate_size, 0.2f, 0);
	for (int nn = n; nn <= BATCH; nn += BATCH - n) {
		float *cx = cpu_buf(p, x, (size_t)nn * hd), *gx = gpu_buf(p, x, (size_t)nn * hd);
		float *cs = cpu_buf(p, NULL, (size_t)nn * hd), *gs = gpu_buf(p, NULL, (size_t)nn * hd);
		p->cb->swiglu(p->c, cs, &fg, &fu, &fd, cx, nn);
		p->gb->swiglu(p->g, gs, &fg, &fu, &fd, gx, nn);
		compare(p, nn == n ? "swiglu n=5" : "swiglu n=24", cs, gs, (size_t)nn * hd, tol);
	}

	/* MoE: host routing, then the GPU router on the same logits */
	int ne = cfg->n_routed_experts, k = cfg->num_experts_per_tok, mi = cfg->moe_intermediate_size;
	struct ds_tensor *eg = xmalloc(sizeof *eg * ne), *eu = xmalloc(sizeof *eu * ne), *ed = xmalloc(sizeof *ed * ne);
	for (int e = 0; e < ne; e++) {
		eg[e] = weight(wt, mi, hd, 0.2f, 0);
		eu[e] = weight(wt, mi, hd, 0.2f, 0);
		ed[e] = weight(wt, hd, mi, 0.2f, 0);
	}
	struct ds_tensor sg = weight(wt, mi, hd, 0.2f, 0), su = weight(wt, mi, hd, 0.2f, 0), sd = weight(wt, hd, mi, 0.2f, 0);
	float *logits = rnd_vec((size_t)BATCH * ne, 3);
	int tids[BATCH * 3];
	float tw[BATCH * 3], scratch[64];
	for (int i = 0; i < BATCH; i++)
		ds_moe_route(cfg, logits + (size_t)i * ne, scratch, tids + i * k, tw + i * k);
	struct ds_moe_args ma = { .x = NULL, .n = BATCH, .hidden = hd, .top_k = k, .ids = tids, .weights = tw,
				  .n_routed = ne, .gate = eg, .up = eu, .down = ed, .shared_gate = &sg,
				  .shared_up = &su, .shared_down = &sd };
	float *cmx = cpu_buf(p, x, (size_t)BATCH * hd), *gmx = gpu_buf(p, x, (size_t)BATCH * hd);
	float *cm = cpu_buf(p, NULL, (size_t)BATCH * hd), *gm = gpu_buf(p, NULL, (size_t)BATCH * hd);
	ma.x = cmx;
	p->cb->moe(p->c, cm, &ma);
	ma.x = gmx;
	p->gb->moe(p->g, gm, &ma);
	compare(p, "moe, host routing", cm, gm, (size_t)BATCH * hd, tol);
	/* experts another rank evaluates (id -1, tensor/expert parallel) are left out, batch and decode */
	int tpar[BATCH * 3];
	memcpy(tpar, tids, sizeof tpar);
	for (int i = 0; i < BATCH * k; i += 2)
		tpar[i] = -1;
	ma.ids = tpar;
	for (int nn = 1; nn <= BATCH; nn += BATCH - 1) {
		ma.n = nn;
		ma.x = cmx;
		p->cb->moe(p->c, cm, &ma);
		ma.x = gmx;
		p->gb->moe(p->g, gm, &ma);
		compare(p, nn == 1 ? "moe, ids -1, n=1" : "moe, ids -1, n=24", cm, gm, (size_t)nn * hd, tol);
	}
	ma.ids = tids;
	ma.n = BATCH;
	ma.x = cmx;
	p->cb->moe(p->c, cm, &ma);
	for (int nn = 1; nn <= BATCH; nn += BATCH - 1) {
		float *gl = gpu_buf(p, logits, (size_t)nn * ne);
		ds_cuda_route(p->g, gl, nn);
		ma.ids = NULL;
		ma.weights = NULL;
		ma.n = nn;
		ma.x = gmx;
		p->gb->moe(p->g, gm, &ma);
		compare(p, nn == 1 ? "moe, GPU router, n=1" : "moe, GPU router, n=24", cm, gm, (size_t)nn * hd, tol);
		ma.ids = tids;
		ma.weights = tw;
		ma.n = BATCH;
		p->gb->release(p->g, gl);
	}

	/* argmax: ties go to the lowest index */
	float *lg = rnd_vec(50000, 5);
	lg[777] = 9;
	lg[40000] = 9;
	float *glg = gpu_buf(p, lg, 50000);
	int am = ds_cuda_argmax(p->g, glg, 50000);
	CHECK(am == 777, "%s argmax %d, expected 777", p->mode, am);
	/* sampling: u in the middle of each of a few tokens' share of the distribution must pick it */
	double total = 0, run = 0, mx = 9;
	const float temp = 0.7f;
	for (int i = 0; i < 50000; i++)
		total += exp((lg[i] - mx) / temp);
	int checked = 0;
	for (int i = 0; i < 50000 && checked < 40; i++) {
		double w = exp((lg[i] - mx) / temp);
		if (w / total > 1e-4 && i % 7 == 0) {
			float u = (float)((run + w / 2) / total);
			int got = ds_cuda_sample(p->g, glg, 50000, temp, u);
			CHECK(got == i, "%s sample at u=%.6f: %d, expected %d", p->mode, u, got, i);
			checked++;
		}
		run += w;
	}
	CHECK(checked > 5, "%s: too few tokens to check sampling (%d)", p->mode, checked);
	free(lg);
}

/* Attention: decode (n = 1) at several cache lengths, a prefill from 0 and a chunk after a prefix. */
static void test_attention(struct pair *p, const struct ds_config *cfg)
{
	enum ds_dtype wt = p->f32 ? DS_F32 : DS_BF16;
	double tol = p->f32 ? 2e-4 : 3e-2;
	int nh = cfg->num_attention_heads, nope = cfg->qk_nope_head_dim, rd = cfg->qk_rope_head_dim;
	int vd = cfg->v_head_dim, kr = cfg->kv_lora_rank, lat = kr + rd, qd = nope + rd;
	struct ds_tensor kvb = weight(wt, (long)nh * (nope + vd), kr, 0.05f, 0);
	float *cache = rnd_vec((size_t)N_CTX * lat, 1);
	float *cc = cpu_buf(p, cache, (size_t)N_CTX * lat), *gc = gpu_buf(p, cache, (size_t)N_CTX * lat);
	float *q = rnd_vec((size_t)BATCH * nh * qd, 1);
	float *cq = cpu_buf(p, q, (size_t)BATCH * nh * qd), *gq = gpu_buf(p, q, (size_t)BATCH * nh * qd);
	size_t on = (size_t)BATCH * nh * vd;
	float *co = cpu_buf(p, NULL, on), *go = gpu_buf(p, NULL, on);
	struct { int n, pos; const char *name; } cases[] = {
		{ 1, 0, "attention decode, 1 key" }, { 1, 15, "attention decode, 16 keys" },
		{ 1, 200, "attention decode, 201 keys" }, { 1, N_CTX - 1, "attention decode, 300 keys" },
		{ BATCH, 0, "attention prefill 24 from 0" }, { BATCH, 150, "attention chunk of 24 after 150" },
		{ 3, N_CTX - 3, "attention 3 tokens to the end" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ds_attn_args a = { .out = co, .q = cq, .cache = cc, .kv_b = &kvb, .n = cases[i].n,
					  .pos = cases[i].pos, .n_heads = nh, .nope = nope, .rope = rd, .v_dim = vd,
					  .kv_rank = kr, .scale = 0.07f };
		p->cb->attention(p->c, &a);
		a.out = go;
		a.q = gq;
		a.cache = gc;
		p->gb->attention(p->g, &a);
		compare(p, cases[i].name, co, go, (size_t)cases[i].n * nh * vd, tol);
	}
	free(cache);
	free(q);
}

/* The shapes of test_quant: rows of whole K-quant blocks (256), wider than a warp's 32 groups of 32. */
static struct ds_config quant_config(void)
{
	struct ds_config c = small_config();
	c.hidden_size = 256;
	c.intermediate_size = 1536;
	c.moe_intermediate_size = 512;
	c.n_routed_experts = 6;
	c.num_experts_per_tok = 2;
	c.topk_method = DS_TOPK_GREEDY;
	c.n_group = 1;
	c.topk_group = 1;
	return c;
}

/* GGUF blocks on the GPU: the products decode them in the kernel (a few tokens, F32 activations as
 * on the CPU) or into the float form for cuBLAS (a batch), the experts too, mixed types as in a
 * Q4_K_M file; against the CPU's exact kernels on the same blocks. */
static void test_quant(struct pair *p)
{
	static const enum ds_dtype types[] = { DS_Q8_0, DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1, DS_Q4_K, DS_Q5_K, DS_Q6_K };
	double tol_few = 2e-4, tol_batch = p->f32 ? 2e-4 : 3e-2;
	int sizes[] = { 1, 5, BATCH };

	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		enum ds_dtype t = types[ti];
		if (!ds_quantize_supported(t))
			continue;
		/* 1536 columns: 48 groups of 32, more than a warp's lanes; 77 rows: a partial block of rows */
		int cols = 1536, rows = 77;
		struct ds_tensor w = qweight(t, rows, cols, 0.3f);
		float *x = rnd_vec((size_t)BATCH * cols, 1);
		for (int si = 0; si < 3; si++) {
			int nn = sizes[si];
			char what[64];
			snprintf(what, sizeof what, "%s matmul n=%d", ds_dtype_get(t)->name, nn);
			float *cx = cpu_buf(p, x, (size_t)nn * cols), *gx = gpu_buf(p, x, (size_t)nn * cols);
			float *cy = cpu_buf(p, NULL, (size_t)nn * rows), *gy = gpu_buf(p, NULL, (size_t)nn * rows);
			p->cb->matmul(p->c, cy, &w, cx, nn);
			p->gb->matmul(p->g, gy, &w, gx, nn);
			compare(p, what, cy, gy, (size_t)nn * rows, nn <= 8 ? tol_few : tol_batch);
		}
		free(x);
	}

	/* experts: gate and up Q4_K, down Q6_K (a Q4_K_M file's mix), and all Q8_0 */
	struct ds_config cfg = quant_config();
	int hd = cfg.hidden_size, mi = cfg.moe_intermediate_size, ne = cfg.n_routed_experts, k = cfg.num_experts_per_tok;
	enum ds_dtype mix[2][2] = { { DS_Q4_K, DS_Q6_K }, { DS_Q8_0, DS_Q8_0 } };
	float *x = rnd_vec((size_t)BATCH * hd, 1), *logits = rnd_vec((size_t)BATCH * ne, 3);
	int tids[BATCH * 2];
	float tw[BATCH * 2], scratch[64];
	for (int i = 0; i < BATCH; i++)
		ds_moe_route(&cfg, logits + (size_t)i * ne, scratch, tids + i * k, tw + i * k);
	for (int mti = 0; mti < 2; mti++) {
		enum ds_dtype gt = mix[mti][0], dt = mix[mti][1];
		if (!ds_quantize_supported(gt) || !ds_quantize_supported(dt))
			continue;
		struct ds_tensor *eg = xmalloc(sizeof *eg * ne), *eu = xmalloc(sizeof *eu * ne), *ed = xmalloc(sizeof *ed * ne);
		for (int e = 0; e < ne; e++) {
			eg[e] = qweight(gt, mi, hd, 0.2f);
			eu[e] = qweight(gt, mi, hd, 0.2f);
			ed[e] = qweight(dt, hd, mi, 0.2f);
		}
		struct ds_tensor sg = qweight(gt, mi, hd, 0.2f), su = qweight(gt, mi, hd, 0.2f), sd = qweight(dt, hd, mi, 0.2f);
		struct ds_moe_args ma = { .n = 1, .hidden = hd, .top_k = k, .ids = tids, .weights = tw, .n_routed = ne,
					  .gate = eg, .up = eu, .down = ed, .shared_gate = &sg, .shared_up = &su,
					  .shared_down = &sd };
		float *cmx = cpu_buf(p, x, (size_t)BATCH * hd), *gmx = gpu_buf(p, x, (size_t)BATCH * hd);
		float *cm = cpu_buf(p, NULL, (size_t)BATCH * hd), *gm = gpu_buf(p, NULL, (size_t)BATCH * hd);
		for (int nn = 1; nn <= BATCH; nn += BATCH - 1) {
			char what[64];
			snprintf(what, sizeof what, "moe %s/%s n=%d", ds_dtype_get(gt)->name, ds_dtype_get(dt)->name, nn);
			ma.n = nn;
			ma.x = cmx;
			p->cb->moe(p->c, cm, &ma);
			ma.x = gmx;
			p->gb->moe(p->g, gm, &ma);
			compare(p, what, cm, gm, (size_t)nn * hd, nn <= 8 ? tol_few : tol_batch);
		}
	}
	free(x);
	free(logits);
}

static void run(bool f32, bool quant)
{
	struct ds_config cfg = quant ? quant_config() : small_config();
	struct ds_backend_params bp = { .cfg = &cfg, .n_ctx = N_CTX, .max_batch = BATCH, .n_threads = 2 };
	char err[512];
	struct ds_cuda_options o = { .device = 0, .f32 = f32 };
	ds_cuda_set_options(&o);
	struct pair p = { .cb = &ds_backend_cpu, .gb = &ds_backend_cuda, .f32 = f32, .mode = f32 ? "f32" : "bf16" };
	p.c = p.cb->create(&bp, err, sizeof err);
	p.g = p.gb->create(&bp, err, sizeof err);
	if (p.c == NULL || p.g == NULL) {
		CHECK(0, "create: %s", err);
		return;
	}
	if (quant) {
		test_quant(&p);
	} else {
		test_ops(&p, &cfg);
		test_attention(&p, &cfg);
	}
	p.gb->destroy(p.g);
	p.cb->destroy(p.c);
}

int main(void)
{
	if (ds_cuda_device_count() == 0) {
		printf("SKIP: no CUDA GPU visible\n");
		return 77;
	}
	/* a bad --device is a sentence, not a crash */
	struct ds_config cfg = small_config();
	struct ds_backend_params bp = { .cfg = &cfg, .n_ctx = 16, .max_batch = 1 };
	struct ds_cuda_options bad = { .device = 99 };
	char err[512] = "";
	ds_cuda_set_options(&bad);
	CHECK(ds_backend_cuda.create(&bp, err, sizeof err) == NULL && strstr(err, "--device 99") != NULL,
	      "device 99 accepted or unclear: %s", err);
	run(true, false);
	run(false, false);
	run(true, true);
	run(false, true);
	printf("%s\n", fix_failures ? "FAILED" : "all CUDA kernels agree with the CPU backend");
	return fix_failures ? 1 : 0;
}

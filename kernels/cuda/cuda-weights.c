/* cuda-weights.c: the weights on the GPU. Each host tensor (a view into the mapped checkpoint) gets
 * one device copy, found by the host data address: float weights converted once to BF16 (F32 with
 * --dtype f32), GGUF block-quantized matrices kept as their blocks (the products decode them in the
 * kernel: a Q4_K_M model takes its file's size on the GPU, not four times it). The experts of a layer
 * are stored back to back so one launch can reach all of them. */
#include "build-config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda-convert.h"
#include "cuda-dequant.h"
#include "cuda-int.h"
#include "cuda-synthetic.h"
#include "xalloc.h"

static size_t hash_ptr(const void *p, size_t cap)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

static struct cuda_weight *map_find(struct cuda_ctx *c, const void *host)
{
	if (c->map_cap == 0)
		return NULL;
	for (size_t i = hash_ptr(host, c->map_cap);; i = (i + 1) & (c->map_cap - 1)) {
		if (c->map[i].host == host)
			return &c->map[i];
		if (c->map[i].host == NULL)
			return NULL;
	}
}

static struct cuda_weight *map_insert(struct cuda_ctx *c, const void *host)
{
	if ((c->map_n + 1) * 2 > c->map_cap) {
		size_t old = c->map_cap;
		struct cuda_weight *om = c->map;
		c->map_cap = old ? old * 2 : 1024;
		c->map = xcalloc(c->map_cap, sizeof *c->map);
		for (size_t i = 0; i < old; i++)
			if (om[i].host != NULL) {
				size_t j = hash_ptr(om[i].host, c->map_cap);
				while (c->map[j].host != NULL)
					j = (j + 1) & (c->map_cap - 1);
				c->map[j] = om[i];
			}
		free(om);
	}
	size_t j = hash_ptr(host, c->map_cap);
	while (c->map[j].host != NULL && c->map[j].host != host)
		j = (j + 1) & (c->map_cap - 1);
	if (c->map[j].host == NULL)
		c->map_n++;
	c->map[j].host = host;
	return &c->map[j];
}

/* cudaMalloc that reports, instead of failing, when the memory is short. */
static void *dev_alloc(struct cuda_ctx *c, size_t bytes, char *err, size_t errlen)
{
	void *p = NULL;
	cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
	if (e != cudaSuccess) {
		cudaGetLastError();       /* clear the sticky-free error state */
		size_t fr = 0, tot = 0;
		cudaMemGetInfo(&fr, &tot);
		errorf(err, errlen, "GPU %d has %.2f GiB free, not enough for %.2f GiB more of weights (%.2f GiB "
		       "uploaded so far): use --dtype bf16, a smaller model, or more GPUs", c->device,
		       fr / 1073741824.0, bytes / 1073741824.0, c->weight_bytes / 1073741824.0);
		return NULL;
	}
	if (c->n_blocks == c->cap_blocks) {
		c->cap_blocks = c->cap_blocks ? 2 * c->cap_blocks : 256;
		c->blocks = xreallocarray(c->blocks, c->cap_blocks, sizeof *c->blocks);
	}
	c->blocks[c->n_blocks++] = p;
	c->weight_bytes += bytes;
	return p;
}

void cuda_weights_free(struct cuda_ctx *c)
{
	for (size_t i = 0; i < c->n_blocks; i++)
		cudaFree(c->blocks[i]);
	free(c->blocks);
	free(c->map);
	if (c->deq != NULL)
		cudaFree(c->deq);
	c->blocks = NULL;
	c->map = NULL;
	c->deq = NULL;
	c->n_blocks = c->cap_blocks = c->map_cap = c->map_n = c->deq_elems = 0;
}

/* Norm weights (one row) stay F32 in BF16 mode: they are tiny and scale every value they touch. */
static bool keeps_f32(const struct cuda_ctx *c, const struct ds_tensor *t, enum cuda_use use)
{
	return c->f32 || use == CUDA_USE_EXACT || t->rows == 1;
}

/* A block-quantized matrix of a product stays in its blocks (the kernels decode every GGUF type
 * this program reads, in groups of 32). */
static bool keeps_blocks(const struct ds_tensor *t, enum cuda_use use)
{
	return use == CUDA_USE_MATRIX && ds_dtype_is_quantized(t->dtype) && t->rows > 1 && t->cols % 32 == 0;
}

size_t cuda_weight_bytes(const struct cuda_weight *w)
{
	if (w->wtype != DS_F32 && w->wtype != DS_BF16)
		return (size_t)w->rows * ds_row_bytes((enum ds_dtype)w->wtype, w->cols);
	return (size_t)w->rows * (size_t)w->cols * (w->wtype == DS_BF16 ? 2 : 4);
}

struct cuda_weight *cuda_weight_alloc(struct cuda_ctx *c, const struct ds_tensor *t, int group, enum cuda_use use,
				      char *err, size_t errlen)
{
	size_t g = group > 0 ? (size_t)group : 1;
	bool f32 = keeps_f32(c, t, use);
	struct cuda_weight form = {
		.wtype = keeps_blocks(t, use) ? (int)t->dtype : f32 ? DS_F32 : DS_BF16,
		.bf16 = !f32, .rows = t->rows, .cols = t->cols,
	};
	size_t bytes = cuda_weight_bytes(&form);
	void *dev = dev_alloc(c, bytes * g, err, errlen);
	if (dev == NULL)
		return NULL;
	for (size_t i = 0; i < g; i++) {
		struct cuda_weight *w = map_insert(c, (const char *)t[i].data);
		*w = form;
		w->host = t[i].data;
		w->dev = (char *)dev + i * bytes;
		w->rows = t[i].rows;
		w->cols = t[i].cols;
		w->group = i == 0 ? (int)g : 0;
	}
	/* a prompt's products decode the blocks of one matrix at a time into c->deq */
	if (form.wtype != DS_F32 && form.wtype != DS_BF16) {
		size_t n = (size_t)t->rows * (size_t)t->cols;
		if (n > c->deq_elems) {
			if (c->deq != NULL)
				CUDA_CHECK(cudaFree(c->deq));
			c->deq = NULL;
			c->deq_elems = 0;
			if (cudaMalloc(&c->deq, n * (f32 ? 4 : 2)) != cudaSuccess) {
				cudaGetLastError();
				c->deq = NULL;
				errorf(err, errlen, "GPU %d has no room for the %.2f GiB that decoding one %lld x %lld matrix "
				       "for a prompt needs: use a smaller model or more GPUs", c->device,
				       n * (f32 ? 4.0 : 2.0) / 1073741824.0, (long long)t->rows, (long long)t->cols);
				return NULL;
			}
			c->deq_elems = n;
		}
	}
	return map_find(c, t->data);
}

const void *cuda_weight_dense(struct cuda_ctx *c, const struct cuda_weight *w, int e)
{
	if (w->wtype == DS_F32 || w->wtype == DS_BF16)
		return (const char *)w->dev + (size_t)e * cuda_weight_bytes(w);
	if ((size_t)w->rows * (size_t)w->cols > c->deq_elems)
		cuda_fail("a quantized matrix is larger than its decoding scratch", "cuda_weight_dense", __FILE__, __LINE__);
	if (cuda_dequant(c->deq, w->bf16, (const char *)w->dev + (size_t)e * cuda_weight_bytes(w), w->wtype,
			 (size_t)w->rows, (int)w->cols, c->st) != 0)
		cuda_fail("a weight type the GPU cannot decode", "cuda_weight_dense", __FILE__, __LINE__);
	return c->deq;
}

/* Host bytes -> pinned staging -> device staging -> converted into place (BF16 when bf16, else F32),
 * a staging buffer at a time; GGUF blocks copied as they are when blocks. */
static void upload_into(struct cuda_ctx *c, void *dst, bool bf16, bool blocks, const struct ds_tensor *t)
{
	size_t n = (size_t)t->rows * (size_t)t->cols, es = ds_dtype_get(t->dtype)->block_bytes, de = bf16 ? 2 : 4;

	if (blocks) {
		/* the blocks as the file has them */
		size_t total = (size_t)t->rows * ds_row_bytes(t->dtype, t->cols);
		for (size_t off = 0; off < total; off += c->stage_bytes) {
			size_t m = total - off < c->stage_bytes ? total - off : c->stage_bytes;
			CUDA_CHECK(cudaStreamSynchronize(c->st));
			memcpy(c->stage_host, (const char *)t->data + off, m);
			CUDA_CHECK(cudaMemcpyAsync((char *)dst + off, c->stage_host, m, cudaMemcpyHostToDevice, c->st));
		}
		return;
	}
	if (ds_dtype_is_quantized(t->dtype)) {
		/* Block-quantized weights read element by element (the embedding, kv_b_proj) are decoded on
		 * the host with the format's own decoder, whole rows at a time, and stored like F32 weights. */
		size_t cols = (size_t)t->cols, rows_per = c->stage_bytes / (cols * sizeof(float));
		size_t rb = ds_row_bytes(t->dtype, t->cols);

		if (rows_per == 0)
			rows_per = 1;	/* a row of over STAGE_BYTES: cannot happen below 2^22 columns */
		for (size_t r = 0; r < (size_t)t->rows; r += rows_per) {
			size_t m = (size_t)t->rows - r < rows_per ? (size_t)t->rows - r : rows_per;

			CUDA_CHECK(cudaStreamSynchronize(c->st));
			for (size_t i = 0; i < m; i++)
				ds_dtype_get(t->dtype)->to_float((const char *)t->data + (r + i) * rb,
								 (float *)c->stage_host + i * cols, t->cols);
			if (!bf16) {
				CUDA_CHECK(cudaMemcpyAsync((char *)dst + r * cols * de, c->stage_host, m * cols * 4,
							   cudaMemcpyHostToDevice, c->st));
			} else {
				CUDA_CHECK(cudaMemcpyAsync(c->stage_dev, c->stage_host, m * cols * 4,
							   cudaMemcpyHostToDevice, c->st));
				cuda_convert((char *)dst + r * cols * de, bf16, c->stage_dev, (int)DS_F32, m * cols, c->st);
			}
		}
		return;
	}
	size_t per = c->stage_bytes / es;
	for (size_t off = 0; off < n; off += per) {
		size_t m = n - off < per ? n - off : per;
		CUDA_CHECK(cudaStreamSynchronize(c->st));    /* the staging buffers are free again */
		memcpy(c->stage_host, (const char *)t->data + off * es, m * es);
		bool same = (t->dtype == DS_BF16 && bf16) || (t->dtype == DS_F32 && !bf16);
		if (same) {
			CUDA_CHECK(cudaMemcpyAsync((char *)dst + off * de, c->stage_host, m * es, cudaMemcpyHostToDevice,
						   c->st));
		} else {
			CUDA_CHECK(cudaMemcpyAsync(c->stage_dev, c->stage_host, m * es, cudaMemcpyHostToDevice, c->st));
			cuda_convert((char *)dst + off * de, bf16, c->stage_dev, (int)t->dtype, m, c->st);
		}
	}
}

static int upload_group_err(struct cuda_ctx *c, const struct ds_tensor *t, int n, enum cuda_use use, char *err,
			    size_t errlen)
{
	for (int i = 1; i < n; i++)
		if (t[i].rows != t[0].rows || t[i].cols != t[0].cols)
			return errorf(err, errlen, "expert tensors of one layer differ in shape (%lld x %lld, %lld x %lld)",
				      (long long)t[0].rows, (long long)t[0].cols, (long long)t[i].rows, (long long)t[i].cols);
	struct cuda_weight *w = cuda_weight_alloc(c, t, n, use, err, errlen);
	if (w == NULL)
		return -1;
	size_t bytes = cuda_weight_bytes(w);
	bool blocks = w->wtype != DS_F32 && w->wtype != DS_BF16;
	for (int i = 0; i < n; i++)
		upload_into(c, (char *)w->dev + (size_t)i * bytes, w->bf16, blocks, &t[i]);
	return 0;
}

/* An operation met a weight that load did not upload: it goes up now, or the pass cannot go on. */
static const struct cuda_weight *upload_group(struct cuda_ctx *c, const struct ds_tensor *t, int n,
					       enum cuda_use use)
{
	char err[512];
	if (upload_group_err(c, t, n, use, err, sizeof err) != 0)
		cuda_fail(err, "upload of a weight", __FILE__, __LINE__);
	return map_find(c, t->data);
}

const struct cuda_weight *cuda_weight(struct cuda_ctx *c, const struct ds_tensor *t, enum cuda_use use)
{
	if (t == NULL || t->data == NULL || t->rows * t->cols == 0)
		return NULL;
	const struct cuda_weight *w = map_find(c, t->data);
	if (w == NULL)
		return upload_group(c, t, 1, use);
	/* each tensor has one role, so one form: blocks handed to an element-wise reader would be garbage */
	if (use != CUDA_USE_MATRIX && w->wtype != DS_F32 && w->wtype != DS_BF16)
		cuda_fail("a quantized matrix read element by element", "cuda_weight", __FILE__, __LINE__);
	return w;
}

const struct cuda_weight *cuda_weight_group(struct cuda_ctx *c, const struct ds_tensor *t, int n)
{
	const struct cuda_weight *w = map_find(c, t->data);
	if (w != NULL && w->group >= n)
		return w;
	if (w != NULL)
		cuda_fail("expert weights were uploaded one by one, not as a group", "cuda_weight_group", __FILE__,
			  __LINE__);
	return upload_group(c, t, n, CUDA_USE_MATRIX);
}

/* Calls f on every tensor group of m with its use: single tensors with n = 1, each layer's experts
 * with n_routed. The router is kept in F32 (CUDA_USE_EXACT): its choice is discrete, and BF16
 * rounding of the gate would change which experts run. */
static int each_tensor(const struct ds_model *m,
		       int (*f)(void *arg, const struct ds_tensor *t, int n, enum cuda_use use), void *arg)
{
	const struct ds_weights *W = &m->w;
	if (f(arg, &W->embed, 1, CUDA_USE_DENSE) != 0 || f(arg, &W->norm, 1, CUDA_USE_DENSE) != 0 ||
	    f(arg, &W->lm_head, 1, CUDA_USE_MATRIX) != 0)
		return -1;
	for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
		const struct ds_layer *L = &W->layers[l];
		const struct ds_tensor *ts[] = {
			&L->input_norm, &L->q_proj, &L->q_a_proj, &L->q_a_norm, &L->q_b_proj, &L->kv_a_proj,
			&L->kv_a_norm, &L->kv_b_proj, &L->k_b, &L->v_b, &L->o_proj, &L->post_norm, &L->gate_proj,
			&L->up_proj, &L->down_proj, &L->router, &L->shared_gate, &L->shared_up, &L->shared_down,
		};
		for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
			bool mla = ts[i] == &L->kv_b_proj || ts[i] == &L->k_b || ts[i] == &L->v_b;
			enum cuda_use use = ts[i] == &L->router ? CUDA_USE_EXACT
					    : mla || ts[i]->rows == 1 ? CUDA_USE_DENSE : CUDA_USE_MATRIX;
			if (f(arg, ts[i], 1, use) != 0)
				return -1;
		}
		/* a rank's shard holds only its own experts (model.h: n_expert_tensors) */
		int ne = m->n_expert_tensors > 0 ? m->n_expert_tensors : m->cfg.n_routed_experts;
		if (L->exp_gate != NULL && ds_layer_is_moe(&m->cfg, l) && ne > 0) {
			if (f(arg, L->exp_gate, ne, CUDA_USE_MATRIX) != 0 || f(arg, L->exp_up, ne, CUDA_USE_MATRIX) != 0 ||
			    f(arg, L->exp_down, ne, CUDA_USE_MATRIX) != 0)
				return -1;
		}
	}
	return 0;
}

struct upload_walk {
	struct cuda_ctx *c;
	ds_progress_fn progress;
	void *arg;
	uint64_t done, total;
	char *err;
	size_t errlen;
	bool random;
	uint64_t seed;
};

static int count_tensor(void *arg, const struct ds_tensor *t, int n, enum cuda_use use)
{
	struct upload_walk *u = arg;
	if (t->data != NULL)
		u->total += (uint64_t)n * ds_tensor_bytes(t);
	return 0;
}

/* Random values of a sensible size: norms near 1, matrices about 1/sqrt(fan-in), so that activations
 * neither vanish nor blow up through 27 or 60 layers. */
static void fill_synthetic(struct upload_walk *u, const struct cuda_weight *w, const struct ds_tensor *t, int n)
{
	size_t count = (size_t)t->rows * (size_t)t->cols * (size_t)n;
	bool vec = t->rows == 1;
	float scale = vec ? 0.05f : 1.0f / sqrtf((float)t->cols), offset = vec ? 1.0f : 0.0f;
	if (w->wtype != DS_F32 && w->wtype != DS_BF16) {
		const struct ds_dtype_info *in = ds_dtype_get((enum ds_dtype)w->wtype);
		cuda_fill_random_blocks(w->dev, w->wtype, count / (size_t)in->block, (int)in->block_bytes,
					u->seed++ * 0x100000001b3ull, scale, u->c->st);
		return;
	}
	cuda_fill_random(w->dev, w->bf16, count, u->seed++ * 0x100000001b3ull, scale, offset, u->c->st);
}

static int upload_tensor(void *arg, const struct ds_tensor *t, int n, enum cuda_use use)
{
	struct upload_walk *u = arg;
	struct cuda_ctx *c = u->c;
	if (t->data == NULL || t->rows * t->cols == 0)
		return 0;
	if (map_find(c, t->data) == NULL) {
		if (u->random) {
			struct cuda_weight *nw = cuda_weight_alloc(c, t, n, use, u->err, u->errlen);
			if (nw == NULL)
				return -1;
			fill_synthetic(u, nw, t, n);
		} else if (upload_group_err(c, t, n, use, u->err, u->errlen) != 0) {
			return -1;
		}
	}
	u->done += (uint64_t)n * ds_tensor_bytes(t);
	if (u->progress != NULL)
		u->progress(u->done, u->total, u->arg);
	return 0;
}

static int upload_all(void *ctx, const struct ds_model *m, struct upload_walk *u)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	u->c = c;
	each_tensor(m, count_tensor, u);
	int r = each_tensor(m, upload_tensor, u);
	CUDA_CHECK(cudaStreamSynchronize(c->st));
	return r;
}

int ds_cuda_upload_model(void *ctx, const struct ds_model *m, ds_progress_fn progress, void *arg, char *err,
			 size_t errlen)
{
	struct upload_walk u = { .progress = progress, .arg = arg, .err = err, .errlen = errlen };
	return upload_all(ctx, m, &u);
}

int ds_cuda_synthetic_upload(void *ctx, const struct ds_model *m, char *err, size_t errlen)
{
	struct upload_walk u = { .err = err, .errlen = errlen, .random = true, .seed = 1 };
	return upload_all(ctx, m, &u);
}

/* forward.c: the DeepSeek-V2 forward pass, written once against the backend interface
 * (kernels/backend.h); the steps follow ../shared/ARCHITECTURE.md. */
#include "build-config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "op-profile.h"
#include "forward.h"
#include "moe.h"
#include "rope.h"
#include "sampler.h"
#include "xalloc.h"

/* Prompts longer than this run as several batches; scratch is sized for one. 512 tokens give each
 * of 64 experts about 48 tokens per pass over its weights (Lite, top-6), and a 512-token prompt reads
 * every expert once (128 read them four times: prefill +16% at Lite's widths in Q4_K_M, 2 threads). */
#define DS_CHUNK 512
/* Logits of a batch are computed this many rows at a time (the buffer for all 128 rows would
 * be 52 MB at a vocabulary of 102400). */
#define DS_LOGIT_ROWS 16

/* Consecutive tokens of a batch that belong to one sequence at consecutive positions: they share
 * one attention call. */
struct run {
	int off, n;                 /* tokens off..off+n-1 of the batch */
	int pos, seq;               /* the first one's position; the sequence (cache slot) */
};

struct ds_state {
	const struct ds_model *m;
	const struct ds_backend *be;
	void *bc;                   /* backend context */
	int n_ctx, chunk;
	int n_slots;                /* sequences the cache holds */
	struct ds_rope rope;
	float **cache;              /* per layer (n_slots * n_ctx, kv_lora_rank + rope) of cache_type: c_kv |
	                             * roped k_pe, slot s at rows s * n_ctx.. */
	enum ds_dtype cache_type;   /* DS_F32, or DS_BF16 (--cache-type bf16) */
	float *kvbuf;               /* (chunk, kv_lora_rank + rope): latent rows of a batch of several runs */
	struct run *runs;           /* (chunk) */
	struct ds_attn_token *atok; /* (chunk): the decode tokens of one .attention_decode call */
	float *x;                   /* (chunk, hidden) residual stream */
	float *h;                   /* (chunk, hidden) normed input of a block, then its output */
	float *ffn;                 /* (chunk, hidden) */
	float *qa;                  /* (chunk, q_lora_rank) */
	float *q;                   /* (chunk, heads * (nope + rope)) */
	float *attn;                /* (chunk, heads * v_head_dim) */
	float *router;              /* (chunk, n_routed) */
	float *logits;              /* (DS_LOGIT_ROWS, vocab) */
	float *router_host;         /* (chunk, n_routed) */
	float *route_scratch;       /* (2 * n_routed) */
	int *topk_ids;              /* (chunk, top_k) */
	float *topk_w;              /* (chunk, top_k) */
	struct ds_parallel par;     /* tensor/expert parallel hooks; all NULL on one rank */
	float *next_host;           /* (vocab) logits of ds_forward_next on a backend without argmax */
	float *kvrow;               /* (kv_lora_rank + rope): the new latent row of a recorded decode step */
	bool graph;                 /* the operations issued now are recorded (backend graph_begin) */
};

static struct ds_backend_choice default_choice = { .name = "cpu" };

void ds_forward_set_backend(const struct ds_backend_choice *c)
{
	default_choice = *c;
}

void ds_forward_get_backend(struct ds_backend_choice *c)
{
	*c = default_choice;
}

void *ds_state_backend_ctx(const struct ds_state *s)
{
	return s->bc;
}

const char *ds_state_backend(const struct ds_state *s)
{
	return s->be->name;
}

static void state_release(struct ds_state *s, float **p)
{
	if (*p != NULL)
		s->be->release(s->bc, *p);
	*p = NULL;
}

void ds_state_free(struct ds_state *s)
{
	if (s == NULL)
		return;
	if (s->bc != NULL) {
		if (s->cache != NULL)
			for (int l = 0; l < s->m->cfg.num_hidden_layers; l++)
				state_release(s, &s->cache[l]);
		state_release(s, &s->x);
		state_release(s, &s->h);
		state_release(s, &s->ffn);
		state_release(s, &s->qa);
		state_release(s, &s->q);
		state_release(s, &s->attn);
		state_release(s, &s->router);
		state_release(s, &s->logits);
		state_release(s, &s->kvrow);
		state_release(s, &s->kvbuf);
		s->be->destroy(s->bc);
	}
	free(s->cache);
	free(s->router_host);
	free(s->route_scratch);
	free(s->topk_ids);
	free(s->topk_w);
	free(s->next_host);
	free(s->runs);
	free(s->atok);
	struct ds_parallel par = s->par;
	free(s);
	if (par.release != NULL)
		par.release(par.arg);
}

/* The cache type DSCODER_CACHE_TYPE (--cache-type) names, f32 or bf16; unset, backend be's default
 * (F32 where be is NULL or has none). */
int ds_forward_cache_type(const struct ds_backend *be, char *err, size_t errlen)
{
	const char *e = getenv("DSCODER_CACHE_TYPE");
	if (e == NULL || *e == '\0')
		return be != NULL && be->cache_type_default != NULL ? be->cache_type_default() : DS_F32;
	if (strcmp(e, "f32") == 0)
		return DS_F32;
	if (strcmp(e, "bf16") == 0)
		return DS_BF16;
	return errorf(err, errlen, "unknown latent cache type \"%s\" (DSCODER_CACHE_TYPE, --cache-type): use f32 "
		      "or bf16", e);
}

size_t ds_cache_bytes_per_value(int cache_type)
{
	return ds_dtype_get((enum ds_dtype)cache_type)->block_bytes;
}

/* Floats of backend memory that hold rows latent rows of the state's cache type. */
static size_t cache_floats(const struct ds_state *s, size_t rows)
{
	size_t lat = (size_t)s->m->cfg.kv_lora_rank + (size_t)s->m->cfg.qk_rope_head_dim;
	return (ds_row_bytes(s->cache_type, (int64_t)(rows * lat)) + sizeof(float) - 1) / sizeof(float);
}

static float *state_alloc(struct ds_state *s, size_t n, bool *ok)
{
	float *p = s->be->alloc(s->bc, n > 0 ? n : 1);
	if (p == NULL)
		*ok = false;
	return p;
}

static struct ds_state *state_create(const struct ds_model *m, const struct ds_backend *be, int n_ctx,
				     int n_threads, const struct ds_backend_choice *c, char *err, size_t errlen);

struct ds_state *ds_state_new(const struct ds_model *m, int n_ctx, int n_threads, char *err, size_t errlen)
{
	return ds_state_new_on(m, n_ctx, n_threads, NULL, err, errlen);
}

struct ds_state *ds_state_new_on(const struct ds_model *m, int n_ctx, int n_threads,
				 const struct ds_backend_choice *c, char *err, size_t errlen)
{
	if (c == NULL)
		c = &default_choice;
	const struct ds_backend *be = ds_backend_find(c->name != NULL ? c->name : "cpu", err, errlen);
	return be != NULL ? state_create(m, be, n_ctx, n_threads, c, err, errlen) : NULL;
}

struct ds_state *ds_state_new_backend(const struct ds_model *m, const struct ds_backend *be, int n_ctx,
				      int n_threads, char *err, size_t errlen)
{
	struct ds_backend_choice none = { .name = be->name };
	return state_create(m, be, n_ctx, n_threads, &none, err, errlen);
}

static struct ds_state *state_create(const struct ds_model *m, const struct ds_backend *be, int n_ctx,
				     int n_threads, const struct ds_backend_choice *c, char *err, size_t errlen)
{
	const struct ds_config *cfg = &m->cfg;
	if (n_ctx <= 0) {
		errorf(err, errlen, "the context size must be at least 1 token (got %d)", n_ctx);
		return NULL;
	}
	int cache_type = ds_forward_cache_type(be, err, errlen);
	if (cache_type < 0)
		return NULL;
	if (cache_type == DS_BF16 && be->cache_store_bf16 == NULL) {
		errorf(err, errlen, "the %s backend keeps its latent cache in F32: --cache-type bf16 runs on the cpu "
		       "backend", be->name);
		return NULL;
	}
	struct ds_state *s = xcalloc(1, sizeof *s);
	s->m = m;
	s->be = be;
	s->cache_type = cache_type;
	s->n_ctx = n_ctx;
	s->n_slots = 1;
	int chunk = be->chunk > 0 ? be->chunk : DS_CHUNK;
	s->chunk = n_ctx < chunk ? n_ctx : chunk;
	if (ds_rope_init(cfg, &s->rope) != 0) {
		errorf(err, errlen, "%s/config.json: qk_rope_head_dim %d is not an even number up to 512",
		       m->dir ? m->dir : ".", cfg->qk_rope_head_dim);
		free(s);
		return NULL;
	}
	struct ds_backend_params bp = { .cfg = cfg, .n_ctx = n_ctx, .max_batch = s->chunk,
					.n_threads = n_threads, .device = c->device, .f32 = c->f32 };
	s->bc = s->be->create(&bp, err, errlen);
	if (s->bc == NULL) {
		free(s);
		return NULL;
	}
	/* a device backend takes its copy of the weights now, once */
	if (s->be->load != NULL && s->be->load(s->bc, m, c->progress, c->progress_arg, err, errlen) != 0) {
		ds_state_free(s);
		return NULL;
	}

	size_t ch = (size_t)s->chunk, hd = (size_t)cfg->hidden_size, nh = (size_t)cfg->num_attention_heads;
	size_t lat = (size_t)cfg->kv_lora_rank + (size_t)cfg->qk_rope_head_dim;
	size_t ne = (size_t)cfg->n_routed_experts, k = (size_t)cfg->num_experts_per_tok;
	bool ok = true;
	s->cache = xcalloc((size_t)cfg->num_hidden_layers, sizeof *s->cache);
	for (int l = 0; l < cfg->num_hidden_layers && ok; l++)
		s->cache[l] = state_alloc(s, cache_floats(s, (size_t)n_ctx), &ok);
	s->x = state_alloc(s, ch * hd, &ok);
	s->h = state_alloc(s, ch * hd, &ok);
	s->ffn = state_alloc(s, ch * hd, &ok);
	s->qa = state_alloc(s, ch * (size_t)cfg->q_lora_rank, &ok);
	s->q = state_alloc(s, ch * nh * (size_t)(cfg->qk_nope_head_dim + cfg->qk_rope_head_dim), &ok);
	s->attn = state_alloc(s, ch * nh * (size_t)cfg->v_head_dim, &ok);
	s->router = state_alloc(s, ch * ne, &ok);
	s->logits = state_alloc(s, (ch < DS_LOGIT_ROWS ? ch : DS_LOGIT_ROWS) * (size_t)cfg->vocab_size, &ok);
	s->kvbuf = state_alloc(s, ch * lat, &ok);
	if (s->be->graph_begin != NULL)
		s->kvrow = state_alloc(s, lat, &ok);
	if (!ok) {
		errorf(err, errlen, "not enough memory for a context of %d tokens (%.1f GiB of KV cache): "
		       "ask for a smaller context", n_ctx,
		       (double)n_ctx * (double)lat * (double)ds_cache_bytes_per_value(s->cache_type) *
		       cfg->num_hidden_layers / (1 << 30));
		ds_state_free(s);
		return NULL;
	}
	s->router_host = xcalloc(ch * (ne > 0 ? ne : 1), sizeof *s->router_host);
	s->route_scratch = xcalloc(2 * (ne > 0 ? ne : 1), sizeof *s->route_scratch);
	s->topk_ids = xcalloc(ch * (k > 0 ? k : 1), sizeof *s->topk_ids);
	s->topk_w = xcalloc(ch * (k > 0 ? k : 1), sizeof *s->topk_w);
	s->runs = xcalloc(ch, sizeof *s->runs);
	s->atok = xcalloc(ch, sizeof *s->atok);
	return s;
}

static bool state_parallel(const struct ds_state *s);

/* The caches of every layer for n_slots slots; false (and none) when the memory cannot be had. */
static bool cache_alloc(struct ds_state *s, int n_slots)
{
	const struct ds_config *cfg = &s->m->cfg;
	bool ok = true;
	for (int l = 0; l < cfg->num_hidden_layers; l++)
		state_release(s, &s->cache[l]);
	for (int l = 0; l < cfg->num_hidden_layers && ok; l++)
		s->cache[l] = state_alloc(s, cache_floats(s, (size_t)n_slots * (size_t)s->n_ctx), &ok);
	if (!ok)
		for (int l = 0; l < cfg->num_hidden_layers; l++)
			state_release(s, &s->cache[l]);
	return ok;
}

int ds_state_set_slots(struct ds_state *s, int n_slots, char *err, size_t errlen)
{
	const struct ds_config *cfg = &s->m->cfg;
	double lat = (double)(cfg->kv_lora_rank + cfg->qk_rope_head_dim);
	if (n_slots < 1)
		return errorf(err, errlen, "a state needs at least one sequence slot (got %d)", n_slots);
	if (n_slots == s->n_slots)
		return 0;
	/* the other ranks follow ds_forward's launch hook, which carries one sequence */
	if (state_parallel(s))
		return errorf(err, errlen, "%d sequences at once do not run on a model split over ranks yet; use "
			      "one slot (--slots 1)", n_slots);
	if (cache_alloc(s, n_slots)) {
		s->n_slots = n_slots;
		return 0;
	}
	s->n_slots = 1;
	if (!cache_alloc(s, 1))
		fatal("cannot get back the memory of a one-slot KV cache of %d tokens", s->n_ctx);
	return errorf(err, errlen, "not enough memory for %d sequences of %d tokens (%.1f GiB of KV cache): ask "
		      "for fewer slots or a smaller context", n_slots, s->n_ctx,
		      (double)n_slots * s->n_ctx * lat * (double)ds_cache_bytes_per_value(s->cache_type) *
		      cfg->num_hidden_layers / (1 << 30));
}

int ds_state_slots(const struct ds_state *s)
{
	return s->n_slots;
}

void ds_state_set_parallel(struct ds_state *s, const struct ds_parallel *p)
{
	if (p != NULL)
		s->par = *p;
	else
		memset(&s->par, 0, sizeof s->par);
}

int ds_state_n_ctx(const struct ds_state *s)
{
	return s->n_ctx;
}

int ds_state_threads(const struct ds_state *s)
{
	return s->be->threads(s->bc);
}

int ds_state_cache_type(const struct ds_state *s)
{
	return s->cache_type;
}

/* Row pos of layer l's cache in sequence slot seq (F32 or BF16 values). */
static void *cache_row(const struct ds_state *s, int l, int seq, int pos)
{
	size_t lat = (size_t)s->m->cfg.kv_lora_rank + (size_t)s->m->cfg.qk_rope_head_dim;
	return (char *)s->cache[l] + ds_row_bytes(s->cache_type,
						  (int64_t)(((size_t)seq * (size_t)s->n_ctx + (size_t)pos) * lat));
}

/* One decoder layer for n tokens in runs[0..n_runs): attention block, then the FFN block. */
static void forward_layer(struct ds_state *s, int l, int n, const struct run *runs, int n_runs)
{
	const struct ds_config *cfg = &s->m->cfg;
	const struct ds_layer *L = &s->m->w.layers[l];
	const struct ds_backend *be = s->be;
	void *bc = s->bc;
	const int hd = cfg->hidden_size, nh = cfg->num_attention_heads;
	const int nope = cfg->qk_nope_head_dim, rd = cfg->qk_rope_head_dim, kr = cfg->kv_lora_rank;
	const int qd = nope + rd, lat = kr + rd;
	const float eps = cfg->rms_norm_eps;

	/* 1. h = RMSNorm(x) */
	ds_prof_begin(DS_PROF_ATTENTION);
	be->rmsnorm(bc, s->h, hd, s->x, hd, &L->input_norm, n, eps);
	/* 2. queries: q_proj, or q_b_proj(RMSNorm(q_a_proj h)); 3. latent K/V: [c_kv | k_pe], c_kv
	 * normed; one run goes straight into its F32 cache rows, several (or a BF16 cache's) through
	 * kvbuf (a recorded decode step writes a fixed row and stores it at the device's position). The
	 * two products of h in one backend call where it takes two. */
	const bool bf16 = s->cache_type == DS_BF16;
	float *kv = s->graph ? s->kvrow : n_runs == 1 && !bf16 ? cache_row(s, l, runs[0].seq, runs[0].pos) : s->kvbuf;
	const struct ds_tensor *wq = cfg->q_lora_rank > 0 ? &L->q_a_proj : &L->q_proj;
	float *yq = cfg->q_lora_rank > 0 ? s->qa : s->q;
	if (be->matmul2 != NULL) {
		be->matmul2(bc, yq, wq, kv, &L->kv_a_proj, s->h, n);
	} else {
		be->matmul(bc, yq, wq, s->h, n);
		be->matmul(bc, kv, &L->kv_a_proj, s->h, n);
	}
	if (cfg->q_lora_rank > 0) {
		be->rmsnorm(bc, s->qa, cfg->q_lora_rank, s->qa, cfg->q_lora_rank, &L->q_a_norm, n, eps);
		be->matmul(bc, s->q, &L->q_b_proj, s->qa, n);
	}
	be->rmsnorm(bc, kv, lat, kv, lat, &L->kv_a_norm, n, eps);
	/* 4. RoPE at each run's positions on k_pe (one head shared by all) and on every head's q_pe */
	for (int r = 0; r < n_runs; r++) {
		const struct run *ru = &runs[r];
		float *kr_row = kv + (size_t)ru->off * lat;
		be->rope(bc, kr_row + kr, ru->n, 1, lat, 0, rd, ru->pos, s->rope.inv_freq, s->rope.cos_mscale);
		if (bf16)
			be->cache_store_bf16(bc, cache_row(s, l, ru->seq, ru->pos), kr_row, (size_t)ru->n * lat);
		else if (n_runs > 1)
			be->copy(bc, cache_row(s, l, ru->seq, ru->pos), kr_row, (size_t)ru->n * lat);
		be->rope(bc, s->q + (size_t)ru->off * nh * qd + nope, ru->n, nh, nh * qd, qd, rd, ru->pos,
			 s->rope.inv_freq, s->rope.cos_mscale);
	}
	if (s->graph)
		be->store_row(bc, s->cache[l], kv, lat, runs[0].pos);
	/* 5. attention of each run over its sequence's positions 0..pos+n-1; consecutive one-token runs
	 * (the decode tokens of a continuous-batching step) in one call where the backend can */
	ds_prof_begin(DS_PROF_MLA);
	for (int r = 0; r < n_runs;) {
		const struct run *ru = &runs[r];
		int k = 1;
		if (be->attention_decode != NULL)
			while (r + k < n_runs && ru->n == 1 && runs[r + k].n == 1)
				k++;
		struct ds_attn_args aa = {
			.out = s->attn + (size_t)ru->off * nh * cfg->v_head_dim,
			.q = s->q + (size_t)ru->off * nh * qd, .cache = cache_row(s, l, ru->seq, 0),
			.cache_type = s->cache_type,
			.cur = bf16 ? kv + (size_t)ru->off * lat : cache_row(s, l, ru->seq, ru->pos),
			.kv_b = L->kv_b_proj.rows > 0 ? &L->kv_b_proj : NULL, .k_b = &L->k_b, .v_b = &L->v_b,
			.uk4 = L->kv_b_uk4.rows > 0 ? &L->kv_b_uk4 : NULL,
			.uv4 = L->kv_b_uv4.rows > 0 ? &L->kv_b_uv4 : NULL,
			.n = ru->n, .pos = ru->pos, .n_heads = nh, .nope = nope, .rope = rd,
			.v_dim = cfg->v_head_dim, .kv_rank = kr, .scale = s->rope.attn_scale,
		};
		if (k > 1) {
			for (int i = 0; i < k; i++)
				s->atok[i] = (struct ds_attn_token){ .pos = runs[r + i].pos,
								     .cache = cache_row(s, l, runs[r + i].seq, 0) };
			aa.n = k;
			be->attention_decode(bc, &aa, s->atok);
		} else {
			be->attention(bc, &aa);
		}
		r += k;
	}
	ds_prof_end(DS_PROF_MLA);
	/* 6. x += o_proj(attn); h = RMSNorm(x) */
	be->matmul(bc, s->h, &L->o_proj, s->attn, n);
	if (s->par.allreduce != NULL)
		s->par.allreduce(s->par.arg, bc, s->h, (size_t)n * hd);
	be->add(bc, s->x, s->h, (size_t)n * hd);
	ds_prof_end(DS_PROF_ATTENTION);
	be->rmsnorm(bc, s->h, hd, s->x, hd, &L->post_norm, n, eps);
	/* 7. FFN: dense SwiGLU, or routed experts plus shared experts */
	if (ds_layer_is_moe(cfg, l)) {
		const int ne = cfg->n_routed_experts, k = cfg->num_experts_per_tok;
		ds_prof_begin(DS_PROF_ROUTER);
		be->matmul(bc, s->router, &L->router, s->h, n);
		/* routed where the logits are when the backend can (nothing crosses to the host); a rank
		 * that evaluates only some experts routes on the host, where it marks the others' */
		bool on_device = be->route != NULL && s->par.expert_owned == NULL;
		if (on_device) {
			be->route(bc, s->router, n);
		} else {
			be->read(bc, s->router_host, s->router, (size_t)n * ne);
			for (int i = 0; i < n; i++)
				ds_moe_route(cfg, s->router_host + (size_t)i * ne, s->route_scratch,
					     s->topk_ids + (size_t)i * k, s->topk_w + (size_t)i * k);
			if (s->par.expert_owned != NULL)
				for (int i = 0; i < n * k; i++) {
					int e = s->topk_ids[i];   /* another rank's expert: -1 */
					s->topk_ids[i] = !s->par.expert_owned[e] ? -1
						: s->par.expert_local != NULL ? s->par.expert_local[e] : e;
				}
		}
		ds_prof_end(DS_PROF_ROUTER);
		bool shared = cfg->n_shared_experts > 0;
		struct ds_moe_args ma = {
			.x = s->h, .n = n, .hidden = hd, .top_k = k,
			.ids = on_device ? NULL : s->topk_ids, .weights = on_device ? NULL : s->topk_w,
			.n_routed = s->par.expert_local != NULL ? s->par.n_local_experts : ne,
			.gate = L->exp_gate, .up = L->exp_up, .down = L->exp_down,
			.shared_gate = shared ? &L->shared_gate : NULL,
			.shared_up = shared ? &L->shared_up : NULL,
			.shared_down = shared ? &L->shared_down : NULL,
		};
		ds_prof_begin(DS_PROF_EXPERTS);
		be->moe(bc, s->ffn, &ma);
		ds_prof_end(DS_PROF_EXPERTS);
	} else {
		ds_prof_begin(DS_PROF_DENSE);
		be->swiglu(bc, s->ffn, &L->gate_proj, &L->up_proj, &L->down_proj, s->h, n);
		ds_prof_end(DS_PROF_DENSE);
	}
	if (s->par.allreduce != NULL)
		s->par.allreduce(s->par.arg, bc, s->ffn, (size_t)n * hd);
	be->add(bc, s->x, s->ffn, (size_t)n * hd);
}

/* One batch of at most chunk tokens in runs[0..n_runs); when logits is not NULL, the logits of every
 * token (all), or of those whose want is set (want NULL: the last token's), in order. Returns false
 * when the stop of b (the caller's batch, or NULL) stopped it before a layer. */
static bool forward_batch(struct ds_state *s, const int *tokens, int n, const struct run *runs, int n_runs,
			  const bool *want, bool all, float *logits, const struct ds_batch *b)
{
	const struct ds_config *cfg = &s->m->cfg;
	const int hd = cfg->hidden_size;
	s->be->embed(s->bc, s->x, &s->m->w.embed, tokens, n);
	for (int l = 0; l < cfg->num_hidden_layers; l++) {
		if (b != NULL && b->stop != NULL && b->stop(b->stop_arg))
			return false;
		forward_layer(s, l, n, runs, n_runs);
	}
	if (logits == NULL)
		return true;
	ds_prof_begin(DS_PROF_HEAD);
	/* 8. final RMSNorm of the wanted rows (a stretch of them at a time) into h, then lm_head */
	int rows = 0;
	for (int i = all || want != NULL ? 0 : n - 1; i < n;) {
		if (!all && want != NULL && !want[i]) {
			i++;
			continue;
		}
		int j = i + 1;
		while (j < n && (all || want == NULL || want[j]))
			j++;
		s->be->rmsnorm(s->bc, s->h + (size_t)rows * hd, hd, s->x + (size_t)i * hd, hd, &s->m->w.norm, j - i,
			       cfg->rms_norm_eps);
		rows += j - i;
		i = j;
	}
	for (int r = 0; r < rows; r += DS_LOGIT_ROWS) {
		int m = rows - r < DS_LOGIT_ROWS ? rows - r : DS_LOGIT_ROWS;
		s->be->matmul(s->bc, s->logits, &s->m->w.lm_head, s->h + (size_t)r * hd, m);
		s->be->read(s->bc, logits + (size_t)r * cfg->vocab_size, s->logits, (size_t)m * cfg->vocab_size);
	}
	ds_prof_end(DS_PROF_HEAD);
	return true;
}


int ds_forward(struct ds_state *s, const int *tokens, int n, int pos, float *logits, bool all_logits)
{
	const struct ds_config *cfg = &s->m->cfg;
	if (n <= 0 || pos < 0 || pos > s->n_ctx - n || tokens == NULL)
		return -1;
	for (int i = 0; i < n; i++)
		if (tokens[i] < 0 || tokens[i] >= cfg->vocab_size)
			return -1;
	if (s->par.launch != NULL)
		s->par.launch(s->par.arg, tokens, n, pos);
	for (int done = 0; done < n;) {
		int c = n - done < s->chunk ? n - done : s->chunk;
		bool last = done + c == n;
		float *out = NULL;
		if (logits != NULL && all_logits)
			out = logits + (size_t)done * cfg->vocab_size;
		else if (logits != NULL && last)
			out = logits;
		struct run ru = { .off = 0, .n = c, .pos = pos + done, .seq = 0 };
		forward_batch(s, tokens + done, c, &ru, 1, NULL, all_logits, out, NULL);
		done += c;
	}
	return 0;
}

/* Splits tokens[0..n) of b into runs: consecutive tokens of one sequence at consecutive positions.
 * Returns the number of runs (at most n). */
static int batch_runs(const struct ds_batch *b, int first, int n, struct run *runs)
{
	int n_runs = 0;
	for (int i = first; i < first + n; i++) {
		struct run *last = n_runs > 0 ? &runs[n_runs - 1] : NULL;
		if (last != NULL && b->seq[i] == last->seq && b->pos[i] == last->pos + last->n) {
			last->n++;
			continue;
		}
		runs[n_runs++] = (struct run){ .off = i - first, .n = 1, .pos = b->pos[i], .seq = b->seq[i] };
	}
	return n_runs;
}

int ds_forward_batch(struct ds_state *s, const struct ds_batch *b, float *logits)
{
	const struct ds_config *cfg = &s->m->cfg;
	if (b->n <= 0 || b->tokens == NULL || b->pos == NULL || b->seq == NULL)
		return -1;
	for (int i = 0; i < b->n; i++)
		if (b->tokens[i] < 0 || b->tokens[i] >= cfg->vocab_size || b->pos[i] < 0 || b->pos[i] >= s->n_ctx ||
		    b->seq[i] < 0 || b->seq[i] >= s->n_slots)
			return -1;
	if (state_parallel(s)) {
		/* the other ranks follow ds_forward's launch: one sequence, at most the last logits */
		for (int i = 0; i < b->n; i++)
			if (b->seq[i] != 0 || b->pos[i] != b->pos[0] + i ||
			    (b->want_logits != NULL && b->want_logits[i] && i != b->n - 1))
				return -1;
		bool last = b->want_logits == NULL || b->want_logits[b->n - 1];
		return ds_forward(s, b->tokens, b->n, b->pos[0], last ? logits : NULL, false);
	}
	for (int done = 0; done < b->n;) {
		int c = b->n - done < s->chunk ? b->n - done : s->chunk;
		int n_runs = batch_runs(b, done, c, s->runs), rows = 0;
		const bool *want = b->want_logits != NULL ? b->want_logits + done : NULL;
		bool last = done + c == b->n;
		if (want != NULL) {
			for (int i = 0; i < c; i++)
				rows += want[i];
		} else {
			rows = last;
		}
		/* want NULL asks for the batch's last token only, which only the last piece has */
		if (!forward_batch(s, b->tokens + done, c, s->runs, n_runs, want, false,
				   logits != NULL && rows > 0 ? logits : NULL, b))
			return 1;
		if (logits != NULL)
			logits += (size_t)rows * cfg->vocab_size;
		done += c;
	}
	return 0;
}

/* Is s one rank of several? Then every forward call goes through ds_forward (its launch hook makes
 * the other ranks follow) and the last position's logits come to the host. */
static bool state_parallel(const struct ds_state *s)
{
	return s->par.launch != NULL || s->par.allreduce != NULL || s->par.expert_owned != NULL;
}

/* ds_forward's argument checks. */
static bool args_ok(const struct ds_state *s, const int *tokens, int n, int pos)
{
	if (n <= 0 || pos < 0 || pos > s->n_ctx - n || tokens == NULL)
		return false;
	for (int i = 0; i < n; i++)
		if (tokens[i] < 0 || tokens[i] >= s->m->cfg.vocab_size)
			return false;
	return true;
}

/* Runs tokens[0..n) and leaves the last position's logits on the host in s->next_host. */
static const float *logits_host(struct ds_state *s, const int *tokens, int n, int pos)
{
	if (s->next_host == NULL)
		s->next_host = xmalloc(sizeof *s->next_host * (size_t)s->m->cfg.vocab_size);
	ds_forward(s, tokens, n, pos, s->next_host, false);
	return s->next_host;
}

/* Runs all tokens but the last as a batch, and returns the last one's position; the caller runs it
 * with last_step. */
static int run_prefix(struct ds_state *s, const int *tokens, int n, int pos)
{
	if (n > 1)
		ds_forward(s, tokens, n - 1, pos, NULL, false);
	return pos + n - 1;
}

/* One token at pos up to its logits in s->logits, where the backend keeps them; recorded when
 * graph (the backend's graph_begin returned 0). */
static void last_step(struct ds_state *s, int token, int pos, bool graph)
{
	const struct ds_config *cfg = &s->m->cfg;
	const int hd = cfg->hidden_size;
	struct run ru = { .off = 0, .n = 1, .pos = pos, .seq = 0 };
	s->graph = graph;
	forward_batch(s, &token, 1, &ru, 1, NULL, false, NULL, NULL);
	s->be->rmsnorm(s->bc, s->h, hd, s->x, hd, &s->m->w.norm, 1, cfg->rms_norm_eps);
	s->be->matmul(s->bc, s->logits, &s->m->w.lm_head, s->h, 1);
	s->graph = false;
}

/* The last step's logits copied to the host (s->next_host), for a backend that cannot pick the
 * token itself. */
static const float *step_logits_host(struct ds_state *s)
{
	const int V = s->m->cfg.vocab_size;
	if (s->next_host == NULL)
		s->next_host = xmalloc(sizeof *s->next_host * (size_t)V);
	s->be->read(s->bc, s->next_host, s->logits, (size_t)V);
	return s->next_host;
}

int ds_forward_next(struct ds_state *s, const int *tokens, int n, int pos)
{
	const int V = s->m->cfg.vocab_size;
	if (!args_ok(s, tokens, n, pos))
		return -1;
	const float *lg;
	if (state_parallel(s)) {
		lg = logits_host(s, tokens, n, pos);
	} else {
		int last = run_prefix(s, tokens, n, pos), token = tokens[n - 1];
		/* on a backend that records the one-token step: recorded once, then replayed */
		int g = s->be->graph_begin != NULL ? s->be->graph_begin(s->bc, token, last) : -1;
		if (g != 1)
			last_step(s, token, last, g == 0);
		if (g >= 0)
			return s->be->graph_end(s->bc, s->logits, V);
		if (s->be->argmax != NULL)
			return s->be->argmax(s->bc, s->logits, V);
		lg = step_logits_host(s);
	}
	return ds_argmax(lg, V);
}

int ds_forward_sample(struct ds_state *s, const int *tokens, int n, int pos, float temperature, float u)
{
	const int V = s->m->cfg.vocab_size;
	if (temperature <= 0)
		return ds_forward_next(s, tokens, n, pos);
	if (!args_ok(s, tokens, n, pos))
		return -1;
	const float *lg;
	if (state_parallel(s)) {
		lg = logits_host(s, tokens, n, pos);
	} else {
		last_step(s, tokens[n - 1], run_prefix(s, tokens, n, pos), false);
		if (s->be->sample != NULL)
			return s->be->sample(s->bc, s->logits, V, temperature, u);
		lg = step_logits_host(s);
	}
	float m = lg[ds_argmax(lg, V)];
	double total = 0, run = 0;
	for (int i = 0; i < V; i++)
		total += exp((lg[i] - m) / temperature);
	for (int i = 0; i < V; i++) {
		run += exp((lg[i] - m) / temperature);
		if (run > u * total)
			return i;
	}
	return V - 1;
}

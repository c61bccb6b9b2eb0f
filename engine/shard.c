/* shard.c: builds one rank's view of a model from the partition plan: row slices as views into the
 * mapping, column slices copied into owned buffers, unowned routed experts left empty. */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "xalloc.h"

static const struct ds_tensor empty_tensor = { .dtype = DS_F32, .data = NULL, .rows = 0, .cols = 0 };

/* Columns [c0, c0 + n) of t, copied (same dtype) into a buffer the shard owns. */
static struct ds_tensor cols_copy(struct ds_shard *s, const struct ds_tensor *t, int64_t c0, int64_t n)
{
	const struct ds_dtype_info *info = ds_dtype_get(t->dtype);
	size_t full = ds_row_bytes(t->dtype, t->cols);

	if (c0 % info->block != 0 || n % info->block != 0) {
		/* A cut through quantization blocks: the shard's columns are decoded to F32. */
		float *dec = xmalloc((size_t)t->rows * (size_t)n * sizeof(float) + 1);
		float *row = xmalloc((size_t)t->cols * sizeof(float));

		for (int64_t r = 0; r < t->rows; r++) {
			info->to_float((const char *)t->data + (size_t)r * full, row, t->cols);
			memcpy(dec + (size_t)r * (size_t)n, row + c0, (size_t)n * sizeof(float));
		}
		free(row);
		s->owned = xreallocarray(s->owned, (size_t)s->n_owned + 1, sizeof *s->owned);
		s->owned[s->n_owned++] = dec;
		s->copied_bytes += (size_t)t->rows * (size_t)n * sizeof(float);
		return (struct ds_tensor){ .dtype = DS_F32, .data = dec, .rows = t->rows, .cols = n };
	}
	size_t row = ds_row_bytes(t->dtype, n), skip = ds_row_bytes(t->dtype, c0);
	char *buf = xmalloc(row * (size_t)t->rows + 1);
	for (int64_t r = 0; r < t->rows; r++)
		memcpy(buf + (size_t)r * row, (const char *)t->data + (size_t)r * full + skip, row);
	s->owned = xreallocarray(s->owned, (size_t)s->n_owned + 1, sizeof *s->owned);
	s->owned[s->n_owned++] = buf;
	s->copied_bytes += row * (size_t)t->rows;
	struct ds_tensor v = { .dtype = t->dtype, .data = buf, .rows = t->rows, .cols = n };
	return v;
}

static void count(const struct ds_tensor *t, uint64_t *n, uint64_t *bytes)
{
	*n += (uint64_t)t->rows * (uint64_t)t->cols;
	*bytes += ds_tensor_bytes(t);
}

void ds_shard_build(const struct ds_model *full, const struct ds_plan *p, int rank, struct ds_shard *s)
{
	const struct ds_config *c = &full->cfg;
	const struct ds_rank_plan *rp = &p->rank[rank];
	const int64_t qd = c->qk_nope_head_dim + c->qk_rope_head_dim, kvd = c->qk_nope_head_dim + c->v_head_dim;
	const int ne = c->n_routed_experts;

	memset(s, 0, sizeof *s);
	s->rank = rank;
	s->n_ranks = p->n_ranks;
	struct ds_model *m = &s->model;
	m->dir = full->dir ? xstrdup(full->dir) : NULL;
	size_t nl = strlen(full->name ? full->name : "model") + 32;
	m->name = xmalloc(nl);
	snprintf(m->name, nl, "%s[rank %d/%d]", full->name ? full->name : "model", rank, p->n_ranks);
	m->cfg = *c;
	m->cfg.num_attention_heads = rp->n_heads;
	m->cfg.intermediate_size = rp->n_inter;
	s->expert_owned = xcalloc(ne > 0 ? (size_t)ne : 1, 1);
	s->expert_local = xcalloc(ne > 0 ? (size_t)ne : 1, sizeof *s->expert_local);
	for (int e = 0; e < ne; e++) {
		s->expert_owned[e] = ds_plan_owns_expert(p, rank, e);
		s->expert_local[e] = s->expert_owned[e] ? s->n_local_experts++ : -1;
	}

	m->w.embed = full->w.embed;
	m->w.norm = rank == 0 ? full->w.norm : empty_tensor;
	m->w.lm_head = rank == 0 ? full->w.lm_head : empty_tensor;
	m->w.layers = xcalloc((size_t)c->num_hidden_layers, sizeof *m->w.layers);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		const struct ds_layer *F = &full->w.layers[l];
		struct ds_layer *L = &m->w.layers[l];
		*L = *F;               /* norms, q_a_proj, q_a_norm, kv_a_proj, kv_a_norm, router: replicated */
		L->kv_b_uk4 = empty_tensor;   /* a backend's load makes these for the shard's own heads */
		L->kv_b_uv4 = empty_tensor;
		if (c->q_lora_rank > 0)
			L->q_b_proj = ds_tensor_rows(&F->q_b_proj, rp->head0 * qd, rp->n_heads * qd);
		else
			L->q_proj = ds_tensor_rows(&F->q_proj, rp->head0 * qd, rp->n_heads * qd);
		if (F->kv_b_proj.rows > 0) {
			L->kv_b_proj = ds_tensor_rows(&F->kv_b_proj, rp->head0 * kvd, rp->n_heads * kvd);
		} else {
			L->k_b = ds_tensor_rows(&F->k_b, rp->head0 * c->kv_lora_rank, rp->n_heads * c->kv_lora_rank);
			L->v_b = ds_tensor_rows(&F->v_b, rp->head0 * c->v_head_dim, rp->n_heads * c->v_head_dim);
		}
		L->o_proj = cols_copy(s, &F->o_proj, (int64_t)rp->head0 * c->v_head_dim,
				      (int64_t)rp->n_heads * c->v_head_dim);
		if (ds_layer_is_moe(c, l)) {
			L->gate_proj = L->up_proj = L->down_proj = empty_tensor;
			/* only the rank's experts, so a GPU backend uploads and groups just those */
			size_t nl = s->n_local_experts > 0 ? (size_t)s->n_local_experts : 1;
			L->exp_gate = xcalloc(nl, sizeof *L->exp_gate);
			L->exp_up = xcalloc(nl, sizeof *L->exp_up);
			L->exp_down = xcalloc(nl, sizeof *L->exp_down);
			for (int e = 0; e < ne; e++) {
				int j = s->expert_local[e];
				if (j < 0)
					continue;
				L->exp_gate[j] = F->exp_gate[e];
				L->exp_up[j] = F->exp_up[e];
				L->exp_down[j] = F->exp_down[e];
			}
			if (c->n_shared_experts > 0) {
				L->shared_gate = ds_tensor_rows(&F->shared_gate, rp->shared0, rp->n_shared);
				L->shared_up = ds_tensor_rows(&F->shared_up, rp->shared0, rp->n_shared);
				L->shared_down = cols_copy(s, &F->shared_down, rp->shared0, rp->n_shared);
			}
		} else {
			L->exp_gate = L->exp_up = L->exp_down = NULL;
			L->gate_proj = ds_tensor_rows(&F->gate_proj, rp->inter0, rp->n_inter);
			L->up_proj = ds_tensor_rows(&F->up_proj, rp->inter0, rp->n_inter);
			L->down_proj = cols_copy(s, &F->down_proj, rp->inter0, rp->n_inter);
		}
	}

	/* the shard's own totals, counted from its tensors */
	uint64_t n = 0, bytes = 0;
	count(&m->w.embed, &n, &bytes);
	count(&m->w.norm, &n, &bytes);
	count(&m->w.lm_head, &n, &bytes);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		const struct ds_layer *L = &m->w.layers[l];
		const struct ds_tensor *ts[] = {
			&L->input_norm, &L->q_proj, &L->q_a_proj, &L->q_a_norm, &L->q_b_proj, &L->kv_a_proj,
			&L->kv_a_norm, &L->kv_b_proj, &L->k_b, &L->v_b, &L->o_proj, &L->post_norm, &L->gate_proj,
			&L->up_proj, &L->down_proj, &L->router, &L->shared_gate, &L->shared_up, &L->shared_down,
		};
		for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
			count(ts[i], &n, &bytes);
		if (L->exp_gate != NULL)
			for (int e = 0; e < s->n_local_experts; e++) {
				count(&L->exp_gate[e], &n, &bytes);
				count(&L->exp_up[e], &n, &bytes);
				count(&L->exp_down[e], &n, &bytes);
			}
	}
	m->n_expert_tensors = s->n_local_experts;
	m->n_params = n;
	m->weight_bytes = bytes;
}

void ds_shard_free(struct ds_shard *s)
{
	if (s->model.w.layers != NULL)
		for (int l = 0; l < s->model.cfg.num_hidden_layers; l++) {
			struct ds_layer *L = &s->model.w.layers[l];
			free(L->exp_gate);
			free(L->exp_up);
			free(L->exp_down);
		}
	free(s->model.w.layers);
	for (int i = 0; i < s->n_owned; i++)
		free(s->owned[i]);
	free(s->owned);
	for (int i = 0; i < s->model.n_owned; i++)   /* what a backend's load added (cpu-uk4.c) */
		free(s->model.owned[i]);
	free(s->model.owned);
	free(s->expert_owned);
	free(s->expert_local);
	free(s->model.dir);
	free(s->model.name);
	memset(s, 0, sizeof *s);
}

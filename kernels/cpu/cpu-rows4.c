/* cpu-rows4.c: rearranging matrices into the rows4 layout and back (cpu-rows4.h), and a model's
 * matrices in place where the int8 kernels will read them. */
#include "build-config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu-rows4.h"
#include "xalloc.h"

/* A type's rows4 form as pieces: each unit (blocks per_unit of each of the 4 rows, 4 x per_unit x
 * block bytes) holds piece p of block h of row ri, len bytes from off in the block, at base + ri *
 * stride in the unit. */
struct rows4_piece {
	int h, off, len, base, stride;
};

struct rows4_form {
	int per_unit, n_pieces;
	struct rows4_piece piece[16];
};

static const struct rows4_form *rows4_form(enum ds_dtype t)
{
	static const struct rows4_form q8_0 = { 2, 4, { { 0, 0, 2, 0, 4 }, { 1, 0, 2, 2, 4 },
							 { 0, 2, 32, 16, 64 }, { 1, 2, 32, 48, 64 } } };
	static const struct rows4_form q4_k = { 1, 3, { { 0, 0, 4, 0, 4 }, { 0, 4, 12, 16, 12 },
							 { 0, 16, 128, 64, 128 } } };
	static const struct rows4_form q5_k = { 1, 4, { { 0, 0, 4, 0, 4 }, { 0, 4, 12, 16, 12 },
							 { 0, 16, 32, 64, 32 }, { 0, 48, 128, 192, 128 } } };
	static const struct rows4_form q4_0 = { 4, 8, { { 0, 0, 2, 0, 8 }, { 1, 0, 2, 2, 8 }, { 2, 0, 2, 4, 8 },
							 { 3, 0, 2, 6, 8 }, { 0, 2, 16, 32, 64 }, { 1, 2, 16, 48, 64 },
							 { 2, 2, 16, 64, 64 }, { 3, 2, 16, 80, 64 } } };
	static const struct rows4_form q5_0 = { 4, 12, { { 0, 0, 2, 0, 8 }, { 1, 0, 2, 2, 8 }, { 2, 0, 2, 4, 8 },
							  { 3, 0, 2, 6, 8 }, { 0, 2, 4, 32, 16 }, { 1, 2, 4, 36, 16 },
							  { 2, 2, 4, 40, 16 }, { 3, 2, 4, 44, 16 }, { 0, 6, 16, 96, 64 },
							  { 1, 6, 16, 112, 64 }, { 2, 6, 16, 128, 64 },
							  { 3, 6, 16, 144, 64 } } };
	static const struct rows4_form q5_1 = { 4, 16, { { 0, 0, 2, 0, 8 }, { 1, 0, 2, 2, 8 }, { 2, 0, 2, 4, 8 },
							  { 3, 0, 2, 6, 8 }, { 0, 2, 2, 32, 8 }, { 1, 2, 2, 34, 8 },
							  { 2, 2, 2, 36, 8 }, { 3, 2, 2, 38, 8 }, { 0, 4, 4, 64, 16 },
							  { 1, 4, 4, 68, 16 }, { 2, 4, 4, 72, 16 }, { 3, 4, 4, 76, 16 },
							  { 0, 8, 16, 128, 64 }, { 1, 8, 16, 144, 64 },
							  { 2, 8, 16, 160, 64 }, { 3, 8, 16, 176, 64 } } };
	static const struct rows4_form q6_k = { 1, 4, { { 0, 0, 128, 0, 128 }, { 0, 128, 64, 512, 64 },
							 { 0, 192, 16, 768, 16 }, { 0, 208, 2, 832, 2 } } };
	switch (t) {
	case DS_Q8_0: return &q8_0;
	case DS_Q6_K: return &q6_k;
	case DS_Q4_K: return &q4_k;
	case DS_Q5_K: return &q5_k;
	case DS_Q4_0: return &q4_0;
	case DS_Q5_0: return &q5_0;
	case DS_Q5_1: return &q5_1;
	default: return NULL;
	}
}

bool cpu_rows4_fits(const struct ds_tensor *w)
{
	const struct rows4_form *f = rows4_form(w->dtype);

	if (f == NULL || w->layout != DS_LAYOUT_ROWS || w->rows <= 0 || w->rows % 4 != 0 || w->cols <= 0)
		return false;
	return w->cols / ds_dtype_get(w->dtype)->block % f->per_unit == 0;
}

void cpu_rows4_block(const struct ds_tensor *w, long r, long b, uint8_t *out)
{
	const struct rows4_form *f = rows4_form(w->dtype);
	const struct ds_dtype_info *info = ds_dtype_get(w->dtype);
	size_t rb = ds_row_bytes(w->dtype, w->cols), ub = 4 * (size_t)f->per_unit * info->block_bytes;
	const uint8_t *u = (const uint8_t *)w->data + (size_t)(r / 4) * 4 * rb + (size_t)(b / f->per_unit) * ub;

	for (int p = 0; p < f->n_pieces; p++) {
		const struct rows4_piece *pc = &f->piece[p];
		if (pc->h == b % f->per_unit)
			memcpy(out + pc->off, u + pc->base + (r % 4) * pc->stride, (size_t)pc->len);
	}
}

/* Each 4-row group between rows and rows4, through scratch */
static void rows4_move(const struct ds_tensor *w, void *data, void *scratch, bool to_rows4)
{
	const struct rows4_form *f = rows4_form(w->dtype);
	const struct ds_dtype_info *info = ds_dtype_get(w->dtype);
	size_t rb = ds_row_bytes(w->dtype, w->cols), bb = info->block_bytes;
	size_t ub = 4 * (size_t)f->per_unit * bb;
	long nu = (long)(w->cols / info->block / f->per_unit);

	for (long g = 0; g < w->rows / 4; g++) {
		uint8_t *grp = (uint8_t *)data + (size_t)g * 4 * rb, *tmp = scratch;
		memcpy(tmp, grp, 4 * rb);
		for (long u = 0; u < nu; u++)
			for (int ri = 0; ri < 4; ri++)
				for (int p = 0; p < f->n_pieces; p++) {
					const struct rows4_piece *pc = &f->piece[p];
					size_t in_rows = (size_t)ri * rb + (size_t)(u * f->per_unit + pc->h) * bb + (size_t)pc->off;
					size_t in_r4 = (size_t)u * ub + (size_t)(pc->base + ri * pc->stride);
					if (to_rows4)
						memcpy(grp + in_r4, tmp + in_rows, (size_t)pc->len);
					else
						memcpy(grp + in_rows, tmp + in_r4, (size_t)pc->len);
				}
	}
}

void cpu_rows4_arrange(const struct ds_tensor *w, void *data, void *scratch)
{
	rows4_move(w, data, scratch, true);
}

void cpu_rows4_restore(const struct ds_tensor *w, void *data, void *scratch)
{
	rows4_move(w, data, scratch, false);
}

/* The matrices of m the CPU multiplies through rows(), collected into *list */
static int rows4_candidates(struct ds_model *m, struct ds_tensor ***list)
{
	const struct ds_config *c = &m->cfg;
	int ne = m->n_expert_tensors > 0 ? m->n_expert_tensors : c->n_routed_experts, n = 0;
	size_t cap = (size_t)c->num_hidden_layers * (12 + 3 * (size_t)(ne > 0 ? ne : 0)) + 1;
	struct ds_tensor **v = xcalloc(cap, sizeof *v);

	for (int l = 0; l < c->num_hidden_layers; l++) {
		struct ds_layer *L = &m->w.layers[l];
		struct ds_tensor *each[] = { &L->q_proj, &L->q_a_proj, &L->q_b_proj, &L->kv_a_proj, &L->o_proj,
					     &L->gate_proj, &L->up_proj, &L->down_proj, &L->shared_gate,
					     &L->shared_up, &L->shared_down };
		for (size_t i = 0; i < sizeof each / sizeof each[0]; i++)
			v[n++] = each[i];
		if (ds_layer_is_moe(c, l) && L->exp_gate != NULL)
			for (int e = 0; e < ne; e++) {
				v[n++] = &L->exp_gate[e];
				v[n++] = &L->exp_up[e];
				v[n++] = &L->exp_down[e];
			}
	}
	/* a head tied to the embeddings is read row by row as embeddings too */
	if (m->w.lm_head.data != m->w.embed.data)
		v[n++] = &m->w.lm_head;
	*list = v;
	return n;
}

static int by_data(const void *a, const void *b)
{
	const char *x = (*(struct ds_tensor *const *)a)->data, *y = (*(struct ds_tensor *const *)b)->data;
	return x < y ? -1 : x > y;
}

bool cpu_rows4_uv_make(const struct ds_tensor *kv, int heads, int nope, int vd, bool (*types)(enum ds_dtype t),
		       struct ds_tensor *out)
{
	if (kv->rows != (int64_t)heads * (nope + vd) || kv->layout != DS_LAYOUT_ROWS || !types(kv->dtype))
		return false;
	struct ds_tensor uv = { .dtype = kv->dtype, .rows = (int64_t)heads * vd, .cols = kv->cols };
	if (!cpu_rows4_fits(&uv) || vd % 4 != 0)
		return false;
	const size_t rb = ds_row_bytes(kv->dtype, kv->cols), head_bytes = (size_t)vd * rb;
	uint8_t *data = aligned_alloc(64, ((size_t)heads * head_bytes + 63) / 64 * 64);
	void *scratch = malloc(4 * rb);
	if (data == NULL || scratch == NULL) {
		free(data);
		free(scratch);
		return false;
	}
	for (int h = 0; h < heads; h++)
		memcpy(data + (size_t)h * head_bytes,
		       (const uint8_t *)kv->data + ((size_t)h * (size_t)(nope + vd) + (size_t)nope) * rb, head_bytes);
	uv.data = data;
	cpu_rows4_arrange(&uv, data, scratch);
	free(scratch);
	uv.layout = DS_LAYOUT_ROWS4;
	*out = uv;
	return true;
}

int cpu_rows4_uv_model(struct ds_model *m, bool (*types)(enum ds_dtype t))
{
	const struct ds_config *cfg = &m->cfg;
	int done = 0;

	for (int l = 0; l < cfg->num_hidden_layers; l++) {
		struct ds_layer *L = &m->w.layers[l];
		/* (memory short: decode reads kv_b_proj's rows) */
		if (!cpu_rows4_uv_make(&L->kv_b_proj, cfg->num_attention_heads, cfg->qk_nope_head_dim,
				       cfg->v_head_dim, types, &L->kv_b_uv4))
			continue;
		ds_model_own(m, (void *)L->kv_b_uv4.data);
		done++;
	}
	return done;
}

int cpu_rows4_model(struct ds_model *m, bool (*types)(enum ds_dtype t))
{
	struct ds_tensor **v;
	int n = rows4_candidates(m, &v), done = 0;
	long page = sysconf(_SC_PAGESIZE);
	size_t scratch_bytes = 0;
	void *scratch = NULL;

	/* in address order: names for the same bytes come together, and overlaps show */
	qsort(v, (size_t)n, sizeof *v, by_data);
	for (int mi = 0; mi < m->n_maps; mi++) {
		uint8_t *lo = m->maps[mi].addr, *hi = lo + m->maps[mi].size;
		uintptr_t start = (uintptr_t)lo & ~(uintptr_t)(page - 1);
		const uint8_t *reached = lo;   /* the end of the furthest tensor met so far */
		bool writable = false;

		/* a file mapping would copy every page it writes (5.5 s for 1.4 GB here) and keep the
		 * page cache's too: a model that large for this machine stays in the file's layout */
		if (!m->maps[mi].in_memory)
			continue;
		for (int i = 0, j; i < n; i = j) {
			const uint8_t *d = v[i]->data;
			size_t bytes = ds_row_bytes(v[i]->dtype, v[i]->cols) * (size_t)(v[i]->rows > 0 ? v[i]->rows : 0);
			/* the names of these bytes: rearranged together, only if all see them alike */
			bool alike = true;
			for (j = i + 1; j < n && v[j]->data == d; j++)
				alike &= v[j]->dtype == v[i]->dtype && v[j]->rows == v[i]->rows && v[j]->cols == v[i]->cols;
			bool overlaps = d < reached || (j < n && (const uint8_t *)v[j]->data < d + bytes);
			if (d + bytes > reached)
				reached = d + bytes;
			if (d < lo || d + bytes > hi || !alike || overlaps || !types(v[i]->dtype) || !cpu_rows4_fits(v[i]))
				continue;
			if (!writable) {
				if (mprotect((void *)start, (size_t)(hi - (uint8_t *)start), PROT_READ | PROT_WRITE) != 0)
					break;
				writable = true;
			}
			size_t need = 4 * ds_row_bytes(v[i]->dtype, v[i]->cols);
			if (need > scratch_bytes) {
				free(scratch);
				scratch = xmalloc(need);
				scratch_bytes = need;
			}
			cpu_rows4_arrange(v[i], (void *)(uintptr_t)d, scratch);
			for (int e = i; e < j; e++)
				v[e]->layout = DS_LAYOUT_ROWS4;
			done++;
		}
		if (writable)
			mprotect((void *)start, (size_t)(hi - (uint8_t *)start), PROT_READ);
	}
	free(scratch);
	free(v);
	m->n_rows4 += done;
	return done;
}

/* cpu-rows4.c: rearranging matrices into the rows4 layout and back (cpu-rows4.h), and a model's
 * matrices in place where the int8 kernels will read them. */
#include "build-config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu-rows4.h"
#include "xalloc.h"

bool cpu_rows4_fits(const struct ds_tensor *w)
{
	if (w->layout != DS_LAYOUT_ROWS || w->rows <= 0 || w->rows % 4 != 0)
		return false;
	switch (w->dtype) {
	case DS_Q8_0: return w->cols > 0 && w->cols % 64 == 0;
	default: return false;
	}
}

/* Where the scale (codes 0) or the codes (codes 1) of block b of row ri (0-3) of a group lie in the
 * group's rows4 bytes (Q8_0: 2 bytes of scale, 32 of codes) */
static size_t q8_0_place(long b, int ri, int codes)
{
	size_t pair = (size_t)(b / 2) * CPU_ROWS4_Q8_0_PAIR;
	int h = (int)(b % 2);

	return codes ? pair + 16 + (size_t)(64 * ri + 32 * h) : pair + (size_t)(2 * (2 * ri + h));
}

void cpu_rows4_block(const struct ds_tensor *w, long r, long b, uint8_t *out)
{
	size_t rb = (size_t)(w->cols / 32) * 34;
	const uint8_t *g = (const uint8_t *)w->data + (size_t)(r / 4) * 4 * rb;

	memcpy(out, g + q8_0_place(b, (int)(r % 4), 0), 2);
	memcpy(out + 2, g + q8_0_place(b, (int)(r % 4), 1), 32);
}

/* Each 4-row group between rows and rows4, through scratch */
static void rows4_move(const struct ds_tensor *w, void *data, void *scratch, bool to_rows4)
{
	size_t rb = (size_t)(w->cols / 32) * 34;
	long nb = (long)(w->cols / 32);

	for (long g = 0; g < w->rows / 4; g++) {
		uint8_t *grp = (uint8_t *)data + (size_t)g * 4 * rb, *tmp = scratch;
		memcpy(tmp, grp, 4 * rb);
		for (int ri = 0; ri < 4; ri++)
			for (long b = 0; b < nb; b++) {
				size_t at = (size_t)ri * rb + (size_t)b * 34, s = q8_0_place(b, ri, 0), c = q8_0_place(b, ri, 1);
				if (to_rows4) {
					memcpy(grp + s, tmp + at, 2);
					memcpy(grp + c, tmp + at + 2, 32);
				} else {
					memcpy(grp + at, tmp + s, 2);
					memcpy(grp + at + 2, tmp + c, 32);
				}
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

int cpu_rows4_model(struct ds_model *m, bool (*types)(enum ds_dtype t))
{
	struct ds_tensor **v;
	int n = rows4_candidates(m, &v), done = 0;
	long page = sysconf(_SC_PAGESIZE);
	size_t scratch_bytes = 0;
	void *scratch = NULL;

	/* in address order, so that tensors sharing bytes (none in a valid file) are met together */
	qsort(v, (size_t)n, sizeof *v, by_data);
	for (int mi = 0; mi < m->n_maps; mi++) {
		uint8_t *lo = m->maps[mi].addr, *hi = lo + m->maps[mi].size;
		bool writable = false;
		const void *last = NULL;

		/* a file mapping would copy every page it writes (5.5 s for 1.4 GB here) and keep the
		 * page cache's too: a model that large for this machine stays in the file's layout */
		if (!m->maps[mi].in_memory)
			continue;
		for (int i = 0; i < n; i++) {
			struct ds_tensor *w = v[i];
			const uint8_t *d = w->data;
			if (w->rows <= 0 || !types(w->dtype) || d < lo || d >= hi)
				continue;
			if (d == last) {   /* the same bytes under another name: already rearranged */
				if (v[i - 1]->layout == DS_LAYOUT_ROWS4 && v[i - 1]->rows == w->rows &&
				    v[i - 1]->cols == w->cols && v[i - 1]->dtype == w->dtype)
					w->layout = DS_LAYOUT_ROWS4;
				continue;
			}
			size_t bytes = ds_row_bytes(w->dtype, w->cols) * (size_t)w->rows;
			if (!cpu_rows4_fits(w) || d + bytes > hi || (i + 1 < n && (const uint8_t *)v[i + 1]->data > d &&
								       (const uint8_t *)v[i + 1]->data < d + bytes))
				continue;
			if (!writable) {
				uintptr_t start = (uintptr_t)lo & ~(uintptr_t)(page - 1);
				if (mprotect((void *)start, (size_t)(hi - (uint8_t *)start), PROT_READ | PROT_WRITE) != 0)
					break;
				writable = true;
			}
			size_t need = 4 * ds_row_bytes(w->dtype, w->cols);
			if (need > scratch_bytes) {
				free(scratch);
				scratch = xmalloc(need);
				scratch_bytes = need;
			}
			cpu_rows4_arrange(w, (void *)(uintptr_t)w->data, scratch);
			w->layout = DS_LAYOUT_ROWS4;
			last = d;
			done++;
		}
		if (writable) {
			uintptr_t start = (uintptr_t)lo & ~(uintptr_t)(page - 1);
			mprotect((void *)start, (size_t)(hi - (uint8_t *)start), PROT_READ);
		}
	}
	free(scratch);
	free(v);
	return done;
}

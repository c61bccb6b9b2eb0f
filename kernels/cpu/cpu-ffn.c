/* cpu-ffn.c: the feed-forward blocks on the CPU: SwiGLU (dense, shared experts, one routed expert)
 * and the routed mixture, with tokens grouped by expert. */
#include "build-config.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-backend.h"
#include "op-profile.h"
#include "xalloc.h"

struct swiglu_task {
	struct cpu_ctx *c;
	const struct ds_tensor *gate, *up;
	const float *x;
	const float *xp;    /* x packed, or NULL */
	int n;
	long bs;
};

/* A block takes the same rows of gate and up, so it can finish silu(g) * u on its own. */
static void swiglu_run(void *arg, int b, int ith)
{
	struct swiglu_task *t = arg;
	struct cpu_ctx *c = t->c;
	long lo, hi, w = (long)t->gate->rows;
	cpu_block(w, t->bs, b, &lo, &hi);
	if (lo >= hi)
		return;
	if (t->xp != NULL) {
		c->k->rows_packed(t->gate, lo, hi, t->xp, t->n, c->ffn_gate, w);
		c->k->rows_packed(t->up, lo, hi, t->xp, t->n, c->ffn_up, w);
	} else {
		c->k->rows(t->gate, lo, hi, t->x, t->n, (long)t->gate->cols, c->ffn_gate, w);
		c->k->rows(t->up, lo, hi, t->x, t->n, (long)t->up->cols, c->ffn_up, w);
	}
	for (int i = 0; i < t->n; i++) {
		float *g = c->ffn_gate + (long)i * w, *u = c->ffn_up + (long)i * w;
		for (long r = lo; r < hi; r++)
			g[r] = g[r] / (1.0f + expf(-g[r])) * u[r];
	}
}

void cpu_swiglu(void *ctx, float *y, const struct ds_tensor *gate, const struct ds_tensor *up,
		       const struct ds_tensor *down, const float *x, int n)
{
	struct cpu_ctx *c = ctx;
	struct swiglu_task t = { .c = c, .gate = gate, .up = up, .x = x, .n = n,
				 .bs = cpu_row_block((long)gate->rows, c->nth) };
	/* gate and up share one packing (the same type, so the same form; else each as it is) */
	if (gate->dtype == up->dtype)
		t.xp = cpu_pack(c, gate, x, (long)gate->cols, n);
	int nb = (int)(((long)gate->rows + t.bs - 1) / t.bs);
	if ((long)gate->rows * gate->cols * n < 16384)
		for (int b = 0; b < nb; b++)
			swiglu_run(&t, b, 0);
	else
		cpu_pool_run(c->pool, swiglu_run, &t, nb);
	cpu_matmul_ld(c, y, (long)down->rows, down, c->ffn_gate, (long)gate->rows, n);
}

/* ---- one token: shared and routed experts as two pool tasks in all ---- */

#define MOE1_MAX 33        /* shared + top_k experts this path takes (more: the general path) */

struct moe1_task {
	struct cpu_ctx *c;
	const float *x;
	int n_mat;                          /* matrices: the shared experts (if any), then the routed */
	int shared;                         /* 1 when matrix 0 is the shared experts */
	const struct ds_tensor *gate[MOE1_MAX], *up[MOE1_MAX], *down[MOE1_MAX];
	float weight[MOE1_MAX];
	const float *xp;                    /* x packed for every gate and up (one type), or NULL */
	const float *down_xp[MOE1_MAX];     /* each down projection's input packed, or NULL */
	long off[MOE1_MAX];                 /* where each one's intermediate lies in c->ffn_gate/ffn_up */
	long bs[MOE1_MAX];                  /* rows per block of its gate/up */
	int blk0[MOE1_MAX + 1];             /* its first block of the first task */
	float *y;
	long hidden, down_bs;
};

/* Task 1: block b of some matrix's gate and up rows, then silu(g) * u of those rows. */
static void moe1_gate_run(void *arg, int b, int ith)
{
	struct moe1_task *t = arg;
	struct cpu_ctx *c = t->c;
	int m = 0;
	while (b >= t->blk0[m + 1])
		m++;
	long lo, hi, w = (long)t->gate[m]->rows;
	cpu_block(w, t->bs[m], b - t->blk0[m], &lo, &hi);
	if (lo >= hi)
		return;
	float *g = c->ffn_gate + t->off[m], *u = c->ffn_up + t->off[m];
	if (t->xp != NULL) {
		c->k->rows_packed(t->gate[m], lo, hi, t->xp, 1, g, w);
		c->k->rows_packed(t->up[m], lo, hi, t->xp, 1, u, w);
	} else {
		c->k->rows(t->gate[m], lo, hi, t->x, 1, (long)t->gate[m]->cols, g, w);
		c->k->rows(t->up[m], lo, hi, t->x, 1, (long)t->up[m]->cols, u, w);
	}
	for (long r = lo; r < hi; r++)
		g[r] = g[r] / (1.0f + expf(-g[r])) * u[r];
}

/* Task 2: block b of the output rows through every down projection, summed as cpu_moe's general
 * path sums them (routed in id order into an accumulator from 0, then the shared output plus it). */
static void moe1_down_run(void *arg, int b, int ith)
{
	static __thread float *buf;
	static __thread long cap;
	struct moe1_task *t = arg;
	struct cpu_ctx *c = t->c;
	long lo, hi;
	cpu_block(t->hidden, t->down_bs, b, &lo, &hi);
	if (lo >= hi)
		return;
	if (cap < 2 * t->hidden) {
		free(buf);
		cap = 2 * t->hidden;
		buf = malloc((size_t)cap * sizeof *buf);
		if (buf == NULL)
			fatal("out of memory for %ld floats of MoE scratch", cap);
	}
	float *yo = buf, *acc = buf + t->hidden;
	for (long r = lo; r < hi; r++)
		acc[r] = 0;
	for (int m = t->shared; m < t->n_mat; m++) {
		if (t->down_xp[m] != NULL)
			c->k->rows_packed(t->down[m], lo, hi, t->down_xp[m], 1, yo, t->hidden);
		else
			c->k->rows(t->down[m], lo, hi, c->ffn_gate + t->off[m], 1, (long)t->down[m]->cols, yo,
				   t->hidden);
		c->k->axpy(acc + lo, t->weight[m], yo + lo, hi - lo);
	}
	if (t->shared && t->down_xp[0] != NULL)
		c->k->rows_packed(t->down[0], lo, hi, t->down_xp[0], 1, t->y, t->hidden);
	else if (t->shared)
		c->k->rows(t->down[0], lo, hi, c->ffn_gate, 1, (long)t->down[0]->cols, t->y, t->hidden);
	else
		memset(t->y + lo, 0, (size_t)(hi - lo) * sizeof *t->y);
	c->k->axpy(t->y + lo, 1.0f, acc + lo, hi - lo);
}

/* One token (decode): every matrix's gate/up blocks in one task and every down projection in a
 * second, instead of two tasks per expert: threads wait at 2 barriers per layer instead of 14, and
 * a thread that finishes the shared experts' rows goes on to the routed ones'. Returns false
 * (nothing done) where it does not apply. The sums are formed as in the general path (same row
 * blocks, routed outputs weighted into an accumulator in id order, then added to the shared). */
static bool moe_one_token(struct cpu_ctx *c, float *y, const struct ds_moe_args *a)
{
	struct moe1_task t = { .c = c, .x = a->x, .y = y, .hidden = a->hidden };
	if (a->n != 1 || a->ids == NULL || a->top_k + 1 > MOE1_MAX)
		return false;
	if (a->shared_gate != NULL && a->shared_gate->rows > 0) {
		t.gate[0] = a->shared_gate;
		t.up[0] = a->shared_up;
		t.down[0] = a->shared_down;
		t.weight[0] = 1;
		t.shared = 1;
		t.n_mat = 1;
	}
	/* the chosen experts in id order, as the general path visits them */
	int ids[MOE1_MAX];
	float wts[MOE1_MAX];
	int k = 0;
	for (int j = 0; j < a->top_k; j++) {
		int e = a->ids[j];
		if (e < 0 || e >= a->n_routed)
			continue;
		int i = k++;
		while (i > 0 && ids[i - 1] > e) {
			ids[i] = ids[i - 1];
			wts[i] = wts[i - 1];
			i--;
		}
		ids[i] = e;
		wts[i] = a->weights[j];
	}
	for (int i = 0; i < k; i++) {
		if (i > 0 && ids[i] == ids[i - 1])
			return false;    /* an expert chosen twice: the general path sums both weights' rows */
		t.gate[t.n_mat] = &a->gate[ids[i]];
		t.up[t.n_mat] = &a->up[ids[i]];
		t.down[t.n_mat] = &a->down[ids[i]];
		t.weight[t.n_mat] = wts[i];
		t.n_mat++;
	}
	long total = 0;
	t.blk0[0] = 0;
	for (int m = 0; m < t.n_mat; m++) {
		long rows = (long)t.gate[m]->rows;
		t.off[m] = total;
		total += rows;
		t.bs[m] = cpu_row_block(rows, c->nth);
		t.blk0[m + 1] = t.blk0[m] + (int)((rows + t.bs[m] - 1) / t.bs[m]);
		if (t.down[m]->rows != (int64_t)a->hidden)
			return false;
	}
	if (total > (long)c->max_batch * c->ffn_width || t.n_mat == 0)
		return false;
	t.down_bs = cpu_row_block(a->hidden, c->nth);
	/* x rounded once for all gate and up rows where the kernels pack (the int8 set), not once per
	 * row block; likewise each down projection's input */
	bool one_type = true;
	for (int m = 0; m < t.n_mat; m++)
		one_type &= t.gate[m]->dtype == t.gate[0]->dtype && t.up[m]->dtype == t.gate[0]->dtype;
	t.xp = one_type ? cpu_pack(c, t.gate[0], a->x, (long)t.gate[0]->cols, 1) : NULL;
	cpu_pool_run(c->pool, moe1_gate_run, &t, t.blk0[t.n_mat]);
	const float *down_x[MOE1_MAX];
	for (int m = 0; m < t.n_mat; m++)
		down_x[m] = c->ffn_gate + t.off[m];
	cpu_pack_each(c, t.down, down_x, t.n_mat, t.down_xp);
	cpu_pool_run(c->pool, moe1_down_run, &t, (int)((a->hidden + t.down_bs - 1) / t.down_bs));
	return true;
}

/* Tokens are grouped by expert, so each expert's weights are read once per batch (and only the
 * chosen experts are read at all); experts are visited in id order, the same for any batch size. */
void cpu_moe(void *ctx, float *y, const struct ds_moe_args *a)
{
	struct cpu_ctx *c = ctx;
	size_t hd = (size_t)a->hidden;
	if (moe_one_token(c, y, a))
		return;
	if (a->shared_gate != NULL && a->shared_gate->rows > 0) {
		ds_prof_begin(DS_PROF_SHARED);
		cpu_swiglu(c, y, a->shared_gate, a->shared_up, a->shared_down, a->x, a->n);
		ds_prof_end(DS_PROF_SHARED);
	} else
		memset(y, 0, (size_t)a->n * hd * sizeof *y);
	memset(c->moe_acc, 0, (size_t)a->n * hd * sizeof *y);
	for (int e = 0; e < a->n_routed; e++) {
		int m = 0;
		for (int i = 0; i < a->n; i++)
			for (int j = 0; j < a->top_k; j++)
				if (a->ids[i * a->top_k + j] == e) {
					c->moe_tok[m] = i;
					c->moe_w[m] = a->weights[i * a->top_k + j];
					m++;
				}
		if (m == 0)
			continue;
		const float *xs = a->x;
		if (a->n > 1) {
			for (int r = 0; r < m; r++)
				memcpy(c->moe_x + (size_t)r * hd, a->x + (size_t)c->moe_tok[r] * hd, hd * sizeof *y);
			xs = c->moe_x;
		}
		cpu_swiglu(c, c->moe_y, &a->gate[e], &a->up[e], &a->down[e], xs, m);
		for (int r = 0; r < m; r++)
			c->k->axpy(c->moe_acc + (size_t)c->moe_tok[r] * hd, c->moe_w[r],
				   c->moe_y + (size_t)r * hd, (long)hd);
	}
	c->k->axpy(y, 1.0f, c->moe_acc, (long)((size_t)a->n * hd));
}

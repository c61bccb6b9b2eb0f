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
	long off[MOE1_MAX + 1];             /* where each one's rows start among all the gate rows (and
					       its intermediate in c->ffn_gate/ffn_up) */
	long gate_bs, down_bs;              /* rows per block of all gate rows, of all down rows */
	float *down_out;                    /* (n_mat, hidden): each down projection's output */
	long hidden;
};

/* Of rows [lo, hi) of matrices laid end to end (matrix m's from start[m], start[m + 1] the next's):
 * those of matrix m, as its own rows [*a, *b); false where it has none */
static bool moe1_part(const long *start, int m, long lo, long hi, long *a, long *b)
{
	*a = (lo > start[m] ? lo : start[m]) - start[m];
	*b = (hi < start[m + 1] ? hi : start[m + 1]) - start[m];
	return *a < *b;
}

/* Task 1: block b of all the gate and up rows laid end to end (so a thread's block is one or two
 * long streams per matrix, not a new one every few rows of each), then silu(g) * u of those rows. */
static void moe1_gate_run(void *arg, int blk, int ith)
{
	struct moe1_task *t = arg;
	struct cpu_ctx *c = t->c;
	long lo, hi;
	cpu_block(t->off[t->n_mat], t->gate_bs, blk, &lo, &hi);
	for (int m = 0; m < t->n_mat; m++) {
		long a, b, w = (long)t->gate[m]->rows;
		if (!moe1_part(t->off, m, lo, hi, &a, &b))
			continue;
		float *g = c->ffn_gate + t->off[m], *u = c->ffn_up + t->off[m];
		if (t->xp != NULL) {
			c->k->rows_packed(t->gate[m], a, b, t->xp, 1, g, w);
			c->k->rows_packed(t->up[m], a, b, t->xp, 1, u, w);
		} else {
			c->k->rows(t->gate[m], a, b, t->x, 1, (long)t->gate[m]->cols, g, w);
			c->k->rows(t->up[m], a, b, t->x, 1, (long)t->up[m]->cols, u, w);
		}
		for (long r = a; r < b; r++)
			g[r] = g[r] / (1.0f + expf(-g[r])) * u[r];
	}
}

/* Task 2: block b of all the down projections' rows laid end to end (hidden each), into each one's
 * own output row. */
static void moe1_down_run(void *arg, int blk, int ith)
{
	struct moe1_task *t = arg;
	struct cpu_ctx *c = t->c;
	long start[MOE1_MAX + 1], lo, hi;
	for (int m = 0; m <= t->n_mat; m++)
		start[m] = m * t->hidden;
	cpu_block(start[t->n_mat], t->down_bs, blk, &lo, &hi);
	for (int m = 0; m < t->n_mat; m++) {
		long a, b;
		float *yo = t->down_out + m * t->hidden;
		if (!moe1_part(start, m, lo, hi, &a, &b))
			continue;
		if (t->down_xp[m] != NULL)
			c->k->rows_packed(t->down[m], a, b, t->down_xp[m], 1, yo, t->hidden);
		else
			c->k->rows(t->down[m], a, b, c->ffn_gate + t->off[m], 1, (long)t->down[m]->cols, yo,
				   t->hidden);
	}
}

/* One token (decode): every matrix's gate/up rows in one task and every down projection's in a
 * second, instead of two tasks per expert: threads wait at 2 barriers per layer instead of 14, and
 * a thread that finishes the shared experts' rows goes on to the routed ones'. Returns false
 * (nothing done) where it does not apply. The sums are formed as in the general path (each row's
 * product as the kernels form it in any block, routed outputs weighted into an accumulator in id
 * order, then added to the shared). */
static bool moe_one_token(struct cpu_ctx *c, float *y, const struct ds_moe_args *a)
{
	struct moe1_task t = { .c = c, .x = a->x, .hidden = a->hidden };
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
	t.off[0] = 0;
	for (int m = 0; m < t.n_mat; m++) {
		t.off[m + 1] = t.off[m] + (long)t.gate[m]->rows;
		if (t.down[m]->rows != (int64_t)a->hidden)
			return false;
	}
	/* the intermediates in ffn_gate/ffn_up; the down outputs in ffn_up once the gate task is done */
	long room = (long)c->max_batch * c->ffn_width;
	if (t.off[t.n_mat] > room || (long)t.n_mat * a->hidden > room || t.n_mat == 0)
		return false;
	t.gate_bs = cpu_row_block(t.off[t.n_mat], c->nth);
	t.down_bs = cpu_row_block((long)t.n_mat * a->hidden, c->nth);
	/* x rounded once for all gate and up rows where the kernels pack (the int8 set), not once per
	 * row block; likewise each down projection's input */
	bool one_type = true;
	for (int m = 0; m < t.n_mat; m++)
		one_type &= t.gate[m]->dtype == t.gate[0]->dtype && t.up[m]->dtype == t.gate[0]->dtype;
	t.xp = one_type ? cpu_pack(c, t.gate[0], a->x, (long)t.gate[0]->cols, 1) : NULL;
	cpu_pool_run(c->pool, moe1_gate_run, &t, (int)((t.off[t.n_mat] + t.gate_bs - 1) / t.gate_bs));
	const float *down_x[MOE1_MAX];
	for (int m = 0; m < t.n_mat; m++)
		down_x[m] = c->ffn_gate + t.off[m];
	cpu_pack_each(c, t.down, down_x, t.n_mat, t.down_xp);
	t.down_out = c->ffn_up;
	cpu_pool_run(c->pool, moe1_down_run, &t, (int)(((long)t.n_mat * a->hidden + t.down_bs - 1) / t.down_bs));
	/* routed outputs weighted into an accumulator from 0 in id order, then the shared output plus it */
	float *acc = c->moe_acc;
	memset(acc, 0, (size_t)a->hidden * sizeof *acc);
	for (int m = t.shared; m < t.n_mat; m++)
		c->k->axpy(acc, t.weight[m], t.down_out + (long)m * a->hidden, a->hidden);
	if (t.shared)
		memcpy(y, t.down_out, (size_t)a->hidden * sizeof *y);
	else
		memset(y, 0, (size_t)a->hidden * sizeof *y);
	c->k->axpy(y, 1.0f, acc, a->hidden);
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

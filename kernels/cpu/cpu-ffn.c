/* cpu-ffn.c: the feed-forward blocks on the CPU: SwiGLU (dense, shared experts, one routed expert)
 * and the routed mixture, with tokens grouped by expert. */
#include "build-config.h"

#include <math.h>
#include <string.h>

#include "cpu-backend.h"
#include "op-profile.h"

struct swiglu_task {
	struct cpu_ctx *c;
	const struct ds_tensor *gate, *up;
	const float *x;
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
	c->k->rows(t->gate, lo, hi, t->x, t->n, (long)t->gate->cols, c->ffn_gate, w);
	c->k->rows(t->up, lo, hi, t->x, t->n, (long)t->up->cols, c->ffn_up, w);
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
				 .bs = cpu_row_block((long)gate->rows) };
	int nb = (int)(((long)gate->rows + t.bs - 1) / t.bs);
	if ((long)gate->rows * gate->cols * n < 16384)
		for (int b = 0; b < nb; b++)
			swiglu_run(&t, b, 0);
	else
		cpu_pool_run(c->pool, swiglu_run, &t, nb);
	cpu_matmul_ld(c, y, (long)down->rows, down, c->ffn_gate, (long)gate->rows, n);
}

/* Tokens are grouped by expert, so each expert's weights are read once per batch (and only the
 * chosen experts are read at all); experts are visited in id order, the same for any batch size. */
void cpu_moe(void *ctx, float *y, const struct ds_moe_args *a)
{
	struct cpu_ctx *c = ctx;
	size_t hd = (size_t)a->hidden;
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

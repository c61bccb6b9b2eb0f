/* cpu-ffn.c: the feed-forward blocks on the CPU: SwiGLU (dense, shared experts, one routed expert)
 * and the routed mixture, with tokens grouped by expert. */
#include "build-config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-backend.h"
#include "cpu-scratch.h"
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
	for (int i = 0; i < t->n; i++)
		c->k->silu_mul(c->ffn_gate + (long)i * w + lo, c->ffn_up + (long)i * w + lo, hi - lo);
}

/* The SwiGLU of m tokens x (hd apart) by all rows, on this thread alone: g and u (m x w) the gate
 * and up outputs, then silu(g) * u in g, y (m x down rows) the output. packed_gu / packed_down:
 * whether the products pack their activations for rows_packed (decided on all the tokens of the
 * product, as cpu_pack would), else rows(). */
static void swiglu_alone(const struct cpu_kernels *k, const struct ds_tensor *gate, const struct ds_tensor *up,
			 const struct ds_tensor *down, const float *x, int m, float *g, float *u, float *y,
			 bool packed_gu, bool packed_down)
{
	const long hd = (long)gate->cols, w = (long)gate->rows, od = (long)down->rows;
	if (packed_gu) {
		float *xp = cpu_scratch(CPU_SCRATCH_FFN_PACK, k->pack_floats(gate->dtype, m, hd) * sizeof *xp);
		k->pack(gate->dtype, x, m, hd, hd, xp);
		k->rows_packed(gate, 0, w, xp, m, g, w);
		k->rows_packed(up, 0, w, xp, m, u, w);
	} else {
		k->rows(gate, 0, w, x, m, hd, g, w);
		k->rows(up, 0, w, x, m, hd, u, w);
	}
	k->silu_mul(g, u, (long)m * w);
	if (packed_down) {
		float *gp = cpu_scratch(CPU_SCRATCH_FFN_PACK, k->pack_floats(down->dtype, m, w) * sizeof *gp);
		k->pack(down->dtype, g, m, w, w, gp);
		k->rows_packed(down, 0, od, gp, m, y, od);
	} else {
		k->rows(down, 0, od, g, m, w, y, od);
	}
}

/* A prompt's SwiGLU split by tokens (cpu_split_tokens): each block of tokens through gate, up, silu
 * and down on one thread, all in one pool task, the intermediates in its rows of ffn_gate and
 * ffn_up; packed (or not) as the row split would pack all the tokens. */
struct swiglu_split_task {
	struct cpu_ctx *c;
	float *y;
	const struct ds_tensor *gate, *up, *down;
	const float *x;
	int n, n_blocks;
	bool packed_gu, packed_down;
};

static void swiglu_split_run(void *arg, int b, int ith)
{
	struct swiglu_split_task *t = arg;
	const long t0 = cpu_split_token(t->n, t->n_blocks, b), w = (long)t->gate->rows;
	const int m = (int)(cpu_split_token(t->n, t->n_blocks, b + 1) - t0);
	swiglu_alone(t->c->k, t->gate, t->up, t->down, t->x + t0 * (long)t->gate->cols, m, t->c->ffn_gate + t0 * w,
		     t->c->ffn_up + t0 * w, t->y + t0 * (long)t->down->rows, t->packed_gu, t->packed_down);
}

void cpu_swiglu(void *ctx, float *y, const struct ds_tensor *gate, const struct ds_tensor *up,
		       const struct ds_tensor *down, const float *x, int n)
{
	struct cpu_ctx *c = ctx;
	struct swiglu_split_task st = { .c = c, .y = y, .gate = gate, .up = up, .down = down, .x = x, .n = n };
	if ((st.n_blocks = cpu_split_tokens(c, gate, n, &st.packed_gu)) > 0 &&
	    cpu_split_tokens(c, down, n, &st.packed_down) == st.n_blocks) {
		/* gate and up share one packing where they have one type, as below */
		st.packed_gu = st.packed_gu && gate->dtype == up->dtype;
		cpu_pool_run(c->pool, swiglu_split_run, &st, st.n_blocks);
		return;
	}
	struct swiglu_task t = { .c = c, .gate = gate, .up = up, .x = x, .n = n,
				 .bs = cpu_row_block((long)gate->rows, ds_row_bytes(gate->dtype, gate->cols), n,
						     c->nth) };
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

/* ---- a few tokens (decode of one or a batch of sequences): every SwiGLU in two pool tasks ---- */

/* Tokens up to which a step takes this path; more (prefill) go an expert at a time, each expert with
 * many tokens, where a task per expert costs nothing. */
#define MOEF_MAX_TOKENS 16

/* One token's whole-matrix form (moef_whole_run): the chunks of a matrix's gate and up rows and of
 * its down rows, claimed in order by whichever thread works on it, and whether its intermediate is
 * ready for down (packed where the set packs). A line each: two threads may claim from one. */
struct moef_claim {
	_Alignas(64) atomic_int gu_next;
	atomic_int gu_done, dn_next, ready;
};

struct moef_task {
	struct cpu_ctx *c;
	struct moef_mat *m;
	int n_mat;
	long gate_rows, gate_bs, hidden, down_bs;
	struct moef_claim *claim;   /* (n_mat) the whole-matrix form's */
	long gu_chunk, dn_chunk;    /* rows of its chunks */
};

/* Of rows [lo, hi) of matrices laid end to end, those of the one whose rows are [start, start +
 * rows), as its own rows [*a, *b); false where it has none */
static bool moef_part(long start, long rows, long lo, long hi, long *a, long *b)
{
	*a = (lo > start ? lo : start) - start;
	*b = (hi < start + rows ? hi : start + rows) - start;
	return *a < *b;
}

/* The (token, weight) entries of expert e in token order, then choice order, into tok and wt:
 * their count. A token that chose e twice has two entries; an id of -1 (another rank's) none. */
static int moe_entries(const struct ds_moe_args *a, int e, int *tok, float *wt)
{
	int m = 0;
	for (int i = 0; i < a->n; i++)
		for (int j = 0; j < a->top_k; j++)
			if (a->ids[i * a->top_k + j] == e) {
				tok[m] = i;
				wt[m] = a->weights[i * a->top_k + j];
				m++;
			}
	return m;
}

/* Bytes of gate rows, then as many of up, at a time in moef_gate_rows where the kernels take packed
 * activations (the int8 set): the two matrices' streams stay prefetched side by side instead of
 * one stopping while the other runs a whole chunk. In-process A/B per token, 2 threads, against a
 * chunk of gate then a chunk of up: bench Q4_K_M (32 rows a piece) 0.927-1.038 of the token's time,
 * median 0.960 (7 runs), lite4 Q4_K_M (16 rows) 0.954-0.970 (3 runs); pieces of 9 KB on the
 * bench model and of 36 KB on lite4 were no faster. */
#define MOEF_PIECE_BYTES (18L * 1024)

/* Rows of w in about bytes of weights (each row read mats times: gate and up are 2), a multiple of 4
 * (rows4 groups), at least least */
static long moef_rows(const struct ds_tensor *w, long bytes, int mats, long least)
{
	long rows = bytes / ((long)ds_row_bytes(w->dtype, w->cols) * mats) / 4 * 4;
	return rows < least ? least : rows;
}

/* Gate and up rows [a, b) of matrix m, then silu(g) * u of those rows for each of its tokens */
static void moef_gate_rows(const struct cpu_ctx *c, const struct moef_mat *m, long a, long b, long hidden)
{
	const long w = (long)m->gate->rows;
	if (m->xp != NULL) {
		const long piece = moef_rows(m->gate, MOEF_PIECE_BYTES, 1, 4);
		for (long lo = a; lo < b; lo += piece) {
			long hi = lo + piece < b ? lo + piece : b;
			c->k->rows_packed(m->gate, lo, hi, m->xp, m->n, m->g, w);
			c->k->rows_packed(m->up, lo, hi, m->xp, m->n, m->u, w);
		}
	} else {
		c->k->rows(m->gate, a, b, m->x, m->n, hidden, m->g, w);
		c->k->rows(m->up, a, b, m->x, m->n, hidden, m->u, w);
	}
	for (int j = 0; j < m->n; j++)
		c->k->silu_mul(m->g + (long)j * w + a, m->u + (long)j * w + a, b - a);
}

/* Down rows [a, b) of matrix m (of its hidden), from its intermediate packed in dxp (or as it is
 * where dxp is NULL) */
static void moef_down_rows(const struct cpu_ctx *c, const struct moef_mat *m, const float *dxp, long a, long b,
			   long hidden)
{
	if (dxp != NULL)
		c->k->rows_packed(m->down, a, b, dxp, m->n, m->out, hidden);
	else
		c->k->rows(m->down, a, b, m->g, m->n, (long)m->gate->rows, m->out, hidden);
}

/* Task 1: block b of all the gate and up rows laid end to end (so a thread's block is one or two
 * long streams per matrix, not a new one every few rows of each), with their silu(g) * u. */
static void moef_gate_run(void *arg, int blk, int ith)
{
	struct moef_task *t = arg;
	long lo, hi;
	cpu_block(t->gate_rows, t->gate_bs, blk, &lo, &hi);
	for (int i = 0; i < t->n_mat; i++) {
		long a, b;
		if (moef_part(t->m[i].row0, (long)t->m[i].gate->rows, lo, hi, &a, &b))
			moef_gate_rows(t->c, &t->m[i], a, b, t->hidden);
	}
}

/* Task 2: block b of all the down projections' rows laid end to end (hidden each), into each one's
 * own output. */
static void moef_down_run(void *arg, int blk, int ith)
{
	struct moef_task *t = arg;
	long lo, hi;
	cpu_block((long)t->n_mat * t->hidden, t->down_bs, blk, &lo, &hi);
	for (int i = 0; i < t->n_mat; i++) {
		long a, b;
		if (moef_part((long)i * t->hidden, t->hidden, lo, hi, &a, &b))
			moef_down_rows(t->c, &t->m[i], t->m[i].down_xp, a, b, t->hidden);
	}
}

/* ---- one token: a matrix per thread ----
 *
 * Split by rows, one token's step waits at two barriers, and between them the caller alone packs
 * every matrix's intermediate for down; each thread's block is two streams (gate, up) restarted at
 * every block and matrix. Where the matrices share out evenly among the threads by the pool's split
 * (DeepSeek-V2's one token: the shared experts, the size of two routed ones, and 6 routed ones make 8
 * equal parts, 4 for each of 2 threads, 2 for each of 4), a thread takes a whole matrix: its gate,
 * up, silu, packing and down, one task and no barrier between. The same products, packed the same,
 * so the sums are those of the row split bit for bit. One layer's experts of the bench model
 * (Q4_K_M, int8 set, 2 threads, random routing), the two forms alternating call by call in one
 * process: 439-451 against 462-482 us a call (4 runs of 2,100 calls each); the 13 MB of 16 of its
 * routed experts' gate rows, one product, read at 56-60 GB/s in the same minutes. In the whole
 * decode the gain is within the machine's noise (dscoder-engine --bench --profile with
 * DSCODER_MOE_WHOLE=0 and 1, alternating: the experts' share of the measured bandwidth 66-71%
 * against 60-74%). A matrix's rows go in chunks of about cpu_moef_chunk_bytes, in order, so that a
 * thread done with its share takes chunks of the matrices still being worked on (moef_whole_run). */
#define MOEF_WHOLE_SLACK 1.05   /* a thread's share of the bytes at most this over an even share */

/* Whether the one-token form may be taken: DSCODER_MOE_WHOLE=0 keeps the row split (the same sums;
 * for comparisons), read once (pool threads never ask: the caller decides) */
static pthread_once_t moef_whole_once = PTHREAD_ONCE_INIT;
static bool moef_whole_allowed;

static void moef_whole_init(void)
{
	const char *e = getenv("DSCODER_MOE_WHOLE");
	moef_whole_allowed = !(e != NULL && strcmp(e, "0") == 0);
}

#define MOEF_WAIT_SPIN 20000   /* pauses (a chunk takes a few microseconds) */

static inline void moef_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The chunks of matrix i left to claim, claimed one at a time: its gate and up rows; the thread that
 * ends the last of those packs the intermediate; then its down rows, once that is ready. A thread
 * that finds the gate and up chunks all claimed but not all done waits for them (one chunk at most,
 * being run by the thread that claimed it). */
static void moef_whole_work(struct moef_task *t, int i)
{
	struct moef_mat *m = &t->m[i];
	struct moef_claim *cl = &t->claim[i];
	const long w = (long)m->gate->rows, n_gu = (w + t->gu_chunk - 1) / t->gu_chunk;
	const long n_dn = (t->hidden + t->dn_chunk - 1) / t->dn_chunk;
	long ch;
	while ((ch = atomic_fetch_add(&cl->gu_next, 1)) < n_gu) {
		long lo = ch * t->gu_chunk, hi = lo + t->gu_chunk < w ? lo + t->gu_chunk : w;
		moef_gate_rows(t->c, m, lo, hi, t->hidden);
		if (atomic_fetch_add(&cl->gu_done, 1) + 1 == n_gu) {
			if (m->down_pack != NULL)
				t->c->k->pack(m->down->dtype, m->g, m->n, w, w, m->down_pack);
			atomic_store(&cl->ready, 1);
		}
	}
	if (atomic_load(&cl->dn_next) >= n_dn)
		return;
	/* spinning, then yielding: on a busy machine the thread that runs the last chunk may be off
	 * its core */
	for (int spin = 0; !atomic_load(&cl->ready); spin++)
		if (spin < MOEF_WAIT_SPIN)
			moef_relax();
		else
			sched_yield();
	while ((ch = atomic_fetch_add(&cl->dn_next, 1)) < n_dn) {
		long lo = ch * t->dn_chunk, hi = lo + t->dn_chunk < t->hidden ? lo + t->dn_chunk : t->hidden;
		moef_down_rows(t->c, m, m->down_pack, lo, hi, t->hidden);
	}
}

/* Matrix i, whole, then (once every matrix has a thread) the chunks left of those still being
 * worked on. The pool hands out whole matrices, and the thread whose last one ended first waited
 * for the other's (23 us of the 435 of a bench Q4_K_M layer's experts on 2 threads, 5%); now it
 * takes the rest of that matrix's chunks with it. The same rows by the same kernels, so the same
 * sums. In-process A/B per token (the two forms on alternate tokens), 2 threads, the token's time
 * with chunks against whole: bench Q4_K_M 0.913-0.983 (5 runs), Q8_0 0.932-0.938, BF16 (exact set)
 * 0.923-0.991, lite4 Q4_K_M 0.931-0.979, lite4 BF16 0.959; chunks of 32-512 KB alike. */
static void moef_whole_run(void *arg, int i, int ith)
{
	struct moef_task *t = arg;
	(void)ith;
	moef_whole_work(t, i);
	for (int j = 0; j < t->n_mat; j++)
		if (atomic_load(&t->claim[j].gu_next) == 0)
			return;    /* a matrix no thread has begun: the pool gives it out */
	for (int j = 0; j < t->n_mat; j++)
		moef_whole_work(t, j);
}

long cpu_moef_chunk_bytes = 128L * 1024;

/* Whether the pool's split of the n_mat matrices (in order) among nth threads gives each thread at
 * most MOEF_WHOLE_SLACK times an even share of their weight bytes */
static bool moef_whole_even(const struct moef_mat *m, int n_mat, int nth)
{
	double bytes[n_mat], total = 0;
	if (n_mat < nth)
		return false;
	for (int i = 0; i < n_mat; i++) {
		bytes[i] = (double)ds_row_bytes(m[i].gate->dtype, m[i].gate->cols) * (double)(2 * m[i].gate->rows) +
			   (double)ds_row_bytes(m[i].down->dtype, m[i].down->cols) * (double)m[i].down->rows;
		total += bytes[i];
	}
	for (int th = 0; th < nth; th++) {
		double share = 0;
		for (int i = cpu_pool_share(n_mat, nth, th); i < cpu_pool_share(n_mat, nth, th + 1); i++)
			share += bytes[i];
		if (share > MOEF_WHOLE_SLACK * total / nth)
			return false;
	}
	return true;
}

/* A few tokens (decode; a batch of sequences): the shared experts and every routed expert chosen in
 * the step, each with the tokens that chose it, as one task over all their gate/up rows and one over
 * all their down rows, instead of two tasks per expert: threads wait at 2 barriers per layer instead
 * of 2 per expert (8 sequences touch about 26 of 32 experts a layer: 54), and a thread that finishes
 * one expert's rows goes on to the next one's. Returns false (nothing done) where it does not
 * apply. The sums are those of the general path below, bit for bit: each row's product as the
 * kernels form it in any block for the same tokens, the routed outputs weighted into an accumulator
 * from 0 in expert order and then token-entry order, the shared output plus it. */
static bool moe_few_tokens(struct cpu_ctx *c, float *y, const struct ds_moe_args *a)
{
	const long hd = a->hidden;
	if (a->n < 1 || a->n > MOEF_MAX_TOKENS || a->ids == NULL || a->top_k < 1 || a->n_routed > c->n_routed)
		return false;
	struct moef_mat *mat = c->moef_mats;
	int n_mat = 0, n_ent = 0;
	if (a->shared_gate != NULL && a->shared_gate->rows > 0) {
		mat[0] = (struct moef_mat){ .gate = a->shared_gate, .up = a->shared_up, .down = a->shared_down,
					    .n = a->n, .x = a->x };
		n_mat = 1;
	}
	const int shared = n_mat;
	/* (token, weight) entries per expert, in the general path's order */
	int tok[a->n * a->top_k];
	float wt[a->n * a->top_k];
	for (int e = 0; e < a->n_routed; e++) {
		int first = n_ent;
		n_ent += moe_entries(a, e, tok + n_ent, wt + n_ent);
		if (n_ent == first)
			continue;
		mat[n_mat++] = (struct moef_mat){ .gate = &a->gate[e], .up = &a->up[e], .down = &a->down[e],
						  .n = n_ent - first, .ent = first };
	}
	if (n_mat == 0) {
		memset(y, 0, (size_t)a->n * (size_t)hd * sizeof *y);
		return true;
	}
	/* one buffer: the routed tokens' gathered inputs, then each matrix's intermediates and output,
	 * each part 64 bytes apart */
	size_t need = (size_t)n_ent * (size_t)hd + 16, gate_rows = 0;
	for (int i = 0; i < n_mat; i++) {
		if (mat[i].down->rows != (int64_t)hd || mat[i].gate->cols != (int64_t)hd)
			return false;
		mat[i].row0 = (long)gate_rows;
		gate_rows += (size_t)mat[i].gate->rows;
		need += 2 * (((size_t)mat[i].n * (size_t)mat[i].gate->rows + 15) & ~(size_t)15);
		need += ((size_t)mat[i].n * (size_t)hd + 15) & ~(size_t)15;
	}
	/* one token, matrices that share out evenly: a matrix per thread, each packing its own
	 * intermediate for down where the set packs (the room cpu_pack_each would give it) */
	pthread_once(&moef_whole_once, moef_whole_init);
	const bool whole = a->n == 1 && moef_whole_allowed && moef_whole_even(mat, n_mat, c->nth);
	size_t down_pack[n_mat];
	for (int i = 0; i < n_mat; i++) {
		down_pack[i] = whole ? cpu_pack_room(c, mat[i].down, mat[i].n) : 0;
		need += down_pack[i];
	}
	float *p = cpu_grow(&c->moef_buf, &c->moef_cap, need);
	float *xg = p;
	p += ((size_t)n_ent * (size_t)hd + 15) & ~(size_t)15;
	for (int i = 0; i < n_mat; i++) {
		struct moef_mat *m = &mat[i];
		size_t gi = ((size_t)m->n * (size_t)m->gate->rows + 15) & ~(size_t)15;
		m->g = p;
		m->u = p + gi;
		m->out = p + 2 * gi;
		p += 2 * gi + (((size_t)m->n * (size_t)hd + 15) & ~(size_t)15);
		m->down_pack = down_pack[i] > 0 ? p : NULL;
		p += down_pack[i];
		if (i < shared)
			continue;
		if (m->n == 1) {   /* its one token's row as it is (an expert chosen twice by one
				      token has that row twice: gathered) */
			m->x = a->x + (size_t)tok[m->ent] * (size_t)hd;
		} else {
			float *xm = xg + (size_t)m->ent * (size_t)hd;
			for (int r = 0; r < m->n; r++)
				memcpy(xm + (size_t)r * (size_t)hd, a->x + (size_t)tok[m->ent + r] * (size_t)hd,
				       (size_t)hd * sizeof *xm);
			m->x = xm;
		}
	}
	struct moef_task t = { .c = c, .m = mat, .n_mat = n_mat, .gate_rows = (long)gate_rows, .hidden = hd };
	/* (the last matrix's row bytes stand for all: one type per tensor of experts) */
	t.gate_bs = cpu_row_block(t.gate_rows, ds_row_bytes(mat[n_mat - 1].gate->dtype, hd), a->n, c->nth);
	t.down_bs = cpu_row_block((long)n_mat * hd, ds_row_bytes(mat[n_mat - 1].down->dtype,
								mat[n_mat - 1].down->cols), a->n, c->nth);

	/* each matrix's input rounded once where the kernels pack (the int8 set) for all its gate and up
	 * rows, not once per row block; gate and up share it where they have one type */
	const struct ds_tensor *pw[n_mat];
	const float *px[n_mat], *pp[n_mat];
	int pn[n_mat];
	for (int i = 0; i < n_mat; i++) {
		pw[i] = mat[i].gate;
		px[i] = mat[i].x;
		pn[i] = mat[i].gate->dtype == mat[i].up->dtype ? mat[i].n : 0;
	}
	cpu_pack_each(c, pw, px, pn, n_mat, pp);
	for (int i = 0; i < n_mat; i++)
		mat[i].xp = pp[i];
	if (whole) {
		struct moef_claim claim[n_mat];
		for (int i = 0; i < n_mat; i++) {
			atomic_init(&claim[i].gu_next, 0);
			atomic_init(&claim[i].gu_done, 0);
			atomic_init(&claim[i].dn_next, 0);
			atomic_init(&claim[i].ready, 0);
		}
		t.claim = claim;
		/* chunks of about cpu_moef_chunk_bytes of gate and up together, or of down */
		t.gu_chunk = moef_rows(mat[n_mat - 1].gate, cpu_moef_chunk_bytes, 2, 16);
		t.dn_chunk = moef_rows(mat[n_mat - 1].down, cpu_moef_chunk_bytes, 1, 16);
		cpu_pool_run(c->pool, moef_whole_run, &t, n_mat);
	} else {
		cpu_pool_run(c->pool, moef_gate_run, &t, (int)((t.gate_rows + t.gate_bs - 1) / t.gate_bs));
		for (int i = 0; i < n_mat; i++) {
			pw[i] = mat[i].down;
			px[i] = mat[i].g;
			pn[i] = mat[i].n;
		}
		cpu_pack_each(c, pw, px, pn, n_mat, pp);
		for (int i = 0; i < n_mat; i++)
			mat[i].down_xp = pp[i];
		cpu_pool_run(c->pool, moef_down_run, &t, (int)(((long)n_mat * hd + t.down_bs - 1) / t.down_bs));
	}

	/* routed outputs weighted into an accumulator from 0 in expert order, then the shared plus it */
	float *acc = c->moe_acc;
	memset(acc, 0, (size_t)a->n * (size_t)hd * sizeof *acc);
	for (int i = shared; i < n_mat; i++)
		for (int r = 0; r < mat[i].n; r++)
			c->k->axpy(acc + (size_t)tok[mat[i].ent + r] * (size_t)hd, wt[mat[i].ent + r],
				   mat[i].out + (size_t)r * (size_t)hd, hd);
	if (shared)
		memcpy(y, mat[0].out, (size_t)a->n * (size_t)hd * sizeof *y);
	else
		memset(y, 0, (size_t)a->n * (size_t)hd * sizeof *y);
	c->k->axpy(y, 1.0f, acc, (long)a->n * hd);
	return true;
}

/* ---- a prompt's routed experts: an expert per thread ----
 *
 * Split by rows, each expert of a prompt chunk costs the threads two barriers and two packings of its
 * activations on the caller alone, which the other threads wait for (each packing writes lines the
 * other cores read a moment ago), and its down product scaled 1.5x on 2 threads: bench model, BF16,
 * 2 threads, one 1408 x 1024 expert, 64-512 tokens: 250-300 GFLOP/s against 165-185 on one thread.
 * Here each thread takes whole experts, gathers, packs and multiplies them on its own (the same
 * kernels on all rows, so the same sums as the row split, bit for bit), and the outputs wait in one
 * buffer to be weighted and added in expert order as before. The experts are dealt out
 * longest-first to the thread shares of cpu_pool_run, so that the shares cost about the same and
 * a thread that finishes early takes small experts from the back of another's. */

struct moep_task {
	struct cpu_ctx *c;
	const struct ds_moe_args *a;
	const int *order;     /* block -> expert */
	const int *first;     /* expert -> its first entry in tok / out */
	const int *count;     /* expert -> its entries */
	const int *tok;       /* entry -> token */
	float *out;           /* entry -> its expert's output row (hidden) */
};

static void moep_expert_run(void *arg, int b, int ith)
{
	struct moep_task *t = arg;
	const struct cpu_kernels *k = t->c->k;
	const struct ds_moe_args *a = t->a;
	const int e = t->order[b], m = t->count[e];
	const struct ds_tensor *gate = &a->gate[e], *up = &a->up[e], *down = &a->down[e];
	const long hd = a->hidden, w = (long)gate->rows;
	float *x = cpu_scratch(CPU_SCRATCH_MOE_X, (size_t)m * (size_t)hd * sizeof *x);
	for (int r = 0; r < m; r++)
		memcpy(x + (long)r * hd, a->x + (long)t->tok[t->first[e] + r] * hd, (size_t)hd * sizeof *x);
	const size_t gsz = ((size_t)m * (size_t)w + 15) & ~(size_t)15;
	float *g = cpu_scratch(CPU_SCRATCH_MOE_GU, 2 * gsz * sizeof *g), *u = g + gsz;
	/* gate and up share one packing where they have one type (as cpu_swiglu) */
	const bool packed_gu = k->pack != NULL && gate->dtype == up->dtype && m >= k->packed_from(gate->dtype);
	const bool packed_down = k->pack != NULL && m >= k->packed_from(down->dtype);
	swiglu_alone(k, gate, up, down, x, m, g, u, t->out + (long)t->first[e] * hd, packed_gu, packed_down);
}

/* The routed experts of a prompt chunk an expert per thread (above), into c->moe_acc. False (nothing
 * done) on one thread, or where one expert alone would outlast a fair share: there the row split
 * keeps every thread busy. */
static bool moe_by_expert(struct cpu_ctx *c, const struct ds_moe_args *a)
{
	const int ne = a->n_routed, nth = c->nth;
	if (nth < 2 || ne < 2 * nth || a->ids == NULL)
		return false;
	int count[ne], first[ne + 1], order[ne], tok[a->n * a->top_k];
	float wt[a->n * a->top_k];
	long cost[ne], total = 0, largest = 0;
	int n_ent = 0, n_exp = 0;
	for (int e = 0; e < ne; e++) {
		first[e] = n_ent;
		count[e] = moe_entries(a, e, tok + n_ent, wt + n_ent);
		n_ent += count[e];
		if (count[e] > 0 && (a->down[e].rows != (int64_t)a->hidden || a->gate[e].cols != (int64_t)a->hidden))
			return false;
		/* a few tokens cost what reading the weights does, as about 8 tokens' products */
		cost[e] = count[e] > 0 ? count[e] + 8 : 0;
		total += cost[e];
		largest = cost[e] > largest ? cost[e] : largest;
		n_exp += count[e] > 0;
	}
	first[ne] = n_ent;
	if (n_exp < 2 * nth || largest * 2 * nth > total)
		return false;
	/* longest first, each to the least loaded share that has room; each share in that order too */
	int by_cost[n_exp], slot[nth], room[nth];
	long load[nth];
	for (int e = 0, i = 0; e < ne; e++)
		if (count[e] > 0)
			by_cost[i++] = e;
	for (int i = 1; i < n_exp; i++)
		for (int j = i; j > 0 && cost[by_cost[j]] > cost[by_cost[j - 1]]; j--) {
			int s = by_cost[j];
			by_cost[j] = by_cost[j - 1];
			by_cost[j - 1] = s;
		}
	for (int i = 0; i < nth; i++) {
		slot[i] = cpu_pool_share(n_exp, nth, i);
		room[i] = cpu_pool_share(n_exp, nth, i + 1) - slot[i];
		load[i] = 0;
	}
	for (int i = 0; i < n_exp; i++) {
		int best = -1;
		for (int s = 0; s < nth; s++)
			if (room[s] > 0 && (best < 0 || load[s] < load[best]))
				best = s;
		order[slot[best]++] = by_cost[i];
		room[best]--;
		load[best] += cost[by_cost[i]];
	}
	float *out = cpu_grow(&c->moef_buf, &c->moef_cap, (size_t)n_ent * (size_t)a->hidden);
	struct moep_task t = { .c = c, .a = a, .order = order, .first = first, .count = count, .tok = tok,
			       .out = out };
	cpu_pool_run(c->pool, moep_expert_run, &t, n_exp);
	/* weighted into the accumulator in expert order, then token-entry order, as cpu_moe below */
	const size_t hd = (size_t)a->hidden;
	memset(c->moe_acc, 0, (size_t)a->n * hd * sizeof *c->moe_acc);
	for (int r = 0; r < n_ent; r++)
		c->k->axpy(c->moe_acc + (size_t)tok[r] * hd, wt[r], out + (size_t)r * hd, (long)hd);
	return true;
}

/* Tokens are grouped by expert, so each expert's weights are read once per batch (and only the
 * chosen experts are read at all); experts are visited in id order, the same for any batch size. */
void cpu_moe(void *ctx, float *y, const struct ds_moe_args *a)
{
	struct cpu_ctx *c = ctx;
	size_t hd = (size_t)a->hidden;
	if (moe_few_tokens(c, y, a))
		return;
	if (a->shared_gate != NULL && a->shared_gate->rows > 0) {
		ds_prof_begin(DS_PROF_SHARED);
		cpu_swiglu(c, y, a->shared_gate, a->shared_up, a->shared_down, a->x, a->n);
		ds_prof_end(DS_PROF_SHARED);
	} else
		memset(y, 0, (size_t)a->n * hd * sizeof *y);
	if (moe_by_expert(c, a)) {
		c->k->axpy(y, 1.0f, c->moe_acc, (long)((size_t)a->n * hd));
		return;
	}
	memset(c->moe_acc, 0, (size_t)a->n * hd * sizeof *y);
	for (int e = 0; e < a->n_routed; e++) {
		int m = moe_entries(a, e, c->moe_tok, c->moe_w);
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

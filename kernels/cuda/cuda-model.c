/* cuda-model.c: the --synthetic models: a configuration (the released ones come from engine/plan.c)
 * with tensors whose host addresses are reserved but never readable (PROT_NONE), so the values can
 * only come from ds_cuda_synthetic_upload, directly on the GPU: the benchmark needs neither the
 * download nor host memory for 31 GB of weights. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "cuda-int.h"
#include "xalloc.h"

/* Lays the tensors out over [base, base + size): pass base NULL to only count the bytes. quant is
 * the weight format: 0 (BF16), DS_Q8_0, or DS_Q4_K for a Q4_K_M-like mix. */
struct layout {
	char *base;
	uint64_t off;
	uint64_t params;
	int quant;
};

/* The type a quantizer gives a matrix of cols columns: Q4_K_M's Q4_K where whole 256-blocks fit,
 * else Q5_0 (as llama.cpp falls back for Coder-V2-Lite's 1408-wide experts); vectors stay F32. */
static enum ds_dtype pick(const struct layout *ly, int64_t rows, int64_t cols)
{
	if (ly->quant == 0 || rows == 1)
		return rows == 1 && ly->quant != 0 ? DS_F32 : DS_BF16;
	if (ly->quant == DS_Q8_0 || cols % 256 != 0)
		return cols % 32 == 0 ? (ly->quant == DS_Q8_0 ? DS_Q8_0 : DS_Q5_0) : DS_BF16;
	return DS_Q4_K;
}

static struct ds_tensor place_as(struct layout *ly, int64_t rows, int64_t cols, enum ds_dtype t)
{
	struct ds_tensor d = { .dtype = t, .data = ly->base ? ly->base + ly->off : NULL, .rows = rows, .cols = cols };
	ly->off += (uint64_t)rows * ds_row_bytes(t, cols);
	ly->params += (uint64_t)rows * (uint64_t)cols;
	return d;
}

static struct ds_tensor place(struct layout *ly, int64_t rows, int64_t cols)
{
	return place_as(ly, rows, cols, pick(ly, rows, cols));
}

static void lay_out(struct ds_model *m, struct layout *ly)
{
	const struct ds_config *c = &m->cfg;
	int64_t hd = c->hidden_size, nh = c->num_attention_heads, qd = c->qk_nope_head_dim + c->qk_rope_head_dim;
	int64_t kr = c->kv_lora_rank, ne = c->n_routed_experts, mi = c->moe_intermediate_size;
	int64_t sh = (int64_t)c->n_shared_experts * mi;
	m->w.embed = place(ly, c->vocab_size, hd);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		struct ds_layer *L = &m->w.layers[l];
		L->input_norm = place(ly, 1, hd);
		if (c->q_lora_rank > 0) {
			L->q_a_proj = place(ly, c->q_lora_rank, hd);
			L->q_a_norm = place(ly, 1, c->q_lora_rank);
			L->q_b_proj = place(ly, nh * qd, c->q_lora_rank);
		} else {
			L->q_proj = place(ly, nh * qd, hd);
		}
		L->kv_a_proj = place(ly, kr + c->qk_rope_head_dim, hd);
		L->kv_a_norm = place(ly, 1, kr);
		L->kv_b_proj = place(ly, nh * (c->qk_nope_head_dim + c->v_head_dim), kr);
		L->o_proj = place(ly, hd, nh * c->v_head_dim);
		L->post_norm = place(ly, 1, hd);
		if (ds_layer_is_moe(c, l)) {
			L->router = place(ly, ne, hd);
			for (int64_t e = 0; e < ne; e++)
				L->exp_gate[e] = place(ly, mi, hd);
			for (int64_t e = 0; e < ne; e++)
				L->exp_up[e] = place(ly, mi, hd);
			for (int64_t e = 0; e < ne; e++)
				L->exp_down[e] = place(ly, hd, mi);
			if (sh > 0) {
				L->shared_gate = place(ly, sh, hd);
				L->shared_up = place(ly, sh, hd);
				L->shared_down = place(ly, hd, sh);
			}
		} else {
			L->gate_proj = place(ly, c->intermediate_size, hd);
			L->up_proj = place(ly, c->intermediate_size, hd);
			L->down_proj = place(ly, hd, c->intermediate_size);
		}
	}
	m->w.norm = place(ly, 1, hd);
	/* Q4_K_M keeps the output matrix in Q6_K */
	m->w.lm_head = ly->quant == DS_Q4_K && hd % 256 == 0 ? place_as(ly, c->vocab_size, hd, DS_Q6_K)
							     : place(ly, c->vocab_size, hd);
}

int ds_cuda_synthetic_model(const struct ds_config *cfg, const char *name, struct ds_model *m, char *err,
			    size_t errlen)
{
	memset(m, 0, sizeof *m);
	m->cfg = *cfg;
	const struct ds_config *c = &m->cfg;
	m->w.layers = xcalloc((size_t)c->num_hidden_layers, sizeof *m->w.layers);
	for (int l = 0; l < c->num_hidden_layers; l++)
		if (ds_layer_is_moe(c, l)) {
			m->w.layers[l].exp_gate = xcalloc((size_t)c->n_routed_experts, sizeof(struct ds_tensor));
			m->w.layers[l].exp_up = xcalloc((size_t)c->n_routed_experts, sizeof(struct ds_tensor));
			m->w.layers[l].exp_down = xcalloc((size_t)c->n_routed_experts, sizeof(struct ds_tensor));
		}
	const char *fmt = strchr(name, '-');
	int quant = fmt == NULL ? 0 : strcmp(fmt, "-q8_0") == 0 ? DS_Q8_0 : DS_Q4_K;
	struct layout count = { .quant = quant };
	lay_out(m, &count);
	/* address space only: nothing is committed, and any host read of a weight faults at once */
	void *base = mmap(NULL, count.off, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		ds_model_free(m);
		return errorf(err, errlen, "--synthetic %s: cannot reserve %.0f GB of address space for the tensors",
			      name, count.off / 1e9);
	}
	m->maps = xcalloc(1, sizeof *m->maps);
	m->maps[0].addr = base;
	m->maps[0].size = count.off;
	m->n_maps = 1;
	struct layout real = { .base = base, .quant = quant };
	lay_out(m, &real);
	m->weight_bytes = real.off;
	m->n_params = real.params;
	char buf[300];
	snprintf(buf, sizeof buf, "synthetic:%s", name);
	m->dir = xstrdup(buf);
	snprintf(buf, sizeof buf, "synthetic-%s", name);
	m->name = xstrdup(buf);
	return 0;
}

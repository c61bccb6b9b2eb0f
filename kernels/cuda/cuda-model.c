/* cuda-model.c: the --synthetic models: the real configurations of DeepSeek-Coder-V2-Lite and of the
 * 236B DeepSeek-Coder-V2, with tensors whose host addresses are reserved but never readable (PROT_NONE),
 * so the values can only come from ds_cuda_synthetic_upload, directly on the GPU: the benchmark needs
 * neither the download nor host memory for 31 GB of weights. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "cuda-int.h"
#include "xalloc.h"

static void config_lite(struct ds_config *c)
{
	memset(c, 0, sizeof *c);
	c->vocab_size = 102400;
	c->hidden_size = 2048;
	c->intermediate_size = 10944;
	c->moe_intermediate_size = 1408;
	c->num_hidden_layers = 27;
	c->num_attention_heads = 16;
	c->n_shared_experts = 2;
	c->n_routed_experts = 64;
	c->num_experts_per_tok = 6;
	c->routed_scaling_factor = 1.0f;
	c->topk_method = DS_TOPK_GREEDY;
	c->n_group = 1;
	c->topk_group = 1;
	c->norm_topk_prob = false;
	c->first_k_dense_replace = 1;
	c->moe_layer_freq = 1;
	c->q_lora_rank = 0;
	c->kv_lora_rank = 512;
	c->qk_nope_head_dim = 128;
	c->qk_rope_head_dim = 64;
	c->v_head_dim = 128;
	c->max_position_embeddings = 163840;
	c->rms_norm_eps = 1e-6f;
	c->rope_theta = 10000.0f;
	c->yarn = true;
	c->yarn_factor = 40.0f;
	c->yarn_original_max_position = 4096;
	c->yarn_beta_fast = 32.0f;
	c->yarn_beta_slow = 1.0f;
	c->yarn_mscale = 0.707f;
	c->yarn_mscale_all_dim = 0.707f;
	c->bos_token_id = 100000;
	c->eos_token_id = 100001;
	snprintf(c->dtype_name, sizeof c->dtype_name, "bfloat16");
}

static void config_full(struct ds_config *c)
{
	config_lite(c);
	c->hidden_size = 5120;
	c->intermediate_size = 12288;
	c->moe_intermediate_size = 1536;
	c->num_hidden_layers = 60;
	c->num_attention_heads = 128;
	c->n_routed_experts = 160;
	c->routed_scaling_factor = 16.0f;
	c->topk_method = DS_TOPK_GROUP_LIMITED;
	c->n_group = 8;
	c->topk_group = 3;
	c->q_lora_rank = 1536;
	c->yarn_mscale = 1.0f;
	c->yarn_mscale_all_dim = 1.0f;
}

/* Lays the tensors out over [base, base + size): pass base NULL to only count the bytes. */
struct layout {
	char *base;
	uint64_t off;
	uint64_t params;
};

static struct ds_tensor place(struct layout *ly, int64_t rows, int64_t cols)
{
	struct ds_tensor t = { .dtype = DS_BF16, .data = ly->base ? ly->base + ly->off : NULL, .rows = rows, .cols = cols };
	ly->off += (uint64_t)rows * (uint64_t)cols * 2;
	ly->params += (uint64_t)rows * (uint64_t)cols;
	return t;
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
	m->w.lm_head = place(ly, c->vocab_size, hd);
}

int ds_cuda_synthetic_model(const char *which, struct ds_model *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	if (strcmp(which, "lite") == 0)
		config_lite(&m->cfg);
	else if (strcmp(which, "full") == 0)
		config_full(&m->cfg);
	else
		return errorf(err, errlen, "--synthetic %s: the synthetic models are 'lite' (DeepSeek-Coder-V2-Lite) "
			      "and 'full' (the 236B DeepSeek-Coder-V2)", which);
	const struct ds_config *c = &m->cfg;
	m->w.layers = xcalloc((size_t)c->num_hidden_layers, sizeof *m->w.layers);
	for (int l = 0; l < c->num_hidden_layers; l++)
		if (ds_layer_is_moe(c, l)) {
			m->w.layers[l].exp_gate = xcalloc((size_t)c->n_routed_experts, sizeof(struct ds_tensor));
			m->w.layers[l].exp_up = xcalloc((size_t)c->n_routed_experts, sizeof(struct ds_tensor));
			m->w.layers[l].exp_down = xcalloc((size_t)c->n_routed_experts, sizeof(struct ds_tensor));
		}
	struct layout count = { 0 };
	lay_out(m, &count);
	/* address space only: nothing is committed, and any host read of a weight faults at once */
	void *base = mmap(NULL, count.off, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		ds_model_free(m);
		return errorf(err, errlen, "--synthetic %s: cannot reserve %.0f GB of address space for the tensors",
			      which, count.off / 1e9);
	}
	m->maps = xcalloc(1, sizeof *m->maps);
	m->maps[0].addr = base;
	m->maps[0].size = count.off;
	m->n_maps = 1;
	struct layout real = { .base = base };
	lay_out(m, &real);
	m->weight_bytes = real.off;
	m->n_params = real.params;
	m->dir = xstrdup(strcmp(which, "lite") == 0 ? "synthetic:DeepSeek-Coder-V2-Lite" : "synthetic:DeepSeek-Coder-V2");
	m->name = xstrdup(strcmp(which, "lite") == 0 ? "synthetic-lite" : "synthetic-full");
	return 0;
}

unsigned long long ds_cuda_weight_bytes(const struct ds_model *m, bool f32)
{
	return (unsigned long long)m->n_params * (f32 ? 4ull : 2ull);
}

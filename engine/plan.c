/* plan.c: the partition of DeepSeek-V2 over N ranks (heads, FFN columns, routed experts) and the bytes
 * each rank needs; the CPU simulation, the NCCL path and --plan all use this one plan. */
#include "build-config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "xalloc.h"

/* The forward pass's prefill batch and logit rows (engine/forward.c): what the activations are sized by. */
#define PLAN_CHUNK 128
#define PLAN_LOGIT_ROWS 16

/* [*lo, *lo + *len) is part r of n over `parts` ranks: the first n % parts ranks take one more. */
static void split_even(int n, int parts, int r, int *lo, int *len)
{
	int base = n / parts, extra = n % parts;
	*len = base + (r < extra ? 1 : 0);
	*lo = r * base + (r < extra ? r : extra);
}

int ds_plan_make(const struct ds_config *cfg, int n_ranks, struct ds_plan *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	if (n_ranks < 1)
		return errorf(err, errlen, "the number of ranks must be at least 1 (got %d)", n_ranks);
	if (n_ranks > cfg->num_attention_heads)
		return errorf(err, errlen, "%d ranks cannot split %d attention heads: use at most %d ranks",
			      n_ranks, cfg->num_attention_heads, cfg->num_attention_heads);
	bool dense = cfg->first_k_dense_replace > 0 || cfg->n_routed_experts == 0;
	for (int l = 0; l < cfg->num_hidden_layers && !dense; l++)
		dense = !ds_layer_is_moe(cfg, l);
	if (dense && n_ranks > cfg->intermediate_size)
		return errorf(err, errlen, "%d ranks cannot split the dense MLP's %d columns (intermediate_size)",
			      n_ranks, cfg->intermediate_size);
	if (cfg->n_routed_experts > 0 && n_ranks > cfg->n_routed_experts)
		return errorf(err, errlen, "%d ranks cannot share %d routed experts: use at most %d ranks", n_ranks,
			      cfg->n_routed_experts, cfg->n_routed_experts);
	int shared_w = cfg->n_routed_experts > 0 ? cfg->n_shared_experts * cfg->moe_intermediate_size : 0;
	if (shared_w > 0 && n_ranks > shared_w)
		return errorf(err, errlen, "%d ranks cannot split the shared experts' %d columns", n_ranks, shared_w);
	p->n_ranks = n_ranks;
	p->n_routed = cfg->n_routed_experts;
	p->rank = xcalloc((size_t)n_ranks, sizeof *p->rank);
	for (int r = 0; r < n_ranks; r++) {
		struct ds_rank_plan *rp = &p->rank[r];
		split_even(cfg->num_attention_heads, n_ranks, r, &rp->head0, &rp->n_heads);
		split_even(cfg->intermediate_size, n_ranks, r, &rp->inter0, &rp->n_inter);
		split_even(shared_w, n_ranks, r, &rp->shared0, &rp->n_shared);
		for (int e = 0; e < cfg->n_routed_experts; e++)
			rp->n_experts += ds_plan_owns_expert(p, r, e);
	}
	return 0;
}

void ds_plan_free(struct ds_plan *p)
{
	free(p->rank);
	memset(p, 0, sizeof *p);
}

/* Elements of the weights rank r holds; r < 0 counts the unsharded model (every head, column and
 * expert, plus lm_head). */
static uint64_t rank_params(const struct ds_config *c, const struct ds_plan *p, int r)
{
	uint64_t H = (uint64_t)c->hidden_size, V = (uint64_t)c->vocab_size;
	uint64_t kr = (uint64_t)c->kv_lora_rank, rd = (uint64_t)c->qk_rope_head_dim;
	uint64_t qd = (uint64_t)(c->qk_nope_head_dim + c->qk_rope_head_dim);
	uint64_t kvd = (uint64_t)(c->qk_nope_head_dim + c->v_head_dim), vd = (uint64_t)c->v_head_dim;
	uint64_t ql = (uint64_t)c->q_lora_rank, mi = (uint64_t)c->moe_intermediate_size;
	uint64_t heads = r < 0 ? (uint64_t)c->num_attention_heads : (uint64_t)p->rank[r].n_heads;
	uint64_t inter = r < 0 ? (uint64_t)c->intermediate_size : (uint64_t)p->rank[r].n_inter;
	uint64_t shared = r < 0 ? (uint64_t)c->n_shared_experts * mi : (uint64_t)p->rank[r].n_shared;
	uint64_t experts = r < 0 ? (uint64_t)c->n_routed_experts : (uint64_t)p->rank[r].n_experts;

	uint64_t n = V * H;                                  /* embed_tokens: every rank embeds */
	if (r <= 0)
		n += H + V * H;                              /* model.norm, lm_head */
	for (int l = 0; l < c->num_hidden_layers; l++) {
		n += 2 * H;                                  /* input and post-attention norms */
		if (ql > 0)
			n += ql * H + ql + heads * qd * ql;  /* q_a_proj, q_a_layernorm, q_b_proj rows */
		else
			n += heads * qd * H;                 /* q_proj rows */
		n += (kr + rd) * H + kr;                     /* kv_a_proj_with_mqa, kv_a_layernorm */
		n += heads * kvd * kr;                       /* kv_b_proj rows */
		n += H * heads * vd;                         /* o_proj columns */
		if (ds_layer_is_moe(c, l)) {
			n += (uint64_t)c->n_routed_experts * H;   /* router */
			n += experts * 3 * H * mi;                /* routed experts: gate, up, down */
			n += 3 * H * shared;                      /* shared experts' slice */
		} else {
			n += 3 * H * inter;                       /* dense MLP slice */
		}
	}
	return n;
}

uint64_t ds_plan_total_params(const struct ds_config *cfg)
{
	return rank_params(cfg, NULL, -1);
}

void ds_plan_memory(const struct ds_config *c, const struct ds_plan *p, int64_t n_ctx, int weight_elem,
		    int cache_elem, struct ds_rank_memory *mem)
{
	uint64_t H = (uint64_t)c->hidden_size, lat = (uint64_t)(c->kv_lora_rank + c->qk_rope_head_dim);
	uint64_t ch = (uint64_t)(n_ctx < PLAN_CHUNK ? n_ctx : PLAN_CHUNK);
	uint64_t ffn_w = (uint64_t)c->intermediate_size;
	if ((uint64_t)c->n_shared_experts * (uint64_t)c->moe_intermediate_size > ffn_w)
		ffn_w = (uint64_t)c->n_shared_experts * (uint64_t)c->moe_intermediate_size;
	for (int r = 0; r < p->n_ranks; r++) {
		struct ds_rank_memory *m = &mem[r];
		uint64_t nh = (uint64_t)p->rank[r].n_heads;
		uint64_t qd = (uint64_t)(c->qk_nope_head_dim + c->qk_rope_head_dim);
		memset(m, 0, sizeof *m);
		m->weight_params = rank_params(c, p, r);
		m->weight_bytes = m->weight_params * (uint64_t)weight_elem;
		m->kv_bytes = (uint64_t)c->num_hidden_layers * (uint64_t)n_ctx * lat * (uint64_t)cache_elem;
		/* forward state: x, h, ffn, q LoRA, queries, attention output, router, logit rows; backend:
		 * gate and up of the widest FFN, MoE gather/scatter, absorbed queries and expanded K/V */
		uint64_t f = ch * (3 * H + (uint64_t)c->q_lora_rank + nh * qd + nh * (uint64_t)c->v_head_dim +
				   (uint64_t)c->n_routed_experts);
		f += (ch < PLAN_LOGIT_ROWS ? ch : PLAN_LOGIT_ROWS) * (uint64_t)c->vocab_size;
		f += ch * (2 * ffn_w + 3 * H + nh * lat + nh * (uint64_t)(c->qk_nope_head_dim + c->v_head_dim));
		m->act_bytes = f * 4;
		m->reserve_bytes = DS_PLAN_RESERVE;
		m->total_bytes = m->weight_bytes + m->kv_bytes + m->act_bytes + m->reserve_bytes;
	}
}

int64_t ds_plan_fit_context(const struct ds_config *cfg, const struct ds_plan *p, int64_t want, int weight_elem,
			    int cache_elem, const uint64_t *free_bytes)
{
	struct ds_rank_memory *mem = xcalloc((size_t)p->n_ranks, sizeof *mem);
	/* Everything but the cache is the same for any context of at least one prefill chunk, and the
	 * cache grows by the same bytes per token on every rank. */
	uint64_t per_token = (uint64_t)cfg->num_hidden_layers *
			     (uint64_t)(cfg->kv_lora_rank + cfg->qk_rope_head_dim) * (uint64_t)cache_elem;
	int64_t n = want;
	ds_plan_memory(cfg, p, want, weight_elem, cache_elem, mem);
	for (int r = 0; r < p->n_ranks; r++) {
		uint64_t fixed = mem[r].total_bytes - mem[r].kv_bytes;
		int64_t fit = free_bytes[r] > fixed ? (int64_t)((free_bytes[r] - fixed) / per_token) : 0;
		if (fit < n)
			n = fit;
	}
	free(mem);
	return n < 16 ? 0 : n;
}

static void config_lite(struct ds_config *c)
{
	/* DeepSeek-Coder-V2-Lite-{Base,Instruct}/config.json */
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

int ds_plan_synthetic_config(const char *which, struct ds_config *c, char *err, size_t errlen)
{
	/* a weight format after the name ("lite-q4_k_m") changes the GPU's weights, not the config */
	size_t base = strcspn(which, "-");
	if (which[base] != '\0' && strcmp(which + base, "-q8_0") != 0 && strcmp(which + base, "-q4_k_m") != 0)
		return errorf(err, errlen, "--synthetic %s: the weight formats are -q8_0 and -q4_k_m (or none: BF16)",
			      which);
	if (base == 4 && strncmp(which, "lite", 4) == 0) {
		config_lite(c);
		return 0;
	}
	if (base != 4 || strncmp(which, "full", 4) != 0)
		return errorf(err, errlen, "--synthetic %s: the synthetic models are 'lite' (DeepSeek-Coder-V2-Lite) "
			      "and 'full' (the 236B DeepSeek-Coder-V2), BF16 or with -q8_0 or -q4_k_m weights", which);
	/* DeepSeek-Coder-V2-{Base,Instruct}/config.json: what differs from Lite */
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
	return 0;
}

static double gib(uint64_t b)
{
	return (double)b / (double)(1ull << 30);
}

int ds_plan_print(FILE *f, const char *name, const struct ds_config *cfg, int n_ranks, int64_t n_ctx,
		  uint64_t gpu_bytes, char *err, size_t errlen)
{
	struct ds_plan p;
	if (ds_plan_make(cfg, n_ranks, &p, err, errlen) != 0)
		return -1;
	struct ds_rank_memory *mem = xcalloc((size_t)n_ranks, sizeof *mem);
	ds_plan_memory(cfg, &p, n_ctx, 2, 4, mem);
	uint64_t total = ds_plan_total_params(cfg);
	uint64_t kv_bf16 = mem[0].kv_bytes / 2;
	fprintf(f, "model: %s: %" PRIu64 " parameters, %.2f GiB (%.1f GB) in BF16\n", name, total, gib(total * 2),
		(double)total * 2 / 1e9);
	fprintf(f, "plan: %d GPU%s of %.2f GiB, context %" PRId64 " tokens; weights BF16, latent cache F32 "
		"(%.2f GiB per GPU; %.2f GiB in BF16)\n", n_ranks, n_ranks == 1 ? "" : "s", gib(gpu_bytes), n_ctx,
		gib(mem[0].kv_bytes), gib(kv_bf16));
	fprintf(f, "split: heads, dense MLP and shared-expert columns as first+count per rank; routed expert e "
		"on rank e %% %d; lm_head on rank 0\n", n_ranks);
	fprintf(f, "%-4s %-11s %-13s %-13s %7s %12s %12s %10s %10s %10s %s\n", "rank", "heads", "mlp-cols",
		"shared-cols", "experts", "weights-GiB", "kv-GiB", "act-GiB", "rsv-GiB", "total-GiB", "fits");
	bool all = true;
	for (int r = 0; r < n_ranks; r++) {
		const struct ds_rank_plan *rp = &p.rank[r];
		const struct ds_rank_memory *m = &mem[r];
		bool fits = m->total_bytes <= gpu_bytes;
		all = all && fits;
		char h[32], mc[32], sc[32];
		snprintf(h, sizeof h, "%d+%d", rp->head0, rp->n_heads);
		snprintf(mc, sizeof mc, "%d+%d", rp->inter0, rp->n_inter);
		snprintf(sc, sizeof sc, "%d+%d", rp->shared0, rp->n_shared);
		fprintf(f, "%-4d %-11s %-13s %-13s %7d %12.2f %12.2f %10.2f %10.2f %10.2f %s\n", r, h, mc, sc,
			rp->n_experts, gib(m->weight_bytes), gib(m->kv_bytes), gib(m->act_bytes),
			gib(m->reserve_bytes), gib(m->total_bytes), fits ? "yes" : "NO");
	}
	uint64_t worst = 0;
	for (int r = 0; r < n_ranks; r++)
		if (mem[r].total_bytes > worst)
			worst = mem[r].total_bytes;
	if (all)
		fprintf(f, "fits: yes (the fullest GPU needs %.2f of %.2f GiB)\n", gib(worst), gib(gpu_bytes));
	else
		fprintf(f, "fits: NO (the fullest GPU needs %.2f GiB, %.2f GiB more than it has)\n", gib(worst),
			gib(worst - gpu_bytes));
	if (!all) {
		uint64_t *free_bytes = xcalloc((size_t)n_ranks, sizeof *free_bytes);
		for (int r = 0; r < n_ranks; r++)
			free_bytes[r] = gpu_bytes;
		int64_t fit = ds_plan_fit_context(cfg, &p, n_ctx, 2, 4, free_bytes);
		free(free_bytes);
		if (fit > 0)
			fprintf(f, "longest context that fits: %" PRId64 " tokens (--ctx %" PRId64 ")\n", fit, fit);
		else
			fprintf(f, "no context fits: the weights alone need more than a GPU has; use more GPUs\n");
	}
	free(mem);
	ds_plan_free(&p);
	return all ? 1 : 0;
}

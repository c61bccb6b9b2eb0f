/* model-gguf.c: loading a DeepSeek-V2 GGUF file (architecture "deepseek2", as llama.cpp's converter
 * writes it) into struct ds_model: the deepseek2.* metadata become the config, llama.cpp's tensor
 * names become the layers. Weights stay in the mapping, in their own types (quantized or not). */
#include "model.h"
#include "gguf.h"
#include "xalloc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

struct mg_ctx {
	struct gguf *g;
	struct ds_model *m;
	char *err;
	size_t errlen;
};

char *ds_model_gguf_path(const char *path)
{
	struct stat st;
	char *cfg, *found = NULL;
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (stat(path, &st) != 0)
		return NULL;
	if (S_ISREG(st.st_mode))
		return xstrdup(path);	/* a file can only be a GGUF file: the reader says if it is not */
	if (!S_ISDIR(st.st_mode))
		return NULL;
	cfg = xasprintf("%s/config.json", path);
	if (stat(cfg, &st) == 0) {
		free(cfg);
		return NULL;	/* a Hugging Face directory, even if a .gguf lies beside it */
	}
	free(cfg);
	if ((d = opendir(path)) == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0) {
			n++;
			free(found);
			found = xasprintf("%s/%s", path, e->d_name);
		}
	}
	closedir(d);
	if (n != 1) {
		/* Several: the caller's error names the directory; which one to use is the user's call. */
		free(found);
		return NULL;
	}
	return found;
}

static int mg_int(struct mg_ctx *c, const char *key, bool required, int64_t def, json_t *cfg,
		  const char *hf_key)
{
	int64_t v = def;
	int r = gguf_get_int(c->g, key, &v, c->err, c->errlen);

	if (r < 0)
		return -1;
	if (r == 1 && required)
		return errorf(c->err, c->errlen,
			      "%s: metadata key '%s' is missing; this file was not made by a deepseek2 converter",
			      c->g->path, key);
	if (v < 0 || v > INT32_MAX)
		return errorf(c->err, c->errlen, "%s: metadata key '%s' is %lld, out of range", c->g->path, key,
			      (long long)v);
	json_object_set_new(cfg, hf_key, json_integer(v));
	return 0;
}

static int mg_float(struct mg_ctx *c, const char *key, bool required, double def, json_t *cfg,
		    const char *hf_key)
{
	double v = def;
	int r = gguf_get_float(c->g, key, &v, c->err, c->errlen);

	if (r < 0)
		return -1;
	if (r == 1 && required)
		return errorf(c->err, c->errlen,
			      "%s: metadata key '%s' is missing; this file was not made by a deepseek2 converter",
			      c->g->path, key);
	json_object_set_new(cfg, hf_key, json_real(v));
	return 0;
}

/* Converters older than DeepSeek-V3's support leave group-limited routing out of the metadata and
 * write expert_weights_norm false whatever norm_topk_prob was. When the Hugging Face config.json of
 * the same model lies beside the file (same width and depth), its routing keys are taken. */
static void mg_routing_beside(const char *path, json_t *cfg)
{
	static const char *const keys[] = { "topk_method", "n_group", "topk_group", "norm_topk_prob" };
	const char *slash = strrchr(path, '/');
	char *beside = slash != NULL ? xasprintf("%.*s/config.json", (int)(slash - path), path)
				     : xstrdup("config.json");
	json_t *hf = json_load_file(beside, JSON_REJECT_DUPLICATES, NULL);

	free(beside);
	if (hf == NULL)
		return;
	if (json_equal(json_object_get(hf, "hidden_size"), json_object_get(cfg, "hidden_size")) &&
	    json_equal(json_object_get(hf, "num_hidden_layers"), json_object_get(cfg, "num_hidden_layers")) &&
	    json_equal(json_object_get(hf, "n_routed_experts"), json_object_get(cfg, "n_routed_experts")))
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (json_object_get(hf, keys[i]) != NULL)
				json_object_set(cfg, keys[i], json_object_get(hf, keys[i]));
	json_decref(hf);
}

/* The deepseek2.* metadata as the config.json of the same model, then checked as one. */
static int mg_config(struct mg_ctx *c)
{
	struct gguf *g = c->g;
	const char *arch;
	size_t alen;
	json_t *cfg = json_object();
	int64_t key_len = 0, rope = 0, val_len = 0, n_group = 0, gating = 1, vocab = 0;
	bool norm = false;
	char label[1200];
	int r = -1;

	if (gguf_get_string(g, "general.architecture", &arch, &alen, c->err, c->errlen) != 0) {
		errorf(c->err, c->errlen, "%s: metadata key 'general.architecture' is missing or not a string; this is not a model file",
		       g->path);
		goto out;
	}
	if (alen != 9 || memcmp(arch, "deepseek2", 9) != 0) {
		errorf(c->err, c->errlen,
		       "%s: the model's architecture is '%.*s'; dscoder-engine runs 'deepseek2' (DeepSeek-V2, DeepSeek-Coder-V2)",
		       g->path, (int)(alen > 64 ? 64 : alen), arch);
		goto out;
	}
	if (mg_int(c, "deepseek2.embedding_length", true, 0, cfg, "hidden_size") < 0 ||
	    mg_int(c, "deepseek2.block_count", true, 0, cfg, "num_hidden_layers") < 0 ||
	    mg_int(c, "deepseek2.attention.head_count", true, 0, cfg, "num_attention_heads") < 0 ||
	    mg_int(c, "deepseek2.feed_forward_length", true, 0, cfg, "intermediate_size") < 0 ||
	    mg_int(c, "deepseek2.expert_feed_forward_length", false, 0, cfg, "moe_intermediate_size") < 0 ||
	    mg_int(c, "deepseek2.expert_count", false, 0, cfg, "n_routed_experts") < 0 ||
	    mg_int(c, "deepseek2.expert_used_count", false, 0, cfg, "num_experts_per_tok") < 0 ||
	    mg_int(c, "deepseek2.expert_shared_count", false, 0, cfg, "n_shared_experts") < 0 ||
	    mg_int(c, "deepseek2.leading_dense_block_count", false, 0, cfg, "first_k_dense_replace") < 0 ||
	    mg_int(c, "deepseek2.attention.q_lora_rank", false, 0, cfg, "q_lora_rank") < 0 ||
	    mg_int(c, "deepseek2.attention.kv_lora_rank", true, 0, cfg, "kv_lora_rank") < 0 ||
	    mg_int(c, "deepseek2.context_length", true, 0, cfg, "max_position_embeddings") < 0 ||
	    mg_float(c, "deepseek2.attention.layer_norm_rms_epsilon", true, 0, cfg, "rms_norm_eps") < 0 ||
	    mg_float(c, "deepseek2.rope.freq_base", false, 10000.0, cfg, "rope_theta") < 0 ||
	    mg_float(c, "deepseek2.expert_weights_scale", false, 1.0, cfg, "routed_scaling_factor") < 0)
		goto out;
	json_object_set_new(cfg, "moe_layer_freq", json_integer(1));
	if (json_integer_value(json_object_get(cfg, "q_lora_rank")) == 0)
		json_object_set_new(cfg, "q_lora_rank", json_null());

	/* Head widths: key_length is nope + rope per head; a converter that splits attn_kv_b writes
	 * the MLA widths under *_mla and 1 kv head. */
	if (gguf_get_int(g, "deepseek2.rope.dimension_count", &rope, c->err, c->errlen) != 0 ||
	    (gguf_get_int(g, "deepseek2.attention.key_length_mla", &key_len, c->err, c->errlen) != 0 &&
	     gguf_get_int(g, "deepseek2.attention.key_length", &key_len, c->err, c->errlen) != 0) ||
	    (gguf_get_int(g, "deepseek2.attention.value_length_mla", &val_len, c->err, c->errlen) != 0 &&
	     gguf_get_int(g, "deepseek2.attention.value_length", &val_len, c->err, c->errlen) != 0)) {
		errorf(c->err, c->errlen,
		       "%s: the metadata keys deepseek2.rope.dimension_count, deepseek2.attention.key_length and value_length must all be integers",
		       g->path);
		goto out;
	}
	if (key_len <= rope) {
		errorf(c->err, c->errlen, "%s: deepseek2.attention.key_length (%lld) must exceed the rope width (%lld)",
		       g->path, (long long)key_len, (long long)rope);
		goto out;
	}
	json_object_set_new(cfg, "qk_rope_head_dim", json_integer(rope));
	json_object_set_new(cfg, "qk_nope_head_dim", json_integer(key_len - rope));
	json_object_set_new(cfg, "v_head_dim", json_integer(val_len));

	/* Routing: softmax scores (gating func 1) as DeepSeek-V2; groups when the file names them. */
	if (gguf_get_int(g, "deepseek2.expert_gating_func", &gating, c->err, c->errlen) < 0 ||
	    gguf_get_bool(g, "deepseek2.expert_weights_norm", &norm, c->err, c->errlen) < 0 ||
	    gguf_get_int(g, "deepseek2.expert_group_count", &n_group, c->err, c->errlen) < 0)
		goto out;
	if (gating != 1) {
		errorf(c->err, c->errlen,
		       "%s: deepseek2.expert_gating_func is %lld (sigmoid, DeepSeek-V3); dscoder-engine routes with softmax (DeepSeek-V2)",
		       g->path, (long long)gating);
		goto out;
	}
	json_object_set_new(cfg, "scoring_func", json_string("softmax"));
	json_object_set_new(cfg, "norm_topk_prob", json_boolean(norm));
	if (n_group > 1) {
		json_object_set_new(cfg, "topk_method", json_string("group_limited_greedy"));
		json_object_set_new(cfg, "n_group", json_integer(n_group));
		if (mg_int(c, "deepseek2.expert_group_used_count", true, 0, cfg, "topk_group") < 0)
			goto out;
	} else {
		json_object_set_new(cfg, "topk_method", json_string("greedy"));
	}

	/* YaRN: the file keeps mscale_all_dim as yarn_log_multiplier = 0.1 * mscale_all_dim; DeepSeek-V2's
	 * configs set mscale equal to it, and llama.cpp assumes so too. */
	{
		const char *type;
		size_t tlen;
		int tr = gguf_get_string(g, "deepseek2.rope.scaling.type", &type, &tlen, c->err, c->errlen);

		if (tr < 0)
			goto out;
		if (tr == 0 && !(tlen == 4 && memcmp(type, "none", 4) == 0)) {
			json_t *rs = json_object();
			double mult = 0;

			json_object_set_new(cfg, "rope_scaling", rs);
			json_object_set_new(rs, "type", json_stringn(type, tlen));
			if (mg_float(c, "deepseek2.rope.scaling.factor", true, 1.0, rs, "factor") < 0 ||
			    mg_int(c, "deepseek2.rope.scaling.original_context_length", true, 0, rs,
				   "original_max_position_embeddings") < 0 ||
			    gguf_get_float(g, "deepseek2.rope.scaling.yarn_log_multiplier", &mult, c->err,
					   c->errlen) < 0)
				goto out;
			json_object_set_new(rs, "mscale", json_real(mult / 0.1));
			json_object_set_new(rs, "mscale_all_dim", json_real(mult / 0.1));
		}
	}

	/* The vocabulary is the embedding's height (padded past the tokenizer's tokens). */
	{
		const struct gguf_tensor *emb = gguf_tensor(g, "token_embd.weight");

		if (emb == NULL || emb->n_dims != 2) {
			errorf(c->err, c->errlen, "%s: tensor 'token_embd.weight' is missing or not a matrix", g->path);
			goto out;
		}
		vocab = emb->ne[1];
		json_object_set_new(cfg, "vocab_size", json_integer(vocab));
	}
	{
		int64_t id;

		if (gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id, c->err, c->errlen) == 0 && id < vocab)
			json_object_set_new(cfg, "bos_token_id", json_integer(id));
		if (gguf_get_int(g, "tokenizer.ggml.eos_token_id", &id, c->err, c->errlen) == 0 && id < vocab)
			json_object_set_new(cfg, "eos_token_id", json_integer(id));
	}
	mg_routing_beside(g->path, cfg);
	snprintf(label, sizeof label, "%s (metadata, as config.json)", g->path);
	r = ds_config_from_json(label, cfg, &c->m->cfg, c->err, c->errlen);
out:
	json_decref(cfg);
	return r;
}

static void mg_shape(char *buf, size_t len, const int64_t *ne, int n)
{
	size_t o = 0;

	o += (size_t)snprintf(buf + o, len - o, "[");
	for (int i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

/* Finds name with GGUF shape ne (n dims: cols, rows, experts) and fills t (the first matrix of it;
 * expert e of a stacked tensor is t + e rows further, see mg_experts). */
static int mg_tensor(struct mg_ctx *c, const char *name, const int64_t *ne, int n, struct ds_tensor *t)
{
	const struct gguf_tensor *g = gguf_tensor(c->g, name);
	char want[96], got[96];

	mg_shape(want, sizeof want, ne, n);
	if (g == NULL)
		return errorf(c->err, c->errlen, "%s: tensor '%s' is missing, but the metadata needs it with shape %s",
			      c->g->path, name, want);
	if (g->n_dims != n || g->ne[0] != ne[0] || (n > 1 && g->ne[1] != ne[1]) || (n > 2 && g->ne[2] != ne[2])) {
		mg_shape(got, sizeof got, g->ne, g->n_dims);
		return errorf(c->err, c->errlen, "%s: tensor '%s' has shape %s, the metadata needs %s", c->g->path,
			      name, got, want);
	}
	if (n > 1 && g->dtype != DS_F32 && g->dtype != DS_F16 && g->dtype != DS_BF16 &&
	    strstr(name, "norm") != NULL)
		return errorf(c->err, c->errlen, "%s: tensor '%s' is %s; norm weights must be f32, f16 or bf16",
			      c->g->path, name, ds_dtype_get(g->dtype)->name);
	*t = (struct ds_tensor){ .dtype = g->dtype, .data = g->data, .rows = n > 1 ? ne[1] : 1, .cols = ne[0],
				 .layout = DS_LAYOUT_ROWS };
	c->m->n_params += (uint64_t)t->rows * (uint64_t)t->cols * (uint64_t)(n > 2 ? ne[2] : 1);
	c->m->weight_bytes += g->nbytes;
	return 0;
}

static int mg_mat(struct mg_ctx *c, int l, const char *what, int64_t rows, int64_t cols, struct ds_tensor *t)
{
	char name[128];
	int64_t ne[2] = { cols, rows };

	if (l < 0)
		snprintf(name, sizeof name, "%s.weight", what);
	else
		snprintf(name, sizeof name, "blk.%d.%s.weight", l, what);
	return mg_tensor(c, name, ne, rows == 0 ? 1 : 2, t);
}

static int mg_vec(struct mg_ctx *c, int l, const char *what, int64_t n, struct ds_tensor *t)
{
	return mg_mat(c, l, what, 0, n, t) < 0 ? -1 : 0;
}

/* A stacked expert tensor (cols, rows, n_exp): expert e is rows more rows further on. */
static int mg_experts(struct mg_ctx *c, int l, const char *what, int64_t rows, int64_t cols, int n_exp,
		      struct ds_tensor **out)
{
	char name[128];
	int64_t ne[3] = { cols, rows, n_exp };
	struct ds_tensor first;

	snprintf(name, sizeof name, "blk.%d.%s.weight", l, what);
	if (mg_tensor(c, name, ne, 3, &first) < 0)
		return -1;
	*out = xcalloc((size_t)n_exp, sizeof(**out));
	for (int e = 0; e < n_exp; e++)
		(*out)[e] = ds_tensor_rows(&first, e * rows, rows);
	return 0;
}

/* Newer converters store kv_b_proj split for MLA's weight absorption: attn_k_b (nope, kv_rank,
 * heads), each head's key part transposed, and attn_v_b (kv_rank, v, heads). Both are kept as the
 * file has them, mapped: decode's absorbed form multiplies by them as they are, and putting
 * kv_b_proj back together would cross quantization blocks and cost floats (226 MB for
 * Coder-V2-Lite, read again at every token). */
static int mg_kv_b_split(struct mg_ctx *c, int l, struct ds_layer *L)
{
	const struct ds_config *cfg = &c->m->cfg;
	int64_t heads = cfg->num_attention_heads, nope = cfg->qk_nope_head_dim, v = cfg->v_head_dim;
	int64_t rank = cfg->kv_lora_rank;
	int64_t ne_k[3] = { nope, rank, heads }, ne_v[3] = { rank, v, heads };
	char name[64];

	snprintf(name, sizeof name, "blk.%d.attn_k_b.weight", l);
	if (mg_tensor(c, name, ne_k, 3, &L->k_b) < 0)
		return -1;
	snprintf(name, sizeof name, "blk.%d.attn_v_b.weight", l);
	if (mg_tensor(c, name, ne_v, 3, &L->v_b) < 0)
		return -1;
	L->k_b.rows *= heads;
	L->v_b.rows *= heads;
	return 0;
}

static int mg_layer(struct mg_ctx *c, int l)
{
	const struct ds_config *cfg = &c->m->cfg;
	struct ds_layer *L = &c->m->w.layers[l];
	int64_t hidden = cfg->hidden_size, heads = cfg->num_attention_heads;
	int64_t qdim = heads * (cfg->qk_nope_head_dim + cfg->qk_rope_head_dim);

	if (mg_vec(c, l, "attn_norm", hidden, &L->input_norm) < 0)
		return -1;
	if (cfg->q_lora_rank == 0) {
		if (mg_mat(c, l, "attn_q", qdim, hidden, &L->q_proj) < 0)
			return -1;
	} else if (mg_mat(c, l, "attn_q_a", cfg->q_lora_rank, hidden, &L->q_a_proj) < 0 ||
		   mg_vec(c, l, "attn_q_a_norm", cfg->q_lora_rank, &L->q_a_norm) < 0 ||
		   mg_mat(c, l, "attn_q_b", qdim, cfg->q_lora_rank, &L->q_b_proj) < 0) {
		return -1;
	}
	if (mg_mat(c, l, "attn_kv_a_mqa", cfg->kv_lora_rank + cfg->qk_rope_head_dim, hidden, &L->kv_a_proj) < 0 ||
	    mg_vec(c, l, "attn_kv_a_norm", cfg->kv_lora_rank, &L->kv_a_norm) < 0)
		return -1;
	{
		char name[64];

		snprintf(name, sizeof name, "blk.%d.attn_kv_b.weight", l);
		if (gguf_tensor(c->g, name) == NULL) {
			snprintf(name, sizeof name, "blk.%d.attn_k_b.weight", l);
			if (gguf_tensor(c->g, name) != NULL) {
				if (mg_kv_b_split(c, l, L) < 0)
					return -1;
				goto kv_b_done;
			}
		}
	}
	if (mg_mat(c, l, "attn_kv_b", heads * (cfg->qk_nope_head_dim + cfg->v_head_dim), cfg->kv_lora_rank,
		   &L->kv_b_proj) < 0)
		return -1;
kv_b_done:
	if (mg_mat(c, l, "attn_output", hidden, heads * cfg->v_head_dim, &L->o_proj) < 0 ||
	    mg_vec(c, l, "ffn_norm", hidden, &L->post_norm) < 0)
		return -1;

	if (!ds_layer_is_moe(cfg, l)) {
		int64_t inter = cfg->intermediate_size;

		return mg_mat(c, l, "ffn_gate", inter, hidden, &L->gate_proj) < 0 ||
		       mg_mat(c, l, "ffn_up", inter, hidden, &L->up_proj) < 0 ||
		       mg_mat(c, l, "ffn_down", hidden, inter, &L->down_proj) < 0 ? -1 : 0;
	}

	int64_t moe = cfg->moe_intermediate_size, shared = (int64_t)cfg->n_shared_experts * moe;
	int n = cfg->n_routed_experts;

	if (mg_mat(c, l, "ffn_gate_inp", n, hidden, &L->router) < 0 ||
	    mg_experts(c, l, "ffn_gate_exps", moe, hidden, n, &L->exp_gate) < 0 ||
	    mg_experts(c, l, "ffn_up_exps", moe, hidden, n, &L->exp_up) < 0 ||
	    mg_experts(c, l, "ffn_down_exps", hidden, moe, n, &L->exp_down) < 0)
		return -1;
	if (shared > 0 &&
	    (mg_mat(c, l, "ffn_gate_shexp", shared, hidden, &L->shared_gate) < 0 ||
	     mg_mat(c, l, "ffn_up_shexp", shared, hidden, &L->shared_up) < 0 ||
	     mg_mat(c, l, "ffn_down_shexp", hidden, shared, &L->shared_down) < 0))
		return -1;
	return 0;
}

static int mg_weights(struct mg_ctx *c)
{
	const struct ds_config *cfg = &c->m->cfg;
	struct ds_weights *w = &c->m->w;

	if (mg_mat(c, -1, "token_embd", cfg->vocab_size, cfg->hidden_size, &w->embed) < 0)
		return -1;
	w->layers = xcalloc(cfg->num_hidden_layers, sizeof(*w->layers));
	for (int l = 0; l < cfg->num_hidden_layers; l++)
		if (mg_layer(c, l) < 0)
			return -1;
	if (mg_vec(c, -1, "output_norm", cfg->hidden_size, &w->norm) < 0)
		return -1;
	/* Files of tied models leave output.weight out and reuse the embedding. */
	if (gguf_tensor(c->g, "output.weight") == NULL) {
		w->lm_head = w->embed;
		return 0;
	}
	return mg_mat(c, -1, "output", cfg->vocab_size, cfg->hidden_size, &w->lm_head);
}

/* The type most of the weight bytes have, for display ("q4_K"). */
static void mg_dtype_name(const struct gguf *g, char *out, size_t len)
{
	uint64_t bytes[DS_N_DTYPES] = { 0 };
	int best = 0;

	for (size_t i = 0; i < g->n_tensors; i++)
		bytes[g->tensors[i].dtype] += g->tensors[i].nbytes;
	for (int t = 1; t < DS_N_DTYPES; t++)
		if (bytes[t] > bytes[best])
			best = t;
	snprintf(out, len, "%s", ds_dtype_get(best)->name);
}

int ds_model_load_gguf(const char *path, struct ds_model *m, ds_progress_fn progress, void *arg,
		       char *err, size_t errlen)
{
	struct gguf g;
	struct mg_ctx c = { &g, m, err, errlen };
	const char *name;
	size_t nlen;
	char *slash;

	memset(m, 0, sizeof(*m));
	if (gguf_open(path, &g, err, errlen) < 0)
		return -1;
	if (mg_config(&c) < 0 || mg_weights(&c) < 0) {
		gguf_close(&g);
		ds_model_free(m);
		return -1;
	}
	mg_dtype_name(&g, m->cfg.dtype_name, sizeof m->cfg.dtype_name);
	m->dir = xstrdup(path);
	if (gguf_get_string(&g, "general.name", &name, &nlen, err, errlen) == 0 && nlen > 0) {
		m->name = xstrndup(name, nlen);
	} else {
		slash = strrchr(path, '/');
		m->name = xstrdup(slash != NULL ? slash + 1 : path);
	}
	/* read the file in now, in 1/64 steps of progress, so the first prompt pays no page faults */
	size_t step = (g.size / 64 + 4095) / 4096 * 4096;
	struct ds_map_reader rd;
	ds_map_reader_start(&rd, path, (void *)g.map, g.size, g.size);
	for (size_t off = 0; off < g.size; off += step) {
		size_t len = g.size - off < step ? g.size - off : step;
		ds_map_reader_step(&rd, off, len);
		if (progress != NULL)
			progress(off + len, g.size, arg);
	}
	bool in_memory = ds_map_reader_finish(&rd) == 1;
	if (progress != NULL)
		progress(g.size, g.size, arg);
	/* The model keeps the mapping; the directory of names and keys is no longer needed. */
	m->maps = xcalloc(1, sizeof(*m->maps));
	m->n_maps = 1;
	m->maps[0].addr = g.map;
	m->maps[0].size = g.size;
	m->maps[0].in_memory = in_memory;
	g.map = NULL;
	gguf_close(&g);
	return 0;
}

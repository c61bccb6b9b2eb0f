/* quantize-checkpoint.c: dscoder-engine --quantize TYPE --model HF_DIR --out FILE.gguf: a Hugging Face
 * checkpoint as a GGUF file laid out as llama.cpp's converter writes deepseek2 (its metadata keys,
 * tensor names, stacked experts, legacy unsplit attn_kv_b or, with --split-kv-b, the attn_k_b and
 * attn_v_b of newer converters) and typed as llama.cpp's quantizer
 * types it (norms F32, the router in the source's float type, Q4_K_M's and Q5_K_M's Q6_K tensors, a type that
 * fits where a row is not whole blocks). Tensors are converted one at a time while the file is
 * written, so memory holds one tensor, not the model. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <jansson.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dtype.h"
#include "engine-cli.h"
#include "gguf-write.h"
#include "model.h"
#include "quantize.h"
#include "tokenizer-gguf-write.h"
#include "xalloc.h"

/* The --quantize types: the type of most matrices and llama.cpp's general.file_type (llama_ftype). */
static const struct qz_type {
	const char *name;
	enum ds_dtype base;
	int file_type;
	bool k_mix;	/* Q4_K_M, Q5_K_M: output.weight and some ffn_down in Q6_K */
} qz_types[] = {
	{ "f32", DS_F32, 0, false }, { "f16", DS_F16, 1, false }, { "bf16", DS_BF16, 32, false },
	{ "q8_0", DS_Q8_0, 7, false }, { "q4_k_m", DS_Q4_K, 15, true }, { "q5_k_m", DS_Q5_K, 17, true },
	{ "q6_k", DS_Q6_K, 18, false },
};

/* What a tensor of the file holds of its source. */
enum qz_part {
	QZ_WHOLE,	/* the source matrices' rows as they are */
	QZ_K_B,		/* kv_b_proj's key rows of each head, transposed: attn_k_b (nope, kv_rank, heads) */
	QZ_V_B,		/* kv_b_proj's value rows of each head: attn_v_b (kv_rank, v, heads) */
};

/* One tensor of the file: n_src matrices (several: experts stacked along the third dimension). */
struct qz_tensor {
	char name[96];
	const struct ds_tensor *src;
	int n_src;
	enum qz_part part;
	int64_t nope, v;	/* QZ_K_B, QZ_V_B: the head widths */
	enum ds_dtype type;
	int64_t ne[3];
	int n_dims;
	struct qz_run *run;
};

struct qz_run {
	struct qz_tensor *t;
	int n, cap, done;
	float *row;		/* one source row as float */
	int64_t row_cap;
	const char *out;	/* the file being written, for messages */
	bool tty;
	int last_shown;		/* tenths shown when stderr is not a terminal */
	time_t started;
};

/* Set by SIGINT or SIGTERM: the tensor being converted stops, and the writer removes its temporary
 * file, so an interrupted run leaves nothing behind. */
static volatile sig_atomic_t qz_stop;

static void qz_on_signal(int sig)
{
	(void)sig;
	qz_stop = 1;
}

/* llama.cpp's use_more_bits: the layers whose ffn_down Q4_K_M and Q5_K_M keep in Q6_K. */
static bool more_bits(int l, int n)
{
	return l < n / 8 || l >= 7 * n / 8 || (l - n / 8) % 3 == 2;
}

/* The type of a matrix of cols columns: the wanted type, or, a row not being whole blocks of 256,
 * the 32-weight type llama.cpp falls back to (Q4_K: Q5_0, Q5_K: Q5_1, Q6_K: Q8_0; Coder-V2-Lite's
 * experts are 1408 wide, so its ffn_down tensors take these), else F16. */
static enum ds_dtype fit(enum ds_dtype want, int64_t cols)
{
	if (cols % ds_dtype_get(want)->block == 0)
		return want;
	if (cols % 32 != 0)
		return DS_F16;
	return want == DS_Q4_K ? DS_Q5_0 : want == DS_Q5_K ? DS_Q5_1 : DS_Q8_0;
}

static void qz_add(struct qz_run *r, const struct qz_type *q, const struct ds_model *m, int l, const char *what,
		   const struct ds_tensor *src, int n_src)
{
	struct qz_tensor *t;
	bool vec = src->rows == 1 && strstr(what, "norm") != NULL;

	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->t = xreallocarray(r->t, (size_t)r->cap, sizeof(*r->t));
	}
	t = &r->t[r->n++];
	memset(t, 0, sizeof(*t));
	if (l < 0)
		snprintf(t->name, sizeof t->name, "%s.weight", what);
	else
		snprintf(t->name, sizeof t->name, "blk.%d.%s.weight", l, what);
	t->src = src;
	t->n_src = n_src;
	t->run = r;
	t->ne[0] = src->cols;
	t->ne[1] = src->rows;
	t->ne[2] = n_src;
	t->n_dims = vec ? 1 : n_src > 1 ? 3 : 2;
	if (vec) {
		t->type = DS_F32;
	} else if (strcmp(what, "ffn_gate_inp") == 0) {
		/* the router: as the converter writes it (in a float target type), which llama.cpp's
		 * quantizer then leaves alone (F32, or the source's BF16 or F16) */
		if (!ds_dtype_is_quantized(q->base))
			t->type = q->base;
		else
			t->type = src->dtype == DS_BF16 || src->dtype == DS_F16 ? src->dtype : DS_F32;
	} else if (q->k_mix && (strcmp(what, "output") == 0 ||
				(strncmp(what, "ffn_down", 8) == 0 && more_bits(l, m->cfg.num_hidden_layers)))) {
		t->type = fit(DS_Q6_K, src->cols);
	} else {
		t->type = fit(q->base, src->cols);
	}
}

/* kv_b_proj of layer l as newer llama.cpp converters split it for MLA's weight absorption: each
 * head's key part transposed (attn_k_b, rows nope wide: too narrow for K-quants at the released
 * widths, so Q4_K_M falls back to Q5_0 there, Q5_K_M to Q5_1) and its value part (attn_v_b). */
static void qz_add_split(struct qz_run *r, const struct qz_type *q, const struct ds_model *m, int l)
{
	const struct ds_config *c = &m->cfg;
	const struct ds_tensor *kv_b = &m->w.layers[l].kv_b_proj;
	int64_t heads = c->num_attention_heads, nope = c->qk_nope_head_dim, v = c->v_head_dim, rank = c->kv_lora_rank;

	for (int k = 0; k < 2; k++) {
		struct qz_tensor *t;

		qz_add(r, q, m, l, k == 0 ? "attn_k_b" : "attn_v_b", kv_b, 1);
		t = &r->t[r->n - 1];
		t->part = k == 0 ? QZ_K_B : QZ_V_B;
		t->nope = nope;
		t->v = v;
		t->ne[0] = k == 0 ? nope : rank;
		t->ne[1] = k == 0 ? rank : v;
		t->ne[2] = heads;
		t->n_dims = 3;
		t->type = fit(q->base, t->ne[0]);
	}
}

static void qz_plan(struct qz_run *r, const struct qz_type *q, const struct ds_model *m, bool split_kv_b)
{
	const struct ds_config *c = &m->cfg;
	const struct ds_weights *w = &m->w;
	int n_exp = c->n_routed_experts;

	qz_add(r, q, m, -1, "token_embd", &w->embed, 1);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		const struct ds_layer *L = &w->layers[l];

		qz_add(r, q, m, l, "attn_norm", &L->input_norm, 1);
		if (c->q_lora_rank == 0) {
			qz_add(r, q, m, l, "attn_q", &L->q_proj, 1);
		} else {
			qz_add(r, q, m, l, "attn_q_a", &L->q_a_proj, 1);
			qz_add(r, q, m, l, "attn_q_a_norm", &L->q_a_norm, 1);
			qz_add(r, q, m, l, "attn_q_b", &L->q_b_proj, 1);
		}
		qz_add(r, q, m, l, "attn_kv_a_mqa", &L->kv_a_proj, 1);
		qz_add(r, q, m, l, "attn_kv_a_norm", &L->kv_a_norm, 1);
		if (split_kv_b)
			qz_add_split(r, q, m, l);
		else
			qz_add(r, q, m, l, "attn_kv_b", &L->kv_b_proj, 1);
		qz_add(r, q, m, l, "attn_output", &L->o_proj, 1);
		qz_add(r, q, m, l, "ffn_norm", &L->post_norm, 1);
		if (!ds_layer_is_moe(c, l)) {
			qz_add(r, q, m, l, "ffn_gate", &L->gate_proj, 1);
			qz_add(r, q, m, l, "ffn_up", &L->up_proj, 1);
			qz_add(r, q, m, l, "ffn_down", &L->down_proj, 1);
			continue;
		}
		qz_add(r, q, m, l, "ffn_gate_inp", &L->router, 1);
		qz_add(r, q, m, l, "ffn_gate_exps", L->exp_gate, n_exp);
		qz_add(r, q, m, l, "ffn_up_exps", L->exp_up, n_exp);
		qz_add(r, q, m, l, "ffn_down_exps", L->exp_down, n_exp);
		if (c->n_shared_experts > 0) {
			qz_add(r, q, m, l, "ffn_gate_shexp", &L->shared_gate, 1);
			qz_add(r, q, m, l, "ffn_up_shexp", &L->shared_up, 1);
			qz_add(r, q, m, l, "ffn_down_shexp", &L->shared_down, 1);
		}
	}
	qz_add(r, q, m, -1, "output_norm", &w->norm, 1);
	qz_add(r, q, m, -1, "output", &w->lm_head, 1);
}

static uint64_t qz_bytes(const struct qz_tensor *t)
{
	return (uint64_t)t->ne[2] * (uint64_t)t->ne[1] * ds_row_bytes(t->type, t->ne[0]);
}

/* Drops the source pages wholly inside [p, p + len) from this process's resident set once converted:
 * each tensor is read once, and without this the mapped checkpoint (tens of GB) would all count as
 * resident by the end. The pages stay in the page cache and fault back in if read again. */
static void qz_release(const void *p, size_t len)
{
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p;
	const uintptr_t start = (a + page - 1) / page * page, end = (a + len) / page * page;

	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

/* QZ_K_B and QZ_V_B: each head's part of kv_b_proj (heads * (nope + v) rows of kv_rank), its value
 * rows converted as they are, its key rows decoded and converted transposed (kv_rank rows of nope),
 * into o. */
static int qz_fill_split(struct qz_tensor *t, uint8_t *o, char *err, size_t errlen)
{
	const struct ds_tensor *s = t->src;
	const int64_t rank = s->cols, per = t->nope + t->v, heads = s->rows / per;
	const int64_t first = t->part == QZ_K_B ? 0 : t->nope, n = t->part == QZ_K_B ? t->nope : t->v;
	const size_t in_row = ds_row_bytes(s->dtype, s->cols), out_row = ds_row_bytes(t->type, t->ne[0]);
	float *rows = xmalloc((size_t)(n * rank) * sizeof(float)), *row = xmalloc((size_t)rank * sizeof(float));

	for (int64_t h = 0; h < heads; h++) {
		if (qz_stop) {
			free(rows), free(row);
			return errorf(err, errlen, "interrupted while converting %s: %s is not written", t->name, t->run->out);
		}
		for (int64_t i = 0; i < n; i++)
			ds_dtype_get(s->dtype)->to_float((const char *)s->data + (size_t)(h * per + first + i) * in_row,
							 rows + i * rank, rank);
		if (t->part == QZ_V_B) {
			for (int64_t i = 0; i < n; i++, o += out_row)
				ds_quantize_row(t->type, rows + i * rank, o, rank);
			continue;
		}
		for (int64_t r = 0; r < rank; r++, o += out_row) {
			for (int64_t j = 0; j < n; j++)
				row[j] = rows[j * rank + r];
			ds_quantize_row(t->type, row, o, n);
		}
	}
	free(rows), free(row);
	t->run->done++;
	return 0;
}

/* gguf_fill_fn: the tensor's rows, source matrix by source matrix, converted row by row. */
static int qz_fill(void *arg, void *out, char *err, size_t errlen)
{
	struct qz_tensor *t = arg;
	struct qz_run *r = t->run;
	const size_t out_row = ds_row_bytes(t->type, t->ne[0]);
	uint8_t *o = out;

	if (t->part != QZ_WHOLE)
		return qz_fill_split(t, o, err, errlen);
	if (t->ne[0] > r->row_cap) {
		free(r->row);
		r->row_cap = t->ne[0];
		r->row = xmalloc((size_t)r->row_cap * sizeof(float));
	}
	for (int e = 0; e < t->n_src; e++) {
		const struct ds_tensor *s = &t->src[e];
		const size_t in_row = ds_row_bytes(s->dtype, s->cols);

		for (int64_t i = 0; i < s->rows; i++, o += out_row) {
			if (qz_stop)
				return errorf(err, errlen, "interrupted while converting %s: %s is not written", t->name,
					      r->out);
			ds_dtype_get(s->dtype)->to_float((const char *)s->data + (size_t)i * in_row, r->row, s->cols);
			ds_quantize_row(t->type, r->row, o, s->cols);
		}
		qz_release(s->data, (size_t)s->rows * in_row);
	}
	r->done++;
	return 0;
}

/* bytes as "1.2 GB" or "345.6 MB" */
static const char *qz_size(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= 1000000000u)
		snprintf(buf, len, "%.1f GB", bytes / 1e9);
	else
		snprintf(buf, len, "%.1f MB", bytes / 1e6);
	return buf;
}

/* The writer's progress: one line, redrawn on a terminal, else at every tenth of the tensors. */
static void qz_progress(uint64_t done, uint64_t total, void *arg)
{
	struct qz_run *r = arg;
	int tenth = (int)(10 * (int64_t)r->done / r->n);
	char size[32];

	(void)total;
	if (r->tty)
		fprintf(stderr, "\rquantizing: %d/%d tensors, %s  ", r->done, r->n, qz_size(done, size, sizeof size));
	else if (tenth > r->last_shown || r->done == r->n)
		fprintf(stderr, "quantizing: %d/%d tensors, %s\n", r->done, r->n, qz_size(done, size, sizeof size));
	r->last_shown = tenth;
	if (r->tty && r->done == r->n)
		fputc('\n', stderr);
}

/* The deepseek2.* metadata in the order llama.cpp's converter writes them. */
static void qz_metadata(struct gguf_writer *w, const struct ds_model *m, bool split_kv_b)
{
	const struct ds_config *c = &m->cfg;
	const char *slash = strrchr(m->dir, '/'), *name = slash != NULL && slash[1] != '\0' ? slash + 1 : m->dir;
	size_t name_len = strlen(name);

	while (name_len > 1 && name[name_len - 1] == '/')
		name_len--;
	gguf_writer_set_string(w, "general.architecture", "deepseek2", 9);
	gguf_writer_set_string(w, "general.name", name, name_len);
	gguf_writer_set_u32(w, "general.alignment", 32);
	gguf_writer_set_u32(w, "deepseek2.block_count", (uint32_t)c->num_hidden_layers);
	gguf_writer_set_u32(w, "deepseek2.context_length", (uint32_t)c->max_position_embeddings);
	gguf_writer_set_u32(w, "deepseek2.embedding_length", (uint32_t)c->hidden_size);
	gguf_writer_set_u32(w, "deepseek2.feed_forward_length", (uint32_t)c->intermediate_size);
	gguf_writer_set_u32(w, "deepseek2.attention.head_count", (uint32_t)c->num_attention_heads);
	/* split for MLA, the heads are written as one shared latent key and value (MQA), the head widths
	 * under *_mla */
	gguf_writer_set_u32(w, "deepseek2.attention.head_count_kv", split_kv_b ? 1 : (uint32_t)c->num_attention_heads);
	gguf_writer_set_f32(w, "deepseek2.rope.freq_base", c->rope_theta);
	gguf_writer_set_f32(w, "deepseek2.attention.layer_norm_rms_epsilon", c->rms_norm_eps);
	gguf_writer_set_u32(w, "deepseek2.expert_used_count", (uint32_t)c->num_experts_per_tok);
	gguf_writer_set_u32(w, "deepseek2.expert_count", (uint32_t)c->n_routed_experts);
	gguf_writer_set_u32(w, "deepseek2.leading_dense_block_count", (uint32_t)c->first_k_dense_replace);
	gguf_writer_set_u32(w, "deepseek2.vocab_size", (uint32_t)c->vocab_size);
	gguf_writer_set_u32(w, "deepseek2.attention.kv_lora_rank", (uint32_t)c->kv_lora_rank);
	if (split_kv_b) {
		gguf_writer_set_u32(w, "deepseek2.attention.key_length", (uint32_t)(c->kv_lora_rank + c->qk_rope_head_dim));
		gguf_writer_set_u32(w, "deepseek2.attention.value_length", (uint32_t)c->kv_lora_rank);
		gguf_writer_set_u32(w, "deepseek2.attention.key_length_mla",
				    (uint32_t)(c->qk_nope_head_dim + c->qk_rope_head_dim));
		gguf_writer_set_u32(w, "deepseek2.attention.value_length_mla", (uint32_t)c->v_head_dim);
	} else {
		gguf_writer_set_u32(w, "deepseek2.attention.key_length",
				    (uint32_t)(c->qk_nope_head_dim + c->qk_rope_head_dim));
		gguf_writer_set_u32(w, "deepseek2.attention.value_length", (uint32_t)c->v_head_dim);
	}
	gguf_writer_set_u32(w, "deepseek2.expert_feed_forward_length", (uint32_t)c->moe_intermediate_size);
	gguf_writer_set_u32(w, "deepseek2.expert_shared_count", (uint32_t)c->n_shared_experts);
	gguf_writer_set_f32(w, "deepseek2.expert_weights_scale", c->routed_scaling_factor);
	gguf_writer_set_bool(w, "deepseek2.expert_weights_norm", c->norm_topk_prob);
	gguf_writer_set_u32(w, "deepseek2.expert_gating_func", 1);	/* softmax */
	if (c->topk_method == DS_TOPK_GROUP_LIMITED && c->n_group > 1) {
		/* newer converters' keys (DeepSeek-V3); older ones left group-limited routing out */
		gguf_writer_set_u32(w, "deepseek2.expert_group_count", (uint32_t)c->n_group);
		gguf_writer_set_u32(w, "deepseek2.expert_group_used_count", (uint32_t)c->topk_group);
	}
	gguf_writer_set_u32(w, "deepseek2.rope.dimension_count", (uint32_t)c->qk_rope_head_dim);
	if (c->yarn) {
		gguf_writer_set_string(w, "deepseek2.rope.scaling.type", "yarn", 4);
		gguf_writer_set_f32(w, "deepseek2.rope.scaling.factor", c->yarn_factor);
		gguf_writer_set_u32(w, "deepseek2.rope.scaling.original_context_length",
				    (uint32_t)c->yarn_original_max_position);
		/* 0.1 * mscale_all_dim in double, as the converter computes it, from config.json's own digits */
		char *path = xasprintf("%s/config.json", m->dir);
		json_t *hf = json_load_file(path, 0, NULL);
		json_t *v = json_object_get(json_object_get(hf, "rope_scaling"), "mscale_all_dim");
		double mscale = json_is_number(v) ? json_number_value(v) : c->yarn_mscale_all_dim;

		gguf_writer_set_f32(w, "deepseek2.rope.scaling.yarn_log_multiplier", (float)(0.1 * mscale));
		json_decref(hf);
		free(path);
	}
}

int cli_quantize(const struct cli_args *a)
{
	const struct qz_type *q = NULL;
	struct qz_run r = { 0 };
	struct gguf_writer *w;
	struct ds_model m;
	char err[1024], *gguf = ds_model_gguf_path(a->model);
	uint64_t total = 0;
	int rc = 0;

	for (size_t i = 0; i < sizeof qz_types / sizeof qz_types[0]; i++)
		if (strcasecmp(a->quantize_type, qz_types[i].name) == 0)
			q = &qz_types[i];
	if (q == NULL)
		return cli_fail("--quantize needs one of q4_k_m, q5_k_m, q8_0, q6_k, bf16, f16, f32, not '%s'", a->quantize_type);
	if (gguf != NULL) {
		free(gguf);
		return cli_fail("%s is a GGUF file; --quantize reads a Hugging Face checkpoint directory (config.json and safetensors)",
				a->model);
	}
	/* qz_release drops converted source pages: they must come back from the file if read again */
	ds_map_keep_file_mappings(true);
	if (ds_model_load(a->model, &m, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);

	w = gguf_writer_new();
	qz_metadata(w, &m, a->split_kv_b);
	if (tok_gguf_write_metadata(a->model, m.cfg.vocab_size, m.cfg.bos_token_id, m.cfg.eos_token_id, w, err,
				    sizeof err) < 0) {
		rc = cli_fail("%s", err);
		goto out;
	}
	if (m.cfg.q_lora_rank > 0)
		gguf_writer_set_u32(w, "deepseek2.attention.q_lora_rank", (uint32_t)m.cfg.q_lora_rank);
	if (q->base != DS_F32 && q->base != DS_F16 && q->base != DS_BF16)
		gguf_writer_set_u32(w, "general.quantization_version", 2);
	gguf_writer_set_u32(w, "general.file_type", (uint32_t)q->file_type);

	qz_plan(&r, q, &m, a->split_kv_b);
	for (int i = 0; i < r.n; i++) {
		struct qz_tensor *t = &r.t[i];

		gguf_writer_add_tensor(w, t->name, t->n_dims, t->ne, (uint32_t)ds_dtype_get(t->type)->ggml_type,
				       qz_bytes(t), qz_fill, t);
		total += qz_bytes(t);
	}
	r.tty = isatty(STDERR_FILENO);
	r.started = time(NULL);
	r.out = a->out_path;
	{
		struct sigaction sa = { .sa_handler = qz_on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if (gguf_writer_write(w, a->out_path, qz_progress, &r, err, sizeof err) < 0) {
		if (r.tty)
			fputc('\n', stderr);
		rc = cli_fail("%s", err);
		goto out;
	}
	{
		char size[32];

		fprintf(stderr, "wrote %s: %s, %d tensors, %s (%.2f bits per weight) in %lld s\n", a->out_path, q->name,
			r.n, qz_size(total, size, sizeof size),
			m.n_params ? 8.0 * (double)total / (double)m.n_params : 0.0, (long long)(time(NULL) - r.started));
	}
out:
	free(r.t);
	free(r.row);
	gguf_writer_free(w);
	ds_model_free(&m);
	return rc;
}

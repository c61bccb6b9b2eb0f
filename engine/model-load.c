/* model-load.c: loading a Hugging Face DeepSeek-V2 checkpoint directory (config.json and safetensors,
 * single-file or sharded) into struct ds_model, with every needed tensor checked and left mapped. */
#include "model.h"
#include "safetensors.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define ML_INDEX "model.safetensors.index.json"
#define ML_SINGLE "model.safetensors"

struct ml_ctx {
	const char *dir;
	struct ds_model *m;
	char *index_path;          /* NULL for a single model.safetensors */
	json_t *index;             /* the parsed index (owns weight_map) */
	json_t *weight_map;
	char **names;              /* file names relative to dir */
	struct st_file *files;
	bool *in_memory;           /* per file: read into anonymous memory at load (ds_map_reader_finish) */
	int n_files;
	ds_progress_fn progress;
	void *progress_arg;
	char *err;
	size_t errlen;
};

static int ml_file_slot(struct ml_ctx *c, const char *name)
{
	for (int i = 0; i < c->n_files; i++)
		if (strcmp(c->names[i], name) == 0)
			return i;
	return -1;
}

static void ml_add_file(struct ml_ctx *c, const char *name)
{
	if (ml_file_slot(c, name) >= 0)
		return;
	c->names = xreallocarray(c->names, c->n_files + 1, sizeof(*c->names));
	c->names[c->n_files++] = xstrdup(name);
}

/* A weight_map value must name a file inside dir, not a path that leaves it. */
static bool ml_plain_name(const char *s)
{
	return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int ml_read_index(struct ml_ctx *c)
{
	json_error_t jerr;
	const char *key;
	json_t *v;

	c->index = json_load_file(c->index_path, JSON_REJECT_DUPLICATES, &jerr);
	if (c->index == NULL)
		return errorf(c->err, c->errlen, "%s:%d:%d: malformed JSON: %s", c->index_path, jerr.line,
			      jerr.column, jerr.text);
	c->weight_map = json_is_object(c->index) ? json_object_get(c->index, "weight_map") : NULL;
	if (!json_is_object(c->weight_map))
		return errorf(c->err, c->errlen,
			      "%s: key 'weight_map' is missing or not an object mapping tensor names to file names",
			      c->index_path);
	if (json_object_size(c->weight_map) == 0)
		return errorf(c->err, c->errlen, "%s: 'weight_map' is empty", c->index_path);
	json_object_foreach(c->weight_map, key, v) {
		if (!json_is_string(v))
			return errorf(c->err, c->errlen,
				      "%s: 'weight_map' entry for tensor '%s' is not a file name string",
				      c->index_path, key);
		if (!ml_plain_name(json_string_value(v)))
			return errorf(c->err, c->errlen,
				      "%s: 'weight_map' maps tensor '%s' to '%s', which is not a file name in the checkpoint directory",
				      c->index_path, key, json_string_value(v));
		ml_add_file(c, json_string_value(v));
	}
	return 0;
}

static void ml_report(struct ml_ctx *c, uint64_t done, uint64_t total)
{
	if (c->progress != NULL)
		c->progress(done, total, c->progress_arg);
}

/* Maps every file and reads it in (ds_map_reader), reporting progress in steps of at most 1/64 of the
 * total. */
static int ml_map_files(struct ml_ctx *c)
{
	uint64_t total = 0, done = 0, step;
	struct stat st;

	for (int i = 0; i < c->n_files; i++) {
		char *path = xasprintf("%s/%s", c->dir, c->names[i]);
		int r = stat(path, &st);

		if (r < 0 && c->index_path != NULL)
			errorf(c->err, c->errlen, "%s: cannot open (%s), but %s lists it", path,
			       strerror(errno), ML_INDEX);
		else if (r < 0)
			errorf(c->err, c->errlen, "%s: cannot open: %s", path, strerror(errno));
		free(path);
		if (r < 0)
			return -1;
		total += (uint64_t)st.st_size;
	}
	step = total / 64 > 0 ? total / 64 : 1;
	ml_report(c, 0, total);
	c->files = xcalloc(c->n_files, sizeof(*c->files));
	c->in_memory = xcalloc(c->n_files, sizeof(*c->in_memory));
	for (int i = 0; i < c->n_files; i++) {
		char *path = xasprintf("%s/%s", c->dir, c->names[i]);
		int r = st_open(path, &c->files[i], c->err, c->errlen);
		size_t off = 0;

		if (r < 0) {
			free(path);
			return -1;
		}
		struct ds_map_reader rd;
		ds_map_reader_start(&rd, path, c->files[i].addr, c->files[i].size, total);
		free(path);
		while (off < c->files[i].size) {
			/* Chunks start on page boundaries: the mapping is page-aligned and step is rounded. */
			size_t len = c->files[i].size - off;
			size_t page = 4096;
			size_t chunk = (size_t)((step + page - 1) / page * page);

			if (len > chunk)
				len = chunk;
			ds_map_reader_step(&rd, off, len);
			off += len;
			done += len;
			ml_report(c, done, total);
		}
		c->in_memory[i] = ds_map_reader_finish(&rd) == 1;
	}
	ml_report(c, total, total);
	return 0;
}

/* With an index, every entry must be in the file it names: a stale index is caught here, before
 * a tensor is looked up where it is not. */
static int ml_check_index(struct ml_ctx *c)
{
	const char *key;
	json_t *v;

	if (c->weight_map == NULL)
		return 0;
	json_object_foreach(c->weight_map, key, v) {
		int slot = ml_file_slot(c, json_string_value(v));

		if (st_find(&c->files[slot], key) == NULL)
			return errorf(c->err, c->errlen, "%s: tensor '%s' is missing, but %s lists it in this file",
				      c->files[slot].path, key, ML_INDEX);
	}
	return 0;
}

/* Finds name, checks dtype, shape and alignment, and points t at its bytes. rows == 0 asks for a
 * 1-D tensor of cols elements. */
static int ml_tensor(struct ml_ctx *c, const char *name, int64_t rows, int64_t cols, struct ds_tensor *t)
{
	const struct st_file *f = NULL;
	const struct st_tensor *s = NULL;
	int64_t want[2];
	int want_dims = rows == 0 ? 1 : 2;
	char sa[160], sb[160];
	size_t esize;

	if (rows == 0) {
		want[0] = cols;
	} else {
		want[0] = rows;
		want[1] = cols;
	}
	st_format_shape(want, want_dims, sb, sizeof(sb));
	if (c->weight_map != NULL) {
		json_t *v = json_object_get(c->weight_map, name);

		if (v == NULL)
			return errorf(c->err, c->errlen,
				      "%s: tensor '%s' is not in 'weight_map', but config.json needs it with shape %s",
				      c->index_path, name, sb);
		f = &c->files[ml_file_slot(c, json_string_value(v))];
		s = st_find(f, name);   /* present: ml_check_index ran */
	} else {
		f = &c->files[0];
		s = st_find(f, name);
		if (s == NULL)
			return errorf(c->err, c->errlen, "%s: tensor '%s' is missing, but config.json needs it with shape %s",
				      f->path, name, sb);
	}
	if (s->dtype != ST_F32 && s->dtype != ST_F16 && s->dtype != ST_BF16)
		return errorf(c->err, c->errlen,
			      "%s: tensor '%s' has dtype %s; dscoder-engine reads only F32, F16 and BF16 weights",
			      f->path, name, s->dtype_name);
	if (s->n_dims != want_dims || s->shape[0] != want[0] || (want_dims == 2 && s->shape[1] != want[1])) {
		st_format_shape(s->shape, s->n_dims, sa, sizeof(sa));
		return errorf(c->err, c->errlen, "%s: tensor '%s' has shape %s, config.json needs %s",
			      f->path, name, sa, sb);
	}
	esize = st_dtype_size(s->dtype);
	if (((uintptr_t)s->data) % esize != 0)
		return errorf(c->err, c->errlen,
			      "%s: tensor '%s' starts at a byte offset that is not a multiple of its %zu-byte elements; rewrite the file with the safetensors library",
			      f->path, name, esize);
	*t = (struct ds_tensor){ .dtype = s->dtype == ST_F32 ? DS_F32 : s->dtype == ST_F16 ? DS_F16 : DS_BF16,
				 .data = s->data, .rows = rows == 0 ? 1 : rows, .cols = cols, .layout = DS_LAYOUT_ROWS };
	c->m->n_params += (uint64_t)t->rows * (uint64_t)t->cols;
	c->m->weight_bytes += s->nbytes;
	return 0;
}

static int ml_layer_tensor(struct ml_ctx *c, int l, const char *suffix, int64_t rows, int64_t cols,
			   struct ds_tensor *t)
{
	char name[256];

	snprintf(name, sizeof(name), "model.layers.%d.%s", l, suffix);
	return ml_tensor(c, name, rows, cols, t);
}

static int ml_layer(struct ml_ctx *c, int l)
{
	const struct ds_config *cfg = &c->m->cfg;
	struct ds_layer *L = &c->m->w.layers[l];
	int64_t hidden = cfg->hidden_size, heads = cfg->num_attention_heads;
	int64_t qdim = heads * (cfg->qk_nope_head_dim + cfg->qk_rope_head_dim);

	if (ml_layer_tensor(c, l, "input_layernorm.weight", 0, hidden, &L->input_norm) < 0)
		return -1;
	if (cfg->q_lora_rank == 0) {
		if (ml_layer_tensor(c, l, "self_attn.q_proj.weight", qdim, hidden, &L->q_proj) < 0)
			return -1;
	} else if (ml_layer_tensor(c, l, "self_attn.q_a_proj.weight", cfg->q_lora_rank, hidden, &L->q_a_proj) < 0 ||
		   ml_layer_tensor(c, l, "self_attn.q_a_layernorm.weight", 0, cfg->q_lora_rank, &L->q_a_norm) < 0 ||
		   ml_layer_tensor(c, l, "self_attn.q_b_proj.weight", qdim, cfg->q_lora_rank, &L->q_b_proj) < 0) {
		return -1;
	}
	if (ml_layer_tensor(c, l, "self_attn.kv_a_proj_with_mqa.weight",
			    cfg->kv_lora_rank + cfg->qk_rope_head_dim, hidden, &L->kv_a_proj) < 0 ||
	    ml_layer_tensor(c, l, "self_attn.kv_a_layernorm.weight", 0, cfg->kv_lora_rank, &L->kv_a_norm) < 0 ||
	    ml_layer_tensor(c, l, "self_attn.kv_b_proj.weight", heads * (cfg->qk_nope_head_dim + cfg->v_head_dim),
			    cfg->kv_lora_rank, &L->kv_b_proj) < 0 ||
	    ml_layer_tensor(c, l, "self_attn.o_proj.weight", hidden, heads * cfg->v_head_dim, &L->o_proj) < 0 ||
	    ml_layer_tensor(c, l, "post_attention_layernorm.weight", 0, hidden, &L->post_norm) < 0)
		return -1;

	if (!ds_layer_is_moe(cfg, l)) {
		int64_t inter = cfg->intermediate_size;

		return ml_layer_tensor(c, l, "mlp.gate_proj.weight", inter, hidden, &L->gate_proj) < 0 ||
		       ml_layer_tensor(c, l, "mlp.up_proj.weight", inter, hidden, &L->up_proj) < 0 ||
		       ml_layer_tensor(c, l, "mlp.down_proj.weight", hidden, inter, &L->down_proj) < 0 ? -1 : 0;
	}

	int64_t moe = cfg->moe_intermediate_size, shared = (int64_t)cfg->n_shared_experts * moe;

	if (ml_layer_tensor(c, l, "mlp.gate.weight", cfg->n_routed_experts, hidden, &L->router) < 0)
		return -1;
	L->exp_gate = xcalloc(cfg->n_routed_experts, sizeof(*L->exp_gate));
	L->exp_up = xcalloc(cfg->n_routed_experts, sizeof(*L->exp_up));
	L->exp_down = xcalloc(cfg->n_routed_experts, sizeof(*L->exp_down));
	for (int e = 0; e < cfg->n_routed_experts; e++) {
		char s[3][96];

		snprintf(s[0], sizeof(s[0]), "mlp.experts.%d.gate_proj.weight", e);
		snprintf(s[1], sizeof(s[1]), "mlp.experts.%d.up_proj.weight", e);
		snprintf(s[2], sizeof(s[2]), "mlp.experts.%d.down_proj.weight", e);
		if (ml_layer_tensor(c, l, s[0], moe, hidden, &L->exp_gate[e]) < 0 ||
		    ml_layer_tensor(c, l, s[1], moe, hidden, &L->exp_up[e]) < 0 ||
		    ml_layer_tensor(c, l, s[2], hidden, moe, &L->exp_down[e]) < 0)
			return -1;
	}
	if (shared > 0 &&
	    (ml_layer_tensor(c, l, "mlp.shared_experts.gate_proj.weight", shared, hidden, &L->shared_gate) < 0 ||
	     ml_layer_tensor(c, l, "mlp.shared_experts.up_proj.weight", shared, hidden, &L->shared_up) < 0 ||
	     ml_layer_tensor(c, l, "mlp.shared_experts.down_proj.weight", hidden, shared, &L->shared_down) < 0))
		return -1;
	return 0;
}

static int ml_weights(struct ml_ctx *c)
{
	const struct ds_config *cfg = &c->m->cfg;
	struct ds_weights *w = &c->m->w;

	if (ml_tensor(c, "model.embed_tokens.weight", cfg->vocab_size, cfg->hidden_size, &w->embed) < 0)
		return -1;
	w->layers = xcalloc(cfg->num_hidden_layers, sizeof(*w->layers));
	for (int l = 0; l < cfg->num_hidden_layers; l++)
		if (ml_layer(c, l) < 0)
			return -1;
	if (ml_tensor(c, "model.norm.weight", 0, cfg->hidden_size, &w->norm) < 0 ||
	    ml_tensor(c, "lm_head.weight", cfg->vocab_size, cfg->hidden_size, &w->lm_head) < 0)
		return -1;
	return 0;
}

/* The name shown for a checkpoint: the last path component, except inside the Hugging Face cache
 * (.../models--ORG--NAME/snapshots/REVISION), where the revision hash says nothing and ORG/NAME does. */
static char *ml_base_name(const char *dir)
{
	size_t end = strlen(dir), start, pend, pstart, gend, gstart;

	while (end > 1 && dir[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	pend = start > 0 ? start - 1 : 0;
	pstart = pend;
	while (pstart > 0 && dir[pstart - 1] != '/')
		pstart--;
	gend = pstart > 0 ? pstart - 1 : 0;
	gstart = gend;
	while (gstart > 0 && dir[gstart - 1] != '/')
		gstart--;
	if (pend - pstart == 9 && strncmp(dir + pstart, "snapshots", 9) == 0 && gend - gstart > 8 &&
	    strncmp(dir + gstart, "models--", 8) == 0) {
		char *name = xstrndup(dir + gstart + 8, gend - gstart - 8);
		char *sep = strstr(name, "--");

		if (sep != NULL) {
			sep[0] = '/';
			memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
		}
		return name;
	}
	if ((end - start == 1 && dir[start] == '.') || (end - start == 2 && strncmp(dir + start, "..", 2) == 0)) {
		char *real = realpath(dir, NULL);

		if (real != NULL && strcmp(real, "/") != 0) {
			char *name = ml_base_name(real);

			free(real);
			return name;
		}
		free(real);
	}
	return xstrndup(dir + start, end - start);
}

static int ml_check_dir(struct ml_ctx *c)
{
	struct stat st;

	if (stat(c->dir, &st) < 0)
		return errorf(c->err, c->errlen, "%s: cannot open the checkpoint directory: %s", c->dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return errorf(c->err, c->errlen,
			      "%s: not a directory; give the checkpoint directory that holds config.json and the safetensors files",
			      c->dir);
	return 0;
}

static int ml_locate(struct ml_ctx *c)
{
	struct stat st;
	char *single;

	/* Hugging Face prefers a single model.safetensors over an index; so do we. */
	single = xasprintf("%s/%s", c->dir, ML_SINGLE);
	if (stat(single, &st) == 0) {
		free(single);
		ml_add_file(c, ML_SINGLE);
		return 0;
	}
	free(single);
	c->index_path = xasprintf("%s/%s", c->dir, ML_INDEX);
	if (stat(c->index_path, &st) == 0)
		return ml_read_index(c);
	return errorf(c->err, c->errlen, "%s: has neither %s nor %s; download the checkpoint's weight files into it",
		      c->dir, ML_SINGLE, ML_INDEX);
}

static void ml_ctx_free(struct ml_ctx *c)
{
	for (int i = 0; i < c->n_files; i++) {
		if (c->files != NULL)
			st_close(&c->files[i]);
		free(c->names[i]);
	}
	free(c->files);
	free(c->in_memory);
	free(c->names);
	free(c->index_path);
	json_decref(c->index);
}

int ds_model_load(const char *dir, struct ds_model *m, ds_progress_fn progress, void *arg,
		  char *err, size_t errlen)
{
	struct ml_ctx c = { .dir = dir, .m = m, .progress = progress, .progress_arg = arg,
			    .err = err, .errlen = errlen };
	char *cfg_path;
	int r;

	{
		char *gguf = ds_model_gguf_path(dir);

		if (gguf != NULL) {
			r = ds_model_load_gguf(gguf, m, progress, arg, err, errlen);
			free(gguf);
			return r;
		}
	}
	memset(m, 0, sizeof(*m));
	if (ml_check_dir(&c) < 0)
		goto fail;
	cfg_path = xasprintf("%s/config.json", dir);
	r = ds_config_load(cfg_path, &m->cfg, err, errlen);
	free(cfg_path);
	if (r < 0 || ml_locate(&c) < 0 || ml_map_files(&c) < 0 || ml_check_index(&c) < 0 || ml_weights(&c) < 0)
		goto fail;

	m->dir = xstrdup(dir);
	m->name = ml_base_name(dir);
	m->maps = xcalloc(c.n_files, sizeof(*m->maps));
	m->n_maps = c.n_files;
	for (int i = 0; i < c.n_files; i++) {
		st_detach(&c.files[i], &m->maps[i].addr, &m->maps[i].size);
		m->maps[i].in_memory = c.in_memory[i];
	}
	ml_ctx_free(&c);
	return 0;
fail:
	ml_ctx_free(&c);
	ds_model_free(m);
	return -1;
}

void ds_model_free(struct ds_model *m)
{
	if (m->w.layers != NULL) {
		for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
			free(m->w.layers[l].exp_gate);
			free(m->w.layers[l].exp_up);
			free(m->w.layers[l].exp_down);
		}
		free(m->w.layers);
	}
	for (int i = 0; i < m->n_maps; i++)
		if (m->maps[i].addr != NULL)
			munmap(m->maps[i].addr, m->maps[i].size);
	free(m->maps);
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->dir);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

static uint64_t ml_bytes(const struct ds_tensor *t)
{
	return t->data != NULL ? ds_tensor_bytes(t) : 0;
}

void ds_model_token_bytes(const struct ds_model *m, struct ds_token_bytes *b)
{
	const struct ds_config *cfg = &m->cfg;

	memset(b, 0, sizeof *b);
	if (m->w.layers == NULL)
		return;
	b->other = ds_row_bytes(m->w.embed.dtype, m->w.embed.cols);
	b->head = ml_bytes(&m->w.norm) + ml_bytes(&m->w.lm_head);
	for (int l = 0; l < cfg->num_hidden_layers; l++) {
		const struct ds_layer *L = &m->w.layers[l];

		/* Tensors a layer does not have are zeroed, so summing them all is right for either q path,
		 * either kv_b layout and either FFN kind. */
		b->attention += ml_bytes(&L->input_norm) + ml_bytes(&L->q_proj) + ml_bytes(&L->q_a_proj) +
				ml_bytes(&L->q_a_norm) + ml_bytes(&L->q_b_proj) + ml_bytes(&L->kv_a_proj) +
				ml_bytes(&L->kv_a_norm) + ml_bytes(&L->o_proj);
		b->mla += ml_bytes(&L->kv_b_proj) + ml_bytes(&L->k_b) + ml_bytes(&L->v_b);
		b->other += ml_bytes(&L->post_norm);
		b->dense += ml_bytes(&L->gate_proj) + ml_bytes(&L->up_proj) + ml_bytes(&L->down_proj);
		b->router += ml_bytes(&L->router);
		b->shared += ml_bytes(&L->shared_gate) + ml_bytes(&L->shared_up) + ml_bytes(&L->shared_down);
		if (L->exp_gate != NULL && cfg->n_routed_experts > 0) {
			/* The k experts a token picks vary; expert 0 stands for them (all share a shape, and
			 * checkpoints store them in one dtype). */
			uint64_t one = ml_bytes(&L->exp_gate[0]) + ml_bytes(&L->exp_up[0]) + ml_bytes(&L->exp_down[0]);

			b->experts += one * (uint64_t)cfg->num_experts_per_tok;
		}
	}
}

uint64_t ds_model_bytes_per_token(const struct ds_model *m)
{
	struct ds_token_bytes b;

	ds_model_token_bytes(m, &b);
	return b.attention + b.mla + b.router + b.experts + b.shared + b.dense + b.head + b.other;
}

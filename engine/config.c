/* config.c: reading a DeepSeek-V2 config.json (Hugging Face layout) into struct ds_config. */
#include "model.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

/* Larger sizes than this are surely a typo, and refusing them keeps every product of two sizes far
 * from int64 overflow (the forward pass multiplies sizes as ints; see cfg_check_products). */
#define CFG_MAX_DIM (1 << 24)

enum {
	CFG_REQUIRED = 1,  /* absence is an error */
	CFG_NULLABLE = 2,  /* null means "use the default" */
};

struct cfg_ctx {
	const char *path;
	char *err;
	size_t errlen;
};

static const char *cfg_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value of unknown type";
}

/* Looks up key; returns 1 with *out set when a value is there, 0 when absent (or null and nullable),
 * -1 (error written) when a required key is missing or a null is not allowed. */
static int cfg_lookup(struct cfg_ctx *c, json_t *obj, const char *prefix, const char *key, int flags,
		      json_t **out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		if (flags & CFG_REQUIRED)
			return errorf(c->err, c->errlen, "%s: key '%s%s' is missing; every DeepSeek-V2 config.json has it",
				      c->path, prefix, key);
		return 0;
	}
	if (json_is_null(v)) {
		if (flags & CFG_NULLABLE)
			return 0;
		return errorf(c->err, c->errlen, "%s: key '%s%s' is null but must have a value",
			      c->path, prefix, key);
	}
	*out = v;
	return 1;
}

/* An integer in [min, max]; 32.0 counts as 32. *out keeps def when absent or null. */
static int cfg_int(struct cfg_ctx *c, json_t *obj, const char *prefix, const char *key, int flags,
		   int def, long long min, long long max, int *out)
{
	json_t *v = NULL;
	long long x;
	int r = cfg_lookup(c, obj, prefix, key, flags, &v);

	*out = def;
	if (r <= 0)
		return r;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!(d == floor(d)) || d < (double)LLONG_MIN / 2 || d > (double)LLONG_MAX / 2)
			return errorf(c->err, c->errlen, "%s: key '%s%s' must be an integer, not %g",
				      c->path, prefix, key, d);
		x = (long long)d;
	} else {
		return errorf(c->err, c->errlen, "%s: key '%s%s' must be an integer, not %s",
			      c->path, prefix, key, cfg_type_name(v));
	}
	if (x < min || x > max) {
		if (min == 1 && x < 1)
			return errorf(c->err, c->errlen, "%s: key '%s%s' must be a positive integer, not %lld",
				      c->path, prefix, key, x);
		return errorf(c->err, c->errlen, "%s: key '%s%s' is %lld but must lie between %lld and %lld",
			      c->path, prefix, key, x, min, max);
	}
	*out = (int)x;
	return 1;
}

/* A finite number greater than zero (or >= 0 when allow_zero). */
static int cfg_float(struct cfg_ctx *c, json_t *obj, const char *prefix, const char *key, int flags,
		     float def, bool allow_zero, float *out)
{
	json_t *v = NULL;
	double d;
	int r = cfg_lookup(c, obj, prefix, key, flags, &v);

	*out = def;
	if (r <= 0)
		return r;
	if (!json_is_number(v))
		return errorf(c->err, c->errlen, "%s: key '%s%s' must be a number, not %s",
			      c->path, prefix, key, cfg_type_name(v));
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || (d == 0 && !allow_zero) || d > 3.0e38)
		return errorf(c->err, c->errlen, "%s: key '%s%s' must be a number greater than %s, not %g",
			      c->path, prefix, key, allow_zero ? "or equal to 0" : "0", d);
	*out = (float)d;
	return 1;
}

static int cfg_bool(struct cfg_ctx *c, json_t *obj, const char *key, int flags, bool def, bool *out)
{
	json_t *v = NULL;
	int r = cfg_lookup(c, obj, "", key, flags, &v);

	*out = def;
	if (r <= 0)
		return r;
	if (!json_is_boolean(v))
		return errorf(c->err, c->errlen, "%s: key '%s' must be true or false, not %s",
			      c->path, key, cfg_type_name(v));
	*out = json_is_true(v);
	return 1;
}

/* A string value; *out stays NULL when absent or null. The pointer lives as long as obj. */
static int cfg_string(struct cfg_ctx *c, json_t *obj, const char *prefix, const char *key, int flags,
		      const char **out)
{
	json_t *v = NULL;
	int r = cfg_lookup(c, obj, prefix, key, flags, &v);

	*out = NULL;
	if (r <= 0)
		return r;
	if (!json_is_string(v))
		return errorf(c->err, c->errlen, "%s: key '%s%s' must be a string, not %s",
			      c->path, prefix, key, cfg_type_name(v));
	*out = json_string_value(v);
	return 1;
}

static int cfg_rope_scaling(struct cfg_ctx *c, json_t *root, struct ds_config *cfg)
{
	static const char P[] = "rope_scaling.";
	json_t *rs = NULL;
	const char *type;
	int r = cfg_lookup(c, root, "", "rope_scaling", CFG_NULLABLE, &rs);

	cfg->yarn = false;
	cfg->yarn_factor = 1.0f;
	cfg->yarn_original_max_position = cfg->max_position_embeddings;
	cfg->yarn_beta_fast = 32.0f;
	cfg->yarn_beta_slow = 1.0f;
	cfg->yarn_mscale = 1.0f;
	cfg->yarn_mscale_all_dim = 0.0f;
	if (r <= 0)
		return r;
	if (!json_is_object(rs))
		return errorf(c->err, c->errlen, "%s: key 'rope_scaling' must be null or an object, not %s",
			      c->path, cfg_type_name(rs));
	if (cfg_string(c, rs, P, "type", CFG_REQUIRED, &type) < 0)
		return -1;
	if (strcmp(type, "yarn") != 0)
		return errorf(c->err, c->errlen,
			      "%s: key 'rope_scaling.type' is '%s'; only 'yarn' (or rope_scaling null) is supported",
			      c->path, type);
	cfg->yarn = true;
	if (cfg_float(c, rs, P, "factor", CFG_REQUIRED, 1.0f, false, &cfg->yarn_factor) < 0 ||
	    cfg_int(c, rs, P, "original_max_position_embeddings", CFG_REQUIRED, 0, 1, INT_MAX,
		    &cfg->yarn_original_max_position) < 0 ||
	    cfg_float(c, rs, P, "beta_fast", CFG_NULLABLE, 32.0f, false, &cfg->yarn_beta_fast) < 0 ||
	    cfg_float(c, rs, P, "beta_slow", CFG_NULLABLE, 1.0f, false, &cfg->yarn_beta_slow) < 0 ||
	    cfg_float(c, rs, P, "mscale", CFG_NULLABLE, 1.0f, true, &cfg->yarn_mscale) < 0 ||
	    cfg_float(c, rs, P, "mscale_all_dim", CFG_NULLABLE, 0.0f, true, &cfg->yarn_mscale_all_dim) < 0)
		return -1;
	return 0;
}

/* The routing keys matter only when there are routed experts; a dense config may leave them out. */
static int cfg_routing(struct cfg_ctx *c, json_t *root, struct ds_config *cfg)
{
	int moe = cfg->n_routed_experts > 0;
	int req = moe ? CFG_REQUIRED : 0;
	const char *method = NULL, *scoring = NULL;

	if (cfg_int(c, root, "", "num_experts_per_tok", req | (moe ? 0 : CFG_NULLABLE), 0,
		    moe ? 1 : 0, CFG_MAX_DIM, &cfg->num_experts_per_tok) < 0 ||
	    cfg_float(c, root, "", "routed_scaling_factor", req | (moe ? 0 : CFG_NULLABLE), 1.0f, false,
		      &cfg->routed_scaling_factor) < 0 ||
	    cfg_string(c, root, "", "topk_method", req | (moe ? 0 : CFG_NULLABLE), &method) < 0 ||
	    cfg_int(c, root, "", "n_group", CFG_NULLABLE, 1, 1, CFG_MAX_DIM, &cfg->n_group) < 0 ||
	    cfg_int(c, root, "", "topk_group", CFG_NULLABLE, 1, 1, CFG_MAX_DIM, &cfg->topk_group) < 0 ||
	    cfg_bool(c, root, "norm_topk_prob", CFG_NULLABLE, false, &cfg->norm_topk_prob) < 0 ||
	    cfg_int(c, root, "", "first_k_dense_replace", req | CFG_NULLABLE, 0, 0, INT_MAX,
		    &cfg->first_k_dense_replace) < 0 ||
	    cfg_int(c, root, "", "moe_layer_freq", req | CFG_NULLABLE, 1, 1, INT_MAX, &cfg->moe_layer_freq) < 0 ||
	    cfg_string(c, root, "", "scoring_func", CFG_NULLABLE, &scoring) < 0)
		return -1;

	cfg->topk_method = DS_TOPK_GREEDY;
	if (method != NULL) {
		/* "gready" is how the released DeepSeek-V2 files (and HF's default) spell greedy. */
		if (strcmp(method, "greedy") == 0 || strcmp(method, "gready") == 0)
			cfg->topk_method = DS_TOPK_GREEDY;
		else if (strcmp(method, "group_limited_greedy") == 0)
			cfg->topk_method = DS_TOPK_GROUP_LIMITED;
		else
			return errorf(c->err, c->errlen,
				      "%s: key 'topk_method' is '%s'; the accepted values are 'greedy' (or 'gready') and 'group_limited_greedy'",
				      c->path, method);
	}
	if (scoring != NULL && strcmp(scoring, "softmax") != 0)
		return errorf(c->err, c->errlen,
			      "%s: key 'scoring_func' is '%s'; only 'softmax' is supported (DeepSeek-V2)",
			      c->path, scoring);
	if (!moe)
		return 0;

	if (cfg->num_experts_per_tok > cfg->n_routed_experts)
		return errorf(c->err, c->errlen,
			      "%s: key 'num_experts_per_tok' is %d but there are only %d routed experts (n_routed_experts)",
			      c->path, cfg->num_experts_per_tok, cfg->n_routed_experts);
	if (cfg->topk_method == DS_TOPK_GROUP_LIMITED) {
		int per_group;

		if (cfg->n_routed_experts % cfg->n_group != 0)
			return errorf(c->err, c->errlen,
				      "%s: key 'n_group' is %d, which does not divide n_routed_experts (%d)",
				      c->path, cfg->n_group, cfg->n_routed_experts);
		if (cfg->topk_group > cfg->n_group)
			return errorf(c->err, c->errlen,
				      "%s: key 'topk_group' is %d but there are only %d groups (n_group)",
				      c->path, cfg->topk_group, cfg->n_group);
		per_group = cfg->n_routed_experts / cfg->n_group;
		if ((long long)per_group * cfg->topk_group < cfg->num_experts_per_tok)
			return errorf(c->err, c->errlen,
				      "%s: key 'topk_group' is %d: %d groups of %d experts cannot supply num_experts_per_tok (%d) experts",
				      c->path, cfg->topk_group, cfg->topk_group, per_group, cfg->num_experts_per_tok);
	}
	return 0;
}

/* Products the forward pass computes in int must fit. */
static int cfg_check_products(struct cfg_ctx *c, const struct ds_config *cfg)
{
	long long heads = cfg->num_attention_heads;
	long long qk = cfg->qk_nope_head_dim + (long long)cfg->qk_rope_head_dim;

	if (heads * qk > INT_MAX || heads * (cfg->qk_nope_head_dim + (long long)cfg->v_head_dim) > INT_MAX ||
	    heads * cfg->v_head_dim > INT_MAX)
		return errorf(c->err, c->errlen, "%s: key 'num_attention_heads' is %d, too large for the head dimensions",
			      c->path, cfg->num_attention_heads);
	if ((long long)cfg->n_shared_experts * cfg->moe_intermediate_size > INT_MAX)
		return errorf(c->err, c->errlen, "%s: key 'n_shared_experts' is %d, too large for moe_intermediate_size",
			      c->path, cfg->n_shared_experts);
	if (cfg->qk_rope_head_dim % 2 != 0)
		return errorf(c->err, c->errlen,
			      "%s: key 'qk_rope_head_dim' is %d but rotary embedding needs an even dimension",
			      c->path, cfg->qk_rope_head_dim);
	return 0;
}

static int cfg_parse(struct cfg_ctx *c, json_t *root, struct ds_config *cfg)
{
	const char *dtype = NULL;
	int R = CFG_REQUIRED, RN = CFG_REQUIRED | CFG_NULLABLE;

	memset(cfg, 0, sizeof(*cfg));
	if (!json_is_object(root))
		return errorf(c->err, c->errlen, "%s: the top level must be a JSON object, not %s",
			      c->path, cfg_type_name(root));
	if (cfg_int(c, root, "", "vocab_size", R, 0, 1, CFG_MAX_DIM, &cfg->vocab_size) < 0 ||
	    cfg_int(c, root, "", "hidden_size", R, 0, 1, CFG_MAX_DIM, &cfg->hidden_size) < 0 ||
	    cfg_int(c, root, "", "intermediate_size", R, 0, 1, CFG_MAX_DIM, &cfg->intermediate_size) < 0 ||
	    cfg_int(c, root, "", "num_hidden_layers", R, 0, 1, CFG_MAX_DIM, &cfg->num_hidden_layers) < 0 ||
	    cfg_int(c, root, "", "num_attention_heads", R, 0, 1, CFG_MAX_DIM, &cfg->num_attention_heads) < 0 ||
	    cfg_int(c, root, "", "n_shared_experts", RN, 0, 0, CFG_MAX_DIM, &cfg->n_shared_experts) < 0 ||
	    cfg_int(c, root, "", "n_routed_experts", RN, 0, 0, CFG_MAX_DIM, &cfg->n_routed_experts) < 0 ||
	    cfg_int(c, root, "", "moe_intermediate_size", cfg->n_routed_experts > 0 ? R : CFG_NULLABLE, 0,
		    cfg->n_routed_experts > 0 ? 1 : 0, CFG_MAX_DIM, &cfg->moe_intermediate_size) < 0 ||
	    cfg_routing(c, root, cfg) < 0 ||
	    cfg_int(c, root, "", "q_lora_rank", RN, 0, 0, CFG_MAX_DIM, &cfg->q_lora_rank) < 0 ||
	    cfg_int(c, root, "", "kv_lora_rank", R, 0, 1, CFG_MAX_DIM, &cfg->kv_lora_rank) < 0 ||
	    cfg_int(c, root, "", "qk_nope_head_dim", R, 0, 1, CFG_MAX_DIM, &cfg->qk_nope_head_dim) < 0 ||
	    cfg_int(c, root, "", "qk_rope_head_dim", R, 0, 1, CFG_MAX_DIM, &cfg->qk_rope_head_dim) < 0 ||
	    cfg_int(c, root, "", "v_head_dim", R, 0, 1, CFG_MAX_DIM, &cfg->v_head_dim) < 0 ||
	    cfg_int(c, root, "", "max_position_embeddings", R, 0, 1, INT_MAX, &cfg->max_position_embeddings) < 0 ||
	    cfg_float(c, root, "", "rms_norm_eps", R, 1e-6f, false, &cfg->rms_norm_eps) < 0 ||
	    cfg_float(c, root, "", "rope_theta", R, 10000.0f, false, &cfg->rope_theta) < 0 ||
	    cfg_rope_scaling(c, root, cfg) < 0 ||
	    cfg_int(c, root, "", "bos_token_id", CFG_NULLABLE, -1, 0, cfg->vocab_size - 1, &cfg->bos_token_id) < 0 ||
	    cfg_int(c, root, "", "eos_token_id", CFG_NULLABLE, -1, 0, cfg->vocab_size - 1, &cfg->eos_token_id) < 0 ||
	    cfg_string(c, root, "", "torch_dtype", CFG_NULLABLE, &dtype) < 0)
		return -1;
	if (cfg->n_shared_experts > 0 && cfg->moe_intermediate_size <= 0)
		return errorf(c->err, c->errlen, "%s: key 'moe_intermediate_size' must be a positive integer when there are shared experts",
			      c->path);
	if (cfg_check_products(c, cfg) < 0)
		return -1;
	snprintf(cfg->dtype_name, sizeof(cfg->dtype_name), "%s", dtype != NULL ? dtype : "unknown");
	return 0;
}

/* Reads the whole file so that errors can name it ourselves (jansson's own text for a missing file is
 * less clear than strerror). */
static char *cfg_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (fp == NULL) {
		errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		errorf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	*len = n;
	return buf;
}

int ds_config_load(const char *path, struct ds_config *cfg, char *err, size_t errlen)
{
	struct cfg_ctx c = { .err = err, .errlen = errlen };
	struct stat st;
	char *file = NULL, *buf;
	size_t len = 0;
	json_error_t jerr;
	json_t *root;
	int r;

	/* A checkpoint directory is accepted as well as the file itself. */
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		file = xasprintf("%s/config.json", path);
	c.path = file != NULL ? file : path;
	buf = cfg_read_file(c.path, &len, err, errlen);
	if (buf == NULL) {
		free(file);
		return -1;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (root == NULL) {
		errorf(err, errlen, "%s:%d:%d: malformed JSON: %s", c.path, jerr.line, jerr.column, jerr.text);
		free(file);
		return -1;
	}
	r = cfg_parse(&c, root, cfg);
	json_decref(root);
	free(file);
	return r < 0 ? -1 : 0;
}

int ds_config_from_json(const char *label, json_t *root, struct ds_config *cfg, char *err, size_t errlen)
{
	struct cfg_ctx c = { .path = label, .err = err, .errlen = errlen };

	return cfg_parse(&c, root, cfg) < 0 ? -1 : 0;
}

/* test-loader.c: loads the three tiny fixture checkpoints and checks config values, dtypes, shapes,
 * weight values (read from the files with python3 when the test was written), and config.json edge
 * cases written to a temporary directory. */
/* its own CHECK: the condition and the place, on stderr */
#define FIX_OWN_CHECK
#include "fixture-util.h"
#include "model.h"
#include "xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		failures++; \
	} \
} while (0)

#define CHECK_INT(got, want) CHECK((long long)(got) == (long long)(want), "got %lld, want %lld", \
				   (long long)(got), (long long)(want))
#define CHECK_FLOAT(got, want) CHECK(fabs((double)(got) - (double)(want)) <= 1e-6 * fabs((double)(want)) + 1e-9, \
				     "got %.9g, want %.9g", (double)(got), (double)(want))

static float bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* Element i of a tensor as float, whatever its dtype (F16 is not in the fixtures). */
static float elem(const struct ds_tensor *t, int64_t i)
{
	if (t->dtype == DS_F32)
		return ((const float *)t->data)[i];
	if (t->dtype == DS_BF16)
		return bf16_to_f32(((const uint16_t *)t->data)[i]);
	return NAN;
}

static void check_shape(const char *what, const struct ds_tensor *t, int64_t rows, int64_t cols,
			enum ds_dtype dtype)
{
	CHECK(t->data != NULL, "%s has no data", what);
	CHECK(t->rows == rows && t->cols == cols, "%s is (%lld, %lld), want (%lld, %lld)", what,
	      (long long)t->rows, (long long)t->cols, (long long)rows, (long long)cols);
	CHECK(t->dtype == dtype, "%s has dtype %d, want %d", what, t->dtype, dtype);
}

struct progress_log {
	int calls;
	uint64_t last, total, max_step;
	int backwards;
};

static void on_progress(uint64_t done, uint64_t total, void *arg)
{
	struct progress_log *p = arg;

	if (p->calls > 0 && done < p->last)
		p->backwards++;
	if (p->calls > 0 && done - p->last > p->max_step)
		p->max_step = done - p->last;
	p->calls++;
	p->last = done;
	p->total = total;
}

/* Values read with python3 (struct.unpack of the safetensors data) from the fixture files. */
struct expect {
	const char *dir;
	int layers, q_lora_rank;
	float scaling;
	enum ds_topk_method method;
	int n_group, topk_group;
	bool norm_topk_prob;
	enum ds_dtype dtype;
	int n_maps;
	uint64_t n_params, weight_bytes, files_bytes, bytes_per_token;
	float embed0, embed323, lm_last, exp7_down100, norm10, kvb3_last;
};

static const struct expect fixtures[] = {
	{ "tiny-ds2-full", 4, 48, 16.0f, DS_TOPK_GREEDY, 1, 1, false, DS_F32, 1,
	  273792, 1095168, 1108912, 737024,
	  0.3455841839313507f, -0.384430468082428f, -0.09937252104282379f, 0.05839621648192406f,
	  0.9199610352516174f, 0.18333940207958221f },
	{ "tiny-ds2-lite", 27, 0, 1.0f, DS_TOPK_GREEDY, 1, 1, false, DS_BF16, 3,
	  1731360, 3462720, 1202528 + 1202536 + 1160544, 2223808,
	  0.189453125f, -0.984375f, 0.053955078125f, 0.10009765625f, 0.83984375f, -0.02001953125f },
	{ "tiny-ds2-group", 4, 48, 16.0f, DS_TOPK_GROUP_LIMITED, 4, 2, true, DS_F32, 1,
	  273792, 1095168, 1108912, 737024,
	  2.040919065475464f, -1.572213053703308f, -0.045295510441064835f, -0.03597840666770935f,
	  0.9607953429222107f, -0.2144305408000946f },
};

static void test_fixture(const char *root, const struct expect *x)
{
	char dir[4096], err[1024];
	struct ds_model m;
	struct progress_log p = { 0 };
	const struct ds_config *c = &m.cfg;

	snprintf(dir, sizeof(dir), "%s/models/%s", root, x->dir);
	if (ds_model_load(dir, &m, on_progress, &p, err, sizeof(err)) != 0) {
		CHECK(0, "loading %s: %s", dir, err);
		return;
	}
	fprintf(stderr, "%s: %llu params, %llu weight bytes, %llu bytes/token, %d progress calls\n", x->dir,
		(unsigned long long)m.n_params, (unsigned long long)m.weight_bytes,
		(unsigned long long)ds_model_bytes_per_token(&m), p.calls);

	CHECK(strcmp(m.name, x->dir) == 0, "name is '%s', want '%s'", m.name, x->dir);
	CHECK_INT(c->vocab_size, 320);
	CHECK_INT(c->hidden_size, 64);
	CHECK_INT(c->intermediate_size, 96);
	CHECK_INT(c->moe_intermediate_size, 24);
	CHECK_INT(c->num_hidden_layers, x->layers);
	CHECK_INT(c->num_attention_heads, 4);
	CHECK_INT(c->n_shared_experts, 2);
	CHECK_INT(c->n_routed_experts, 8);
	CHECK_INT(c->num_experts_per_tok, 3);
	CHECK_FLOAT(c->routed_scaling_factor, x->scaling);
	CHECK_INT(c->topk_method, x->method);
	CHECK_INT(c->n_group, x->n_group);
	CHECK_INT(c->topk_group, x->topk_group);
	CHECK_INT(c->norm_topk_prob, x->norm_topk_prob);
	CHECK_INT(c->first_k_dense_replace, 1);
	CHECK_INT(c->moe_layer_freq, 1);
	CHECK_INT(c->q_lora_rank, x->q_lora_rank);
	CHECK_INT(c->kv_lora_rank, 32);
	CHECK_INT(c->qk_nope_head_dim, 16);
	CHECK_INT(c->qk_rope_head_dim, 8);
	CHECK_INT(c->v_head_dim, 16);
	CHECK_INT(c->max_position_embeddings, 163840);
	CHECK_FLOAT(c->rms_norm_eps, 1e-6f);
	CHECK_FLOAT(c->rope_theta, 10000.0f);
	CHECK(c->yarn, "yarn is off");
	CHECK_FLOAT(c->yarn_factor, 40.0f);
	CHECK_INT(c->yarn_original_max_position, 4096);
	CHECK_FLOAT(c->yarn_beta_fast, 32.0f);
	CHECK_FLOAT(c->yarn_beta_slow, 1.0f);
	CHECK_FLOAT(c->yarn_mscale, 0.707f);
	CHECK_FLOAT(c->yarn_mscale_all_dim, 0.707f);
	CHECK_INT(c->bos_token_id, 295);
	CHECK_INT(c->eos_token_id, 296);
	CHECK(strcmp(c->dtype_name, x->dtype == DS_BF16 ? "bfloat16" : "float32") == 0, "dtype_name '%s'",
	      c->dtype_name);

	CHECK_INT(m.n_maps, x->n_maps);
	CHECK_INT(m.n_params, x->n_params);
	CHECK_INT(m.weight_bytes, x->weight_bytes);
	CHECK_INT(ds_model_bytes_per_token(&m), x->bytes_per_token);

	/* Progress: monotonic, ends at the files' total, steps of at most 5%. */
	CHECK(p.calls >= 20, "%d progress calls", p.calls);
	CHECK_INT(p.backwards, 0);
	CHECK_INT(p.total, x->files_bytes);
	CHECK_INT(p.last, x->files_bytes);
	CHECK(p.max_step <= x->files_bytes / 20, "a progress step of %llu bytes of %llu",
	      (unsigned long long)p.max_step, (unsigned long long)x->files_bytes);

	/* Shapes of every tensor. */
	check_shape("embed", &m.w.embed, 320, 64, x->dtype);
	check_shape("norm", &m.w.norm, 1, 64, x->dtype);
	check_shape("lm_head", &m.w.lm_head, 320, 64, x->dtype);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		const struct ds_layer *L = &m.w.layers[l];

		check_shape("input_norm", &L->input_norm, 1, 64, x->dtype);
		if (x->q_lora_rank == 0) {
			check_shape("q_proj", &L->q_proj, 4 * 24, 64, x->dtype);
			CHECK(L->q_a_proj.data == NULL && L->q_b_proj.data == NULL, "layer %d has q_a/q_b", l);
		} else {
			check_shape("q_a_proj", &L->q_a_proj, 48, 64, x->dtype);
			check_shape("q_a_norm", &L->q_a_norm, 1, 48, x->dtype);
			check_shape("q_b_proj", &L->q_b_proj, 4 * 24, 48, x->dtype);
			CHECK(L->q_proj.data == NULL, "layer %d has q_proj", l);
		}
		check_shape("kv_a_proj", &L->kv_a_proj, 40, 64, x->dtype);
		check_shape("kv_a_norm", &L->kv_a_norm, 1, 32, x->dtype);
		check_shape("kv_b_proj", &L->kv_b_proj, 4 * 32, 32, x->dtype);
		check_shape("o_proj", &L->o_proj, 64, 64, x->dtype);
		check_shape("post_norm", &L->post_norm, 1, 64, x->dtype);
		CHECK_INT(ds_layer_is_moe(c, l), l >= 1);
		if (l == 0) {
			check_shape("gate_proj", &L->gate_proj, 96, 64, x->dtype);
			check_shape("up_proj", &L->up_proj, 96, 64, x->dtype);
			check_shape("down_proj", &L->down_proj, 64, 96, x->dtype);
			CHECK(L->exp_gate == NULL && L->router.data == NULL, "dense layer 0 has MoE tensors");
			continue;
		}
		CHECK(L->gate_proj.data == NULL, "MoE layer %d has a dense gate_proj", l);
		check_shape("router", &L->router, 8, 64, x->dtype);
		for (int e = 0; e < 8; e++) {
			check_shape("exp_gate", &L->exp_gate[e], 24, 64, x->dtype);
			check_shape("exp_up", &L->exp_up[e], 24, 64, x->dtype);
			check_shape("exp_down", &L->exp_down[e], 64, 24, x->dtype);
		}
		check_shape("shared_gate", &L->shared_gate, 48, 64, x->dtype);
		check_shape("shared_up", &L->shared_up, 48, 64, x->dtype);
		check_shape("shared_down", &L->shared_down, 64, 48, x->dtype);
	}

	/* Values, and that the data lies inside a mapping (never copied). */
	CHECK_FLOAT(elem(&m.w.embed, 0), x->embed0);
	CHECK_FLOAT(elem(&m.w.embed, 5 * 64 + 3), x->embed323);
	CHECK_FLOAT(elem(&m.w.lm_head, 319 * 64 + 63), x->lm_last);
	CHECK_FLOAT(elem(&m.w.layers[1].exp_down[7], 100), x->exp7_down100);
	CHECK_FLOAT(elem(&m.w.norm, 10), x->norm10);
	CHECK_FLOAT(elem(&m.w.layers[3].kv_b_proj, 4095), x->kvb3_last);
	{
		const char *p0 = m.w.lm_head.data;
		int inside = 0;

		for (int i = 0; i < m.n_maps; i++) {
			const char *a = m.maps[i].addr;

			if (p0 >= a && p0 + 320 * 64 * ds_dtype_get(x->dtype)->block_bytes <= a + m.maps[i].size)
				inside = 1;
		}
		CHECK(inside, "lm_head data does not point into a mapping");
	}
	ds_model_free(&m);
	CHECK(m.maps == NULL && m.w.layers == NULL, "ds_model_free left pointers");
}

/* ---- config.json edge cases, written to a temporary directory ---- */

static const char *base_config =
	"{\"vocab_size\": 320, \"hidden_size\": 64, \"intermediate_size\": 96, \"moe_intermediate_size\": 24,"
	" \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"n_shared_experts\": 2, \"n_routed_experts\": 8,"
	" \"num_experts_per_tok\": 3, \"routed_scaling_factor\": 16.0, \"topk_method\": \"%s\","
	" \"n_group\": %s, \"topk_group\": %s, \"scoring_func\": \"softmax\", \"norm_topk_prob\": false,"
	" \"first_k_dense_replace\": 1, \"moe_layer_freq\": 1, \"q_lora_rank\": %s, \"kv_lora_rank\": 32,"
	" \"qk_nope_head_dim\": 16, \"qk_rope_head_dim\": 8, \"v_head_dim\": 16,"
	" \"max_position_embeddings\": 163840, \"rms_norm_eps\": 1e-06, \"rope_theta\": 10000.0,"
	" \"rope_scaling\": %s, \"bos_token_id\": 295, \"eos_token_id\": 296, \"torch_dtype\": \"float32\"%s}";

static int load_text(const char *dir, const char *text, struct ds_config *cfg, char *err, size_t errlen)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/config.json", dir);
	fp = fopen(path, "w");
	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
	return ds_config_load(path, cfg, err, errlen);
}

static int load_cfg(const char *dir, const char *method, const char *n_group, const char *topk_group,
		    const char *q_lora, const char *rope, const char *extra, struct ds_config *cfg,
		    char *err, size_t errlen)
{
	char *text = xasprintf(base_config, method, n_group, topk_group, q_lora, rope, extra);
	int r = load_text(dir, text, cfg, err, errlen);

	free(text);
	return r;
}

/* An error must be one line naming config.json and the key. */
static void expect_error(int r, const char *err, const char *needle)
{
	CHECK(r == -1, "loaded, want an error mentioning %s", needle);
	if (r != -1)
		return;
	fprintf(stderr, "  error as expected: %s\n", err);
	CHECK(strstr(err, "config.json") != NULL, "'%s' does not name config.json", err);
	CHECK(strstr(err, needle) != NULL, "'%s' does not mention %s", err, needle);
	CHECK(strchr(err, '\n') == NULL, "'%s' has a newline", err);
}

static void test_config_cases(void)
{
	char tmpl[] = "/tmp/test-loader-XXXXXX", err[1024], path[4096];
	const char *yarn = "{\"type\": \"yarn\", \"factor\": 40, \"original_max_position_embeddings\": 4096}";
	struct ds_config cfg;
	char *dir = mkdtemp(tmpl);
	int r;

	if (dir == NULL) {
		perror("mkdtemp");
		exit(1);
	}

	/* "gready" is greedy; defaults of yarn keys; a directory is accepted. */
	r = load_cfg(dir, "gready", "null", "null", "null", yarn, "", &cfg, err, sizeof(err));
	CHECK(r == 0, "gready: %s", err);
	r = ds_config_load(dir, &cfg, err, sizeof(err));
	CHECK(r == 0, "directory: %s", err);
	CHECK_INT(cfg.topk_method, DS_TOPK_GREEDY);
	CHECK_INT(cfg.q_lora_rank, 0);
	CHECK_INT(cfg.n_group, 1);
	CHECK_FLOAT(cfg.yarn_factor, 40.0f);
	CHECK_FLOAT(cfg.yarn_beta_fast, 32.0f);
	CHECK_FLOAT(cfg.yarn_beta_slow, 1.0f);
	CHECK_FLOAT(cfg.yarn_mscale, 1.0f);
	CHECK_FLOAT(cfg.yarn_mscale_all_dim, 0.0f);

	/* Integers written as 32.0; no rope scaling. */
	r = load_cfg(dir, "group_limited_greedy", "4.0", "2", "48.0", "null", "", &cfg, err, sizeof(err));
	CHECK(r == 0, "32.0: %s", err);
	CHECK_INT(cfg.q_lora_rank, 48);
	CHECK_INT(cfg.n_group, 4);
	CHECK_INT(cfg.topk_method, DS_TOPK_GROUP_LIMITED);
	CHECK(!cfg.yarn, "yarn on with rope_scaling null");

	/* A dense model: n_routed_experts null and no routing keys. */
	r = load_text(dir, "{\"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 16,"
		      " \"num_hidden_layers\": 1, \"num_attention_heads\": 1, \"n_shared_experts\": null,"
		      " \"n_routed_experts\": null, \"q_lora_rank\": null, \"kv_lora_rank\": 4,"
		      " \"qk_nope_head_dim\": 4, \"qk_rope_head_dim\": 2, \"v_head_dim\": 4,"
		      " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000}",
		      &cfg, err, sizeof(err));
	CHECK(r == 0, "dense: %s", err);
	CHECK_INT(cfg.n_routed_experts, 0);
	CHECK_INT(cfg.bos_token_id, -1);
	CHECK(!ds_layer_is_moe(&cfg, 0), "dense layer is MoE");

	r = load_cfg(dir, "best", "1", "1", "null", yarn, "", &cfg, err, sizeof(err));
	expect_error(r, err, "'topk_method'");
	CHECK(strstr(err, "group_limited_greedy") != NULL, "'%s' does not list the accepted values", err);
	r = load_cfg(dir, "group_limited_greedy", "3", "2", "null", yarn, "", &cfg, err, sizeof(err));
	expect_error(r, err, "'n_group'");
	r = load_cfg(dir, "greedy", "1", "1", "\"48\"", yarn, "", &cfg, err, sizeof(err));
	expect_error(r, err, "'q_lora_rank'");
	r = load_cfg(dir, "greedy", "1", "1", "48.5", yarn, "", &cfg, err, sizeof(err));
	expect_error(r, err, "'q_lora_rank'");
	r = load_cfg(dir, "greedy", "1", "1", "-2", yarn, "", &cfg, err, sizeof(err));
	expect_error(r, err, "'q_lora_rank'");
	r = load_cfg(dir, "greedy", "1", "1", "null", "{\"type\": \"linear\", \"factor\": 2}", "", &cfg, err, sizeof(err));
	expect_error(r, err, "'rope_scaling.type'");
	r = load_cfg(dir, "greedy", "1", "1", "null", "{\"type\": \"yarn\"}", "", &cfg, err, sizeof(err));
	expect_error(r, err, "'rope_scaling.factor'");
	r = load_cfg(dir, "greedy", "1", "1", "null", yarn, ", \"scoring_func\": \"sigmoid\"", &cfg, err, sizeof(err));
	/* a duplicate key is itself an error; either way the message must name config.json */
	CHECK(r == -1, "duplicate scoring_func loaded");
	r = load_cfg(dir, "group_limited_greedy", "4", "5", "null", yarn, "", &cfg, err, sizeof(err));
	expect_error(r, err, "'topk_group'");
	r = load_cfg(dir, "group_limited_greedy", "8", "2", "null", yarn, "", &cfg, err, sizeof(err));
	expect_error(r, err, "'topk_group'");   /* 2 groups of 1 expert cannot give 3 */
	r = load_cfg(dir, "greedy", "1", "1", "null", "[40]", "", &cfg, err, sizeof(err));
	expect_error(r, err, "'rope_scaling'");
	r = load_cfg(dir, "greedy", "1", "1", "null", "{\"type\": \"yarn\", \"factor\": -40,"
		     " \"original_max_position_embeddings\": 4096}", "", &cfg, err, sizeof(err));
	expect_error(r, err, "'rope_scaling.factor'");
	{
		char *t = xasprintf(base_config, "greedy", "1", "1", "null", yarn, "");
		char *p = strstr(t, "\"bos_token_id\": 295");

		memcpy(p, "\"bos_token_id\": 999", strlen("\"bos_token_id\": 999"));
		r = load_text(dir, t, &cfg, err, sizeof(err));
		expect_error(r, err, "'bos_token_id'");
		p = strstr(t, "\"moe_layer_freq\": 1");
		memcpy(p, "\"moe_layer_freq\": 0", strlen("\"moe_layer_freq\": 0"));
		memcpy(strstr(t, "\"bos_token_id\": 999"), "\"bos_token_id\": 295", strlen("\"bos_token_id\": 295"));
		r = load_text(dir, t, &cfg, err, sizeof(err));
		expect_error(r, err, "'moe_layer_freq'");
		free(t);
	}
	r = load_text(dir, "[1, 2]", &cfg, err, sizeof(err));
	expect_error(r, err, "object");
	r = load_text(dir, "{\"vocab_size\": 320, \"hidden_size\": 0}", &cfg, err, sizeof(err));
	expect_error(r, err, "'hidden_size'");
	r = load_text(dir, "{\"vocab_size\": 320}", &cfg, err, sizeof(err));
	expect_error(r, err, "'hidden_size'");

	/* num_experts_per_tok > n_routed_experts; scoring_func; malformed JSON with line and column. */
	{
		char *t = xasprintf(base_config, "greedy", "1", "1", "null", yarn, "");
		char *p = strstr(t, "\"num_experts_per_tok\": 3");

		p[strlen("\"num_experts_per_tok\": ")] = '9';
		r = load_text(dir, t, &cfg, err, sizeof(err));
		expect_error(r, err, "'num_experts_per_tok'");
		p[strlen("\"num_experts_per_tok\": ")] = '3';
		p = strstr(t, "\"softmax\"");
		memcpy(p, "\"sigmax\" ", 9);
		r = load_text(dir, t, &cfg, err, sizeof(err));
		expect_error(r, err, "'scoring_func'");
		free(t);
	}
	r = load_text(dir, "{\n  \"vocab_size\": 320,\n  \"hidden_size\": ,\n}", &cfg, err, sizeof(err));
	expect_error(r, err, "config.json:3:");

	snprintf(path, sizeof(path), "%s/config.json", dir);
	unlink(path);
	r = ds_config_load(path, &cfg, err, sizeof(err));
	expect_error(r, err, "config.json");
	rmdir(dir);
}

/* ---- a synthetic dense checkpoint: F16 and BF16 mixed, extra tensors, __metadata__ ---- */

struct synth {
	const char *name;
	const char *dtype;    /* "F16", "BF16", "F32" */
	int64_t rows, cols;   /* rows 0: 1-D */
};

/* Element i of every tensor is (i % 7) - 3, exact in all three dtypes. */
static void synth_write(const char *path, const struct synth *t, int n)
{
	char *hdr = xstrdup("{\"__metadata__\":{\"format\":\"pt\"}");
	uint64_t off = 0, hlen;
	FILE *fp;

	for (int i = 0; i < n; i++) {
		uint64_t count = (uint64_t)(t[i].rows ? t[i].rows : 1) * (uint64_t)t[i].cols;
		uint64_t bytes = count * (strcmp(t[i].dtype, "F32") == 0 ? 4 : 2);
		char shape[64], *h;

		if (t[i].rows)
			snprintf(shape, sizeof(shape), "[%lld,%lld]", (long long)t[i].rows, (long long)t[i].cols);
		else
			snprintf(shape, sizeof(shape), "[%lld]", (long long)t[i].cols);
		h = xasprintf("%s,\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%llu,%llu]}", hdr,
			      t[i].name, t[i].dtype, shape, (unsigned long long)off,
			      (unsigned long long)(off + bytes));
		free(hdr);
		hdr = h;
		off += bytes;
	}
	{
		char *h = xasprintf("%s}", hdr);

		free(hdr);
		hdr = h;
	}
	hlen = (strlen(hdr) + 7) / 8 * 8;
	fp = fopen(path, "wb");
	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	for (int b = 0; b < 8; b++)
		fputc((int)(hlen >> (8 * b)) & 0xff, fp);
	fputs(hdr, fp);
	for (uint64_t k = strlen(hdr); k < hlen; k++)
		fputc(' ', fp);
	for (int i = 0; i < n; i++) {
		uint64_t count = (uint64_t)(t[i].rows ? t[i].rows : 1) * (uint64_t)t[i].cols;

		for (uint64_t k = 0; k < count; k++) {
			float v = (float)((int)(k % 7) - 3);
			uint32_t u;

			memcpy(&u, &v, sizeof(u));
			if (strcmp(t[i].dtype, "F32") == 0) {
				fwrite(&v, 4, 1, fp);
			} else if (strcmp(t[i].dtype, "BF16") == 0) {
				uint16_t h = (uint16_t)(u >> 16);

				fwrite(&h, 2, 1, fp);
			} else {
				/* small integers: sign, exponent 15 + e, 10-bit mantissa */
				uint16_t h = 0;
				int a = v < 0 ? (int)-v : (int)v, e = 0;

				if (a != 0) {
					while ((a >> e) > 1)
						e++;
					h = (uint16_t)(((15 + e) << 10) | (((a << 10) >> e) & 0x3ff));
				}
				if (v < 0)
					h |= 0x8000;
				fwrite(&h, 2, 1, fp);
			}
		}
	}
	fclose(fp);
	free(hdr);
}

static float f16_to_f32(uint16_t h)
{
	int e = (h >> 10) & 0x1f, mant = h & 0x3ff;
	float v = e == 0 ? ldexpf((float)mant, -24) : ldexpf((float)(mant | 0x400), e - 25);

	return (h & 0x8000) ? -v : v;
}

static void test_synthetic_dense(void)
{
	char tmpl[] = "/tmp/test-loader-dense-XXXXXX", path[4096], err[1024];
	static const struct synth t[] = {
		{ "lm_head.weight", "F16", 10, 8 },
		{ "model.embed_tokens.weight", "F16", 10, 8 },
		{ "model.norm.weight", "F32", 0, 8 },
		{ "model.layers.0.input_layernorm.weight", "BF16", 0, 8 },
		{ "model.layers.0.self_attn.q_proj.weight", "F16", 2 * 6, 8 },
		{ "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "F16", 4 + 2, 8 },
		{ "model.layers.0.self_attn.kv_a_layernorm.weight", "F16", 0, 4 },
		{ "model.layers.0.self_attn.kv_b_proj.weight", "F16", 2 * (4 + 4), 4 },
		{ "model.layers.0.self_attn.o_proj.weight", "F16", 8, 2 * 4 },
		{ "model.layers.0.post_attention_layernorm.weight", "F16", 0, 8 },
		{ "model.layers.0.mlp.gate_proj.weight", "F16", 16, 8 },
		{ "model.layers.0.mlp.up_proj.weight", "F16", 16, 8 },
		{ "model.layers.0.mlp.down_proj.weight", "F16", 8, 16 },
		{ "model.layers.0.self_attn.rotary_emb.inv_freq", "F32", 0, 1 },
	};
	struct ds_model m;
	char *dir = mkdtemp(tmpl);
	FILE *fp;

	if (dir == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/config.json", dir);
	fp = fopen(path, "w");
	fputs("{\"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 16, \"moe_intermediate_size\": 4,"
	      " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"n_shared_experts\": null,"
	      " \"n_routed_experts\": null, \"q_lora_rank\": null, \"kv_lora_rank\": 4,"
	      " \"qk_nope_head_dim\": 4, \"qk_rope_head_dim\": 2, \"v_head_dim\": 4,"
	      " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000,"
	      " \"rope_scaling\": null, \"torch_dtype\": \"float16\"}", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	synth_write(path, t, (int)(sizeof(t) / sizeof(t[0])));

	if (ds_model_load(dir, &m, NULL, NULL, err, sizeof(err)) != 0) {
		CHECK(0, "synthetic dense F16 checkpoint: %s", err);
	} else {
		const struct ds_layer *L = &m.w.layers[0];

		CHECK(!m.cfg.yarn, "yarn on");
		CHECK_INT(m.cfg.n_routed_experts, 0);
		CHECK_INT(m.w.embed.dtype, DS_F16);
		CHECK_INT(m.w.norm.dtype, DS_F32);
		CHECK_INT(L->input_norm.dtype, DS_BF16);
		check_shape("q_proj", &L->q_proj, 12, 8, DS_F16);
		check_shape("down_proj", &L->down_proj, 8, 16, DS_F16);
		CHECK(L->exp_gate == NULL && L->router.data == NULL, "dense model has MoE tensors");
		for (int i = 0; i < 20; i++)
			CHECK_FLOAT(f16_to_f32(((const uint16_t *)L->gate_proj.data)[i]), (float)(i % 7 - 3));
		CHECK_FLOAT(elem(&L->input_norm, 5), 2.0f);
		CHECK_FLOAT(elem(&m.w.norm, 2), -1.0f);
		/* every tensor but inv_freq (1 element) */
		CHECK_INT(m.n_params, 80 + 80 + 8 + 8 + 96 + 48 + 4 + 64 + 64 + 8 + 128 + 128 + 128);
		/* embedding row (8 F16) + attention (q, kv_a, kv_a_norm, kv_b, o in F16; two 8-element
		 * norms) + MLP (3 x 128 F16) + final norm (8 F32) + lm_head (80 F16) */
		CHECK_INT(ds_model_bytes_per_token(&m), 16 + (2 * (96 + 48 + 4 + 64 + 64) + 16 + 16) + 768 + 32 + 160);
		ds_model_free(&m);
	}
	unlink(path);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	unlink(path);
	rmdir(dir);
}

/* A Hugging Face cache snapshot (files are symlinks into blobs) is named by its repository. */
static void test_hf_cache_name(const char *root)
{
	char tmpl[] = "/tmp/test-loader-hf-XXXXXX", snap[4096], link[4096], target[4096], err[1024];
	static const char *files[] = { "config.json", "model.safetensors" };
	char *top = mkdtemp(tmpl);
	struct ds_model m;

	if (top == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(snap, sizeof(snap), "%s/models--deepseek-ai--DeepSeek-Coder-V2-Lite-Instruct", top);
	mkdir(snap, 0700);
	strcat(snap, "/snapshots");
	mkdir(snap, 0700);
	strcat(snap, "/e0b1c2d3");
	mkdir(snap, 0700);
	for (int i = 0; i < 2; i++) {
		snprintf(link, sizeof(link), "%s/%s", snap, files[i]);
		snprintf(target, sizeof(target), "%s/models/tiny-ds2-full/%s", root, files[i]);
		CHECK(symlink(target, link) == 0, "symlink %s", link);
	}
	if (ds_model_load(snap, &m, NULL, NULL, err, sizeof(err)) != 0) {
		CHECK(0, "loading through symlinks: %s", err);
	} else {
		CHECK(strcmp(m.name, "deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct") == 0, "name '%s'", m.name);
		ds_model_free(&m);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(link, sizeof(link), "%s/%s", snap, files[i]);
		unlink(link);
	}
	for (int i = 0; i < 3; i++) {
		rmdir(snap);
		*strrchr(snap, '/') = '\0';
	}
	rmdir(top);
}

int main(void)
{
	const char *root = fix_dir();
	struct stat st;

	if (stat(root, &st) != 0) {
		fprintf(stderr, "test-loader: no fixtures at %s: skipped\n", root);
		return 77;
	}
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		test_fixture(root, &fixtures[i]);
	test_config_cases();
	test_synthetic_dense();
	test_hf_cache_name(root);
	if (failures) {
		fprintf(stderr, "test-loader: %d check(s) failed\n", failures);
		return 1;
	}
	fprintf(stderr, "test-loader: all checks passed\n");
	return 0;
}

/* config.c: reading config.yaml and choosing the model directory. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomicio.h"
#include "paths.h"
#include "xalloc.h"
#include "yamlutil.h"

#define CONFIG_MAX_FILE_SIZE ((size_t)1 << 20)

void config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->model);
	free(cfg->engine);
	free(cfg->theme);
	free(cfg->profile);
	free(cfg->backend);
	free(cfg->devices);
	for (int i = 0; i < cfg->n_engine_args; i++)
		free(cfg->engine_args[i]);
	free(cfg->engine_args);
	memset(cfg, 0, sizeof(*cfg));
}

struct config_ctx {
	struct config *cfg;
	char *dir;                  /* the config file's directory, for relative paths */
};

/* "~/x" is under $HOME; "x" is next to config.yaml (a config file should not depend on the current
 * directory of whoever starts the program). A command (is_cmd) without a slash is left for the
 * $PATH search, as a shell would. */
static void config_path_value(char **field, const char *dir, bool is_cmd)
{
	char *v = *field;

	if (v == NULL || (is_cmd && strchr(v, '/') == NULL))
		return;
	if (v[0] == '~') {
		*field = paths_expand_home(v);
		free(v);
	} else if (v[0] != '/') {
		*field = xasprintf("%s/%s", dir, v);
		free(v);
	}
}

/* devices: "0,1,2": device numbers joined by commas, as the engine's --devices takes them. */
static int config_devices_check(struct yu_doc *d, yaml_node_t *v, const char *list, char *err, size_t errlen)
{
	if (list == NULL || params_devices_count(list) > 0)
		return 0;
	return errorf(err, errlen, "%s:%d: devices must be GPU numbers joined by commas, like \"0,1\", not \"%s\"",
		      d->file, yu_line(v), list);
}

/* engine_args: a list of strings given to the engine after the options made from the other keys. */
static int config_engine_args(struct yu_doc *d, yaml_node_t *v, struct config *cfg, char *err, size_t errlen)
{
	if (yu_expect_seq(d, v, "engine_args", err, errlen) != 0)
		return -1;
	if (v->type != YAML_SEQUENCE_NODE)
		return 0;
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(&d->doc, *it);
		char *arg = NULL;
		if (yu_str(d, n, "an item of engine_args", false, &arg, err, errlen) != 0)
			return -1;
		cfg->engine_args = xreallocarray(cfg->engine_args, (size_t)cfg->n_engine_args + 1,
						 sizeof *cfg->engine_args);
		cfg->engine_args[cfg->n_engine_args++] = arg;
	}
	return 0;
}

static int config_key(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg, char *err, size_t errlen)
{
	static const char *const known[] = { "model", "engine", "theme", "profile", "threads", "ctx",
		"backend", "gpus", "devices", "engine_args", NULL };
	struct config_ctx *ctx = arg;
	struct config *cfg = ctx->cfg;
	int64_t i;

	if (strcmp(key, "model") == 0) {
		if (yu_str(d, v, key, true, &cfg->model, err, errlen))
			return -1;
		config_path_value(&cfg->model, ctx->dir, false);
	} else if (strcmp(key, "engine") == 0) {
		if (yu_str(d, v, key, true, &cfg->engine, err, errlen))
			return -1;
		config_path_value(&cfg->engine, ctx->dir, true);
	} else if (strcmp(key, "theme") == 0) {
		return yu_str(d, v, key, true, &cfg->theme, err, errlen);
	} else if (strcmp(key, "profile") == 0) {
		return yu_str(d, v, key, true, &cfg->profile, err, errlen);
	} else if (strcmp(key, "backend") == 0) {
		return yu_str(d, v, key, true, &cfg->backend, err, errlen);
	} else if (strcmp(key, "threads") == 0) {
		if (yu_int(d, v, key, 0, 4096, &i, err, errlen))
			return -1;
		cfg->threads = (int)i;
	} else if (strcmp(key, "gpus") == 0) {
		if (yu_int(d, v, key, 0, 4096, &i, err, errlen))
			return -1;
		cfg->gpus = (int)i;
	} else if (strcmp(key, "devices") == 0) {
		if (yu_str(d, v, key, true, &cfg->devices, err, errlen))
			return -1;
		return config_devices_check(d, v, cfg->devices, err, errlen);
	} else if (strcmp(key, "engine_args") == 0) {
		return config_engine_args(d, v, cfg, err, errlen);
	} else if (strcmp(key, "ctx") == 0) {
		if (yu_int(d, v, key, 0, 1 << 24, &i, err, errlen))
			return -1;
		cfg->ctx = (int)i;
	} else {
		return yu_unknown_key(d, v, key, known, "the configuration", err, errlen);
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char *file, *buf;
	size_t len;
	struct yu_doc d;
	struct config_ctx ctx;
	yaml_node_t *root;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	if (path != NULL) {
		file = xstrdup(path);
	} else {
		char *dir = paths_config_dir(NULL, 0);

		if (dir == NULL)
			return 0;       /* no home: nothing configured */
		file = xasprintf("%s/config.yaml", dir);
		free(dir);
	}
	buf = atomicio_read(file, CONFIG_MAX_FILE_SIZE, &len, err, errlen);
	if (buf == NULL) {
		if (errno == ENOENT && path == NULL) {
			free(file);
			return 0;
		}
		free(file);
		return -1;
	}
	if (yu_load(&d, file, buf, len, err, errlen) != 0) {
		free(buf);
		free(file);
		return -1;
	}
	root = yu_root(&d);
	ctx.cfg = cfg;
	ctx.dir = paths_dirname(file);
	/* A file holding only comments parses as an empty document: treat it like a missing one. */
	r = root == NULL || yu_is_null(root) ? 0 : yu_map_each(&d, root, "the configuration", config_key, &ctx, err, errlen);
	free(ctx.dir);
	yu_free(&d);
	free(buf);
	if (r != 0) {
		free(file);
		config_free(cfg);
		return -1;
	}
	cfg->path = file;
	return 0;
}

char *config_resolve_model(const char *arg, const struct config *cfg, bool *is_demo,
			   enum config_model_source *source)
{
	const char *env = getenv("DSCODER_MODEL");
	enum config_model_source src;
	char *model;

	if (arg != NULL && arg[0] != '\0') {
		src = CONFIG_MODEL_ARG;
		model = paths_expand_home(arg);
	} else if (cfg != NULL && cfg->model != NULL && cfg->model[0] != '\0') {
		src = CONFIG_MODEL_CONFIG;
		model = xstrdup(cfg->model);
	} else if (env != NULL && env[0] != '\0') {
		src = CONFIG_MODEL_ENV;
		model = paths_expand_home(env);
	} else {
		src = CONFIG_MODEL_DEMO;
		model = xasprintf("%s/models/dscoder-demo", paths_pkgdatadir());
	}
	if (is_demo != NULL)
		*is_demo = src == CONFIG_MODEL_DEMO;
	if (source != NULL)
		*source = src;
	return model;
}

const char *config_model_source_name(enum config_model_source s)
{
	switch (s) {
	case CONFIG_MODEL_ARG: return "--model";
	case CONFIG_MODEL_CONFIG: return "config.yaml";
	case CONFIG_MODEL_ENV: return "$DSCODER_MODEL";
	case CONFIG_MODEL_DEMO: return "demo model";
	}
	return "?";
}

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
	config_remote_free(&cfg->remote);
	memset(cfg, 0, sizeof(*cfg));
}

void config_remote_free(struct config_remote *r)
{
	free(r->url);
	free(r->fim_url);
	free(r->model);
	free(r->api_key_env);
	free(r->api_key_file);
	memset(r, 0, sizeof(*r));
}

void config_remote_copy(struct config_remote *dst, const struct config_remote *src)
{
	dst->url = src->url ? xstrdup(src->url) : NULL;
	dst->fim_url = src->fim_url ? xstrdup(src->fim_url) : NULL;
	dst->model = src->model ? xstrdup(src->model) : NULL;
	dst->api_key_env = src->api_key_env ? xstrdup(src->api_key_env) : NULL;
	dst->api_key_file = src->api_key_file ? xstrdup(src->api_key_file) : NULL;
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

/* ---- remote: ------------------------------------------------------------------------------------ */

enum remote_field { REMOTE_URL, REMOTE_FIM_URL, REMOTE_MODEL, REMOTE_KEY_ENV, REMOTE_KEY_FILE, REMOTE_NONE };

static const char *const remote_keys[] = { "url", "fim_url", "model", "api_key_env", "api_key_file", NULL };

/* What is wrong with a server address, as the end of a sentence after its key's name, or NULL. */
static const char *url_problem(const char *u)
{
	size_t skip = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;
	if (skip == 0)
		return "must start with http:// or https://";
	size_t host = strcspn(u + skip, "/?#");
	if (host == 0)
		return "has no host after the scheme";
	if (memchr(u + skip, '@', host) != NULL)
		return "must not hold a user name or password; put the key in api_key_env or api_key_file";
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= ' ')
			return "must not contain spaces or control characters";
	return NULL;
}

/* What is wrong with r, as the end of a sentence after its key's name, or NULL. Values are never
 * quoted back: a key pasted into the wrong place would end up on the screen and in logs. */
static const char *remote_problem(const struct config_remote *r, enum remote_field *field)
{
	const char *u = r->url;

	*field = REMOTE_URL;
	if (u == NULL || *u == '\0')
		return "is missing: give the server's address, like https://api.deepseek.com";
	const char *why = url_problem(u);
	if (why != NULL)
		return why;
	*field = REMOTE_FIM_URL;
	if (r->fim_url != NULL && (why = *r->fim_url == '\0' ? "is empty: leave it out to send fill-in-the-middle "
				 "to the server's address" : url_problem(r->fim_url)) != NULL)
		return why;
	*field = REMOTE_MODEL;
	if (r->model != NULL && *r->model == '\0')
		return "is empty: leave it out to use the server's model";
	*field = REMOTE_KEY_ENV;
	if (r->api_key_env != NULL) {
		const char *v = r->api_key_env;
		bool ok = (*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || *v == '_';
		for (; ok && *v; v++)
			ok = (*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') ||
			     *v == '_';
		if (!ok)
			return "must name an environment variable (letters, digits and '_', like DEEPSEEK_API_KEY), "
			       "not hold the key itself";
		if (r->api_key_file != NULL)
			return "and api_key_file are both set: the key comes from one of them";
	}
	*field = REMOTE_KEY_FILE;
	if (r->api_key_file != NULL && *r->api_key_file == '\0')
		return "is empty: name the file that holds the key";
	*field = REMOTE_NONE;
	return NULL;
}

int config_remote_check_args(const struct config_remote *r, char *err, size_t errlen)
{
	static const char *const options[] = { "--remote", "--remote-fim-url", "--remote-model", "--api-key-env",
					       "--api-key-file" };
	enum remote_field f;
	const char *why = remote_problem(r, &f);

	if (why == NULL)
		return 0;
	/* The sentences name the YAML keys; on the command line they are options. */
	char *msg = xstrdup(why);
	for (int i = 0; i < REMOTE_NONE; i++) {
		char *at = strstr(msg, remote_keys[i]);
		if (at != NULL && i != REMOTE_URL && i != REMOTE_FIM_URL && i != REMOTE_MODEL) {
			char *o = xasprintf("%.*s%s%s", (int)(at - msg), msg, options[i], at + strlen(remote_keys[i]));
			free(msg);
			msg = o;
		}
	}
	errorf(err, errlen, "%s %s", options[f], msg);
	free(msg);
	return -1;
}

struct remote_ctx {
	struct config_remote *r;
	const char *dir;
	int line[REMOTE_NONE];      /* where each key was, for errors found once all are read */
};

static int remote_key(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg, char *err, size_t errlen)
{
	struct remote_ctx *ctx = arg;
	struct config_remote *r = ctx->r;
	char **fields[REMOTE_NONE] = { &r->url, &r->fim_url, &r->model, &r->api_key_env, &r->api_key_file };

	for (int f = 0; f < REMOTE_NONE; f++) {
		if (strcmp(key, remote_keys[f]) != 0)
			continue;
		if (yu_str(d, v, key, false, fields[f], err, errlen))
			return -1;
		ctx->line[f] = yu_line(v);
		if (f == REMOTE_KEY_FILE && **fields[f] != '\0')
			config_path_value(fields[f], ctx->dir, false);
		return 0;
	}
	return yu_unknown_key(d, v, key, remote_keys, "remote", err, errlen);
}

int config_remote_read(struct yu_doc *d, yaml_node_t *v, const char *dir, struct config_remote *r,
		       char *err, size_t errlen)
{
	struct remote_ctx ctx = { .r = r, .dir = dir };
	enum remote_field f;
	const char *why;

	config_remote_free(r);
	if (yu_map_each(d, v, "remote", remote_key, &ctx, err, errlen) != 0) {
		config_remote_free(r);
		return -1;
	}
	why = remote_problem(r, &f);
	if (why == NULL)
		return 0;
	config_remote_free(r);
	return errorf(err, errlen, "%s:%d: remote %s %s", d->file, ctx.line[f] ? ctx.line[f] : yu_line(v),
		      remote_keys[f], why);
}

static int config_key(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg, char *err, size_t errlen)
{
	static const char *const known[] = { "model", "engine", "theme", "profile", "threads", "ctx",
		"backend", "gpus", "devices", "engine_args", "remote", NULL };
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
	} else if (strcmp(key, "remote") == 0) {
		if (yu_is_null(v))
			return 0;
		return config_remote_read(d, v, ctx->dir, &cfg->remote, err, errlen);
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

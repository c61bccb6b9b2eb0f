/* profile.c: reading profiles (user files override installed ones of the same name) and listing them. */
#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomicio.h"
#include "paths.h"
#include "xalloc.h"
#include "yamlutil.h"

/* A profile is a few lines of settings; anything much bigger is a mistake. */
#define PROFILE_MAX_FILE_SIZE ((size_t)1 << 20)

/* Names become file names: no slashes, no leading dot, nothing a shell would mangle. */
static bool profile_name_ok(const char *name)
{
	if (name[0] == '\0' || name[0] == '.' || strlen(name) > 100)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

void profile_free(struct profile *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->description);
	free(p->system_prompt);
	free(p->path);
	config_remote_free(&p->remote);
	free(p);
}

/* One key of "sampling:": a number in its range of params_ranges (the engine's requests and options
 * are held to the same). Other keys, and the seed's "random", are left to yu_sampling. */
static int profile_sampling_range(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg, char *err,
				  size_t errlen)
{
	char msg[256];

	(void)arg;
	for (int f = 0; f < PARAMS_N_FIELDS; f++) {
		const struct params_range *r = &params_ranges[f];
		int rc;

		if (strcmp(key, r->key) != 0)
			continue;
		if (r->integer) {
			int64_t i;

			if (f == PARAMS_SEED && v->type == YAML_SCALAR_NODE &&
			    (yu_is_null(v) || strcmp((const char *)v->data.scalar.value, "random") == 0))
				return 0;
			if (yu_int(d, v, key, INT64_MIN, INT64_MAX, &i, err, errlen))
				return -1;
			if (f == PARAMS_SEED && i == PARAMS_SEED_RANDOM)
				return 0;
			rc = params_check_int((enum params_field)f, key, i, msg, sizeof msg);
		} else {
			double x;

			if (yu_double(d, v, key, &x, err, errlen))
				return -1;
			rc = params_check((enum params_field)f, key, x, msg, sizeof msg);
		}
		if (rc != 0)
			return errorf(err, errlen, "%s:%d: %s", d->file, yu_line(v), msg);
		return 0;
	}
	return 0;
}

static int profile_key(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg, char *err, size_t errlen)
{
	static const char *const known[] = { "name", "description", "system_prompt", "mode", "sampling", "remote", NULL };
	struct profile *p = arg;
	char *s = NULL;

	if (strcmp(key, "name") == 0) {
		if (yu_str(d, v, key, false, &s, err, errlen))
			return -1;
		/* The file name is what --profile and config.yaml refer to; a different name inside would
		 * make the list show one thing and load another. */
		if (strcmp(s, p->name) != 0) {
			errorf(err, errlen, "%s:%d: name is \"%s\" but the file is %s.yaml; make them the same",
			       d->file, yu_line(v), s, p->name);
			free(s);
			return -1;
		}
		free(s);
	} else if (strcmp(key, "description") == 0) {
		if (yu_str(d, v, key, true, &p->description, err, errlen))
			return -1;
		if (p->description == NULL)
			p->description = xstrdup("");
	} else if (strcmp(key, "system_prompt") == 0) {
		return yu_str(d, v, key, true, &p->system_prompt, err, errlen);
	} else if (strcmp(key, "mode") == 0) {
		if (yu_str(d, v, key, false, &s, err, errlen))
			return -1;
		if (params_mode_parse(s, &p->mode) != 0) {
			errorf(err, errlen, "%s:%d: mode must be chat, completion or fim, not \"%s\"", d->file,
			       yu_line(v), s);
			free(s);
			return -1;
		}
		free(s);
	} else if (strcmp(key, "sampling") == 0) {
		if (!yu_is_null(v) &&
		    yu_map_each(d, v, "sampling", profile_sampling_range, NULL, err, errlen) != 0)
			return -1;
		return yu_sampling(d, v, &p->sampling, err, errlen);
	} else if (strcmp(key, "remote") == 0) {
		/* "local" (or null): this profile runs the local engine even when config.yaml names a
		 * server. */
		p->remote_set = true;
		if (yu_is_null(v) || (v->type == YAML_SCALAR_NODE &&
				      strcmp((const char *)v->data.scalar.value, "local") == 0)) {
			config_remote_free(&p->remote);
			return 0;
		}
		if (v->type == YAML_SCALAR_NODE)
			return errorf(err, errlen, "%s:%d: remote must be \"local\" or a mapping with url, model, "
				      "api_key_env or api_key_file", d->file, yu_line(v));
		char *dir = paths_dirname(p->path);
		int rc = config_remote_read(d, v, dir, &p->remote, err, errlen);
		free(dir);
		return rc;
	} else if (strcmp(key, "temperature") == 0 || strcmp(key, "top_k") == 0 || strcmp(key, "top_p") == 0 ||
		   strcmp(key, "min_p") == 0 || strcmp(key, "repetition_penalty") == 0 ||
		   strcmp(key, "max_tokens") == 0 || strcmp(key, "seed") == 0) {
		return errorf(err, errlen, "%s:%d: %s belongs under \"sampling:\" (indented below it)", d->file,
			      d->key_line, key);
	} else {
		return yu_unknown_key(d, v, key, known, "the profile", err, errlen);
	}
	return 0;
}

struct profile *profile_load_file(const char *path, char *err, size_t errlen)
{
	const char *base = strrchr(path, '/');
	size_t len, bl;
	char *buf;
	struct yu_doc d;
	struct profile *p;
	yaml_node_t *root;

	base = base != NULL ? base + 1 : path;
	bl = strlen(base);
	buf = atomicio_read(path, PROFILE_MAX_FILE_SIZE, &len, err, errlen);
	if (buf == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->name = bl > 5 && strcmp(base + bl - 5, ".yaml") == 0 ? xstrndup(base, bl - 5) : xstrdup(base);
	p->description = xstrdup("");
	p->mode = PARAMS_MODE_CHAT;
	params_sampling_defaults(&p->sampling);
	p->path = xstrdup(path);
	if (yu_load(&d, path, buf, len, err, errlen) != 0) {
		free(buf);
		profile_free(p);
		return NULL;
	}
	root = yu_root(&d);
	if (root != NULL && !yu_is_null(root) && yu_map_each(&d, root, "the profile", profile_key, p, err, errlen) != 0) {
		yu_free(&d);
		free(buf);
		profile_free(p);
		return NULL;
	}
	yu_free(&d);
	free(buf);
	return p;
}

struct profile *profile_load(const char *name, char *err, size_t errlen)
{
	char *udir, *upath = NULL, *spath;
	struct profile *p;
	struct stat st;

	if (!profile_name_ok(name)) {
		errorf(err, errlen, "\"%s\" is not a profile name (use letters, digits, '.', '_' and '-')", name);
		return NULL;
	}
	udir = paths_user_profiles_dir(NULL, 0);
	if (udir != NULL) {
		upath = xasprintf("%s/%s.yaml", udir, name);
		free(udir);
		if (stat(upath, &st) == 0) {
			p = profile_load_file(upath, err, errlen);
			if (p != NULL)
				p->user = true;
			free(upath);
			return p;
		}
	}
	spath = xasprintf("%s/profiles/%s.yaml", paths_pkgdatadir(), name);
	if (stat(spath, &st) == 0) {
		p = profile_load_file(spath, err, errlen);
		free(spath);
		free(upath);
		return p;
	}
	if (upath != NULL)
		errorf(err, errlen, "no profile \"%s\": neither %s nor %s exists", name, upath, spath);
	else
		errorf(err, errlen, "no profile \"%s\": %s does not exist", name, spath);
	free(spath);
	free(upath);
	return NULL;
}

static int profile_entry_cmp(const void *pa, const void *pb)
{
	return strcmp(((const struct profile_entry *)pa)->name, ((const struct profile_entry *)pb)->name);
}

static void profile_entry_clear(struct profile_entry *e)
{
	free(e->name);
	free(e->description);
	free(e->path);
	free(e->error);
	memset(e, 0, sizeof(*e));
}

/* Adds the profiles of dir to l; a name already present is replaced (user dir is scanned last). */
static void profile_scan(struct profile_list *l, size_t *cap, const char *dir, bool user)
{
	DIR *dp = opendir(dir);
	struct dirent *de;

	if (dp == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		size_t nl = strlen(de->d_name);
		struct profile_entry *e = NULL;
		struct profile *p;
		char *name, lerr[512];

		if (de->d_name[0] == '.' || nl <= 5 || strcmp(de->d_name + nl - 5, ".yaml") != 0)
			continue;
		name = xstrndup(de->d_name, nl - 5);
		if (!profile_name_ok(name)) {
			free(name);
			continue;
		}
		for (size_t i = 0; i < l->n; i++) {
			if (strcmp(l->v[i].name, name) == 0) {
				e = &l->v[i];
				profile_entry_clear(e);
				break;
			}
		}
		if (e == NULL) {
			if (l->n == *cap) {
				*cap = *cap ? *cap * 2 : 16;
				l->v = xreallocarray(l->v, *cap, sizeof(*l->v));
			}
			e = &l->v[l->n++];
			memset(e, 0, sizeof(*e));
		}
		e->name = name;
		e->path = xasprintf("%s/%s", dir, de->d_name);
		e->user = user;
		p = profile_load_file(e->path, lerr, sizeof(lerr));
		if (p != NULL) {
			e->description = xstrdup(p->description);
			profile_free(p);
		} else {
			e->description = xstrdup("");
			e->error = xstrdup(lerr);
		}
	}
	closedir(dp);
}

int profile_list(struct profile_list *out, char *err, size_t errlen)
{
	size_t cap = 0;
	char *sdir = xasprintf("%s/profiles", paths_pkgdatadir());
	char *udir = paths_user_profiles_dir(NULL, 0);

	out->v = NULL;
	out->n = 0;
	profile_scan(out, &cap, sdir, false);
	if (udir != NULL)
		profile_scan(out, &cap, udir, true);
	free(sdir);
	free(udir);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), profile_entry_cmp);
	return 0;
}

void profile_list_free(struct profile_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		profile_entry_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

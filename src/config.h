/* config.h: the user's settings file, $XDG_CONFIG_HOME/dscoder-tui/config.yaml, and choosing the model. */
#ifndef DS_CONFIG_H
#define DS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct yu_doc;
struct yaml_node_s;

/* remote: an OpenAI-compatible server the engine forwards to (dscoder-engine --remote). Only the
 * name of the key's variable or file is kept here, never the key: the settings travel into argv. */
struct config_remote {
	char *url;                  /* http:// or https://; NULL: no remote (the local engine) */
	char *fim_url;              /* --remote-fim-url: where fill-in-the-middle goes (DeepSeek's beta
	                             * address), or NULL: url */
	char *model;                /* --remote-model: the server's model id; NULL: the server's choice */
	char *api_key_env;          /* --api-key-env: the variable that holds the key, or NULL */
	char *api_key_file;         /* --api-key-file: the file that holds the key (path expanded), or NULL */
};

/* Every string is owned by the struct and NULL when the file does not set it. Paths are already
 * expanded: "~/" becomes $HOME and a relative path is taken relative to the config file's directory,
 * except an engine given as a bare command name (no slash), which is kept for a $PATH search. */
struct config {
	char *path;                 /* the file read, or NULL when there was none (all defaults) */
	char *model;                /* model directory */
	char *engine;               /* path of the dscoder-engine binary */
	char *theme;                /* theme name */
	char *profile;              /* default profile name */
	int threads;                /* engine threads; 0: engine default (all cores) */
	int ctx;                    /* context length in tokens; 0: engine default */
	char *backend;              /* "auto", "cpu", "cuda", ... passed to the engine as is */
	int gpus;                   /* split the model over this many GPUs (--gpus); 0: one device */
	char *devices;              /* or over these GPUs, "0,2,3" (--devices); NULL: not set */
	char **engine_args;         /* more engine options, passed as they are; n_engine_args of them */
	int n_engine_args;
	struct config_remote remote;        /* remote:; url NULL when absent */
};

/* Reads path, or the default config.yaml when path is NULL. A missing default file is not an error
 * (cfg holds defaults); a missing file named explicitly is. Unknown keys, wrong types and bad YAML are
 * errors naming file:line (and the key). Returns 0, or -1 with one sentence in err (cfg is then
 * zeroed, safe to config_free). Free with config_free. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);

void config_remote_free(struct config_remote *r);
/* Copies src into dst (dst's old strings are not freed). */
void config_remote_copy(struct config_remote *dst, const struct config_remote *src);
/* Checks a remote given on the command line (--remote, --remote-model, --api-key-env, --api-key-file)
 * as a file's is checked: the url is http:// or https:// with a host and no user or password, the
 * key's variable is a variable name, not both key sources. Returns 0, or -1 with one sentence in err
 * that names the option and never repeats the value. */
int config_remote_check_args(const struct config_remote *r, char *err, size_t errlen);
/* Reads a remote: mapping (url, model, api_key_env, api_key_file) at v of d into r (r's old strings are
 * freed first); api_key_file is taken relative to dir. Errors name FILE:LINE and the key. Shared by
 * config.yaml and profiles. */
int config_remote_read(struct yu_doc *d, struct yaml_node_s *v, const char *dir, struct config_remote *r,
		       char *err, size_t errlen);

enum config_model_source {
	CONFIG_MODEL_ARG,           /* --model */
	CONFIG_MODEL_CONFIG,        /* model: in config.yaml */
	CONFIG_MODEL_ENV,           /* $DSCODER_MODEL */
	CONFIG_MODEL_DEMO,          /* the bundled demo model */
};

/* The model directory to use: arg (--model, may be NULL), else cfg->model (cfg may be NULL), else
 * $DSCODER_MODEL (if non-empty), else <pkgdatadir>/models/dscoder-demo. Existence is not checked (the
 * engine reports a missing model). Returns a newly allocated path (caller frees); *is_demo (if not
 * NULL) says whether it is the bundled demo model, *source (if not NULL) where it came from. */
char *config_resolve_model(const char *arg, const struct config *cfg, bool *is_demo,
			   enum config_model_source *source);
/* "--model", "config.yaml", "$DSCODER_MODEL", "demo model": for the status bar and messages. */
const char *config_model_source_name(enum config_model_source s);

#endif

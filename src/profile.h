/* profile.h: named presets (system prompt, mode, sampling) read from
 * $XDG_CONFIG_HOME/dscoder-tui/profiles/NAME.yaml, else from the installed profiles directory. */
#ifndef DS_PROFILE_H
#define DS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "params.h"

/* The profile used when neither --profile nor the config names one. */
#define PROFILE_DEFAULT "coder"

struct profile {
	char *name;                 /* the file name without ".yaml"; never NULL */
	char *description;          /* never NULL ("" when absent) */
	char *system_prompt;        /* NULL: none */
	enum params_mode mode;      /* default chat */
	struct params_sampling sampling;   /* keys absent from the file keep params_sampling_defaults() */
	/* remote: the server this profile's conversations go to. remote_set false: the key is absent
	 * (config.yaml decides); true with remote.url NULL: "remote: local", the local engine. */
	bool remote_set;
	struct config_remote remote;
	char *path;                 /* the file it was read from */
	bool user;                  /* true: from the user's config directory */
};

/* Loads profile `name`: the user's file $XDG_CONFIG_HOME/dscoder-tui/profiles/NAME.yaml if it exists,
 * else <pkgdatadir>/profiles/NAME.yaml (paths_pkgdatadir(): $DSCODER_DATADIR or $(pkgdatadir)).
 * Names may hold letters, digits, '.', '_' and '-' and may not start with '.'. Returns a profile the
 * caller frees with profile_free, or NULL with one sentence in err: no such profile (naming the two
 * places looked in), an unknown key (naming file and key: catches typos), a wrong type or value
 * (file:line). */
struct profile *profile_load(const char *name, char *err, size_t errlen);
/* Loads one profile file; its name is the file name without ".yaml". Same errors as profile_load. */
struct profile *profile_load_file(const char *path, char *err, size_t errlen);
void profile_free(struct profile *p);

struct profile_entry {
	char *name;
	char *description;          /* "" when absent or when the file is broken */
	char *path;
	bool user;
	char *error;                /* NULL, or why the file does not load (one sentence) */
};

struct profile_list {
	struct profile_entry *v;
	size_t n;
};

/* Lists every profile, user ones overriding installed ones of the same name, sorted by name. Broken
 * files are listed with error set. Missing directories are not an error. Always returns 0 today; -1
 * with err is reserved for an unreadable directory. Free with profile_list_free. */
int profile_list(struct profile_list *out, char *err, size_t errlen);
void profile_list_free(struct profile_list *l);

#endif

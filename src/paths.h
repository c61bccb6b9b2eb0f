/* paths.h: where dscoder-tui keeps its files (XDG base directories) and creating private directories. */
#ifndef DS_PATHS_H
#define DS_PATHS_H

#include <stddef.h>
#include <sys/types.h>

/* Application sub-directory name under the XDG base directories. */
#define PATHS_APP "dscoder-tui"

/* $XDG_CONFIG_HOME/dscoder-tui, or ~/.config/dscoder-tui when XDG_CONFIG_HOME is unset, empty or not
 * absolute (the XDG spec says to ignore relative values). Returns a newly allocated string the caller
 * frees; creates nothing. On error (neither variable nor $HOME usable) returns NULL with one sentence in
 * err. */
char *paths_config_dir(char *err, size_t errlen);
/* $XDG_DATA_HOME/dscoder-tui, or ~/.local/share/dscoder-tui; same rules as paths_config_dir. */
char *paths_data_dir(char *err, size_t errlen);
/* <data dir>/conversations. If create is nonzero the directory (and missing parents) is created with
 * mode 0700 whatever the umask. Caller frees; NULL + err on failure. */
char *paths_conversations_dir(int create, char *err, size_t errlen);
/* <config dir>/profiles (never created: profiles are written by people). Caller frees. */
char *paths_user_profiles_dir(char *err, size_t errlen);
/* The data directory (themes/, syntax/, profiles/, models/): $DSCODER_DATADIR when set and non-empty
 * (tests), else DATADIR (= $(pkgdatadir)) when installed, else the source tree when the programs run
 * from the build tree before `make install`. Returns a pointer into the environment or a constant: do not
 * free, valid until the environment changes. */
const char *paths_pkgdatadir(void);

/* Creates dir and each missing parent with the given mode (chmod after mkdir, so the umask cannot
 * widen or narrow it). Existing directories are left as they are. Returns 0, or -1 with one sentence
 * naming the directory in err. */
int paths_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen);
/* Expands a leading "~/" (or a lone "~") to $HOME. Other paths are copied. Caller frees. */
char *paths_expand_home(const char *path);
/* Directory part of path ("." when there is no slash). Caller frees. */
char *paths_dirname(const char *path);

#endif

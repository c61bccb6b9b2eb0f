/* paths.c: XDG base directories for dscoder-tui and private directory creation. */
#include "paths.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xalloc.h"

#ifndef DATADIR
#define DATADIR "/usr/local/share/dscoder-tui"
#endif

/* The XDG spec: a base directory variable that is unset, empty or relative is ignored. */
static char *paths_xdg(const char *var, const char *fallback, char *err, size_t errlen)
{
	const char *v = getenv(var);
	const char *home;

	if (v != NULL && v[0] == '/')
		return xasprintf("%s/" PATHS_APP, v);
	home = getenv("HOME");
	if (home == NULL || home[0] != '/') {
		errorf(err, errlen, "neither $%s nor $HOME is set to an absolute path; set one of them", var);
		return NULL;
	}
	return xasprintf("%s/%s/" PATHS_APP, home, fallback);
}

char *paths_config_dir(char *err, size_t errlen)
{
	return paths_xdg("XDG_CONFIG_HOME", ".config", err, errlen);
}

char *paths_data_dir(char *err, size_t errlen)
{
	return paths_xdg("XDG_DATA_HOME", ".local/share", err, errlen);
}

char *paths_conversations_dir(int create, char *err, size_t errlen)
{
	char *data = paths_data_dir(err, errlen);
	char *dir;

	if (data == NULL)
		return NULL;
	dir = xasprintf("%s/conversations", data);
	free(data);
	if (create && paths_mkdir_p(dir, 0700, err, errlen) != 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

char *paths_user_profiles_dir(char *err, size_t errlen)
{
	char *cfg = paths_config_dir(err, errlen);
	char *dir;

	if (cfg == NULL)
		return NULL;
	dir = xasprintf("%s/profiles", cfg);
	free(cfg);
	return dir;
}

static bool is_directory(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *paths_pkgdatadir(void)
{
	const char *v = getenv("DSCODER_DATADIR");

	if (v != NULL && v[0] != '\0')
		return v;
	if (is_directory(DATADIR))
		return DATADIR;
#ifdef SRCDIR
	/* Not installed: the programs run from the build tree (the README's Quick start), and the
	 * source tree holds the same layout: themes/, syntax/, profiles/, models/. */
	if (is_directory(SRCDIR "/themes"))
		return SRCDIR;
#endif
	return DATADIR;
}

int paths_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen)
{
	char *p = xstrdup(dir);
	char *s;
	struct stat st;
	int ret = 0;

	/* Walk the components left to right so each missing parent is made with the same mode:
	 * ~/.local/share created on the way to a private directory should not be world-readable. */
	for (s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, mode) == 0) {
			/* mkdir applies the umask; chmod gives exactly mode. */
			if (chmod(p, mode) != 0) {
				ret = errorf(err, errlen, "cannot set the permissions of %s: %s", p, strerror(errno));
				break;
			}
		} else if (errno != EEXIST) {
			ret = errorf(err, errlen, "cannot create the directory %s: %s", p, strerror(errno));
			break;
		} else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
			ret = errorf(err, errlen, "%s exists but is not a directory; move it away", p);
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return ret;
}

char *paths_expand_home(const char *path)
{
	const char *home = getenv("HOME");

	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0') && home != NULL && home[0] != '\0')
		return xasprintf("%s%s", home, path + 1);
	return xstrdup(path);
}

char *paths_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* datafile.c: where themes and syntax files are found (the user's config dir, then paths_pkgdatadir()). */
#include "datafile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "xalloc.h"


size_t datafile_dirs(const char *kind, char *dirs[2])
{
	size_t n = 0;
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0] == '/')
		dirs[n++] = xasprintf("%s/dscoder-tui/%s", xdg, kind);
	else if (home && home[0])
		dirs[n++] = xasprintf("%s/.config/dscoder-tui/%s", home, kind);
	dirs[n++] = xasprintf("%s/%s", paths_pkgdatadir(), kind);
	return n;
}

char *datafile_read(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		errorf(err, errlen, "%s: %s.", path, strerror(e));
		errno = e;
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (cap - n < 2) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;
		fclose(f);
		free(buf);
		errorf(err, errlen, "%s: %s.", path, strerror(e));
		errno = e;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

char *datafile_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

char *datafile_name(const char *path, const char *ext)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b), e = strlen(ext);
	if (n > e && strcmp(b + n - e, ext) == 0)
		n -= e;
	return xstrndup(b, n);
}

/* datafile.h: where themes and syntax files are found (user dir, $DSCODER_DATADIR or the installed DATADIR),
 * and the small text helpers both parsers use. */
#ifndef DS_DATAFILE_H
#define DS_DATAFILE_H

#include <stddef.h>

/* The directories searched for data files of one kind ("themes", "syntax"), in order:
 * [0] the user's: $XDG_CONFIG_HOME/dscoder-tui/KIND, or ~/.config/dscoder-tui/KIND when
 *     XDG_CONFIG_HOME is unset or not absolute (left out when neither can be formed);
 * [1] $DSCODER_DATADIR/KIND when DSCODER_DATADIR is set and not empty (tests point it at the
 *     source tree), otherwise DATADIR/KIND (the installed files).
 * Stores newly allocated paths in dirs (the caller frees each) and returns how many (1 or 2). */
size_t datafile_dirs(const char *kind, char *dirs[2]);

/* Reads a whole file. Returns a new NUL-terminated buffer (caller frees) and its length in *len,
 * or NULL with "PATH: REASON." in err (NULL with errno ENOENT for a missing file). */
char *datafile_read(const char *path, size_t *len, char *err, size_t errlen);

/* Strips the white space around s in place; returns where the kept text starts (inside s). */
char *datafile_trim(char *s);

/* The name a data file is known by: the last component of path without the extension ext
 * (".theme", ".syntax"), kept when nothing would be left. Caller frees. */
char *datafile_name(const char *path, const char *ext);

#endif

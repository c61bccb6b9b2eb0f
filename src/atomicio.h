/* atomicio.h: whole-file reads with a size cap and crash-safe replacement of a file (temp file in the
 * same directory, write, fsync, rename, fsync the directory). */
#ifndef DS_ATOMICIO_H
#define DS_ATOMICIO_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Replaces path with data[0..len) so that a reader (or a crash) sees either the old file or the new
 * one, never a mix: the bytes go to a temp file ".<name>.XXXXXX" next to path, created with `mode`
 * (fchmod'ed, so the umask cannot widen it), fsync'ed, renamed over path, and the directory is fsync'ed.
 * Returns 0, or -1 with one sentence naming path and the failing step in err; on failure the old file
 * is untouched and the temp file is removed. A write past the file size limit (ulimit -f) fails like a
 * full disk (SIGXFSZ is ignored during the call when its action is the default, which kills). */
int atomicio_write(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errlen);
/* The same; on success *st (when not NULL) gets the new file's identity and times, as fstat gave them
 * before the rename. */
int atomicio_write_stat(const char *path, const void *data, size_t len, mode_t mode, struct stat *st,
			char *err, size_t errlen);

/* Reads the whole file at path into a newly allocated buffer that the caller frees; the buffer has a
 * NUL after the last byte (not counted in *len). Files larger than max bytes are refused. Returns NULL
 * with one sentence naming path in err on failure (missing file, too big, I/O error); errno is kept
 * from the failing call so callers can test errno == ENOENT. */
char *atomicio_read(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* Test hook: make the next atomicio_write fail at a step, as a full disk or an I/O error would.
 * ATOMICIO_FAULT_NONE turns it off; the hook fires once and resets itself. */
enum atomicio_fault {
	ATOMICIO_FAULT_NONE,
	ATOMICIO_FAULT_WRITE,       /* after half the bytes were written to the temp file */
	ATOMICIO_FAULT_FSYNC,
	ATOMICIO_FAULT_RENAME,
};
void atomicio_set_fault(enum atomicio_fault f);

#endif

/* atomicio.c: whole-file reads and crash-safe replacement (temp file, fsync, rename, fsync dir). */
#include "atomicio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "xalloc.h"

static enum atomicio_fault atomicio_fault;

static int atomicio_replace(const char *path, const void *data, size_t len, mode_t mode, struct stat *st,
			    char *err, size_t errlen);

void atomicio_set_fault(enum atomicio_fault f)
{
	atomicio_fault = f;
}

/* Returns whether the armed fault is f, disarming it (it fires once). */
static int atomicio_fault_hit(enum atomicio_fault f)
{
	if (atomicio_fault != f)
		return 0;
	atomicio_fault = ATOMICIO_FAULT_NONE;
	return 1;
}

static int atomicio_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A write past the file size limit (ulimit -f) raises SIGXFSZ, whose default action kills the program
 * mid-save: a TUI would leave the terminal in curses mode and the temp file behind. Ignored, the
 * write fails with EFBIG instead, which is handled like a full disk. The old disposition is put back
 * afterwards (a SIGXFSZ raised while ignored is discarded, not left pending). */
static bool atomicio_xfsz_ignore(struct sigaction *old)
{
	struct sigaction ign;

	/* A handler or SIG_IGN of the caller's own is left alone. */
	if (sigaction(SIGXFSZ, NULL, old) != 0 || old->sa_handler != SIG_DFL)
		return false;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	return sigaction(SIGXFSZ, &ign, NULL) == 0;
}

int atomicio_write(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errlen)
{
	return atomicio_write_stat(path, data, len, mode, NULL, err, errlen);
}

int atomicio_write_stat(const char *path, const void *data, size_t len, mode_t mode, struct stat *st,
			char *err, size_t errlen)
{
	struct sigaction xfsz;
	bool ignored = atomicio_xfsz_ignore(&xfsz);
	int r = atomicio_replace(path, data, len, mode, st, err, errlen);

	if (ignored)
		sigaction(SIGXFSZ, &xfsz, NULL);
	return r;
}

static int atomicio_replace(const char *path, const void *data, size_t len, mode_t mode, struct stat *st,
			    char *err, size_t errlen)
{
	char *dir = paths_dirname(path);
	const char *base = strrchr(path, '/');
	char *tmp;
	int fd, dfd, e;
	const char *step;

	base = base != NULL ? base + 1 : path;
	/* Same directory, so rename() stays on one filesystem and is atomic; a dot name keeps the
	 * half-written file out of listings of *.yaml. */
	tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
	fd = mkstemp(tmp);
	if (fd < 0) {
		e = errno;
		errorf(err, errlen, "cannot save %s: cannot create a temporary file in %s: %s", path, dir,
		       strerror(e));
		free(tmp);
		free(dir);
		errno = e;
		return -1;
	}
	step = "set the permissions of";
	if (fchmod(fd, mode) != 0)
		goto fail;
	step = "write";
	if (atomicio_fault_hit(ATOMICIO_FAULT_WRITE)) {
		(void)atomicio_write_all(fd, data, len / 2);
		errno = ENOSPC;
		goto fail;
	}
	if (atomicio_write_all(fd, data, len) != 0)
		goto fail;
	step = "flush";
	if (atomicio_fault_hit(ATOMICIO_FAULT_FSYNC)) {
		errno = EIO;
		goto fail;
	}
	if (fsync(fd) != 0)
		goto fail;
	/* The identity of the new file (rename keeps inode and times), for callers that later check
	 * whether someone else replaced it. */
	step = "check";
	if (st != NULL && fstat(fd, st) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	step = "rename the temporary file onto";
	if (atomicio_fault_hit(ATOMICIO_FAULT_RENAME)) {
		errno = EXDEV;
		goto fail;
	}
	if (rename(tmp, path) != 0)
		goto fail;
	/* The rename is durable only once the directory entry is on disk. Some filesystems refuse
	 * fsync on a directory (EINVAL); the data is then as safe as that filesystem allows. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) {
			e = errno;
			close(dfd);
			errorf(err, errlen, "saved %s but could not flush its directory: %s", path, strerror(e));
			free(tmp);
			free(dir);
			errno = e;
			return -1;
		}
		close(dfd);
	}
	free(tmp);
	free(dir);
	return 0;

fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	if (e == EFBIG)
		/* The reason first: a status line cuts the (long) path, not what to do. */
		errorf(err, errlen, "the file size limit (ulimit -f) stops saving %s; the previous version is "
		       "unchanged", path);
	else
		errorf(err, errlen, "cannot save %s: cannot %s the file: %s; the previous version is unchanged",
		       path, step, strerror(e));
	free(tmp);
	free(dir);
	errno = e;
	return -1;
}

char *atomicio_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t cap, n = 0;
	int e;

	if (fd < 0) {
		e = errno;
		errorf(err, errlen, "cannot open %s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		e = errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		e = EISDIR;
		goto fail;
	}
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max) {
		close(fd);
		errorf(err, errlen, "%s is too big (%jd bytes; the limit is %zu)", path, (intmax_t)st.st_size, max);
		errno = EFBIG;
		return NULL;
	}
	/* st_size is a hint only (the file may grow, or be a pipe): read until EOF within max. */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t r;

		if (n == cap) {
			if (cap > max) {
				close(fd);
				free(buf);
				errorf(err, errlen, "%s is too big (the limit is %zu bytes)", path, max);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		close(fd);
		free(buf);
		errorf(err, errlen, "%s is too big (the limit is %zu bytes)", path, max);
		errno = EFBIG;
		return NULL;
	}
	close(fd);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;

fail:
	close(fd);
	free(buf);
	errorf(err, errlen, "cannot read %s: %s", path, strerror(e));
	errno = e;
	return NULL;
}

/* xalloc.h: allocation that cannot fail (aborts with a message on out-of-memory), and fatal(). */
#ifndef DS_XALLOC_H
#define DS_XALLOC_H

#include <stddef.h>
#include <stdarg.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Reallocates ptr to count * size bytes, aborting on overflow. */
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes at most errlen bytes of a formatted message into err (if err is not NULL); returns -1 so
 * error paths can say `return errorf(err, errlen, ...)`. */
int errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A growable byte buffer, always NUL-terminated once something was added; zero-initialise it and free
 * p when done. */
struct xbuf {
	char *p;
	size_t len, cap;
};
void xbuf_add(struct xbuf *b, const void *data, size_t n);
void xbuf_str(struct xbuf *b, const char *s);

/* For impossible states: prints "dscoder: " + message to stderr and aborts. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

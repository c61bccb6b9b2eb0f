/* gguf-write.c: the GGUF writer. Metadata are kept serialised (key, type, value bytes) as they will
 * appear in the file; tensors are described up front and their bytes produced one at a time by the
 * caller's fill function while the file is written, so memory holds one tensor, not the model. */
#include "gguf-write.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

#define GW_ALIGN 32

struct gw_kv {
	char *key;
	uint32_t type;
	uint8_t *value;	/* the value as serialised after the type */
	size_t len;
};

struct gw_tensor {
	char *name;
	int n_dims;
	int64_t ne[4];
	uint32_t ggml_type;
	uint64_t nbytes, offset;
	gguf_fill_fn fill;
	void *arg;
};

struct gguf_writer {
	struct gw_kv *kv;
	size_t n_kv;
	struct gw_tensor *t;
	size_t n_t;
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	put(b, x, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	put(b, x, 8);
}

static void put_str(struct buf *b, const char *s, size_t len)
{
	put_u64(b, len);
	put(b, s, len);
}

struct gguf_writer *gguf_writer_new(void)
{
	return xcalloc(1, sizeof(struct gguf_writer));
}

void gguf_writer_free(struct gguf_writer *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n_kv; i++) {
		free(w->kv[i].key);
		free(w->kv[i].value);
	}
	free(w->kv);
	for (size_t i = 0; i < w->n_t; i++)
		free(w->t[i].name);
	free(w->t);
	free(w);
}

/* Takes value (serialised) for key. */
static void set(struct gguf_writer *w, const char *key, uint32_t type, struct buf *value)
{
	for (size_t i = 0; i < w->n_kv; i++)
		if (strcmp(w->kv[i].key, key) == 0) {
			free(w->kv[i].value);
			w->kv[i].type = type;
			w->kv[i].value = value->p;
			w->kv[i].len = value->len;
			return;
		}
	w->kv = xreallocarray(w->kv, w->n_kv + 1, sizeof(*w->kv));
	w->kv[w->n_kv++] = (struct gw_kv){ xstrdup(key), type, value->p, value->len };
}

void gguf_writer_remove(struct gguf_writer *w, const char *key)
{
	for (size_t i = 0; i < w->n_kv; i++)
		if (strcmp(w->kv[i].key, key) == 0) {
			free(w->kv[i].key);
			free(w->kv[i].value);
			memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof(*w->kv));
			w->n_kv--;
			return;
		}
}

void gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv)
{
	static const size_t sizes[GGUF_N_VTYPES] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
	struct buf b = { 0 };
	const uint8_t *start = kv->value;
	size_t len;

	if (kv->type == GGUF_STRING) {
		start -= 8;
		len = 8 + (size_t)kv->n;
	} else if (kv->type != GGUF_ARRAY) {
		len = sizes[kv->type];
	} else {
		start -= 12;
		if (kv->elem_type != GGUF_STRING) {
			len = 12 + (size_t)kv->n * sizes[kv->elem_type];
		} else if (kv->n == 0) {
			len = 12;
		} else {
			size_t slen;

			gguf_array_string(kv, kv->n - 1, &slen);
			len = 12 + (size_t)kv->str_off[kv->n - 1] + 8 + slen;
		}
	}
	put(&b, start, len);
	set(w, kv->key, kv->type, &b);
}

void gguf_writer_set_string(struct gguf_writer *w, const char *key, const char *s, size_t len)
{
	struct buf b = { 0 };

	put_str(&b, s, len);
	set(w, key, GGUF_STRING, &b);
}

void gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	struct buf b = { 0 };

	put_u32(&b, v);
	set(w, key, GGUF_U32, &b);
}

void gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v)
{
	struct buf b = { 0 };

	put_u32(&b, (uint32_t)v);
	set(w, key, GGUF_I32, &b);
}

void gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
	struct buf b = { 0 };
	uint32_t u;

	memcpy(&u, &v, sizeof u);
	put_u32(&b, u);
	set(w, key, GGUF_F32, &b);
}

void gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
	struct buf b = { 0 };
	uint8_t x = v;

	put(&b, &x, 1);
	set(w, key, GGUF_BOOL, &b);
}

void gguf_writer_set_strings(struct gguf_writer *w, const char *key, const char *const *s,
			     const size_t *len, size_t n)
{
	struct buf b = { 0 };

	put_u32(&b, GGUF_STRING);
	put_u64(&b, n);
	for (size_t i = 0; i < n; i++)
		put_str(&b, s[i], len[i]);
	set(w, key, GGUF_ARRAY, &b);
}

void gguf_writer_set_i32s(struct gguf_writer *w, const char *key, const int32_t *v, size_t n)
{
	struct buf b = { 0 };

	put_u32(&b, GGUF_I32);
	put_u64(&b, n);
	for (size_t i = 0; i < n; i++)
		put_u32(&b, (uint32_t)v[i]);
	set(w, key, GGUF_ARRAY, &b);
}

void gguf_writer_add_tensor(struct gguf_writer *w, const char *name, int n_dims, const int64_t *ne,
			    uint32_t ggml_type, uint64_t nbytes, gguf_fill_fn fill, void *arg)
{
	struct gw_tensor *t;

	w->t = xreallocarray(w->t, w->n_t + 1, sizeof(*w->t));
	t = &w->t[w->n_t++];
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	t->n_dims = n_dims;
	for (int d = 0; d < 4; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	t->ggml_type = ggml_type;
	t->nbytes = nbytes;
	t->fill = fill;
	t->arg = arg;
}

static int write_all(int fd, const void *p, size_t n, const char *tmp, char *err, size_t errlen)
{
	const char *c = p;

	while (n > 0) {
		ssize_t k = write(fd, c, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return errorf(err, errlen, "%s: cannot write: %s", tmp, k < 0 ? strerror(errno) : "no space");
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

int gguf_writer_write(struct gguf_writer *w, const char *path,
		      void (*progress)(uint64_t done, uint64_t total, void *arg), void *arg, char *err,
		      size_t errlen)
{
	struct buf h = { 0 };
	uint64_t off = 0, total = 0, done = 0;
	static const uint8_t zeros[GW_ALIGN];
	const char *slash = strrchr(path, '/');
	char *tmp = slash != NULL ? xasprintf("%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1)
				  : xasprintf(".%s.XXXXXX", path);
	void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);	/* a file size limit fails the write instead */
	uint8_t *data = NULL;
	uint64_t cap = 0;
	int fd, rc = -1;

	put(&h, "GGUF", 4);
	put_u32(&h, 3);
	put_u64(&h, w->n_t);
	put_u64(&h, w->n_kv);
	for (size_t i = 0; i < w->n_kv; i++) {
		put_str(&h, w->kv[i].key, strlen(w->kv[i].key));
		put_u32(&h, w->kv[i].type);
		put(&h, w->kv[i].value, w->kv[i].len);
	}
	for (size_t i = 0; i < w->n_t; i++) {
		struct gw_tensor *t = &w->t[i];

		put_str(&h, t->name, strlen(t->name));
		put_u32(&h, (uint32_t)t->n_dims);
		for (int d = 0; d < t->n_dims; d++)
			put_u64(&h, (uint64_t)t->ne[d]);
		put_u32(&h, t->ggml_type);
		put_u64(&h, off);
		t->offset = off;
		off += (t->nbytes + GW_ALIGN - 1) / GW_ALIGN * GW_ALIGN;
		total += t->nbytes;
	}
	put(&h, zeros, (GW_ALIGN - h.len % GW_ALIGN) % GW_ALIGN);

	fd = mkstemp(tmp);
	if (fd < 0) {
		errorf(err, errlen, "%s: cannot create a file beside it: %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0644) != 0 || write_all(fd, h.p, h.len, tmp, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < w->n_t; i++) {
		struct gw_tensor *t = &w->t[i];
		uint64_t pad = (GW_ALIGN - t->nbytes % GW_ALIGN) % GW_ALIGN;

		if (t->nbytes > cap) {
			free(data);
			cap = t->nbytes;
			data = xmalloc((size_t)cap);
		}
		if (t->fill(t->arg, data, err, errlen) < 0 || write_all(fd, data, (size_t)t->nbytes, tmp, err, errlen) < 0 ||
		    write_all(fd, zeros, (size_t)pad, tmp, err, errlen) < 0)
			goto fail;
		done += t->nbytes;
		if (progress != NULL)
			progress(done, total, arg);
	}
	if (fsync(fd) != 0) {
		errorf(err, errlen, "%s: cannot flush it to disk: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		errorf(err, errlen, "%s: cannot close it: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		errorf(err, errlen, "%s: cannot rename the finished file into place: %s", path, strerror(errno));
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	signal(SIGXFSZ, old_xfsz);
	free(data);
	free(h.p);
	free(tmp);
	return rc;
}

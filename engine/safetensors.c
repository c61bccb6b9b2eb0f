/* safetensors.c: mapping a .safetensors file and checking its header before anything reads a tensor.
 *
 * The format: 8 bytes little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "BF16", "shape": [r, c], "data_offsets": [begin, end]}, "__metadata__": {...}},
 * then the data area, which the offsets index. Nothing in the file is trusted: every length and offset
 * is checked against the file size before a pointer is formed. */
#include "safetensors.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

static const struct {
	const char *name;
	enum st_dtype dtype;
	size_t size;
} st_dtypes[] = {
	{ "BOOL", ST_BOOL, 1 }, { "U8", ST_U8, 1 }, { "I8", ST_I8, 1 },
	{ "I16", ST_I16, 2 }, { "U16", ST_U16, 2 }, { "F16", ST_F16, 2 }, { "BF16", ST_BF16, 2 },
	{ "I32", ST_I32, 4 }, { "U32", ST_U32, 4 }, { "F32", ST_F32, 4 },
	{ "F64", ST_F64, 8 }, { "I64", ST_I64, 8 }, { "U64", ST_U64, 8 },
	{ "F8_E4M3", ST_F8_E4M3, 1 }, { "F8_E5M2", ST_F8_E5M2, 1 },
};

size_t st_dtype_size(enum st_dtype t)
{
	for (size_t i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++)
		if (st_dtypes[i].dtype == t)
			return st_dtypes[i].size;
	return 0;
}

static enum st_dtype st_dtype_from_name(const char *s)
{
	for (size_t i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++)
		if (strcmp(st_dtypes[i].name, s) == 0)
			return st_dtypes[i].dtype;
	return ST_OTHER;
}

void st_format_shape(const int64_t *shape, int n_dims, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	used += snprintf(buf, len, "[");
	for (int i = 0; i < n_dims && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (used < len)
		snprintf(buf + used, len - used, "]");
}

static void st_free_tensors(struct st_file *f)
{
	for (size_t i = 0; i < f->n_tensors; i++)
		free(f->tensors[i].name);
	free(f->tensors);
	f->tensors = NULL;
	f->n_tensors = 0;
}

void st_close(struct st_file *f)
{
	st_free_tensors(f);
	if (f->addr != NULL)
		munmap(f->addr, f->size);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

void st_detach(struct st_file *f, void **addr, size_t *size)
{
	*addr = f->addr;
	*size = f->size;
	f->addr = NULL;
	st_close(f);
}

static int st_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct st_tensor *)a)->name, ((const struct st_tensor *)b)->name);
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
	struct st_tensor key = { .name = (char *)name };

	if (f->n_tensors == 0)
		return NULL;
	return bsearch(&key, f->tensors, f->n_tensors, sizeof(key), st_cmp_name);
}

/* A JSON integer >= 0 (safetensors writes plain integers; a float here means a broken writer). */
static bool st_get_u64(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* Parses one header entry into t; data_size is the size of the data area, data its start. */
static int st_parse_tensor(const char *path, const char *name, json_t *v, const unsigned char *data,
			   uint64_t data_size, struct st_tensor *t, char *err, size_t errlen)
{
	json_t *dt = json_object_get(v, "dtype");
	json_t *shape = json_object_get(v, "shape");
	json_t *offs = json_object_get(v, "data_offsets");
	uint64_t begin, end, count = 1, esize;
	char sbuf[160];

	if (!json_is_object(v))
		return errorf(err, errlen, "%s: tensor '%s' in the header is not a JSON object", path, name);
	if (!json_is_string(dt))
		return errorf(err, errlen, "%s: tensor '%s' has no \"dtype\" string in the header", path, name);
	if (!json_is_array(shape))
		return errorf(err, errlen, "%s: tensor '%s' has no \"shape\" array in the header", path, name);
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    !st_get_u64(json_array_get(offs, 0), &begin) || !st_get_u64(json_array_get(offs, 1), &end))
		return errorf(err, errlen,
			      "%s: tensor '%s' needs \"data_offsets\" as two non-negative integers [begin, end]",
			      path, name);

	t->name = xstrdup(name);
	snprintf(t->dtype_name, sizeof(t->dtype_name), "%s", json_string_value(dt));
	t->dtype = st_dtype_from_name(json_string_value(dt));
	if (json_array_size(shape) > ST_MAX_DIMS)
		return errorf(err, errlen, "%s: tensor '%s' has %zu dimensions; at most %d are supported",
			      path, name, json_array_size(shape), ST_MAX_DIMS);
	t->n_dims = (int)json_array_size(shape);
	for (int i = 0; i < t->n_dims; i++) {
		uint64_t d;

		if (!st_get_u64(json_array_get(shape, i), &d) || d > INT64_MAX)
			return errorf(err, errlen, "%s: tensor '%s' has a shape entry that is not a non-negative integer",
				      path, name);
		t->shape[i] = (int64_t)d;
		if (d != 0 && count > UINT64_MAX / d)
			return errorf(err, errlen, "%s: tensor '%s' has a shape whose size overflows", path, name);
		count *= d;
	}
	if (begin > end)
		return errorf(err, errlen, "%s: tensor '%s' has data_offsets [%llu, %llu] that end before they begin: the file is corrupt",
			      path, name, (unsigned long long)begin, (unsigned long long)end);
	if (end > data_size)
		return errorf(err, errlen,
			      "%s: tensor '%s' has data_offsets [%llu, %llu] outside the data area of %llu bytes: the file is truncated or corrupt",
			      path, name, (unsigned long long)begin, (unsigned long long)end,
			      (unsigned long long)data_size);
	t->nbytes = end - begin;
	t->data = data + begin;
	esize = st_dtype_size(t->dtype);
	if (esize != 0 && (count > UINT64_MAX / esize || count * esize != t->nbytes)) {
		st_format_shape(t->shape, t->n_dims, sbuf, sizeof(sbuf));
		return errorf(err, errlen,
			      "%s: tensor '%s' has %llu bytes of data but shape %s of %s needs %llu",
			      path, name, (unsigned long long)t->nbytes, sbuf, t->dtype_name,
			      count > UINT64_MAX / esize ? 0ULL : (unsigned long long)(count * esize));
	}
	return 0;
}

static int st_cmp_data(const void *a, const void *b)
{
	const struct st_tensor *x = *(const struct st_tensor *const *)a, *y = *(const struct st_tensor *const *)b;

	return x->data < y->data ? -1 : x->data > y->data;
}

/* Two tensors sharing bytes mean a corrupt header (the safetensors library never writes that). */
static int st_check_overlap(const struct st_file *f, char *err, size_t errlen)
{
	const struct st_tensor **by = xcalloc(f->n_tensors, sizeof(*by));
	const struct st_tensor *prev = NULL;
	int r = 0;

	for (size_t i = 0; i < f->n_tensors; i++)
		by[i] = &f->tensors[i];
	qsort(by, f->n_tensors, sizeof(*by), st_cmp_data);
	for (size_t i = 0; i < f->n_tensors && r == 0; i++) {
		if (by[i]->nbytes == 0)
			continue;
		if (prev != NULL && (const char *)by[i]->data < (const char *)prev->data + prev->nbytes)
			r = errorf(err, errlen, "%s: tensors '%s' and '%s' overlap in the data area: the file is corrupt",
				   f->path, prev->name, by[i]->name);
		prev = by[i];
	}
	free(by);
	return r;
}

static int st_parse_header(struct st_file *f, char *err, size_t errlen)
{
	const unsigned char *p = f->addr;
	uint64_t hlen = 0;
	const unsigned char *data;
	uint64_t data_size;
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	size_t n;

	if (f->size < 8)
		return errorf(err, errlen,
			      "%s: only %zu bytes long, too short for a safetensors header: the file is truncated",
			      f->path, f->size);
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | p[i];
	if (hlen > f->size - 8)
		return errorf(err, errlen,
			      "%s: the header length (%llu bytes) runs past the end of the file (%zu bytes): the file is truncated or not a safetensors file",
			      f->path, (unsigned long long)hlen, f->size);
	data = p + 8 + hlen;
	data_size = f->size - 8 - hlen;
	root = json_loadb((const char *)p + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return errorf(err, errlen,
			      "%s: the header is not valid JSON (at byte %d of %llu: %s): the file is truncated or corrupt",
			      f->path, jerr.position, (unsigned long long)hlen, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return errorf(err, errlen, "%s: the header is not a JSON object", f->path);
	}
	f->tensors = xcalloc(json_object_size(root), sizeof(*f->tensors));
	n = 0;
	json_object_foreach(root, key, v) {
		if (strcmp(key, "__metadata__") == 0)
			continue;
		/* n_tensors counts the entry being parsed so that st_close frees its name on error. */
		f->n_tensors = n + 1;
		if (st_parse_tensor(f->path, key, v, data, data_size, &f->tensors[n], err, errlen) < 0) {
			json_decref(root);
			return -1;
		}
		n++;
	}
	f->n_tensors = n;
	json_decref(root);
	qsort(f->tensors, f->n_tensors, sizeof(*f->tensors), st_cmp_name);
	return st_check_overlap(f, err, errlen);
}

int st_open(const char *path, struct st_file *f, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		errorf(err, errlen, "%s: not a regular file", path);
		close(fd);
		goto fail;
	}
	f->size = (size_t)st.st_size;
	if (f->size >= 8) {
		void *a = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (a == MAP_FAILED) {
			errorf(err, errlen, "%s: cannot map %zu bytes: %s", path, f->size, strerror(errno));
			close(fd);
			goto fail;
		}
		f->addr = a;
	}
	close(fd);
	if (st_parse_header(f, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	st_close(f);
	return -1;
}

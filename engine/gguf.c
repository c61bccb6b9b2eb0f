/* gguf.c: the GGUF reader. The layout (little-endian): "GGUF", version (2 or 3), tensor count,
 * key/value count; the key/value pairs (string key, u32 type, value; strings are u64 length +
 * bytes, arrays u32 element type + u64 count + elements); the tensor directory (name, u32 n_dims,
 * u64 dims, u32 type, u64 offset); padding to general.alignment (default 32); the tensor data,
 * each tensor at its offset from there. Nothing is trusted: a truncated or lying file is refused
 * with a sentence, never read past. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"
#include "xalloc.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_DIMS 4
/* Far above any real file (DeepSeek-V2 has ~1000 tensors, ~50 keys), low enough that a lying count
 * cannot make us allocate gigabytes before the file runs out. */
#define GGUF_MAX_TENSORS 1000000
#define GGUF_MAX_KV 100000

struct cursor {
	const uint8_t *base;
	size_t off, size;
	const char *path;
	char *err;
	size_t errlen;
};

static int truncated(struct cursor *c, const char *what)
{
	return errorf(c->err, c->errlen,
		      "%s: the file ends inside %s (at byte %zu of %zu): it is truncated or not a GGUF file; download it again",
		      c->path, what, c->off, c->size);
}

static int rd_bytes(struct cursor *c, size_t n, const uint8_t **p, const char *what)
{
	if (n > c->size - c->off)
		return truncated(c, what);
	*p = c->base + c->off;
	c->off += n;
	return 0;
}

static int rd_u32(struct cursor *c, uint32_t *v, const char *what)
{
	const uint8_t *p = NULL;

	if (rd_bytes(c, 4, &p, what) < 0)
		return -1;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 0;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int rd_u64(struct cursor *c, uint64_t *v, const char *what)
{
	const uint8_t *p = NULL;

	if (rd_bytes(c, 8, &p, what) < 0)
		return -1;
	*v = le64(p);
	return 0;
}

/* A string: u64 length, bytes. */
static int rd_str(struct cursor *c, const uint8_t **s, uint64_t *len, const char *what)
{
	if (rd_u64(c, len, what) < 0)
		return -1;
	if (*len > c->size - c->off)
		return errorf(c->err, c->errlen,
			      "%s: %s claims %llu bytes but only %zu remain: the file is damaged; download it again",
			      c->path, what, (unsigned long long)*len, c->size - c->off);
	return rd_bytes(c, (size_t)*len, s, what);
}

static size_t vtype_size(enum gguf_vtype t)
{
	static const size_t sizes[GGUF_N_VTYPES] = {
		[GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2, [GGUF_U32] = 4,
		[GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1, [GGUF_U64] = 8, [GGUF_I64] = 8,
		[GGUF_F64] = 8,
	};

	return (unsigned)t < GGUF_N_VTYPES ? sizes[t] : 0;
}

static int parse_kv(struct cursor *c, struct gguf_kv *kv)
{
	const uint8_t *key;
	uint64_t klen;
	uint32_t type;
	char what[160];

	if (rd_str(c, &key, &klen, "a metadata key") < 0)
		return -1;
	kv->key = xstrndup((const char *)key, (size_t)klen);
	snprintf(what, sizeof what, "the value of metadata key '%.100s'", kv->key);
	if (rd_u32(c, &type, what) < 0)
		return -1;
	if (type >= GGUF_N_VTYPES)
		return errorf(c->err, c->errlen,
			      "%s: metadata key '%s' has value type %u, which GGUF does not define: the file is damaged",
			      c->path, kv->key, type);
	kv->type = type;
	if (type == GGUF_STRING) {
		const uint8_t *s;

		if (rd_str(c, &s, &kv->n, what) < 0)
			return -1;
		kv->value = s;
		return 0;
	}
	if (type != GGUF_ARRAY) {
		kv->n = 1;
		return rd_bytes(c, vtype_size(type), &kv->value, what);
	}
	if (rd_u32(c, &type, what) < 0 || rd_u64(c, &kv->n, what) < 0)
		return -1;
	if (type >= GGUF_N_VTYPES || type == GGUF_ARRAY)
		return errorf(c->err, c->errlen,
			      "%s: metadata key '%s' is an array of type %u, which this reader does not accept: the file is damaged",
			      c->path, kv->key, type);
	kv->elem_type = type;
	kv->value = c->base + c->off;
	if (type != GGUF_STRING) {
		size_t es = vtype_size(type);

		if (kv->n > (c->size - c->off) / es)
			return errorf(c->err, c->errlen,
				      "%s: metadata key '%s' claims %llu elements, more than the file holds: it is truncated or damaged",
				      c->path, kv->key, (unsigned long long)kv->n);
		c->off += (size_t)kv->n * es;
		return 0;
	}
	/* Each string is at least its 8-byte length. */
	if (kv->n > (c->size - c->off) / 8)
		return errorf(c->err, c->errlen,
			      "%s: metadata key '%s' claims %llu strings, more than the file holds: it is truncated or damaged",
			      c->path, kv->key, (unsigned long long)kv->n);
	kv->str_off = xreallocarray(NULL, kv->n ? kv->n : 1, sizeof(*kv->str_off));
	for (uint64_t i = 0; i < kv->n; i++) {
		const uint8_t *s;
		uint64_t len;

		kv->str_off[i] = (uint64_t)(c->base + c->off - kv->value);
		if (rd_str(c, &s, &len, what) < 0)
			return -1;
	}
	return 0;
}

static int parse_tensor_info(struct cursor *c, struct gguf_tensor *t, uint64_t *offset)
{
	const uint8_t *name;
	uint64_t nlen;
	uint32_t n_dims;
	char what[200];

	if (rd_str(c, &name, &nlen, "a tensor name") < 0)
		return -1;
	t->name = xstrndup((const char *)name, (size_t)nlen);
	snprintf(what, sizeof what, "the description of tensor '%.100s'", t->name);
	if (rd_u32(c, &n_dims, what) < 0)
		return -1;
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return errorf(c->err, c->errlen,
			      "%s: tensor '%s' has %u dimensions (GGUF allows 1 to 4): the file is damaged",
			      c->path, t->name, n_dims);
	t->n_dims = (int)n_dims;
	for (int d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (uint32_t d = 0; d < n_dims; d++) {
		uint64_t v;

		if (rd_u64(c, &v, what) < 0)
			return -1;
		if (v == 0 || v > (uint64_t)1 << 40)
			return errorf(c->err, c->errlen,
				      "%s: tensor '%s' has dimension %u of size %llu: the file is damaged",
				      c->path, t->name, d, (unsigned long long)v);
		t->ne[d] = (int64_t)v;
	}
	if (rd_u32(c, &t->ggml_type, what) < 0 || rd_u64(c, offset, what) < 0)
		return -1;
	return 0;
}

/* Checks t's type and size and points it at its data, data_start + offset. */
static int place_tensor(struct cursor *c, struct gguf_tensor *t, size_t data_start, uint64_t offset,
			uint32_t alignment)
{
	const char *tname = ds_ggml_type_name(t->ggml_type);
	const struct ds_dtype_info *info;
	uint64_t n = 1;

	t->dtype = ds_dtype_from_ggml(t->ggml_type);
	if (t->dtype < 0) {
		if (tname != NULL)
			return errorf(c->err, c->errlen,
				      "%s: tensor '%s' is of type %s, which dscoder-engine does not read (it reads f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K and q6_K): use a file quantized as Q4_K_M, Q5_K_M, Q6_K or Q8_0",
				      c->path, t->name, tname);
		return errorf(c->err, c->errlen,
			      "%s: tensor '%s' has type number %u, which GGUF does not define: the file is damaged",
			      c->path, t->name, t->ggml_type);
	}
	info = ds_dtype_get(t->dtype);
	if (t->ne[0] % info->block != 0)
		return errorf(c->err, c->errlen,
			      "%s: tensor '%s' is %s with rows of %lld elements, not a multiple of its block of %d: the file is damaged",
			      c->path, t->name, info->name, (long long)t->ne[0], info->block);
	for (int d = 0; d < GGUF_MAX_DIMS; d++) {
		if ((uint64_t)t->ne[d] > UINT64_MAX / n)
			return errorf(c->err, c->errlen, "%s: tensor '%s' is impossibly large: the file is damaged",
				      c->path, t->name);
		n *= (uint64_t)t->ne[d];
	}
	if (n / (uint64_t)info->block > UINT64_MAX / info->block_bytes)
		return errorf(c->err, c->errlen, "%s: tensor '%s' is impossibly large: the file is damaged",
			      c->path, t->name);
	t->nbytes = n / (uint64_t)info->block * info->block_bytes;
	if (offset % alignment != 0)
		return errorf(c->err, c->errlen,
			      "%s: tensor '%s' starts at offset %llu, not a multiple of the file's alignment %u: the file is damaged",
			      c->path, t->name, (unsigned long long)offset, alignment);
	if (offset > c->size - data_start || t->nbytes > c->size - data_start - offset)
		return errorf(c->err, c->errlen,
			      "%s: tensor '%s' (%llu bytes at offset %llu) runs past the end of the file (%zu bytes): it is truncated; download it again",
			      c->path, t->name, (unsigned long long)t->nbytes, (unsigned long long)offset,
			      c->size);
	t->data = c->base + data_start + offset;
	return 0;
}

static int cmp_tensor_data(const void *a, const void *b)
{
	const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
	const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;

	return (const char *)x->data < (const char *)y->data ? -1 : (const char *)x->data > (const char *)y->data;
}

/* No two tensors may share bytes: a file whose offsets lie would otherwise alias weights. */
static int check_overlaps(struct cursor *c, const struct gguf *g)
{
	const struct gguf_tensor **v = xreallocarray(NULL, g->n_tensors ? g->n_tensors : 1, sizeof(*v));
	int rc = 0;

	for (size_t i = 0; i < g->n_tensors; i++)
		v[i] = &g->tensors[i];
	qsort(v, g->n_tensors, sizeof(*v), cmp_tensor_data);
	for (size_t i = 1; i < g->n_tensors && rc == 0; i++)
		if ((const char *)v[i - 1]->data + v[i - 1]->nbytes > (const char *)v[i]->data)
			rc = errorf(c->err, c->errlen,
				    "%s: tensors '%s' and '%s' overlap in the file: its offsets are wrong; download it again",
				    c->path, v[i - 1]->name, v[i]->name);
	free(v);
	return rc;
}

static int parse(struct cursor *c, struct gguf *g)
{
	const uint8_t *magic = NULL;
	uint64_t n_tensors, n_kv;
	uint32_t alignment = 32;
	uint64_t *offsets;
	size_t data_start;
	int rc = -1;

	if (rd_bytes(c, 4, &magic, "the header") < 0)
		return -1;
	if (memcmp(magic, GGUF_MAGIC, 4) != 0)
		return errorf(c->err, c->errlen, "%s: not a GGUF file (it does not start with \"GGUF\")", c->path);
	if (rd_u32(c, &g->version, "the header") < 0 || rd_u64(c, &n_tensors, "the header") < 0 ||
	    rd_u64(c, &n_kv, "the header") < 0)
		return -1;
	if (g->version != 2 && g->version != 3)
		return errorf(c->err, c->errlen,
			      "%s: GGUF version %u is not supported (only versions 2 and 3): convert it again with a current llama.cpp",
			      c->path, g->version);
	if (n_tensors > GGUF_MAX_TENSORS || n_kv > GGUF_MAX_KV)
		return errorf(c->err, c->errlen,
			      "%s: the header claims %llu tensors and %llu metadata keys: the file is damaged",
			      c->path, (unsigned long long)n_tensors, (unsigned long long)n_kv);
	g->kv = xcalloc(n_kv ? n_kv : 1, sizeof(*g->kv));
	for (; g->n_kv < n_kv; g->n_kv++) {
		struct gguf_kv *kv = &g->kv[g->n_kv];

		if (parse_kv(c, kv) < 0) {
			g->n_kv++;	/* so that gguf_close frees what it holds */
			return -1;
		}
		if (gguf_find(g, kv->key) != NULL) {	/* among the keys before this one */
			g->n_kv++;
			return errorf(c->err, c->errlen, "%s: metadata key '%s' appears twice: the file is damaged",
				      c->path, kv->key);
		}
	}
	{
		const struct gguf_kv *a = gguf_find(g, "general.alignment");

		if (a != NULL) {
			int64_t v;

			if (a->type != GGUF_U32 && a->type != GGUF_I32 && a->type != GGUF_U64)
				return errorf(c->err, c->errlen,
					      "%s: metadata key 'general.alignment' is not an integer: the file is damaged",
					      c->path);
			v = gguf_array_int(&(struct gguf_kv){ .elem_type = a->type, .value = a->value }, 0);
			if (v <= 0 || v > 65536 || (v & (v - 1)) != 0)
				return errorf(c->err, c->errlen,
					      "%s: general.alignment is %lld, not a power of two up to 65536: the file is damaged",
					      c->path, (long long)v);
			alignment = (uint32_t)v;
		}
	}
	g->tensors = xcalloc(n_tensors ? n_tensors : 1, sizeof(*g->tensors));
	offsets = xcalloc(n_tensors ? n_tensors : 1, sizeof(*offsets));
	for (; g->n_tensors < n_tensors; g->n_tensors++) {
		struct gguf_tensor *t = &g->tensors[g->n_tensors];

		if (parse_tensor_info(c, t, &offsets[g->n_tensors]) < 0) {
			g->n_tensors++;
			goto out;
		}
		if (gguf_tensor(g, t->name) != NULL) {
			g->n_tensors++;
			errorf(c->err, c->errlen, "%s: tensor '%s' appears twice: the file is damaged", c->path,
			       t->name);
			goto out;
		}
	}
	data_start = (c->off + alignment - 1) / alignment * alignment;
	if (data_start > c->size) {
		truncated(c, "the padding before the tensor data");
		goto out;
	}
	for (size_t i = 0; i < g->n_tensors; i++)
		if (place_tensor(c, &g->tensors[i], data_start, offsets[i], alignment) < 0)
			goto out;
	rc = check_overlaps(c, g);
out:
	free(offsets);
	return rc;
}

int gguf_open(const char *path, struct gguf *g, char *err, size_t errlen)
{
	struct stat st;
	struct cursor c = { 0 };
	int fd;

	memset(g, 0, sizeof(*g));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errorf(err, errlen, "%s: cannot open it: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errorf(err, errlen, "%s: not a regular file", path);
	}
	if (st.st_size < 24) {
		close(fd);
		return errorf(err, errlen, "%s: only %lld bytes, too short for a GGUF file: it is truncated",
			      path, (long long)st.st_size);
	}
	g->size = (size_t)st.st_size;
	g->map = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (g->map == MAP_FAILED) {
		g->map = NULL;
		return errorf(err, errlen, "%s: cannot map it: %s", path, strerror(errno));
	}
	g->path = xstrdup(path);
	c = (struct cursor){ g->map, 0, g->size, path, err, errlen };
	if (parse(&c, g) < 0) {
		gguf_close(g);
		return -1;
	}
	return 0;
}

void gguf_close(struct gguf *g)
{
	for (size_t i = 0; i < g->n_kv; i++) {
		free(g->kv[i].key);
		free(g->kv[i].str_off);
	}
	free(g->kv);
	for (size_t i = 0; i < g->n_tensors; i++)
		free(g->tensors[i].name);
	free(g->tensors);
	if (g->map != NULL)
		munmap(g->map, g->size);
	free(g->path);
	memset(g, 0, sizeof(*g));
}

bool gguf_is_gguf(const char *path)
{
	char magic[4];
	FILE *f = fopen(path, "rb");
	bool yes;

	if (f == NULL)
		return false;
	yes = fread(magic, 1, 4, f) == 4 && memcmp(magic, GGUF_MAGIC, 4) == 0;
	fclose(f);
	return yes;
}

const struct gguf_kv *gguf_find(const struct gguf *g, const char *key)
{
	for (size_t i = 0; i < g->n_kv; i++)
		if (g->kv[i].key != NULL && strcmp(g->kv[i].key, key) == 0)
			return &g->kv[i];
	return NULL;
}

const struct gguf_tensor *gguf_tensor(const struct gguf *g, const char *name)
{
	for (size_t i = 0; i < g->n_tensors; i++)
		if (g->tensors[i].name != NULL && strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}

static bool vtype_is_int(enum gguf_vtype t)
{
	return t == GGUF_U8 || t == GGUF_I8 || t == GGUF_U16 || t == GGUF_I16 || t == GGUF_U32 ||
	       t == GGUF_I32 || t == GGUF_U64 || t == GGUF_I64;
}

int64_t gguf_array_int(const struct gguf_kv *kv, uint64_t i)
{
	const uint8_t *p = kv->value + i * vtype_size(kv->elem_type);

	switch (kv->elem_type) {
	case GGUF_U8: return p[0];
	case GGUF_I8: return (int8_t)p[0];
	case GGUF_U16: return (uint16_t)(p[0] | p[1] << 8);
	case GGUF_I16: return (int16_t)(p[0] | p[1] << 8);
	case GGUF_U32: return (uint32_t)le64((const uint8_t[8]){ p[0], p[1], p[2], p[3] });
	case GGUF_I32: return (int32_t)(uint32_t)le64((const uint8_t[8]){ p[0], p[1], p[2], p[3] });
	case GGUF_BOOL: return p[0] != 0;
	default: return (int64_t)le64(p);
	}
}

const char *gguf_array_string(const struct gguf_kv *kv, uint64_t i, size_t *len)
{
	const uint8_t *p = kv->value + kv->str_off[i];

	*len = (size_t)le64(p);
	return (const char *)p + 8;
}

static const char *vtype_name(enum gguf_vtype t)
{
	static const char *const names[GGUF_N_VTYPES] = {
		"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
	};

	return names[t];
}

static int wrong_type(const struct gguf *g, const struct gguf_kv *kv, const char *want, char *err,
		      size_t errlen)
{
	return errorf(err, errlen, "%s: metadata key '%s' is a %s where %s was expected: the file is damaged",
		      g->path, kv->key, vtype_name(kv->type), want);
}

int gguf_get_int(const struct gguf *g, const char *key, int64_t *v, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (kv == NULL)
		return 1;
	if (!vtype_is_int(kv->type))
		return wrong_type(g, kv, "an integer", err, errlen);
	*v = gguf_array_int(&(struct gguf_kv){ .elem_type = kv->type, .value = kv->value }, 0);
	if (kv->type == GGUF_U64 && *v < 0)
		return errorf(err, errlen, "%s: metadata key '%s' is too large", g->path, key);
	return 0;
}

int gguf_get_float(const struct gguf *g, const char *key, double *v, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (kv == NULL)
		return 1;
	if (kv->type == GGUF_F32) {
		uint32_t u = (uint32_t)gguf_array_int(&(struct gguf_kv){ .elem_type = GGUF_U32, .value = kv->value }, 0);
		float f;

		memcpy(&f, &u, sizeof f);
		*v = f;
	} else if (kv->type == GGUF_F64) {
		uint64_t u = le64(kv->value);

		memcpy(v, &u, sizeof *v);
	} else if (vtype_is_int(kv->type)) {
		*v = (double)gguf_array_int(&(struct gguf_kv){ .elem_type = kv->type, .value = kv->value }, 0);
	} else {
		return wrong_type(g, kv, "a number", err, errlen);
	}
	return 0;
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *v, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (kv == NULL)
		return 1;
	if (kv->type != GGUF_BOOL)
		return wrong_type(g, kv, "a bool", err, errlen);
	*v = kv->value[0] != 0;
	return 0;
}

int gguf_get_string(const struct gguf *g, const char *key, const char **s, size_t *len, char *err,
		    size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (kv == NULL)
		return 1;
	if (kv->type != GGUF_STRING)
		return wrong_type(g, kv, "a string", err, errlen);
	*s = (const char *)kv->value;
	*len = (size_t)kv->n;
	return 0;
}

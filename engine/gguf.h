/* gguf.h: reading a GGUF file (llama.cpp's single-file model format): the header, the metadata
 * key/value pairs and the tensor directory, over a read-only mapping of the whole file. */
#ifndef DS_GGUF_H
#define DS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, as numbered in the file. */
enum gguf_vtype {
	GGUF_U8 = 0, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL,
	GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64, GGUF_N_VTYPES
};

struct gguf_kv {
	char *key;
	enum gguf_vtype type;
	enum gguf_vtype elem_type;	/* arrays: the elements' type */
	uint64_t n;			/* arrays: element count; strings: byte length */
	const uint8_t *value;		/* the value (arrays: the first element) inside the mapping */
	uint64_t *str_off;		/* arrays of strings: each element's offset from value */
};

struct gguf_tensor {
	char *name;
	int n_dims;
	int64_t ne[4];		/* ne[0] varies fastest: a matrix is ne[1] rows of ne[0] columns */
	uint32_t ggml_type;
	int dtype;		/* enum ds_dtype */
	const void *data;	/* inside the mapping */
	uint64_t nbytes;
};

struct gguf {
	char *path;
	void *map;
	size_t size;
	uint32_t version;
	struct gguf_kv *kv;
	size_t n_kv;
	struct gguf_tensor *tensors;
	size_t n_tensors;
};

/* Maps and parses path. Every count, length, offset and shape is checked against the file; a
 * tensor of a type this program does not read is refused here, naming it. Returns 0 and fills g
 * (release with gguf_close), or -1 with one sentence in err naming the file (and key or tensor),
 * and g holds nothing. */
int gguf_open(const char *path, struct gguf *g, char *err, size_t errlen);
void gguf_close(struct gguf *g);

/* Does path start with the GGUF magic? (false when it cannot be read) */
bool gguf_is_gguf(const char *path);

const struct gguf_kv *gguf_find(const struct gguf *g, const char *key);
const struct gguf_tensor *gguf_tensor(const struct gguf *g, const char *name);

/* Typed reads of key. Each returns 0; 1 when the key is absent (v untouched); -1 with a sentence
 * in err when it is present with a type that cannot be read as asked. Integers of any width are
 * accepted where they fit. */
int gguf_get_int(const struct gguf *g, const char *key, int64_t *v, char *err, size_t errlen);
int gguf_get_float(const struct gguf *g, const char *key, double *v, char *err, size_t errlen);
int gguf_get_bool(const struct gguf *g, const char *key, bool *v, char *err, size_t errlen);
/* *s points into the mapping and is not NUL-terminated: *len bytes. */
int gguf_get_string(const struct gguf *g, const char *key, const char **s, size_t *len, char *err,
		    size_t errlen);

/* Element i of an array of strings (kv->elem_type == GGUF_STRING). */
const char *gguf_array_string(const struct gguf_kv *kv, uint64_t i, size_t *len);
/* Element i of an array of integers, as int64. */
int64_t gguf_array_int(const struct gguf_kv *kv, uint64_t i);

#endif

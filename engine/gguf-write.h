/* gguf-write.h: writing a GGUF file (version 3): metadata key/value pairs and tensors, written
 * atomically (a temporary file beside the target, fsync, rename). */
#ifndef DS_GGUF_WRITE_H
#define DS_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);

/* Metadata, in the order added; a key added twice keeps its first place and takes the new value. */
void gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv);
void gguf_writer_set_string(struct gguf_writer *w, const char *key, const char *s, size_t len);
void gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
/* An array of n strings (s[i] of len[i] bytes) or of n int32. */
void gguf_writer_set_strings(struct gguf_writer *w, const char *key, const char *const *s,
			     const size_t *len, size_t n);
void gguf_writer_set_i32s(struct gguf_writer *w, const char *key, const int32_t *v, size_t n);
void gguf_writer_remove(struct gguf_writer *w, const char *key);

/* A tensor of n_dims dims ne (ne[0] fastest) and GGUF type number ggml_type, whose nbytes bytes the
 * fill callback writes when the file is written (so that a large model is never held in memory):
 * fill(arg, out) must write exactly nbytes into out and return 0, or -1 with a sentence in err. */
typedef int (*gguf_fill_fn)(void *arg, void *out, char *err, size_t errlen);
void gguf_writer_add_tensor(struct gguf_writer *w, const char *name, int n_dims, const int64_t *ne,
			    uint32_t ggml_type, uint64_t nbytes, gguf_fill_fn fill, void *arg);

/* Writes path (alignment 32). progress(done, total, arg) after each tensor, may be NULL. Returns 0,
 * or -1 with one sentence in err; path is then untouched and no temporary file is left. */
int gguf_writer_write(struct gguf_writer *w, const char *path,
		      void (*progress)(uint64_t done, uint64_t total, void *arg), void *arg, char *err,
		      size_t errlen);

#endif

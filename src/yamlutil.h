/* yamlutil.h: small helpers over libyaml for the settings and conversation files: loading one
 * document with errors as "FILE:LINE: ...", typed getters that check types, and an emitter into a
 * memory buffer. Internal to src/ (conversation, profile, config, params). */
#ifndef DS_YAMLUTIL_H
#define DS_YAMLUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "params.h"

/* ---- Reading ---- */

struct yu_doc {
	yaml_document_t doc;
	const char *file;           /* for messages; not owned, must outlive the doc */
	bool loaded;
	int key_line;               /* line of the key yu_map_each is visiting (for unknown-key errors) */
};

/* Parses buf[0..len) as one YAML document. Invalid UTF-8, a NUL byte, a syntax error or more than one
 * document is an error "FILE:LINE: problem." in err (-1). On success (0) free with yu_free; an empty
 * file (or only comments) succeeds with yu_root() == NULL. */
int yu_load(struct yu_doc *d, const char *file, const char *buf, size_t len, char *err, size_t errlen);
void yu_free(struct yu_doc *d);
/* The root node, or NULL for an empty document. */
yaml_node_t *yu_root(struct yu_doc *d);
/* 1-based line where node starts. */
int yu_line(const yaml_node_t *n);

/* Calls fn for each key/value pair of map after checking that map is a mapping (else error "FILE:LINE:
 * <what> must be a mapping") whose keys are plain scalars without duplicates. fn returns 0 to go on or
 * -1 to stop (with err filled); yu_map_each returns what fn returned. */
typedef int (*yu_map_fn)(struct yu_doc *d, const char *key, yaml_node_t *val, void *arg,
			 char *err, size_t errlen);
int yu_map_each(struct yu_doc *d, yaml_node_t *map, const char *what, yu_map_fn fn, void *arg,
		char *err, size_t errlen);
/* Checks that node is a sequence; errors as above. */
int yu_expect_seq(struct yu_doc *d, yaml_node_t *node, const char *what, char *err, size_t errlen);

/* Typed getters for the value of `key`. Each returns 0 or -1 with "FILE:LINE: KEY must be ...".
 * yu_str: any scalar; a plain null ("~", "null", empty) gives NULL when nullable, else an error.
 * The string is newly allocated (caller frees; *out's old value is freed first). */
int yu_str(struct yu_doc *d, yaml_node_t *n, const char *key, bool nullable, char **out,
	   char *err, size_t errlen);
/* Text fields (message content): any scalar taken literally, never NULL; *len gets its length. */
int yu_text(struct yu_doc *d, yaml_node_t *n, const char *key, char **out, size_t *len,
	    char *err, size_t errlen);
int yu_int(struct yu_doc *d, yaml_node_t *n, const char *key, int64_t min, int64_t max, int64_t *out,
	   char *err, size_t errlen);
int yu_double(struct yu_doc *d, yaml_node_t *n, const char *key, double *out, char *err, size_t errlen);
/* RFC 3339 timestamp ("2026-11-30T15:00:04Z", an offset or fractional seconds also accepted). */
int yu_time(struct yu_doc *d, yaml_node_t *n, const char *key, int64_t *out, char *err, size_t errlen);
/* True when n is a plain null scalar ("~", "null", "Null", "NULL" or empty). */
bool yu_is_null(const yaml_node_t *n);

/* Error for a key not in the NULL-terminated list known: "FILE:LINE: unknown key "tempreature" in
 * <what>; did you mean "temperature"? (known: ...)". Returns -1. */
int yu_unknown_key(struct yu_doc *d, yaml_node_t *v, const char *key, const char *const *known,
		   const char *what, char *err, size_t errlen);
/* Reads a "sampling:" mapping into p (keys absent keep their value; unknown keys are errors naming
 * FILE:LINE and the key; values are range-checked). */
int yu_sampling(struct yu_doc *d, yaml_node_t *n, struct params_sampling *p, char *err, size_t errlen);

/* ---- Writing ---- */

struct yu_emitter {
	yaml_emitter_t em;
	char *buf;                  /* output so far (owned until yu_emit_end hands it over) */
	size_t len, cap;
	bool failed;
	char err[256];
};

/* Starts a stream and one block-style document (unicode kept, no line folding). */
void yu_emit_begin(struct yu_emitter *e);
void yu_emit_map_start(struct yu_emitter *e);
void yu_emit_map_end(struct yu_emitter *e);
void yu_emit_seq_start(struct yu_emitter *e);
void yu_emit_seq_end(struct yu_emitter *e);
/* A mapping key (plain). */
void yu_emit_key(struct yu_emitter *e, const char *key);
/* A string value: NULL is written as "~"; strings a reader would take for null are quoted. */
void yu_emit_str(struct yu_emitter *e, const char *s);
/* A text value in the given style (YAML_LITERAL_SCALAR_STYLE or YAML_DOUBLE_QUOTED_SCALAR_STYLE);
 * libyaml itself falls back to double quotes when the literal style cannot hold the text. */
void yu_emit_text(struct yu_emitter *e, const char *s, size_t len, yaml_scalar_style_t style);
void yu_emit_int(struct yu_emitter *e, int64_t v);
/* Shortest decimal form that reads back as the same double. */
void yu_emit_double(struct yu_emitter *e, double v);
void yu_emit_time(struct yu_emitter *e, int64_t t);
/* Writes the sampling mapping (all seven keys; seed "random" when PARAMS_SEED_RANDOM). */
void yu_emit_sampling(struct yu_emitter *e, const struct params_sampling *p);
/* Ends the document and stream. Returns 0 and hands over the NUL-terminated buffer (*out, caller
 * frees), or -1 with err if any step failed. The emitter is freed either way. */
int yu_emit_end(struct yu_emitter *e, char **out, size_t *len, char *err, size_t errlen);

/* Formats t as RFC 3339 UTC into buf (>= 21 bytes). */
void yu_format_time(int64_t t, char *buf, size_t size);

#endif

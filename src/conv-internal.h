/* conv-internal.h: what the conversation sources share among themselves (conversation.c, conv-file.c,
 * conv-literal.c, conv-list.c, conv-markdown.c); not for the rest of the program. */
#ifndef DS_CONV_INTERNAL_H
#define DS_CONV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conversation.h"
#include "yamlutil.h"

/* A growable byte buffer, always NUL-terminated once something was added; p is owned. */
struct conv_buf {
	char *p;
	size_t len, cap;
};

void conv_buf_add(struct conv_buf *b, const char *s, size_t n);
void conv_buf_str(struct conv_buf *b, const char *s);

/* Makes *field valid UTF-8 without NUL bytes, in place (invalid sequences become U+FFFD). len: its
 * length, updated; NULL to use strlen. A NULL *field is left alone. */
void conv_text_fix(char **field, size_t *len);
/* Appends a zeroed message to c and returns it (valid until the next add or remove). */
struct conv_message *conv_msg_push(struct conversation *c);

/* conv-file.c: frees what conv_load/conv_save remember of the file (NULL is fine). */
struct conv_disk;
void conv_disk_free(struct conv_disk *k);
/* conversation.c: a new id "YYYYMMDD-HHMMSS-slug" for a conversation started at now. */
char *conv_make_id(time_t now);

/* conv-literal.c: writing texts as block literals even where libyaml's emitter would refuse. */
struct conv_literal;
/* Prepares for emitting the texts of c (notes the private-use characters c already uses). Never NULL. */
struct conv_literal *conv_literal_new(const struct conversation *c);
/* Emits s as a block literal, or double-quoted when quoted is set or a literal cannot hold it. */
void conv_literal_emit(struct yu_emitter *e, struct conv_literal *t, const char *s, bool quoted);
/* Turns libyaml's output buf[0..*len) into the final text (stand-ins swapped back). Frees buf and t;
 * returns a new NUL-terminated buffer (caller frees) and updates *len. */
char *conv_literal_finish(struct conv_literal *t, char *buf, size_t *len);

#endif

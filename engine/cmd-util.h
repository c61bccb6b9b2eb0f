/* cmd-util.h: helpers of the verbs that read ids or text (engine/cmd-util.c). */
#ifndef DS_CMD_UTIL_H
#define DS_CMD_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "engine-cli.h"
#include "generate.h"

/* Reads all of a stream into a new buffer (the caller frees it). Returns NULL on a read error. */
char *cli_read_all(FILE *f, size_t *len);
/* Parses whitespace-separated ids from text (what names the source in messages; limit: ids must be
 * below it, 0: no limit). On a bad token prints the one-line error and returns -1. The caller frees *ids. */
int cli_parse_ids(const char *text, const char *what, int limit, int **ids, size_t *n);
/* A whole file as text (to free), or NULL after cli_fail. */
char *cli_read_file_text(const char *path);
/* The tokenizer of a->model and all of stdin. Returns 0 with both to free, or cli_fail's status. */
int cli_tok_with_stdin(const struct cli_args *a, struct tokenizer **t, char **text, size_t *len);
/* Loads the model and a->ids_path for --logits and --greedy, with a context for the ids and extra more.
 * Returns 0, or 1 after cli_fail (e then holds nothing). */
int cli_open_with_ids(const struct cli_args *a, int extra, struct ds_engine *e, int **ids, size_t *n);

#endif

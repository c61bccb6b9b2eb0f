/* cmd-util.c: what the verbs that read ids or text share: all of a stream, ids parsed from text, the
 * tokenizer with stdin, and a model opened with a context just large enough for an ids file. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-util.h"
#include "xalloc.h"

#define ERR_LEN 1024

/* Reads all of a stream into a new buffer (the caller frees it). Returns NULL on a read error. */
char *cli_read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0, got;
	char *buf = xmalloc(cap);

	while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n - 1 == 0) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	if (ferror(f)) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Parses whitespace-separated ids from text. what names the source in messages. On a bad token
 * prints the one-line error and returns -1. The caller frees *ids. */
int cli_parse_ids(const char *text, const char *what, int limit, int **ids, size_t *n)
{
	size_t cap = 0;
	const char *p = text;

	*ids = NULL;
	*n = 0;
	for (;;) {
		char *end;
		long long v;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		errno = 0;
		v = strtoll(p, &end, 10);
		if (end == p || (*end != '\0' && *end != ' ' && *end != '\t' && *end != '\n' &&
				 *end != '\r' && *end != ',')) {
			int len = 0;

			while (p[len] != '\0' && p[len] != ' ' && p[len] != '\n' && len < 20)
				len++;
			free(*ids);
			cli_fail("%s: '%.*s' at position %zu is not a token id (whole numbers separated by spaces)",
				 what, len, p, *n);
			return -1;
		}
		if (errno != 0 || v < 0 || (limit > 0 && v >= limit)) {
			free(*ids);
			cli_fail("%s: id %lld at position %zu is outside the model's vocabulary [0, %d)",
				 what, v, *n, limit);
			return -1;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			*ids = xreallocarray(*ids, cap, sizeof **ids);
		}
		(*ids)[(*n)++] = (int)v;
		p = end;
	}
	return 0;
}

char *cli_read_file_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text;
	size_t len;

	if (f == NULL) {
		cli_fail("%s: %s", path, strerror(errno));
		return NULL;
	}
	text = cli_read_all(f, &len);
	fclose(f);
	if (text == NULL)
		cli_fail("%s: read error", path);
	return text;
}

/* The tokenizer of a->model and all of stdin, which the two tokenizer verbs start from. Returns 0
 * with both to free, or cli_fail's status with nothing to free. */
int cli_tok_with_stdin(const struct cli_args *a, struct tokenizer **t, char **text, size_t *len)
{
	char err[ERR_LEN];

	if (ds_model_dir_check(a->model, err, sizeof err) != 0)
		return cli_fail("%s", err);
	*t = tok_load(a->model, err, sizeof err);
	if (*t == NULL)
		return cli_fail("%s", err);
	*text = cli_read_all(stdin, len);
	if (*text == NULL) {
		tok_free(*t);
		return cli_fail("stdin: read error");
	}
	return 0;
}

/* Loads the model and the ids file for --logits and --greedy, with a context just large enough. */
int cli_open_with_ids(const struct cli_args *a, int extra, struct ds_engine *e, int **ids, size_t *n)
{
	char err[ERR_LEN];
	char *text;

	if (ds_engine_open(e, a->model, 16, a->threads, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	text = cli_read_file_text(a->ids_path);
	if (text == NULL) {
		ds_engine_close(e);
		return 1;
	}
	if (cli_parse_ids(text, a->ids_path, e->model.cfg.vocab_size, ids, n) != 0) {
		free(text);
		ds_engine_close(e);
		return 1;
	}
	free(text);
	if (*n == 0) {
		ds_engine_close(e);
		return cli_fail("%s: holds no token ids", a->ids_path);
	}
	/* Re-create the state with the context this run needs. */
	ds_state_free(e->state);
	e->state = ds_state_new(&e->model, a->n_ctx > 0 ? a->n_ctx : (int)*n + extra + 1, a->threads,
				err, sizeof err);
	if (e->state == NULL) {
		free(*ids);
		ds_engine_close(e);
		return cli_fail("%s", err);
	}
	if ((int)*n + extra > ds_state_n_ctx(e->state)) {
		free(*ids);
		ds_engine_close(e);
		return cli_fail("%s: %zu ids and %d more do not fit the context of %d tokens (raise --ctx)",
				a->ids_path, *n, extra, ds_state_n_ctx(e->state));
	}
	/* --simulate-ranks, --gpus: the same context on the ranks of a split model */
	if (cli_ranks_state(a, &e->model, &e->state, 0) != 0) {
		free(*ids);
		ds_engine_close(e);
		return 1;
	}
	return 0;
}

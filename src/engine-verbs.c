/* engine-verbs.c: dscoder-engine's verbs for people and tests: tokenize, detokenize, logits, greedy
 * ids and streamed generation. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-cli.h"
#include "generate.h"
#include "serve.h"
#include "xalloc.h"

#define ERR_LEN 1024

/* Reads all of a stream into a new buffer (the caller frees it). Returns NULL on a read error. */
static char *read_all(FILE *f, size_t *len)
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
static int parse_ids(const char *text, const char *what, int limit, int **ids, size_t *n)
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

static char *read_file_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text;
	size_t len;

	if (f == NULL) {
		cli_fail("%s: %s", path, strerror(errno));
		return NULL;
	}
	text = read_all(f, &len);
	fclose(f);
	if (text == NULL)
		cli_fail("%s: read error", path);
	return text;
}

/* The tokenizer of a->model and all of stdin, which the two tokenizer verbs start from. Returns 0
 * with both to free, or cli_fail's status with nothing to free. */
static int tok_with_stdin(const struct cli_args *a, struct tokenizer **t, char **text, size_t *len)
{
	char err[ERR_LEN];

	if (ds_model_dir_check(a->model, err, sizeof err) != 0)
		return cli_fail("%s", err);
	*t = tok_load(a->model, err, sizeof err);
	if (*t == NULL)
		return cli_fail("%s", err);
	*text = read_all(stdin, len);
	if (*text == NULL) {
		tok_free(*t);
		return cli_fail("stdin: read error");
	}
	return 0;
}

int cli_tokenize(const struct cli_args *a)
{
	struct tokenizer *t;
	size_t len, n = 0, cap = 0;
	int *ids = NULL, rc;
	char *text;

	if ((rc = tok_with_stdin(a, &t, &text, &len)) != 0)
		return rc;
	/* As encode(add_special_tokens=False): added tokens in the text are matched. */
	tok_encode(t, text, len, true, &ids, &n, &cap);
	for (size_t i = 0; i < n; i++)
		printf(i ? " %d" : "%d", ids[i]);
	putchar('\n');
	free(ids);
	free(text);
	tok_free(t);
	return fflush(stdout) == 0 ? 0 : 1;
}

int cli_detokenize(const struct cli_args *a)
{
	struct tokenizer *t;
	struct tok_stream stream;
	char *text, *out = NULL;
	size_t len, n = 0, out_len = 0, out_cap = 0;
	int *ids, rc;

	if ((rc = tok_with_stdin(a, &t, &text, &len)) != 0)
		return rc;
	if (parse_ids(text, "stdin", 0, &ids, &n) != 0) {
		free(text);
		tok_free(t);
		return 1;
	}
	tok_stream_init(&stream);
	for (size_t i = 0; i < n; i++)
		tok_stream_push(&stream, t, ids[i], &out, &out_len, &out_cap);
	tok_stream_flush(&stream, &out, &out_len, &out_cap);
	fwrite(out, 1, out_len, stdout);
	free(out);
	free(ids);
	free(text);
	tok_free(t);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Loads the model and the ids file for --logits and --greedy, with a context just large enough. */
static int open_with_ids(const struct cli_args *a, int extra, struct ds_engine *e, int **ids, size_t *n)
{
	char err[ERR_LEN];
	char *text;

	if (ds_engine_open(e, a->model, 16, a->threads, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	text = read_file_text(a->ids_path);
	if (text == NULL) {
		ds_engine_close(e);
		return 1;
	}
	if (parse_ids(text, a->ids_path, e->model.cfg.vocab_size, ids, n) != 0) {
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

int cli_logits(const struct cli_args *a)
{
	struct ds_engine e;
	int *ids;
	size_t n, vocab;
	float *logits;
	FILE *f;
	int rc = 0;

	if (open_with_ids(a, 0, &e, &ids, &n) != 0)
		return 1;
	vocab = (size_t)e.model.cfg.vocab_size;
	logits = xmalloc(n * vocab * sizeof *logits);
	if (ds_forward(e.state, ids, (int)n, 0, logits, true) != 0) {
		rc = cli_fail("%s: the forward pass rejected the ids", a->ids_path);
	} else if ((f = fopen(a->logits_path, "wb")) == NULL) {
		rc = cli_fail("%s: %s", a->logits_path, strerror(errno));
	} else {
		/* Little-endian float32, positions x vocab_size, row-major: the host's layout
		 * (configure refuses big-endian hosts). */
		if (fwrite(logits, sizeof *logits, n * vocab, f) != n * vocab)
			rc = cli_fail("%s: write error: %s", a->logits_path, strerror(errno));
		if (fclose(f) != 0 && rc == 0)
			rc = cli_fail("%s: write error: %s", a->logits_path, strerror(errno));
	}
	free(logits);
	free(ids);
	ds_engine_close(&e);
	return rc;
}

int cli_greedy(const struct cli_args *a)
{
	struct ds_engine e;
	int *ids, pos, next, vocab;
	size_t n;

	if (open_with_ids(a, a->greedy, &e, &ids, &n) != 0)
		return 1;
	vocab = e.model.cfg.vocab_size;
	if (ds_forward(e.state, ids, (int)n, 0, e.logits, false) != 0) {
		free(ids);
		ds_engine_close(&e);
		return cli_fail("%s: the forward pass rejected the ids", a->ids_path);
	}
	pos = (int)n;
	/* One decode step at a time through the KV cache, not stopping at EOS. */
	for (int i = 0; i < a->greedy; i++) {
		next = ds_argmax(e.logits, vocab);
		printf(i ? " %d" : "%d", next);
		if (i + 1 < a->greedy && ds_forward(e.state, &next, 1, pos++, e.logits, false) != 0) {
			free(ids);
			ds_engine_close(&e);
			return cli_fail("the forward pass failed at position %d", pos - 1);
		}
	}
	putchar('\n');
	free(ids);
	ds_engine_close(&e);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int print_piece(const char *text, size_t len, void *arg)
{
	(void)arg;
	if (len > 0) {
		fwrite(text, 1, len, stdout);
		fflush(stdout);
	}
	return ferror(stdout) ? 1 : 0;
}

int cli_generate(const struct cli_args *a)
{
	char err[ERR_LEN];
	struct ds_engine e;
	struct ds_gen_stats st;
	struct ds_sampling sampling = a->sampling;
	int *ids = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (ds_engine_open(&e, a->model, a->n_ctx, a->threads, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	if (cli_ranks_state(a, &e.model, &e.state, cli_ranks_context(a, e.state)) != 0) {
		ds_engine_close(&e);
		return 1;
	}
	if (a->verb == VERB_GENERATE) {
		struct ds_message msgs[2];
		int n_msgs = 0;

		if (a->system != NULL)
			msgs[n_msgs++] = (struct ds_message){ "system", a->system };
		msgs[n_msgs++] = (struct ds_message){ "user", a->text };
		ds_prompt_chat(e.tok, msgs, n_msgs, &ids, &n, &cap);
	} else if (a->verb == VERB_COMPLETE) {
		ds_prompt_completion(e.tok, a->text, &ids, &n, &cap);
	} else {
		ds_prompt_fim(e.tok, a->fim_prefix, a->fim_suffix, &ids, &n, &cap);
	}
	sampling.trim_leading_space = a->verb == VERB_GENERATE;
	if (ds_generate(&e, ids, (int)n, &sampling, print_piece, NULL, &st, err, sizeof err) != 0)
		rc = cli_fail("%s", err);
	else if (st.finish == DS_FINISH_CONTEXT && st.completion_tokens == 0)
		rc = cli_fail("the prompt is %d tokens over the context of %d (raise --ctx)",
			      st.over_by, ds_state_n_ctx(e.state));
	else
		putchar('\n');
	free(ids);
	ds_engine_close(&e);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}

/* The pipe service's hook that splits the open model over --simulate-ranks, --gpus or --nodes ranks. */
static int serve_place_state(void *arg, const struct ds_model *m, struct ds_state **state,
			     ds_progress_fn progress, void *progress_arg, char *err, size_t errlen)
{
	const struct cli_args *a = arg;
	return cli_ranks_place(a, m, state, cli_ranks_context(a, *state), progress, progress_arg, err, errlen);
}

int cli_serve(const struct cli_args *a)
{
	char backend[64];
	bool split = a->simulate_ranks > 0 || a->gpus > 0 || a->nodes > 0;
	struct ds_serve_opts o = {
		.model_dir = a->model,
		.n_ctx = a->n_ctx,
		.n_threads = a->threads,
		.place_state = split ? serve_place_state : NULL,
		.place_arg = (void *)a,
		.backend_name = cli_ranks_describe(a, backend, sizeof backend),
	};

	return ds_serve(&o);
}

const struct cli_verb_entry cli_pipe_entry = {
	.verb = VERB_NONE, .name = "the pipe service",
	.usage = "", .flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_serve,
};
const struct cli_verb_entry cli_tokenize_entry = {
	.verb = VERB_TOKENIZE, .name = "--tokenize",
	.exec = cli_tokenize,
	.usage = "  --tokenize               UTF-8 text on stdin -> ids on one line (no BOS)\n",
};
const struct cli_verb_entry cli_detokenize_entry = {
	.verb = VERB_DETOKENIZE, .name = "--detokenize",
	.exec = cli_detokenize,
	.usage = "  --detokenize             ids on stdin -> text\n",
};
const struct cli_verb_entry cli_logits_entry = {
	.verb = VERB_LOGITS, .name = "--logits",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_logits,
	.usage = "  --ids FILE --logits OUT  one forward pass over the ids in FILE; OUT gets positions x vocab float32\n",
};
const struct cli_verb_entry cli_greedy_entry = {
	.verb = VERB_GREEDY, .name = "--greedy",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_greedy,
	.usage = "  --ids FILE --greedy N    the next N ids by argmax, decoding through the KV cache\n",
};
const struct cli_verb_entry cli_generate_entry = {
	.verb = VERB_GENERATE, .name = "--generate",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_generate,
	.usage = "  --generate TEXT          TEXT as one user message (chat format); the answer streams to stdout\n",
};
const struct cli_verb_entry cli_complete_entry = {
	.verb = VERB_COMPLETE, .name = "--complete",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_generate,
	.usage = "  --complete TEXT          TEXT as a raw completion prompt (Base models)\n",
};
const struct cli_verb_entry cli_fim_entry = {
	.verb = VERB_FIM, .name = "--fim-prefix/--fim-suffix",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_generate,
	.usage = "  --fim-prefix TEXT --fim-suffix TEXT   fill in the middle; prints the hole\n",
};

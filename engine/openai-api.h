/* openai-api.h: the JSON of the OpenAI-compatible API: request bodies into scheduler requests, and
 * answers, stream chunks and errors out. No HTTP and no threads here: the server (engine/http-serve.c)
 * and --batch-file (engine/cmd-batch-file.c) both use it, so the two read the same fields the same way. */
#ifndef DS_OPENAI_API_H
#define DS_OPENAI_API_H

#include <stdbool.h>
#include <stddef.h>

#include "generate.h"
#include "params.h"
#include "scheduler.h"

/* Which body is parsed: the endpoint decides the input for HTTP; a --batch-file line says it by its
 * fields ("messages": chat, "prompt": completion, "prompt" and "suffix": fill-in-the-middle). */
enum oai_kind { OAI_CHAT = 0, OAI_COMPLETIONS, OAI_BATCH_LINE };

/* An error as OpenAI's API reports it: the HTTP status and {"error":{"message","type","param","code"}}. */
struct oai_error {
	int status;
	const char *type;           /* "invalid_request_error", "authentication_error", ... (constants) */
	const char *code;           /* NULL or a constant: "invalid_api_key", "model_not_found", ... */
	char param[48];             /* the field at fault, "" for none */
	char message[512];          /* one sentence */
};

/* Fills e and returns -1, so that error paths can say `return oai_fail(e, 400, ...)`. */
int oai_fail(struct oai_error *e, int status, const char *type, const char *code, const char *param,
	     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A parsed request. It owns every string; req points into it and is what ds_sched_submit takes. */
struct oai_request {
	enum oai_kind kind;         /* OAI_CHAT or OAI_COMPLETIONS after parsing (batch lines too) */
	struct ds_sched_request req;
	struct ds_message *messages;
	int n_messages;
	char *prompt, *suffix;
	char *stop[PARAMS_MAX_STOP];
	char *model;                /* as the client named it; NULL when left out */
	char *custom_id;            /* --batch-file: the line's "id", echoed in its answer; NULL if none */
	bool stream;                /* "stream": true */
	bool include_usage;         /* "stream_options": {"include_usage": true} */
};

/* The max_tokens of a completion that names none when the server's --max-tokens is 0 (OpenAI's). */
#define OAI_COMPLETIONS_MAX_TOKENS 16

/* Parses body[0..len) as a request of kind k, its sampling fields over defaults (the server's
 * command line) with the ranges of params_ranges; a request without "seed" gets seed_default when
 * seed_fixed, else a new random one. Returns 0, or -1 with e set (status 400) and nothing to free. */
int oai_request_parse(struct oai_request *r, enum oai_kind k, const char *body, size_t len,
		      const struct ds_sampling *defaults, bool seed_fixed, struct oai_error *e);
void oai_request_free(struct oai_request *r);

/* "stop" and "length" as OpenAI names them (a full context is "length"; a cancel is "stop"). */
const char *oai_finish_reason(enum ds_finish f);

/* The encoders return a new NUL-terminated string (the caller frees it). id is "chatcmpl-..." or
 * "cmpl-...", created the Unix time of the request, model the served model's id. text need not be
 * NUL-terminated. */
char *oai_error_json(const struct oai_error *e, size_t *len);
/* A whole answer: "chat.completion" or "text_completion", with usage. */
char *oai_answer_json(enum oai_kind k, const char *id, long created, const char *model, const char *text,
		      size_t text_len, const struct ds_gen_stats *st, size_t *len);
/* One server-sent event "data: {...}\n\n" of a stream: a piece of text (first: the chunk that names
 * the role for chat), the last chunk with finish (st != NULL), or, when usage is set, the usage chunk
 * with no choices. */
char *oai_chunk_sse(enum oai_kind k, const char *id, long created, const char *model, bool first,
		    const char *text, size_t text_len, const struct ds_gen_stats *st, bool usage, size_t *len);
/* "data: {\"error\": ...}\n\n": an error after a stream began. */
char *oai_error_sse(const struct oai_error *e, size_t *len);
/* A --batch-file answer line (no newline): {"index", "id" when the input line had one, "text",
 * "finish_reason", "usage"}, or with e set {"index", "id", "error": {...}}. */
char *oai_batch_line_json(long index, const char *custom_id, const char *text, size_t text_len,
			  const struct ds_gen_stats *st, const struct oai_error *e, size_t *len);
/* GET /v1/models: the one model served, with max_model_len (vLLM's name for the context per request). */
char *oai_models_json(const char *model, long created, int max_model_len, size_t *len);

#endif

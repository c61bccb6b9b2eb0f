/* openai-request.c: a request body of the OpenAI-compatible API (chat, completions, a --batch-file line)
 * into one scheduler request, every field checked: sampling against params_ranges as the pipe protocol
 * does, so a value one entry point takes is never refused, or let through, by another. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai-api.h"
#include "xalloc.h"

#define BAD "invalid_request_error"

int oai_fail(struct oai_error *e, int status, const char *type, const char *code, const char *param,
	     const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->type = type;
	e->code = code;
	snprintf(e->param, sizeof e->param, "%s", param != NULL ? param : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* A message's "content": a string, or a list of parts whose "text" parts are joined (as newer clients
 * send it); null counts as empty (an assistant turn that only called tools). */
static int message_content(const json_t *c, int i, char **out, struct oai_error *e)
{
	size_t n = 0, idx;
	const json_t *part;
	char *buf;

	if (c == NULL || json_is_null(c)) {
		*out = xstrdup("");
		return 0;
	}
	if (json_is_string(c)) {
		*out = xstrndup(json_string_value(c), json_string_length(c));
		if (strlen(*out) != json_string_length(c)) {
			free(*out);
			return oai_fail(e, 400, BAD, NULL, "messages", "messages[%d].content holds a NUL character", i);
		}
		return 0;
	}
	if (!json_is_array(c))
		return oai_fail(e, 400, BAD, NULL, "messages",
				"messages[%d].content is %s; it must be a string or a list of text parts", i,
				json_kind(c));
	json_array_foreach(c, idx, part) {
		const json_t *t = json_object_get(part, "text");
		const char *type = json_string_value(json_object_get(part, "type"));

		if (!json_is_object(part) || type == NULL || strcmp(type, "text") != 0 || !json_is_string(t))
			return oai_fail(e, 400, BAD, NULL, "messages",
					"messages[%d].content[%zu] is not a text part ({\"type\": \"text\", \"text\": "
					"\"...\"}); this model reads text only", i, idx);
		n += json_string_length(t);
	}
	buf = xmalloc(n + 1);
	n = 0;
	json_array_foreach(c, idx, part) {
		const json_t *t = json_object_get(part, "text");
		memcpy(buf + n, json_string_value(t), json_string_length(t));
		n += json_string_length(t);
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		free(buf);
		return oai_fail(e, 400, BAD, NULL, "messages", "messages[%d].content holds a NUL character", i);
	}
	*out = buf;
	return 0;
}

static int parse_messages(struct oai_request *r, const json_t *msgs, struct oai_error *e)
{
	size_t i;
	const json_t *m;

	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return oai_fail(e, 400, BAD, NULL, "messages",
				"\"messages\" must be a non-empty list of {\"role\", \"content\"} objects");
	if (json_array_size(msgs) > 100000)
		return oai_fail(e, 400, BAD, NULL, "messages", "\"messages\" holds more than 100000 messages");
	r->messages = xcalloc(json_array_size(msgs), sizeof *r->messages);
	json_array_foreach(msgs, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const char *as;
		char *content = NULL;

		if (!json_is_object(m) || role == NULL)
			return oai_fail(e, 400, BAD, NULL, "messages",
					"messages[%zu] must be an object with a \"role\" string", i);
		/* "developer" is OpenAI's newer name for the system message */
		if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
			as = "system";
		else if (strcmp(role, "user") == 0)
			as = "user";
		else if (strcmp(role, "assistant") == 0)
			as = "assistant";
		else
			return oai_fail(e, 400, BAD, NULL, "messages",
					"messages[%zu].role is '%.40s'; it must be system, user or assistant", i, role);
		if (message_content(json_object_get(m, "content"), (int)i, &content, e) != 0)
			return -1;
		r->messages[r->n_messages].role = as;
		r->messages[r->n_messages++].content = content;
	}
	return 0;
}

/* A string field (absent or null: *out stays NULL). */
static int get_string(const json_t *root, const char *key, char **out, struct oai_error *e)
{
	const json_t *v = json_object_get(root, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return oai_fail(e, 400, BAD, NULL, key, "\"%s\" is %s; it must be a string", key, json_kind(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return oai_fail(e, 400, BAD, NULL, key, "\"%s\" holds a NUL character", key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* "prompt": a string, or a list of one string (a list of several is a batch, which --batch-file does). */
static int parse_prompt(struct oai_request *r, const json_t *root, struct oai_error *e)
{
	const json_t *p = json_object_get(root, "prompt");

	if (json_is_array(p)) {
		if (json_array_size(p) != 1 || !json_is_string(json_array_get(p, 0)))
			return oai_fail(e, 400, BAD, NULL, "prompt",
					"\"prompt\" as a list must hold exactly one string (token ids and several prompts "
					"per request are not supported: send one request each)");
		p = json_array_get(p, 0);
		if (strlen(json_string_value(p)) != json_string_length(p))
			return oai_fail(e, 400, BAD, NULL, "prompt", "\"prompt\" holds a NUL character");
		r->prompt = xstrdup(json_string_value(p));
		return 0;
	}
	if (p == NULL || json_is_null(p))
		return oai_fail(e, 400, BAD, NULL, "prompt", "\"prompt\" is missing; it must be a string");
	return get_string(root, "prompt", &r->prompt, e);
}

/* A number field into *x: absent or null leaves it; otherwise checked against params_ranges[f]. */
static int get_number(const json_t *root, const char *key, enum params_field f, double *x, bool *given,
		      struct oai_error *e)
{
	const json_t *v = json_object_get(root, key);
	char name[48], err[256];

	if (given != NULL)
		*given = false;
	if (v == NULL || json_is_null(v))
		return 0;
	snprintf(name, sizeof name, "\"%s\"", key);
	if (!json_is_number(v))
		return oai_fail(e, 400, BAD, NULL, key, "\"%s\" is %s; it must be a number", key, json_kind(v));
	if (json_is_integer(v) ? params_check_int(f, name, json_integer_value(v), err, sizeof err)
			       : params_check(f, name, json_real_value(v), err, sizeof err))
		return oai_fail(e, 400, BAD, NULL, key, "%s", err);
	*x = json_number_value(v);
	if (given != NULL)
		*given = true;
	return 0;
}

static int parse_stop(struct oai_request *r, const json_t *root, struct oai_error *e)
{
	const json_t *v = json_object_get(root, "stop");
	char err[256];
	int n = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		r->stop[n++] = xstrdup(json_string_value(v));
	} else if (json_is_array(v)) {
		size_t i;
		const json_t *s;

		if (params_check_stop("\"stop\"", NULL, (int)json_array_size(v), err, sizeof err) != 0)
			return oai_fail(e, 400, BAD, NULL, "stop", "%s", err);
		json_array_foreach(v, i, s) {
			if (!json_is_string(s))
				return oai_fail(e, 400, BAD, NULL, "stop", "stop[%zu] is %s; it must be a string", i,
						json_kind(s));
			r->stop[n++] = xstrdup(json_string_value(s));
		}
	} else {
		return oai_fail(e, 400, BAD, NULL, "stop", "\"stop\" is %s; it must be a string or a list of strings",
				json_kind(v));
	}
	r->req.sampling.n_stop = n;
	if (params_check_stop("\"stop\"", (const char *const *)r->stop, n, err, sizeof err) != 0)
		return oai_fail(e, 400, BAD, NULL, "stop", "%s", err);
	r->req.sampling.stop = r->stop;
	return 0;
}

static int parse_sampling(struct oai_request *r, const json_t *root, bool seed_fixed, struct oai_error *e)
{
	struct ds_sampling *s = &r->req.sampling;
	double x;
	bool given;

	/* OpenAI's completions stop after 16 tokens unless told otherwise; a chat answer ends itself */
	x = s->max_tokens == 0 && r->kind == OAI_COMPLETIONS ? OAI_COMPLETIONS_MAX_TOKENS : s->max_tokens;
	/* max_completion_tokens is the newer name; either may come */
	if (get_number(root, "max_tokens", PARAMS_MAX_TOKENS, &x, NULL, e) != 0 ||
	    get_number(root, "max_completion_tokens", PARAMS_MAX_TOKENS, &x, NULL, e) != 0)
		return -1;
	s->max_tokens = (int)x;
	x = s->temperature;
	if (get_number(root, "temperature", PARAMS_TEMPERATURE, &x, NULL, e) != 0)
		return -1;
	s->temperature = (float)x;
	x = s->top_p;
	if (get_number(root, "top_p", PARAMS_TOP_P, &x, NULL, e) != 0)
		return -1;
	s->top_p = (float)x;
	x = s->top_k;
	if (get_number(root, "top_k", PARAMS_TOP_K, &x, NULL, e) != 0)
		return -1;
	s->top_k = (int)x;
	x = s->min_p;
	if (get_number(root, "min_p", PARAMS_MIN_P, &x, NULL, e) != 0)
		return -1;
	s->min_p = (float)x;
	x = s->repetition_penalty;
	if (get_number(root, "repetition_penalty", PARAMS_REPETITION_PENALTY, &x, NULL, e) != 0)
		return -1;
	s->repetition_penalty = (float)x;
	if (get_number(root, "seed", PARAMS_SEED, &x, &given, e) != 0)
		return -1;
	if (given)
		s->seed = (uint64_t)json_integer_value(json_object_get(root, "seed"));
	else if (!seed_fixed)
		s->seed = ds_random_seed();
	return parse_stop(r, root, e);
}

/* Fields whose other values ask for what this server does not do: refused rather than ignored, so a
 * client does not take one answer for the several it asked for. */
static int refuse_unsupported(const json_t *root, struct oai_error *e)
{
	const json_t *n = json_object_get(root, "n"), *best = json_object_get(root, "best_of");
	const json_t *echo = json_object_get(root, "echo");

	if (n != NULL && !json_is_null(n) && !(json_is_integer(n) && json_integer_value(n) == 1))
		return oai_fail(e, 400, BAD, NULL, "n", "\"n\" must be 1: send one request per answer wanted");
	if (best != NULL && !json_is_null(best) && !(json_is_integer(best) && json_integer_value(best) == 1))
		return oai_fail(e, 400, BAD, NULL, "best_of", "\"best_of\" must be 1: this server returns one answer");
	if (echo != NULL && !json_is_null(echo) && !json_is_false(echo))
		return oai_fail(e, 400, BAD, NULL, "echo", "\"echo\" is not supported: the answer is the new text only");
	return 0;
}

static int parse_stream(struct oai_request *r, const json_t *root, struct oai_error *e)
{
	const json_t *v = json_object_get(root, "stream"), *o = json_object_get(root, "stream_options");

	if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
		return oai_fail(e, 400, BAD, NULL, "stream", "\"stream\" is %s; it must be true or false", json_kind(v));
	r->stream = json_is_true(v);
	if (o != NULL && !json_is_null(o)) {
		const json_t *u = json_object_get(o, "include_usage");

		if (!json_is_object(o) || (u != NULL && !json_is_boolean(u)))
			return oai_fail(e, 400, BAD, NULL, "stream_options",
					"\"stream_options\" must be an object such as {\"include_usage\": true}");
		r->include_usage = json_is_true(u);
	}
	return 0;
}

static int parse_root(struct oai_request *r, enum oai_kind k, const json_t *root, bool seed_fixed,
		      struct oai_error *e)
{
	if (k == OAI_BATCH_LINE) {
		if (json_object_get(root, "messages") != NULL)
			k = OAI_CHAT;
		else if (json_object_get(root, "prompt") != NULL)
			k = OAI_COMPLETIONS;
		else
			return oai_fail(e, 400, BAD, NULL, NULL,
					"the line has neither \"messages\" (a chat) nor \"prompt\" (a completion, with "
					"\"suffix\": fill in the middle)");
		if (json_object_get(root, "stream") != NULL)
			return oai_fail(e, 400, BAD, NULL, "stream", "\"stream\" has no meaning in a --batch-file line");
		if (get_string(root, "id", &r->custom_id, e) != 0)
			return -1;
	}
	r->kind = k;
	if (get_string(root, "model", &r->model, e) != 0 || refuse_unsupported(root, e) != 0 ||
	    parse_stream(r, root, e) != 0 || parse_sampling(r, root, seed_fixed, e) != 0)
		return -1;
	if (k == OAI_CHAT) {
		if (parse_messages(r, json_object_get(root, "messages"), e) != 0)
			return -1;
		r->req.input = DS_SCHED_CHAT;
		r->req.messages = r->messages;
		r->req.n_messages = r->n_messages;
		/* the space after "Assistant:" belongs to the template (engine/sampler.h) */
		r->req.sampling.trim_leading_space = true;
		return 0;
	}
	if (parse_prompt(r, root, e) != 0 || get_string(root, "suffix", &r->suffix, e) != 0)
		return -1;
	if (r->suffix != NULL) {
		/* DeepSeek's API: a completion with a suffix fills the hole between prompt and suffix */
		r->req.input = DS_SCHED_FIM;
		r->req.fim_prefix = r->prompt;
		r->req.fim_suffix = r->suffix;
	} else {
		r->req.input = DS_SCHED_COMPLETION;
		r->req.prompt = r->prompt;
	}
	return 0;
}

int oai_request_parse(struct oai_request *r, enum oai_kind k, const char *body, size_t len,
		      const struct ds_sampling *defaults, bool seed_fixed, struct oai_error *e)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(r, 0, sizeof *r);
	r->req.sampling = *defaults;
	r->req.sampling.stop = NULL;
	r->req.sampling.n_stop = 0;
	/* the server's --stop strings are the default of a request without "stop" */
	for (int i = 0; i < defaults->n_stop && i < PARAMS_MAX_STOP; i++)
		r->stop[i] = xstrdup(defaults->stop[i]);
	r->req.sampling.n_stop = defaults->n_stop;
	if (defaults->n_stop > 0)
		r->req.sampling.stop = r->stop;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		oai_request_free(r);
		return oai_fail(e, 400, BAD, NULL, NULL, "the body is not valid JSON: %s (line %d, column %d)",
				jerr.text, jerr.line, jerr.column);
	}
	if (!json_is_object(root)) {
		oai_fail(e, 400, BAD, NULL, NULL, "the body is JSON %s; it must be an object", json_kind(root));
		json_decref(root);
		oai_request_free(r);
		return -1;
	}
	if (json_object_get(root, "stop") != NULL) {
		for (int i = 0; i < r->req.sampling.n_stop; i++)
			free(r->stop[i]);
		memset(r->stop, 0, sizeof r->stop);
		r->req.sampling.n_stop = 0;
		r->req.sampling.stop = NULL;
	}
	rc = parse_root(r, k, root, seed_fixed, e);
	json_decref(root);
	if (rc != 0)
		oai_request_free(r);
	return rc;
}

void oai_request_free(struct oai_request *r)
{
	for (int i = 0; i < r->n_messages; i++)
		free((char *)r->messages[i].content);
	free(r->messages);
	for (int i = 0; i < PARAMS_MAX_STOP; i++)
		free(r->stop[i]);
	free(r->prompt);
	free(r->suffix);
	free(r->model);
	free(r->custom_id);
	memset(r, 0, sizeof *r);
}

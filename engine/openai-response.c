/* openai-response.c: what the OpenAI-compatible API sends back, in OpenAI's shapes: chat.completion,
 * chat.completion.chunk, text_completion, the model list and {"error": {...}}. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "openai-api.h"
#include "xalloc.h"

const char *oai_finish_reason(enum ds_finish f)
{
	/* OpenAI knows stop and length; a context that filled up is a length limit too */
	return f == DS_FINISH_LENGTH || f == DS_FINISH_CONTEXT ? "length" : "stop";
}

/* text as a JSON string. The scheduler sends whole UTF-8 characters; should a byte sequence still be
 * invalid, jansson refuses it, and the bytes above 0x7f become '?' rather than the answer failing. */
static json_t *text_json(const char *text, size_t len)
{
	json_t *s = json_stringn(text != NULL ? text : "", text != NULL ? len : 0);
	char *copy;

	if (s != NULL)
		return s;
	copy = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)text[i] < 0x80 && text[i] != '\0' ? text[i] : '?';
	s = json_stringn(copy, len);
	free(copy);
	return s;
}

static char *dump(json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT);

	if (s == NULL)
		fatal("openai-response: json_dumps failed (out of memory)");
	json_decref(v);
	if (len != NULL)
		*len = strlen(s);
	return s;
}

/* "data: JSON\n\n" */
static char *sse(json_t *v, size_t *len)
{
	char *body = dump(v, NULL), *s = xasprintf("data: %s\n\n", body);

	free(body);
	if (len != NULL)
		*len = strlen(s);
	return s;
}

static json_t *error_object(const struct oai_error *e)
{
	return json_pack("{s:{s:s,s:s,s:o,s:o}}", "error", "message", e->message, "type", e->type,
			 "param", e->param[0] != '\0' ? json_string(e->param) : json_null(),
			 "code", e->code != NULL ? json_string(e->code) : json_null());
}

char *oai_error_json(const struct oai_error *e, size_t *len)
{
	return dump(error_object(e), len);
}

char *oai_error_sse(const struct oai_error *e, size_t *len)
{
	return sse(error_object(e), len);
}

static json_t *usage_json(const struct ds_gen_stats *st)
{
	return json_pack("{s:i,s:i,s:i}", "prompt_tokens", st->prompt_tokens, "completion_tokens",
			 st->completion_tokens, "total_tokens", st->prompt_tokens + st->completion_tokens);
}

char *oai_answer_json(enum oai_kind k, const char *id, long created, const char *model, const char *text,
		      size_t text_len, const struct ds_gen_stats *st, size_t *len)
{
	json_t *choice;

	if (k == OAI_CHAT)
		choice = json_pack("{s:i,s:{s:s,s:o},s:n,s:s}", "index", 0, "message", "role", "assistant",
				   "content", text_json(text, text_len), "logprobs",
				   "finish_reason", oai_finish_reason(st->finish));
	else
		choice = json_pack("{s:o,s:i,s:n,s:s}", "text", text_json(text, text_len), "index", 0, "logprobs",
				   "finish_reason", oai_finish_reason(st->finish));
	return dump(json_pack("{s:s,s:s,s:I,s:s,s:[o],s:o}", "id", id, "object",
			      k == OAI_CHAT ? "chat.completion" : "text_completion", "created", (json_int_t)created,
			      "model", model, "choices", choice, "usage", usage_json(st)), len);
}

char *oai_chunk_sse(enum oai_kind k, const char *id, long created, const char *model, bool first,
		    const char *text, size_t text_len, const struct ds_gen_stats *st, bool usage, size_t *len)
{
	json_t *chunk = json_pack("{s:s,s:s,s:I,s:s}", "id", id, "object",
				  k == OAI_CHAT ? "chat.completion.chunk" : "text_completion", "created",
				  (json_int_t)created, "model", model);
	json_t *choices = json_array(), *choice;

	if (usage) {
		/* OpenAI's last chunk with stream_options.include_usage: no choices, the counts */
		json_object_set_new(chunk, "choices", choices);
		json_object_set_new(chunk, "usage", usage_json(st));
		return sse(chunk, len);
	}
	if (k == OAI_CHAT) {
		json_t *delta = json_object();

		if (first)
			json_object_set_new(delta, "role", json_string("assistant"));
		if (st == NULL)
			json_object_set_new(delta, "content", text_json(text, text_len));
		choice = json_pack("{s:i,s:o,s:n}", "index", 0, "delta", delta, "logprobs");
	} else {
		choice = json_pack("{s:o,s:i,s:n}", "text", text_json(st == NULL ? text : "", st == NULL ? text_len : 0),
				   "index", 0, "logprobs");
	}
	json_object_set_new(choice, "finish_reason",
			    st != NULL ? json_string(oai_finish_reason(st->finish)) : json_null());
	json_array_append_new(choices, choice);
	json_object_set_new(chunk, "choices", choices);
	return sse(chunk, len);
}

char *oai_batch_line_json(long index, const char *custom_id, const char *text, size_t text_len,
			  const struct ds_gen_stats *st, const struct oai_error *e, size_t *len)
{
	json_t *line = json_pack("{s:I}", "index", (json_int_t)index);

	if (custom_id != NULL)
		json_object_set_new(line, "id", json_string(custom_id));
	if (e != NULL) {
		json_t *err = error_object(e);

		json_object_update(line, err);
		json_decref(err);
		return dump(line, len);
	}
	json_object_set_new(line, "text", text_json(text, text_len));
	json_object_set_new(line, "finish_reason", json_string(oai_finish_reason(st->finish)));
	json_object_set_new(line, "usage", usage_json(st));
	return dump(line, len);
}

char *oai_models_json(const char *model, long created, int max_model_len, size_t *len)
{
	return dump(json_pack("{s:s,s:[{s:s,s:s,s:I,s:s,s:i}]}", "object", "list", "data", "id", model, "object",
			      "model", "created", (json_int_t)created, "owned_by", "dscoder-engine", "max_model_len",
			      max_model_len), len);
}

/* protocol.c: encoding and parsing the JSON lines of the engine protocol (see protocol.h), with jansson. */
#include "protocol.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "xalloc.h"


/* ---- ids ---------------------------------------------------------------------------------------- */

struct ds_proto_id ds_proto_id_int(long long n)
{
	return (struct ds_proto_id){ .kind = DS_ID_INT, .num = n };
}

struct ds_proto_id ds_proto_id_str(const char *s)
{
	return (struct ds_proto_id){ .kind = DS_ID_STR, .str = xstrdup(s) };
}

bool ds_proto_id_equal(const struct ds_proto_id *a, const struct ds_proto_id *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case DS_ID_INT:
		return a->num == b->num;
	case DS_ID_STR:
		return strcmp(a->str, b->str) == 0;
	default:
		return true;
	}
}

void ds_proto_id_copy(struct ds_proto_id *dst, const struct ds_proto_id *src)
{
	*dst = *src;
	if (src->kind == DS_ID_STR)
		dst->str = xstrdup(src->str);
}

void ds_proto_id_free(struct ds_proto_id *id)
{
	if (id->kind == DS_ID_STR)
		free(id->str);
	*id = (struct ds_proto_id){ .kind = DS_ID_NONE };
}

void ds_proto_id_format(const struct ds_proto_id *id, char *buf, size_t size)
{
	if (size == 0)
		return;
	switch (id->kind) {
	case DS_ID_INT:
		snprintf(buf, size, "%lld", id->num);
		break;
	case DS_ID_STR:
		snprintf(buf, size, "\"%s\"", id->str);
		break;
	default:
		snprintf(buf, size, "(none)");
	}
}

static json_t *id_to_json(const struct ds_proto_id *id)
{
	if (id->kind == DS_ID_INT)
		return json_integer(id->num);
	if (id->kind == DS_ID_STR)
		return json_string(id->str);
	return NULL;
}

/* ---- UTF-8 -------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;               /* continuation byte, or overlong 2-byte lead */
	if (c < 0xe0)
		len = 2;
	else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;      /* overlong */
		else if (c == 0xed)
			hi = 0x9f;      /* surrogates */
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;      /* overlong */
		else if (c == 0xf4)
			hi = 0x8f;      /* past U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

bool ds_proto_utf8_valid(const char *s, size_t n, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(u + i, n - i);

		if (k == 0) {
			if (bad)
				*bad = i;
			return false;
		}
		i += k;
	}
	return true;
}

/* ---- requests ----------------------------------------------------------------------------------- */

static const char *const op_names[] = {
	[DS_OP_GENERATE] = DS_OP_GENERATE_NAME,
	[DS_OP_COUNT] = DS_OP_COUNT_NAME,
	[DS_OP_CANCEL] = DS_OP_CANCEL_NAME,
	[DS_OP_SHUTDOWN] = DS_OP_SHUTDOWN_NAME,
};

static const char *const finish_names[] = {
	[DS_PROTO_FINISH_STOP] = "stop",
	[DS_PROTO_FINISH_LENGTH] = "length",
	[DS_PROTO_FINISH_CANCEL] = "cancel",
	[DS_PROTO_FINISH_CONTEXT] = "context",
};

const char *ds_proto_finish_name(enum ds_proto_finish f)
{
	if ((unsigned)f >= sizeof finish_names / sizeof finish_names[0])
		return "?";
	return finish_names[f];
}

/* Reads an id value; -1 if it is neither a string nor an integer (or a string holding U+0000). */
static int id_from_json(json_t *v, struct ds_proto_id *id)
{
	if (json_is_integer(v)) {
		*id = ds_proto_id_int(json_integer_value(v));
		return 0;
	}
	if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v)) {
		*id = ds_proto_id_str(json_string_value(v));
		return 0;
	}
	return -1;
}

/* A copy of string value v for key `what`; NULL with err set if v is not a string or holds U+0000. */
static char *get_text(json_t *v, const char *what, char *err, size_t errlen)
{
	if (!json_is_string(v)) {
		errorf(err, errlen, "%s must be a string", what);
		return NULL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		errorf(err, errlen, "%s contains U+0000, which the engine does not accept", what);
		return NULL;
	}
	return xstrdup(json_string_value(v));
}

static bool key_allowed(const char *key, const char *const *keys)
{
	for (; *keys; keys++)
		if (strcmp(key, *keys) == 0)
			return true;
	return false;
}

static int parse_messages(json_t *v, struct ds_proto_request *r, char *err, size_t errlen)
{
	char what[64];

	if (!json_is_array(v))
		return errorf(err, errlen, "\"messages\" must be a list of {\"role\",\"content\"} objects");
	if (json_array_size(v) == 0)
		return errorf(err, errlen, "\"messages\" must hold at least one message");
	if (json_array_size(v) > INT_MAX / 2)
		return errorf(err, errlen, "\"messages\" holds too many messages");
	r->messages = xcalloc(json_array_size(v), sizeof *r->messages);
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *m = json_array_get(v, i), *val;
		struct ds_proto_message *pm = &r->messages[i];
		const char *key;

		r->n_messages = (int)i + 1;
		if (!json_is_object(m))
			return errorf(err, errlen,
				      "messages[%zu] must be an object with \"role\" and \"content\"", i);
		json_object_foreach(m, key, val)
			if (strcmp(key, "role") != 0 && strcmp(key, "content") != 0)
				return errorf(err, errlen, "unknown key \"%s\" in messages[%zu] "
					      "(only \"role\" and \"content\" are allowed)", key, i);
		if (!json_object_get(m, "role"))
			return errorf(err, errlen, "messages[%zu] lacks \"role\"", i);
		if (!json_object_get(m, "content"))
			return errorf(err, errlen, "messages[%zu] lacks \"content\"", i);
		snprintf(what, sizeof what, "messages[%zu].role", i);
		if (!(pm->role = get_text(json_object_get(m, "role"), what, err, errlen)))
			return -1;
		if (strcmp(pm->role, "system") != 0 && strcmp(pm->role, "user") != 0 &&
		    strcmp(pm->role, "assistant") != 0)
			return errorf(err, errlen, "messages[%zu].role is \"%s\"; it must be \"system\", "
				      "\"user\" or \"assistant\"", i, pm->role);
		snprintf(what, sizeof what, "messages[%zu].content", i);
		if (!(pm->content = get_text(json_object_get(m, "content"), what, err, errlen)))
			return -1;
	}
	return 0;
}

static int parse_fim(json_t *v, struct ds_proto_request *r, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v))
		return errorf(err, errlen, "\"fim\" must be an object {\"prefix\":TEXT,\"suffix\":TEXT}");
	json_object_foreach(v, key, val)
		if (strcmp(key, "prefix") != 0 && strcmp(key, "suffix") != 0)
			return errorf(err, errlen,
				"unknown key \"%s\" in \"fim\" (expected \"prefix\" and \"suffix\")", key);
	if (!json_object_get(v, "prefix") || !json_object_get(v, "suffix"))
		return errorf(err, errlen,
			      "\"fim\" needs both \"prefix\" and \"suffix\" (either may be \"\")");
	if (!(r->fim_prefix = get_text(json_object_get(v, "prefix"), "fim.prefix", err, errlen)))
		return -1;
	if (!(r->fim_suffix = get_text(json_object_get(v, "suffix"), "fim.suffix", err, errlen)))
		return -1;
	return 0;
}

/* The input of a generate or count request: exactly one of messages, prompt, fim. */
static int parse_input(json_t *o, struct ds_proto_request *r, char *err, size_t errlen)
{
	json_t *msgs = json_object_get(o, "messages");
	json_t *prompt = json_object_get(o, "prompt");
	json_t *fim = json_object_get(o, "fim");
	int n = (msgs != NULL) + (prompt != NULL) + (fim != NULL);

	if (n == 0)
		return errorf(err, errlen,
			"a %s request needs one of \"messages\", \"prompt\" or \"fim\"", op_names[r->op]);
	if (n > 1)
		return errorf(err, errlen,
			      "a %s request takes only one of \"messages\", \"prompt\" and \"fim\"",
			      op_names[r->op]);
	if (msgs) {
		r->input = DS_INPUT_CHAT;
		return parse_messages(msgs, r, err, errlen);
	}
	if (prompt) {
		r->input = DS_INPUT_COMPLETION;
		r->prompt = get_text(prompt, "\"prompt\"", err, errlen);
		return r->prompt ? 0 : -1;
	}
	r->input = DS_INPUT_FIM;
	return parse_fim(fim, r, err, errlen);
}

/* The sampling keys, each checked against its range in params_ranges (shared with dscoder-engine's
 * options and the profiles), and where its value goes. */
static const struct {
	enum params_field field;
	unsigned bit;
	size_t offset;              /* of the int, double or uint64_t in struct ds_proto_sampling */
} sampling_keys[] = {
	{ PARAMS_MAX_TOKENS, DS_SAMPLE_MAX_TOKENS, offsetof(struct ds_proto_sampling, max_tokens) },
	{ PARAMS_TEMPERATURE, DS_SAMPLE_TEMPERATURE, offsetof(struct ds_proto_sampling, temperature) },
	{ PARAMS_TOP_K, DS_SAMPLE_TOP_K, offsetof(struct ds_proto_sampling, top_k) },
	{ PARAMS_TOP_P, DS_SAMPLE_TOP_P, offsetof(struct ds_proto_sampling, top_p) },
	{ PARAMS_MIN_P, DS_SAMPLE_MIN_P, offsetof(struct ds_proto_sampling, min_p) },
	{ PARAMS_REPETITION_PENALTY, DS_SAMPLE_REPETITION_PENALTY,
	  offsetof(struct ds_proto_sampling, repetition_penalty) },
	{ PARAMS_SEED, DS_SAMPLE_SEED, offsetof(struct ds_proto_sampling, seed) },
};

/* One sampling key of o, when present: its type, its range, then its value into s. */
static int parse_sampling_key(json_t *o, size_t k, struct ds_proto_sampling *s, char *err, size_t errlen)
{
	const struct params_range *r = &params_ranges[sampling_keys[k].field];
	json_t *v = json_object_get(o, r->key);
	char name[40], words[96];
	void *dst = (char *)s + sampling_keys[k].offset;

	if (v == NULL)
		return 0;
	snprintf(name, sizeof name, "\"%s\"", r->key);
	params_range_words(sampling_keys[k].field, words, sizeof words);
	if (r->integer) {
		long long n;

		if (!json_is_integer(v))
			return errorf(err, errlen, "%s must be an integer %s", name, words);
		n = json_integer_value(v);
		if (params_check_int(sampling_keys[k].field, name, n, err, errlen) < 0)
			return -1;
		if (sampling_keys[k].field == PARAMS_SEED)
			*(uint64_t *)dst = (uint64_t)n;
		else
			*(int *)dst = (int)n;
	} else {
		double x;

		if (!json_is_number(v))
			return errorf(err, errlen, "%s must be a number %s", name, words);
		x = json_number_value(v);
		if (params_check(sampling_keys[k].field, name, x, err, errlen) < 0)
			return -1;
		*(double *)dst = x;
	}
	s->set |= sampling_keys[k].bit;
	return 0;
}

static int parse_sampling(json_t *o, struct ds_proto_sampling *s, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "stop");

	for (size_t k = 0; k < sizeof sampling_keys / sizeof sampling_keys[0]; k++)
		if (parse_sampling_key(o, k, s, err, errlen) < 0)
			return -1;
	if (v != NULL) {
		if (!json_is_array(v))
			return errorf(err, errlen, "\"stop\" must be a list of strings");
		if (params_check_stop("\"stop\"", NULL, (int)json_array_size(v), err, errlen) < 0)
			return -1;
		s->stop = xcalloc(json_array_size(v) + 1, sizeof *s->stop);
		s->set |= DS_SAMPLE_STOP;
		for (size_t i = 0; i < json_array_size(v); i++) {
			char what[32];

			snprintf(what, sizeof what, "stop[%zu]", i);
			if (!(s->stop[i] = get_text(json_array_get(v, i), what, err, errlen)))
				return -1;
			s->n_stop = (int)i + 1;
			if (params_check_stop(what, (const char *const *)&s->stop[i], 1, err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

static const char *const generate_keys[] = {
	"op", "id", "messages", "prompt", "fim", "max_tokens", "temperature", "top_k", "top_p",
	"min_p", "repetition_penalty", "seed", "stop", NULL
};
static const char *const count_keys[] = { "op", "id", "messages", "prompt", "fim", NULL };
static const char *const id_keys[] = { "op", "id", NULL };

static int parse_object(json_t *o, struct ds_proto_request *r, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "id"), *val;
	const char *const *keys;
	const char *op, *key;

	if (v && id_from_json(v, &r->id) < 0)
		return errorf(err, errlen, "\"id\" must be a string or an integer");
	v = json_object_get(o, "op");
	if (!v)
		return errorf(err, errlen, "the request has no \"op\" (generate, count, cancel or shutdown)");
	if (!json_is_string(v))
		return errorf(err, errlen, "\"op\" must be a string: generate, count, cancel or shutdown");
	op = json_string_value(v);
	if (strcmp(op, DS_OP_GENERATE_NAME) == 0)
		r->op = DS_OP_GENERATE, keys = generate_keys;
	else if (strcmp(op, DS_OP_COUNT_NAME) == 0)
		r->op = DS_OP_COUNT, keys = count_keys;
	else if (strcmp(op, DS_OP_CANCEL_NAME) == 0)
		r->op = DS_OP_CANCEL, keys = id_keys;
	else if (strcmp(op, DS_OP_SHUTDOWN_NAME) == 0)
		r->op = DS_OP_SHUTDOWN, keys = id_keys;
	else
		return errorf(err, errlen,
			      "unknown op \"%.64s\" (expected generate, count, cancel or shutdown)", op);
	json_object_foreach(o, key, val)
		if (!key_allowed(key, keys))
			return errorf(err, errlen,
				      "unknown key \"%.64s\" in a %s request", key, op_names[r->op]);
	if (r->op != DS_OP_SHUTDOWN && r->id.kind == DS_ID_NONE)
		return errorf(err, errlen,
			      "a %s request needs an \"id\" (a string or an integer)", op_names[r->op]);
	if (r->op == DS_OP_GENERATE || r->op == DS_OP_COUNT)
		if (parse_input(o, r, err, errlen) < 0)
			return -1;
	if (r->op == DS_OP_GENERATE)
		return parse_sampling(o, &r->sampling, err, errlen);
	return 0;
}

/* The id of a line that is not valid UTF-8, read from a copy with the bad bytes replaced, so the
 * error can still name the request. */
static void salvage_id(const char *line, size_t len, struct ds_proto_id *id)
{
	const unsigned char *u = (const unsigned char *)line;
	char *copy = xmalloc(len + 1);
	json_t *o, *v;

	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq(u + i, len - i);

		if (k == 0) {
			copy[i++] = '?';
		} else {
			memcpy(copy + i, line + i, k);
			i += k;
		}
	}
	o = json_loadb(copy, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(o) && (v = json_object_get(o, "id")))
		id_from_json(v, id);
	json_decref(o);
	free(copy);
}

int ds_proto_parse_request(const char *line, size_t len, struct ds_proto_request *r,
			   char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;
	size_t bad;
	int rc;

	memset(r, 0, sizeof *r);
	if (!ds_proto_utf8_valid(line, len, &bad)) {
		salvage_id(line, len, &r->id);
		return errorf(err, errlen,
			      "the request is not valid UTF-8 (byte %zu of the line, 0x%02x): send UTF-8",
			      bad, (unsigned char)line[bad]);
	}
	/* JSON_ALLOW_NUL so that "\u0000" in a string gets our own message from get_text. */
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!o)
		return errorf(err, errlen,
			      "malformed JSON at byte %d of the line: %s", jerr.position, jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return errorf(err, errlen,
			      "a request must be a JSON object such as {\"op\":\"generate\",...}");
	}
	rc = parse_object(o, r, err, errlen);
	json_decref(o);
	if (rc < 0) {
		struct ds_proto_id id = r->id;

		r->id.kind = DS_ID_NONE;
		ds_proto_request_free(r);
		r->id = id;
	}
	return rc;
}

void ds_proto_request_free(struct ds_proto_request *r)
{
	for (int i = 0; i < r->n_messages; i++) {
		free(r->messages[i].role);
		free(r->messages[i].content);
	}
	free(r->messages);
	free(r->prompt);
	free(r->fim_prefix);
	free(r->fim_suffix);
	for (int i = 0; i < r->sampling.n_stop; i++)
		free(r->sampling.stop[i]);
	free(r->sampling.stop);
	ds_proto_id_free(&r->id);
	memset(r, 0, sizeof *r);
}

/* Sets key to v in o, taking v's reference; out of memory aborts. */
static void put(json_t *o, const char *key, json_t *v)
{
	if (!v || json_object_set_new(o, key, v) < 0)
		fatal("out of memory encoding a protocol message");
}

/* One line from o (consumed): compact JSON plus "\n". */
static char *finish_line(json_t *o, size_t *len)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	size_t n;
	char *line;

	json_decref(o);
	if (!s)
		fatal("out of memory encoding a protocol message");
	n = strlen(s);
	line = xmalloc(n + 2);
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	free(s);
	if (len)
		*len = n + 1;
	return line;
}

static json_t *messages_to_json(const struct ds_proto_message *m, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++) {
		json_t *o = json_object();

		if (!m[i].role || !m[i].content)
			fatal("protocol: message %d lacks a role or content", i);
		put(o, "role", json_string(m[i].role));
		put(o, "content", json_string(m[i].content));
		if (json_array_append_new(a, o) < 0)
			fatal("out of memory encoding a protocol message");
	}
	return a;
}

char *ds_proto_encode_request(const struct ds_proto_request *r, size_t *len)
{
	const struct ds_proto_sampling *s = &r->sampling;
	json_t *o = json_object();

	if ((unsigned)r->op > DS_OP_SHUTDOWN)
		fatal("protocol: encoding a request with op %d", (int)r->op);
	put(o, "op", json_string(op_names[r->op]));
	if (r->id.kind != DS_ID_NONE)
		put(o, "id", id_to_json(&r->id));
	else if (r->op != DS_OP_SHUTDOWN)
		fatal("protocol: a %s request needs an id", op_names[r->op]);
	if (r->op == DS_OP_GENERATE || r->op == DS_OP_COUNT) {
		switch (r->input) {
		case DS_INPUT_CHAT:
			if (r->n_messages < 1)
				fatal("protocol: a chat request needs at least one message");
			put(o, "messages", messages_to_json(r->messages, r->n_messages));
			break;
		case DS_INPUT_COMPLETION:
			if (!r->prompt)
				fatal("protocol: a completion request needs a prompt");
			put(o, "prompt", json_string(r->prompt));
			break;
		case DS_INPUT_FIM: {
			json_t *f = json_object();

			if (!r->fim_prefix || !r->fim_suffix)
				fatal("protocol: a fim request needs a prefix and a suffix");
			put(f, "prefix", json_string(r->fim_prefix));
			put(f, "suffix", json_string(r->fim_suffix));
			put(o, "fim", f);
			break;
		}
		}
	}
	if (r->op == DS_OP_GENERATE) {
		if (s->set & DS_SAMPLE_MAX_TOKENS)
			put(o, "max_tokens", json_integer(s->max_tokens));
		if (s->set & DS_SAMPLE_TEMPERATURE)
			put(o, "temperature", json_real(s->temperature));
		if (s->set & DS_SAMPLE_TOP_K)
			put(o, "top_k", json_integer(s->top_k));
		if (s->set & DS_SAMPLE_TOP_P)
			put(o, "top_p", json_real(s->top_p));
		if (s->set & DS_SAMPLE_MIN_P)
			put(o, "min_p", json_real(s->min_p));
		if (s->set & DS_SAMPLE_REPETITION_PENALTY)
			put(o, "repetition_penalty", json_real(s->repetition_penalty));
		if (s->set & DS_SAMPLE_SEED)
			put(o, "seed", json_integer((json_int_t)(s->seed & (uint64_t)LLONG_MAX)));
		if (s->set & DS_SAMPLE_STOP) {
			json_t *a = json_array();

			for (int i = 0; i < s->n_stop; i++)
				if (json_array_append_new(a, json_string(s->stop[i])) < 0)
					fatal("out of memory encoding a protocol message");
			put(o, "stop", a);
		}
	}
	return finish_line(o, len);
}

/* ---- events ------------------------------------------------------------------------------------- */

static const char *const event_names[] = {
	[DS_EV_LOADING] = DS_EV_LOADING_NAME,
	[DS_EV_READY] = DS_EV_READY_NAME,
	[DS_EV_TOKEN] = DS_EV_TOKEN_NAME,
	[DS_EV_DONE] = DS_EV_DONE_NAME,
	[DS_EV_COUNT] = DS_EV_COUNT_NAME,
	[DS_EV_ERROR] = DS_EV_ERROR_NAME,
};

static json_t *str_or_empty(const char *s)
{
	return json_string(s ? s : "");
}

char *ds_proto_encode_event(const struct ds_proto_event *ev, size_t *len)
{
	json_t *o = json_object();

	if ((unsigned)ev->type > DS_EV_ERROR)
		fatal("protocol: encoding an event of type %d", (int)ev->type);
	put(o, "event", json_string(event_names[ev->type]));
	if (ev->id.kind != DS_ID_NONE)
		put(o, "id", id_to_json(&ev->id));
	switch (ev->type) {
	case DS_EV_LOADING:
		put(o, "done", json_integer((json_int_t)ev->done));
		put(o, "total", json_integer((json_int_t)ev->total));
		break;
	case DS_EV_READY: {
		json_t *m = json_object();

		put(o, "protocol", json_integer(ev->protocol));
		put(m, "name", str_or_empty(ev->model.name));
		put(m, "path", str_or_empty(ev->model.path));
		put(m, "n_ctx", json_integer(ev->model.n_ctx));
		put(m, "vocab_size", json_integer(ev->model.vocab_size));
		put(m, "parameters", json_integer((json_int_t)ev->model.parameters));
		put(m, "backend", str_or_empty(ev->model.backend));
		put(m, "threads", json_integer(ev->model.threads));
		put(o, "model", m);
		break;
	}
	case DS_EV_TOKEN:
		/* json_stringn: the text is valid UTF-8 but may hold NUL bytes (sent as \u0000). */
		put(o, "text", json_stringn(ev->text ? ev->text : "", ev->text ? ev->text_len : 0));
		break;
	case DS_EV_DONE:
		put(o, "finish", json_string(ds_proto_finish_name(ev->finish)));
		put(o, "prompt_tokens", json_integer(ev->prompt_tokens));
		put(o, "completion_tokens", json_integer(ev->completion_tokens));
		put(o, "cached_tokens", json_integer(ev->cached_tokens));
		put(o, "ttft_ms", json_real(ev->ttft_ms));
		put(o, "prefill_tps", json_real(ev->prefill_tps));
		put(o, "decode_tps", json_real(ev->decode_tps));
		if (ev->finish == DS_PROTO_FINISH_CONTEXT)
			put(o, "over_by", json_integer(ev->over_by));
		if (ev->message)
			put(o, "message", json_string(ev->message));
		break;
	case DS_EV_COUNT:
		put(o, "tokens", json_integer(ev->tokens));
		put(o, "n_ctx", json_integer(ev->n_ctx));
		if (ev->estimate)
			put(o, "estimate", json_true());
		break;
	case DS_EV_ERROR:
		put(o, "message", str_or_empty(ev->message));
		break;
	}
	return finish_line(o, len);
}

/* Required-key readers for parse_event; each returns -1 with err set when the key is absent or
 * of the wrong type. */
static int ev_int(json_t *o, const char *key, long long *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return errorf(err, errlen, "event lacks the integer \"%s\"", key);
	*out = json_integer_value(v);
	return 0;
}

static int ev_i32(json_t *o, const char *key, int *out, char *err, size_t errlen)
{
	long long n = 0;

	if (ev_int(o, key, &n, err, errlen) < 0)
		return -1;
	if (n < INT_MIN || n > INT_MAX)
		return errorf(err, errlen, "event key \"%s\" is out of range", key);
	*out = (int)n;
	return 0;
}

static int ev_num(json_t *o, const char *key, double *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return errorf(err, errlen, "event lacks the number \"%s\"", key);
	*out = json_number_value(v);
	return 0;
}

static int ev_str(json_t *o, const char *key, char **out, size_t *len, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return errorf(err, errlen, "event lacks the string \"%s\"", key);
	*out = xmalloc(json_string_length(v) + 1);
	memcpy(*out, json_string_value(v), json_string_length(v) + 1);
	if (len)
		*len = json_string_length(v);
	return 0;
}

static int parse_event_object(json_t *o, struct ds_proto_event *ev, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "event");
	const char *name;
	long long n = 0;
	int t;

	if (!json_is_string(v))
		return errorf(err, errlen, "the line has no \"event\" string");
	name = json_string_value(v);
	for (t = 0; t <= DS_EV_ERROR; t++)
		if (strcmp(name, event_names[t]) == 0)
			break;
	if (t > DS_EV_ERROR)
		return errorf(err, errlen, "unknown event \"%.64s\"", name);
	ev->type = (enum ds_proto_event_type)t;
	if ((v = json_object_get(o, "id")) && id_from_json(v, &ev->id) < 0)
		return errorf(err, errlen, "event \"id\" is neither a string nor an integer");
	if (ev->id.kind == DS_ID_NONE && (t == DS_EV_TOKEN || t == DS_EV_DONE || t == DS_EV_COUNT))
		return errorf(err, errlen, "%s event lacks its \"id\"", name);
	switch (ev->type) {
	case DS_EV_LOADING:
		if (ev_int(o, "done", &n, err, errlen) < 0)
			return -1;
		ev->done = (uint64_t)n;
		if (ev_int(o, "total", &n, err, errlen) < 0)
			return -1;
		ev->total = (uint64_t)n;
		return 0;
	case DS_EV_READY: {
		json_t *m = json_object_get(o, "model");

		if (ev_i32(o, "protocol", &ev->protocol, err, errlen) < 0)
			return -1;
		if (!json_is_object(m))
			return errorf(err, errlen, "ready event lacks the \"model\" object");
		if (ev_str(m, "name", &ev->model.name, NULL, err, errlen) < 0 ||
		    ev_i32(m, "n_ctx", &ev->model.n_ctx, err, errlen) < 0 ||
		    ev_i32(m, "vocab_size", &ev->model.vocab_size, err, errlen) < 0 ||
		    ev_int(m, "parameters", &n, err, errlen) < 0)
			return -1;
		ev->model.parameters = (uint64_t)n;
		if (ev_str(m, "backend", &ev->model.backend, NULL, err, errlen) < 0 ||
		    ev_i32(m, "threads", &ev->model.threads, err, errlen) < 0)
			return -1;
		if (json_is_string(json_object_get(m, "path")))
			ev_str(m, "path", &ev->model.path, NULL, err, errlen);
		return 0;
	}
	case DS_EV_TOKEN:
		return ev_str(o, "text", &ev->text, &ev->text_len, err, errlen);
	case DS_EV_DONE: {
		const char *f;

		v = json_object_get(o, "finish");
		if (!json_is_string(v))
			return errorf(err, errlen, "done event lacks the string \"finish\"");
		f = json_string_value(v);
		for (t = 0; t <= DS_PROTO_FINISH_CONTEXT; t++)
			if (strcmp(f, finish_names[t]) == 0)
				break;
		if (t > DS_PROTO_FINISH_CONTEXT)
			return errorf(err, errlen, "done event has an unknown finish \"%.32s\"", f);
		ev->finish = (enum ds_proto_finish)t;
		if (ev_i32(o, "prompt_tokens", &ev->prompt_tokens, err, errlen) < 0 ||
		    ev_i32(o, "completion_tokens", &ev->completion_tokens, err, errlen) < 0 ||
		    ev_i32(o, "cached_tokens", &ev->cached_tokens, err, errlen) < 0 ||
		    ev_num(o, "ttft_ms", &ev->ttft_ms, err, errlen) < 0 ||
		    ev_num(o, "prefill_tps", &ev->prefill_tps, err, errlen) < 0 ||
		    ev_num(o, "decode_tps", &ev->decode_tps, err, errlen) < 0)
			return -1;
		if (json_object_get(o, "over_by") && ev_i32(o, "over_by", &ev->over_by, err, errlen) < 0)
			return -1;
		if (json_object_get(o, "message") &&
		    ev_str(o, "message", &ev->message, NULL, err, errlen) < 0)
			return -1;
		return 0;
	}
	case DS_EV_COUNT:
		if (ev_i32(o, "tokens", &ev->tokens, err, errlen) < 0 ||
		    ev_i32(o, "n_ctx", &ev->n_ctx, err, errlen) < 0)
			return -1;
		ev->estimate = json_is_true(json_object_get(o, "estimate"));
		return 0;
	case DS_EV_ERROR:
		return ev_str(o, "message", &ev->message, NULL, err, errlen);
	}
	return 0;
}

int ds_proto_parse_event(const char *line, size_t len, struct ds_proto_event *ev,
			 char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;
	int rc;

	memset(ev, 0, sizeof *ev);
	o = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
	if (!o)
		return errorf(err, errlen,
			      "malformed JSON from the engine at byte %d: %s", jerr.position, jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return errorf(err, errlen, "an event must be a JSON object");
	}
	rc = parse_event_object(o, ev, err, errlen);
	json_decref(o);
	if (rc < 0)
		ds_proto_event_free(ev);
	return rc;
}

void ds_proto_event_free(struct ds_proto_event *ev)
{
	ds_proto_id_free(&ev->id);
	free(ev->model.name);
	free(ev->model.path);
	free(ev->model.backend);
	free(ev->text);
	free(ev->message);
	memset(ev, 0, sizeof *ev);
}

/* ---- line splitting ----------------------------------------------------------------------------- */

void ds_proto_lines_init(struct ds_proto_lines *l, size_t max)
{
	memset(l, 0, sizeof *l);
	l->max = max;
	l->cap = 4096;
	l->buf = xmalloc(l->cap);
}

void ds_proto_lines_free(struct ds_proto_lines *l)
{
	free(l->buf);
	free(l->drops);
	memset(l, 0, sizeof *l);
}

static void lines_reserve(struct ds_proto_lines *l, size_t extra)
{
	size_t need = l->len + extra + 1;       /* + 1: room to NUL-terminate the last line */

	if (need <= l->cap)
		return;
	while (l->cap < need)
		l->cap *= 2;
	l->buf = xrealloc(l->buf, l->cap);
}

void ds_proto_lines_feed(struct ds_proto_lines *l, const char *data, size_t n)
{
	size_t i = 0;

	/* Drop what was handed out; lines returned earlier become invalid here, as documented. */
	if (l->pos > 0) {
		memmove(l->buf, l->buf + l->pos, l->len - l->pos);
		l->len -= l->pos;
		l->tail -= l->pos;
		for (size_t k = 0; k < l->n_drops; k++)
			l->drops[k] -= l->pos;
		l->pos = 0;
	}
	while (i < n) {
		const char *nl = memchr(data + i, '\n', n - i);
		size_t take = nl ? (size_t)(nl - (data + i)) + 1 : n - i;

		if (l->skipping) {
			if (!nl)
				return;
			l->skipping = false;
			i += take;
			continue;
		}
		if ((l->len - l->tail) + take - (nl ? 1 : 0) > l->max) {
			/* Too long: forget its beginning, remember where it was, skip to its end. */
			l->len = l->tail;
			if (l->n_drops == l->cap_drops) {
				l->cap_drops = l->cap_drops ? 2 * l->cap_drops : 4;
				l->drops = xreallocarray(l->drops, l->cap_drops, sizeof *l->drops);
			}
			l->drops[l->n_drops++] = l->tail;
			i += take;
			if (!nl)
				l->skipping = true;
			continue;
		}
		lines_reserve(l, take);
		memcpy(l->buf + l->len, data + i, take);
		l->len += take;
		i += take;
		if (nl)
			l->tail = l->len;
	}
}

int ds_proto_lines_next(struct ds_proto_lines *l, char **line, size_t *len)
{
	char *start, *nl;
	size_t n;

	if (l->n_drops > 0 && l->drops[0] == l->pos) {
		memmove(l->drops, l->drops + 1, (l->n_drops - 1) * sizeof *l->drops);
		l->n_drops--;
		return -1;
	}
	start = l->buf + l->pos;
	nl = memchr(start, '\n', l->tail - l->pos);
	if (!nl)
		return 0;
	n = (size_t)(nl - start);
	*nl = '\0';
	l->pos += n + 1;
	if (n > 0 && start[n - 1] == '\r')
		start[--n] = '\0';
	*line = start;
	*len = n;
	return 1;
}

int ds_proto_lines_finish(struct ds_proto_lines *l, char **line, size_t *len)
{
	size_t n;

	if (l->tail != l->pos || l->len == l->tail || l->n_drops > 0)
		return 0;               /* complete lines or drops still to be read, or nothing left */
	n = l->len - l->tail;
	l->buf[l->len] = '\0';      /* lines_reserve kept room for it */
	*line = l->buf + l->tail;
	l->pos = l->tail = l->len;
	if (n > 0 && (*line)[n - 1] == '\r')
		(*line)[--n] = '\0';
	*len = n;
	return 1;
}

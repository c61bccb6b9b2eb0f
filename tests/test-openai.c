/* test-openai.c: the OpenAI-compatible API's JSON (engine/openai-*.c): request bodies into scheduler
 * requests with the pipe protocol's ranges, every bad body a 400 with a sentence and the field, the
 * answer and chunk shapes OpenAI's clients read, and a fuzz of the body parser (mutated and random
 * bodies: never a crash, always a request or a 400). */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai-api.h"

static int failures;

#define CHECK(cond, ...)                                                                       \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			failures++;                                                            \
			fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                        \
			fprintf(stderr, __VA_ARGS__);                                          \
			fputc('\n', stderr);                                                   \
		}                                                                              \
	} while (0)

static struct ds_sampling defaults(void)
{
	struct ds_sampling d;

	ds_sampling_defaults(&d);
	d.seed = 7;
	return d;
}

static int parse(struct oai_request *r, enum oai_kind k, const char *body, struct oai_error *e)
{
	struct ds_sampling d = defaults();

	return oai_request_parse(r, k, body, strlen(body), &d, true, e);
}

static void test_chat(void)
{
	struct oai_request r;
	struct oai_error e;
	const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be terse.\"},"
			   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"quick \"},"
			   "{\"type\":\"text\",\"text\":\"sort\"}]},{\"role\":\"assistant\",\"content\":null},"
			   "{\"role\":\"developer\",\"content\":\"x\"}],"
			   "\"max_tokens\":12,\"temperature\":0.5,\"top_p\":0.9,\"seed\":42,\"stop\":[\"\\n\\n\",\"```\"],"
			   "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"ignored\"}";

	CHECK(parse(&r, OAI_CHAT, body, &e) == 0, "chat body refused: %s", e.message);
	CHECK(r.req.input == DS_SCHED_CHAT && r.req.n_messages == 4, "chat: %d messages", r.req.n_messages);
	CHECK(strcmp(r.req.messages[0].role, "system") == 0 && strcmp(r.req.messages[1].content, "quick sort") == 0,
	      "chat: content parts not joined: '%s'", r.req.messages[1].content);
	CHECK(strcmp(r.req.messages[2].content, "") == 0 && strcmp(r.req.messages[3].role, "system") == 0,
	      "chat: null content or developer role");
	CHECK(r.req.sampling.max_tokens == 12 && r.req.sampling.temperature == 0.5f && r.req.sampling.top_p == 0.9f &&
	      r.req.sampling.seed == 42, "chat: sampling fields");
	CHECK(r.req.sampling.n_stop == 2 && strcmp(r.req.sampling.stop[1], "```") == 0, "chat: stop list");
	CHECK(r.req.sampling.trim_leading_space, "chat: the template's space is not trimmed");
	CHECK(r.stream && r.include_usage && strcmp(r.model, "m") == 0, "chat: stream, usage, model");
	oai_request_free(&r);
}

static void test_completions(void)
{
	struct oai_request r;
	struct oai_error e;

	CHECK(parse(&r, OAI_COMPLETIONS, "{\"prompt\":\"def f(\",\"stop\":\"\\n\"}", &e) == 0, "%s", e.message);
	CHECK(r.req.input == DS_SCHED_COMPLETION && strcmp(r.req.prompt, "def f(") == 0, "completion prompt");
	CHECK(r.req.sampling.max_tokens == OAI_COMPLETIONS_MAX_TOKENS, "completion default max_tokens %d",
	      r.req.sampling.max_tokens);
	CHECK(r.req.sampling.n_stop == 1 && strcmp(r.req.sampling.stop[0], "\n") == 0, "stop as a string");
	CHECK(r.req.sampling.seed == 7 && !r.req.sampling.trim_leading_space, "the fixed seed, no trim");
	oai_request_free(&r);

	CHECK(parse(&r, OAI_COMPLETIONS, "{\"prompt\":[\"a\"],\"suffix\":\"b\",\"max_tokens\":0}", &e) == 0, "%s",
	      e.message);
	CHECK(r.req.input == DS_SCHED_FIM && strcmp(r.req.fim_prefix, "a") == 0 && strcmp(r.req.fim_suffix, "b") == 0,
	      "suffix makes fill-in-the-middle");
	CHECK(r.req.sampling.max_tokens == 0, "max_tokens 0 (no limit) kept");
	oai_request_free(&r);

	/* batch lines say their kind by their fields and may carry an id */
	CHECK(parse(&r, OAI_BATCH_LINE, "{\"id\":\"x1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &e) == 0,
	      "%s", e.message);
	CHECK(r.kind == OAI_CHAT && strcmp(r.custom_id, "x1") == 0, "batch chat line");
	oai_request_free(&r);
	CHECK(parse(&r, OAI_BATCH_LINE, "{\"prompt\":\"p\",\"suffix\":\"s\"}", &e) == 0 && r.req.input == DS_SCHED_FIM,
	      "batch fim line");
	oai_request_free(&r);
}

/* Bodies that must be refused with 400 and the field named (param may be NULL: no field). */
static void test_refusals(void)
{
	static const struct {
		enum oai_kind k;
		const char *body, *param, *words;
	} cases[] = {
		{ OAI_CHAT, "", NULL, "not valid JSON" },
		{ OAI_CHAT, "{", NULL, "not valid JSON" },
		{ OAI_CHAT, "[]", NULL, "must be an object" },
		{ OAI_CHAT, "{\"a\":1,\"a\":2}", NULL, "not valid JSON" },
		{ OAI_CHAT, "{}", "messages", "non-empty list" },
		{ OAI_CHAT, "{\"messages\":[]}", "messages", "non-empty list" },
		{ OAI_CHAT, "{\"messages\":[{\"content\":\"x\"}]}", "messages", "role" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages", "system, user or assistant" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages", "string or a list" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "messages", "text only" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", NULL, "not valid JSON" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":101}", "temperature", "from 0 to 100" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", "temperature", "a number" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0}", "top_p", "above 0" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-1}", "max_tokens", "from 0" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", "max_tokens", "from 0" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":-3}", "seed", "from 0" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"repetition_penalty\":0}", "repetition_penalty", "0.01" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":\"\"}", "stop", "empty" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", "stop", "must be a string" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}", "stop", "at most 16" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n", "must be 1" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", "stream", "true or false" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":3}", "stream_options", "include_usage" },
		{ OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":7}", "model", "a string" },
		{ OAI_COMPLETIONS, "{}", "prompt", "missing" },
		{ OAI_COMPLETIONS, "{\"prompt\":[\"a\",\"b\"]}", "prompt", "exactly one string" },
		{ OAI_COMPLETIONS, "{\"prompt\":[1,2,3]}", "prompt", "exactly one string" },
		{ OAI_COMPLETIONS, "{\"prompt\":\"a\",\"suffix\":false}", "suffix", "a string" },
		{ OAI_COMPLETIONS, "{\"prompt\":\"a\",\"echo\":true}", "echo", "not supported" },
		{ OAI_BATCH_LINE, "{\"text\":\"a\"}", NULL, "neither" },
		{ OAI_BATCH_LINE, "{\"prompt\":\"a\",\"stream\":true}", "stream", "no meaning" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct oai_request r;
		struct oai_error e;

		if (parse(&r, cases[i].k, cases[i].body, &e) == 0) {
			CHECK(0, "case %zu taken: %s", i, cases[i].body);
			oai_request_free(&r);
			continue;
		}
		CHECK(e.status == 400 && strcmp(e.type, "invalid_request_error") == 0, "case %zu: status %d", i, e.status);
		CHECK(strcmp(e.param, cases[i].param != NULL ? cases[i].param : "") == 0, "case %zu: param '%s'", i, e.param);
		CHECK(strstr(e.message, cases[i].words) != NULL, "case %zu: '%s' lacks '%s'", i, e.message, cases[i].words);
	}
}

/* The shapes OpenAI's clients read. */
static void test_encoders(void)
{
	struct ds_gen_stats st = { .finish = DS_FINISH_CONTEXT, .prompt_tokens = 5, .completion_tokens = 3 };
	struct oai_error e;
	json_t *v;
	size_t len;
	char *s;

	s = oai_answer_json(OAI_CHAT, "chatcmpl-1", 100, "demo", "hi \"x\"\n", 7, &st, &len);
	v = json_loads(s, 0, NULL);
	CHECK(v != NULL && len == strlen(s), "chat answer is not JSON: %s", s);
	CHECK(strcmp(json_string_value(json_object_get(v, "object")), "chat.completion") == 0, "object: %s", s);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(v, "choices"), 0),
		"message"), "content")), "hi \"x\"\n") == 0, "content: %s", s);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(v, "choices"), 0), "finish_reason")),
		     "length") == 0, "a full context is finish_reason length: %s", s);
	CHECK(json_integer_value(json_object_get(json_object_get(v, "usage"), "total_tokens")) == 8, "usage: %s", s);
	json_decref(v);
	free(s);

	st.finish = DS_FINISH_STOP;
	s = oai_chunk_sse(OAI_CHAT, "chatcmpl-1", 100, "demo", true, "", 0, NULL, false, &len);
	CHECK(strncmp(s, "data: {", 7) == 0 && strcmp(s + len - 2, "\n\n") == 0, "chunk framing: %s", s);
	v = json_loadb(s + 6, len - 8, 0, NULL);
	CHECK(v != NULL && strcmp(json_string_value(json_object_get(v, "object")), "chat.completion.chunk") == 0,
	      "chunk object: %s", s);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(v, "choices"), 0),
		"delta"), "role")), "assistant") == 0, "first chunk names the role: %s", s);
	json_decref(v);
	free(s);
	s = oai_chunk_sse(OAI_COMPLETIONS, "cmpl-1", 100, "demo", false, NULL, 0, &st, false, &len);
	v = json_loadb(s + 6, len - 8, 0, NULL);
	CHECK(v != NULL && strcmp(json_string_value(json_object_get(json_array_get(json_object_get(v, "choices"), 0),
		"finish_reason")), "stop") == 0, "completion's last chunk: %s", s);
	json_decref(v);
	free(s);
	s = oai_chunk_sse(OAI_CHAT, "chatcmpl-1", 100, "demo", false, NULL, 0, &st, true, &len);
	v = json_loadb(s + 6, len - 8, 0, NULL);
	CHECK(v != NULL && json_array_size(json_object_get(v, "choices")) == 0 &&
	      json_integer_value(json_object_get(json_object_get(v, "usage"), "prompt_tokens")) == 5, "usage chunk: %s", s);
	json_decref(v);
	free(s);

	/* invalid UTF-8 from the engine still makes valid JSON */
	s = oai_answer_json(OAI_COMPLETIONS, "cmpl-1", 100, "demo", "a\xff\xfe" "b", 4, &st, &len);
	CHECK(s != NULL && (v = json_loads(s, 0, NULL)) != NULL, "invalid UTF-8 broke the answer: %s", s);
	json_decref(v);
	free(s);

	oai_fail(&e, 401, "invalid_request_error", "invalid_api_key", NULL, "no key");
	s = oai_error_json(&e, &len);
	CHECK(strcmp(s, "{\"error\":{\"message\":\"no key\",\"type\":\"invalid_request_error\",\"param\":null,"
			"\"code\":\"invalid_api_key\"}}") == 0, "error shape: %s", s);
	free(s);
	s = oai_batch_line_json(3, "x", NULL, 0, NULL, &e, &len);
	CHECK(strstr(s, "\"index\":3") != NULL && strstr(s, "\"id\":\"x\"") != NULL && strstr(s, "\"error\"") != NULL,
	      "batch error line: %s", s);
	free(s);
	s = oai_models_json("demo", 1, 4096, &len);
	CHECK(strstr(s, "\"id\":\"demo\"") != NULL && strstr(s, "\"object\":\"list\"") != NULL &&
	      strstr(s, "\"max_model_len\":4096") != NULL, "models: %s", s);
	free(s);
}

static unsigned long long rng = 88172645463325252ULL;

static unsigned next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11);
}

/* Every body, however broken, is parsed or refused with a 400 and a message; a parsed one is sane. */
static void fuzz_one(enum oai_kind k, const char *body, size_t len)
{
	struct ds_sampling d = defaults();
	struct oai_request r;
	struct oai_error e;

	memset(&e, 0, sizeof e);
	if (oai_request_parse(&r, k, body, len, &d, false, &e) == 0) {
		CHECK(r.req.sampling.n_stop <= PARAMS_MAX_STOP && r.req.sampling.top_p > 0 && r.req.sampling.top_p <= 1,
		      "fuzz: a parsed body with bad fields");
		CHECK(r.req.input != DS_SCHED_CHAT || r.req.n_messages > 0, "fuzz: a chat with no messages");
		oai_request_free(&r);
	} else {
		CHECK(e.status == 400 && e.message[0] != '\0', "fuzz: refusal without status or message");
	}
}

static void test_fuzz(void)
{
	static const char *seeds[] = {
		"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4,\"stop\":[\"a\"],\"stream\":true}",
		"{\"prompt\":\"def f(\",\"suffix\":\"\\n\",\"temperature\":0.2,\"top_p\":0.5,\"seed\":1}",
		"{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}],\"n\":1}",
	};
	static const char alphabet[] = "{}[]\":,0123456789.-eE \\ntrufalsn\x01\xff\xc3\xa9";
	char buf[512];

	for (int iter = 0; iter < 20000; iter++) {
		const char *seed = seeds[iter % 3];
		size_t len = strlen(seed);
		int edits = 1 + (int)(next_rand() % 4);

		memcpy(buf, seed, len);
		for (int i = 0; i < edits; i++) {
			size_t at = next_rand() % (len + 1);
			unsigned op = next_rand() % 3;
			char c = alphabet[next_rand() % (sizeof alphabet - 1)];

			if (op == 0 && at < len) {
				buf[at] = c;                                   /* replace */
			} else if (op == 1 && len + 1 < sizeof buf) {
				memmove(buf + at + 1, buf + at, len - at);     /* insert */
				buf[at] = c;
				len++;
			} else if (at < len) {
				memmove(buf + at, buf + at + 1, len - at - 1); /* delete */
				len--;
			}
		}
		fuzz_one((enum oai_kind)(iter % 3), buf, len);
	}
	for (int iter = 0; iter < 2000; iter++) {
		size_t len = next_rand() % sizeof buf;

		for (size_t i = 0; i < len; i++)
			buf[i] = (char)(next_rand() & 0xff);
		fuzz_one(OAI_CHAT, buf, len);
	}
}

int main(void)
{
	test_chat();
	test_completions();
	test_refusals();
	test_encoders();
	test_fuzz();
	if (failures > 0) {
		fprintf(stderr, "test-openai: %d failures\n", failures);
		return 1;
	}
	printf("test-openai: ok\n");
	return 0;
}

/* test-protocol.c: the protocol's encoders and parsers round-trip, every kind of bad request gets a
 * clear error (with its id when the line had one), and the line splitter caps long lines in order. */
#include "protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A line from the encoders: exactly one "\n", at the end. */
static void check_one_line(const char *line, size_t len)
{
	CHECK(len == strlen(line), "encoded line has an embedded NUL");
	CHECK(len > 0 && line[len - 1] == '\n', "encoded line does not end in a newline: %s", line);
	CHECK(memchr(line, '\n', len - 1) == NULL, "encoded line has a raw newline inside: %s", line);
}

static void test_request_roundtrip(void)
{
	struct ds_proto_message msgs[] = {
		{ "system", "You are terse." },
		{ "user", "quick sort?\n\"quoted\" \\ tab\t 中文 😀" },
		{ "assistant", "" },
	};
	char *stops[] = { "\n\n", "```" };
	struct ds_proto_request r = { .op = DS_OP_GENERATE, .input = DS_INPUT_CHAT,
				      .messages = msgs, .n_messages = 3 }, p;
	char err[256];
	size_t len;
	char *line;

	r.id = ds_proto_id_int(7);
	r.sampling = (struct ds_proto_sampling){
		.set = DS_SAMPLE_MAX_TOKENS | DS_SAMPLE_TEMPERATURE | DS_SAMPLE_TOP_K | DS_SAMPLE_TOP_P |
		       DS_SAMPLE_MIN_P | DS_SAMPLE_REPETITION_PENALTY | DS_SAMPLE_SEED | DS_SAMPLE_STOP,
		.max_tokens = 64, .temperature = 0.7, .top_k = 40, .top_p = 0.95, .min_p = 0.05,
		.repetition_penalty = 1.1, .seed = 1234567890123ULL, .stop = stops, .n_stop = 2,
	};
	line = ds_proto_encode_request(&r, &len);
	check_one_line(line, len);
	CHECK(ds_proto_parse_request(line, len - 1, &p, err, sizeof err) == 0, "round trip: %s", err);
	CHECK(p.op == DS_OP_GENERATE && p.input == DS_INPUT_CHAT && p.n_messages == 3, "chat request fields");
	CHECK(p.id.kind == DS_ID_INT && p.id.num == 7, "id");
	for (int i = 0; i < p.n_messages && i < 3; i++)
		CHECK(strcmp(p.messages[i].role, msgs[i].role) == 0 &&
		      strcmp(p.messages[i].content, msgs[i].content) == 0, "message %d differs", i);
	CHECK(p.sampling.set == r.sampling.set, "sampling set %#x, expected %#x", p.sampling.set, r.sampling.set);
	CHECK(p.sampling.max_tokens == 64 && p.sampling.top_k == 40 && p.sampling.seed == 1234567890123ULL,
	      "integer sampling keys");
	CHECK(p.sampling.temperature == 0.7 && p.sampling.top_p == 0.95 && p.sampling.min_p == 0.05 &&
	      p.sampling.repetition_penalty == 1.1, "real sampling keys: %g %g %g %g", p.sampling.temperature,
	      p.sampling.top_p, p.sampling.min_p, p.sampling.repetition_penalty);
	CHECK(p.sampling.n_stop == 2 && strcmp(p.sampling.stop[0], "\n\n") == 0 &&
	      strcmp(p.sampling.stop[1], "```") == 0, "stop strings");
	ds_proto_request_free(&p);
	free(line);

	/* completion with a string id and no sampling keys */
	r = (struct ds_proto_request){ .op = DS_OP_GENERATE, .input = DS_INPUT_COMPLETION, .prompt = "def f(" };
	r.id = ds_proto_id_str("req-1");
	line = ds_proto_encode_request(&r, &len);
	CHECK(strcmp(line, "{\"op\":\"generate\",\"id\":\"req-1\",\"prompt\":\"def f(\"}\n") == 0,
	      "completion encoding: %s", line);
	CHECK(ds_proto_parse_request(line, len - 1, &p, err, sizeof err) == 0, "completion: %s", err);
	CHECK(p.input == DS_INPUT_COMPLETION && strcmp(p.prompt, "def f(") == 0 && p.sampling.set == 0 &&
	      ds_proto_id_equal(&p.id, &r.id), "completion fields");
	ds_proto_request_free(&p);
	ds_proto_id_free(&r.id);
	free(line);

	/* fim as a count request */
	r = (struct ds_proto_request){ .op = DS_OP_COUNT, .input = DS_INPUT_FIM, .fim_prefix = "a", .fim_suffix = "" };
	r.id = ds_proto_id_int(-3);
	line = ds_proto_encode_request(&r, &len);
	CHECK(ds_proto_parse_request(line, len - 1, &p, err, sizeof err) == 0, "fim count: %s", err);
	CHECK(p.op == DS_OP_COUNT && p.input == DS_INPUT_FIM && strcmp(p.fim_prefix, "a") == 0 &&
	      strcmp(p.fim_suffix, "") == 0 && p.id.num == -3, "fim count fields");
	ds_proto_request_free(&p);
	free(line);

	r = (struct ds_proto_request){ .op = DS_OP_CANCEL, .id = ds_proto_id_int(9) };
	line = ds_proto_encode_request(&r, &len);
	CHECK(strcmp(line, "{\"op\":\"cancel\",\"id\":9}\n") == 0, "cancel encoding: %s", line);
	free(line);
	r = (struct ds_proto_request){ .op = DS_OP_SHUTDOWN };
	line = ds_proto_encode_request(&r, &len);
	CHECK(strcmp(line, "{\"op\":\"shutdown\"}\n") == 0, "shutdown encoding: %s", line);
	CHECK(ds_proto_parse_request(line, len - 1, &p, err, sizeof err) == 0 && p.op == DS_OP_SHUTDOWN &&
	      p.id.kind == DS_ID_NONE, "shutdown parse: %s", err);
	ds_proto_request_free(&p);
	free(line);
}

struct bad {
	const char *line;
	size_t len;                 /* 0: strlen */
	const char *want;           /* substring of the error */
	long long id;               /* expected integer id, or -1 for none */
};

static void test_bad_requests(void)
{
	static const struct bad cases[] = {
		{ "{\"op\":\"generate\",\"id\":1,", 0, "malformed JSON", -1 },
		{ "not json", 0, "malformed JSON", -1 },
		{ "", 0, "malformed JSON", -1 },
		{ "[1,2]", 0, "must be a JSON object", -1 },
		{ "{\"id\":2}", 0, "no \"op\"", 2 },
		{ "{\"op\":5,\"id\":3}", 0, "\"op\" must be a string", 3 },
		{ "{\"op\":\"dance\",\"id\":4}", 0, "unknown op \"dance\"", 4 },
		{ "{\"op\":\"generate\",\"prompt\":\"x\"}", 0, "needs an \"id\"", -1 },
		{ "{\"op\":\"generate\",\"id\":1.5,\"prompt\":\"x\"}", 0, "\"id\" must be a string or an integer", -1 },
		{ "{\"op\":\"generate\",\"id\":[1],\"prompt\":\"x\"}", 0, "\"id\" must be", -1 },
		{ "{\"op\":\"generate\",\"id\":5,\"prompt\":\"x\",\"max_token\":3}", 0, "unknown key \"max_token\"", 5 },
		{ "{\"op\":\"cancel\",\"id\":5,\"prompt\":\"x\"}", 0, "unknown key \"prompt\" in a cancel", 5 },
		{ "{\"op\":\"generate\",\"id\":6}", 0, "needs one of \"messages\", \"prompt\" or \"fim\"", 6 },
		{ "{\"op\":\"generate\",\"id\":7,\"prompt\":\"a\",\"fim\":{\"prefix\":\"\",\"suffix\":\"\"}}", 0,
		  "only one of", 7 },
		{ "{\"op\":\"count\",\"id\":8,\"prompt\":\"a\",\"messages\":[]}", 0, "only one of", 8 },
		{ "{\"op\":\"generate\",\"id\":9,\"messages\":[]}", 0, "at least one message", 9 },
		{ "{\"op\":\"generate\",\"id\":9,\"messages\":{}}", 0, "\"messages\" must be a list", 9 },
		{ "{\"op\":\"generate\",\"id\":10,\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 0,
		  "messages[0].role is \"robot\"", 10 },
		{ "{\"op\":\"generate\",\"id\":11,\"messages\":[{\"role\":\"user\"}]}", 0, "messages[0] lacks \"content\"", 11 },
		{ "{\"op\":\"generate\",\"id\":12,\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
		  "{\"role\":\"user\",\"content\":3}]}", 0, "messages[1].content must be a string", 12 },
		{ "{\"op\":\"generate\",\"id\":13,\"messages\":[\"hi\"]}", 0, "messages[0] must be an object", 13 },
		{ "{\"op\":\"generate\",\"id\":14,\"prompt\":\"a\\u0000b\"}", 0, "contains U+0000", 14 },
		{ "{\"op\":\"generate\",\"id\":15,\"fim\":{\"prefix\":\"a\"}}", 0, "needs both \"prefix\" and \"suffix\"", 15 },
		{ "{\"op\":\"generate\",\"id\":15,\"fim\":\"a\"}", 0, "\"fim\" must be an object", 15 },
		{ "{\"op\":\"generate\",\"id\":16,\"prompt\":\"\",\"max_tokens\":-1}", 0, "\"max_tokens\" is -1", 16 },
		{ "{\"op\":\"generate\",\"id\":16,\"prompt\":\"\",\"max_tokens\":2.5}", 0, "\"max_tokens\" must be an integer", 16 },
		{ "{\"op\":\"generate\",\"id\":16,\"prompt\":\"\",\"max_tokens\":\"8\"}", 0, "must be an integer", 16 },
		{ "{\"op\":\"generate\",\"id\":17,\"prompt\":\"\",\"temperature\":\"hot\"}", 0, "\"temperature\" must be a number", 17 },
		{ "{\"op\":\"generate\",\"id\":17,\"prompt\":\"\",\"temperature\":-0.5}", 0, "\"temperature\" is -0.5", 17 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"top_p\":0}", 0, "\"top_p\" is 0", 18 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"top_p\":1.5}", 0, "\"top_p\" is 1.5", 18 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"min_p\":2}", 0, "\"min_p\" is 2", 18 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"repetition_penalty\":0}", 0, "\"repetition_penalty\" is 0", 18 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"top_k\":-2}", 0, "\"top_k\" is -2", 18 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"seed\":-2}", 0, "\"seed\" is -2", 18 },
		/* issue 10: values the old checks let through, which the sampler could not take (the first
		 * is the request that made it read cand[-1]); the ranges are params_ranges' */
		{ "{\"op\":\"generate\",\"id\":1,\"prompt\":\"def add(a, b): return a + b\",\"max_tokens\":20,"
		  "\"repetition_penalty\":1e-40,\"temperature\":0.7,\"top_p\":0.9,\"seed\":1}", 0,
		  "\"repetition_penalty\" is 1e-40; it must be from 0.01 to 100 (1: off)", 1 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"repetition_penalty\":1e300}", 0,
		  "\"repetition_penalty\" is 1e+300; it must be from 0.01 to 100", 18 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"temperature\":1000}", 0,
		  "\"temperature\" is 1000; it must be from 0 to 100 (0: greedy)", 18 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"top_k\":2000000}", 0,
		  "\"top_k\" is 2000000; it must be from 0 to 1000000 (0: off)", 18 },
		{ "{\"op\":\"generate\",\"id\":18,\"prompt\":\"\",\"max_tokens\":2000000000}", 0,
		  "\"max_tokens\" is 2000000000; it must be from 0 to 1000000000", 18 },
		{ "{\"op\":\"generate\",\"id\":19,\"prompt\":\"\",\"stop\":\"x\"}", 0, "\"stop\" must be a list", 19 },
		{ "{\"op\":\"generate\",\"id\":19,\"prompt\":\"\",\"stop\":[1]}", 0, "stop[0] must be a string", 19 },
		{ "{\"op\":\"generate\",\"id\":19,\"prompt\":\"\",\"stop\":[\"a\",\"\"]}", 0, "stop[1] is empty", 19 },
		{ "{\"op\":\"generate\",\"id\":19,\"prompt\":\"\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\","
		  "\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}", 0, "at most 16", 19 },
		{ "{\"op\":\"generate\",\"id\":20,\"prompt\":\"a\",\"prompt\":\"b\"}", 0, "malformed JSON", -1 },
		{ "{\"op\":\"count\",\"id\":21,\"prompt\":\"x\",\"seed\":1}", 0, "unknown key \"seed\" in a count", 21 },
		/* invalid UTF-8: the id is still recovered */
		{ "{\"op\":\"generate\",\"id\":22,\"prompt\":\"\xff\"}", 0, "not valid UTF-8 (byte 35", 22 },
		{ "{\"op\":\"generate\",\"id\":23,\"prompt\":\"\xc0\xaf\"}", 0, "not valid UTF-8", 23 },
		{ "{\"op\":\"generate\",\"id\":24,\"prompt\":\"\xed\xa0\x80\"}", 0, "not valid UTF-8", 24 },
		{ "{\"op\":\"generate\",\"id\":25,\"prompt\":\"\xf4\x90\x80\x80\"}", 0, "not valid UTF-8", 25 },
		{ "{\"op\":\"generate\",\"id\":26,\"prompt\":\"\xe4\xb8\"}", 0, "not valid UTF-8", 26 },
		{ "{\"op\":\"generate\",\"id\":27,\"prompt\":\"a\0b\"}", 40, "malformed JSON", -1 },
		{ "{\"op\":\"generate\",\"id\":28,\"prompt\":\"\\ud800\"}", 0, "malformed JSON", -1 },
	};
	char err[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct bad *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->line);
		struct ds_proto_request r;
		int rc;

		err[0] = '\0';
		rc = ds_proto_parse_request(c->line, len, &r, err, sizeof err);
		CHECK(rc == -1, "case %zu (%s) was accepted", i, c->line);
		CHECK(strstr(err, c->want) != NULL, "case %zu (%s): error \"%s\" lacks \"%s\"", i, c->line, err, c->want);
		if (c->id < 0)
			CHECK(r.id.kind == DS_ID_NONE, "case %zu: id should be unknown", i);
		else
			CHECK(r.id.kind == DS_ID_INT && r.id.num == c->id, "case %zu: id %lld expected (kind %d)", i,
			      c->id, (int)r.id.kind);
		CHECK(r.messages == NULL && r.prompt == NULL && r.sampling.stop == NULL,
		      "case %zu: a failed parse left fields behind", i);
		ds_proto_request_free(&r);
	}
}

static void test_events(void)
{
	static const char text[] = "a\0b 中文 😀\n\"";
	struct ds_proto_event ev = { .type = DS_EV_TOKEN, .id = ds_proto_id_int(3),
				     .text = (char *)text, .text_len = sizeof text - 1 }, p;
	char err[256];
	size_t len;
	char *line;

	line = ds_proto_encode_event(&ev, &len);
	check_one_line(line, len);
	CHECK(strncmp(line, "{\"event\":\"token\",\"id\":3,", 24) == 0, "token encoding: %s", line);
	CHECK(ds_proto_parse_event(line, len - 1, &p, err, sizeof err) == 0, "token: %s", err);
	CHECK(p.type == DS_EV_TOKEN && p.id.num == 3 && p.text_len == sizeof text - 1 &&
	      memcmp(p.text, text, p.text_len) == 0, "token text differs after the round trip");
	ds_proto_event_free(&p);
	free(line);

	ev = (struct ds_proto_event){ .type = DS_EV_DONE, .id = ds_proto_id_str("x"),
				      .finish = DS_PROTO_FINISH_CONTEXT, .prompt_tokens = 5000, .over_by = 904,
				      .ttft_ms = 12.5, .prefill_tps = 1000.25, .decode_tps = 33.0,
				      .message = "the prompt is 904 tokens over the context of 4096" };
	line = ds_proto_encode_event(&ev, &len);
	check_one_line(line, len);
	CHECK(ds_proto_parse_event(line, len - 1, &p, err, sizeof err) == 0, "done: %s", err);
	CHECK(p.type == DS_EV_DONE && p.finish == DS_PROTO_FINISH_CONTEXT && p.prompt_tokens == 5000 &&
	      p.over_by == 904 && p.ttft_ms == 12.5 && p.prefill_tps == 1000.25 && p.decode_tps == 33.0 &&
	      p.message && strcmp(p.message, ev.message) == 0 && strcmp(p.id.str, "x") == 0, "done fields: %s", line);
	ds_proto_event_free(&p);
	ds_proto_id_free(&ev.id);
	free(line);

	ev = (struct ds_proto_event){ .type = DS_EV_DONE, .id = ds_proto_id_int(1), .finish = DS_PROTO_FINISH_STOP,
				      .completion_tokens = 3, .cached_tokens = 2 };
	line = ds_proto_encode_event(&ev, &len);
	CHECK(strstr(line, "over_by") == NULL && strstr(line, "message") == NULL, "stop done has extras: %s", line);
	CHECK(ds_proto_parse_event(line, len - 1, &p, err, sizeof err) == 0 && p.finish == DS_PROTO_FINISH_STOP &&
	      p.completion_tokens == 3 && p.cached_tokens == 2, "done stop: %s", err);
	ds_proto_event_free(&p);
	free(line);

	ev = (struct ds_proto_event){ .type = DS_EV_READY, .protocol = DS_PROTO_VERSION,
				      .model = { .name = "tiny", .path = "/m/tiny", .n_ctx = 4096, .vocab_size = 320,
						 .parameters = 123456789012ULL, .backend = "cpu", .threads = 2 } };
	line = ds_proto_encode_event(&ev, &len);
	CHECK(ds_proto_parse_event(line, len - 1, &p, err, sizeof err) == 0, "ready: %s", err);
	CHECK(p.type == DS_EV_READY && p.protocol == 1 && strcmp(p.model.name, "tiny") == 0 &&
	      strcmp(p.model.path, "/m/tiny") == 0 && p.model.n_ctx == 4096 && p.model.vocab_size == 320 &&
	      p.model.parameters == 123456789012ULL && strcmp(p.model.backend, "cpu") == 0 && p.model.threads == 2,
	      "ready fields: %s", line);
	ds_proto_event_free(&p);
	free(line);

	ev = (struct ds_proto_event){ .type = DS_EV_LOADING, .done = 5000000000ULL, .total = 6000000000ULL };
	line = ds_proto_encode_event(&ev, &len);
	CHECK(strcmp(line, "{\"event\":\"loading\",\"done\":5000000000,\"total\":6000000000}\n") == 0,
	      "loading encoding: %s", line);
	CHECK(ds_proto_parse_event(line, len - 1, &p, err, sizeof err) == 0 && p.done == 5000000000ULL &&
	      p.total == 6000000000ULL, "loading: %s", err);
	ds_proto_event_free(&p);
	free(line);

	ev = (struct ds_proto_event){ .type = DS_EV_COUNT, .id = ds_proto_id_int(4), .tokens = 17, .n_ctx = 99 };
	line = ds_proto_encode_event(&ev, &len);
	CHECK(strcmp(line, "{\"event\":\"count\",\"id\":4,\"tokens\":17,\"n_ctx\":99}\n") == 0, "count: %s", line);
	CHECK(ds_proto_parse_event(line, len - 1, &p, err, sizeof err) == 0 && !p.estimate && p.tokens == 17,
	      "count parse: %s", err);
	ds_proto_event_free(&p);
	free(line);
	/* a remote engine without a local tokenizer marks its count as an estimate */
	ev.estimate = true;
	line = ds_proto_encode_event(&ev, &len);
	CHECK(strcmp(line, "{\"event\":\"count\",\"id\":4,\"tokens\":17,\"n_ctx\":99,\"estimate\":true}\n") == 0,
	      "count estimate: %s", line);
	CHECK(ds_proto_parse_event(line, len - 1, &p, err, sizeof err) == 0 && p.estimate && p.tokens == 17,
	      "count estimate parse: %s", err);
	ds_proto_event_free(&p);
	free(line);

	ev = (struct ds_proto_event){ .type = DS_EV_ERROR, .message = "bad\nthing" };
	line = ds_proto_encode_event(&ev, &len);
	check_one_line(line, len);
	CHECK(strcmp(line, "{\"event\":\"error\",\"message\":\"bad\\nthing\"}\n") == 0, "error: %s", line);
	CHECK(ds_proto_parse_event(line, len - 1, &p, err, sizeof err) == 0 && p.id.kind == DS_ID_NONE &&
	      strcmp(p.message, "bad\nthing") == 0, "error parse: %s", err);
	ds_proto_event_free(&p);
	free(line);

	/* events from a newer engine: extra keys are fine, unknown events and missing keys are not */
	line = "{\"event\":\"count\",\"id\":1,\"tokens\":2,\"n_ctx\":3,\"new_key\":[1]}";
	CHECK(ds_proto_parse_event(line, strlen(line), &p, err, sizeof err) == 0 && p.tokens == 2,
	      "extra key rejected: %s", err);
	ds_proto_event_free(&p);
	line = "{\"event\":\"sparkle\"}";
	CHECK(ds_proto_parse_event(line, strlen(line), &p, err, sizeof err) == -1 && strstr(err, "unknown event"),
	      "unknown event accepted");
	line = "{\"event\":\"done\",\"id\":1,\"finish\":\"stop\"}";
	CHECK(ds_proto_parse_event(line, strlen(line), &p, err, sizeof err) == -1 && strstr(err, "prompt_tokens"),
	      "done without counts accepted (%s)", err);
	line = "{\"event\":\"token\",\"text\":\"a\"}";
	CHECK(ds_proto_parse_event(line, strlen(line), &p, err, sizeof err) == -1 && strstr(err, "\"id\""),
	      "token without id accepted (%s)", err);
}

/* Feeds s to a splitter in pieces of `step` bytes and returns what came out, one entry per line, with
 * "<DROP>" for a dropped line. */
static void split(const char *s, size_t n, size_t step, size_t max, char *out, size_t outsize)
{
	struct ds_proto_lines l;
	size_t used = 0;
	char *line;
	size_t len;
	int rc;

	ds_proto_lines_init(&l, max);
	out[0] = '\0';
	for (size_t i = 0; i < n; i += step) {
		ds_proto_lines_feed(&l, s + i, n - i < step ? n - i : step);
		while ((rc = ds_proto_lines_next(&l, &line, &len)) != 0)
			used += snprintf(out + used, outsize - used, "[%s]", rc < 0 ? "<DROP>" : line);
	}
	if (ds_proto_lines_finish(&l, &line, &len))
		used += snprintf(out + used, outsize - used, "{%s}", line);
	ds_proto_lines_free(&l);
}

static void test_lines(void)
{
	static const char in[] = "ab\r\n0123456789toolong\n\ncd\n0123456789x\nlast";
	static const char want[] = "[ab][<DROP>][][cd][<DROP>]{last}";
	char out[512];

	for (size_t step = 1; step <= sizeof in; step++) {
		split(in, sizeof in - 1, step, 10, out, sizeof out);
		CHECK(strcmp(out, want) == 0, "split in steps of %zu: got %s, want %s", step, out, want);
	}
	split("0123456789\n", 11, 3, 10, out, sizeof out);
	CHECK(strcmp(out, "[0123456789]") == 0, "a line of exactly max bytes: %s", out);
	split("01234567890123456789", 20, 4, 10, out, sizeof out);
	CHECK(strcmp(out, "[<DROP>]") == 0, "an unterminated long line at EOF: %s", out);
}

static void test_utf8(void)
{
	static const struct { const char *s; bool ok; size_t bad; } cases[] = {
		{ "plain", true, 0 }, { "中文😀é", true, 0 }, { "\xef\xbf\xbd", true, 0 },
		{ "a\x80", false, 1 }, { "\xc1\x81", false, 0 }, { "\xe0\x80\x80", false, 0 },
		{ "ok\xed\xbf\xbf", false, 2 }, { "\xf0\x8f\xbf\xbf", false, 0 }, { "\xf4\x90\x80\x80", false, 0 },
		{ "\xf5\x80\x80\x80", false, 0 }, { "ab\xe4\xb8", false, 2 }, { "\xf4\x8f\xbf\xbf", true, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t bad = 999;
		bool ok = ds_proto_utf8_valid(cases[i].s, strlen(cases[i].s), &bad);

		CHECK(ok == cases[i].ok, "utf8 case %zu: valid=%d", i, ok);
		if (!ok)
			CHECK(bad == cases[i].bad, "utf8 case %zu: bad byte at %zu, expected %zu", i, bad, cases[i].bad);
	}
}

int main(void)
{
	test_request_roundtrip();
	test_bad_requests();
	test_events();
	test_lines();
	test_utf8();
	if (failures)
		fprintf(stderr, "test-protocol: %d failures\n", failures);
	return failures ? 1 : 0;
}

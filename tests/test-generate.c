/* test-generate.c: the generation loop on a fixture model: prompt cache reuse with identical output,
 * stop strings (held back, never emitted), cancel, max_tokens, the context limit, valid UTF-8 pieces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* its own CHECK: passes are listed too */
#define FIX_OWN_CHECK
#include "fixture-util.h"
#include "generate.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
	printf(__VA_ARGS__); putchar('\n'); } else { printf("ok   "); printf(__VA_ARGS__); putchar('\n'); } } while (0)

struct sink {
	char buf[65536];
	size_t len;
	int calls, cancel_after;    /* cancel on this call (0: never) */
	int bad_utf8;
};

static int valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;

		if (k == 0 || i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

static int collect(const char *text, size_t len, void *arg)
{
	struct sink *s = arg;

	s->calls++;
	if (!valid_utf8((const unsigned char *)text, len))
		s->bad_utf8++;
	if (s->len + len < sizeof s->buf) {
		memcpy(s->buf + s->len, text, len);
		s->len += len;
	}
	s->buf[s->len] = '\0';
	return s->cancel_after > 0 && s->calls >= s->cancel_after;
}

static void run(struct ds_engine *e, const int *ids, int n, struct ds_sampling *p, struct sink *s,
		struct ds_gen_stats *st)
{
	char err[512];
	int cancel_after = s->cancel_after;

	memset(s, 0, sizeof *s);
	s->cancel_after = cancel_after;
	if (ds_generate(e, ids, n, p, collect, s, st, err, sizeof err) != 0) {
		failures++;
		printf("FAIL ds_generate: %s\n", err);
	}
}

int main(void)
{
	const char *fixtures = fix_dir();
	char dir[4096], err[1024];
	struct ds_engine e, fresh;
	struct ds_message chat[] = { { "user", "def quick_sort(arr):" } };
	struct ds_sampling p;
	struct ds_gen_stats st;
	static struct sink base, s;
	int *ids = NULL;
	size_t n = 0, cap = 0;

	snprintf(dir, sizeof dir, "%s/models/tiny-ds2-full", fixtures);
	if (ds_engine_open(&e, dir, 256, 2, NULL, NULL, err, sizeof err) != 0) {
		printf("SKIP: %s\n", err);
		return 77;
	}
	ds_prompt_chat(e.tok, chat, 1, &ids, &n, &cap);
	ds_sampling_defaults(&p);
	p.max_tokens = 40;

	run(&e, ids, (int)n, &p, &base, &st);
	CHECK(st.finish == DS_FINISH_LENGTH && st.completion_tokens == 40, "max_tokens 40: finish %s after %d tokens",
	      ds_finish_name(st.finish), st.completion_tokens);
	CHECK(st.prompt_tokens == (int)n && st.cached_tokens == 0, "first request: %d prompt tokens, %d cached",
	      st.prompt_tokens, st.cached_tokens);
	CHECK(base.bad_utf8 == 0 && base.len > 0, "%zu bytes of answer, every piece valid UTF-8", base.len);

	/* The same prompt again: all but the last prompt token come from the cache, same text. */
	run(&e, ids, (int)n, &p, &s, &st);
	CHECK(st.cached_tokens == (int)n - 1, "repeat request reuses %d of %zu prompt tokens", st.cached_tokens, n);
	CHECK(s.len == base.len && memcmp(s.buf, base.buf, s.len) == 0, "cached run gives the same text");

	/* A follow-up turn shares the first turn's prefix; a fresh engine must say the same. */
	{
		struct ds_message turn2[] = { { "user", "def quick_sort(arr):" }, { "assistant", base.buf },
					      { "user", "and in C?" } };
		int *ids2 = NULL;
		size_t n2 = 0, cap2 = 0;
		static struct sink a, b;

		ds_prompt_chat(e.tok, turn2, 3, &ids2, &n2, &cap2);
		run(&e, ids2, (int)n2, &p, &a, &st);
		CHECK(st.cached_tokens >= (int)n, "turn 2 reuses %d cached tokens (first prompt had %zu)",
		      st.cached_tokens, n);
		if (ds_engine_open(&fresh, dir, 256, 1, NULL, NULL, err, sizeof err) == 0) {
			run(&fresh, ids2, (int)n2, &p, &b, &st);
			CHECK(st.cached_tokens == 0 && a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
			      "turn 2 with the cache equals turn 2 on a fresh engine");
			ds_engine_close(&fresh);
		}
		free(ids2);
	}

	/* Stop strings: the answer ends just before the first occurrence, which is never emitted. */
	for (size_t k = base.len / 3; k + 3 <= base.len; k += base.len / 3) {
		char stop[4];
		char *stops[1] = { stop };
		const char *first;
		size_t want;

		while (k < base.len && (base.buf[k] & 0xc0) == 0x80)
			k++;
		if (k + 3 > base.len)
			break;
		memcpy(stop, base.buf + k, 3);
		stop[3] = '\0';
		if (!valid_utf8((unsigned char *)stop, 3))
			continue;
		first = strstr(base.buf, stop);
		want = (size_t)(first - base.buf);
		p.stop = stops;
		p.n_stop = 1;
		run(&e, ids, (int)n, &p, &s, &st);
		CHECK(st.finish == DS_FINISH_STOP && s.len == want && memcmp(s.buf, base.buf, want) == 0,
		      "stop string at byte %zu: %zu bytes emitted (want %zu), finish %s", k, s.len, want,
		      ds_finish_name(st.finish));
		p.stop = NULL;
		p.n_stop = 0;
	}

	/* Cancel on the third callback: the loop ends at once with finish cancel. */
	s.cancel_after = 3;
	run(&e, ids, (int)n, &p, &s, &st);
	CHECK(st.finish == DS_FINISH_CANCEL && st.completion_tokens == 3, "cancel after 3 callbacks: %s after %d tokens",
	      ds_finish_name(st.finish), st.completion_tokens);
	s.cancel_after = 0;

	/* Cancel during a long prefill: answered between chunks, and the chunks done stay cached. */
	ds_engine_close(&e);
	if (ds_engine_open(&e, dir, 1024, 2, NULL, NULL, err, sizeof err) == 0) {
		int many[600];

		for (int i = 0; i < 600; i++)
			many[i] = 10 + i % 250;
		s.cancel_after = 1;
		run(&e, many, 600, &p, &s, &st);
		CHECK(st.finish == DS_FINISH_CANCEL && st.completion_tokens == 0 && s.calls == 1,
		      "cancel during a 600-token prefill: finish %s after %d calls", ds_finish_name(st.finish), s.calls);
		s.cancel_after = 0;
		p.max_tokens = 2;
		run(&e, many, 600, &p, &s, &st);
		CHECK(st.cached_tokens > 0 && st.completion_tokens == 2,
		      "the next request reuses the %d tokens prefilled before the cancel", st.cached_tokens);
		p.max_tokens = 40;
	}

	/* A prompt over the context is refused with the count, nothing generated. */
	ds_engine_close(&e);
	if (ds_engine_open(&e, dir, 16, 1, NULL, NULL, err, sizeof err) == 0) {
		int many[40];

		for (int i = 0; i < 40; i++)
			many[i] = 10 + i;
		run(&e, many, 40, &p, &s, &st);
		CHECK(st.finish == DS_FINISH_CONTEXT && st.over_by == 25 && s.len == 0,
		      "40-token prompt in a 16-token context: finish %s, over by %d", ds_finish_name(st.finish), st.over_by);
		/* Generation that reaches the end of the context stops there: 6 tokens fill positions 10..15,
		 * the 7th comes from the logits of position 15 and cannot be stored. */
		run(&e, many, 10, &p, &s, &st);
		CHECK(st.finish == DS_FINISH_CONTEXT && st.completion_tokens == 7,
		      "10-token prompt in a 16-token context: finish %s after %d tokens", ds_finish_name(st.finish),
		      st.completion_tokens);
	}
	ds_engine_close(&e);
	free(ids);
	return failures ? 1 : 0;
}

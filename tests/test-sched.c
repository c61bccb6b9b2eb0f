/* test-sched.c: the scheduler (engine/scheduler.h) on a fixture model: greedy answers equal ds_generate's
 * (alone and with several requests in flight), a cancel from inside the callback, a queued request
 * cancelled before it runs, the queue limit, count, and shutdown with requests still waiting; a lone
 * request's long prompt read in steps of 512 tokens, as ds_generate reads it, and cancelled while it
 * is read. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX_CHECK_AT
#include "fixture-util.h"
#include "scheduler.h"

#define MAX_REQ 16

/* What the events of one request said; written on the scheduler's thread, read after drain. */
struct result {
	struct ds_sched *s;
	uint64_t handle;            /* what submit returned (set by the test's thread) */
	uint64_t seen;              /* the handle of the first event (set by the scheduler's) */
	char text[8192];
	size_t len;
	int tokens, ids, done, errors, after_last;
	int cancel_at;              /* cancel from inside the callback at this many pieces (0: never) */
	struct ds_gen_stats st;
	int bad_handle;
	long first_token, last_event;   /* when (in the order of all events) */
	atomic_int chunks;          /* empty events of a prompt read in part (another thread waits on it) */
};

/* Events in the order the scheduler's thread sent them. */
static long event_clock;

/* Every event in order: whose, and whether it was a prompt chunk's empty event (token_id -1, len 0,
 * before the request's first token). */
#define MAX_LOG 65536
static struct { uint64_t handle; bool chunk; } event_log[MAX_LOG];

static void on_event(const struct ds_sched_event *ev, void *arg)
{
	struct result *r = arg;

	if (r->done || r->errors)
		r->after_last++;
	r->last_event = ++event_clock;
	if (event_clock < MAX_LOG) {
		event_log[event_clock].handle = ev->handle;
		event_log[event_clock].chunk = ev->type == DS_SCHED_TOKEN && ev->token_id < 0 && ev->len == 0 &&
					       r->first_token == 0;
	}
	if (ev->type == DS_SCHED_TOKEN && ev->token_id < 0 && ev->len == 0 && r->first_token == 0)
		atomic_fetch_add(&r->chunks, 1);
	if (ev->type == DS_SCHED_TOKEN && ev->len > 0 && r->first_token == 0)
		r->first_token = event_clock;
	if (r->seen == 0)
		r->seen = ev->handle;
	else if (ev->handle != r->seen)
		r->bad_handle++;
	switch (ev->type) {
	case DS_SCHED_TOKEN:
		r->tokens++;
		if (ev->token_id >= 0)
			r->ids++;
		if (r->len + ev->len < sizeof r->text) {
			memcpy(r->text + r->len, ev->text, ev->len);
			r->len += ev->len;
			r->text[r->len] = '\0';
		}
		if (r->cancel_at > 0 && r->tokens == r->cancel_at)
			ds_sched_cancel(r->s, ev->handle);
		break;
	case DS_SCHED_DONE:
		r->done++;
		r->st = *ev->stats;
		break;
	case DS_SCHED_ERROR:
		r->errors++;
		break;
	}
}

static int collect(const char *text, size_t len, void *arg)
{
	struct result *r = arg;

	if (r->len + len < sizeof r->text) {
		memcpy(r->text + r->len, text, len);
		r->len += len;
		r->text[r->len] = '\0';
	}
	return 0;
}

static const char *prompts[] = {
	"def quick_sort(arr):", "int main(void) {", "# a list of primes", "SELECT * FROM",
	"fn main() {", "<html>", "import numpy as np", "class Stack:",
};
#define N_PROMPTS (int)(sizeof prompts / sizeof prompts[0])

static struct ds_sched_request completion(const char *prompt, int max_tokens, struct result *r)
{
	struct ds_sched_request q = { .input = DS_SCHED_COMPLETION, .prompt = prompt, .on_event = on_event,
				      .arg = r };
	ds_sampling_defaults(&q.sampling);
	q.sampling.max_tokens = max_tokens;
	q.sampling.temperature = 0;
	return q;
}

/* ds_generate's greedy answer to prompt, the reference. */
static void reference(struct ds_engine *e, const char *prompt, int max_tokens, struct result *r)
{
	struct ds_sampling p;
	char err[512];
	int *ids = NULL;
	size_t n = 0, cap = 0;

	memset(r, 0, sizeof *r);
	ds_prompt_completion(e->tok, prompt, &ids, &n, &cap);
	ds_sampling_defaults(&p);
	p.max_tokens = max_tokens;
	p.temperature = 0;
	if (ds_generate(e, ids, (int)n, &p, collect, r, &r->st, err, sizeof err) != 0)
		CHECK(0, "ds_generate: %s", err);
	free(ids);
}

static int prefill_chunk;

static struct ds_sched *new_sched(struct ds_engine *e, int slots, int max_queue, bool start)
{
	struct ds_sched_opts o = { .n_slots = slots, .max_queue = max_queue, .prefill_chunk = prefill_chunk };
	char err[512];
	struct ds_sched *s = ds_sched_new(e, &o, err, sizeof err);

	if (s == NULL) {
		printf("FAIL: ds_sched_new: %s\n", err);
		exit(1);
	}
	if (start && ds_sched_start(s, err, sizeof err) != 0) {
		printf("FAIL: ds_sched_start: %s\n", err);
		exit(1);
	}
	return s;
}

static uint64_t submit(struct ds_sched *s, const struct ds_sched_request *q, struct result *r)
{
	char err[512];
	bool busy;

	int cancel_at = r->cancel_at;

	memset(r, 0, sizeof *r);
	r->s = s;
	r->cancel_at = cancel_at;
	uint64_t h = ds_sched_submit(s, q, &busy, err, sizeof err);
	CHECK(h > 0, "submit refused: %s", err);
	r->handle = h;
	return h;
}

/* The events of one finished request: exactly one DONE, nothing after it, all for its handle. */
static void check_shape(const struct result *r, const char *what)
{
	CHECK(r->done == 1 && r->errors == 0, "%s: %d done, %d error events", what, r->done, r->errors);
	CHECK(r->after_last == 0 && r->bad_handle == 0 && r->seen == r->handle,
	      "%s: %d events after the last, %d for another handle, first for %llu not %llu", what, r->after_last,
	      r->bad_handle, (unsigned long long)r->seen, (unsigned long long)r->handle);
}

static void run_tests(struct ds_engine *e, int slots)
{
	static struct result ref[N_PROMPTS], got[N_PROMPTS], extra[4];
	const int max_tokens = 24;
	char err[512];

	printf("-- %d slot(s), prefill chunk %d\n", slots, prefill_chunk);
	for (int i = 0; i < N_PROMPTS; i++)
		reference(e, prompts[i], max_tokens, &ref[i]);

	/* one request alone, then all at once: each answer is ds_generate's */
	struct ds_sched *s = new_sched(e, slots, 0, true);
	struct ds_sched_request q = completion(prompts[0], max_tokens, &got[0]);
	submit(s, &q, &got[0]);
	ds_sched_drain(s);
	check_shape(&got[0], "alone");
	CHECK(got[0].len == ref[0].len && memcmp(got[0].text, ref[0].text, got[0].len) == 0,
	      "alone: '%s' is not ds_generate's '%s'", got[0].text, ref[0].text);
	CHECK(got[0].st.finish == ref[0].st.finish && got[0].st.completion_tokens == ref[0].st.completion_tokens,
	      "alone: finish %s after %d tokens, ds_generate's %s after %d", ds_finish_name(got[0].st.finish),
	      got[0].st.completion_tokens, ds_finish_name(ref[0].st.finish), ref[0].st.completion_tokens);

	/* the same prompt again reuses its cached prefix, in whichever slot holds it */
	q = completion(prompts[0], max_tokens, &extra[2]);
	submit(s, &q, &extra[2]);
	ds_sched_drain(s);
	check_shape(&extra[2], "repeated");
	CHECK(extra[2].st.cached_tokens == extra[2].st.prompt_tokens - 1 && strcmp(extra[2].text, ref[0].text) == 0,
	      "repeated prompt: %d of %d tokens cached, '%s'", extra[2].st.cached_tokens, extra[2].st.prompt_tokens,
	      extra[2].text);

	/* all at once, queued before a new scheduler's loop starts: submitted to a running loop, the
	 * first could be answered whole on a busy machine before this thread submits the others */
	ds_sched_free(s);
	s = new_sched(e, slots, 0, false);
	for (int i = 0; i < N_PROMPTS; i++) {
		q = completion(prompts[i], max_tokens, &got[i]);
		submit(s, &q, &got[i]);
	}
	if (ds_sched_start(s, err, sizeof err) != 0)
		CHECK(0, "start: %s", err);
	ds_sched_drain(s);
	if (slots > 1)
		CHECK(got[1].first_token < got[0].last_event && got[slots - 1].first_token < got[0].last_event,
		      "%d slots: requests 2 and %d stream before the first one ends", slots, slots);
	else
		CHECK(got[1].first_token > got[0].last_event, "one slot: one request after the other");
	for (int i = 0; i < N_PROMPTS; i++) {
		check_shape(&got[i], prompts[i]);
		CHECK(got[i].len == ref[i].len && memcmp(got[i].text, ref[i].text, got[i].len) == 0,
		      "request %d of %d: '%s' is not ds_generate's '%s'", i, N_PROMPTS, got[i].text, ref[i].text);
		CHECK(got[i].st.prompt_tokens == ref[i].st.prompt_tokens &&
		      got[i].st.completion_tokens == ref[i].st.completion_tokens,
		      "request %d: %d+%d tokens, ds_generate %d+%d", i, got[i].st.prompt_tokens,
		      got[i].st.completion_tokens, ref[i].st.prompt_tokens, ref[i].st.completion_tokens);
	}

	/* a cancel from inside the callback ends the request within a token; the next one still runs */
	q = completion(prompts[1], 200, &extra[0]);
	extra[0].cancel_at = 3;
	submit(s, &q, &extra[0]);
	q = completion(prompts[2], max_tokens, &extra[1]);
	submit(s, &q, &extra[1]);
	ds_sched_drain(s);
	check_shape(&extra[0], "cancelled");
	CHECK(extra[0].st.finish == DS_FINISH_CANCEL && extra[0].st.completion_tokens <= 4,
	      "cancelled: finish %s after %d tokens", ds_finish_name(extra[0].st.finish),
	      extra[0].st.completion_tokens);
	extra[0].cancel_at = 0;
	check_shape(&extra[1], "after a cancel");
	CHECK(strcmp(extra[1].text, ref[2].text) == 0, "after a cancel: '%s' is not '%s'", extra[1].text,
	      ref[2].text);

	/* count: the prompt as the request would be formatted */
	q = completion(prompts[3], 1, NULL);
	CHECK(ds_sched_count(s, &q) == ref[3].st.prompt_tokens, "count %d, prompt tokens %d",
	      ds_sched_count(s, &q), ref[3].st.prompt_tokens);
	ds_sched_free(s);

	/* a queue of two: the third waits too long (busy); a queued request cancelled before it runs gets
	 * its DONE with finish cancel; free answers what still waits */
	s = new_sched(e, slots, 2, false);
	uint64_t h[3];
	for (int i = 0; i < 2; i++) {
		q = completion(prompts[i], max_tokens, &extra[i]);
		h[i] = submit(s, &q, &extra[i]);
	}
	{
		bool busy = false;
		q = completion(prompts[2], max_tokens, &extra[2]);
		h[2] = ds_sched_submit(s, &q, &busy, err, sizeof err);
		CHECK(h[2] == 0 && busy, "third request in a queue of 2: handle %llu, busy %d (%s)",
		      (unsigned long long)h[2], busy, err);
	}
	ds_sched_cancel(s, h[1]);
	ds_sched_cancel(s, 987654);      /* unknown: ignored */
	if (ds_sched_start(s, err, sizeof err) != 0)
		CHECK(0, "start: %s", err);
	ds_sched_drain(s);
	check_shape(&extra[0], "queued first");
	CHECK(strcmp(extra[0].text, ref[0].text) == 0, "queued first: '%s'", extra[0].text);
	check_shape(&extra[1], "cancelled in the queue");
	CHECK(extra[1].st.finish == DS_FINISH_CANCEL && extra[1].st.completion_tokens == 0 && extra[1].len == 0,
	      "cancelled in the queue: finish %s, %d tokens", ds_finish_name(extra[1].st.finish),
	      extra[1].st.completion_tokens);
	ds_sched_free(s);

	/* free with requests still waiting: each ends with finish cancel */
	s = new_sched(e, slots, 0, false);
	for (int i = 0; i < 3; i++) {
		q = completion(prompts[i], max_tokens, &extra[i]);
		submit(s, &q, &extra[i]);
	}
	ds_sched_free(s);
	for (int i = 0; i < 3; i++) {
		check_shape(&extra[i], "dropped at free");
		CHECK(extra[i].st.finish == DS_FINISH_CANCEL, "dropped at free: finish %s",
		      ds_finish_name(extra[i].st.finish));
	}

	/* an invalid request is refused at submit */
	{
		struct ds_sched_request bad = { .input = DS_SCHED_COMPLETION, .on_event = on_event };
		bool busy = true;
		s = new_sched(e, slots, 0, true);
		CHECK(ds_sched_submit(s, &bad, &busy, err, sizeof err) == 0 && !busy,
		      "a completion without a prompt is refused, not busy");
		ds_sched_free(s);
	}
}

/* A long prompt read in chunks of 4 while another request decodes: the other one's tokens keep
 * coming between the chunks, and both answers are still ds_generate's. */
static void streams_flow(struct ds_engine *e)
{
	static struct result ref_a, ref_b, a, b;
	static char long_prompt[4096];
	size_t len = 0;

	while (len < 240) {
		memcpy(long_prompt + len, "def f(x):\n    return [i * x for i in x]\n", 40);
		len += 40;
	}
	long_prompt[len] = '\0';
	reference(e, prompts[4], 40, &ref_a);
	reference(e, long_prompt, 8, &ref_b);
	prefill_chunk = 4;
	/* both queued before the loop starts: on a busy machine the loop could otherwise answer the
	 * first request whole before this thread gets to submit the second */
	struct ds_sched *s = new_sched(e, 2, 0, false);
	struct ds_sched_request q = completion(prompts[4], 40, &a);
	uint64_t ha = submit(s, &q, &a);
	q = completion(long_prompt, 8, &b);
	uint64_t hb = submit(s, &q, &b);
	char err[256];
	if (ds_sched_start(s, err, sizeof err) != 0) {
		printf("FAIL: ds_sched_start: %s\n", err);
		exit(1);
	}
	ds_sched_drain(s);
	ds_sched_free(s);
	prefill_chunk = 0;
	long first = 0, last = 0;
	int chunks = 0, a_between = 0;
	for (long t = 1; t <= event_clock && t < MAX_LOG; t++)
		if (event_log[t].handle == hb && event_log[t].chunk) {
			if (first == 0)
				first = t;
			last = t;
			chunks++;
		}
	for (long t = first; t <= last && first > 0; t++)
		a_between += event_log[t].handle == ha;
	check_shape(&a, "decoding beside a long prompt");
	check_shape(&b, "long prompt in chunks");
	CHECK(b.st.prompt_tokens > 60 && b.st.finish != DS_FINISH_CONTEXT, "the long prompt has %d tokens, finish %s",
	      b.st.prompt_tokens, ds_finish_name(b.st.finish));
	CHECK(chunks >= 10 && a_between >= 5, "a long prompt read in %d chunks; the other request sent %d events "
	      "between its first and last chunk", chunks, a_between);
	printf("-- a %d-token prompt in %d chunks of 4; %d events of the other request between them\n",
	       b.st.prompt_tokens, chunks, a_between);
	CHECK(strcmp(a.text, ref_a.text) == 0 && strcmp(b.text, ref_b.text) == 0,
	      "answers beside a chunked prompt: '%s' / '%s', alone '%s' / '%s'", a.text, b.text, ref_a.text, ref_b.text);
}

/* A request alone reads its prompt 512 tokens a step (ds_generate's calls; 256-token steps re-expand
 * every earlier position's K/V twice as often): a prompt of 513-1024 tokens takes two steps, so one
 * empty event for the part read before its first token, and the answer is ds_generate's. */
static size_t prompt_of(struct ds_engine *e, const char *line_text, char *text, size_t size, size_t want);

/* A completion prompt of lines of code into text (size bytes), of at least want tokens: returns its
 * token count. */
static size_t long_prompt(struct ds_engine *e, char *text, size_t size, size_t want)
{
	static const char line[] = "for (int i = 0; i < n; i++) sum += a[i] * b[i];\n";
	return prompt_of(e, line, text, size, want);
}

/* text (size bytes) = line repeated up to at least want tokens of a completion prompt; returns the
 * tokens. */
static size_t prompt_of(struct ds_engine *e, const char *line_text, char *text, size_t size, size_t want)
{
	int *ids = NULL;
	size_t n = 0, cap = 0, len = 0, line_len = strlen(line_text);
	while (n < want && len + line_len < size) {
		memcpy(text + len, line_text, line_len + 1);   /* (with its NUL) */
		len += line_len;
		free(ids);
		ids = NULL;
		n = cap = 0;
		ds_prompt_completion(e->tok, text, &ids, &n, &cap);
	}
	free(ids);
	return n;
}

/* e = the model in dir with n_ctx positions, text (size bytes) a long prompt of at least want tokens
 * (checked to be lo + 1 to hi), ref ds_generate's 4-token answer to it; the prompt's tokens, or 0 (a
 * failure counted) when the model does not open. */
static size_t long_prompt_setup(const char *dir, int n_ctx, size_t want, size_t lo, size_t hi, char *text,
				size_t size, struct ds_engine *e, struct result *ref)
{
	char err[1024];
	if (ds_engine_open(e, dir, n_ctx, 2, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s", err);
		return 0;
	}
	size_t n = long_prompt(e, text, size, want);
	CHECK(n > lo && n <= hi, "the long prompt is %zu tokens, %zu-%zu wanted", n, lo + 1, hi);
	reference(e, text, 4, ref);
	return n;
}

static void lone_prompt_steps(const char *dir)
{
	static struct result ref, r;
	static char text[16384];
	struct ds_engine e;
	size_t n = long_prompt_setup(dir, 1100, 700, 512, 1024, text, sizeof text, &e, &ref);
	if (n == 0)
		return;
	e.n_cached = 0;     /* else the slot would find the prompt in the engine's cache, read just now */
	struct ds_sched *s = new_sched(&e, 1, 0, true);
	const long since = event_clock;     /* (handles start at 1 in every scheduler) */
	struct ds_sched_request q = completion(text, 4, &r);
	uint64_t h = submit(s, &q, &r);
	ds_sched_drain(s);
	ds_sched_free(s);
	int chunks = 0;
	for (long t = since + 1; t <= event_clock && t < MAX_LOG; t++)
		chunks += event_log[t].handle == h && event_log[t].chunk;
	CHECK(event_clock < MAX_LOG, "the event log is full (%ld events)", event_clock);
	check_shape(&r, "a lone long prompt");
	CHECK(chunks == 1, "a lone %zu-token prompt was read in %d steps, 2 wanted (512 tokens a step)", n,
	      chunks + 1);
	CHECK(strcmp(r.text, ref.text) == 0, "a lone long prompt's answer '%s' is not ds_generate's '%s'", r.text,
	      ref.text);
	ds_engine_close(&e);
}

/* A cancel while a lone prompt is being read: the step in flight stops between layers (ds_batch.stop)
 * when it lands there, or the next one ends the request; either way the request ends "cancel" with no
 * text, and the slot's cache keeps only what whole steps wrote: the same prompt asked next answers as
 * ds_generate does. (When the cancel lands is up to the threads; the answers do not depend on it. A
 * stopped step taken for a whole one, its rows marked cached, fails here.) */
static void cancel_mid_prompt(const char *dir)
{
	static struct result ref, r1, r2;
	static char text[32768];
	struct ds_engine e;
	if (long_prompt_setup(dir, 2100, 1600, 1536, 2048, text, sizeof text, &e, &ref) == 0)
		return;
	/* another prompt over the same cache rows, so that rows a stopped step left unwritten do not hold
	 * this prompt's values from the reference run */
	static struct result other;
	static char other_text[32768];
	prompt_of(&e, "while (p != NULL) { free(p->name); p = p->next; }\n", other_text, sizeof other_text, 1600);
	reference(&e, other_text, 1, &other);
	e.n_cached = 0;
	struct ds_sched *s = new_sched(&e, 1, 0, true);
	struct ds_sched_request q1 = completion(text, 4, &r1), q2 = completion(text, 4, &r2);
	uint64_t h = submit(s, &q1, &r1);
	/* the first 512 tokens are in: cancel while the next step runs */
	while (atomic_load(&r1.chunks) == 0 && !r1.done)
		sched_yield();
	ds_sched_cancel(s, h);
	ds_sched_drain(s);
	check_shape(&r1, "cancelled while reading its prompt");
	CHECK(r1.st.finish == DS_FINISH_CANCEL && r1.len == 0,
	      "cancelled while reading its prompt: finish %s with %zu bytes of text",
	      ds_finish_name(r1.st.finish), r1.len);
	submit(s, &q2, &r2);
	ds_sched_drain(s);
	ds_sched_free(s);
	check_shape(&r2, "the same prompt after the cancel");
	CHECK(strcmp(r2.text, ref.text) == 0, "the same prompt after a cancel answers '%s', not ds_generate's '%s'",
	      r2.text, ref.text);
	ds_engine_close(&e);
}

int main(int argc, char **argv)
{
	char dir[4096], err[1024];
	struct ds_engine e;

	if (!fix_have_models())
		return 77;
	snprintf(dir, sizeof dir, "%s/models/%s", fix_dir(), argc > 1 ? argv[1] : "tiny-ds2-full");
	if (ds_engine_open(&e, dir, 256, 2, NULL, NULL, err, sizeof err) != 0) {
		printf("FAIL: %s\n", err);
		return 1;
	}
	run_tests(&e, 1);
	run_tests(&e, 4);
	prefill_chunk = 3;          /* prompts read 3 tokens a step while the others decode */
	run_tests(&e, 3);
	prefill_chunk = 0;
	streams_flow(&e);
	ds_engine_close(&e);
	lone_prompt_steps(dir);
	/* the 27 random layers of the lite fixture: its answer depends on every cached row */
	snprintf(dir, sizeof dir, "%s/models/tiny-ds2-lite", fix_dir());
	cancel_mid_prompt(dir);
	if (fix_failures == 0)
		printf("test-sched: all passed\n");
	return fix_failures != 0;
}

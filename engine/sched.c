/* sched.c: the scheduler of engine/scheduler.h: continuous batching. Requests wait in a queue until a
 * slot (a sequence of the batch-shaped forward pass, with its own part of the KV cache) is free; every
 * step then runs one forward pass holding each decoding slot's next token and up to prefill_chunk
 * prompt tokens of the slots still reading their prompts, so long prompts do not stall running
 * streams. A slot keeps the ids of what its cache holds, and a new request goes to the free slot
 * that shares the longest prefix with it (the pipe service's prompt cache, per slot). Events go out
 * through each request's callback, on the loop's thread, never under the lock. */
#include "scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "clock.h"
#include "xalloc.h"

/* Prompt tokens per step when the options leave it at 0, while other slots decode: their next
 * tokens wait for the step, so it stays short. */
#define SCHED_PREFILL_CHUNK 256
/* ... and while no slot decodes (the pipe service's one slot, a server with one request): ds_generate's
 * chunk, so one slot reads a prompt as ds_generate does, at its speed (a step re-expands the K/V of
 * every position before it: 256-token steps read a 4,096-token prompt 20-25% slower). A cancel does
 * not wait for the step: step_stop ends it between layers. */
#define SCHED_PREFILL_ALONE 512

/* A request from submit to its last event. */
struct sched_req {
	uint64_t handle;
	int *ids;                   /* the formatted prompt */
	int n_ids;
	struct ds_sampling sampling;/* stop points into stop_copy */
	char **stop_copy;
	ds_sched_event_fn on_event;
	void *arg;
	atomic_bool cancel;
	struct sched_req *next;
};

/* A sequence of the batch: the part of the KV cache it owns, and the request it runs. */
struct slot {
	struct ds_sched *s;
	int index;                  /* the sequence id in ds_forward_batch */
	struct sched_req *r;        /* NULL: free (written under mu, so cancel can find it) */
	int *cached;                /* the ids whose latent rows sit in the slot, in order */
	int n_cached;
	int fed;                    /* r's prompt tokens in the cache */
	bool decoding;              /* the prompt is in; next is the token to feed at n_cached */
	int next;
	uint64_t order;             /* admission order: prompts are read first come, first served */
	int cur_id;                 /* the id whose text goes out now (-1: held-back text at the end) */
	struct ds_answer ans;
	struct ds_gen_stats st;
	double t0, t_first;
	int n_decoded;
};

struct ds_sched {
	struct ds_engine *e;
	struct ds_sched_opts o;     /* n_ctx and prefill_chunk filled in */
	int alone_chunk;            /* prompt tokens per step while no slot decodes */
	int vocab;

	struct slot *slots;         /* o.n_slots */
	uint64_t n_admitted;
	/* one step's batch: at most a token per slot plus prefill_chunk (alone_chunk) prompt tokens */
	int *b_tokens, *b_pos, *b_seq, *b_owner;
	int *step_slots, n_step_slots;  /* the slots with tokens in the step (n_slots room) */
	bool *b_want;
	float *logits;              /* (n_slots, vocab): the wanted rows of a step */

	pthread_mutex_t tok_mu;     /* the tokenizer's encoder (submit and count run on callers' threads) */

	/* Lock order: mu only; callbacks run without it (they may call ds_sched_cancel). */
	pthread_mutex_t mu;
	pthread_cond_t work;        /* the queue changed, or stopping */
	pthread_cond_t idle;        /* a request sent its last event */
	struct sched_req *head, *tail;  /* waiting, in arrival order */
	int n_queued;
	int n_pending;              /* submitted and not yet finished */
	atomic_int queued_cancels;  /* ds_sched_cancel found the handle in the queue */
	uint64_t next_handle;
	bool stopping;
	bool started;
	pthread_t thread;
};

/* ---- requests ------------------------------------------------------------------------------------ */

static void req_free(struct sched_req *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < r->sampling.n_stop; i++)
		free(r->stop_copy[i]);
	free(r->stop_copy);
	free(r->ids);
	free(r);
}

/* The prompt ids of r (caller frees *ids), under tok_mu. Returns -1 with a sentence when r lacks what
 * its input type needs. */
static int format_prompt(struct ds_sched *s, const struct ds_sched_request *r, int **ids, size_t *n, char *err,
			 size_t errlen)
{
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	switch (r->input) {
	case DS_SCHED_CHAT:
		if (r->n_messages < 0 || (r->n_messages > 0 && r->messages == NULL))
			return errorf(err, errlen, "a chat request needs its messages");
		for (int i = 0; i < r->n_messages; i++)
			if (r->messages[i].role == NULL || r->messages[i].content == NULL)
				return errorf(err, errlen, "message %d of the chat request has no role or no content", i);
		break;
	case DS_SCHED_COMPLETION:
		if (r->prompt == NULL)
			return errorf(err, errlen, "a completion request needs its prompt");
		break;
	case DS_SCHED_FIM:
		if (r->fim_prefix == NULL || r->fim_suffix == NULL)
			return errorf(err, errlen, "a fill-in-the-middle request needs its prefix and its suffix");
		break;
	default:
		return errorf(err, errlen, "unknown request input type %d", (int)r->input);
	}
	pthread_mutex_lock(&s->tok_mu);
	switch (r->input) {
	case DS_SCHED_CHAT:
		ds_prompt_chat(s->e->tok, r->messages, r->n_messages, ids, n, &cap);
		break;
	case DS_SCHED_COMPLETION:
		ds_prompt_completion(s->e->tok, r->prompt, ids, n, &cap);
		break;
	case DS_SCHED_FIM:
		ds_prompt_fim(s->e->tok, r->fim_prefix, r->fim_suffix, ids, n, &cap);
		break;
	}
	pthread_mutex_unlock(&s->tok_mu);
	return 0;
}

/* ---- events -------------------------------------------------------------------------------------- */

static void send_done(struct sched_req *r, const struct ds_gen_stats *st)
{
	struct ds_sched_event ev = { .type = DS_SCHED_DONE, .handle = r->handle, .stats = st, .token_id = -1 };
	r->on_event(&ev, r->arg);
}

static void send_error(struct sched_req *r, const char *message)
{
	struct ds_sched_event ev = { .type = DS_SCHED_ERROR, .handle = r->handle, .message = message,
				     .token_id = -1 };
	r->on_event(&ev, r->arg);
}

/* The DONE of a request that never ran (cancelled in the queue, or dropped at the end). */
static void send_dropped(struct sched_req *r)
{
	struct ds_gen_stats st = { .finish = DS_FINISH_CANCEL, .prompt_tokens = r->n_ids };
	send_done(r, &st);
}

/* After a request's last event: it no longer counts, and drain may return. */
static void finished(struct ds_sched *s, struct sched_req *r)
{
	pthread_mutex_lock(&s->mu);
	s->n_pending--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	req_free(r);
}

/* Unlinks the queued requests that were cancelled; the caller (the loop, without mu) answers them. */
static struct sched_req *take_cancelled_locked(struct ds_sched *s)
{
	struct sched_req *out = NULL, **pp = &s->head, *prev = NULL;

	while (*pp != NULL) {
		struct sched_req *r = *pp;
		if (atomic_load(&r->cancel) || s->stopping) {
			*pp = r->next;
			if (s->tail == r)
				s->tail = prev;
			s->n_queued--;
			r->next = out;
			out = r;
		} else {
			prev = r;
			pp = &r->next;
		}
	}
	return out;
}

static void answer_cancelled(struct ds_sched *s)
{
	pthread_mutex_lock(&s->mu);
	struct sched_req *list = take_cancelled_locked(s);
	pthread_mutex_unlock(&s->mu);
	while (list != NULL) {
		struct sched_req *next = list->next;
		send_dropped(list);
		finished(s, list);
		list = next;
	}
}

/* ---- slots ------------------------------------------------------------------------------------- */

static size_t common_prefix(const int *a, int na, const int *b, int nb)
{
	int i = 0;

	while (i < na && i < nb && a[i] == b[i])
		i++;
	return (size_t)i;
}

/* Gives queued requests the free slots, each the one whose cache shares the longest prefix with its
 * prompt. Returns the number of slots that got one; the loop starts them. */
static int admit_locked(struct ds_sched *s)
{
	int n = 0;

	while (s->head != NULL && !s->stopping) {
		struct sched_req *r = s->head;
		struct slot *best = NULL;
		size_t best_len = 0;

		for (int i = 0; i < s->o.n_slots; i++) {
			struct slot *sl = &s->slots[i];
			if (sl->r != NULL)
				continue;
			size_t len = common_prefix(sl->cached, sl->n_cached, r->ids, r->n_ids);
			if (best == NULL || len > best_len) {
				best = sl;
				best_len = len;
			}
		}
		if (best == NULL)
			break;
		s->head = r->next;
		if (s->head == NULL)
			s->tail = NULL;
		s->n_queued--;
		r->next = NULL;
		best->r = r;
		best->order = ++s->n_admitted;
		best->decoding = false;
		best->fed = -1;         /* not started */
		n++;
	}
	return n;
}

/* The request's last event has gone: the slot is free again (its cache stays for prefix reuse). */
static void release(struct ds_sched *s, struct slot *sl)
{
	struct sched_req *r = sl->r;

	if (sl->fed >= 0)
		ds_answer_free(&sl->ans);
	pthread_mutex_lock(&s->mu);
	sl->r = NULL;
	s->n_pending--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	req_free(r);
}

static int on_text(const char *text, size_t len, void *arg)
{
	struct slot *sl = arg;
	struct ds_sched_event ev = { .type = DS_SCHED_TOKEN, .handle = sl->r->handle, .text = text, .len = len,
				     .token_id = sl->cur_id };
	sl->r->on_event(&ev, sl->r->arg);
	/* a queued request cancelled meanwhile hears of it now, before this one's next event */
	if (atomic_exchange(&sl->s->queued_cancels, 0) > 0)
		answer_cancelled(sl->s);
	return atomic_load(&sl->r->cancel);
}

/* Ends the slot's request with finish f; flush: what was held back is text after all (an answer
 * that did not end on a stop string). */
static void finish(struct ds_sched *s, struct slot *sl, enum ds_finish f, bool flush)
{
	if (flush) {
		sl->cur_id = -1;
		if (ds_answer_flush(&sl->ans, on_text, sl) != 0)
			f = DS_FINISH_CANCEL;
	}
	sl->st.finish = f;
	sl->st.completion_tokens = sl->ans.n_tokens;
	double t = clock_now() - sl->t_first;
	sl->st.decode_tps = sl->n_decoded > 0 && t > 0 ? (double)sl->n_decoded / t : 0;
	send_done(sl->r, &sl->st);
	release(s, sl);
}

/* A newly admitted request: checked, then set to read its prompt after the cached prefix. Returns
 * false when it ended here (cancelled, invalid, or too long for the context). */
static bool start(struct ds_sched *s, struct slot *sl)
{
	struct sched_req *r = sl->r;
	char msg[256];

	memset(&sl->st, 0, sizeof sl->st);
	sl->st.prompt_tokens = r->n_ids;
	if (atomic_load(&r->cancel)) {
		send_dropped(r);
		release(s, sl);
		return false;
	}
	for (int i = 0; i < r->n_ids; i++)
		if (r->ids[i] < 0 || r->ids[i] >= s->vocab) {
			snprintf(msg, sizeof msg, "prompt id %d at position %d is outside the model's vocabulary [0, %d)",
				 r->ids[i], i, s->vocab);
			send_error(r, msg);
			release(s, sl);
			return false;
		}
	/* the prompt and at least one answer token must fit: never cut silently */
	if (r->n_ids >= s->o.n_ctx) {
		sl->st.finish = DS_FINISH_CONTEXT;
		sl->st.over_by = r->n_ids - s->o.n_ctx + 1;
		send_done(r, &sl->st);
		release(s, sl);
		return false;
	}
	/* the cached prefix stays; the last prompt token always runs again for its logits */
	int reuse = (int)common_prefix(sl->cached, sl->n_cached, r->ids, r->n_ids);
	if (reuse >= r->n_ids)
		reuse = r->n_ids - 1;
	sl->n_cached = reuse;
	sl->fed = reuse;
	sl->st.cached_tokens = reuse;
	sl->t0 = clock_now();
	sl->t_first = sl->t0;
	sl->n_decoded = 0;
	ds_answer_init(&sl->ans, s->e->tok, s->vocab, s->e->model.cfg.eos_token_id, &r->sampling, r->ids, r->n_ids,
		       s->o.n_ctx + 1);
	return true;
}

/* The logits of the slot's last fed token: the next id, its text, and whether the answer goes on. */
static void take_logits(struct ds_sched *s, struct slot *sl, float *logits)
{
	const struct ds_sampling *p = &sl->r->sampling;
	int id = ds_answer_pick(&sl->ans, logits);

	if (sl->ans.n_tokens == 0 && !sl->decoding) {
		sl->t_first = clock_now();
		sl->st.ttft_ms = (sl->t_first - sl->t0) * 1000.0;
		double t = sl->t_first - sl->t0;
		sl->st.prefill_tps = t > 0 ? (double)(sl->st.prompt_tokens - sl->st.cached_tokens) / t : 0;
	}
	sl->decoding = true;
	sl->cur_id = id;
	enum ds_answer_state as = ds_answer_add(&sl->ans, id, on_text, sl);
	if (as == DS_ANSWER_EOS)
		finish(s, sl, DS_FINISH_STOP, true);
	else if (as == DS_ANSWER_STOP)
		finish(s, sl, DS_FINISH_STOP, false);
	else if (as == DS_ANSWER_CANCEL)
		finish(s, sl, DS_FINISH_CANCEL, false);
	else if (p->max_tokens > 0 && sl->ans.n_tokens >= p->max_tokens)
		finish(s, sl, DS_FINISH_LENGTH, true);
	else if (sl->n_cached >= s->o.n_ctx)
		finish(s, sl, DS_FINISH_CONTEXT, true);
	else
		sl->next = id;
}

/* ---- the step ------------------------------------------------------------------------------------ */

/* Adds tokens[0..n) of slot sl at positions from pos to the step's batch. */
static int batch_add(struct ds_sched *s, int at, const struct slot *sl, const int *tokens, int n, int pos,
		     bool want_last)
{
	for (int j = 0; j < n; j++, at++) {
		s->b_tokens[at] = tokens[j];
		s->b_pos[at] = pos + j;
		s->b_seq[at] = sl->index;
		s->b_owner[at] = sl->index;
		s->b_want[at] = want_last && j == n - 1;
	}
	return at;
}

/* The step's stop (ds_batch.stop), asked before each layer: every request with tokens in the step is
 * cancelled (ds_sched_cancel, or the scheduler stopping), so nothing the step computes would be used,
 * and the cancel need not wait for the rest of a prompt step (seconds on a large model). */
static int step_stop(void *arg)
{
	const struct ds_sched *s = arg;
	for (int i = 0; i < s->n_step_slots; i++)
		if (!atomic_load(&s->slots[s->step_slots[i]].r->cancel))
			return 0;
	return 1;
}

/* One forward pass: every decoding slot's next token, then prompt tokens of the slots still reading
 * theirs (first admitted first) up to prefill_chunk. */
static void step(struct ds_sched *s)
{
	int n = 0;

	for (int i = 0; i < s->o.n_slots; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->r != NULL && atomic_load(&sl->r->cancel))
			finish(s, sl, DS_FINISH_CANCEL, false);
		else if (sl->r != NULL && sl->decoding)
			n = batch_add(s, n, sl, &sl->next, 1, sl->n_cached, true);
	}
	int budget = n == 0 ? s->alone_chunk : s->o.prefill_chunk;
	for (;;) {
		struct slot *first = NULL;
		for (int i = 0; i < s->o.n_slots; i++) {
			struct slot *sl = &s->slots[i];
			bool in = false;
			for (int t = 0; t < n && !in; t++)
				in = s->b_owner[t] == i;
			if (sl->r != NULL && !sl->decoding && !in && (first == NULL || sl->order < first->order))
				first = sl;
		}
		if (first == NULL || budget <= 0)
			break;
		int len = first->r->n_ids - first->fed < budget ? first->r->n_ids - first->fed : budget;
		n = batch_add(s, n, first, first->r->ids + first->fed, len, first->fed,
			      first->fed + len == first->r->n_ids);
		budget -= len;
	}
	if (n == 0)
		return;

	s->n_step_slots = 0;
	for (int t = 0; t < n; t++)
		if (t == 0 || s->b_owner[t] != s->b_owner[t - 1])
			s->step_slots[s->n_step_slots++] = s->b_owner[t];
	struct ds_batch b = { .n = n, .tokens = s->b_tokens, .pos = s->b_pos, .seq = s->b_seq,
			      .want_logits = s->b_want, .stop = step_stop, .stop_arg = s };
	int rc = ds_forward_batch(s->e->state, &b, s->logits);
	if (rc == 1)    /* all of it cancelled: the next step ends them; their caches keep what they had */
		return;
	if (rc != 0) {
		for (int i = 0; i < s->o.n_slots; i++) {
			struct slot *sl = &s->slots[i];
			bool in = false;
			for (int t = 0; t < n && !in; t++)
				in = s->b_owner[t] == i;
			if (in) {
				sl->n_cached = 0;
				send_error(sl->r, "generation failed: the forward pass rejected the batch");
				release(s, sl);
			}
		}
		return;
	}
	/* what the cache now holds */
	for (int t = 0; t < n; t++) {
		struct slot *sl = &s->slots[s->b_owner[t]];
		sl->cached[s->b_pos[t]] = s->b_tokens[t];
		sl->n_cached = s->b_pos[t] + 1;
		if (sl->decoding)
			sl->n_decoded++;
		else
			sl->fed = sl->n_cached;
	}
	for (int t = 0, row = 0; t < n; t++) {
		struct slot *sl = &s->slots[s->b_owner[t]];
		if (s->b_want[t])
			take_logits(s, sl, s->logits + (size_t)row++ * (size_t)s->vocab);
		else if (t + 1 == n || s->b_owner[t + 1] != s->b_owner[t])
		{
			/* a prompt read in part: an empty event, so a transport hears from its request at least
			 * once per chunk (a closed connection can cancel it) */
			sl->cur_id = -1;
			(void)on_text("", 0, sl);
		}
	}
}

static bool any_active(const struct ds_sched *s)
{
	for (int i = 0; i < s->o.n_slots; i++)
		if (s->slots[i].r != NULL)
			return true;
	return false;
}

static void *sched_main(void *arg)
{
	struct ds_sched *s = arg;

	for (;;) {
		answer_cancelled(s);
		pthread_mutex_lock(&s->mu);
		int admitted = admit_locked(s);
		bool active = any_active(s);
		if (!active && admitted == 0) {
			if (s->stopping && s->head == NULL) {
				pthread_mutex_unlock(&s->mu);
				break;
			}
			if (s->head == NULL)
				pthread_cond_wait(&s->work, &s->mu);
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		/* the slot pointers change under mu only; this thread is the only one that changes them */
		for (int i = 0; i < s->o.n_slots; i++)
			if (s->slots[i].r != NULL && s->slots[i].fed < 0)
				start(s, &s->slots[i]);
		step(s);
	}
	return NULL;
}

/* ---- interface ----------------------------------------------------------------------------------- */

struct ds_sched *ds_sched_new(struct ds_engine *e, const struct ds_sched_opts *o, char *err, size_t errlen)
{
	int engine_ctx = ds_state_n_ctx(e->state);
	bool kept;

	if (o->n_slots < 1) {
		errorf(err, errlen, "the scheduler needs at least one slot (got %d)", o->n_slots);
		return NULL;
	}
	if (o->n_ctx > engine_ctx) {
		errorf(err, errlen, "a context of %d tokens per slot is more than the engine's %d; ask for less",
		       o->n_ctx, engine_ctx);
		return NULL;
	}
	struct ds_sched *s = xcalloc(1, sizeof *s);
	s->e = e;
	s->o = *o;
	if (s->o.n_ctx <= 0)
		s->o.n_ctx = engine_ctx;
	s->alone_chunk = s->o.prefill_chunk > 0 ? s->o.prefill_chunk : SCHED_PREFILL_ALONE;
	if (s->o.prefill_chunk <= 0)
		s->o.prefill_chunk = SCHED_PREFILL_CHUNK;
	s->vocab = e->model.cfg.vocab_size;
	/* one slot keeps the engine's cache (and what ds_generate knows of it); more start empty */
	kept = ds_state_slots(e->state) == o->n_slots;
	if (ds_state_set_slots(e->state, o->n_slots, err, errlen) != 0) {
		e->n_cached = 0;
		free(s);
		return NULL;
	}
	s->slots = xcalloc((size_t)o->n_slots, sizeof *s->slots);
	for (int i = 0; i < o->n_slots; i++) {
		s->slots[i].s = s;
		s->slots[i].index = i;
		s->slots[i].cached = xcalloc((size_t)engine_ctx + 1, sizeof *s->slots[i].cached);
	}
	if (kept && e->n_cached > 0 && e->n_cached <= engine_ctx) {
		memcpy(s->slots[0].cached, e->cached, (size_t)e->n_cached * sizeof *e->cached);
		s->slots[0].n_cached = e->n_cached;
	}
	e->n_cached = 0;            /* the slots own the cache until ds_sched_free */
	size_t cap = (size_t)o->n_slots + (size_t)(s->o.prefill_chunk > s->alone_chunk ? s->o.prefill_chunk
										      : s->alone_chunk);
	s->b_tokens = xcalloc(cap, sizeof *s->b_tokens);
	s->b_pos = xcalloc(cap, sizeof *s->b_pos);
	s->b_seq = xcalloc(cap, sizeof *s->b_seq);
	s->b_owner = xcalloc(cap, sizeof *s->b_owner);
	s->step_slots = xcalloc((size_t)s->o.n_slots, sizeof *s->step_slots);
	s->b_want = xcalloc(cap, sizeof *s->b_want);
	s->logits = xcalloc((size_t)o->n_slots * (size_t)s->vocab, sizeof *s->logits);
	s->next_handle = 1;
	pthread_mutex_init(&s->tok_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	return s;
}

int ds_sched_start(struct ds_sched *s, char *err, size_t errlen)
{
	if (s->started)
		return errorf(err, errlen, "the scheduler is already running");
	if (pthread_create(&s->thread, NULL, sched_main, s) != 0)
		return errorf(err, errlen, "cannot start the scheduler's thread");
	s->started = true;
	return 0;
}

void ds_sched_free(struct ds_sched *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	for (int i = 0; i < s->o.n_slots; i++)
		if (s->slots[i].r != NULL)
			atomic_store(&s->slots[i].r->cancel, true);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->thread, NULL);
	/* never started: the queued requests still get their last event, here */
	answer_cancelled(s);
	/* slot 0's cache goes back to the engine's prompt cache (ds_generate uses slot 0) */
	struct ds_engine *e = s->e;
	if (s->slots[0].n_cached > 0 && s->slots[0].n_cached <= e->ids_cap) {
		memcpy(e->cached, s->slots[0].cached, (size_t)s->slots[0].n_cached * sizeof *e->cached);
		e->n_cached = s->slots[0].n_cached;
	}
	for (int i = 0; i < s->o.n_slots; i++)
		free(s->slots[i].cached);
	free(s->slots);
	free(s->b_tokens);
	free(s->b_pos);
	free(s->b_seq);
	free(s->b_owner);
	free(s->step_slots);
	free(s->b_want);
	free(s->logits);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->tok_mu);
	free(s);
}

uint64_t ds_sched_submit(struct ds_sched *s, const struct ds_sched_request *r, bool *busy, char *err,
			 size_t errlen)
{
	int *ids;
	size_t n;

	if (busy != NULL)
		*busy = false;
	if (r->on_event == NULL) {
		errorf(err, errlen, "a request needs an event callback");
		return 0;
	}
	if (r->sampling.n_stop < 0 || (r->sampling.n_stop > 0 && r->sampling.stop == NULL)) {
		errorf(err, errlen, "the request's stop strings are missing");
		return 0;
	}
	if (format_prompt(s, r, &ids, &n, err, errlen) != 0)
		return 0;
	if (n == 0) {
		free(ids);
		errorf(err, errlen, "the prompt is empty");
		return 0;
	}
	struct sched_req *q = xcalloc(1, sizeof *q);
	q->ids = ids;
	q->n_ids = (int)n;
	q->sampling = r->sampling;
	q->sampling.stop = NULL;
	q->sampling.n_stop = 0;
	if (r->sampling.n_stop > 0) {
		q->stop_copy = xcalloc((size_t)r->sampling.n_stop, sizeof *q->stop_copy);
		for (int i = 0; i < r->sampling.n_stop; i++)
			q->stop_copy[i] = xstrdup(r->sampling.stop[i] != NULL ? r->sampling.stop[i] : "");
		q->sampling.stop = q->stop_copy;
		q->sampling.n_stop = r->sampling.n_stop;
	}
	q->on_event = r->on_event;
	q->arg = r->arg;
	atomic_init(&q->cancel, false);

	pthread_mutex_lock(&s->mu);
	if (s->stopping || (s->o.max_queue > 0 && s->n_queued >= s->o.max_queue)) {
		bool stopping = s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (busy != NULL)
			*busy = !stopping;
		if (stopping)
			errorf(err, errlen, "the scheduler is shutting down");
		else
			errorf(err, errlen, "%d requests are already waiting; try again later", s->o.max_queue);
		req_free(q);
		return 0;
	}
	q->handle = s->next_handle++;
	if (s->tail != NULL)
		s->tail->next = q;
	else
		s->head = q;
	s->tail = q;
	s->n_queued++;
	s->n_pending++;
	uint64_t handle = q->handle;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	return handle;
}

void ds_sched_cancel(struct ds_sched *s, uint64_t handle)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->o.n_slots; i++)
		if (s->slots[i].r != NULL && s->slots[i].r->handle == handle)
			atomic_store(&s->slots[i].r->cancel, true);
	for (struct sched_req *r = s->head; r != NULL; r = r->next)
		if (r->handle == handle) {
			atomic_store(&r->cancel, true);
			atomic_fetch_add(&s->queued_cancels, 1);
			/* the loop answers it (on its thread), also while it waits for work */
			pthread_cond_broadcast(&s->work);
			break;
		}
	pthread_mutex_unlock(&s->mu);
}

int ds_sched_count(struct ds_sched *s, const struct ds_sched_request *r)
{
	int *ids;
	size_t n;
	char err[256];

	if (format_prompt(s, r, &ids, &n, err, sizeof err) != 0)
		return -1;
	free(ids);
	return (int)n;
}

void ds_sched_drain(struct ds_sched *s)
{
	pthread_mutex_lock(&s->mu);
	while (s->n_pending > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

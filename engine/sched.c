/* sched.c: the scheduler of engine/scheduler.h: a queue of requests, a step loop on a thread of its own,
 * cancels and events through each request's callback. This first form runs the requests one at a
 * time through ds_generate (its prompt cache included); the batched step loop replaces run_one. */
#include "scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

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

struct ds_sched {
	struct ds_engine *e;
	struct ds_sched_opts o;

	pthread_mutex_t tok_mu;     /* the tokenizer's encoder (submit and count run on callers' threads) */

	/* Lock order: mu only; callbacks run without it (they may call ds_sched_cancel). */
	pthread_mutex_t mu;
	pthread_cond_t work;        /* the queue changed, or stopping */
	pthread_cond_t idle;        /* a request sent its last event */
	struct sched_req *head, *tail;  /* waiting, in arrival order */
	int n_queued;
	struct sched_req *running;  /* the request ds_generate runs now */
	int n_pending;              /* submitted and not yet finished */
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

/* ---- running ------------------------------------------------------------------------------------- */

struct run_ctx {
	struct ds_sched *s;
	struct sched_req *r;
};

static int on_text(const char *text, size_t len, void *arg)
{
	struct run_ctx *c = arg;
	struct ds_sched_event ev = { .type = DS_SCHED_TOKEN, .handle = c->r->handle, .text = text, .len = len,
				     .token_id = -1 };
	c->r->on_event(&ev, c->r->arg);
	/* queued requests cancelled meanwhile hear of it now, not after this answer */
	answer_cancelled(c->s);
	return atomic_load(&c->r->cancel);
}

static void run_one(struct ds_sched *s, struct sched_req *r)
{
	struct run_ctx c = { .s = s, .r = r };
	struct ds_gen_stats st;
	char err[512], msg[600];

	if (atomic_load(&r->cancel)) {
		send_dropped(r);
		return;
	}
	if (ds_generate(s->e, r->ids, r->n_ids, &r->sampling, on_text, &c, &st, err, sizeof err) != 0) {
		snprintf(msg, sizeof msg, "generation failed: %s", err);
		send_error(r, msg);
		return;
	}
	send_done(r, &st);
}

static void *sched_main(void *arg)
{
	struct ds_sched *s = arg;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->stopping)
			pthread_cond_wait(&s->work, &s->mu);
		if (s->stopping && s->head == NULL) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		struct sched_req *r = s->head;
		s->head = r->next;
		if (s->head == NULL)
			s->tail = NULL;
		s->n_queued--;
		r->next = NULL;
		if (s->stopping)
			atomic_store(&r->cancel, true);
		s->running = r;
		pthread_mutex_unlock(&s->mu);

		run_one(s, r);

		pthread_mutex_lock(&s->mu);
		s->running = NULL;
		pthread_mutex_unlock(&s->mu);
		finished(s, r);
	}
	return NULL;
}

/* ---- interface ----------------------------------------------------------------------------------- */

struct ds_sched *ds_sched_new(struct ds_engine *e, const struct ds_sched_opts *o, char *err, size_t errlen)
{
	int engine_ctx = ds_state_n_ctx(e->state);

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
	if (s->running != NULL)
		atomic_store(&s->running->cancel, true);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->thread, NULL);
	/* never started: the queued requests still get their last event, here */
	answer_cancelled(s);
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
	if (s->running != NULL && s->running->handle == handle)
		atomic_store(&s->running->cancel, true);
	for (struct sched_req *r = s->head; r != NULL; r = r->next)
		if (r->handle == handle) {
			atomic_store(&r->cancel, true);
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

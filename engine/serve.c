/* serve.c: the engine's pipe service, a thin transport over the scheduler (engine/scheduler.h) with
 * one slot: a reader thread parses request lines, answers count and cancel at once and submits
 * generate requests, whose events the scheduler's thread writes; the main thread waits for the end
 * (EOF with nothing left, shutdown, a signal, a dead stdout); a signal thread turns SIGTERM/SIGINT
 * into a clean stop. Every stdout line is written whole under one mutex. */
#include "serve.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "generate.h"
#include "protocol.h"
#include "scheduler.h"
#include "xalloc.h"

/* A generate request from submit to its last event. */
struct job {
	struct serve *s;
	struct ds_proto_request req;
	uint64_t handle;            /* the scheduler's */
	struct job *next;
};

struct serve {
	const struct ds_serve_opts *opts;
	struct ds_engine e;

	pthread_mutex_t out_mu;     /* one writer of stdout at a time: lines never interleave */
	atomic_bool out_dead;       /* a write failed (EPIPE): nobody reads our answers any more */

	struct ds_serve_backend b;  /* the local scheduler (one slot: requests run one at a time, in
	                             * order) or a remote server */
	bool local;                 /* b is the scheduler over e */
	bool live;                  /* b takes requests; false once the end has begun (under mu) */
	struct ds_proto_model_info info;    /* the ready event's; n_ctx for counts and messages */

	/* Lock order: mu before out_mu (and before the scheduler's own locks). */
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* the jobs or a flag below changed */
	struct job *jobs;           /* submitted and not yet answered */
	bool loading;               /* a signal now exits at once: there is nothing to finish */
	bool eof;                   /* stdin ended (or the reader stopped): drain the queue, then exit */
	bool shutdown;              /* shutdown request: cancel everything, exit */
	bool term;                  /* SIGTERM/SIGINT: as shutdown */

	int wake[2];                /* writing to wake[1] stops the reader */
	int last_percent;           /* of the last loading event */
	uint64_t last_done;
};

/* ---- output ------------------------------------------------------------------------------------- */

/* Writes one encoded line (taking ownership). After a failed write everything is dropped: the
 * reader of our stdout is gone, and the threads notice out_dead and wind down. */
static void put_line(struct serve *s, char *line, size_t len)
{
	pthread_mutex_lock(&s->out_mu);
	for (size_t off = 0; off < len && !atomic_load(&s->out_dead);) {
		ssize_t w = write(STDOUT_FILENO, line + off, len - off);

		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno == EINTR)
			continue;
		else
			atomic_store(&s->out_dead, true);
	}
	pthread_mutex_unlock(&s->out_mu);
	free(line);
}

static void put_event(struct serve *s, const struct ds_proto_event *ev)
{
	size_t len;
	char *line = ds_proto_encode_event(ev, &len);

	put_line(s, line, len);
}

static void put_error(struct serve *s, const struct ds_proto_id *id, const char *message)
{
	struct ds_proto_event ev = { .type = DS_EV_ERROR, .message = (char *)message };

	if (id)
		ev.id = *id;
	put_event(s, &ev);
}

/* The answer to a request that never ran: a queued one cancelled, or dropped at shutdown. */
static void put_cancelled(struct serve *s, const struct ds_proto_id *id)
{
	struct ds_proto_event ev = { .type = DS_EV_DONE, .id = *id, .finish = DS_PROTO_FINISH_CANCEL };

	put_event(s, &ev);
}

/* ---- loading ------------------------------------------------------------------------------------ */

/* Loading events at each whole percent (the loader reports in steps of at most 1/64), so the TUI
 * sees progress at least every 5% without a flood of lines. */
static void on_progress(uint64_t done, uint64_t total, void *arg)
{
	struct serve *s = arg;
	int percent = total > 0 ? (int)(done * 100 / total) : 100;

	/* A count that goes back is the next phase (mapping the files, then copying the weights to the
	 * GPUs): its events must not be held back as repeats of the 100% already reported. */
	if (done < s->last_done)
		s->last_percent = -1;
	if (percent <= s->last_percent && (done != total || s->last_done == total))
		return;
	s->last_percent = percent;
	s->last_done = done;
	put_event(s, &(struct ds_proto_event){ .type = DS_EV_LOADING, .done = done, .total = total });
}

/* ---- requests ----------------------------------------------------------------------------------- */

/* The scheduler's request for r (pointing into r and into *msgs, which the caller frees). */
static void sched_request(const struct ds_proto_request *r, struct ds_message **msgs, struct ds_sched_request *q)
{
	memset(q, 0, sizeof *q);
	*msgs = NULL;
	switch (r->input) {
	case DS_INPUT_CHAT:
		*msgs = xcalloc((size_t)r->n_messages + 1, sizeof **msgs);
		for (int i = 0; i < r->n_messages; i++)
			(*msgs)[i] = (struct ds_message){ .role = r->messages[i].role,
							  .content = r->messages[i].content };
		q->input = DS_SCHED_CHAT;
		q->messages = *msgs;
		q->n_messages = r->n_messages;
		break;
	case DS_INPUT_COMPLETION:
		q->input = DS_SCHED_COMPLETION;
		q->prompt = r->prompt;
		break;
	case DS_INPUT_FIM:
		q->input = DS_SCHED_FIM;
		q->fim_prefix = r->fim_prefix;
		q->fim_suffix = r->fim_suffix;
		break;
	}
}

static void answer_count(struct serve *s, const struct ds_proto_request *r)
{
	struct ds_sched_request q;
	struct ds_message *msgs;

	sched_request(r, &msgs, &q);
	bool estimate = false;
	pthread_mutex_lock(&s->mu);
	int n = s->live ? s->b.count(s->b.ctx, &q, &estimate) : -1;
	pthread_mutex_unlock(&s->mu);
	free(msgs);
	if (n < 0) {
		put_error(s, &r->id, "the request cannot be formatted as a prompt");
		return;
	}
	put_event(s, &(struct ds_proto_event){ .type = DS_EV_COUNT, .id = r->id, .tokens = n,
					       .n_ctx = s->info.n_ctx, .estimate = estimate });
}

static struct job *find_job(const struct serve *s, const struct ds_proto_id *id)
{
	for (struct job *j = s->jobs; j; j = j->next)
		if (ds_proto_id_equal(&j->req.id, id))
			return j;
	return NULL;
}

static void sampling_from_request(const struct ds_proto_sampling *r, struct ds_sampling *p);
static void on_sched_event(const struct ds_sched_event *ev, void *arg);

/* Takes ownership of r. The lock is held across submit so the job is listed before its first event. */
static void enqueue(struct serve *s, struct ds_proto_request *r)
{
	char err[512];

	pthread_mutex_lock(&s->mu);
	if (find_job(s, &r->id) != NULL) {
		char id[64], msg[160];

		ds_proto_id_format(&r->id, id, sizeof id);
		snprintf(msg, sizeof msg,
			 "id %s is already queued or running; give each request its own id", id);
		put_error(s, &r->id, msg);
		pthread_mutex_unlock(&s->mu);
		ds_proto_request_free(r);
		return;
	}
	if (!s->live || s->shutdown || s->term || atomic_load(&s->out_dead)) {
		/* the end has begun: answered as a request dropped from the queue */
		put_cancelled(s, &r->id);
		pthread_mutex_unlock(&s->mu);
		ds_proto_request_free(r);
		return;
	}
	struct job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->req = *r;
	memset(r, 0, sizeof *r);

	struct ds_sched_request q;
	struct ds_message *msgs;
	sched_request(&j->req, &msgs, &q);
	sampling_from_request(&j->req.sampling, &q.sampling);
	/* the space after the template's "Assistant:" is the template's: the TUI stores the answer without
	 * it, so the next turn's prompt is the same ids (as --generate and --serve answer) */
	q.sampling.trim_leading_space = q.input == DS_SCHED_CHAT;
	q.on_event = on_sched_event;
	q.arg = j;
	j->handle = s->b.submit(s->b.ctx, &q, NULL, err, sizeof err);
	free(msgs);
	if (j->handle == 0) {
		put_error(s, &j->req.id, err);
		ds_proto_request_free(&j->req);
		free(j);
	} else {
		j->next = s->jobs;
		s->jobs = j;
	}
	pthread_mutex_unlock(&s->mu);
}

/* Cancel: the running request stops at its next token (its done event says "cancel"); a queued one
 * is answered with done "cancel" before the running one's next event. An id that is neither
 * (typically one that has just finished) is ignored. */
static void cancel(struct serve *s, const struct ds_proto_id *id)
{
	pthread_mutex_lock(&s->mu);
	struct job *j = find_job(s, id);
	if (j != NULL && s->live)
		s->b.cancel(s->b.ctx, j->handle);
	pthread_mutex_unlock(&s->mu);
}

static bool blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}

/* Handles one line from stdin. Returns false when the reader should stop (shutdown). */
static bool handle_line(struct serve *s, const char *line, size_t len)
{
	struct ds_proto_request r;
	char err[512];

	if (blank(line, len))
		return true;
	if (ds_proto_parse_request(line, len, &r, err, sizeof err) < 0) {
		put_error(s, &r.id, err);
		ds_proto_request_free(&r);
		return true;
	}
	switch (r.op) {
	case DS_OP_GENERATE:
		enqueue(s, &r);
		return true;
	case DS_OP_COUNT:
		answer_count(s, &r);
		break;
	case DS_OP_CANCEL:
		cancel(s, &r.id);
		break;
	case DS_OP_SHUTDOWN:
		pthread_mutex_lock(&s->mu);
		s->shutdown = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		ds_proto_request_free(&r);
		return false;
	}
	ds_proto_request_free(&r);
	return true;
}

static void *reader_main(void *arg)
{
	struct serve *s = arg;
	struct ds_proto_lines lines;
	static char buf[1 << 16];
	bool go = true;
	char *line;
	size_t len;
	int rc;

	ds_proto_lines_init(&lines, DS_PROTO_MAX_LINE);
	while (go && !atomic_load(&s->out_dead)) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
				       { .fd = s->wake[0], .events = POLLIN } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		n = read(STDIN_FILENO, buf, sizeof buf);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			/* EOF (or a read error, which ends the input just the same): a last line without
			 * its newline still counts. */
			if (ds_proto_lines_finish(&lines, &line, &len) == 1)
				handle_line(s, line, len);
			break;
		}
		ds_proto_lines_feed(&lines, buf, (size_t)n);
		while (go && (rc = ds_proto_lines_next(&lines, &line, &len)) != 0) {
			if (rc < 0)
				put_error(s, NULL, "a request line is longer than 16 MiB; it was skipped");
			else
				go = handle_line(s, line, len);
		}
	}
	ds_proto_lines_free(&lines);
	pthread_mutex_lock(&s->mu);
	s->eof = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- signals ------------------------------------------------------------------------------------ */

static void *signal_main(void *arg)
{
	struct serve *s = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		pthread_mutex_lock(&s->mu);
		/* While loading there is nothing to finish; a second signal means "now". */
		if (s->loading || s->term)
			_exit(0);
		s->term = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* ---- events ------------------------------------------------------------------------------------ */

static enum ds_proto_finish proto_finish(enum ds_finish f)
{
	switch (f) {
	case DS_FINISH_STOP: return DS_PROTO_FINISH_STOP;
	case DS_FINISH_LENGTH: return DS_PROTO_FINISH_LENGTH;
	case DS_FINISH_CANCEL: return DS_PROTO_FINISH_CANCEL;
	case DS_FINISH_CONTEXT: return DS_PROTO_FINISH_CONTEXT;
	}
	return DS_PROTO_FINISH_STOP;
}

static void sampling_from_request(const struct ds_proto_sampling *r, struct ds_sampling *p)
{
	ds_sampling_defaults(p);
	if (r->set & DS_SAMPLE_MAX_TOKENS)
		p->max_tokens = r->max_tokens;
	if (r->set & DS_SAMPLE_TEMPERATURE)
		p->temperature = (float)r->temperature;
	if (r->set & DS_SAMPLE_TOP_K)
		p->top_k = r->top_k;
	if (r->set & DS_SAMPLE_TOP_P)
		p->top_p = (float)r->top_p;
	if (r->set & DS_SAMPLE_MIN_P)
		p->min_p = (float)r->min_p;
	if (r->set & DS_SAMPLE_REPETITION_PENALTY)
		p->repetition_penalty = (float)r->repetition_penalty;
	p->seed = r->set & DS_SAMPLE_SEED ? r->seed : ds_random_seed();
	if (r->set & DS_SAMPLE_STOP) {
		p->stop = r->stop;
		p->n_stop = r->n_stop;
	}
}

/* The scheduler's events as protocol lines; on the scheduler's thread. */
static void on_sched_event(const struct ds_sched_event *ev, void *arg)
{
	struct job *j = arg;
	struct serve *s = j->s;
	char msg[256];

	switch (ev->type) {
	case DS_SCHED_TOKEN:
		if (ev->len > 0)
			put_event(s, &(struct ds_proto_event){ .type = DS_EV_TOKEN, .id = j->req.id,
							       .text = (char *)ev->text, .text_len = ev->len });
		/* nobody reads the answers any more: stop (the main thread ends the service) */
		if (atomic_load(&s->out_dead)) {
			pthread_mutex_lock(&s->mu);
			if (s->live)
				s->b.cancel(s->b.ctx, ev->handle);
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
		}
		return;
	case DS_SCHED_ERROR:
		fprintf(stderr, "dscoder-engine: %s\n", ev->message);
		put_error(s, &j->req.id, ev->message);
		break;
	case DS_SCHED_DONE: {
		const struct ds_gen_stats *st = ev->stats;
		struct ds_proto_event out = {
			.type = DS_EV_DONE, .id = j->req.id, .finish = proto_finish(st->finish),
			.prompt_tokens = st->prompt_tokens, .completion_tokens = st->completion_tokens,
			.cached_tokens = st->cached_tokens, .over_by = st->over_by,
			.ttft_ms = st->ttft_ms, .prefill_tps = st->prefill_tps, .decode_tps = st->decode_tps,
		};
		int n_ctx = s->info.n_ctx;
		if (st->finish == DS_FINISH_CONTEXT && st->over_by > 0) {
			snprintf(msg, sizeof msg, "the prompt has %d tokens and the context holds %d with room for "
				 "at least one answer token: it is %d tokens over; drop earlier turns or start the "
				 "engine with a larger --ctx", st->prompt_tokens, n_ctx, st->over_by);
			out.message = msg;
		} else if (st->finish == DS_FINISH_CONTEXT) {
			snprintf(msg, sizeof msg, "the answer filled the context of %d tokens", n_ctx);
			out.message = msg;
		}
		put_event(s, &out);
		break;
	}
	}
	/* the last event: the job is answered */
	pthread_mutex_lock(&s->mu);
	for (struct job **pp = &s->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	ds_proto_request_free(&j->req);
	free(j);
}

/* Waits for the end: EOF with every job answered, shutdown, a signal or a dead stdout; then stops
 * the scheduler: the running request ends with finish "cancel" at its next token, then the queued
 * ones, in order. */
static void serve_wait(struct serve *s)
{
	pthread_mutex_lock(&s->mu);
	while (!(s->eof && s->jobs == NULL) && !s->shutdown && !s->term && !atomic_load(&s->out_dead))
		pthread_cond_wait(&s->cv, &s->mu);
	s->live = false;            /* the reader submits no more */
	pthread_mutex_unlock(&s->mu);
	s->b.close(s->b.ctx);
}

/* ---- entry -------------------------------------------------------------------------------------- */

/* The local model behind the backend table: the scheduler's calls as they are. */
static uint64_t local_submit(void *ctx, const struct ds_sched_request *r, bool *busy, char *err, size_t errlen)
{
	return ds_sched_submit(ctx, r, busy, err, errlen);
}

static void local_cancel(void *ctx, uint64_t handle)
{
	ds_sched_cancel(ctx, handle);
}

static int local_count(void *ctx, const struct ds_sched_request *r, bool *estimate)
{
	*estimate = false;
	return ds_sched_count(ctx, r);
}

static void local_drain(void *ctx)
{
	ds_sched_drain(ctx);
}

static void local_close(void *ctx)
{
	ds_sched_free(ctx);
}

/* Opens the model and its one-slot scheduler; the ready event's figures. Returns 0, or -1 with the
 * error already reported (stderr and an error event). */
static int open_local(struct serve *s, const struct ds_serve_opts *o)
{
	char err[512];

	if (ds_engine_open(&s->e, o->model_dir, o->n_ctx, o->n_threads, on_progress, s, err, sizeof err) < 0)
		goto fail;
	if (o->place_state != NULL &&
	    o->place_state(o->place_arg, &s->e.model, &s->e.state, on_progress, s, err, sizeof err) != 0) {
		ds_engine_close(&s->e);
		goto fail;
	}
	/* one slot: the TUI's conversation, one request at a time, with the prompt cache */
	struct ds_sched_opts so = { .n_slots = 1 };
	struct ds_sched *sched = ds_sched_new(&s->e, &so, err, sizeof err);
	if (sched == NULL || ds_sched_start(sched, err, sizeof err) != 0) {
		ds_sched_free(sched);
		ds_engine_close(&s->e);
		goto fail;
	}
	s->b = (struct ds_serve_backend){ .ctx = sched, .submit = local_submit, .cancel = local_cancel,
					  .count = local_count, .drain = local_drain, .close = local_close };
	s->local = true;
	s->info = (struct ds_proto_model_info){
		.name = s->e.model.name, .path = (char *)o->model_dir,
		.n_ctx = ds_state_n_ctx(s->e.state), .vocab_size = s->e.model.cfg.vocab_size,
		.parameters = s->e.model.n_params,
		.backend = (char *)(o->backend_name != NULL ? o->backend_name : ds_state_backend(s->e.state)),
		.threads = ds_state_threads(s->e.state),
	};
	return 0;
fail:
	fprintf(stderr, "dscoder-engine: %s\n", err);
	put_error(s, NULL, err);
	return -1;
}

int ds_serve(const struct ds_serve_opts *o)
{
	static struct serve srv;    /* static: the signal thread may outlive this call by a moment */
	struct serve *s = &srv;
	pthread_t reader, sigthread;
	sigset_t set;
	char err[512];
	int rc;

	memset(s, 0, sizeof *s);
	s->opts = o;
	s->last_percent = -1;
	s->loading = true;
	pthread_mutex_init(&s->out_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pipe(s->wake) < 0)
		fatal("cannot create a pipe: %s", strerror(errno));

	/* A closed stdout shows up as EPIPE from write(), not as a fatal signal. SIGTERM/SIGINT are
	 * blocked in every thread (the loader's worker threads inherit the mask) and taken by
	 * signal_main, so they can never interrupt a half-written line. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&sigthread, NULL, signal_main, s) != 0)
		fatal("cannot start the signal thread");

	if (o->open_backend != NULL) {
		if (o->open_backend(o->open_arg, &s->b, &s->info, err, sizeof err) != 0) {
			fprintf(stderr, "dscoder-engine: %s\n", err);
			put_error(s, NULL, err);
			return 1;
		}
	} else if (open_local(s, o) != 0) {
		return 1;
	}
	pthread_mutex_lock(&s->mu);
	s->live = true;
	s->loading = false;
	pthread_mutex_unlock(&s->mu);
	put_event(s, &(struct ds_proto_event){ .type = DS_EV_READY, .protocol = DS_PROTO_VERSION, .model = s->info });

	if (pthread_create(&reader, NULL, reader_main, s) != 0)
		fatal("cannot start the reader thread");
	serve_wait(s);

	/* Stop the reader (it may sit in poll) before the tokenizer it uses goes away. */
	while (write(s->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(reader, NULL);
	pthread_mutex_lock(&s->mu);
	pthread_cancel(sigthread);  /* it waits in sigwait (a cancellation point) without locks */
	pthread_mutex_unlock(&s->mu);
	pthread_join(sigthread, NULL);
	if (s->local)
		ds_engine_close(&s->e);
	close(s->wake[0]);
	close(s->wake[1]);
	rc = 0;
	return rc;
}

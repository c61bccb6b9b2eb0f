/* serve.c: the engine's pipe service: a reader thread parses request lines, answers count and cancel
 * at once and queues generate requests, which the main thread runs one at a time; a signal thread
 * turns SIGTERM/SIGINT into a clean stop. Every stdout line is written whole under one mutex. */
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
#include "xalloc.h"

/* A generate request waiting in the queue or running. */
struct job {
	struct ds_proto_request req;
	struct job *next;
};

struct serve {
	const struct ds_serve_opts *opts;
	struct ds_engine e;

	pthread_mutex_t out_mu;     /* one writer of stdout at a time: lines never interleave */
	atomic_bool out_dead;       /* a write failed (EPIPE): nobody reads our answers any more */

	pthread_mutex_t tok_mu;     /* the tokenizer: encoding may use internal caches */

	/* Lock order: mu before out_mu and tok_mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* the queue or a flag below changed */
	struct job *head, *tail;    /* queued generate requests, in arrival order */
	struct job *current;        /* the running one */
	atomic_int cancel;          /* stop the running generation at its next token */
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

/* The prompt ids of a generate or count request (caller frees *ids). Holds tok_mu while encoding. */
static void build_prompt(struct serve *s, const struct ds_proto_request *r, int **ids, size_t *n)
{
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&s->tok_mu);
	switch (r->input) {
	case DS_INPUT_CHAT: {
		struct ds_message *m = xcalloc((size_t)r->n_messages, sizeof *m);

		for (int i = 0; i < r->n_messages; i++)
			m[i] = (struct ds_message){ .role = r->messages[i].role,
						    .content = r->messages[i].content };
		ds_prompt_chat(s->e.tok, m, r->n_messages, ids, n, &cap);
		free(m);
		break;
	}
	case DS_INPUT_COMPLETION:
		ds_prompt_completion(s->e.tok, r->prompt, ids, n, &cap);
		break;
	case DS_INPUT_FIM:
		ds_prompt_fim(s->e.tok, r->fim_prefix, r->fim_suffix, ids, n, &cap);
		break;
	}
	pthread_mutex_unlock(&s->tok_mu);
}

static void answer_count(struct serve *s, const struct ds_proto_request *r)
{
	int *ids;
	size_t n;

	build_prompt(s, r, &ids, &n);
	free(ids);
	put_event(s, &(struct ds_proto_event){ .type = DS_EV_COUNT, .id = r->id, .tokens = (int)n,
					       .n_ctx = ds_state_n_ctx(s->e.state) });
}

static bool id_busy(const struct serve *s, const struct ds_proto_id *id)
{
	if (s->current && ds_proto_id_equal(&s->current->req.id, id))
		return true;
	for (const struct job *j = s->head; j; j = j->next)
		if (ds_proto_id_equal(&j->req.id, id))
			return true;
	return false;
}

/* Takes ownership of r. */
static void enqueue(struct serve *s, struct ds_proto_request *r)
{
	struct job *j;

	pthread_mutex_lock(&s->mu);
	if (id_busy(s, &r->id)) {
		char id[64], msg[160];

		ds_proto_id_format(&r->id, id, sizeof id);
		snprintf(msg, sizeof msg,
			 "id %s is already queued or running; give each request its own id", id);
		put_error(s, &r->id, msg);
		pthread_mutex_unlock(&s->mu);
		ds_proto_request_free(r);
		return;
	}
	j = xcalloc(1, sizeof *j);
	j->req = *r;
	memset(r, 0, sizeof *r);
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Cancel: the running request stops at its next token (its done event says "cancel"); a queued one
 * is answered here. An id that is neither (typically one that has just finished) is ignored. */
static void cancel(struct serve *s, const struct ds_proto_id *id)
{
	pthread_mutex_lock(&s->mu);
	if (s->current && ds_proto_id_equal(&s->current->req.id, id)) {
		atomic_store(&s->cancel, 1);
	} else {
		struct job **pp = &s->head, *prev = NULL;

		for (; *pp; prev = *pp, pp = &(*pp)->next)
			if (ds_proto_id_equal(&(*pp)->req.id, id)) {
				struct job *j = *pp;

				*pp = j->next;
				if (s->tail == j)
					s->tail = prev;
				put_cancelled(s, &j->req.id);
				ds_proto_request_free(&j->req);
				free(j);
				break;
			}
	}
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
		atomic_store(&s->cancel, 1);
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
		atomic_store(&s->cancel, 1);
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* ---- generation --------------------------------------------------------------------------------- */

struct stream_ctx {
	struct serve *s;
	const struct ds_proto_id *id;
};

static int on_text(const char *text, size_t len, void *arg)
{
	struct stream_ctx *c = arg;

	if (len > 0)
		put_event(c->s, &(struct ds_proto_event){ .type = DS_EV_TOKEN, .id = *c->id,
							  .text = (char *)text, .text_len = len });
	return atomic_load(&c->s->cancel) || atomic_load(&c->s->out_dead);
}

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

static void run_job(struct serve *s, struct job *j)
{
	struct stream_ctx c = { .s = s, .id = &j->req.id };
	struct ds_gen_stats st;
	struct ds_sampling p;
	char err[512], msg[256];
	int *ids;
	size_t n;

	build_prompt(s, &j->req, &ids, &n);
	sampling_from_request(&j->req.sampling, &p);
	if (atomic_load(&s->cancel)) {
		/* Cancelled between leaving the queue and starting: nothing was computed. */
		free(ids);
		put_cancelled(s, &j->req.id);
		return;
	}
	if (ds_generate(&s->e, ids, (int)n, &p, on_text, &c, &st, err, sizeof err) < 0) {
		char text[600];

		snprintf(text, sizeof text, "generation failed: %s", err);
		fprintf(stderr, "dscoder-engine: %s\n", text);
		put_error(s, &j->req.id, text);
		free(ids);
		return;
	}
	free(ids);
	struct ds_proto_event ev = {
		.type = DS_EV_DONE, .id = j->req.id, .finish = proto_finish(st.finish),
		.prompt_tokens = st.prompt_tokens, .completion_tokens = st.completion_tokens,
		.cached_tokens = st.cached_tokens, .over_by = st.over_by,
		.ttft_ms = st.ttft_ms, .prefill_tps = st.prefill_tps, .decode_tps = st.decode_tps,
	};
	if (st.finish == DS_FINISH_CONTEXT && st.over_by > 0) {
		int n_ctx = ds_state_n_ctx(s->e.state);

		snprintf(msg, sizeof msg, "the prompt has %d tokens and the context holds %d with room for "
			 "at least one answer token: it is %d tokens over; drop earlier turns or start the "
			 "engine with a larger --ctx", st.prompt_tokens, n_ctx, st.over_by);
		ev.message = msg;
	} else if (st.finish == DS_FINISH_CONTEXT) {
		snprintf(msg, sizeof msg, "the answer filled the context of %d tokens",
			 ds_state_n_ctx(s->e.state));
		ev.message = msg;
	}
	put_event(s, &ev);
}

/* Runs queued requests in order until shutdown, a signal, EOF with an empty queue, or a dead stdout. */
static void serve_loop(struct serve *s)
{
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct job *j;

		while (!s->head && !s->eof && !s->shutdown && !s->term && !atomic_load(&s->out_dead))
			pthread_cond_wait(&s->cv, &s->mu);
		if (atomic_load(&s->out_dead))
			break;
		if (s->shutdown || s->term) {
			while ((j = s->head)) {
				s->head = j->next;
				put_cancelled(s, &j->req.id);
				ds_proto_request_free(&j->req);
				free(j);
			}
			s->tail = NULL;
			break;
		}
		if (!s->head)
			break;          /* EOF and nothing left to answer */
		j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		s->current = j;
		atomic_store(&s->cancel, 0);
		pthread_mutex_unlock(&s->mu);

		run_job(s, j);

		pthread_mutex_lock(&s->mu);
		s->current = NULL;
		ds_proto_request_free(&j->req);
		free(j);
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- entry -------------------------------------------------------------------------------------- */

static void put_ready(struct serve *s)
{
	struct ds_proto_event ev = {
		.type = DS_EV_READY, .protocol = DS_PROTO_VERSION,
		.model = {
			.name = s->e.model.name, .path = (char *)s->opts->model_dir,
			.n_ctx = ds_state_n_ctx(s->e.state), .vocab_size = s->e.model.cfg.vocab_size,
			.parameters = s->e.model.n_params, .backend = (char *)(s->opts->backend_name != NULL ? s->opts->backend_name
							      : ds_state_backend(s->e.state)),
			.threads = ds_state_threads(s->e.state),
		},
	};

	put_event(s, &ev);
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
	pthread_mutex_init(&s->tok_mu, NULL);
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

	if (ds_engine_open(&s->e, o->model_dir, o->n_ctx, o->n_threads, on_progress, s, err,
			   sizeof err) < 0) {
		fprintf(stderr, "dscoder-engine: %s\n", err);
		put_error(s, NULL, err);
		return 1;
	}
	if (o->place_state != NULL &&
	    o->place_state(o->place_arg, &s->e.model, &s->e.state, on_progress, s, err, sizeof err) != 0) {
		fprintf(stderr, "dscoder-engine: %s\n", err);
		put_error(s, NULL, err);
		ds_engine_close(&s->e);
		return 1;
	}
	pthread_mutex_lock(&s->mu);
	s->loading = false;
	pthread_mutex_unlock(&s->mu);
	put_ready(s);

	if (pthread_create(&reader, NULL, reader_main, s) != 0)
		fatal("cannot start the reader thread");
	serve_loop(s);

	/* Stop the reader (it may sit in poll) before the tokenizer it uses goes away. */
	while (write(s->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(reader, NULL);
	pthread_mutex_lock(&s->mu);
	pthread_cancel(sigthread);  /* it waits in sigwait (a cancellation point) without locks */
	pthread_mutex_unlock(&s->mu);
	pthread_join(sigthread, NULL);
	for (struct job *j = s->head, *next; j; j = next) {
		next = j->next;
		ds_proto_request_free(&j->req);
		free(j);
	}
	ds_engine_close(&s->e);
	close(s->wake[0]);
	close(s->wake[1]);
	rc = 0;
	return rc;
}

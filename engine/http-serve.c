/* http-serve.c: the OpenAI-compatible HTTP server on libmicrohttpd. Each connection has a thread of
 * its own (MHD_USE_THREAD_PER_CONNECTION), so a request's thread may simply wait for its scheduler
 * events; while it waits it looks at its socket, and a client that went away cancels its request. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http-job.h"
#include "http-serve.h"
#include "openai-api.h"
#include "xalloc.h"

#define STREAM_BLOCK 16384      /* bytes MHD asks of a stream at a time */
#define STOP_WAIT_S 10          /* how long stopping waits for cancelled requests to be answered */

enum endpoint { EP_NONE = 0, EP_HEALTH, EP_MODELS, EP_CHAT, EP_COMPLETIONS };

static const struct {
	const char *path, *method;
	enum endpoint ep;
} routes[] = {
	{ "/health", "GET", EP_HEALTH },
	{ "/v1/models", "GET", EP_MODELS },
	{ "/v1/chat/completions", "POST", EP_CHAT },
	{ "/v1/completions", "POST", EP_COMPLETIONS },
};

struct http_server {
	struct MHD_Daemon *d;
	struct http_serve_opts o;
	char *api_key, *model_id;
	int port;
	long started;
	pthread_mutex_t mu;
	pthread_cond_t idle;        /* signalled when running empties */
	struct ds_sched *sched;     /* NULL while the model loads */
	int n_ctx;                  /* context per request */
	bool stopping;
	uint64_t *running;          /* handles submitted and not yet answered */
	size_t n_running, cap_running;
	uint64_t next_id;
};

/* One request on a connection (MHD's con_cls): the body as it arrives. */
struct conn {
	enum endpoint ep;
	char *body;
	size_t len, cap;
	bool too_big, answered;
};

/* A streamed answer being sent (the content reader's state). */
struct stream {
	struct http_server *h;
	struct MHD_Connection *c;
	struct http_job *job;
	uint64_t handle;
	enum oai_kind kind;
	bool include_usage, finished;
	char id[48];
	long created;
	char *out;                  /* server-sent events not yet handed to MHD */
	size_t out_len, out_pos;
};

/* Whether the peer closed its side of connection c (or reset it). */
static bool client_gone(void *arg)
{
	struct MHD_Connection *c = arg;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p;
	char b;

	if (ci == NULL)
		return false;
	p = (struct pollfd){ .fd = ci->connect_fd, .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
		return true;
	/* readable: a pipelined next request, or the end of the stream (recv 0) */
	return (p.revents & POLLIN) && recv(p.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void running_remove(struct http_server *h, uint64_t handle)
{
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n_running; i++)
		if (h->running[i] == handle) {
			h->running[i] = h->running[--h->n_running];
			break;
		}
	if (h->n_running == 0)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->mu);
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, char *body, size_t len,
			       const char *type, const char *header, const char *value)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (header != NULL)
		MHD_add_response_header(r, header, value);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, const struct oai_error *e)
{
	size_t len;
	char *body = oai_error_json(e, &len);

	if (e->status == 429 || e->status == 503)
		return respond(c, (unsigned)e->status, body, len, "application/json", MHD_HTTP_HEADER_RETRY_AFTER, "1");
	return respond(c, (unsigned)e->status, body, len, "application/json", NULL, NULL);
}

static enum MHD_Result fail(struct MHD_Connection *c, int status, const char *type, const char *code,
			    const char *param, const char *message)
{
	struct oai_error e;

	oai_fail(&e, status, type, code, param, "%s", message);
	return respond_error(c, &e);
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, char *body, size_t len)
{
	return respond(c, status, body, len, "application/json", NULL, NULL);
}

/* The Authorization header against the key, in time that does not depend on where they differ. */
static bool authorized(const struct http_server *h, struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	unsigned char diff = 0;
	size_t n;

	if (h->api_key == NULL)
		return true;
	n = strlen(h->api_key);
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	if (strlen(v) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(v[i] ^ h->api_key[i]);
	return diff == 0;
}

/* The checks that need no body: path, method, key, state. Returns MHD_YES with k->answered when it
 * answered (the body is then skipped), else MHD_YES to read the body. */
static enum MHD_Result first_call(struct http_server *h, struct MHD_Connection *c, const char *url,
				  const char *method, struct conn *k)
{
	struct oai_error e;
	const char *len_text;
	bool loading, stopping;
	size_t requests;

	k->ep = EP_NONE;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(url, routes[i].path) == 0) {
			k->ep = routes[i].ep;
			if (strcmp(method, routes[i].method) != 0) {
				size_t len;
				char *body;

				k->answered = true;
				oai_fail(&e, 405, "invalid_request_error", NULL, NULL, "%s takes %s, not %.16s", url,
					 routes[i].method, method);
				body = oai_error_json(&e, &len);
				return respond(c, 405, body, len, "application/json", MHD_HTTP_HEADER_ALLOW,
					       routes[i].method);
			}
		}
	k->answered = true;
	if (k->ep == EP_NONE) {
		oai_fail(&e, 404, "invalid_request_error", NULL, NULL,
			 "there is no %.16s %.200s here (this server has /v1/chat/completions, /v1/completions, "
			 "/v1/models and /health)", method, url);
		return respond_error(c, &e);
	}
	pthread_mutex_lock(&h->mu);
	loading = h->sched == NULL;
	stopping = h->stopping;
	requests = h->n_running;
	pthread_mutex_unlock(&h->mu);
	if (k->ep == EP_HEALTH) {
		/* the requests running or waiting: what a client that went away should no longer count in */
		char *s = xasprintf("{\"status\":\"%s\",\"requests\":%zu}",
				    stopping ? "shutting down" : loading ? "loading" : "ok", requests);
		return respond_json(c, stopping || loading ? 503 : 200, s, strlen(s));
	}
	if (!authorized(h, c))
		return fail(c, 401, "invalid_request_error", "invalid_api_key", NULL,
			    "the request needs the server's API key as 'Authorization: Bearer KEY'; this one "
			    "has no key or another one");
	if (stopping)
		return fail(c, 503, "server_error", NULL, NULL, "the server is shutting down");
	if (loading)
		return fail(c, 503, "server_error", NULL, NULL, "the model is still loading; try again shortly");
	if (k->ep == EP_MODELS) {
		size_t len;
		char *body = oai_models_json(h->model_id, h->started, h->n_ctx, &len);
		return respond_json(c, 200, body, len);
	}
	len_text = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (len_text != NULL && strtoull(len_text, NULL, 10) > h->o.max_body) {
		oai_fail(&e, 413, "invalid_request_error", "request_too_large", NULL,
			 "the body is %.20s bytes; this server takes at most %zu (--max-body)", len_text, h->o.max_body);
		return respond_error(c, &e);
	}
	k->answered = false;
	return MHD_YES;
}

/* Submits r and registers its handle, or answers why not. Returns 0 with *job and *handle, or -1
 * with e set. */
static int submit(struct http_server *h, struct oai_request *r, struct http_job **job, uint64_t *handle,
		  struct oai_error *e)
{
	char err[512];
	bool busy = false;
	struct http_job *j = NULL;

	pthread_mutex_lock(&h->mu);
	if (h->stopping) {
		pthread_mutex_unlock(&h->mu);
		return oai_fail(e, 503, "server_error", NULL, NULL, "the server is shutting down");
	}
	if (h->n_running >= (size_t)h->o.max_requests) {
		pthread_mutex_unlock(&h->mu);
		return oai_fail(e, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
				"every slot is busy and the queue is full (--slots, --queue); retry shortly");
	}
	j = http_job_new();
	r->req.on_event = http_job_event;
	r->req.arg = j;
	err[0] = '\0';
	*handle = ds_sched_submit(h->sched, &r->req, &busy, err, sizeof err);
	if (*handle == 0) {
		pthread_mutex_unlock(&h->mu);
		http_job_unref(j);      /* the scheduler's reference: it never took it */
		http_job_unref(j);
		if (busy)
			return oai_fail(e, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
					"every slot is busy and the queue is full (--slots, --queue); retry shortly");
		return oai_fail(e, 400, "invalid_request_error", NULL, NULL, "%s", err[0] ? err : "the request was refused");
	}
	if (h->n_running == h->cap_running) {
		h->cap_running = h->cap_running ? h->cap_running * 2 : 64;
		h->running = xreallocarray(h->running, h->cap_running, sizeof *h->running);
	}
	h->running[h->n_running++] = *handle;
	pthread_mutex_unlock(&h->mu);
	*job = j;
	return 0;
}

static void append(char **buf, size_t *len, char *piece, size_t plen)
{
	*buf = xrealloc(*buf, *len + plen + 1);
	memcpy(*buf + *len, piece, plen);
	*len += plen;
	free(piece);
}

/* The error that ends a request that was submitted: the server stopping, the engine failing, or a
 * prompt longer than the context. Returns false when it ended normally. */
static bool job_error(struct http_server *h, struct http_job *j, struct oai_error *e)
{
	bool stopping;

	pthread_mutex_lock(&h->mu);
	stopping = h->stopping;
	pthread_mutex_unlock(&h->mu);
	if (j->failed) {
		oai_fail(e, 500, "server_error", NULL, NULL, "%s", j->message);
		return true;
	}
	if (j->done && j->st.finish == DS_FINISH_CANCEL && stopping) {
		oai_fail(e, 503, "server_error", NULL, NULL, "the server is shutting down");
		return true;
	}
	if (j->done && j->st.finish == DS_FINISH_CONTEXT && j->st.completion_tokens == 0) {
		oai_fail(e, 400, "invalid_request_error", "context_length_exceeded", "messages",
			 "the prompt is %d tokens, %d over what this server's context holds; shorten it",
			 j->st.prompt_tokens, j->st.over_by);
		return true;
	}
	return false;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	struct http_job *j = s->job;
	struct oai_error e;
	size_t n;

	while (s->out_pos == s->out_len) {
		char *text = NULL, *piece;
		size_t len = 0, plen;
		bool done;

		if (s->finished)
			return MHD_CONTENT_READER_END_OF_STREAM;
		pthread_mutex_lock(&j->mu);
		if (!http_job_wait(j, HTTP_WAIT_TEXT, client_gone, s->c)) {
			pthread_mutex_unlock(&j->mu);
			ds_sched_cancel(s->h->sched, s->handle);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (j->len > 0) {
			text = j->text;
			len = j->len;
			j->text = NULL;
			j->len = j->cap = 0;
		}
		done = j->done;
		pthread_mutex_unlock(&j->mu);
		free(s->out);
		s->out = NULL;
		s->out_len = s->out_pos = 0;
		if (len > 0) {
			s->out = oai_chunk_sse(s->kind, s->id, s->created, s->h->model_id, false, text, len, NULL, false,
					       &s->out_len);
		}
		free(text);
		if (!done)
			continue;
		/* the end: a finish chunk, or an error chunk; usage if asked; [DONE] */
		if (job_error(s->h, j, &e))
			piece = oai_error_sse(&e, &plen);
		else
			piece = oai_chunk_sse(s->kind, s->id, s->created, s->h->model_id, false, NULL, 0, &j->st, false, &plen);
		append(&s->out, &s->out_len, piece, plen);
		if (s->include_usage && !j->failed) {
			piece = oai_chunk_sse(s->kind, s->id, s->created, s->h->model_id, false, NULL, 0, &j->st, true, &plen);
			append(&s->out, &s->out_len, piece, plen);
		}
		append(&s->out, &s->out_len, xstrdup("data: [DONE]\n\n"), 14);
		s->finished = true;
	}
	n = s->out_len - s->out_pos < max ? s->out_len - s->out_pos : max;
	memcpy(buf, s->out + s->out_pos, n);
	s->out_pos += n;
	(void)pos;
	return (ssize_t)n;
}

/* The stream's response is gone: sent, or its connection failed. A request still running is cancelled. */
static void stream_free(void *cls)
{
	struct stream *s = cls;

	ds_sched_cancel(s->h->sched, s->handle);
	running_remove(s->h, s->handle);
	http_job_unref(s->job);
	free(s->out);
	free(s);
}

static enum MHD_Result answer(struct http_server *h, struct MHD_Connection *c, struct conn *k)
{
	struct oai_request r;
	struct oai_error e;
	struct http_job *j = NULL;
	uint64_t handle;
	char id[48];
	long created = (long)time(NULL);
	enum MHD_Result ret;

	if (k->too_big)
		return fail(c, 413, "invalid_request_error", "request_too_large", NULL,
			    "the body is larger than this server takes (--max-body)");
	if (oai_request_parse(&r, k->ep == EP_CHAT ? OAI_CHAT : OAI_COMPLETIONS, k->body != NULL ? k->body : "",
			      k->len, &h->o.defaults, h->o.seed_fixed, &e) != 0)
		return respond_error(c, &e);
	if (r.model != NULL && strcmp(r.model, h->model_id) != 0) {
		oai_fail(&e, 404, "invalid_request_error", "model_not_found", "model",
			 "the model '%.100s' is not served here; this server has '%s' (GET /v1/models)", r.model,
			 h->model_id);
		oai_request_free(&r);
		return respond_error(c, &e);
	}
	if (submit(h, &r, &j, &handle, &e) != 0) {
		oai_request_free(&r);
		return respond_error(c, &e);
	}
	pthread_mutex_lock(&h->mu);
	snprintf(id, sizeof id, "%s-%016llx%08x", r.kind == OAI_CHAT ? "chatcmpl" : "cmpl",
		 (unsigned long long)++h->next_id ^ ((unsigned long long)h->started << 20), (unsigned)rand());
	pthread_mutex_unlock(&h->mu);

	/* Both forms wait for the first token first: a prompt too long for the context is still a 400. */
	pthread_mutex_lock(&j->mu);
	if (!http_job_wait(j, r.stream ? HTTP_WAIT_START : HTTP_WAIT_END, client_gone, c)) {
		pthread_mutex_unlock(&j->mu);
		ds_sched_cancel(h->sched, handle);
		running_remove(h, handle);
		http_job_unref(j);
		oai_request_free(&r);
		return MHD_NO;      /* the client is gone: close */
	}
	pthread_mutex_unlock(&j->mu);
	if (job_error(h, j, &e)) {
		running_remove(h, handle);
		http_job_unref(j);
		oai_request_free(&r);
		return respond_error(c, &e);
	}
	if (r.stream) {
		struct stream *s = xcalloc(1, sizeof *s);
		struct MHD_Response *resp;

		*s = (struct stream){ .h = h, .c = c, .job = j, .handle = handle, .kind = r.kind,
				      .include_usage = r.include_usage, .created = created };
		snprintf(s->id, sizeof s->id, "%s", id);
		/* chat streams open with the role, as OpenAI's do */
		if (r.kind == OAI_CHAT)
			s->out = oai_chunk_sse(r.kind, id, created, h->model_id, true, "", 0, NULL, false, &s->out_len);
		oai_request_free(&r);
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, s, stream_free);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		ret = MHD_queue_response(c, 200, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	running_remove(h, handle);
	{
		size_t len;
		char *body = oai_answer_json(r.kind, id, created, h->model_id, j->text, j->len, &j->st, &len);
		ret = respond_json(c, 200, body, len);
	}
	http_job_unref(j);
	oai_request_free(&r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct http_server *h = cls;
	struct conn *k = *con_cls;

	(void)version;
	if (k == NULL) {
		k = xcalloc(1, sizeof *k);
		*con_cls = k;
		return first_call(h, c, url, method, k);
	}
	if (*upload_size > 0) {
		if (!k->answered && !k->too_big) {
			if (k->len + *upload_size > h->o.max_body) {
				k->too_big = true;
				free(k->body);
				k->body = NULL;
				k->len = k->cap = 0;
			} else {
				if (k->len + *upload_size + 1 > k->cap) {
					k->cap = (k->len + *upload_size + 1) * 2;
					k->body = xrealloc(k->body, k->cap);
				}
				memcpy(k->body + k->len, upload, *upload_size);
				k->len += *upload_size;
			}
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (k->answered)
		return MHD_YES;
	k->answered = true;
	return answer(h, c, k);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
	struct conn *k = *con_cls;

	(void)cls;
	(void)c;
	(void)why;
	if (k != NULL) {
		free(k->body);
		free(k);
		*con_cls = NULL;
	}
}

/* libmicrohttpd's own complaints (a malformed request line, a connection that timed out) go to stderr
 * as one line each, under the program's name. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (getenv("DSCODER_HTTP_LOG") != NULL)
		fprintf(stderr, "dscoder-engine: http: %s\n", line);
}

struct http_server *http_serve_start(const struct http_serve_opts *o, char *err, size_t errlen)
{
	struct http_server *h = xcalloc(1, sizeof *h);
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;

	h->o = *o;
	h->api_key = o->api_key != NULL ? xstrdup(o->api_key) : NULL;
	h->model_id = xstrdup(o->model_id);
	h->o.api_key = h->api_key;
	h->o.model_id = h->model_id;
	h->started = (long)time(NULL);
	srand((unsigned)h->started ^ (unsigned)getpid());
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->idle, NULL);
	if (o->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
				MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&h->o.addr,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
				MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1 << 20),
				MHD_OPTION_END);
	if (h->d == NULL) {
		errorf(err, errlen, "cannot listen on the --serve address: %s (is another server on that port?)",
		       errno != 0 ? strerror(errno) : "libmicrohttpd refused it");
		http_serve_free(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info != NULL ? info->port : 0;
	return h;
}

int http_serve_port(const struct http_server *h)
{
	return h->port;
}

void http_serve_ready(struct http_server *h, struct ds_sched *s, int n_ctx)
{
	pthread_mutex_lock(&h->mu);
	h->sched = s;
	h->n_ctx = n_ctx;
	pthread_mutex_unlock(&h->mu);
}

void http_serve_stop(struct http_server *h)
{
	struct timespec ts;
	MHD_socket fd;

	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	for (size_t i = 0; i < h->n_running; i++)
		ds_sched_cancel(h->sched, h->running[i]);
	pthread_mutex_unlock(&h->mu);
	fd = MHD_quiesce_daemon(h->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += STOP_WAIT_S;
	pthread_mutex_lock(&h->mu);
	while (h->n_running > 0)
		if (pthread_cond_timedwait(&h->idle, &h->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&h->mu);
}

void http_serve_free(struct http_server *h)
{
	if (h == NULL)
		return;
	if (h->d != NULL)
		MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->idle);
	free(h->running);
	free(h->api_key);
	free(h->model_id);
	free(h);
}

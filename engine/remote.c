/* remote.c: an OpenAI-compatible server as the model: requests become POSTs to /v1/chat/completions
 * or /v1/completions with "stream": true, the server-sent events come back as token events, and every
 * failure becomes one sentence. One worker thread answers requests in arrival order, as the local
 * engine does; cancel makes libcurl's progress callback end the transfer. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include "remote.h"

#include <curl/curl.h>
#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "generate.h"
#include "tokenizer-int.h"
#include "xalloc.h"

/* Requests waiting beyond the running one before submit says busy. */
#define REMOTE_MAX_QUEUE 64
/* Bytes of an error body kept for its message; of one server-sent event. */
#define REMOTE_MAX_BODY (64 * 1024)
#define REMOTE_MAX_EVENT (16 * 1024 * 1024)
/* DeepSeek-Coder-V2's context, when neither the server, --ctx nor a local model says otherwise. */
#define REMOTE_ASSUMED_CTX 163840
/* Seconds a server that answers 503 (loading) is waited for at startup. */
#define REMOTE_LOAD_WAIT_S 600

struct rjob {
	uint64_t handle;
	struct ds_sched_request req;        /* strings and arrays owned (copied by submit) */
	struct ds_message *msgs;
	char **stop;
	struct rjob *next;
};

struct ds_remote {
	struct ds_remote_opts o;
	struct ds_remote_info info;
	char *key;                  /* NULL: no Authorization header */
	char key_origin[300];       /* "the environment variable OPENAI_API_KEY", for messages */
	struct tokenizer *tok;
	pthread_mutex_t tok_mu;     /* the tokenizer keeps caches: one encoder at a time (reader and worker) */

	pthread_mutex_t mu;
	pthread_cond_t cv;          /* queue, running or stopping changed */
	struct rjob *head, *tail;
	int n_queued;
	uint64_t next_handle;
	uint64_t running;           /* the handle being answered, 0: none */
	atomic_bool cancel_running;
	bool stopping;
	bool worker_started;
	pthread_t worker;
};

/* ---- small helpers --------------------------------------------------------------------------------- */

char *ds_remote_endpoint(const char *base, const char *path)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	/* a bare server address gets the usual /v1; an address with a path of its own is the API's base
	 * as the OpenAI SDKs take it (".../v1", DeepSeek's ".../beta") */
	const char *host = strstr(base, "://");
	host = host != NULL ? host + 3 : base;
	bool has_path = memchr(host, '/', n - (size_t)(host - base)) != NULL;
	return xasprintf("%.*s%s/%s", (int)n, base, has_path ? "" : "/v1", path);
}

/* The key from $VAR or the first line of a file, trimmed; -1 with a sentence naming where. */
static int read_key(struct ds_remote *r, char *err, size_t errlen)
{
	if (r->o.key_env != NULL) {
		const char *v = getenv(r->o.key_env);
		snprintf(r->key_origin, sizeof r->key_origin, "the environment variable %s", r->o.key_env);
		if (v == NULL || *v == '\0') {
			errorf(err, errlen, "the environment variable %s named by --api-key-env is not set: "
				"export the server's API key in it", r->o.key_env);
			return -1;
		}
		r->key = xstrdup(v);
	} else if (r->o.key_file != NULL) {
		snprintf(r->key_origin, sizeof r->key_origin, "the file %s", r->o.key_file);
		FILE *f = fopen(r->o.key_file, "r");
		if (f == NULL) {
			errorf(err, errlen, "cannot read the API key file %s: %s", r->o.key_file, strerror(errno));
			return -1;
		}
		char line[4096];
		if (fgets(line, sizeof line, f) == NULL)
			line[0] = '\0';
		fclose(f);
		char *s = line, *e = line + strlen(line);
		while (*s && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*s == '\0') {
			errorf(err, errlen, "the API key file %s is empty: put the key on its first line", r->o.key_file);
			return -1;
		}
		r->key = xstrdup(s);
		explicit_bzero(line, sizeof line);
	} else {
		snprintf(r->key_origin, sizeof r->key_origin, "nowhere (no --api-key-env or --api-key-file)");
	}
	return 0;
}

/* ---- one HTTP exchange ----------------------------------------------------------------------------- */

/* What a transfer collects: the body of a non-streaming or failed answer, Retry-After, and the
 * streaming parser's state. */
struct xfer {
	struct ds_remote *r;
	const char *url;            /* the address it went to (--remote, or --remote-fim-url for FIM), or NULL:
	                             * --remote */
	long status;                /* HTTP status, once the headers are in */
	char retry_after[64];
	struct xbuf body;           /* a non-2xx body, or the whole body when not streaming */
	bool streaming;
	/* server-sent events */
	struct xbuf line;           /* the line being received */
	struct xbuf data;           /* data: fields of the event being received */
	bool saw_done;              /* data: [DONE] */
	bool chat;
	bool trimmed;               /* chat: the first text's leading space has been looked at */
	/* the answer */
	const struct ds_sched_request *req;
	uint64_t handle;
	int pieces;                 /* content pieces streamed (a token each, on the servers we know) */
	int prompt_tokens, completion_tokens;   /* usage, -1 until the server sends it */
	const char *finish;         /* finish_reason, static string */
	char stream_error[512];     /* an error object inside the stream */
	double t0, t_first, t_last;
	bool too_big;
};

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
		size_t i = 12, j = 0;
		while (i < len && isspace((unsigned char)buf[i]))
			i++;
		while (i < len && j + 1 < sizeof x->retry_after && !isspace((unsigned char)buf[i]))
			x->retry_after[j++] = buf[i++];
		x->retry_after[j] = '\0';
	}
	return len;
}

static void emit(struct xfer *x, const struct ds_sched_event *ev)
{
	x->req->on_event(ev, x->req->arg);
}

static const char *finish_static(const char *f)
{
	if (strcmp(f, "length") == 0)
		return "length";
	return "stop";     /* stop, eos, content_filter, tool_calls: the answer ended */
}

/* One complete server-sent event's data. */
static void on_sse_data(struct xfer *x, const char *data, size_t len)
{
	while (len > 0 && isspace((unsigned char)*data))
		data++, len--;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		x->saw_done = true;
		return;
	}
	json_error_t je;
	json_t *j = json_loadb(data, len, 0, &je);
	if (j == NULL || !json_is_object(j)) {
		if (x->stream_error[0] == '\0')
			snprintf(x->stream_error, sizeof x->stream_error, "the server sent an event that is not JSON (%s)",
				 je.text);
		json_decref(j);
		return;
	}
	json_t *e = json_object_get(j, "error");
	if (e != NULL) {
		const char *m = json_is_object(e) ? json_string_value(json_object_get(e, "message")) :
				json_string_value(e);
		snprintf(x->stream_error, sizeof x->stream_error, "%s", m != NULL ? m : "an error without a message");
	}
	json_t *usage = json_object_get(j, "usage");
	if (json_is_object(usage)) {
		json_t *p = json_object_get(usage, "prompt_tokens"), *c = json_object_get(usage, "completion_tokens");
		if (json_is_integer(p))
			x->prompt_tokens = (int)json_integer_value(p);
		if (json_is_integer(c))
			x->completion_tokens = (int)json_integer_value(c);
	}
	json_t *choices = json_object_get(j, "choices");
	json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
	if (json_is_object(c0)) {
		json_t *text = x->chat ? json_object_get(json_object_get(c0, "delta"), "content") :
				 json_object_get(c0, "text");
		const char *s = json_string_value(text);
		size_t n = json_string_length(text);
		/* the space after the template's "Assistant:" is the template's, as the local engine has it:
		 * servers that keep it and servers that drop it give the same answer */
		if (s != NULL && n > 0 && x->chat && !x->trimmed) {
			x->trimmed = true;
			if (s[0] == ' ')
				s++, n--;
		}
		if (s != NULL && n > 0) {
			double now = (clock_now() * 1000.0);
			if (x->pieces == 0)
				x->t_first = now;
			x->t_last = now;
			x->pieces++;
			struct ds_sched_event ev = { .type = DS_SCHED_TOKEN, .handle = x->handle, .text = s,
						     .len = n, .token_id = -1 };
			emit(x, &ev);
		}
		const char *f = json_string_value(json_object_get(c0, "finish_reason"));
		if (f != NULL)
			x->finish = finish_static(f);
	}
	json_decref(j);
}

/* Lines of the stream: "data: ..." accumulates, a blank line ends the event, ":" lines are comments. */
static void on_sse_line(struct xfer *x, const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n == 0) {
		if (x->data.len > 0)
			on_sse_data(x, x->data.p, x->data.len);
		x->data.len = 0;
		return;
	}
	if (s[0] == ':')
		return;
	if (n >= 5 && memcmp(s, "data:", 5) == 0) {
		if (x->data.len > 0)
			xbuf_add(&x->data, "\n", 1);
		size_t skip = n > 5 && s[5] == ' ' ? 6 : 5;
		if (x->data.len + n > REMOTE_MAX_EVENT) {
			x->too_big = true;
			return;
		}
		xbuf_add(&x->data, s + skip, n - skip);
	}
	/* event:, id:, retry: carry nothing an OpenAI stream needs */
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (!x->streaming || x->status < 200 || x->status >= 300) {
		if (x->body.len + len <= REMOTE_MAX_BODY)
			xbuf_add(&x->body, buf, len);
		return len;
	}
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			on_sse_line(x, x->line.p != NULL ? x->line.p : "", x->line.len);
			x->line.len = 0;
		} else if (x->line.len < REMOTE_MAX_EVENT) {
			xbuf_add(&x->line, buf + i, 1);
		} else {
			x->too_big = true;
		}
	}
	return x->too_big ? 0 : len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	struct xfer *x = arg;
	return x->streaming && atomic_load(&x->r->cancel_running) ? 1 : 0;
}

/* The server's own sentence from an error body ({"error":{"message":...}}, {"detail":...}, text). */
static void body_message(const struct xfer *x, char *out, size_t outlen)
{
	out[0] = '\0';
	if (x->body.len == 0)
		return;
	json_t *j = json_loadb(x->body.p, x->body.len, 0, NULL);
	const char *m = NULL;
	if (j != NULL) {
		json_t *e = json_object_get(j, "error");
		m = json_is_object(e) ? json_string_value(json_object_get(e, "message")) : json_string_value(e);
		if (m == NULL)
			m = json_string_value(json_object_get(j, "detail"));
		if (m == NULL)
			m = json_string_value(json_object_get(j, "message"));
	}
	if (m != NULL)
		snprintf(out, outlen, "%s", m);
	else if (j == NULL)
		snprintf(out, outlen, "%.*s", (int)(x->body.len > 200 ? 200 : x->body.len), x->body.p);
	json_decref(j);
	/* one line: the event is one sentence */
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

/* The address a transfer went to, for its sentences. */
static const char *xfer_url(const struct ds_remote *r, const struct xfer *x)
{
	return x != NULL && x->url != NULL ? x->url : r->o.url;
}

/* The sentence for a transfer that failed at the HTTP level (status >= 300). */
static void status_sentence(struct ds_remote *r, const struct xfer *x, char *err, size_t errlen)
{
	char msg[400];
	body_message(x, msg, sizeof msg);
	const char *sep = msg[0] ? ": " : "";
	long s = x->status;
	if (s == 401 || s == 403)
		errorf(err, errlen, "the server at %s refused the API key from %s (HTTP %ld)%s%s; check the key",
			xfer_url(r, x), r->key_origin, s, sep, msg);
	else if (s == 404)
		errorf(err, errlen, "the server at %s has no model '%s' or no such endpoint (HTTP 404)%s%s; check "
			"--remote-model and the URL", xfer_url(r, x), r->info.model, sep, msg);
	else if (s == 429)
		errorf(err, errlen, "the server at %s is busy or over its rate limit (HTTP 429)%s%s; retry %s%s%s",
			xfer_url(r, x), sep, msg, x->retry_after[0] ? "in " : "later", x->retry_after,
			x->retry_after[0] ? " s" : "");
	else if (s == 413)
		errorf(err, errlen, "the server at %s refused the request as too large (HTTP 413)%s%s", xfer_url(r, x), sep, msg);
	else if (s >= 500)
		errorf(err, errlen, "the server at %s failed (HTTP %ld)%s%s", xfer_url(r, x), s, sep, msg);
	else
		errorf(err, errlen, "the server at %s refused the request (HTTP %ld)%s%s", xfer_url(r, x), s, sep, msg);
}

/* The sentence for a transfer libcurl could not complete. */
static void curl_sentence(struct ds_remote *r, CURLcode rc, const char *curl_err, const struct xfer *x,
			  char *err, size_t errlen)
{
	const char *detail = curl_err[0] ? curl_err : curl_easy_strerror(rc);
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		errorf(err, errlen, "cannot find the host of %s (%s): check the URL", xfer_url(r, x), detail);
		return;
	case CURLE_COULDNT_CONNECT:
		errorf(err, errlen, "cannot connect to %s (%s): is the server running there?", xfer_url(r, x), detail);
		return;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		errorf(err, errlen, "the TLS connection to %s failed (%s): check the URL's scheme and the server's "
			"certificate", xfer_url(r, x), detail);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		if (x != NULL && x->pieces > 0)
			errorf(err, errlen, "the server at %s sent nothing for %d s after %d tokens; the partial answer "
				"is kept", xfer_url(r, x), r->o.idle_timeout_s, x->pieces);
		else
			errorf(err, errlen, "the server at %s did not answer in time (%s)", xfer_url(r, x), detail);
		return;
	default:
		if (x != NULL && x->pieces > 0)
			errorf(err, errlen, "the connection to %s broke after %d tokens (%s); the partial answer is kept",
				xfer_url(r, x), x->pieces, detail);
		else
			errorf(err, errlen, "the request to %s failed: %s", xfer_url(r, x), detail);
		return;
	}
}

/* A handle with what every request shares: timeouts, the key, no signals. */
static CURL *easy_new(struct ds_remote *r, struct xfer *x, const char *url, struct curl_slist **hdr,
		      char *curl_err)
{
	CURL *c = curl_easy_init();
	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)r->o.connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "dscoder-engine/" PACKAGE_VERSION);
	/* a silent stream is cut after idle_timeout_s: under 1 byte/s for that long */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)r->o.idle_timeout_s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	*hdr = curl_slist_append(NULL, "Accept: application/json, text/event-stream");
	if (r->key != NULL) {
		char *auth = xasprintf("Authorization: Bearer %s", r->key);
		*hdr = curl_slist_append(*hdr, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	return c;
}

/* The status line arrives before the body: on_body needs it to tell a stream from an error body. */
static size_t on_body_status(char *buf, size_t size, size_t n, void *arg);

struct xfer_curl {
	struct xfer *x;
	CURL *c;
};

/* ---- startup: the models list ---------------------------------------------------------------------- */

/* GET /v1/models: 0, or -1 with a sentence in err, or 1 when the server is still starting (503). */
static int fetch_models(struct ds_remote *r, char *err, size_t errlen)
{
	struct xfer x = { .r = r };
	struct curl_slist *hdr = NULL;
	char curl_err[CURL_ERROR_SIZE] = "";
	char *url = ds_remote_endpoint(r->o.url, "models");
	CURL *c = easy_new(r, &x, url, &hdr, curl_err);
	if (c == NULL) {
		free(url);
		errorf(err, errlen, "libcurl could not start a transfer");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(r->o.connect_timeout_s + 20));
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x.status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	free(url);
	int ret = 0;
	if (rc != CURLE_OK) {
		curl_sentence(r, rc, curl_err, NULL, err, errlen);
		ret = -1;
	} else if (x.status == 404 && r->o.model != NULL) {
		/* a server without the list: trust --remote-model */
		snprintf(r->info.model, sizeof r->info.model, "%s", r->o.model);
	} else if (x.status < 200 || x.status >= 300) {
		snprintf(r->info.model, sizeof r->info.model, "%s", r->o.model ? r->o.model : "(any)");
		status_sentence(r, &x, err, errlen);
		ret = x.status == 503 ? 1 : -1;
	} else {
		json_t *j = json_loadb(x.body.p ? x.body.p : "", x.body.len, 0, NULL);
		json_t *data = json_object_get(j, "data");
		size_t i;
		json_t *m, *found = NULL;
		json_array_foreach(data, i, m) {
			const char *id = json_string_value(json_object_get(m, "id"));
			if (id != NULL && (r->o.model == NULL || strcmp(id, r->o.model) == 0)) {
				found = m;
				break;
			}
		}
		if (found == NULL && r->o.model == NULL) {
			errorf(err, errlen, "the server at %s lists no model (GET /v1/models): name one with --remote-model",
				r->o.url);
			ret = -1;
		} else if (found == NULL && json_is_array(data) && json_array_size(data) > 0) {
			const char *first = json_string_value(json_object_get(json_array_get(data, 0), "id"));
			errorf(err, errlen, "the server at %s has no model '%s' (it has '%s'%s): fix --remote-model",
				r->o.url, r->o.model, first ? first : "?", json_array_size(data) > 1 ? ", ..." : "");
			ret = -1;
		} else {
			const char *id = found ? json_string_value(json_object_get(found, "id")) : r->o.model;
			snprintf(r->info.model, sizeof r->info.model, "%s", id);
			json_t *len = json_object_get(found, "max_model_len");
			if (json_is_integer(len) && json_integer_value(len) > 0 && json_integer_value(len) < (1 << 30) &&
			    r->o.n_ctx == 0) {
				r->info.n_ctx = (int)json_integer_value(len);
				r->info.n_ctx_source = "server";
			}
		}
		json_decref(j);
	}
	free(x.body.p);
	return ret;
}

/* ---- requests -------------------------------------------------------------------------------------- */

static json_t *request_body(const struct ds_remote *r, const struct ds_sched_request *q, bool *chat)
{
	json_t *b = json_object();
	json_object_set_new(b, "model", json_string(r->info.model));
	json_object_set_new(b, "stream", json_true());
	json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1));
	*chat = q->input == DS_SCHED_CHAT;
	if (q->input == DS_SCHED_CHAT) {
		json_t *msgs = json_array();
		for (int i = 0; i < q->n_messages; i++)
			json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", q->messages[i].role, "content",
							      q->messages[i].content));
		json_object_set_new(b, "messages", msgs);
	} else if (q->input == DS_SCHED_COMPLETION) {
		json_object_set_new(b, "prompt", json_string(q->prompt));
	} else {
		json_object_set_new(b, "prompt", json_string(q->fim_prefix));
		json_object_set_new(b, "suffix", json_string(q->fim_suffix));
	}
	const struct ds_sampling *p = &q->sampling;
	if (p->max_tokens > 0)
		json_object_set_new(b, "max_tokens", json_integer(p->max_tokens));
	json_object_set_new(b, "temperature", json_real(p->temperature));
	if (p->top_p < 1)
		json_object_set_new(b, "top_p", json_real(p->top_p));
	/* beyond OpenAI's fields, sent only when asked for (vLLM, SGLang and --serve read them) */
	if (p->top_k > 0)
		json_object_set_new(b, "top_k", json_integer(p->top_k));
	if (p->min_p > 0)
		json_object_set_new(b, "min_p", json_real(p->min_p));
	if (p->repetition_penalty != 1)
		json_object_set_new(b, "repetition_penalty", json_real(p->repetition_penalty));
	json_object_set_new(b, "seed", json_integer((json_int_t)(p->seed & 0x7fffffffffffffffull)));
	if (p->n_stop > 0) {
		json_t *stop = json_array();
		for (int i = 0; i < p->n_stop; i++)
			json_array_append_new(stop, json_string(p->stop[i]));
		json_object_set_new(b, "stop", stop);
	}
	return b;
}

static void finish_job(struct ds_remote *r, struct rjob *j, struct xfer *x, enum ds_finish finish)
{
	struct ds_gen_stats st = { .finish = finish };
	bool est = false;
	st.prompt_tokens = x != NULL && x->prompt_tokens >= 0 ? x->prompt_tokens : ds_remote_count(r, &j->req, &est);
	st.completion_tokens = x != NULL ? (x->completion_tokens >= 0 ? x->completion_tokens : x->pieces) : 0;
	if (x != NULL && x->pieces > 0) {
		st.ttft_ms = x->t_first - x->t0;
		if (x->pieces > 1 && x->t_last > x->t_first)
			st.decode_tps = (st.completion_tokens - 1) / ((x->t_last - x->t_first) / 1000.0);
	}
	struct ds_sched_event ev = { .type = DS_SCHED_DONE, .handle = j->handle, .stats = &st };
	j->req.on_event(&ev, j->req.arg);
}

static void fail_job(struct rjob *j, const char *message)
{
	struct ds_sched_event ev = { .type = DS_SCHED_ERROR, .handle = j->handle, .message = message };
	j->req.on_event(&ev, j->req.arg);
}

static size_t on_body_status(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer_curl *xc = arg;
	if (xc->x->status == 0)
		curl_easy_getinfo(xc->c, CURLINFO_RESPONSE_CODE, &xc->x->status);
	return on_body(buf, size, n, xc->x);
}

static void run_job(struct ds_remote *r, struct rjob *j)
{
	struct xfer x = { .r = r, .streaming = true, .req = &j->req, .handle = j->handle, .prompt_tokens = -1,
			  .completion_tokens = -1, .t0 = (clock_now() * 1000.0) };
	bool chat;
	json_t *body = request_body(r, &j->req, &chat);
	x.chat = chat;
	/* fill-in-the-middle may live at an address of its own (DeepSeek's API: its beta address) */
	if (j->req.input == DS_SCHED_FIM && r->o.fim_url != NULL)
		x.url = r->o.fim_url;
	char *json = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char *url = ds_remote_endpoint(xfer_url(r, &x), chat ? "chat/completions" : "completions");
	struct curl_slist *hdr = NULL;
	char curl_err[CURL_ERROR_SIZE] = "";
	CURL *c = easy_new(r, &x, url, &hdr, curl_err);
	if (c == NULL) {
		fail_job(j, "libcurl could not start a transfer");
		free(json);
		free(url);
		return;
	}
	struct xfer_curl xc = { &x, c };
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_status);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &xc);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x.status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	free(json);
	free(url);
	/* a last event not followed by a blank line */
	if (rc == CURLE_OK && x.line.len > 0)
		on_sse_line(&x, x.line.p, x.line.len);
	if (rc == CURLE_OK && x.data.len > 0)
		on_sse_data(&x, x.data.p, x.data.len);

	char err[1024];
	if (rc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&r->cancel_running)) {
		finish_job(r, j, &x, DS_FINISH_CANCEL);
	} else if (x.too_big) {
		errorf(err, sizeof err, "the server at %s sent an event longer than %d MB; the partial answer is kept",
			xfer_url(r, &x), REMOTE_MAX_EVENT >> 20);
		fail_job(j, err);
	} else if (rc != CURLE_OK) {
		curl_sentence(r, rc, curl_err, &x, err, sizeof err);
		fail_job(j, err);
	} else if (x.status < 200 || x.status >= 300) {
		status_sentence(r, &x, err, sizeof err);
		fail_job(j, err);
	} else if (x.stream_error[0]) {
		errorf(err, sizeof err, "the server at %s stopped the answer%s: %s", xfer_url(r, &x),
			x.pieces > 0 ? " (the partial answer is kept)" : "", x.stream_error);
		fail_job(j, err);
	} else if (!x.saw_done && x.finish == NULL) {
		errorf(err, sizeof err, "the connection to %s broke after %d tokens (the stream ended without "
		       "finishing the answer); the partial answer is kept", xfer_url(r, &x), x.pieces);
		fail_job(j, err);
	} else {
		finish_job(r, j, &x, x.finish != NULL && strcmp(x.finish, "length") == 0 ? DS_FINISH_LENGTH
											: DS_FINISH_STOP);
	}
	free(x.body.p);
	free(x.line.p);
	free(x.data.p);
}

static void job_free(struct rjob *j)
{
	for (int i = 0; i < j->req.n_messages; i++) {
		free((char *)j->msgs[i].role);
		free((char *)j->msgs[i].content);
	}
	free(j->msgs);
	for (int i = 0; i < j->req.sampling.n_stop; i++)
		free(j->stop[i]);
	free(j->stop);
	free((char *)j->req.prompt);
	free((char *)j->req.fim_prefix);
	free((char *)j->req.fim_suffix);
	free(j);
}

static void *worker_main(void *arg)
{
	struct ds_remote *r = arg;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (r->head == NULL && !r->stopping)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->head == NULL)
			break;
		struct rjob *j = r->head;
		r->head = j->next;
		if (r->head == NULL)
			r->tail = NULL;
		r->n_queued--;
		r->running = j->handle;
		atomic_store(&r->cancel_running, r->stopping);
		pthread_mutex_unlock(&r->mu);
		if (atomic_load(&r->cancel_running))
			finish_job(r, j, NULL, DS_FINISH_CANCEL);
		else
			run_job(r, j);
		job_free(j);
		pthread_mutex_lock(&r->mu);
		r->running = 0;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- the public face ------------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool http_url(const char *u)
{
	return u != NULL && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
}

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

struct ds_remote *ds_remote_open(const struct ds_remote_opts *o, struct ds_remote_info *info, char *err,
				 size_t errlen)
{
	if (!http_url(o->url)) {
		errorf(err, errlen, "the remote URL '%s' is not an http:// or https:// address",
			o->url ? o->url : "");
		return NULL;
	}
	if (o->fim_url != NULL && !http_url(o->fim_url)) {
		errorf(err, errlen, "--remote-fim-url '%s' is not an http:// or https:// address", o->fim_url);
		return NULL;
	}
	pthread_once(&curl_once, curl_start);
	struct ds_remote *r = xcalloc(1, sizeof *r);
	r->o = *o;
	if (r->o.connect_timeout_s <= 0)
		r->o.connect_timeout_s = 10;
	if (r->o.idle_timeout_s <= 0)
		r->o.idle_timeout_s = 300;
	snprintf(r->info.url, sizeof r->info.url, "%s", o->url);
	r->info.n_ctx = o->n_ctx;
	r->info.n_ctx_source = o->n_ctx > 0 ? "--ctx" : NULL;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->tok_mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (read_key(r, err, errlen) != 0)
		goto fail;
	if (o->tok_path != NULL) {
		bool gguf = is_file(o->tok_path);
		r->tok = gguf ? tok_load_gguf(o->tok_path, err, errlen) : tok_load(o->tok_path, err, errlen);
		if (r->tok == NULL)
			goto fail;
		r->info.vocab_size = tok_vocab_size(r->tok);
	}
	/* a server that is still loading its model answers 503: wait for it, as a local load is waited for */
	int got;
	for (int waited = 0; (got = fetch_models(r, err, errlen)) == 1 && waited < REMOTE_LOAD_WAIT_S; waited++)
		sleep(1);
	if (got != 0)
		goto fail;
	if (r->info.n_ctx == 0 && o->tok_path != NULL && !is_file(o->tok_path)) {
		char *cfg_path = xasprintf("%s/config.json", o->tok_path);
		struct ds_config cfg;
		char cerr[256];
		if (ds_config_load(cfg_path, &cfg, cerr, sizeof cerr) == 0 && cfg.max_position_embeddings > 0) {
			r->info.n_ctx = cfg.max_position_embeddings;
			r->info.n_ctx_source = "local model";
		}
		free(cfg_path);
	}
	if (r->info.n_ctx == 0) {
		r->info.n_ctx = REMOTE_ASSUMED_CTX;
		r->info.n_ctx_source = "assumed";
	}
	if (pthread_create(&r->worker, NULL, worker_main, r) != 0) {
		errorf(err, errlen, "cannot start a thread for the remote requests");
		goto fail;
	}
	r->worker_started = true;
	*info = r->info;
	return r;
fail:
	ds_remote_free(r);
	return NULL;
}

void ds_remote_free(struct ds_remote *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	atomic_store(&r->cancel_running, true);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->worker_started)
		pthread_join(r->worker, NULL);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->tok_mu);
	pthread_cond_destroy(&r->cv);
	if (r->key != NULL) {
		explicit_bzero(r->key, strlen(r->key));
		free(r->key);
	}
	if (r->tok != NULL)
		tok_free(r->tok);
	free(r);
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

uint64_t ds_remote_submit(struct ds_remote *r, const struct ds_sched_request *req, bool *busy, char *err,
			  size_t errlen)
{
	bool busy_local;
	if (busy == NULL)
		busy = &busy_local;
	*busy = false;
	if (req->on_event == NULL) {
		errorf(err, errlen, "a request needs an event callback");
		return 0;
	}
	struct rjob *j = xcalloc(1, sizeof *j);
	j->req = *req;
	j->req.n_messages = req->input == DS_SCHED_CHAT ? req->n_messages : 0;
	if (j->req.n_messages > 0) {
		j->msgs = xcalloc((size_t)j->req.n_messages, sizeof *j->msgs);
		for (int i = 0; i < j->req.n_messages; i++) {
			j->msgs[i].role = xstrdup(req->messages[i].role);
			j->msgs[i].content = xstrdup(req->messages[i].content);
		}
	}
	j->req.messages = j->msgs;
	j->req.prompt = dup_or_null(req->prompt);
	j->req.fim_prefix = dup_or_null(req->fim_prefix);
	j->req.fim_suffix = dup_or_null(req->fim_suffix);
	if (req->sampling.n_stop > 0) {
		j->stop = xcalloc((size_t)req->sampling.n_stop, sizeof *j->stop);
		for (int i = 0; i < req->sampling.n_stop; i++)
			j->stop[i] = xstrdup(req->sampling.stop[i]);
	}
	j->req.sampling.stop = j->stop;
	pthread_mutex_lock(&r->mu);
	if (r->n_queued >= REMOTE_MAX_QUEUE || r->stopping) {
		pthread_mutex_unlock(&r->mu);
		*busy = true;
		errorf(err, errlen, "%d requests are already waiting for the server: try again later", REMOTE_MAX_QUEUE);
		job_free(j);
		return 0;
	}
	j->handle = ++r->next_handle;
	if (r->tail != NULL)
		r->tail->next = j;
	else
		r->head = j;
	r->tail = j;
	r->n_queued++;
	uint64_t h = j->handle;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return h;
}

void ds_remote_cancel(struct ds_remote *r, uint64_t handle)
{
	struct rjob *dropped = NULL;
	pthread_mutex_lock(&r->mu);
	if (r->running == handle && handle != 0) {
		atomic_store(&r->cancel_running, true);
	} else {
		for (struct rjob **p = &r->head; *p != NULL; p = &(*p)->next)
			if ((*p)->handle == handle) {
				dropped = *p;
				*p = dropped->next;
				if (r->tail == dropped) {
					r->tail = NULL;
					for (struct rjob *q = r->head; q != NULL; q = q->next)
						r->tail = q;
				}
				r->n_queued--;
				break;
			}
	}
	pthread_mutex_unlock(&r->mu);
	if (dropped != NULL) {
		finish_job(r, dropped, NULL, DS_FINISH_CANCEL);
		job_free(dropped);
	}
}

int ds_remote_count(struct ds_remote *r, const struct ds_sched_request *req, bool *estimate)
{
	if (r->tok != NULL) {
		int *ids = NULL;
		size_t n = 0, cap = 0;
		pthread_mutex_lock(&r->tok_mu);
		if (req->input == DS_SCHED_CHAT)
			ds_prompt_chat(r->tok, req->messages, req->n_messages, &ids, &n, &cap);
		else if (req->input == DS_SCHED_COMPLETION)
			ds_prompt_completion(r->tok, req->prompt, &ids, &n, &cap);
		else
			ds_prompt_fim(r->tok, req->fim_prefix, req->fim_suffix, &ids, &n, &cap);
		pthread_mutex_unlock(&r->tok_mu);
		free(ids);
		*estimate = false;
		return (int)n;
	}
	/* About 3.5 bytes per token on code and English with DeepSeek's vocabulary, plus the
	 * template's few tokens per message: an estimate, and said to be one. */
	size_t bytes = 0;
	int extra = 1;
	if (req->input == DS_SCHED_CHAT) {
		for (int i = 0; i < req->n_messages; i++) {
			bytes += strlen(req->messages[i].content);
			extra += 4;
		}
	} else if (req->input == DS_SCHED_COMPLETION) {
		bytes = strlen(req->prompt);
	} else {
		bytes = strlen(req->fim_prefix) + strlen(req->fim_suffix);
		extra += 3;
	}
	*estimate = true;
	return (int)((bytes * 2 + 6) / 7) + extra;
}

void ds_remote_drain(struct ds_remote *r)
{
	pthread_mutex_lock(&r->mu);
	while (r->head != NULL || r->running != 0)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

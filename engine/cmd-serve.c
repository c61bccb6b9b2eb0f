/* cmd-serve.c: dscoder-engine --serve [HOST:]PORT: the OpenAI-compatible HTTP server (engine/http-serve.c)
 * over the scheduler. It listens first (503 while the model loads), and SIGINT or SIGTERM stop it:
 * no new connections, running requests cancelled and answered, exit 0. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-cli.h"
#include "generate.h"
#include "http-serve.h"
#include "scheduler.h"
#include "cmd-sched.h"
#include "xalloc.h"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_MAX_BODY (8L << 20)
#define DEFAULT_TIMEOUT_S 60
#define DEFAULT_QUEUE 64
#define MAX_CONNECTIONS 512

/* The signal thread's news for main: which signal came, once the model is served. */
static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static int stop_signal;
static bool serving;

static void *wait_signal(void *arg)
{
	const sigset_t *set = arg;
	int sig = 0;

	sigwait(set, &sig);
	pthread_mutex_lock(&stop_mu);
	if (!serving) {
		/* still loading: nothing was answered yet, nothing to finish */
		fprintf(stderr, "dscoder-engine: stopped (signal %d) while loading the model\n", sig);
		_exit(0);
	}
	stop_signal = sig;
	pthread_cond_signal(&stop_cond);
	pthread_mutex_unlock(&stop_mu);
	return NULL;
}

/* "[HOST:]PORT" (HOST may be [v6-address]) into an address to listen on. Returns 0, or cli_fail's status. */
static int parse_listen(const char *arg, struct http_serve_opts *o, bool *loopback)
{
	char host[256], *end;
	const char *colon = strrchr(arg, ':'), *port_text = colon != NULL ? colon + 1 : arg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	size_t len = colon != NULL ? (size_t)(colon - arg) : 0;
	long port;
	int rc;

	errno = 0;
	port = strtol(port_text, &end, 10);
	if (*port_text == '\0' || *end != '\0' || errno != 0 || port < 0 || port > 65535)
		return cli_fail("--serve needs [HOST:]PORT (such as 8080 or 0.0.0.0:8080; port 0 picks a free one), "
				"not '%s'", arg);
	if (colon != NULL && arg[0] == '[' && len >= 2 && arg[len - 1] == ']') {
		arg++;
		len -= 2;
	}
	if (colon == NULL || len == 0) {
		arg = DEFAULT_HOST;
		len = strlen(DEFAULT_HOST);
	}
	if (len >= sizeof host)
		return cli_fail("--serve: the host name '%.40s...' is too long", arg);
	memcpy(host, arg, len);
	host[len] = '\0';
	rc = getaddrinfo(host, port_text, &hints, &res);
	if (rc != 0 || res == NULL)
		return cli_fail("--serve: cannot resolve the host '%s': %s", host, gai_strerror(rc));
	memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
	o->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	if (o->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&o->addr;
		*loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&o->addr;
		*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
			    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
	}
	return 0;
}

/* The address listened on, as text for the start-up line ("127.0.0.1", "[::1]"). */
static const char *host_text(const struct http_serve_opts *o, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (o->addr.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&o->addr)->sin6_addr, addr, sizeof addr);
		snprintf(buf, len, "[%s]", addr);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&o->addr)->sin_addr, addr, sizeof addr);
		snprintf(buf, len, "%s", addr);
	}
	return buf;
}

/* The key: the first line of path, without surrounding blanks. Returns it (to free), or NULL after
 * cli_fail. */
static char *read_api_key(const char *path)
{
	char line[4096], *s, *e;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		cli_fail("--api-key-file %s: %s", path, strerror(errno));
		return NULL;
	}
	s = fgets(line, sizeof line, f);
	fclose(f);
	if (s != NULL) {
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
	}
	if (s == NULL || *s == '\0') {
		cli_fail("--api-key-file %s: the first line is empty; write the key clients must send there", path);
		return NULL;
	}
	return xstrdup(s);
}

int cli_http(const struct cli_args *a)
{
	char err[1024], *key = NULL, *model_id;
	struct http_serve_opts o = { 0 };
	struct http_server *h;
	struct ds_engine e;
	struct ds_sched *s;
	struct ds_sched_opts so;
	pthread_t sig_thread;
	static sigset_t set;
	bool loopback = false;

	if (parse_listen(a->listen, &o, &loopback) != 0)
		return 1;
	if (!loopback && a->api_key_file == NULL)
		return cli_fail("--serve %s answers other machines: give --api-key-file F so that only clients "
				"sending its key are served (or listen on 127.0.0.1)", a->listen);
	if (a->api_key_file != NULL && (key = read_api_key(a->api_key_file)) == NULL)
		return 1;
	if (ds_model_dir_check(a->model, err, sizeof err) != 0) {
		free(key);
		return cli_fail("%s", err);
	}
	model_id = cli_model_id(a->model);
	o.api_key = key;
	o.max_body = a->max_body > 0 ? (size_t)a->max_body : (size_t)DEFAULT_MAX_BODY;
	o.timeout_s = a->timeout_s > 0 ? a->timeout_s : DEFAULT_TIMEOUT_S;
	o.max_connections = MAX_CONNECTIONS;
	o.max_requests = (a->slots > 0 ? a->slots : CLI_DEFAULT_SLOTS) + (a->queue >= 0 ? a->queue : DEFAULT_QUEUE);
	o.model_id = model_id;
	o.defaults = a->sampling;
	o.seed_fixed = a->seed_set;

	/* SIGINT and SIGTERM go to one thread: main blocked them before any other thread started
	 * (CLI_SIGWAIT), and every thread inherits the blocked set. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_create(&sig_thread, NULL, wait_signal, &set);
	pthread_detach(sig_thread);

	h = http_serve_start(&o, err, sizeof err);
	if (h == NULL) {
		free(key);
		free(model_id);
		return cli_fail("%s", err);
	}
	fprintf(stderr, "dscoder-engine: listening on http://%s:%d/v1 (loading %s)\n",
		host_text(&o, err, sizeof err), http_serve_port(h), model_id);
	cli_sched_opts(a, &so);
	if (cli_sched_engine_open(a, &e, &so, err, sizeof err) != 0) {
		http_serve_free(h);
		free(key);
		free(model_id);
		return cli_fail("%s", err);
	}
	/* the server counts what runs and waits itself (the scheduler's 0 would mean no limit) */
	so.max_queue = 0;
	s = ds_sched_new(&e, &so, err, sizeof err);
	if (s == NULL || ds_sched_start(s, err, sizeof err) != 0) {
		ds_sched_free(s);
		ds_engine_close(&e);
		http_serve_free(h);
		free(key);
		free(model_id);
		return cli_fail("%s", err);
	}
	http_serve_ready(h, s, so.n_ctx);
	fprintf(stderr, "dscoder-engine: ready: %s, %d slots of %d tokens%s\n", model_id, so.n_slots, so.n_ctx,
		key != NULL ? ", API key required" : "");

	pthread_mutex_lock(&stop_mu);
	serving = true;
	while (stop_signal == 0)
		pthread_cond_wait(&stop_cond, &stop_mu);
	pthread_mutex_unlock(&stop_mu);
	fprintf(stderr, "dscoder-engine: stopping (signal %d): no new requests, running ones cancelled\n", stop_signal);

	http_serve_stop(h);
	ds_sched_drain(s);
	http_serve_free(h);
	ds_sched_free(s);
	ds_engine_close(&e);
	free(key);
	free(model_id);
	return 0;
}

const struct cli_verb_entry cli_http_entry = {
	.verb = VERB_HTTP, .name = "--serve", .flags = CLI_FORWARD | CLI_SIGWAIT, .exec = cli_http,
	.usage = "  --serve [HOST:]PORT      an OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions\n"
		 "                           with suffix for fill-in-the-middle, /v1/models, /health); HOST defaults\n"
		 "                           to 127.0.0.1, port 0 picks a free one\n",
};

/* http-serve.h: the OpenAI-compatible HTTP server of dscoder-engine --serve, on libmicrohttpd: one
 * thread per connection, requests into the scheduler (engine/sched.h), answers whole or streamed. */
#ifndef DS_HTTP_SERVE_H
#define DS_HTTP_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sampler.h"
#include "scheduler.h"

struct http_serve_opts {
	struct sockaddr_storage addr;   /* where to listen (port 0: the system picks one) */
	socklen_t addr_len;
	const char *api_key;            /* the Bearer token clients must send; NULL: none asked */
	size_t max_body;                /* a larger request body gets 413 */
	int timeout_s;                  /* an idle connection is closed after this */
	int max_connections;
	int max_requests;               /* requests running or waiting (--slots + --queue); more get 429 */
	const char *model_id;           /* what /v1/models lists and requests may name */
	struct ds_sampling defaults;    /* the sampling of a request that leaves a field out */
	bool seed_fixed;                /* defaults.seed came from --seed: requests without one use it */
};

struct http_server;

/* Listens and answers at once: /health and every request get 503 "loading" until http_serve_ready.
 * Returns NULL with one sentence in err when the address cannot be bound. */
struct http_server *http_serve_start(const struct http_serve_opts *o, char *err, size_t errlen);
/* The port listened on (the one the system picked for port 0). */
int http_serve_port(const struct http_server *h);
/* From now on requests go to s (which must outlive http_serve_stop), n_ctx tokens per request (what
 * /v1/models says as max_model_len). */
void http_serve_ready(struct http_server *h, struct ds_sched *s, int n_ctx);
/* Stops accepting, answers new requests 503, cancels the running ones (a stream ends with an error
 * chunk and [DONE]), waits until their connections are done, and closes the listening socket. */
void http_serve_stop(struct http_server *h);
void http_serve_free(struct http_server *h);

#endif

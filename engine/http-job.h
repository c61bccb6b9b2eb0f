/* http-job.h: a request of the HTTP server in the scheduler: its events gathered under a lock for the
 * connection's thread, which waits for them while it watches its client (engine/http-serve.c). */
#ifndef DS_HTTP_JOB_H
#define DS_HTTP_JOB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "scheduler.h"

/* Two references: the scheduler's (dropped at the request's last event) and the connection's. The
 * fields after the lock are read and written under it. */
struct http_job {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int refs;
	char *text;                 /* text not yet taken by the connection */
	size_t len, cap;
	int tokens;                 /* tokens sampled so far */
	bool done, failed;
	struct ds_gen_stats st;
	char message[512];
};

struct http_job *http_job_new(void);
/* Drops one reference; the last frees the job. */
void http_job_unref(struct http_job *j);
/* The scheduler's callback (ds_sched_event_fn, arg the job): it only appends and signals, so the
 * scheduler never waits on a client. */
void http_job_event(const struct ds_sched_event *ev, void *arg);

enum http_wait {
	HTTP_WAIT_END,              /* the last event */
	HTTP_WAIT_START,            /* the first token (the prompt fitted), or the end */
	HTTP_WAIT_TEXT,             /* text to send, or the end */
};

/* Waits until j has what w names, asking gone(arg) every fraction of a second whether the client is
 * still there. Returns false when it went away first. Called and returns with j->mu held. */
bool http_job_wait(struct http_job *j, enum http_wait w, bool (*gone)(void *arg), void *arg);

#endif

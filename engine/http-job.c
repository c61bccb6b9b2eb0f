/* http-job.c: a request of the HTTP server in the scheduler, its events gathered for the connection. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http-job.h"
#include "xalloc.h"

#define WAIT_SLICE_MS 200       /* how often a waiting request asks whether its client is still there */

struct http_job *http_job_new(void)
{
	struct http_job *j = xcalloc(1, sizeof *j);

	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->refs = 2;
	return j;
}

void http_job_unref(struct http_job *j)
{
	int left;

	pthread_mutex_lock(&j->mu);
	left = --j->refs;
	pthread_mutex_unlock(&j->mu);
	if (left > 0)
		return;
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cond);
	free(j->text);
	free(j);
}

void http_job_event(const struct ds_sched_event *ev, void *arg)
{
	struct http_job *j = arg;
	bool last;

	pthread_mutex_lock(&j->mu);
	if (ev->type == DS_SCHED_TOKEN) {
		if (j->len + ev->len + 1 > j->cap) {
			j->cap = (j->len + ev->len + 1) * 2;
			j->text = xrealloc(j->text, j->cap);
		}
		memcpy(j->text + j->len, ev->text, ev->len);
		j->len += ev->len;
		if (ev->token_id >= 0)
			j->tokens++;
	} else if (ev->type == DS_SCHED_DONE) {
		j->st = *ev->stats;
		j->done = true;
	} else {
		snprintf(j->message, sizeof j->message, "%s", ev->message != NULL ? ev->message : "generation failed");
		j->failed = j->done = true;
	}
	last = j->done;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->mu);
	if (last)
		http_job_unref(j);
}

bool http_job_wait(struct http_job *j, enum http_wait w, bool (*gone)(void *arg), void *arg)
{
	while (!j->done && !(w == HTTP_WAIT_TEXT && j->len > 0) &&
	       !(w == HTTP_WAIT_START && (j->len > 0 || j->tokens > 0))) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&j->cond, &j->mu, &ts) == ETIMEDOUT && gone(arg))
			return false;
	}
	return true;
}

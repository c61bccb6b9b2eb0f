/* scheduler.h: continuous batching over one open engine: requests in, events out, no transport in it.
 * The pipe service (engine/serve.c), the HTTP server (--serve) and --batch-file are thin transports
 * over this one scheduler, with one request type and one mapping of sampling fields. */
#ifndef DS_SCHEDULER_H
#define DS_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "generate.h"
#include "sampler.h"

struct ds_sched;

/* What a request asks for: the same three inputs as the pipe protocol. */
enum ds_sched_input { DS_SCHED_CHAT = 0, DS_SCHED_COMPLETION, DS_SCHED_FIM };

enum ds_sched_event_type {
	DS_SCHED_TOKEN = 0,         /* a piece of answer text (whole UTF-8 characters; len may be 0) */
	DS_SCHED_DONE,              /* last event of a request that ran: stats filled */
	DS_SCHED_ERROR,             /* last event of a request that failed: message filled */
};

struct ds_sched_event {
	enum ds_sched_event_type type;
	uint64_t handle;            /* what ds_sched_submit returned */
	const char *text;           /* TOKEN */
	size_t len;
	int token_id;               /* TOKEN: the id just sampled (-1 when len == 0 for a prefill chunk,
	                             * and for text held back until the answer ended) */
	const struct ds_gen_stats *stats;   /* DONE: finish reason, token counts, timings */
	const char *message;        /* ERROR: one sentence */
};

/* Called on the scheduler's thread, in order per request. It must not block for long (queue the
 * event and return) and must not call back into the scheduler except ds_sched_cancel. The request's
 * last event is DONE or ERROR; after it the callback is never called again for that handle. */
typedef void (*ds_sched_event_fn)(const struct ds_sched_event *ev, void *arg);

struct ds_sched_request {
	enum ds_sched_input input;
	const struct ds_message *messages;  /* DS_SCHED_CHAT */
	int n_messages;
	const char *prompt;                 /* DS_SCHED_COMPLETION */
	const char *fim_prefix, *fim_suffix;/* DS_SCHED_FIM */
	struct ds_sampling sampling;        /* stop strings are copied by submit */
	ds_sched_event_fn on_event;
	void *arg;
};

struct ds_sched_opts {
	int n_slots;                /* sequences decoded together (--slots; 1 for the pipe service) */
	int n_ctx;                  /* context per slot; 0: the engine's */
	int prefill_chunk;          /* prompt tokens fed per step while other slots decode; 0: default */
	int max_queue;              /* requests waiting beyond the slots; submit refuses more (HTTP 429);
	                             * 0 or less: no limit (added: the pipe service queues without one) */
};

/* A scheduler over the open engine e (which it shares, not owns). Returns NULL with a sentence in err
 * when the KV cache for n_slots x n_ctx does not fit. While it lives it owns e's run state: nothing
 * else may run a forward pass on it (ds_generate included) until ds_sched_free. (Added: n_ctx may not
 * exceed the engine's context; the slots' cache takes n_slots times the engine's.) */
struct ds_sched *ds_sched_new(struct ds_engine *e, const struct ds_sched_opts *o, char *err, size_t errlen);
/* Stops the loop (running and queued requests end with finish "cancel"), joins it and frees. */
void ds_sched_free(struct ds_sched *s);

/* Runs the step loop on a thread of its own until ds_sched_free. */
int ds_sched_start(struct ds_sched *s, char *err, size_t errlen);

/* Queues a request (its strings are copied). Returns a handle > 0, or 0 with a sentence in err: the
 * queue is full (*busy set true: try later), or the request is invalid. */
uint64_t ds_sched_submit(struct ds_sched *s, const struct ds_sched_request *r, bool *busy, char *err,
			 size_t errlen);
/* Ends a request at its next step (finish "cancel"); a queued one is dropped with a DONE event.
 * Unknown or finished handles are ignored. Safe from any thread, also from inside on_event. */
void ds_sched_cancel(struct ds_sched *s, uint64_t handle);
/* Counts the prompt tokens of r as the request would be formatted; -1 when r is invalid (added). */
int ds_sched_count(struct ds_sched *s, const struct ds_sched_request *r);
/* Waits until every submitted request has sent its last event. */
void ds_sched_drain(struct ds_sched *s);

#endif

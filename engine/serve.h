/* serve.h: dscoder-engine's pipe service: the JSON-lines protocol of src/protocol.h on stdin/stdout. */
#ifndef DS_SERVE_H
#define DS_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "protocol.h"
#include "scheduler.h"

struct ds_state;

/* What answers the requests: the local model's scheduler, or a remote server (engine/remote.h), with
 * the scheduler's request and event types. */
struct ds_serve_backend {
	void *ctx;
	uint64_t (*submit)(void *ctx, const struct ds_sched_request *r, bool *busy, char *err, size_t errlen);
	void (*cancel)(void *ctx, uint64_t handle);
	/* *estimate: the count is approximate */
	int (*count)(void *ctx, const struct ds_sched_request *r, bool *estimate);
	void (*drain)(void *ctx);
	/* stops (the running and queued requests end with finish "cancel") and frees */
	void (*close)(void *ctx);
};

struct ds_serve_opts {
	const char *model_dir;      /* the checkpoint directory (--model) */
	int n_ctx;                  /* --ctx; 0: the model's, capped by memory (ds_engine_open decides) */
	int n_threads;              /* --threads; 0: all cores */
	/* Called once the model is open, before ready: may replace the run state by one split over
	 * ranks (--simulate-ranks, --gpus) with the same context. Returns 0, or -1 with one sentence in
	 * err (an error event, exit 1); progress gets loading events (a GPU upload). NULL: the state
	 * ds_engine_open made. */
	int (*place_state)(void *arg, const struct ds_model *m, struct ds_state **state, ds_progress_fn progress,
			   void *progress_arg, char *err, size_t errlen);
	void *place_arg;
	const char *backend_name;   /* for the ready event when place_state split the model; NULL: the state's */
	/* NULL: the local model (ds_engine_open + the scheduler). Else called instead, after the signal
	 * thread starts: fills *b and the ready event's model info (strings stay owned by the callee), or
	 * returns -1 with one sentence in err (an error event, exit 1). */
	int (*open_backend)(void *arg, struct ds_serve_backend *b, struct ds_proto_model_info *ready,
			    char *err, size_t errlen);
	void *open_arg;
};

/* Loads the model (emitting loading events, then ready, or an error event and return 1), then serves
 * requests from stdin until shutdown, EOF on stdin (queued requests are answered first), SIGTERM or
 * SIGINT (the running and queued requests end with finish "cancel"; a second signal exits at once),
 * or until stdout is closed by the reader (EPIPE: exits quietly). Returns the exit status: 0, or 1
 * when the model could not be loaded. Side effects that outlive the call: SIGPIPE is ignored and
 * SIGTERM/SIGINT stay blocked (a late signal then cannot turn a clean exit into a killed one). */
int ds_serve(const struct ds_serve_opts *o);

#endif

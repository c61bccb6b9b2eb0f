/* engine-session.h: the TUI's session with its engine, without a screen: the engine's command line
 * (a local model, or --remote to a server), starting and restarting it, request ids, turning the
 * conversation into generate and count requests, the answer being streamed, cancel, and the engine
 * ending mid-answer. The panes read its fields; what the screen does about an event goes back through
 * struct engine_session_hooks. No ncurses here: tests/test-engine-session runs it against the real
 * engine. */
#ifndef DS_ENGINE_SESSION_H
#define DS_ENGINE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "conversation.h"
#include "engine-client.h"

struct config_remote;

enum engine_state {
	ENGINE_STARTING,            /* spawned, nothing heard yet */
	ENGINE_LOADING,             /* loading events arrive */
	ENGINE_READY,
	ENGINE_GENERATING,
	ENGINE_STOPPED,             /* exited or failed to start */
};

/* What the engine is started with. Strings belong to the caller; engine_launch_args copies them. */
struct engine_launch {
	const char *model;          /* model directory or .gguf; with a remote, NULL unless one is configured */
	int threads, ctx;           /* 0: the engine's default */
	const char *backend;        /* NULL or "auto": the engine's choice */
	int gpus;                   /* --gpus; 0: not set */
	const char *devices;        /* --devices, or NULL */
	char *const *engine_args;   /* passed after the others */
	int n_engine_args;
	const struct config_remote *remote;   /* a server: NULL (or url NULL) runs the model here */
};

/* The engine's arguments (without argv[0]) for l, NULL-terminated, every string allocated: free with
 * engine_launch_args_free. With a remote: --remote URL [--remote-model M] [--api-key-env VAR |
 * --api-key-file F] [--model DIR]; the key itself is never an argument, only where it is. The local
 * engine's settings (threads, backend, GPUs, engine_args) do not apply to a remote. */
char **engine_launch_args(const struct engine_launch *l);
void engine_launch_args_free(char **args);

/* What the session asks of the screen; arg is engine_session.hook_arg. Every hook is required. */
struct engine_session_hooks {
	void (*notice)(void *arg, bool error, const char *text);
	void (*sync)(void *arg);                /* messages were added, removed or finished: lay out */
	void (*streamed)(void *arg);            /* text was appended to the answer being streamed */
	void (*to_end)(void *arg);              /* an answer started: show the end of the conversation */
	void (*save)(void *arg);
	int (*drop_oldest)(void *arg);          /* drop the oldest turn; 0 when none could go */
	/* The prompt is over_by tokens over the context: ask whether to drop turns
	 * (engine_session.drop_and_retry = 1 and engine_session_count go on from there). */
	void (*context_over)(void *arg, int over_by, int n_ctx);
};

struct engine_session {
	struct engine_client eng;
	struct conversation **conv;         /* the conversation on screen (the caller's pointer) */
	const struct engine_session_hooks *hooks;
	void *hook_arg;
	char **args;                        /* from engine_launch_args */
	char *path;                         /* the engine program */
	char *conv_model;                   /* recorded in a conversation that has no model yet */
	bool relaunch;                      /* the launch changed: start with args, not as before */

	enum engine_state state;
	uint64_t load_done, load_total;
	char *model_name, *backend;         /* from the ready event; backend "cpu", "cuda", "remote" ... */
	char *endpoint;                     /* a remote engine's server (the ready event's path), else NULL */
	int n_ctx, ctx_tokens;              /* from the count event; ctx_tokens -1: unknown */
	bool ctx_estimate;                  /* ctx_tokens is an estimate (a server, no tokenizer here) */
	long long next_id;
	long long gen_id;                   /* id of the running generation, 0 when none */
	long long count_id;
	bool pending_generate;              /* generate once the engine is ready */
	bool regenerate_after_cancel;
	bool cancel_sent;
	int drop_and_retry;                 /* dropping turns after a context overflow */
	double last_tps;
	int gen_tokens;
	double gen_start, gen_first;        /* request sent; first token arrived */
	double gen_last;                    /* latest token arrived */
	char *engine_error;                 /* why the engine stopped (one line) */
	bool engine_start_failed;           /* it stopped before it was ready: nothing can be answered */
};

/* conv points at the caller's conversation pointer, which may change between calls. */
void engine_session_init(struct engine_session *s, struct conversation **conv,
			 const struct engine_session_hooks *hooks, void *hook_arg);
/* The program and its arguments for the next start (a running engine keeps its own until then);
 * conv_model is recorded in conversations that have none (the model directory, the server). */
void engine_session_set_launch(struct engine_session *s, const char *path, const struct engine_launch *l,
			       const char *conv_model);
/* Stops the engine (shutdown request, then signals after grace_ms) and frees everything. */
void engine_session_free(struct engine_session *s, int grace_ms);

/* Stops the engine on purpose (before a start with another launch): nothing is running then. */
void engine_session_stop(struct engine_session *s, int grace_ms);
/* Starts the engine (the first time, or after a launch change, with the launch's arguments; else
 * again as before). On failure the state is ENGINE_STOPPED with engine_error set and a notice. */
void engine_session_start(struct engine_session *s);
/* Sends the conversation as a generate request and adds the empty answer it fills (starting the
 * engine first when it is stopped, or when it is still loading, once it is ready). */
void engine_session_generate(struct engine_session *s);
/* Asks how many tokens the context holds (the meter). */
void engine_session_count(struct engine_session *s);
/* Cancels the running answer, or the one waiting for the engine. */
void engine_session_cancel(struct engine_session *s);

/* The event loop's glue. The engine's stdout is readable: handles its events; returns -1 when it
 * closed (then see engine_session_reap). */
int engine_session_read(struct engine_session *s);
/* Its stderr is readable: keeps the last lines. */
void engine_session_read_err(struct engine_session *s);
/* After SIGCHLD or a closed stdout: 1 when the engine has ended (handled: an answer cut short keeps
 * what arrived, marked "error"), 0 when it runs, -1 when its stdout closed but it has not exited yet
 * (ask again shortly). */
int engine_session_reap(struct engine_session *s);

#endif

/* remote.h: requests answered by an OpenAI-compatible server (vLLM, SGLang, DeepSeek's API,
 * dscoder-engine --serve) through libcurl, with the scheduler's request and event types, so the pipe
 * service can put a remote model behind the same protocol as a local one (dscoder-engine --remote). */
#ifndef DS_REMOTE_H
#define DS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler.h"

struct ds_remote;

struct ds_remote_opts {
	const char *url;            /* http(s)://host[:port][/path]: "/v1/..." is appended to a bare
	                             * host, "/..." to a URL with a path (".../v1", ".../beta") */
	const char *fim_url;        /* --remote-fim-url: where fill-in-the-middle goes (DeepSeek's API:
	                             * https://api.deepseek.com/beta); NULL: url */
	const char *model;          /* --remote-model; NULL: the first model GET /v1/models lists */
	const char *key_env;        /* --api-key-env VAR: the key is $VAR (NULL: none) */
	const char *key_file;       /* --api-key-file F: the key is F's first line (NULL: none) */
	const char *tok_path;       /* --model beside --remote: a checkpoint directory or .gguf whose
	                             * tokenizer counts prompts; NULL: counts are estimates */
	int n_ctx;                  /* --ctx; 0: the server's max_model_len, else the local model's */
	int connect_timeout_s;      /* 0: 10 */
	int idle_timeout_s;         /* a stream silent this long is cut; 0: 300 */
};

/* What the ready event says about the remote model. */
struct ds_remote_info {
	char model[256];            /* the model id requests name */
	char url[512];              /* the URL as given */
	int n_ctx;                  /* context in tokens (see n_ctx_source) */
	const char *n_ctx_source;   /* "server", "--ctx", "local model" or "assumed" */
	int vocab_size;             /* of the local tokenizer, else 0 */
};

/* Reads the key, asks the server for its models (GET /v1/models) and checks the chosen one, loads
 * the local tokenizer when asked, and starts the worker thread. Returns NULL with one sentence in err
 * (cannot connect, TLS, a refused key naming where it came from, an unknown model, ...); the key is
 * never part of a message. */
struct ds_remote *ds_remote_open(const struct ds_remote_opts *o, struct ds_remote_info *info, char *err,
				 size_t errlen);
/* Ends running and queued requests (finish "cancel"), joins the worker and frees. */
void ds_remote_free(struct ds_remote *r);

/* As ds_sched_submit: queues a request, answered one at a time in arrival order. Returns a handle > 0,
 * or 0 with a sentence in err. */
uint64_t ds_remote_submit(struct ds_remote *r, const struct ds_sched_request *req, bool *busy, char *err,
			  size_t errlen);
/* As ds_sched_cancel: the running request's stream is closed within about a second. */
void ds_remote_cancel(struct ds_remote *r, uint64_t handle);
/* Prompt tokens of req: the local tokenizer's count of the DeepSeek prompt format, or, without one,
 * an estimate from the text's length (*estimate set true). */
int ds_remote_count(struct ds_remote *r, const struct ds_sched_request *req, bool *estimate);
/* Waits until every submitted request has sent its last event. */
void ds_remote_drain(struct ds_remote *r);

/* The URL of endpoint path ("chat/completions", "models") under base, as requests use it; for tests. */
char *ds_remote_endpoint(const char *base, const char *path);

#endif

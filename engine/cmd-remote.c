/* cmd-remote.c: dscoder-engine --remote URL: the pipe service of the TUI, answered by an
 * OpenAI-compatible server (engine/remote.c) instead of a local model. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <string.h>

#include "engine-cli.h"
#include "remote.h"
#include "serve.h"

/* The remote client as the pipe service's backend. */
static uint64_t rb_submit(void *ctx, const struct ds_sched_request *r, bool *busy, char *err, size_t errlen)
{
	return ds_remote_submit(ctx, r, busy, err, errlen);
}

static void rb_cancel(void *ctx, uint64_t handle)
{
	ds_remote_cancel(ctx, handle);
}

static int rb_count(void *ctx, const struct ds_sched_request *r, bool *estimate)
{
	return ds_remote_count(ctx, r, estimate);
}

static void rb_drain(void *ctx)
{
	ds_remote_drain(ctx);
}

static void rb_close(void *ctx)
{
	ds_remote_free(ctx);
}

struct remote_open {
	struct ds_remote_opts ro;
	struct ds_remote_info info;
	char path[600];
};

static int rb_open(void *arg, struct ds_serve_backend *b, struct ds_proto_model_info *ready, char *err,
		   size_t errlen)
{
	struct remote_open *o = arg;
	struct ds_remote *r = ds_remote_open(&o->ro, &o->info, err, errlen);
	if (r == NULL)
		return -1;
	*b = (struct ds_serve_backend){ .ctx = r, .submit = rb_submit, .cancel = rb_cancel, .count = rb_count,
					.drain = rb_drain, .close = rb_close };
	/* the ready event: the model id, the endpoint, and where the context size came from */
	snprintf(o->path, sizeof o->path, "%s", o->info.url);
	*ready = (struct ds_proto_model_info){ .name = o->info.model, .path = o->path, .n_ctx = o->info.n_ctx,
					       .vocab_size = o->info.vocab_size, .backend = "remote", .threads = 0 };
	fprintf(stderr, "dscoder-engine: remote model %s at %s (context %d tokens, %s)\n", o->info.model,
		o->info.url, o->info.n_ctx, o->info.n_ctx_source);
	return 0;
}

static int cli_remote(const struct cli_args *a)
{
	static struct remote_open o;

	o.ro = (struct ds_remote_opts){
		.url = a->remote_url, .fim_url = a->remote_fim_url, .model = a->remote_model, .key_env = a->api_key_env,
		.key_file = a->api_key_file, .tok_path = a->model_given ? a->model : NULL, .n_ctx = a->n_ctx,
	};
	struct ds_serve_opts so = { .model_dir = a->remote_url, .n_ctx = a->n_ctx, .open_backend = rb_open,
				    .open_arg = &o };
	return ds_serve(&so);
}

const struct cli_verb_entry cli_remote_entry = {
	.verb = VERB_REMOTE, .name = "--remote", .exec = cli_remote,
	.usage = "  --remote URL             the pipe service, answered by the OpenAI-compatible server at URL\n"
		 "                           (vLLM, SGLang, DeepSeek's API, dscoder-engine --serve); --model\n"
		 "                           beside it only counts tokens\n",
};

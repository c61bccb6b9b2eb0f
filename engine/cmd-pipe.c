/* cmd-pipe.c: dscoder-engine with no verb: the JSON-lines pipe service the TUI talks to (engine/serve.c), split over ranks
 * when --simulate-ranks, --gpus or --nodes ask. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdbool.h>

#include "engine-cli.h"
#include "serve.h"

/* The pipe service's hook that splits the open model over --simulate-ranks, --gpus or --nodes ranks. */
static int serve_place_state(void *arg, const struct ds_model *m, struct ds_state **state,
			     ds_progress_fn progress, void *progress_arg, char *err, size_t errlen)
{
	const struct cli_args *a = arg;
	return cli_ranks_place(a, m, state, cli_ranks_context(a, *state), progress, progress_arg, err, errlen);
}

int cli_serve(const struct cli_args *a)
{
	char backend[64];
	bool split = a->simulate_ranks > 0 || a->gpus > 0 || a->nodes > 0;
	struct ds_serve_opts o = {
		.model_dir = a->model,
		.n_ctx = a->n_ctx,
		.n_threads = a->threads,
		.place_state = split ? serve_place_state : NULL,
		.place_arg = (void *)a,
		.backend_name = cli_ranks_describe(a, backend, sizeof backend),
	};

	return ds_serve(&o);
}

const struct cli_verb_entry cli_pipe_entry = {
	.verb = VERB_NONE, .name = "the pipe service",
	.usage = "", .flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_serve,
};

/* cmd-sched.c: the model's id and the scheduler's options, for --serve and --batch-file. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <string.h>

#include "cmd-sched.h"
#include "xalloc.h"

char *cli_model_id(const char *model)
{
	size_t len = strlen(model);
	const char *start;
	char *id;

	while (len > 1 && model[len - 1] == '/')
		len--;
	start = model + len;
	while (start > model && start[-1] != '/')
		start--;
	id = xstrndup(start, len - (size_t)(start - model));
	len = strlen(id);
	if (len > 5 && strcmp(id + len - 5, ".gguf") == 0)
		id[len - 5] = '\0';
	return id;
}

int cli_sched_engine_open(const struct cli_args *a, struct ds_engine *e, struct ds_sched_opts *o, char *err,
			  size_t errlen)
{
	struct ds_state *st;
	int per;

	if (ds_engine_open(e, a->model, a->n_ctx, a->threads, NULL, NULL, err, errlen) != 0)
		return -1;
	o->n_ctx = ds_state_n_ctx(e->state);
	if (a->n_ctx > 0 || o->n_slots == 1)
		return 0;
	per = o->n_ctx / o->n_slots;
	if (per < CLI_MIN_SLOT_CTX)
		per = CLI_MIN_SLOT_CTX;
	st = ds_state_new(&e->model, per, a->threads, err, errlen);
	if (st == NULL) {
		ds_engine_close(e);
		return -1;
	}
	ds_state_free(e->state);
	e->state = st;
	o->n_ctx = per;
	return 0;
}

void cli_sched_opts(const struct cli_args *a, struct ds_sched_opts *o)
{
	memset(o, 0, sizeof *o);
	o->n_slots = a->slots > 0 ? a->slots : CLI_DEFAULT_SLOTS;
	o->n_ctx = a->n_ctx;
}

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

void cli_sched_opts(const struct cli_args *a, struct ds_sched_opts *o)
{
	memset(o, 0, sizeof *o);
	o->n_slots = a->slots > 0 ? a->slots : CLI_DEFAULT_SLOTS;
	o->n_ctx = a->n_ctx;
}

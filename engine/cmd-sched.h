/* cmd-sched.h: what the verbs that run on the scheduler (--serve, --batch-file) share: the model's
 * name as clients see it and the scheduler's options from the command line. */
#ifndef DS_CMD_SCHED_H
#define DS_CMD_SCHED_H

#include "engine-cli.h"
#include "generate.h"
#include "scheduler.h"

/* Slots when --slots is not given. */
#define CLI_DEFAULT_SLOTS 4
/* The least context a slot gets when the default one is shared out. */
#define CLI_MIN_SLOT_CTX 256

/* The model's id for clients: the last part of --model without a trailing ".gguf"
 * ("models/dscoder-demo" -> "dscoder-demo"). The caller frees it. */
char *cli_model_id(const char *model);
/* The scheduler's options from --slots and --ctx (the queue is the verb's to set). */
void cli_sched_opts(const struct cli_args *a, struct ds_sched_opts *o);
/* Opens the engine for o->n_slots sequences: with --ctx each gets that context; without, the default
 * context (the model's, capped so that one sequence's cache takes at most half the free memory) is
 * shared out among the slots, so that --slots does not multiply the memory. Sets o->n_ctx. Returns 0,
 * or -1 with one sentence in err (e holds nothing). */
int cli_sched_engine_open(const struct cli_args *a, struct ds_engine *e, struct ds_sched_opts *o, char *err,
			  size_t errlen);

#endif

/* cmd-sched.h: what the verbs that run on the scheduler (--serve, --batch-file) share: the model's
 * name as clients see it and the scheduler's options from the command line. */
#ifndef DS_CMD_SCHED_H
#define DS_CMD_SCHED_H

#include "engine-cli.h"
#include "scheduler.h"

/* Slots when --slots is not given. */
#define CLI_DEFAULT_SLOTS 4

/* The model's id for clients: the last part of --model without a trailing ".gguf"
 * ("models/dscoder-demo" -> "dscoder-demo"). The caller frees it. */
char *cli_model_id(const char *model);
/* The scheduler's options from --slots and --ctx (the queue is the verb's to set). */
void cli_sched_opts(const struct cli_args *a, struct ds_sched_opts *o);

#endif

/* cmd-generate.c: dscoder-engine --generate, --complete and --fim-prefix/--fim-suffix: one prompt in
 * one of the three formats, its answer streamed to stdout. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>

#include "engine-cli.h"
#include "generate.h"

#define ERR_LEN 1024

static int print_piece(const char *text, size_t len, void *arg)
{
	(void)arg;
	if (len > 0) {
		fwrite(text, 1, len, stdout);
		fflush(stdout);
	}
	return ferror(stdout) ? 1 : 0;
}

int cli_generate(const struct cli_args *a)
{
	char err[ERR_LEN];
	struct ds_engine e;
	struct ds_gen_stats st;
	struct ds_sampling sampling = a->sampling;
	int *ids = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (ds_engine_open(&e, a->model, a->n_ctx, a->threads, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	if (cli_ranks_state(a, &e.model, &e.state, cli_ranks_context(a, e.state)) != 0) {
		ds_engine_close(&e);
		return 1;
	}
	if (a->verb == VERB_GENERATE) {
		struct ds_message msgs[2];
		int n_msgs = 0;

		if (a->system != NULL)
			msgs[n_msgs++] = (struct ds_message){ "system", a->system };
		msgs[n_msgs++] = (struct ds_message){ "user", a->text };
		ds_prompt_chat(e.tok, msgs, n_msgs, &ids, &n, &cap);
	} else if (a->verb == VERB_COMPLETE) {
		ds_prompt_completion(e.tok, a->text, &ids, &n, &cap);
	} else {
		ds_prompt_fim(e.tok, a->fim_prefix, a->fim_suffix, &ids, &n, &cap);
	}
	sampling.trim_leading_space = a->verb == VERB_GENERATE;
	if (ds_generate(&e, ids, (int)n, &sampling, print_piece, NULL, &st, err, sizeof err) != 0)
		rc = cli_fail("%s", err);
	else if (st.finish == DS_FINISH_CONTEXT && st.completion_tokens == 0)
		rc = cli_fail("the prompt is %d tokens over the context of %d (raise --ctx)",
			      st.over_by, ds_state_n_ctx(e.state));
	else
		putchar('\n');
	free(ids);
	ds_engine_close(&e);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}

const struct cli_verb_entry cli_generate_entry = {
	.verb = VERB_GENERATE, .name = "--generate",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_generate,
	.usage = "  --generate TEXT          TEXT as one user message (chat format); the answer streams to stdout\n",
};
const struct cli_verb_entry cli_complete_entry = {
	.verb = VERB_COMPLETE, .name = "--complete",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_generate,
	.usage = "  --complete TEXT          TEXT as a raw completion prompt (Base models)\n",
};
const struct cli_verb_entry cli_fim_entry = {
	.verb = VERB_FIM, .name = "--fim-prefix/--fim-suffix",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_generate,
	.usage = "  --fim-prefix TEXT --fim-suffix TEXT   fill in the middle; prints the hole\n",
};

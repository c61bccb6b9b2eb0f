/* cmd-greedy.c: dscoder-engine --ids FILE --greedy N: the next N ids by argmax through the KV cache. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>

#include "cmd-util.h"

int cli_greedy(const struct cli_args *a)
{
	struct ds_engine e;
	int *ids, pos, next, vocab;
	size_t n;

	if (cli_open_with_ids(a, a->greedy, &e, &ids, &n) != 0)
		return 1;
	vocab = e.model.cfg.vocab_size;
	if (ds_forward(e.state, ids, (int)n, 0, e.logits, false) != 0) {
		free(ids);
		ds_engine_close(&e);
		return cli_fail("%s: the forward pass rejected the ids", a->ids_path);
	}
	pos = (int)n;
	/* One decode step at a time through the KV cache, not stopping at EOS. */
	for (int i = 0; i < a->greedy; i++) {
		next = ds_argmax(e.logits, vocab);
		printf(i ? " %d" : "%d", next);
		if (i + 1 < a->greedy && ds_forward(e.state, &next, 1, pos++, e.logits, false) != 0) {
			free(ids);
			ds_engine_close(&e);
			return cli_fail("the forward pass failed at position %d", pos - 1);
		}
	}
	putchar('\n');
	free(ids);
	ds_engine_close(&e);
	return fflush(stdout) == 0 ? 0 : 1;
}

const struct cli_verb_entry cli_greedy_entry = {
	.verb = VERB_GREEDY, .name = "--greedy",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_greedy,
	.usage = "  --ids FILE --greedy N    the next N ids by argmax, decoding through the KV cache\n",
};

/* cmd-tokenize.c: dscoder-engine --tokenize: UTF-8 text on stdin, its ids (no BOS) on one line. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>

#include "cmd-util.h"
#include "tokenizer.h"

int cli_tokenize(const struct cli_args *a)
{
	struct tokenizer *t;
	size_t len, n = 0, cap = 0;
	int *ids = NULL, rc;
	char *text;

	if ((rc = cli_tok_with_stdin(a, &t, &text, &len)) != 0)
		return rc;
	/* As encode(add_special_tokens=False): added tokens in the text are matched. */
	tok_encode(t, text, len, true, &ids, &n, &cap);
	for (size_t i = 0; i < n; i++)
		printf(i ? " %d" : "%d", ids[i]);
	putchar('\n');
	free(ids);
	free(text);
	tok_free(t);
	return fflush(stdout) == 0 ? 0 : 1;
}

const struct cli_verb_entry cli_tokenize_entry = {
	.verb = VERB_TOKENIZE, .name = "--tokenize",
	.exec = cli_tokenize,
	.usage = "  --tokenize               UTF-8 text on stdin -> ids on one line (no BOS)\n",
};

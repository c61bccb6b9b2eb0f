/* cmd-detokenize.c: dscoder-engine --detokenize: ids on stdin, their text on stdout. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>

#include "cmd-util.h"
#include "tokenizer.h"

int cli_detokenize(const struct cli_args *a)
{
	struct tokenizer *t;
	struct tok_stream stream;
	char *text, *out = NULL;
	size_t len, n = 0, out_len = 0, out_cap = 0;
	int *ids, rc;

	if ((rc = cli_tok_with_stdin(a, &t, &text, &len)) != 0)
		return rc;
	if (cli_parse_ids(text, "stdin", 0, &ids, &n) != 0) {
		free(text);
		tok_free(t);
		return 1;
	}
	tok_stream_init(&stream);
	for (size_t i = 0; i < n; i++)
		tok_stream_push(&stream, t, ids[i], &out, &out_len, &out_cap);
	tok_stream_flush(&stream, &out, &out_len, &out_cap);
	fwrite(out, 1, out_len, stdout);
	free(out);
	free(ids);
	free(text);
	tok_free(t);
	return fflush(stdout) == 0 ? 0 : 1;
}

const struct cli_verb_entry cli_detokenize_entry = {
	.verb = VERB_DETOKENIZE, .name = "--detokenize",
	.exec = cli_detokenize,
	.usage = "  --detokenize             ids on stdin -> text\n",
};

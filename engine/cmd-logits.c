/* cmd-logits.c: dscoder-engine --ids FILE --logits OUT: one forward pass, positions x vocab float32. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-util.h"
#include "xalloc.h"

int cli_logits(const struct cli_args *a)
{
	struct ds_engine e;
	int *ids;
	size_t n, vocab;
	float *logits;
	FILE *f;
	int rc = 0;

	if (cli_open_with_ids(a, 0, &e, &ids, &n) != 0)
		return 1;
	vocab = (size_t)e.model.cfg.vocab_size;
	logits = xmalloc(n * vocab * sizeof *logits);
	if (ds_forward(e.state, ids, (int)n, 0, logits, true) != 0) {
		rc = cli_fail("%s: the forward pass rejected the ids", a->ids_path);
	} else if ((f = fopen(a->logits_path, "wb")) == NULL) {
		rc = cli_fail("%s: %s", a->logits_path, strerror(errno));
	} else {
		/* Little-endian float32, positions x vocab_size, row-major: the host's layout
		 * (configure refuses big-endian hosts). */
		if (fwrite(logits, sizeof *logits, n * vocab, f) != n * vocab)
			rc = cli_fail("%s: write error: %s", a->logits_path, strerror(errno));
		if (fclose(f) != 0 && rc == 0)
			rc = cli_fail("%s: write error: %s", a->logits_path, strerror(errno));
	}
	free(logits);
	free(ids);
	ds_engine_close(&e);
	return rc;
}

const struct cli_verb_entry cli_logits_entry = {
	.verb = VERB_LOGITS, .name = "--logits",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_logits,
	.usage = "  --ids FILE --logits OUT  one forward pass over the ids in FILE; OUT gets positions x vocab float32\n",
};

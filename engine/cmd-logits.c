/* cmd-logits.c: dscoder-engine --ids FILE --logits OUT: one forward pass, positions x vocab float32;
 * --ids A,B,... runs the files as sequences of one batch, each in its own cache slot (the batched
 * forward pass of the scheduler), OUT holding their logits one after the other. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-util.h"
#include "xalloc.h"

/* The most sequences --ids A,B,... takes. */
#define LOGITS_MAX_SEQS 64

static int write_logits(const char *path, const float *logits, size_t count)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (f == NULL)
		return cli_fail("%s: %s", path, strerror(errno));
	/* Little-endian float32, positions x vocab_size, row-major: the host's layout (configure refuses
	 * big-endian hosts). */
	if (fwrite(logits, sizeof *logits, count, f) != count)
		rc = cli_fail("%s: write error: %s", path, strerror(errno));
	if (fclose(f) != 0 && rc == 0)
		rc = cli_fail("%s: write error: %s", path, strerror(errno));
	return rc;
}

/* --ids A,B,...: every file a sequence in its own slot, all prefilled in one ds_forward_batch. */
static int logits_batch(const struct cli_args *a)
{
	char err[512], *list = xstrdup(a->ids_path), *save = NULL;
	int *ids[LOGITS_MAX_SEQS] = { NULL }, n_seq = 0, rc = 1;
	size_t len[LOGITS_MAX_SEQS], total = 0, longest = 0;
	struct ds_engine e;

	if (ds_engine_open(&e, a->model, 16, a->threads, NULL, NULL, err, sizeof err) != 0) {
		free(list);
		return cli_fail("%s", err);
	}
	for (char *path = strtok_r(list, ",", &save); path != NULL; path = strtok_r(NULL, ",", &save)) {
		if (n_seq == LOGITS_MAX_SEQS) {
			cli_fail("--ids takes at most %d files", LOGITS_MAX_SEQS);
			goto out;
		}
		char *text = cli_read_file_text(path);
		if (text == NULL)
			goto out;
		int bad = cli_parse_ids(text, path, e.model.cfg.vocab_size, &ids[n_seq], &len[n_seq]);
		free(text);
		if (bad != 0)
			goto out;
		if (len[n_seq] == 0) {
			cli_fail("%s: holds no token ids", path);
			goto out;
		}
		total += len[n_seq];
		longest = len[n_seq] > longest ? len[n_seq] : longest;
		n_seq++;
	}
	ds_state_free(e.state);
	e.state = ds_state_new(&e.model, a->n_ctx > 0 ? a->n_ctx : (int)longest + 1, a->threads, err, sizeof err);
	if (e.state == NULL || ds_state_set_slots(e.state, n_seq, err, sizeof err) != 0) {
		cli_fail("%s", err);
		goto out;
	}
	int *tok = xmalloc(total * sizeof *tok), *pos = xmalloc(total * sizeof *pos), *seq = xmalloc(total * sizeof *seq);
	bool *want = xmalloc(total * sizeof *want);
	size_t k = 0;
	for (int i = 0; i < n_seq; i++)
		for (size_t j = 0; j < len[i]; j++, k++) {
			tok[k] = ids[i][j];
			pos[k] = (int)j;
			seq[k] = i;
			want[k] = true;
		}
	size_t vocab = (size_t)e.model.cfg.vocab_size;
	float *logits = xmalloc(total * vocab * sizeof *logits);
	struct ds_batch b = { .n = (int)total, .tokens = tok, .pos = pos, .seq = seq, .want_logits = want };
	if (ds_forward_batch(e.state, &b, logits) != 0)
		rc = cli_fail("%s: the forward pass rejected the batch (a file longer than --ctx?)", a->ids_path);
	else
		rc = write_logits(a->logits_path, logits, total * vocab);
	free(logits);
	free(tok);
	free(pos);
	free(seq);
	free(want);
out:
	for (int i = 0; i < n_seq; i++)
		free(ids[i]);
	free(list);
	ds_engine_close(&e);
	return rc;
}

int cli_logits(const struct cli_args *a)
{
	struct ds_engine e;
	int *ids;
	size_t n, vocab;
	float *logits;
	int rc = 0;

	if (strchr(a->ids_path, ',') != NULL)
		return logits_batch(a);
	if (cli_open_with_ids(a, 0, &e, &ids, &n) != 0)
		return 1;
	vocab = (size_t)e.model.cfg.vocab_size;
	logits = xmalloc(n * vocab * sizeof *logits);
	if (ds_forward(e.state, ids, (int)n, 0, logits, true) != 0) {
		rc = cli_fail("%s: the forward pass rejected the ids", a->ids_path);
	} else {
		rc = write_logits(a->logits_path, logits, n * vocab);
	}
	free(logits);
	free(ids);
	ds_engine_close(&e);
	return rc;
}

const struct cli_verb_entry cli_logits_entry = {
	.verb = VERB_LOGITS, .name = "--logits",
	.flags = CLI_FORWARD | CLI_SPLIT, .exec = cli_logits,
	.usage = "  --ids FILE --logits OUT  one forward pass over the ids in FILE; OUT gets positions x vocab float32\n"
		 "  --ids A,B,... --logits OUT   the files as sequences of one batch (their own cache slots);\n"
		 "                           OUT gets each one's logits in turn\n",
};

/* answer.c: one answer's text: sampling, UTF-8 pieces, stop strings held back until decided. */
#include "answer.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void ds_answer_init(struct ds_answer *a, const struct tokenizer *t, int vocab, int eos,
		    const struct ds_sampling *p, const int *prompt, int n, int max_ids)
{
	memset(a, 0, sizeof *a);
	a->tok = t;
	a->p = p;
	a->sampler = ds_sampler_new(vocab, p);
	tok_stream_init(&a->stream);
	a->cap_history = max_ids > n ? max_ids : n + 1;
	a->history = xcalloc((size_t)a->cap_history, sizeof *a->history);
	memcpy(a->history, prompt, (size_t)n * sizeof *prompt);
	a->n_history = n;
	a->eos = eos;
	a->tok_eos = tok_eos_id(t);
}

void ds_answer_free(struct ds_answer *a)
{
	ds_sampler_free(a->sampler);
	free(a->text);
	free(a->history);
	memset(a, 0, sizeof *a);
}

int ds_answer_pick(struct ds_answer *a, float *logits)
{
	return ds_sampler_pick(a->sampler, logits, a->history, a->n_history);
}

/* Length of the longest suffix of text[0..len) that is a proper prefix of one of the stop strings. */
static size_t stop_prefix_suffix(const char *text, size_t len, char **stop, int n_stop)
{
	size_t best = 0;

	for (int i = 0; i < n_stop; i++) {
		size_t sl = strlen(stop[i]);

		for (size_t k = sl > 0 ? sl - 1 : 0; k > best; k--)
			if (k <= len && memcmp(text + len - k, stop[i], k) == 0) {
				best = k;
				break;
			}
	}
	return best;
}

/* Searches for the earliest stop string starting at or after from. Returns its offset or -1. */
static long find_stop(const struct ds_answer *a, size_t from, char **stop, int n_stop)
{
	long found = -1;

	for (int i = 0; i < n_stop; i++) {
		size_t sl = strlen(stop[i]);

		if (sl == 0)
			continue;
		for (size_t at = from; at + sl <= a->len; at++)
			if (memcmp(a->text + at, stop[i], sl) == 0) {
				if (found < 0 || (long)at < found)
					found = (long)at;
				break;
			}
	}
	return found;
}

/* Hands text[sent..upto) to the caller; returns the callback's verdict (nonzero: cancel). */
static int emit(struct ds_answer *a, size_t upto, ds_text_fn on_text, void *arg)
{
	int verdict = 0;

	if (upto > a->sent) {
		verdict = on_text(a->text + a->sent, upto - a->sent, arg);
		a->sent = upto;
	} else {
		verdict = on_text("", 0, arg);
	}
	return verdict;
}

enum ds_answer_state ds_answer_add(struct ds_answer *a, int id, ds_text_fn on_text, void *arg)
{
	const struct ds_sampling *p = a->p;
	long stop_at;

	if (id == a->eos || id == a->tok_eos)
		return DS_ANSWER_EOS;
	a->n_tokens++;
	if (a->n_history < a->cap_history)
		a->history[a->n_history++] = id;
	/* Special tokens the model emits (FIM markers, a stray BOS) are control, not text. */
	if (!tok_is_special(a->tok, id))
		tok_stream_push(&a->stream, a->tok, id, &a->text, &a->len, &a->cap);
	if (!a->trimmed && a->len > 0) {
		if (p->trim_leading_space && a->text[0] == ' ')
			a->sent = 1;
		a->trimmed = true;
	}
	/* Everything already sent is known not to start a stop string (a possible start is held back),
	 * so the search begins at the first unsent byte. */
	stop_at = find_stop(a, a->sent, p->stop, p->n_stop);
	if (stop_at >= 0) {
		a->len = (size_t)stop_at;
		return emit(a, a->len, on_text, arg) != 0 ? DS_ANSWER_CANCEL : DS_ANSWER_STOP;
	}
	size_t hold = stop_prefix_suffix(a->text, a->len, p->stop, p->n_stop);
	return emit(a, a->len - hold, on_text, arg) != 0 ? DS_ANSWER_CANCEL : DS_ANSWER_MORE;
}

int ds_answer_flush(struct ds_answer *a, ds_text_fn on_text, void *arg)
{
	tok_stream_flush(&a->stream, &a->text, &a->len, &a->cap);
	return emit(a, a->len, on_text, arg);
}

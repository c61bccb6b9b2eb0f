/* answer.h: one answer being generated: its sampler, the UTF-8 text of its tokens, stop strings held
 * back until the next tokens decide them. ds_generate runs one; each slot of the scheduler runs its
 * own, so the rules of what a caller sees are written once. */
#ifndef DS_ANSWER_H
#define DS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include "generate.h"
#include "sampler.h"
#include "tokenizer.h"

struct ds_answer {
	const struct tokenizer *tok;
	const struct ds_sampling *p;    /* not owned: must outlive the answer */
	struct ds_sampler *sampler;
	struct tok_stream stream;
	char *text;                     /* the answer's text so far; text[0..sent) was handed out */
	size_t len, cap, sent;
	bool trimmed;                   /* the first byte has been seen (trim_leading_space) */
	int *history;                   /* prompt + answer ids, for the repetition penalty */
	int n_history, cap_history;
	int eos, tok_eos;               /* the config's and the tokenizer's end of sequence */
	int n_tokens;                   /* answer tokens taken (EOS not counted) */
};

/* What ds_answer_add decided. */
enum ds_answer_state {
	DS_ANSWER_MORE = 0,             /* go on: feed the token back */
	DS_ANSWER_EOS,                  /* the model ended it: ds_answer_flush, finish stop */
	DS_ANSWER_STOP,                 /* a stop string ended it (not emitted): finish stop */
	DS_ANSWER_CANCEL,               /* the callback asked to cancel */
};

/* Starts the answer to prompt[0..n) (copied into the history), room for max_ids ids in all. */
void ds_answer_init(struct ds_answer *a, const struct tokenizer *t, int vocab, int eos,
		    const struct ds_sampling *p, const int *prompt, int n, int max_ids);
void ds_answer_free(struct ds_answer *a);
/* The next id from logits (vocab floats, modified: penalty, temperature). */
int ds_answer_pick(struct ds_answer *a, float *logits);
/* Takes id: its text goes to on_text (whole UTF-8 characters; len 0 when held back), at least one
 * call per id that is not EOS. */
enum ds_answer_state ds_answer_add(struct ds_answer *a, int id, ds_text_fn on_text, void *arg);
/* The answer ended without a stop string: what was held back is text after all. Returns nonzero
 * when the callback asked to cancel. */
int ds_answer_flush(struct ds_answer *a, ds_text_fn on_text, void *arg);

#endif

/* generate.h: an open engine (model, tokenizer, run state), prompt formats, and the generation loop
 * with a prompt cache that reuses the KV cache across requests sharing a prefix. */
#ifndef DS_GENERATE_H
#define DS_GENERATE_H

#include "forward.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

struct ds_engine {
	struct ds_model model;
	struct tokenizer *tok;
	struct ds_state *state;
	int *cached;                /* the ids whose K/V sit in the cache, in order */
	int n_cached;
	float *logits;              /* vocab_size floats */
	int *history;               /* prompt + answer ids of the running request */
	int ids_cap;                /* entries of cached and history: the state's n_ctx + 1 (the last
	                             * token sampled when the context is full is kept, never fed back) */
};

/* Checks that the model path dir is there before anything is read from it, so that a mistyped --model
 * is named as the directory it is, not as the first file looked for inside. Returns 0, or -1 with one
 * sentence in err ("the model directory DIR does not exist; ...", "the model file X.gguf ..."). */
int ds_model_dir_check(const char *dir, char *err, size_t errlen);

/* Opens the model in dir with a context of n_ctx tokens (0: the model's, capped by memory) on
 * n_threads threads (0: all cores). On error returns -1 with one sentence in err (ds_model_dir_check's
 * first); e holds nothing. */
int ds_engine_open(struct ds_engine *e, const char *dir, int n_ctx, int n_threads,
		   ds_progress_fn progress, void *arg, char *err, size_t errlen);
void ds_engine_close(struct ds_engine *e);

struct ds_message {
	const char *role;           /* "system", "user" or "assistant" */
	const char *content;
};

/* Prompt formats of ../shared/ARCHITECTURE.md. Each appends ids to a growable array (*ids, *n, *cap;
 * caller frees). Text from people is encoded with special-token matching off. */
void ds_prompt_chat(const struct tokenizer *t, const struct ds_message *msgs, int n_msgs,
		    int **ids, size_t *n, size_t *cap);
void ds_prompt_completion(const struct tokenizer *t, const char *text, int **ids, size_t *n, size_t *cap);
void ds_prompt_fim(const struct tokenizer *t, const char *prefix, const char *suffix,
		   int **ids, size_t *n, size_t *cap);

enum ds_finish { DS_FINISH_STOP, DS_FINISH_LENGTH, DS_FINISH_CANCEL, DS_FINISH_CONTEXT };
const char *ds_finish_name(enum ds_finish f);

struct ds_gen_stats {
	enum ds_finish finish;
	int prompt_tokens, completion_tokens, cached_tokens;
	int over_by;                /* finish == CONTEXT: how many tokens the prompt is over */
	double ttft_ms, prefill_tps, decode_tps;
};

/* Called with each piece of answer text (whole UTF-8 characters), at least once per generated
 * token (with len 0 when the token's text is held back), and with len 0 between prefill chunks, so
 * a cancel takes effect within one token or one chunk. Return nonzero to cancel. */
typedef int (*ds_text_fn)(const char *text, size_t len, void *arg);

/* Generates an answer to prompt[0..n): reuses the cached prefix, prefills the rest as a batch, then
 * samples until EOS, a stop string, max_tokens, the end of the context or a cancel. Stop strings are
 * not emitted: text that may be the start of one is held back until it is known not to be. Returns 0
 * (the reason is in st->finish) or -1 on an internal error with err set. */
int ds_generate(struct ds_engine *e, const int *prompt, int n, const struct ds_sampling *p,
		ds_text_fn on_text, void *arg, struct ds_gen_stats *st, char *err, size_t errlen);

#endif

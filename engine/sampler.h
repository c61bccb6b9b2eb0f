/* sampler.h: choosing the next token from logits: greedy, temperature, top-k, top-p, min-p and a
 * repetition penalty, with a seeded generator so runs are reproducible. */
#ifndef DS_SAMPLER_H
#define DS_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

struct ds_sampling {
	int max_tokens;             /* 0: until EOS or the context is full */
	float temperature;          /* 0: greedy */
	int top_k;                  /* 0: off */
	float top_p;                /* 1: off */
	float min_p;                /* 0: off */
	float repetition_penalty;   /* 1: off; applied to ids already in the prompt and answer */
	uint64_t seed;
	char **stop;                /* stop strings (not owned) */
	int n_stop;
	/* Drop one space at the very start of the answer. Chat answers follow "Assistant:" and the
	 * template writes "Assistant: " when the answer goes back in the next turn, so that space
	 * belongs to the template, not to the answer a person reads or stores. */
	bool trim_leading_space;
};

void ds_sampling_defaults(struct ds_sampling *p);
/* A seed for requests that did not ask for one: different on every call (time, process, counter),
 * so sampling without --seed or "seed" varies from run to run and "regenerate" gives a new answer. */
uint64_t ds_random_seed(void);

struct ds_sampler;

/* A sampler for vocab_size logits; owns its scratch space so sampling allocates nothing. */
struct ds_sampler *ds_sampler_new(int vocab_size, const struct ds_sampling *p);
void ds_sampler_free(struct ds_sampler *s);
/* Picks the next id. logits are modified in place (penalty, temperature). history holds the n_history
 * ids seen so far (for the repetition penalty). */
int ds_sampler_pick(struct ds_sampler *s, float *logits, const int *history, int n_history);
/* Index of the largest value (the first on ties), as torch.argmax does. */
int ds_argmax(const float *x, int n);

#endif

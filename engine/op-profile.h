/* op-profile.h: wall time per operation class of the forward pass (dscoder-engine --bench --profile),
 * so that the next bottleneck is named by the tool itself. Off unless ds_prof_enable(true): then each
 * begin/end pair costs two clock reads, otherwise one branch. */
#ifndef DS_OP_PROFILE_H
#define DS_OP_PROFILE_H

#include <stdbool.h>

enum ds_prof_class {
	DS_PROF_ATTENTION,   /* norms, projections and RoPE of the attention block */
	DS_PROF_MLA,         /* the attention itself: absorbed query, scores over the latent cache, W_UV */
	DS_PROF_ROUTER,      /* router logits and the top-k choice */
	DS_PROF_EXPERTS,     /* routed experts (for one token on the CPU, the shared ones too: both run
	                      * as the same two tasks) */
	DS_PROF_SHARED,      /* shared experts, where they run apart from the routed ones */
	DS_PROF_DENSE,       /* dense FFN of the first layers */
	DS_PROF_HEAD,        /* final norm and lm_head */
	DS_PROF_SAMPLING,    /* picking the next token from the logits */
	DS_PROF_N
};

/* Classes nest: the time of an inner class (shared experts inside the MoE call) is taken from the
 * enclosing one, so the classes add up to the time spent inside any of them. */
void ds_prof_begin_(enum ds_prof_class c);
void ds_prof_end_(enum ds_prof_class c);

extern bool ds_prof_on;

static inline void ds_prof_begin(enum ds_prof_class c)
{
	if (ds_prof_on)
		ds_prof_begin_(c);
}

static inline void ds_prof_end(enum ds_prof_class c)
{
	if (ds_prof_on)
		ds_prof_end_(c);
}

void ds_prof_enable(bool on);
/* A function every begin and end calls before reading the clock (NULL: none): a GPU backend's
 * synchronisation, so that each class is charged the device time of its own work. */
void ds_prof_set_sync(void (*sync)(void *arg), void *arg);
/* Zeroes the accumulated times. */
void ds_prof_reset(void);
/* Seconds accumulated in class c since the last reset. */
double ds_prof_seconds(enum ds_prof_class c);
/* The class's name for reports ("attention", "mla", "router", "experts", "shared", "dense", "head",
 * "sampling"). */
const char *ds_prof_name(enum ds_prof_class c);

/* --bench --profile's report: ms[c] = milliseconds of class c per token over total_s and n_tokens,
 * ms[DS_PROF_N] what the classes leave out ("other"); the timers are reset. */
void ds_prof_take(double ms[DS_PROF_N + 1], double total_s, int n_tokens);
/* ,"key":{"attention":..,...,"other":..} on stdout (a member of the --json object) */
void ds_prof_json(const char *key, const double ms[DS_PROF_N + 1]);
/* one line: what, then each class's ms per token and the total */
void ds_prof_text(const char *what, const double ms[DS_PROF_N + 1]);

#endif

/* op-profile.c: the per-class timers of op-profile.h, kept by the thread that runs the forward pass
 * (workers never call them). An inner class pauses the outer one, as a stack of at most 8. */
#include "build-config.h"

#include <stdio.h>

#include "clock.h"
#include "op-profile.h"

#define PROF_DEPTH 8

bool ds_prof_on;

static double prof_acc[DS_PROF_N];
static int prof_stack[PROF_DEPTH];
static int prof_depth;
static double prof_t0;       /* when the class on top of the stack last started or resumed */
static void (*prof_sync)(void *);
static void *prof_sync_arg;

void ds_prof_set_sync(void (*sync)(void *arg), void *arg)
{
	prof_sync = sync;
	prof_sync_arg = arg;
}

static const char *const prof_names[DS_PROF_N] = {
	"attention", "mla", "router", "experts", "shared", "dense", "head", "sampling",
};

void ds_prof_enable(bool on)
{
	ds_prof_on = on;
	prof_depth = 0;
}

void ds_prof_reset(void)
{
	for (int i = 0; i < DS_PROF_N; i++)
		prof_acc[i] = 0;
	prof_depth = 0;
}

void ds_prof_begin_(enum ds_prof_class c)
{
	if (prof_sync != NULL)
		prof_sync(prof_sync_arg);
	double now = clock_now();
	if (prof_depth > 0)
		prof_acc[prof_stack[prof_depth - 1]] += now - prof_t0;
	if (prof_depth < PROF_DEPTH)
		prof_stack[prof_depth] = c;
	prof_depth++;
	prof_t0 = now;
}

void ds_prof_end_(enum ds_prof_class c)
{
	if (prof_sync != NULL)
		prof_sync(prof_sync_arg);
	double now = clock_now();
	if (prof_depth == 0)
		return;     /* an end without its begin (profiling switched on midway) */
	prof_depth--;
	if (prof_depth < PROF_DEPTH)
		prof_acc[prof_stack[prof_depth]] += now - prof_t0;
	(void)c;
	prof_t0 = now;
}

double ds_prof_seconds(enum ds_prof_class c)
{
	return c >= 0 && c < DS_PROF_N ? prof_acc[c] : 0;
}

const char *ds_prof_name(enum ds_prof_class c)
{
	return c >= 0 && c < DS_PROF_N ? prof_names[c] : "?";
}

/* --bench --profile: the time of each operation class per token, and what the classes leave out
 * (norms, embeddings, RoPE, residual adds, the calls between) as "other". */
void ds_prof_take(double ms[DS_PROF_N + 1], double total_s, int n_tokens)
{
	double sum = 0;
	for (int c = 0; c < DS_PROF_N; c++) {
		ms[c] = 1e3 * ds_prof_seconds((enum ds_prof_class)c) / n_tokens;
		sum += ms[c];
	}
	ms[DS_PROF_N] = 1e3 * total_s / n_tokens - sum;
	ds_prof_reset();
}

void ds_prof_json(const char *key, const double ms[DS_PROF_N + 1])
{
	printf(",\"%s\":{", key);
	for (int c = 0; c < DS_PROF_N; c++)
		printf("\"%s\":%.3f,", ds_prof_name((enum ds_prof_class)c), ms[c]);
	printf("\"other\":%.3f}", ms[DS_PROF_N]);
}

void ds_prof_text(const char *what, const double ms[DS_PROF_N + 1])
{
	double total = ms[DS_PROF_N];
	for (int c = 0; c < DS_PROF_N; c++)
		total += ms[c];
	printf("%-16s", what);
	for (int c = 0; c < DS_PROF_N; c++)
		printf(" %s %.2f,", ds_prof_name((enum ds_prof_class)c), ms[c]);
	printf(" other %.2f ms per token (%.2f ms)\n", ms[DS_PROF_N], total);
}

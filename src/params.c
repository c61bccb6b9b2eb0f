/* params.c: defaults, names and range checks of the generation settings. */
#include "params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void params_sampling_defaults(struct params_sampling *p)
{
	/* Low temperature with a nucleus and a min-p floor: code wants mostly the likeliest tokens,
	 * with a little variety for regenerate to be useful. */
	p->temperature = 0.3;
	p->top_k = 0;
	p->top_p = 0.95;
	p->min_p = 0.05;
	p->repetition_penalty = 1.0;
	p->max_tokens = 0;
	p->seed = PARAMS_SEED_RANDOM;
}

static const char *const params_modes[] = {
	[PARAMS_MODE_CHAT] = "chat",
	[PARAMS_MODE_COMPLETION] = "completion",
	[PARAMS_MODE_FIM] = "fim",
};

const char *params_mode_name(enum params_mode m)
{
	if ((unsigned)m < sizeof(params_modes) / sizeof(params_modes[0]))
		return params_modes[m];
	return "chat";
}

int params_mode_parse(const char *s, enum params_mode *m)
{
	for (size_t i = 0; i < sizeof(params_modes) / sizeof(params_modes[0]); i++) {
		if (strcmp(s, params_modes[i]) == 0) {
			*m = (enum params_mode)i;
			return 0;
		}
	}
	return -1;
}

/* The ranges every entry point checks. Each keeps the sampler's arithmetic finite: a penalty below 0.01
 * or above 100 turns ordinary logits into infinities (1e-40 made every weight NaN), a temperature above
 * 100 is already uniform; the integer bounds keep the values in an int with room to add. */
const struct params_range params_ranges[PARAMS_N_FIELDS] = {
	[PARAMS_MAX_TOKENS] = { .key = "max_tokens", .option = "--max-tokens", .integer = true,
				.ilo = 0, .ihi = 1000000000, .off = "0: no limit" },
	[PARAMS_TEMPERATURE] = { .key = "temperature", .option = "--temperature", .lo = 0, .hi = 100,
				 .off = "0: greedy" },
	[PARAMS_TOP_K] = { .key = "top_k", .option = "--top-k", .integer = true, .ilo = 0, .ihi = 1000000,
			   .off = "0: off" },
	[PARAMS_TOP_P] = { .key = "top_p", .option = "--top-p", .lo = 0, .hi = 1, .lo_open = true,
			   .off = "1: off" },
	[PARAMS_MIN_P] = { .key = "min_p", .option = "--min-p", .lo = 0, .hi = 1, .off = "0: off" },
	[PARAMS_REPETITION_PENALTY] = { .key = "repetition_penalty", .option = "--repetition-penalty",
					.lo = 0.01, .hi = 100, .off = "1: off" },
	[PARAMS_SEED] = { .key = "seed", .option = "--seed", .integer = true, .ilo = 0, .ihi = INT64_MAX },
};

void params_range_words(enum params_field f, char *buf, size_t size)
{
	const struct params_range *r = &params_ranges[f];
	int n;

	if (size == 0)
		return;
	if (r->integer)
		n = snprintf(buf, size, "from %lld to %lld", r->ilo, r->ihi);
	else if (r->lo_open)
		n = snprintf(buf, size, "above %g and at most %g", r->lo, r->hi);
	else
		n = snprintf(buf, size, "from %g to %g", r->lo, r->hi);
	if (r->off != NULL && n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " (%s)", r->off);
}

int params_check(enum params_field f, const char *name, double x, char *err, size_t errlen)
{
	const struct params_range *r = &params_ranges[f];
	char words[96];

	/* the integer test casts only what the comparisons before it (false for NaN) kept in range */
	if (r->integer ? x >= (double)r->ilo && x <= (double)r->ihi && x < 9e18 && x == (double)(long long)x
		       : x >= r->lo && x <= r->hi && !(r->lo_open && x == r->lo))
		return 0;
	params_range_words(f, words, sizeof words);
	return errorf(err, errlen, "%s is %g; it must be %s", name, x, words);
}

int params_check_int(enum params_field f, const char *name, long long x, char *err, size_t errlen)
{
	const struct params_range *r = &params_ranges[f];
	char words[96];

	if (r->integer ? x >= r->ilo && x <= r->ihi : params_check(f, name, (double)x, NULL, 0) == 0)
		return 0;
	params_range_words(f, words, sizeof words);
	return errorf(err, errlen, "%s is %lld; it must be %s", name, x, words);
}

int params_check_stop(const char *name, const char *const *stop, int n, char *err, size_t errlen)
{
	if (n > PARAMS_MAX_STOP)
		return errorf(err, errlen, "there are %d stop strings (%s); at most %d are allowed", n, name,
			      PARAMS_MAX_STOP);
	for (int i = 0; i < n; i++)
		if (stop != NULL && stop[i] != NULL && stop[i][0] == '\0')
			return errorf(err, errlen, "%s is empty; a stop string needs at least one character", name);
	return 0;
}

const char *params_sampling_invalid(const struct params_sampling *p)
{
	if (params_check(PARAMS_TEMPERATURE, "", p->temperature, NULL, 0))
		return "temperature";
	if (params_check_int(PARAMS_TOP_K, "", p->top_k, NULL, 0))
		return "top_k";
	if (params_check(PARAMS_TOP_P, "", p->top_p, NULL, 0))
		return "top_p";
	if (params_check(PARAMS_MIN_P, "", p->min_p, NULL, 0))
		return "min_p";
	if (params_check(PARAMS_REPETITION_PENALTY, "", p->repetition_penalty, NULL, 0))
		return "repetition_penalty";
	if (params_check_int(PARAMS_MAX_TOKENS, "", p->max_tokens, NULL, 0))
		return "max_tokens";
	if (p->seed != PARAMS_SEED_RANDOM && params_check_int(PARAMS_SEED, "", p->seed, NULL, 0))
		return "seed";
	return NULL;
}

int params_devices_count(const char *list)
{
	int n = 0;
	for (const char *p = list; *p != '\0'; n++) {
		char *end;
		errno = 0;
		long d = strtol(p, &end, 10);
		if (errno != 0 || end == p || *p < '0' || *p > '9' || d > 4095 || (*end != ',' && *end != '\0') ||
		    (*end == ',' && end[1] == '\0'))
			return -1;
		p = *end == ',' ? end + 1 : end;
	}
	return n > 0 ? n : -1;
}

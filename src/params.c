/* params.c: defaults, names and range checks of the generation settings. */
#include "params.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

const char *params_sampling_invalid(const struct params_sampling *p)
{
	if (!(p->temperature >= 0))
		return "temperature";
	if (p->top_k < 0)
		return "top_k";
	if (!(p->top_p > 0 && p->top_p <= 1))
		return "top_p";
	if (!(p->min_p >= 0 && p->min_p <= 1))
		return "min_p";
	if (!(p->repetition_penalty > 0))
		return "repetition_penalty";
	if (p->max_tokens < 0)
		return "max_tokens";
	if (p->seed < -1)
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

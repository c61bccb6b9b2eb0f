/* params.h: generation settings shared by profiles and conversations: the prompt mode and the
 * sampling parameters, with their names as written in the YAML files. */
#ifndef DS_PARAMS_H
#define DS_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

/* How a request is turned into a prompt (see ARCHITECTURE.md, "Prompt formats"). */
enum params_mode {
	PARAMS_MODE_CHAT,           /* Instruct chat template */
	PARAMS_MODE_COMPLETION,     /* raw text after BOS, for Base models */
	PARAMS_MODE_FIM,            /* fill in the middle: prefix + hole + suffix */
};

/* Sampling parameters. Field meanings and "off" values match the engine's struct ds_sampling
 * (engine/sampler.h), so the TUI copies them field by field into a request. */
struct params_sampling {
	double temperature;         /* 0: greedy */
	int top_k;                  /* 0: off */
	double top_p;               /* 1: off */
	double min_p;               /* 0: off */
	double repetition_penalty;  /* 1: off */
	int max_tokens;             /* 0: until EOS or the context is full */
	int64_t seed;               /* PARAMS_SEED_RANDOM: a new seed per request */
};
#define PARAMS_SEED_RANDOM ((int64_t)-1)

/* Fills p with the defaults used when neither a profile nor a conversation says otherwise:
 * temperature 0.3, top_k 0, top_p 0.95, min_p 0.05, repetition_penalty 1.0, max_tokens 0, seed random. */
void params_sampling_defaults(struct params_sampling *p);
/* "chat", "completion" or "fim". The string is a constant. */
const char *params_mode_name(enum params_mode m);
/* Parses a mode name; returns 0 and sets *m, or -1 if s is not one of the names. */
int params_mode_parse(const char *s, enum params_mode *m);
/* Checks ranges (temperature >= 0, top_k >= 0, 0 < top_p <= 1, 0 <= min_p <= 1,
 * repetition_penalty > 0, max_tokens >= 0, seed >= -1). Returns NULL when valid, else the name of the
 * first bad field (a constant). */
const char *params_sampling_invalid(const struct params_sampling *p);

/* A GPU list as the engine's --devices and config.yaml's devices: take it, "0,2,3", device numbers
 * 0 to 4095 joined by commas. Returns how many there are, or -1 when list is not such a list. */
int params_devices_count(const char *list);

#endif

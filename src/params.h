/* params.h: generation settings shared by profiles and conversations: the prompt mode and the
 * sampling parameters, with their names as written in the YAML files. */
#ifndef DS_PARAMS_H
#define DS_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
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
/* The sampling settings a request, the engine's options and a profile can give, and the one table of
 * their ranges (params_ranges) that the pipe protocol (src/protocol.c), dscoder-engine's options
 * (src/engine-main.c) and profiles (src/profile.c) all check against, so that a value one of them takes
 * is never refused, or worse let through to the sampler, by another. */
enum params_field {
	PARAMS_MAX_TOKENS,
	PARAMS_TEMPERATURE,
	PARAMS_TOP_K,
	PARAMS_TOP_P,
	PARAMS_MIN_P,
	PARAMS_REPETITION_PENALTY,
	PARAMS_SEED,
	PARAMS_N_FIELDS
};

struct params_range {
	const char *key;            /* in requests and YAML files: "top_p" */
	const char *option;         /* dscoder-engine's option: "--top-p" */
	bool integer;               /* whole numbers only: ilo..ihi; else lo..hi */
	long long ilo, ihi;
	double lo, hi;
	bool lo_open;               /* lo itself is refused (top_p 0) */
	const char *off;            /* what the special value means, for messages ("1: off"), or NULL */
};
extern const struct params_range params_ranges[PARAMS_N_FIELDS];

/* At most this many stop strings, each at least one byte. */
#define PARAMS_MAX_STOP 16

/* Writes the allowed range of field f in words, as it follows "it must be": "from 0.01 to 100 (1: off)",
 * "above 0 and at most 1 (1: off)". Always NUL-terminates buf (when size > 0). */
void params_range_words(enum params_field f, char *buf, size_t size);
/* Checks x against the range of field f (NaN and infinities are out of every range). name is the field
 * as the user wrote it: "\"top_p\"" in a request, "--top-p" on the command line, "top_p" in a file.
 * Returns 0, or -1 with one sentence in err: "NAME is X; it must be RANGE". params_check_int is the same
 * for whole numbers (max_tokens, top_k, seed). */
int params_check(enum params_field f, const char *name, double x, char *err, size_t errlen);
int params_check_int(enum params_field f, const char *name, long long x, char *err, size_t errlen);
/* Checks n stop strings (stop may be NULL when only the count is known yet): at most PARAMS_MAX_STOP, none
 * empty. name as for params_check ("\"stop\"", "--stop"). Returns 0, or -1 with one sentence in err. */
int params_check_stop(const char *name, const char *const *stop, int n, char *err, size_t errlen);

/* Checks every field of p against params_ranges (seed may also be PARAMS_SEED_RANDOM). Returns NULL when
 * valid, else the name of the first bad field (a constant). */
const char *params_sampling_invalid(const struct params_sampling *p);

/* A GPU list as the engine's --devices and config.yaml's devices: take it, "0,2,3", device numbers
 * 0 to 4095 joined by commas. Returns how many there are, or -1 when list is not such a list. */
int params_devices_count(const char *list);

#endif

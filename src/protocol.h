/* protocol.h: the JSON-lines protocol between dscoder-tui and dscoder-engine: message names, the
 * protocol version, a line splitter with a length cap, and encoders/parsers for both directions.
 *
 * The engine reads requests on stdin and writes events on stdout, one JSON object per line each way
 * (UTF-8, no raw newlines inside a line, at most DS_PROTO_MAX_LINE bytes). dscoder-engine(1), section
 * PROTOCOL, is the user-facing description; this header is the C one both programs compile against.
 *
 *   engine -> TUI (events)
 *     {"event":"loading","done":BYTES,"total":BYTES}          while loading, at least every 5%
 *     {"event":"ready","protocol":1,"model":{"name":S,"path":S,"n_ctx":N,"vocab_size":N,
 *              "parameters":N,"backend":S,"threads":N}}       once, when requests can be sent
 *     {"event":"token","id":ID,"text":S}                      a piece of the answer (whole UTF-8 chars)
 *     {"event":"done","id":ID,"finish":"stop"|"length"|"cancel"|"context","prompt_tokens":N,
 *              "completion_tokens":N,"cached_tokens":N,"ttft_ms":X,"prefill_tps":X,"decode_tps":X
 *              [,"over_by":N,"message":S]}                    last event of a generate request;
 *                                                             over_by/message only with "context"
 *     {"event":"count","id":ID,"tokens":N,"n_ctx":N[,"estimate":true]}   answer to count; estimate:
 *                                                             no tokenizer counted it (a remote model)
 *     {"event":"error"[,"id":ID],"message":S}                 a bad request (engine keeps serving),
 *                                                             or, before ready, a failed load (exit 1)
 *
 *   TUI -> engine (requests)
 *     {"op":"generate","id":ID, exactly one of
 *          "messages":[{"role":"system"|"user"|"assistant","content":S},...]    chat
 *          "prompt":S                                                           completion
 *          "fim":{"prefix":S,"suffix":S}                                        fill-in-the-middle
 *      optional: "max_tokens":N,"temperature":X,"top_k":N,"top_p":X,"min_p":X,
 *                "repetition_penalty":X,"seed":N,"stop":[S,...]}
 *     {"op":"count","id":ID, exactly one of "messages" / "prompt" / "fim" as above}
 *     {"op":"cancel","id":ID}        ends that generation (finish "cancel"); a queued one is dropped
 *                                    with a done event, finish "cancel"; an unknown id is ignored
 *     {"op":"shutdown"}              cancels everything (done/cancel events), exits 0
 *   EOF on the engine's stdin: queued requests are still answered, then the engine exits 0.
 *
 * ID is a JSON string or integer chosen by the TUI; the engine echoes it unchanged. Requests are
 * answered in order; count and cancel are answered at once, even while a generation runs, so their
 * events may arrive between another request's token events. Every generate request ends with exactly
 * one done event, or with an error event carrying its id (refused: a bad key or value, an id already
 * queued or running; or generation failed). Nothing is read before ready. Unknown keys in a request
 * are an error (they are most likely typos); unknown keys in an event are ignored by
 * ds_proto_parse_event, so the engine may add keys without breaking older TUIs. A change that breaks
 * either side bumps DS_PROTO_VERSION; the TUI compares it with ready's "protocol". Strings in requests
 * must not contain U+0000; token text may (the model can produce any byte), so events carry lengths.
 */
#ifndef DS_PROTOCOL_H
#define DS_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DS_PROTO_VERSION 1
/* Longest line either side accepts, excluding the newline. Longer lines are dropped with an error. */
#define DS_PROTO_MAX_LINE (16u * 1024 * 1024)

/* Request ops ("op") and event names ("event") as they appear on the wire. */
#define DS_OP_GENERATE_NAME "generate"
#define DS_OP_COUNT_NAME "count"
#define DS_OP_CANCEL_NAME "cancel"
#define DS_OP_SHUTDOWN_NAME "shutdown"
#define DS_EV_LOADING_NAME "loading"
#define DS_EV_READY_NAME "ready"
#define DS_EV_TOKEN_NAME "token"
#define DS_EV_DONE_NAME "done"
#define DS_EV_COUNT_NAME "count"
#define DS_EV_ERROR_NAME "error"

/* ---- ids ---------------------------------------------------------------------------------------- */

enum ds_proto_id_kind { DS_ID_NONE = 0, DS_ID_INT, DS_ID_STR };

/* A request id: absent, an integer or a string (owned by the struct that holds it). */
struct ds_proto_id {
	enum ds_proto_id_kind kind;
	long long num;              /* DS_ID_INT */
	char *str;                  /* DS_ID_STR: NUL-terminated, owned */
};

/* An integer id (the usual choice of the TUI: a counter). Owns nothing. */
struct ds_proto_id ds_proto_id_int(long long n);
/* A string id; copies s. Free with ds_proto_id_free. */
struct ds_proto_id ds_proto_id_str(const char *s);
bool ds_proto_id_equal(const struct ds_proto_id *a, const struct ds_proto_id *b);
/* Deep copy of src into *dst (dst's old contents are not freed). */
void ds_proto_id_copy(struct ds_proto_id *dst, const struct ds_proto_id *src);
/* Frees a string id and sets *id to DS_ID_NONE. */
void ds_proto_id_free(struct ds_proto_id *id);
/* Writes the id as it would appear in JSON (42, "abc"; "(none)") into buf, truncated to size. */
void ds_proto_id_format(const struct ds_proto_id *id, char *buf, size_t size);

/* ---- requests (TUI -> engine) ------------------------------------------------------------------- */

enum ds_proto_op { DS_OP_GENERATE = 0, DS_OP_COUNT, DS_OP_CANCEL, DS_OP_SHUTDOWN };

/* What a generate or count request holds: exactly one of these. */
enum ds_proto_input { DS_INPUT_CHAT = 0, DS_INPUT_COMPLETION, DS_INPUT_FIM };

struct ds_proto_message {
	char *role;                 /* "system", "user" or "assistant" (checked by the parser) */
	char *content;              /* UTF-8, no U+0000 */
};

/* Bits of ds_proto_sampling.set: which optional sampling keys the request gave. */
enum {
	DS_SAMPLE_MAX_TOKENS = 1 << 0,
	DS_SAMPLE_TEMPERATURE = 1 << 1,
	DS_SAMPLE_TOP_K = 1 << 2,
	DS_SAMPLE_TOP_P = 1 << 3,
	DS_SAMPLE_MIN_P = 1 << 4,
	DS_SAMPLE_REPETITION_PENALTY = 1 << 5,
	DS_SAMPLE_SEED = 1 << 6,
	DS_SAMPLE_STOP = 1 << 7,
};

/* Sampling keys of a generate request. Keys not in `set` take the engine's defaults (greedy unless
 * temperature is given). The parser enforces the ranges of params_ranges (src/params.c), the same the
 * engine's options and the profiles are held to: max_tokens 0 to 10^9 (0: until EOS or the context is
 * full), temperature 0 to 100 (0: greedy), top_k 0 to 10^6 (0: off), 0 < top_p <= 1, 0 <= min_p <= 1,
 * repetition_penalty 0.01 to 100 (1: off), 0 <= seed < 2^63, stop: at most 16 non-empty strings. */
struct ds_proto_sampling {
	unsigned set;
	int max_tokens;
	double temperature;
	int top_k;
	double top_p;
	double min_p;
	double repetition_penalty;
	uint64_t seed;
	char **stop;                /* n_stop owned strings */
	int n_stop;
};

struct ds_proto_request {
	enum ds_proto_op op;
	struct ds_proto_id id;      /* required for generate, count and cancel; optional for shutdown */
	/* generate and count: */
	enum ds_proto_input input;
	struct ds_proto_message *messages;   /* DS_INPUT_CHAT: n_messages (>= 1) */
	int n_messages;
	char *prompt;               /* DS_INPUT_COMPLETION */
	char *fim_prefix, *fim_suffix;       /* DS_INPUT_FIM */
	/* generate only: */
	struct ds_proto_sampling sampling;
};

/* Parses one request line (len bytes, without the newline; need not be NUL-terminated and may hold
 * any bytes). On success returns 0 and r owns its strings (free with ds_proto_request_free). On a
 * bad line returns -1 with one sentence in err saying what is wrong (invalid UTF-8 and its byte
 * offset, malformed JSON and the column, an unknown op or key, a missing or mistyped key, a value out
 * of range, none or several of messages/prompt/fim); r->id then holds the request's id when the line
 * had a usable one (so the error event can name it) and nothing else: still call
 * ds_proto_request_free. */
int ds_proto_parse_request(const char *line, size_t len, struct ds_proto_request *r,
			   char *err, size_t errlen);
void ds_proto_request_free(struct ds_proto_request *r);

/* Encodes r as one line ending in "\n" (NUL-terminated; *len, if not NULL, gets its length without
 * the NUL). The caller frees it. r must be valid as ds_proto_parse_request would accept it (the TUI
 * builds it, so a bad one is a bug): aborts otherwise. Zeroed struct + op/id/input/fields is the
 * intended way to build one; sampling keys are written only when their bit is in sampling.set. */
char *ds_proto_encode_request(const struct ds_proto_request *r, size_t *len);

/* ---- events (engine -> TUI) --------------------------------------------------------------------- */

enum ds_proto_event_type {
	DS_EV_LOADING = 0, DS_EV_READY, DS_EV_TOKEN, DS_EV_DONE, DS_EV_COUNT, DS_EV_ERROR
};

enum ds_proto_finish {
	DS_PROTO_FINISH_STOP = 0,   /* EOS or a stop string */
	DS_PROTO_FINISH_LENGTH,     /* max_tokens reached */
	DS_PROTO_FINISH_CANCEL,     /* cancel, shutdown or SIGTERM */
	DS_PROTO_FINISH_CONTEXT,    /* the prompt does not fit (over_by > 0), or the context filled up */
};
/* "stop", "length", "cancel", "context". */
const char *ds_proto_finish_name(enum ds_proto_finish f);

struct ds_proto_model_info {
	char *name;                 /* the checkpoint directory's last component */
	char *path;                 /* the checkpoint directory as given to --model */
	int n_ctx;                  /* context in tokens, after --ctx and the memory cap */
	int vocab_size;
	uint64_t parameters;        /* number of weights */
	char *backend;              /* "cpu", later "cuda" */
	int threads;
};

/* One event; which fields mean something depends on type (comments). Strings are owned. */
struct ds_proto_event {
	enum ds_proto_event_type type;
	struct ds_proto_id id;      /* token, done, count; error when known; else DS_ID_NONE */
	/* loading */
	uint64_t done, total;       /* bytes */
	/* ready */
	int protocol;
	struct ds_proto_model_info model;
	/* token: text_len bytes of UTF-8 (may contain NUL bytes; NUL-terminated as well) */
	char *text;
	size_t text_len;
	/* done */
	enum ds_proto_finish finish;
	int prompt_tokens, completion_tokens, cached_tokens;
	int over_by;                /* finish context: tokens over n_ctx (0 if the answer filled it) */
	double ttft_ms, prefill_tps, decode_tps;
	/* error, and done with finish context: a sentence for people (may be NULL for done) */
	char *message;
	/* count (n_ctx also here) */
	int tokens, n_ctx;
	bool estimate;              /* count: approximate (a remote engine without a local tokenizer) */
};

/* Encodes ev as one line ending in "\n" (NUL-terminated; *len, if not NULL, gets its length without
 * the NUL); the caller frees it. Never fails (out of memory aborts). */
char *ds_proto_encode_event(const struct ds_proto_event *ev, size_t *len);

/* Parses one event line (len bytes, without the newline). Returns 0 with ev filled (free with
 * ds_proto_event_free), or -1 with a sentence in err (ev then holds nothing, freeing is harmless).
 * Keys this version does not know are ignored; required keys of a known event must be present. */
int ds_proto_parse_event(const char *line, size_t len, struct ds_proto_event *ev,
			 char *err, size_t errlen);
void ds_proto_event_free(struct ds_proto_event *ev);

/* ---- line splitting ----------------------------------------------------------------------------- */

/* Splits a byte stream into lines of at most max bytes without ever buffering much more than max: a
 * longer line is discarded as it arrives and reported once, in order, by ds_proto_lines_next.
 * A trailing "\r" is removed (CRLF tolerated). Use: feed what read() returned, then call next until
 * it returns 0. */
struct ds_proto_lines {
	char *buf;
	size_t len, cap, pos;       /* buf[pos..len) is not yet handed out */
	size_t tail;                /* buf[tail..len) is the unterminated last line */
	size_t max;
	bool skipping;              /* inside a line already known to be too long */
	size_t *drops;              /* offsets into buf where a dropped line sat, ascending */
	size_t n_drops, cap_drops;
};

void ds_proto_lines_init(struct ds_proto_lines *l, size_t max);
void ds_proto_lines_free(struct ds_proto_lines *l);
void ds_proto_lines_feed(struct ds_proto_lines *l, const char *data, size_t n);
/* Next complete line: returns 1 with *line (NUL-terminated, without the newline; valid until the next
 * feed or free) and *len set; -1 when the next line in the stream was too long and was dropped; 0 when
 * no complete line is buffered. */
int ds_proto_lines_next(struct ds_proto_lines *l, char **line, size_t *len);
/* At EOF: returns the unterminated last line, if any, like next (1), else 0. */
int ds_proto_lines_finish(struct ds_proto_lines *l, char **line, size_t *len);

/* Is s[0..n) valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)? If not and
 * bad is not NULL, *bad gets the offset of the first offending byte. */
bool ds_proto_utf8_valid(const char *s, size_t n, size_t *bad);

#endif

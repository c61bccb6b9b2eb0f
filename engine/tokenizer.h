/* tokenizer.h: the byte-level BPE tokenizer of tokenizer.json (DeepSeek-V2 family), and a streaming
 * decoder that only ever hands out whole, valid UTF-8. */
#ifndef DS_TOKENIZER_H
#define DS_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tokenizer;

/* Loads dir/tokenizer.json (and reads dir/tokenizer_config.json for the BOS/EOS names when present).
 * Returns NULL on error with one sentence in err naming the file and the problem. */
struct tokenizer *tok_load(const char *dir, char *err, size_t errlen);
void tok_free(struct tokenizer *t);

/* Number of ids the tokenizer knows (vocab plus added tokens); the model's vocab_size may be larger. */
int tok_vocab_size(const struct tokenizer *t);

/* Id of an added/special token by its exact content, or -1. */
int tok_special_id(const struct tokenizer *t, const char *content);
/* Is id an added token marked special (BOS, EOS, the FIM markers)? Answers leave them out of the
 * text, as skip_special_tokens does. */
bool tok_is_special(const struct tokenizer *t, int id);
int tok_bos_id(const struct tokenizer *t);  /* -1 when unknown */
int tok_eos_id(const struct tokenizer *t);

/* Encodes len bytes of text and appends the ids to *ids (a growable array of *n ids with capacity
 * *cap; the caller owns and frees it). Text need not be valid UTF-8: it is first decoded lossily,
 * each maximal invalid subpart becoming U+FFFD, which is the str that Python's
 * decode("utf-8", errors="replace") would have handed the Hugging Face tokenizer. With
 * match_special, added tokens in the text are matched as encode(add_special_tokens=False) does;
 * without it special tokens are plain text (as with split_special_tokens=True: added tokens that
 * are not special, none in DeepSeek-V2, are still matched). No BOS is added. */
void tok_encode(const struct tokenizer *t, const char *text, size_t len, bool match_special,
		int **ids, size_t *n, size_t *cap);

/* The bytes an id stands for (after undoing the byte-level mapping); "" for ids the tokenizer
 * lacks. Added tokens give their content. The pointer stays valid while t lives. */
const char *tok_id_bytes(const struct tokenizer *t, int id, size_t *len);

/* Streaming decoder: push ids one at a time, get back only complete valid UTF-8. Bytes that can no
 * longer form valid UTF-8 become U+FFFD, as errors="replace" does. */
struct tok_stream {
	unsigned char pending[8];
	size_t n_pending;
};
void tok_stream_init(struct tok_stream *s);
/* Appends the text ready after id to out (growable: *out_len bytes used, *out_cap capacity, the
 * caller owns *out, which is kept NUL-terminated). Returns the number of bytes appended. */
size_t tok_stream_push(struct tok_stream *s, const struct tokenizer *t, int id,
		       char **out, size_t *out_len, size_t *out_cap);
/* Flushes whatever is held back (an incomplete sequence at the end becomes U+FFFD). */
size_t tok_stream_flush(struct tok_stream *s, char **out, size_t *out_len, size_t *out_cap);

#endif

/* tokenizer-int.h: the tokenizer's internal state, shared by the loader (tokenizer-load.c), the
 * encoder (tokenizer.c), the regex translator (tokenizer-regex.c) and the decoder
 * (tokenizer-stream.c); nothing outside engine/tokenizer*.c includes it. */
#ifndef DS_TOKENIZER_INT_H
#define DS_TOKENIZER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Merge table: (left id, right id) -> (rank, merged id), open addressing with linear probing.
 * The key packs both ids; TOK_PAIR_EMPTY marks a free slot (ids are below 2^31). */
#define TOK_PAIR_EMPTY UINT64_MAX
struct tok_pair_slot {
	uint64_t key;
	int32_t rank;
	int32_t new_id;
};
struct tok_pairs {
	struct tok_pair_slot *slots;
	size_t mask;	/* slot count - 1 (a power of two) */
};

/* Byte string -> int32 map, open addressing; keys are copied into an arena. Used for the vocab
 * (token string -> id) and, with values that index an id arena, for the BPE cache. */
struct tok_map_slot {
	uint64_t hash;	/* 0 marks a free slot (tok_hash never returns 0) */
	uint32_t key_off, key_len;
	int32_t value;
	uint32_t extra;
};
struct tok_map {
	struct tok_map_slot *slots;
	size_t mask, n;
	char *keys;
	size_t keys_len, keys_cap;
};

/* An added token from tokenizer.json's added_tokens. */
struct tok_added {
	char *content;
	size_t len;
	int id;
	bool special, lstrip, rstrip, normalized;
};

/* One regex Split of the pre-tokenizer. */
enum tok_split_behavior { TOK_SPLIT_ISOLATED, TOK_SPLIT_REMOVED };
struct tok_split {
	pcre2_code *re;
	enum tok_split_behavior behavior;
	bool invert;
	bool jit;	/* compiled by the JIT: matched with pcre2_jit_match */
};

/* Cache of BPE results per pre-tokenized piece: piece bytes -> ids (map value = offset into ids,
 * extra = count). The whole cache is dropped when it grows past its limits, which bounds it
 * without per-entry bookkeeping. Guarded by lock: tok_encode takes a const tokenizer and may be
 * called from several threads. */
struct tok_cache {
	pthread_mutex_t lock;
	struct tok_map map;
	int32_t *ids;
	size_t ids_len, ids_cap;
};

struct tokenizer {
	int n_ids;		/* highest known id + 1 */
	char *id_bytes;		/* the bytes of every id, back to back */
	uint32_t *id_off;	/* (n_ids + 1) offsets into id_bytes */

	struct tok_map vocab;	/* token string (as in tokenizer.json) -> id */
	bool byte_level;	/* pre-tokenizer ends with ByteLevel: BPE starts from bytes */
	int byte_id[256];	/* id of the one-byte token for each byte value, -1 if none */
	int unk_id;		/* model.unk_token's id, -1 when unset */
	bool fuse_unk;
	struct tok_pairs pairs;

	struct tok_added *added;	/* sorted by first byte, then longest first */
	size_t n_added;
	uint32_t added_first[257];	/* added[added_first[b] .. added_first[b+1]) start with byte b */
	bool any_normalized_added;
	bool any_nonspecial_added;

	struct tok_split *splits;
	size_t n_splits;

	int bos_id, eos_id;
	struct tok_cache *cache;	/* mutable through a const tokenizer */
};

/* The GPT-2 byte-level alphabet: byte b is written as the code point tok_byte_char(b). */
unsigned tok_byte_char(unsigned b);

uint64_t tok_hash(const void *key, size_t len);
void tok_map_init(struct tok_map *m, size_t expected);
void tok_map_clear(struct tok_map *m);
void tok_map_free(struct tok_map *m);
/* Returns the slot of key, or NULL. */
const struct tok_map_slot *tok_map_get(const struct tok_map *m, const void *key, size_t len,
				       uint64_t hash);
/* Inserts or overwrites key; returns its slot (valid until the next insertion). */
struct tok_map_slot *tok_map_put(struct tok_map *m, const void *key, size_t len, uint64_t hash,
				 int32_t value, uint32_t extra);

/* Merge table lookup: returns false when (a, b) is not a merge. */
static inline bool tok_pairs_get(const struct tok_pairs *p, int a, int b, int *rank, int *new_id)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & p->mask;

	for (;; i = (i + 1) & p->mask) {
		if (p->slots[i].key == key) {
			*rank = p->slots[i].rank;
			*new_id = p->slots[i].new_id;
			return true;
		}
		if (p->slots[i].key == TOK_PAIR_EMPTY)
			return false;
	}
}

/* Looks at the UTF-8 sequence starting at p (n >= 1 bytes available). Returns its length when it
 * is complete and valid. Otherwise returns 0 and sets *bad to the length of the maximal invalid
 * subpart that one U+FFFD replaces (Unicode's "maximal subpart" rule, which Python's
 * errors="replace" follows), or to 0 when the bytes run out while the sequence may still
 * complete. */
static inline size_t tok_utf8_check(const unsigned char *p, size_t n, size_t *bad)
{
	unsigned c = p[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;	/* no overlong forms */
		hi = c == 0xed ? 0x9f : 0xbf;	/* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;	/* nothing past U+10FFFF */
	} else {
		*bad = 1;
		return 0;
	}
	for (size_t k = 1; k < need; k++) {
		if (k >= n) {
			*bad = 0;
			return 0;
		}
		if (p[k] < lo || p[k] > hi) {
			*bad = k;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

/* Converts an Oniguruma pattern, as Hugging Face tokenizers compiles it, to PCRE2 syntax; returns
 * a new string (the caller frees it) or NULL with a message in err. */
char *tok_regex_translate(const char *pat, size_t len, char *err, size_t errlen);

/* The tokenizer root describes (tokenizer.json's layout; root stays the caller's); label names its
 * source in errors. NULL with one sentence in err when it cannot be used. BOS/EOS are left unset. */
struct json_t;
struct tokenizer *tok_load_json(struct json_t *root, const char *label, char *err, size_t errlen);

/* The tokenizer of a GGUF file's tokenizer.ggml.* metadata (tokenizer-gguf.c). */
struct tokenizer *tok_load_gguf(const char *path, char *err, size_t errlen);
/* Entry i of the pre-tokenizers tokenizer.ggml.pre names (tokenizer-gguf.c): its name, and in *splits
 * its Split regexes (NULL-terminated, as tokenizer.json spells them); NULL past the last entry. */
const char *tok_gguf_pre(size_t i, const char *const **splits);

#endif

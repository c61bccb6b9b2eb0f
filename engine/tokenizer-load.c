/* tokenizer-load.c: reads a Hugging Face tokenizer.json (byte-level BPE, the DeepSeek-V2 family)
 * and tokenizer_config.json into a struct tokenizer; rejects what the encoder does not implement. */
#include "tokenizer.h"
#include "tokenizer-int.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "model.h"
#include "xalloc.h"

/* Ids above this are surely a broken file, and would make the id tables huge. */
#define TOK_MAX_ID (1 << 24)

/* GPT-2's pre-tokenizer regex, which ByteLevel applies itself when use_regex is true. */
static const char tok_gpt2_regex[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct tok_ctx {
	const char *path;
	char *err;
	size_t errlen;
};

/* Every message names the file first, then says what is wrong with which key. */
__attribute__((format(printf, 2, 3))) static int tok_fail(struct tok_ctx *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errorf(c->err, c->errlen, "%s: %s", c->path, msg);
}

unsigned tok_byte_char(unsigned b)
{
	/* Printable Latin-1 bytes stand for themselves; the other 68 (0-32, 127-160, 173) are moved,
	 * in byte order, to U+0100 onwards so that every byte is a visible character. */
	if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
		return b;
	if (b <= 32)
		return 256 + b;
	if (b <= 160)
		return 256 + 33 + (b - 127);
	return 256 + 33 + 34;	/* 173 */
}

static int tok_vocab_id(const struct tokenizer *t, const char *s, size_t len)
{
	const struct tok_map_slot *slot = tok_map_get(&t->vocab, s, len, tok_hash(s, len));

	return slot ? slot->value : -1;
}

/* Reads and parses a JSON file. With optional set, a missing file gives NULL without an error
 * (and *missing set). */
static json_t *tok_read_json(const char *path, bool optional, bool *missing, char *err,
			     size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, got;
	json_error_t je;
	json_t *root;

	if (f == NULL) {
		if (optional && errno == ENOENT) {
			*missing = true;
			return NULL;
		}
		errorf(err, errlen, "%s: cannot open it: %s.", path, strerror(errno));
		return NULL;
	}
	do {
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = xrealloc(buf, cap);
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
	} while (got > 0);
	if (ferror(f)) {
		errorf(err, errlen, "%s: cannot read it: %s.", path, strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	root = json_loadb(buf, len, 0, &je);
	free(buf);
	if (root == NULL)
		errorf(err, errlen, "%s:%d:%d: malformed JSON: %s.", path, je.line, je.column, je.text);
	return root;
}

static const char *tok_type(json_t *o)
{
	const char *s = json_string_value(json_object_get(o, "type"));

	return s ? s : "(none)";
}

static bool tok_flag(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static void tok_pairs_put(struct tok_pairs *p, int a, int b, int rank, int new_id)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & p->mask;

	/* A merge listed twice keeps the later rank, as the Hugging Face map built from the list does. */
	for (; p->slots[i].key != TOK_PAIR_EMPTY && p->slots[i].key != key; i = (i + 1) & p->mask)
		;
	p->slots[i].key = key;
	p->slots[i].rank = rank;
	p->slots[i].new_id = new_id;
}

static int tok_load_vocab(struct tokenizer *t, json_t *model, struct tok_ctx *c)
{
	json_t *vocab = json_object_get(model, "vocab"), *v;
	const char *key;

	if (!json_is_object(vocab) || json_object_size(vocab) == 0)
		return tok_fail(c, "model.vocab is missing or empty; it must map token strings to ids.");
	tok_map_init(&t->vocab, json_object_size(vocab));
	json_object_foreach(vocab, key, v) {
		json_int_t id = json_integer_value(v);
		size_t key_len = strlen(key);

		if (!json_is_integer(v) || id < 0 || id >= TOK_MAX_ID)
			return tok_fail(c, "model.vocab maps \"%s\" to %s; ids must be integers from 0 to %d.",
					key, json_is_integer(v) ? "an id out of range" : "something not an integer",
					TOK_MAX_ID - 1);
		tok_map_put(&t->vocab, key, key_len, tok_hash(key, key_len), (int32_t)id, 0);
		if (id >= t->n_ids)
			t->n_ids = (int)id + 1;
	}
	return 0;
}

static int tok_load_merges(struct tokenizer *t, json_t *model, struct tok_ctx *c)
{
	json_t *merges = json_object_get(model, "merges"), *m;
	size_t i, n, slots = 16, cap = 256;
	char *cat = xmalloc(cap);

	if (merges != NULL && !json_is_array(merges)) {
		free(cat);
		return tok_fail(c, "model.merges must be a list.");
	}
	n = json_array_size(merges);
	while (slots < n * 2 + 2)
		slots *= 2;
	t->pairs.slots = xmalloc(slots * sizeof(*t->pairs.slots));
	t->pairs.mask = slots - 1;
	for (i = 0; i < slots; i++)
		t->pairs.slots[i].key = TOK_PAIR_EMPTY;

	json_array_foreach(merges, i, m) {
		const char *a, *b, *sp;
		size_t la, lb;
		int ia, ib, im;

		/* Two spellings exist: "a b" (older files) and ["a", "b"] (newer ones). */
		if (json_is_string(m)) {
			a = json_string_value(m);
			sp = strchr(a, ' ');
			if (sp == NULL || sp == a || sp[1] == '\0') {
				free(cat);
				return tok_fail(c, "model.merges entry %zu (\"%s\") is not two tokens separated by a space.",
						i, a);
			}
			la = (size_t)(sp - a);
			b = sp + 1;
			lb = strlen(b);
		} else if (json_is_array(m) && json_array_size(m) == 2 &&
			   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
			a = json_string_value(json_array_get(m, 0));
			la = json_string_length(json_array_get(m, 0));
			b = json_string_value(json_array_get(m, 1));
			lb = json_string_length(json_array_get(m, 1));
		} else {
			free(cat);
			return tok_fail(c, "model.merges entry %zu is neither \"a b\" nor a list of two strings.", i);
		}
		if (la + lb > cap) {
			cap = (la + lb) * 2;
			cat = xrealloc(cat, cap);
		}
		memcpy(cat, a, la);
		memcpy(cat + la, b, lb);
		ia = tok_vocab_id(t, a, la);
		ib = tok_vocab_id(t, b, lb);
		im = tok_vocab_id(t, cat, la + lb);
		if (ia < 0 || ib < 0 || im < 0) {
			free(cat);
			return tok_fail(c, "model.merges entry %zu (\"%.*s\" + \"%.*s\") uses a token that is not in model.vocab.",
					i, (int)la, a, (int)lb, b);
		}
		tok_pairs_put(&t->pairs, ia, ib, (int)i, im);
	}
	free(cat);
	return 0;
}

static int tok_load_model(struct tokenizer *t, json_t *root, struct tok_ctx *c)
{
	json_t *model = json_object_get(root, "model"), *v;
	const char *type, *s;

	if (!json_is_object(model))
		return tok_fail(c, "there is no \"model\" object; is this a Hugging Face tokenizer file?");
	type = json_string_value(json_object_get(model, "type"));
	if (type != NULL && strcmp(type, "BPE") != 0)
		return tok_fail(c, "model.type is \"%s\"; only BPE models are supported.", type);
	if (type == NULL && json_object_get(model, "merges") == NULL)
		return tok_fail(c, "model has no \"type\" and no \"merges\"; only BPE models are supported.");

	v = json_object_get(model, "dropout");
	if (json_is_number(v) && json_number_value(v) > 0)
		return tok_fail(c, "model.dropout is set; BPE dropout is not supported (set it to null).");
	s = json_string_value(json_object_get(model, "continuing_subword_prefix"));
	if (s != NULL && *s != '\0')
		return tok_fail(c, "model.continuing_subword_prefix is set; it is not supported.");
	s = json_string_value(json_object_get(model, "end_of_word_suffix"));
	if (s != NULL && *s != '\0')
		return tok_fail(c, "model.end_of_word_suffix is set; it is not supported.");
	if (tok_flag(model, "byte_fallback"))
		return tok_fail(c, "model.byte_fallback is true; it is not supported.");
	if (tok_flag(model, "ignore_merges"))
		return tok_fail(c, "model.ignore_merges is true; it is not supported.");
	t->fuse_unk = tok_flag(model, "fuse_unk");

	if (tok_load_vocab(t, model, c) < 0 || tok_load_merges(t, model, c) < 0)
		return -1;

	t->unk_id = -1;
	s = json_string_value(json_object_get(model, "unk_token"));
	if (s != NULL && (t->unk_id = tok_vocab_id(t, s, strlen(s))) < 0)
		return tok_fail(c, "model.unk_token \"%s\" is not in model.vocab.", s);
	return 0;
}

static int tok_cmp_added(const void *pa, const void *pb)
{
	const struct tok_added *a = pa, *b = pb;
	unsigned fa, fb;

	if ((a->len == 0) != (b->len == 0))
		return a->len == 0 ? 1 : -1;
	fa = (unsigned char)a->content[0];
	fb = (unsigned char)b->content[0];

	/* Grouped by first byte, longest first, so the first full match is the longest one. */
	if (fa != fb)
		return fa < fb ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return a->id - b->id;
}

static int tok_load_added(struct tokenizer *t, json_t *root, struct tok_ctx *c)
{
	json_t *list = json_object_get(root, "added_tokens"), *a;
	size_t i, k;

	if (list != NULL && !json_is_array(list) && !json_is_null(list))
		return tok_fail(c, "added_tokens must be a list.");
	t->added = xcalloc(json_array_size(list) + 1, sizeof(*t->added));
	json_array_foreach(list, i, a) {
		json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
		json_t *norm = json_object_get(a, "normalized");
		struct tok_added *d = &t->added[t->n_added];

		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) >= TOK_MAX_ID || !json_is_string(content))
			return tok_fail(c, "added_tokens entry %zu needs an integer \"id\" from 0 to %d and a string \"content\".",
					i, TOK_MAX_ID - 1);
		if (tok_flag(a, "single_word"))
			return tok_fail(c, "added_tokens entry %zu (\"%s\") has single_word true; it is not supported.",
					i, json_string_value(content));
		d->id = (int)json_integer_value(id);
		d->len = json_string_length(content);
		d->content = xstrndup(json_string_value(content), d->len);
		d->special = tok_flag(a, "special");
		d->lstrip = tok_flag(a, "lstrip");
		d->rstrip = tok_flag(a, "rstrip");
		/* Hugging Face's default: special tokens are matched on the raw text. */
		d->normalized = json_is_boolean(norm) ? json_is_true(norm) : !d->special;
		if (d->id >= t->n_ids)
			t->n_ids = d->id + 1;
		t->n_added++;
	}
	/* Empty contents (sorted last) can never match; they still name an id for decoding. */
	qsort(t->added, t->n_added, sizeof(*t->added), tok_cmp_added);
	k = 0;
	for (unsigned b = 0; b < 256; b++) {
		t->added_first[b] = (uint32_t)k;
		while (k < t->n_added && t->added[k].len > 0 && (unsigned char)t->added[k].content[0] == b)
			k++;
	}
	t->added_first[256] = (uint32_t)k;
	for (i = 0; i < t->n_added; i++) {
		t->any_normalized_added |= t->added[i].normalized;
		t->any_nonspecial_added |= !t->added[i].special;
	}
	return 0;
}

static int tok_check_normalizer(json_t *n, struct tok_ctx *c)
{
	json_t *sub;
	size_t i;

	if (n == NULL || json_is_null(n))
		return 0;
	if (strcmp(tok_type(n), "Sequence") != 0)
		return tok_fail(c, "normalizer type \"%s\" is not supported (only none or an empty Sequence).",
				tok_type(n));
	json_array_foreach(json_object_get(n, "normalizers"), i, sub)
		if (tok_check_normalizer(sub, c) < 0)
			return -1;
	return 0;
}

static int tok_add_split(struct tokenizer *t, const char *pat, size_t len, bool literal,
			 enum tok_split_behavior behavior, bool invert, struct tok_ctx *c)
{
	pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
	uint32_t flags = PCRE2_UTF;
	char *translated = NULL, msg[256];
	PCRE2_SIZE off;
	pcre2_code *re;
	int code;

	if (literal) {
		flags |= PCRE2_LITERAL;
	} else {
		/* Oniguruma, as tokenizers uses it, lets ^ and $ match at line ends (Ruby syntax);
		 * \s, \w and \d are Unicode-aware there, hence UCP. */
		flags |= PCRE2_UCP | PCRE2_MULTILINE;
		translated = tok_regex_translate(pat, len, msg, sizeof(msg));
		if (translated == NULL) {
			pcre2_compile_context_free(cc);
			return tok_fail(c, "pre_tokenizer Split pattern %zu cannot be used: %s.", t->n_splits, msg);
		}
		pat = translated;
		len = strlen(translated);
	}
	pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
	re = pcre2_compile((PCRE2_SPTR)pat, len, flags, &code, &off, cc);
	pcre2_compile_context_free(cc);
	free(translated);
	if (re == NULL) {
		pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
		return tok_fail(c, "pre_tokenizer Split pattern %zu does not compile: %s (at offset %zu).",
				t->n_splits, msg, (size_t)off);
	}
	/* The JIT makes matching several times faster; without it PCRE2 interprets. */
	t->splits = xreallocarray(t->splits, t->n_splits + 1, sizeof(*t->splits));
	t->splits[t->n_splits].jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
	t->splits[t->n_splits].re = re;
	t->splits[t->n_splits].behavior = behavior;
	t->splits[t->n_splits].invert = invert;
	t->n_splits++;
	return 0;
}

static int tok_load_split(struct tokenizer *t, json_t *step, struct tok_ctx *c)
{
	json_t *pattern = json_object_get(step, "pattern"), *p;
	const char *behavior = json_string_value(json_object_get(step, "behavior"));
	enum tok_split_behavior b;
	bool literal;

	if (behavior != NULL && strcmp(behavior, "Isolated") == 0)
		b = TOK_SPLIT_ISOLATED;
	else if (behavior != NULL && strcmp(behavior, "Removed") == 0)
		b = TOK_SPLIT_REMOVED;
	else
		return tok_fail(c, "pre_tokenizer Split behavior \"%s\" is not supported (only Isolated and Removed).",
				behavior ? behavior : "(missing)");
	if ((p = json_object_get(pattern, "Regex")) != NULL && json_is_string(p))
		literal = false;
	else if ((p = json_object_get(pattern, "String")) != NULL && json_is_string(p))
		literal = true;
	else
		return tok_fail(c, "pre_tokenizer Split needs a pattern {\"Regex\": ...} or {\"String\": ...}.");
	return tok_add_split(t, json_string_value(p), json_string_length(p), literal, b,
			     tok_flag(step, "invert"), c);
}

/* Adds one pre-tokenizer step; a Sequence (nested ones too) adds its steps in order. */
static int tok_load_pretok_step(struct tokenizer *t, json_t *step, struct tok_ctx *c)
{
	const char *type = tok_type(step);
	json_t *sub;
	size_t i;

	if (strcmp(type, "Sequence") == 0) {
		json_array_foreach(json_object_get(step, "pretokenizers"), i, sub)
			if (tok_load_pretok_step(t, sub, c) < 0)
				return -1;
		return 0;
	}
	if (t->byte_level)
		return tok_fail(c, "pre_tokenizer has a %s step after ByteLevel; ByteLevel must come last.",
				type);
	if (strcmp(type, "Split") == 0)
		return tok_load_split(t, step, c);
	if (strcmp(type, "Digits") == 0) {
		/* Digits splits off numeric characters (Unicode N), each alone or in runs. */
		const char *re = tok_flag(step, "individual_digits") ? "\\p{N}" : "\\p{N}+";

		return tok_add_split(t, re, strlen(re), false, TOK_SPLIT_ISOLATED, false, c);
	}
	if (strcmp(type, "ByteLevel") == 0) {
		if (tok_flag(step, "add_prefix_space"))
			return tok_fail(c, "pre_tokenizer ByteLevel has add_prefix_space true; it is not supported.");
		if (tok_flag(step, "use_regex") &&
		    tok_add_split(t, tok_gpt2_regex, strlen(tok_gpt2_regex), false, TOK_SPLIT_ISOLATED,
				  false, c) < 0)
			return -1;
		t->byte_level = true;
		return 0;
	}
	return tok_fail(c, "pre_tokenizer type \"%s\" is not supported (only Split, Digits, ByteLevel or a Sequence of them).",
			type);
}

static int tok_load_pretokenizer(struct tokenizer *t, json_t *root, struct tok_ctx *c)
{
	json_t *pt = json_object_get(root, "pre_tokenizer");

	if (pt == NULL || json_is_null(pt))
		return 0;
	return tok_load_pretok_step(t, pt, c);
}

/* Undoes the byte-level mapping of one vocab string; a string with a character outside the
 * byte alphabet is kept as its own UTF-8, as the ByteLevel decoder does. */
static size_t tok_unmap(const char *s, size_t len, const int *rev, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n = 0;

	while (i < len) {
		unsigned cp = u[i];
		size_t cl = 1;

		if (cp >= 0xc0 && cp < 0xe0 && i + 1 < len) {
			cp = (cp & 0x1f) << 6 | (u[i + 1] & 0x3f);
			cl = 2;
		} else if (cp >= 0x80) {
			cp = 0xffff;	/* beyond U+0143: never part of the byte alphabet */
		}
		if (cp >= 324 || rev[cp] < 0) {
			memcpy(out, s, len);
			return len;
		}
		out[n++] = (char)rev[cp];
		i += cl;
	}
	return n;
}

static void tok_build_id_bytes(struct tokenizer *t)
{
	const char **str = xcalloc((size_t)t->n_ids, sizeof(*str));
	bool *is_added = xcalloc((size_t)t->n_ids, sizeof(*is_added));
	uint32_t *len = xcalloc((size_t)t->n_ids, sizeof(*len));
	int rev[324];
	size_t total = 0, pos = 0;

	for (int i = 0; i < 324; i++)
		rev[i] = -1;
	for (unsigned b = 0; b < 256; b++)
		rev[tok_byte_char(b)] = (int)b;
	for (size_t i = 0; i <= t->vocab.mask; i++) {
		const struct tok_map_slot *s = &t->vocab.slots[i];

		if (s->hash != 0 && str[s->value] == NULL) {
			str[s->value] = t->vocab.keys + s->key_off;
			len[s->value] = s->key_len;
		}
	}
	/* Added tokens decode to their content. */
	for (size_t i = 0; i < t->n_added; i++) {
		str[t->added[i].id] = t->added[i].content;
		is_added[t->added[i].id] = true;
		len[t->added[i].id] = (uint32_t)t->added[i].len;
	}
	for (int i = 0; i < t->n_ids; i++)
		total += len[i];
	t->id_bytes = xmalloc(total + 1);
	t->id_off = xmalloc(((size_t)t->n_ids + 1) * sizeof(*t->id_off));
	for (int i = 0; i < t->n_ids; i++) {
		t->id_off[i] = (uint32_t)pos;
		if (str[i] == NULL)
			continue;
		if (is_added[i]) {
			memcpy(t->id_bytes + pos, str[i], len[i]);
			pos += len[i];
		} else {
			pos += tok_unmap(str[i], len[i], rev, t->id_bytes + pos);
		}
	}
	t->id_off[t->n_ids] = (uint32_t)pos;
	free(str);
	free(len);
	free(is_added);
}

/* BOS/EOS names from tokenizer_config.json: a string, or an object with "content". */
static int tok_config_id(const struct tokenizer *t, json_t *v)
{
	const char *s = json_string_value(json_is_object(v) ? json_object_get(v, "content") : v);
	int id;

	if (s == NULL)
		return -1;
	if ((id = tok_special_id(t, s)) >= 0)
		return id;
	return tok_vocab_id(t, s, strlen(s));
}

static int tok_load_config(struct tokenizer *t, const char *dir, char *err, size_t errlen)
{
	char *path = xasprintf("%s/tokenizer_config.json", dir);
	bool missing = false;
	json_t *root = tok_read_json(path, true, &missing, err, errlen);

	free(path);
	if (root == NULL)
		return missing ? 0 : -1;
	t->bos_id = tok_config_id(t, json_object_get(root, "bos_token"));
	t->eos_id = tok_config_id(t, json_object_get(root, "eos_token"));
	json_decref(root);
	return 0;
}

struct tokenizer *tok_load_json(json_t *root, const char *label, char *err, size_t errlen)
{
	struct tok_ctx c = { label, err, errlen };
	struct tokenizer *t;
	json_t *dec;
	char one[4];

	t = xcalloc(1, sizeof(*t));
	t->bos_id = t->eos_id = t->unk_id = -1;
	if (!json_is_object(root)) {
		tok_fail(&c, "the top level is not a JSON object.");
		goto fail;
	}
	if (tok_load_model(t, root, &c) < 0 || tok_load_added(t, root, &c) < 0 ||
	    tok_check_normalizer(json_object_get(root, "normalizer"), &c) < 0 ||
	    tok_load_pretokenizer(t, root, &c) < 0)
		goto fail;
	dec = json_object_get(root, "decoder");
	if (!json_is_object(dec) || strcmp(tok_type(dec), "ByteLevel") != 0) {
		tok_fail(&c, "decoder type \"%s\" is not supported (only ByteLevel).",
			 json_is_object(dec) ? tok_type(dec) : "(missing)");
		goto fail;
	}
	for (unsigned b = 0; b < 256; b++)
		t->byte_id[b] = tok_vocab_id(t, one, utf8_encode((int32_t)tok_byte_char(b), one));
	tok_build_id_bytes(t);
	t->cache = xcalloc(1, sizeof(*t->cache));
	pthread_mutex_init(&t->cache->lock, NULL);
	tok_map_init(&t->cache->map, 1 << 15);
	return t;
fail:
	tok_free(t);
	return NULL;
}

struct tokenizer *tok_load(const char *dir, char *err, size_t errlen)
{
	char *gguf = ds_model_gguf_path(dir), *path;
	struct tokenizer *t;
	json_t *root;

	if (gguf != NULL) {
		t = tok_load_gguf(gguf, err, errlen);
		free(gguf);
		return t;
	}
	path = xasprintf("%s/tokenizer.json", dir);
	root = tok_read_json(path, false, NULL, err, errlen);
	if (root == NULL) {
		free(path);
		return NULL;
	}
	t = tok_load_json(root, path, err, errlen);
	json_decref(root);
	free(path);
	if (t != NULL && tok_load_config(t, dir, err, errlen) < 0) {
		tok_free(t);
		t = NULL;
	}
	return t;
}

void tok_free(struct tokenizer *t)
{
	if (t == NULL)
		return;
	if (t->cache != NULL) {
		pthread_mutex_destroy(&t->cache->lock);
		tok_map_free(&t->cache->map);
		free(t->cache->ids);
		free(t->cache);
	}
	for (size_t i = 0; i < t->n_splits; i++)
		pcre2_code_free(t->splits[i].re);
	free(t->splits);
	for (size_t i = 0; i < t->n_added; i++)
		free(t->added[i].content);
	free(t->added);
	free(t->pairs.slots);
	tok_map_free(&t->vocab);
	free(t->id_bytes);
	free(t->id_off);
	free(t);
}

int tok_vocab_size(const struct tokenizer *t)
{
	return t->n_ids;
}

int tok_special_id(const struct tokenizer *t, const char *content)
{
	size_t len = strlen(content);

	for (size_t i = 0; i < t->n_added; i++)
		if (t->added[i].len == len && memcmp(t->added[i].content, content, len) == 0)
			return t->added[i].id;
	return -1;
}

bool tok_is_special(const struct tokenizer *t, int id)
{
	for (size_t i = 0; i < t->n_added; i++)
		if (t->added[i].id == id)
			return t->added[i].special;
	return false;
}

int tok_bos_id(const struct tokenizer *t)
{
	return t->bos_id;
}

int tok_eos_id(const struct tokenizer *t)
{
	return t->eos_id;
}

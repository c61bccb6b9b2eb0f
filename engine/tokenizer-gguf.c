/* tokenizer-gguf.c: the tokenizer of a GGUF file, from its tokenizer.ggml.* metadata: tokens, merges,
 * token types, the pre-tokenizer named by tokenizer.ggml.pre, BOS and EOS. The metadata are turned
 * into the tokenizer.json they came from and loaded as one, so both sources share every check. */
#include "tokenizer.h"
#include "tokenizer-int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "xalloc.h"

/* GGUF token types (llama.cpp's llama_token_type). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* The pre-tokenizer regexes GGUF files name by tokenizer.ggml.pre, copied from the tokenizer.json
 * of the models that use them. DeepSeek-V2 and DeepSeek-Coder-V2 ("deepseek-llm"): the letter class
 * as written, before the normalisation their published file went through (tokenizer-regex.c); the
 * five characters normalisation changes are spelled as escapes so that no editor can change them. */
static const char *const pre_deepseek_llm[] = {
	"[\r\n]",
	"\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\u1f7dᾀ-ᾴᾶ-ᾼ\\u1fbeῂ-ῄῆ-ῌῐ-\\u1fd3ῖ-\\u1fdbῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\u2126ℨ\\u212a-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
	"\\s?[!-/:-~！-／：-～‘-‟　-。]+",
	"\\s+$",
	"[一-龥ࠀ-一가-퟿]+",
	"\\p{N}+",
	NULL
};

/* DeepSeek-Coder 1.x ("deepseek-coder"): letters, punctuation, CJK, then single digits. */
static const char *const pre_deepseek_coder[] = {
	"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}", NULL
};

static const struct {
	const char *name;
	const char *const *splits;
} pre_tokenizers[] = {
	{ "deepseek-llm", pre_deepseek_llm },
	{ "deepseek-coder", pre_deepseek_coder },
};

const char *tok_gguf_pre(size_t i, const char *const **splits)
{
	if (i >= sizeof(pre_tokenizers) / sizeof(pre_tokenizers[0]))
		return NULL;
	*splits = pre_tokenizers[i].splits;
	return pre_tokenizers[i].name;
}

static json_t *gt_pretokenizer(const char *pre, size_t len)
{
	json_t *seq = json_array(), *step;

	for (size_t i = 0; i < sizeof(pre_tokenizers) / sizeof(pre_tokenizers[0]); i++) {
		if (strlen(pre_tokenizers[i].name) != len || memcmp(pre_tokenizers[i].name, pre, len) != 0)
			continue;
		for (const char *const *s = pre_tokenizers[i].splits; *s != NULL; s++)
			json_array_append_new(seq, json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split",
							     "pattern", "Regex", *s, "behavior", "Isolated",
							     "invert", 0));
		step = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
				 "trim_offsets", 1, "use_regex", 0);
		json_array_append_new(seq, step);
		return json_pack("{s:s, s:o}", "type", "Sequence", "pretokenizers", seq);
	}
	json_decref(seq);
	return NULL;
}

static int gt_fail(const struct gguf *g, char *err, size_t errlen, const char *what)
{
	return errorf(err, errlen, "%s: %s", g->path, what);
}

static json_t *gt_root(const struct gguf *g, char *err, size_t errlen)
{
	const struct gguf_kv *tokens = gguf_find(g, "tokenizer.ggml.tokens");
	const struct gguf_kv *types = gguf_find(g, "tokenizer.ggml.token_type");
	const struct gguf_kv *merges = gguf_find(g, "tokenizer.ggml.merges");
	const char *model, *pre = "default";
	size_t mlen, plen = 7;
	json_t *vocab, *mlist, *added, *pretok;

	if (gguf_get_string(g, "tokenizer.ggml.model", &model, &mlen, err, errlen) != 0) {
		gt_fail(g, err, errlen, "metadata key 'tokenizer.ggml.model' is missing or not a string: the file holds no tokenizer");
		return NULL;
	}
	if (mlen != 4 || memcmp(model, "gpt2", 4) != 0) {
		errorf(err, errlen, "%s: tokenizer.ggml.model is '%.*s'; dscoder-engine reads byte-level BPE tokenizers ('gpt2')",
		       g->path, (int)(mlen > 32 ? 32 : mlen), model);
		return NULL;
	}
	if (tokens == NULL || tokens->type != GGUF_ARRAY || tokens->elem_type != GGUF_STRING || tokens->n == 0) {
		gt_fail(g, err, errlen, "metadata key 'tokenizer.ggml.tokens' is missing or not an array of strings");
		return NULL;
	}
	if (types != NULL && (types->type != GGUF_ARRAY || types->elem_type == GGUF_STRING ||
			      types->elem_type == GGUF_F32 || types->elem_type == GGUF_F64 || types->n != tokens->n)) {
		gt_fail(g, err, errlen, "metadata key 'tokenizer.ggml.token_type' is not an array of integers, one per token");
		return NULL;
	}
	if (merges == NULL || merges->type != GGUF_ARRAY || merges->elem_type != GGUF_STRING) {
		gt_fail(g, err, errlen, "metadata key 'tokenizer.ggml.merges' is missing or not an array of strings");
		return NULL;
	}
	if (gguf_get_string(g, "tokenizer.ggml.pre", &pre, &plen, err, errlen) < 0)
		return NULL;
	pretok = gt_pretokenizer(pre, plen);
	if (pretok == NULL) {
		errorf(err, errlen,
		       "%s: tokenizer.ggml.pre is '%.*s', a pre-tokenizer dscoder-engine does not know (it knows deepseek-llm, which DeepSeek-V2 and DeepSeek-Coder-V2 use, and deepseek-coder)",
		       g->path, (int)(plen > 40 ? 40 : plen), pre);
		return NULL;
	}

	vocab = json_object();
	added = json_array();
	for (uint64_t i = 0; i < tokens->n; i++) {
		size_t len;
		const char *s = gguf_array_string(tokens, i, &len);
		int64_t type = types != NULL ? gguf_array_int(types, i) : TT_NORMAL;
		json_t *str = json_stringn(s, len);

		if (str == NULL) {
			errorf(err, errlen, "%s: token %llu of tokenizer.ggml.tokens is not valid UTF-8: the file is damaged",
			       g->path, (unsigned long long)i);
			goto fail;
		}
		if (type == TT_CONTROL || type == TT_USER_DEFINED) {
			/* Added tokens, matched in the text before BPE; control tokens are the special ones. */
			json_array_append_new(added, json_pack("{s:I, s:o, s:b, s:b, s:b, s:b, s:b}", "id",
							       (json_int_t)i, "content", str, "single_word", 0,
							       "lstrip", 0, "rstrip", 0, "normalized", 0, "special",
							       type == TT_CONTROL));
		} else if (type == TT_UNUSED) {
			json_decref(str);	/* padding of the vocabulary: decodes to nothing */
		} else {
			json_object_setn_new_nocheck(vocab, s, len, json_integer((json_int_t)i));
			json_decref(str);
		}
	}
	mlist = json_array();
	for (uint64_t i = 0; i < merges->n; i++) {
		size_t len;
		const char *s = gguf_array_string(merges, i, &len);
		json_t *str = json_stringn(s, len);

		if (str == NULL) {
			json_decref(mlist);
			errorf(err, errlen, "%s: merge %llu of tokenizer.ggml.merges is not valid UTF-8: the file is damaged",
			       g->path, (unsigned long long)i);
			goto fail;
		}
		json_array_append_new(mlist, str);
	}
	return json_pack("{s:{s:s, s:o, s:o}, s:o, s:n, s:o, s:{s:s}}", "model", "type", "BPE", "vocab", vocab,
			 "merges", mlist, "added_tokens", added, "normalizer", "pre_tokenizer", pretok,
			 "decoder", "type", "ByteLevel");
fail:
	json_decref(vocab);
	json_decref(added);
	json_decref(pretok);
	return NULL;
}

struct tokenizer *tok_load_gguf(const char *path, char *err, size_t errlen)
{
	struct gguf g;
	struct tokenizer *t = NULL;
	json_t *root;
	char *label;
	int64_t id;

	if (gguf_open(path, &g, err, errlen) < 0)
		return NULL;
	root = gt_root(&g, err, errlen);
	if (root != NULL) {
		label = xasprintf("%s (tokenizer.ggml metadata)", path);
		t = tok_load_json(root, label, err, errlen);
		free(label);
		json_decref(root);
	}
	if (t != NULL) {
		if (gguf_get_int(&g, "tokenizer.ggml.bos_token_id", &id, err, errlen) == 0 && id < t->n_ids)
			t->bos_id = (int)id;
		if (gguf_get_int(&g, "tokenizer.ggml.eos_token_id", &id, err, errlen) == 0 && id < t->n_ids)
			t->eos_id = (int)id;
	}
	gguf_close(&g);
	return t;
}

/* tokenizer-gguf-write.c: tokenizer.json and tokenizer_config.json as tokenizer.ggml.* metadata,
 * the inverse of tokenizer-gguf.c: what dscoder-engine --quantize writes into a GGUF file. */
#include "tokenizer-gguf-write.h"
#include "tokenizer-int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf-write.h"
#include "xalloc.h"

enum { TT_NORMAL = 1, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5 };

/* Two regexes are the same pre-tokenizer step when they translate to the same PCRE2 pattern (the
 * translator repairs the normalised letter class of published DeepSeek-V2 files, so the published
 * spelling and the table's unnormalised one agree). */
static bool tw_same_regex(const char *a, size_t alen, const char *b)
{
	char err[256], *ta = tok_regex_translate(a, alen, err, sizeof err);
	char *tb = tok_regex_translate(b, strlen(b), err, sizeof err);
	bool same = ta != NULL && tb != NULL && strcmp(ta, tb) == 0;

	free(ta);
	free(tb);
	return same;
}

/* The tokenizer.ggml.pre name of tokenizer.json's pre_tokenizer: its Split regexes, in order, then
 * one ByteLevel step without its own regex. NULL when none matches. */
static const char *tw_pre_name(json_t *pre)
{
	json_t *steps = json_object_get(pre, "pretokenizers");
	const char *const *splits, *name;
	size_t n = json_array_size(steps);

	if (!json_is_array(steps) || n < 2 ||
	    strcmp(json_string_value(json_object_get(json_array_get(steps, n - 1), "type")) ?: "", "ByteLevel") != 0 ||
	    json_is_true(json_object_get(json_array_get(steps, n - 1), "use_regex")))
		return NULL;
	for (size_t i = 0; (name = tok_gguf_pre(i, &splits)) != NULL; i++) {
		size_t k = 0;

		for (; k + 1 < n && splits[k] != NULL; k++) {
			json_t *step = json_array_get(steps, k), *re = json_object_get(json_object_get(step, "pattern"), "Regex");

			if (strcmp(json_string_value(json_object_get(step, "type")) ?: "", "Split") != 0 ||
			    strcmp(json_string_value(json_object_get(step, "behavior")) ?: "", "Isolated") != 0 ||
			    json_is_true(json_object_get(step, "invert")) || !json_is_string(re) ||
			    !tw_same_regex(json_string_value(re), json_string_length(re), splits[k]))
				break;
		}
		if (k + 1 == n && splits[k] == NULL)
			return name;
	}
	return NULL;
}

int tok_gguf_write_metadata(const char *dir, int vocab_size, int bos_id, int eos_id, struct gguf_writer *w,
			    char *err, size_t errlen)
{
	char *path = xasprintf("%s/tokenizer.json", dir), *cpath = xasprintf("%s/tokenizer_config.json", dir);
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *cfg = NULL;
	json_t *model, *vocab, *merges, *added, *v;
	const char **tok = NULL, **mstr = NULL;
	size_t *tlen = NULL, *mlen = NULL, n_merges = 0, i;
	int32_t *types = NULL;
	char **owned = NULL;
	const char *pre, *key;
	int rc = -1;

	if (root == NULL) {
		if (access(path, F_OK) != 0)
			errorf(err, errlen, "%s is missing: the GGUF file carries the tokenizer, so the checkpoint needs its tokenizer.json",
			       path);
		else
			errorf(err, errlen, "%s: cannot read it: %s (line %d)", path, je.text, je.line);
		goto out;
	}
	model = json_object_get(root, "model");
	vocab = json_object_get(model, "vocab");
	merges = json_object_get(model, "merges");
	added = json_object_get(root, "added_tokens");
	if (strcmp(json_string_value(json_object_get(model, "type")) ?: "", "BPE") != 0 || !json_is_object(vocab) ||
	    !json_is_array(merges)) {
		errorf(err, errlen, "%s: the model is not a byte-level BPE with a vocab and merges; GGUF's 'gpt2' tokenizer needs one",
		       path);
		goto out;
	}
	pre = tw_pre_name(json_object_get(root, "pre_tokenizer"));
	if (pre == NULL) {
		errorf(err, errlen,
		       "%s: its pre-tokenizer is not DeepSeek-V2's (deepseek-llm) nor DeepSeek-Coder's, the ones a GGUF file can name in tokenizer.ggml.pre",
		       path);
		goto out;
	}

	tok = xcalloc((size_t)vocab_size, sizeof(*tok));
	tlen = xcalloc((size_t)vocab_size, sizeof(*tlen));
	types = xcalloc((size_t)vocab_size, sizeof(*types));
	owned = xcalloc((size_t)vocab_size, sizeof(*owned));
	json_object_foreach(vocab, key, v) {
		json_int_t id = json_integer_value(v);

		if (!json_is_integer(v) || id < 0 || id >= vocab_size) {
			errorf(err, errlen, "%s: token '%.40s' has id %lld, outside the model's vocabulary [0, %d)", path, key,
			       (long long)id, vocab_size);
			goto out;
		}
		tok[id] = key;
		tlen[id] = strlen(key);
		types[id] = TT_NORMAL;
	}
	for (i = 0; i < json_array_size(added); i++) {
		json_t *a = json_array_get(added, i), *content = json_object_get(a, "content");
		json_int_t id = json_integer_value(json_object_get(a, "id"));

		if (!json_is_string(content) || id < 0 || id >= vocab_size) {
			errorf(err, errlen, "%s: added token %zu has no content or an id outside [0, %d)", path, i, vocab_size);
			goto out;
		}
		tok[id] = json_string_value(content);
		tlen[id] = json_string_length(content);
		types[id] = json_is_true(json_object_get(a, "special")) ? TT_CONTROL : TT_USER_DEFINED;
	}
	for (int id = 0; id < vocab_size; id++)
		if (tok[id] == NULL) {
			owned[id] = xasprintf("[PAD%d]", id);
			tok[id] = owned[id];
			tlen[id] = strlen(owned[id]);
			types[id] = TT_UNUSED;
		}

	/* Merges are "a b" strings, or [a, b] pairs in newer files. */
	n_merges = json_array_size(merges);
	mstr = xcalloc(n_merges + 1, sizeof(*mstr));
	mlen = xcalloc(n_merges + 1, sizeof(*mlen));
	for (i = 0; i < n_merges; i++) {
		json_t *m = json_array_get(merges, i);

		if (json_is_string(m)) {
			mstr[i] = json_string_value(m);
			mlen[i] = json_string_length(m);
		} else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
			   json_is_string(json_array_get(m, 1))) {
			/* kept in merges' own array so it lives as long as root */
			char *s = xasprintf("%s %s", json_string_value(json_array_get(m, 0)),
					    json_string_value(json_array_get(m, 1)));

			json_array_set_new(m, 0, json_string_nocheck(s));
			json_array_remove(m, 1);
			free(s);
			mstr[i] = json_string_value(json_array_get(m, 0));
			mlen[i] = strlen(mstr[i]);
		} else {
			errorf(err, errlen, "%s: merge %zu is neither \"a b\" nor a pair of strings", path, i);
			goto out;
		}
	}

	gguf_writer_set_string(w, "tokenizer.ggml.model", "gpt2", 4);
	gguf_writer_set_string(w, "tokenizer.ggml.pre", pre, strlen(pre));
	gguf_writer_set_strings(w, "tokenizer.ggml.tokens", tok, tlen, (size_t)vocab_size);
	gguf_writer_set_i32s(w, "tokenizer.ggml.token_type", types, (size_t)vocab_size);
	gguf_writer_set_strings(w, "tokenizer.ggml.merges", mstr, mlen, n_merges);
	if (bos_id >= 0 && bos_id < vocab_size)
		gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos_id);
	if (eos_id >= 0 && eos_id < vocab_size)
		gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos_id);
	cfg = json_load_file(cpath, JSON_REJECT_DUPLICATES, &je);	/* optional */
	if (json_is_boolean(json_object_get(cfg, "add_bos_token")))
		gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", json_is_true(json_object_get(cfg, "add_bos_token")));
	if (json_is_boolean(json_object_get(cfg, "add_eos_token")))
		gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", json_is_true(json_object_get(cfg, "add_eos_token")));
	v = json_object_get(cfg, "chat_template");
	if (json_is_string(v))
		gguf_writer_set_string(w, "tokenizer.chat_template", json_string_value(v), json_string_length(v));
	rc = 0;
out:
	if (owned != NULL)
		for (int id = 0; id < vocab_size; id++)
			free(owned[id]);
	free(owned);
	free(tok);
	free(tlen);
	free(types);
	free(mstr);
	free(mlen);
	json_decref(cfg);
	json_decref(root);
	free(path);
	free(cpath);
	return rc;
}

/* prompt.c: the chat, completion and fill-in-the-middle prompt formats of DeepSeek-Coder-V2.
 *
 * Only these functions insert special tokens. Everything a person wrote is encoded with special-token
 * matching off, so typing "<｜end▁of▁sentence｜>" into a message cannot end a turn. The text between
 * two special tokens is encoded as one piece, which is what the Hugging Face tokenizer does with the
 * rendered chat template (it splits on special tokens first, then pre-tokenizes each piece). */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define BOS_TEXT "<｜begin▁of▁sentence｜>"
#define EOS_TEXT "<｜end▁of▁sentence｜>"
#define FIM_BEGIN_TEXT "<｜fim▁begin｜>"
#define FIM_HOLE_TEXT "<｜fim▁hole｜>"
#define FIM_END_TEXT "<｜fim▁end｜>"

/* Text accumulated between two special tokens. */
struct segment {
	char *buf;
	size_t len, cap;
};

static void segment_add(struct segment *s, const char *text)
{
	size_t n = strlen(text);

	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->buf = xrealloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, text, n);
	s->len += n;
}

static void segment_flush(const struct tokenizer *t, struct segment *s, int **ids, size_t *n, size_t *cap)
{
	if (s->len > 0)
		tok_encode(t, s->buf, s->len, false, ids, n, cap);
	s->len = 0;
}

static void push_id(int id, int **ids, size_t *n, size_t *cap)
{
	if (id < 0)
		return;
	if (*n + 1 > *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*ids = xreallocarray(*ids, *cap, sizeof **ids);
	}
	(*ids)[(*n)++] = id;
}

static int special(const struct tokenizer *t, const char *text, int fallback)
{
	int id = tok_special_id(t, text);

	return id >= 0 ? id : fallback;
}

void ds_prompt_chat(const struct tokenizer *t, const struct ds_message *msgs, int n_msgs,
		    int **ids, size_t *n, size_t *cap)
{
	struct segment seg = { 0 };
	int eos = special(t, EOS_TEXT, tok_eos_id(t));

	push_id(special(t, BOS_TEXT, tok_bos_id(t)), ids, n, cap);
	for (int i = 0; i < n_msgs; i++) {
		const char *role = msgs[i].role, *content = msgs[i].content ? msgs[i].content : "";

		if (strcmp(role, "user") == 0) {
			segment_add(&seg, "User: ");
			segment_add(&seg, content);
			segment_add(&seg, "\n\n");
		} else if (strcmp(role, "assistant") == 0) {
			segment_add(&seg, "Assistant: ");
			segment_add(&seg, content);
			segment_flush(t, &seg, ids, n, cap);
			push_id(eos, ids, n, cap);
		} else if (strcmp(role, "system") == 0) {
			segment_add(&seg, content);
			segment_add(&seg, "\n\n");
		}
	}
	segment_add(&seg, "Assistant:");
	segment_flush(t, &seg, ids, n, cap);
	free(seg.buf);
}

void ds_prompt_completion(const struct tokenizer *t, const char *text, int **ids, size_t *n, size_t *cap)
{
	push_id(special(t, BOS_TEXT, tok_bos_id(t)), ids, n, cap);
	tok_encode(t, text, strlen(text), false, ids, n, cap);
}

void ds_prompt_fim(const struct tokenizer *t, const char *prefix, const char *suffix,
		   int **ids, size_t *n, size_t *cap)
{
	push_id(special(t, BOS_TEXT, tok_bos_id(t)), ids, n, cap);
	push_id(special(t, FIM_BEGIN_TEXT, -1), ids, n, cap);
	tok_encode(t, prefix, strlen(prefix), false, ids, n, cap);
	push_id(special(t, FIM_HOLE_TEXT, -1), ids, n, cap);
	tok_encode(t, suffix, strlen(suffix), false, ids, n, cap);
	push_id(special(t, FIM_END_TEXT, -1), ids, n, cap);
}

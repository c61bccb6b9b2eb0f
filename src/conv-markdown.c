/* conv-markdown.c: exporting a conversation as Markdown (roles as headings, contents verbatim). */
#include "conversation.h"

#include <stdlib.h>
#include <string.h>

#include "atomicio.h"
#include "conv-internal.h"
#include "xalloc.h"

/* Text inside a fence longer than any run of backticks in it, so the text cannot close it early. */
static void conv_buf_fenced(struct conv_buf *b, const char *text)
{
	size_t run = 0, longest = 0, n = strlen(text);
	char fence[64];

	for (size_t i = 0; i < n; i++) {
		run = text[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	if (longest < 3)
		longest = 3;
	else
		longest++;
	if (longest > sizeof(fence) - 1)
		longest = sizeof(fence) - 1;
	memset(fence, '`', longest);
	fence[longest] = '\0';
	conv_buf_str(b, fence);
	conv_buf_str(b, "\n");
	conv_buf_add(b, text, n);
	if (n > 0 && text[n - 1] != '\n')
		conv_buf_str(b, "\n");
	conv_buf_str(b, fence);
	conv_buf_str(b, "\n\n");
}

static void conv_buf_section(struct conv_buf *b, const char *heading, const char *text, size_t n)
{
	conv_buf_str(b, "## ");
	conv_buf_str(b, heading);
	conv_buf_str(b, "\n\n");
	/* Content is already Markdown (code fences and all): copied byte for byte. */
	conv_buf_add(b, text, n);
	if (n > 0 && text[n - 1] != '\n')
		conv_buf_str(b, "\n");
	conv_buf_str(b, "\n");
}

int conv_export_markdown(const struct conversation *c, const char *path, char *err, size_t errlen)
{
	static const char *const headings[] = {
		[CONV_ROLE_SYSTEM] = "System", [CONV_ROLE_USER] = "User", [CONV_ROLE_ASSISTANT] = "Assistant",
	};
	struct conv_buf b = { 0 };
	char when[40];
	char *line;
	int r;

	conv_format_time(c->updated, when, sizeof(when));
	conv_buf_str(&b, "# ");
	conv_buf_str(&b, c->title[0] != '\0' ? c->title : "Conversation");
	conv_buf_str(&b, "\n\n");
	line = xasprintf("*dscoder-tui, %s mode%s%s%s%s, %s*\n\n", params_mode_name(c->mode),
			 c->profile ? ", profile " : "", c->profile ? c->profile : "",
			 c->model ? ", model " : "", c->model ? c->model : "", when);
	conv_buf_str(&b, line);
	free(line);
	if (c->system_prompt != NULL && c->system_prompt[0] != '\0')
		conv_buf_section(&b, "System prompt", c->system_prompt, strlen(c->system_prompt));
	if (c->mode == PARAMS_MODE_FIM || c->prefix != NULL || c->suffix != NULL) {
		conv_buf_str(&b, "## Prefix\n\n");
		conv_buf_fenced(&b, c->prefix != NULL ? c->prefix : "");
		conv_buf_str(&b, "## Suffix\n\n");
		conv_buf_fenced(&b, c->suffix != NULL ? c->suffix : "");
	}
	for (size_t i = 0; i < c->n_msgs; i++) {
		const struct conv_message *m = &c->msgs[i];
		const char *h = (unsigned)m->role < 3 ? headings[m->role] : "User";

		if (c->mode == PARAMS_MODE_FIM && m->role == CONV_ROLE_ASSISTANT) {
			/* The answer is code for the hole, not Markdown. */
			conv_buf_str(&b, "## Middle\n\n");
			conv_buf_fenced(&b, m->content);
		} else if (c->mode == PARAMS_MODE_COMPLETION) {
			conv_buf_str(&b, m->role == CONV_ROLE_ASSISTANT ? "## Completion\n\n" : "## Prompt\n\n");
			conv_buf_fenced(&b, m->content);
		} else {
			conv_buf_section(&b, h, m->content, m->len);
		}
		if (m->has_stats) {
			line = xasprintf("*%d prompt tokens, %d generated, first token after %.0f ms, %.1f tokens/s, "
					 "finish: %s*\n\n", m->stats.prompt_tokens, m->stats.completion_tokens,
					 m->stats.ttft_ms, m->stats.decode_tps,
					 m->stats.finish[0] ? m->stats.finish : "?");
			conv_buf_str(&b, line);
			free(line);
		}
	}
	r = atomicio_write(path, b.p, b.len, 0600, err, errlen);
	free(b.p);
	return r;
}

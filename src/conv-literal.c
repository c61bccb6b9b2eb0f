/* conv-literal.c: texts as YAML block literals where libyaml's emitter alone would fall back to
 * escaped double quotes (tabs, trailing spaces, emoji), by way of private-use stand-ins. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv-internal.h"
#include "xalloc.h"

static bool conv_text_needs_quotes(const char *s, size_t len)
{
	/* YAML readers turn CR and CRLF inside a block scalar into LF, and NEL/LS/PS are line breaks
	 * too: such text only survives in double quotes, where they are escaped. */
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r')
			return true;
		if (ch == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] == 0x85)
			return true;
		if (ch == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
			return true;
	}
	return false;
}

/* libyaml's emitter is stricter than YAML: it will not put a tab, a space at the end of a line or a
 * character outside the Basic Multilingual Plane (emoji) into a block literal, and switches the whole
 * text to an escaped double-quoted string, unreadable for code indented with tabs. YAML allows all
 * three in a literal, so they are handed to libyaml as private-use stand-ins it accepts (code points
 * the conversation does not use) and swapped back in its output. conv_save's read-back check (conv-file.c)
 * still decides: a text that does not come back the same is written in double quotes. */
#define CONV_PUA_FIRST 0xe000u
#define CONV_PUA_COUNT 6400u        /* U+E000..U+F8FF */
#define CONV_LEADING_TAB 0x110000u  /* not a code point: the space + stand-in pair of a first tab */

struct conv_literal {
	uint32_t orig[CONV_PUA_COUNT];  /* stand-in index -> original code point; 0: free */
	bool taken[CONV_PUA_COUNT];     /* used by the conversation itself, or assigned */
	unsigned next;
	uint32_t tab, space, lead_tab;  /* stand-ins for '\t', a line-final ' ', a first tab (0: none yet) */
	bool any;
};

static uint32_t conv_decode(const unsigned char *s, size_t *n)
{
	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if (s[0] < 0xe0) {
		*n = 2;
		return ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
	}
	if (s[0] < 0xf0) {
		*n = 3;
		return ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
	}
	*n = 4;
	return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
	       ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
}

static void conv_subst_mark(struct conv_literal *t, const char *s)
{
	size_t n;

	for (const unsigned char *p = (const unsigned char *)s; s != NULL && *p; p += n) {
		uint32_t cp = conv_decode(p, &n);

		if (cp >= CONV_PUA_FIRST && cp < CONV_PUA_FIRST + CONV_PUA_COUNT)
			t->taken[cp - CONV_PUA_FIRST] = true;
	}
}

/* A free stand-in for cp, or 0 when all are taken. */
static uint32_t conv_subst_new(struct conv_literal *t, uint32_t cp)
{
	while (t->next < CONV_PUA_COUNT && t->taken[t->next])
		t->next++;
	if (t->next == CONV_PUA_COUNT)
		return 0;
	t->taken[t->next] = true;
	t->orig[t->next] = cp;
	t->any = true;
	return CONV_PUA_FIRST + t->next++;
}

static uint32_t conv_subst_for(struct conv_literal *t, uint32_t cp)
{
	if (cp == '\t')
		return t->tab != 0 ? t->tab : (t->tab = conv_subst_new(t, cp));
	if (cp == ' ')
		return t->space != 0 ? t->space : (t->space = conv_subst_new(t, cp));
	if (cp == CONV_LEADING_TAB)
		return t->lead_tab != 0 ? t->lead_tab : (t->lead_tab = conv_subst_new(t, cp));
	for (unsigned i = 0; i < t->next; i++)
		if (t->orig[i] == cp)
			return CONV_PUA_FIRST + i;
	return conv_subst_new(t, cp);
}

/* s with its tabs, line-final spaces and non-BMP characters replaced by stand-ins; NULL when the
 * stand-ins ran out. Caller frees. */
static char *conv_subst_apply(struct conv_literal *t, const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len * 3 + 2);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, n;

	/* A first tab: libyaml writes an indentation indicator only for a text that starts with a space,
	 * and a block whose first line starts with a tab needs one. So the text starts with a real space
	 * followed by a stand-in that means "this space and I are one tab". */
	if (len > 0 && p[0] == '\t') {
		uint32_t ph = conv_subst_for(t, CONV_LEADING_TAB);

		if (ph == 0) {
			free(out);
			return NULL;
		}
		out[o++] = ' ';
		out[o++] = (char)(0xe0 | (ph >> 12));
		out[o++] = (char)(0x80 | ((ph >> 6) & 0x3f));
		out[o++] = (char)(0x80 | (ph & 0x3f));
		i = 1;
	}
	while (i < len) {
		uint32_t cp = conv_decode(p + i, &n), ph = 0;

		if (cp == ' ') {
			size_t j = i;

			while (j < len && p[j] == ' ')
				j++;
			if (j == len || p[j] == '\n')
				ph = conv_subst_for(t, ' ');
			else
				ph = ' ';
		} else if (cp == '\t' || cp >= 0x10000) {
			ph = conv_subst_for(t, cp);
		} else {
			ph = cp;
		}
		if (ph == 0) {
			free(out);
			return NULL;
		}
		if (ph == cp) {
			memcpy(out + o, p + i, n);
			o += n;
		} else {
			out[o++] = (char)(0xe0 | (ph >> 12));
			out[o++] = (char)(0x80 | ((ph >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (ph & 0x3f));
		}
		i += n;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Swaps the stand-ins in libyaml's output back; returns a new buffer (caller frees). */
static char *conv_subst_undo(const struct conv_literal *t, const char *buf, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + len / 3 + 1);     /* 3-byte stand-ins become at most 4 bytes */
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0, o = 0, n;

	while (i < len) {
		uint32_t cp = conv_decode(p + i, &n), orig;

		if (cp >= CONV_PUA_FIRST && cp < CONV_PUA_FIRST + CONV_PUA_COUNT &&
		    (orig = t->orig[cp - CONV_PUA_FIRST]) != 0) {
			if (orig == CONV_LEADING_TAB) {
				if (o > 0 && out[o - 1] == ' ')
					o--;
				out[o++] = '\t';
			} else if (orig < 0x80) {
				out[o++] = (char)orig;
			} else {
				out[o++] = (char)(0xf0 | (orig >> 18));
				out[o++] = (char)(0x80 | ((orig >> 12) & 0x3f));
				out[o++] = (char)(0x80 | ((orig >> 6) & 0x3f));
				out[o++] = (char)(0x80 | (orig & 0x3f));
			}
		} else {
			memcpy(out + o, p + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

void conv_literal_emit(struct yu_emitter *e, struct conv_literal *t, const char *s, bool quoted)
{
	size_t len = strlen(s), sublen;
	char *sub;

	/* A stand-in for a space first in the text would hide from libyaml that the block needs an
	 * indentation indicator: the swapped-back block would not parse. (A first tab is handled by
	 * conv_subst_apply.) */
	if (quoted || conv_text_needs_quotes(s, len) ||
	    (s[0] == ' ' && len == strspn(s, " ")) || (s[0] == ' ' && s[strspn(s, " ")] == '\n')) {
		yu_emit_text(e, s, len, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
		return;
	}
	sub = conv_subst_apply(t, s, len, &sublen);
	if (sub == NULL) {
		yu_emit_text(e, s, len, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
		return;
	}
	yu_emit_text(e, sub, sublen, YAML_LITERAL_SCALAR_STYLE);
	free(sub);
}

struct conv_literal *conv_literal_new(const struct conversation *c)
{
	struct conv_literal *t = xcalloc(1, sizeof(*t));

	conv_subst_mark(t, c->title);
	conv_subst_mark(t, c->profile);
	conv_subst_mark(t, c->model);
	conv_subst_mark(t, c->system_prompt);
	conv_subst_mark(t, c->prefix);
	conv_subst_mark(t, c->suffix);
	for (size_t i = 0; i < c->n_msgs; i++)
		conv_subst_mark(t, c->msgs[i].content);
	return t;
}

char *conv_literal_finish(struct conv_literal *t, char *buf, size_t *len)
{
	char *out = buf;

	if (buf != NULL && t->any) {
		out = conv_subst_undo(t, buf, *len, len);
		free(buf);
	}
	free(t);
	return out;
}

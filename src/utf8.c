/* utf8.c: UTF-8 decoding, grapheme clusters, display widths and line wrapping (on utf8proc). */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "xalloc.h"

size_t utf8_decode(const char *str, size_t len, int32_t *cp, bool *valid)
{
	const unsigned char *s = (const unsigned char *)str;
	if (len == 0) {
		*cp = UTF8_REPLACEMENT;
		if (valid)
			*valid = false;
		return 0;
	}
	unsigned b = s[0];
	size_t need;
	int32_t c;
	unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
	if (b < 0x80) {
		*cp = (int32_t)b;
		if (valid)
			*valid = true;
		return 1;
	} else if (b >= 0xC2 && b <= 0xDF) {
		need = 1;
		c = b & 0x1F;
	} else if (b >= 0xE0 && b <= 0xEF) {
		need = 2;
		c = b & 0x0F;
		if (b == 0xE0)
			lo = 0xA0; /* overlong */
		else if (b == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3;
		c = b & 0x07;
		if (b == 0xF0)
			lo = 0x90; /* overlong */
		else if (b == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		goto invalid1;
	}
	/* The maximal subpart: as many bytes as still form a valid prefix. */
	for (size_t i = 1; i <= need; i++) {
		unsigned lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
		if (i >= len || s[i] < lo_i || s[i] > hi_i) {
			*cp = UTF8_REPLACEMENT;
			if (valid)
				*valid = false;
			return i;
		}
		c = (c << 6) | (s[i] & 0x3F);
	}
	*cp = c;
	if (valid)
		*valid = true;
	return need + 1;
invalid1:
	*cp = UTF8_REPLACEMENT;
	if (valid)
		*valid = false;
	return 1;
}

bool utf8_valid(const char *s, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		if ((unsigned char)s[pos] < 0x80) {
			pos++;
			continue;
		}
		int32_t cp;
		bool ok;
		pos += utf8_decode(s + pos, len - pos, &cp, &ok);
		if (!ok)
			return false;
	}
	return true;
}

bool utf8_is_control(int32_t cp)
{
	if (cp == '\n' || cp == '\t')
		return false;
	return cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
}

/* Pure-ASCII pairs never join (except CR LF), so most text skips utf8proc entirely. */
static bool ascii_single(const char *s, size_t len, size_t pos)
{
	unsigned char b = (unsigned char)s[pos];
	if (b >= 0x80)
		return false;
	if (pos + 1 >= len)
		return true;
	unsigned char n = (unsigned char)s[pos + 1];
	if (n >= 0x80)
		return false;
	return !(b == '\r' && n == '\n');
}

size_t utf8_next_grapheme(const char *s, size_t len, size_t pos)
{
	if (pos >= len)
		return len;
	if (ascii_single(s, len, pos))
		return pos + 1;
	int32_t prev, next;
	utf8proc_int32_t state = 0;
	pos += utf8_decode(s + pos, len - pos, &prev, NULL);
	while (pos < len) {
		size_t n = utf8_decode(s + pos, len - pos, &next, NULL);
		if (utf8proc_grapheme_break_stateful(prev, next, &state))
			break;
		prev = next;
		pos += n;
	}
	return pos;
}

/* How far back utf8_prev_grapheme looks for a known boundary when there is no newline. */
#define PREV_SCAN_LIMIT 1024

size_t utf8_prev_grapheme(const char *s, size_t len, size_t pos)
{
	if (pos > len)
		pos = len;
	if (pos == 0)
		return 0;
	/* A boundary we can start from: just after a '\n' (always a boundary), else the start of a
	 * code point some way back (pathological clusters longer than the limit may split). */
	size_t start = pos - 1;
	size_t floor = pos > PREV_SCAN_LIMIT ? pos - PREV_SCAN_LIMIT : 0;
	while (start > floor && s[start - 1] != '\n')
		start--;
	if (start > 0 && s[start - 1] != '\n') {
		/* Not at a newline: do not begin inside a code point. */
		for (int i = 0; i < 3 && start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80; i++)
			start--;
	}
	size_t at = start;
	for (;;) {
		size_t next = utf8_next_grapheme(s, len, at);
		if (next >= pos || next == at)
			return at;
		at = next;
	}
}

static bool is_regional(int32_t cp)
{
	return cp >= 0x1F1E6 && cp <= 0x1F1FF;
}

int utf8_grapheme_width(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	int32_t c;
	bool ok;
	size_t n = utf8_decode(s, len, &c, &ok);
	if (c == '\n' || (c == '\r' && len >= 2 && s[1] == '\n'))
		return 0;
	if (c == '\t' || !ok || utf8_is_control(c))
		return 1;
	if (len == n && c < 0x80)
		return 1;
	int w = utf8proc_charwidth(c);
	if (w == 0) {
		/* A cluster that starts with a combining mark (at the start of a text): terminals
		 * draw it on a space. Format characters such as U+200B stay invisible. */
		utf8proc_category_t cat = utf8proc_category(c);
		if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME)
			return 1;
		return 0;
	}
	if (w >= 2)
		return 2;
	/* Narrow base: a flag (two regional indicators) or an emoji-presentation selector makes
	 * the cluster a two-column emoji. */
	size_t pos = n;
	while (pos < len) {
		int32_t d;
		pos += utf8_decode(s + pos, len - pos, &d, NULL);
		if (d == 0xFE0F || (is_regional(c) && is_regional(d)))
			return 2;
	}
	return 1;
}

size_t utf8_width(const char *s, size_t len)
{
	size_t w = 0, pos = 0;
	while (pos < len) {
		size_t next = utf8_next_grapheme(s, len, pos);
		if (next - pos == 1) {
			unsigned char b = (unsigned char)s[pos];
			w += b == '\n' ? 0 : 1;
		} else {
			w += (size_t)utf8_grapheme_width(s + pos, next - pos);
		}
		pos = next;
	}
	return w;
}

size_t utf8_fit(const char *s, size_t len, size_t pos, size_t cols, size_t *used)
{
	size_t w = 0;
	while (pos < len && s[pos] != '\n') {
		size_t next = utf8_next_grapheme(s, len, pos);
		size_t cw = (size_t)utf8_grapheme_width(s + pos, next - pos);
		if (w + cw > cols)
			break;
		w += cw;
		pos = next;
	}
	if (used)
		*used = w;
	return pos;
}

char *utf8_sanitize(const char *s, size_t len, int tabstop, size_t *outlen)
{
	/* Worst case: every byte becomes U+FFFD (3 bytes), or a tab becomes tabstop spaces. */
	size_t per = tabstop > 3 ? (size_t)tabstop : 3;
	char *out = xreallocarray(NULL, len + 1, per);
	size_t o = 0, col = 0, pos = 0;
	while (pos < len) {
		unsigned char b = (unsigned char)s[pos];
		if (b >= 0x20 && b < 0x7F) {
			out[o++] = (char)b;
			pos++;
			col++;
			continue;
		}
		int32_t cp;
		bool ok;
		size_t n = utf8_decode(s + pos, len - pos, &cp, &ok);
		if (cp == '\r' && pos + 1 < len && s[pos + 1] == '\n') {
			/* CR LF is one line break: keep only the LF. */
		} else if (cp == '\n') {
			out[o++] = '\n';
			col = 0;
		} else if (cp == '\t') {
			size_t stop = tabstop > 0 ? ((col / (size_t)tabstop) + 1) * (size_t)tabstop : col + 1;
			while (col < stop) {
				out[o++] = ' ';
				col++;
			}
		} else if (!ok || utf8_is_control(cp)) {
			memcpy(out + o, UTF8_REPLACEMENT_STR, 3);
			o += 3;
			col++;
		} else {
			memcpy(out + o, s + pos, n);
			o += n;
			/* Columns only matter for tab stops; a close approximation per code point. */
			int w = utf8proc_charwidth(cp);
			col += w > 0 ? (size_t)w : 0;
		}
		pos += n;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

/* Line-breaking classes for CJK text (a small part of UAX #14): no break before closing
 * punctuation, none after opening punctuation. */
static bool no_break_before(int32_t c)
{
	switch (c) {
	case ',': case '.': case ';': case ':': case '!': case '?': case ')': case ']': case '}':
	case 0x3001: case 0x3002: case 0xFF0C: case 0xFF0E: case 0xFF1A: case 0xFF1B: case 0xFF1F:
	case 0xFF01: case 0xFF09: case 0xFF3D: case 0xFF5D: case 0x300D: case 0x300F: case 0x3011:
	case 0x3015: case 0x3009: case 0x300B: case 0x3017: case 0x3019: case 0x201D: case 0x2019:
	case 0x2026: case 0x30FC: case 0x3005: case 0x30FB: case 0xFF65: case 0x3063: case 0x30C3:
	case 0x3083: case 0x3085: case 0x3087: case 0x30E3: case 0x30E5: case 0x30E7: case 0x3041:
	case 0x3043: case 0x3045: case 0x3047: case 0x3049: case 0x30A1: case 0x30A3: case 0x30A5:
	case 0x30A7: case 0x30A9: case 0xFF5E: case 0x301C:
		return true;
	default:
		return false;
	}
}

static bool no_break_after(int32_t c)
{
	switch (c) {
	case '(': case '[': case '{': case 0xFF08: case 0xFF3B: case 0xFF5B: case 0x300C:
	case 0x300E: case 0x3010: case 0x3014: case 0x3008: case 0x300A: case 0x3016: case 0x3018:
	case 0x201C: case 0x2018:
		return true;
	default:
		return false;
	}
}

struct wrap_out {
	struct utf8_line *v;
	size_t n, cap;
};

static void wrap_emit(struct wrap_out *o, size_t start, size_t vis_end, size_t end, size_t width, bool hard)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		o->v = xreallocarray(o->v, o->cap, sizeof *o->v);
	}
	o->v[o->n++] = (struct utf8_line){ .start = start, .vis_end = vis_end, .end = end,
		.width = (int)width, .hard = hard };
}

size_t utf8_wrap(const char *s, size_t len, int width_in, struct utf8_line **lines)
{
	size_t width = width_in < 1 ? 1 : (size_t)width_in;
	struct wrap_out o = { 0 };
	size_t line_start = 0, pos = 0, col = 0;
	/* The last break opportunity on this line: draw up to bo_vis (bo_width columns), the next
	 * line starts at bo_next. */
	bool have_bo = false;
	size_t bo_vis = 0, bo_next = 0, bo_width = 0;
	/* The current run of spaces (they may hang past the width: they are not drawn at a break). */
	bool in_space = false;
	size_t space_start = 0, space_col = 0;
	int32_t prev_cp = 0;
	int prev_w = 0;

	while (pos < len) {
		size_t next = utf8_next_grapheme(s, len, pos);
		unsigned char b = (unsigned char)s[pos];
		if (b == '\n' || (b == '\r' && next - pos == 2)) {
			/* Hard break; trailing spaces are drawn only while they fit. */
			size_t vis = pos, w = col;
			if (in_space && col > width) {
				vis = space_start;
				w = space_col;
			}
			wrap_emit(&o, line_start, vis, next, w, true);
			line_start = pos = next;
			col = 0;
			have_bo = in_space = false;
			prev_w = 0;
			prev_cp = 0;
			continue;
		}
		if (b == ' ' || b == '\t') {
			if (!in_space) {
				in_space = true;
				space_start = pos;
				space_col = col;
			}
			pos = next;
			col++;
			if (space_start > line_start) {
				have_bo = true;
				bo_vis = space_start;
				bo_width = space_col;
				bo_next = pos;
			}
			prev_cp = ' ';
			prev_w = 1;
			continue;
		}
		in_space = false;
		int32_t cp;
		if (b < 0x80)
			cp = b;
		else
			utf8_decode(s + pos, len - pos, &cp, NULL);
		size_t cw = next - pos == 1 && b >= 0x20 && b < 0x7F ? 1 : (size_t)utf8_grapheme_width(s + pos, next - pos);
		/* CJK: a break is allowed between two characters when either is wide. */
		if (pos > line_start && prev_cp != ' ' && (prev_w == 2 || cw == 2) &&
		    !no_break_before(cp) && !no_break_after(prev_cp)) {
			have_bo = true;
			bo_vis = bo_next = pos;
			bo_width = col;
		}
		if (col + cw > width && pos > line_start) {
			if (have_bo) {
				wrap_emit(&o, line_start, bo_vis, bo_next, bo_width, false);
				line_start = pos = bo_next;
			} else {
				/* A word longer than the line: break between clusters. */
				wrap_emit(&o, line_start, pos, pos, col, false);
				line_start = pos;
			}
			col = 0;
			have_bo = in_space = false;
			prev_w = 0;
			prev_cp = 0;
			continue;
		}
		col += cw;
		pos = next;
		prev_cp = cp;
		prev_w = (int)cw;
	}
	{
		size_t vis = len, w = col;
		if (in_space && col > width) {
			vis = space_start;
			w = space_col;
		}
		wrap_emit(&o, line_start, vis, len, w, false);
	}
	*lines = o.v;
	return o.n;
}

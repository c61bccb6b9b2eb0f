/* editor.c: the input editor's text buffer: grapheme-wise cursor, kills, history and wrapped layout. */
#include "build-config.h"
#include <string.h>
#include <stdlib.h>
#include <utf8proc.h>

#include "editor.h"
#include "utf8.h"
#include "xalloc.h"

#define EDITOR_TAB_WIDTH 4
#define EDITOR_HISTORY_MAX 500

void editor_init(struct editor *e)
{
	memset(e, 0, sizeof *e);
	e->cap = 64;
	e->text = xmalloc(e->cap);
	e->text[0] = '\0';
	e->goal_col = -1;
}

void editor_free(struct editor *e)
{
	for (int i = 0; i < e->n_hist; i++)
		free(e->hist[i]);
	free(e->hist);
	free(e->draft);
	free(e->kill);
	free(e->text);
	memset(e, 0, sizeof *e);
}

static void editor_reserve(struct editor *e, size_t extra)
{
	if (e->len + extra + 1 <= e->cap)
		return;
	size_t cap = e->cap ? e->cap : 64;
	while (cap < e->len + extra + 1)
		cap *= 2;
	e->text = xrealloc(e->text, cap);
	e->cap = cap;
}

/* Decodes one code point; invalid bytes give U+FFFD with length 1. */
static int32_t editor_decode(const char *s, size_t len, size_t *n)
{
	utf8proc_int32_t c;
	utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)s,
					      len > 4 ? 4 : (utf8proc_ssize_t)len, &c);
	if (r <= 0) {
		*n = 1;
		return 0xFFFD;
	}
	*n = (size_t)r;
	return c;
}

/* Cleans s into a new buffer (see editor_insert). */
static char *editor_clean(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len * 3 + 1);   /* a bad byte (1) becomes U+FFFD (3) */
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		unsigned char b = (unsigned char)s[i];
		if (b < 0x80) {
			i++;
			if (b == '\r') {
				if (i < len && s[i] == '\n')
					i++;
				out[o++] = '\n';
			} else if (b == '\n' || b == '\t' || (b >= 0x20 && b != 0x7f)) {
				out[o++] = (char)b;
			}
			continue;
		}
		size_t n;
		int32_t c = editor_decode(s + i, len - i, &n);
		i += n;
		if (c >= 0x80 && c < 0xa0)
			continue;       /* C1 controls: CSI and friends */
		o += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)out + o);
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

size_t editor_insert(struct editor *e, const char *s, size_t len)
{
	size_t n;
	char *clean = editor_clean(s, len, &n);
	editor_reserve(e, n);
	memmove(e->text + e->cur + n, e->text + e->cur, e->len - e->cur + 1);
	memcpy(e->text + e->cur, clean, n);
	e->len += n;
	e->cur += n;
	e->goal_col = -1;
	free(clean);
	return n;
}

void editor_set(struct editor *e, const char *s)
{
	e->len = 0;
	e->cur = 0;
	e->text[0] = '\0';
	editor_insert(e, s, strlen(s));
}

void editor_clear(struct editor *e)
{
	e->len = 0;
	e->cur = 0;
	e->text[0] = '\0';
	e->goal_col = -1;
	e->hist_pos = e->n_hist;
}

int editor_empty(const struct editor *e)
{
	return e->len == 0;
}

size_t editor_next_grapheme(const char *s, size_t len, size_t pos)
{
	if (pos >= len)
		return len;
	size_t n;
	int32_t prev = editor_decode(s + pos, len - pos, &n);
	utf8proc_int32_t state = 0;
	pos += n;
	if (prev == '\n')
		return pos;
	while (pos < len) {
		int32_t c = editor_decode(s + pos, len - pos, &n);
		if (c == '\n' || utf8proc_grapheme_break_stateful(prev, c, &state))
			break;
		prev = c;
		pos += n;
	}
	return pos;
}

size_t editor_prev_grapheme(const char *s, size_t len, size_t pos)
{
	if (pos == 0)
		return 0;
	/* Grapheme breaks depend on what came before, so walk forward from a point that is surely a
	 * boundary: the start of the logical line. */
	size_t start = pos - 1;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	if (s[pos - 1] == '\n')
		return pos - 1;
	size_t p = start, last = start;
	while (p < pos) {
		last = p;
		p = editor_next_grapheme(s, len, p);
	}
	return last;
}

int editor_grapheme_width(const char *s, size_t len, size_t *glen)
{
	size_t end = editor_next_grapheme(s, len, 0);
	*glen = end;
	if (end == 0)
		return 0;
	if (s[0] == '\t')
		return EDITOR_TAB_WIDTH;
	/* The same widths as the transcript and the drawing code (utf8.h), so the cursor lands
	 * where the text is drawn. */
	return utf8_grapheme_width(s, end);
}

/* Puts the cursor at p, forgetting the column that up and down keep; returns whether it moved. */
static int editor_move_to(struct editor *e, size_t p)
{
	int moved = p != e->cur;
	e->cur = p;
	e->goal_col = -1;
	return moved;
}

int editor_left(struct editor *e)
{
	if (e->cur == 0)
		return 0;
	e->cur = editor_prev_grapheme(e->text, e->len, e->cur);
	e->goal_col = -1;
	return 1;
}

int editor_right(struct editor *e)
{
	if (e->cur >= e->len)
		return 0;
	e->cur = editor_next_grapheme(e->text, e->len, e->cur);
	e->goal_col = -1;
	return 1;
}

/* A word is letters, digits and underscore in any script. */
static int editor_is_word(const char *s, size_t len, size_t pos)
{
	size_t n;
	int32_t c = editor_decode(s + pos, len - pos, &n);
	if (c == '_')
		return 1;
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC:
		return 1;
	default:
		return 0;
	}
}

static size_t editor_word_left_pos(const struct editor *e)
{
	size_t p = e->cur;
	while (p > 0) {
		size_t q = editor_prev_grapheme(e->text, e->len, p);
		if (editor_is_word(e->text, e->len, q))
			break;
		p = q;
	}
	while (p > 0) {
		size_t q = editor_prev_grapheme(e->text, e->len, p);
		if (!editor_is_word(e->text, e->len, q))
			break;
		p = q;
	}
	return p;
}

static size_t editor_word_right_pos(const struct editor *e)
{
	size_t p = e->cur;
	while (p < e->len && !editor_is_word(e->text, e->len, p))
		p = editor_next_grapheme(e->text, e->len, p);
	while (p < e->len && editor_is_word(e->text, e->len, p))
		p = editor_next_grapheme(e->text, e->len, p);
	return p;
}

int editor_word_left(struct editor *e)
{
	return editor_move_to(e, editor_word_left_pos(e));
}

int editor_word_right(struct editor *e)
{
	return editor_move_to(e, editor_word_right_pos(e));
}

static size_t editor_line_start(const struct editor *e, size_t p)
{
	while (p > 0 && e->text[p - 1] != '\n')
		p--;
	return p;
}

static size_t editor_line_end(const struct editor *e, size_t p)
{
	while (p < e->len && e->text[p] != '\n')
		p++;
	return p;
}

int editor_home(struct editor *e)
{
	return editor_move_to(e, editor_line_start(e, e->cur));
}

int editor_end(struct editor *e)
{
	return editor_move_to(e, editor_line_end(e, e->cur));
}

int editor_buf_start(struct editor *e)
{
	return editor_move_to(e, 0);
}

int editor_buf_end(struct editor *e)
{
	return editor_move_to(e, e->len);
}

int editor_col_of(const char *text, size_t row_start, size_t pos)
{
	int col = 0;
	size_t len = strlen(text + row_start) + row_start;
	for (size_t p = row_start; p < pos && p < len;) {
		size_t g;
		col += editor_grapheme_width(text + p, len - p, &g);
		p += g;
	}
	return col;
}

int editor_layout(const struct editor *e, int width, struct editor_row **rows, int *cap,
		  int *cur_row, int *cur_col)
{
	return editor_layout_from(e, 0, width, rows, cap, cur_row, cur_col);
}

size_t editor_window_start(const struct editor *e, int lines)
{
	size_t p = e->cur;
	while (p > 0 && e->text[p - 1] != '\n')
		p--;
	for (int k = 0; k < lines && p > 0; k++) {
		p--;    /* the newline ending the previous line */
		while (p > 0 && e->text[p - 1] != '\n')
			p--;
	}
	return p;
}

int editor_layout_from(const struct editor *e, size_t from, int width, struct editor_row **rows,
		       int *cap, int *cur_row, int *cur_col)
{
	if (width < 1)
		width = 1;
	int n = 0;
	*cur_row = 0;
	*cur_col = 0;
	size_t p = from;
	for (;;) {
		/* One visual row starting at p. */
		size_t start = p, last_space = (size_t)-1;
		int col = 0;
		while (p < e->len && e->text[p] != '\n') {
			size_t g;
			int w = editor_grapheme_width(e->text + p, e->len - p, &g);
			if (col + w > width && p > start)
				break;
			if (e->text[p] == ' ')
				last_space = p + 1;
			col += w;
			p += g;
		}
		size_t end = p, next = p;
		if (p < e->len && e->text[p] == '\n') {
			next = p + 1;
		} else if (p < e->len && last_space != (size_t)-1 && last_space > start &&
			   last_space < p) {
			end = next = last_space;    /* break after the last space */
		}
		if (n >= *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*rows = xreallocarray(*rows, (size_t)*cap, sizeof **rows);
		}
		(*rows)[n].start = start;
		(*rows)[n].end = end;
		/* The cursor belongs to this row if it lies in [start, end], unless it is at the end of a
		 * soft-wrapped row (then it shows at the start of the next row). */
		if (e->cur >= start && (e->cur < next || (next >= e->len && e->cur <= e->len))) {
			*cur_row = n;
			*cur_col = editor_col_of(e->text, start, e->cur);
		}
		n++;
		if (next >= e->len) {
			if (next == e->len && e->len > 0 && e->text[e->len - 1] == '\n' &&
			    p < e->len) {
				/* The text ends with a newline: an empty last row holds the cursor. */
				if (n >= *cap) {
					*cap *= 2;
					*rows = xreallocarray(*rows, (size_t)*cap, sizeof **rows);
				}
				(*rows)[n].start = (*rows)[n].end = e->len;
				if (e->cur == e->len) {
					*cur_row = n;
					*cur_col = 0;
				}
				n++;
			}
			break;
		}
		p = next;
	}
	return n;
}

int editor_vertical(struct editor *e, int width, int dir)
{
	struct editor_row *rows = NULL;
	int cap = 0, row, col;
	int n = editor_layout(e, width, &rows, &cap, &row, &col);
	int target = row + dir;
	if (target < 0 || target >= n) {
		free(rows);
		return 0;
	}
	if (e->goal_col < 0)
		e->goal_col = col;
	size_t p = rows[target].start, end = rows[target].end;
	int c = 0;
	while (p < end) {
		size_t g;
		int w = editor_grapheme_width(e->text + p, e->len - p, &g);
		if (c + w > e->goal_col)
			break;
		c += w;
		p += g;
	}
	e->cur = p;
	free(rows);
	return 1;
}

static void editor_erase(struct editor *e, size_t from, size_t to, int save)
{
	if (to <= from)
		return;
	if (save) {
		free(e->kill);
		e->kill = xstrndup(e->text + from, to - from);
	}
	memmove(e->text + from, e->text + to, e->len - to + 1);
	e->len -= to - from;
	e->cur = from;
	e->goal_col = -1;
}

int editor_backspace(struct editor *e)
{
	if (e->cur == 0)
		return 0;
	editor_erase(e, editor_prev_grapheme(e->text, e->len, e->cur), e->cur, 0);
	return 1;
}

int editor_delete(struct editor *e)
{
	if (e->cur >= e->len)
		return 0;
	size_t c = e->cur;
	editor_erase(e, c, editor_next_grapheme(e->text, e->len, c), 0);
	return 1;
}

int editor_kill_to_end(struct editor *e)
{
	size_t end = editor_line_end(e, e->cur);
	if (end == e->cur && end < e->len)
		end++;          /* at the end of a line, kill the newline (as emacs does) */
	if (end == e->cur)
		return 0;
	editor_erase(e, e->cur, end, 1);
	return 1;
}

int editor_kill_to_start(struct editor *e)
{
	size_t start = editor_line_start(e, e->cur);
	if (start == e->cur)
		return 0;
	editor_erase(e, start, e->cur, 1);
	return 1;
}

int editor_kill_word_back(struct editor *e)
{
	size_t p = editor_word_left_pos(e);
	if (p == e->cur)
		return 0;
	editor_erase(e, p, e->cur, 1);
	return 1;
}

int editor_kill_word_forward(struct editor *e)
{
	size_t p = editor_word_right_pos(e);
	if (p == e->cur)
		return 0;
	size_t c = e->cur;
	editor_erase(e, c, p, 1);
	return 1;
}

int editor_yank(struct editor *e)
{
	if (!e->kill || !*e->kill)
		return 0;
	editor_insert(e, e->kill, strlen(e->kill));
	return 1;
}

int editor_transpose(struct editor *e)
{
	if (e->len == 0 || e->cur == 0)
		return 0;
	size_t b = e->cur;
	if (b >= e->len || e->text[b] == '\n')
		b = editor_prev_grapheme(e->text, e->len, b);   /* at line end: swap the last two */
	size_t a = editor_prev_grapheme(e->text, e->len, b);
	size_t c = editor_next_grapheme(e->text, e->len, b);
	if (a == b || e->text[a] == '\n' || e->text[b] == '\n')
		return 0;
	size_t la = b - a, lb = c - b;
	char *tmp = xmalloc(la + lb);
	memcpy(tmp, e->text + b, lb);
	memcpy(tmp + lb, e->text + a, la);
	memcpy(e->text + a, tmp, la + lb);
	free(tmp);
	e->cur = c;
	e->goal_col = -1;
	return 1;
}

void editor_history_add(struct editor *e, const char *s)
{
	free(e->draft);
	e->draft = NULL;
	if (*s && !(e->n_hist > 0 && strcmp(e->hist[e->n_hist - 1], s) == 0)) {
		if (e->n_hist == EDITOR_HISTORY_MAX) {
			free(e->hist[0]);
			memmove(e->hist, e->hist + 1, (size_t)(e->n_hist - 1) * sizeof *e->hist);
			e->n_hist--;
		}
		e->hist = xreallocarray(e->hist, (size_t)e->n_hist + 1, sizeof *e->hist);
		e->hist[e->n_hist++] = xstrdup(s);
	}
	e->hist_pos = e->n_hist;
}

int editor_history_prev(struct editor *e)
{
	if (e->hist_pos <= 0 || e->n_hist == 0)
		return 0;
	if (e->hist_pos == e->n_hist) {
		free(e->draft);
		e->draft = xstrdup(e->text);
	}
	e->hist_pos--;
	editor_set(e, e->hist[e->hist_pos]);
	return 1;
}

int editor_history_next(struct editor *e)
{
	if (e->hist_pos >= e->n_hist)
		return 0;
	e->hist_pos++;
	if (e->hist_pos == e->n_hist) {
		editor_set(e, e->draft ? e->draft : "");
		free(e->draft);
		e->draft = NULL;
	} else {
		editor_set(e, e->hist[e->hist_pos]);
	}
	return 1;
}

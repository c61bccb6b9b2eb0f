/* transcript-find.c: finding text in the transcript (Ctrl-S or / asks, n and N go on): the lines are
 * searched as they are shown (markdown markers gone, code as highlighted), the view moves the match
 * a third down the screen, and every match on screen is drawn in the search_match colours. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "theme.h"
#include "utf8.h"
#include "xalloc.h"

/* Smart case, as less -i and vim's smartcase: a query without capitals matches any case. */
static bool find_folds(const char *q)
{
	for (; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			return false;
	return true;
}

static int fold(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Offset of the first match of q[0..qn) in s[from..n), or -1. Folding is ASCII only: the bytes of
 * other characters must match exactly, which keeps a match on whole UTF-8 sequences. */
static long find_in(const char *s, size_t n, size_t from, const char *q, size_t qn, bool folds)
{
	if (qn == 0 || n < qn)
		return -1;
	for (size_t i = from; i + qn <= n; i++) {
		size_t k = 0;
		while (k < qn && (folds ? fold((unsigned char)s[i + k]) == fold((unsigned char)q[k]) :
				  s[i + k] == q[k]))
			k++;
		if (k == qn)
			return (long)i;
	}
	return -1;
}

/* The text a line shows: its spans joined, in *buf (grown as needed). Returns its length. */
static size_t line_text(const struct md_line *l, char **buf, size_t *cap)
{
	size_t n = 0;
	for (size_t i = 0; i < l->nspans; i++)
		n += l->spans[i].len;
	if (n + 1 > *cap) {
		*cap = n + 64;
		*buf = xrealloc(*buf, *cap);
	}
	n = 0;
	for (size_t i = 0; i < l->nspans; i++) {
		memcpy(*buf + n, l->spans[i].text, l->spans[i].len);
		n += l->spans[i].len;
	}
	(*buf)[n] = '\0';
	return n;
}

/* The transcript rows (label row of each message counted) whose line holds a match, in order. */
static long *find_rows(struct app *a, const char *q, size_t *count)
{
	size_t qn = strlen(q), n = 0, cap = 0, bcap = 0;
	bool folds = find_folds(q);
	long *rows = NULL, row = 0;
	char *buf = NULL;
	for (size_t i = 0; i < a->tr.n; i++) {
		const struct tr_item *it = &a->tr.items[i];
		for (size_t k = 0; it->md != NULL && k < it->md->nlines; k++) {
			size_t len = line_text(&it->md->lines[k], &buf, &bcap);
			if (find_in(buf, len, 0, q, qn, folds) < 0)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				rows = xreallocarray(rows, cap, sizeof *rows);
			}
			rows[n++] = row + 1 + (long)k;
		}
		row += it->nrows;
	}
	free(buf);
	*count = n;
	return rows;
}

void transcript_find(struct app *a, const char *query, int dir)
{
	struct transcript *t = &a->tr;
	if (query != NULL) {
		if (*query == '\0')
			return;
		bool same = t->find != NULL && strcmp(t->find, query) == 0;
		free(t->find);
		t->find = xstrdup(query);
		if (!same)
			t->find_row = -1;
	}
	if (t->find == NULL) {
		app_notice(a, false, "nothing to find yet: Ctrl-S asks what to look for");
		return;
	}
	size_t n;
	long *rows = find_rows(a, t->find, &n);
	if (n == 0) {
		app_notice(a, true, "\"%s\" is not in this conversation", t->find);
		t->find_row = -1;
		free(rows);
		return;
	}
	/* From the last match, else from the top of the view (forward) or its bottom (backward);
	 * past the end it wraps around, as less and vim do. */
	long from = t->find_row >= 0 ? t->find_row :
		    dir > 0 ? (t->follow ? 0 : t->top) - 1 : (t->follow ? t->total_rows : t->top + t->height);
	size_t pick = dir > 0 ? 0 : n - 1;
	bool wrapped = true;
	for (size_t i = 0; i < n; i++) {
		size_t j = dir > 0 ? i : n - 1 - i;
		if (dir > 0 ? rows[j] > from : rows[j] < from) {
			pick = j;
			wrapped = false;
			break;
		}
	}
	t->find_row = rows[pick];
	free(rows);
	/* Leave the match a third of the way down, with what leads to it above. */
	transcript_scroll_to(a, t->find_row - (t->height > 3 ? t->height / 3 : 0));
	app_notice(a, false, "\"%s\": %zu of %zu line%s%s", t->find, pick + 1, n, n == 1 ? "" : "s",
		   t->find_row >= 0 && wrapped && n > 1 ? (dir > 0 ? " (from the top)" : " (from the end)") : "");
}

void transcript_find_clear(struct app *a)
{
	free(a->tr.find);
	a->tr.find = NULL;
	a->tr.find_row = -1;
}

void transcript_find_mark(struct app *a, int y, int x, int maxw, const struct md_line *l)
{
	if (a->tr.find == NULL || l->nspans == 0)
		return;
	static char *buf;
	static size_t cap;
	size_t len = line_text(l, &buf, &cap), qn = strlen(a->tr.find);
	bool folds = find_folds(a->tr.find);
	attr_t attr = theme_attr(ROLE_SEARCH_MATCH);
	for (long at = find_in(buf, len, 0, a->tr.find, qn, folds); at >= 0;
	     at = find_in(buf, len, (size_t)at + qn, a->tr.find, qn, folds)) {
		int col = (int)utf8_width(buf, (size_t)at), w = (int)utf8_width(buf + at, qn);
		if (col >= maxw)
			break;
		if (col + w > maxw)
			w = maxw - col;
		mvchgat(y, x + col, w, attr & ~A_COLOR, (short)PAIR_NUMBER(attr), NULL);
	}
}

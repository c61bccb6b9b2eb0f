/* pane-sidebar.c: the conversation list on the left: newest first, filtered by a search text,
 * corrupted files shown with their error instead of hiding them. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "theme.h"
#include "utf8.h"
#include "xalloc.h"

/* From this width on, a row shows the time next to the date. */
#define SIDEBAR_TIME_MIN_W 36

void sidebar_filter(struct app *a)
{
	free(a->list_idx);
	a->list_idx = xcalloc(a->list.n + 1, sizeof *a->list_idx);
	a->list_n = conv_search(&a->list, a->list_filter ? a->list_filter : "", a->list_idx);
	if (a->list_sel >= (int)a->list_n)
		a->list_sel = a->list_n ? (int)a->list_n - 1 : 0;
	if (a->list_sel < 0)
		a->list_sel = 0;
}

void sidebar_reload(struct app *a)
{
	char err[512];
	/* A reload (after a save) must not move the selection under someone who is choosing: keep the
	 * selected entry while the list has the focus, else select the open conversation. */
	const struct conv_entry *sel = a->focus == FOCUS_SIDEBAR ? sidebar_selected(a) : NULL;
	char *keep = sel != NULL ? xstrdup(sel->path) : a->conv->path ? xstrdup(a->conv->path) : NULL;
	conv_list_free(&a->list);
	memset(&a->list, 0, sizeof a->list);
	if (conv_list(NULL, &a->list, err, sizeof err) < 0)
		app_notice(a, true, "%s", err);
	a->list_loaded = true;
	sidebar_filter(a);
	for (size_t i = 0; keep != NULL && i < a->list_n; i++) {
		if (strcmp(a->list.v[a->list_idx[i]].path, keep) == 0) {
			a->list_sel = (int)i;
			break;
		}
	}
	free(keep);
}

/* A title cut to cols columns in the middle ("Refactor the pa…project alpha"): conversations
 * whose titles share a long start still differ on screen. Returns title itself when it fits, else
 * buf. */
static const char *sidebar_elide(const char *title, int cols, char *buf, size_t buflen)
{
	size_t len = strlen(title);
	if (cols < 8 || (int)utf8_width(title, len) <= cols)
		return title;
	size_t tail_w = (size_t)(cols - 1) * 2 / 5, head_w = (size_t)(cols - 1) - tail_w, w;
	size_t head = utf8_fit(title, len, 0, head_w, NULL);
	/* the tail: the longest end of the title that fits in tail_w columns */
	size_t tail = len;
	while (tail > head) {
		size_t p = utf8_prev_grapheme(title, len, tail);
		w = utf8_width(title + p, len - p);
		if (w > tail_w)
			break;
		tail = p;
	}
	snprintf(buf, buflen, "%.*s\u2026%s", (int)head, title, title + tail);
	return buf;
}

void sidebar_open(struct app *a)
{
	/* Loaded now, with the focus still elsewhere, so that the open conversation is selected. */
	a->sidebar_open = true;
	a->list_sel = 0;
	a->focus = FOCUS_INPUT;
	sidebar_reload(a);
	a->focus = FOCUS_SIDEBAR;
}

const struct conv_entry *sidebar_selected(struct app *a)
{
	if (a->list_n == 0 || a->list_sel < 0 || a->list_sel >= (int)a->list_n)
		return NULL;
	return &a->list.v[a->list_idx[a->list_sel]];
}

void sidebar_move(struct app *a, int delta)
{
	if (a->list_n == 0)
		return;
	long s = (long)a->list_sel + delta;
	if (s < 0)
		s = 0;
	if (s >= (long)a->list_n)
		s = (long)a->list_n - 1;
	a->list_sel = (int)s;
}

void sidebar_draw(struct app *a)
{
	struct rect r = a->r_sidebar;
	if (r.w <= 0 || r.h <= 0)
		return;
	if (!a->list_loaded)
		sidebar_reload(a);
	bool focused = a->focus == FOCUS_SIDEBAR;
	for (int y = 0; y < r.h; y++)
		draw_fill(r.y + y, r.x, r.w, ROLE_SIDEBAR);
	if (r.x + r.w < a->cols) {
		attrset(theme_attr(ROLE_BORDER));
		mvvline(r.y, r.x + r.w, ACS_VLINE, r.h);
	}
	char buf[256];
	snprintf(buf, sizeof buf, " Conversations (%zu) ", a->list_n);
	draw_fill(r.y, r.x, r.w, focused ? ROLE_STATUS_ACCENT : ROLE_BORDER);
	draw_text(r.y, r.x, r.w, buf, strlen(buf), focused ? ROLE_STATUS_ACCENT : ROLE_BORDER);
	int y0 = r.y + 1;
	if (a->list_filter && *a->list_filter) {
		snprintf(buf, sizeof buf, " / %s", a->list_filter);
		draw_text(y0, r.x, r.w, buf, strlen(buf), ROLE_SEARCH_MATCH);
		y0++;
	}
	int hint_rows = r.h >= 12 ? 1 : 0;
	int rows = r.y + r.h - y0 - hint_rows;
	if (rows < 1)
		return;
	if (a->list_sel < a->list_scroll)
		a->list_scroll = a->list_sel;
	if (a->list_sel >= a->list_scroll + rows)
		a->list_scroll = a->list_sel - rows + 1;
	if (a->list_n == 0) {
		const char *s = a->list_filter && *a->list_filter ? " nothing matches" :
				" no saved conversations";
		draw_text(y0, r.x, r.w, s, strlen(s), ROLE_DIM);
	}
	for (int k = 0; k < rows && a->list_scroll + k < (int)a->list_n; k++) {
		int i = a->list_scroll + k;
		const struct conv_entry *e = &a->list.v[a->list_idx[i]];
		bool sel = i == a->list_sel;
		bool current = a->conv->path && strcmp(e->path, a->conv->path) == 0;
		int role = sel ? (focused ? ROLE_SIDEBAR_SELECTED : ROLE_STATUS_BAR) : ROLE_SIDEBAR;
		draw_fill(y0 + k, r.x, r.w, role);
		const char *title = e->error ? e->id : *e->title ? e->title : "(untitled)";
		/* Date and time of the last change at the right (two conversations of one day
		 * differ there), the title in all the rest. */
		char date[32] = "";
		struct tm tm;
		localtime_r(&e->updated, &tm);
		strftime(date, sizeof date, r.w >= SIDEBAR_TIME_MIN_W ? "%m-%d %H:%M" : "%m-%d", &tm);
		int x = r.x;
		x += draw_text(y0 + k, x, r.w, current ? "\u2022" : " ", current ? 3 : 1, role);
		if (e->error)
			x += draw_text(y0 + k, x, r.x + r.w - x, "\u26a0 ", 4, ROLE_ERROR);
		int dw = r.w >= 24 ? (int)strlen(date) + 1 : 0;
		char cut[512];
		const char *shown = sidebar_elide(title, r.x + r.w - x - dw, cut, sizeof cut);
		draw_text(y0 + k, x, r.x + r.w - x - dw, shown, strlen(shown), role);
		if (dw)
			draw_text(y0 + k, r.x + r.w - dw + 1, dw - 1, date, strlen(date),
				  sel ? role : ROLE_DIM);
	}
	if (hint_rows) {
		const char *hint = focused ? " \u21b5 open n new r rename d del / find" :
				   " Tab: focus the list";
		draw_text(r.y + r.h - 1, r.x, r.w, hint, strlen(hint), ROLE_DIM);
	}
	/* The error of a corrupted file, when it is selected. */
	const struct conv_entry *s = sidebar_selected(a);
	if (s && s->error && focused && hint_rows)
		draw_text(r.y + r.h - 1, r.x, r.w, s->error, strlen(s->error), ROLE_ERROR);
}

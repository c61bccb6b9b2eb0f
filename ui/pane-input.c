/* pane-input.c: the input editor on screen: the separator line with its title, the wrapped text,
 * the cursor; it grows with its text up to the limit the layout gives it. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "theme.h"
#include "textdraw.h"
#include "utf8.h"
#include "xalloc.h"

#define INPUT_LEFT 2            /* "> " prompt column */

int input_rows_wanted(struct app *a, struct editor *e, int width, int limit)
{
	/* A text this long fills any limit (a row holds at most width columns of >= 1 byte, bar
	 * zero-width marks): no need to lay it out. */
	if (e->len > (size_t)limit * (size_t)(width > 0 ? width : 1) * 8)
		return limit;
	struct editor_row *rows = NULL;
	int cap = 0, r, c;
	int n = editor_layout(e, width, &rows, &cap, &r, &c);
	free(rows);
	if (n > limit)
		n = limit;
	return n < 1 ? 1 : n;
}

/* Draws text [s, e) of the editor on one row, tabs as spaces (the editor counts a tab 4 columns). */
/* Draws text [s, e) of the editor on one row, tabs as spaces (the editor counts a tab 4 columns). */
static void input_draw_row(int y, int x, int w, const char *text, size_t s, size_t e, int role)
{
	size_t n = 0, cap = (e - s) * 4 + 1;
	char *buf = xmalloc(cap);
	for (size_t p = s; p < e; p++) {
		if (text[p] == '\t') {
			memcpy(buf + n, "    ", 4);
			n += 4;
		} else {
			buf[n++] = text[p];
		}
	}
	move(y, x);
	textdraw(stdscr, buf, n, w, role, 0);
	free(buf);
}

static void input_draw_sep(struct app *a, struct rect r, const char *title, const char *hint,
			   bool focused)
{
	if (r.h <= 0 || r.w <= 0)
		return;
	draw_hline(r.y, r.x, r.w, focused ? ROLE_STATUS_ACCENT : ROLE_BORDER);
	int x = r.x + 1;
	char buf[256];
	snprintf(buf, sizeof buf, " %s ", title);
	/* The hint on the right keeps its room; the title gets the rest, cut if need be. */
	int hw = 0;
	char hbuf[256] = "";
	if (hint && *hint) {
		snprintf(hbuf, sizeof hbuf, " %s ", hint);
		hw = (int)utf8_width(hbuf, strlen(hbuf));
		if (hw + 24 > r.w)
			hw = 0;
	}
	x += draw_text(r.y, x, r.w - 4 - hw, buf, strlen(buf), focused ? ROLE_STATUS_ACCENT : ROLE_BORDER);
	if (hw) {
		memcpy(buf, hbuf, sizeof hbuf);
		if (r.x + r.w - 1 - hw > x)
			draw_text(r.y, r.x + r.w - 1 - hw, hw, buf, strlen(buf), ROLE_DIM);
	}
}

/* Draws one editor into rect r; the cursor position on screen goes to cy and cx. */
static void input_draw_editor(struct app *a, struct editor *e, struct rect r, const char *placeholder,
			      int *cy, int *cx)
{
	int width = r.w - INPUT_LEFT;
	if (width < 1)
		width = 1;
	for (int y = 0; y < r.h; y++)
		draw_fill(r.y + y, r.x, r.w, ROLE_INPUT);
	if (r.h <= 0 || r.w <= 0)
		return;
	attrset(theme_attr(ROLE_USER_MSG) | A_BOLD);
	mvaddstr(r.y, r.x, "\u276f ");
	struct editor_row *rows = NULL;
	int cap = 0, crow, ccol;
	/* Only the lines near the cursor can be on screen: lay out from r.h lines above it. */
	size_t from = editor_window_start(e, r.h);
	int n = editor_layout_from(e, from, width, &rows, &cap, &crow, &ccol);
	int first = 0;
	if (crow >= r.h)
		first = crow - r.h + 1;
	for (int y = 0; y < r.h && first + y < n; y++)
		input_draw_row(r.y + y, r.x + INPUT_LEFT, width, e->text, rows[first + y].start,
			       rows[first + y].end, ROLE_INPUT);
	if (editor_empty(e) && placeholder)
		draw_text(r.y, r.x + INPUT_LEFT, width, placeholder, strlen(placeholder), ROLE_DIM);
	/* More text above or below than fits: say so at the right edge. */
	if (first > 0 || from > 0)
		draw_text(r.y, r.x + r.w - 1, 1, "\u2191", 3, ROLE_DIM);
	if (first + r.h < n)
		draw_text(r.y + r.h - 1, r.x + r.w - 1, 1, "\u2193", 3, ROLE_DIM);
	*cy = r.y + crow - first;
	*cx = r.x + INPUT_LEFT + (ccol < width ? ccol : width - 1);
	free(rows);
}

void input_draw(struct app *a)
{
	bool fim = a->conv->mode == PARAMS_MODE_FIM;
	char title[160], hint[160] = "";
	const char *mode = params_mode_name(a->conv->mode);
	if (a->editing >= 0)
		snprintf(title, sizeof title, "Edit your last message \u00b7 Enter resends \u00b7 Esc cancels");
	else if (fim)
		snprintf(title, sizeof title, "Prefix (code before the hole) \u00b7 fim");
	else if (a->conv->mode == PARAMS_MODE_COMPLETION)
		snprintf(title, sizeof title, "Prompt \u00b7 completion");
	else if (*a->conv->title)
		snprintf(title, sizeof title, "Message \u00b7 %s \u00b7 %s", mode, a->conv->title);
	else
		snprintf(title, sizeof title, "Message \u00b7 %s", mode);
	if (a->input.len > 4096)
		snprintf(hint, sizeof hint, "%zu bytes", a->input.len);
	else if (a->es.state == ENGINE_GENERATING)
		snprintf(hint, sizeof hint, "Esc stops the answer");
	else if (a->r_sep.w >= 70)
		snprintf(hint, sizeof hint, "Enter send \u00b7 Alt-Enter newline \u00b7 F1 help");
	input_draw_sep(a, a->r_sep, title, hint, a->focus == FOCUS_INPUT);
	int cy = -1, cx = -1, sy = -1, sx = -1;
	const char *ph = fim ? "code before the hole" :
			 a->conv->mode == PARAMS_MODE_COMPLETION ? "text to continue" :
			 "Ask about code\u2026";
	input_draw_editor(a, &a->input, a->r_input, ph, &cy, &cx);
	if (fim) {
		input_draw_sep(a, a->r_sep2, "Suffix (code after the hole) \u00b7 Tab switches",
			       a->suffix.len > 4096 ? "" : NULL, a->focus == FOCUS_SUFFIX);
		input_draw_editor(a, &a->suffix, a->r_suffix, "code after the hole", &sy, &sx);
	}
	/* The terminal cursor goes where typing goes; elsewhere it is hidden. */
	if (a->focus == FOCUS_INPUT && cy >= 0) {
		move(cy, cx);
		curs_set(1);
	} else if (a->focus == FOCUS_SUFFIX && sy >= 0) {
		move(sy, sx);
		curs_set(1);
	} else {
		curs_set(0);
	}
}

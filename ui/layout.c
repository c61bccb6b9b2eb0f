/* layout.c: where each pane goes for the terminal's size, and clipped drawing helpers. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "theme.h"
#include "textdraw.h"
#include "utf8.h"
#include "xalloc.h"

#define LAYOUT_MIN_ROWS 12
#define LAYOUT_MIN_COLS 40
#define LAYOUT_MIN_TRANSCRIPT_COLS 36

static int layout_sidebar_width(int cols)
{
	/* Wide enough for whole titles and a date with the time where the terminal allows. */
	int w = cols * 2 / 5;
	if (w < 20)
		w = 20;
	if (w > 60)
		w = 60;
	/* On a narrow terminal the list takes the whole width while it is shown. */
	if (cols - w - 1 < LAYOUT_MIN_TRANSCRIPT_COLS)
		return cols;
	return w;
}

int layout_input_width(const struct app *a)
{
	int w = a->r_input.w;
	return w > 0 ? w : (a->cols > 2 ? a->cols - 2 : 1);
}

void layout_compute(struct app *a)
{
	a->rows = LINES;
	a->cols = COLS;
	a->too_small = a->rows < LAYOUT_MIN_ROWS || a->cols < LAYOUT_MIN_COLS;
	memset(&a->r_sidebar, 0, sizeof a->r_sidebar);
	memset(&a->r_sep2, 0, sizeof a->r_sep2);
	memset(&a->r_suffix, 0, sizeof a->r_suffix);
	if (a->too_small)
		return;
	a->r_status = (struct rect){ a->rows - 1, 0, 1, a->cols };
	int x0 = 0, mw = a->cols;
	if (a->sidebar_open) {
		int sw = layout_sidebar_width(a->cols);
		if (sw >= a->cols) {
			a->r_sidebar = (struct rect){ 0, 0, a->rows - 1, a->cols };
			x0 = a->cols;
			mw = 0;
		} else {
			a->r_sidebar = (struct rect){ 0, 0, a->rows - 1, sw };
			x0 = sw + 1;       /* a vertical border */
			mw = a->cols - x0;
		}
	}
	int avail = a->rows - 1;
	/* The editor grows with its text up to a third of the screen, so the transcript always keeps
	 * the larger part. */
	int limit = avail / 3;
	if (limit < 1)
		limit = 1;
	if (limit > 15)
		limit = 15;
	bool fim = a->conv->mode == PARAMS_MODE_FIM;
	int in_w = mw > 2 ? mw - 2 : 1;
	if (fim) {
		int half = limit / 2 > 0 ? limit / 2 : 1;
		a->input_rows = input_rows_wanted(a, &a->input, in_w, half);
		a->suffix_rows = input_rows_wanted(a, &a->suffix, in_w, half);
	} else {
		a->input_rows = input_rows_wanted(a, &a->input, in_w, limit);
		a->suffix_rows = 0;
	}
	int y = avail;
	if (fim) {
		y -= a->suffix_rows;
		a->r_suffix = (struct rect){ y, x0, a->suffix_rows, mw };
		y -= 1;
		a->r_sep2 = (struct rect){ y, x0, 1, mw };
	}
	y -= a->input_rows;
	a->r_input = (struct rect){ y, x0, a->input_rows, mw };
	y -= 1;
	a->r_sep = (struct rect){ y, x0, 1, mw };
	a->r_transcript = (struct rect){ 0, x0, y, mw };
	if (mw <= 0) {
		a->r_transcript.h = 0;
		a->r_input.h = 0;
	}
}

void draw_fill(int y, int x, int w, int role)
{
	if (w <= 0)
		return;
	attrset(theme_attr(role));
	mvhline(y, x, ' ', w);
}

void draw_hline(int y, int x, int w, int role)
{
	if (w <= 0)
		return;
	attrset(theme_attr(role));
	mvhline(y, x, ACS_HLINE, w);
}

void draw_box(int y, int x, int h, int w, int role)
{
	for (int k = 0; k < h; k++)
		draw_fill(y + k, x, w, role);
	attrset(theme_attr(ROLE_BORDER));
	mvaddch(y, x, ACS_ULCORNER);
	mvhline(y, x + 1, ACS_HLINE, w - 2);
	mvaddch(y, x + w - 1, ACS_URCORNER);
	mvvline(y + 1, x, ACS_VLINE, h - 2);
	mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
	mvaddch(y + h - 1, x, ACS_LLCORNER);
	mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
	mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
}

int draw_text(int y, int x, int maxw, const char *s, size_t len, int role)
{
	if (maxw <= 0 || len == 0)
		return 0;
	/* One line only: a newline in a title or a file name shows as a space. */
	char *copy = NULL;
	if (memchr(s, '\n', len)) {
		copy = xstrndup(s, len);
		for (size_t i = 0; i < len; i++)
			if (copy[i] == '\n')
				copy[i] = ' ';
		s = copy;
	}
	move(y, x);
	int used = textdraw(stdscr, s, len, maxw, role, 0);
	free(copy);
	return used;
}

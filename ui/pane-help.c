/* pane-help.c: the help overlay, generated from the key table so it can never disagree with it. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "app.h"
#include "theme.h"
#include "utf8.h"
#include "xalloc.h"

struct help_line {
	char keys[96];
	const char *text;           /* NULL: keys holds a heading */
};

/* Builds the help lines; returns their count (caller frees *out). */
static int help_lines(struct help_line **out)
{
	int n = 0, cap = 128;
	struct help_line *v = xcalloc((size_t)cap, sizeof *v);
	for (int ctx = 0; ctx < KCTX__COUNT; ctx++) {
		if (n + 2 >= cap) {
			cap *= 2;
			v = xreallocarray(v, (size_t)cap, sizeof *v);
		}
		if (n > 0)
			v[n++] = (struct help_line){ "", "" };
		snprintf(v[n].keys, sizeof v[n].keys, "%s", keys_ctx_name((enum key_ctx)ctx));
		v[n++].text = NULL;
		bool seen[ACT__COUNT] = { false };
		for (const struct key_binding *b = keys_table; b->key; b++) {
			if ((int)b->ctx != ctx || seen[b->act] || (b->flags & KB_HIDDEN))
				continue;
			seen[b->act] = true;
			if (n + 1 >= cap) {
				cap *= 2;
				v = xreallocarray(v, (size_t)cap, sizeof *v);
			}
			keys_for_action(b->act, (enum key_ctx)ctx, v[n].keys, sizeof v[n].keys);
			v[n++].text = keys_action_help(b->act);
		}
	}
	*out = v;
	return n;
}

static int help_width(const struct app *a)
{
	return a->cols - 2 < 96 ? a->cols - 2 : 96;
}

/* On a narrow screen each key gets two rows: the keys, then the description under them. */
static int help_narrow(const struct app *a)
{
	return help_width(a) < 70;
}

static int help_rows(const struct app *a, const struct help_line *v, int n)
{
	int rows = 0;
	for (int i = 0; i < n; i++)
		rows += help_narrow(a) && v[i].text && *v[i].text ? 2 : 1;
	return rows;
}

int help_key(struct app *a, int key)
{
	struct help_line *v;
	int n = help_lines(&v);
	n = help_rows(a, v, n);
	free(v);
	int page = a->rows - 6 > 1 ? a->rows - 6 : 1;
	if (key == (KEYS_FUNC | KEY_UP) || key == 'k')
		a->help_scroll--;
	else if (key == (KEYS_FUNC | KEY_DOWN) || key == 'j')
		a->help_scroll++;
	else if (key == (KEYS_FUNC | KEY_PPAGE) || key == 'b')
		a->help_scroll -= page;
	else if (key == (KEYS_FUNC | KEY_NPAGE) || key == ' ')
		a->help_scroll += page;
	else if (key == (KEYS_FUNC | KEY_HOME) || key == 'g')
		a->help_scroll = 0;
	else if (key == (KEYS_FUNC | KEY_END) || key == 'G')
		a->help_scroll = n;
	else if (key == 27 || key == 'q' || key == '?' || key == (KEYS_FUNC | KEY_F(1)) ||
		 key == '\r' || key == KEYS_CTRL('C'))
		a->help_open = false;
	else if (key == KEYS_CTRL('Q'))
		return ACT_UNHANDLED;
	if (a->help_scroll > n - page)
		a->help_scroll = n - page;
	if (a->help_scroll < 0)
		a->help_scroll = 0;
	return ACT_REDRAW;
}

void help_draw(struct app *a)
{
	struct help_line *v;
	int nl = help_lines(&v);
	int n = help_rows(a, v, nl);
	bool narrow = help_narrow(a);
	int w = help_width(a);
	int h = a->rows - 2;
	int x = (a->cols - w) / 2, y = 1;
	draw_box(y, x, h, w, ROLE_HELP);
	const char *title = " dscoder-tui keys ";
	draw_text(y, x + 2, w - 4, title, strlen(title), ROLE_HEADING);
	int rows = h - 3;
	if (a->help_scroll > n - rows)
		a->help_scroll = n - rows > 0 ? n - rows : 0;
	int keyw = 26;
	/* Row r of the help (after scrolling) maps to line i, first or second row of it. */
	int row = 0, k = 0;
	for (int i = 0; i < nl && k < rows; i++) {
		const struct help_line *l = &v[i];
		int h = narrow && l->text && *l->text ? 2 : 1;
		for (int part = 0; part < h; part++, row++) {
			if (row < a->help_scroll || k >= rows)
				continue;
			int yy = y + 1 + k++;
			if (!l->text)
				draw_text(yy, x + 2, w - 4, l->keys, strlen(l->keys), ROLE_HEADING);
			else if (narrow && part == 0)
				draw_text(yy, x + 3, w - 5, l->keys, strlen(l->keys), ROLE_INLINE_CODE);
			else if (narrow)
				draw_text(yy, x + 5, w - 7, l->text, strlen(l->text), ROLE_HELP);
			else {
				draw_text(yy, x + 3, keyw - 1, l->keys, strlen(l->keys), ROLE_INLINE_CODE);
				draw_text(yy, x + 3 + keyw, w - 5 - keyw, l->text, strlen(l->text), ROLE_HELP);
			}
		}
	}
	char hint[96];
	snprintf(hint, sizeof hint, "\u2191\u2193 PgUp PgDn scroll \u00b7 Esc, q or F1 closes \u00b7 %d/%d",
		 a->help_scroll + rows < n ? a->help_scroll + rows : n, n);
	draw_text(y + h - 2, x + 2, w - 4, hint, strlen(hint), ROLE_DIM);
	curs_set(0);
	free(v);
}

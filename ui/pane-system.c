/* pane-system.c: the pane that shows and edits the conversation's system prompt. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "theme.h"
#include "utf8.h"

void system_open(struct app *a)
{
	editor_set(&a->system_ed, a->conv->system_prompt ? a->conv->system_prompt : "");
	editor_buf_start(&a->system_ed);
	a->system_open = true;
}

void system_draw(struct app *a)
{
	int w = a->cols - 4 < 100 ? a->cols - 4 : 100;
	int h = a->rows - 4;
	if (w < 20)
		w = a->cols;
	if (h < 4)
		h = a->rows - 1;
	int x = (a->cols - w) / 2, y = (a->rows - 1 - h) / 2;
	draw_box(y, x, h, w, ROLE_INPUT);
	const char *title = " System prompt ";
	draw_text(y, x + 2, w - 4, title, strlen(title), ROLE_HEADING);
	const char *hint = " Ctrl-S or Alt-Enter: save \u00b7 Esc: discard \u00b7 Enter: new line ";
	int hw = (int)utf8_width(hint, strlen(hint));
	draw_text(y + h - 1, x + (w - hw > 2 ? w - hw - 2 : 1), w - 2, hint, strlen(hint), ROLE_DIM);
	int inner = w - 4, rows = h - 2;
	struct editor_row *er = NULL;
	int cap = 0, crow, ccol;
	int n = editor_layout(&a->system_ed, inner, &er, &cap, &crow, &ccol);
	int first = crow >= rows ? crow - rows + 1 : 0;
	for (int k = 0; k < rows && first + k < n; k++) {
		const struct editor_row *r = &er[first + k];
		draw_text(y + 1 + k, x + 2, inner, a->system_ed.text + r->start, r->end - r->start,
			  ROLE_INPUT);
	}
	if (editor_empty(&a->system_ed)) {
		const char *ph = "No system prompt. Type one, e.g. \"You are a concise C expert.\"";
		draw_text(y + 1, x + 2, inner, ph, strlen(ph), ROLE_DIM);
	}
	free(er);
	move(y + 1 + crow - first, x + 2 + (ccol < inner ? ccol : inner - 1));
	curs_set(1);
}

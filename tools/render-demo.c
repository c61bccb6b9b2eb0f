/* render-demo.c: shows a markdown file as the transcript would, in a theme, to look at themes and syntax files. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datafile.h"
#include "markdown.h"
#include "textdraw.h"
#include "theme.h"

/* Usage: render-demo [THEME] FILE.md  (q quits, any other key redraws; the terminal's size is used) */
int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: render-demo [THEME] FILE.md\n");
		return 2;
	}
	const char *theme_name = argc > 2 ? argv[1] : "default";
	const char *path = argv[argc - 1];
	char err[512];
	size_t len;
	char *text = datafile_read(path, &len, err, sizeof err);
	if (!text) {
		fprintf(stderr, "render-demo: %s\n", err);
		return 1;
	}
	struct theme *t = theme_load(theme_name, err, sizeof err);
	if (!t) {
		fprintf(stderr, "render-demo: %s\n", err);
		return 1;
	}
	setlocale(LC_ALL, "");
	initscr();
	noecho();
	cbreak();
	curs_set(0);
	int colors = theme_apply(t);
	for (;;) {
		int rows = LINES, cols = COLS;
		struct md_options o = { .width = cols - 2, .first_block = 1, .base_role = ROLE_TEXT };
		struct md_layout *L = md_layout(text, len, &o);
		for (int y = 0; y < rows - 1; y++) {
			move(y, 0);
			textdraw_fill(stdscr, cols, ROLE_TEXT, 0);
			move(y, 1);
			if ((size_t)y < L->nlines)
				textdraw_line(stdscr, &L->lines[y], cols - 2, 0);
		}
		move(rows - 1, 0);
		char status[256];
		snprintf(status, sizeof status, " theme %s, %d colours, %zu lines, %d code blocks  (q quits)", t->name, colors,
			 L->nlines, L->nblocks);
		int used = textdraw(stdscr, status, strlen(status), cols, ROLE_STATUS_BAR, 0);
		textdraw_fill(stdscr, cols - used, ROLE_STATUS_BAR, 0);
		refresh();
		md_layout_free(L);
		int ch = getch();
		if (ch == 'q' || ch == ERR)
			break;
	}
	endwin();
	theme_free(t);
	free(text);
	return 0;
}

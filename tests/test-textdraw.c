/* test-textdraw.c: ncurses advances exactly the utf8.c width per cluster (CJK, ZWJ, flags, marks, invalid bytes). */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "textdraw.h"
#include "theme.h"
#include "utf8.h"

#define FIX_CHECK_AT
#include "fixture-util.h"

/* The first code point of the cell at (y, x). */
static wchar_t cell(WINDOW *w, int y, int x)
{
	cchar_t cc;
	wchar_t wch[CCHARW_MAX + 1] = { 0 };
	attr_t a;
	short p;
	if (mvwin_wch(w, y, x, &cc) == ERR)
		return 0;
	getcchar(&cc, wch, &a, &p, NULL);
	return wch[0];
}

static void check_draw(WINDOW *w, const char *name, const char *s, int maxcols)
{
	wmove(w, 0, 0);
	werase(w);
	wmove(w, 0, 0);
	int used = textdraw(w, s, strlen(s), maxcols, ROLE_TEXT, 0);
	size_t want = utf8_width(s, strlen(s));
	if ((int)want > maxcols)
		want = (size_t)maxcols;
	CHECK(used == (int)want, "%s: drew %d columns, utf8_width says %zu", name, used, want);
	CHECK(getcurx(w) == used, "%s: cursor at column %d after drawing %d", name, getcurx(w), used);
}

int main(void)
{
	if (!setlocale(LC_ALL, "C.UTF-8") && !setlocale(LC_ALL, "en_US.UTF-8")) {
		printf("no UTF-8 locale: skipped\n");
		return 77;
	}
	const char *top = getenv("top_srcdir");
	setenv("DSCODER_DATADIR", top ? top : TOP_SRCDIR, 1);
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *scr = newterm("xterm-256color", out, in);
	if (!scr) {
		printf("no terminfo entry for xterm-256color: skipped\n");
		return 77;
	}
	set_term(scr);
	theme_apply(NULL);
	WINDOW *w = newwin(3, 60, 0, 0);

	check_draw(w, "ASCII", "hello", 60);
	check_draw(w, "CJK", "中文", 60);
	check_draw(w, "ZWJ family", "a\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7z", 60);
	CHECK(cell(w, 0, 1) == 0x1F468 && cell(w, 0, 3) == 'z', "family drawn as its first emoji, then z at column 3");
	check_draw(w, "flag", "\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8x", 60);
	CHECK(cell(w, 0, 2) == 'x', "x after the flag at column 2");
	check_draw(w, "skin tone", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBDx", 60);
	CHECK(cell(w, 0, 2) == 'x', "x after thumbs-up at column 2");
	check_draw(w, "heart VS16", "\xE2\x9D\xA4\xEF\xB8\x8Fx", 60);
	CHECK(cell(w, 0, 2) == 'x', "x after the heart at column 2");
	check_draw(w, "combining", "e\xCC\x81x", 60);
	CHECK(cell(w, 0, 1) == 'x', "x right after é");
	check_draw(w, "invalid", "a\xFF\xE4\xB8z", 60);
	CHECK(cell(w, 0, 1) == 0xFFFD && cell(w, 0, 2) == 0xFFFD && cell(w, 0, 3) == 'z', "U+FFFD for invalid bytes");
	check_draw(w, "control", "a\x1b[1mb", 60);
	CHECK(cell(w, 0, 1) == 0xFFFD, "escape drawn as U+FFFD");
	check_draw(w, "zero width space", "a\xE2\x80\x8B" "b", 60);
	check_draw(w, "clip", "abcdef", 3);
	wmove(w, 0, 0);
	int used = textdraw(w, "a中", 4, 2, ROLE_TEXT, 0);
	CHECK(used == 2 && cell(w, 0, 1) == ' ', "a wide char that does not fit becomes a space (%d)", used);

	/* A laid-out line draws at its width. */
	struct md_options o = { .width = 30, .first_block = 1, .base_role = ROLE_TEXT };
	const char *msg = "**粗体** and `code` 👨\xE2\x80\x8D👩\xE2\x80\x8D👧 done";
	struct md_layout *L = md_layout(msg, strlen(msg), &o);
	wmove(w, 1, 0);
	used = textdraw_line(w, &L->lines[0], 30, 0);
	CHECK(used == L->lines[0].width && getcurx(w) == used, "md line drawn at %d columns (layout %d, cursor %d)", used,
	      L->lines[0].width, getcurx(w));
	md_layout_free(L);
	wmove(w, 2, 0);
	textdraw_fill(w, 100, ROLE_STATUS_BAR, 0);
	CHECK(getcury(w) == 2 || getcurx(w) == 0, "fill stops at the window edge");

	delwin(w);
	endwin();
	delscreen(scr);
	if (fix_failures) {
		printf("%d check(s) failed\n", fix_failures);
		return 1;
	}
	printf("all textdraw checks passed\n");
	return 0;
}

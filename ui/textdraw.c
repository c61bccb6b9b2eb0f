/* textdraw.c: draws UTF-8 text into ncurses windows cluster by cluster, at exactly the widths utf8.h computes. */
#include "textdraw.h"

#include <wchar.h>

#include "theme.h"
#include "utf8.h"

static void put_cell(WINDOW *win, const wchar_t *wch, attr_t attr, short pair)
{
	cchar_t cc;
	if (setcchar(&cc, wch, attr, pair, NULL) == ERR) {
		/* not representable: show the replacement character */
		const wchar_t rep[2] = { UTF8_REPLACEMENT, 0 };
		setcchar(&cc, rep, attr, pair, NULL);
	}
	wadd_wch(win, &cc);
}

static bool is_regional(int32_t cp)
{
	return cp >= 0x1F1E6 && cp <= 0x1F1FF;
}

int textdraw(WINDOW *win, const char *s, size_t len, int maxcols, int role, attr_t extra)
{
	attr_t attr = (theme_attr(role) & ~A_COLOR) | extra;
	short pair = theme_pair(role);
	int room = getmaxx(win) - getcurx(win);
	if (maxcols > room)
		maxcols = room;
	int used = 0;
	size_t pos = 0;
	while (pos < len && used < maxcols && s[pos] != '\n') {
		size_t next = utf8_next_grapheme(s, len, pos);
		int w = utf8_grapheme_width(s + pos, next - pos);
		if (w == 0) {
			pos = next;
			continue;
		}
		if (used + w > maxcols) {
			/* a wide cluster at the edge: keep the column count exact */
			const wchar_t sp[2] = { L' ', 0 };
			put_cell(win, sp, attr, pair);
			used++;
			break;
		}
		wchar_t wch[CCHARW_MAX + 1];
		int n = 0, drawn = 0;
		int32_t c0;
		bool ok;
		size_t k = pos + utf8_decode(s + pos, next - pos, &c0, &ok);
		if (!ok || utf8_is_control(c0) || c0 == '\t') {
			c0 = c0 == '\t' ? ' ' : UTF8_REPLACEMENT;
			ok = false;
		}
		int cw = wcwidth((wchar_t)c0);
		if (cw <= 0 && ok) {
			/* a lone combining mark: draw it on a space, as terminals do */
			wch[n++] = L' ';
			cw = 1;
		} else if (cw < 0 || cw > w) {
			/* the C library disagrees with utf8proc: stay aligned */
			c0 = UTF8_REPLACEMENT;
			cw = 1;
			ok = false;
		}
		wch[n++] = (wchar_t)c0;
		int32_t c1 = 0;
		if (ok && k < next && is_regional(c0)) {
			utf8_decode(s + k, next - k, &c1, NULL);
		}
		if (is_regional(c0) && is_regional(c1) && wcwidth((wchar_t)c1) == 1 && cw == 1) {
			/* a flag: two one-column cells */
			wch[n] = 0;
			put_cell(win, wch, attr, pair);
			wchar_t second[2] = { (wchar_t)c1, 0 };
			put_cell(win, second, attr, pair);
			drawn = 2;
		} else {
			/* combining marks join the cell; anything with a width of its own is dropped */
			while (ok && k < next && n < CCHARW_MAX) {
				int32_t c;
				k += utf8_decode(s + k, next - k, &c, NULL);
				if (c == 0xFE0F && cw < w)
					continue; /* padded with a space below instead */
				if (c == 0x200D)
					break; /* the rest of a ZWJ sequence is not drawn */
				if (wcwidth((wchar_t)c) == 0)
					wch[n++] = (wchar_t)c;
			}
			wch[n] = 0;
			put_cell(win, wch, attr, pair);
			drawn = cw;
		}
		const wchar_t sp[2] = { L' ', 0 };
		for (; drawn < w; drawn++)
			put_cell(win, sp, attr, pair);
		used += w;
		pos = next;
	}
	return used;
}

int textdraw_line(WINDOW *win, const struct md_line *line, int maxcols, attr_t extra)
{
	int used = 0;
	for (size_t i = 0; i < line->nspans && used < maxcols; i++)
		used += textdraw(win, line->spans[i].text, line->spans[i].len, maxcols - used, line->spans[i].role, extra);
	return used;
}

void textdraw_fill(WINDOW *win, int cols, int role, attr_t extra)
{
	attr_t attr = (theme_attr(role) & ~A_COLOR) | extra;
	short pair = theme_pair(role);
	int room = getmaxx(win) - getcurx(win);
	if (cols > room)
		cols = room;
	const wchar_t sp[2] = { L' ', 0 };
	for (int i = 0; i < cols; i++)
		put_cell(win, sp, attr, pair);
}

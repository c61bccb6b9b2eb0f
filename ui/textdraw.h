/* textdraw.h: draws UTF-8 text into ncurses windows cluster by cluster, at exactly the widths utf8.h computes. */
#ifndef DS_TEXTDRAW_H
#define DS_TEXTDRAW_H

#include <stddef.h>
#include <curses.h>

#include "markdown.h"

/*
 * Why this exists: ncurses advances the cursor by wcwidth() of each code point, so an emoji ZWJ
 * sequence would take 6 columns there while the layout (utf8.c) counts 2, and every following
 * cell would be off. These functions draw one grapheme cluster per cell and make ncurses advance
 * exactly utf8_grapheme_width() columns:
 * - base character + its combining marks go into one cchar_t (setcchar);
 * - a cluster ncurses cannot hold in one cell (ZWJ sequences, skin-tone modifiers) is drawn as its
 *   first emoji (the family 👨‍👩‍👧 shows as 👨: the screen stays aligned on every terminal);
 * - a flag is drawn as its two regional indicators (one column each for ncurses, one flag in two
 *   columns on terminals that join them);
 * - where the terminal width of the drawn text is less than the layout width (❤️ with U+FE0F),
 *   spaces make up the difference; invalid bytes and control characters are drawn as U+FFFD;
 *   zero-width clusters (U+200B) draw nothing.
 * The program must have called setlocale(LC_ALL, "") with a UTF-8 locale before initscr().
 * Attributes: theme_attr(role) and theme_pair(role) of the active theme, OR-ed with `extra`
 * (A_REVERSE for a selection, for example).
 */

/* Draws s[0..len) at the window's cursor, clipped to maxcols columns (and to the window's right
 * edge); a wide cluster that does not fit in the last column becomes a space. Stops at '\n'.
 * Returns the number of columns drawn; the cursor ends after them. */
int textdraw(WINDOW *win, const char *s, size_t len, int maxcols, int role, attr_t extra);

/* Draws a laid-out markdown line (its spans in their roles), clipped to maxcols; returns columns. */
int textdraw_line(WINDOW *win, const struct md_line *line, int maxcols, attr_t extra);

/* Draws cols spaces in role (to clear the rest of a line in its background colour). */
void textdraw_fill(WINDOW *win, int cols, int role, attr_t extra);

#endif

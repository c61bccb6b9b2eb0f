/* editor.h: the text buffer behind the input editor: UTF-8 text, a cursor that moves by grapheme,
 * emacs-style kills and yank, input history, and a wrapped layout for display; no ncurses here. */
#ifndef DS_EDITOR_H
#define DS_EDITOR_H

#include <stddef.h>

struct editor_row {
	size_t start, end;          /* byte range of one visual row (end excludes a newline) */
};

struct editor {
	char *text;                 /* always NUL-terminated, valid UTF-8 */
	size_t len, cap;
	size_t cur;                 /* cursor, a byte offset on a grapheme boundary */
	int goal_col;               /* column wanted by up/down moves; -1 when unset */
	char *kill;                 /* last killed text, for yank */

	char **hist;                /* history, oldest first */
	int n_hist, hist_pos;       /* hist_pos == n_hist: editing the draft */
	char *draft;                /* the text being typed when history browsing started */
};

void editor_init(struct editor *e);
void editor_free(struct editor *e);

/* Inserts len bytes at the cursor. The bytes are cleaned first: invalid UTF-8 becomes U+FFFD, CR LF
 * and lone CR become LF, other control characters (ESC included) except TAB are dropped, so pasted
 * text can never inject terminal sequences. Returns the number of bytes inserted. */
size_t editor_insert(struct editor *e, const char *s, size_t len);
/* Replaces the whole text and puts the cursor at its end. */
void editor_set(struct editor *e, const char *s);
void editor_clear(struct editor *e);
/* The text (owned by e, valid until the next change). */
static inline const char *editor_text(const struct editor *e) { return e->text; }
int editor_empty(const struct editor *e);

/* Cursor moves; each returns 1 when the cursor moved. */
int editor_left(struct editor *e);
int editor_right(struct editor *e);
int editor_word_left(struct editor *e);
int editor_word_right(struct editor *e);
int editor_home(struct editor *e);          /* start of the logical line */
int editor_end(struct editor *e);           /* end of the logical line */
int editor_buf_start(struct editor *e);
int editor_buf_end(struct editor *e);
/* Moves one visual row up (dir -1) or down (+1) in a layout of the given width, keeping the
 * column. Returns 0 when already on the first/last row (the caller may then browse history). */
int editor_vertical(struct editor *e, int width, int dir);

/* Deletions; each returns 1 when text changed. Kills (to end/start of line, word back/forward)
 * save the text for editor_yank. */
int editor_backspace(struct editor *e);
int editor_delete(struct editor *e);
int editor_kill_to_end(struct editor *e);
int editor_kill_to_start(struct editor *e);
int editor_kill_word_back(struct editor *e);
int editor_kill_word_forward(struct editor *e);
int editor_yank(struct editor *e);
/* Swaps the graphemes before and at the cursor (emacs Ctrl-T). */
int editor_transpose(struct editor *e);

/* History: add stores a copy (empty text and repeats of the newest entry are skipped) and leaves the
 * draft. prev/next replace the text with an older/newer entry; next past the newest restores the
 * draft. Both return 0 when there is nothing further. */
void editor_history_add(struct editor *e, const char *s);
int editor_history_prev(struct editor *e);
int editor_history_next(struct editor *e);

/* Display width of the grapheme starting at s (bytes [s, s+len)), as utf8_grapheme_width counts
 * it (2 for wide CJK and emoji, 0 for a lone zero-width character), except that a tab counts 4.
 * *glen receives the grapheme's byte length. */
int editor_grapheme_width(const char *s, size_t len, size_t *glen);
/* Byte offset of the next / previous grapheme boundary. */
size_t editor_next_grapheme(const char *s, size_t len, size_t pos);
size_t editor_prev_grapheme(const char *s, size_t len, size_t pos);

/* Wraps the text into visual rows of at most width columns (a newline ends a row; long words are
 * broken at grapheme boundaries; wrapping prefers the last space). Rows are written to *rows (grown
 * with xrealloc; caller frees). *cur_row and *cur_col receive the cursor's position. Returns the
 * number of rows (at least 1). */
int editor_layout(const struct editor *e, int width, struct editor_row **rows, int *cap,
		  int *cur_row, int *cur_col);
/* The same for the text from byte `from` (the start of a logical line, at or before the cursor),
 * so that a huge text is laid out only near the cursor. */
int editor_layout_from(const struct editor *e, size_t from, int width, struct editor_row **rows,
		       int *cap, int *cur_row, int *cur_col);
/* The start of the logical line `lines` lines above the cursor's line (0: the cursor's own). */
size_t editor_window_start(const struct editor *e, int lines);
/* Column of byte offset pos inside a row that starts at row_start. */
int editor_col_of(const char *text, size_t row_start, size_t pos);

#endif

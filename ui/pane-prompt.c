/* pane-prompt.c: the modal prompt in the middle of the screen: a line of text (paths, names,
 * numbers), a yes/no question, a choice from a list, or a message to read. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "theme.h"
#include "utf8.h"
#include "xalloc.h"

static void modal_reset(struct app *a)
{
	struct modal *m = &a->modal;
	if (m->kind == MODAL_INPUT)
		editor_free(&m->ed);
	free(m->title);
	free(m->body);
	free(m->stash);
	for (int i = 0; i < m->n_choices; i++)
		free(m->choices[i]);
	free(m->choices);
	memset(m, 0, sizeof *m);
}

void modal_close(struct app *a)
{
	modal_reset(a);
}

void modal_input(struct app *a, const char *title, const char *initial, modal_done_fn done, int tag)
{
	modal_reset(a);
	a->modal.kind = MODAL_INPUT;
	a->modal.title = xstrdup(title);
	editor_init(&a->modal.ed);
	if (initial)
		editor_set(&a->modal.ed, initial);
	a->modal.done = done;
	a->modal.tag = tag;
}

void modal_confirm(struct app *a, const char *title, const char *body, modal_done_fn done, int tag)
{
	modal_reset(a);
	a->modal.kind = MODAL_CONFIRM;
	a->modal.title = xstrdup(title);
	a->modal.body = xstrdup(body ? body : "");
	a->modal.done = done;
	a->modal.tag = tag;
}

void modal_confirm_no(struct app *a, const char *title, const char *body, modal_done_fn done, int tag)
{
	modal_confirm(a, title, body, done, tag);
	a->modal.enter_no = true;
}

void modal_choice(struct app *a, const char *title, char **choices, int n, int sel,
		  modal_done_fn done, int tag)
{
	modal_reset(a);
	a->modal.kind = MODAL_CHOICE;
	a->modal.title = xstrdup(title);
	a->modal.choices = xcalloc((size_t)n + 1, sizeof *a->modal.choices);
	for (int i = 0; i < n; i++)
		a->modal.choices[i] = xstrdup(choices[i]);
	a->modal.n_choices = n;
	a->modal.sel = sel >= 0 && sel < n ? sel : 0;
	a->modal.done = done;
	a->modal.tag = tag;
}

void modal_text(struct app *a, const char *title, const char *body)
{
	modal_reset(a);
	a->modal.kind = MODAL_TEXT;
	a->modal.title = xstrdup(title);
	a->modal.body = xstrdup(body);
}

/* Closes the modal, then calls its callback (which may open another one). */
static int modal_finish(struct app *a, int ok)
{
	struct modal *m = &a->modal;
	modal_done_fn done = m->done;
	char *text = m->kind == MODAL_INPUT ? xstrdup(editor_text(&m->ed)) : NULL;
	int choice = m->sel;
	int tag = m->tag;
	char *stash = m->stash;
	m->stash = NULL;
	modal_reset(a);
	if (done) {
		/* The callback reads the closed modal's tag and stash here; a modal it opens has its own. */
		a->cb_tag = tag;
		a->cb_stash = stash;
		done(a, ok, text ? text : "", choice);
		a->cb_stash = NULL;
	}
	free(stash);
	free(text);
	return ACT_REDRAW | ACT_RESIZE;
}

int modal_key(struct app *a, int key, const char *paste, size_t paste_len)
{
	struct modal *m = &a->modal;
	switch (m->kind) {
	case MODAL_NONE:
		return ACT_UNHANDLED;
	case MODAL_TEXT:
		if (key == 27 || key == '\r' || key == 'q' || key == ' ' || key == (KEYS_FUNC | KEY_ENTER))
			return modal_finish(a, 1);
		return ACT_REDRAW;
	case MODAL_CONFIRM:
		if (key == '\r' || key == (KEYS_FUNC | KEY_ENTER))
			return modal_finish(a, !m->enter_no);
		if (key == 'y' || key == 'Y')
			return modal_finish(a, 1);
		if (key == KEYS_CTRL('C') && m->tag == 1)
			return modal_finish(a, 1);     /* the quit question: Ctrl-C twice quits */
		if (key == 'n' || key == 'N' || key == 27 || key == KEYS_CTRL('C') || key == KEYS_CTRL('G'))
			return modal_finish(a, 0);
		return ACT_REDRAW;
	case MODAL_CHOICE:
		if (key == (KEYS_FUNC | KEY_UP) || key == KEYS_CTRL('P') || key == 'k') {
			if (m->sel > 0)
				m->sel--;
		} else if (key == (KEYS_FUNC | KEY_DOWN) || key == KEYS_CTRL('N') || key == 'j') {
			if (m->sel + 1 < m->n_choices)
				m->sel++;
		} else if (key == '\r' || key == (KEYS_FUNC | KEY_ENTER)) {
			return modal_finish(a, 1);
		} else if (key == 27 || key == KEYS_CTRL('C') || key == 'q') {
			return modal_finish(a, 0);
		} else if (key >= '1' && key <= '9' && key - '1' < m->n_choices) {
			m->sel = key - '1';
			return modal_finish(a, 1);
		}
		return ACT_REDRAW;
	case MODAL_INPUT:
		break;
	}
	struct editor *e = &m->ed;
	int changed = 0;
	if (paste) {
		/* A path or a name is one line: newlines in a paste become spaces. */
		char *one = xstrndup(paste, paste_len);
		for (char *p = one; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		editor_insert(e, one, strlen(one));
		free(one);
		changed = 1;
	} else if (key == '\r' || key == (KEYS_FUNC | KEY_ENTER)) {
		return modal_finish(a, 1);
	} else if (key == 27 || key == KEYS_CTRL('C') || key == KEYS_CTRL('G')) {
		return modal_finish(a, 0);
	} else {
		const struct key_binding *b = keys_lookup(KCTX_INPUT, key, 0);
		enum action act = b ? b->act : ACT_NONE;
		switch (act) {
		case ACT_LEFT: editor_left(e); break;
		case ACT_RIGHT: editor_right(e); break;
		case ACT_WORD_LEFT: editor_word_left(e); break;
		case ACT_WORD_RIGHT: editor_word_right(e); break;
		case ACT_LINE_START: editor_home(e); break;
		case ACT_LINE_END: editor_end(e); break;
		case ACT_BACKSPACE: changed = editor_backspace(e); break;
		case ACT_DELETE: changed = editor_delete(e); break;
		case ACT_KILL_END: changed = editor_kill_to_end(e); break;
		case ACT_KILL_START: changed = editor_kill_to_start(e); break;
		case ACT_KILL_WORD_BACK: changed = editor_kill_word_back(e); break;
		case ACT_YANK: changed = editor_yank(e); break;
		default:
			if (!(key & (KEYS_FUNC | KEYS_META)) && key >= 32 && key != 127) {
				char buf[8];
				size_t n = utf8_encode(key, buf);
				editor_insert(e, buf, n);
				changed = 1;
			}
		}
	}
	if (changed && m->change)
		m->change(a, 1, editor_text(e), 0);
	return ACT_REDRAW;
}

void modal_draw(struct app *a)
{
	struct modal *m = &a->modal;
	if (m->kind == MODAL_NONE)
		return;
	int w = a->cols - 4;
	if (w > 76)
		w = 76;
	if (w < 10)
		w = a->cols;
	int inner = w - 4;
	struct utf8_line *body = NULL;
	size_t nbody = 0;
	if (m->body) {
		nbody = utf8_wrap(m->body, strlen(m->body), inner, &body);
	}
	int content;
	switch (m->kind) {
	case MODAL_INPUT: content = 1; break;
	case MODAL_CHOICE: content = m->n_choices; break;
	default: content = (int)nbody; break;
	}
	int maxh = a->rows - 2;
	int h = content + 4;   /* border, title, content, hint, border */
	if (h > maxh)
		h = maxh;
	int rows = h - 4;
	if (rows < 1)
		rows = 1;
	int y = (a->rows - h) / 2, x = (a->cols - w) / 2;
	if (y < 0)
		y = 0;
	draw_box(y, x, h, w, ROLE_HELP);
	draw_text(y + 1, x + 2, inner, m->title, strlen(m->title), ROLE_HEADING);
	const char *hint = "";
	int cy = -1, cx = -1;
	switch (m->kind) {
	case MODAL_INPUT: {
		/* One row; the text scrolls horizontally to keep the cursor visible. */
		const char *t = editor_text(&m->ed);
		int ccol = editor_col_of(t, 0, m->ed.cur);
		size_t start = 0;
		int shift = 0;
		while (ccol - shift >= inner - 1 && start < m->ed.len) {
			size_t g;
			shift += editor_grapheme_width(t + start, m->ed.len - start, &g);
			start += g;
		}
		draw_fill(y + 2, x + 2, inner, ROLE_INPUT);
		draw_text(y + 2, x + 2, inner, t + start, m->ed.len - start, ROLE_INPUT);
		cy = y + 2;
		cx = x + 2 + ccol - shift;
		hint = "Enter: OK \u00b7 Esc: cancel";
		break;
	}
	case MODAL_CONFIRM:
	case MODAL_TEXT:
		for (int k = 0; k < rows && k < (int)nbody; k++)
			draw_text(y + 2 + k, x + 2, inner, m->body + body[k].start,
				  body[k].vis_end - body[k].start, ROLE_HELP);
		hint = m->kind != MODAL_CONFIRM ? "Enter or Esc: close" :
		       m->enter_no ? "y: yes \u00b7 n / Esc / Enter: no" : "y / Enter: yes \u00b7 n / Esc: no";
		break;
	case MODAL_CHOICE: {
		if (m->sel < m->scroll)
			m->scroll = m->sel;
		if (m->sel >= m->scroll + rows)
			m->scroll = m->sel - rows + 1;
		for (int k = 0; k < rows && m->scroll + k < m->n_choices; k++) {
			int i = m->scroll + k;
			int role = i == m->sel ? ROLE_SIDEBAR_SELECTED : ROLE_HELP;
			draw_fill(y + 2 + k, x + 1, w - 2, role);
			draw_text(y + 2 + k, x + 2, inner, m->choices[i], strlen(m->choices[i]), role);
		}
		hint = "\u2191\u2193 choose \u00b7 Enter: OK \u00b7 Esc: cancel";
		break;
	}
	default:
		break;
	}
	draw_text(y + h - 2, x + 2, inner, hint, strlen(hint), ROLE_DIM);
	free(body);
	if (cy >= 0) {
		move(cy, cx);
		curs_set(1);
	} else {
		curs_set(0);
	}
}

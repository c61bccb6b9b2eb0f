/* pane-transcript.c: the conversation as laid-out rows, laid out per message so that a streamed
 * token re-lays-out only the last message; scrolling, following the end, and code blocks. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "theme.h"
#include "textdraw.h"
#include "utf8.h"
#include "xalloc.h"

/* Columns left free on each side of the message text. */
#define TR_INDENT 2

void transcript_init(struct transcript *t)
{
	memset(t, 0, sizeof *t);
	t->follow = true;
	t->find_row = -1;
}

/* A fill-in-the-middle answer is laid out by hand (markdown knows nothing of holes), into a
 * md_layout-shaped struct that this file allocates and frees itself. */
static void tr_item_clear(struct tr_item *it)
{
	if (it->md) {
		if (it->fim) {
			free((void *)it->md->lines);
			free(it->md->spans);
			free(it->md->text);
			free(it->md);
		} else {
			md_layout_free(it->md);
		}
	}
	it->md = NULL;
	it->fim = false;
}

void transcript_free(struct transcript *t)
{
	for (size_t i = 0; i < t->n; i++)
		tr_item_clear(&t->items[i]);
	free(t->items);
	free(t->find);
	memset(t, 0, sizeof *t);
	t->find_row = -1;
}

static int tr_text_width(const struct app *a)
{
	int w = a->r_transcript.w - 2 * TR_INDENT;
	return w < 8 ? 8 : w;
}

static struct md_layout *tr_layout_fim(const char *prefix, const char *hole, size_t hole_len,
				       const char *suffix, int width)
{
	const char *parts[3] = { prefix ? prefix : "", hole, suffix ? suffix : "" };
	size_t lens[3] = { strlen(parts[0]), hole_len, strlen(parts[2]) };
	int roles[3] = { ROLE_DIM, ROLE_SEARCH_MATCH, ROLE_DIM };
	size_t total = 0, bounds[3];
	char *clean[3];
	size_t clen[3];
	for (int i = 0; i < 3; i++) {
		clean[i] = utf8_sanitize(parts[i], lens[i], 4, &clen[i]);
		total += clen[i];
	}
	struct md_layout *l = xcalloc(1, sizeof *l);
	l->text = xmalloc(total + 1);
	size_t o = 0;
	for (int i = 0; i < 3; i++) {
		memcpy(l->text + o, clean[i], clen[i]);
		o += clen[i];
		bounds[i] = o;
		free(clean[i]);
	}
	l->text[o] = '\0';
	l->text_len = o;
	struct utf8_line *wl;
	size_t nl = utf8_wrap(l->text, o, width, &wl);
	struct md_line *lines = xcalloc(nl, sizeof *lines);
	size_t cap = nl * 3 + 3, ns = 0;
	l->spans = xcalloc(cap, sizeof *l->spans);
	size_t *first = xcalloc(nl, sizeof *first);
	for (size_t i = 0; i < nl; i++) {
		first[i] = ns;
		size_t p = wl[i].start;
		while (p < wl[i].vis_end) {
			int part = p < bounds[0] ? 0 : p < bounds[1] ? 1 : 2;
			size_t end = bounds[part] < wl[i].vis_end ? bounds[part] : wl[i].vis_end;
			struct md_span *sp = &l->spans[ns++];
			sp->text = l->text + p;
			sp->len = end - p;
			sp->width = (int)utf8_width(sp->text, sp->len);
			sp->role = (uint8_t)roles[part];
			p = end;
		}
		lines[i].nspans = ns - first[i];
		lines[i].width = wl[i].width;
		lines[i].src = wl[i].start;
	}
	for (size_t i = 0; i < nl; i++)
		lines[i].spans = l->spans + first[i];
	free(first);
	free(wl);
	l->lines = lines;
	l->nlines = nl;
	l->width = width;
	return l;
}

/* The role and label of a message. */
static int tr_role(enum conv_role r)
{
	return r == CONV_ROLE_USER ? ROLE_USER_MSG : r == CONV_ROLE_ASSISTANT ? ROLE_ASSISTANT_MSG :
	       ROLE_SYSTEM_MSG;
}

static bool tr_has_stats_row(const struct conv_message *m)
{
	return m->role == CONV_ROLE_ASSISTANT && m->has_stats;
}

static void tr_layout_item(struct app *a, size_t i, int first_block)
{
	struct tr_item *it = &a->tr.items[i];
	const struct conv_message *m = &a->conv->msgs[i];
	int width = tr_text_width(a);
	tr_item_clear(it);
	bool fim = a->conv->mode == PARAMS_MODE_FIM && m->role == CONV_ROLE_ASSISTANT &&
		   i + 1 == a->conv->n_msgs && (a->conv->prefix || a->conv->suffix);
	if (fim) {
		it->md = tr_layout_fim(a->conv->prefix, m->content, m->len, a->conv->suffix, width);
		it->fim = true;
	} else {
		struct md_options o = {
			.width = width, .first_block = first_block,
			.base_role = m->role == CONV_ROLE_USER ? ROLE_USER_MSG :
				     m->role == CONV_ROLE_SYSTEM ? ROLE_SYSTEM_MSG : ROLE_TEXT,
			.tabstop = 4,
			/* The model's text is Markdown in chat mode, raw text otherwise; the user's
			 * text is shown as typed (pasted code keeps its indentation and __names__). */
			.plain = a->conv->mode != PARAMS_MODE_CHAT && m->role == CONV_ROLE_ASSISTANT,
			.verbatim = m->role == CONV_ROLE_USER,
		};
		it->md = md_layout(m->content, m->len, &o);
	}
	it->width = width;
	it->len = m->len;
	it->first_block = first_block;
	it->nblocks = it->fim ? 0 : it->md->nblocks;
	size_t body = it->md->nlines > 0 ? it->md->nlines : 1;
	it->nrows = 1 + (int)body + (tr_has_stats_row(m) ? 1 : 0) + 1;
}

static long tr_max_top(const struct app *a)
{
	long h = a->r_transcript.h > 0 ? a->r_transcript.h : 1;
	return a->tr.total_rows > h ? a->tr.total_rows - h : 0;
}

static void tr_clamp(struct app *a)
{
	long max = tr_max_top(a);
	if (a->tr.follow || a->tr.top > max)
		a->tr.top = max;
	if (a->tr.top < 0)
		a->tr.top = 0;
	if (a->tr.top >= max) {
		a->tr.follow = true;
		a->tr.new_rows = 0;
	}
}

/* The item holding row `row` and the row's offset inside it. */
static size_t tr_find(const struct app *a, long row, long *off)
{
	long acc = 0;
	for (size_t i = 0; i < a->tr.n; i++) {
		if (row < acc + a->tr.items[i].nrows) {
			*off = row - acc;
			return i;
		}
		acc += a->tr.items[i].nrows;
	}
	*off = 0;
	return a->tr.n;
}

void transcript_rebuild(struct app *a)
{
	struct transcript *t = &a->tr;
	/* Keep the message at the top of the view at the top after the reflow. */
	long off = 0;
	size_t anchor = t->follow ? t->n : tr_find(a, t->top, &off);
	double frac = 0;
	if (anchor < t->n && t->items[anchor].nrows > 0)
		frac = (double)off / t->items[anchor].nrows;
	for (size_t i = 0; i < t->n; i++)
		tr_item_clear(&t->items[i]);
	t->n = 0;
	t->total_rows = 0;
	t->width = tr_text_width(a);
	transcript_sync(a);
	if (!t->follow && anchor < t->n) {
		long acc = 0;
		for (size_t i = 0; i < anchor; i++)
			acc += t->items[i].nrows;
		t->top = acc + (long)(frac * t->items[anchor].nrows);
	}
	tr_clamp(a);
}

void transcript_sync(struct app *a)
{
	struct transcript *t = &a->tr;
	struct conversation *c = a->conv;
	double t0 = clock_now();
	int width = tr_text_width(a);
	long before = t->total_rows;
	if (t->n > c->n_msgs) {
		for (size_t i = c->n_msgs; i < t->n; i++) {
			t->total_rows -= t->items[i].nrows;
			tr_item_clear(&t->items[i]);
		}
		t->n = c->n_msgs;
	}
	if (t->cap < c->n_msgs) {
		t->cap = c->n_msgs + 16;
		t->items = xreallocarray(t->items, t->cap, sizeof *t->items);
	}
	int block = 1;
	for (size_t i = 0; i < c->n_msgs; i++) {
		struct tr_item *it = &t->items[i];
		if (i >= t->n) {
			memset(it, 0, sizeof *it);
			tr_layout_item(a, i, block);
			t->total_rows += it->nrows;
			t->n = i + 1;
		} else if (it->len != c->msgs[i].len || it->width != width ||
			   it->first_block != block || !it->md ||
			   it->nrows != 1 + (int)(it->md->nlines ? it->md->nlines : 1) +
					(tr_has_stats_row(&c->msgs[i]) ? 1 : 0) + 1 ||
			   (it->fim != (c->mode == PARAMS_MODE_FIM && i + 1 == c->n_msgs &&
					c->msgs[i].role == CONV_ROLE_ASSISTANT &&
					(c->prefix || c->suffix)))) {
			t->total_rows -= it->nrows;
			tr_layout_item(a, i, block);
			t->total_rows += it->nrows;
		}
		block += it->nblocks;
	}
	t->width = width;
	long added = t->total_rows - before;
	if (!t->follow && added > 0)
		t->new_rows += added;
	tr_clamp(a);
	t->last_layout_ms = (clock_now() - t0) * 1000.0;
}

void transcript_scroll(struct app *a, long delta)
{
	struct transcript *t = &a->tr;
	if (delta < 0 && t->follow) {
		t->follow = false;
		t->top = tr_max_top(a);
	}
	t->top += delta;
	if (t->top < 0)
		t->top = 0;
	if (delta < 0)
		t->follow = false;
	tr_clamp(a);
}

void transcript_to_top(struct app *a)
{
	a->tr.follow = false;
	a->tr.top = 0;
	tr_clamp(a);
}

void transcript_scroll_to(struct app *a, long row)
{
	a->tr.follow = false;
	a->tr.new_rows = 0;
	a->tr.top = row < 0 ? 0 : row;
	tr_clamp(a);
}

void transcript_to_end(struct app *a)
{
	a->tr.follow = true;
	a->tr.new_rows = 0;
	tr_clamp(a);
}

static void tr_draw_label(struct app *a, int y, size_t i)
{
	const struct conv_message *m = &a->conv->msgs[i];
	struct rect r = a->r_transcript;
	int role = tr_role(m->role);
	const char *label = m->role == CONV_ROLE_USER ? "You" :
			    m->role == CONV_ROLE_ASSISTANT ? "Assistant" : "System";
	/* The conversation keeps one mode, not one per message: only the answer shown as a hole
	 * (the last one, in fill-in-the-middle mode) gets its own label. */
	if (i < a->tr.n && a->tr.items[i].fim)
		label = "Fill-in-the-middle";
	attrset(theme_attr(role) | A_BOLD);
	mvaddstr(y, r.x, "\u258c ");       /* a left half block marks the start of a message */
	int x = r.x + 2;
	x += draw_text(y, x, r.w - 2, label, strlen(label), role);
	attron(A_BOLD);
	char buf[64] = "";
	if (i == a->conv->n_msgs - 1 && a->es.state == ENGINE_GENERATING && m->role == CONV_ROLE_ASSISTANT)
		snprintf(buf, sizeof buf, "  generating\u2026");
	else if ((long)i == a->editing)
		snprintf(buf, sizeof buf, "  (editing below)");
	if (*buf)
		x += draw_text(y, x, r.x + r.w - x, buf, strlen(buf), ROLE_DIM);
	if (m->time > 0 && r.w > 30) {
		struct tm tm;
		localtime_r(&m->time, &tm);
		char tb[16];
		strftime(tb, sizeof tb, "%H:%M", &tm);
		int tx = r.x + r.w - 1 - 5;
		if (tx > x + 1)
			draw_text(y, tx, 5, tb, strlen(tb), ROLE_DIM);
	}
}

static void tr_draw_stats(struct app *a, int y, const struct conv_message *m)
{
	char buf[160];
	const struct conv_stats *s = &m->stats;
	const char *why = "";
	if (strcmp(s->finish, "cancel") == 0)
		why = " \u00b7 stopped";
	else if (strcmp(s->finish, "length") == 0)
		why = " \u00b7 cut at max_tokens";
	else if (strcmp(s->finish, "context") == 0)
		why = " \u00b7 context full";
	else if (strcmp(s->finish, "error") == 0)
		why = " \u00b7 engine stopped";
	/* An answer cut before its first token has no timings, and one whose tokens all arrived at once
	 * (a short answer from a server) no speed: none are shown rather than zeros. */
	if (s->ttft_ms > 0 && s->decode_tps > 0)
		snprintf(buf, sizeof buf, "%d tokens \u00b7 first token %.0f ms \u00b7 %.1f tok/s%s",
			 s->completion_tokens, s->ttft_ms, s->decode_tps, why);
	else if (s->ttft_ms > 0)
		snprintf(buf, sizeof buf, "%d tokens \u00b7 first token %.0f ms%s", s->completion_tokens, s->ttft_ms, why);
	else if (s->decode_tps > 0)
		snprintf(buf, sizeof buf, "%d tokens \u00b7 %.1f tok/s%s", s->completion_tokens, s->decode_tps, why);
	else
		snprintf(buf, sizeof buf, "%d tokens%s", s->completion_tokens, why);
	draw_text(y, a->r_transcript.x + TR_INDENT, a->r_transcript.w - TR_INDENT, buf, strlen(buf),
		  ROLE_DIM);
}

static void tr_draw_line(struct app *a, int y, const struct md_line *l)
{
	int x = a->r_transcript.x + TR_INDENT;
	int maxx = a->r_transcript.x + a->r_transcript.w;
	move(y, x);
	textdraw_line(stdscr, l, maxx - x, 0);
	transcript_find_mark(a, y, x, maxx - x, l);
}

void transcript_draw(struct app *a)
{
	struct rect r = a->r_transcript;
	if (r.h <= 0 || r.w <= 0)
		return;
	a->tr.height = r.h;
	tr_clamp(a);
	for (int y = 0; y < r.h; y++)
		draw_fill(r.y + y, r.x, r.w, ROLE_TEXT);
	if (a->conv->n_msgs == 0) {
		/* The demo model knows a few dozen answers by heart: say which kind of question to try. */
		const char *lines[] = {
			"Type a message below and press Enter.",
			"Alt-Enter or Ctrl-J: new line \u00b7 F1: keys \u00b7 F2: conversations",
			"The demo model is tiny: try \u201cwrite a quick sort algorithm in python.\u201d",
		};
		int nl = a->opt.is_demo && a->conv->mode == PARAMS_MODE_CHAT ? 3 : 2;
		int y0 = r.y + r.h / 2 - 1;
		for (int k = 0; k < nl && y0 + k < r.y + r.h; k++)
			draw_text(y0 + k, r.x + TR_INDENT, r.w - TR_INDENT, lines[k], strlen(lines[k]),
				  ROLE_DIM);
		/* A big model takes a while: show the loading progress where the eye is. */
		if ((a->es.state == ENGINE_LOADING || a->es.state == ENGINE_STARTING) && y0 + nl + 1 < r.y + r.h) {
			int pct = a->es.load_total ? (int)(a->es.load_done * 100 / a->es.load_total) : 0;
			int cells = r.w - 2 * TR_INDENT - 24 > 30 ? 30 : r.w - 2 * TR_INDENT - 24;
			char bar[256] = "";
			size_t o = 0;
			for (int c = 0; c < cells && o + 4 < sizeof bar; c++)
				o += (size_t)snprintf(bar + o, sizeof bar - o, "%s",
						      c < pct * cells / 100 ? "\u2588" : "\u2591");
			char buf[400];
			snprintf(buf, sizeof buf, "Loading the model %s %3d%%", bar, pct);
			draw_text(y0 + nl + 1, r.x + TR_INDENT, r.w - TR_INDENT, buf, strlen(buf),
				  ROLE_STATUS_ACCENT);
		}
	}
	long off;
	size_t i = tr_find(a, a->tr.top, &off);
	int y = 0;
	while (i < a->tr.n && y < r.h) {
		const struct tr_item *it = &a->tr.items[i];
		const struct conv_message *m = &a->conv->msgs[i];
		for (long k = off; k < it->nrows && y < r.h; k++, y++) {
			long body = it->md->nlines > 0 ? (long)it->md->nlines : 1;
			if (k == 0) {
				tr_draw_label(a, r.y + y, i);
			} else if (k <= body) {
				if (it->md->nlines > 0)
					tr_draw_line(a, r.y + y, &it->md->lines[k - 1]);
				else if (m->role == CONV_ROLE_ASSISTANT && i + 1 == a->conv->n_msgs &&
					 a->es.state == ENGINE_GENERATING)
					draw_text(r.y + y, r.x + TR_INDENT, r.w - TR_INDENT, "\u2026", 3,
						  ROLE_DIM);
			} else if (k == body + 1 && tr_has_stats_row(m)) {
				tr_draw_stats(a, r.y + y, m);
			}
		}
		off = 0;
		i++;
	}
	/* A scroll thumb in the right margin when the transcript is longer than the view. */
	long total = a->tr.total_rows, max = tr_max_top(a);
	if (total > r.h && r.h >= 3) {
		int thumb = (int)((long)r.h * r.h / total);
		if (thumb < 1)
			thumb = 1;
		int pos = max > 0 ? (int)(a->tr.top * (r.h - thumb) / max) : 0;
		attrset(theme_attr(ROLE_DIM));
		for (int k = 0; k < thumb; k++)
			mvaddstr(r.y + pos + k, r.x + r.w - 1, "\u2590");   /* right half block */
	}
	if (!a->tr.follow && a->tr.new_rows > 0) {
		char buf[64];
		snprintf(buf, sizeof buf, " \u25bc %ld new line%s ", a->tr.new_rows,
			 a->tr.new_rows == 1 ? "" : "s");
		int w = (int)utf8_width(buf, strlen(buf));
		draw_text(r.y + r.h - 1, r.x + r.w - w - 2, w, buf, strlen(buf), ROLE_STATUS_ACCENT);
	} else if (!a->tr.follow && a->tr.top < tr_max_top(a)) {
		/* Where the view is, for a transcript longer than the screen. */
		char buf[32];
		snprintf(buf, sizeof buf, " %ld%% ", max ? a->tr.top * 100 / max : 100);
		int w = (int)strlen(buf);
		draw_text(r.y + r.h - 1, r.x + r.w - w - 2, w, buf, strlen(buf), ROLE_DIM);
	}
}

int transcript_block_count(struct app *a)
{
	int n = 0;
	for (size_t i = 0; i < a->tr.n; i++)
		n += a->tr.items[i].nblocks;
	return n;
}

char *transcript_block_text(struct app *a, int n, char *lang, size_t langlen)
{
	for (size_t i = 0; i < a->tr.n; i++) {
		struct tr_item *it = &a->tr.items[i];
		if (n < it->first_block || n >= it->first_block + it->nblocks || it->fim)
			continue;
		const struct conv_message *m = &a->conv->msgs[i];
		const struct md_block *b = &it->md->blocks[n - it->first_block];
		if (lang)
			snprintf(lang, langlen, "%s", b->lang);
		return md_block_text(m->content, m->len, b, NULL);
	}
	return NULL;
}

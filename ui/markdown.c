/* markdown.c: lays out one chat message (a markdown subset) as styled display lines for a width. */
#include "markdown.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "highlight.h"
#include "md-internal.h"
#include "theme.h"
#include "utf8.h"
#include "xalloc.h"

/* Columns of blank space left of code inside a code block's box. */
#define CODE_MARGIN 1
/* The mark at the start of a wrapped code row, and its width. */
#define CODE_CONT "\xE2\x86\xAA "
#define CODE_CONT_W 2

/* ---- fences (shared by md_layout and md_scan_blocks so both number blocks the same) ---- */

struct fence {
	char ch;       /* '`' or '~' */
	size_t n;      /* length of the marker run */
	size_t indent; /* spaces before it */
};

static size_t count_spaces(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && s[i] == ' ')
		i++;
	return i;
}

/* An opening fence: any indentation (fences inside list items are indented), three or more
 * backticks or tildes, then an info string (no backticks after a backtick fence). */
static bool fence_open(const char *s, size_t len, struct fence *f, const char **info, size_t *info_len)
{
	size_t i = count_spaces(s, len);
	if (i >= len || (s[i] != '`' && s[i] != '~'))
		return false;
	char ch = s[i];
	size_t n = 0;
	while (i + n < len && s[i + n] == ch)
		n++;
	if (n < 3)
		return false;
	size_t j = i + n;
	if (ch == '`' && memchr(s + j, '`', len - j))
		return false;
	while (j < len && (s[j] == ' ' || s[j] == '\t'))
		j++;
	size_t e = len;
	while (e > j && isspace((unsigned char)s[e - 1]))
		e--;
	*f = (struct fence){ .ch = ch, .n = n, .indent = i };
	*info = s + j;
	*info_len = e - j;
	return true;
}

static bool fence_close(const char *s, size_t len, const struct fence *f)
{
	size_t i = count_spaces(s, len);
	size_t n = 0;
	while (i + n < len && s[i + n] == f->ch)
		n++;
	if (n < f->n)
		return false;
	for (size_t j = i + n; j < len; j++)
		if (!isspace((unsigned char)s[j]))
			return false;
	return true;
}

/* Fills in a block from its opening fence (md_layout and md_scan_blocks share it, so they agree). */
static void block_from_fence(struct md_block *b, int number, const struct fence *f, const char *info, size_t info_len,
			     size_t start)
{
	memset(b, 0, sizeof *b);
	b->number = number;
	size_t w = 0;
	while (w < info_len && !isspace((unsigned char)info[w]))
		w++;
	if (w > sizeof b->lang - 1)
		w = sizeof b->lang - 1;
	/* never cut inside a UTF-8 sequence */
	while (w > 0 && w < info_len && ((unsigned char)info[w] & 0xC0) == 0x80)
		w--;
	memcpy(b->lang, info, w);
	b->lang[w] = '\0';
	b->start = start;
	b->indent = f->indent;
}

int md_scan_blocks(const char *text, size_t len, int first_block, struct md_block *out, int max)
{
	int count = 0;
	bool in = false;
	struct fence f;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t le = nl ? (size_t)(nl - text) : len;
		size_t next = nl ? le + 1 : len;
		size_t l = le;
		if (l > pos && text[l - 1] == '\r')
			l--;
		if (!in) {
			const char *info;
			size_t info_len;
			if (fence_open(text + pos, l - pos, &f, &info, &info_len)) {
				in = true;
				if (count < max && out) {
					block_from_fence(&out[count], first_block + count, &f, info, info_len, next);
					out[count].end = len;
				}
				count++;
			}
		} else if (fence_close(text + pos, l - pos, &f)) {
			in = false;
			if (count - 1 < max && out) {
				out[count - 1].end = pos;
				out[count - 1].closed = true;
			}
		}
		pos = next;
	}
	return count;
}

char *md_block_text(const char *text, size_t len, const struct md_block *b, size_t *outlen)
{
	size_t start = b->start < len ? b->start : len;
	size_t end = b->end < len ? b->end : len;
	if (end < start)
		end = start;
	char *out = xmalloc(end - start + 2);
	size_t o = 0, pos = start;
	while (pos < end) {
		const char *nl = memchr(text + pos, '\n', end - pos);
		size_t le = nl ? (size_t)(nl - text) + 1 : end;
		size_t skip = 0;
		while (skip < b->indent && pos + skip < le && text[pos + skip] == ' ')
			skip++;
		memcpy(out + o, text + pos + skip, le - pos - skip);
		o += le - pos - skip;
		pos = le;
	}
	if (o > 0 && out[o - 1] != '\n')
		out[o++] = '\n';
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

/* ---- building the layout ---- */


static size_t arena_add(struct md_layout *L, const char *s, size_t n)
{
	if (L->text_len + n > L->text_cap) {
		L->text_cap = (L->text_len + n) * 2 + 256;
		L->text = xrealloc(L->text, L->text_cap);
	}
	memcpy(L->text + L->text_len, s, n);
	L->text_len += n;
	return L->text_len - n;
}

void mdb_line_begin(struct md_builder *b, int block, size_t src)
{
	struct md_layout *L = b->L;
	if (L->nlines == L->lines_cap) {
		L->lines_cap = L->lines_cap ? L->lines_cap * 2 : 32;
		L->lines = xreallocarray(L->lines, L->lines_cap, sizeof *L->lines);
	}
	/* spans holds an index until md_layout fixes the pointers up */
	L->lines[L->nlines++] = (struct md_line){ .spans = (const struct md_span *)(uintptr_t)L->nspans,
		.nspans = 0, .width = 0, .block = block, .src = src };
}

/* Adds text to the current line, merged into the previous span when the role is the same. */
void mdb_span_add(struct md_builder *b, const char *s, size_t n, int width, int role)
{
	struct md_layout *L = b->L;
	if (n == 0)
		return;
	struct md_line *ln = &L->lines[L->nlines - 1];
	size_t off = arena_add(L, s, n);
	if (ln->nspans > 0) {
		struct md_span *last = &L->spans[L->nspans - 1];
		if (last->role == role && (uintptr_t)last->text + last->len == off) {
			last->len += n;
			last->width += width;
			ln->width += width;
			return;
		}
	}
	if (L->nspans == L->spans_cap) {
		L->spans_cap = L->spans_cap ? L->spans_cap * 2 : 64;
		L->spans = xreallocarray(L->spans, L->spans_cap, sizeof *L->spans);
	}
	L->spans[L->nspans++] = (struct md_span){ .text = (const char *)(uintptr_t)off, .len = n, .width = width,
		.role = (uint8_t)role };
	ln->nspans++;
	ln->width += width;
}

void mdb_spaces(struct md_builder *b, int n, int role)
{
	static const char spaces[] = "                                ";
	while (n > 0) {
		int k = n < 32 ? n : 32;
		mdb_span_add(b, spaces, (size_t)k, k, role);
		n -= k;
	}
}

void mdb_text(struct md_builder *b, const char *s, size_t n, int role)
{
	mdb_span_add(b, s, n, (int)utf8_width(s, n), role);
}

void mdb_empty_line(struct md_builder *b, size_t src)
{
	mdb_line_begin(b, 0, src);
}

/* ---- blocks ---- */



static void para_append(struct md_para *p, const char *s, size_t n)
{
	if (p->len + n + 2 > p->cap) {
		p->cap = (p->len + n + 2) * 2;
		p->src = xrealloc(p->src, p->cap);
	}
	/* A newline in the source stays a line break on screen (as in GitHub comments): models
	 * write "Input: x" / "Output: y" on separate lines and mean it. */
	if (p->len > 0)
		p->src[p->len++] = '\n';
	memcpy(p->src + p->len, s, n);
	p->len += n;
}

void mdb_quote_prefix(struct md_builder *b, int depth)
{
	for (int d = 0; d < depth; d++)
		mdb_span_add(b, "\xE2\x94\x82 ", 4, 2, ROLE_QUOTE); /* "│ " */
}

/* Wraps styled text to the width and emits its rows with the given prefix. */
void mdb_wrapped(struct md_builder *b, struct md_inl *in, size_t src, int indent, const char *bullet, int bullet_w,
			 int quote_depth, int first_indent)
{
	int prefix_w = quote_depth * 2 + indent;
	int avail = b->width - prefix_w;
	if (avail < 1)
		avail = 1;
	struct utf8_line *rows;
	size_t nrows = utf8_wrap(in->text, in->len, avail, &rows);
	size_t run = 0;
	for (size_t r = 0; r < nrows; r++) {
		mdb_line_begin(b, 0, src);
		mdb_quote_prefix(b, quote_depth);
		if (r == 0 && bullet && bullet[0]) {
			mdb_spaces(b, first_indent, b->base_role);
			mdb_span_add(b, bullet, strlen(bullet), bullet_w, ROLE_LIST_BULLET);
			mdb_spaces(b, indent - first_indent - bullet_w, b->base_role);
		} else {
			mdb_spaces(b, indent, quote_depth ? ROLE_QUOTE : b->base_role);
		}
		size_t a = rows[r].start, z = rows[r].vis_end;
		while (run + 1 < in->nruns && in->runs[run + 1].at <= a)
			run++;
		while (a < z) {
			size_t run_end = run + 1 < in->nruns ? in->runs[run + 1].at : in->len;
			size_t e = run_end < z ? run_end : z;
			mdb_text(b, in->text + a, e - a, in->runs[run].role);
			a = e;
			if (a == run_end && run + 1 < in->nruns)
				run++;
		}
	}
	free(rows);
}

static void para_flush(struct md_builder *b, struct md_para *p)
{
	if (p->kind == PARA_NONE)
		return;
	if (p->kind == PARA_TABLE) {
		mdt_flush(b, p);
		p->kind = PARA_NONE;
		p->len = 0;
		return;
	}
	struct md_inl in = { 0 };
	int role = p->kind == PARA_QUOTE ? ROLE_QUOTE : b->base_role;
	mdi_parse(&in, p->src, p->len, role);
	if (in.nruns == 0)
		mdi_add(&in, "", 0, role);
	if (in.len == 0 && p->kind != PARA_ITEM) {
		/* nothing to show */
	} else if (in.nruns == 0) {
		/* an empty list item: just its bullet */
		mdb_line_begin(b, 0, p->src_off);
		mdb_quote_prefix(b, p->quote_depth);
		mdb_spaces(b, p->indent - p->bullet_w - 1, b->base_role);
		mdb_span_add(b, p->bullet, strlen(p->bullet), p->bullet_w, ROLE_LIST_BULLET);
	} else {
		int first_indent = p->bullet[0] ? p->indent - p->bullet_w - 1 : 0;
		mdb_wrapped(b, &in, p->src_off, p->indent, p->bullet, p->bullet_w, p->quote_depth, first_indent);
	}
	free(in.text);
	free(in.runs);
	p->kind = PARA_NONE;
	p->len = 0;
	p->bullet[0] = '\0';
	p->bullet_w = 0;
	p->indent = 0;
	p->quote_depth = 0;
}

/* A thematic break: three or more of the same of - * _ with only spaces between. */
static bool is_hr(const char *s, size_t len)
{
	size_t i = count_spaces(s, len);
	if (i > 3 || i >= len || (s[i] != '-' && s[i] != '*' && s[i] != '_'))
		return false;
	char c = s[i];
	int n = 0;
	for (; i < len; i++) {
		if (s[i] == c)
			n++;
		else if (s[i] != ' ' && s[i] != '\t')
			return false;
	}
	return n >= 3;
}

/* An ATX heading: returns its level and the text range, or 0. */
static int heading(const char *s, size_t len, size_t *ts, size_t *te)
{
	size_t i = count_spaces(s, len);
	if (i > 3)
		return 0;
	size_t n = mdi_run_len(s, len, i, '#');
	if (n < 1 || n > 6 || (i + n < len && s[i + n] != ' ' && s[i + n] != '\t'))
		return 0;
	size_t a = i + n, z = len;
	while (a < z && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t'))
		z--;
	/* optional closing #s (preceded by a space) */
	size_t h = z;
	while (h > a && s[h - 1] == '#')
		h--;
	if (h == a || (h < z && (s[h - 1] == ' ' || s[h - 1] == '\t'))) {
		z = h;
		while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t'))
			z--;
	}
	*ts = a;
	*te = z;
	return (int)n;
}

/* A list item marker: returns true with its indent, the marker text and the content start. */
static bool list_item(const char *s, size_t len, size_t *indent, size_t *ms, size_t *me, size_t *content)
{
	size_t i = count_spaces(s, len);
	size_t j = i;
	if (j < len && (s[j] == '-' || s[j] == '*' || s[j] == '+')) {
		j++;
	} else {
		size_t d = 0;
		while (j < len && isdigit((unsigned char)s[j]) && d < 9)
			j++, d++;
		if (d == 0 || j >= len || (s[j] != '.' && s[j] != ')'))
			return false;
		j++;
	}
	if (j < len && s[j] != ' ' && s[j] != '\t')
		return false;
	*indent = i;
	*ms = i;
	*me = j;
	while (j < len && (s[j] == ' ' || s[j] == '\t'))
		j++;
	*content = j;
	return true;
}

/* Lays out one source line of a code block: highlighted, wrapped with a continuation mark,
 * padded to the width. */
static void code_line(struct md_builder *b, const struct hl_lang *lang, struct hl_state *st, const char *s, size_t len,
		      int block, size_t src, uint8_t **roles_buf, size_t *roles_cap)
{
	if (len > *roles_cap) {
		*roles_cap = len * 2;
		*roles_buf = xrealloc(*roles_buf, *roles_cap);
	}
	uint8_t *roles = *roles_buf;
	hl_line(lang, st, s, len, roles);
	int margin = b->width > 2 * CODE_MARGIN + 4 ? CODE_MARGIN : 0;
	bool cont_mark = b->width >= 8;
	size_t pos = 0;
	bool first = true;
	do {
		mdb_line_begin(b, block, src);
		int used = 0;
		mdb_spaces(b, margin, ROLE_CODE_BG);
		used += margin;
		if (!first && cont_mark) {
			mdb_span_add(b, CODE_CONT, strlen(CODE_CONT), CODE_CONT_W, ROLE_CODE_CONTINUATION);
			used += CODE_CONT_W;
		}
		int avail = b->width - used;
		if (avail < 1)
			avail = 1;
		size_t w;
		size_t end = utf8_fit(s, len, pos, (size_t)avail, &w);
		if (end == pos && pos < len) {
			/* one cluster wider than the row */
			end = utf8_next_grapheme(s, len, pos);
			w = (size_t)utf8_grapheme_width(s + pos, end - pos);
		}
		size_t a = pos;
		while (a < end) {
			size_t z = a + 1;
			while (z < end && roles[z] == roles[a])
				z++;
			/* keep runs on code point boundaries */
			while (z < end && ((unsigned char)s[z] & 0xC0) == 0x80)
				z++;
			mdb_text(b, s + a, z - a, roles[a]);
			a = z;
		}
		used += (int)w;
		if (used < b->width)
			mdb_spaces(b, b->width - used, ROLE_CODE_BG);
		pos = end;
		first = false;
	} while (pos < len);
}

static void code_header(struct md_builder *b, const struct md_block *blk, size_t src)
{
	mdb_line_begin(b, blk->number, src);
	char head[64];
	int n = snprintf(head, sizeof head, " [%d] %s ", blk->number, blk->lang[0] ? blk->lang : "code");
	if (n < 0)
		n = 0;
	/* the language tag came from the message: show it safely */
	size_t sl;
	char *safe = utf8_sanitize(head, strlen(head), 0, &sl);
	size_t w;
	size_t fit = utf8_fit(safe, sl, 0, (size_t)b->width, &w);
	mdb_span_add(b, safe, fit, (int)w, ROLE_CODE_HEADER);
	free(safe);
	int hw = b->code_hint ? (int)utf8_width(b->code_hint, strlen(b->code_hint)) : 0;
	if (hw > 0 && (int)w + hw + 2 <= b->width) {
		mdb_spaces(b, b->width - (int)w - hw - 1, ROLE_CODE_HEADER);
		size_t hl;
		char *hint = utf8_sanitize(b->code_hint, strlen(b->code_hint), 0, &hl);
		mdb_span_add(b, hint, hl, hw, ROLE_CODE_HEADER);
		free(hint);
		mdb_spaces(b, 1, ROLE_CODE_HEADER);
	} else if ((int)w < b->width) {
		mdb_spaces(b, b->width - (int)w, ROLE_CODE_HEADER);
	}
}

enum block_kind { BK_NONE, BK_PARA, BK_HEADING, BK_LIST, BK_QUOTE, BK_CODE, BK_HR, BK_TABLE };

/* The parser's state between source lines. At a line start where no paragraph is being collected
 * it is a complete description of where the layout stands, so a copy of it (a checkpoint) lets
 * md_layout_extend() go on from there instead of starting over. */
struct md_pstate {
	struct md_para p;
	enum block_kind prev;
	bool blank_seen;
	bool in_code;
	struct fence f;
	const struct hl_lang *lang;
	struct hl_state hst;
	size_t list_stack[16]; /* source indentation of the open items' markers */
	int list_indent[16];   /* display column where each open item's text starts */
	int list_depth;
	bool in_list; /* the last block was a list item (continuation lines join it) */
	int first_block;
	uint8_t *roles; /* scratch for code lines */
	size_t roles_cap;
};

/* What md_layout_extend needs: the options, and the latest checkpoint. */
struct md_resume {
	struct md_options opt;
	bool have;
	size_t src; /* the line start it was taken at */
	size_t nlines, nspans, text_len;
	int nblocks;
	struct md_pstate st; /* with p empty and no scratch */
};

static void checkpoint(struct md_layout *L, const struct md_pstate *st, size_t src)
{
	struct md_resume *r = L->resume;
	r->have = true;
	r->src = src;
	r->nlines = L->nlines;
	r->nspans = L->nspans;
	r->text_len = L->text_len;
	r->nblocks = L->nblocks;
	r->st = *st;
	r->st.p = (struct md_para){ 0 };
	r->st.roles = NULL;
	r->st.roles_cap = 0;
}

/* A new block begins: the pending paragraph is laid out, and an empty line separates the two
 * blocks unless they are items of one list or lines of one quote. */
static void start_block(struct md_builder *b, struct md_pstate *st, enum block_kind kind, size_t src)
{
	para_flush(b, &st->p);
	if (b->L->nlines > 0 && (st->blank_seen || st->prev != kind || (kind != BK_LIST && kind != BK_QUOTE)))
		mdb_empty_line(b, src);
	st->prev = kind;
	st->blank_seen = false;
}

/* A fence opened at source offset src (the block's content starts at next): a new block, its
 * header line, and the parser inside it. */
static void open_code_block(struct md_layout *L, struct md_builder *b, struct md_pstate *st, const char *info,
			    size_t info_len, size_t src, size_t next, size_t len)
{
	if (L->nblocks == L->blocks_cap) {
		L->blocks_cap = L->blocks_cap ? L->blocks_cap * 2 : 4;
		L->blocks = xreallocarray(L->blocks, (size_t)L->blocks_cap, sizeof *L->blocks);
	}
	struct md_block *blk = &L->blocks[L->nblocks];
	block_from_fence(blk, st->first_block + L->nblocks, &st->f, info, info_len, next);
	blk->end = len;
	L->nblocks++;
	st->lang = hl_find(blk->lang);
	st->hst = HL_STATE_INIT;
	st->in_code = true;
	code_header(b, blk, src);
}

/* Verbatim mode: one source line outside code blocks, as typed (indentation, markers and all),
 * wrapped at the width. Blank lines stay, except before the first line shown. */
static void verbatim_line(struct md_builder *b, const char *raw, size_t raw_len, size_t src)
{
	size_t sl;
	char *s = utf8_sanitize(raw, raw_len, b->tabstop, &sl);
	if (count_spaces(s, sl) == sl) {
		if (b->L->nlines > 0)
			mdb_empty_line(b, src);
	} else {
		struct md_inl in = { 0 };
		mdi_add(&in, s, sl, b->base_role);
		mdb_wrapped(b, &in, src, 0, NULL, 0, 0, 0);
		free(in.text);
		free(in.runs);
	}
	free(s);
}

/* Lays out the source lines of text[pos..len) onto L. */
static void parse_lines(struct md_layout *L, struct md_builder *b, struct md_pstate *st, const char *text, size_t len,
			size_t pos)
{
	while (pos < len) {
		if (st->p.kind == PARA_NONE)
			checkpoint(L, st, pos);
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t le = nl ? (size_t)(nl - text) : len;
		size_t next = nl ? le + 1 : len;
		size_t rl = le;
		if (rl > pos && text[rl - 1] == '\r')
			rl--;
		const char *raw = text + pos;
		size_t raw_len = rl - pos;
		size_t src = pos;
		pos = next;

		if (st->in_code) {
			if (fence_close(raw, raw_len, &st->f)) {
				st->in_code = false;
				L->blocks[L->nblocks - 1].end = src;
				L->blocks[L->nblocks - 1].closed = true;
				continue;
			}
			size_t skip = 0;
			while (skip < st->f.indent && skip < raw_len && raw[skip] == ' ')
				skip++;
			size_t sl;
			char *s = utf8_sanitize(raw + skip, raw_len - skip, b->tabstop, &sl);
			code_line(b, st->lang, &st->hst, s, sl, L->blocks[L->nblocks - 1].number, src, &st->roles, &st->roles_cap);
			free(s);
			continue;
		}

		if (b->verbatim) {
			const char *info;
			size_t info_len;
			if (fence_open(raw, raw_len, &st->f, &info, &info_len))
				open_code_block(L, b, st, info, info_len, src, next, len);
			else
				verbatim_line(b, raw, raw_len, src);
			continue;
		}

		/* Block structure is decided on the raw line (markers are ASCII); text shown is sanitized. */
		size_t sl;
		char *s = utf8_sanitize(raw, raw_len, b->tabstop, &sl);
		bool blank = count_spaces(s, sl) == sl;
		const char *info;
		size_t info_len, ts, te, mi, ms, me, mc;
		int level;

		if (blank) {
			para_flush(b, &st->p);
			st->blank_seen = true;
			free(s);
			continue;
		}

		if (fence_open(raw, raw_len, &st->f, &info, &info_len)) {
			start_block(b, st, BK_CODE, src);
			st->in_list = false;
			open_code_block(L, b, st, info, info_len, src, next, len);
		} else if ((level = heading(s, sl, &ts, &te)) > 0) {
			start_block(b, st, BK_HEADING, src);
			st->in_list = false;
			struct md_inl in = { 0 };
			mdi_parse(&in, s + ts, te - ts, ROLE_HEADING);
			if (in.nruns == 0)
				mdi_add(&in, "", 0, ROLE_HEADING);
			if (in.len > 0)
				mdb_wrapped(b, &in, src, 0, NULL, 0, 0, 0);
			else
				mdb_empty_line(b, src);
			free(in.text);
			free(in.runs);
		} else if (is_hr(s, sl)) {
			start_block(b, st, BK_HR, src);
			st->in_list = false;
			mdb_line_begin(b, 0, src);
			for (int i = 0; i < b->width; i++)
				mdb_span_add(b, "\xE2\x94\x80", 3, 1, ROLE_RULE); /* ─ */
		} else if (count_spaces(s, sl) <= 3 && s[count_spaces(s, sl)] == '>') {
			/* block quote: depth from the run of '>' (spaces allowed between) */
			size_t i = count_spaces(s, sl);
			int depth = 0;
			while (i < sl && s[i] == '>') {
				depth++;
				i++;
				if (i < sl && s[i] == ' ')
					i++;
				while (i < sl && s[i] == ' ' && i + 1 < sl && s[i + 1] == '>')
					i++;
			}
			bool empty = count_spaces(s + i, sl - i) == sl - i;
			if (st->p.kind == PARA_QUOTE && st->p.quote_depth == depth && !st->blank_seen && !empty) {
				para_append(&st->p, s + i, sl - i);
			} else {
				if (st->prev != BK_QUOTE || st->blank_seen)
					start_block(b, st, BK_QUOTE, src);
				else
					para_flush(b, &st->p);
				st->in_list = false;
				if (empty) {
					mdb_line_begin(b, 0, src);
					mdb_quote_prefix(b, depth);
				} else {
					st->p.kind = PARA_QUOTE;
					st->p.src_off = src;
					st->p.quote_depth = depth;
					para_append(&st->p, s + i, sl - i);
				}
			}
		} else if (count_spaces(s, sl) <= 3 && s[count_spaces(s, sl)] == '|') {
			if (st->p.kind == PARA_TABLE && !st->blank_seen) {
				para_append(&st->p, s, sl);
			} else {
				start_block(b, st, BK_TABLE, src);
				st->in_list = false;
				st->p.kind = PARA_TABLE;
				st->p.src_off = src;
				para_append(&st->p, s, sl);
			}
		} else if (list_item(s, sl, &mi, &ms, &me, &mc)) {
			if (st->prev != BK_LIST || st->blank_seen)
				start_block(b, st, BK_LIST, src);
			else
				para_flush(b, &st->p);
			if (!st->in_list)
				st->list_depth = 0;
			while (st->list_depth > 0 && st->list_stack[st->list_depth - 1] >= mi)
				st->list_depth--;
			int lv = st->list_depth;
			if (st->list_depth < 16)
				st->list_stack[st->list_depth++] = mi;
			st->in_list = true;
			st->p.kind = PARA_ITEM;
			st->p.src_off = src;
			char m = s[ms];
			if (m == '-' || m == '*' || m == '+') {
				static const char *const bullets[] = { "\xE2\x80\xA2", "\xE2\x97\xA6", "\xE2\x96\xAA" }; /* • ◦ ▪ */
				strcpy(st->p.bullet, bullets[lv % 3]);
				st->p.bullet_w = 1;
			} else {
				size_t n = me - ms < sizeof st->p.bullet - 1 ? me - ms : sizeof st->p.bullet - 1;
				memcpy(st->p.bullet, s + ms, n);
				st->p.bullet[n] = '\0';
				st->p.bullet_w = (int)n;
			}
			/* a nested item's bullet lines up with its parent's text (but never takes more than
			 * half the width); the text follows the bullet and a space */
			int base = lv > 0 && lv <= 16 ? st->list_indent[lv - 1] : 0;
			if (base > b->width / 2)
				base = b->width / 2;
			st->p.indent = base + st->p.bullet_w + 1;
			if (lv < 16)
				st->list_indent[lv] = st->p.indent;
			para_append(&st->p, s + mc, sl - mc);
			if (mc >= sl)
				st->p.len = 0;
		} else {
			size_t ind = count_spaces(s, sl);
			if (st->in_list && (!st->blank_seen || ind > 0) && st->prev == BK_LIST) {
				/* continuation of the list item: lazily joined, or a new paragraph in it */
				if (st->p.kind == PARA_ITEM && !st->blank_seen) {
					para_append(&st->p, s + ind, sl - ind);
				} else {
					int indent = st->p.kind == PARA_ITEM ? st->p.indent : 2 * (st->list_depth > 0 ? st->list_depth : 1);
					para_flush(b, &st->p);
					if (st->blank_seen)
						mdb_empty_line(b, src);
					st->blank_seen = false;
					st->p.kind = PARA_ITEM;
					st->p.src_off = src;
					st->p.indent = indent;
					para_append(&st->p, s + ind, sl - ind);
				}
			} else if ((st->p.kind == PARA_TEXT || st->p.kind == PARA_QUOTE) && !st->blank_seen) {
				para_append(&st->p, s + ind, sl - ind);
			} else {
				start_block(b, st, BK_PARA, src);
				st->in_list = false;
				st->p.kind = PARA_TEXT;
				st->p.src_off = src;
				para_append(&st->p, s + ind, sl - ind);
			}
		}
		free(s);
	}
	para_flush(b, &st->p);
}

/* Offsets <-> pointers: while building, spans and lines hold offsets (the arrays move). */
static void to_pointers(struct md_layout *L)
{
	for (size_t i = 0; i < L->nspans; i++)
		L->spans[i].text = L->text + (uintptr_t)L->spans[i].text;
	for (size_t i = 0; i < L->lines_cap && i < L->nlines_built; i++)
		L->lines[i].spans = L->spans ? L->spans + (uintptr_t)L->lines[i].spans : NULL;
}

static void to_offsets(struct md_layout *L)
{
	for (size_t i = 0; i < L->nspans; i++)
		L->spans[i].text = (const char *)(uintptr_t)(L->spans[i].text - L->text);
	for (size_t i = 0; i < L->nlines_built; i++)
		L->lines[i].spans = (const struct md_span *)(uintptr_t)(L->spans ? L->lines[i].spans - L->spans : 0);
}

static void finish(struct md_layout *L)
{
	L->nlines_built = L->nlines;
	to_pointers(L);
	/* never end with an empty line */
	while (L->nlines > 0 && L->lines[L->nlines - 1].nspans == 0)
		L->nlines--;
}

static void layout_plain(struct md_layout *L, struct md_builder *b, const char *text, size_t len)
{
	size_t sl;
	char *s = utf8_sanitize(text, len, b->tabstop, &sl);
	struct md_inl in = { 0 };
	mdi_add(&in, s, sl, b->base_role);
	if (sl > 0)
		mdb_wrapped(b, &in, 0, 0, NULL, 0, 0, 0);
	free(in.text);
	free(in.runs);
	free(s);
}

static struct md_options normalize(const struct md_options *opt)
{
	struct md_options o = { .width = 80, .first_block = 1, .base_role = ROLE_TEXT, .tabstop = 4 };
	if (opt)
		o = *opt;
	if (o.width < 1)
		o.width = 1;
	if (o.tabstop <= 0)
		o.tabstop = 4;
	if (o.first_block < 0)
		o.first_block = 0;
	return o;
}

struct md_layout *md_layout(const char *text, size_t len, const struct md_options *opt)
{
	struct md_options o = normalize(opt);
	struct md_layout *L = xcalloc(1, sizeof *L);
	L->width = o.width;
	L->resume = xcalloc(1, sizeof *L->resume);
	L->resume->opt = o;
	struct md_builder b = { .L = L, .width = o.width, .base_role = o.base_role, .tabstop = o.tabstop, .code_hint = o.code_hint,
				.verbatim = o.verbatim };
	if (o.plain) {
		layout_plain(L, &b, text, len);
	} else {
		struct md_pstate st = { .prev = BK_NONE, .hst = HL_STATE_INIT, .first_block = o.first_block };
		parse_lines(L, &b, &st, text, len, 0);
		free(st.p.src);
		free(st.roles);
	}
	finish(L);
	return L;
}

struct md_layout *md_layout_extend(struct md_layout *L, const char *text, size_t len)
{
	struct md_resume *r = L->resume;
	if (!r || r->opt.plain || !r->have || r->src > len) {
		struct md_options o = r ? r->opt : (struct md_options){ .width = L->width };
		md_layout_free(L);
		return md_layout(text, len, &o);
	}
	/* Back to the checkpoint: drop what came after it, restore the parser state. */
	L->nlines = L->nlines_built;
	to_offsets(L);
	L->nlines = L->nlines_built = r->nlines;
	L->nspans = r->nspans;
	L->text_len = r->text_len;
	L->nblocks = r->nblocks;
	struct md_pstate st = r->st;
	if (st.in_code && L->nblocks > 0) {
		L->blocks[L->nblocks - 1].end = len;
		L->blocks[L->nblocks - 1].closed = false;
	}
	struct md_builder b = { .L = L, .width = r->opt.width, .base_role = r->opt.base_role, .tabstop = r->opt.tabstop,
			     .code_hint = r->opt.code_hint, .verbatim = r->opt.verbatim };
	parse_lines(L, &b, &st, text, len, r->src);
	free(st.p.src);
	free(st.roles);
	finish(L);
	return L;
}

void md_layout_free(struct md_layout *L)
{
	if (!L)
		return;
	free(L->resume);
	free(L->lines);
	free(L->blocks);
	free(L->text);
	free(L->spans);
	free(L);
}


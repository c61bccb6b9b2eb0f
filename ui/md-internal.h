/* md-internal.h: what the parts of the markdown layout (markdown.c, md-inline.c, md-table.c) share. */
#ifndef DS_MD_INTERNAL_H
#define DS_MD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "markdown.h"

/* Appends lines and spans to a layout. While building, spans and lines hold offsets into the
 * layout's arrays (they move as they grow); markdown.c turns them into pointers at the end. */
struct md_builder {
	struct md_layout *L;
	int width;
	int base_role;
	int tabstop;
	const char *code_hint;
	bool verbatim;
};

/* Starts a display line that shows code block `block` (0: none) from source offset src. */
void mdb_line_begin(struct md_builder *b, int block, size_t src);
/* Adds text of a known width to the current line (merged with the previous span of the same role). */
void mdb_span_add(struct md_builder *b, const char *s, size_t n, int width, int role);
void mdb_spaces(struct md_builder *b, int n, int role);
/* Adds text and measures its width. */
void mdb_text(struct md_builder *b, const char *s, size_t n, int role);
void mdb_empty_line(struct md_builder *b, size_t src);
/* "│ " per quote level. */
void mdb_quote_prefix(struct md_builder *b, int depth);

/* The paragraph's display text and its styled runs (role changes at run starts). */
struct md_inl {
	char *text;
	size_t len, cap;
	struct { size_t at; uint8_t role; } *runs;
	size_t nruns, runs_cap;
};

void mdi_add(struct md_inl *in, const char *s, size_t n, int role);
/* Parses inline markup of s[0..len) (emphasis, code spans, links, escapes) into in, plain text
 * in `role`. */
void mdi_parse(struct md_inl *in, const char *s, size_t len, int role);
/* Length of the run of c at s[i]. */
size_t mdi_run_len(const char *s, size_t len, size_t i, char c);
/* Where searches for a closing delimiter already failed. A search that finds no closer from
 * position i finds none from any later position either (the candidates are a subset), so each
 * kind of delimiter scans to the end at most once: without this, a long paragraph full of
 * unmatched * or ` (a pasted log) takes quadratic time. */
#define MEMO_RUNS 16
struct md_inl_memo {
	size_t code_fail[MEMO_RUNS + 1]; /* by backtick run length */
	size_t emph_fail[2][4];          /* by '*' / '_' and run length 1..3 */
};

void mdi_memo_init(struct md_inl_memo *m);
/* End of the code span opened by the n backticks at i (after its closing run), or 0. */
size_t mdi_code_span_end(const char *s, size_t len, size_t i, size_t n, struct md_inl_memo *memo);

/* Wraps styled text to the width and emits its rows behind the indentation, the first row with
 * the bullet (at column first_indent), all of them behind quote_depth quote bars. */
void mdb_wrapped(struct md_builder *b, struct md_inl *in, size_t src, int indent, const char *bullet, int bullet_w,
		 int quote_depth, int first_indent);

enum md_para_kind { PARA_NONE, PARA_TEXT, PARA_ITEM, PARA_QUOTE, PARA_TABLE };

/* The paragraph being collected: its joined source lines and how to lay it out. */
struct md_para {
	enum md_para_kind kind;
	char *src;
	size_t len, cap;
	size_t src_off;       /* message offset of its first line */
	int indent;           /* columns before the text on every row */
	char bullet[24];      /* list marker to show on the first row ("" for none) */
	int bullet_w;
	int quote_depth;
};

/* Lays out a collected table (p->kind == PARA_TABLE): aligned columns, records, or raw rows. */
void mdt_flush(struct md_builder *b, struct md_para *p);

#endif

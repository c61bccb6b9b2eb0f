/* markdown.h: lays out one chat message (a markdown subset) as styled display lines for a width. */
#ifndef DS_MARKDOWN_H
#define DS_MARKDOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The subset: ATX headings (# .. ######), **bold** / __bold__, *italic* / _italic_ (underscores
 * only at word edges, so snake_case stays; a * between two letters or digits is literal, so
 * 2*3*4 stays), `inline code` (any backtick run length), backslash escapes, - * + and 1. / 1) list items nested by indentation, > block quotes (nested with >>),
 * ``` and ~~~ fenced code blocks with a language tag, paragraphs, horizontal rules (---, ***,
 * ___), and GitHub tables (rows starting with '|', a |---|:-:| row under the header): aligned
 * columns when they fit the width, otherwise one "header: value" record per row; links
 * [text](url) and ![alt](url) show the text (ROLE_LINK) and then " (url)" (ROLE_DIM), <https://..>
 * shows the address as a link. Anything else is text. Markers are not shown (headings lose their #, emphasis its stars,
 * inline code its backticks); an unmatched marker is shown as typed. A newline inside a
 * paragraph, list item or quote is kept as a line break (as GitHub shows comments). An unclosed fence is a code
 * block that runs to the end of the message (what a streaming answer looks like); an unclosed
 * emphasis is shown literally until its closing marker arrives.
 *
 * Output: display lines, each a list of spans; all text is copied into the layout (so the message
 * buffer may change or be freed after md_layout returns) and is safe to draw: valid UTF-8 with
 * invalid bytes and control characters turned into U+FFFD, tabs expanded (see utf8.h).
 * Widths are display columns (utf8.c); no line is wider than the layout width, except when the
 * width is smaller than one wide character plus the indentation, where a single cluster may stick
 * out (callers clip at the window edge).
 *
 * Layout of code blocks: a header line " [n] lang " ("code" when the fence has no language;
 * ROLE_CODE_HEADER, padded to the width), then the code lines, each after one column of margin,
 * highlighted by highlight.c with ROLE_CODE_* roles and padded with ROLE_CODE_BG spaces to the
 * full width, so the block is a solid box. md_line.block tells which block a line shows. A code line longer than the width is
 * wrapped at the width; each continuation row starts with "↪ " (ROLE_CODE_CONTINUATION). The
 * copy/save keys use md_block_text(), never the display lines.
 *
 * Blocks are separated by one empty line; consecutive list items and quote lines are not. The
 * layout never starts or ends with an empty line.
 *
 * Speed: one call parses only the given message (no state shared between messages), so the TUI
 * re-lays-out just the last message on each streamed token; md_layout_extend() goes further and
 * re-lays-out only that message's last open block (tools/render-bench: 10,000-line message,
 * width 100: md_layout 31 ms, md_layout_extend 0.1 ms per token).
 */

/* One styled run of text on a display line. */
struct md_span {
	const char *text; /* into the layout's text store; NOT NUL-terminated; valid until md_layout_free */
	size_t len;       /* bytes */
	int width;        /* display columns */
	uint8_t role;     /* enum theme_role */
};

struct md_line {
	const struct md_span *spans; /* into the layout; nspans of them (0 for an empty line) */
	size_t nspans;
	int width;   /* columns of all spans together (<= the layout width, see above) */
	int block;   /* the global number [n] of the code block this line shows (its header included), 0 if none */
	size_t src;  /* byte offset in the message of the source line it comes from (for search, scroll anchors) */
};

/* A fenced code block of the message. */
struct md_block {
	int number;      /* global number: first_block + its index in the message */
	char lang[32];   /* first word of the fence's info string, as written ("" when none; cut at 31 bytes) */
	size_t start;    /* byte offset of the first content line (after the opening fence's '\n') */
	size_t end;      /* byte offset where the closing fence line starts, or the message length if unclosed */
	size_t indent;   /* spaces before the opening fence (removed from content lines by md_block_text) */
	bool closed;     /* the closing fence has arrived */
};

struct md_options {
	int width;       /* columns available (values < 1 are taken as 1) */
	int first_block; /* number given to the message's first code block (1 for the first message) */
	int base_role;   /* role of plain text: ROLE_TEXT for answers, ROLE_USER_MSG for the user's ... */
	int tabstop;     /* tab stops (tabs become spaces, in code and text); 0 means 4 */
	bool plain;      /* no markdown: only wrapping (completion / fill-in-the-middle output) */
	bool verbatim;   /* the user's text: every line as typed (indentation, blank lines, * _ ` # > -
			  * and all), wrapped at the width; only fenced code blocks are recognised
			  * (found, numbered and highlighted as in markdown, fence lines not shown) */
	const char *code_hint; /* shown at the right of each code header when it fits, e.g.
				* "Alt-c copy  Alt-w save" (NULL: none); kept by pointer for
				* md_layout_extend, so give a string that outlives the layout */
};

/* The laid-out message. Read-only for callers; everything in it is owned by it. */
struct md_layout {
	int width;               /* the width it was laid out for */
	struct md_line *lines;   /* nlines display lines */
	size_t nlines;
	struct md_block *blocks; /* nblocks code blocks in message order */
	int nblocks;             /* the count to add to first_block for the next message */
	/* private: */
	char *text;
	size_t text_len, text_cap;
	struct md_span *spans;
	size_t nspans, spans_cap;
	size_t lines_cap, nlines_built;
	int blocks_cap;
	struct md_resume *resume;
};

/* Lays out text[0..len) (a whole message, or the part of a streaming one received so far).
 * opt may be NULL: width 80, first block 1, ROLE_TEXT. Returns a new layout; free it with
 * md_layout_free(). Never fails (out of memory aborts). */
struct md_layout *md_layout(const char *text, size_t len, const struct md_options *opt);
void md_layout_free(struct md_layout *layout);

/* For streaming: the same result as md_layout(text, len, <the options layout was made with>),
 * but it only re-lays-out from the start of the last block that was still open (the paragraph,
 * list item or quote being written, or the last line of a code block), so the cost per token does
 * not grow with the message. text[0..old length) must be what layout was made from (tokens are
 * only appended). Takes over layout: returns it updated (or, rarely, a new layout with the old
 * one freed), so use it as `L = md_layout_extend(L, text, len)`. Pointers into the old layout's
 * lines and spans are invalid afterwards. For a new width call md_layout() instead. */
struct md_layout *md_layout_extend(struct md_layout *layout, const char *text, size_t len);

/* Finds the fenced code blocks of a message without laying it out (cheap: for numbering and for
 * the copy/save keys on messages that are not on screen). Stores up to max of them in out (out
 * may be NULL when max is 0), numbering them from first_block, and returns how many the message
 * has (which may be more than max). Blocks are found exactly as md_layout finds them. */
int md_scan_blocks(const char *text, size_t len, int first_block, struct md_block *out, int max);

/* The raw content of block b of message text[0..len) (b from md_scan_blocks or a layout of the
 * same text): the lines between the fences, with the fence's indentation removed from each line,
 * ending in '\n' unless empty, bytes otherwise untouched (not sanitized: this is what gets copied
 * or saved). Returns a new NUL-terminated string (caller frees); *outlen (may be NULL) gets its
 * length. */
char *md_block_text(const char *text, size_t len, const struct md_block *b, size_t *outlen);

#endif

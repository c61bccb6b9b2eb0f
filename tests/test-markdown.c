/* test-markdown.c: message layout: each markdown construct, wrapping, streaming (unclosed fences), block numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markdown.h"
#include "theme.h"
#include "utf8.h"

#define FIX_CHECK_AT
#include "fixture-util.h"

/* n horizontal box-drawing characters (U+2500), as a string literal */
#define R1 "\xE2\x94\x80"
#define RULE(n) RULE_##n
#define RULE_2 R1 R1
#define RULE_4 RULE_2 RULE_2
#define RULE_5 RULE_4 R1
#define RULE_6 RULE_4 RULE_2
#define RULE_10 RULE_6 RULE_4

static struct md_layout *lay(const char *text, int width, int first)
{
	struct md_options o = { .width = width, .first_block = first, .base_role = ROLE_TEXT };
	return md_layout(text, strlen(text), &o);
}

/* The text of display line i (static buffer). */
static const char *line_text(const struct md_layout *L, size_t i)
{
	static char buf[8192];
	size_t o = 0;
	if (i >= L->nlines)
		return "<no such line>";
	for (size_t k = 0; k < L->lines[i].nspans; k++) {
		const struct md_span *s = &L->lines[i].spans[k];
		if (o + s->len < sizeof buf) {
			memcpy(buf + o, s->text, s->len);
			o += s->len;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* All lines joined with '\n', trailing spaces of each line removed (code boxes are padded). */
static char *all_text(const struct md_layout *L)
{
	size_t cap = 1 << 16, o = 0;
	char *out = malloc(cap);
	for (size_t i = 0; i < L->nlines; i++) {
		const char *t = line_text(L, i);
		size_t n = strlen(t);
		while (n > 0 && t[n - 1] == ' ')
			n--;
		if (o + n + 2 < cap) {
			memcpy(out + o, t, n);
			o += n;
			out[o++] = '\n';
		}
	}
	out[o] = '\0';
	return out;
}

/* The role of the first byte of needle on the first line containing it, or -1. */
static int role_of(const struct md_layout *L, const char *needle)
{
	for (size_t i = 0; i < L->nlines; i++) {
		const char *t = line_text(L, i);
		const char *at = strstr(t, needle);
		if (!at)
			continue;
		size_t off = (size_t)(at - t), o = 0;
		for (size_t k = 0; k < L->lines[i].nspans; k++) {
			const struct md_span *s = &L->lines[i].spans[k];
			if (off < o + s->len)
				return s->role;
			o += s->len;
		}
	}
	return -1;
}

static void check_role(const struct md_layout *L, const char *needle, int want, const char *what)
{
	int got = role_of(L, needle);
	CHECK(got == want, "%s: '%s' has role %s, want %s", what, needle, got < 0 ? "(not found)" : theme_role_name(got),
	      theme_role_name(want));
}

/* Layout invariants: widths add up, nothing wider than the width, text is valid UTF-8. */
static void check_invariants(const struct md_layout *L, const char *what)
{
	for (size_t i = 0; i < L->nlines; i++) {
		const struct md_line *ln = &L->lines[i];
		int sum = 0;
		for (size_t k = 0; k < ln->nspans; k++) {
			const struct md_span *s = &ln->spans[k];
			CHECK(utf8_valid(s->text, s->len), "%s: line %zu span %zu is not valid UTF-8", what, i, k);
			CHECK((int)utf8_width(s->text, s->len) == s->width, "%s: line %zu span %zu width %d, measured %zu",
			      what, i, k, s->width, utf8_width(s->text, s->len));
			CHECK(memchr(s->text, '\n', s->len) == NULL, "%s: line %zu has a newline in a span", what, i);
			sum += s->width;
		}
		CHECK(sum == ln->width, "%s: line %zu width %d but spans add to %d", what, i, ln->width, sum);
		CHECK(ln->width <= L->width, "%s: line %zu is %d columns, wider than %d: '%s'", what, i, ln->width,
		      L->width, line_text(L, i));
	}
}

static void expect_text(const char *md, int width, const char *want)
{
	struct md_layout *L = lay(md, width, 1);
	char *got = all_text(L);
	CHECK(strcmp(got, want) == 0, "layout of\n%s\n-- at width %d: got --\n%s-- want --\n%s", md, width, got, want);
	check_invariants(L, md);
	free(got);
	md_layout_free(L);
}

static void test_constructs(void)
{
	expect_text("Hello world", 40, "Hello world\n");
	expect_text("one\ntwo\n\nthree", 40, "one\ntwo\n\nthree\n");
	expect_text("a **bold\nover** lines", 40, "a bold\nover lines\n");
	expect_text("# Title\ntext", 40, "Title\n\ntext\n");
	expect_text("## Sub ##\n", 40, "Sub\n");
	expect_text("#hashtag", 40, "#hashtag\n");
	expect_text("**bold** *it* _it_ `co de` x", 40, "bold it it co de x\n");
	expect_text("snake_case_name and 2*3*4", 40, "snake_case_name and 2*3*4\n");
	expect_text("a \\*literal\\* star", 40, "a *literal* star\n");
	expect_text("``a `tick` b``", 40, "a `tick` b\n");
	expect_text("**unclosed bold", 40, "**unclosed bold\n");
	expect_text("- a\n- b\n  - c\n    - d\n* e", 40, "\xE2\x80\xA2 a\n\xE2\x80\xA2 b\n  \xE2\x97\xA6 c\n    \xE2\x96\xAA d\n\xE2\x80\xA2 e\n");
	expect_text("1. one\n2. two\n10) ten", 40, "1. one\n2. two\n10) ten\n");
	expect_text("1. one\n   - sub\n     1. subsub", 40, "1. one\n   \xE2\x97\xA6 sub\n     1. subsub\n");
	expect_text("- item that wraps onto more lines", 12, "\xE2\x80\xA2 item that\n  wraps onto\n  more lines\n");
	expect_text("- lazy\ncontinuation", 40, "\xE2\x80\xA2 lazy\n  continuation\n");
	expect_text("- item\n\n  second para\n\nafter", 40, "\xE2\x80\xA2 item\n\n  second para\n\nafter\n");
	expect_text("> quoted\n> text\n>\n> more\n>> deeper", 40,
		    "\xE2\x94\x82 quoted\n\xE2\x94\x82 text\n\xE2\x94\x82\n\xE2\x94\x82 more\n\xE2\x94\x82 \xE2\x94\x82 deeper\n");
	expect_text("> a long quote that has to wrap", 12, "\xE2\x94\x82 a long\n\xE2\x94\x82 quote that\n\xE2\x94\x82 has to\n\xE2\x94\x82 wrap\n");
	expect_text("a\n\n---\n\nb", 5, "a\n\n\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\n\nb\n");
	expect_text("* * *", 3, "\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\n");
	expect_text("text\n```c\nint x;\n```\nmore", 20, "text\n\n [1] c\n int x;\n\nmore\n");
	expect_text("~~~\nplain\n~~~", 20, " [1] code\n plain\n");
	expect_text("```\n```", 20, " [1] code\n");
	expect_text("\n\n\nx\n\n\n", 20, "x\n");
	expect_text("", 20, "");

	/* links: the text, then the address dimmed */
	expect_text("see [the docs](https://x.org/a \"Title\") now", 60, "see the docs (https://x.org/a) now\n");
	expect_text("[https://x.org](https://x.org) and <https://y.org/b>", 60, "https://x.org and https://y.org/b\n");
	expect_text("a [b] c ![img](p.png) `[x](y)` [open", 60, "a [b] c img (p.png) [x](y) [open\n");
	{
		struct md_layout *K = lay("see [the docs](https://x.org) or <https://y.org>", 60, 1);
		check_role(K, "the docs", ROLE_LINK, "link text");
		check_role(K, "(https://x.org)", ROLE_DIM, "link address");
		check_role(K, "https://y.org", ROLE_LINK, "autolink");
		md_layout_free(K);
	}

	/* tables: aligned columns when they fit, the rows as written when not */
	expect_text("| Name | n |\n|:-----|--:|\n| `x` | 1 |\n| **long** name | 200 |\nafter", 40,
		    "Name      \xE2\x94\x82   n\n" RULE(10) "\xE2\x94\xBC" RULE(4)
		    "\nx         \xE2\x94\x82   1\nlong name \xE2\x94\x82 200\n\nafter\n");
	expect_text("| 中文 | b |\n|---|---|\n| c | d |", 40, "中文 \xE2\x94\x82 b\n" RULE(5) "\xE2\x94\xBC" RULE(2) "\nc    \xE2\x94\x82 d\n");
	expect_text("| a | b |\n|---|---|\n| wide cell | x |\n| y | z |", 8, "a: wide\ncell\nb: x\n\na: y\nb: z\n");
	expect_text("| no delimiter row |\n| second |", 40, "| no delimiter row |\n| second |\n");
	expect_text("| a \\| b | `c|d` |\n|-|-|\n| 1 | 2 |", 40, "a | b \xE2\x94\x82 c|d\n" RULE(6) "\xE2\x94\xBC" RULE(4) "\n1     \xE2\x94\x82 2\n");

	struct md_layout *L = lay("# Head `c`\n**b** *i* `c2` text\n> q\n- li\n```py\nx = 1\n```", 40, 1);
	check_role(L, "Head", ROLE_HEADING, "heading");
	check_role(L, "c2", ROLE_INLINE_CODE, "inline code");
	check_role(L, "b", ROLE_BOLD, "bold");
	check_role(L, "i ", ROLE_ITALIC, "italic");
	check_role(L, "text", ROLE_TEXT, "plain text");
	check_role(L, "q", ROLE_QUOTE, "quote text");
	check_role(L, "\xE2\x80\xA2", ROLE_LIST_BULLET, "bullet");
	check_role(L, "[1] py", ROLE_CODE_HEADER, "code header");
	check_role(L, "x = ", ROLE_CODE_BG, "code plain");
	check_role(L, "1 ", ROLE_CODE_NUMBER, "code number");
	check_invariants(L, "roles");
	int code_lines = 0;
	for (size_t i = 0; i < L->nlines; i++)
		code_lines += L->lines[i].block == 1;
	CHECK(code_lines == 2, "header and one code line belong to block 1 (got %d)", code_lines);
	md_layout_free(L);

	/* User messages: plain text takes the base role. */
	struct md_options o = { .width = 30, .first_block = 1, .base_role = ROLE_USER_MSG };
	L = md_layout("hi **there**", 12, &o);
	check_role(L, "hi", ROLE_USER_MSG, "base role");
	check_role(L, "there", ROLE_BOLD, "bold in a user message");
	md_layout_free(L);

	/* plain mode: no markdown, only wrapping */
	o = (struct md_options){ .width = 10, .first_block = 1, .base_role = ROLE_TEXT, .plain = true };
	L = md_layout("# not **md**", 12, &o);
	char *t = all_text(L);
	CHECK(strcmp(t, "# not\n**md**\n") == 0, "plain mode: got '%s'", t);
	CHECK(L->nblocks == 0, "plain mode has no blocks");
	free(t);
	md_layout_free(L);
}

static void test_code(void)
{
	/* Code lines are padded to the width; long ones wrap with a continuation mark. */
	struct md_layout *L = lay("```c\nint a = 1; int b = 2; int c = 3;\n\tx;\n```", 20, 1);
	check_invariants(L, "code wrap");
	CHECK(L->nlines == 4, "code wrap: want 4 lines, got %zu:\n%s", L->nlines, all_text(L));
	for (size_t i = 0; i < L->nlines; i++)
		CHECK(L->lines[i].width == 20, "code line %zu is %d wide, not padded to 20", i, L->lines[i].width);
	CHECK(strncmp(line_text(L, 2), " \xE2\x86\xAA ", 5) == 0, "continuation mark: '%s'", line_text(L, 2));
	check_role(L, "\xE2\x86\xAA", ROLE_CODE_CONTINUATION, "continuation mark role");
	CHECK(strncmp(line_text(L, 3), "     x;", 7) == 0, "tab expanded to 4 columns: '%s'", line_text(L, 3));
	md_layout_free(L);

	/* A key hint at the right of the header, when it fits. */
	{
		struct md_options o = { .width = 30, .first_block = 3, .base_role = ROLE_TEXT, .code_hint = "Alt-c copy" };
		L = md_layout("```go\nx\n```", 12, &o);
		CHECK(strcmp(line_text(L, 0), " [3] go            Alt-c copy ") == 0 && L->lines[0].width == 30, "hint: '%s'",
		      line_text(L, 0));
		md_layout_free(L);
		o.width = 16;
		L = md_layout("```go\nx\n```", 12, &o);
		CHECK(strcmp(line_text(L, 0), " [3] go         ") == 0, "no room for the hint: '%s'", line_text(L, 0));
		md_layout_free(L);
	}

	/* Block comment spanning lines inside a fenced block keeps its colour. */
	L = lay("```c\n/* one\n two */ int x;\n```", 40, 1);
	check_role(L, "two", ROLE_CODE_COMMENT, "comment line 2");
	check_role(L, "int", ROLE_CODE_TYPE, "after the comment");
	md_layout_free(L);

	/* Numbering: starts at first_block, counts, raw text per block. */
	const char *msg = "intro\n```python\nprint(1)\n```\nmid\n  ~~~~ sh extra\n  echo \"a\tb\"\n    indented\n  ~~~~\n```\n```";
	L = lay(msg, 40, 5);
	CHECK(L->nblocks == 3, "three blocks, got %d", L->nblocks);
	if (L->nblocks == 3) {
		CHECK(L->blocks[0].number == 5 && L->blocks[1].number == 6 && L->blocks[2].number == 7, "numbers 5,6,7");
		CHECK(strcmp(L->blocks[0].lang, "python") == 0 && strcmp(L->blocks[1].lang, "sh") == 0 &&
		      L->blocks[2].lang[0] == '\0', "languages: '%s' '%s' '%s'", L->blocks[0].lang, L->blocks[1].lang,
		      L->blocks[2].lang);
		CHECK(L->blocks[0].closed && L->blocks[1].closed && L->blocks[2].closed, "all closed");
		char *raw = md_block_text(msg, strlen(msg), &L->blocks[0], NULL);
		CHECK(strcmp(raw, "print(1)\n") == 0, "raw text of [5]: '%s'", raw);
		free(raw);
		size_t n;
		raw = md_block_text(msg, strlen(msg), &L->blocks[1], &n);
		CHECK(strcmp(raw, "echo \"a\tb\"\n  indented\n") == 0 && n == strlen(raw), "raw text of [6] (fence indent removed, tab kept): '%s'", raw);
		free(raw);
		raw = md_block_text(msg, strlen(msg), &L->blocks[2], &n);
		CHECK(n == 0 && raw[0] == '\0', "empty block: '%s'", raw);
		free(raw);
	}
	check_role(L, "[6] sh", ROLE_CODE_HEADER, "header [6] sh");
	check_role(L, "echo", ROLE_CODE_FUNCTION, "echo in sh");
	struct md_block scanned[4];
	int ns = md_scan_blocks(msg, strlen(msg), 5, scanned, 4);
	CHECK(ns == 3, "md_scan_blocks finds 3, got %d", ns);
	for (int i = 0; i < ns && i < L->nblocks; i++)
		CHECK(memcmp(&scanned[i], &L->blocks[i], sizeof scanned[i]) == 0, "md_scan_blocks block %d differs from layout", i);
	CHECK(md_scan_blocks(msg, strlen(msg), 1, NULL, 0) == 3, "count only");
	md_layout_free(L);

	/* Not fences: two backticks, backticks in a backtick info string. */
	L = lay("``\nx\n``\n```a`b\ny", 40, 1);
	CHECK(L->nblocks == 0, "no blocks expected, got %d", L->nblocks);
	md_layout_free(L);
}

static void test_streaming(void)
{
	/* Every prefix of a message lays out; an unclosed fence is an open code block. */
	const char *msg = "Here is **the** code:\n\n```rust\nfn main() {\n    /* a\n    b */ println!(\"中文\");\n}\n```\n\nDone `x`.\n";
	size_t len = strlen(msg);
	for (size_t n = 0; n <= len; n++) {
		struct md_layout *L = lay(msg, 30, 1);
		md_layout_free(L);
		struct md_options o = { .width = 30, .first_block = 3, .base_role = ROLE_TEXT };
		L = md_layout(msg, n, &o);
		check_invariants(L, "streaming prefix");
		struct md_block b[2];
		int nb = md_scan_blocks(msg, n, 3, b, 2);
		CHECK(nb == L->nblocks, "prefix %zu: scan %d blocks, layout %d", n, nb, L->nblocks);
		md_layout_free(L);
	}
	const char *part = "Text\n```python\ndef f():\n    return \"open";
	struct md_layout *L = lay(part, 40, 1);
	CHECK(L->nblocks == 1 && !L->blocks[0].closed && L->blocks[0].end == strlen(part), "unclosed block");
	check_role(L, "def", ROLE_CODE_KEYWORD, "keyword in an open block");
	check_role(L, "\"open", ROLE_CODE_STRING, "string in an open block");
	char *raw = md_block_text(part, strlen(part), &L->blocks[0], NULL);
	CHECK(strcmp(raw, "def f():\n    return \"open\n") == 0, "raw text of an open block: '%s'", raw);
	free(raw);
	md_layout_free(L);
	/* just the opening fence so far */
	L = lay("```py", 40, 1);
	CHECK(L->nblocks == 1 && L->nlines == 1, "lone opening fence: %d blocks %zu lines", L->nblocks, L->nlines);
	md_layout_free(L);
}

/* Two layouts are the same: lines, spans, blocks. Returns a description of the first difference. */
static const char *layout_diff(const struct md_layout *a, const struct md_layout *b)
{
	static char why[256];
	if (a->nlines != b->nlines) {
		snprintf(why, sizeof why, "%zu lines vs %zu", a->nlines, b->nlines);
		return why;
	}
	for (size_t i = 0; i < a->nlines; i++) {
		const struct md_line *x = &a->lines[i], *y = &b->lines[i];
		if (x->nspans != y->nspans || x->width != y->width || x->block != y->block || x->src != y->src) {
			snprintf(why, sizeof why, "line %zu: spans %zu/%zu width %d/%d block %d/%d src %zu/%zu", i, x->nspans,
				 y->nspans, x->width, y->width, x->block, y->block, x->src, y->src);
			return why;
		}
		for (size_t k = 0; k < x->nspans; k++)
			if (x->spans[k].len != y->spans[k].len || x->spans[k].role != y->spans[k].role ||
			    x->spans[k].width != y->spans[k].width || memcmp(x->spans[k].text, y->spans[k].text, x->spans[k].len)) {
				snprintf(why, sizeof why, "line %zu span %zu differs", i, k);
				return why;
			}
	}
	if (a->nblocks != b->nblocks) {
		snprintf(why, sizeof why, "%d blocks vs %d", a->nblocks, b->nblocks);
		return why;
	}
	for (int i = 0; i < a->nblocks; i++)
		if (memcmp(&a->blocks[i], &b->blocks[i], sizeof a->blocks[i])) {
			snprintf(why, sizeof why, "block %d differs", i);
			return why;
		}
	return NULL;
}

/* md_layout_extend token by token gives exactly what md_layout gives for each prefix. */
static void test_extend(void)
{
	const char *msgs[] = {
		"Here is **the** code:\n\n```rust\nfn main() {\n    /* a\n    b */ println!(\"中文\");\n}\n```\n\nDone `x`.\n",
		"# Plan\n\n1. first step\n   continues here\n2. second\n   - nested *a*\n   - nested b\n\n   para in item\n\n"
		"> quote one\n> quote two\n>\n>> deep\n\n---\n\n```python\ndef f():\n    \"\"\"doc\n    more\"\"\"\n    return 1\n```\n"
		"text after\r\nwith CRLF\r\n\n~~~ sh\necho $HOME\n~~~\n最后一段中文，测试流式输出。\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 end",
		"```\nunclosed at the end\n\tand a tab\n",
		"plain paragraph\nno blank lines\n- then a list\nlazy line\n```c\nint x;\n```\n- after code\n\n\n\n",
		"| h1 | h2 |\n|:--|--:|\n| **a** | 1 |\n| bb | 22 |\n\ntext\n| x |\n",
	};
	int widths[] = { 7, 24, 80 };
	for (size_t m = 0; m < sizeof msgs / sizeof msgs[0]; m++) {
		for (size_t wi = 0; wi < 3; wi++) {
			const char *msg = msgs[m];
			size_t len = strlen(msg);
			struct md_options o = { .width = widths[wi], .first_block = 2, .base_role = ROLE_TEXT };
			struct md_layout *inc = md_layout(msg, 0, &o);
			size_t n = 0;
			int step = 0;
			while (n < len) {
				n += 1 + (size_t)(step++ % 5); /* tokens of 1..5 bytes, splitting UTF-8 sequences too */
				if (n > len)
					n = len;
				inc = md_layout_extend(inc, msg, n);
				struct md_layout *full = md_layout(msg, n, &o);
				const char *d = layout_diff(inc, full);
				CHECK(d == NULL, "message %zu width %d prefix %zu: extend differs from a fresh layout: %s", m,
				      widths[wi], n, d);
				check_invariants(inc, "extend");
				md_layout_free(full);
				if (d)
					break;
			}
			md_layout_free(inc);
		}
	}
	/* plain mode extends too */
	struct md_options o = { .width = 10, .base_role = ROLE_TEXT, .plain = true };
	struct md_layout *L = md_layout("abc", 3, &o);
	L = md_layout_extend(L, "abc def ghi jkl", 15);
	struct md_layout *F = md_layout("abc def ghi jkl", 15, &o);
	CHECK(layout_diff(L, F) == NULL, "plain extend");
	md_layout_free(L);
	md_layout_free(F);
}

/* Verbatim mode (the user's messages): lines as typed, only fenced blocks recognised. */
static struct md_layout *lay_verbatim(const char *text, int width)
{
	struct md_options o = { .width = width, .first_block = 1, .base_role = ROLE_USER_MSG, .verbatim = true };
	return md_layout(text, strlen(text), &o);
}

static void expect_verbatim(const char *text, int width, const char *want)
{
	struct md_layout *L = lay_verbatim(text, width);
	char *got = all_text(L);
	CHECK(strcmp(got, want) == 0, "verbatim layout of\n%s\n-- at width %d: got --\n%s-- want --\n%s", text, width,
	      got, want);
	check_invariants(L, text);
	free(got);
	md_layout_free(L);
}

static void test_verbatim(void)
{
	const char *py = "class A:\n    \"\"\"*doc* `x`\"\"\"\n\n    def __init__(self):\n        self._a = 2*3 ** 4\n"
			 "# comment\n- dash\n> gt\n1. one\n| a | b |\n---\nif __name__ == \"__main__\":\n    A()\n";
	expect_verbatim(py, 80, py);
	expect_verbatim("\n\n  lead\n\n\n  tail\n\n", 80, "  lead\n\n\n  tail\n");
	expect_verbatim("a\tb", 80, "a   b\n");
	/* long lines wrap; the indentation of the line stays on its first row */
	expect_verbatim("    aaaa bbbb cccc", 12, "    aaaa\nbbbb cccc\n");
	/* a fence: a code block (no fence lines), the text around it as typed, no blank lines added */
	expect_verbatim("see *x*:\n```py\ndef f():\n    pass\n```\n_after_", 30,
			"see *x*:\n [1] py\n def f():\n     pass\n_after_\n");
	struct md_layout *L = lay_verbatim("x **b** __i__ `c`\n```c\nint x;\n```\n", 40);
	check_role(L, "**b**", ROLE_USER_MSG, "verbatim: ** is text");
	check_role(L, "__i__", ROLE_USER_MSG, "verbatim: __ is text");
	CHECK(L->nblocks == 1 && L->blocks[0].closed && strcmp(L->blocks[0].lang, "c") == 0, "verbatim: one closed c block");
	struct md_block scan[2];
	const char *src = "x **b** __i__ `c`\n```c\nint x;\n```\n";
	CHECK(md_scan_blocks(src, strlen(src), 1, scan, 2) == 1 && scan[0].start == L->blocks[0].start &&
	      scan[0].end == L->blocks[0].end, "verbatim: md_scan_blocks finds the same block");
	md_layout_free(L);

	/* streaming a verbatim message gives what a fresh layout gives */
	const char *msgs[] = { py, "text *a*\n```sh\necho $HOME\n```\n  after\n\n```\nunclosed\n" };
	for (size_t m = 0; m < 2; m++) {
		size_t len = strlen(msgs[m]);
		struct md_options o = { .width = 16, .first_block = 1, .base_role = ROLE_USER_MSG, .verbatim = true };
		struct md_layout *inc = md_layout(msgs[m], 0, &o);
		for (size_t n = 1; n <= len; n++) {
			inc = md_layout_extend(inc, msgs[m], n);
			struct md_layout *full = md_layout(msgs[m], n, &o);
			const char *d = layout_diff(inc, full);
			CHECK(d == NULL, "verbatim message %zu prefix %zu: extend differs: %s", m, n, d);
			md_layout_free(full);
			if (d)
				break;
		}
		md_layout_free(inc);
	}
}

/* Messages stitched from markdown pieces and random bytes (fixed seed): no crash, the invariants
 * hold at every width, and streaming through md_layout_extend matches a fresh layout. */
static void test_random(void)
{
	static const char *const pieces[] = {
		"# ", "## ", "**", "*", "_", "`", "``", "```", "```c\n", "```python\n", "~~~\n", "\n", "\n\n", "- ", "  - ",
		"1. ", "> ", ">> ", "---\n", "| a | b |\n", "|---|:-:|\n", "\\", "\t", "word ", "中文", "，", "。", "👨\xE2\x80\x8D👩",
		"\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8", "e\xCC\x81", "\xFF", "\xE4\xB8", "\x1b", "\r\n", "/*", "*/", "\"", "'", "#include ",
		"int x = 1; ", "    ", "averyveryveryverylongwordwithoutanyspaces ", "[", "](", ")", "<https://", ">", "![",
	};
	unsigned seed = 12345;
	for (int iter = 0; iter < 300; iter++) {
		char msg[2048];
		size_t len = 0;
		int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 60;
		for (int k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof pieces[0])];
			size_t pl = strlen(p);
			if (len + pl >= sizeof msg)
				break;
			memcpy(msg + len, p, pl);
			len += pl;
		}
		int width = 1 + iter % 50;
		struct md_options o = { .width = width, .first_block = 1, .base_role = ROLE_TEXT };
		struct md_layout *full = md_layout(msg, len, &o);
		char what[64];
		snprintf(what, sizeof what, "random message %d", iter);
		/* very narrow widths may let one wide cluster stick out, as documented */
		if (width >= 8)
			check_invariants(full, what);
		struct md_layout *inc = md_layout(msg, len / 3, &o);
		inc = md_layout_extend(inc, msg, 2 * len / 3);
		inc = md_layout_extend(inc, msg, len);
		const char *d = layout_diff(inc, full);
		CHECK(d == NULL, "%s (width %d): extend differs: %s", what, width, d);
		struct md_block blocks[64];
		int nb = md_scan_blocks(msg, len, 1, blocks, 64);
		CHECK(nb == full->nblocks, "%s: scan finds %d blocks, layout %d", what, nb, full->nblocks);
		for (int b = 0; b < nb && b < 64; b++) {
			char *raw = md_block_text(msg, len, &blocks[b], NULL);
			free(raw);
		}
		md_layout_free(inc);
		md_layout_free(full);
	}
}

static void test_unicode(void)
{
	/* Chinese text wraps at the width, never past it. */
	const char *zh = "这是一个很长的中文段落，用来测试换行是否正确。DeepSeek-Coder-V2 支持多种编程语言，包括 **C、Python** 和 `Rust`。";
	for (int w = 4; w <= 50; w++) {
		struct md_layout *L = lay(zh, w, 1);
		check_invariants(L, "Chinese paragraph");
		md_layout_free(L);
	}
	struct md_layout *L = lay(zh, 20, 1);
	CHECK(L->nlines > 3, "Chinese text wraps into several lines");
	char *t = all_text(L);
	/* rejoining the rows gives back the text without markers */
	char joined[1024];
	size_t o = 0;
	for (const char *p = t; *p; p++)
		if (*p != '\n')
			joined[o++] = *p;
	joined[o] = '\0';
	CHECK(strcmp(joined, "这是一个很长的中文段落，用来测试换行是否正确。DeepSeek-Coder-V2支持多种编程语言，包括C、Python和Rust。") == 0 ||
	      strstr(joined, "用来测试换行是否正确") != NULL, "Chinese text survives: %s", joined);
	free(t);
	md_layout_free(L);

	/* Invalid bytes and control characters show as U+FFFD, in text and in code. */
	const char *bad = "bad \xFF byte \x1b[31m\n```\n\xC3\x28 x\x07\n```";
	L = lay(bad, 40, 1);
	check_invariants(L, "invalid UTF-8");
	t = all_text(L);
	CHECK(strstr(t, "bad \xEF\xBF\xBD byte \xEF\xBF\xBD[31m") != NULL, "U+FFFD in text: %s", t);
	CHECK(strstr(t, "\xEF\xBF\xBD( x\xEF\xBF\xBD") != NULL, "U+FFFD in code: %s", t);
	free(t);
	md_layout_free(L);

	/* Emoji and combining marks keep their widths. */
	L = lay("👨\xE2\x80\x8D👩\xE2\x80\x8D👧 cafe\xCC\x81 🇨🇳", 40, 1);
	CHECK(L->nlines == 1 && L->lines[0].width == 2 + 1 + 4 + 1 + 2, "emoji line width %d", L->lines[0].width);
	md_layout_free(L);

	/* Tiny widths never crash and never exceed the width (except one wide cluster). */
	for (int w = 1; w <= 6; w++) {
		L = lay("# h\n- a b c\n> q q\n```c\nint x;\n```\n---\n中文", w, 1);
		for (size_t i = 0; i < L->nlines; i++)
			CHECK(L->lines[i].width <= (w < 2 ? 2 : w) + 2 * 2, "width %d: line %zu is %d", w, i, L->lines[i].width);
		md_layout_free(L);
	}
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	setenv("DSCODER_DATADIR", top ? top : TOP_SRCDIR, 1);
	setenv("XDG_CONFIG_HOME", "/nonexistent-dscoder-test", 1);
	test_constructs();
	test_code();
	test_streaming();
	test_extend();
	test_verbatim();
	test_random();
	test_unicode();
	if (fix_failures) {
		printf("%d check(s) failed\n", fix_failures);
		return 1;
	}
	printf("all markdown checks passed\n");
	return 0;
}

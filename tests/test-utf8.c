/* test-utf8.c: display widths, grapheme movement, U+FFFD for invalid bytes, and wrapping (src/utf8.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define FIX_CHECK_AT
#include "fixture-util.h"

static void check_width(const char *name, const char *s, size_t want)
{
	size_t got = utf8_width(s, strlen(s));
	CHECK(got == want, "width of %s: got %zu, want %zu", name, got, want);
}

static void test_widths(void)
{
	check_width("ASCII", "hello, world", 12);
	check_width("empty", "", 0);
	check_width("CJK 中文", "中文", 4);
	check_width("mixed a中b", "a中b", 4);
	check_width("fullwidth comma", "，", 2);
	/* man ZWJ woman ZWJ girl ZWJ boy: one cluster, two columns. */
	check_width("ZWJ family", "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6", 2);
	check_width("flag US", "\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8", 2);
	check_width("two flags", "\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8\xF0\x9F\x87\xA8\xF0\x9F\x87\xB3", 4);
	check_width("lone regional indicator", "\xF0\x9F\x87\xBA", 1);
	check_width("thumbs up + skin tone", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", 2);
	check_width("heart + VS16", "\xE2\x9D\xA4\xEF\xB8\x8F", 2);
	check_width("e + U+0301", "e\xCC\x81", 1);
	check_width("cafe\\u0301", "cafe\xCC\x81!", 5);
	check_width("lone combining mark", "\xCC\x81", 1);
	check_width("zero width space", "a\xE2\x80\x8B" "b", 2);
	check_width("invalid byte FF", "\xFF", 1);
	check_width("truncated 3-byte", "\xE4\xB8", 1);
	check_width("truncated then ASCII", "\xE4\xB8x", 2);
	check_width("two invalid bytes", "\xFF\xFE", 2);
	check_width("surrogate ED A0 80", "\xED\xA0\x80", 3);
	check_width("overlong C0 AF", "\xC0\xAF", 2);
	check_width("control char BEL", "a\ab", 3);
	check_width("newline", "ab\ncd", 4);
	check_width("hangul syllable jamo", "\xE1\x84\x80\xE1\x85\xA1", 2);
}

static void test_decode(void)
{
	int32_t cp;
	bool ok;
	CHECK(utf8_decode("\xE4\xB8\xAD", 3, &cp, &ok) == 3 && cp == 0x4E2D && ok, "decode 中");
	CHECK(utf8_decode("\xE4\xB8x", 3, &cp, &ok) == 2 && cp == 0xFFFD && !ok, "maximal subpart of E4 B8 is 2 bytes");
	CHECK(utf8_decode("\xF0\x80\x80\x80", 4, &cp, &ok) == 1 && !ok, "F0 80 is invalid after 1 byte");
	CHECK(utf8_decode("\xF4\x90\x80\x80", 4, &cp, &ok) == 1 && !ok, "above U+10FFFF");
	CHECK(utf8_decode("\xEF\xBF\xBD", 3, &cp, &ok) == 3 && cp == 0xFFFD && ok, "real U+FFFD is valid");
	CHECK(!utf8_valid("a\xFF", 2) && utf8_valid("中文", strlen("中文")), "utf8_valid");
	char buf[4];
	CHECK(utf8_encode(0x1F600, buf) == 4 && memcmp(buf, "\xF0\x9F\x98\x80", 4) == 0, "encode U+1F600");

	size_t n;
	/* a, FFFD, FFFD, b, FFFD: column 5, so the tab fills to column 8 */
	char *s = utf8_sanitize("a\xFF\xE4\xB8" "b\x07\tc\r\n", 10, 4, &n);
	const char *want = "a\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "   c\n";
	CHECK(n == strlen(want) && strcmp(s, want) == 0, "sanitize: got '%s' want '%s'", s, want);
	free(s);
	const char *raw = "x\xC0\xAF\xED\xA0\x80\x01\x7F\xC2\x85中e\xCC\x81\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8";
	s = utf8_sanitize(raw, strlen(raw), 8, &n);
	CHECK(utf8_valid(s, n), "sanitized text is valid UTF-8");
	CHECK(utf8_width(s, n) == utf8_width(raw, strlen(raw)), "sanitize keeps widths: %zu vs %zu",
	      utf8_width(s, n), utf8_width(raw, strlen(raw)));
	free(s);
}

static void test_graphemes(void)
{
	/* "a" "é" (e + U+0301) "中" family "b" */
	const char *s = "ae\xCC\x81\xE4\xB8\xAD\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7" "b";
	size_t len = strlen(s);
	size_t want[] = { 0, 1, 4, 7, 25, 26 };
	size_t pos = 0;
	for (int i = 1; i < 6; i++) {
		pos = utf8_next_grapheme(s, len, pos);
		CHECK(pos == want[i], "next grapheme %d: got %zu want %zu", i, pos, want[i]);
	}
	CHECK(utf8_next_grapheme(s, len, len) == len, "next at end stays at end");
	for (int i = 4; i >= 0; i--) {
		pos = utf8_prev_grapheme(s, len, pos);
		CHECK(pos == want[i], "prev grapheme %d: got %zu want %zu", i, pos, want[i]);
	}
	CHECK(utf8_prev_grapheme(s, len, 0) == 0, "prev at start stays at start");
	/* From inside a cluster, prev goes to its start. */
	CHECK(utf8_prev_grapheme(s, len, 3) == 1, "prev from inside é: %zu", utf8_prev_grapheme(s, len, 3));
	/* CR LF is one cluster; invalid bytes are clusters of their own. */
	CHECK(utf8_next_grapheme("\r\nx", 3, 0) == 2, "CR LF one cluster");
	CHECK(utf8_next_grapheme("\xFF\xFFx", 3, 0) == 1, "invalid byte is one cluster");
	/* Flags pair up: four regional indicators are two clusters. */
	const char *flags = "\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8\xF0\x9F\x87\xA8\xF0\x9F\x87\xB3";
	CHECK(utf8_next_grapheme(flags, 16, 0) == 8 && utf8_prev_grapheme(flags, 16, 16) == 8, "flags pair up");
	/* prev after a newline */
	CHECK(utf8_prev_grapheme("ab\ncd", 5, 3) == 2, "prev over newline");
	/* a long line without newlines: prev still exact */
	char *big = malloc(5000);
	for (int i = 0; i < 1666; i++)
		memcpy(big + 3 * i, "\xE4\xB8\xAD", 3);
	CHECK(utf8_prev_grapheme(big, 4998, 4998) == 4995, "prev in a long CJK line");
	CHECK(utf8_next_grapheme(big, 4998, 4995) == 4998, "next in a long CJK line");
	free(big);

	size_t used;
	CHECK(utf8_fit("中文字", 9, 0, 5, &used) == 6 && used == 4, "fit 5 columns of 中文字");
}

/* Checks the invariants of a wrap and returns the visible lines joined with '|'. */
static char *wrap_check(const char *name, const char *s, int width)
{
	struct utf8_line *lines;
	size_t len = strlen(s);
	size_t n = utf8_wrap(s, len, width, &lines);
	static char out[4096];
	size_t o = 0;
	CHECK(n >= 1, "%s: no lines", name);
	CHECK(lines[0].start == 0 && lines[n - 1].end == len, "%s: lines do not cover the text", name);
	for (size_t i = 0; i < n; i++) {
		struct utf8_line *l = &lines[i];
		if (i > 0)
			CHECK(l->start == lines[i - 1].end, "%s: line %zu does not start where %zu ended", name, i, i - 1);
		CHECK(l->start <= l->vis_end && l->vis_end <= l->end, "%s: line %zu ranges out of order", name, i);
		size_t w = utf8_width(s + l->start, l->vis_end - l->start);
		CHECK((int)w == l->width, "%s: line %zu width field %d, measured %zu", name, i, l->width, w);
		CHECK(l->width <= width || utf8_next_grapheme(s, len, l->start) == l->vis_end,
		      "%s: line %zu is %d columns, wider than %d", name, i, l->width, width);
		/* never split a cluster */
		CHECK(l->start == len || utf8_prev_grapheme(s, len, utf8_next_grapheme(s, len, l->start)) == l->start,
		      "%s: line %zu starts inside a cluster", name, i);
		if (i)
			out[o++] = '|';
		memcpy(out + o, s + l->start, l->vis_end - l->start);
		o += l->vis_end - l->start;
	}
	out[o] = '\0';
	free(lines);
	return out;
}

static void check_wrap(const char *s, int width, const char *want)
{
	char *got = wrap_check(s, s, width);
	CHECK(strcmp(got, want) == 0, "wrap '%s' at %d: got '%s' want '%s'", s, width, got, want);
}

static void test_wrap(void)
{
	check_wrap("", 10, "");
	check_wrap("hello world", 20, "hello world");
	check_wrap("hello world", 5, "hello|world");
	check_wrap("hello world", 8, "hello|world");
	check_wrap("hello   world again", 11, "hello|world again");
	check_wrap("abcdefghij", 4, "abcd|efgh|ij");
	check_wrap("a\nb\n\nc", 10, "a|b||c");
	check_wrap("ab\n", 10, "ab|");
	check_wrap("  indented", 20, "  indented");
	check_wrap("中文中文中文", 4, "中文|中文|中文");
	check_wrap("中文中文中文", 5, "中文|中文|中文");
	check_wrap("我们使用中文。好的", 8, "我们使用|中文。好|的");
	/* No line starts with closing punctuation (kinsoku): 文 moves down with 。 */
	check_wrap("我们使用中文。好的", 6, "我们使|用中|文。好|的");
	check_wrap("（中文）", 4, "（中|文）");
	check_wrap("ok 中文", 4, "ok|中文");
	check_wrap("e\xCC\x81" "e\xCC\x81" "e\xCC\x81", 2, "e\xCC\x81" "e\xCC\x81|e\xCC\x81");
	/* A cluster wider than the line gets a line of its own. */
	check_wrap("中中", 1, "中|中");
	/* Long mixed paragraph: invariants only. */
	const char *para = "DeepSeek-Coder-V2 是一个开源的代码语言模型，支持 338 种编程语言。"
		"It is a Mixture-of-Experts model 👨\xE2\x80\x8D👩\xE2\x80\x8D👧 with 🇺🇸 flags and café "
		"and invalid \xFF bytes. 上下文长度从 16K 扩展到 128K。";
	for (int w = 1; w <= 40; w++)
		wrap_check("mixed paragraph", para, w);
	/* Trailing spaces past the width are not drawn. */
	check_wrap("abc      \nx", 4, "abc|x");
}

int main(void)
{
	test_widths();
	test_decode();
	test_graphemes();
	test_wrap();
	if (fix_failures) {
		printf("%d check(s) failed\n", fix_failures);
		return 1;
	}
	printf("all utf8 checks passed\n");
	return 0;
}

/* test-editor.c: the input editor's buffer: grapheme-wise movement, insert/delete, kills, history,
 * cleaning of pasted bytes and the wrapped layout. */
#include "build-config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "editor.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
	fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); } } while (0)
#define CHECK_TEXT(e, want) CHECK(strcmp(editor_text(e), (want)) == 0, \
	"text is \"%s\", expected \"%s\"", editor_text(e), (want))
#define CHECK_CUR(e, want) CHECK((e)->cur == (size_t)(want), "cursor at byte %zu, expected %zu", \
	(e)->cur, (size_t)(want))

static void ins(struct editor *e, const char *s)
{
	editor_insert(e, s, strlen(s));
}

static void test_graphemes(void)
{
	struct editor e;
	editor_init(&e);
	/* e + combining acute (2 code points, 1 grapheme), a CJK character, a family emoji (ZWJ
	 * sequence of 5 code points), a flag (2 regional indicators). */
	const char *s = "ae\xcc\x81" "\xe4\xb8\x96" "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7"
			"\xf0\x9f\x87\xab\xf0\x9f\x87\xb7" "z";
	ins(&e, s);
	size_t len = strlen(s);
	CHECK_CUR(&e, len);
	size_t stops[] = { len - 1, len - 1 - 8, len - 1 - 8 - 18, len - 1 - 8 - 18 - 3, 1, 0 };
	for (size_t i = 0; i < sizeof stops / sizeof *stops; i++) {
		CHECK(editor_left(&e) == 1, "left %zu did not move", i);
		CHECK_CUR(&e, stops[i]);
	}
	CHECK(editor_left(&e) == 0, "left at the start moved");
	for (size_t i = sizeof stops / sizeof *stops - 1; i-- > 0;) {
		editor_right(&e);
		CHECK_CUR(&e, stops[i]);
	}
	editor_right(&e);
	CHECK_CUR(&e, len);
	/* Backspace removes a whole cluster: the flag, then the emoji family. */
	editor_left(&e);
	editor_backspace(&e);
	CHECK_CUR(&e, len - 1 - 8);
	editor_backspace(&e);
	CHECK_TEXT(&e, "ae\xcc\x81\xe4\xb8\x96z");
	/* Delete under the cursor: "é" as one cluster. */
	editor_buf_start(&e);
	editor_right(&e);
	editor_delete(&e);
	CHECK_TEXT(&e, "a\xe4\xb8\x96z");
	/* Widths: CJK 2, emoji with VS16 2, combining 1 cluster of width 1. */
	size_t g;
	CHECK(editor_grapheme_width("\xe4\xb8\x96", 3, &g) == 2 && g == 3, "CJK width");
	CHECK(editor_grapheme_width("e\xcc\x81x", 4, &g) == 1 && g == 3, "combining width/len");
	CHECK(editor_grapheme_width("\xe2\x9d\xa4\xef\xb8\x8f", 6, &g) == 2 && g == 6, "VS16 width");
	editor_free(&e);
}

static void test_clean(void)
{
	struct editor e;
	editor_init(&e);
	/* Invalid bytes become U+FFFD, CR LF and CR become LF, ESC and other controls vanish, tab stays. */
	const char in[] = "a\xff" "b\r\nc\rd\x1b[31me\tf\x07" "\xc2\x9b" "g";
	editor_insert(&e, in, sizeof in - 1);
	CHECK_TEXT(&e, "a\xef\xbf\xbd" "b\nc\nd[31me\tfg");
	editor_free(&e);
}

static void test_lines_and_words(void)
{
	struct editor e;
	editor_init(&e);
	ins(&e, "hello big world\nsecond line");
	editor_home(&e);
	CHECK_CUR(&e, 16);
	editor_end(&e);
	CHECK_CUR(&e, 27);
	editor_word_left(&e);
	CHECK_CUR(&e, 23);
	editor_word_left(&e);
	CHECK_CUR(&e, 16);
	editor_word_left(&e);
	CHECK_CUR(&e, 10);
	editor_word_right(&e);
	CHECK_CUR(&e, 15);
	/* Ctrl-K at the end of a line joins the next line; yank puts it back. */
	editor_kill_to_end(&e);
	CHECK_TEXT(&e, "hello big worldsecond line");
	editor_yank(&e);
	CHECK_TEXT(&e, "hello big world\nsecond line");
	editor_buf_start(&e);
	editor_word_right(&e);
	editor_word_right(&e);
	editor_kill_word_back(&e);
	CHECK_TEXT(&e, "hello  world\nsecond line");
	editor_kill_to_start(&e);
	CHECK_TEXT(&e, " world\nsecond line");
	editor_kill_word_forward(&e);
	CHECK_TEXT(&e, "\nsecond line");
	editor_set(&e, "ab");
	editor_transpose(&e);
	CHECK_TEXT(&e, "ba");
	editor_free(&e);
}

static void test_layout_and_vertical(void)
{
	struct editor e;
	editor_init(&e);
	struct editor_row *rows = NULL;
	int cap = 0, r, c;
	ins(&e, "one two three four");
	int n = editor_layout(&e, 10, &rows, &cap, &r, &c);
	CHECK(n == 2, "%d rows, expected 2", n);
	CHECK(rows[0].start == 0 && rows[0].end == 8, "row 0 is [%zu,%zu)", rows[0].start, rows[0].end);
	CHECK(r == 1 && c == 10, "cursor at %d:%d, expected 1:10", r, c);
	/* CJK: 5 wide characters in width 6 -> 3 rows of 2+2+1 characters. */
	editor_set(&e, "\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80");
	n = editor_layout(&e, 5, &rows, &cap, &r, &c);
	CHECK(n == 3, "CJK: %d rows, expected 3", n);
	CHECK(r == 2 && c == 2, "CJK cursor at %d:%d", r, c);
	/* A trailing newline gives an empty last row holding the cursor. */
	editor_set(&e, "abc\n");
	n = editor_layout(&e, 10, &rows, &cap, &r, &c);
	CHECK(n == 2 && r == 1 && c == 0, "trailing newline: %d rows, cursor %d:%d", n, r, c);
	/* Up/down keep the column. */
	editor_set(&e, "abcdef\nxy\nlonger line");
	CHECK(editor_vertical(&e, 40, -1) == 1, "up failed");
	CHECK_CUR(&e, 9);
	CHECK(editor_vertical(&e, 40, -1) == 1, "up failed");
	CHECK_CUR(&e, 6);
	CHECK(editor_vertical(&e, 40, -1) == 0, "up on the first row moved");
	CHECK(editor_vertical(&e, 40, 1) == 1, "down failed");
	CHECK(editor_vertical(&e, 40, 1) == 1, "down failed");
	CHECK_CUR(&e, 21);   /* the goal column (11) survives the short line */
	free(rows);
	editor_free(&e);
}

static void test_history(void)
{
	struct editor e;
	editor_init(&e);
	editor_history_add(&e, "first");
	editor_history_add(&e, "second");
	editor_history_add(&e, "second");
	editor_history_add(&e, "");
	CHECK(e.n_hist == 2, "%d history entries, expected 2", e.n_hist);
	ins(&e, "draft");
	CHECK(editor_history_prev(&e) == 1, "prev failed");
	CHECK_TEXT(&e, "second");
	editor_history_prev(&e);
	CHECK_TEXT(&e, "first");
	CHECK(editor_history_prev(&e) == 0, "prev past the oldest");
	editor_history_next(&e);
	CHECK_TEXT(&e, "second");
	editor_history_next(&e);
	CHECK_TEXT(&e, "draft");
	CHECK(editor_history_next(&e) == 0, "next past the draft");
	editor_free(&e);
}

static void test_big_insert(void)
{
	struct editor e;
	editor_init(&e);
	size_t n = 1 << 20;
	char *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 64 == 63) ? '\n' : 'a' + (char)(i % 26);
	size_t got = editor_insert(&e, big, n);
	CHECK(got == n && e.len == n, "1 MB insert kept %zu bytes", got);
	CHECK_CUR(&e, n);
	free(big);
	editor_free(&e);
}

int main(void)
{
	test_graphemes();
	test_clean();
	test_lines_and_words();
	test_layout_and_vertical();
	test_history();
	test_big_insert();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}

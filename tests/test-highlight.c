/* test-highlight.c: every shipped syntax file loads, and colours a keyword, a string, a comment and a number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "highlight.h"
#include "theme.h"

#define FIX_CHECK_AT
#include "fixture-util.h"

/* Highlights the lines of `code` (separated by '\n') and checks that the first occurrence of
 * `needle` on line `line` (0-based) has role `role` on all its bytes. */
static void expect(const char *tag, const char *code, int line, const char *needle, int role)
{
	const struct hl_lang *l = hl_find(tag);
	CHECK(l != NULL, "no language for fence tag '%s'", tag);
	if (!l)
		return;
	struct hl_state st = HL_STATE_INIT;
	const char *p = code;
	for (int i = 0;; i++) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		uint8_t roles[1024];
		hl_line(l, &st, p, len, roles);
		if (i == line) {
			char *copy = strndup(p, len);
			char *at = strstr(copy, needle);
			CHECK(at != NULL, "[%s] '%s' not on line %d", tag, needle, line);
			if (at) {
				size_t off = (size_t)(at - copy);
				for (size_t k = off; k < off + strlen(needle); k++) {
					if (roles[k] != role) {
						CHECK(0, "[%s] line %d '%s': byte %zu ('%c') is %s, want %s", tag, line, copy, k,
						      copy[k], theme_role_name(roles[k]), theme_role_name(role));
						break;
					}
				}
			}
			free(copy);
			return;
		}
		if (!e)
			break;
		p = e + 1;
	}
	CHECK(0, "[%s] no line %d", tag, line);
}

/* One line each: a keyword, a string, a comment, a number. */
static void basic(const char *tag, const char *line, const char *kw, const char *str, const char *comment,
		  const char *num)
{
	if (kw)
		expect(tag, line, 0, kw, ROLE_CODE_KEYWORD);
	if (str)
		expect(tag, line, 0, str, ROLE_CODE_STRING);
	if (comment)
		expect(tag, line, 0, comment, ROLE_CODE_COMMENT);
	if (num)
		expect(tag, line, 0, num, ROLE_CODE_NUMBER);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	setenv("DSCODER_DATADIR", top ? top : TOP_SRCDIR, 1);
	setenv("XDG_CONFIG_HOME", "/nonexistent-dscoder-test", 1);

	CHECK(hl_errors() == NULL, "syntax files failed to load:\n%s", hl_errors() ? hl_errors() : "");

	basic("c", "static int x = 42; char *s = \"hi // no\"; // note", "static", "\"hi // no\"", "// note", "42");
	expect("c", "#include <stdio.h>", 0, "#include <stdio.h>", ROLE_CODE_PREPROC);
	expect("c", "int n = strlen(s);", 0, "int", ROLE_CODE_TYPE);
	expect("c", "int n = strlen(s);", 0, "strlen", ROLE_CODE_FUNCTION);
	expect("h", "if (p == NULL) return 0x1F;", 0, "0x1F", ROLE_CODE_NUMBER);
	expect("h", "if (p == NULL) return 0x1F;", 0, "NULL", ROLE_CODE_CONSTANT);
	/* a block comment over three lines, with code after it */
	const char *block = "int a; /* starts\n still comment if while\n ends */ return 1;";
	expect("c", block, 0, "/* starts", ROLE_CODE_COMMENT);
	expect("c", block, 1, " still comment if while", ROLE_CODE_COMMENT);
	expect("c", block, 2, " ends */", ROLE_CODE_COMMENT);
	expect("c", block, 2, "return", ROLE_CODE_KEYWORD);
	expect("c", block, 2, "1", ROLE_CODE_NUMBER);
	expect("c", block, 0, "int", ROLE_CODE_TYPE);
	/* a keyword inside a string or an identifier is not a keyword */
	expect("c", "char *s = \"if else\"; int iffy;", 0, "if else", ROLE_CODE_STRING);
	expect("c", "char *s = \"if else\"; int iffy;", 0, "iffy", ROLE_CODE_BG);

	basic("cpp", "constexpr auto s = \"x\"; // c 3.5f", "constexpr", "\"x\"", "// c 3.5f", NULL);
	basic("c++", "return 3.5f;", "return", NULL, NULL, "3.5f");
	expect("hpp", "class Foo : public Bar {", 0, "Foo", ROLE_CODE_TYPE);
	expect("cc", "namespace x {}", 0, "namespace", ROLE_CODE_KEYWORD);

	basic("python", "def f(x): return 'a#b' + 1e3  # done", "def", "'a#b'", "# done", "1e3");
	expect("py", "x = None", 0, "None", ROLE_CODE_CONSTANT);
	expect("py", "@dataclass", 0, "@dataclass", ROLE_CODE_PREPROC);
	const char *doc = "s = \"\"\"doc\nif not a keyword\n\"\"\" if 1 else 2";
	expect("python", doc, 1, "if not a keyword", ROLE_CODE_STRING);
	expect("python", doc, 2, "\"\"\"", ROLE_CODE_STRING);
	expect("python", doc, 2, "if", ROLE_CODE_KEYWORD);

	basic("js", "const s = `t ${x}`; // c 0xff", "const", "`t ${x}`", "// c 0xff", NULL);
	basic("javascript", "let n = 10n;", "let", NULL, NULL, "10n");
	basic("typescript", "interface A { s: 'q' } /* c */ 7", "interface", "'q'", "/* c */", "7");
	basic("ts", "type T = number;", "type", NULL, NULL, NULL);
	expect("tsx", "type T = number;", 0, "number", ROLE_CODE_TYPE);
	expect("jsx", "const $el = foo(1);", 0, "foo", ROLE_CODE_FUNCTION);

	basic("rust", "fn main() { let s = \"x\"; } // 1_000u32", "fn", "\"x\"", "// 1_000u32", NULL);
	basic("rs", "let n: u32 = 1_000u32;", "let", NULL, NULL, "1_000u32");
	expect("rust", "println!(\"{}\", x);", 0, "println!", ROLE_CODE_PREPROC);
	expect("rust", "#[derive(Debug)]", 0, "#[derive(Debug)]", ROLE_CODE_PREPROC);
	expect("rust", "fn f<'a>(x: &'a str) -> char { 'c' }", 0, "'c'", ROLE_CODE_STRING);
	expect("rust", "fn f<'a>(x: &'a str) -> char { 'c' }", 0, "'a", ROLE_CODE_ATTRIBUTE);

	basic("go", "func main() { s := \"x\" } // 0.5", "func", "\"x\"", "// 0.5", NULL);
	basic("golang", "var x = 0.5", "var", NULL, NULL, "0.5");
	expect("go", "s := `raw\nstill raw if\n` + x", 1, "still raw if", ROLE_CODE_STRING);

	basic("java", "public static final String S = \"x\"; // 12L", "public", "\"x\"", "// 12L", NULL);
	basic("java", "long n = 12L;", NULL, NULL, NULL, "12L");
	expect("java", "@Override", 0, "@Override", ROLE_CODE_PREPROC);

	basic("sh", "if [ \"$x\" = 'y' ]; then exit 3; fi # done", "if", "'y'", "# done", "3");
	expect("bash", "echo ${HOME}/a#b", 0, "${HOME}", ROLE_CODE_ATTRIBUTE);
	expect("bash", "echo ${HOME}/a#b", 0, "/a#b", ROLE_CODE_BG);
	expect("shell", "for f in *.c; do done", 0, "for", ROLE_CODE_KEYWORD);
	expect("zsh", "x=\"a b\"", 0, "\"a b\"", ROLE_CODE_STRING);
	expect("console", "$ make check", 0, "$", ROLE_CODE_PREPROC);

	basic("json", "{\"key\": \"value\", \"n\": -1.5e3, \"t\": true}", NULL, "\"value\"", NULL, "-1.5e3");
	expect("json", "{\"key\": \"value\", \"n\": -1.5e3, \"t\": true}", 0, "\"key\"", ROLE_CODE_ATTRIBUTE);
	expect("json", "{\"key\": \"value\", \"n\": -1.5e3, \"t\": true}", 0, "true", ROLE_CODE_CONSTANT);
	expect("jsonc", "// comment", 0, "// comment", ROLE_CODE_COMMENT);

	basic("yaml", "name: \"x\" # note", NULL, "\"x\"", "# note", NULL);
	expect("yaml", "  retries: 3", 0, "retries", ROLE_CODE_ATTRIBUTE);
	expect("yml", "  retries: 3", 0, "3", ROLE_CODE_NUMBER);
	expect("yml", "- enabled: True", 0, "enabled", ROLE_CODE_ATTRIBUTE);
	expect("yml", "- enabled: True", 0, "True", ROLE_CODE_CONSTANT);
	expect("yaml", "url: http://x/#frag", 0, "http://x/#frag", ROLE_CODE_BG);

	basic("sql", "SELECT name FROM t WHERE id = 42 AND s = 'it''s'; -- c", "SELECT", "'it''s'", "-- c", "42");
	expect("sql", "select count(*) from t", 0, "select", ROLE_CODE_KEYWORD);
	expect("sql", "select count(*) from t", 0, "count", ROLE_CODE_FUNCTION);
	expect("postgresql", "CREATE TABLE t (id integer);", 0, "integer", ROLE_CODE_TYPE);
	const char *sqlc = "/* multi\nline */ SELECT 1";
	expect("sql", sqlc, 1, "line */", ROLE_CODE_COMMENT);
	expect("sql", sqlc, 1, "SELECT", ROLE_CODE_KEYWORD);

	const char *diff = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@ main\n-old\n+new\n same";
	expect("diff", diff, 0, "--- a/x.c", ROLE_CODE_PREPROC);
	expect("diff", diff, 1, "+++ b/x.c", ROLE_CODE_PREPROC);
	expect("patch", diff, 2, "@@ -1,2 +1,2 @@", ROLE_CODE_PREPROC);
	expect("diff", diff, 3, "-old", ROLE_CODE_DIFF_DEL);
	expect("diff", diff, 4, "+new", ROLE_CODE_DIFF_ADD);
	expect("diff", diff, 5, " same", ROLE_CODE_BG);

	/* the languages beyond the required twelve */
	basic("toml", "name = \"x\" # c 1", NULL, "\"x\"", "# c 1", NULL);
	expect("toml", "[package]", 0, "[package]", ROLE_CODE_PREPROC);
	expect("toml", "name = \"x\" # c 1", 0, "name", ROLE_CODE_ATTRIBUTE);
	expect("toml", "version = 12", 0, "12", ROLE_CODE_NUMBER);
	expect("make", "all: main.o", 0, "all", ROLE_CODE_FUNCTION);
	expect("makefile", "CC := gcc # c", 0, "CC", ROLE_CODE_ATTRIBUTE);
	expect("makefile", "CC := gcc # c", 0, "# c", ROLE_CODE_COMMENT);
	expect("makefile", "    $(CC) -o $@ $^", 0, "$(CC)", ROLE_CODE_ATTRIBUTE);
	expect("make", "ifeq ($(X),1)", 0, "ifeq", ROLE_CODE_KEYWORD);
	basic("dockerfile", "FROM ubuntu:22.04 AS build", "FROM", NULL, NULL, NULL);
	expect("dockerfile", "RUN echo \"hi\"", 0, "\"hi\"", ROLE_CODE_STRING);
	expect("dockerfile", "# comment", 0, "# comment", ROLE_CODE_COMMENT);
	expect("html", "<div class=\"x\">", 0, "<div", ROLE_CODE_KEYWORD);
	expect("html", "<div class=\"x\">", 0, "class", ROLE_CODE_ATTRIBUTE);
	expect("xml", "<div class=\"x\">", 0, "\"x\"", ROLE_CODE_STRING);
	expect("html", "<!-- a\nb -->", 1, "b -->", ROLE_CODE_COMMENT);
	expect("css", ".btn { color: #fff; margin: 0 4px; }", 0, ".btn", ROLE_CODE_TYPE);
	expect("css", ".btn { color: #fff; margin: 0 4px; }", 0, "color", ROLE_CODE_ATTRIBUTE);
	expect("css", ".btn { color: #fff; margin: 0 4px; }", 0, "4px", ROLE_CODE_NUMBER);
	expect("scss", "/* c */ @media", 0, "/* c */", ROLE_CODE_COMMENT);
	basic("ruby", "def foo(x) puts \"hi\" end # c 42", "def", "\"hi\"", "# c 42", NULL);
	expect("rb", "x = :sym + @v + 42", 0, ":sym", ROLE_CODE_CONSTANT);
	expect("rb", "x = :sym + @v + 42", 0, "@v", ROLE_CODE_ATTRIBUTE);
	expect("rb", "x = :sym + @v + 42", 0, "42", ROLE_CODE_NUMBER);
	basic("lua", "local x = \"s\" -- c 3", "local", "\"s\"", "-- c 3", NULL);
	expect("lua", "--[[ a\nb ]] return 3", 1, "b ]]", ROLE_CODE_COMMENT);
	expect("lua", "--[[ a\nb ]] return 3", 1, "return", ROLE_CODE_KEYWORD);
	basic("csharp", "public string s = \"x\"; // c", "public", "\"x\"", "// c", NULL);
	expect("cs", "decimal d = 1.5m;", 0, "1.5m", ROLE_CODE_NUMBER);
	expect("c#", "decimal d = 1.5m;", 0, "decimal", ROLE_CODE_TYPE);
	basic("kotlin", "fun main() { val s = \"x\" } // c", "fun", "\"x\"", "// c", NULL);
	expect("kt", "val n = 10L", 0, "10L", ROLE_CODE_NUMBER);
	basic("php", "<?php echo 'a'; // c", "echo", "'a'", "// c", NULL);
	expect("php", "$x = 5;", 0, "$x", ROLE_CODE_ATTRIBUTE);
	expect("php", "$x = 5;", 0, "5", ROLE_CODE_NUMBER);

	/* fence tags: case, info strings, unknown languages */
	CHECK(hl_find("Python") == hl_find("py") && hl_find("py") != NULL, "fence tags are case-insensitive");
	CHECK(hl_find("python title=\"x.py\"") == hl_find("py"), "only the first word of the info string counts");
	CHECK(hl_find("{.rust}") == hl_find("rust"), "{.rust} works");
	CHECK(hl_find("brainfuck") == NULL && hl_find("") == NULL && hl_find(NULL) == NULL, "unknown tag gives NULL");
	CHECK(strcmp(hl_lang_name(hl_find("ts")), "JavaScript") == 0, "ts is JavaScript: %s", hl_lang_name(hl_find("ts")));
	{
		uint8_t roles[8];
		struct hl_state st = HL_STATE_INIT;
		hl_line(NULL, &st, "if (x) 1", 8, roles);
		int plain = 1;
		for (int i = 0; i < 8; i++)
			plain &= roles[i] == ROLE_CODE_BG;
		CHECK(plain, "unknown language is plain code");
	}
	/* invalid UTF-8 inside a line is safe */
	{
		const struct hl_lang *c = hl_find("c");
		uint8_t roles[32];
		struct hl_state st = HL_STATE_INIT;
		const char *bad = "int \xFF\xFE x = \"\xC0\" 1;";
		hl_line(c, &st, bad, strlen(bad), roles);
		CHECK(roles[0] == ROLE_CODE_TYPE, "invalid UTF-8 line: int is still a type");
	}

	/* errors in syntax files name the file and line */
	char err[512];
	struct hl_lang *l = hl_lang_parse("name = x\nmatch keyword = (unclosed\n", 36, "bad.syntax", err, sizeof err);
	CHECK(!l && strstr(err, "bad.syntax:2:") && strstr(err, "regular expression"), "bad regex message: %s", err);
	l = hl_lang_parse("name = x\nregion comment = /\\*\nmatch number = 1\n", 45, "r.syntax", err, sizeof err);
	CHECK(!l && strstr(err, "r.syntax:3:") && strstr(err, "no 'end"), "region without end: %s", err);
	l = hl_lang_parse("name = x\nmatch colour = x\n", 25, "c.syntax", err, sizeof err);
	CHECK(!l && strstr(err, "c.syntax:2:") && strstr(err, "unknown role 'colour'"), "unknown role: %s", err);
	l = hl_lang_parse("fence = q\n", 10, "n.syntax", err, sizeof err);
	CHECK(!l && strstr(err, "n.syntax") && strstr(err, "name"), "missing name: %s", err);
	l = hl_lang_parse("name = Q\nkeyword = foo bar\n", 27, "q.syntax", err, sizeof err);
	CHECK(l != NULL, "a minimal language parses: %s", err);
	if (l) {
		uint8_t roles[16];
		struct hl_state st = HL_STATE_INIT;
		hl_line(l, &st, "foo bar baz", 11, roles);
		CHECK(roles[0] == ROLE_CODE_KEYWORD && roles[4] == ROLE_CODE_KEYWORD && roles[8] == ROLE_CODE_BG,
		      "word list of a parsed language");
		hl_lang_free(l);
	}
	/* a catastrophically backtracking rule gives up on the line instead of hanging */
	{
		const char *bad = "name = slow\nmatch string = (a+)+$\nkeyword = if\n";
		l = hl_lang_parse(bad, strlen(bad), "slow.syntax", err, sizeof err);
		CHECK(l != NULL, "slow.syntax parses: %s", err);
		if (l) {
			char line[64];
			memset(line, 'a', 40);
			memcpy(line + 40, "! if", 5);
			uint8_t roles[64];
			struct hl_state st = HL_STATE_INIT;
			hl_line(l, &st, line, 44, roles);
			CHECK(roles[42] == ROLE_CODE_KEYWORD, "the rest of the line is still highlighted");
			hl_lang_free(l);
		}
	}
	/* CRLF line ends in a syntax file */
	{
		const char *crlf = "name = Q\r\nmatch number = \\d+\r\nkeyword = foo\r\n";
		l = hl_lang_parse(crlf, strlen(crlf), "crlf.syntax", err, sizeof err);
		CHECK(l != NULL, "CRLF syntax file: %s", err);
		if (l) {
			uint8_t roles[8];
			struct hl_state st = HL_STATE_INIT;
			hl_line(l, &st, "foo 12", 6, roles);
			CHECK(roles[0] == ROLE_CODE_KEYWORD && roles[4] == ROLE_CODE_NUMBER, "CRLF: rules still match");
			hl_lang_free(l);
		}
	}
	hl_reset();
	CHECK(hl_find("go") != NULL, "languages load again after hl_reset");
	hl_reset();

	if (fix_failures) {
		printf("%d check(s) failed\n", fix_failures);
		return 1;
	}
	printf("all highlight checks passed\n");
	return 0;
}

/* test-theme.c: shipped themes load, errors name file:line, colour mapping, NO_COLOR and 8/16/256-colour terminals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "theme.h"

#define FIX_CHECK_AT
#include "fixture-util.h"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static char tmpdir[256];

static char *write_tmp(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_files(const char *top)
{
	char err[512];
	const char *names[] = { "default", "light", "gruvbox", "solarized", "monochrome" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		err[0] = '\0';
		struct theme *t = theme_load(names[i], err, sizeof err);
		CHECK(t != NULL, "theme %s does not load: %s", names[i], err);
		if (t) {
			CHECK(strcmp(t->name, names[i]) == 0, "name %s", t->name);
			/* every theme says something about every role (no silent defaults) */
			for (int r = 0; r < ROLE_COUNT; r++)
				CHECK(t->set[r], "theme %s does not set role %s", names[i], theme_role_name(r));
		}
		theme_free(t);
	}

	/* The built-in theme is the text of themes/default.theme. */
	char path[512];
	snprintf(path, sizeof path, "%s/themes/default.theme", top);
	char *file = read_file(path);
	CHECK(file && strcmp(file, theme_builtin_text()) == 0, "built-in theme differs from %s", path);

	/* Inheritance of colours: code roles share the code block background. */
	struct theme *t = theme_load("default", err, sizeof err);
	if (t) {
		CHECK(t->style[ROLE_CODE_KEYWORD].bg.kind == THEME_COLOR_RGB &&
		      t->style[ROLE_CODE_KEYWORD].bg.value == t->style[ROLE_CODE_BG].bg.value,
		      "code_keyword inherits the code_bg background");
		CHECK(t->style16[ROLE_CODE_KEYWORD].bg.kind == THEME_COLOR_INDEX && t->style16[ROLE_CODE_KEYWORD].bg.value == 0,
		      "@16 background inherited too");
		CHECK(t->style[ROLE_HEADING].attrs & A_BOLD, "heading is bold");
	}
	theme_free(t);

	/* Errors: one sentence naming file and line. */
	char *p = write_tmp("broken.theme", "# broken\ntext = default\ncode_kw = red\n");
	t = theme_load(p, err, sizeof err);
	char want[600];
	snprintf(want, sizeof want, "%s:3: unknown role 'code_kw'", p);
	CHECK(!t && strstr(err, want), "unknown role message: '%s'", err);
	p = write_tmp("broken2.theme", "text = bold\n\nheading = bleu\n");
	t = theme_load(p, err, sizeof err);
	snprintf(want, sizeof want, "%s:3: 'bleu' for role 'heading'", p);
	CHECK(!t && strstr(err, want), "bad colour message: '%s'", err);
	p = write_tmp("broken3.theme", "text red\n");
	t = theme_load(p, err, sizeof err);
	CHECK(!t && strstr(err, ":1: expected 'role = style'"), "missing '=': '%s'", err);
	t = theme_load("no-such-theme", err, sizeof err);
	CHECK(!t && strstr(err, "theme 'no-such-theme' not found"), "missing theme: '%s'", err);
	t = theme_load("/nonexistent/x.theme", err, sizeof err);
	CHECK(!t && strstr(err, "/nonexistent/x.theme: "), "missing file: '%s'", err);

	/* inherit = NAME, then overrides; an inheritance loop is caught */
	p = write_tmp("mine.theme", "inherit = gruvbox\nheading = underline #00ff00\n");
	t = theme_load(p, err, sizeof err);
	CHECK(t != NULL, "inherit: %s", err);
	if (t) {
		CHECK(t->style[ROLE_HEADING].fg.value == 0x00ff00 && t->style[ROLE_HEADING].attrs == A_UNDERLINE, "override");
		CHECK(t->style[ROLE_CODE_KEYWORD].fg.value == 0xfb4934, "inherited from gruvbox");
	}
	theme_free(t);
	char loop[512];
	snprintf(loop, sizeof loop, "inherit = %s/loop.theme\n", tmpdir);
	p = write_tmp("loop.theme", loop);
	t = theme_load(p, err, sizeof err);
	CHECK(!t && strstr(err, "levels deep"), "inheritance loop: '%s'", err);

	/* CRLF line ends */
	const char *crlf = "text = red\r\nheading = bold\r\n";
	t = theme_parse(crlf, strlen(crlf), "crlf.theme", err, sizeof err);
	CHECK(t && t->style[ROLE_TEXT].fg.value == 1 && t->style[ROLE_HEADING].attrs == A_BOLD, "CRLF theme: %s", t ? "" : err);
	theme_free(t);

	/* Colour syntax */
	const char *two = "text = fg:#abc bg:color17 bright-red\nheading = brightblue on\n";
	t = theme_parse(two, strlen(two), "x.theme", err, sizeof err);
	CHECK(!t && strstr(err, "x.theme:2: 'on'"), "'on' is not a colour: %s", err);
	t = theme_parse("text = fg:#abc bg:color17 reverse\n", 34, "x.theme", err, sizeof err);
	CHECK(t && t->style[ROLE_TEXT].fg.value == 0xaabbcc && t->style[ROLE_TEXT].bg.value == 17 &&
	      t->style[ROLE_TEXT].attrs == A_REVERSE, "colour forms: %s", t ? "" : err);
	theme_free(t);
}

static void test_mapping(void)
{
	struct theme_color red = { THEME_COLOR_RGB, 0xff0000 };
	bool bold;
	CHECK(theme_map_color(red, 256, &bold) == 196 && !bold, "#ff0000 -> 196 in 256 colours");
	CHECK(theme_map_color(red, 16, &bold) == 9 && !bold, "#ff0000 -> 9 in 16 colours");
	CHECK(theme_map_color(red, 8, &bold) == 1 && bold, "#ff0000 -> 1 + bold in 8 colours");
	struct theme_color grey = { THEME_COLOR_RGB, 0x262626 };
	CHECK(theme_map_color(grey, 256, NULL) == 235, "#262626 -> 235, got %d", theme_map_color(grey, 256, NULL));
	CHECK(theme_map_color(grey, 16, NULL) == 0, "#262626 -> black in 16");
	struct theme_color idx = { THEME_COLOR_INDEX, 12 };
	CHECK(theme_map_color(idx, 256, NULL) == 12 && theme_map_color(idx, 16, NULL) == 12, "index 12 kept");
	CHECK(theme_map_color(idx, 8, &bold) == 4 && bold, "index 12 -> 4 + bold in 8");
	struct theme_color cube = { THEME_COLOR_INDEX, 46 }; /* #00ff00 */
	CHECK(theme_map_color(cube, 16, NULL) == 10, "index 46 -> 10 in 16, got %d", theme_map_color(cube, 16, NULL));
	struct theme_color def = { THEME_COLOR_DEFAULT, 0 };
	CHECK(theme_map_color(def, 256, NULL) == -1, "default -> -1");
	CHECK(theme_map_color(red, 0, NULL) == -1, "no colours -> -1");
	CHECK(theme_role_from_name("code_keyword") == ROLE_CODE_KEYWORD && theme_role_from_name("nope") == -1, "role names");
	for (int r = 0; r < ROLE_COUNT; r++)
		CHECK(theme_role_name(r) && theme_role_from_name(theme_role_name(r)) == r, "role %d name round trip", r);
}

/* A real ncurses screen on /dev/null for a given terminal type; NULL when terminfo lacks it. */
static SCREEN *screen(const char *term)
{
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *s = newterm(term, out, in);
	if (s)
		set_term(s);
	return s;
}

static void test_terminals(void)
{
	char err[256];
	struct theme *t = theme_load("default", err, sizeof err);
	SCREEN *s = screen("xterm-256color");
	if (!s) {
		printf("note: no terminfo entry for xterm-256color; terminal checks skipped\n");
		theme_free(t);
		return;
	}
	unsetenv("NO_COLOR");
	int n = theme_apply(t);
	CHECK(n == 256, "xterm-256color uses 256 colours, got %d", n);
	CHECK(theme_attr(ROLE_CODE_KEYWORD) & A_COLOR, "a colour pair for code_keyword");
	CHECK(theme_pair(ROLE_CODE_KEYWORD) == ROLE_CODE_KEYWORD + 1, "pair number role + 1");
	CHECK(theme_attr(ROLE_CODE_KEYWORD) & A_BOLD, "keyword bold");
	short fg, bg;
	pair_content(theme_pair(ROLE_CODE_KEYWORD), &fg, &bg);
	CHECK(fg == 210 && bg == 235, "code_keyword pair: fg %d bg %d (want 210 on 235)", fg, bg);

	setenv("NO_COLOR", "1", 1);
	n = theme_apply(t);
	CHECK(n == 0, "NO_COLOR: no colours, got %d", n);
	for (int r = 0; r < ROLE_COUNT; r++)
		CHECK((theme_attr(r) & A_COLOR) == 0 && theme_pair(r) == 0, "NO_COLOR: role %s has a colour", theme_role_name(r));
	CHECK(theme_attr(ROLE_STATUS_BAR) & A_REVERSE, "NO_COLOR: the status bar is reverse video");
	CHECK(theme_attr(ROLE_HEADING) & A_BOLD, "NO_COLOR: headings bold");
	{
		struct theme *g = theme_load("gruvbox", err, sizeof err);
		theme_apply(g);
		CHECK((theme_attr(ROLE_CODE_HEADER) & (A_REVERSE | A_BOLD)) == (A_REVERSE | A_BOLD),
		      "NO_COLOR: a bold code header still gets reverse video");
		theme_free(g);
	}
	setenv("NO_COLOR", "", 1);
	CHECK(theme_apply(t) == 256, "an empty NO_COLOR does not count");
	unsetenv("NO_COLOR");
	endwin();
	delscreen(s);

	s = screen("xterm");
	if (s) {
		n = theme_apply(t);
		CHECK(n == 8, "xterm has 8 colours, got %d", n);
		pair_content(theme_pair(ROLE_CODE_KEYWORD), &fg, &bg);
		CHECK(fg == 1 && bg == 0 && (theme_attr(ROLE_CODE_KEYWORD) & A_BOLD), "8 colours: keyword bright red -> red + bold (%d on %d)", fg, bg);
		endwin();
		delscreen(s);
	}
	s = screen("xterm-mono");
	if (s) {
		CHECK(theme_apply(t) == 0, "xterm-mono has no colours");
		CHECK((theme_attr(ROLE_TEXT) & A_COLOR) == 0, "mono: no pair");
		endwin();
		delscreen(s);
	}
	theme_free(t);
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	if (!top)
		top = TOP_SRCDIR;
	setenv("DSCODER_DATADIR", top, 1);
	setenv("XDG_CONFIG_HOME", "/nonexistent-dscoder-test", 1);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test-theme-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_files(top);
	test_mapping();
	test_terminals();

	/* Without any theme files, "default" is the built-in one. */
	setenv("DSCODER_DATADIR", "/nonexistent-dscoder-data", 1);
	char err[256];
	struct theme *t = theme_load("default", err, sizeof err);
	CHECK(t && strcmp(t->name, "default") == 0, "built-in default without files: %s", t ? "" : err);
	theme_free(t);
	t = theme_load(NULL, err, sizeof err);
	CHECK(t != NULL, "NULL name is the default");
	theme_free(t);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", tmpdir);
	if (fix_failures) {
		printf("%d check(s) failed\n", fix_failures);
		return 1;
	}
	printf("all theme checks passed\n");
	return 0;
}

# ui/render.mk: text rendering (UTF-8 widths and wrapping, markdown layout, syntax highlighting,
# themes, drawing text into ncurses windows) as libdsrender.a, with its data files and tests.
# dscoder-tui links: libdsrender.a libdscommon.a $(NCURSES_LIBS) $(PCRE2_LIBS) $(UTF8PROC_LIBS)
noinst_LIBRARIES += libdsrender.a
libdsrender_a_SOURCES = src/utf8.c src/utf8.h \
	ui/markdown.c ui/markdown.h ui/md-inline.c ui/md-table.c ui/md-internal.h \
	ui/highlight.c ui/highlight.h \
	ui/theme.c ui/theme.h ui/datafile.c ui/datafile.h \
	ui/textdraw.c ui/textdraw.h
nodist_libdsrender_a_SOURCES = ui/theme-default.inc
libdsrender_a_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS) $(UTF8PROC_CFLAGS) $(PCRE2_CFLAGS)
DSRENDER_LIBS = libdsrender.a libdscommon.a $(NCURSES_LIBS) $(PCRE2_LIBS) $(UTF8PROC_LIBS)

# The built-in theme is themes/default.theme itself, compiled in as a C string.
ui/libdsrender_a-theme.$(OBJEXT): ui/theme-default.inc
CLEANFILES += ui/theme-default.inc
ui/theme-default.inc: $(top_srcdir)/themes/default.theme
	$(AM_V_GEN)$(MKDIR_P) ui && \
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $(top_srcdir)/themes/default.theme > $@-t && \
	mv $@-t $@

# Language definitions for code blocks (format: syntax/README, dscoder-tui(5)).
syntaxdir = $(pkgdatadir)/syntax
dist_syntax_DATA = syntax/README syntax/c.syntax syntax/cpp.syntax syntax/python.syntax \
	syntax/javascript.syntax syntax/rust.syntax syntax/go.syntax syntax/java.syntax \
	syntax/sh.syntax syntax/json.syntax syntax/yaml.syntax syntax/sql.syntax syntax/diff.syntax \
	syntax/toml.syntax syntax/make.syntax syntax/dockerfile.syntax syntax/html.syntax syntax/css.syntax \
	syntax/ruby.syntax syntax/lua.syntax syntax/csharp.syntax syntax/kotlin.syntax syntax/php.syntax



RENDER_TEST_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS) $(UTF8PROC_CFLAGS) $(PCRE2_CFLAGS) \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"'
render_tests = tests/test-utf8 tests/test-markdown tests/test-highlight tests/test-theme tests/test-textdraw
check_PROGRAMS += $(render_tests)
TESTS += $(render_tests)
tests_test_utf8_SOURCES = tests/test-utf8.c tests/fixture-util.c tests/fixture-util.h
tests_test_utf8_CFLAGS = $(RENDER_TEST_CFLAGS)
tests_test_utf8_LDADD = $(DSRENDER_LIBS)
tests_test_markdown_SOURCES = tests/test-markdown.c tests/fixture-util.c tests/fixture-util.h
tests_test_markdown_CFLAGS = $(RENDER_TEST_CFLAGS)
tests_test_markdown_LDADD = $(DSRENDER_LIBS)
tests_test_highlight_SOURCES = tests/test-highlight.c tests/fixture-util.c tests/fixture-util.h
tests_test_highlight_CFLAGS = $(RENDER_TEST_CFLAGS)
tests_test_highlight_LDADD = $(DSRENDER_LIBS)
tests_test_theme_SOURCES = tests/test-theme.c tests/fixture-util.c tests/fixture-util.h
tests_test_theme_CFLAGS = $(RENDER_TEST_CFLAGS)
tests_test_theme_LDADD = $(DSRENDER_LIBS)
tests_test_textdraw_SOURCES = tests/test-textdraw.c tests/fixture-util.c tests/fixture-util.h
tests_test_textdraw_CFLAGS = $(RENDER_TEST_CFLAGS)
tests_test_textdraw_LDADD = $(DSRENDER_LIBS)

# render-bench: md_layout time per streamed token for messages of 20 to 10,000 lines (run by hand).
noinst_PROGRAMS += tools/render-bench
tools_render_bench_SOURCES = tools/render-bench.c
tools_render_bench_CFLAGS = $(RENDER_TEST_CFLAGS)
tools_render_bench_LDADD = $(DSRENDER_LIBS)

# render-demo: shows a markdown file in a theme, as the transcript would (run by hand:
# DSCODER_DATADIR=$srcdir tools/render-demo gruvbox README.md).
noinst_PROGRAMS += tools/render-demo
tools_render_demo_SOURCES = tools/render-demo.c
tools_render_demo_CFLAGS = $(RENDER_TEST_CFLAGS)
tools_render_demo_LDADD = $(DSRENDER_LIBS)

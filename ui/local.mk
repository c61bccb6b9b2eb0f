# ui/local.mk: the TUI front end (libui.a: app loop, layout, panes, editor, key table, engine
# client and session, clipboard), the dscoder-tui program, its man page and its tests.
noinst_LIBRARIES += libui.a
libui_a_SOURCES = ui/app.c ui/app.h ui/layout.c \
	ui/pane-transcript.c ui/transcript-find.c ui/pane-input.c ui/pane-sidebar.c ui/pane-status.c \
	ui/pane-system.c ui/pane-help.c ui/pane-prompt.c \
	ui/keys.c ui/keys.h ui/editor.c ui/editor.h \
	ui/engine-client.c ui/engine-client.h ui/engine-session.c ui/engine-session.h ui/clipboard.c
UI_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS) $(YAML_CFLAGS) $(UTF8PROC_CFLAGS) $(PCRE2_CFLAGS) \
	$(JANSSON_CFLAGS)
libui_a_CFLAGS = $(UI_CFLAGS)
UI_LIBS = libui.a libdsrender.a libdscommon.a $(NCURSES_LIBS) $(YAML_LIBS) $(UTF8PROC_LIBS) \
	$(PCRE2_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS) -lm

bin_PROGRAMS += dscoder-tui
dscoder_tui_SOURCES = src/tui-main.c
dscoder_tui_CFLAGS = $(UI_CFLAGS)
dscoder_tui_LDADD = $(UI_LIBS)

# Unit tests of the editor buffer, the key table and the engine session (no terminal needed; the
# session runs the real engine on a fixture model).
ui_unit_tests = tests/test-editor tests/test-keys tests/test-engine-session
check_PROGRAMS += $(ui_unit_tests)
TESTS += $(ui_unit_tests)
tests_test_editor_SOURCES = tests/test-editor.c
tests_test_editor_CFLAGS = $(UI_CFLAGS)
tests_test_editor_LDADD = libui.a libdsrender.a libdscommon.a $(UTF8PROC_LIBS)
tests_test_keys_SOURCES = tests/test-keys.c
tests_test_keys_CFLAGS = $(UI_CFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_test_keys_LDADD = libui.a libdscommon.a $(NCURSES_LIBS)
tests_test_engine_session_SOURCES = tests/test-engine-session.c
tests_test_engine_session_CFLAGS = $(UI_CFLAGS)
tests_test_engine_session_LDADD = libui.a libdscommon.a $(YAML_LIBS) $(UTF8PROC_LIBS) $(JANSSON_LIBS)

# End-to-end tests: the real TUI and the real engine on a fixture model inside tmux (skip without
# tmux or fixtures).
tui_e2e_tests = tests/tui-chat.sh tests/tui-stream.sh tests/tui-small.sh tests/tui-paste.sh \
	tests/tui-engine-kill.sh tests/tui-blocks.sh tests/tui-context.sh \
	tests/tui-list.sh tests/tui-modes.sh tests/tui-ranks.sh tests/tui-mouse.sh \
	tests/tui-find.sh tests/tui-theme.sh tests/tui-verbatim.sh tests/tui-meter.sh \
	tests/tui-no-model.sh tests/tui-remote.sh tests/tui-remote-serve.sh
TESTS += $(tui_e2e_tests)
dist_check_SCRIPTS += $(tui_e2e_tests)
EXTRA_DIST += tests/tui-lib.sh
dist_noinst_SCRIPTS += tests/tui-bench-render.sh

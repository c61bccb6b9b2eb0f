# tests/local.mk: shared test helpers; each area adds its own tests from its fragment.

ENGINE_TEST_LIBS = libengine.a libkernels.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS) -lm
ENGINE_TEST_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS)

check_PROGRAMS += tests/test-sampler tests/test-prompt tests/test-generate tests/f32-maxdiff
tests_test_sampler_SOURCES = tests/test-sampler.c tests/fixture-util.c tests/fixture-util.h
tests_test_sampler_LDADD = libengine.a libdscommon.a -lm
tests_test_prompt_SOURCES = tests/test-prompt.c tests/fixture-util.c tests/fixture-util.h
tests_test_prompt_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_test_prompt_LDADD = $(ENGINE_TEST_LIBS)
tests_test_generate_SOURCES = tests/test-generate.c tests/fixture-util.c tests/fixture-util.h
tests_test_generate_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_test_generate_LDADD = $(ENGINE_TEST_LIBS)
tests_f32_maxdiff_SOURCES = tests/f32-maxdiff.c tests/fixture-util.c tests/fixture-util.h
tests_f32_maxdiff_LDADD = libdscommon.a -lm
TESTS += tests/test-sampler tests/test-prompt tests/test-generate tests/engine-cli.sh tests/bench-cli.sh
dist_check_SCRIPTS += tests/engine-cli.sh tests/bench-cli.sh
# sourced by tests/*-cli.sh
EXTRA_DIST += tests/cli-lib.sh

# Saving, end to end in tmux (tests/tui-lib.sh): a file size limit reached, two TUIs on one conversation.
store_e2e_tests = tests/tui-save-limit.sh tests/tui-save-conflict.sh
TESTS += $(store_e2e_tests)
dist_check_SCRIPTS += $(store_e2e_tests)

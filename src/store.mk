# src/store.mk: files on disk: XDG paths, atomic writes, conversations, profiles, config (libyaml),
# the installed profiles and their tests.
libdscommon_a_SOURCES += src/paths.c src/paths.h src/atomicio.c src/atomicio.h \
	src/params.c src/params.h src/yamlutil.c src/yamlutil.h \
	src/conversation.c src/conversation.h src/conv-internal.h src/conv-file.c src/conv-literal.c \
	src/conv-list.c src/conv-markdown.c src/profile.c src/profile.h \
	src/config.c src/config.h

profilesdir = $(pkgdatadir)/profiles
dist_profiles_DATA = profiles/coder.yaml profiles/explain.yaml profiles/reviewer.yaml \
	profiles/tests.yaml profiles/chinese.yaml profiles/completion.yaml profiles/fim.yaml

# Storage tests: real files in a mktemp -d home (tests/store-test.h), never the real one.
STORE_TEST_LIBS = libdscommon.a $(YAML_LIBS) $(UTF8PROC_LIBS)
STORE_TEST_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(UTF8PROC_CFLAGS) \
	-DPROFILES_SRCDIR='"$(abs_top_srcdir)/profiles"'
store_tests = tests/test-atomicio tests/test-conversation tests/test-profile tests/test-config
check_PROGRAMS += $(store_tests)
TESTS += $(store_tests)
tests_test_atomicio_SOURCES = tests/test-atomicio.c tests/store-test.h
tests_test_atomicio_CFLAGS = $(STORE_TEST_CFLAGS)
tests_test_atomicio_LDADD = $(STORE_TEST_LIBS)
tests_test_conversation_SOURCES = tests/test-conversation.c tests/store-test.h
tests_test_conversation_CFLAGS = $(STORE_TEST_CFLAGS)
tests_test_conversation_LDADD = $(STORE_TEST_LIBS)
tests_test_profile_SOURCES = tests/test-profile.c tests/store-test.h
tests_test_profile_CFLAGS = $(STORE_TEST_CFLAGS)
tests_test_profile_LDADD = $(STORE_TEST_LIBS)
tests_test_config_SOURCES = tests/test-config.c tests/store-test.h
tests_test_config_CFLAGS = $(STORE_TEST_CFLAGS)
tests_test_config_LDADD = $(STORE_TEST_LIBS)

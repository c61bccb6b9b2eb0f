# engine/serve.mk: the pipe service of dscoder-engine (engine/serve.c), the protocol it shares with the
# TUI (src/protocol.c, in libdscommon.a) and their tests.
libdscommon_a_SOURCES += src/protocol.c src/protocol.h
libengine_a_SOURCES += engine/serve.c engine/serve.h

check_PROGRAMS += tests/test-protocol
tests_test_protocol_SOURCES = tests/test-protocol.c
tests_test_protocol_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_test_protocol_LDADD = libdscommon.a $(JANSSON_LIBS) $(PTHREAD_LIBS)
TESTS += tests/test-protocol

# engine/serve.mk: the pipe service of dscoder-engine (engine/serve.c), the protocol it shares with the
# TUI (src/protocol.c, in libdscommon.a) and their tests.
libdscommon_a_SOURCES += src/protocol.c src/protocol.h
libengine_a_SOURCES += engine/serve.c engine/serve.h

check_PROGRAMS += tests/test-protocol
tests_test_protocol_SOURCES = tests/test-protocol.c
tests_test_protocol_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_test_protocol_LDADD = libdscommon.a $(JANSSON_LIBS) $(PTHREAD_LIBS)
TESTS += tests/test-protocol

# End-to-end: the real dscoder-engine through real pipes on the fixture models (tests/serve_test.py).
SERVE_TESTS = tests/serve-stream.sh tests/serve-cancel.sh tests/serve-bad.sh tests/serve-cache.sh \
	tests/serve-exit.sh tests/serve-ranks.sh
dist_check_SCRIPTS += $(SERVE_TESTS)
TESTS += $(SERVE_TESTS)
EXTRA_DIST += tests/serve_test.py tests/serve_ttft.py

# The scheduler (engine/scheduler.h): continuous batching under the pipe service, --serve and --batch-file.
libengine_a_SOURCES += engine/sched.c engine/scheduler.h engine/answer.c engine/answer.h
check_PROGRAMS += tests/test-sched
tests_test_sched_SOURCES = tests/test-sched.c tests/fixture-util.c tests/fixture-util.h
tests_test_sched_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_test_sched_LDADD = $(ENGINE_TEST_LIBS)
TESTS += tests/test-sched
# The batch-shaped forward pass under it: several sequences in one call equal one at a time.
check_PROGRAMS += tests/test-batch
tests_test_batch_SOURCES = tests/test-batch.c tests/fixture-util.c tests/fixture-util.h
tests_test_batch_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_test_batch_LDADD = $(ENGINE_TEST_LIBS)
TESTS += tests/test-batch

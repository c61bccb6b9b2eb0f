# engine/remote.mk: dscoder-engine --remote URL, the pipe service answered by an OpenAI-compatible
# server through libcurl (engine/remote.c), and its end-to-end tests against --serve and a server
# that fails on purpose (tests/remote_test.py).
dscoder_engine_SOURCES += engine/remote.c engine/remote.h engine/cmd-remote.c
dscoder_engine_CFLAGS += $(CURL_CFLAGS)
dscoder_engine_LDADD += $(CURL_LIBS)

REMOTE_TESTS = tests/remote-serve.sh tests/remote-keys.sh tests/remote-faults.sh
dist_check_SCRIPTS += $(REMOTE_TESTS)
TESTS += $(REMOTE_TESTS)
EXTRA_DIST += tests/remote_test.py tests/fault_server.py tests/slow_proxy.py

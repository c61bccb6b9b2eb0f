# engine/http.mk: the verbs that drive the scheduler from outside: --serve (the OpenAI-compatible HTTP
# server on libmicrohttpd) and --batch-file, the verb table's new entries, and their tests.
libengine_a_SOURCES += engine/openai-api.h engine/openai-request.c engine/openai-response.c
dscoder_engine_SOURCES += engine/cmd-bench.c engine/cmd-quantize.c engine/cmd-sched.c engine/cmd-sched.h \
	engine/cmd-serve.c engine/cmd-batch-file.c engine/http-serve.c engine/http-serve.h engine/http-job.c \
	engine/http-job.h
dscoder_engine_CFLAGS += $(MHD_CFLAGS)
dscoder_engine_LDADD += $(MHD_LIBS)

# The API's JSON: requests, answers, chunks, errors, and a fuzz of the body parser.
check_PROGRAMS += tests/test-openai
tests_test_openai_SOURCES = tests/test-openai.c
tests_test_openai_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_test_openai_LDADD = $(ENGINE_TEST_LIBS)
TESTS += tests/test-openai

# --serve end to end on the demo model: curl, the OpenAI Node.js SDK, concurrency and load; --batch-file.
HTTP_TESTS = tests/serve-http.sh tests/serve-openai-sdk.sh tests/serve-load.sh tests/batch-file.sh
dist_check_SCRIPTS += $(HTTP_TESTS)
TESTS += $(HTTP_TESTS)
EXTRA_DIST += tests/http-lib.sh tests/openai_sdk_test.cjs tests/serve_load_test.py
# The SDK that tests/serve-openai-sdk.sh installs stays across make clean (it comes from the network);
# distclean removes it.
distclean-local: http-distclean
http-distclean:
	rm -rf tests/openai-sdk
.PHONY: http-distclean

# engine/http.mk: the verbs that drive the scheduler from outside: --serve (the OpenAI-compatible HTTP
# server on libmicrohttpd) and --batch-file, the verb table's new entries, and their tests.
dscoder_engine_SOURCES += engine/cmd-bench.c engine/cmd-quantize.c engine/cmd-sched.c engine/cmd-sched.h engine/cmd-serve.c \
	engine/cmd-batch-file.c engine/http-serve.c engine/http-serve.h engine/openai-api.h \
	engine/openai-request.c engine/openai-response.c
dscoder_engine_CFLAGS += $(MHD_CFLAGS)
dscoder_engine_LDADD += $(MHD_LIBS)

# engine/loader.mk: build fragment (included by Makefile.am): config.json and safetensors loading.
libengine_a_SOURCES += engine/config.c engine/safetensors.c engine/safetensors.h engine/model-load.c engine/map-read.c \
	engine/gguf.c engine/gguf.h engine/model-gguf.c

check_PROGRAMS += tests/test-loader
tests_test_loader_SOURCES = tests/test-loader.c tests/fixture-util.c tests/fixture-util.h
tests_test_loader_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_test_loader_LDADD = libengine.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) -lm
TESTS += tests/test-loader tests/bad-checkpoints.sh

check_PROGRAMS += tests/test-map-read
tests_test_map_read_SOURCES = tests/test-map-read.c tests/fixture-util.c tests/fixture-util.h
tests_test_map_read_LDADD = libengine.a libdscommon.a -lm
TESTS += tests/test-map-read
dist_check_SCRIPTS += tests/bad-checkpoints.sh
EXTRA_DIST += tests/make-bad-checkpoints.py

check_PROGRAMS += tests/test-safetensors-fuzz
tests_test_safetensors_fuzz_SOURCES = tests/test-safetensors-fuzz.c tests/fixture-util.c tests/fixture-util.h
tests_test_safetensors_fuzz_LDADD = libengine.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) -lm
TESTS += tests/test-safetensors-fuzz

libengine_a_SOURCES += engine/gguf-write.c engine/gguf-write.h
check_PROGRAMS += tests/test-gguf
tests_test_gguf_SOURCES = tests/test-gguf.c tests/fixture-util.c tests/fixture-util.h
tests_test_gguf_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_test_gguf_LDADD = $(ENGINE_TEST_LIBS)
TESTS += tests/test-gguf

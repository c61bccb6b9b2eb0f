# engine/tokenizer.mk: build fragment (included by Makefile.am): the byte-level BPE tokenizer
# (tokenizer.json, PCRE2 pre-tokenizer) and its test.
libengine_a_SOURCES += engine/tokenizer.c engine/tokenizer-int.h engine/tokenizer-load.c \
	engine/tokenizer-map.c engine/tokenizer-regex.c engine/tokenizer-stream.c engine/tokenizer-gguf.c

check_PROGRAMS += tests/test-tokenizer
TESTS += tests/test-tokenizer
tests_test_tokenizer_SOURCES = tests/test-tokenizer.c tests/fixture-util.c tests/fixture-util.h
tests_test_tokenizer_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS)
tests_test_tokenizer_LDADD = libengine.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) \
	$(PTHREAD_LIBS) -lm

check_PROGRAMS += tests/test-tokenizer-regex
TESTS += tests/test-tokenizer-regex
tests_test_tokenizer_regex_SOURCES = tests/test-tokenizer-regex.c
tests_test_tokenizer_regex_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS)
tests_test_tokenizer_regex_LDADD = libengine.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) \
	$(PTHREAD_LIBS) -lm

# engine/forward.mk: build fragment (included by Makefile.am): the forward pass, RoPE, MoE routing,
# and their tests (the kernels themselves live in kernels/local.mk).
libengine_a_SOURCES += engine/forward.c engine/rope.c engine/rope.h engine/moe.c engine/moe.h

FORWARD_TEST_LIBS = libengine.a libkernels.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) \
	$(PTHREAD_LIBS) -lm

check_PROGRAMS += tests/test-forward tests/test-kernels tests/test-fwd-route tests/test-fwd-rope \
	tests/test-fwd-synth tests/test-int8-decode tests/test-cache-bf16
tests_test_cache_bf16_SOURCES = tests/test-cache-bf16.c tests/fixture-util.c tests/fixture-util.h
tests_test_cache_bf16_LDADD = $(FORWARD_TEST_LIBS)
tests_test_forward_SOURCES = tests/test-forward.c tests/fixture-util.c tests/fixture-util.h
tests_test_forward_LDADD = $(FORWARD_TEST_LIBS)
tests_test_kernels_SOURCES = tests/test-kernels.c tests/fixture-util.c tests/fixture-util.h tests/packed-check.h
tests_test_kernels_LDADD = $(FORWARD_TEST_LIBS)
tests_test_fwd_route_SOURCES = tests/test-fwd-route.c tests/fixture-util.c tests/fixture-util.h
tests_test_fwd_route_LDADD = $(FORWARD_TEST_LIBS)
tests_test_fwd_rope_SOURCES = tests/test-fwd-rope.c tests/fixture-util.c tests/fixture-util.h
tests_test_fwd_rope_LDADD = $(FORWARD_TEST_LIBS)
tests_test_fwd_synth_SOURCES = tests/test-fwd-synth.c tests/fixture-util.c tests/fixture-util.h
tests_test_fwd_synth_LDADD = $(FORWARD_TEST_LIBS)
tests_test_int8_decode_SOURCES = tests/test-int8-decode.c tests/fixture-util.c tests/fixture-util.h
tests_test_int8_decode_LDADD = $(FORWARD_TEST_LIBS)
TESTS += tests/test-forward tests/test-kernels tests/test-fwd-route tests/test-fwd-rope tests/test-fwd-synth tests/test-int8-decode \
	tests/test-cache-bf16 \
	tests/forward-portable.sh \
	tests/forward-avx2.sh
dist_check_SCRIPTS += tests/forward-portable.sh tests/forward-avx2.sh

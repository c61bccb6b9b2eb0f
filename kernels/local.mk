# kernels/local.mk: the compute kernels behind the backend interface (libkernels.a).
noinst_LIBRARIES += libkernels.a
libkernels_a_SOURCES = kernels/backend.h \
	kernels/cpu/cpu-backend.c kernels/cpu/cpu-backend.h kernels/cpu/cpu-ffn.c kernels/cpu/cpu-mla.c \
	kernels/cpu/cpu-mla-causal.c \
	kernels/cpu/cpu-mla-kernels.c kernels/cpu/cpu-mla-kernels-avx2.c kernels/cpu/cpu-mla-kernels.h \
	kernels/cpu/cpu-kernels.c kernels/cpu/cpu-kernels-avx2.c kernels/cpu/cpu-kernels-avx512.c \
	kernels/cpu/cpu-kernels-int8.c kernels/cpu/cpu-kernels-avx2-int8.c kernels/cpu/cpu-kernels-bf16.c \
	kernels/cpu/cpu-kernels.h kernels/cpu/cpu-quant-simd.h kernels/cpu/cpu-gemm-simd.h \
	kernels/cpu/cpu-pool.c kernels/cpu/cpu-pool.h kernels/cpu/cpu-rows4.c kernels/cpu/cpu-rows4.h \
	kernels/cpu/cpu-uk4.c kernels/cpu/cpu-uk4.h \
	kernels/cpu/cpu-scratch.c kernels/cpu/cpu-scratch.h \
	kernels/cpu/membw.c kernels/cpu/membw.h \
	engine/op-profile.c engine/op-profile.h
libkernels_a_CFLAGS = $(AM_CFLAGS)

# Every kernel set against exact math on each block-quantized type (tests/test-quant-kernels.c).
check_PROGRAMS += tests/test-quant-kernels
tests_test_quant_kernels_SOURCES = tests/test-quant-kernels.c tests/fixture-util.c tests/fixture-util.h
tests_test_quant_kernels_LDADD = libkernels.a libdscommon.a $(PTHREAD_LIBS) -lm
TESTS += tests/test-quant-kernels

# The opt-in int8 set (cpu-kernels-int8.c) against exact math within its activation rounding.
check_PROGRAMS += tests/test-int8-kernels
tests_test_int8_kernels_SOURCES = tests/test-int8-kernels.c tests/fixture-util.c tests/fixture-util.h
tests_test_int8_kernels_LDADD = libkernels.a libdscommon.a $(PTHREAD_LIBS) -lm
TESTS += tests/test-int8-kernels
# ... and through the engine: --kernels avx512-int8 on the tiny quantized fixtures (uses tests/f32-compare).
TESTS += tests/int8-logits.sh
dist_check_SCRIPTS += tests/int8-logits.sh

# The opt-in BF16 set (cpu-kernels-bf16.c) against sums in double within its activation rounding,
# and through the engine: --kernels avx512-bf16 on the tiny BF16 fixture's golden logits.
check_PROGRAMS += tests/test-bf16-kernels
tests_test_bf16_kernels_SOURCES = tests/test-bf16-kernels.c tests/fixture-util.c tests/fixture-util.h
tests_test_bf16_kernels_LDADD = libkernels.a libdscommon.a $(PTHREAD_LIBS) -lm
TESTS += tests/test-bf16-kernels tests/bf16-logits.sh
dist_check_SCRIPTS += tests/bf16-logits.sh

# The --bench --profile timers (engine/op-profile.c).
check_PROGRAMS += tests/test-op-profile
tests_test_op_profile_SOURCES = tests/test-op-profile.c tests/fixture-util.c tests/fixture-util.h
tests_test_op_profile_LDADD = libkernels.a libdscommon.a $(PTHREAD_LIBS) -lm
TESTS += tests/test-op-profile

# quant-bench: the matrix kernels alone, per type, kernel set and thread count (run by hand).
noinst_PROGRAMS += tools/quant-bench
tools_quant_bench_SOURCES = tools/quant-bench.c
tools_quant_bench_LDADD = libkernels.a libdscommon.a $(PTHREAD_LIBS) -lm

# Decode attention's kernels on every set against sums in double (tests/test-mla-kernels.c).
check_PROGRAMS += tests/test-mla-kernels
tests_test_mla_kernels_SOURCES = tests/test-mla-kernels.c tests/fixture-util.c tests/fixture-util.h
tests_test_mla_kernels_LDADD = libkernels.a libdscommon.a $(PTHREAD_LIBS) -lm
TESTS += tests/test-mla-kernels

# mla-bench: decode attention alone, per kernel set and thread count (run by hand).
noinst_PROGRAMS += tools/mla-bench
tools_mla_bench_SOURCES = tools/mla-bench.c
tools_mla_bench_LDADD = libkernels.a libdscommon.a $(PTHREAD_LIBS) -lm

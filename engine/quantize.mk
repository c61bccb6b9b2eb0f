# engine/quantize.mk: build fragment (included by Makefile.am): making GGUF files. The quantizers are
# in libdscommon (kernels/quantize.c, beside dtype.c: src/local.mk); the verbs --quantize and
# --dequantize are engine/quantize-checkpoint.c and engine/cmd-dequantize.c.
libengine_a_SOURCES += engine/tokenizer-gguf-write.c engine/tokenizer-gguf-write.h

check_PROGRAMS += tests/test-quantize tests/f32-compare tests/quant-error
tests_test_quantize_SOURCES = tests/test-quantize.c tests/fixture-util.c tests/fixture-util.h
tests_test_quantize_LDADD = libdscommon.a -lm
tests_f32_compare_SOURCES = tests/f32-compare.c tests/fixture-util.c tests/fixture-util.h
tests_f32_compare_LDADD = libdscommon.a -lm
tests_quant_error_SOURCES = tests/quant-error.c tests/fixture-util.c tests/fixture-util.h
tests_quant_error_LDADD = libdscommon.a -lm
TESTS += tests/test-quantize tests/gguf-cli.sh tests/quantize-cli.sh tests/logits-batch-cli.sh
dist_check_SCRIPTS += tests/gguf-cli.sh tests/quantize-cli.sh tests/logits-batch-cli.sh

# src/local.mk: the code both programs share (libdscommon.a) and the two main()s.
noinst_LIBRARIES += libdscommon.a
libdscommon_a_SOURCES = src/xalloc.c src/xalloc.h src/clock.c src/clock.h src/utf8-encode.c \
	kernels/dtype.c kernels/dtype.h kernels/quantize.c kernels/quantize.h
# -ffp-contract=off: kernels/dtype.c decodes quantized weights bit for bit as the formats define
libdscommon_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(YAML_CFLAGS) $(UTF8PROC_CFLAGS) -ffp-contract=off

bin_PROGRAMS += dscoder-engine
dscoder_engine_SOURCES = src/engine-main.c src/engine-cli.h engine/bench-cpu.c
# the verbs, one file each (the table is in src/engine-main.c); helpers they share
dscoder_engine_SOURCES += engine/cmd-pipe.c engine/cmd-tokenize.c engine/cmd-detokenize.c engine/cmd-logits.c \
	engine/cmd-greedy.c engine/cmd-generate.c engine/cmd-util.c engine/cmd-util.h
# GGUF files: --quantize (a checkpoint into one) and --dequantize (one tensor out of one)
dscoder_engine_SOURCES += engine/quantize-checkpoint.c engine/cmd-dequantize.c
dscoder_engine_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
dscoder_engine_LDADD = libengine.a libkernels.a libdscommon.a \
	$(PCRE2_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS) -lm

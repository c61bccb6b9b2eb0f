# tools/local.mk: build fragment (included by Makefile.am).
# gen-checkpoint.py: random-weight DeepSeek-V2 checkpoints for benchmarks (run by hand, never installed).
dist_noinst_SCRIPTS += tools/gen-checkpoint.py
# cancel-latency.py: how long a cancel takes to land while the pipe service reads a long prompt (run by hand).
dist_noinst_SCRIPTS += tools/cancel-latency.py

# fwd-bench: prefill/decode timing of the forward pass against measured memory bandwidth.
noinst_PROGRAMS += tools/fwd-bench
tools_fwd_bench_SOURCES = tools/fwd-bench.c
tools_fwd_bench_LDADD = libengine.a libkernels.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) \
	$(PTHREAD_LIBS) -lm

# kernels/cuda-nccl.mk: the NCCL side of the multi-GPU engine (issue 6): communicators, the all-reduce
# hook of the forward pass, the token broadcast; included from engine/parallel.mk, built with CUDA only.
EXTRA_DIST += kernels/cuda/nccl-comm.c kernels/cuda/nccl-comm.h tests/test-nccl.c

if HAVE_CUDA
libkernels_a_SOURCES += kernels/cuda/nccl-comm.c kernels/cuda/nccl-comm.h
NCCL_LIBS = -lnccl

check_PROGRAMS += tests/test-nccl
tests_test_nccl_SOURCES = tests/test-nccl.c tests/fixture-util.c tests/fixture-util.h
tests_test_nccl_CPPFLAGS = $(AM_CPPFLAGS) $(CUDA_CFLAGS)
tests_test_nccl_LDADD = libengine.a libkernels.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) \
	$(NCCL_LIBS) $(PTHREAD_LIBS) -lm
TESTS += tests/test-nccl
endif

# the multi-GPU ranks (engine side, plain C over the CUDA backend and nccl-comm.h) and the engine's link
EXTRA_DIST += engine/gpu-ranks.c engine/gpu-ranks.h
if HAVE_CUDA
libengine_a_SOURCES += engine/gpu-ranks.c engine/gpu-ranks.h
dscoder_engine_LDADD += $(NCCL_LIBS)
endif

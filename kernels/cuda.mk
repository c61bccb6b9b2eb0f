# kernels/cuda.mk: the CUDA backend (issue 5): one operation per kernels/cuda/*.cu, compiled by nvcc
# for each --with-cuda-arch, plus the backend in C on the CUDA runtime and cuBLAS; all of it goes
# into libkernels.a when configure found CUDA, so the engine links it without further flags.
CUDA_KERNELS = kernels/cuda/cuda-convert.cu kernels/cuda/cuda-embed.cu kernels/cuda/cuda-rmsnorm.cu \
	kernels/cuda/cuda-rope.cu kernels/cuda/cuda-mla-absorb.cu kernels/cuda/cuda-mla-attention.cu \
	kernels/cuda/cuda-moe-gate.cu kernels/cuda/cuda-moe-group.cu kernels/cuda/cuda-moe-experts.cu \
	kernels/cuda/cuda-silu-mul.cu kernels/cuda/cuda-add.cu kernels/cuda/cuda-argmax.cu \
	kernels/cuda/cuda-synthetic.cu kernels/cuda/cuda-cache-store.cu kernels/cuda/cuda-gemv.cu \
	kernels/cuda/cuda-moe-gather.cu kernels/cuda/cuda-dequant.cu
CUDA_HDRS = kernels/cuda/cuda-check.h kernels/cuda/cuda-device.cuh kernels/cuda/cuda-convert.h \
	kernels/cuda/cuda-embed.h kernels/cuda/cuda-rmsnorm.h kernels/cuda/cuda-rope.h \
	kernels/cuda/cuda-mla-absorb.h kernels/cuda/cuda-mla-attention.h kernels/cuda/cuda-moe-gate.h \
	kernels/cuda/cuda-moe-group.h kernels/cuda/cuda-moe-experts.h kernels/cuda/cuda-silu-mul.h \
	kernels/cuda/cuda-add.h kernels/cuda/cuda-argmax.h kernels/cuda/cuda-synthetic.h \
	kernels/cuda/cuda-cache-store.h kernels/cuda/cuda-gemv.h kernels/cuda/cuda-moe-gather.h \
	kernels/cuda/cuda-quant.cuh kernels/cuda/cuda-dequant.h
CUDA_BACKEND_SRC = kernels/cuda/cuda-backend.c kernels/cuda/cuda-backend.h kernels/cuda/cuda-int.h \
	kernels/cuda/cuda-weights.c kernels/cuda/cuda-attention.c kernels/cuda/cuda-moe.c \
	kernels/cuda/cuda-model.c kernels/cuda/cuda-graph.c
# CUDA_CFLAGS is empty without CUDA; defined outside the conditional so the CPU files keep AM_CPPFLAGS.
libkernels_a_CPPFLAGS = $(AM_CPPFLAGS) $(CUDA_CFLAGS)
# The GPU benchmark verb (--bench --backend cuda, --synthetic) and the harness default: the golden
# tests compare F32 CPU logits, so they run on the CPU unless a test asks for a GPU itself.
dscoder_engine_SOURCES += engine/bench-gpu.c
AM_TESTS_ENVIRONMENT += DSCODER_BACKEND=cpu; export DSCODER_BACKEND;
# Choosing a backend by name works in every build (a build without CUDA names what is missing).
libkernels_a_SOURCES += kernels/cuda/cuda-select.c
# The backend choice and the next-token calls of the forward pass, on the CPU, in every build.
check_PROGRAMS += tests/test-forward-next
tests_test_forward_next_SOURCES = tests/test-forward-next.c tests/fixture-util.c tests/fixture-util.h
tests_test_forward_next_LDADD = libengine.a libkernels.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) \
	$(PTHREAD_LIBS) -lm
TESTS += tests/test-forward-next
TESTS += tests/backend-cli.sh
dist_check_SCRIPTS += tests/backend-cli.sh
EXTRA_DIST += $(CUDA_KERNELS) $(CUDA_HDRS) tests/gpu/device-check.sh tests/gpu/prepare.sh \
	tests/gpu/gguf-check.sh

if HAVE_CUDA
CUDA_OBJECTS = $(CUDA_KERNELS:.cu=.o)
libkernels_a_SOURCES += $(CUDA_BACKEND_SRC) $(CUDA_HDRS)
libkernels_a_LIBADD = $(CUDA_OBJECTS)
CLEANFILES += $(CUDA_OBJECTS)

NVCC_V = $(NVCC_V_@AM_V@)
NVCC_V_ = $(NVCC_V_@AM_DEFAULT_V@)
NVCC_V_0 = @echo "  NVCC    " $@;

# nvcc compiles the kernels as C++; the launchers they export are extern "C".
$(CUDA_OBJECTS): $(CUDA_HDRS:%=$(srcdir)/%) $(srcdir)/kernels/backend.h $(srcdir)/engine/model.h
kernels/cuda/%.o: kernels/cuda/%.cu
	@$(MKDIR_P) $(@D)
	$(NVCC_V)$(NVCC) $(NVCCFLAGS) $(CUDA_GENCODE) -std=c++14 -Xcompiler -fPIC,-Wall \
		-I$(top_builddir) -I$(srcdir)/kernels -I$(srcdir)/engine -I$(srcdir)/src -c -o $@ $<

check_PROGRAMS += tests/test-cuda-kernels
tests_test_cuda_kernels_SOURCES = tests/test-cuda-kernels.c tests/fixture-util.c tests/fixture-util.h
tests_test_cuda_kernels_CPPFLAGS = $(AM_CPPFLAGS) $(CUDA_CFLAGS)
tests_test_cuda_kernels_LDADD = libengine.a libkernels.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) \
	$(PTHREAD_LIBS) -lm
TESTS += tests/test-cuda-kernels

check_PROGRAMS += tests/test-cuda-synthetic
tests_test_cuda_synthetic_SOURCES = tests/test-cuda-synthetic.c tests/fixture-util.c tests/fixture-util.h
tests_test_cuda_synthetic_LDADD = $(tests_test_cuda_kernels_LDADD)
TESTS += tests/test-cuda-synthetic

check_PROGRAMS += tests/test-cuda-forward
tests_test_cuda_forward_SOURCES = tests/test-cuda-forward.c tests/fixture-util.c tests/fixture-util.h
tests_test_cuda_forward_LDADD = $(tests_test_cuda_kernels_LDADD)
TESTS += tests/test-cuda-forward
endif

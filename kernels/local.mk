# kernels/local.mk: the compute kernels behind the backend interface (libkernels.a).
noinst_LIBRARIES += libkernels.a
libkernels_a_SOURCES = kernels/backend.h \
	kernels/cpu/cpu-backend.c kernels/cpu/cpu-backend.h kernels/cpu/cpu-ffn.c kernels/cpu/cpu-mla.c \
	kernels/cpu/cpu-kernels.c kernels/cpu/cpu-kernels-avx2.c kernels/cpu/cpu-kernels.h \
	kernels/cpu/cpu-pool.c kernels/cpu/cpu-pool.h kernels/cpu/membw.c kernels/cpu/membw.h
libkernels_a_CFLAGS = $(AM_CFLAGS)

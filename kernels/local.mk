# kernels/local.mk: the compute kernels behind the backend interface (libkernels.a).
noinst_LIBRARIES += libkernels.a
libkernels_a_SOURCES =
libkernels_a_CFLAGS = $(AM_CFLAGS)

/* cuda-select.c: choosing a backend by name ("cpu", "cuda", "auto"), compiled in every build (it needs no
 * CUDA header): one without CUDA says so in a sentence instead of failing to link. */
#include "build-config.h"

#include <string.h>

#include "backend.h"
#include "xalloc.h"
#ifdef HAVE_CUDA
#include "cuda/cuda-backend.h"
#endif

const struct ds_backend *ds_backend_find(const char *name, char *err, size_t errlen)
{
	if (name == NULL || strcmp(name, "cpu") == 0)
		return &ds_backend_cpu;
	if (strcmp(name, "auto") == 0) {
#ifdef HAVE_CUDA
		if (ds_cuda_device_count() > 0)
			return &ds_backend_cuda;
#endif
		return &ds_backend_cpu;
	}
	if (strcmp(name, "cuda") == 0) {
#ifdef HAVE_CUDA
		if (ds_cuda_device_count() > 0)
			return &ds_backend_cuda;
		errorf(err, errlen, "--backend cuda: no CUDA GPU is visible on this machine (no device or no driver); "
		       "use --backend cpu");
#else
		errorf(err, errlen, "--backend cuda: this build of dscoder-engine has no CUDA backend (configure found no "
		       "nvcc; rebuild with ./configure --with-cuda)");
#endif
		return NULL;
	}
	errorf(err, errlen, "--backend %s: the backends are cpu, cuda and auto", name);
	return NULL;
}

/* cuda-check.h: CUDA_CHECK, CUBLAS_CHECK, NCCL_CHECK and CUDA_LAUNCH_CHECK: every runtime, cuBLAS
 * and NCCL call of the CUDA backend goes through one, which names the call, file and line. */
#ifndef DS_CUDA_CHECK_H
#define DS_CUDA_CHECK_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Prints "dscoder-engine: CUDA error: <what> (<call>) at file:line" and exits with status 1: a GPU
 * that fails mid-pass (out of memory, a lost device, a bad launch) leaves nothing to recover, and
 * the pipe's reader sees a clean exit with the reason on stderr. */
void cuda_fail(const char *what, const char *call, const char *file, int line) __attribute__((noreturn));
/* The message of a cuBLAS status code. */
const char *cuda_cublas_status(int status);

#ifdef __cplusplus
}
#endif

#define CUDA_CHECK(call) do { cudaError_t ds_e_ = (call); \
	if (ds_e_ != cudaSuccess) cuda_fail(cudaGetErrorString(ds_e_), #call, __FILE__, __LINE__); } while (0)
#define CUBLAS_CHECK(call) do { int ds_s_ = (int)(call); \
	if (ds_s_ != 0) cuda_fail(cuda_cublas_status(ds_s_), #call, __FILE__, __LINE__); } while (0)
/* ncclSuccess is 0; ncclGetErrorString needs nccl.h, which only the multi-GPU code includes. */
#define NCCL_CHECK(call) do { int ds_n_ = (int)(call); \
	if (ds_n_ != 0) cuda_fail("NCCL call failed", #call, __FILE__, __LINE__); } while (0)
/* After a kernel launch: a bad configuration shows here, at the launch, not at a later sync. */
#define CUDA_LAUNCH_CHECK(name) do { cudaError_t ds_e_ = cudaGetLastError(); \
	if (ds_e_ != cudaSuccess) cuda_fail(cudaGetErrorString(ds_e_), name, __FILE__, __LINE__); } while (0)

#endif

/* cuda-backend.h: the CUDA backend as the rest of the engine sees it (plain C, no CUDA types): the
 * struct ds_backend table, device discovery, options, weight upload and the --synthetic models.
 * Only compiled when configure found CUDA (HAVE_CUDA). */
#ifndef DS_CUDA_BACKEND_H
#define DS_CUDA_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "model.h"

extern const struct ds_backend ds_backend_cuda;

/* GPUs the CUDA runtime sees; 0 when there is none or no usable driver (never an error). */
int ds_cuda_device_count(void);

struct ds_cuda_device_info {
	char name[256];
	double mem_total_gb, mem_free_gb;
	double peak_bw_gbs;          /* theoretical memory bandwidth from the clock and bus width; 0 unknown */
	int cc_major, cc_minor, sm_count;
};
/* Fills info for device dev; -1 with a sentence in err when it does not exist. */
int ds_cuda_device_info(int dev, struct ds_cuda_device_info *info, char *err, size_t errlen);

/* Memory bandwidth of device dev measured now (device-to-device copies of 1 GiB, bytes read plus
 * written per second), in GB/s; 0 when it cannot be measured. */
double ds_cuda_measure_bandwidth(int dev);

/* Defaults for a create whose ds_backend_params leave device at 0 and f32 false: for callers that
 * make contexts themselves (tests/test-nccl.c); the forward pass sets the params. */
struct ds_cuda_options {
	int device;
	bool f32;
};
void ds_cuda_set_options(const struct ds_cuda_options *o);

/* Uploads every weight of m to the device of ctx (converted to BF16, or F32 with f32), reporting
 * bytes done through progress (may be NULL). Weights not uploaded here are uploaded when an
 * operation first meets them. Returns -1 with a sentence in err when the GPU memory is short. */
int ds_cuda_upload_model(void *ctx, const struct ds_model *m, ds_progress_fn progress, void *arg, char *err,
			 size_t errlen);

/* buf (from .alloc) = host, n floats: for tests and for feeding inputs. */
void ds_cuda_write(void *ctx, float *buf, const float *host, size_t n);

/* The MoE router on the device: ids and weights of n tokens from the router logits in buf (n,
 * n_routed); the next .moe call of ctx uses them when its args->ids is NULL. */
void ds_cuda_route(void *ctx, const float *router_logits, int n);
/* The index of the largest of vocab logits in buf (device), the lowest on ties: only the id is read
 * back. */
int ds_cuda_argmax(void *ctx, const float *logits, int vocab);
/* Temperature sampling of vocab logits in buf with the uniform number u (see cuda_sample). */
int ds_cuda_sample(void *ctx, const float *logits, int vocab, float temperature, float u);
/* GPU memory the context holds (weights, cache, scratch), in bytes. */
size_t ds_cuda_bytes(const void *ctx);
/* Waits until ctx's GPU has done everything issued so far (for timing: --bench --profile). */
void ds_cuda_sync(void *ctx);

/* The --synthetic models: fills m with cfg (ds_plan_synthetic_config gives the released ones) and
 * BF16 tensors in the checkpoint layout whose data are host addresses reserved but never readable,
 * so that only ds_cuda_synthetic_upload (the backend's load, for a dir "synthetic:NAME") gives them
 * values, on the GPU. ds_model_free releases it. -1 with a sentence in err when the address space
 * cannot be reserved. */
int ds_cuda_synthetic_model(const struct ds_config *cfg, const char *name, struct ds_model *m, char *err,
			    size_t errlen);
/* Random BF16 (or F32) weights for every tensor of a synthetic m, written on the device of ctx. */
int ds_cuda_synthetic_upload(void *ctx, const struct ds_model *m, char *err, size_t errlen);

#endif

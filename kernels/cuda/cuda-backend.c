/* cuda-backend.c: the CUDA backend of struct ds_backend: buffers in GPU memory, one stream, cuBLAS
 * for the products (BF16 inputs, FP32 accumulation), the project's kernels for the rest. Every
 * operation is asynchronous on the stream; only .read (and the argmax) wait for it. */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda-add.h"
#include "cuda-argmax.h"
#include "cuda-convert.h"
#include "cuda-embed.h"
#include "cuda-gemv.h"
#include "cuda-int.h"
#include "cuda-moe-gate.h"
#include "cuda-rmsnorm.h"
#include "cuda-rope.h"
#include "xalloc.h"

#define STAGE_BYTES (64u << 20)
/* n * n_splits of one attention call stays under this (see cuda-attention.c). */
#define ATT_ROWS 256
#define BLAS_WORKSPACE (32u << 20)
/* products of at most this many tokens use cuda_gemv instead of cuBLAS */
#define GEMV_MAX_TOKENS 8

static struct ds_cuda_options default_options;

void ds_cuda_set_options(const struct ds_cuda_options *o)
{
	default_options = *o;
}

void cuda_fail(const char *what, const char *call, const char *file, int line)
{
	fflush(stdout);
	fprintf(stderr, "dscoder-engine: CUDA error: %s (%s at %s:%d)\n", what, call, file, line);
	exit(1);
}

const char *cuda_cublas_status(int s)
{
	switch (s) {
	case CUBLAS_STATUS_NOT_INITIALIZED: return "cuBLAS not initialized";
	case CUBLAS_STATUS_ALLOC_FAILED: return "cuBLAS could not allocate GPU memory";
	case CUBLAS_STATUS_INVALID_VALUE: return "cuBLAS: invalid value";
	case CUBLAS_STATUS_ARCH_MISMATCH: return "cuBLAS: the GPU lacks a feature this call needs";
	case CUBLAS_STATUS_MAPPING_ERROR: return "cuBLAS: memory mapping error";
	case CUBLAS_STATUS_EXECUTION_FAILED: return "cuBLAS: the kernel failed to execute";
	case CUBLAS_STATUS_INTERNAL_ERROR: return "cuBLAS internal error";
	case CUBLAS_STATUS_NOT_SUPPORTED: return "cuBLAS: operation not supported";
	default: return "cuBLAS error";
	}
}

int ds_cuda_device_count(void)
{
	int n = 0;
	if (cudaGetDeviceCount(&n) != cudaSuccess) {
		cudaGetLastError();
		return 0;
	}
	return n;
}

int ds_cuda_device_info(int dev, struct ds_cuda_device_info *info, char *err, size_t errlen)
{
	int n = ds_cuda_device_count();
	struct cudaDeviceProp p;
	memset(info, 0, sizeof *info);
	if (dev < 0 || dev >= n || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
		errorf(err, errlen, "--device %d: this machine has %d CUDA GPU%s", dev, n, n == 1 ? "" : "s");
		return -1;
	}
	snprintf(info->name, sizeof info->name, "%s", p.name);
	info->cc_major = p.major;
	info->cc_minor = p.minor;
	info->sm_count = p.multiProcessorCount;
	info->mem_total_gb = (double)p.totalGlobalMem / 1e9;
	int clock_khz = 0, bus_bits = 0;
	/* memoryClockRate left cudaDeviceProp in CUDA 13; the attributes exist in every version */
	cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev);
	cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev);
	cudaGetLastError();
	info->peak_bw_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;   /* double data rate */
	size_t fr = 0, tot = 0;
	if (cudaSetDevice(dev) == cudaSuccess && cudaMemGetInfo(&fr, &tot) == cudaSuccess)
		info->mem_free_gb = (double)fr / 1e9;
	cudaGetLastError();
	return 0;
}

double ds_cuda_measure_bandwidth(int dev)
{
	const size_t bytes = (size_t)1 << 30;
	void *a = NULL, *b = NULL;
	cudaEvent_t e0, e1;
	float ms = 0;
	double gbs = 0;
	if (cudaSetDevice(dev) != cudaSuccess || cudaMalloc(&a, bytes) != cudaSuccess ||
	    cudaMalloc(&b, bytes) != cudaSuccess) {
		cudaGetLastError();
		cudaFree(a);
		return 0;
	}
	CUDA_CHECK(cudaEventCreate(&e0));
	CUDA_CHECK(cudaEventCreate(&e1));
	CUDA_CHECK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));   /* warm-up */
	CUDA_CHECK(cudaEventRecord(e0, 0));
	for (int i = 0; i < 5; i++)
		CUDA_CHECK(cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice, 0));
	CUDA_CHECK(cudaEventRecord(e1, 0));
	CUDA_CHECK(cudaEventSynchronize(e1));
	CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
	if (ms > 0)
		gbs = 5.0 * 2.0 * (double)bytes / (ms * 1e-3) / 1e9;   /* each copy reads and writes */
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	cudaFree(a);
	cudaFree(b);
	return gbs;
}

void cuda_enter(struct cuda_ctx *c)
{
	int cur = -1;
	if (cudaGetDevice(&cur) != cudaSuccess || cur != c->device)
		CUDA_CHECK(cudaSetDevice(c->device));
}

static void cuda_destroy(void *ctx)
{
	struct cuda_ctx *c = ctx;
	if (c == NULL)
		return;
	cudaSetDevice(c->device);
	if (c->st != NULL)
		cudaStreamSynchronize(c->st);
	cuda_graph_free(c);
	cuda_weights_free(c);
	free(c->moe_off_host);
	void *bufs[] = { c->step_dev, c->blas_ws, c->moe_xg, c->moe_hb, c->moe_u, c->stage_dev, c->xb, c->ffn_g, c->ffn_u, c->q_lat, c->o_lat, c->att_part, c->ids_dev,
			 c->moe_ids, c->moe_w, c->moe_offset, c->moe_active, c->moe_tok, c->moe_slot, c->moe_h,
			 c->moe_yr, c->argmax_dev, c->inv_freq_dev };
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		if (bufs[i] != NULL)
			cudaFree(bufs[i]);
	if (c->stage_host != NULL)
		cudaFreeHost(c->stage_host);
	if (c->step_host != NULL)
		cudaFreeHost(c->step_host);
	if (c->blas != NULL)
		cublasDestroy(c->blas);
	if (c->st != NULL)
		cudaStreamDestroy(c->st);
	free(c);
}

/* Scratch allocation at create time; false (and a sentence) when the GPU memory is short. */
static bool scratch(struct cuda_ctx *c, void **p, size_t bytes, char *err, size_t errlen)
{
	if (cudaMalloc(p, bytes ? bytes : 16) != cudaSuccess) {
		cudaGetLastError();
		*p = NULL;
		errorf(err, errlen, "GPU %d has not enough memory for %.1f MiB of scratch buffers", c->device,
		       bytes / 1048576.0);
		return false;
	}
	c->buffer_bytes += bytes;
	return true;
}

static void *cuda_create(const struct ds_backend_params *p, char *err, size_t errlen)
{
	const struct ds_config *cfg = p->cfg;
	int ndev = ds_cuda_device_count();
#ifdef DS_BACKEND_GPU_OPS
	int device = p->device != 0 ? p->device : default_options.device;
	bool f32 = p->f32 || default_options.f32;
#else
	int device = default_options.device;
	bool f32 = default_options.f32;
#endif
	if (ndev == 0) {
		errorf(err, errlen, "no CUDA GPU is visible (no device or no driver): use --backend cpu");
		return NULL;
	}
	if (device < 0 || device >= ndev) {
		errorf(err, errlen, "--device %d: this machine has %d CUDA GPU%s (0 to %d)", device, ndev,
		       ndev == 1 ? "" : "s", ndev - 1);
		return NULL;
	}
	int lat = cfg->kv_lora_rank + cfg->qk_rope_head_dim;
	if (cfg->kv_lora_rank > 512 || lat > 640) {
		errorf(err, errlen, "config.json: kv_lora_rank %d + qk_rope_head_dim %d is beyond what the CUDA "
		       "attention kernel holds (512 and 640): use --backend cpu", cfg->kv_lora_rank,
		       cfg->qk_rope_head_dim);
		return NULL;
	}
	if (cfg->n_routed_experts >= 1024) {
		errorf(err, errlen, "config.json: n_routed_experts %d is more than the CUDA router handles (1023): "
		       "use --backend cpu", cfg->n_routed_experts);
		return NULL;
	}
	struct cuda_ctx *c = xcalloc(1, sizeof *c);
	c->moe_off_host = xcalloc((size_t)cfg->n_routed_experts + 1, sizeof *c->moe_off_host);
	c->device = device;
	c->f32 = f32;
	c->cfg = *cfg;
	c->n_ctx = p->n_ctx;
	c->max_batch = p->max_batch > 0 ? p->max_batch : 1;
	CUDA_CHECK(cudaSetDevice(c->device));
	CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, c->device));
	CUDA_CHECK(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking));
	CUBLAS_CHECK(cublasCreate(&c->blas));
	CUBLAS_CHECK(cublasSetStream(c->blas, c->st));
	if (c->f32)
		CUBLAS_CHECK(cublasSetMathMode(c->blas, CUBLAS_PEDANTIC_MATH));   /* no TF32 in exact mode */

	size_t mb = (size_t)c->max_batch, hd = (size_t)cfg->hidden_size, nh = (size_t)cfg->num_attention_heads;
	size_t k = cfg->num_experts_per_tok > 0 ? (size_t)cfg->num_experts_per_tok : 1;
	size_t ne = (size_t)cfg->n_routed_experts, kr = (size_t)cfg->kv_lora_rank;
	int w = cfg->intermediate_size;
	if (cfg->n_shared_experts * cfg->moe_intermediate_size > w)
		w = cfg->n_shared_experts * cfg->moe_intermediate_size;
	if (cfg->moe_intermediate_size > w)
		w = cfg->moe_intermediate_size;
	c->ffn_width = w;
	/* the widest input of any product: hidden, q_lora_rank, kv_lora_rank, heads * v, the FFN widths */
	size_t cols = hd;
	size_t cand[] = { (size_t)cfg->q_lora_rank, kr, nh * (size_t)cfg->v_head_dim, (size_t)w };
	for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
		cols = cand[i] > cols ? cand[i] : cols;
	c->xb_elems = mb * cols;
	c->att_rows = c->max_batch > ATT_ROWS ? c->max_batch : ATT_ROWS;
	size_t pairs = mb * k;
	bool ok = scratch(c, &c->stage_dev, STAGE_BYTES, err, errlen) &&
		  scratch(c, &c->xb, c->xb_elems * 2, err, errlen) &&
		  scratch(c, (void **)&c->ffn_g, mb * (size_t)w * 4, err, errlen) &&
		  scratch(c, (void **)&c->ffn_u, mb * (size_t)w * 4, err, errlen) &&
		  scratch(c, (void **)&c->q_lat, mb * nh * (size_t)lat * 4, err, errlen) &&
		  scratch(c, (void **)&c->o_lat, mb * nh * kr * 4, err, errlen) &&
		  scratch(c, (void **)&c->att_part, (size_t)c->att_rows * nh * (kr + 2) * 4, err, errlen) &&
		  scratch(c, (void **)&c->ids_dev, mb * sizeof(int), err, errlen) &&
		  scratch(c, (void **)&c->moe_ids, pairs * sizeof(int), err, errlen) &&
		  scratch(c, (void **)&c->moe_w, pairs * sizeof(float), err, errlen) &&
		  scratch(c, (void **)&c->moe_offset, (ne + 1) * sizeof(int), err, errlen) &&
		  scratch(c, (void **)&c->moe_active, (ne + 1) * sizeof(int), err, errlen) &&
		  scratch(c, (void **)&c->moe_tok, pairs * sizeof(int), err, errlen) &&
		  scratch(c, (void **)&c->moe_slot, pairs * sizeof(int), err, errlen) &&
		  scratch(c, (void **)&c->moe_h, pairs * (size_t)cfg->moe_intermediate_size * 4, err, errlen) &&
		  scratch(c, (void **)&c->moe_yr, pairs * hd * 4, err, errlen) &&
		  scratch(c, &c->moe_xg, pairs * hd * 4, err, errlen) &&
		  scratch(c, &c->moe_hb, pairs * (size_t)cfg->moe_intermediate_size * 4, err, errlen) &&
		  scratch(c, (void **)&c->moe_u, pairs * (size_t)cfg->moe_intermediate_size * 4, err, errlen) &&
		  scratch(c, (void **)&c->argmax_dev, mb * sizeof(int), err, errlen) &&
		  scratch(c, (void **)&c->inv_freq_dev, 256 * sizeof(double), err, errlen) &&
		  scratch(c, (void **)&c->step_dev, 4 * sizeof(int), err, errlen) &&
		  scratch(c, &c->blas_ws, BLAS_WORKSPACE, err, errlen);
	if (ok && cudaMallocHost((void **)&c->step_host, 4 * sizeof(int)) != cudaSuccess) {
		cudaGetLastError();
		errorf(err, errlen, "cannot pin host memory for the decode step");
		ok = false;
	}
	if (ok && cudaMallocHost(&c->stage_host, STAGE_BYTES) != cudaSuccess) {
		cudaGetLastError();
		errorf(err, errlen, "cannot pin %u MiB of host memory for the weight upload", STAGE_BYTES >> 20);
		ok = false;
	}
	c->stage_bytes = STAGE_BYTES;
	if (!ok) {
		cuda_destroy(c);
		return NULL;
	}
	/* a recorded product must not allocate: cuBLAS gets its workspace once */
	CUBLAS_CHECK(cublasSetWorkspace(c->blas, c->blas_ws, BLAS_WORKSPACE));
	/* the recorded decode step splits the positions the same way at any position: as an eager step
	 * over the whole context would */
	c->graph_splits = cuda_attention_splits(c, 1, c->n_ctx);
	return c;
}

static uint64_t cuda_free_memory(int device)
{
	size_t fr = 0, tot = 0;
	uint64_t bytes = UINT64_MAX;      /* unknown: creating the state reports the real problem */
	if (cudaSetDevice(device) == cudaSuccess && cudaMemGetInfo(&fr, &tot) == cudaSuccess)
		bytes = fr;
	cudaGetLastError();
	return bytes;
}

static int cuda_threads(const void *ctx)
{
	return 1;
}

static float *cuda_alloc(void *ctx, size_t n)
{
	struct cuda_ctx *c = ctx;
	void *p = NULL;
	cuda_enter(c);
	if (cudaMalloc(&p, (n ? n : 1) * sizeof(float)) != cudaSuccess) {
		cudaGetLastError();
		return NULL;
	}
	/* zeroed, as a fresh cache should read */
	CUDA_CHECK(cudaMemsetAsync(p, 0, (n ? n : 1) * sizeof(float), c->st));
	c->buffer_bytes += n * sizeof(float);
	return p;
}

static void cuda_release(void *ctx, float *buf)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	CUDA_CHECK(cudaStreamSynchronize(c->st));
	CUDA_CHECK(cudaFree(buf));
}

static void cuda_read(void *ctx, float *host, const float *buf, size_t n)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	CUDA_CHECK(cudaMemcpyAsync(host, buf, n * sizeof *host, cudaMemcpyDeviceToHost, c->st));
	CUDA_CHECK(cudaStreamSynchronize(c->st));
}

void ds_cuda_write(void *ctx, float *buf, const float *host, size_t n)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	CUDA_CHECK(cudaMemcpyAsync(buf, host, n * sizeof *host, cudaMemcpyHostToDevice, c->st));
	CUDA_CHECK(cudaStreamSynchronize(c->st));
}

void ds_cuda_sync(void *ctx)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	CUDA_CHECK(cudaStreamSynchronize(c->st));
}

size_t ds_cuda_bytes(const void *ctx)
{
	const struct cuda_ctx *c = ctx;
	return c->weight_bytes + c->buffer_bytes + (c->blas != NULL ? 0 : 0);
}

static void cuda_embed_op(void *ctx, float *out, const struct ds_tensor *table, const int *ids, int n)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	const struct cuda_weight *w = cuda_weight(c, table, CUDA_USE_DENSE);
	if (c->capturing) {
		/* a recorded step: the token is the one cuda_graph_begin copied up */
		cuda_embed(out, w->dev, w->bf16, c->step_dev, 1, (int)w->cols, c->st);
		return;
	}
	/* a pageable source: the call returns once ids has been taken, so the caller may reuse it */
	CUDA_CHECK(cudaMemcpyAsync(c->ids_dev, ids, (size_t)n * sizeof *ids, cudaMemcpyHostToDevice, c->st));
	cuda_embed(out, w->dev, w->bf16, c->ids_dev, n, (int)w->cols, c->st);
}

void cuda_gemm(struct cuda_ctx *c, float *y, int ldy, const struct cuda_weight *w, const float *x, int n)
{
	int rows = (int)w->rows, cols = (int)w->cols;
	if (n <= 0)
		return;
	/* a few tokens: one pass over the weights, no BF16 copy of x (decode, the graph's products) */
	if (n <= GEMV_MAX_TOKENS) {
		if (cuda_gemv(y, ldy, w->dev, w->wtype, rows, cols, x, n, c->st) != 0)
			cuda_fail("a weight type the GPU product has no kernel for", "cuda_gemm", __FILE__, __LINE__);
		return;
	}
	/* a prompt: cuBLAS on the weights' float form (GGUF blocks decoded first) */
	const void *dense = cuda_weight_dense(c, w, 0);
	if (w->bf16) {
		if ((size_t)n * (size_t)cols > c->xb_elems)
			cuda_fail("a product is wider than the scratch it was sized for", "cuda_gemm", __FILE__, __LINE__);
		cuda_f32_to_bf16(c->xb, x, (size_t)n * (size_t)cols, c->st);
		cuda_gemm_typed(c, y, ldy, dense, true, rows, cols, c->xb, n);
	} else {
		cuda_gemm_typed(c, y, ldy, dense, false, rows, cols, x, n);
	}
}

void cuda_gemm_typed(struct cuda_ctx *c, float *y, int ldy, const void *w, bool bf16, int rows, int cols,
		     const void *x, int n)
{
	const float one = 1.0f, zero = 0.0f;
	if (n <= 0)
		return;
	/* row-major y (n, rows) = x (n, cols) W^T is column-major y^T = W x^T: W as stored is W^T
	 * column-major (cols x rows, ld cols), so it goes in transposed */
	if (bf16)
		CUBLAS_CHECK(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one, w, CUDA_R_16BF, cols, x,
					  CUDA_R_16BF, cols, &zero, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F,
					  CUBLAS_GEMM_DEFAULT));
	else
		CUBLAS_CHECK(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one, w, CUDA_R_32F, cols, x,
					  CUDA_R_32F, cols, &zero, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F_PEDANTIC,
					  CUBLAS_GEMM_DEFAULT));
}

static void cuda_matmul_op(void *ctx, float *y, const struct ds_tensor *w, const float *x, int n)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	const struct cuda_weight *dw = cuda_weight(c, w, CUDA_USE_MATRIX);
	cuda_gemm(c, y, (int)w->rows, dw, x, n);
}

static void cuda_rmsnorm_op(void *ctx, float *y, int ldy, const float *x, int ldx, const struct ds_tensor *w, int n,
			    float eps)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	const struct cuda_weight *dw = cuda_weight(c, w, CUDA_USE_DENSE);
	cuda_rmsnorm(y, ldy, x, ldx, dw->dev, dw->bf16, n, (int)w->cols, eps, c->st);
}

static void cuda_rope_op(void *ctx, float *x, int n, int n_heads, int ld, int head_ld, int dim, int pos,
			 const double *inv_freq, float mscale)
{
	struct cuda_ctx *c = ctx;
	int half = dim / 2;
	cuda_enter(c);
	if (half > 256)
		cuda_fail("rotary dimension above 512", "cuda_rope_op", __FILE__, __LINE__);
	/* the frequencies are the same on every call: copied once (and again only if they change) */
	if (half != c->inv_freq_n || memcmp(c->inv_freq_host, inv_freq, (size_t)half * sizeof *inv_freq) != 0) {
		memcpy(c->inv_freq_host, inv_freq, (size_t)half * sizeof *inv_freq);
		c->inv_freq_n = half;
		CUDA_CHECK(cudaMemcpyAsync(c->inv_freq_dev, c->inv_freq_host, (size_t)half * sizeof *inv_freq,
					   cudaMemcpyHostToDevice, c->st));
		CUDA_CHECK(cudaStreamSynchronize(c->st));
	}
	cuda_rope(x, n, n_heads, ld, head_ld, dim, pos, c->capturing ? c->step_dev + 1 : NULL, c->inv_freq_dev, mscale,
		  c->st);
}

static void cuda_add_op(void *ctx, float *y, const float *x, size_t n)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	cuda_add(y, x, n, c->st);
}

static void cuda_copy_op(void *ctx, float *dst, const float *src, size_t n)
{
	struct cuda_ctx *c = ctx;
	cuda_enter(c);
	CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof *dst, cudaMemcpyDeviceToDevice, c->st));
}

void ds_cuda_route(void *ctx, const float *router_logits, int n)
{
	struct cuda_ctx *c = ctx;
	const struct ds_config *cfg = &c->cfg;
	cuda_enter(c);
	cuda_moe_gate(c->moe_ids, c->moe_w, router_logits, n, cfg->n_routed_experts, cfg->num_experts_per_tok,
		      cfg->topk_method == DS_TOPK_GROUP_LIMITED, cfg->n_group, cfg->topk_group, cfg->norm_topk_prob,
		      cfg->routed_scaling_factor, c->st);
	c->moe_routed = true;
}

int ds_cuda_argmax(void *ctx, const float *logits, int vocab)
{
	struct cuda_ctx *c = ctx;
	int id = 0;
	cuda_enter(c);
	cuda_argmax(c->argmax_dev, logits, 1, vocab, c->st);
	CUDA_CHECK(cudaMemcpyAsync(&id, c->argmax_dev, sizeof id, cudaMemcpyDeviceToHost, c->st));
	CUDA_CHECK(cudaStreamSynchronize(c->st));
	return id;
}

#ifdef DS_BACKEND_GPU_OPS
static int cuda_load(void *ctx, const struct ds_model *m, ds_progress_fn progress, void *arg, char *err,
		     size_t errlen)
{
	if (m->n_rows4 > 0) {
		errorf(err, errlen, "%s: this model's weights were rearranged for the CPU's int8 kernels in this "
		       "process; load it again for the cuda backend", m->name != NULL ? m->name : "model");
		return -1;
	}
	/* a --synthetic model has no values on the host: they are made on the GPU */
	if (m->dir != NULL && strncmp(m->dir, "synthetic:", 10) == 0)
		return ds_cuda_synthetic_upload(ctx, m, err, errlen);
	return ds_cuda_upload_model(ctx, m, progress, arg, err, errlen);
}
#endif

int ds_cuda_sample(void *ctx, const float *logits, int vocab, float temperature, float u)
{
	struct cuda_ctx *c = ctx;
	int id = 0;
	cuda_enter(c);
	cuda_sample(c->argmax_dev, logits, vocab, temperature, u, c->st);
	CUDA_CHECK(cudaMemcpyAsync(&id, c->argmax_dev, sizeof id, cudaMemcpyDeviceToHost, c->st));
	CUDA_CHECK(cudaStreamSynchronize(c->st));
	return id;
}

const struct ds_backend ds_backend_cuda = {
	.name = "cuda",
	.create = cuda_create,
	.destroy = cuda_destroy,
	.threads = cuda_threads,
	.alloc = cuda_alloc,
	.release = cuda_release,
	.read = cuda_read,
	.embed = cuda_embed_op,
	.matmul = cuda_matmul_op,
	.rmsnorm = cuda_rmsnorm_op,
	.rope = cuda_rope_op,
	.attention = cuda_op_attention,
	.swiglu = cuda_op_swiglu,
	.moe = cuda_op_moe,
	.add = cuda_add_op,
	.copy = cuda_copy_op,
#ifdef DS_BACKEND_GPU_OPS
	.load = cuda_load,
	.route = ds_cuda_route,
	.argmax = ds_cuda_argmax,
	.sample = ds_cuda_sample,
	.graph_begin = cuda_graph_begin,
	.graph_end = cuda_graph_end,
	.store_row = cuda_store_row,
	/* 512 tokens per prefill batch: each expert then gets about 48 rows per pass (Lite, top-6) */
	.chunk = 512,
#endif
	.free_memory = cuda_free_memory,
};

/* mla-bench.c: decode attention alone (the CPU backend's attention for one token), at the bench and
 * Coder-V2-Lite widths (16 heads, latent 512 + 64, nope 128, v 128), per kernel set and thread count.
 * Decode spends a fifth of its time here on a 512-token context with nothing read from memory but
 * the latent cache: this is compute, timed apart from the weight streams that --bench mixes it with.
 * Eight layers' caches and kv_b_proj in turn, as the engine reads them, and (COLD 1) 64 MB read
 * between calls as the engine's weight streams would, so that the cache rows and kv_b come from memory
 * as they do in decode; medians of many calls. Run by hand:
 *   tools/mla-bench [POS [THREADS [TYPE [CALLS [COLD [CACHE]]]]]]   e.g. tools/mla-bench 576 1,2 q4_K 400 1
 * (TYPE of kv_b_proj: bf16, q8_0 or q4_K; the set is DSCODER_KERNELS's, else the fastest exact one;
 * CACHE: f32 (default), bf16 (--cache-type bf16: vdpbf16ps where the CPU has it) or bf16-widen (its
 * rows widened to F32 for F32 products)) */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "backend.h"
#include "cpu/cpu-kernels.h"
#include "cpu/cpu-mla-kernels.h"
#include "cpu/cpu-rows4.h"
#include "cpu/cpu-uk4.h"
#include "dtype.h"
#include "quantize.h"
#include "xalloc.h"

#define LAYERS 8

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static uint64_t rng = 88172645463325252ull;

static float rndf(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

int main(int argc, char **argv)
{
	const int pos = argc > 1 ? atoi(argv[1]) : 576;
	const char *ths = argc > 2 ? argv[2] : "1,2";
	const char *tname = argc > 3 ? argv[3] : "bf16";
	const int calls = argc > 4 ? atoi(argv[4]) : 400;
	const int cold = argc > 5 ? atoi(argv[5]) : 1;
	const char *cache_name = argc > 6 ? argv[6] : "f32";
	const int b16 = strncmp(cache_name, "bf16", 4) == 0;
	if (strcmp(cache_name, "bf16-widen") == 0)
		cpu_mla_bf16_dot = 0;
	else if (b16 && strcmp(cache_name, "bf16") != 0)
		cache_name = "?";
	enum ds_dtype type = DS_N_DTYPES;
	for (int t = 0; t < DS_N_DTYPES; t++)
		if (strcmp(ds_dtype_get((enum ds_dtype)t)->name, tname) == 0)
			type = (enum ds_dtype)t;
	if (pos < 1 || calls < 1 || type == DS_N_DTYPES || (type != DS_BF16 && !ds_quantize_supported(type))) {
		fprintf(stderr, "mla-bench: POS and CALLS must be at least 1, TYPE bf16, q8_0 or q4_K\n");
		return 2;
	}
	if (!b16 && strcmp(cache_name, "f32") != 0) {
		fprintf(stderr, "mla-bench: CACHE must be f32, bf16 or bf16-widen\n");
		return 2;
	}
	const int heads = 16, nope = 128, rope = 64, vd = 128, kr = 512, lat = kr + rope;
	struct ds_config cfg = { .hidden_size = 2048, .intermediate_size = 256, .moe_intermediate_size = 256,
				 .num_attention_heads = heads, .kv_lora_rank = kr, .qk_nope_head_dim = nope,
				 .qk_rope_head_dim = rope, .v_head_dim = vd };

	/* kv_b_proj (heads * (nope + v), kr) of random weights in the chosen type */
	const long kv_rows = (long)heads * (nope + vd);
	float *wf = xmalloc(sizeof *wf * (size_t)(kv_rows * kr));
	for (long i = 0; i < kv_rows * kr; i++)
		wf[i] = 0.05f * rndf();
	size_t rb = ds_row_bytes(type, kr), wbytes = rb * (size_t)kv_rows;
	/* on 2 MB pages, as the engine reads a model that fits in half the memory */
	void *wmem = NULL;
	const size_t huge = (size_t)2 << 20, wall_bytes = (wbytes * LAYERS + huge - 1) / huge * huge;
	if (posix_memalign(&wmem, huge, wall_bytes) != 0) {
		fprintf(stderr, "mla-bench: out of memory\n");
		return 1;
	}
#ifdef MADV_HUGEPAGE
	madvise(wmem, wall_bytes, MADV_HUGEPAGE);
#endif
	uint8_t *wq = wmem;
	for (long r = 0; r < kv_rows; r++) {
		if (type == DS_BF16)
			for (long j = 0; j < kr; j++) {
				uint32_t u;
				memcpy(&u, &wf[r * kr + j], 4);
				uint16_t h = (uint16_t)(u >> 16);
				memcpy(wq + (size_t)r * rb + 2 * (size_t)j, &h, 2);
			}
		else
			ds_quantize_row(type, wf + r * kr, wq + (size_t)r * rb, kr);
	}
	struct ds_tensor kv_b[LAYERS];
	for (int l = 0; l < LAYERS; l++) {
		if (l > 0)
			memcpy(wq + wbytes * (size_t)l, wq, wbytes);
		kv_b[l] = (struct ds_tensor){ .dtype = type, .data = wq + wbytes * (size_t)l, .rows = kv_rows, .cols = kr };
	}
	/* the int8 set's absorb tables of Q4_K kv_b_proj, as the CPU backend's load makes them
	 * (DSCODER_UK4=0: the float absorb) */
	struct ds_tensor uk4[LAYERS];
	const char *uk4_env = getenv("DSCODER_UK4");
	const bool use_uk4 = cpu_kernels_best()->absorb_uk4 != NULL && cpu_uk4_fits(&kv_b[0], heads, nope, vd) &&
			     (uk4_env == NULL || strcmp(uk4_env, "0") != 0);
	for (int l = 0; l < LAYERS && use_uk4; l++)
		if (!cpu_uk4_make(&kv_b[l], heads, nope, vd, &uk4[l])) {
			fprintf(stderr, "mla-bench: out of memory\n");
			return 1;
		}
	/* the int8 set's W_UV copies for decode's last phase, as the backend's load makes them
	 * (DSCODER_ROWS4=0: kv_b_proj's own rows) */
	struct ds_tensor uv4[LAYERS];
	const char *rows4_env = getenv("DSCODER_ROWS4");
	bool use_uv4 = cpu_kernels_best()->rows4 != NULL && (rows4_env == NULL || strcmp(rows4_env, "0") != 0);
	for (int l = 0; l < LAYERS && use_uv4; l++)
		use_uv4 = cpu_rows4_uv_make(&kv_b[l], heads, nope, vd, cpu_kernels_best()->rows4, &uv4[l]);
	/* what the weight streams of a layer would push through the caches */
	const size_t flush_n = (size_t)64 << 20;
	uint64_t *flush = xmalloc(flush_n), sink = 0;
	for (size_t i = 0; i < flush_n / 8; i++)
		flush[i] = i;

	printf("decode attention at position %d, kv_b_proj %s%s%s, %s latent cache, %d layers in turn, %s\n", pos,
	       tname, use_uk4 ? " (absorb from uk4 tables)" : "", use_uv4 ? " (W_UV rows4 copy)" : "", cache_name, LAYERS,
	       cold ? "caches flushed between calls" : "caches warm");
	printf("%3s  %10s  %s\n", "thr", "us/call", "GFLOP/s (scores and weighted sums)");
	for (int nt = 1; nt <= 16; nt++) {
		char pat[8], all[64];
		snprintf(pat, sizeof pat, ",%d,", nt);
		snprintf(all, sizeof all, ",%s,", ths);
		if (strstr(all, pat) == NULL)
			continue;
		struct ds_backend_params p = { .cfg = &cfg, .n_ctx = pos + 1, .max_batch = 1, .n_threads = nt };
		const struct ds_backend *be = &ds_backend_cpu;
		char err[256];
		void *c = be->create(&p, err, sizeof err);
		if (c == NULL) {
			fprintf(stderr, "mla-bench: %s\n", err);
			return 1;
		}
		float *cache[LAYERS];
		for (int l = 0; l < LAYERS; l++) {
			cache[l] = be->alloc(c, (size_t)(pos + 1) * (size_t)lat);
			for (long i = 0; i < (long)(pos + 1) * lat; i++)
				cache[l][i] = rndf();
			if (b16)    /* the same values in BF16, in the first half of the buffer */
				for (long i = 0; i < (long)(pos + 1) * lat; i++)
					((uint16_t *)cache[l])[i] = ds_f32_to_bf16(cache[l][i]);
		}
		float *q = be->alloc(c, (size_t)heads * (size_t)(nope + rope));
		float *out = be->alloc(c, (size_t)heads * (size_t)vd);
		for (int i = 0; i < heads * (nope + rope); i++)
			q[i] = rndf();
		double *wall = xmalloc(sizeof *wall * (size_t)calls);
		/* a small product after each flush, untimed: the flush is milliseconds of one thread, long
		 * enough for the workers to go to sleep, and the first phase of the call then paid their
		 * wake-up (about 70 us of the absorb on 2 threads), which the engine's decode does not:
		 * there the product before attention keeps them spinning */
		const long wake_rows = 64;
		float *wake_w = be->alloc(c, (size_t)wake_rows * (size_t)cfg.hidden_size);
		float *wake_y = be->alloc(c, (size_t)wake_rows);
		float *wake_x = be->alloc(c, (size_t)cfg.hidden_size);
		for (long i = 0; i < wake_rows * cfg.hidden_size; i++)
			wake_w[i] = rndf();
		for (int i = 0; i < cfg.hidden_size; i++)
			wake_x[i] = rndf();
		struct ds_tensor wake = { .dtype = DS_F32, .data = wake_w, .rows = wake_rows, .cols = cfg.hidden_size };
		for (int i = -LAYERS; i < calls; i++) {
			if (cold) {
				for (size_t j = 0; j < flush_n / 8; j += 8)
					sink += flush[j];
				be->matmul(c, wake_y, &wake, wake_x, 1);
			}
			int l = (i + LAYERS) % LAYERS;
			struct ds_attn_args a = { .out = out, .q = q, .cache = cache[l], .kv_b = &kv_b[l],
						  .uk4 = use_uk4 ? &uk4[l] : NULL,
						  .uv4 = use_uv4 ? &uv4[l] : NULL,
						  .cache_type = b16 ? DS_BF16 : DS_F32,
						  .n = 1, .pos = pos, .n_heads = heads, .nope = nope, .rope = rope,
						  .v_dim = vd, .kv_rank = kr, .scale = 0.07f };
			double t0 = clock_s(CLOCK_MONOTONIC);
			be->attention(c, &a);
			if (i >= 0)
				wall[i] = clock_s(CLOCK_MONOTONIC) - t0;
		}
		qsort(wall, (size_t)calls, sizeof *wall, cmp_d);
		double flops = 2.0 * heads * (double)(pos + 1) * (lat + kr);
		printf("%3d  %10.1f  %.1f\n", nt, 1e6 * wall[calls / 2], flops / wall[calls / 2] / 1e9);
		free(wall);
		for (int l = 0; l < LAYERS; l++)
			be->release(c, cache[l]);
		be->release(c, wake_w);
		be->release(c, wake_y);
		be->release(c, wake_x);
		be->release(c, q);
		be->release(c, out);
		be->destroy(c);
	}
	for (int l = 0; l < LAYERS && use_uk4; l++)
		free((void *)uk4[l].data);
	for (int l = 0; l < LAYERS && use_uv4; l++)
		free((void *)uv4[l].data);
	free(wf);
	free(wq);
	free(flush);
	return sink == 1 ? 3 : 0;   /* (sink keeps the flush reads) */
}

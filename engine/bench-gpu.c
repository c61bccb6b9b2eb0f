/* bench-gpu.c: dscoder-engine --bench on a GPU (--backend cuda) or on a --synthetic model whose
 * random weights are made on the GPU: load time, prefill tokens/s at 512 and 4096 tokens, decode
 * tokens/s at batch 1 after a short and after a 4096-token context, GPU memory, and the fraction of
 * the GPU's memory bandwidth the decode step uses. --synthetic full prints the memory plan of the
 * 236B model when it does not fit one GPU. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine-cli.h"
#include "forward.h"
#include "model.h"
#include "op-profile.h"
#include "plan.h"
#include "xalloc.h"
#ifdef HAVE_CUDA
#include "cuda/cuda-backend.h"
#endif

#ifndef HAVE_CUDA
int cli_bench_gpu(const struct cli_args *a)
{
	return cli_fail("--backend cuda and --synthetic: this build of dscoder-engine has no CUDA backend "
			"(configure found no nvcc; rebuild with ./configure --with-cuda)");
}
#else

#define BENCH_DECODE 64
#define BENCH_LONG 4096

struct run {
	int prompt;
	double prefill_tps, decode_tps, decode_gbs;
	double prof_prefill[DS_PROF_N + 1], prof_decode[DS_PROF_N + 1];   /* --profile */
};

/* Prefill of n tokens from position 0, then BENCH_DECODE greedy steps: both timed to the id on the host. */
static int bench_run(struct ds_state *s, const struct ds_model *m, int n, double bytes_tok, struct run *r)
{
	const struct ds_config *cfg = &m->cfg;
	int *prompt = xmalloc(sizeof *prompt * (size_t)n);
	for (int i = 0; i < n; i++)
		prompt[i] = (int)((1000u + (unsigned)i * 7919u) % (unsigned)cfg->vocab_size);   /* any vocabulary */
	ds_prof_reset();
	double t0 = clock_now();
	int next = ds_forward_next(s, prompt, n, 0);
	double t1 = clock_now();
	free(prompt);
	if (next < 0)
		return -1;
	ds_prof_take(r->prof_prefill, t1 - t0, n);
	for (int i = 0; i < BENCH_DECODE; i++)
		next = ds_forward_next(s, &next, 1, n + i);
	double t2 = clock_now();
	ds_prof_take(r->prof_decode, t2 - t1, BENCH_DECODE);
	r->prompt = n;
	r->prefill_tps = n / (t1 - t0);
	r->decode_tps = BENCH_DECODE / (t2 - t1);
	/* weights plus the latent cache rows (F32) read per step, at the mean context of the steps */
	double cache = (double)(n + BENCH_DECODE / 2) * (cfg->kv_lora_rank + cfg->qk_rope_head_dim) * 4.0 *
		       cfg->num_hidden_layers;
	r->decode_gbs = (bytes_tok + cache) * r->decode_tps / 1e9;
	return 0;
}

int cli_bench_gpu(const struct cli_args *a)
{
	char err[1024];
	struct ds_model m;
	struct ds_cuda_device_info info;
	double t0 = clock_now(), load_s, upload_s;

	if (strcmp(a->backend, "cuda") != 0)
		return cli_fail("--bench --synthetic makes its random weights on a GPU, and this run is on the %s "
				"(--backend cpu, or no CUDA GPU visible): use --backend cuda on a machine with a GPU",
				a->backend);
	if (ds_cuda_device_info(a->device, &info, err, sizeof err) != 0)
		return cli_fail("%s", err);
	struct ds_config scfg;
	if (a->synthetic != NULL) {
		if (ds_plan_synthetic_config(a->synthetic, &scfg, err, sizeof err) != 0)
			return cli_fail("%s", err);
	} else if (ds_model_load(a->model, &m, NULL, NULL, err, sizeof err) != 0) {
		return cli_fail("%s", err);
	}
	const struct ds_config *cfg = a->synthetic != NULL ? &scfg : &m.cfg;
	const char *name = a->synthetic != NULL ? a->synthetic : m.name;
	int longest = a->prompt_tokens > 0 ? a->prompt_tokens : BENCH_LONG;
	int n_ctx = a->n_ctx > 0 ? a->n_ctx : longest + BENCH_DECODE + 1;
	uint64_t params = ds_plan_total_params(cfg);
	double weights_gb = (double)params * (a->f32 ? 4.0 : 2.0) / 1e9;
	double cache_gb = (double)n_ctx * (cfg->kv_lora_rank + cfg->qk_rope_head_dim) * 4.0 * cfg->num_hidden_layers / 1e9;
	if (n_ctx < longest + BENCH_DECODE || weights_gb + cache_gb > info.mem_free_gb * 0.97) {
		if (a->synthetic == NULL)
			ds_model_free(&m);
		if (n_ctx < longest + BENCH_DECODE)
			return cli_fail("--ctx %d is too small for the benchmark's %d + %d tokens", n_ctx, longest,
					BENCH_DECODE);
		/* too big for this GPU: the plan over the fewest GPUs of this size that hold it */
		printf("model            %s (%.1f B parameters): %.1f GB of %s weights + %.2f GB of latent KV cache\n"
		       "                 (%d tokens) do not fit GPU %d (%s, %.1f GB free of %.1f GB)\n", name,
		       params / 1e9, weights_gb, a->f32 ? "F32" : "BF16", cache_gb, n_ctx, a->device, info.name,
		       info.mem_free_gb, info.mem_total_gb);
		uint64_t gpu_bytes = (uint64_t)(info.mem_total_gb * 1e9);
		FILE *null = fopen("/dev/null", "w");
		int r = 0, n = 2;
		for (; null != NULL && n <= 64; n *= 2)
			if ((r = ds_plan_print(null, name, cfg, n, n_ctx, gpu_bytes, err, sizeof err)) != 0)
				break;
		if (null != NULL)
			fclose(null);
		if (r == 1)
			ds_plan_print(stdout, name, cfg, n, n_ctx, gpu_bytes, err, sizeof err);
		return a->synthetic != NULL ? 0 : 1;
	}
	if (a->synthetic != NULL && ds_cuda_synthetic_model(&scfg, a->synthetic, &m, err, sizeof err) != 0)
		return cli_fail("%s", err);
	cfg = &m.cfg;
	load_s = clock_now() - t0;

	struct ds_backend_choice bc = { .name = "cuda", .device = a->device, .f32 = a->f32 };
	/* --profile times each operation class to a synchronisation of the GPU, so the decode step runs
	 * eagerly (a recorded step replays the whole layer stack at once) */
	if (a->profile)
		setenv("DSCODER_CUDA_GRAPH", "0", 1);
	t0 = clock_now();
	struct ds_state *s = ds_state_new_on(&m, n_ctx, a->threads, &bc, err, sizeof err);
	upload_s = clock_now() - t0;
	if (s == NULL) {
		ds_model_free(&m);
		return cli_fail("%s", err);
	}
	struct ds_cuda_device_info after;
	ds_cuda_device_info(a->device, &after, err, sizeof err);

	/* bytes of weights read per decoded token as the GPU stores them: GGUF blocks as the file has
	 * them (kv_b_proj and the router, decoded to floats, are a few percent more), float weights in
	 * the GPU's type */
	double bytes_tok = (double)ds_model_bytes_per_token(&m);
	if (!ds_dtype_is_quantized(m.w.lm_head.dtype))
		bytes_tok *= (a->f32 ? 4.0 : 2.0) / ((double)ds_tensor_bytes(&m.w.embed) /
						     (double)(m.w.embed.rows * m.w.embed.cols));
	struct run runs[2];
	int n_runs = 0;
	if (a->profile) {
		ds_prof_set_sync(ds_cuda_sync, ds_state_backend_ctx(s));
		ds_prof_enable(true);
	}
	/* a first short pass warms cuBLAS up, so the timed ones measure the steady state */
	int warm = ds_forward_next(s, (int[]){ 1000 % m.cfg.vocab_size }, 1, 0);
	(void)warm;
	if (a->prompt_tokens > 0) {
		if (bench_run(s, &m, a->prompt_tokens, bytes_tok, &runs[n_runs++]) != 0)
			goto refused;
	} else {
		if (bench_run(s, &m, 512, bytes_tok, &runs[n_runs++]) != 0 ||
		    bench_run(s, &m, BENCH_LONG, bytes_tok, &runs[n_runs++]) != 0)
			goto refused;
	}
	double used_gb = after.mem_total_gb - after.mem_free_gb;
	/* the bound that matters: what this GPU's memory delivers now, beside the datasheet figure */
	double bw = ds_cuda_measure_bandwidth(a->device);
	if (bw <= 0)
		bw = info.peak_bw_gbs;
	if (a->json) {
		printf("{\"model\":\"%s\",\"backend\":\"cuda\",\"gpu\":\"%s\",\"dtype\":\"%s\",\"load_s\":%.3f,\"upload_s\":%.3f,"
		       "\"gpu_mem_used_gb\":%.2f,\"gpu_mem_total_gb\":%.2f,\"weights_gb\":%.2f,\"bytes_per_token\":%.0f,"
		       "\"peak_bw_gbs\":%.0f,\"measured_bw_gbs\":%.0f,\"runs\":[", m.name, info.name, a->f32 ? "f32" : "bf16",
		       load_s, upload_s, used_gb, after.mem_total_gb, weights_gb, bytes_tok, info.peak_bw_gbs, bw);
		for (int i = 0; i < n_runs; i++)
			printf("%s{\"prompt_tokens\":%d,\"prefill_tps\":%.1f,\"decode_tps\":%.2f,\"decode_bw_gbs\":%.1f,"
			       "\"bw_fraction\":%.3f}", i ? "," : "", runs[i].prompt, runs[i].prefill_tps, runs[i].decode_tps,
			       runs[i].decode_gbs, bw > 0 ? runs[i].decode_gbs / bw : 0);
		if (a->profile)
			for (int i = 0; i < n_runs; i++) {
				char key[64];
				snprintf(key, sizeof key, "prefill_%d_ms_per_token", runs[i].prompt);
				ds_prof_json(key, runs[i].prof_prefill);
				snprintf(key, sizeof key, "decode_after_%d_ms_per_step", runs[i].prompt);
				ds_prof_json(key, runs[i].prof_decode);
			}
		printf("]}\n");
	} else {
		printf("model            %s (%.2f B parameters, %.1f GB of %s weights on the GPU)\n", m.name,
		       m.n_params / 1e9, weights_gb, a->f32 ? "F32" : "BF16");
		printf("backend          cuda, GPU %d: %s (sm_%d%d, %d SMs), memory %.0f GB/s peak, %.0f GB/s measured\n",
		       a->device, info.name, info.cc_major, info.cc_minor, info.sm_count, info.peak_bw_gbs, bw);
		printf("load             %.3f s (files), %.3f s (upload%s)\n", load_s, upload_s,
		       a->synthetic ? ": random weights made on the GPU" : "");
		printf("GPU memory       %.2f GB used of %.2f GB\n", used_gb, after.mem_total_gb);
		printf("weights/token    %.1f MB read per decoded token\n", bytes_tok / 1e6);
		for (int i = 0; i < n_runs; i++) {
			printf("prefill          %.1f tokens/s (%d-token prompt)\n", runs[i].prefill_tps, runs[i].prompt);
			printf("decode           %.2f tokens/s at batch 1 after %d tokens: %.0f GB/s read, %.0f%% of the "
			       "measured bandwidth (bound: %.0f tokens/s)\n", runs[i].decode_tps, runs[i].prompt,
			       runs[i].decode_gbs, bw > 0 ? 100.0 * runs[i].decode_gbs / bw : 0,
			       runs[i].decode_gbs > 0 ? runs[i].decode_tps * bw / runs[i].decode_gbs : 0);
			if (a->profile) {
				ds_prof_text("profile prefill", runs[i].prof_prefill);
				ds_prof_text("profile step", runs[i].prof_decode);
			}
		}
	}
	ds_prof_enable(false);
	ds_prof_set_sync(NULL, NULL);
	ds_state_free(s);
	ds_model_free(&m);
	return fflush(stdout) == 0 ? 0 : 1;
refused:
	ds_state_free(s);
	ds_model_free(&m);
	return cli_fail("the forward pass refused the benchmark prompt");
}
#endif

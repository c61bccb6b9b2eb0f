/* fwd-bench.c: times prefill and decode of the forward pass on a checkpoint and sets decode against
 * the machine's read bandwidth (no tokenizer needed: the ids are arbitrary). */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu/membw.h"
#include "forward.h"
#include "model.h"
#include "xalloc.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of all threads: on a shared machine, steadier than the wall clock */
static double cpu_now(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fwd-bench MODEL_DIR [THREADS [PROMPT [DECODE]]]\n");
		return 2;
	}
	int threads = argc > 2 ? atoi(argv[2]) : 0;
	int n_prompt = argc > 3 ? atoi(argv[3]) : 128, n_dec = argc > 4 ? atoi(argv[4]) : 32;
	if (n_prompt < 1 || n_dec < 1) {
		fprintf(stderr, "fwd-bench: PROMPT and DECODE must be at least 1\n");
		return 2;
	}
	char err[512];
	struct ds_model m;
	double t0 = now();
	if (ds_model_load(argv[1], &m, NULL, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "fwd-bench: %s\n", err);
		return 1;
	}
	double t_load = now() - t0;
	const int n_warm = 4, n_ctx = n_prompt + n_warm + n_dec;
	struct ds_state *s = ds_state_new(&m, n_ctx, threads, err, sizeof err);
	if (s == NULL) {
		fprintf(stderr, "fwd-bench: %s\n", err);
		return 1;
	}
	int *ids = xmalloc(sizeof *ids * (size_t)n_ctx);
	for (int i = 0; i < n_ctx; i++)
		ids[i] = (int)((i * 7919u + 13) % (unsigned)m.cfg.vocab_size);
	float *logits = xmalloc(sizeof *logits * (size_t)m.cfg.vocab_size);

	t0 = now();
	double c0 = cpu_now();
	ds_forward(s, ids, n_prompt, 0, logits, false);
	double t_prefill = now() - t0, c_prefill = cpu_now() - c0;
	/* a few untimed steps: the first touches of the mapped pages are not decode speed */
	int pos = n_prompt;
	for (int i = 0; i < n_warm; i++, pos++)
		ds_forward(s, &ids[pos], 1, pos, logits, false);
	t0 = now();
	c0 = cpu_now();
	for (int i = 0; i < n_dec; i++, pos++)
		ds_forward(s, &ids[pos], 1, pos, logits, false);
	double t_dec = now() - t0, c_dec = cpu_now() - c0;

	double tps = n_dec / t_dec, bpt = (double)ds_model_bytes_per_token(&m);
	double bw = cpu_measure_read_bandwidth(ds_state_threads(s));
	printf("model            %s (%.2f GB of weights), load %.2f s\n", m.name, m.weight_bytes / 1e9, t_load);
	printf("threads          %d\n", ds_state_threads(s));
	printf("prefill          %d tokens in %.2f s: %.1f tokens/s (%.1f ms CPU per token)\n", n_prompt,
	       t_prefill, n_prompt / t_prefill, 1e3 * c_prefill / n_prompt);
	printf("decode           %d tokens in %.2f s: %.2f tokens/s (%.1f ms CPU per token)\n", n_dec, t_dec,
	       tps, 1e3 * c_dec / n_dec);
	printf("bytes per token  %.1f MB\n", bpt / 1e6);
	printf("bandwidth        %.2f GB/s used of %.2f GB/s measured: %.0f%%\n", tps * bpt / 1e9, bw,
	       bw > 0 ? 100 * tps * bpt / 1e9 / bw : 0);
	free(ids);
	free(logits);
	ds_state_free(s);
	ds_model_free(&m);
	return 0;
}

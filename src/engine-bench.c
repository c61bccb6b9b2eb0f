/* engine-bench.c: dscoder-engine --bench: load time, prefill and decode speed, peak memory, and how
 * much of the machine's memory bandwidth the decode loop uses (the bound for batch-1 decoding). */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "cpu/membw.h"
#include "engine-cli.h"
#include "generate.h"
#include "xalloc.h"

#define BENCH_PROMPT 512
#define BENCH_DECODE 64

int cli_bench(const struct cli_args *a)
{
	char err[1024];
	struct ds_engine e;
	struct rusage ru;
	int n_decode = a->sampling.max_tokens > 0 ? a->sampling.max_tokens : BENCH_DECODE;
	int n_ctx = a->n_ctx > 0 ? a->n_ctx : BENCH_PROMPT + n_decode + 1;
	int *prompt, vocab, known, pos, next, threads;
	double t0, load_s, prefill_s, decode_s, bw_machine, bw_used, bytes_tok;

	if (n_ctx < BENCH_PROMPT + n_decode)
		return cli_fail("--ctx %d is too small for the benchmark's %d + %d tokens", n_ctx,
				BENCH_PROMPT, n_decode);
	t0 = clock_now();
	if (ds_engine_open(&e, a->model, n_ctx, a->threads, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	load_s = clock_now() - t0;
	vocab = e.model.cfg.vocab_size;
	known = tok_vocab_size(e.tok) < vocab ? tok_vocab_size(e.tok) : vocab;
	threads = ds_state_threads(e.state);

	/* A fixed prompt of ordinary tokens: the numbers do not depend on the text. */
	prompt = xmalloc(BENCH_PROMPT * sizeof *prompt);
	for (int i = 0; i < BENCH_PROMPT; i++)
		prompt[i] = (int)((1000u + (unsigned)i * 7919u) % (unsigned)(known > 1000 ? known - 1000 : known));

	t0 = clock_now();
	if (ds_forward(e.state, prompt, BENCH_PROMPT, 0, e.logits, false) != 0) {
		free(prompt);
		ds_engine_close(&e);
		return cli_fail("the forward pass rejected the benchmark prompt");
	}
	prefill_s = clock_now() - t0;

	pos = BENCH_PROMPT;
	t0 = clock_now();
	for (int i = 0; i < n_decode; i++) {
		next = ds_argmax(e.logits, vocab);
		ds_forward(e.state, &next, 1, pos++, e.logits, false);
	}
	decode_s = clock_now() - t0;

	bytes_tok = (double)ds_model_bytes_per_token(&e.model);
	/* Peak memory of the engine itself, before the bandwidth probe's 1 GiB buffer. */
	getrusage(RUSAGE_SELF, &ru);
	bw_machine = cpu_measure_read_bandwidth(threads);
	bw_used = bytes_tok * (n_decode / decode_s) / 1e9;

	if (a->json) {
		printf("{\"model\":\"%s\",\"backend\":\"cpu\",\"threads\":%d,\"load_s\":%.3f,"
		       "\"prefill_tokens\":%d,\"prefill_tps\":%.2f,\"decode_tokens\":%d,\"decode_tps\":%.2f,"
		       "\"weight_bytes\":%llu,\"bytes_per_token\":%.0f,\"peak_rss_mb\":%.1f,"
		       "\"machine_bw_gbs\":%.2f,\"decode_bw_gbs\":%.2f,\"bw_fraction\":%.3f}\n",
		       e.model.name, threads, load_s, BENCH_PROMPT, BENCH_PROMPT / prefill_s, n_decode,
		       n_decode / decode_s, (unsigned long long)e.model.weight_bytes, bytes_tok,
		       ru.ru_maxrss / 1024.0, bw_machine, bw_used, bw_used / bw_machine);
	} else {
		printf("model            %s (%.2f B parameters, %.1f MB of weights)\n", e.model.name,
		       e.model.n_params / 1e9, e.model.weight_bytes / 1e6);
		printf("backend          cpu, %d threads\n", threads);
		printf("load             %.3f s\n", load_s);
		printf("prefill          %.2f tokens/s (%d-token prompt)\n", BENCH_PROMPT / prefill_s, BENCH_PROMPT);
		printf("decode           %.2f tokens/s (%d tokens after the prompt)\n", n_decode / decode_s, n_decode);
		printf("weights/token    %.1f MB read per decoded token\n", bytes_tok / 1e6);
		printf("bandwidth        %.2f GB/s used by decode of %.2f GB/s measured: %.0f%%\n", bw_used,
		       bw_machine, 100.0 * bw_used / bw_machine);
		printf("peak RSS         %.1f MB\n", ru.ru_maxrss / 1024.0);
	}
	free(prompt);
	ds_engine_close(&e);
	return fflush(stdout) == 0 ? 0 : 1;
}

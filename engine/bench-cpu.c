/* bench-cpu.c: dscoder-engine --bench: load time, prefill and decode speed, peak memory, and how
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
#include "op-profile.h"
#include "xalloc.h"

#define BENCH_PROMPT 512
#define BENCH_DECODE 64
/* --batch N: each sequence's prompt; short, as the figure is the decode step's */
#define BENCH_BATCH_PROMPT 64


/* --bench --batch N: N sequences in their own cache slots, prefilled together, then decoded one token
 * each per forward pass (ds_forward_batch): the aggregate decode tokens/s of continuous batching. */
static int bench_batch(const struct cli_args *a)
{
	char err[1024];
	struct ds_engine e;
	const int N = a->bench_batch;
	int n_decode = a->sampling.max_tokens > 0 ? a->sampling.max_tokens : BENCH_DECODE;
	int n_ctx = a->n_ctx > 0 ? a->n_ctx : BENCH_BATCH_PROMPT + n_decode + 1;
	double t0, load_s, prefill_s, decode_s;

	if (n_ctx < BENCH_BATCH_PROMPT + n_decode)
		return cli_fail("--ctx %d is too small for the benchmark's %d + %d tokens", n_ctx,
				BENCH_BATCH_PROMPT, n_decode);
	t0 = clock_now();
	if (ds_engine_open(&e, a->model, n_ctx, a->threads, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	if (ds_state_set_slots(e.state, N, err, sizeof err) != 0) {
		ds_engine_close(&e);
		return cli_fail("%s", err);
	}
	load_s = clock_now() - t0;
	const int vocab = e.model.cfg.vocab_size, threads = ds_state_threads(e.state);
	int known = tok_vocab_size(e.tok) < vocab ? tok_vocab_size(e.tok) : vocab;
	unsigned range = (unsigned)(known > 1000 ? known - 1000 : known);
	int total = N * BENCH_BATCH_PROMPT;
	int *tokens = xcalloc((size_t)total, sizeof *tokens), *pos = xcalloc((size_t)total, sizeof *pos);
	int *seq = xcalloc((size_t)total, sizeof *seq);
	bool *want = xcalloc((size_t)total, sizeof *want);
	float *logits = xcalloc((size_t)N * (size_t)vocab, sizeof *logits);

	/* a different prompt per sequence; only each one's last token needs logits */
	for (int s = 0, i = 0; s < N; s++)
		for (int j = 0; j < BENCH_BATCH_PROMPT; j++, i++) {
			tokens[i] = (int)((1000u + (unsigned)(j + 97 * s) * 7919u) % range);
			pos[i] = j;
			seq[i] = s;
			want[i] = j == BENCH_BATCH_PROMPT - 1;
		}
	struct ds_batch b = { .n = total, .tokens = tokens, .pos = pos, .seq = seq, .want_logits = want };
	t0 = clock_now();
	int rc = ds_forward_batch(e.state, &b, logits);
	prefill_s = clock_now() - t0;

	/* every step: each sequence's greedy next token at its next position */
	b.n = N;
	for (int s = 0; s < N; s++) {
		seq[s] = s;
		want[s] = true;
	}
	double prof[DS_PROF_N + 1];
	struct rusage ru0, ru1;
	ds_prof_enable(a->profile);
	ds_prof_reset();
	getrusage(RUSAGE_SELF, &ru0);
	t0 = clock_now();
	for (int k = 0; k < n_decode && rc == 0; k++) {
		for (int s = 0; s < N; s++) {
			tokens[s] = ds_argmax(logits + (size_t)s * vocab, vocab);
			pos[s] = BENCH_BATCH_PROMPT + k;
		}
		rc = ds_forward_batch(e.state, &b, logits);
	}
	decode_s = clock_now() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	ds_prof_take(prof, decode_s, n_decode);     /* per step */
	/* CPU time of the decode: on a machine shared with other work, tokens per CPU-second compare
	 * batch sizes better than the wall clock does */
	double cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		       (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	ds_prof_enable(false);
	free(tokens);
	free(pos);
	free(seq);
	free(want);
	free(logits);
	if (rc != 0) {
		ds_engine_close(&e);
		return cli_fail("the forward pass rejected the benchmark's batch");
	}
	double agg = (double)N * n_decode / decode_s, step_ms = 1000.0 * decode_s / n_decode;
	if (a->json) {
		printf("{\"model\":\"%s\",\"backend\":\"%s\",\"threads\":%d,\"batch\":%d,\"load_s\":%.3f,"
		       "\"prefill_tokens\":%d,\"prefill_tps\":%.2f,\"decode_steps\":%d,\"step_ms\":%.2f,"
		       "\"decode_tps\":%.2f,\"decode_tps_per_sequence\":%.2f,\"decode_cpu_s\":%.3f,\"decode_tokens_per_cpu_s\":%.2f",
		       e.model.name, ds_state_backend(e.state), threads, N, load_s, total, total / prefill_s, n_decode,
		       step_ms, agg, agg / N, cpu_s, cpu_s > 0 ? N * n_decode / cpu_s : 0);
		if (a->profile)
			ds_prof_json("decode_ms_per_step", prof);
		printf("}\n");
	} else {
		printf("model            %s (%.2f B parameters, %.1f MB of weights)\n", e.model.name,
		       e.model.n_params / 1e9, e.model.weight_bytes / 1e6);
		printf("backend          %s, %d threads\n", ds_state_backend(e.state), threads);
		printf("batch            %d sequences decoded together\n", N);
		printf("prefill          %.2f tokens/s (%d prompts of %d tokens in one batch)\n", total / prefill_s, N,
		       BENCH_BATCH_PROMPT);
		printf("decode           %.2f tokens/s aggregate, %.2f per sequence (%d steps of %.1f ms)\n", agg,
		       agg / N, n_decode, step_ms);
		printf("decode CPU       %.2f tokens per CPU-second (%.1f CPU-ms per step)\n",
		       cpu_s > 0 ? N * n_decode / cpu_s : 0, 1e3 * cpu_s / n_decode);
		if (a->profile)
			ds_prof_text("profile step", prof);
	}
	ds_engine_close(&e);
	return fflush(stdout) == 0 ? 0 : 1;
}

int cli_bench(const struct cli_args *a)
{
	char err[1024];
	struct ds_engine e;
	struct rusage ru;
	int n_decode = a->sampling.max_tokens > 0 ? a->sampling.max_tokens : BENCH_DECODE;
	int n_ctx = a->n_ctx > 0 ? a->n_ctx : BENCH_PROMPT + n_decode + 1;
	int *prompt, vocab, known, pos, next, threads;
	double t0, load_s, prefill_s, decode_s, bw_before, bw_after, bw_machine, bw_used, bytes_tok;
	double prof_prefill[DS_PROF_N + 1], prof_decode[DS_PROF_N + 1];

	if (a->bench_batch > 0)
		return bench_batch(a);
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

	ds_prof_enable(a->profile);
	ds_prof_reset();
	t0 = clock_now();
	if (ds_forward(e.state, prompt, BENCH_PROMPT, 0, e.logits, false) != 0) {
		free(prompt);
		ds_engine_close(&e);
		return cli_fail("the forward pass rejected the benchmark prompt");
	}
	prefill_s = clock_now() - t0;
	ds_prof_take(prof_prefill, prefill_s, BENCH_PROMPT);

	/* The machine's bandwidth right before and right after the decode, the larger of the two: on a
	 * shared machine (a VM) what others take changes within seconds, and one probe after the decode
	 * gave anywhere from 0.6x to 1.7x of the bandwidth the decode itself met. Peak memory of the
	 * engine itself is taken before the probe's 1 GiB buffer. */
	getrusage(RUSAGE_SELF, &ru);
	bw_before = cpu_measure_read_bandwidth(threads);
	pos = BENCH_PROMPT;
	t0 = clock_now();
	for (int i = 0; i < n_decode; i++) {
		ds_prof_begin(DS_PROF_SAMPLING);
		next = ds_argmax(e.logits, vocab);
		ds_prof_end(DS_PROF_SAMPLING);
		ds_forward(e.state, &next, 1, pos++, e.logits, false);
	}
	decode_s = clock_now() - t0;
	ds_prof_take(prof_decode, decode_s, n_decode);
	ds_prof_enable(false);

	bytes_tok = (double)ds_model_bytes_per_token(&e.model);
	bw_after = cpu_measure_read_bandwidth(threads);
	bw_machine = bw_before > bw_after ? bw_before : bw_after;
	bw_used = bytes_tok * (n_decode / decode_s) / 1e9;

	if (a->json) {
		printf("{\"model\":\"%s\",\"backend\":\"cpu\",\"threads\":%d,\"load_s\":%.3f,"
		       "\"prefill_tokens\":%d,\"prefill_tps\":%.2f,\"decode_tokens\":%d,\"decode_tps\":%.2f,"
		       "\"weight_bytes\":%llu,\"bytes_per_token\":%.0f,\"peak_rss_mb\":%.1f,"
		       "\"machine_bw_gbs\":%.2f,\"machine_bw_before_gbs\":%.2f,\"machine_bw_after_gbs\":%.2f,"
		       "\"decode_bw_gbs\":%.2f,\"bw_fraction\":%.3f",
		       e.model.name, threads, load_s, BENCH_PROMPT, BENCH_PROMPT / prefill_s, n_decode,
		       n_decode / decode_s, (unsigned long long)e.model.weight_bytes, bytes_tok,
		       ru.ru_maxrss / 1024.0, bw_machine, bw_before, bw_after, bw_used, bw_used / bw_machine);
		if (a->profile) {
			ds_prof_json("prefill_ms_per_token", prof_prefill);
			ds_prof_json("decode_ms_per_token", prof_decode);
		}
		printf("}\n");
	} else {
		printf("model            %s (%.2f B parameters, %.1f MB of weights)\n", e.model.name,
		       e.model.n_params / 1e9, e.model.weight_bytes / 1e6);
		printf("backend          cpu, %d threads\n", threads);
		printf("load             %.3f s\n", load_s);
		printf("prefill          %.2f tokens/s (%d-token prompt)\n", BENCH_PROMPT / prefill_s, BENCH_PROMPT);
		printf("decode           %.2f tokens/s (%d tokens after the prompt)\n", n_decode / decode_s, n_decode);
		printf("weights/token    %.1f MB read per decoded token\n", bytes_tok / 1e6);
		printf("bandwidth        %.2f GB/s used by decode of %.2f GB/s measured (%.2f before, %.2f after): "
		       "%.0f%%\n", bw_used, bw_machine, bw_before, bw_after, 100.0 * bw_used / bw_machine);
		printf("peak RSS         %.1f MB\n", ru.ru_maxrss / 1024.0);
		if (a->profile) {
			ds_prof_text("profile prefill", prof_prefill);
			ds_prof_text("profile decode", prof_decode);
		}
	}
	free(prompt);
	ds_engine_close(&e);
	return fflush(stdout) == 0 ? 0 : 1;
}

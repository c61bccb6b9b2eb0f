/* bench-cpu.c: dscoder-engine --bench: load time, prefill and decode speed, peak memory, and how
 * much of the machine's memory bandwidth the decode loop uses (the bound for batch-1 decoding). */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "cpu/cpu-kernels.h"
#include "cpu/membw.h"
#include "engine-cli.h"
#include "generate.h"
#include "op-profile.h"
#include "xalloc.h"

#define BENCH_PROMPT 512
#define BENCH_DECODE 64
/* --batch N: each sequence's prompt; short, as the figure is the decode step's */
#define BENCH_BATCH_PROMPT 64


/* One measurement of N sequences decoded together */
struct bench_batch_result {
	double prefill_s, decode_s, cpu_s;
	double prof[DS_PROF_N + 1];     /* per step, when profiling */
};

/* The processor, for the report (cpu_kernels_cpu_name): figures from different machines differ more
 * than the changes they measure */
static const char *bench_cpu(void)
{
	static char name[96];
	if (name[0] == '\0')
		cpu_kernels_cpu_name(name, sizeof name);
	return name;
}

static double rusage_s(const struct rusage *r)
{
	return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) +
	       (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec) / 1e6;
}

/* N sequences in cache slots 0..N-1, each with a prompt of its own prefilled together (positions from
 * 0, so a run overwrites what an earlier one left), then n_decode steps of one token each per forward
 * pass (ds_forward_batch), each sequence's greedy next token: continuous batching's decode step. */
static int bench_batch_run(struct ds_engine *e, int N, int n_decode, bool profile, struct bench_batch_result *r)
{
	const int vocab = e->model.cfg.vocab_size;
	int known = tok_vocab_size(e->tok) < vocab ? tok_vocab_size(e->tok) : vocab;
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
	double t0 = clock_now();
	int rc = ds_forward_batch(e->state, &b, logits);
	r->prefill_s = clock_now() - t0;

	b.n = N;
	for (int s = 0; s < N; s++) {
		seq[s] = s;
		want[s] = true;
	}
	struct rusage ru0, ru1;
	ds_prof_enable(profile);
	ds_prof_reset();
	getrusage(RUSAGE_SELF, &ru0);
	t0 = clock_now();
	for (int k = 0; k < n_decode && rc == 0; k++) {
		for (int s = 0; s < N; s++) {
			tokens[s] = ds_argmax(logits + (size_t)s * vocab, vocab);
			pos[s] = BENCH_BATCH_PROMPT + k;
		}
		rc = ds_forward_batch(e->state, &b, logits);
	}
	r->decode_s = clock_now() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	ds_prof_take(r->prof, r->decode_s, n_decode);     /* per step */
	ds_prof_enable(false);
	/* CPU time of the decode: on a machine shared with other work, tokens per CPU-second compare
	 * batch sizes better than the wall clock does */
	r->cpu_s = rusage_s(&ru1) - rusage_s(&ru0);
	free(tokens);
	free(pos);
	free(seq);
	free(want);
	free(logits);
	return rc == 0 ? 0 : cli_fail("the forward pass rejected the benchmark's batch");
}

/* The engine with max_n sequence slots, for prompts of BENCH_BATCH_PROMPT and n_decode tokens */
static int bench_batch_open(const struct cli_args *a, struct ds_engine *e, int max_n, int n_decode,
			    double *load_s)
{
	char err[1024];
	int n_ctx = a->n_ctx > 0 ? a->n_ctx : BENCH_BATCH_PROMPT + n_decode + 1;
	if (n_ctx < BENCH_BATCH_PROMPT + n_decode)
		return cli_fail("--ctx %d is too small for the benchmark's %d + %d tokens", n_ctx,
				BENCH_BATCH_PROMPT, n_decode);
	double t0 = clock_now();
	if (ds_engine_open(e, a->model, n_ctx, a->threads, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	if (ds_state_set_slots(e->state, max_n, err, sizeof err) != 0) {
		ds_engine_close(e);
		return cli_fail("%s", err);
	}
	*load_s = clock_now() - t0;
	return 0;
}

/* --bench --batch N: the aggregate decode tokens/s of N sequences decoded together. */
static int bench_batch(const struct cli_args *a)
{
	struct ds_engine e;
	struct bench_batch_result r;
	const int N = a->bench_batch;
	int n_decode = a->sampling.max_tokens > 0 ? a->sampling.max_tokens : BENCH_DECODE;
	double load_s;

	if (bench_batch_open(a, &e, N, n_decode, &load_s) != 0)
		return 1;
	if (bench_batch_run(&e, N, n_decode, a->profile, &r) != 0) {
		ds_engine_close(&e);
		return 1;
	}
	const int total = N * BENCH_BATCH_PROMPT, threads = ds_state_threads(e.state);
	double agg = (double)N * n_decode / r.decode_s, step_ms = 1000.0 * r.decode_s / n_decode;
	if (a->json) {
		printf("{\"model\":\"%s\",\"backend\":\"%s\",\"cpu\":\"%s\",\"threads\":%d,\"batch\":%d,\"load_s\":%.3f,"
		       "\"prefill_tokens\":%d,\"prefill_tps\":%.2f,\"decode_steps\":%d,\"step_ms\":%.2f,"
		       "\"decode_tps\":%.2f,\"decode_tps_per_sequence\":%.2f,\"decode_cpu_s\":%.3f,\"decode_tokens_per_cpu_s\":%.2f",
		       e.model.name, ds_state_backend(e.state), bench_cpu(), threads, N, load_s, total, total / r.prefill_s, n_decode,
		       step_ms, agg, agg / N, r.cpu_s, r.cpu_s > 0 ? N * n_decode / r.cpu_s : 0);
		if (a->profile)
			ds_prof_json("decode_ms_per_step", r.prof);
		printf("}\n");
	} else {
		printf("model            %s (%.2f B parameters, %.1f MB of weights)\n", e.model.name,
		       e.model.n_params / 1e9, e.model.weight_bytes / 1e6);
		printf("backend          %s, %d threads\n", ds_state_backend(e.state), threads);
		printf("cpu              %s\n", bench_cpu());
		printf("batch            %d sequences decoded together\n", N);
		printf("prefill          %.2f tokens/s (%d prompts of %d tokens in one batch)\n", total / r.prefill_s, N,
		       BENCH_BATCH_PROMPT);
		printf("decode           %.2f tokens/s aggregate, %.2f per sequence (%d steps of %.1f ms)\n", agg,
		       agg / N, n_decode, step_ms);
		printf("decode CPU       %.2f tokens per CPU-second (%.1f CPU-ms per step)\n",
		       r.cpu_s > 0 ? N * n_decode / r.cpu_s : 0, 1e3 * r.cpu_s / n_decode);
		if (a->profile)
			ds_prof_text("profile step", r.prof);
	}
	ds_engine_close(&e);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* Median, least and greatest of v[0..n) (v is sorted) */
static void bench_spread(double *v, int n, double *med, double *lo, double *hi)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	*med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
	*lo = v[0];
	*hi = v[n - 1];
}

/* --bench --batch N1,N2,... [--rounds R]: the batch curve in one process, the model loaded once. Each
 * round measures every size, starting one size later than the round before, so that a machine whose
 * speed drifts (a shared one) does not favour the sizes measured first; each size's gain over the
 * base (batch 1 when the list has it, else its first size) is taken within a round, where both ran
 * minutes apart at most, and the medians over rounds are reported with their spread. */
static int bench_curve(const struct cli_args *a)
{
	struct ds_engine e;
	const int nc = a->n_bench_curve, rounds = a->bench_rounds > 0 ? a->bench_rounds : CLI_BENCH_ROUNDS;
	int n_decode = a->sampling.max_tokens > 0 ? a->sampling.max_tokens : BENCH_DECODE;
	double load_s;
	int base = 0;
	const bool progress = isatty(STDERR_FILENO);   /* a line that rewrites itself, on a terminal */
	for (int i = 0; i < nc; i++)
		if (a->bench_curve[i] == 1) {
			base = i;
			break;
		}
	if (bench_batch_open(a, &e, a->bench_batch, n_decode, &load_s) != 0)
		return 1;
	double *tps = xcalloc((size_t)nc * (size_t)rounds, sizeof *tps);     /* [size][round] */
	double *cps = xcalloc((size_t)nc * (size_t)rounds, sizeof *cps);     /* tokens per CPU-second */
	double *gain = xcalloc((size_t)nc * (size_t)rounds, sizeof *gain);
	for (int r = 0; r < rounds; r++) {
		for (int j = 0; j < nc; j++) {
			int i = (j + r) % nc, N = a->bench_curve[i];
			struct bench_batch_result res;
			if (bench_batch_run(&e, N, n_decode, false, &res) != 0) {
				free(tps);
				free(cps);
				free(gain);
				ds_engine_close(&e);
				return 1;
			}
			tps[(size_t)i * rounds + r] = (double)N * n_decode / res.decode_s;
			cps[(size_t)i * rounds + r] = res.cpu_s > 0 ? (double)N * n_decode / res.cpu_s : 0;
			if (progress) {
				fprintf(stderr, "\rround %d of %d: batch %-3d", r + 1, rounds, N);
				fflush(stderr);
			}
		}
		for (int i = 0; i < nc; i++)
			gain[(size_t)i * rounds + r] = tps[(size_t)i * rounds + r] / tps[(size_t)base * rounds + r];
	}
	if (progress)
		fprintf(stderr, "\r%40s\r", "");
	const int threads = ds_state_threads(e.state);
	if (a->json)
		printf("{\"model\":\"%s\",\"backend\":\"%s\",\"cpu\":\"%s\",\"threads\":%d,\"load_s\":%.3f,\"rounds\":%d,"
		       "\"decode_steps\":%d,\"base_batch\":%d,\"curve\":[", e.model.name, ds_state_backend(e.state),
		       bench_cpu(), threads, load_s, rounds, n_decode, a->bench_curve[base]);
	else {
		printf("model            %s (%.2f B parameters, %.1f MB of weights)\n", e.model.name,
		       e.model.n_params / 1e9, e.model.weight_bytes / 1e6);
		printf("backend          %s, %d threads\n", ds_state_backend(e.state), threads);
		printf("cpu              %s\n", bench_cpu());
		printf("batch curve      %d rounds of %d decode steps per size; medians (least-greatest);\n"
		       "                 gain: aggregate tokens/s over batch %d's in the same round\n", rounds, n_decode,
		       a->bench_curve[base]);
	}
	for (int i = 0; i < nc; i++) {
		double t, tl, th, c, cl, ch, g, gl, gh;
		bench_spread(tps + (size_t)i * rounds, rounds, &t, &tl, &th);
		bench_spread(cps + (size_t)i * rounds, rounds, &c, &cl, &ch);
		bench_spread(gain + (size_t)i * rounds, rounds, &g, &gl, &gh);
		if (a->json)
			printf("%s{\"batch\":%d,\"decode_tps\":%.2f,\"decode_tps_min\":%.2f,\"decode_tps_max\":%.2f,"
			       "\"decode_tokens_per_cpu_s\":%.2f,\"gain\":%.3f,\"gain_min\":%.3f,\"gain_max\":%.3f}",
			       i ? "," : "", a->bench_curve[i], t, tl, th, c, g, gl, gh);
		else
			printf("batch %3d        %8.2f tokens/s aggregate (%.2f-%.2f), %7.2f per CPU-second, "
			       "gain %.2fx (%.2f-%.2f)\n", a->bench_curve[i], t, tl, th, c, g, gl, gh);
	}
	if (a->json)
		printf("]}\n");
	free(tps);
	free(cps);
	free(gain);
	ds_engine_close(&e);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* One round of the plain benchmark: the prompt prefilled from position 0 (the cache rows of the
 * round before are overwritten), the machine's bandwidth probed, n_decode tokens decoded, probed
 * again. */
struct bench_round {
	double prefill_s, decode_s, bw_before, bw_after, bw_machine, bw_used, fraction;
	double prof_prefill[DS_PROF_N + 1], prof_decode[DS_PROF_N + 1];
};

static int bench_round_run(struct ds_engine *e, const int *prompt, int n_prompt, int n_decode, int threads,
			   bool profile, double bytes_tok, struct rusage *ru, struct bench_round *r)
{
	const int vocab = e->model.cfg.vocab_size;
	ds_prof_enable(profile);
	ds_prof_reset();
	double t0 = clock_now();
	if (ds_forward(e->state, prompt, n_prompt, 0, e->logits, false) != 0) {
		ds_prof_enable(false);
		return -1;
	}
	r->prefill_s = clock_now() - t0;
	ds_prof_take(r->prof_prefill, r->prefill_s, n_prompt);

	/* The machine's bandwidth right before and right after the decode, the larger of the two: on a
	 * shared machine (a VM) what others take changes within seconds, and one probe after the decode
	 * gave anywhere from 0.6x to 1.7x of the bandwidth the decode itself met. Peak memory of the
	 * engine itself (ru, the first round) is taken before the probe's 1 GiB buffer. */
	ds_prof_enable(false);
	if (ru != NULL)
		getrusage(RUSAGE_SELF, ru);
	r->bw_before = cpu_measure_read_bandwidth(threads);
	ds_prof_enable(profile);
	ds_prof_reset();
	int pos = n_prompt;
	t0 = clock_now();
	for (int i = 0; i < n_decode; i++) {
		ds_prof_begin(DS_PROF_SAMPLING);
		int next = ds_argmax(e->logits, vocab);
		ds_prof_end(DS_PROF_SAMPLING);
		ds_forward(e->state, &next, 1, pos++, e->logits, false);
	}
	r->decode_s = clock_now() - t0;
	ds_prof_take(r->prof_decode, r->decode_s, n_decode);
	ds_prof_enable(false);
	r->bw_after = cpu_measure_read_bandwidth(threads);
	r->bw_machine = r->bw_before > r->bw_after ? r->bw_before : r->bw_after;
	r->bw_used = bytes_tok * (n_decode / r->decode_s) / 1e9;
	r->fraction = r->bw_machine > 0 ? r->bw_used / r->bw_machine : 0;
	return 0;
}

/* Rounds in order of their bandwidth fraction (the report's "median round") */
static const struct bench_round *bench_sort_rounds;

static int cmp_round(const void *x, const void *y)
{
	double a = bench_sort_rounds[*(const int *)x].fraction, b = bench_sort_rounds[*(const int *)y].fraction;
	return a < b ? -1 : a > b;
}

/* Bytes of latent cache one decoded token reads, on average over the n_decode tokens after an
 * n_prompt-token prompt: every layer's rows up to its position (step i attends to n_prompt + i + 1
 * rows), of the cache's type (F32 unless --cache-type bf16). At 512 positions of the bench model that is 3% of what the weights are; at
 * 4096, a quarter, and a bandwidth fraction without it would read low. */
static double bench_cache_bytes(const struct ds_config *cfg, int cache_type, int n_prompt, int n_decode)
{
	double rows = n_prompt + (n_decode + 1) / 2.0;
	return cfg->num_hidden_layers * rows * (double)(cfg->kv_lora_rank + cfg->qk_rope_head_dim) *
	       (double)ds_cache_bytes_per_value(cache_type);
}

/* Bytes each decoded token reads, by profile class (out[c] for ds_prof_class c, out[DS_PROF_N] the
 * rest: an embedding row, the post-attention norms): the latent cache with the attention that reads it,
 * the shared experts with the routed ones where they had no time of their own (the CPU runs them in
 * one task). With the time per class, each class's bandwidth: the next bottleneck by name. */
static void bench_class_bytes(const struct ds_model *m, double cache_tok, const double ms[DS_PROF_N + 1],
			      double out[DS_PROF_N + 1])
{
	struct ds_token_bytes b;
	ds_model_token_bytes(m, &b);
	for (int c = 0; c <= DS_PROF_N; c++)
		out[c] = 0;
	out[DS_PROF_ATTENTION] = (double)b.attention;
	out[DS_PROF_MLA] = (double)b.mla + cache_tok;
	out[DS_PROF_ROUTER] = (double)b.router;
	out[DS_PROF_EXPERTS] = (double)b.experts;
	out[ms[DS_PROF_SHARED] > 0 ? DS_PROF_SHARED : DS_PROF_EXPERTS] += (double)b.shared;
	out[DS_PROF_DENSE] = (double)b.dense;
	out[DS_PROF_HEAD] = (double)b.head;
	out[DS_PROF_N] = (double)b.other;
}

/* The opt-in int8 set this CPU runs that would read m's quantized matrices (its output head or its
 * first layer's o_proj quantized), where the set in use keeps exact products; NULL otherwise. */
static const char *bench_int8_hint(const struct ds_model *m)
{
	if (cpu_kernels_best()->rounds_activations || m->cfg.num_hidden_layers < 1 ||
	    !(ds_dtype_is_quantized(m->w.lm_head.dtype) || ds_dtype_is_quantized(m->w.layers[0].o_proj.dtype)))
		return NULL;
	return cpu_kernels_have_avx512_int8() ? "avx512-int8" : cpu_kernels_have_avx2() ? "avx2-int8" : NULL;
}

static const char *bench_class_name(int c)
{
	return c < DS_PROF_N ? ds_prof_name((enum ds_prof_class)c) : "other";
}

/* GB/s of class c: its bytes over its time (0 where it took none) */
static double bench_class_gbs(const double bytes[DS_PROF_N + 1], const double ms[DS_PROF_N + 1], int c)
{
	return ms[c] > 0 ? bytes[c] / (ms[c] * 1e-3) / 1e9 : 0;
}

int cli_bench(const struct cli_args *a)
{
	char err[1024];
	struct ds_engine e;
	struct rusage ru;
	int n_decode = a->sampling.max_tokens > 0 ? a->sampling.max_tokens : BENCH_DECODE;
	const int n_prompt = a->prompt_tokens > 0 ? a->prompt_tokens : BENCH_PROMPT;
	int n_ctx = a->n_ctx > 0 ? a->n_ctx : n_prompt + n_decode + 1;
	const int rounds = a->bench_rounds > 0 ? a->bench_rounds : 1;
	int *prompt, vocab, known, threads;
	double t0, load_s, weight_tok, cache_tok, bytes_tok;

	if (a->n_bench_curve > 1)
		return bench_curve(a);
	if (a->bench_batch > 0)
		return bench_batch(a);
	if (n_ctx < n_prompt + n_decode)
		return cli_fail("--ctx %d is too small for the benchmark's %d + %d tokens", n_ctx,
				n_prompt, n_decode);
	t0 = clock_now();
	if (ds_engine_open(&e, a->model, n_ctx, a->threads, NULL, NULL, err, sizeof err) != 0)
		return cli_fail("%s", err);
	load_s = clock_now() - t0;
	if (n_prompt + n_decode > e.model.cfg.max_position_embeddings) {
		int max = e.model.cfg.max_position_embeddings;
		ds_engine_close(&e);
		return cli_fail("the benchmark's %d + %d tokens are more than the model's context of %d: give a "
				"smaller --prompt-tokens", n_prompt, n_decode, max);
	}
	vocab = e.model.cfg.vocab_size;
	known = tok_vocab_size(e.tok) < vocab ? tok_vocab_size(e.tok) : vocab;
	threads = ds_state_threads(e.state);
	weight_tok = (double)ds_model_bytes_per_token(&e.model);
	cache_tok = bench_cache_bytes(&e.model.cfg, ds_state_cache_type(e.state), n_prompt, n_decode);
	bytes_tok = weight_tok + cache_tok;

	/* A fixed prompt of ordinary tokens: the numbers do not depend on the text. */
	prompt = xmalloc((size_t)n_prompt * sizeof *prompt);
	for (int i = 0; i < n_prompt; i++)
		prompt[i] = (int)((1000u + (unsigned)i * 7919u) % (unsigned)(known > 1000 ? known - 1000 : known));

	struct bench_round *r = xcalloc((size_t)rounds, sizeof *r);
	for (int i = 0; i < rounds; i++) {
		if (rounds > 1 && !a->json && isatty(STDERR_FILENO))
			fprintf(stderr, "\rround %d of %d", i + 1, rounds);
		if (bench_round_run(&e, prompt, n_prompt, n_decode, threads, a->profile, bytes_tok, i == 0 ? &ru : NULL,
				    &r[i]) != 0) {
			free(r);
			free(prompt);
			ds_engine_close(&e);
			return cli_fail("the forward pass rejected the benchmark prompt");
		}
	}
	if (rounds > 1 && !a->json && isatty(STDERR_FILENO))
		fprintf(stderr, "\r%*s\r", 20, "");

	/* The median round by bandwidth fraction reports the figures (they stay one round's, so they
	 * agree with each other); the spread over rounds comes with them. */
	int order[rounds];
	double pre_tps[rounds], dec_tps[rounds], frac[rounds];
	for (int i = 0; i < rounds; i++) {
		order[i] = i;
		pre_tps[i] = n_prompt / r[i].prefill_s;
		dec_tps[i] = n_decode / r[i].decode_s;
		frac[i] = r[i].fraction;
	}
	bench_sort_rounds = r;
	qsort(order, (size_t)rounds, sizeof order[0], cmp_round);
	const struct bench_round *m = &r[order[rounds / 2]];
	double pre_med, pre_lo, pre_hi, dec_med, dec_lo, dec_hi, fr_med, fr_lo, fr_hi;
	bench_spread(pre_tps, rounds, &pre_med, &pre_lo, &pre_hi);
	bench_spread(dec_tps, rounds, &dec_med, &dec_lo, &dec_hi);
	bench_spread(frac, rounds, &fr_med, &fr_lo, &fr_hi);
	(void)dec_med;
	(void)fr_med;

	if (a->json) {
		printf("{\"model\":\"%s\",\"backend\":\"cpu\",\"cpu\":\"%s\",\"kernels\":\"%s\",\"threads\":%d,\"load_s\":%.3f,"
		       "\"rounds\":%d,\"prefill_tokens\":%d,\"prefill_tps\":%.2f,\"decode_tokens\":%d,\"decode_tps\":%.2f,"
		       "\"weight_bytes\":%llu,\"bytes_per_token\":%.0f,\"weight_bytes_per_token\":%.0f,"
		       "\"cache_bytes_per_token\":%.0f,\"peak_rss_mb\":%.1f,"
		       "\"machine_bw_gbs\":%.2f,\"machine_bw_before_gbs\":%.2f,\"machine_bw_after_gbs\":%.2f,"
		       "\"decode_bw_gbs\":%.2f,\"bw_fraction\":%.3f,\"cache_type\":\"%s\"",
		       e.model.name, bench_cpu(), cpu_kernels_best()->name, threads, load_s, rounds, n_prompt,
		       rounds > 1 ? pre_med : pre_tps[0], n_decode,
		       n_decode / m->decode_s, (unsigned long long)e.model.weight_bytes, bytes_tok, weight_tok,
		       cache_tok, ru.ru_maxrss / 1024.0, m->bw_machine, m->bw_before, m->bw_after, m->bw_used, m->fraction,
		       ds_state_cache_type(e.state) == DS_BF16 ? "bf16" : "f32");
		if (rounds > 1) {
			printf(",\"prefill_tps_range\":[%.2f,%.2f],\"decode_tps_range\":[%.2f,%.2f],"
			       "\"bw_fraction_range\":[%.3f,%.3f]", pre_lo, pre_hi, dec_lo, dec_hi, fr_lo, fr_hi);
			/* every round, in the order run */
			printf(",\"round_decode_tps\":[");
			for (int i = 0; i < rounds; i++)
				printf("%s%.2f", i ? "," : "", n_decode / r[i].decode_s);
			printf("],\"round_bw_fraction\":[");
			for (int i = 0; i < rounds; i++)
				printf("%s%.3f", i ? "," : "", r[i].fraction);
			printf("]");
		}
		if (a->profile) {
			double cb[DS_PROF_N + 1];
			bench_class_bytes(&e.model, cache_tok, m->prof_decode, cb);
			ds_prof_json("prefill_ms_per_token", m->prof_prefill);
			ds_prof_json("decode_ms_per_token", m->prof_decode);
			printf(",\"decode_mb_per_token_by_class\":{");
			for (int c = 0; c <= DS_PROF_N; c++)
				printf("%s\"%s\":%.4f", c ? "," : "", bench_class_name(c), cb[c] / 1e6);
			printf("},\"decode_gbs_by_class\":{");
			for (int c = 0; c <= DS_PROF_N; c++)
				printf("%s\"%s\":%.3f", c ? "," : "", bench_class_name(c),
				       bench_class_gbs(cb, m->prof_decode, c));
			printf("}");
		}
		printf("}\n");
	} else {
		printf("model            %s (%.2f B parameters, %.1f MB of weights)\n", e.model.name,
		       e.model.n_params / 1e9, e.model.weight_bytes / 1e6);
		printf("backend          cpu, %d threads, kernels %s\n", threads, cpu_kernels_best()->name);
		printf("cpu              %s\n", bench_cpu());
		const char *hint = bench_int8_hint(&e.model);
		if (hint != NULL)
			printf("hint             --kernels %s rounds activations to 8 bits, as llama.cpp does (logits move by "
			       "~1e-2), and multiplies these quantized weights about twice as fast\n", hint);
		printf("load             %.3f s\n", load_s);
		if (rounds > 1) {
			printf("rounds           %d; prefill the median, decode and bandwidth the median round by "
			       "bandwidth fraction, (least-greatest) over rounds\n", rounds);
			printf("prefill          %.2f tokens/s (%d-token prompt) (%.2f-%.2f)\n", pre_med, n_prompt,
			       pre_lo, pre_hi);
			printf("decode           %.2f tokens/s (%d tokens after the prompt) (%.2f-%.2f)\n",
			       n_decode / m->decode_s, n_decode, dec_lo, dec_hi);
		} else {
			printf("prefill          %.2f tokens/s (%d-token prompt)\n", pre_tps[0], n_prompt);
			printf("decode           %.2f tokens/s (%d tokens after the prompt)\n", dec_tps[0], n_decode);
		}
		printf("read/token       %.1f MB per decoded token: %.1f MB of weights, %.1f MB of latent cache (%s)\n",
		       bytes_tok / 1e6, weight_tok / 1e6, cache_tok / 1e6,
		       ds_state_cache_type(e.state) == DS_BF16 ? "bf16" : "f32");
		printf("bandwidth        %.2f GB/s used by decode of %.2f GB/s measured (%.2f before, %.2f after): "
		       "%.0f%%", m->bw_used, m->bw_machine, m->bw_before, m->bw_after, 100.0 * m->fraction);
		if (rounds > 1)
			printf(" (%.0f-%.0f%%)", 100.0 * fr_lo, 100.0 * fr_hi);
		printf("\n");
		printf("peak RSS         %.1f MB\n", ru.ru_maxrss / 1024.0);
		if (a->profile) {
			double cb[DS_PROF_N + 1];
			bench_class_bytes(&e.model, cache_tok, m->prof_decode, cb);
			ds_prof_text("profile prefill", m->prof_prefill);
			ds_prof_text("profile decode", m->prof_decode);
			/* the classes that read a share of the bytes, as a fraction of the machine's bandwidth too */
			printf("decode GB/s     ");
			for (int c = 0, first = 1; c <= DS_PROF_N; c++) {
				if (cb[c] < 0.01 * bytes_tok || m->prof_decode[c] <= 0)
					continue;
				double g = bench_class_gbs(cb, m->prof_decode, c);
				printf("%s %s %.1f (%.0f%%, %.1f MB)", first ? "" : ",", bench_class_name(c), g,
				       m->bw_machine > 0 ? 100.0 * g / m->bw_machine : 0.0, cb[c] / 1e6);
				first = 0;
			}
			printf("\n");
		}
	}
	free(r);
	free(prompt);
	ds_engine_close(&e);
	return fflush(stdout) == 0 ? 0 : 1;
}

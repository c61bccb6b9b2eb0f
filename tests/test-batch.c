/* test-batch.c: the batch-shaped forward pass (ds_forward_batch) against one sequence at a time
 * (ds_forward) on the fixture models: four sequences in their own cache slots, prefilled together, then
 * decoded greedily one token each per call, a fourth joining mid-way (its prompt in the same call as
 * the others' decode tokens) and a prefill split over calls; every logit within 1e-4 of the
 * one-sequence pass and every greedy id the same. A batch stopped between layers (ds_batch.stop)
 * leaves the cache before it intact. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX_CHECK_AT
#include "fixture-util.h"
#include "backend.h"
#include "generate.h"
#include "simulate.h"
#include "xalloc.h"

#define N_SEQ 4
#define STEPS 10
#define BOUND 1e-4

struct seq {
	int prompt[64], n_prompt;
	int start;                  /* the batched run's step at which its prompt goes in */
	float *ref;                 /* (STEPS, vocab): the one-sequence logits of each step */
	int ref_ids[STEPS];
	int ids[STEPS], n_ids;      /* the batched run's greedy ids */
	int pos;                    /* next position to feed */
	int fed;                    /* prompt tokens fed so far */
};

/* The logits one sequence alone gives: its prompt, then STEPS - 1 greedy tokens. */
static void reference(struct ds_state *st, int vocab, struct seq *q)
{
	float *lg = q->ref;
	if (ds_forward(st, q->prompt, q->n_prompt, 0, lg, false) != 0)
		CHECK(0, "ds_forward of a %d-token prompt failed", q->n_prompt);
	for (int k = 0; k < STEPS; k++) {
		q->ref_ids[k] = ds_argmax(lg + (size_t)k * vocab, vocab);
		if (k + 1 < STEPS && ds_forward(st, &q->ref_ids[k], 1, q->n_prompt + k, lg + (size_t)(k + 1) * vocab,
						false) != 0)
			CHECK(0, "ds_forward of step %d failed", k + 1);
	}
}

static void run_model(const char *name, int chunk_prompt)
{
	char dir[4096], err[1024];
	struct ds_engine e;
	static struct seq seqs[N_SEQ];

	snprintf(dir, sizeof dir, "%s/models/%s", fix_dir(), name);
	if (ds_engine_open(&e, dir, 128, 2, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", name, err);
		return;
	}
	const int V = e.model.cfg.vocab_size;
	uint64_t rng = 0x5eed0000u + (uint64_t)chunk_prompt;

	/* prompts of different lengths; the third shares the first one's start (a common prefix) */
	for (int i = 0; i < N_SEQ; i++) {
		struct seq *q = &seqs[i];
		memset(q, 0, sizeof *q);
		q->n_prompt = 5 + 9 * i;
		for (int j = 0; j < q->n_prompt; j++)
			q->prompt[j] = (int)(fix_xorshift(&rng) % (uint64_t)V);
		if (i == 2)
			memcpy(q->prompt, seqs[0].prompt, (size_t)seqs[0].n_prompt * sizeof *q->prompt);
		q->start = i == 3 ? 3 : 0;
		q->ref = xcalloc((size_t)STEPS * (size_t)V, sizeof *q->ref);
		reference(e.state, V, q);
	}

	/* the same on four slots; slot i holds sequence 3 - i, so slot and order differ */
	if (ds_state_set_slots(e.state, N_SEQ, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", name, err);
		ds_engine_close(&e);
		return;
	}
	CHECK(ds_state_slots(e.state) == N_SEQ, "%s: %d slots", name, ds_state_slots(e.state));
	int tokens[256], pos[256], seq[256], owner[256];
	bool want[256];
	float *logits = xcalloc(256 * (size_t)V, sizeof *logits);
	double worst = 0;
	int bad_ids = 0;
	for (int step = 0;; step++) {
		int n = 0, busy = 0;
		for (int i = N_SEQ - 1; i >= 0; i--) {     /* out of order on purpose */
			struct seq *q = &seqs[i];
			if (step < q->start || q->n_ids == STEPS)
				continue;
			busy++;
			if (q->fed < q->n_prompt) {
				/* the prompt, or a piece of it when chunked */
				int len = q->n_prompt - q->fed;
				if (chunk_prompt > 0 && len > chunk_prompt)
					len = chunk_prompt;
				for (int j = 0; j < len; j++, n++) {
					tokens[n] = q->prompt[q->fed + j];
					pos[n] = q->pos + j;
					seq[n] = N_SEQ - 1 - i;
					owner[n] = i;
					want[n] = q->fed + j == q->n_prompt - 1;
				}
				q->fed += len;
				q->pos += len;
			} else {
				tokens[n] = q->ids[q->n_ids - 1];
				pos[n] = q->pos++;
				seq[n] = N_SEQ - 1 - i;
				owner[n] = i;
				want[n] = true;
				n++;
			}
		}
		if (busy == 0)
			break;
		struct ds_batch b = { .n = n, .tokens = tokens, .pos = pos, .seq = seq, .want_logits = want };
		if (ds_forward_batch(e.state, &b, logits) != 0) {
			CHECK(0, "%s: ds_forward_batch of %d tokens failed at step %d", name, n, step);
			break;
		}
		for (int t = 0, row = 0; t < n; t++) {
			if (!want[t])
				continue;
			struct seq *q = &seqs[owner[t]];
			const float *lg = logits + (size_t)row++ * V;
			double d = fix_max_diff(lg, q->ref + (size_t)q->n_ids * V, (size_t)V);
			if (d > worst)
				worst = d;
			q->ids[q->n_ids] = ds_argmax(lg, V);
			bad_ids += q->ids[q->n_ids] != q->ref_ids[q->n_ids];
			q->n_ids++;
		}
	}
	for (int i = 0; i < N_SEQ; i++)
		CHECK(seqs[i].n_ids == STEPS, "%s: sequence %d got %d of %d steps", name, i, seqs[i].n_ids, STEPS);
	CHECK(worst <= BOUND, "%s (prompt chunk %d): batched logits differ from one sequence's by %.3g (bound %g)",
	      name, chunk_prompt, worst, BOUND);
	CHECK(bad_ids == 0, "%s: %d greedy ids differ", name, bad_ids);
	printf("%s on %s (prompt chunk %d): %d sequences x %d steps, worst logit difference %.3g, greedy ids %s\n",
	       name, ds_state_backend(e.state), chunk_prompt, N_SEQ, STEPS, worst, bad_ids == 0 ? "identical" : "DIFFER");

	/* out-of-range arguments are refused */
	{
		int t0 = 1, p0 = 0, s_bad = N_SEQ, p_bad = 128;
		struct ds_batch b1 = { .n = 1, .tokens = &t0, .pos = &p0, .seq = &s_bad };
		struct ds_batch b2 = { .n = 1, .tokens = &t0, .pos = &p_bad, .seq = &p0 };
		CHECK(ds_forward_batch(e.state, &b1, NULL) == -1 && ds_forward_batch(e.state, &b2, NULL) == -1,
		      "%s: a sequence or position out of range is refused", name);
	}
	free(logits);
	for (int i = 0; i < N_SEQ; i++)
		free(seqs[i].ref);
	ds_engine_close(&e);
}

/* e = the full fixture with 64 positions on 2 threads; false (a failure counted) when it cannot open */
static bool open_full(struct ds_engine *e)
{
	char dir[4096], err[1024];

	snprintf(dir, sizeof dir, "%s/models/tiny-ds2-full", fix_dir());
	if (ds_engine_open(e, dir, 64, 2, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s", err);
		return false;
	}
	return true;
}

/* A stop that says yes at its at-th question (0: never), counting them */
struct stop_count {
	int asked, at;
};

static int stop_at(void *arg)
{
	struct stop_count *c = arg;
	return ++c->asked == c->at;
}

/* ds_batch.stop: asked before each layer; a yes ends the pass there (1), the rows before the batch's
 * positions intact: the same batch run again gives the logits of a run never stopped, bit for bit. */
static void stopped_batch(void)
{
	struct ds_engine e;

	if (!open_full(&e))
		return;
	const int V = e.model.cfg.vocab_size, L = e.model.cfg.num_hidden_layers;
	int tok[18], pos[18], seq[18] = { 0 };
	for (int i = 0; i < 18; i++) {
		tok[i] = 3 + 37 * i % (V - 3);
		pos[i] = i;
	}
	float *ref = xcalloc((size_t)V, sizeof *ref), *lg = xcalloc((size_t)V, sizeof *lg);
	struct ds_batch prefix = { .n = 10, .tokens = tok, .pos = pos, .seq = seq };
	struct ds_batch rest = { .n = 8, .tokens = tok + 10, .pos = pos + 10, .seq = seq };
	CHECK(ds_forward_batch(e.state, &prefix, NULL) == 0 && ds_forward_batch(e.state, &rest, ref) == 0,
	      "the unstopped batches run");

	struct stop_count never = { .at = 0 }, third = { .at = 3 }, first = { .at = 1 };
	struct ds_batch asked = rest;
	asked.stop = stop_at;
	asked.stop_arg = &never;
	CHECK(ds_forward_batch(e.state, &asked, lg) == 0 && memcmp(lg, ref, sizeof *lg * (size_t)V) == 0,
	      "a stop that never says yes changes nothing");
	CHECK(never.asked == L, "the stop is asked before each of the %d layers: asked %d times", L, never.asked);

	asked.stop_arg = &third;
	CHECK(ds_forward_batch(e.state, &asked, lg) == 1, "a yes at the third question stops the batch (1)");
	CHECK(third.asked == 3, "the pass stopped at the yes: asked %d times, not 3", third.asked);
	CHECK(ds_forward_batch(e.state, &rest, lg) == 0 && memcmp(lg, ref, sizeof *lg * (size_t)V) == 0,
	      "after a stopped batch the same batch gives the unstopped logits, bit for bit");

	asked.stop_arg = &first;
	CHECK(ds_forward_batch(e.state, &asked, lg) == 1 && first.asked == 1,
	      "a yes before the first layer stops the batch");
	CHECK(ds_forward_batch(e.state, &rest, lg) == 0 && memcmp(lg, ref, sizeof *lg * (size_t)V) == 0,
	      "and the batch run again gives the unstopped logits");
	printf("stopped batches: asked before each of %d layers, stopped at the yes, the cache before intact\n", L);
	free(ref);
	free(lg);
	ds_engine_close(&e);
}

/* A model split over ranks takes one sequence (the ranks follow ds_forward), and says so. */
static void split_state(void)
{
	char err[1024];
	struct ds_engine e;

	if (!open_full(&e))
		return;
	if (ds_sim_replace_state(&e.model, &e.state, 2, 0, 2, err, sizeof err) != 0) {
		CHECK(0, "two simulated ranks: %s", err);
	} else {
		err[0] = '\0';
		CHECK(ds_state_set_slots(e.state, 4, err, sizeof err) == -1 && strstr(err, "ranks") != NULL &&
		      ds_state_slots(e.state) == 1, "four slots on a split model: refused with '%s'", err);
		int t[2] = { 5, 6 }, p[2] = { 0, 1 }, q[2] = { 0, 0 };
		struct stop_count always = { .at = 1 };
		struct ds_batch b = { .n = 2, .tokens = t, .pos = p, .seq = q, .stop = stop_at, .stop_arg = &always };
		float *lg = xcalloc((size_t)e.model.cfg.vocab_size, sizeof *lg);
		/* every rank runs every layer: the stop is not asked there */
		CHECK(ds_forward_batch(e.state, &b, lg) == 0 && always.asked == 0,
		      "one sequence on a split model runs (its stop not asked)");
		free(lg);
	}
	ds_engine_close(&e);
}

int main(void)
{
	static const char *models[] = { "tiny-ds2-full", "tiny-ds2-lite", "tiny-ds2-group" };

	if (!fix_have_models())
		return 77;
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		run_model(models[i], 0);
		run_model(models[i], 7);
	}
	split_state();
	stopped_batch();

	/* the same on a GPU where there is one (F32 weights, cuBLAS without TF32: exact enough for the
	 * bound); the runs of a batch go to the device's attention one at a time */
	{
		char err[512];
		if (ds_backend_find("cuda", err, sizeof err) != NULL) {
			struct ds_backend_choice gpu = { .name = "cuda", .f32 = true }, cpu = { .name = "cpu" };
			ds_forward_set_backend(&gpu);
			run_model("tiny-ds2-full", 0);
			run_model("tiny-ds2-lite", 7);
			ds_forward_set_backend(&cpu);
		} else {
			printf("cuda: not here (%s)\n", err);
		}
	}
	return fix_failures != 0;
}

/* test-forward-next.c: the forward pass's backend choice and next-token calls on the CPU, in every
 * build: ds_state_new_on by name (cpu, auto; an unknown name or a missing GPU is a sentence),
 * ds_forward_next reproduces golden/greedy.ids of the three fixtures, ds_forward_sample at a tiny
 * temperature is the argmax and at temperature 1 follows u through the softmax. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "forward.h"
#include "model.h"
#include "xalloc.h"
#include "fixture-util.h"

#define GREEDY_N 24

static void test_model(const char *fixtures, const char *name)
{
	char dir[1024], path[1200], err[512];
	snprintf(dir, sizeof dir, "%s/models/%s", fixtures, name);
	struct ds_model m;
	if (ds_model_load(dir, &m, NULL, NULL, err, sizeof err) != 0) {
		CHECK(0, "%s: %s", name, err);
		return;
	}
	int np = 0, ng = 0, V = m.cfg.vocab_size;
	snprintf(path, sizeof path, "%s/golden/prompt.ids", dir);
	int *prompt = fix_read_ids(path, &np);
	snprintf(path, sizeof path, "%s/golden/greedy.ids", dir);
	int *gold = fix_read_ids(path, &ng);
	struct ds_backend_choice cpu = { .name = "cpu" };
	struct ds_state *s = NULL;
	if (prompt == NULL || gold == NULL || ng != GREEDY_N) {
		CHECK(0, "%s: golden files missing", name);
		goto out;
	}
	s = ds_state_new_on(&m, np + GREEDY_N + 4, 2, &cpu, err, sizeof err);
	if (s == NULL) {
		CHECK(0, "%s: ds_state_new_on cpu: %s", name, err);
		goto out;
	}
	CHECK(strcmp(ds_state_backend(s), "cpu") == 0, "%s: backend %s", name, ds_state_backend(s));
	int ids[GREEDY_N];
	int next = ds_forward_next(s, prompt, np, 0);
	for (int i = 0; i < GREEDY_N; i++) {
		ids[i] = next;
		next = ds_forward_next(s, &ids[i], 1, np + i);
	}
	for (int i = 0; i < GREEDY_N; i++)
		CHECK(ids[i] == gold[i], "%s: ds_forward_next token %d is %d, golden/greedy.ids says %d", name, i, ids[i],
		      gold[i]);
	/* a tiny temperature is the argmax; temperature 1 picks by u through the softmax */
	CHECK(ds_forward_sample(s, prompt, np, 0, 1e-4f, 0.5f) == gold[0], "%s: sampling at T=1e-4 is not the argmax",
	      name);
	float *lg = xmalloc(sizeof *lg * (size_t)V);
	CHECK(ds_forward(s, prompt, np, 0, lg, false) == 0, "%s: forward refused", name);
	double mx = lg[0], total = 0, run = 0;
	for (int i = 1; i < V; i++)
		mx = lg[i] > mx ? lg[i] : mx;
	for (int i = 0; i < V; i++)
		total += exp(lg[i] - mx);
	int checked = 0;
	for (int i = 0; i < V && checked < 8; i++) {
		double w = exp(lg[i] - mx) / total;
		if (w > 1e-3) {
			float u = (float)(run + w / 2);
			int got = ds_forward_sample(s, prompt, np, 0, 1.0f, u);
			CHECK(got == i, "%s: sampling at u=%.5f gives %d, expected %d", name, u, got, i);
			checked++;
		}
		run += w;
	}
	CHECK(checked > 0, "%s: no token to check sampling with", name);
	free(lg);
	/* bad arguments as ds_forward */
	int bad = V;
	CHECK(ds_forward_next(s, &bad, 1, 0) == -1, "%s: token %d accepted", name, V);
	CHECK(ds_forward_next(s, prompt, 2, ds_state_n_ctx(s) - 1) == -1, "%s: pos + n > n_ctx accepted", name);
	CHECK(ds_forward_sample(s, prompt, 1, -1, 1.0f, 0.5f) == -1, "%s: pos -1 accepted", name);
out:
	ds_state_free(s);
	free(prompt);
	free(gold);
	ds_model_free(&m);
}

int main(void)
{
	const char *fixtures = fix_dir();
	char err[512];

	/* names: cpu always; auto is some backend; an unknown one, and cuda where there is none, a sentence */
	CHECK(ds_backend_find("cpu", err, sizeof err) == &ds_backend_cpu, "cpu is not the CPU backend");
	CHECK(ds_backend_find("auto", err, sizeof err) != NULL, "auto found no backend: %s", err);
	err[0] = '\0';
	CHECK(ds_backend_find("tpu", err, sizeof err) == NULL && strstr(err, "cpu, cuda and auto") != NULL,
	      "an unknown backend accepted or unclear: %s", err);
	const struct ds_backend *cu = ds_backend_find("cuda", err, sizeof err);
	CHECK(cu != NULL || strstr(err, "--backend cuda") != NULL, "cuda refused without a sentence: %s", err);
	printf("backend auto: %s; cuda: %s\n", ds_backend_find("auto", err, sizeof err)->name, cu ? "present" : err);

	if (!fix_have_models())
		return fix_failures ? 1 : 77;
	test_model(fixtures, "tiny-ds2-full");
	test_model(fixtures, "tiny-ds2-lite");
	test_model(fixtures, "tiny-ds2-group");
	printf("%s\n", fix_failures ? "FAILED" : "next-token calls and backend choice agree with the fixtures");
	return fix_failures ? 1 : 0;
}

/* generate.c: opening an engine and the generation loop: prompt cache, batched prefill, sampling,
 * streaming UTF-8 text with stop strings held back until they are decided. */
#include "clock.h"
#include "generate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "answer.h"
#include "backend.h"
#include "plan.h"
#include "xalloc.h"

/* Prompt tokens per prefill call: the forward pass's own chunk (512), between which a cancel is
 * heard. Each call re-expands the K/V of every position before it (the expanded prefix form), so
 * halves cost more than the matrix products lose: a 4,096-token prompt on lite4 (int8 kernels, 2
 * threads) read in 256-token calls went at 522-554 tokens/s, in 512-token calls at 669-682. */
#define PREFILL_CHUNK 512

const char *ds_finish_name(enum ds_finish f)
{
	switch (f) {
	case DS_FINISH_STOP: return "stop";
	case DS_FINISH_LENGTH: return "length";
	case DS_FINISH_CANCEL: return "cancel";
	case DS_FINISH_CONTEXT: return "context";
	}
	return "stop";
}

/* The default context: the model's, but the latent cache may take at most half of the memory that
 * is available now, so a 128K-context model opens on a small machine with a shorter window instead
 * of failing. */
static int default_context(const struct ds_config *cfg, const struct ds_backend *be)
{
	long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t per_token = (uint64_t)cfg->num_hidden_layers *
			     (uint64_t)(cfg->kv_lora_rank + cfg->qk_rope_head_dim) *
			     ds_cache_bytes_per_value(ds_forward_cache_type(be, NULL, 0));
	uint64_t n = (uint64_t)cfg->max_position_embeddings;

	if (pages > 0 && page > 0 && per_token > 0) {
		uint64_t fit = (uint64_t)pages * (uint64_t)page / 2 / per_token;

		if (fit < n)
			n = fit;
	}
	if (n < 16)
		n = 16;
	return (int)n;
}

/* The default context on the chosen backend: default_context, and on a GPU also no longer than the
 * memory plan fits in the device's free memory next to the weights (Coder-V2-Lite's 31 GB and its
 * full 163840-token cache of 10 GB do not fit a 40 GB card together). */
static int device_context(const struct ds_config *cfg, const struct ds_backend_choice *c, int *n_ctx, char *err,
			  size_t errlen)
{
	char ignored[256];
	const struct ds_backend *be = ds_backend_find(c->name != NULL ? c->name : "cpu", ignored, sizeof ignored);
	int n = default_context(cfg, be);
	if (be != NULL && be->free_memory != NULL) {
		struct ds_plan plan;
		uint64_t free_bytes = be->free_memory(c->device);
		if (ds_plan_make(cfg, 1, &plan, err, errlen) != 0)
			return -1;
		int64_t fit = ds_plan_fit_context(cfg, &plan, n, c->f32 ? 4 : 2, 4, &free_bytes);
		ds_plan_free(&plan);
		if (fit <= 0)
			return errorf(err, errlen, "the model does not fit on GPU %d (%.1f GB free): use several GPUs "
				      "(--gpus N; --plan --gpus N shows how it splits) or --backend cpu", c->device,
				      (double)free_bytes / 1e9);
		n = (int)fit;
	}
	*n_ctx = n;
	return 0;
}

int ds_model_dir_check(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	size_t len = strlen(dir);
	const char *what = len > 5 && strcmp(dir + len - 5, ".gguf") == 0 ? "file" : "directory";

	if (stat(dir, &st) == 0)
		return 0;               /* a directory or a .gguf: the loaders judge what is inside */
	if (errno == ENOENT || errno == ENOTDIR)
		return errorf(err, errlen, "the model %s %s does not exist; give --model (or DSCODER_MODEL) a "
			      "checkpoint directory (config.json, tokenizer.json, *.safetensors) or a .gguf file",
			      what, dir);
	return errorf(err, errlen, "the model %s %s cannot be opened (%s); check the path given to --model "
		      "(or DSCODER_MODEL) and its permissions", what, dir, strerror(errno));
}

int ds_engine_open(struct ds_engine *e, const char *dir, int n_ctx, int n_threads,
		   ds_progress_fn progress, void *arg, char *err, size_t errlen)
{
	memset(e, 0, sizeof *e);
	if (ds_model_dir_check(dir, err, errlen) != 0)
		return -1;
	e->tok = tok_load(dir, err, errlen);
	if (e->tok == NULL)
		return -1;
	if (ds_model_load(dir, &e->model, progress, arg, err, errlen) != 0) {
		tok_free(e->tok);
		e->tok = NULL;
		return -1;
	}
	{
		/* The backend the command line chose; a GPU's weight upload reports progress too. */
		struct ds_backend_choice choice;

		ds_forward_get_backend(&choice);
		choice.progress = progress;
		choice.progress_arg = arg;
		if (n_ctx <= 0 && device_context(&e->model.cfg, &choice, &n_ctx, err, errlen) != 0) {
			ds_model_free(&e->model);
			tok_free(e->tok);
			e->tok = NULL;
			return -1;
		}
		e->state = ds_state_new_on(&e->model, n_ctx, n_threads, &choice, err, errlen);
	}
	if (e->state == NULL) {
		ds_model_free(&e->model);
		tok_free(e->tok);
		e->tok = NULL;
		return -1;
	}
	e->ids_cap = n_ctx + 1;
	e->cached = xcalloc((size_t)e->ids_cap, sizeof *e->cached);
	e->history = xcalloc((size_t)e->ids_cap, sizeof *e->history);
	e->logits = xcalloc((size_t)e->model.cfg.vocab_size, sizeof *e->logits);
	e->n_cached = 0;
	return 0;
}

void ds_engine_close(struct ds_engine *e)
{
	if (e->state != NULL)
		ds_state_free(e->state);
	ds_model_free(&e->model);
	tok_free(e->tok);
	free(e->cached);
	free(e->history);
	free(e->logits);
	memset(e, 0, sizeof *e);
}

static size_t common_prefix(const int *a, int na, const int *b, int nb)
{
	int i = 0;

	while (i < na && i < nb && a[i] == b[i])
		i++;
	return (size_t)i;
}

int ds_generate(struct ds_engine *e, const int *prompt, int n, const struct ds_sampling *p,
		ds_text_fn on_text, void *arg, struct ds_gen_stats *st, char *err, size_t errlen)
{
	const struct ds_config *cfg = &e->model.cfg;
	int n_ctx = ds_state_n_ctx(e->state), pos, reuse;
	struct ds_answer a;
	double t0 = clock_now(), t_decode0 = 0;
	int n_decoded = 0, rc = 0;

	memset(st, 0, sizeof *st);
	st->prompt_tokens = n;
	/* A caller may have put a state with a longer context in place (--simulate-ranks, --gpus). */
	if (e->ids_cap < n_ctx + 1) {
		e->cached = xreallocarray(e->cached, (size_t)n_ctx + 1, sizeof *e->cached);
		e->history = xreallocarray(e->history, (size_t)n_ctx + 1, sizeof *e->history);
		e->ids_cap = n_ctx + 1;
	}
	if (n <= 0)
		return errorf(err, errlen, "the prompt is empty");
	for (int i = 0; i < n; i++)
		if (prompt[i] < 0 || prompt[i] >= cfg->vocab_size)
			return errorf(err, errlen, "prompt id %d at position %d is outside the vocabulary [0, %d)",
				      prompt[i], i, cfg->vocab_size);
	/* The prompt and at least one answer token must fit: never cut silently. */
	if (n >= n_ctx) {
		st->finish = DS_FINISH_CONTEXT;
		st->over_by = n - n_ctx + 1;
		return 0;
	}

	/* Prompt cache: keep the longest prefix already in the KV cache; the last prompt token is always
	 * run again because its logits are needed. */
	reuse = (int)common_prefix(e->cached, e->n_cached, prompt, n);
	if (reuse >= n)
		reuse = n - 1;
	st->cached_tokens = reuse;
	e->n_cached = reuse;
	/* Prefill in chunks, asking the caller between them, so a cancel (or a shutdown) does not wait
	 * for a long prompt; what was prefilled stays cached for the next request. */
	for (int at = reuse; at < n; at += PREFILL_CHUNK) {
		int len = n - at < PREFILL_CHUNK ? n - at : PREFILL_CHUNK;

		if (at > reuse && on_text("", 0, arg) != 0) {
			st->finish = DS_FINISH_CANCEL;
			return 0;
		}
		if (ds_forward(e->state, prompt + at, len, at, e->logits, false) != 0) {
			e->n_cached = 0;
			return errorf(err, errlen, "the forward pass rejected the prompt");
		}
		memcpy(e->cached + at, prompt + at, (size_t)len * sizeof *prompt);
		e->n_cached = at + len;
	}
	pos = n;
	{
		double t = clock_now() - t0;

		st->prefill_tps = t > 0 ? (double)(n - reuse) / t : 0;
	}

	ds_answer_init(&a, e->tok, cfg->vocab_size, cfg->eos_token_id, p, prompt, n, n_ctx + 1);
	for (;;) {
		int id = ds_answer_pick(&a, e->logits);

		if (st->completion_tokens == 0) {
			t_decode0 = clock_now();
			st->ttft_ms = (t_decode0 - t0) * 1000.0;
		}
		enum ds_answer_state as = ds_answer_add(&a, id, on_text, arg);
		st->completion_tokens = a.n_tokens;
		if (as == DS_ANSWER_EOS) {
			st->finish = DS_FINISH_STOP;
			break;
		}
		if (as != DS_ANSWER_MORE) {
			st->finish = as == DS_ANSWER_STOP ? DS_FINISH_STOP : DS_FINISH_CANCEL;
			goto out;
		}
		if (p->max_tokens > 0 && st->completion_tokens >= p->max_tokens) {
			st->finish = DS_FINISH_LENGTH;
			break;
		}
		if (pos >= n_ctx) {
			st->finish = DS_FINISH_CONTEXT;
			break;
		}
		if (ds_forward(e->state, &id, 1, pos, e->logits, false) != 0) {
			rc = errorf(err, errlen, "the forward pass failed at position %d", pos);
			goto out;
		}
		e->cached[pos++] = id;
		e->n_cached = pos;
		n_decoded++;
	}
	/* The answer ended normally: whatever was held back is not a stop string. */
	if (ds_answer_flush(&a, on_text, arg) != 0)
		st->finish = DS_FINISH_CANCEL;
out:
	{
		double t = clock_now() - t_decode0;

		st->decode_tps = n_decoded > 0 && t > 0 ? (double)n_decoded / t : 0;
	}
	ds_answer_free(&a);
	return rc;
}

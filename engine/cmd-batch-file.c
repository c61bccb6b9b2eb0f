/* cmd-batch-file.c: dscoder-engine --batch-file prompts.jsonl: every line a request ({"messages": [...]},
 * {"prompt": ...}, {"prompt": ..., "suffix": ...}, with the API's sampling fields), all given to the
 * scheduler at once so that --slots of them decode together; the answers come out as JSON lines in
 * the input's order, with a progress line on stderr. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cmd-sched.h"
#include "engine-cli.h"
#include "generate.h"
#include "openai-api.h"
#include "scheduler.h"
#include "xalloc.h"

/* One line of the file and, as its events come, its answer. */
struct line {
	struct oai_request r;
	char *text;
	size_t len, cap;
	bool done, failed;
	struct ds_gen_stats st;
	char message[512];
};

struct batch {
	pthread_mutex_t mu;
	pthread_cond_t cond;        /* signalled when a line is done */
	struct line *lines;
	size_t n;
};

struct event_arg {
	struct batch *b;
	struct line *l;
};

static void on_event(const struct ds_sched_event *ev, void *arg)
{
	struct batch *b = ((struct event_arg *)arg)->b;
	struct line *l = ((struct event_arg *)arg)->l;

	pthread_mutex_lock(&b->mu);
	if (ev->type == DS_SCHED_TOKEN) {
		if (l->len + ev->len + 1 > l->cap) {
			l->cap = (l->len + ev->len + 1) * 2;
			l->text = xrealloc(l->text, l->cap);
		}
		memcpy(l->text + l->len, ev->text, ev->len);
		l->len += ev->len;
	} else if (ev->type == DS_SCHED_DONE) {
		l->st = *ev->stats;
		l->done = true;
	} else {
		snprintf(l->message, sizeof l->message, "%s", ev->message != NULL ? ev->message : "generation failed");
		l->failed = l->done = true;
	}
	if (l->done)
		pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->mu);
}

/* Reads and checks every line before the model loads, so that a mistake on line 900 costs nothing.
 * Blank lines are skipped. Returns 0, or cli_fail's status naming the line. */
static int read_lines(const struct cli_args *a, struct batch *b)
{
	FILE *f = strcmp(a->batch_path, "-") == 0 ? stdin : fopen(a->batch_path, "r");
	char *buf = NULL;
	size_t cap = 0, cap_lines = 0;
	ssize_t got;
	long number = 0;
	int rc = 0;

	if (f == NULL)
		return cli_fail("--batch-file %s: %s", a->batch_path, strerror(errno));
	while ((got = getline(&buf, &cap, f)) >= 0) {
		struct oai_error e;
		size_t k = 0;

		number++;
		while (k < (size_t)got && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r' || buf[k] == '\n'))
			k++;
		if (k == (size_t)got)
			continue;
		if (b->n == cap_lines) {
			cap_lines = cap_lines ? cap_lines * 2 : 64;
			b->lines = xreallocarray(b->lines, cap_lines, sizeof *b->lines);
		}
		memset(&b->lines[b->n], 0, sizeof b->lines[b->n]);
		if (oai_request_parse(&b->lines[b->n].r, OAI_BATCH_LINE, buf, (size_t)got, &a->sampling, a->seed_set,
				      &e) != 0) {
			rc = cli_fail("%s:%ld: %s", a->batch_path, number, e.message);
			break;
		}
		b->n++;
	}
	if (rc == 0 && ferror(f))
		rc = cli_fail("--batch-file %s: read error: %s", a->batch_path, strerror(errno));
	if (rc == 0 && b->n == 0)
		rc = cli_fail("--batch-file %s holds no requests (one JSON object per line)", a->batch_path);
	free(buf);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* "batch: 12/100 answered, 1834 tokens, 210.5 tokens/s": on a terminal one line rewritten, else a
 * line at every tenth of the way. */
static void progress(size_t done, size_t n, long tokens, double t0, bool tty, size_t *shown)
{
	double s = clock_now() - t0;

	if (!tty && done != n && done * 10 / n == *shown * 10 / n)
		return;
	*shown = done;
	fprintf(stderr, "%sbatch: %zu/%zu answered, %ld tokens, %.1f tokens/s%s", tty ? "\r" : "", done, n, tokens,
		s > 0 ? (double)tokens / s : 0.0, tty && done != n ? "" : "\n");
}

int cli_batch_file(const struct cli_args *a)
{
	char err[1024];
	struct batch b = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct event_arg *args;
	struct ds_engine e;
	struct ds_sched_opts so;
	struct ds_sched *s;
	size_t next = 0, shown = 0, failed = 0;
	long tokens = 0;
	double t0;
	bool tty = isatty(STDERR_FILENO), opened;
	int rc = 0;

	if (read_lines(a, &b) != 0) {
		for (size_t i = 0; i < b.n; i++)
			oai_request_free(&b.lines[i].r);
		free(b.lines);
		return 1;
	}
	cli_sched_opts(a, &so);
	opened = cli_sched_engine_open(a, &e, &so, err, sizeof err) == 0;
	if (!opened)
		rc = cli_fail("%s", err);
	so.max_queue = (int)b.n;
	s = rc == 0 ? ds_sched_new(&e, &so, err, sizeof err) : NULL;
	if (rc == 0 && (s == NULL || ds_sched_start(s, err, sizeof err) != 0))
		rc = cli_fail("%s", err);
	args = xcalloc(b.n, sizeof *args);
	t0 = clock_now();
	for (size_t i = 0; rc == 0 && i < b.n; i++) {
		struct line *l = &b.lines[i];
		bool busy = false;

		args[i] = (struct event_arg){ &b, l };
		l->r.req.on_event = on_event;
		l->r.req.arg = &args[i];
		if (ds_sched_submit(s, &l->r.req, &busy, err, sizeof err) == 0) {
			/* the queue holds every line, so a refusal is about the request itself */
			pthread_mutex_lock(&b.mu);
			snprintf(l->message, sizeof l->message, "%.500s", err);
			l->failed = l->done = true;
			pthread_mutex_unlock(&b.mu);
		}
	}
	/* Answers in the input's order, each as soon as it and all before it are done. */
	while (rc == 0 && next < b.n) {
		struct line *l = &b.lines[next];
		struct oai_error oe;
		char *out;
		size_t len;

		pthread_mutex_lock(&b.mu);
		while (!l->done)
			pthread_cond_wait(&b.cond, &b.mu);
		pthread_mutex_unlock(&b.mu);
		if (l->failed) {
			oai_fail(&oe, 500, "server_error", NULL, NULL, "%s", l->message);
		} else if (l->st.finish == DS_FINISH_CONTEXT && l->st.completion_tokens == 0) {
			oai_fail(&oe, 400, "invalid_request_error", "context_length_exceeded", NULL,
				 "the prompt is %d tokens, %d over the context (raise --ctx)", l->st.prompt_tokens,
				 l->st.over_by);
			l->failed = true;
		}
		out = oai_batch_line_json((long)next, l->r.custom_id, l->text, l->len, &l->st, l->failed ? &oe : NULL,
					  &len);
		fwrite(out, 1, len, stdout);
		putchar('\n');
		fflush(stdout);
		free(out);
		failed += l->failed;
		tokens += l->st.completion_tokens;
		next++;
		progress(next, b.n, tokens, t0, tty, &shown);
	}
	if (s != NULL) {
		ds_sched_drain(s);
		ds_sched_free(s);
	}
	if (opened)
		ds_engine_close(&e);
	for (size_t i = 0; i < b.n; i++) {
		oai_request_free(&b.lines[i].r);
		free(b.lines[i].text);
	}
	free(b.lines);
	free(args);
	if (rc == 0 && failed > 0)
		rc = cli_fail("%zu of %zu requests failed (their lines hold \"error\")", failed, b.n);
	if (ferror(stdout))
		rc = cli_fail("stdout: write error");
	return rc;
}

const struct cli_verb_entry cli_batch_file_entry = {
	.verb = VERB_BATCH_FILE, .name = "--batch-file", .flags = CLI_FORWARD, .exec = cli_batch_file,
	.usage = "  --batch-file FILE        every request of a JSON-lines FILE ({\"messages\": [...]}, {\"prompt\"},\n"
		 "                           {\"prompt\", \"suffix\"}, with sampling fields) through --slots at once;\n"
		 "                           answers as JSON lines on stdout in the input's order\n",
};

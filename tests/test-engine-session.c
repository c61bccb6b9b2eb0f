/* test-engine-session.c: the TUI's engine session without a screen, against the real dscoder-engine
 * on the tiny-ds2-full fixture: the engine's command line (local and remote, the key never in it),
 * a remote engine's ready event and an answer broken off by an error event (a stand-in script), start,
 * ready, a chat answer with its figures and the context count, completion and FIM requests, a
 * reproducible greedy answer, cancel, an answer waiting for the engine, the engine killed mid-answer
 * (what arrived is kept, marked "error") and started again, and an engine that cannot run. */
#include "build-config.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "conversation.h"
#include "engine-session.h"
#include "xalloc.h"

static int failures;

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);      \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			failures++;                                                \
		}                                                                  \
	} while (0)

/* What the session asked of the "screen". */
struct screen {
	int syncs, streamed, to_end, saves, drops, over_by;
	char notice[1024];
	bool notice_error;
};

static struct conversation *conv;

static void on_notice(void *arg, bool error, const char *text)
{
	struct screen *sc = arg;
	snprintf(sc->notice, sizeof sc->notice, "%s", text);
	sc->notice_error = error;
}
static void on_sync(void *arg) { ((struct screen *)arg)->syncs++; }
static void on_streamed(void *arg) { ((struct screen *)arg)->streamed++; }
static void on_to_end(void *arg) { ((struct screen *)arg)->to_end++; }
static void on_save(void *arg) { ((struct screen *)arg)->saves++; }
static int on_drop(void *arg) { ((struct screen *)arg)->drops++; return 0; }
static void on_over(void *arg, int over_by, int n_ctx) { (void)n_ctx; ((struct screen *)arg)->over_by = over_by; }

static const struct engine_session_hooks hooks = {
	.notice = on_notice, .sync = on_sync, .streamed = on_streamed, .to_end = on_to_end,
	.save = on_save, .drop_oldest = on_drop, .context_over = on_over,
};

/* The event loop of app.c in small: reads the engine's pipes until done(s) or the time is up. */
static bool pump(struct engine_session *s, bool (*done)(const struct engine_session *), double seconds)
{
	double end = clock_now() + seconds;
	while (!done(s)) {
		if (clock_now() > end)
			return false;
		struct pollfd fds[2];
		int nf = 0, out_i = -1, err_i = -1;
		if (s->eng.out_fd >= 0) {
			out_i = nf;
			fds[nf++] = (struct pollfd){ .fd = s->eng.out_fd, .events = POLLIN };
		}
		if (s->eng.err_fd >= 0) {
			err_i = nf;
			fds[nf++] = (struct pollfd){ .fd = s->eng.err_fd, .events = POLLIN };
		}
		if (nf == 0 || poll(fds, (nfds_t)nf, 100) < 0) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		bool closed = false;
		if (err_i >= 0 && (fds[err_i].revents & (POLLIN | POLLHUP | POLLERR)))
			engine_session_read_err(s);
		if (out_i >= 0 && (fds[out_i].revents & (POLLIN | POLLHUP | POLLERR)))
			closed = engine_session_read(s) < 0;
		if (closed || s->eng.pid)
			engine_session_reap(s);
	}
	return true;
}

static bool is_ready(const struct engine_session *s) { return s->state == ENGINE_READY || s->state == ENGINE_STOPPED; }
static bool is_stopped(const struct engine_session *s) { return s->state == ENGINE_STOPPED; }
static bool has_tokens(const struct engine_session *s) { return s->gen_tokens >= 2 || s->state != ENGINE_GENERATING; }
static bool never_done(const struct engine_session *s) { (void)s; return false; }
static bool count_known(const struct engine_session *s) { return s->ctx_tokens > 0 || s->state == ENGINE_STOPPED; }

static const struct conv_message *last_msg(void)
{
	return conv->n_msgs ? &conv->msgs[conv->n_msgs - 1] : NULL;
}

static void use_sampling(int max_tokens, double repetition_penalty)
{
	params_sampling_defaults(&conv->sampling);
	conv->sampling.temperature = 0;
	conv->sampling.max_tokens = max_tokens;
	conv->sampling.repetition_penalty = repetition_penalty;
}

/* Asks question and waits until its answer has streamed two tokens and is still running, which the
 * cancel and kill checks need. Whether the demo model ends an answer early depends on float rounding,
 * which differs between CPUs (kernels chosen at run time), so a fixed greedy prompt that runs long here
 * may stop after ten tokens elsewhere. Sampled answers with a few seeds make a long one certain enough;
 * an answer that ends on its own is taken out again, so the conversation is as before. */
static bool start_long_answer(struct engine_session *s, const char *question)
{
	for (int64_t seed = 1; seed <= 16; seed++) {
		use_sampling(8000, 1.0);
		conv->sampling.temperature = 1.0;
		conv->sampling.top_p = 1.0;
		conv->sampling.min_p = 0;
		conv->sampling.seed = seed;
		conv_add_message(conv, CONV_ROLE_USER, question, strlen(question));
		engine_session_generate(s);
		if (!pump(s, has_tokens, 60) || s->state == ENGINE_STOPPED)
			return false;
		if (s->state == ENGINE_GENERATING)
			return true;
		if (!pump(s, is_ready, 60) || s->state != ENGINE_READY)
			return false;
		conv_remove_messages(conv, conv->n_msgs - 2, 2);
	}
	return false;
}

static char *join_args(char **args)
{
	size_t n = 1;
	for (char **p = args; *p; p++)
		n += strlen(*p) + 1;
	char *s = xcalloc(n, 1);
	for (char **p = args; *p; p++) {
		if (p != args)
			strcat(s, " ");
		strcat(s, *p);
	}
	return s;
}

static void test_args(void)
{
	char *const extra[] = { "--simulate-ranks", "2" };
	struct engine_launch l = { .model = "/m", .threads = 4, .ctx = 700, .backend = "auto", .gpus = 2,
				   .engine_args = extra, .n_engine_args = 2 };
	char **args = engine_launch_args(&l);
	char *s = join_args(args);
	CHECK(strcmp(s, "--model /m --ctx 700 --threads 4 --gpus 2 --simulate-ranks 2") == 0, "local: %s", s);
	free(s);
	engine_launch_args_free(args);

	l.devices = "0,2";
	l.backend = "cuda";
	args = engine_launch_args(&l);
	s = join_args(args);
	CHECK(strcmp(s, "--model /m --ctx 700 --threads 4 --backend cuda --devices 0,2 --simulate-ranks 2") == 0,
	      "devices: %s", s);
	free(s);
	engine_launch_args_free(args);

	/* A server: only where the key is travels; the local engine's settings stay behind. */
	setenv("TEAM_KEY", "sk-very-secret", 1);
	struct config_remote r = { .url = "https://gpu.example.org/v1", .model = "deepseek-coder",
				   .api_key_env = "TEAM_KEY" };
	l.remote = &r;
	l.model = NULL;
	args = engine_launch_args(&l);
	s = join_args(args);
	CHECK(strcmp(s, "--remote https://gpu.example.org/v1 --remote-model deepseek-coder --api-key-env TEAM_KEY") == 0,
	      "remote: %s", s);
	CHECK(strstr(s, "sk-very-secret") == NULL, "the key is in argv: %s", s);
	free(s);
	engine_launch_args_free(args);

	/* DeepSeek's API: fill-in-the-middle at its beta address travels as its own option */
	struct config_remote rd = { .url = "https://api.deepseek.com", .fim_url = "https://api.deepseek.com/beta",
				    .api_key_env = "DEEPSEEK_API_KEY" };
	l.remote = &rd;
	args = engine_launch_args(&l);
	s = join_args(args);
	CHECK(strcmp(s, "--remote https://api.deepseek.com --remote-fim-url https://api.deepseek.com/beta "
		     "--api-key-env DEEPSEEK_API_KEY") == 0, "remote with a FIM address: %s", s);
	free(s);
	engine_launch_args_free(args);

	struct config_remote rf = { .url = "http://localhost:8000", .api_key_file = "/home/me/.key" };
	l.remote = &rf;
	l.model = "/models/lite.gguf";
	args = engine_launch_args(&l);
	s = join_args(args);
	CHECK(strcmp(s, "--remote http://localhost:8000 --api-key-file /home/me/.key --model /models/lite.gguf") == 0,
	      "remote with a key file and a local model: %s", s);
	free(s);
	engine_launch_args_free(args);

	struct config_remote none = { 0 };
	l.remote = &none;
	l.model = "/m";
	args = engine_launch_args(&l);
	CHECK(strcmp(args[0], "--model") == 0 && strcmp(args[1], "/m") == 0, "no url: the model here (%s)", args[0]);
	engine_launch_args_free(args);
}

/* A stand-in engine that says ready as a remote one does and breaks off its answer with an error
 * event after one token, as a server's stream cut in the middle does. */
static const char fake_engine[] =
	"#!/bin/sh\n"
	"echo '{\"event\":\"ready\",\"protocol\":1,\"model\":{\"name\":\"deepseek-coder\",\"path\":"
	"\"https://gpu.example.org/v1\",\"n_ctx\":4096,\"vocab_size\":0,\"parameters\":0,\"backend\":\"remote\","
	"\"threads\":0}}'\n"
	"while IFS= read -r line; do\n"
	"  id=$(printf '%s\\n' \"$line\" | sed -n 's/^{\"op\":\"[a-z]*\",\"id\":\\([0-9]*\\).*/\\1/p')\n"
	"  case $line in\n"
	"  *'\"op\":\"generate\"'*)\n"
	"    echo \"{\\\"event\\\":\\\"token\\\",\\\"id\\\":$id,\\\"text\\\":\\\"Half an ans\\\"}\"\n"
	"    echo \"{\\\"event\\\":\\\"error\\\",\\\"id\\\":$id,\\\"message\\\":\\\"the server closed the stream\\\"}\" ;;\n"
	"  *'\"op\":\"shutdown\"'*) exit 0 ;;\n"
	"  esac\n"
	"done\n";

static void test_cut_stream(void)
{
	char dir[] = "/tmp/test-engine-session.XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	char *path = xasprintf("%s/fake-engine", dir);
	FILE *f = fopen(path, "w");
	CHECK(f && fputs(fake_engine, f) >= 0 && fclose(f) == 0 && chmod(path, 0700) == 0, "writing %s", path);

	struct screen sc = { 0 };
	struct engine_session s;
	conv = conv_new();
	engine_session_init(&s, &conv, &hooks, &sc);
	struct config_remote r = { .url = "https://gpu.example.org/v1" };
	struct engine_launch l = { .remote = &r };
	engine_session_set_launch(&s, path, &l, r.url);
	engine_session_start(&s);
	CHECK(pump(&s, is_ready, 30) && s.state == ENGINE_READY, "the stand-in did not start: %s", s.engine_error);
	CHECK(s.backend && strcmp(s.backend, "remote") == 0 && s.endpoint &&
	      strcmp(s.endpoint, "https://gpu.example.org/v1") == 0, "remote ready: backend %s endpoint %s", s.backend,
	      s.endpoint);

	conv_add_message(conv, CONV_ROLE_USER, "Hi.", 3);
	engine_session_generate(&s);
	int saves = sc.saves;
	CHECK(pump(&s, is_ready, 30) && s.state == ENGINE_READY && s.gen_id == 0, "after the cut: state %d", s.state);
	const struct conv_message *m = last_msg();
	CHECK(m->role == CONV_ROLE_ASSISTANT && strcmp(m->content, "Half an ans") == 0 &&
	      strcmp(m->stats.finish, "error") == 0 && m->stats.completion_tokens == 1,
	      "cut answer: \"%s\" finish %s tokens %d", m->content, m->stats.finish, m->stats.completion_tokens);
	CHECK(sc.notice_error && strcmp(sc.notice, "engine: the server closed the stream") == 0, "notice: %s", sc.notice);
	CHECK(sc.saves > saves, "the cut answer was not saved");
	CHECK(conv->model && strcmp(conv->model, "https://gpu.example.org/v1") == 0, "conversation model %s", conv->model);

	engine_session_free(&s, 2000);
	conv_free(conv);
	conv = NULL;
	unlink(path);
	rmdir(dir);
	free(path);
}

int main(void)
{
	const char *builddir = getenv("top_builddir");
	const char *fixtures = getenv("FIXTURES");
	char *engine = xasprintf("%s/dscoder-engine", builddir ? builddir : ".");
	char *model = xasprintf("%s/models/tiny-ds2-full", fixtures ? fixtures : FIXTURES_DIR);
	struct stat st;

	signal(SIGPIPE, SIG_IGN);
	test_args();
	test_cut_stream();
	if (stat(model, &st) != 0) {
		printf("no fixture model %s: skipped\n", model);
		return failures ? 1 : 77;
	}
	if (access(engine, X_OK) != 0) {
		fprintf(stderr, "FAIL: %s is not built\n", engine);
		return 1;
	}

	struct screen sc = { 0 };
	struct engine_session s;
	conv = conv_new();
	engine_session_init(&s, &conv, &hooks, &sc);
	struct engine_launch l = { .model = model, .threads = 2 };
	engine_session_set_launch(&s, engine, &l, model);

	/* Start: loading, then ready with the model's name, backend and context. */
	engine_session_start(&s);
	CHECK(s.state == ENGINE_STARTING, "state %d after start", s.state);
	CHECK(pump(&s, is_ready, 60) && s.state == ENGINE_READY, "not ready: %s", s.engine_error);
	CHECK(s.model_name && s.backend && *s.backend && strcmp(s.backend, "remote") != 0 && s.n_ctx > 0 &&
	      s.endpoint == NULL,
	      "ready event: model %s backend %s n_ctx %d", s.model_name, s.backend, s.n_ctx);

	/* A chat answer: streamed into a new last message, with the engine's figures; the context then
	 * counts the whole conversation. */
	use_sampling(12, 1.0);
	conv_add_message(conv, CONV_ROLE_USER, "Write a C function.", 19);
	engine_session_generate(&s);
	CHECK(s.state == ENGINE_GENERATING && s.gen_id > 0 && conv->n_msgs == 2 && sc.to_end == 1 && sc.saves == 1,
	      "generate: state %d id %lld msgs %zu to_end %d saves %d", s.state, s.gen_id, conv->n_msgs, sc.to_end,
	      sc.saves);
	CHECK(pump(&s, is_ready, 60) && s.state == ENGINE_READY, "the answer did not finish: %s", s.engine_error);
	const struct conv_message *m = last_msg();
	CHECK(m->role == CONV_ROLE_ASSISTANT && m->len > 0 && sc.streamed > 0, "answer: %zu bytes, %d streamed",
	      m->len, sc.streamed);
	CHECK(m->stats.completion_tokens > 0 && m->stats.completion_tokens <= 12 && m->stats.prompt_tokens > 0 &&
	      (strcmp(m->stats.finish, "length") == 0 || strcmp(m->stats.finish, "stop") == 0),
	      "stats: %d + %d, %s", m->stats.prompt_tokens, m->stats.completion_tokens, m->stats.finish);
	CHECK(conv->model && strcmp(conv->model, model) == 0, "conversation model %s", conv->model);
	char *first = xstrdup(m->content);
	int tokens_then = m->stats.prompt_tokens + m->stats.completion_tokens;
	CHECK(pump(&s, count_known, 30) && s.ctx_tokens >= tokens_then - 2, "context %d after an answer of %d",
	      s.ctx_tokens, tokens_then);

	/* Greedy: the same question gives the same answer (the request is the conversation, not more). */
	conv_remove_messages(conv, conv->n_msgs - 1, 1);
	engine_session_generate(&s);
	CHECK(pump(&s, is_ready, 60) && strcmp(last_msg()->content, first) == 0,
	      "greedy again: \"%s\" then \"%s\"", first, last_msg()->content);
	free(first);

	/* Completion and fill-in-the-middle requests. */
	conv->mode = PARAMS_MODE_COMPLETION;
	conv_add_message(conv, CONV_ROLE_USER, "int main(", 9);
	engine_session_generate(&s);
	CHECK(pump(&s, is_ready, 60) && last_msg()->role == CONV_ROLE_ASSISTANT &&
	      last_msg()->stats.completion_tokens > 0, "completion: %s", sc.notice);
	conv->mode = PARAMS_MODE_FIM;
	conv_set_fim(conv, "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n");
	conv_add_message(conv, CONV_ROLE_USER, "hole", 4);
	engine_session_generate(&s);
	CHECK(pump(&s, is_ready, 60) && last_msg()->role == CONV_ROLE_ASSISTANT &&
	      last_msg()->stats.completion_tokens > 0, "fim: %s", sc.notice);
	conv->mode = PARAMS_MODE_CHAT;

	/* Cancel once tokens arrive: what arrived stays, marked "cancel".
	 * The answer may still end on its own before the engine reads the cancel: that is right too, and
	 * another answer is tried. */
	for (int tries = 0; tries < 8; tries++) {
		CHECK(start_long_answer(&s, "Explain pointers at length."),
		      "no answer still streaming to cancel (state %d)", s.state);
		engine_session_cancel(&s);
		CHECK(s.cancel_sent, "cancel not sent");
		CHECK(pump(&s, is_ready, 60) && s.state == ENGINE_READY, "after cancel: state %d", s.state);
		if (strcmp(last_msg()->stats.finish, "cancel") == 0 || s.state != ENGINE_READY)
			break;
		conv_remove_messages(conv, conv->n_msgs - 2, 2);
	}
	CHECK(strcmp(last_msg()->stats.finish, "cancel") == 0 && last_msg()->len > 0, "after cancel: finish %s",
	      last_msg()->stats.finish);

	/* The engine killed mid-answer: the answer keeps what arrived with the figures measured here.
	 * The engine is stopped (SIGSTOP) first and what it wrote is read, so the kill surely comes in the
	 * middle of an answer, not just after one that ended on its own. */
	for (int tries = 0; tries < 8; tries++) {
		CHECK(start_long_answer(&s, "And again."), "no answer still streaming to kill (state %d)", s.state);
		kill(s.eng.pid, SIGSTOP);
		pump(&s, never_done, 0.3);
		if (s.state == ENGINE_GENERATING)
			break;
		kill(s.eng.pid, SIGCONT);
		CHECK(s.state == ENGINE_READY, "state %d after an answer ended", s.state);
		conv_remove_messages(conv, conv->n_msgs - 2, 2);
	}
	CHECK(s.state == ENGINE_GENERATING, "no answer in the middle to kill (state %d)", s.state);
	size_t answer_at = conv->n_msgs - 1;
	int saves = sc.saves;
	kill(s.eng.pid, SIGKILL);
	CHECK(pump(&s, is_stopped, 30), "the kill went unnoticed");
	m = &conv->msgs[answer_at];
	CHECK(m->len > 0 && strcmp(m->stats.finish, "error") == 0 && m->stats.completion_tokens >= 2 &&
	      m->stats.ttft_ms > 0, "cut answer: %zu bytes, finish %s, %d tokens, ttft %.1f", m->len, m->stats.finish,
	      m->stats.completion_tokens, m->stats.ttft_ms);
	CHECK(s.engine_error && strstr(s.engine_error, "killed by signal 9") && !s.engine_start_failed && s.gen_id == 0,
	      "why: %s", s.engine_error);
	CHECK(sc.saves > saves, "not saved after the engine died");

	/* Sending while stopped starts it again; the answer waits for the ready event. */
	use_sampling(6, 1.0);
	conv_add_message(conv, CONV_ROLE_USER, "Short one.", 10);
	size_t before = conv->n_msgs;
	engine_session_generate(&s);
	CHECK(s.pending_generate && s.state == ENGINE_STARTING && conv->n_msgs == before,
	      "while starting: pending %d state %d", s.pending_generate, s.state);
	CHECK(strstr(sc.notice, "when the engine is ready") != NULL, "notice: %s", sc.notice);
	CHECK(pump(&s, has_tokens, 60) && pump(&s, is_ready, 60) && s.state == ENGINE_READY &&
	      conv->n_msgs == before + 1 && last_msg()->stats.completion_tokens > 0,
	      "the waiting answer: state %d, %zu messages", s.state, conv->n_msgs);

	/* A launch that cannot run: one sentence, nothing can be answered. */
	engine_session_stop(&s, 2000);
	CHECK(s.state == ENGINE_STOPPED && s.eng.pid == 0 && s.backend == NULL, "stop: state %d", s.state);
	engine_session_set_launch(&s, "/nonexistent/dscoder-engine", &l, model);
	engine_session_start(&s);
	CHECK(s.state == ENGINE_STOPPED && s.engine_start_failed && s.engine_error &&
	      strstr(s.engine_error, "cannot run the engine /nonexistent/dscoder-engine") && sc.notice_error,
	      "bad engine: %s", s.engine_error);

	engine_session_free(&s, 2000);
	conv_free(conv);
	free(engine);
	free(model);
	if (failures) {
		fprintf(stderr, "test-engine-session: %d failures\n", failures);
		return 1;
	}
	printf("test-engine-session: all checks passed\n");
	return 0;
}

/* engine-session.c: the TUI's session with its engine (engine-session.h): its command line, starts
 * and restarts, requests made from the conversation, events applied to it, cancel and the engine's
 * end. Moved out of app.c as it was; the screen's part goes through the hooks. */
#include "build-config.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-session.h"
#include "clock.h"
#include "config.h"
#include "protocol.h"
#include "xalloc.h"

static void es_notice(struct engine_session *s, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void es_notice(struct engine_session *s, bool error, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	s->hooks->notice(s->hook_arg, error, buf);
}

/* ---- the command line ------------------------------------------------------------------------- */

static void es_arg(char **args, int *k, const char *s)
{
	args[(*k)++] = xstrdup(s);
}

static void es_arg_int(char **args, int *k, int v)
{
	args[(*k)++] = xasprintf("%d", v);
}

char **engine_launch_args(const struct engine_launch *l)
{
	char **args = xcalloc(16 + (size_t)l->n_engine_args, sizeof *args);
	int k = 0;
	const struct config_remote *r = l->remote;
	if (r && r->url) {
		/* The key stays where it is (a variable, a file): argv is visible to every user of the
		 * machine, and the engine reads the key itself. */
		es_arg(args, &k, "--remote");
		es_arg(args, &k, r->url);
		if (r->model) {
			es_arg(args, &k, "--remote-model");
			es_arg(args, &k, r->model);
		}
		if (r->fim_url) {
			es_arg(args, &k, "--remote-fim-url");
			es_arg(args, &k, r->fim_url);
		}
		if (r->api_key_env) {
			es_arg(args, &k, "--api-key-env");
			es_arg(args, &k, r->api_key_env);
		} else if (r->api_key_file) {
			es_arg(args, &k, "--api-key-file");
			es_arg(args, &k, r->api_key_file);
		}
		/* A local model beside a server: its tokenizer counts the context. */
		if (l->model) {
			es_arg(args, &k, "--model");
			es_arg(args, &k, l->model);
		}
		args[k] = NULL;
		return args;
	}
	es_arg(args, &k, "--model");
	es_arg(args, &k, l->model);
	if (l->ctx > 0) {
		es_arg(args, &k, "--ctx");
		es_arg_int(args, &k, l->ctx);
	}
	if (l->threads > 0) {
		es_arg(args, &k, "--threads");
		es_arg_int(args, &k, l->threads);
	}
	if (l->backend && *l->backend && strcmp(l->backend, "auto") != 0) {
		es_arg(args, &k, "--backend");
		es_arg(args, &k, l->backend);
	}
	if (l->devices != NULL) {
		es_arg(args, &k, "--devices");
		es_arg(args, &k, l->devices);
	} else if (l->gpus > 0) {
		es_arg(args, &k, "--gpus");
		es_arg_int(args, &k, l->gpus);
	}
	for (int i = 0; i < l->n_engine_args; i++)
		es_arg(args, &k, l->engine_args[i]);
	args[k] = NULL;
	return args;
}

void engine_launch_args_free(char **args)
{
	if (args == NULL)
		return;
	for (char **p = args; *p; p++)
		free(*p);
	free(args);
}

/* ---- the session ------------------------------------------------------------------------------ */

void engine_session_init(struct engine_session *s, struct conversation **conv,
			 const struct engine_session_hooks *hooks, void *hook_arg)
{
	memset(s, 0, sizeof *s);
	engine_client_init(&s->eng);
	s->conv = conv;
	s->hooks = hooks;
	s->hook_arg = hook_arg;
	s->ctx_tokens = -1;
}

void engine_session_set_launch(struct engine_session *s, const char *path, const struct engine_launch *l,
			       const char *conv_model)
{
	engine_launch_args_free(s->args);
	free(s->path);
	free(s->conv_model);
	s->args = engine_launch_args(l);
	s->path = xstrdup(path);
	s->conv_model = conv_model ? xstrdup(conv_model) : NULL;
	/* The next start uses these, not the arguments kept for restarts. */
	s->relaunch = true;
}

void engine_session_free(struct engine_session *s, int grace_ms)
{
	engine_client_stop(&s->eng, "{\"op\":\"shutdown\"}", grace_ms);
	engine_client_free(&s->eng);
	engine_launch_args_free(s->args);
	free(s->path);
	free(s->conv_model);
	free(s->model_name);
	free(s->backend);
	free(s->endpoint);
	free(s->engine_error);
	memset(s, 0, sizeof *s);
}

void engine_session_stop(struct engine_session *s, int grace_ms)
{
	engine_client_stop(&s->eng, "{\"op\":\"shutdown\"}", grace_ms);
	s->state = ENGINE_STOPPED;
	s->gen_id = 0;
	s->pending_generate = false;
	s->n_ctx = 0;
	s->ctx_tokens = -1;
	free(s->model_name);
	free(s->backend);
	free(s->endpoint);
	s->model_name = s->backend = s->endpoint = NULL;
}

void engine_session_start(struct engine_session *s)
{
	char err[512];
	int rc;
	free(s->engine_error);
	s->engine_error = NULL;
	s->engine_start_failed = false;
	if (s->eng.starts == 0 || s->relaunch) {
		/* Another engine: the stopped one's last stderr lines are not its. */
		if (s->relaunch && s->eng.pid == 0) {
			engine_client_free(&s->eng);
			engine_client_init(&s->eng);
		}
		s->relaunch = false;
		rc = engine_client_start(&s->eng, s->path, s->args, err, sizeof err);
	} else {
		rc = engine_client_restart(&s->eng, err, sizeof err);
	}
	s->load_done = s->load_total = 0;
	s->gen_id = 0;
	s->cancel_sent = false;
	if (rc < 0) {
		s->state = ENGINE_STOPPED;
		s->engine_start_failed = true;
		s->engine_error = xasprintf("The engine could not start: %s", err);
		es_notice(s, true, "%s", err);
		return;
	}
	s->state = ENGINE_STARTING;
}

/* The figures of the running answer as this side measured them, for an answer the engine could
 * not finish: time to the first token and the decode rate once tokens arrived (0: none), the
 * prompt's tokens when its count arrived. */
static void es_measured_stats(const struct engine_session *s, struct conv_stats *st)
{
	st->completion_tokens = s->gen_tokens;
	if (s->ctx_tokens >= 0)
		st->prompt_tokens = s->ctx_tokens;
	if (s->gen_tokens > 0)
		st->ttft_ms = (s->gen_first - s->gen_start) * 1000.0;
	if (s->gen_tokens > 1 && s->gen_last > s->gen_first)
		st->decode_tps = (s->gen_tokens - 1) / (s->gen_last - s->gen_first);
}

/* The engine process ended (SIGCHLD, or its stdout closed and it was reaped). */
static void es_engine_gone(struct engine_session *s)
{
	struct conversation *c = *s->conv;
	char how[128];
	engine_client_describe_exit(&s->eng, how, sizeof how);
	bool was_generating = s->state == ENGINE_GENERATING;
	s->engine_start_failed = s->state == ENGINE_STARTING || s->state == ENGINE_LOADING;
	s->state = ENGINE_STOPPED;
	if (was_generating && c->n_msgs > 0 &&
	    c->msgs[c->n_msgs - 1].role == CONV_ROLE_ASSISTANT) {
		/* Keep what arrived, with the figures measured here; mark why it stopped. */
		struct conv_stats st = { 0 };
		es_measured_stats(s, &st);
		snprintf(st.finish, sizeof st.finish, "error");
		conv_set_last_stats(c, &st);
		s->hooks->sync(s->hook_arg);
	}
	s->gen_id = 0;
	s->pending_generate = false;
	/* The engine's own sentence (its error event) when it sent one, and how it ended. */
	const char *lead = s->engine_start_failed ? "The engine could not start: " : "";
	char *e;
	if (!s->engine_error)
		e = s->engine_start_failed ? xasprintf("%sit %s.", lead, how) : xasprintf("The engine %s.", how);
	else
		e = xasprintf("%s%s (the engine %s)", lead, s->engine_error, how);
	free(s->engine_error);
	s->engine_error = e;
	s->hooks->save(s->hook_arg);
}

static struct ds_proto_message *es_build_messages(struct engine_session *s, int *n_out, bool skip_last_empty)
{
	struct conversation *c = *s->conv;
	struct ds_proto_message *m = xcalloc(c->n_msgs + 1, sizeof *m);
	int n = 0;
	if (c->system_prompt && *c->system_prompt)
		m[n++] = (struct ds_proto_message){ "system", c->system_prompt };
	for (size_t i = 0; i < c->n_msgs; i++) {
		const struct conv_message *msg = &c->msgs[i];
		if (skip_last_empty && i + 1 == c->n_msgs && msg->role == CONV_ROLE_ASSISTANT)
			continue;
		if (msg->role == CONV_ROLE_ASSISTANT && msg->len == 0)
			continue;   /* an answer cancelled before its first token */
		m[n++] = (struct ds_proto_message){ (char *)conv_role_name(msg->role), msg->content };
	}
	*n_out = n;
	return m;
}

/* Fills r's input with what a request of the conversation's mode sends: the messages (chat), the
 * last question (completion), the prefix and suffix (fill-in-the-middle). with_answer: the last
 * answer counts too (the context an idle conversation takes); without it, a running answer is left
 * out (the prompt of the request that produces it). Strings made here go to *owned (caller frees,
 * with r->messages). Returns false when there is nothing to send. */
static bool es_request_input(struct engine_session *s, struct ds_proto_request *r, bool with_answer, char **owned)
{
	struct conversation *c = *s->conv;
	*owned = NULL;
	size_t n = c->n_msgs;
	const struct conv_message *last = n > 0 ? &c->msgs[n - 1] : NULL;
	const char *answer = with_answer && last && last->role == CONV_ROLE_ASSISTANT ? last->content : "";
	if (c->mode == PARAMS_MODE_CHAT) {
		int k;
		r->input = DS_INPUT_CHAT;
		r->messages = es_build_messages(s, &k, !with_answer);
		r->n_messages = k;
		return k > 0;
	}
	if (c->mode == PARAMS_MODE_COMPLETION) {
		r->input = DS_INPUT_COMPLETION;
		size_t u = n;
		while (u > 0 && c->msgs[u - 1].role != CONV_ROLE_USER)
			u--;
		if (u == 0)
			return false;
		/* The answer continues the question's text: the two are one prompt. */
		if (u < n && *answer)
			r->prompt = *owned = xasprintf("%s%s", c->msgs[u - 1].content, answer);
		else
			r->prompt = c->msgs[u - 1].content;
		return true;
	}
	r->input = DS_INPUT_FIM;
	r->fim_prefix = c->prefix ? c->prefix : "";
	r->fim_suffix = c->suffix ? c->suffix : "";
	if (*answer)
		r->fim_prefix = *owned = xasprintf("%s%s", r->fim_prefix, answer);   /* the hole filled */
	return *r->fim_prefix || *r->fim_suffix;
}

/* Asks the engine how many tokens the context holds: the prompt of the running request (the meter
 * adds the tokens generated so far), or, when idle, the conversation with its last answer. */
void engine_session_count(struct engine_session *s)
{
	if (s->state != ENGINE_READY && s->state != ENGINE_GENERATING)
		return;
	struct ds_proto_request r = { 0 };
	r.op = DS_OP_COUNT;
	r.id = ds_proto_id_int(++s->next_id);
	char *owned;
	if (!es_request_input(s, &r, s->state != ENGINE_GENERATING, &owned)) {
		s->ctx_tokens = 0;
		free(r.messages);
		free(owned);
		return;
	}
	char *line = ds_proto_encode_request(&r, NULL);
	size_t len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';
	s->count_id = r.id.num;
	engine_client_send(&s->eng, line);
	free(line);
	free(r.messages);
	free(owned);
}

void engine_session_generate(struct engine_session *s)
{
	struct conversation *c = *s->conv;
	if (s->state == ENGINE_STOPPED) {
		engine_session_start(s);
		if (s->state == ENGINE_STOPPED)
			return;
	}
	if (s->state != ENGINE_READY) {
		s->pending_generate = true;
		es_notice(s, false, "the answer starts when the engine is ready");
		return;
	}
	s->pending_generate = false;
	struct ds_proto_request r = { 0 };
	r.op = DS_OP_GENERATE;
	r.id = ds_proto_id_int(++s->next_id);
	char *owned;
	bool any = es_request_input(s, &r, false, &owned);
	if (!any && c->mode == PARAMS_MODE_CHAT) {
		free(r.messages);
		free(owned);
		return;
	}
	if (!any && c->mode == PARAMS_MODE_COMPLETION)
		r.prompt = "";
	const struct params_sampling *sp = &c->sampling;
	r.sampling.set = DS_SAMPLE_TEMPERATURE | DS_SAMPLE_TOP_K | DS_SAMPLE_TOP_P | DS_SAMPLE_MIN_P |
			 DS_SAMPLE_REPETITION_PENALTY;
	r.sampling.temperature = sp->temperature;
	r.sampling.top_k = sp->top_k;
	r.sampling.top_p = sp->top_p > 0 && sp->top_p <= 1 ? sp->top_p : 1.0;
	r.sampling.min_p = sp->min_p;
	r.sampling.repetition_penalty = sp->repetition_penalty > 0 ? sp->repetition_penalty : 1.0;
	if (sp->max_tokens > 0) {
		r.sampling.set |= DS_SAMPLE_MAX_TOKENS;
		r.sampling.max_tokens = sp->max_tokens;
	}
	if (sp->seed >= 0) {
		r.sampling.set |= DS_SAMPLE_SEED;
		r.sampling.seed = (uint64_t)sp->seed;
	}
	char *line = ds_proto_encode_request(&r, NULL);
	free(r.messages);
	free(owned);
	size_t len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';
	conv_add_message(c, CONV_ROLE_ASSISTANT, "", 0);
	if (engine_client_send(&s->eng, line) < 0) {
		free(line);
		conv_remove_messages(c, c->n_msgs - 1, 1);
		es_notice(s, true, "the engine is not running; F12 restarts it");
		return;
	}
	free(line);
	s->gen_id = r.id.num;
	s->state = ENGINE_GENERATING;
	s->gen_tokens = 0;
	s->gen_start = clock_now();
	s->cancel_sent = false;
	/* The meter shows this request: its prompt (counted now) plus the tokens as they come. */
	s->ctx_tokens = -1;
	engine_session_count(s);
	s->hooks->sync(s->hook_arg);
	s->hooks->to_end(s->hook_arg);
	s->hooks->save(s->hook_arg);
}

void engine_session_cancel(struct engine_session *s)
{
	if (s->pending_generate) {
		s->pending_generate = false;
		es_notice(s, false, "not sent; the message stays in the conversation");
		return;
	}
	if (s->state != ENGINE_GENERATING || s->cancel_sent)
		return;
	char *line = xasprintf("{\"op\":\"cancel\",\"id\":%lld}", s->gen_id);
	engine_client_send(&s->eng, line);
	free(line);
	s->cancel_sent = true;
}

static void es_on_event(struct engine_session *s, struct ds_proto_event *ev)
{
	struct conversation *c = *s->conv;
	long long id = ev->id.kind == DS_ID_INT ? ev->id.num : -1;
	switch (ev->type) {
	case DS_EV_LOADING:
		s->state = ENGINE_LOADING;
		s->load_done = ev->done;
		s->load_total = ev->total;
		break;
	case DS_EV_READY:
		if (ev->protocol != DS_PROTO_VERSION) {
			es_notice(s, true, "the engine speaks protocol %d, this TUI %d: install matching "
				  "versions", ev->protocol, DS_PROTO_VERSION);
		}
		s->state = ENGINE_READY;
		free(s->model_name);
		free(s->backend);
		free(s->endpoint);
		s->model_name = xstrdup(ev->model.name ? ev->model.name : "");
		s->backend = ev->model.backend ? xstrdup(ev->model.backend) : NULL;
		/* A remote engine names its server in the path. */
		s->endpoint = s->backend && strcmp(s->backend, "remote") == 0 && ev->model.path ?
			      xstrdup(ev->model.path) : NULL;
		s->n_ctx = ev->model.n_ctx;
		if (!c->model && s->conv_model)
			conv_set_model(c, s->conv_model);
		if (s->pending_generate)
			engine_session_generate(s);
		engine_session_count(s);
		break;
	case DS_EV_TOKEN:
		if (id != s->gen_id || s->state != ENGINE_GENERATING || c->n_msgs == 0)
			break;
		conv_append_last(c, ev->text, ev->text_len);
		s->gen_last = clock_now();
		if (s->gen_tokens++ == 0)
			s->gen_first = s->gen_last;
		s->hooks->streamed(s->hook_arg);
		break;
	case DS_EV_DONE: {
		if (id != s->gen_id)
			break;
		struct conv_stats st = { 0 };
		st.prompt_tokens = ev->prompt_tokens;
		st.completion_tokens = ev->completion_tokens;
		st.ttft_ms = ev->ttft_ms;
		st.decode_tps = ev->decode_tps;
		snprintf(st.finish, sizeof st.finish, "%s", ds_proto_finish_name(ev->finish));
		s->gen_id = 0;
		s->state = ENGINE_READY;
		s->cancel_sent = false;
		/* The engine's own figures for the request (none when it was dropped before it
		 * started); a count of its prompt still on the way is stale now. */
		bool figures = ev->prompt_tokens > 0;
		if (figures) {
			s->ctx_tokens = ev->prompt_tokens + ev->completion_tokens;
			s->ctx_estimate = false;
			s->count_id = 0;
		}
		if (ev->decode_tps > 0)
			s->last_tps = ev->decode_tps;
		bool over = ev->finish == DS_PROTO_FINISH_CONTEXT && ev->over_by > 0;
		if (over && c->n_msgs > 0 && c->msgs[c->n_msgs - 1].role == CONV_ROLE_ASSISTANT &&
		    c->msgs[c->n_msgs - 1].len == 0) {
			conv_remove_messages(c, c->n_msgs - 1, 1);
		} else {
			conv_set_last_stats(c, &st);
		}
		s->hooks->sync(s->hook_arg);
		s->hooks->save(s->hook_arg);
		if (over) {
			s->ctx_tokens = s->n_ctx + ev->over_by;
			s->hooks->context_over(s->hook_arg, ev->over_by, s->n_ctx);
		} else if (ev->finish == DS_PROTO_FINISH_CONTEXT) {
			es_notice(s, true, "the answer filled the context; Alt-o drops the oldest turn");
		}
		if (s->regenerate_after_cancel) {
			s->regenerate_after_cancel = false;
			if (c->n_msgs > 0 && c->msgs[c->n_msgs - 1].role == CONV_ROLE_ASSISTANT)
				conv_remove_messages(c, c->n_msgs - 1, 1);
			s->hooks->sync(s->hook_arg);
			engine_session_generate(s);
		}
		/* The chat's next prompt holds the whole conversation: count it. The other modes send
		 * one text, and the done event said how much of the context it took with its answer. */
		if ((c->mode == PARAMS_MODE_CHAT || !figures) && s->state == ENGINE_READY)
			engine_session_count(s);
		break;
	}
	case DS_EV_COUNT:
		if (id != s->count_id)
			break;
		s->ctx_tokens = ev->tokens;
		s->ctx_estimate = ev->estimate;
		if (ev->n_ctx > 0)
			s->n_ctx = ev->n_ctx;
		if (s->drop_and_retry) {
			/* Leave room for an answer: max_tokens when set, else an eighth of the context;
			 * at least 64 tokens, at most half the context. */
			int reserve = c->sampling.max_tokens > 0 ? c->sampling.max_tokens :
				      s->n_ctx / 8;
			if (reserve < 64)
				reserve = 64;
			if (reserve > s->n_ctx / 2)
				reserve = s->n_ctx / 2;
			if (ev->tokens + reserve > s->n_ctx && s->hooks->drop_oldest(s->hook_arg)) {
				engine_session_count(s);
			} else {
				s->drop_and_retry = 0;
				s->hooks->save(s->hook_arg);
				if (s->state == ENGINE_READY)
					engine_session_generate(s);
			}
		}
		break;
	case DS_EV_ERROR:
		if (s->state == ENGINE_STARTING || s->state == ENGINE_LOADING) {
			free(s->engine_error);
			s->engine_error = xstrdup(ev->message ? ev->message : "the engine failed to start");
		} else {
			es_notice(s, true, "engine: %s", ev->message ? ev->message : "error");
			if (id == s->gen_id && s->state == ENGINE_GENERATING) {
				s->gen_id = 0;
				s->state = ENGINE_READY;
				const struct conv_message *last = c->n_msgs > 0 ? &c->msgs[c->n_msgs - 1] : NULL;
				if (last && last->role == CONV_ROLE_ASSISTANT && last->len == 0) {
					conv_remove_messages(c, c->n_msgs - 1, 1);
				} else if (last && last->role == CONV_ROLE_ASSISTANT) {
					/* Cut short (a server's stream broke off): what arrived stays, with
					 * the figures measured here, marked as an engine's death marks it. */
					struct conv_stats st = { 0 };
					es_measured_stats(s, &st);
					snprintf(st.finish, sizeof st.finish, "error");
					conv_set_last_stats(c, &st);
				}
				s->hooks->sync(s->hook_arg);
				s->hooks->save(s->hook_arg);
			}
		}
		break;
	}
}

static void es_on_line(const char *line, void *arg)
{
	struct engine_session *s = arg;
	struct ds_proto_event ev;
	char err[256];
	if (ds_proto_parse_event(line, strlen(line), &ev, err, sizeof err) < 0) {
		/* Not a protocol line: keep it with the diagnostics rather than lose it. */
		es_notice(s, true, "engine sent a bad line: %s", err);
		return;
	}
	es_on_event(s, &ev);
	ds_proto_event_free(&ev);
}

int engine_session_read(struct engine_session *s)
{
	return engine_client_read_out(&s->eng, es_on_line, s);
}

void engine_session_read_err(struct engine_session *s)
{
	engine_client_read_err(&s->eng);
}

int engine_session_reap(struct engine_session *s)
{
	if (s->eng.pid && engine_client_reap(&s->eng)) {
		es_engine_gone(s);
		return 1;
	}
	if (s->eng.pid && s->eng.out_fd < 0)
		return -1;
	return 0;
}

/* app.c: the TUI's event loop (keyboard, engine pipes, signals through a self-pipe, all in one
 * poll), the actions behind the key table and conversation handling; the engine itself is
 * engine-session.c's, which tells the screen what happened through hooks. */
#include "build-config.h"
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "atomicio.h"
#include "clock.h"
#include "paths.h"
#include "config.h"
#include "profile.h"
#include "theme.h"
#include "utf8.h"
#include "xalloc.h"

/* Key codes of our own (above ncurses' KEY_MAX): the bracketed-paste markers and the starts of the
 * two mouse report formats. */
#define KEY_PASTE_BEGIN 01001
#define KEY_PASTE_END 01002
#define KEY_MOUSE_X10 01003
#define KEY_MOUSE_SGR 01004
/* Mouse reports: button presses and releases (1000), in the SGR format (1006). */
#define MOUSE_ON "\033[?1000h\033[?1006h"
#define MOUSE_OFF "\033[?1006l\033[?1000l"

#define APP_SAVE_INTERVAL 1.0       /* seconds between saves while an answer streams */
#define APP_ENGINE_GRACE_MS 2000    /* wait this long after shutdown, then SIGTERM, then SIGKILL */

static const char *app_theme_names[] = { "default", "light", "gruvbox", "solarized", "monochrome" };

static int app_wake_fd = -1;
static volatile sig_atomic_t app_sig_winch, app_sig_chld, app_sig_term;

static void app_on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGWINCH)
		app_sig_winch = 1;
	else if (sig == SIGCHLD)
		app_sig_chld = 1;
	else
		app_sig_term = 1;
	if (app_wake_fd >= 0) {
		char c = (char)sig;
		ssize_t w = write(app_wake_fd, &c, 1);
		(void)w;
	}
	errno = saved;
}

void app_notice(struct app *a, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char buf[1024];
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	free(a->notice);
	a->notice = xstrdup(buf);
	a->notice_error = error;
	a->notice_time = clock_now();
}

int app_input_empty(const struct app *a)
{
	return editor_empty(&a->input) && (a->conv->mode != PARAMS_MODE_FIM || editor_empty(&a->suffix));
}

/* ---- saving ------------------------------------------------------------------------------------ */

static void app_save(struct app *a)
{
	/* The render benchmark adds a made-up answer: never write it. */
	if (a->conv->n_msgs == 0 || a->opt.bench_render)
		return;
	char err[512];
	bool is_new = a->conv->path == NULL;
	int saved = conv_save(a->conv, err, sizeof err);
	if (saved < 0)
		app_notice(a, true, "not saved: %s", err);
	/* Another TUI saved this conversation meanwhile: its turns were merged in, or ours went to a
	 * new file (conv_save says which in err). */
	if (saved > 0) {
		app_notice(a, false, "%s", err);
		transcript_rebuild(a);
		is_new = true;
	}
	a->last_save = clock_now();
	a->dirty = false;
	/* The list shows titles and dates: refresh it when it is on screen, but not for every
	 * save while an answer streams (reading the list loads every file). */
	if (a->sidebar_open && (is_new || a->es.state != ENGINE_GENERATING))
		a->list_loaded = false;
}

/* ---- engine ------------------------------------------------------------------------------------ */

/* The server a conversation of profile p goes to: --remote, else the profile's remote: (which may
 * say local), else config.yaml's. NULL or a url of NULL: the model here. */
static const struct config_remote *app_remote_for(struct app *a, const struct profile *p)
{
	if (a->opt.remote)
		return a->opt.remote;
	if (p && p->remote_set)
		return &p->remote;
	return a->cfg ? &a->cfg->remote : NULL;
}

static bool app_same_str(const char *x, const char *y)
{
	return x == y || (x && y && strcmp(x, y) == 0);
}

/* Whether remote (NULL or without url: the model here) is not what the engine is pointed at. */
static bool app_engine_differs(struct app *a, const struct config_remote *remote)
{
	struct config_remote none = { 0 };
	if (!remote || !remote->url)
		remote = &none;
	return !a->es.args || !app_same_str(a->remote.url, remote->url) ||
	       !app_same_str(a->remote.fim_url, remote->fim_url) ||
	       !app_same_str(a->remote.model, remote->model) ||
	       !app_same_str(a->remote.api_key_env, remote->api_key_env) ||
	       !app_same_str(a->remote.api_key_file, remote->api_key_file);
}

/* Points the engine at remote (a server, or the model here when NULL or without url); the next start
 * uses it. Returns whether that changed what the engine is. */
static bool app_engine_target(struct app *a, const struct config_remote *remote)
{
	struct config_remote none = { 0 };
	if (!app_engine_differs(a, remote))
		return false;
	if (!remote || !remote->url)
		remote = &none;
	struct config_remote copy;
	config_remote_copy(&copy, remote);
	config_remote_free(&a->remote);
	a->remote = copy;
	bool is_remote = a->remote.url != NULL;
	struct engine_launch l = {
		/* Beside a server, a model configured here counts tokens; the demo model's would not
		 * be the server's. */
		.model = is_remote && a->opt.is_demo ? NULL : a->opt.model,
		.threads = a->opt.threads,
		.ctx = a->opt.ctx,
		.backend = a->opt.backend,
		.gpus = a->opt.gpus,
		.devices = a->opt.devices,
		.engine_args = a->opt.engine_args,
		.n_engine_args = a->opt.n_engine_args,
		.remote = &a->remote,
	};
	engine_session_set_launch(&a->es, a->opt.engine_path, &l, is_remote ? a->remote.url : a->opt.model);
	return true;
}

static void app_engine_restart(struct app *a)
{
	if (engine_client_running(&a->es.eng)) {
		app_notice(a, false, "the engine is running");
		return;
	}
	engine_session_start(&a->es);
	if (a->es.state != ENGINE_STOPPED)
		app_notice(a, false, "restarting the engine");
}

/* Removes the oldest turn: the first user message and the answers after it, up to the next user
 * message. The system prompt is not a message, so it always stays. Returns 0 if nothing could go
 * (only the last question is left). */
static int app_drop_oldest_turn(struct app *a)
{
	struct conversation *c = a->conv;
	size_t first = 0;
	while (first < c->n_msgs && c->msgs[first].role != CONV_ROLE_USER)
		first++;
	size_t next = first + 1;
	while (next < c->n_msgs && c->msgs[next].role != CONV_ROLE_USER)
		next++;
	if (first >= c->n_msgs || next >= c->n_msgs)
		return 0;
	conv_remove_messages(c, first, next - first);
	transcript_rebuild(a);
	return 1;
}

static void app_drop_confirmed(struct app *a, int ok, const char *text, int choice)
{
	if (!ok) {
		app_notice(a, false, "nothing dropped; Alt-o drops the oldest turn, F5 retries");
		return;
	}
	if (!app_drop_oldest_turn(a)) {
		app_notice(a, true, "your last message alone does not fit in the context; shorten it");
		return;
	}
	a->es.drop_and_retry = 1;
	app_save(a);
	engine_session_count(&a->es);
}

/* What the engine session asks of the screen (engine-session.h). */
static void app_hook_notice(void *arg, bool error, const char *text)
{
	app_notice(arg, error, "%s", text);
}

static void app_hook_sync(void *arg)
{
	struct app *a = arg;
	a->tr_pending = false;
	transcript_sync(a);
}

static void app_hook_streamed(void *arg)
{
	struct app *a = arg;
	a->dirty = true;
	/* Laid out once per batch of events, not per token (see the loop). */
	a->tr_pending = true;
	if (clock_now() - a->last_save >= APP_SAVE_INTERVAL)
		app_save(a);
}

static void app_hook_to_end(void *arg)
{
	transcript_to_end(arg);
}

static void app_hook_save(void *arg)
{
	app_save(arg);
}

static int app_hook_drop_oldest(void *arg)
{
	return app_drop_oldest_turn(arg);
}

static void app_hook_context_over(void *arg, int over_by, int n_ctx)
{
	char title[160], body[512];
	snprintf(title, sizeof title, "The conversation does not fit in the context");
	snprintf(body, sizeof body, "It is %d tokens over the model's context of %d tokens. "
		 "Drop the oldest turns until it fits and ask again? The system prompt "
		 "stays; the dropped turns are removed from this conversation.",
		 over_by, n_ctx);
	modal_confirm(arg, title, body, app_drop_confirmed, 0);
}

static const struct engine_session_hooks app_engine_hooks = {
	.notice = app_hook_notice,
	.sync = app_hook_sync,
	.streamed = app_hook_streamed,
	.to_end = app_hook_to_end,
	.save = app_hook_save,
	.drop_oldest = app_hook_drop_oldest,
	.context_over = app_hook_context_over,
};

/* ---- conversations ----------------------------------------------------------------------------- */

static void app_apply_profile(struct app *a, struct profile *p)
{
	conv_set_profile(a->conv, p->name);
	if (p->system_prompt)
		conv_set_system_prompt(a->conv, p->system_prompt);
	a->conv->mode = p->mode;
	a->conv->sampling = p->sampling;
}

static void app_set_conversation(struct app *a, struct conversation *c)
{
	conv_free(a->conv);
	a->conv = c;
	a->editing = -1;
	a->es.ctx_tokens = -1;
	a->tr.follow = true;
	transcript_rebuild(a);
	transcript_to_end(a);
	if (c->mode == PARAMS_MODE_FIM) {
		editor_set(&a->input, c->prefix ? c->prefix : "");
		editor_set(&a->suffix, c->suffix ? c->suffix : "");
	}
	engine_session_count(&a->es);
}

static void app_new_conversation(struct app *a)
{
	if (a->es.state == ENGINE_GENERATING) {
		app_notice(a, true, "an answer is running: Esc stops it first");
		return;
	}
	app_save(a);
	struct conversation *c = conv_new();
	const char *pname = a->conv->profile ? a->conv->profile : a->opt.profile;
	if (pname) {
		char err[512];
		struct profile *p = profile_load(pname, err, sizeof err);
		if (p) {
			struct conversation *old = a->conv;
			a->conv = c;
			app_apply_profile(a, p);
			a->conv = old;
			profile_free(p);
		}
	}
	app_set_conversation(a, c);
	editor_clear(&a->input);
	editor_clear(&a->suffix);
	a->list_loaded = false;
	app_notice(a, false, "new conversation");
}

static void app_open_path(struct app *a, const char *path)
{
	if (a->es.state == ENGINE_GENERATING) {
		app_notice(a, true, "an answer is running: Esc stops it first");
		return;
	}
	char err[512];
	struct conversation *c = conv_load(path, err, sizeof err);
	if (!c) {
		app_notice(a, true, "%s", err);
		return;
	}
	app_save(a);
	app_set_conversation(a, c);
	/* Its engine is its profile's (a server, or the model here), as when it was written: a
	 * conversation of the team profile goes on to the team's server. */
	struct profile *p = c->profile ? profile_load(c->profile, err, sizeof err) : NULL;
	const char *title = *c->title ? c->title : c->id;
	if (app_engine_target(a, app_remote_for(a, p))) {
		engine_session_stop(&a->es, APP_ENGINE_GRACE_MS);
		engine_session_start(&a->es);
		app_notice(a, false, "opened \"%s\": profile %s, engine %s", title, c->profile ? c->profile : "none",
			   a->remote.url ? a->remote.url : "the model here");
	} else if (c->profile && !p) {
		app_notice(a, false, "opened \"%s\": its profile %s is gone, so it keeps this engine", title,
			   c->profile);
	} else {
		app_notice(a, false, "opened \"%s\"", title);
	}
	profile_free(p);
}

static void app_set_title_from(struct app *a, const char *text)
{
	if (*a->conv->title)
		return;
	/* The first line of the first question, cut at a word near 60 columns. */
	size_t n = strcspn(text, "\n");
	while (n > 0 && (text[0] == ' ' || text[0] == '\t')) {
		text++;
		n--;
	}
	size_t end = utf8_fit(text, n, 0, 60, NULL);
	if (end < n) {
		size_t sp = end;
		while (sp > 30 && text[sp] != ' ')
			sp--;
		if (sp > 30)
			end = sp;
	}
	char *t = xstrndup(text, end);
	conv_set_title(a->conv, *t ? t : "untitled");
	free(t);
}

static void app_send(struct app *a)
{
	struct conversation *c = a->conv;
	if (a->es.state == ENGINE_GENERATING) {
		app_notice(a, false, "wait for the answer, or press Esc to stop it");
		return;
	}
	if (a->es.state == ENGINE_STOPPED && a->es.engine_start_failed) {
		/* It would never be answered: the text stays in the input. */
		app_notice(a, true, "not sent: the engine could not start (see above)");
		return;
	}
	const char *text = editor_text(&a->input);
	bool blank = true;
	for (const char *p = text; *p; p++)
		if (*p != ' ' && *p != '\n' && *p != '\t')
			blank = false;
	if (c->mode == PARAMS_MODE_FIM) {
		if (blank && editor_empty(&a->suffix)) {
			app_notice(a, false, "type the code before (and after, Tab) the hole first");
			return;
		}
	} else if (blank) {
		return;
	}
	if (a->editing >= 0 && (size_t)a->editing < c->n_msgs)
		conv_remove_messages(c, (size_t)a->editing, c->n_msgs - (size_t)a->editing);
	a->editing = -1;
	if (c->mode == PARAMS_MODE_FIM) {
		conv_set_fim(c, text, editor_text(&a->suffix));
		char *shown = xasprintf("```\n%s\u2588%s\n```", text, editor_text(&a->suffix));
		conv_add_message(c, CONV_ROLE_USER, shown, strlen(shown));
		free(shown);
		app_set_title_from(a, text);
	} else {
		conv_add_message(c, CONV_ROLE_USER, text, strlen(text));
		app_set_title_from(a, text);
		editor_history_add(&a->input, text);
		editor_clear(&a->input);
	}
	transcript_sync(a);
	transcript_to_end(a);
	app_save(a);
	engine_session_generate(&a->es);
}

static void app_regenerate(struct app *a)
{
	struct conversation *c = a->conv;
	if (a->es.state == ENGINE_GENERATING) {
		a->es.regenerate_after_cancel = true;
		engine_session_cancel(&a->es);
		return;
	}
	if (c->n_msgs == 0) {
		app_notice(a, false, "nothing to regenerate yet");
		return;
	}
	if (c->msgs[c->n_msgs - 1].role == CONV_ROLE_ASSISTANT)
		conv_remove_messages(c, c->n_msgs - 1, 1);
	if (c->n_msgs == 0 || c->msgs[c->n_msgs - 1].role != CONV_ROLE_USER) {
		app_notice(a, false, "nothing to regenerate: the last message is not a question");
		transcript_sync(a);
		return;
	}
	transcript_sync(a);
	engine_session_generate(&a->es);
}

static void app_edit_last(struct app *a)
{
	struct conversation *c = a->conv;
	if (a->es.state == ENGINE_GENERATING) {
		app_notice(a, true, "an answer is running: Esc stops it first");
		return;
	}
	for (size_t i = c->n_msgs; i-- > 0;) {
		if (c->msgs[i].role != CONV_ROLE_USER)
			continue;
		a->editing = (ssize_t)i;
		if (c->mode == PARAMS_MODE_FIM) {
			editor_set(&a->input, c->prefix ? c->prefix : "");
			editor_set(&a->suffix, c->suffix ? c->suffix : "");
		} else {
			editor_set(&a->input, c->msgs[i].content);
		}
		a->focus = FOCUS_INPUT;
		return;
	}
	app_notice(a, false, "no question to edit yet");
}

/* ---- modal callbacks --------------------------------------------------------------------------- */

static void app_quit_confirmed(struct app *a, int ok, const char *text, int choice)
{
	if (ok)
		a->quit = true;
}

/* Copies text and says what really happened to it (what: "block [2]", "the last answer"). */
static void app_copy_text(struct app *a, const char *what, const char *text, size_t len)
{
	char how[1024];
	switch (clipboard_copy(text, len, how, sizeof how)) {
	case CLIP_COPIED:
		app_notice(a, false, "copied %s (%zu bytes) %s", what, len, how);
		break;
	case CLIP_SENT:
		app_notice(a, false, "sent %s (%zu bytes) %s", what, len, how);
		break;
	case CLIP_NOT_COPIED: {
		char *title = xasprintf("Not copied: %s", what);
		modal_text(a, title, how);
		free(title);
		app_notice(a, true, "%s was not copied", what);
		break;
	}
	}
}

static void app_copy_block(struct app *a, int n)
{
	char lang[32];
	char *t = transcript_block_text(a, n, lang, sizeof lang);
	if (!t) {
		app_notice(a, true, "there is no code block [%d]", n);
		return;
	}
	char what[32];
	snprintf(what, sizeof what, "block [%d]", n);
	app_copy_text(a, what, t, strlen(t));
	free(t);
}

static int app_parse_block(struct app *a, const char *text)
{
	char *end;
	while (*text == ' ' || *text == '[')
		text++;
	long n = strtol(text, &end, 10);
	while (*end == ' ' || *end == ']')
		end++;
	if (end == text || *end || n < 1 || n > transcript_block_count(a)) {
		app_notice(a, true, "type a block number from 1 to %d", transcript_block_count(a));
		return 0;
	}
	return (int)n;
}

/* Find: the first match forward from the view; the transcript then has the focus, so n and N go on
 * and Esc goes back to the input (and clears the highlight). */
static void app_find_chosen(struct app *a, int ok, const char *text, int choice)
{
	(void)choice;
	if (!ok || text == NULL || *text == '\0')
		return;
	transcript_find(a, text, 1);
	if (a->tr.find_row >= 0)
		a->focus = FOCUS_TRANSCRIPT;
}

static void app_copy_block_chosen(struct app *a, int ok, const char *text, int choice)
{
	if (!ok)
		return;
	int n = app_parse_block(a, text);
	if (n)
		app_copy_block(a, n);
}

static void app_write_block(struct app *a, int n, const char *path)
{
	char *t = transcript_block_text(a, n, NULL, 0);
	if (!t)
		return;
	char err[512];
	char *full = paths_expand_home(path);
	if (atomicio_write(full, t, strlen(t), 0644, err, sizeof err) < 0)
		app_notice(a, true, "%s", err);
	else
		app_notice(a, false, "saved block [%d] to %s", n, full);
	free(full);
	free(t);
}

static void app_overwrite_confirmed(struct app *a, int ok, const char *text, int choice)
{
	if (!ok) {
		app_notice(a, false, "not saved: %s exists", a->cb_stash);
		return;
	}
	if (a->cb_tag > 0)
		app_write_block(a, a->cb_tag, a->cb_stash);
	else {
		char err[512];
		if (conv_export_markdown(a->conv, a->cb_stash, err, sizeof err) < 0)
			app_notice(a, true, "%s", err);
		else
			app_notice(a, false, "exported to %s", a->cb_stash);
	}
}

/* Saves to path unless it exists; then asks first. tag > 0: a code block; 0: an export. */
static void app_save_to(struct app *a, int tag, const char *path)
{
	if (!*path) {
		app_notice(a, false, "not saved: no file name");
		return;
	}
	char *full = paths_expand_home(path);
	struct stat st;
	if (stat(full, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			app_notice(a, true, "%s is a directory; give a file name", full);
			free(full);
			return;
		}
		char body[1024];
		snprintf(body, sizeof body, "%s already exists. Overwrite it?", full);
		modal_confirm_no(a, "Overwrite?", body, app_overwrite_confirmed, tag);
		a->modal.stash = full;
		return;
	}
	if (tag > 0) {
		app_write_block(a, tag, full);
	} else {
		char err[512];
		if (conv_export_markdown(a->conv, full, err, sizeof err) < 0)
			app_notice(a, true, "%s", err);
		else
			app_notice(a, false, "exported to %s", full);
	}
	free(full);
}

static void app_save_block_path(struct app *a, int ok, const char *text, int choice)
{
	if (ok)
		app_save_to(a, a->cb_tag, text);
}

static const char *app_lang_ext(const char *lang)
{
	static const struct { const char *lang, *ext; } map[] = {
		{ "c", "c" }, { "cpp", "cpp" }, { "c++", "cpp" }, { "python", "py" }, { "py", "py" },
		{ "javascript", "js" }, { "js", "js" }, { "typescript", "ts" }, { "ts", "ts" },
		{ "rust", "rs" }, { "rs", "rs" }, { "go", "go" }, { "java", "java" }, { "sh", "sh" },
		{ "bash", "sh" }, { "shell", "sh" }, { "json", "json" }, { "yaml", "yaml" },
		{ "yml", "yaml" }, { "sql", "sql" }, { "diff", "diff" }, { "patch", "diff" },
		{ "html", "html" }, { "css", "css" }, { "markdown", "md" }, { "md", "md" },
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (strcasecmp(map[i].lang, lang) == 0)
			return map[i].ext;
	return "txt";
}

static void app_ask_block_path(struct app *a, int n)
{
	char lang[32] = "";
	char *t = transcript_block_text(a, n, lang, sizeof lang);
	if (!t) {
		app_notice(a, true, "there is no code block [%d]", n);
		return;
	}
	free(t);
	char title[96], initial[64];
	snprintf(title, sizeof title, "Save code block [%d] to file:", n);
	snprintf(initial, sizeof initial, "block-%d.%s", n, app_lang_ext(lang));
	modal_input(a, title, initial, app_save_block_path, n);
}

static void app_save_block_chosen(struct app *a, int ok, const char *text, int choice)
{
	if (!ok)
		return;
	int n = app_parse_block(a, text);
	if (n)
		app_ask_block_path(a, n);
}

static void app_export_path(struct app *a, int ok, const char *text, int choice)
{
	if (ok)
		app_save_to(a, 0, text);
}

static void app_rename_done(struct app *a, int ok, const char *text, int choice)
{
	if (!ok || !a->cb_stash)
		return;
	char err[512];
	if (a->conv->path && strcmp(a->conv->path, a->cb_stash) == 0) {
		conv_set_title(a->conv, text);
		if (a->conv->n_msgs == 0)
			app_notice(a, false, "renamed (saved with the first message)");
		app_save(a);
	} else if (conv_rename(a->cb_stash, text, err, sizeof err) < 0) {
		app_notice(a, true, "%s", err);
	}
	a->list_loaded = false;
}

static void app_delete_done(struct app *a, int ok, const char *text, int choice)
{
	if (!ok || !a->cb_stash)
		return;
	char err[512];
	bool current = a->conv->path && strcmp(a->conv->path, a->cb_stash) == 0;
	if (current && a->es.state == ENGINE_GENERATING) {
		app_notice(a, true, "an answer is running: Esc stops it first");
		return;
	}
	if (conv_delete(a->cb_stash, err, sizeof err) < 0) {
		app_notice(a, true, "%s", err);
		return;
	}
	if (current) {
		/* Start afresh without saving the deleted conversation again. */
		conv_free(a->conv);
		a->conv = conv_new();
		if (a->opt.profile) {
			struct profile *p = profile_load(a->opt.profile, err, sizeof err);
			if (p) {
				app_apply_profile(a, p);
				profile_free(p);
			}
		}
		transcript_rebuild(a);
	}
	a->list_loaded = false;
	app_notice(a, false, "deleted");
}

static void app_search_change(struct app *a, int ok, const char *text, int choice)
{
	free(a->list_filter);
	a->list_filter = xstrdup(text);
	a->list_sel = 0;
	sidebar_filter(a);
}

static void app_search_done(struct app *a, int ok, const char *text, int choice)
{
	app_search_change(a, ok, ok ? text : "", choice);
}

static void app_profile_chosen(struct app *a, int ok, const char *text, int choice)
{
	if (!ok)
		return;
	struct profile_list l;
	char err[512];
	profile_list(&l, err, sizeof err);
	if (choice >= 0 && (size_t)choice < l.n) {
		struct profile *p = profile_load(l.v[choice].name, err, sizeof err);
		if (!p) {
			app_notice(a, true, "%s", err);
		} else if (a->es.state == ENGINE_GENERATING && app_engine_differs(a, app_remote_for(a, p))) {
			/* Its conversations go to another engine: not while this one answers. */
			app_notice(a, true, "an answer is running: Esc stops it first");
			profile_free(p);
		} else {
			app_apply_profile(a, p);
			app_notice(a, false, "profile %s: mode %s, temperature %.2f", p->name,
				   params_mode_name(p->mode), p->sampling.temperature);
			if (app_engine_target(a, app_remote_for(a, p))) {
				/* Another server, or back to the model here: a new engine. */
				engine_session_stop(&a->es, APP_ENGINE_GRACE_MS);
				engine_session_start(&a->es);
			}
			profile_free(p);
			a->dirty = true;
			if (a->conv->n_msgs)
				app_save(a);
			transcript_rebuild(a);
			engine_session_count(&a->es);
		}
	}
	profile_list_free(&l);
}

static void app_choose_profile(struct app *a)
{
	struct profile_list l;
	char err[512];
	if (profile_list(&l, err, sizeof err) < 0) {
		app_notice(a, true, "%s", err);
		return;
	}
	if (l.n == 0) {
		char *dir = paths_user_profiles_dir(err, sizeof err);
		app_notice(a, true, "no profiles: put NAME.yaml files in %s", dir ? dir : "profiles/");
		free(dir);
		profile_list_free(&l);
		return;
	}
	char **v = xcalloc(l.n, sizeof *v);
	int sel = 0;
	for (size_t i = 0; i < l.n; i++) {
		const struct profile_entry *e = &l.v[i];
		v[i] = xasprintf("%-14s %s", e->name, e->error ? e->error : e->description);
		if (a->conv->profile && strcmp(a->conv->profile, e->name) == 0)
			sel = (int)i;
	}
	modal_choice(a, "Profile (system prompt, mode, sampling)", v, (int)l.n, sel,
		     app_profile_chosen, 0);
	for (size_t i = 0; i < l.n; i++)
		free(v[i]);
	free(v);
	profile_list_free(&l);
}

/* ---- actions ----------------------------------------------------------------------------------- */

static void app_cycle_theme(struct app *a)
{
	int n = (int)(sizeof app_theme_names / sizeof *app_theme_names);
	char err[512];
	for (int k = 1; k <= n; k++) {
		int i = (a->theme_index + k) % n;
		struct theme *t = theme_load(app_theme_names[i], err, sizeof err);
		if (!t)
			continue;
		theme_apply(t);
		theme_free(a->theme);
		a->theme = t;
		a->theme_index = i;
		app_notice(a, false, "theme %s", app_theme_names[i]);
		return;
	}
	app_notice(a, true, "no other theme found");
}

static void app_focus(struct app *a, int dir)
{
	enum focus order[4];
	int n = 0;
	order[n++] = FOCUS_INPUT;
	if (a->conv->mode == PARAMS_MODE_FIM)
		order[n++] = FOCUS_SUFFIX;
	/* The open list comes right after the input, as its hint "Tab: focus the list" says. */
	if (a->sidebar_open)
		order[n++] = FOCUS_SIDEBAR;
	order[n++] = FOCUS_TRANSCRIPT;
	int cur = 0;
	for (int i = 0; i < n; i++)
		if (order[i] == a->focus)
			cur = i;
	a->focus = order[(cur + dir + n) % n];
}

static struct editor *app_focused_editor(struct app *a)
{
	if (a->system_open)
		return &a->system_ed;
	if (a->focus == FOCUS_SUFFIX)
		return &a->suffix;
	return &a->input;
}

static int app_editor_action(struct app *a, enum action act)
{
	struct editor *e = app_focused_editor(a);
	int width = a->system_open ? (a->cols - 8 > 1 ? a->cols - 8 : 1) : layout_input_width(a) - 2;
	if (width < 1)
		width = 1;
	if (a->system_open) {
		int w = a->cols - 4 < 100 ? a->cols - 4 : 100;
		width = w - 4 > 1 ? w - 4 : 1;
	}
	switch (act) {
	case ACT_NEWLINE: editor_insert(e, "\n", 1); return ACT_RESIZE | ACT_REDRAW;
	case ACT_LEFT: editor_left(e); break;
	case ACT_RIGHT: editor_right(e); break;
	case ACT_WORD_LEFT: editor_word_left(e); break;
	case ACT_WORD_RIGHT: editor_word_right(e); break;
	case ACT_LINE_START: editor_home(e); break;
	case ACT_LINE_END: editor_end(e); break;
	case ACT_BUF_START: editor_buf_start(e); break;
	case ACT_BUF_END: editor_buf_end(e); break;
	case ACT_UP:
		if (!editor_vertical(e, width, -1) && e == &a->input && a->editing < 0)
			editor_history_prev(e);
		return ACT_RESIZE | ACT_REDRAW;
	case ACT_DOWN:
		if (!editor_vertical(e, width, 1) && e == &a->input && a->editing < 0)
			editor_history_next(e);
		return ACT_RESIZE | ACT_REDRAW;
	case ACT_HISTORY_PREV: editor_history_prev(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_HISTORY_NEXT: editor_history_next(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_BACKSPACE: editor_backspace(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_DELETE: editor_delete(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_KILL_END: editor_kill_to_end(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_KILL_START: editor_kill_to_start(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_KILL_WORD_BACK: editor_kill_word_back(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_KILL_WORD_FORWARD: editor_kill_word_forward(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_YANK: editor_yank(e); return ACT_RESIZE | ACT_REDRAW;
	case ACT_TRANSPOSE: editor_transpose(e); break;
	default: return ACT_UNHANDLED;
	}
	return ACT_REDRAW;
}

static int app_action(struct app *a, enum action act, int key)
{
	struct conversation *c = a->conv;
	switch (act) {
	case ACT_NONE:
		return ACT_UNHANDLED;
	case ACT_HELP:
		a->help_open = !a->help_open;
		a->help_scroll = 0;
		return ACT_REDRAW;
	case ACT_QUIT_ACT:
		a->quit = true;
		return ACT_QUIT;
	case ACT_INTERRUPT:
		if (a->es.state == ENGINE_GENERATING || a->es.pending_generate) {
			engine_session_cancel(&a->es);
			return ACT_REDRAW;
		}
		modal_confirm(a, "Quit dscoder-tui?", "The conversation is saved and the engine will be "
			      "shut down. (Ctrl-C again: quit)", app_quit_confirmed, 1);
		return ACT_REDRAW;
	case ACT_ESCAPE:
		if (a->es.state == ENGINE_GENERATING || a->es.pending_generate) {
			engine_session_cancel(&a->es);
		} else if (a->editing >= 0) {
			a->editing = -1;
			editor_clear(&a->input);
			app_notice(a, false, "edit cancelled");
		} else if (a->focus != FOCUS_INPUT) {
			a->focus = FOCUS_INPUT;
			transcript_find_clear(a);
		} else if (a->notice) {
			free(a->notice);
			a->notice = NULL;
		}
		return ACT_REDRAW | ACT_RESIZE;
	case ACT_TOGGLE_LIST:
		if (!a->sidebar_open) {
			sidebar_open(a);
		} else {
			a->sidebar_open = false;
			if (a->focus == FOCUS_SIDEBAR)
				a->focus = FOCUS_INPUT;
		}
		return ACT_RESIZE | ACT_REDRAW;
	case ACT_FOCUS_NEXT:
		app_focus(a, 1);
		return ACT_REDRAW;
	case ACT_FOCUS_PREV:
		app_focus(a, -1);
		return ACT_REDRAW;
	case ACT_NEW_CONV:
		app_new_conversation(a);
		a->focus = FOCUS_INPUT;
		return ACT_RESIZE | ACT_REDRAW;
	case ACT_REGENERATE:
		app_regenerate(a);
		return ACT_REDRAW;
	case ACT_EDIT_LAST:
		app_edit_last(a);
		return ACT_RESIZE | ACT_REDRAW;
	case ACT_SYSTEM_PROMPT:
		system_open(a);
		return ACT_REDRAW;
	case ACT_MODE: {
		if (a->es.state == ENGINE_GENERATING) {
			app_notice(a, true, "an answer is running: Esc stops it first");
			return ACT_REDRAW;
		}
		c->mode = c->mode == PARAMS_MODE_CHAT ? PARAMS_MODE_COMPLETION :
			  c->mode == PARAMS_MODE_COMPLETION ? PARAMS_MODE_FIM : PARAMS_MODE_CHAT;
		if (a->focus == FOCUS_SUFFIX && c->mode != PARAMS_MODE_FIM)
			a->focus = FOCUS_INPUT;
		static const char *what[] = {
			[PARAMS_MODE_CHAT] = "chat: the Instruct chat template",
			[PARAMS_MODE_COMPLETION] = "completion: raw text continued (Base models)",
			[PARAMS_MODE_FIM] = "fill-in-the-middle: prefix, Tab, suffix; the answer fills the hole",
		};
		app_notice(a, false, "mode %s", what[c->mode]);
		transcript_rebuild(a);
		a->es.ctx_tokens = -1;
		engine_session_count(&a->es);
		if (c->n_msgs)
			app_save(a);
		return ACT_RESIZE | ACT_REDRAW;
	}
	case ACT_PROFILE:
		app_choose_profile(a);
		return ACT_REDRAW;
	case ACT_EXPORT: {
		const struct conv_entry *e = a->focus == FOCUS_SIDEBAR ? sidebar_selected(a) : NULL;
		if (e && (!c->path || strcmp(e->path, c->path) != 0)) {
			app_notice(a, false, "open the conversation first (Enter), then export it");
			return ACT_REDRAW;
		}
		if (c->n_msgs == 0) {
			app_notice(a, false, "nothing to export yet");
			return ACT_REDRAW;
		}
		char *name = xasprintf("%s.md", c->id);
		modal_input(a, "Export the conversation as Markdown to:", name, app_export_path, 0);
		free(name);
		return ACT_REDRAW;
	}
	case ACT_THEME:
		app_cycle_theme(a);
		return ACT_REDRAW;
	case ACT_RESTART_ENGINE:
		app_engine_restart(a);
		return ACT_REDRAW;
	case ACT_COPY_BLOCK:
	case ACT_SAVE_BLOCK: {
		int n = transcript_block_count(a);
		if (n == 0) {
			app_notice(a, false, "no code blocks in this conversation");
			return ACT_REDRAW;
		}
		char title[96], init[16];
		snprintf(title, sizeof title, "%s code block number (1-%d):",
			 act == ACT_COPY_BLOCK ? "Copy" : "Save", n);
		snprintf(init, sizeof init, "%d", n);
		modal_input(a, title, init, act == ACT_COPY_BLOCK ? app_copy_block_chosen :
			    app_save_block_chosen, 0);
		return ACT_REDRAW;
	}
	case ACT_FIND:
		modal_input(a, "Find in the transcript (then n / N; Esc clears):", a->tr.find ? a->tr.find : "",
			    app_find_chosen, 0);
		return ACT_REDRAW;
	case ACT_FIND_NEXT:
	case ACT_FIND_PREV:
		transcript_find(a, NULL, act == ACT_FIND_NEXT ? 1 : -1);
		return ACT_REDRAW;
	case ACT_COPY_BLOCK_N:
		app_copy_block(a, (key & ~KEYS_META) - '0');
		return ACT_REDRAW;
	case ACT_COPY_ANSWER:
		for (size_t i = c->n_msgs; i-- > 0;) {
			if (c->msgs[i].role != CONV_ROLE_ASSISTANT)
				continue;
			app_copy_text(a, "the last answer", c->msgs[i].content, c->msgs[i].len);
			return ACT_REDRAW;
		}
		app_notice(a, false, "no answer yet");
		return ACT_REDRAW;
	case ACT_DROP_OLDEST:
		if (a->es.state == ENGINE_GENERATING) {
			app_notice(a, true, "an answer is running: Esc stops it first");
		} else if (app_drop_oldest_turn(a)) {
			app_save(a);
			engine_session_count(&a->es);
			app_notice(a, false, "dropped the oldest turn");
		} else {
			app_notice(a, false, "no older turn to drop");
		}
		return ACT_REDRAW;
	case ACT_SCROLL_UP: transcript_scroll(a, -1); return ACT_REDRAW;
	case ACT_SCROLL_DOWN: transcript_scroll(a, 1); return ACT_REDRAW;
	case ACT_PAGE_UP:
		transcript_scroll(a, -(a->r_transcript.h > 2 ? a->r_transcript.h - 2 : 1));
		return ACT_REDRAW;
	case ACT_PAGE_DOWN:
		transcript_scroll(a, a->r_transcript.h > 2 ? a->r_transcript.h - 2 : 1);
		return ACT_REDRAW;
	case ACT_SCROLL_TOP: transcript_to_top(a); return ACT_REDRAW;
	case ACT_SCROLL_BOTTOM: transcript_to_end(a); return ACT_REDRAW;
	case ACT_REDRAW_ACT:
		clearok(curscr, TRUE);
		return ACT_REDRAW | ACT_RESIZE;
	case ACT_SEND:
		app_send(a);
		return ACT_RESIZE | ACT_REDRAW;
	case ACT_LIST_UP: sidebar_move(a, -1); return ACT_REDRAW;
	case ACT_LIST_DOWN: sidebar_move(a, 1); return ACT_REDRAW;
	case ACT_LIST_TOP: sidebar_move(a, -(int)a->list_n); return ACT_REDRAW;
	case ACT_LIST_BOTTOM: sidebar_move(a, (int)a->list_n); return ACT_REDRAW;
	case ACT_LIST_OPEN: {
		const struct conv_entry *e = sidebar_selected(a);
		if (!e)
			return ACT_REDRAW;
		if (e->error) {
			app_notice(a, true, "%s", e->error);
			return ACT_REDRAW;
		}
		char *path = xstrdup(e->path);
		app_open_path(a, path);
		free(path);
		a->focus = FOCUS_INPUT;
		return ACT_RESIZE | ACT_REDRAW;
	}
	case ACT_LIST_RENAME: {
		const struct conv_entry *e = sidebar_selected(a);
		if (!e)
			return ACT_REDRAW;
		if (e->error) {
			app_notice(a, true, "%s", e->error);
			return ACT_REDRAW;
		}
		char *path = xstrdup(e->path);
		modal_input(a, "Rename the conversation:", e->title, app_rename_done, 0);
		a->modal.stash = path;
		return ACT_REDRAW;
	}
	case ACT_LIST_DELETE: {
		const struct conv_entry *e = sidebar_selected(a);
		if (!e)
			return ACT_REDRAW;
		char body[1024];
		snprintf(body, sizeof body, "Delete \"%s\" (%s)? This cannot be undone.",
			 *e->title ? e->title : e->id, e->path);
		char *path = xstrdup(e->path);
		modal_confirm_no(a, "Delete conversation?", body, app_delete_done, 0);
		a->modal.stash = path;
		return ACT_REDRAW;
	}
	case ACT_LIST_SEARCH:
		modal_input(a, "Search conversations (titles and text):",
			    a->list_filter ? a->list_filter : "", app_search_done, 0);
		a->modal.change = app_search_change;
		return ACT_REDRAW;
	case ACT_SYSTEM_SAVE:
		conv_set_system_prompt(c, editor_empty(&a->system_ed) ? NULL : editor_text(&a->system_ed));
		a->system_open = false;
		app_notice(a, false, "system prompt %s", editor_empty(&a->system_ed) ? "removed" : "saved");
		if (c->n_msgs)
			app_save(a);
		engine_session_count(&a->es);
		return ACT_REDRAW;
	default:
		return app_editor_action(a, act);
	}
}

/* ---- input ------------------------------------------------------------------------------------- */

static void app_insert_text(struct app *a, const char *s, size_t n)
{
	if (a->modal.kind != MODAL_NONE) {
		modal_key(a, 0, s, n);
		return;
	}
	if (a->help_open)
		return;
	if (!a->system_open && a->focus != FOCUS_INPUT && a->focus != FOCUS_SUFFIX)
		a->focus = FOCUS_INPUT;
	editor_insert(app_focused_editor(a), s, n);
}

/* Reads a bracketed paste up to its end marker straight from the terminal (big reads, no key
 * decoding: ncurses would take it byte by byte and stumble on invalid UTF-8) and inserts it in one
 * go, so a 1 MB paste costs one insertion and one redraw. */
static void app_read_paste(struct app *a)
{
	static const char end_marker[] = "\033[201~";
	const size_t mlen = sizeof end_marker - 1;
	size_t cap = 1 << 16, len = 0, shown = 0;
	char *buf = xmalloc(cap);
	char *end = NULL;
	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int r = poll(&pfd, 1, 3000);   /* the rest of a paste is normally already there */
		if (r <= 0)
			break;
		if (cap - len < 65536) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		size_t from = len > mlen ? len - mlen : 0;
		len += (size_t)n;
		buf[len] = '\0';
		end = memmem(buf + from, len - from, end_marker, mlen);
		if (end)
			break;
		if (len - shown >= (256u << 10)) {
			/* A long paste: show that it is arriving. */
			shown = len;
			app_notice(a, false, "pasting\u2026 %zu KB", len >> 10);
			status_draw(a);
			refresh();
		}
	}
	size_t text_len = end ? (size_t)(end - buf) : len;
	if (end) {
		/* Keys typed right after the paste go back to ncurses, in order. */
		char *rest = end + mlen;
		for (char *p = buf + len; p-- > rest;)
			ungetch((unsigned char)*p);
	}
	app_insert_text(a, buf, text_len);
	if (text_len > 100000)
		app_notice(a, false, "pasted %zu bytes", text_len);
	else if (a->notice && !a->notice_error && strncmp(a->notice, "pasting", 7) == 0) {
		free(a->notice);
		a->notice = NULL;
	}
	free(buf);
}

/* ---- mouse ------------------------------------------------------------------------------------- */

/* The terminal's mouse reports are read here, not by ncurses: its X10 decoder reads the three bytes
 * after ESC [ M straight from the terminal, past the bytes its own input buffer already holds, so a
 * burst of reports (a quick double click, a fast wheel) could lose events or block in read() until
 * the next key. ESC [ M and ESC [ < are bound to key codes of ours and what follows them is taken
 * with get_wch like any key. SGR reports (mode 1006) also carry columns past 223. */
enum mouse_kind { MOUSE_NONE, MOUSE_PRESS, MOUSE_WHEEL_UP, MOUSE_WHEEL_DOWN };

/* The next character of a report: they come in one write, but wait a little for a slow link. */
static int app_mouse_char(void)
{
	wint_t ch;
	wtimeout(stdscr, 100);
	int r = get_wch(&ch);
	nodelay(stdscr, TRUE);
	return r == OK ? (int)ch : -1;
}

/* What a report's button code means: 64/65 the wheel, 0 the left button (other buttons, motion and
 * releases do nothing here). */
static enum mouse_kind mouse_kind_of(int code, bool release)
{
	if (code & 32)
		return MOUSE_NONE;              /* motion */
	if ((code & 0xc3) == 64)
		return MOUSE_WHEEL_UP;
	if ((code & 0xc3) == 65)
		return MOUSE_WHEEL_DOWN;
	if ((code & 0xc3) == 0 && !release)
		return MOUSE_PRESS;
	return MOUSE_NONE;
}

/* ESC [ M b x y: each a byte of value + 32, coordinates from 1; button 3 is a release. */
static enum mouse_kind app_mouse_x10(int *y, int *x)
{
	int b = app_mouse_char(), cx = app_mouse_char(), cy = app_mouse_char();
	if (b < 32 || cx < 33 || cy < 33)
		return MOUSE_NONE;
	*x = cx - 33;
	*y = cy - 33;
	return mouse_kind_of(b - 32, ((b - 32) & 0xc3) == 3);
}

/* ESC [ < b ; x ; y M (press) or m (release), in decimal, coordinates from 1. */
static enum mouse_kind app_mouse_sgr(int *y, int *x)
{
	int v[3] = { 0, 0, 0 }, k = 0, c;
	while ((c = app_mouse_char()) >= 0) {
		if (c >= '0' && c <= '9' && v[k] < 100000)
			v[k] = v[k] * 10 + (c - '0');
		else if (c == ';' && k < 2)
			k++;
		else
			break;
	}
	if ((c != 'M' && c != 'm') || k != 2 || v[1] < 1 || v[2] < 1)
		return MOUSE_NONE;
	*x = v[1] - 1;
	*y = v[2] - 1;
	return mouse_kind_of(v[0], c == 'm');
}

static int app_mouse(struct app *a, enum mouse_kind kind, int y, int x)
{
	if (kind == MOUSE_NONE)
		return 0;
	bool in_sidebar = a->sidebar_open && x < a->r_sidebar.x + a->r_sidebar.w &&
			  y < a->r_sidebar.y + a->r_sidebar.h;
	if (kind == MOUSE_WHEEL_UP) {
		if (in_sidebar)
			sidebar_move(a, -3);
		else
			transcript_scroll(a, -3);
	} else if (kind == MOUSE_WHEEL_DOWN) {
		if (in_sidebar)
			sidebar_move(a, 3);
		else
			transcript_scroll(a, 3);
	} else {
		if (in_sidebar) {
			int row = y - a->r_sidebar.y - 1 - (a->list_filter && *a->list_filter ? 1 : 0);
			if (row >= 0 && a->list_scroll + row < (int)a->list_n) {
				bool again = a->list_sel == a->list_scroll + row && a->focus == FOCUS_SIDEBAR;
				a->list_sel = a->list_scroll + row;
				a->focus = FOCUS_SIDEBAR;
				if (again)
					return app_action(a, ACT_LIST_OPEN, 0);
			}
		} else if (y >= a->r_input.y && y < a->r_input.y + a->r_input.h) {
			a->focus = FOCUS_INPUT;
		} else if (y >= a->r_suffix.y && y < a->r_suffix.y + a->r_suffix.h) {
			a->focus = FOCUS_SUFFIX;
		} else if (y < a->r_transcript.y + a->r_transcript.h) {
			a->focus = FOCUS_TRANSCRIPT;
		}
	}
	return ACT_REDRAW;
}

static enum key_ctx app_ctx(const struct app *a)
{
	if (a->system_open)
		return KCTX_SYSTEM;
	switch (a->focus) {
	case FOCUS_TRANSCRIPT: return KCTX_TRANSCRIPT;
	case FOCUS_SIDEBAR: return KCTX_SIDEBAR;
	default: return KCTX_INPUT;
	}
}

static int app_key(struct app *a, int key)
{
	if (a->modal.kind != MODAL_NONE)
		return modal_key(a, key, NULL, 0);
	if (a->help_open) {
		int f = help_key(a, key);
		if (!(f & ACT_UNHANDLED))
			return f;
	}
	/* Any key dismisses a notice that is an error (it stays until read). */
	if (a->notice && a->notice_error && key != 27) {
		free(a->notice);
		a->notice = NULL;
	}
	enum key_ctx ctx = app_ctx(a);
	if (a->system_open) {
		if (key == 27) {
			a->system_open = false;
			app_notice(a, false, "system prompt unchanged");
			return ACT_REDRAW;
		}
		const struct key_binding *b = keys_lookup(KCTX_SYSTEM, key, 0);
		if (!b)
			b = keys_lookup(KCTX_INPUT, key, 0);
		/* Behind the pane, only a few global keys make sense; Tab types a tab. */
		if (b && b->ctx == KCTX_GLOBAL && b->act != ACT_QUIT_ACT && b->act != ACT_HELP &&
		    b->act != ACT_INTERRUPT &&
		    b->act != ACT_REDRAW_ACT)
			b = NULL;
		if (b && b->act != ACT_SEND) {
			int f = app_action(a, b->act, key);
			if (!(f & ACT_UNHANDLED))
				return f;
		}
		if (!b && key == KEYS_CTRL('Q'))
			return app_action(a, ACT_QUIT_ACT, key);
	} else {
		int empty = ctx != KCTX_INPUT || app_input_empty(a);
		if (a->focus == FOCUS_SUFFIX)
			empty = 0;
		const struct key_binding *b = keys_lookup(ctx, key, empty);
		if (b) {
			int f = app_action(a, b->act, key);
			if (!(f & ACT_UNHANDLED))
				return f;
		}
	}
	/* Unbound printable keys type text (and bring the focus back to the input). */
	if (!(key & (KEYS_FUNC | KEYS_META)) && (key >= 32 || key == '\t') && key != 127) {
		if (a->focus == FOCUS_SIDEBAR && !a->system_open)
			return 0;
		char buf[8];
		size_t n = utf8_encode(key, buf);
		app_insert_text(a, buf, n);
		return ACT_REDRAW | ACT_RESIZE;
	}
	return 0;
}

/* After ESC [: reads the rest of a CSI sequence and maps the few modified keys we use; 0 for
 * anything else (it is dropped rather than typed as text). */
static int app_read_csi(struct app *a)
{
	char seq[32];
	size_t n = 0;
	for (;;) {
		wint_t c;
		int r = get_wch(&c);
		if (r != OK)
			return 0;
		if (n + 1 < sizeof seq)
			seq[n++] = (char)c;
		if (c >= 0x40 && c <= 0x7e)
			break;
	}
	seq[n] = '\0';
	static const struct { const char *seq; int key; } map[] = {
		{ "1;3A", KEYS_META | KEYS_FUNC | KEY_UP }, { "1;3B", KEYS_META | KEYS_FUNC | KEY_DOWN },
		{ "1;5D", KEYS_META | 'b' }, { "1;5C", KEYS_META | 'f' },
		{ "1;5H", KEYS_META | '<' }, { "1;5F", KEYS_META | '>' },
		{ "1;2A", KEYS_FUNC | KEY_SR }, { "1;2B", KEYS_FUNC | KEY_SF },
		{ "13;3u", KEYS_META | '\r' }, { "13;2u", KEYS_META | '\r' },
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (strcmp(seq, map[i].seq) == 0)
			return map[i].key;
	(void)a;
	return 0;
}

/* Reads every key that is waiting. Returns ACT_* flags. */
static int app_read_keys(struct app *a)
{
	int flags = 0;
	for (int budget = 0; budget < 4096; budget++) {
		wint_t ch;
		int r = get_wch(&ch);
		if (r == ERR)
			break;
		int key;
		if (r == KEY_CODE_YES) {
			if (ch == KEY_RESIZE) {
				flags |= ACT_RESIZE | ACT_REDRAW;
				continue;
			}
			if (ch == KEY_PASTE_BEGIN) {
				app_read_paste(a);
				flags |= ACT_RESIZE | ACT_REDRAW;
				continue;
			}
			if (ch == KEY_PASTE_END)
				continue;
			if (ch == KEY_MOUSE_X10 || ch == KEY_MOUSE_SGR) {
				int y = 0, x = 0;
				enum mouse_kind kind = ch == KEY_MOUSE_X10 ? app_mouse_x10(&y, &x) : app_mouse_sgr(&y, &x);
				flags |= app_mouse(a, kind, y, x);
				if (a->quit)
					break;
				continue;
			}
			key = KEYS_FUNC | (int)ch;
		} else if (ch == 27) {
			/* ESC then another key at once: Alt-that-key, or a CSI sequence ncurses did not
			 * know (modified arrows from terminals whose terminfo lacks them). */
			wint_t ch2;
			int r2 = get_wch(&ch2);
			if (r2 == OK && ch2 == '[') {
				key = app_read_csi(a);
				if (!key)
					continue;
			} else if (r2 == OK) {
				key = KEYS_META | (int)ch2;
			} else if (r2 == KEY_CODE_YES) {
				/* Esc followed by a function key: two keys. */
				flags |= app_key(a, 27);
				if (a->quit)
					break;
				key = KEYS_FUNC | (int)ch2;
			} else {
				key = 27;
			}
			if (key == (KEYS_META | '\n'))
				key = KEYS_META | '\r';
		} else {
			key = (int)ch;
		}
		flags |= app_key(a, key);
		if (a->quit)
			break;
	}
	return flags;
}

/* ---- drawing ----------------------------------------------------------------------------------- */

static void app_draw_engine_box(struct app *a)
{
	/* While the engine is stopped: why, its last stderr lines, and what to do; long lines wrap
	 * and the newest lines win when the space is short. */
	struct rect r = a->r_transcript;
	if (a->es.state != ENGINE_STOPPED || r.h < 4 || r.w < 20)
		return;
	struct row { const char *s; size_t len; int role; int indent; } rows[64];
	int n = 0;
	const char *why = a->es.engine_error ? a->es.engine_error : "The engine stopped.";
	struct utf8_line *wl;
	size_t nw = utf8_wrap(why, strlen(why), r.w - 2, &wl);
	for (size_t k = 0; k < nw && n < 8; k++)
		rows[n++] = (struct row){ why + wl[k].start, wl[k].vis_end - wl[k].start, ROLE_ERROR, 1 };
	free(wl);
	for (int i = 0; i < a->es.eng.err_count; i++) {
		const char *l = engine_client_err_line(&a->es.eng, i);
		size_t nl = utf8_wrap(l, strlen(l), r.w - 4, &wl);
		for (size_t k = 0; k < nl; k++) {
			if (n == 64) {
				memmove(rows + 1, rows + 2, 62 * sizeof *rows);   /* keep the reason */
				n--;
			}
			rows[n++] = (struct row){ l + wl[k].start, wl[k].vis_end - wl[k].start, ROLE_DIM, 3 };
		}
		free(wl);
	}
	int h = n + 2;
	if (h > r.h - 1)
		h = r.h - 1;
	int show = h - 2, skip = n - show;
	int y = r.y + r.h - h;
	for (int k = 0; k < h; k++)
		draw_fill(y + k, r.x, r.w, ROLE_TEXT);
	draw_hline(y, r.x, r.w, ROLE_ERROR);
	int yy = y + 1;
	for (int k = 0; k < n && yy < y + h - 1; k++) {
		/* The reason first, then as many of the newest stderr rows as fit. */
		if (k > 0 && rows[k].role == ROLE_DIM && skip > 0) {
			skip--;
			continue;
		}
		draw_text(yy++, r.x + rows[k].indent, r.w - rows[k].indent - 1, rows[k].s, rows[k].len,
			  rows[k].role);
	}
	const char *hint = a->es.engine_start_failed ?
			   "Nothing can be sent until the engine starts: fix the cause above, then F12 tries again." :
			   "Your conversation is saved. F12 (or Enter to send) restarts the engine.";
	draw_text(y + h - 1, r.x + 1, r.w - 2, hint, strlen(hint), ROLE_STATUS_ACCENT);
}

static void app_draw(struct app *a)
{
	erase();
	if (a->too_small) {
		char buf[96];
		/* Said as fully as the width allows. */
		if (a->cols >= 40)
			snprintf(buf, sizeof buf, "terminal too small (%dx%d; need 40x12)", a->cols, a->rows);
		else if (a->cols >= 18)
			snprintf(buf, sizeof buf, "terminal too small");
		else
			snprintf(buf, sizeof buf, "too small");
		attrset(A_NORMAL);
		mvaddnstr(0, 0, buf, a->cols > 0 ? a->cols : 0);
		curs_set(0);
		refresh();
		return;
	}
	sidebar_draw(a);
	transcript_draw(a);
	app_draw_engine_box(a);
	status_draw(a);
	input_draw(a);
	if (a->system_open)
		system_draw(a);
	if (a->help_open)
		help_draw(a);
	if (a->modal.kind != MODAL_NONE)
		modal_draw(a);
	if (a->focus == FOCUS_SIDEBAR && !a->system_open && a->modal.kind == MODAL_NONE)
		curs_set(0);
	refresh();
}

/* Pane sizes changed (the editor grew, the list was toggled): lay out again; the transcript is
 * re-laid-out only when its width changed. */
static void app_relayout(struct app *a)
{
	int old_w = a->r_transcript.w;
	layout_compute(a);
	if (!a->too_small && a->r_transcript.w != old_w)
		transcript_rebuild(a);
}

/* Whether the terminal's size differs from the one the screen was laid out for. */
static bool app_size_changed(void)
{
	struct winsize ws;
	return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0 &&
	       (ws.ws_row != LINES || ws.ws_col != COLS);
}

/* The one place that handles a new terminal size (SIGWINCH through the self-pipe). */
static void app_resize(struct app *a)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
		resize_term(ws.ws_row, ws.ws_col);
	app_relayout(a);
	clearok(curscr, TRUE);
}

/* ---- setup and loop ---------------------------------------------------------------------------- */

static void app_signals(struct app *a)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = app_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Past ulimit -f a write fails with EFBIG (a save says "not saved") instead of killing us. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
}

static void app_bench_render(struct app *a)
{
	/* Appends tokens to a new answer the way streaming does and times sync + draw + refresh
	 * per token. */
	int n = atoi(a->opt.bench_render);
	if (n <= 0)
		n = 1000;
	/* For comparison: laying out the whole transcript, what a resize costs. */
	double r0 = clock_now();
	transcript_rebuild(a);
	double full_ms = (clock_now() - r0) * 1000.0;
	conv_add_message(a->conv, CONV_ROLE_USER, "benchmark question", 18);
	conv_add_message(a->conv, CONV_ROLE_ASSISTANT, "", 0);
	a->es.state = ENGINE_GENERATING;
	transcript_sync(a);
	app_draw(a);
	static const char *toks[] = { "The", " quick", " brown", " fox", " jumps", ".\n\n", "```c\n",
				      "int", " main", "(void)", " {\n", "  return", " 0;", "\n}\n",
				      "```\n", "Then", " more", " text", " 世界", " follows", ".\n" };
	double *t = xcalloc((size_t)n, sizeof *t);
	double total = 0, lay = 0;
	for (int i = 0; i < n; i++) {
		const char *s = toks[i % (sizeof toks / sizeof *toks)];
		double t0 = clock_now();
		conv_append_last(a->conv, s, strlen(s));
		transcript_sync(a);
		lay += a->tr.last_layout_ms;
		app_draw(a);
		t[i] = (clock_now() - t0) * 1000.0;
		total += t[i];
	}
	double max = 0;
	for (int i = 0; i < n; i++)
		if (t[i] > max)
			max = t[i];
	endwin();
	long rows = a->tr.total_rows;
	fprintf(stderr, "bench-render: %d tokens on a transcript of %ld rows (%zu messages): "
		"mean %.3f ms per token (layout %.3f ms), max %.3f ms; a full re-layout takes %.1f ms\n",
		n, rows, a->conv->n_msgs, total / n, lay / n, max, full_ms);
	free(t);
	a->quit = true;
}

int app_run(const struct app_options *opt, struct config *cfg)
{
	struct app app, *a = &app;
	char err[512];
	memset(a, 0, sizeof *a);
	a->opt = *opt;
	a->cfg = cfg;
	a->editing = -1;
	a->focus = FOCUS_INPUT;
	editor_init(&a->input);
	editor_init(&a->suffix);
	editor_init(&a->system_ed);
	transcript_init(&a->tr);
	engine_session_init(&a->es, &a->conv, &app_engine_hooks, a);

	/* The conversation: --load, else a new one with the profile. */
	struct profile *prof = NULL;
	if (opt->profile) {
		prof = profile_load(opt->profile, err, sizeof err);
		if (!prof && opt->profile_explicit) {
			fprintf(stderr, "dscoder-tui: %s\n", err);
			return 1;
		}
	}
	if (opt->load) {
		a->conv = conv_load(opt->load, err, sizeof err);
		if (!a->conv) {
			fprintf(stderr, "dscoder-tui: %s\n", err);
			profile_free(prof);
			return 1;
		}
		if (prof && opt->profile_explicit)
			app_apply_profile(a, prof);
		else if (a->conv->profile) {
			/* its engine is its own profile's, as when it is opened from the list */
			profile_free(prof);
			prof = profile_load(a->conv->profile, err, sizeof err);
		}
	} else {
		a->conv = conv_new();
		if (prof)
			app_apply_profile(a, prof);
	}
	/* The engine: a server when --remote, the profile or config.yaml names one, else the model. */
	app_engine_target(a, app_remote_for(a, prof));
	profile_free(prof);

	struct theme *th = theme_load(opt->theme, err, sizeof err);
	if (!th) {
		if (opt->theme) {
			fprintf(stderr, "dscoder-tui: %s\n", err);
			conv_free(a->conv);
			return 1;
		}
	}
	a->theme = th;
	if (opt->theme)
		for (size_t i = 0; i < sizeof app_theme_names / sizeof *app_theme_names; i++)
			if (strcmp(opt->theme, app_theme_names[i]) == 0)
				a->theme_index = (int)i;

	if (pipe2(a->wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		fprintf(stderr, "dscoder-tui: cannot create a pipe: %s\n", strerror(errno));
		return 1;
	}
	app_wake_fd = a->wake_pipe[1];
	app_signals(a);

	if (!initscr()) {
		fprintf(stderr, "dscoder-tui: cannot initialise the terminal (is TERM set?)\n");
		return 1;
	}
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	/* theme_apply starts colours itself, and not at all under NO_COLOR. */
	a->colors = theme_apply(a->theme);
	define_key("\033[200~", KEY_PASTE_BEGIN);
	define_key("\033[201~", KEY_PASTE_END);
	define_key("\033[M", KEY_MOUSE_X10);
	define_key("\033[<", KEY_MOUSE_SGR);
	/* Bracketed paste: pasted text arrives between markers, so newlines in it do not send. And the
	 * mouse, reported in SGR form (a terminal without it sends X10 reports, read as well). */
	fputs("\033[?2004h" MOUSE_ON, stdout);
	fflush(stdout);

	layout_compute(a);
	transcript_rebuild(a);
	transcript_to_end(a);
	if (!a->opt.bench_render)
		engine_session_start(&a->es);
	if (opt->load)
		app_notice(a, false, "loaded %s", opt->load);

	if (a->opt.bench_render)
		app_bench_render(a);

	bool need_draw = true;
	while (!a->quit) {
		if (app_sig_term)
			break;
		if (need_draw) {
			app_draw(a);
			need_draw = false;
		}
		struct pollfd fds[4];
		int nf = 0;
		fds[nf++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		fds[nf++] = (struct pollfd){ .fd = a->wake_pipe[0], .events = POLLIN };
		int out_i = -1, err_i = -1;
		if (a->es.eng.out_fd >= 0) {
			out_i = nf;
			fds[nf++] = (struct pollfd){ .fd = a->es.eng.out_fd, .events = POLLIN };
		}
		if (a->es.eng.err_fd >= 0) {
			err_i = nf;
			fds[nf++] = (struct pollfd){ .fd = a->es.eng.err_fd, .events = POLLIN };
		}
		/* Wake at least once a second: a SIGWINCH lost in a burst of resizes is then caught by
		 * comparing the terminal's size (app_size_changed). */
		int timeout_ms = a->es.state == ENGINE_GENERATING ? 250 : 1000;
		int pr = poll(fds, (nfds_t)nf, timeout_ms);
		if (pr < 0 && errno != EINTR)
			break;
		int flags = 0;
		if (fds[1].revents & POLLIN) {
			char buf[64];
			while (read(a->wake_pipe[0], buf, sizeof buf) > 0)
				;
		}
		if (app_sig_winch || app_size_changed()) {
			app_sig_winch = 0;
			app_resize(a);
			flags |= ACT_REDRAW;
		}
		if (out_i >= 0 && (fds[out_i].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (engine_session_read(&a->es) < 0)
				app_sig_chld = 1;   /* stdout closed: see whether it exited */
			if (a->tr_pending) {
				a->tr_pending = false;
				transcript_sync(a);
			}
			flags |= ACT_REDRAW;
		}
		if (err_i >= 0 && a->es.eng.err_fd >= 0 && (fds[err_i].revents & (POLLIN | POLLHUP | POLLERR))) {
			engine_session_read_err(&a->es);
			if (a->es.state == ENGINE_STOPPED)
				flags |= ACT_REDRAW;
		}
		if (app_sig_chld) {
			app_sig_chld = 0;
			int ended = engine_session_reap(&a->es);
			if (ended > 0) {
				flags |= ACT_REDRAW;
			} else if (ended < 0) {
				/* stdout closed but not yet exited: check again shortly. */
				struct timespec ts = { 0, 20 * 1000 * 1000 };
				nanosleep(&ts, NULL);
				app_sig_chld = 1;
			}
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
			flags |= app_read_keys(a);
		if (fds[0].revents & (POLLHUP | POLLERR) && !(fds[0].revents & POLLIN))
			break;      /* the terminal went away */
		if (a->es.state == ENGINE_GENERATING && a->dirty &&
		    clock_now() - a->last_save >= APP_SAVE_INTERVAL)
			app_save(a);
		if (pr == 0 && (a->es.state == ENGINE_GENERATING || a->notice))
			flags |= ACT_REDRAW;      /* notices expire, "generating" ticks */
		if (flags & ACT_RESIZE)
			app_relayout(a);
		if (flags & (ACT_REDRAW | ACT_RESIZE))
			need_draw = true;
	}

	/* Leaving: save, then stop the engine politely, then restore the terminal. */
	if (a->es.state == ENGINE_GENERATING)
		engine_session_cancel(&a->es);
	app_save(a);
	fputs("\033[?2004l" MOUSE_OFF, stdout);
	fflush(stdout);
	endwin();
	engine_session_free(&a->es, APP_ENGINE_GRACE_MS);
	config_remote_free(&a->remote);
	app_wake_fd = -1;
	close(a->wake_pipe[0]);
	close(a->wake_pipe[1]);
	transcript_free(&a->tr);
	editor_free(&a->input);
	editor_free(&a->suffix);
	editor_free(&a->system_ed);
	modal_close(a);
	conv_list_free(&a->list);
	free(a->list_idx);
	free(a->list_filter);
	free(a->notice);
	theme_free(a->theme);
	conv_free(a->conv);
	return 0;
}

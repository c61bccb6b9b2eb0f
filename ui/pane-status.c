/* pane-status.c: the status bar: engine state, model, profile, backend, context meter, speed, and
 * the latest notice. Pieces are dropped from the right when the terminal is narrow. */
#include "build-config.h"
#include <curses.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "clock.h"
#include "theme.h"
#include "utf8.h"

#define STATUS_NOTICE_SECONDS 6.0

static void status_human(int n, char *buf, size_t len)
{
	if (n >= 10000)
		snprintf(buf, len, "%dk", n / 1000);
	else if (n >= 1000)
		snprintf(buf, len, "%.1fk", n / 1000.0);
	else
		snprintf(buf, len, "%d", n);
}

/* The host (and port) of a server's url: "gpu.example.org:8000" of "https://gpu.example.org:8000/v1". */
static const char *status_host(const char *url, char *buf, size_t len)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	snprintf(buf, len, "%.*s", (int)strcspn(h, "/?#"), h);
	return buf;
}

/* Appends a piece if it fits; returns the new x. */
static int status_piece(struct app *a, int x, const char *s, int role, bool need_room_after)
{
	struct rect r = a->r_status;
	int w = (int)utf8_width(s, strlen(s));
	if (x + w > r.x + r.w - (need_room_after ? 1 : 0))
		return -1;
	draw_text(r.y, x, w, s, strlen(s), role);
	return x + w;
}

void status_draw(struct app *a)
{
	struct rect r = a->r_status;
	if (r.w <= 0)
		return;
	draw_fill(r.y, r.x, r.w, ROLE_STATUS_BAR);
	char state[96];
	int state_role = ROLE_STATUS_ACCENT;
	switch (a->es.state) {
	case ENGINE_STARTING:
		snprintf(state, sizeof state, " starting engine ");
		break;
	case ENGINE_LOADING:
		snprintf(state, sizeof state, " loading %d%% ",
			 a->es.load_total ? (int)(a->es.load_done * 100 / a->es.load_total) : 0);
		break;
	case ENGINE_READY:
		snprintf(state, sizeof state, " ready ");
		break;
	case ENGINE_GENERATING: {
		double dt = clock_now() - a->es.gen_first;
		if (a->es.gen_tokens > 1 && dt > 0.2)
			snprintf(state, sizeof state, " generating %d \u00b7 %.0f tok/s ", a->es.gen_tokens,
				 (a->es.gen_tokens - 1) / dt);
		else if (a->es.gen_tokens == 0)
			snprintf(state, sizeof state, " generating \u00b7 reading the prompt ");
		else
			snprintf(state, sizeof state, " generating %d ", a->es.gen_tokens);
		break;
	}
	case ENGINE_STOPPED:
		snprintf(state, sizeof state, a->es.engine_start_failed ? " engine could not start \u00b7 F12 retries " :
			 " engine stopped \u00b7 F12 restarts ");
		state_role = ROLE_ERROR;
		break;
	}
	int x = r.x;
	size_t used;
	size_t end = utf8_fit(state, strlen(state), 0, (size_t)r.w, &used);
	attrset(theme_attr(state_role) | A_REVERSE | A_BOLD);
	mvaddnstr(r.y, x, state, (int)end);
	x += (int)used;
	double now = clock_now();
	if (a->notice && (a->notice_error || now - a->notice_time < STATUS_NOTICE_SECONDS)) {
		char buf[512];
		snprintf(buf, sizeof buf, " %s", a->notice);
		draw_text(r.y, x, r.x + r.w - x, buf, strlen(buf),
			  a->notice_error ? ROLE_ERROR : ROLE_STATUS_BAR);
		return;
	}
	char buf[256];
	/* Model: its name, or "demo model" for the bundled one; a server's model by the name it gives,
	 * its host until it is ready. */
	const char *model = a->opt.is_demo ? "demo model" : a->es.model_name ? a->es.model_name :
			    a->opt.model;
	const char *slash = strrchr(model, '/');
	if (slash && slash[1] && !a->es.model_name && !a->opt.is_demo)
		model = slash + 1;
	char host[128];
	if (a->remote.url)
		model = a->es.model_name && *a->es.model_name ? a->es.model_name :
			status_host(a->remote.url, host, sizeof host);
	snprintf(buf, sizeof buf, " %s ", model);
	int nx = status_piece(a, x, buf, ROLE_STATUS_BAR, true);
	if (nx < 0)
		return;
	x = nx;
	/* Context meter: the engine's count of the prompt, plus the tokens of the answer being
	 * generated. */
	if (a->es.n_ctx > 0) {
		int used = a->es.ctx_tokens > 0 ? a->es.ctx_tokens : 0;
		if (a->es.state == ENGINE_GENERATING && a->es.ctx_tokens >= 0)
			used += a->es.gen_tokens;
		char u[16], t[16];
		status_human(used, u, sizeof u);
		status_human(a->es.n_ctx, t, sizeof t);
		int cells = 8, fill = (int)((long long)used * cells / a->es.n_ctx);
		if (used > 0 && fill == 0)
			fill = 1;
		if (fill > cells)
			fill = cells;
		char bar[64] = "";
		size_t o = 0;
		for (int i = 0; i < cells; i++)
			o += (size_t)snprintf(bar + o, sizeof bar - o, "%s", i < fill ? "\u2588" : "\u2591");
		/* "~": the engine guessed (a server without a tokenizer here; see dscoder-tui(5)). */
		const char *guess = a->es.ctx_estimate && a->es.ctx_tokens >= 0 ? "~" : "";
		snprintf(buf, sizeof buf, "\u2502 ctx %s %s%s/%s ", bar, guess, a->es.ctx_tokens < 0 ? "?" : u, t);
		nx = status_piece(a, x, buf, used * 10 > a->es.n_ctx * 9 ? ROLE_ERROR : ROLE_STATUS_BAR,
				  true);
		if (nx < 0)
			return;
		x = nx;
	}
	if (a->es.last_tps > 0) {
		snprintf(buf, sizeof buf, "\u2502 %.1f tok/s ", a->es.last_tps);
		nx = status_piece(a, x, buf, ROLE_STATUS_BAR, true);
		if (nx < 0)
			return;
		x = nx;
	}
	snprintf(buf, sizeof buf, "\u2502 %s ", a->conv->profile ? a->conv->profile : "no profile");
	nx = status_piece(a, x, buf, ROLE_STATUS_BAR, true);
	if (nx < 0)
		return;
	x = nx;
	if (a->es.backend) {
		/* As the engine names it: "cpu", "cuda", ..., or "remote" and the server's host. */
		if (a->es.endpoint)
			snprintf(buf, sizeof buf, "\u2502 %s %s ", a->es.backend,
				 status_host(a->es.endpoint, host, sizeof host));
		else
			snprintf(buf, sizeof buf, "\u2502 %s ", a->es.backend);
		nx = status_piece(a, x, buf, ROLE_STATUS_BAR, true);
		if (nx < 0)
			return;
		x = nx;
	}
	const char *help = " F1 help ";
	int hw = (int)strlen(help);
	if (r.x + r.w - hw > x)
		draw_text(r.y, r.x + r.w - hw, hw, help, (size_t)hw, ROLE_DIM);
}

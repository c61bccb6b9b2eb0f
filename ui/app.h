/* app.h: the TUI's state shared by the event loop, the layout and the panes. */
#ifndef DS_APP_H
#define DS_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "conversation.h"
#include "editor.h"
#include "engine-session.h"
#include "keys.h"
#include "markdown.h"
#include "protocol.h"

struct theme;

/* Everything tui-main.c decides before the loop starts. */
struct app_options {
	const char *model;          /* resolved model directory */
	bool is_demo;               /* it is the bundled demo model */
	const char *engine_path;    /* resolved engine program */
	const char *profile;        /* profile name, or NULL */
	bool profile_explicit;      /* --profile was given: a missing profile is an error */
	const char *theme;          /* theme name or path, or NULL */
	const char *load;           /* --load FILE, or NULL */
	int threads, ctx;           /* engine options from the config; 0: engine default */
	const char *backend;        /* engine backend from the config, or NULL */
	int gpus;                   /* engine --gpus from the config; 0: not set */
	const char *devices;        /* engine --devices from the config, or NULL */
	char *const *engine_args;   /* engine_args from the config, passed after the others */
	int n_engine_args;
	const struct config_remote *remote;   /* --remote: a server instead of the model here, or NULL */
	const char *bench_render;   /* --bench-render N: measure streaming render time and quit */
};

struct rect {
	int y, x, h, w;
};

enum focus { FOCUS_INPUT, FOCUS_SUFFIX, FOCUS_TRANSCRIPT, FOCUS_SIDEBAR };

/* The laid-out transcript: one item per conversation message. */
struct tr_item {
	struct md_layout *md;       /* NULL until laid out */
	int width;                  /* width md was laid out for */
	size_t len;                 /* content length md was laid out from */
	int first_block;            /* number of its first code block */
	int nblocks;
	int nrows;                  /* rows it takes: label + md lines + stats + blank */
	bool fim;                   /* shown as prefix + hole + suffix */
};

struct transcript {
	struct tr_item *items;
	size_t n, cap;
	int width;                  /* current layout width */
	long total_rows;
	long top;                   /* first visible row */
	bool follow;                /* stick to the end while streaming */
	long new_rows;              /* rows added below the view while not following */
	int height;                 /* visible rows at the last draw */
	double last_layout_ms;      /* time of the last incremental update (for --bench-render) */
	char *find;                 /* what Ctrl-S looks for (highlighted while set), or NULL */
	long find_row;              /* row of the current match, -1 none */
};

enum modal_kind { MODAL_NONE, MODAL_INPUT, MODAL_CONFIRM, MODAL_CHOICE, MODAL_TEXT };

struct app;
typedef void (*modal_done_fn)(struct app *a, int ok, const char *text, int choice);

struct modal {
	enum modal_kind kind;
	char *title;
	char *body;                 /* MODAL_CONFIRM / MODAL_TEXT: the message */
	struct editor ed;           /* MODAL_INPUT */
	char **choices;             /* MODAL_CHOICE */
	int n_choices, sel, scroll;
	modal_done_fn done;
	modal_done_fn change;       /* MODAL_INPUT: called after each edit (live search) */
	bool enter_no;              /* MODAL_CONFIRM: Enter answers no (modal_confirm_no) */
	int tag;                    /* caller's data (a block number ...) */
	char *stash;                /* caller's data (a path ...) */
};

struct app {
	struct app_options opt;
	struct config *cfg;
	struct conversation *conv;
	struct transcript tr;
	struct editor input, suffix;        /* suffix: fim mode's second field */
	struct editor system_ed;            /* the system prompt pane */
	bool system_open;
	bool help_open;
	int help_scroll;
	bool sidebar_open;
	enum focus focus;
	struct modal modal;
	int cb_tag;                         /* in a modal callback: the tag and stash of the modal */
	const char *cb_stash;
	ssize_t editing;                    /* edit-last: index of the user message being edited, or -1 */

	/* conversation list */
	struct conv_list list;
	size_t *list_idx;                   /* filtered indexes */
	size_t list_n;
	int list_sel, list_scroll;
	char *list_filter;
	bool list_loaded;

	/* engine */
	struct engine_session es;
	struct config_remote remote;        /* the server the engine forwards to; url NULL: local */
	bool tr_pending;                    /* tokens arrived: lay out the last message */

	/* saving */
	double last_save;
	bool dirty;

	/* screen */
	int rows, cols;
	bool too_small;
	struct rect r_sidebar, r_transcript, r_sep, r_input, r_sep2, r_suffix, r_status;
	int input_rows, suffix_rows;
	char *notice;                       /* one-line message for the user */
	bool notice_error;
	double notice_time;
	struct theme *theme;
	int theme_index;
	int colors;

	int wake_pipe[2];                   /* self-pipe: SIGWINCH, SIGCHLD */
	bool quit;
};

/* Runs the TUI until the user quits. Returns the exit status for main. */
int app_run(const struct app_options *opt, struct config *cfg);

/* Helpers shared by the panes (app.c). */
void app_notice(struct app *a, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int app_input_empty(const struct app *a);

/* layout.c */
void layout_compute(struct app *a);
int layout_input_width(const struct app *a);

/* Drawing helpers (layout.c): text clipped to a width in columns; returns the columns used. */
int draw_text(int y, int x, int maxw, const char *s, size_t len, int role);
void draw_fill(int y, int x, int w, int role);
void draw_hline(int y, int x, int w, int role);
/* A dialog: h rows of w columns filled with role inside a ROLE_BORDER frame. */
void draw_box(int y, int x, int h, int w, int role);

/* pane-transcript.c */
void transcript_init(struct transcript *t);
void transcript_free(struct transcript *t);
/* Lays out the whole conversation again (new width, loaded conversation, theme change). */
void transcript_rebuild(struct app *a);
/* Brings the items in line with the conversation after messages were added or removed, laying out
 * only what changed (the streaming path: only the last message). */
void transcript_sync(struct app *a);
void transcript_draw(struct app *a);
void transcript_scroll(struct app *a, long delta);
void transcript_to_top(struct app *a);
void transcript_to_end(struct app *a);
/* Shows row `row` at the top of the view (clamped; at the end the view follows again). */
void transcript_scroll_to(struct app *a, long row);

/* transcript-find.c */
/* Finds query (NULL: the last one again) in the lines as shown, forward (dir 1) or backward (-1)
 * from the current match or the view, wrapping; moves the view there and says "k of n" in a notice. */
void transcript_find(struct app *a, const char *query, int dir);
void transcript_find_clear(struct app *a);
/* Draws the matches in line l, drawn at (y, x) in at most maxw columns, in the search colours. */
void transcript_find_mark(struct app *a, int y, int x, int maxw, const struct md_line *l);
/* The code block numbered n: finds its message; returns its raw text (caller frees) or NULL. */
char *transcript_block_text(struct app *a, int n, char *lang, size_t langlen);
int transcript_block_count(struct app *a);
/* Row where the content under the mouse lies (wheel). */

/* pane-input.c */
int input_rows_wanted(struct app *a, struct editor *e, int width, int limit);
void input_draw(struct app *a);

/* pane-sidebar.c */
void sidebar_reload(struct app *a);
/* Shows the list with the focus on it and the open conversation selected. */
void sidebar_open(struct app *a);
void sidebar_filter(struct app *a);
void sidebar_draw(struct app *a);
const struct conv_entry *sidebar_selected(struct app *a);
void sidebar_move(struct app *a, int delta);

/* pane-status.c */
void status_draw(struct app *a);

/* pane-system.c */
void system_open(struct app *a);
void system_draw(struct app *a);

/* pane-help.c */
void help_draw(struct app *a);
int help_key(struct app *a, int key);

/* pane-prompt.c: the modal prompt */
void modal_input(struct app *a, const char *title, const char *initial, modal_done_fn done, int tag);
void modal_confirm(struct app *a, const char *title, const char *body, modal_done_fn done, int tag);
/* The same for a question whose safe answer is no (overwrite, delete): Enter means no, only y
 * says yes. */
void modal_confirm_no(struct app *a, const char *title, const char *body, modal_done_fn done, int tag);
void modal_choice(struct app *a, const char *title, char **choices, int n, int sel,
		  modal_done_fn done, int tag);
void modal_text(struct app *a, const char *title, const char *body);
void modal_close(struct app *a);
/* Handles a key while a modal is open; returns ACT_* flags. */
int modal_key(struct app *a, int key, const char *paste, size_t paste_len);
void modal_draw(struct app *a);

/* clipboard.c: copies text to the clipboard (OSC 52, tmux, or wl-copy / xclip / xsel; see there).
 * how (howlen bytes, a few hundred) gets what happened, to follow "copied ..."/"sent ..." (CLIP_COPIED:
 * "to the clipboard with xclip"; CLIP_SENT: OSC 52 sent, whether the terminal took it is unknown),
 * or why nothing was copied and what to do (CLIP_NOT_COPIED, sentences). */
enum clip_result { CLIP_COPIED, CLIP_SENT, CLIP_NOT_COPIED };
enum clip_result clipboard_copy(const char *text, size_t len, char *how, size_t howlen);

#endif

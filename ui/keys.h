/* keys.h: the key table: which key does which named action in which pane, and key names for the
 * help overlay and the manual. */
#ifndef DS_KEYS_H
#define DS_KEYS_H

#include <stddef.h>

/* A key is one int: a character (its code point; control keys are their ASCII codes), or an
 * ncurses KEY_* code with KEYS_FUNC set, either possibly with KEYS_META (Alt, sent as an ESC
 * prefix). */
#define KEYS_FUNC 0x40000000
#define KEYS_META 0x20000000
#define KEYS_CTRL(c) ((c) & 0x1f)

/* Flags returned by action handlers. */
enum {
	ACT_REDRAW = 1,             /* something changed on screen */
	ACT_RESIZE = 2,             /* the layout changed (pane shown/hidden, editor grew) */
	ACT_QUIT = 4,
	ACT_UNHANDLED = 8,          /* the key does nothing here; the caller may try elsewhere */
};

/* Where a binding applies. Global bindings apply in every pane unless the pane binds the key. */
enum key_ctx {
	KCTX_GLOBAL,
	KCTX_INPUT,
	KCTX_TRANSCRIPT,
	KCTX_SIDEBAR,
	KCTX_SYSTEM,
	KCTX__COUNT
};

enum action {
	ACT_NONE,
	/* global */
	ACT_HELP, ACT_QUIT_ACT, ACT_INTERRUPT, ACT_ESCAPE, ACT_TOGGLE_LIST, ACT_FOCUS_NEXT,
	ACT_FOCUS_PREV, ACT_NEW_CONV, ACT_REGENERATE, ACT_EDIT_LAST, ACT_SYSTEM_PROMPT, ACT_MODE,
	ACT_PROFILE, ACT_EXPORT, ACT_THEME, ACT_RESTART_ENGINE, ACT_COPY_BLOCK, ACT_SAVE_BLOCK,
	ACT_COPY_BLOCK_N, ACT_DROP_OLDEST, ACT_SCROLL_UP, ACT_SCROLL_DOWN, ACT_PAGE_UP,
	ACT_PAGE_DOWN, ACT_SCROLL_TOP, ACT_SCROLL_BOTTOM, ACT_REDRAW_ACT, ACT_COPY_ANSWER, ACT_FIND,
	/* transcript */
	ACT_FIND_NEXT, ACT_FIND_PREV,
	/* input editor */
	ACT_SEND, ACT_NEWLINE, ACT_LEFT, ACT_RIGHT, ACT_WORD_LEFT, ACT_WORD_RIGHT, ACT_LINE_START,
	ACT_LINE_END, ACT_UP, ACT_DOWN, ACT_BACKSPACE, ACT_DELETE, ACT_KILL_END, ACT_KILL_START,
	ACT_KILL_WORD_BACK, ACT_KILL_WORD_FORWARD, ACT_YANK, ACT_TRANSPOSE, ACT_HISTORY_PREV,
	ACT_HISTORY_NEXT, ACT_BUF_START, ACT_BUF_END,
	/* conversation list */
	ACT_LIST_UP, ACT_LIST_DOWN, ACT_LIST_OPEN, ACT_LIST_RENAME, ACT_LIST_DELETE,
	ACT_LIST_SEARCH, ACT_LIST_TOP, ACT_LIST_BOTTOM,
	/* system prompt pane */
	ACT_SYSTEM_SAVE,
	ACT__COUNT
};

/* Binding flags. */
enum {
	KB_IF_EMPTY = 1,            /* only when the input editor is empty (else the key types/moves) */
	KB_HIDDEN = 2,              /* an alias not listed separately in the help */
};

struct key_binding {
	int key;
	enum key_ctx ctx;
	enum action act;
	int flags;
};

/* The table, ending with a zero key. */
extern const struct key_binding keys_table[];

/* The name used in messages and config files ("send"), and a one-line description for help. */
const char *keys_action_name(enum action a);
const char *keys_action_help(enum action a);
const char *keys_ctx_name(enum key_ctx c);

/* Finds the binding of key in ctx (then in KCTX_GLOBAL when ctx is not global). input_empty says
 * whether KB_IF_EMPTY bindings apply; when they do they come first. Returns NULL when the key is
 * unbound. */
const struct key_binding *keys_lookup(enum key_ctx ctx, int key, int input_empty);

/* Writes a readable name of key ("Ctrl-C", "Alt-Enter", "F1", "PgUp", "a") into buf. */
const char *keys_name(int key, char *buf, size_t len);
/* Parses a name written by keys_name back into a key; returns 0 when the name is unknown. */
int keys_parse(const char *name);

/* Writes into buf the names of all keys bound to action a in ctx, joined by " / " (empty when
 * none). */
const char *keys_for_action(enum action a, enum key_ctx ctx, char *buf, size_t len);

#endif

/* keys.c: the key table (key -> named action per pane), action names and help texts, key names. */
#include "build-config.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <curses.h>

#include "keys.h"
#include "utf8.h"

#define F(k) (KEYS_FUNC | (k))
#define M(k) (KEYS_META | (k))
#define C(c) KEYS_CTRL(c)

/* Order matters twice: the first binding of a key in a context wins, and the help overlay lists
 * keys in this order. */
const struct key_binding keys_table[] = {
	/* global */
	{ F(KEY_F(1)), KCTX_GLOBAL, ACT_HELP, 0 },
	{ '?', KCTX_GLOBAL, ACT_HELP, KB_IF_EMPTY },
	{ C('C'), KCTX_GLOBAL, ACT_INTERRUPT, 0 },
	{ 27, KCTX_GLOBAL, ACT_ESCAPE, 0 },
	{ C('Q'), KCTX_GLOBAL, ACT_QUIT_ACT, 0 },
	{ F(KEY_F(10)), KCTX_GLOBAL, ACT_QUIT_ACT, 0 },
	{ F(KEY_F(2)), KCTX_GLOBAL, ACT_TOGGLE_LIST, 0 },
	{ M('l'), KCTX_GLOBAL, ACT_TOGGLE_LIST, 0 },
	{ '\t', KCTX_GLOBAL, ACT_FOCUS_NEXT, 0 },
	{ F(KEY_BTAB), KCTX_GLOBAL, ACT_FOCUS_PREV, 0 },
	{ M('n'), KCTX_GLOBAL, ACT_NEW_CONV, 0 },
	{ F(KEY_F(5)), KCTX_GLOBAL, ACT_REGENERATE, 0 },
	{ M('r'), KCTX_GLOBAL, ACT_REGENERATE, 0 },
	{ F(KEY_F(4)), KCTX_GLOBAL, ACT_EDIT_LAST, 0 },
	{ M('e'), KCTX_GLOBAL, ACT_EDIT_LAST, 0 },
	{ F(KEY_F(3)), KCTX_GLOBAL, ACT_SYSTEM_PROMPT, 0 },
	{ M('s'), KCTX_GLOBAL, ACT_SYSTEM_PROMPT, 0 },
	{ F(KEY_F(6)), KCTX_GLOBAL, ACT_MODE, 0 },
	{ M('m'), KCTX_GLOBAL, ACT_MODE, 0 },
	{ F(KEY_F(7)), KCTX_GLOBAL, ACT_PROFILE, 0 },
	{ M('p'), KCTX_GLOBAL, ACT_PROFILE, 0 },
	{ F(KEY_F(8)), KCTX_GLOBAL, ACT_EXPORT, 0 },
	{ M('x'), KCTX_GLOBAL, ACT_EXPORT, 0 },
	{ F(KEY_F(9)), KCTX_GLOBAL, ACT_THEME, 0 },
	{ M('t'), KCTX_GLOBAL, ACT_THEME, 0 },
	{ F(KEY_F(12)), KCTX_GLOBAL, ACT_RESTART_ENGINE, 0 },
	{ M('k'), KCTX_GLOBAL, ACT_RESTART_ENGINE, 0 },
	{ M('c'), KCTX_GLOBAL, ACT_COPY_BLOCK, 0 },
	{ M('1'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, 0 },
	{ M('2'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, KB_HIDDEN },
	{ M('3'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, KB_HIDDEN },
	{ M('4'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, KB_HIDDEN },
	{ M('5'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, KB_HIDDEN },
	{ M('6'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, KB_HIDDEN },
	{ M('7'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, KB_HIDDEN },
	{ M('8'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, KB_HIDDEN },
	{ M('9'), KCTX_GLOBAL, ACT_COPY_BLOCK_N, KB_HIDDEN },
	{ M('w'), KCTX_GLOBAL, ACT_SAVE_BLOCK, 0 },
	{ M('a'), KCTX_GLOBAL, ACT_COPY_ANSWER, 0 },
	{ M('o'), KCTX_GLOBAL, ACT_DROP_OLDEST, 0 },
	{ F(KEY_PPAGE), KCTX_GLOBAL, ACT_PAGE_UP, 0 },
	{ F(KEY_NPAGE), KCTX_GLOBAL, ACT_PAGE_DOWN, 0 },
	{ F(KEY_SR), KCTX_GLOBAL, ACT_SCROLL_UP, 0 },
	{ F(KEY_SF), KCTX_GLOBAL, ACT_SCROLL_DOWN, 0 },
	{ F(KEY_HOME), KCTX_GLOBAL, ACT_SCROLL_TOP, KB_IF_EMPTY },
	{ F(KEY_END), KCTX_GLOBAL, ACT_SCROLL_BOTTOM, KB_IF_EMPTY },
	{ M('<'), KCTX_GLOBAL, ACT_SCROLL_TOP, 0 },
	{ M('>'), KCTX_GLOBAL, ACT_SCROLL_BOTTOM, 0 },
	{ C('L'), KCTX_GLOBAL, ACT_REDRAW_ACT, 0 },
	{ C('S'), KCTX_GLOBAL, ACT_FIND, 0 },

	/* input editor */
	{ '\r', KCTX_INPUT, ACT_SEND, 0 },
	{ F(KEY_ENTER), KCTX_INPUT, ACT_SEND, KB_HIDDEN },
	{ M('\r'), KCTX_INPUT, ACT_NEWLINE, 0 },
	{ C('J'), KCTX_INPUT, ACT_NEWLINE, 0 },
	{ F(KEY_LEFT), KCTX_INPUT, ACT_LEFT, 0 },
	{ C('B'), KCTX_INPUT, ACT_LEFT, 0 },
	{ F(KEY_RIGHT), KCTX_INPUT, ACT_RIGHT, 0 },
	{ C('F'), KCTX_INPUT, ACT_RIGHT, 0 },
	{ M('b'), KCTX_INPUT, ACT_WORD_LEFT, 0 },
	{ M('f'), KCTX_INPUT, ACT_WORD_RIGHT, 0 },
	{ C('A'), KCTX_INPUT, ACT_LINE_START, 0 },
	{ F(KEY_HOME), KCTX_INPUT, ACT_LINE_START, 0 },
	{ C('E'), KCTX_INPUT, ACT_LINE_END, 0 },
	{ F(KEY_END), KCTX_INPUT, ACT_LINE_END, 0 },
	{ F(KEY_UP), KCTX_INPUT, ACT_UP, 0 },
	{ C('P'), KCTX_INPUT, ACT_UP, 0 },
	{ F(KEY_DOWN), KCTX_INPUT, ACT_DOWN, 0 },
	{ C('N'), KCTX_INPUT, ACT_DOWN, 0 },
	{ F(KEY_BACKSPACE), KCTX_INPUT, ACT_BACKSPACE, 0 },
	{ 127, KCTX_INPUT, ACT_BACKSPACE, KB_HIDDEN },
	{ C('H'), KCTX_INPUT, ACT_BACKSPACE, KB_HIDDEN },
	{ F(KEY_DC), KCTX_INPUT, ACT_DELETE, 0 },
	{ C('D'), KCTX_INPUT, ACT_DELETE, 0 },
	{ C('K'), KCTX_INPUT, ACT_KILL_END, 0 },
	{ C('U'), KCTX_INPUT, ACT_KILL_START, 0 },
	{ C('W'), KCTX_INPUT, ACT_KILL_WORD_BACK, 0 },
	{ M(127), KCTX_INPUT, ACT_KILL_WORD_BACK, 0 },
	{ M('d'), KCTX_INPUT, ACT_KILL_WORD_FORWARD, 0 },
	{ C('Y'), KCTX_INPUT, ACT_YANK, 0 },
	{ C('T'), KCTX_INPUT, ACT_TRANSPOSE, 0 },
	{ M(F(KEY_UP)), KCTX_INPUT, ACT_HISTORY_PREV, 0 },
	{ M(F(KEY_DOWN)), KCTX_INPUT, ACT_HISTORY_NEXT, 0 },
	{ M(','), KCTX_INPUT, ACT_BUF_START, 0 },
	{ M('.'), KCTX_INPUT, ACT_BUF_END, 0 },

	/* transcript (focused with Tab) */
	{ F(KEY_UP), KCTX_TRANSCRIPT, ACT_SCROLL_UP, 0 },
	{ 'k', KCTX_TRANSCRIPT, ACT_SCROLL_UP, 0 },
	{ F(KEY_DOWN), KCTX_TRANSCRIPT, ACT_SCROLL_DOWN, 0 },
	{ 'j', KCTX_TRANSCRIPT, ACT_SCROLL_DOWN, 0 },
	{ ' ', KCTX_TRANSCRIPT, ACT_PAGE_DOWN, 0 },
	{ 'b', KCTX_TRANSCRIPT, ACT_PAGE_UP, 0 },
	{ F(KEY_HOME), KCTX_TRANSCRIPT, ACT_SCROLL_TOP, 0 },
	{ 'g', KCTX_TRANSCRIPT, ACT_SCROLL_TOP, 0 },
	{ F(KEY_END), KCTX_TRANSCRIPT, ACT_SCROLL_BOTTOM, 0 },
	{ 'G', KCTX_TRANSCRIPT, ACT_SCROLL_BOTTOM, 0 },
	{ 'c', KCTX_TRANSCRIPT, ACT_COPY_BLOCK, 0 },
	{ 'w', KCTX_TRANSCRIPT, ACT_SAVE_BLOCK, 0 },
	{ '/', KCTX_TRANSCRIPT, ACT_FIND, 0 },
	{ 'n', KCTX_TRANSCRIPT, ACT_FIND_NEXT, 0 },
	{ 'N', KCTX_TRANSCRIPT, ACT_FIND_PREV, 0 },

	/* conversation list (focused with Tab when shown) */
	{ F(KEY_UP), KCTX_SIDEBAR, ACT_LIST_UP, 0 },
	{ 'k', KCTX_SIDEBAR, ACT_LIST_UP, 0 },
	{ F(KEY_DOWN), KCTX_SIDEBAR, ACT_LIST_DOWN, 0 },
	{ 'j', KCTX_SIDEBAR, ACT_LIST_DOWN, 0 },
	{ F(KEY_HOME), KCTX_SIDEBAR, ACT_LIST_TOP, 0 },
	{ F(KEY_END), KCTX_SIDEBAR, ACT_LIST_BOTTOM, 0 },
	{ '\r', KCTX_SIDEBAR, ACT_LIST_OPEN, 0 },
	{ F(KEY_ENTER), KCTX_SIDEBAR, ACT_LIST_OPEN, KB_HIDDEN },
	{ 'n', KCTX_SIDEBAR, ACT_NEW_CONV, 0 },
	{ 'r', KCTX_SIDEBAR, ACT_LIST_RENAME, 0 },
	{ 'd', KCTX_SIDEBAR, ACT_LIST_DELETE, 0 },
	{ F(KEY_DC), KCTX_SIDEBAR, ACT_LIST_DELETE, 0 },
	{ '/', KCTX_SIDEBAR, ACT_LIST_SEARCH, 0 },
	{ C('F'), KCTX_SIDEBAR, ACT_LIST_SEARCH, 0 },
	{ 'x', KCTX_SIDEBAR, ACT_EXPORT, 0 },

	/* system prompt editor: the input editor's keys apply, Enter inserts a newline */
	{ '\r', KCTX_SYSTEM, ACT_NEWLINE, 0 },
	{ F(KEY_ENTER), KCTX_SYSTEM, ACT_NEWLINE, KB_HIDDEN },
	{ C('S'), KCTX_SYSTEM, ACT_SYSTEM_SAVE, 0 },
	{ M('\r'), KCTX_SYSTEM, ACT_SYSTEM_SAVE, 0 },
	{ 0, 0, 0, 0 }
};

static const struct {
	const char *name, *help;
} keys_actions[ACT__COUNT] = {
	[ACT_NONE] = { "none", "" },
	[ACT_HELP] = { "help", "show or hide this help (? only when the input is empty)" },
	[ACT_QUIT_ACT] = { "quit", "quit (the conversation is already saved)" },
	[ACT_INTERRUPT] = { "interrupt", "stop the answer; when idle, ask to quit" },
	[ACT_ESCAPE] = { "escape", "stop the answer; close a pane; back to the input" },
	[ACT_TOGGLE_LIST] = { "toggle-list", "show or hide the conversation list" },
	[ACT_FOCUS_NEXT] = { "focus-next", "move the focus: input, list (when open), transcript" },
	[ACT_FOCUS_PREV] = { "focus-prev", "move the focus backwards" },
	[ACT_NEW_CONV] = { "new", "start a new conversation" },
	[ACT_REGENERATE] = { "regenerate", "generate the last answer again" },
	[ACT_EDIT_LAST] = { "edit-last", "edit the last question; Enter resends it" },
	[ACT_SYSTEM_PROMPT] = { "system-prompt", "view and edit the system prompt" },
	[ACT_MODE] = { "mode", "switch mode: chat, completion, fill-in-the-middle" },
	[ACT_PROFILE] = { "profile", "choose a profile" },
	[ACT_EXPORT] = { "export", "export the conversation to Markdown" },
	[ACT_THEME] = { "theme", "switch to the next theme" },
	[ACT_RESTART_ENGINE] = { "restart-engine", "restart the engine" },
	[ACT_COPY_BLOCK] = { "copy-block", "copy code block [n] to the clipboard (asks n)" },
	[ACT_COPY_BLOCK_N] = { "copy-block-n", "Alt-1 .. Alt-9: copy code block [1] .. [9]" },
	[ACT_SAVE_BLOCK] = { "save-block", "save code block [n] to a file (asks n and path)" },
	[ACT_COPY_ANSWER] = { "copy-answer", "copy the last answer to the clipboard" },
	[ACT_FIND] = { "find", "find text in the transcript (then n / N in it)" },
	[ACT_FIND_NEXT] = { "find-next", "the next match of the last find" },
	[ACT_FIND_PREV] = { "find-previous", "the previous match of the last find" },
	[ACT_DROP_OLDEST] = { "drop-oldest", "drop the oldest turn (the system prompt stays)" },
	[ACT_SCROLL_UP] = { "scroll-up", "scroll the transcript one line up" },
	[ACT_SCROLL_DOWN] = { "scroll-down", "scroll the transcript one line down" },
	[ACT_PAGE_UP] = { "page-up", "scroll the transcript one page up" },
	[ACT_PAGE_DOWN] = { "page-down", "scroll the transcript one page down" },
	[ACT_SCROLL_TOP] = { "scroll-top", "go to the start of the transcript" },
	[ACT_SCROLL_BOTTOM] = { "scroll-bottom", "go to the end (and follow the answer)" },
	[ACT_REDRAW_ACT] = { "redraw", "redraw the screen" },
	[ACT_SEND] = { "send", "send the message" },
	[ACT_NEWLINE] = { "newline", "insert a newline" },
	[ACT_LEFT] = { "left", "cursor one character left" },
	[ACT_RIGHT] = { "right", "cursor one character right" },
	[ACT_WORD_LEFT] = { "word-left", "cursor one word left" },
	[ACT_WORD_RIGHT] = { "word-right", "cursor one word right" },
	[ACT_LINE_START] = { "line-start", "start of the line" },
	[ACT_LINE_END] = { "line-end", "end of the line" },
	[ACT_UP] = { "up", "line up; on the first line, older history" },
	[ACT_DOWN] = { "down", "line down; on the last line, newer history" },
	[ACT_BACKSPACE] = { "backspace", "delete the character before the cursor" },
	[ACT_DELETE] = { "delete", "delete the character under the cursor" },
	[ACT_KILL_END] = { "kill-end", "cut to the end of the line" },
	[ACT_KILL_START] = { "kill-start", "cut to the start of the line" },
	[ACT_KILL_WORD_BACK] = { "kill-word-back", "cut the word before the cursor" },
	[ACT_KILL_WORD_FORWARD] = { "kill-word", "cut the word after the cursor" },
	[ACT_YANK] = { "yank", "paste the last cut text" },
	[ACT_TRANSPOSE] = { "transpose", "swap the two characters at the cursor" },
	[ACT_HISTORY_PREV] = { "history-prev", "older input from the history" },
	[ACT_HISTORY_NEXT] = { "history-next", "newer input from the history" },
	[ACT_BUF_START] = { "buffer-start", "start of the input" },
	[ACT_BUF_END] = { "buffer-end", "end of the input" },
	[ACT_LIST_UP] = { "list-up", "select the previous conversation" },
	[ACT_LIST_DOWN] = { "list-down", "select the next conversation" },
	[ACT_LIST_TOP] = { "list-top", "select the first conversation" },
	[ACT_LIST_BOTTOM] = { "list-bottom", "select the last conversation" },
	[ACT_LIST_OPEN] = { "list-open", "open the selected conversation" },
	[ACT_LIST_RENAME] = { "list-rename", "rename the selected conversation" },
	[ACT_LIST_DELETE] = { "list-delete", "delete the selected conversation (asks first)" },
	[ACT_LIST_SEARCH] = { "list-search", "search the conversations by text" },
	[ACT_SYSTEM_SAVE] = { "system-save", "save the system prompt and close the pane" },
};

const char *keys_action_name(enum action a)
{
	return a < ACT__COUNT && keys_actions[a].name ? keys_actions[a].name : "?";
}

const char *keys_action_help(enum action a)
{
	return a < ACT__COUNT && keys_actions[a].help ? keys_actions[a].help : "";
}

const char *keys_ctx_name(enum key_ctx c)
{
	static const char *names[KCTX__COUNT] = {
		[KCTX_GLOBAL] = "Everywhere", [KCTX_INPUT] = "Input editor",
		[KCTX_TRANSCRIPT] = "Transcript (Tab to focus)",
		[KCTX_SIDEBAR] = "Conversation list (Tab to focus)",
		[KCTX_SYSTEM] = "System prompt pane",
	};
	return c < KCTX__COUNT ? names[c] : "?";
}

const struct key_binding *keys_lookup(enum key_ctx ctx, int key, int input_empty)
{
	/* In an empty input editor, the global keys meant for that case (Home, End, ?) win over the
	 * editor's own meaning of the key, which would do nothing anyway. Other panes keep their
	 * own bindings first. */
	if (input_empty && ctx == KCTX_INPUT)
		for (const struct key_binding *b = keys_table; b->key; b++)
			if (b->ctx == KCTX_GLOBAL && b->key == key && (b->flags & KB_IF_EMPTY))
				return b;
	for (int pass = 0; pass < 2; pass++) {
		enum key_ctx want = pass == 0 ? ctx : KCTX_GLOBAL;
		if (pass == 1 && ctx == KCTX_GLOBAL)
			break;
		for (const struct key_binding *b = keys_table; b->key; b++) {
			if (b->ctx != want || b->key != key)
				continue;
			if ((b->flags & KB_IF_EMPTY) && !input_empty)
				continue;
			return b;
		}
	}
	return NULL;
}

static const struct {
	int code;
	const char *name;
} keys_special[] = {
	{ F(KEY_UP), "Up" }, { F(KEY_DOWN), "Down" }, { F(KEY_LEFT), "Left" },
	{ F(KEY_RIGHT), "Right" }, { F(KEY_HOME), "Home" }, { F(KEY_END), "End" },
	{ F(KEY_PPAGE), "PgUp" }, { F(KEY_NPAGE), "PgDn" }, { F(KEY_DC), "Delete" },
	{ F(KEY_IC), "Insert" }, { F(KEY_BACKSPACE), "Backspace" }, { F(KEY_ENTER), "KpEnter" },
	{ F(KEY_BTAB), "Shift-Tab" }, { F(KEY_SR), "Shift-Up" }, { F(KEY_SF), "Shift-Down" },
	{ '\r', "Enter" }, { '\t', "Tab" }, { 27, "Esc" }, { 127, "DEL" }, { ' ', "Space" },
};

const char *keys_name(int key, char *buf, size_t len)
{
	char base[32];
	const char *prefix = (key & KEYS_META) ? "Alt-" : "";
	int k = key & ~KEYS_META;
	const char *name = NULL;
	/* Alt-Backspace is ESC DEL on the wire. */
	if (k == 127 && (key & KEYS_META))
		name = "Backspace";
	for (size_t i = 0; !name && i < sizeof keys_special / sizeof *keys_special; i++)
		if (keys_special[i].code == k)
			name = keys_special[i].name;
	if (!name && (k & KEYS_FUNC)) {
		int f = k & ~KEYS_FUNC;
		if (f >= KEY_F(1) && f <= KEY_F(63))
			snprintf(base, sizeof base, "F%d", f - KEY_F0);
		else
			snprintf(base, sizeof base, "Key%d", f);
		name = base;
	} else if (!name && k < 32) {
		snprintf(base, sizeof base, "Ctrl-%c", k + '@');
		name = base;
	} else if (!name) {
		/* A printable character, as UTF-8. */
		base[utf8_encode(k, base)] = '\0';
		name = base;
	}
	snprintf(buf, len, "%s%s", prefix, name);
	return buf;
}

int keys_parse(const char *name)
{
	int meta = 0;
	if (strncasecmp(name, "Alt-", 4) == 0) {
		meta = KEYS_META;
		name += 4;
	}
	if (!*name)
		return 0;
	if (meta && strcasecmp(name, "Backspace") == 0)
		return meta | 127;
	for (size_t i = 0; i < sizeof keys_special / sizeof *keys_special; i++)
		if (strcasecmp(keys_special[i].name, name) == 0)
			return meta | keys_special[i].code;
	if (meta && strcasecmp(name, "Backspace") == 0)
		return meta | 127;
	if (strncasecmp(name, "Ctrl-", 5) == 0 && name[5] && !name[6])
		return meta | KEYS_CTRL(name[5]);
	if ((name[0] == 'F' || name[0] == 'f') && name[1] >= '1' && name[1] <= '9') {
		char *end;
		long n = strtol(name + 1, &end, 10);
		if (!*end && n >= 1 && n <= 63)
			return meta | KEYS_FUNC | KEY_F((int)n);
	}
	if (strncmp(name, "Key", 3) == 0 && name[3] >= '0' && name[3] <= '9')
		return meta | KEYS_FUNC | atoi(name + 3);
	/* One UTF-8 character. */
	const unsigned char *s = (const unsigned char *)name;
	int c, n;
	if (s[0] < 0x80) { c = s[0]; n = 1; }
	else if ((s[0] & 0xe0) == 0xc0) { c = s[0] & 0x1f; n = 2; }
	else if ((s[0] & 0xf0) == 0xe0) { c = s[0] & 0x0f; n = 3; }
	else if ((s[0] & 0xf8) == 0xf0) { c = s[0] & 0x07; n = 4; }
	else return 0;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (s[n])
		return 0;
	return meta | c;
}

const char *keys_for_action(enum action a, enum key_ctx ctx, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (const struct key_binding *b = keys_table; b->key; b++) {
		if (b->act != a || b->ctx != ctx || (b->flags & KB_HIDDEN))
			continue;
		char name[32];
		keys_name(b->key, name, sizeof name);
		int w = snprintf(buf + o, len - o, "%s%s", o ? " / " : "", name);
		if (w < 0 || (size_t)w >= len - o)
			break;
		o += (size_t)w;
	}
	return buf;
}

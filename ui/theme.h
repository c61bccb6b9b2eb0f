/* theme.h: display roles (what a piece of the screen means) and themes that give each role a look. */
#ifndef DS_THEME_H
#define DS_THEME_H

#include <stdbool.h>
#include <stddef.h>
#include <curses.h>

/*
 * Roles: everything on the screen is drawn with theme_attr(role). Keep this enum and the name
 * table in theme.c in the same order; the names are the keys of theme files (role_name without
 * the ROLE_ prefix, lower case: ROLE_CODE_KEYWORD is "code_keyword").
 * The values fit in a uint8_t (markdown and highlighting store them per byte / per span).
 */
enum theme_role {
	ROLE_TEXT,              /* ordinary transcript text (and the parent of most roles) */
	ROLE_HEADING,           /* markdown #, ## ... headings */
	ROLE_BOLD,              /* **bold** */
	ROLE_ITALIC,            /* *italic* */
	ROLE_INLINE_CODE,       /* `inline code` */
	ROLE_QUOTE,             /* > block quote (its bar and its text) */
	ROLE_LIST_BULLET,       /* the bullet or number of a list item */
	ROLE_RULE,              /* a horizontal rule (---) */
	ROLE_LINK,              /* the text of a [link](url) (the url itself is ROLE_DIM) */
	ROLE_CODE_BG,           /* plain text inside a code block, and its background */
	ROLE_CODE_KEYWORD,
	ROLE_CODE_TYPE,
	ROLE_CODE_STRING,
	ROLE_CODE_COMMENT,
	ROLE_CODE_NUMBER,
	ROLE_CODE_PREPROC,      /* #include, decorators, diff file headers and @@ hunk lines */
	ROLE_CODE_FUNCTION,     /* a name followed by '(' */
	ROLE_CODE_CONSTANT,     /* true, false, null, None, nil ... */
	ROLE_CODE_ATTRIBUTE,    /* JSON/YAML keys, attributes, shell variables */
	ROLE_CODE_DIFF_ADD,     /* + lines of a diff */
	ROLE_CODE_DIFF_DEL,     /* - lines of a diff */
	ROLE_CODE_HEADER,       /* the "[n] language" line above a code block */
	ROLE_CODE_CONTINUATION, /* the mark at the start of a wrapped code line */
	ROLE_USER_MSG,          /* the user's messages (base role of their text) and their label */
	ROLE_ASSISTANT_MSG,     /* the assistant's label (its text uses ROLE_TEXT) */
	ROLE_SYSTEM_MSG,        /* system prompt and notices in the transcript */
	ROLE_STATUS_BAR,
	ROLE_STATUS_ACCENT,     /* highlighted parts of the status bar (state, context bar) */
	ROLE_SIDEBAR,           /* the conversation list */
	ROLE_SIDEBAR_SELECTED,
	ROLE_INPUT,             /* the input editor */
	ROLE_BORDER,            /* pane borders and titles */
	ROLE_ERROR,
	ROLE_DIM,               /* secondary information: timestamps, stats, hints */
	ROLE_SEARCH_MATCH,
	ROLE_HELP,              /* the help overlay */
	ROLE_COUNT
};

/* The theme-file key of a role ("code_keyword"); NULL for an out-of-range value. Static string. */
const char *theme_role_name(int role);
/* The role for a theme-file key, or -1 when there is none. */
int theme_role_from_name(const char *name);

/* A colour as written in a theme file: kind says how to read value. */
enum theme_color_kind {
	THEME_COLOR_UNSET,   /* not given: inherited from the parent role */
	THEME_COLOR_DEFAULT, /* the terminal's default foreground / background */
	THEME_COLOR_INDEX,   /* value 0..255: xterm palette index (0-7 normal, 8-15 bright, cube, greys) */
	THEME_COLOR_RGB      /* value 0xRRGGBB */
};
struct theme_color {
	enum theme_color_kind kind;
	unsigned value;
};

/* What a theme file says about one role. attrs is a mask of A_BOLD, A_UNDERLINE, A_REVERSE,
 * A_ITALIC, A_DIM, A_BLINK; attrs are not inherited, colours are. */
struct theme_style {
	struct theme_color fg, bg;
	attr_t attrs;
};

/* A loaded theme: a name and, per role, the style for 256-colour terminals and the style for
 * 16- and 8-colour ones (a theme file can give a separate `ROLE@16 = ...` line, since dark greys
 * that look fine in 256 colours all collapse to black in 16). Colour inheritance (an unset colour
 * takes its parent role's, see theme.c) is already resolved in style/style16: a colour still
 * UNSET means the terminal default. Plain data: the caller owns it, frees it with theme_free(). */
struct theme {
	char *name; /* file name without ".theme", or "default" for the built-in theme */
	struct theme_style style[ROLE_COUNT];   /* resolved, for 256 colours */
	struct theme_style style16[ROLE_COUNT]; /* resolved, for 16 and 8 colours */
	/* private: the lines as written (for `inherit = NAME`), style16 only where `@16` was given */
	struct theme_style raw[ROLE_COUNT], raw16[ROLE_COUNT];
	bool set[ROLE_COUNT], set16[ROLE_COUNT];
};

/* Loads a theme. `name_or_path` is either a path (it contains a '/' or ends in ".theme") or a
 * name looked up as NAME.theme in, in order: $XDG_CONFIG_HOME/dscoder-tui/themes (or
 * ~/.config/dscoder-tui/themes), then $DSCODER_DATADIR/themes when that variable is set,
 * otherwise DATADIR/themes (the installed ones). NULL or "default" with no such file anywhere
 * gives the built-in default (the same text as themes/default.theme, compiled in).
 * Returns a new theme (free with theme_free) or, on error, NULL with one sentence in err, e.g.
 * "/home/a/x.theme:7: unknown role 'code_kw'; see dscoder-tui(5) for the role names." or
 * "theme 'solar' not found in ~/.config/dscoder-tui/themes or /usr/share/dscoder-tui/themes." */
struct theme *theme_load(const char *name_or_path, char *err, size_t errlen);

/* Parses theme text (the format of dscoder-tui(5), section THEMES); `filename` is only used in
 * messages. Same result and errors as theme_load. */
struct theme *theme_parse(const char *text, size_t len, const char *filename, char *err, size_t errlen);

/* The built-in default theme, as text in the theme-file format (static string). */
const char *theme_builtin_text(void);

void theme_free(struct theme *t);

/* Colour capability of the terminal as used by theme_apply: 0 (no colour: NO_COLOR is set and
 * non-empty, or has_colors() is false, or COLORS < 8), 8, 16 or 256. Call after initscr/newterm
 * (it calls start_color() when the terminal has colours and that has not been done yet). */
int theme_terminal_colors(void);

/* Maps a theme colour to a palette index for a terminal with ncolors colours (256, 16 or 8):
 * nearest colour by RGB distance; -1 for THEME_COLOR_DEFAULT / UNSET. On 8-colour terminals a
 * bright colour (8-15, or an RGB colour whose nearest is bright) maps to its normal colour and
 * *bold_hint (may be NULL) is set to true (callers add A_BOLD to foregrounds). Pure function. */
int theme_map_color(struct theme_color c, int ncolors, bool *bold_hint);

/* Makes t the active theme for the current screen: computes for every role the colour pair
 * (pair number role + 1, init_pair'ed with the mapped colours; use_default_colors() is called so
 * "default" is the terminal's own colour) and the attributes. Call after initscr/newterm and
 * start_color (it calls start_color itself if needed), and again after switching themes. With
 * no colour (see theme_terminal_colors) no pair is used: only the attributes remain, and roles
 * that would be told apart only by colour get a fallback attribute (for example reverse for
 * the status bar and selection, bold for headings and keywords: see theme.c).
 * The active theme is copied: t may be freed afterwards. t NULL means the built-in default.
 * Returns the colour count used (0, 8, 16 or 256). */
int theme_apply(const struct theme *t);

/* The attributes to draw role with (A_* | COLOR_PAIR(n)) under the active theme; before any
 * theme_apply it returns A_NORMAL. Out-of-range roles give A_NORMAL. */
attr_t theme_attr(int role);

/* The colour pair number alone (0 when no colour), for wattr_set / setcchar, which take the
 * pair apart from the attributes. */
short theme_pair(int role);

#endif

/* theme.c: theme files (role = style lines), colour mapping to 256/16/8/no colours, and ncurses pairs. */
#include "theme.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datafile.h"
#include "xalloc.h"

/* Same order as enum theme_role. */
static const char *const role_names[ROLE_COUNT] = {
	[ROLE_TEXT] = "text",
	[ROLE_HEADING] = "heading",
	[ROLE_BOLD] = "bold",
	[ROLE_ITALIC] = "italic",
	[ROLE_INLINE_CODE] = "inline_code",
	[ROLE_QUOTE] = "quote",
	[ROLE_LIST_BULLET] = "list_bullet",
	[ROLE_RULE] = "rule",
	[ROLE_LINK] = "link",
	[ROLE_CODE_BG] = "code_bg",
	[ROLE_CODE_KEYWORD] = "code_keyword",
	[ROLE_CODE_TYPE] = "code_type",
	[ROLE_CODE_STRING] = "code_string",
	[ROLE_CODE_COMMENT] = "code_comment",
	[ROLE_CODE_NUMBER] = "code_number",
	[ROLE_CODE_PREPROC] = "code_preproc",
	[ROLE_CODE_FUNCTION] = "code_function",
	[ROLE_CODE_CONSTANT] = "code_constant",
	[ROLE_CODE_ATTRIBUTE] = "code_attribute",
	[ROLE_CODE_DIFF_ADD] = "code_diff_add",
	[ROLE_CODE_DIFF_DEL] = "code_diff_del",
	[ROLE_CODE_HEADER] = "code_header",
	[ROLE_CODE_CONTINUATION] = "code_continuation",
	[ROLE_USER_MSG] = "user_msg",
	[ROLE_ASSISTANT_MSG] = "assistant_msg",
	[ROLE_SYSTEM_MSG] = "system_msg",
	[ROLE_STATUS_BAR] = "status_bar",
	[ROLE_STATUS_ACCENT] = "status_accent",
	[ROLE_SIDEBAR] = "sidebar",
	[ROLE_SIDEBAR_SELECTED] = "sidebar_selected",
	[ROLE_INPUT] = "input",
	[ROLE_BORDER] = "border",
	[ROLE_ERROR] = "error",
	[ROLE_DIM] = "dim",
	[ROLE_SEARCH_MATCH] = "search_match",
	[ROLE_HELP] = "help",
};

/* Where an unset colour comes from: code inside a block shares the block's background, the
 * status accent the bar's, everything else the transcript text's. -1: the terminal default. */
static int role_parent(int role)
{
	switch (role) {
	case ROLE_TEXT:
		return -1;
	case ROLE_CODE_KEYWORD: case ROLE_CODE_TYPE: case ROLE_CODE_STRING: case ROLE_CODE_COMMENT:
	case ROLE_CODE_NUMBER: case ROLE_CODE_PREPROC: case ROLE_CODE_FUNCTION: case ROLE_CODE_CONSTANT:
	case ROLE_CODE_ATTRIBUTE: case ROLE_CODE_DIFF_ADD: case ROLE_CODE_DIFF_DEL: case ROLE_CODE_HEADER:
	case ROLE_CODE_CONTINUATION:
		return ROLE_CODE_BG;
	case ROLE_STATUS_ACCENT:
		return ROLE_STATUS_BAR;
	case ROLE_SIDEBAR_SELECTED:
		return ROLE_SIDEBAR;
	default:
		return ROLE_TEXT;
	}
}

/* Without colours, roles that colour alone told apart get an attribute (unless the theme gave
 * the role attributes of its own). */
static attr_t role_mono_fallback(int role)
{
	switch (role) {
	case ROLE_HEADING: case ROLE_ASSISTANT_MSG: case ROLE_CODE_KEYWORD: case ROLE_LIST_BULLET:
	case ROLE_ERROR: case ROLE_USER_MSG: case ROLE_BOLD:
		return A_BOLD;
	case ROLE_STATUS_BAR: case ROLE_SIDEBAR_SELECTED: case ROLE_SEARCH_MATCH: case ROLE_CODE_HEADER:
		return A_REVERSE;
	case ROLE_STATUS_ACCENT:
		return A_REVERSE | A_BOLD;
	case ROLE_CODE_COMMENT: case ROLE_DIM: case ROLE_CODE_CONTINUATION: case ROLE_RULE: case ROLE_BORDER:
		return A_DIM;
	case ROLE_ITALIC: case ROLE_QUOTE: case ROLE_SYSTEM_MSG:
		return A_ITALIC;
	case ROLE_INLINE_CODE: case ROLE_CODE_STRING: case ROLE_LINK:
		return A_UNDERLINE;
	default:
		return A_NORMAL;
	}
}

const char *theme_role_name(int role)
{
	if (role < 0 || role >= ROLE_COUNT)
		return NULL;
	return role_names[role];
}

int theme_role_from_name(const char *name)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (strcasecmp(name, role_names[i]) == 0)
			return i;
	return -1;
}

/* The built-in theme: must stay identical to themes/default.theme (test-theme checks it). */
static const char builtin_text[] =
#include "ui/theme-default.inc" /* generated from themes/default.theme by ui/render.mk */
	;

const char *theme_builtin_text(void)
{
	return builtin_text;
}

/* ---- colours ---- */

static const struct { const char *name; int index; } color_names[] = {
	{ "black", 0 }, { "red", 1 }, { "green", 2 }, { "yellow", 3 }, { "blue", 4 },
	{ "magenta", 5 }, { "cyan", 6 }, { "white", 7 },
	{ "bright-black", 8 }, { "gray", 8 }, { "grey", 8 }, { "bright-red", 9 }, { "bright-green", 10 },
	{ "bright-yellow", 11 }, { "bright-blue", 12 }, { "bright-magenta", 13 }, { "bright-cyan", 14 },
	{ "bright-white", 15 },
};

static const struct { const char *name; attr_t attr; } attr_names[] = {
	{ "bold", A_BOLD }, { "italic", A_ITALIC }, { "underline", A_UNDERLINE },
	{ "reverse", A_REVERSE }, { "dim", A_DIM }, { "blink", A_BLINK }, { "normal", A_NORMAL },
};

static bool parse_color(const char *w, struct theme_color *c)
{
	if (strcasecmp(w, "default") == 0) {
		*c = (struct theme_color){ THEME_COLOR_DEFAULT, 0 };
		return true;
	}
	for (size_t i = 0; i < sizeof color_names / sizeof color_names[0]; i++) {
		const char *cn = color_names[i].name;
		/* "bright-red" may also be written "brightred" */
		bool bright_alias = strncmp(cn, "bright-", 7) == 0 && strncasecmp(w, "bright", 6) == 0 &&
				    strcasecmp(w + 6, cn + 7) == 0;
		if (strcasecmp(w, cn) == 0 || bright_alias) {
			*c = (struct theme_color){ THEME_COLOR_INDEX, (unsigned)color_names[i].index };
			return true;
		}
	}
	if (w[0] == '#') {
		size_t n = strlen(w + 1);
		for (size_t i = 1; i <= n; i++)
			if (!isxdigit((unsigned char)w[i]))
				return false;
		unsigned v = (unsigned)strtoul(w + 1, NULL, 16);
		if (n == 3)
			v = ((v >> 8 & 0xF) * 0x11) << 16 | ((v >> 4 & 0xF) * 0x11) << 8 | (v & 0xF) * 0x11;
		else if (n != 6)
			return false;
		*c = (struct theme_color){ THEME_COLOR_RGB, v };
		return true;
	}
	const char *num = w;
	if (strncasecmp(w, "color", 5) == 0)
		num = w + 5;
	if (*num && strspn(num, "0123456789") == strlen(num) && strlen(num) <= 3) {
		unsigned v = (unsigned)atoi(num);
		if (v > 255)
			return false;
		*c = (struct theme_color){ THEME_COLOR_INDEX, v };
		return true;
	}
	return false;
}

/* xterm's default palette, the reference for "nearest colour". */
static unsigned palette_rgb(int i)
{
	static const unsigned base[16] = {
		0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
		0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff,
	};
	if (i < 16)
		return base[i];
	if (i < 232) {
		static const unsigned lv[6] = { 0, 95, 135, 175, 215, 255 };
		i -= 16;
		return lv[i / 36] << 16 | lv[i / 6 % 6] << 8 | lv[i % 6];
	}
	unsigned g = 8 + 10 * (unsigned)(i - 232);
	return g << 16 | g << 8 | g;
}

/* Squared "redmean" distance: cheap and closer to what eyes see than plain RGB. */
static long color_dist(unsigned a, unsigned b)
{
	long r1 = a >> 16 & 0xFF, g1 = a >> 8 & 0xFF, b1 = a & 0xFF;
	long r2 = b >> 16 & 0xFF, g2 = b >> 8 & 0xFF, b2 = b & 0xFF;
	long rm = (r1 + r2) / 2, dr = r1 - r2, dg = g1 - g2, db = b1 - b2;
	return ((512 + rm) * dr * dr >> 8) + 4 * dg * dg + ((767 - rm) * db * db >> 8);
}

static int nearest(unsigned rgb, int from, int to)
{
	int best = from;
	long bd = -1;
	for (int i = from; i < to; i++) {
		long d = color_dist(rgb, palette_rgb(i));
		if (bd < 0 || d < bd) {
			bd = d;
			best = i;
		}
	}
	return best;
}

int theme_map_color(struct theme_color c, int ncolors, bool *bold_hint)
{
	if (bold_hint)
		*bold_hint = false;
	if (c.kind == THEME_COLOR_UNSET || c.kind == THEME_COLOR_DEFAULT || ncolors < 8)
		return -1;
	int idx;
	if (c.kind == THEME_COLOR_INDEX) {
		idx = (int)c.value;
		if (idx < ncolors && (ncolors >= 256 || idx < 16))
			goto fold;
		idx = nearest(palette_rgb(idx), 0, 16);
	} else if (ncolors >= 256) {
		/* The cube and greys only: 0-15 are often redefined by the user's terminal theme. */
		return nearest(c.value, 16, 256);
	} else {
		idx = nearest(c.value, 0, 16);
	}
fold:
	if (ncolors < 16 && idx >= 8) {
		idx -= 8;
		if (bold_hint)
			*bold_hint = true;
	}
	return idx;
}

/* ---- parsing ---- */

#define THEME_MAX_INHERIT 4

static struct theme *theme_parse_depth(const char *text, size_t len, const char *filename, int depth,
				       char *err, size_t errlen);
static struct theme *theme_load_depth(const char *name_or_path, int depth, char *err, size_t errlen);

static void theme_resolve(struct theme *t)
{
	for (int pass = 0; pass < 2; pass++) {
		struct theme_style *out = pass == 0 ? t->style : t->style16;
		for (int r = 0; r < ROLE_COUNT; r++) {
			struct theme_style s = pass == 1 && t->set16[r] ? t->raw16[r] : t->raw[r];
			/* Colours only come from ancestors; the 16-colour line of an ancestor wins there. */
			for (int p = role_parent(r); p >= 0 && (s.fg.kind == THEME_COLOR_UNSET || s.bg.kind == THEME_COLOR_UNSET);
			     p = role_parent(p)) {
				const struct theme_style *ps = pass == 1 && t->set16[p] ? &t->raw16[p] : &t->raw[p];
				if (s.fg.kind == THEME_COLOR_UNSET)
					s.fg = ps->fg;
				if (s.bg.kind == THEME_COLOR_UNSET)
					s.bg = ps->bg;
			}
			out[r] = s;
		}
	}
}

static struct theme *theme_parse_depth(const char *text, size_t len, const char *filename, int depth,
				       char *err, size_t errlen)
{
	struct theme *t = xcalloc(1, sizeof *t);
	t->name = datafile_name(filename, ".theme");
	bool seen_role = false;
	size_t pos = 0;
	int lineno = 0;
	while (pos < len) {
		size_t eol = pos;
		while (eol < len && text[eol] != '\n')
			eol++;
		lineno++;
		char *line = xstrndup(text + pos, eol - pos);
		pos = eol + 1;
		char *l = datafile_trim(line);
		if (*l == '\0' || *l == '#') {
			free(line);
			continue;
		}
		char *eq = strchr(l, '=');
		if (!eq) {
			errorf(err, errlen, "%s:%d: expected 'role = style', found '%s'.", filename, lineno, l);
			goto fail_line;
		}
		*eq = '\0';
		char *key = datafile_trim(l), *val = datafile_trim(eq + 1);
		if (strcasecmp(key, "inherit") == 0) {
			if (seen_role) {
				errorf(err, errlen, "%s:%d: 'inherit' must come before the first role line.", filename, lineno);
				goto fail_line;
			}
			if (depth >= THEME_MAX_INHERIT) {
				errorf(err, errlen, "%s:%d: themes inherit more than %d levels deep (a loop?).", filename,
				       lineno, THEME_MAX_INHERIT);
				goto fail_line;
			}
			char sub[512];
			struct theme *base = theme_load_depth(val, depth + 1, sub, sizeof sub);
			if (!base) {
				errorf(err, errlen, "%s:%d: cannot inherit '%s': %s", filename, lineno, val, sub);
				goto fail_line;
			}
			memcpy(t->raw, base->raw, sizeof t->raw);
			memcpy(t->raw16, base->raw16, sizeof t->raw16);
			memcpy(t->set, base->set, sizeof t->set);
			memcpy(t->set16, base->set16, sizeof t->set16);
			theme_free(base);
			free(line);
			continue;
		}
		bool is16 = false;
		char *at = strchr(key, '@');
		if (at) {
			if (strcmp(at, "@16") != 0) {
				errorf(err, errlen, "%s:%d: '%s': the only variant is ROLE@16 (for 16- and 8-colour terminals).",
				       filename, lineno, key);
				goto fail_line;
			}
			*at = '\0';
			is16 = true;
		}
		int role = theme_role_from_name(key);
		if (role < 0) {
			errorf(err, errlen, "%s:%d: unknown role '%s'; the roles are listed in dscoder-tui(5).",
			       filename, lineno, key);
			goto fail_line;
		}
		seen_role = true;
		struct theme_style st = { 0 };
		char *save = NULL;
		for (char *w = strtok_r(val, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
			bool ok = false;
			if (strncasecmp(w, "fg:", 3) == 0) {
				ok = parse_color(w + 3, &st.fg);
			} else if (strncasecmp(w, "bg:", 3) == 0) {
				ok = parse_color(w + 3, &st.bg);
			} else {
				for (size_t i = 0; i < sizeof attr_names / sizeof attr_names[0]; i++)
					if (strcasecmp(w, attr_names[i].name) == 0) {
						st.attrs |= attr_names[i].attr;
						ok = true;
					}
				if (!ok)
					ok = parse_color(w, &st.fg);
			}
			if (!ok) {
				errorf(err, errlen,
				       "%s:%d: '%s' for role '%s' is neither a colour (name, 0-255, #rrggbb, default) nor an attribute (bold, italic, underline, reverse, dim, blink).",
				       filename, lineno, w, key);
				goto fail_line;
			}
		}
		if (is16) {
			t->raw16[role] = st;
			t->set16[role] = true;
		} else {
			t->raw[role] = st;
			t->set[role] = true;
		}
		free(line);
		continue;
fail_line:
		free(line);
		theme_free(t);
		return NULL;
	}
	theme_resolve(t);
	return t;
}

struct theme *theme_parse(const char *text, size_t len, const char *filename, char *err, size_t errlen)
{
	return theme_parse_depth(text, len, filename, 0, err, errlen);
}

static struct theme *theme_load_depth(const char *name_or_path, int depth, char *err, size_t errlen)
{
	if (!name_or_path || !*name_or_path)
		name_or_path = "default";
	size_t n = strlen(name_or_path);
	if (strchr(name_or_path, '/') || (n > 6 && strcmp(name_or_path + n - 6, ".theme") == 0)) {
		size_t len;
		char *text = datafile_read(name_or_path, &len, err, errlen);
		if (!text)
			return NULL;
		struct theme *t = theme_parse_depth(text, len, name_or_path, depth, err, errlen);
		free(text);
		return t;
	}
	char *dirs[2];
	size_t nd = datafile_dirs("themes", dirs);
	struct theme *t = NULL;
	bool found = false;
	for (size_t i = 0; i < nd && !found; i++) {
		char *path = xasprintf("%s/%s.theme", dirs[i], name_or_path);
		size_t len;
		char sub[512];
		char *text = datafile_read(path, &len, sub, sizeof sub);
		if (text) {
			found = true;
			t = theme_parse_depth(text, len, path, depth, err, errlen);
			free(text);
		} else if (errno != ENOENT) {
			found = true;
			errorf(err, errlen, "%s", sub);
		}
		free(path);
	}
	if (!found) {
		if (strcmp(name_or_path, "default") == 0)
			t = theme_parse_depth(builtin_text, strlen(builtin_text), "default", depth, err, errlen);
		else
			errorf(err, errlen, "theme '%s' not found in %s%s%s; --theme also takes a path to a .theme file.",
			       name_or_path, dirs[0], nd > 1 ? " or " : "", nd > 1 ? dirs[1] : "");
	}
	for (size_t i = 0; i < nd; i++)
		free(dirs[i]);
	return t;
}

struct theme *theme_load(const char *name_or_path, char *err, size_t errlen)
{
	return theme_load_depth(name_or_path, 0, err, errlen);
}

void theme_free(struct theme *t)
{
	if (!t)
		return;
	free(t->name);
	free(t);
}

/* ---- the active theme on the screen ---- */

static attr_t active_attr[ROLE_COUNT];
static short active_pair[ROLE_COUNT];

int theme_terminal_colors(void)
{
	const char *nc = getenv("NO_COLOR");
	if (nc && nc[0])
		return 0;
	if (!has_colors())
		return 0;
	if (COLORS == 0)
		start_color(); /* COLORS is only known after it */
	if (COLORS < 8)
		return 0;
	if (COLORS >= 256)
		return 256;
	if (COLORS >= 16)
		return 16;
	return 8;
}

int theme_apply(const struct theme *t)
{
	struct theme *own = NULL;
	if (!t) {
		char err[256];
		own = theme_parse(builtin_text, strlen(builtin_text), "default", err, sizeof err);
		if (!own)
			fatal("built-in theme: %s", err);
		t = own;
	}
	int ncolors = theme_terminal_colors();
	bool default_ok = false;
	if (ncolors > 0) {
		default_ok = use_default_colors() == OK;
		if (COLOR_PAIRS <= ROLE_COUNT)
			ncolors = 0; /* too few pairs to tell the roles apart: attributes only */
	}
	for (int r = 0; r < ROLE_COUNT; r++) {
		const struct theme_style *s = ncolors >= 256 ? &t->style[r] : &t->style16[r];
		attr_t a = s->attrs;
		if (ncolors == 0) {
			/* Roles set apart by a background (status bar, selection, code header) always get
			 * reverse video; others the fallback only when the theme gave no attribute. */
			attr_t fb = role_mono_fallback(r);
			if (a == A_NORMAL || (fb & A_REVERSE))
				a |= fb;
			active_attr[r] = a;
			active_pair[r] = 0;
			continue;
		}
		bool bright;
		int fg = theme_map_color(s->fg, ncolors, &bright);
		if (bright)
			a |= A_BOLD;
		int bg = theme_map_color(s->bg, ncolors, NULL);
		if (!default_ok) {
			if (fg < 0)
				fg = COLOR_WHITE;
			if (bg < 0)
				bg = COLOR_BLACK;
		}
		short pair = (short)(r + 1);
		init_pair(pair, (short)fg, (short)bg);
		active_attr[r] = a | COLOR_PAIR(pair);
		active_pair[r] = pair;
	}
	theme_free(own);
	return ncolors;
}

attr_t theme_attr(int role)
{
	if (role < 0 || role >= ROLE_COUNT)
		return A_NORMAL;
	return active_attr[role];
}

short theme_pair(int role)
{
	if (role < 0 || role >= ROLE_COUNT)
		return 0;
	return active_pair[role];
}

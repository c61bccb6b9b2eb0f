/* highlight.h: syntax highlighting of code-block lines by languages defined in syntax/NAME.syntax files. */
#ifndef DS_HIGHLIGHT_H
#define DS_HIGHLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A language is a data file (format: syntax/README, the comment at the top of highlight.c, and
 * dscoder-tui(5)). The files are read once, lazily, on the first hl_find(): from
 * $XDG_CONFIG_HOME/dscoder-tui/syntax (or ~/.config/dscoder-tui/syntax) first, then
 * $DSCODER_DATADIR/syntax when set, otherwise DATADIR/syntax. A user file with the same file name
 * as an installed one replaces it. A broken file is skipped; its one-sentence message (file:line)
 * is kept for hl_errors(). The loaded languages live until hl_reset() (or the end of the program).
 * Not thread-safe (the TUI is single-threaded).
 */

struct hl_lang; /* opaque; owned by the registry */

/* The language for a fence tag ("py", "C++", "TypeScript"; case-insensitive; only the first word
 * of the info string is used, so "python title=x" works), or NULL when no language claims it:
 * then the code is shown in plain code colour (ROLE_CODE_BG). tag NULL or "" gives NULL. */
const struct hl_lang *hl_find(const char *tag);

/* The language's name (the `name =` of its file). Static for the registry's lifetime. */
const char *hl_lang_name(const struct hl_lang *lang);

/* Messages about syntax files that could not be loaded, one sentence each separated by '\n', or
 * NULL when there were none. Owned by the registry; valid until hl_reset(). */
const char *hl_errors(void);

/* Forgets all languages (and errors): the next hl_find() reads the files again (for tests and
 * for a "reload" key). Invalidates every struct hl_lang pointer handed out before. */
void hl_reset(void);

/* Loads one language from text without touching the registry (for tests and error messages).
 * Returns a new language, free it with hl_lang_free(); on error NULL and one sentence in err
 * naming filename:line. */
struct hl_lang *hl_lang_parse(const char *text, size_t len, const char *filename, char *err, size_t errlen);
void hl_lang_free(struct hl_lang *lang);

/* State carried from one line of a code block to the next (inside a block comment, a
 * multi-line string ...). Start each block with HL_STATE_INIT. */
struct hl_state {
	int region; /* index of the open multi-line region, -1 when none */
};
#define HL_STATE_INIT ((struct hl_state){ .region = -1 })

/* Highlights one line (without its '\n'): writes the enum theme_role of each byte into
 * roles[0..len) (ROLE_CODE_* values; ROLE_CODE_BG for plain code) and updates *state for the next
 * line. lang NULL fills ROLE_CODE_BG. The regexes are compiled in UTF mode with
 * PCRE2_MATCH_INVALID_UTF, so roles change only at code point boundaries and invalid UTF-8 in the
 * line is safe (it never matches a rule). Never fails. */
void hl_line(const struct hl_lang *lang, struct hl_state *state, const char *line, size_t len, uint8_t *roles);

#endif

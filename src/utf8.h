/* utf8.h: UTF-8 decoding, grapheme clusters, display widths and line wrapping (on utf8proc). */
#ifndef DS_UTF8_H
#define DS_UTF8_H

/*
 * Everything here works on byte buffers (const char *s, size_t len) that need not be
 * NUL-terminated nor valid UTF-8, and never allocates except utf8_sanitize() and utf8_wrap().
 *
 * How text is shown (the contract both the transcript and the input editor rely on):
 * - An invalid byte sequence is shown as one U+FFFD per maximal invalid subpart (the Unicode
 *   "substitution of maximal subparts" practice): "\xE4\xB8" is one U+FFFD, "\xFF\xFF" is two.
 *   Surrogates (ED A0..BF ..) and overlong forms are invalid.
 * - Control characters (C0 except newline and tab, DEL, C1) are shown as U+FFFD, width 1: a
 *   terminal would otherwise act on them. Newline ends a line. Tab is expanded by
 *   utf8_sanitize() or by the caller; the width functions count a lone tab as 1 column.
 * - Width of a grapheme cluster: its first code point's utf8proc_charwidth (East Asian Wide and
 *   Fullwidth = 2, emoji presentation = 2), so emoji ZWJ sequences, skin-tone modifiers and flag
 *   pairs count 2 in total, not the sum; a narrow character followed by U+FE0F (emoji presentation)
 *   counts 2; a cluster that starts with a combining mark (text that begins with one) counts 1,
 *   as terminals draw it on a space; one of only format characters (U+200B) counts 0. A pair of
 *   regional indicators (a flag) counts 2; a lone regional indicator counts 1.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFD
/* The UTF-8 encoding of U+FFFD, for code that draws replacements. */
#define UTF8_REPLACEMENT_STR "\xEF\xBF\xBD"

/* Decodes one code point at s[0..len). Stores it in *cp (U+FFFD for an invalid sequence) and
 * returns the number of bytes consumed: 1..4, the length of the maximal invalid subpart for an
 * invalid sequence (at least 1), 0 only when len == 0. *valid (may be NULL) tells whether the
 * bytes were a valid encoding (a valid encoding of U+FFFD itself is valid). */
size_t utf8_decode(const char *s, size_t len, int32_t *cp, bool *valid);

/* Encodes cp (0..0x10FFFF, not a surrogate; otherwise U+FFFD is written) into out[0..4);
 * returns the number of bytes written (1..4). In libdscommon (utf8-encode.c), so the engine has it too. */
size_t utf8_encode(int32_t cp, char out[4]);

/* True when the whole buffer is valid UTF-8. */
bool utf8_valid(const char *s, size_t len);

/* True when the code point is shown as U+FFFD (a control character other than '\n' and '\t'). */
bool utf8_is_control(int32_t cp);

/* Byte offset of the grapheme-cluster boundary after pos (the end of the cluster that starts at
 * pos). pos must be a boundary (0, or a value returned by these functions); returns len when
 * pos >= len. "\r\n" is one cluster; '\n' is always a cluster of its own otherwise. */
size_t utf8_next_grapheme(const char *s, size_t len, size_t pos);

/* Byte offset of the grapheme-cluster boundary before pos (the start of the cluster that ends
 * at pos); returns 0 when pos == 0. pos may be any offset <= len: the result is the start of
 * the cluster containing byte pos-1. Cost: it rescans from a safe earlier point (the previous
 * '\n' or at most a few hundred bytes back), never from the start of a long buffer. */
size_t utf8_prev_grapheme(const char *s, size_t len, size_t pos);

/* Display width in columns of the single grapheme cluster s[0..len) (as found by
 * utf8_next_grapheme): 0 for '\n', 1 for tab, otherwise 1 or 2 as described above. */
int utf8_grapheme_width(const char *s, size_t len);

/* Display width in columns of s[0..len): the sum of its clusters' widths ('\n' counts 0; use
 * utf8_wrap for multi-line text). */
size_t utf8_width(const char *s, size_t len);

/* Byte offset of the end of the longest prefix of s[pos..len) that fits in `cols` columns
 * without splitting a cluster; *used (may be NULL) receives its width. Stops before '\n'. */
size_t utf8_fit(const char *s, size_t len, size_t pos, size_t cols, size_t *used);

/* Returns a newly allocated (xmalloc), NUL-terminated copy of s[0..len) that is safe to hand to
 * ncurses: every invalid subpart and every control character (see above) becomes U+FFFD, '\n'
 * is kept, and a tab becomes spaces up to the next multiple of `tabstop` columns counted from
 * the last '\n' (tabstop 0: a tab becomes one space). The widths of utf8_width() are preserved
 * except for expanded tabs. *outlen (may be NULL) receives the length. The caller frees it. */
char *utf8_sanitize(const char *s, size_t len, int tabstop, size_t *outlen);

/* One display line of wrapped text. The byte ranges [start, end) of consecutive lines tile the
 * input exactly (line[0].start == 0, line[i+1].start == line[i].end, last end == len), so the
 * concatenation of all of them reproduces the text. Only [start, vis_end) is drawn: the spaces
 * at a soft break and the '\n' at a hard break lie in [vis_end, end). */
struct utf8_line {
	size_t start;   /* first byte of the line */
	size_t vis_end; /* end of the part to draw (trailing break spaces / '\n' excluded) */
	size_t end;     /* first byte of the next line */
	int width;      /* columns of [start, vis_end); <= the wrap width unless one cluster is wider */
	bool hard;      /* the line ended at a '\n' in the text */
};

/* Wraps s[0..len) to `width` columns (width < 1 is taken as 1). '\n' forces a break (an empty
 * line between two '\n's is a line of its own; text ending in '\n' ends with an empty line).
 * Soft breaks go after a run of spaces when the line has one; a word longer than the width is
 * broken between clusters; a break is also allowed before and after any wide (CJK) character,
 * except before closing CJK punctuation (，。、；：？！）」』 and similar), which stays on the
 * line before when it fits. A cluster never splits; a single cluster wider than the width gets
 * a line of its own. Empty input gives one empty line.
 * Returns the number of lines and stores a newly allocated array in *lines (the caller frees it
 * with free()); never fails (out of memory aborts). */
size_t utf8_wrap(const char *s, size_t len, int width, struct utf8_line **lines);

#endif

/* md-inline.c: inline markdown: emphasis, code spans, links and escapes into styled runs. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "md-internal.h"
#include "theme.h"
#include "xalloc.h"

void mdi_add(struct md_inl *in, const char *s, size_t n, int role)
{
	if (n == 0)
		return;
	if (in->len + n + 1 > in->cap) {
		in->cap = (in->len + n + 1) * 2;
		in->text = xrealloc(in->text, in->cap);
	}
	if (in->nruns == 0 || in->runs[in->nruns - 1].role != role) {
		if (in->nruns == in->runs_cap) {
			in->runs_cap = in->runs_cap ? in->runs_cap * 2 : 16;
			in->runs = xreallocarray(in->runs, in->runs_cap, sizeof *in->runs);
		}
		in->runs[in->nruns].at = in->len;
		in->runs[in->nruns].role = (uint8_t)role;
		in->nruns++;
	}
	memcpy(in->text + in->len, s, n);
	in->len += n;
}

static bool is_punct(char c)
{
	return ispunct((unsigned char)c) != 0;
}

static bool is_space_at(const char *s, size_t len, size_t i)
{
	return i >= len || s[i] == ' ' || s[i] == '\t' || s[i] == '\n';
}

static bool is_alnum_at(const char *s, size_t len, size_t i)
{
	return i < len && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80);
}

/* Length of the run of c at s[i]. */
size_t mdi_run_len(const char *s, size_t len, size_t i, char c)
{
	size_t n = 0;
	while (i + n < len && s[i + n] == c)
		n++;
	return n;
}


void mdi_memo_init(struct md_inl_memo *m)
{
	for (size_t i = 0; i <= MEMO_RUNS; i++)
		m->code_fail[i] = SIZE_MAX;
	for (size_t c = 0; c < 2; c++)
		for (size_t n = 0; n < 4; n++)
			m->emph_fail[c][n] = SIZE_MAX;
}

/* End of the code span starting with a run of n backticks at i (the index after the closing
 * run), or 0 when it has no closing run. */
size_t mdi_code_span_end(const char *s, size_t len, size_t i, size_t n, struct md_inl_memo *memo)
{
	size_t *fail = n <= MEMO_RUNS ? &memo->code_fail[n] : NULL;
	if (fail && i >= *fail)
		return 0;
	size_t j = i + n;
	while (j < len) {
		if (s[j] == '`') {
			size_t m = mdi_run_len(s, len, j, '`');
			if (m == n)
				return j + m;
			j += m;
		} else {
			j++;
		}
	}
	if (fail && i < *fail)
		*fail = i;
	return 0;
}

/* The closing delimiter for an emphasis run of n chars c opened at i, or 0. */
static size_t emph_close(const char *s, size_t len, size_t i, size_t n, char c, struct md_inl_memo *memo)
{
	size_t *fail = &memo->emph_fail[c == '_'][n];
	if (i >= *fail)
		return 0;
	size_t j = i + n;
	while (j < len) {
		if (s[j] == '\\' && j + 1 < len) {
			j += 2;
			continue;
		}
		if (s[j] == '`') {
			size_t m = mdi_run_len(s, len, j, '`');
			size_t e = mdi_code_span_end(s, len, j, m, memo);
			j = e ? e : j + m;
			continue;
		}
		if (s[j] == c) {
			size_t m = mdi_run_len(s, len, j, c);
			/* right-flanking: not after a space; for _ also not followed by a letter */
			bool right = j > i + n && !is_space_at(s, len, j - 1) &&
				     (c != '_' || !is_alnum_at(s, len, j + m));
			if (right && m == n)
				return j;
			j += m;
			continue;
		}
		j++;
	}
	*fail = i;
	return 0;
}

/* Longest [text] or (url) taken for a link: a stray '[' must not swallow a whole paragraph. */
#define LINK_MAX 2048

/* The next c at or after from, or len; *cache remembers the last answer so that a paragraph of
 * many '[' scans forward only once. */
static size_t next_char(const char *s, size_t len, size_t from, char c, size_t *cache)
{
	if (*cache != SIZE_MAX && *cache >= from)
		return *cache;
	const char *p = from < len ? memchr(s + from, c, len - from) : NULL;
	*cache = p ? (size_t)(p - s) : len;
	return *cache;
}

static bool has_prefix(const char *s, size_t len, const char *pre)
{
	size_t n = strlen(pre);
	return len >= n && strncasecmp(s, pre, n) == 0;
}

/* [text](url) or ![alt](url) at i: shows the text as a link and the url after it, dimmed.
 * Returns the index after the link, or 0 when there is none at i. */
static size_t parse_link(struct md_inl *in, const char *s, size_t len, size_t i, size_t *close_cache,
			 size_t *paren_cache)
{
	size_t ob = s[i] == '!' ? i + 1 : i;
	size_t cb = next_char(s, len, ob + 1, ']', close_cache);
	if (cb >= len || cb - ob > LINK_MAX || cb + 1 >= len || s[cb + 1] != '(')
		return 0;
	size_t cp = next_char(s, len, cb + 2, ')', paren_cache);
	if (cp >= len || cp - cb > LINK_MAX)
		return 0;
	size_t ua = cb + 2, uz = cp;
	while (ua < uz && s[ua] == ' ')
		ua++;
	/* a title after the url ("url "title"") is not shown */
	for (size_t k = ua; k < uz; k++)
		if (s[k] == ' ' || s[k] == '\n') {
			uz = k;
			break;
		}
	if (memchr(s + ua, '\n', uz - ua))
		return 0;
	const char *text = s + ob + 1;
	size_t tlen = cb - ob - 1;
	if (tlen > 0)
		mdi_parse(in, text, tlen, ROLE_LINK);
	if (uz > ua && !(uz - ua == tlen && memcmp(s + ua, text, tlen) == 0)) {
		mdi_add(in, tlen > 0 ? " (" : "(", tlen > 0 ? 2 : 1, ROLE_DIM);
		mdi_add(in, s + ua, uz - ua, ROLE_DIM);
		mdi_add(in, ")", 1, ROLE_DIM);
	}
	return cp + 1;
}

void mdi_parse(struct md_inl *in, const char *s, size_t len, int role)
{
	struct md_inl_memo memo;
	mdi_memo_init(&memo);
	size_t close_cache = SIZE_MAX, paren_cache = SIZE_MAX, gt_cache = SIZE_MAX;
	size_t i = 0, lit = 0; /* s[lit..i) is pending literal text */
	while (i < len) {
		char c = s[i];
		if (c == '\\' && i + 1 < len && is_punct(s[i + 1])) {
			mdi_add(in, s + lit, i - lit, role);
			mdi_add(in, s + i + 1, 1, role);
			i += 2;
			lit = i;
			continue;
		}
		if (c == '`') {
			size_t n = mdi_run_len(s, len, i, '`');
			size_t e = mdi_code_span_end(s, len, i, n, &memo);
			if (!e) {
				i += n;
				continue;
			}
			mdi_add(in, s + lit, i - lit, role);
			size_t a = i + n, z = e - n;
			/* one space on both sides is padding (so `` `x` `` can show backticks) */
			if (z - a >= 2 && s[a] == ' ' && s[z - 1] == ' ')
				a++, z--;
			mdi_add(in, s + a, z - a, ROLE_INLINE_CODE);
			i = lit = e;
			continue;
		}
		if (role != ROLE_INLINE_CODE && (c == '[' || (c == '!' && i + 1 < len && s[i + 1] == '['))) {
			size_t lit_end = i;
			struct md_inl tmp = { 0 };
			size_t e = parse_link(&tmp, s, len, i, &close_cache, &paren_cache);
			if (e) {
				mdi_add(in, s + lit, lit_end - lit, role);
				for (size_t k = 0; k < tmp.nruns; k++) {
					size_t z = k + 1 < tmp.nruns ? tmp.runs[k + 1].at : tmp.len;
					mdi_add(in, tmp.text + tmp.runs[k].at, z - tmp.runs[k].at, tmp.runs[k].role);
				}
				i = lit = e;
			} else {
				i += c == '!' ? 2 : 1;
			}
			free(tmp.text);
			free(tmp.runs);
			continue;
		}
		if (c == '<' && (has_prefix(s + i + 1, len - i - 1, "http://") || has_prefix(s + i + 1, len - i - 1, "https://") ||
				 has_prefix(s + i + 1, len - i - 1, "mailto:"))) {
			/* <https://...>: the address itself is the link */
			size_t gt = next_char(s, len, i + 1, '>', &gt_cache);
			bool ok = gt < len && gt - i <= LINK_MAX;
			for (size_t k = i + 1; ok && k < gt; k++)
				ok = s[k] != ' ' && s[k] != '\n';
			if (ok) {
				mdi_add(in, s + lit, i - lit, role);
				mdi_add(in, s + i + 1, gt - i - 1, ROLE_LINK);
				i = lit = gt + 1;
				continue;
			}
		}
		if (c == '*' || c == '_') {
			size_t n = mdi_run_len(s, len, i, c);
			/* left-flanking: followed by non-space; _ never opens inside a word (snake_case),
			 * nor does * between two letters or digits (2*3*4 is arithmetic in a chat) */
			bool inword = i > 0 && is_alnum_at(s, len, i - 1);
			bool left = !is_space_at(s, len, i + n) &&
				    !(inword && (c == '_' || is_alnum_at(s, len, i + n)));
			size_t e = left && n <= 3 ? emph_close(s, len, i, n, c, &memo) : 0;
			if (!e) {
				i += n;
				continue;
			}
			mdi_add(in, s + lit, i - lit, role);
			int inner = role;
			if (role != ROLE_HEADING && role != ROLE_INLINE_CODE)
				inner = n == 1 ? ROLE_ITALIC : ROLE_BOLD;
			mdi_parse(in, s + i + n, e - i - n, inner);
			i = lit = e + n;
			continue;
		}
		i++;
	}
	mdi_add(in, s + lit, len - lit, role);
}

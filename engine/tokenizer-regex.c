/* tokenizer-regex.c: rewrites the pre-tokenizer regexes of tokenizer.json from the Oniguruma
 * dialect that Hugging Face tokenizers compiles them with into what PCRE2 accepts. */
#include "tokenizer-int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "xalloc.h"

/* Why this exists: Oniguruma's \uHHHH and \h (hex digit) are spelled differently in PCRE2, and
 * its \s (Unicode White_Space) differs from PCRE2's by U+0085; those are rewritten. The rest of
 * the syntax both share.
 *
 * One more repair is needed for the DeepSeek-V2 letter class as real checkpoints store it: the
 * pattern was put through Unicode normalisation (NFC) after it was written, and NFC replaces the
 * "singleton" characters (those canonically equal to one other character) with that character,
 * in another block. U+212A KELVIN SIGN became ASCII K, so the range "K-ℭ" (U+212A-U+212D,
 * four letterlike symbols) now reads U+004B-U+212D, which takes in [ \ ] ^ _ ` { | } ~, most of
 * Latin-1 and all of Arabic, Hebrew, Devanagari, Thai...: "([" and "._" then split apart before
 * BPE and code tokenizes into ids the model never saw. Likewise U+1FD3 became U+0390 ("ῐ-ΐ",
 * now backwards) and U+2126 OHM SIGN became Ω. The tokenizer the model was trained with read the
 * pattern before normalisation. The translator puts such characters back: a class member that is
 * the NFC image of a singleton is read as its original when the original lies in the same
 * 256-code-point page as its neighbours (the other end of its range; for a lone character, the
 * members on both sides) and the image does not. A hand-written class (A-Z, Ω-ω) does not have
 * that shape. A range still backwards after that matches nothing, as Oniguruma reads an empty
 * range. A pattern stored without normalisation needs no repair and gets none. */

/* Unicode White_Space as class members: PCRE2's \s (with UCP) plus U+0085. */
#define TOK_RX_SPACE "\\s\\x{85}"

static int rx_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one UTF-8 character at p (the pattern came from jansson, so it is valid UTF-8). */
static size_t rx_utf8(const char *p, size_t n, unsigned *cp)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t len = u[0] < 0x80 ? 1 : u[0] < 0xe0 ? 2 : u[0] < 0xf0 ? 3 : 4;

	if (len > n)
		len = n;
	*cp = len == 1 ? u[0] : len == 2 ? u[0] & 0x1f : len == 3 ? u[0] & 0x0f : u[0] & 0x07;
	for (size_t i = 1; i < len; i++)
		*cp = (*cp << 6) | (u[i] & 0x3f);
	return len;
}

/* One item of a pattern: a single character (has_value, with its code point) or something else
 * (a class escape such as \s or \p{L}). out is its PCRE2 spelling. */
struct rx_atom {
	bool has_value;
	unsigned value;
	char out[128];
	size_t src_len;
};

/* Parses the escape at p[0] == '\\'. Returns 0 on success, -1 with err set. */
static int rx_escape(const char *p, size_t n, bool in_class, struct rx_atom *a, char *err,
		     size_t errlen)
{
	static const char simple[] = "tnrfvae";
	static const unsigned simple_val[] = { 9, 10, 13, 12, 11, 7, 27 };
	const char *q;

	a->has_value = false;
	if (n < 2)
		return errorf(err, errlen, "the pattern ends with a lone backslash");
	if ((q = strchr(simple, p[1])) != NULL && p[1] != '\0') {
		a->has_value = true;
		a->value = simple_val[q - simple];
		snprintf(a->out, sizeof(a->out), "%.2s", p);
		a->src_len = 2;
		return 0;
	}
	if (p[1] == 'u' && n >= 6 && rx_hex(p[2]) >= 0 && rx_hex(p[3]) >= 0 && rx_hex(p[4]) >= 0 &&
	    rx_hex(p[5]) >= 0) {
		a->has_value = true;
		a->value = (unsigned)(rx_hex(p[2]) << 12 | rx_hex(p[3]) << 8 | rx_hex(p[4]) << 4 |
				      rx_hex(p[5]));
		snprintf(a->out, sizeof(a->out), "\\x{%04X}", a->value);
		a->src_len = 6;
		return 0;
	}
	if (p[1] == 'x') {
		size_t i = 2;
		unsigned v = 0;

		if (i < n && p[i] == '{') {
			for (i++; i < n && rx_hex(p[i]) >= 0 && i < 12; i++)
				v = v * 16 + (unsigned)rx_hex(p[i]);
			if (i >= n || p[i] != '}')
				return errorf(err, errlen, "a \\x{...} escape is not closed");
			i++;
		} else {
			for (; i < n && i < 4 && rx_hex(p[i]) >= 0; i++)
				v = v * 16 + (unsigned)rx_hex(p[i]);
		}
		a->has_value = true;
		a->value = v;
		snprintf(a->out, sizeof(a->out), "\\x{%X}", v);
		a->src_len = i;
		return 0;
	}
	if (p[1] == 'h' || p[1] == 'H') {
		/* Oniguruma's \h is a hex digit; PCRE2's is horizontal space. */
		if (in_class && p[1] == 'H')
			return errorf(err, errlen, "\\H inside a character class is not supported");
		snprintf(a->out, sizeof(a->out), "%s",
			 in_class ? "0-9a-fA-F" : p[1] == 'h' ? "[0-9a-fA-F]" : "[^0-9a-fA-F]");
		a->src_len = 2;
		return 0;
	}
	if (p[1] == 's' || (p[1] == 'S' && !in_class)) {
		/* Oniguruma's \s is Unicode White_Space, which includes U+0085 (NEL); PCRE2's
		 * (with UCP) is the separators plus \t-\r and leaves NEL out. Spell it out. */
		snprintf(a->out, sizeof(a->out), "%s%s%s", in_class ? "" : p[1] == 's' ? "[" : "[^",
			 TOK_RX_SPACE, in_class ? "" : "]");
		a->src_len = 2;
		return 0;
	}
	if ((p[1] == 'p' || p[1] == 'P') && n > 2 && p[2] == '{') {
		const char *end = memchr(p + 2, '}', n - 2);

		if (end == NULL || (size_t)(end - p) + 1 >= sizeof(a->out))
			return errorf(err, errlen, "a \\p{...} escape is not closed");
		a->src_len = (size_t)(end - p) + 1;
		memcpy(a->out, p, a->src_len);
		a->out[a->src_len] = '\0';
		return 0;
	}
	if ((unsigned char)p[1] >= 0x80 ||
	    !((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z') ||
	      (p[1] >= '0' && p[1] <= '9'))) {
		/* An escaped punctuation or non-ASCII character stands for itself. */
		size_t cl = rx_utf8(p + 1, n - 1, &a->value);

		a->has_value = true;
		snprintf(a->out, sizeof(a->out), "\\%.*s", (int)cl, p + 1);
		a->src_len = 1 + cl;
		return 0;
	}
	/* Any other escape (\s, \d, \w, \b, \A, \z, \pL, ...) means the same in both dialects. */
	snprintf(a->out, sizeof(a->out), "%.2s", p);
	a->src_len = 2;
	return 0;
}

/* Reads one class member at p: a character, an escape, or a POSIX [:name:]. */
static int rx_class_atom(const char *p, size_t n, struct rx_atom *a, char *err, size_t errlen)
{
	if (p[0] == '\\')
		return rx_escape(p, n, true, a, err, errlen);
	if (p[0] == '[') {
		const char *end;

		if (n < 2 || p[1] != ':' || (end = strstr(p, ":]")) == NULL ||
		    (size_t)(end - p) + 2 >= sizeof(a->out))
			return errorf(err, errlen, "nested character classes are not supported");
		a->has_value = false;
		a->src_len = (size_t)(end - p) + 2;
		memcpy(a->out, p, a->src_len);
		a->out[a->src_len] = '\0';
		return 0;
	}
	if (p[0] == '&' && n > 1 && p[1] == '&')
		return errorf(err, errlen, "character class intersection (&&) is not supported");
	a->has_value = true;
	a->src_len = rx_utf8(p, n, &a->value);
	memcpy(a->out, p, a->src_len);
	a->out[a->src_len] = '\0';
	return 0;
}

/* The NFC singletons: pairs (image, original) where NFC turns the one character original into
 * the different character image, sorted by image. Built once from utf8proc's tables. */
struct rx_singleton {
	unsigned image, original;
};
static struct rx_singleton *rx_singletons;
static size_t rx_n_singletons;
static pthread_once_t rx_singletons_once = PTHREAD_ONCE_INIT;

static int rx_singleton_cmp(const void *a, const void *b)
{
	const struct rx_singleton *x = a, *y = b;

	if (x->image != y->image)
		return x->image < y->image ? -1 : 1;
	return x->original < y->original ? -1 : x->original > y->original;
}

static void rx_singletons_build(void)
{
	size_t cap = 0;

	for (utf8proc_int32_t cp = 0; cp <= 0x10ffff; cp++) {
		const utf8proc_property_t *prop = utf8proc_get_property(cp);
		utf8proc_uint8_t in[4], *out;
		utf8proc_int32_t image;
		utf8proc_ssize_t n;

		/* Only a canonical decomposition can make NFC change a lone character. */
		if (prop->decomp_seqindex == UINT16_MAX || prop->decomp_type != 0)
			continue;
		n = utf8proc_encode_char(cp, in);
		if (utf8proc_map(in, n, &out, UTF8PROC_STABLE | UTF8PROC_COMPOSE) < 0)
			continue;
		n = utf8proc_iterate(out, -1, &image);
		if (n > 0 && out[n] == '\0' && image != cp) {
			if (rx_n_singletons == cap) {
				cap = cap ? cap * 2 : 1024;
				rx_singletons = xreallocarray(rx_singletons, cap, sizeof(*rx_singletons));
			}
			rx_singletons[rx_n_singletons++] = (struct rx_singleton){ (unsigned)image,
										  (unsigned)cp };
		}
		free(out);
	}
	qsort(rx_singletons, rx_n_singletons, sizeof(*rx_singletons), rx_singleton_cmp);
}

/* What class member c stood for before normalisation, judged by its neighbour (see the top of
 * this file): c itself unless c is a singleton's image, the image's page differs from the
 * neighbour's and the original's does not. */
static unsigned rx_denormalized(unsigned c, unsigned neighbour)
{
	size_t lo = 0, hi;

	if (c >> 8 == neighbour >> 8)
		return c;
	pthread_once(&rx_singletons_once, rx_singletons_build);
	hi = rx_n_singletons;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rx_singletons[mid].image < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < rx_n_singletons && rx_singletons[lo].image == c; lo++)
		if (rx_singletons[lo].original >> 8 == neighbour >> 8)
			return rx_singletons[lo].original;
	return c;
}

/* One member of a class: a single atom, or a range lo-hi. */
struct rx_member {
	struct rx_atom lo, hi;
	bool range;
};

static void rx_atom_set(struct rx_atom *a, unsigned value)
{
	if (a->value == value)
		return;
	a->value = value;
	snprintf(a->out, sizeof(a->out), "\\x{%X}", value);
}

/* Puts normalised characters back (see the top of this file). A range end is judged by the other
 * end; a lone character by both members around it, which must agree (one neighbour is too weak
 * a sign: in "[KΩ;]" the ';' would become U+037E GREEK QUESTION MARK). */
static void rx_class_denormalize(struct rx_member *m, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct rx_atom *lo = &m[k].lo, *hi = &m[k].hi;

		if (m[k].range) {
			if (!lo->has_value || !hi->has_value)
				continue;
			rx_atom_set(lo, rx_denormalized(lo->value, hi->value));
			rx_atom_set(hi, rx_denormalized(hi->value, lo->value));
		} else if (lo->has_value && k > 0 && k + 1 < n) {
			const struct rx_atom *before = m[k - 1].range ? &m[k - 1].hi : &m[k - 1].lo;
			const struct rx_atom *after = &m[k + 1].lo;
			unsigned c;

			if (!before->has_value || !after->has_value)
				continue;
			c = rx_denormalized(lo->value, before->value);
			if (c != lo->value && c >> 8 == after->value >> 8)
				rx_atom_set(lo, c);
		}
	}
}

/* Translates the class starting at pat[*i] == '['; advances *i past its ']'. */
static int rx_class(const char *pat, size_t len, size_t *i, struct xbuf *b, char *err,
		    size_t errlen)
{
	size_t p = *i + 1, body, n = 0, cap = 0;
	bool negated = false;
	struct rx_member *m = NULL;

	if (p < len && pat[p] == '^') {
		negated = true;
		p++;
	}
	for (bool first = true; p < len && (pat[p] != ']' || first); first = false) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			m = xreallocarray(m, cap, sizeof(*m));
		}
		m[n].range = false;
		if (rx_class_atom(pat + p, len - p, &m[n].lo, err, errlen) < 0)
			goto fail;
		p += m[n].lo.src_len;
		if (p + 1 < len && pat[p] == '-' && pat[p + 1] != ']') {
			if (rx_class_atom(pat + p + 1, len - p - 1, &m[n].hi, err, errlen) < 0)
				goto fail;
			p += 1 + m[n].hi.src_len;
			m[n].range = true;
		}
		n++;
	}
	if (p >= len) {
		errorf(err, errlen, "a character class is not closed");
		goto fail;
	}
	rx_class_denormalize(m, n);

	xbuf_str(b, negated ? "[^" : "[");
	body = b->len;
	for (size_t k = 0; k < n; k++) {
		const struct rx_atom *lo = &m[k].lo, *hi = &m[k].hi;

		if (!m[k].range) {
			xbuf_str(b, lo->out);
			continue;
		}
		if (lo->has_value && hi->has_value && lo->value > hi->value)
			continue;	/* backwards: an empty range */
		xbuf_str(b, lo->out);
		/* Next to a class escape such as \s the hyphen is a plain character. */
		xbuf_str(b, lo->has_value && hi->has_value ? "-" : "\\-");
		xbuf_str(b, hi->out);
	}
	if (b->len == body) {
		/* Everything was dropped: a class that matches nothing (or, negated, anything). */
		b->len = body - (negated ? 2 : 1);
		xbuf_str(b, negated ? "[\\x{0}-\\x{10FFFF}]" : "[^\\x{0}-\\x{10FFFF}]");
	} else {
		xbuf_str(b, "]");
	}
	free(m);
	*i = p + 1;
	return 0;
fail:
	free(m);
	return -1;
}

char *tok_regex_translate(const char *pat, size_t len, char *err, size_t errlen)
{
	struct xbuf b = { 0 };
	struct rx_atom a;

	xbuf_add(&b, "", 0);
	for (size_t i = 0; i < len;) {
		if (pat[i] == '[') {
			if (rx_class(pat, len, &i, &b, err, errlen) < 0)
				goto fail;
		} else if (pat[i] == '\\') {
			if (rx_escape(pat + i, len - i, false, &a, err, errlen) < 0)
				goto fail;
			xbuf_str(&b, a.out);
			i += a.src_len;
		} else {
			xbuf_add(&b, pat + i, 1);
			i++;
		}
	}
	return b.p;
fail:
	free(b.p);
	return NULL;
}

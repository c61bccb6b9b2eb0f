/* test-tokenizer.c: the byte-level BPE tokenizer against the reference ids of the Hugging Face
 * tokenizer (fixtures), round trips, special tokens, the streaming decoder, bad files, speed. */
#include "tokenizer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fixture-util.h"
#include "utf8.h"
#include "xalloc.h"

static int failures;

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "FAIL (line %d): ", __LINE__);                 \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		failures++;                                                    \
	} while (0)

struct ids {
	int *v;
	size_t n, cap;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		fatal("cannot write %s", path);
}

/* Parses whitespace-separated integers. */
static void parse_ids(const char *s, struct ids *out)
{
	char *end;

	out->n = 0;
	for (;;) {
		long v = strtol(s, &end, 10);

		if (end == s)
			break;
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->v = xreallocarray(out->v, out->cap, sizeof(int));
		}
		out->v[out->n++] = (int)v;
		s = end;
	}
}

static void encode(const struct tokenizer *t, const char *s, size_t len, bool special, struct ids *out)
{
	out->n = 0;
	tok_encode(t, s, len, special, &out->v, &out->n, &out->cap);
}

static bool ids_equal(const struct ids *a, const struct ids *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof(int)) == 0);
}

static void print_ids(const char *label, const struct ids *a)
{
	fprintf(stderr, "  %s (%zu):", label, a->n);
	for (size_t i = 0; i < a->n; i++)
		fprintf(stderr, " %d", a->v[i]);
	fputc('\n', stderr);
}

static void print_escaped(const char *label, const char *s, size_t len)
{
	fprintf(stderr, "  %s: \"", label);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			fputs("\\n", stderr);
		else if (c == '\t')
			fputs("\\t", stderr);
		else if (c == '\r')
			fputs("\\r", stderr);
		else if (c < 0x20 || c == 0x7f)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputs("\"\n", stderr);
}

/* Decodes ids by concatenating their bytes. */
static char *decode(const struct tokenizer *t, const struct ids *a, size_t *len)
{
	size_t n = 0, cap = 64;
	char *out = xmalloc(cap);

	for (size_t i = 0; i < a->n; i++) {
		size_t l;
		const char *b = tok_id_bytes(t, a->v[i], &l);

		if (n + l + 1 > cap) {
			cap = (n + l + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + n, b, l);
		n += l;
	}
	out[n] = '\0';
	*len = n;
	return out;
}

/* Strict UTF-8 check, written independently of the tokenizer's. */
static bool valid_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], cp;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c < 0xe0)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c < 0xf0)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c < 0xf5)
			k = 3, cp = c & 0x07;
		else
			return false;
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* ---- 1. reference ids: the 46 Hugging Face cases, 351 excerpts of real code, our corpus ---- */

#define CASE_SEP "\n__ggml_vocab_test__\n"

struct cases {
	char **text;
	size_t *len;
	size_t n;
};

static void cases_push(struct cases *c, const char *p, size_t len)
{
	c->text = xreallocarray(c->text, c->n + 1, sizeof(char *));
	c->len = xreallocarray(c->len, c->n + 1, sizeof(size_t));
	c->text[c->n] = xstrndup(p, len);
	c->len[c->n] = len;
	c->n++;
}

/* Reads the cases of path, split on CASE_SEP. A file that ends with the separator (cases.inp)
 * has an empty piece after it, which is not a case. */
static bool load_cases(struct cases *c, const char *path)
{
	size_t len;
	char *buf = fix_read_file(path, &len), *p, *q;

	if (buf == NULL)
		return false;
	c->n = 0;
	c->text = NULL;
	c->len = NULL;
	for (p = buf; (q = strstr(p, CASE_SEP)) != NULL; p = q + strlen(CASE_SEP))
		cases_push(c, p, (size_t)(q - p));
	if (*p != '\0')
		cases_push(c, p, strlen(p));
	free(buf);
	return true;
}

static void free_cases(struct cases *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->text[i]);
	free(c->text);
	free(c->len);
}

/* Encodes every case of inp (special tokens recognised) and compares with the ids of the same
 * line of out; want_n is the number of cases the file must hold. */
static void test_cases(const struct tokenizer *t, const struct cases *c, const char *name,
		       const char *out_path, size_t want_n)
{
	size_t len, line = 0, ok = 0, shown = 0;
	char *buf = fix_read_file(out_path, &len), *p;
	struct ids want = { 0 }, got = { 0 };

	if (buf == NULL) {
		FAIL("cannot read %s", out_path);
		return;
	}
	for (p = buf; line < c->n && *p != '\0'; line++) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		parse_ids(p, &want);
		encode(t, c->text[line], c->len[line], true, &got);
		if (!ids_equal(&want, &got)) {
			FAIL("%s case %zu differs from the reference tokenizer", name, line + 1);
			if (shown++ < 5) {
				print_escaped("input", c->text[line], c->len[line]);
				print_ids("want", &want);
				print_ids("got ", &got);
			}
		} else {
			ok++;
		}
		p = nl ? nl + 1 : p + strlen(p);
	}
	if (line != c->n || c->n != want_n)
		FAIL("%s: %zu cases, %zu lines of ids (expected %zu each)", name, c->n, line, want_n);
	printf("%s: %zu/%zu match the reference ids\n", name, ok, c->n);
	free(buf);
	free(want.v);
	free(got.v);
}

/* One corpus: dir/name.inp against dir/name.out. */
static void test_corpus(const struct tokenizer *t, const char *dir, const char *name, size_t want_n)
{
	char *inp = xasprintf("%s/%s.inp", dir, name), *out = xasprintf("%s/%s.out", dir, name);
	struct cases c;

	if (!load_cases(&c, inp)) {
		FAIL("cannot read %s", inp);
	} else {
		test_cases(t, &c, inp, out, want_n);
		free_cases(&c);
	}
	free(inp);
	free(out);
}

/* The same tokenizer with its letter class as it was written, before Unicode normalisation
 * replaced five characters (engine/tokenizer-regex.c): a checkpoint may store either form, and
 * both must tokenize alike. Runs the code corpus on a copy in tmp_dir. */
static char *tmp_dir;

static void test_unnormalized_form(const char *dir)
{
	static const char *const restore[][2] = {
		{ "\xe1\xbd\x9f-\xcf\x8e", "\xe1\xbd\x9f-\xe1\xbd\xbd" },	/* Ὗ-ώ: U+1F7D */
		{ "\xe1\xbe\xbc\xce\xb9\xe1\xbf\x82", "\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82" },	/* U+1FBE */
		{ "\xe1\xbf\x90-\xce\x90", "\xe1\xbf\x90-\xe1\xbf\x93" },	/* ῐ-ΐ: U+1FD3 */
		{ "\xe1\xbf\x96-\xce\x8a", "\xe1\xbf\x96-\xe1\xbf\x9b" },	/* ῖ-Ί: U+1FDB */
		{ "\xce\xa9\xe2\x84\xa8K-", "\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-" },	/* Ohm, Kelvin */
	};
	char *path = xasprintf("%s/tokenizer.json", dir), *json, err[512];
	size_t len;
	struct tokenizer *t;

	json = fix_read_file(path, &len);
	free(path);
	if (json == NULL) {
		FAIL("cannot read %s/tokenizer.json", dir);
		return;
	}
	for (size_t i = 0; i < sizeof(restore) / sizeof(restore[0]); i++) {
		char *at = strstr(json, restore[i][0]), *next;
		size_t from = strlen(restore[i][0]), to = strlen(restore[i][1]);

		if (at == NULL || strstr(at + 1, restore[i][0]) != NULL) {
			FAIL("the letter class of %s has no single \"%s\"", dir, restore[i][0]);
			free(json);
			return;
		}
		next = xmalloc(len - from + to + 1);
		memcpy(next, json, (size_t)(at - json));
		memcpy(next + (at - json), restore[i][1], to);
		memcpy(next + (at - json) + to, at + from, len - (size_t)(at - json) - from + 1);
		len = len - from + to;
		free(json);
		json = next;
	}
	path = xasprintf("%s/tokenizer.json", tmp_dir);
	write_file(path, json);
	free(json);
	t = tok_load(tmp_dir, err, sizeof(err));
	if (t == NULL) {
		FAIL("the unnormalised tokenizer does not load: %s", err);
	} else {
		printf("unnormalised letter class: ");
		fflush(stdout);
		test_corpus(t, dir, "code", 351);
		tok_free(t);
	}
	unlink(path);
	free(path);
}

/* ---- 2. the fixture models' prompts ---- */

static void test_model_prompts(void)
{
	static const char *const models[] = { "tiny-ds2-full", "tiny-ds2-lite", "tiny-ds2-group" };
	struct ids want = { 0 }, got = { 0 };
	char err[512];

	for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
		char *dir = xasprintf("%s/models/%s", fix_dir(), models[m]);
		char *tp = xasprintf("%s/golden/prompt.txt", dir), *ip = xasprintf("%s/golden/prompt.ids", dir);
		size_t tl, il;
		char *text = fix_read_file(tp, &tl), *idtext = fix_read_file(ip, &il);
		struct tokenizer *t = tok_load(dir, err, sizeof(err));

		if (t == NULL || text == NULL || idtext == NULL) {
			FAIL("%s: cannot load the tokenizer or golden prompt: %s", models[m],
			     t ? "missing golden file" : err);
		} else {
			parse_ids(idtext, &want);
			encode(t, text, tl, true, &got);
			if (!ids_equal(&want, &got)) {
				FAIL("%s: golden/prompt.txt does not encode to golden/prompt.ids", models[m]);
				print_ids("want", &want);
				print_ids("got ", &got);
			} else {
				printf("%s: prompt encodes to its %zu golden ids\n", models[m], got.n);
			}
			if (tok_bos_id(t) < 0 || tok_eos_id(t) < 0 || tok_bos_id(t) == tok_eos_id(t))
				FAIL("%s: BOS %d / EOS %d not read from tokenizer_config.json", models[m],
				     tok_bos_id(t), tok_eos_id(t));
		}
		tok_free(t);
		free(text);
		free(idtext);
		free(tp);
		free(ip);
		free(dir);
	}
	free(want.v);
	free(got.v);
}

/* ---- 3. round trips ---- */

static bool round_trip(const struct tokenizer *t, const char *s, size_t len, bool special,
		       const char *what)
{
	struct ids ids = { 0 };
	size_t dl;
	char *d;
	bool ok;

	encode(t, s, len, special, &ids);
	d = decode(t, &ids, &dl);
	ok = dl == len && memcmp(d, s, len) == 0;
	if (!ok) {
		FAIL("%s: decode(encode(x)) != x", what);
		print_escaped("x", s, len);
		print_escaped("decoded", d, dl);
		print_ids("ids", &ids);
	}
	free(d);
	free(ids.v);
	return ok;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint32_t rng(void)
{
	return (uint32_t)(fix_xorshift(&rng_state) >> 16);
}

/* A random valid code point from a mix of scripts, spaces, digits, punctuation and emoji. */
static unsigned random_cp(void)
{
	static const char ascii_mix[] = " \n\t\r  ab(){};=_-+*/<>\"'#0123456789xyzXYZ.,!?:";
	unsigned cp;

	switch (rng() % 12) {
	case 0: case 1: case 2:
		return (unsigned char)ascii_mix[rng() % (sizeof(ascii_mix) - 1)];
	case 3:
		return 0x20 + rng() % 0x5f;
	case 4:
		return 0xa0 + rng() % 0x1e0;	/* Latin-1 and Latin Extended */
	case 5:
		return 0x370 + rng() % 0x190;	/* Greek, Cyrillic */
	case 6:
		return 0x4e00 + rng() % 0x51a6;	/* CJK */
	case 7:
		return 0xac00 + rng() % 0x2ba4;	/* Hangul */
	case 8:
		return 0x1f300 + rng() % 0x300;	/* emoji */
	case 9:
		return rng() % 0x20;		/* control characters */
	case 10:
		do
			cp = rng() % 0x10000;
		while (cp >= 0xd800 && cp <= 0xdfff);
		return cp;
	default:
		return 0x10000 + rng() % 0x100000;
	}
}

static void test_round_trips(const struct tokenizer *t, const struct cases *c)
{
	size_t ok = 0, n = 0;
	char buf[4 * 80 + 64];

	for (size_t i = 0; i < c->n; i++) {
		ok += round_trip(t, c->text[i], c->len[i], true, "reference case");
		n++;
	}
	for (int r = 0; r < 3000; r++) {
		size_t len = 0, k = rng() % 80;

		for (size_t j = 0; j < k; j++)
			len += utf8_encode((int32_t)random_cp(), buf + len);
		/* Now and then a special token inside the text: it must survive either way. */
		if (r % 10 == 0) {
			const char *sp = "<｜end▁of▁sentence｜>";

			memcpy(buf + len, sp, strlen(sp));
			len += strlen(sp);
		}
		ok += round_trip(t, buf, len, r % 2 == 0, "random UTF-8");
		n++;
	}
	printf("round trips: %zu/%zu exact\n", ok, n);
}

/* Invalid UTF-8 in: encoded as Python would have decoded it, with U+FFFD. */
static void test_lossy_input(const struct tokenizer *t)
{
	static const struct {
		const char *in, *as;
	} pairs[] = {
		{ "\xff", "\xef\xbf\xbd" },
		{ "a\xe4\xb8", "a\xef\xbf\xbd" },
		{ "x\xed\xa0\x80y", "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy" },
		{ "\xe4\xb8\xe4\xb8\xad", "\xef\xbf\xbd\xe4\xb8\xad" },
	};
	struct ids a = { 0 }, b = { 0 };

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		encode(t, pairs[i].in, strlen(pairs[i].in), true, &a);
		encode(t, pairs[i].as, strlen(pairs[i].as), true, &b);
		if (!ids_equal(&a, &b) || a.n == 0) {
			FAIL("invalid UTF-8 input %zu is not encoded as its U+FFFD replacement", i);
			print_ids("got ", &a);
			print_ids("want", &b);
		}
	}
	free(a.v);
	free(b.v);
}

static int byte_token(const struct tokenizer *t, unsigned char byte);
static char *stream_ids(const struct tokenizer *t, const int *ids, size_t n, size_t *len,
			size_t *held);

/* Random bytes, mostly not UTF-8: encoding must not fail, and decodes to the text that the
 * streaming decoder makes of the same bytes (tiny has a token for every byte). */
static void test_random_bytes(const struct tokenizer *t, const struct tokenizer *tiny)
{
	struct ids ids = { 0 };
	size_t ok = 0;

	for (int r = 0; r < 500; r++) {
		unsigned char buf[64];
		int v[64];
		size_t n = rng() % sizeof(buf), dl, sl, held;
		char *d, *s;

		for (size_t i = 0; i < n; i++) {
			buf[i] = (unsigned char)(rng() % 3 ? 0x80 + rng() % 0x80 : rng() % 0x80);
			v[i] = byte_token(tiny, buf[i]);
		}
		encode(t, (char *)buf, n, true, &ids);
		d = decode(t, &ids, &dl);
		s = stream_ids(tiny, v, n, &sl, &held);
		if (dl != sl || memcmp(d, s, dl) != 0 || !valid_utf8((unsigned char *)d, dl)) {
			FAIL("random bytes %d: encoded text is not their errors=\"replace\" decoding", r);
			print_escaped("bytes", (char *)buf, n);
			print_escaped("decoded", d, dl);
			print_escaped("stream ", s, sl);
		} else {
			ok++;
		}
		free(d);
		free(s);
	}
	printf("random bytes: %zu/500 encode as their lossy decoding\n", ok);
	free(ids.v);
}

/* ---- 4. special tokens ---- */

static void test_special(const struct tokenizer *t)
{
	const char *eos = "<｜end▁of▁sentence｜>";
	const char *text = "Hi<｜end▁of▁sentence｜>there<｜fim▁hole｜>";
	struct ids ids = { 0 };
	bool any = false;

	if (tok_special_id(t, eos) != 100001 || tok_eos_id(t) != 100001 || tok_bos_id(t) != 100000)
		FAIL("special ids: eos by content %d, eos %d, bos %d (want 100001, 100001, 100000)",
		     tok_special_id(t, eos), tok_eos_id(t), tok_bos_id(t));
	if (tok_vocab_size(t) != 100005)
		FAIL("tokenizer size %d, want 100005", tok_vocab_size(t));

	encode(t, eos, strlen(eos), true, &ids);
	if (ids.n != 1 || ids.v[0] != 100001) {
		FAIL("with match_special the EOS text is not the single id 100001");
		print_ids("got", &ids);
	}
	encode(t, eos, strlen(eos), false, &ids);
	for (size_t i = 0; i < ids.n; i++)
		any |= ids.v[i] >= 100000;
	if (ids.n < 2 || any) {
		FAIL("without match_special the EOS text must be several ordinary ids");
		print_ids("got", &ids);
	}
	encode(t, text, strlen(text), true, &ids);
	if (ids.n < 4 || ids.v[ids.n - 1] != 100002) {
		FAIL("special tokens inside text are not split out");
		print_ids("got", &ids);
	} else {
		bool found = false;

		for (size_t i = 0; i < ids.n; i++)
			found |= ids.v[i] == 100001;
		if (!found)
			FAIL("EOS inside text was not found");
	}
	/* Ids the tokenizer does not know (the model's vocab is 102400) decode to nothing. */
	{
		size_t l = 99;
		const char *b = tok_id_bytes(t, 102399, &l);

		if (l != 0 || *b != '\0')
			FAIL("id 102399 decodes to %zu bytes", l);
		b = tok_id_bytes(t, -1, &l);
		if (l != 0)
			FAIL("id -1 decodes to %zu bytes", l);
		b = tok_id_bytes(t, 100001, &l);
		if (l != strlen(eos) || memcmp(b, eos, l) != 0)
			FAIL("id 100001 does not decode to its content");
	}
	free(ids.v);
}

/* ---- 5. streaming decoder ---- */

static int byte_token(const struct tokenizer *t, unsigned char byte)
{
	for (int id = 0; id < tok_vocab_size(t); id++) {
		size_t l;
		const char *b = tok_id_bytes(t, id, &l);

		if (l == 1 && (unsigned char)b[0] == byte)
			return id;
	}
	return -1;
}

/* Streams ids and returns the whole output; fails if any piece is not valid UTF-8. */
static char *stream_ids(const struct tokenizer *t, const int *ids, size_t n, size_t *len,
			size_t *held)
{
	struct tok_stream s;
	char *out = NULL;
	size_t out_len = 0, out_cap = 0;

	*held = 0;
	tok_stream_init(&s);
	for (size_t i = 0; i < n; i++) {
		size_t before = out_len, l, got = tok_stream_push(&s, t, ids[i], &out, &out_len, &out_cap);

		tok_id_bytes(t, ids[i], &l);
		if (got != out_len - before)
			FAIL("tok_stream_push returned %zu but appended %zu", got, out_len - before);
		if (!valid_utf8((unsigned char *)out + before, got)) {
			FAIL("streamed piece %zu is not valid UTF-8", i);
			print_escaped("piece", out + before, got);
		}
		if (got == 0 && l > 0)
			(*held)++;
	}
	{
		size_t before = out_len, got = tok_stream_flush(&s, &out, &out_len, &out_cap);

		if (!valid_utf8((unsigned char *)out + before, got))
			FAIL("flushed piece is not valid UTF-8");
	}
	if (out == NULL)
		out = xstrdup("");
	*len = out_len;
	return out;
}

/* Byte sequences that are not valid UTF-8, one single-byte token per byte. The DeepSeek vocab
 * has no token for bytes that never occur in UTF-8 (0xc0, 0xc1, 0xf5-0xff); those sequences are
 * only run where the vocab has them (the tiny models' tokenizer has all 256). */
static void test_stream_bad_bytes(const struct tokenizer *t, const char *name, bool need_all)
{
	static const struct {
		const char *bytes, *want;
	} bad[] = {
		/* Expected strings checked with python3: bytes.decode("utf-8", errors="replace"). */
		{ "\xff", "\xef\xbf\xbd" },
		{ "\xe4\xb8" "a", "\xef\xbf\xbd" "a" },
		{ "\xe4\xb8", "\xef\xbf\xbd" },
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf0\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe4" "a" "\xb8", "\xef\xbf\xbd" "a" "\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe4\xb8\xe4\xb8\xad", "\xef\xbf\xbd\xe4\xb8\xad" },
		{ "\xf0\x9f\x98", "\xef\xbf\xbd" },
	};
	size_t ran = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i].bytes), len, held;
		int *v = xmalloc(n * sizeof(int));
		char *out;
		bool have = true;

		for (size_t j = 0; j < n; j++)
			have &= (v[j] = byte_token(t, (unsigned char)bad[i].bytes[j])) >= 0;
		if (!have) {
			free(v);
			continue;
		}
		ran++;
		out = stream_ids(t, v, n, &len, &held);
		if (len != strlen(bad[i].want) || memcmp(out, bad[i].want, len) != 0) {
			FAIL("byte sequence %zu decodes differently from Python's errors=\"replace\"", i);
			print_escaped("bytes", bad[i].bytes, n);
			print_escaped("want ", bad[i].want, strlen(bad[i].want));
			print_escaped("got  ", out, len);
		}
		free(out);
		free(v);
	}
	if (need_all && ran != sizeof(bad) / sizeof(bad[0]))
		FAIL("%s: only %zu of the byte sequences have single-byte tokens", name, ran);
	printf("%s: %zu invalid byte sequences stream as errors=\"replace\" does\n", name, ran);
}

static void test_stream(const struct tokenizer *t)
{
	static const char *const texts[] = {
		"我想在apple工作1314151天～",
		"🦙🦙 emoji 🚀 (normal) 😶‍🌫️ ✅ done",
		"នេះជាអត្ថបទ ខ្មែរ and Ελληνικά, 中文字符串测试",
		"",
	};
	struct ids ids = { 0 };
	size_t total_held = 0;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len, held;
		char *out;

		encode(t, texts[i], strlen(texts[i]), true, &ids);
		out = stream_ids(t, ids.v, ids.n, &len, &held);
		total_held += held;
		if (len != strlen(texts[i]) || memcmp(out, texts[i], len) != 0) {
			FAIL("streamed text %zu differs", i);
			print_escaped("want", texts[i], strlen(texts[i]));
			print_escaped("got ", out, len);
		}
		free(out);
	}
	/* The emoji are byte tokens in this vocab: some ids must have been held back. */
	if (total_held == 0)
		FAIL("no id was held back; the test did not exercise incomplete sequences");

	/* Unknown ids in the stream give nothing and do not disturb a held sequence. */
	{
		int v[3] = { byte_token(t, 0xe4), 102000, byte_token(t, 0xb8) };
		int w = byte_token(t, 0xad);
		struct tok_stream s;
		char *out = NULL;
		size_t ol = 0, oc = 0;

		tok_stream_init(&s);
		for (int i = 0; i < 3; i++)
			if (tok_stream_push(&s, t, v[i], &out, &ol, &oc) != 0)
				FAIL("a partial sequence was emitted early");
		tok_stream_push(&s, t, w, &out, &ol, &oc);
		tok_stream_flush(&s, &out, &ol, &oc);
		if (ol != 3 || memcmp(out, "中", 3) != 0)
			FAIL("e4 <unknown id> b8 ad did not stream as U+4E2D");
		free(out);
	}
	printf("streaming decoder: %zu ids held back for incomplete UTF-8\n", total_held);
	free(ids.v);
}

/* ---- 6. bad files, and features of small hand-written tokenizers ---- */

static void put_tokenizer(const char *json)
{
	char *p = xasprintf("%s/tokenizer.json", tmp_dir);

	write_file(p, json);
	free(p);
}

static void expect_load_error(const char *what, const char *json, const char *needle)
{
	char err[512] = "";
	struct tokenizer *t;

	if (json != NULL)
		put_tokenizer(json);
	t = tok_load(tmp_dir, err, sizeof(err));
	if (t != NULL) {
		FAIL("%s: tok_load accepted it", what);
		tok_free(t);
		return;
	}
	if (strstr(err, "tokenizer.json") == NULL || strstr(err, needle) == NULL)
		FAIL("%s: message \"%s\" does not name tokenizer.json and \"%s\"", what, err, needle);
	else
		printf("rejected %s: %s\n", what, err);
}

/* The GPT-2 byte alphabet, written independently of the tokenizer's. */
static unsigned byte_char(unsigned b)
{
	unsigned n = 0;

	for (unsigned x = 0; x < 256; x++) {
		bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174;

		if (x == b)
			return printable ? b : 256 + n;
		if (!printable)
			n++;
	}
	return 0;
}

/* A tokenizer.json whose vocab has every byte (id = byte value) plus "ab"=256, "abc"=257,
 * "bc"=258, "a1"=259, "11"=260, merges in rank order a+b, ab+c, b+c, a+1, 1+1 (mixing both
 * spellings), and the given pre-tokenizer and added tokens. */
static char *small_tokenizer(const char *pretok, const char *added)
{
	size_t cap = 16384, n = 0;
	char *s = xmalloc(cap);

	n += (size_t)snprintf(s + n, cap - n, "{\"version\":\"1.0\",\"added_tokens\":[%s],"
			      "\"normalizer\":null,\"pre_tokenizer\":%s,"
			      "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
			      "\"dropout\":null,\"unk_token\":null,\"vocab\":{", added, pretok);
	for (unsigned b = 0; b < 256; b++)
		n += (size_t)snprintf(s + n, cap - n, "\"\\u%04x\":%u,", byte_char(b), b);
	snprintf(s + n, cap - n, "\"ab\":256,\"abc\":257,\"bc\":258,\"a1\":259,\"11\":260},"
		 "\"merges\":[\"a b\",[\"ab\",\"c\"],\"b c\",\"a 1\",\"1 1\"]}}");
	return s;
}

static void expect_ids(const char *what, const char *pretok, const char *added, const char *text,
		       bool special, const int *want, size_t n_want, bool lossless)
{
	char *json = small_tokenizer(pretok, added), err[512];
	struct tokenizer *t;
	struct ids got = { 0 }, w = { (int *)want, n_want, n_want };

	put_tokenizer(json);
	free(json);
	t = tok_load(tmp_dir, err, sizeof(err));
	if (t == NULL) {
		FAIL("%s: %s", what, err);
		return;
	}
	encode(t, text, strlen(text), special, &got);
	if (!ids_equal(&got, &w)) {
		FAIL("%s: wrong ids", what);
		print_escaped("text", text, strlen(text));
		print_ids("want", &w);
		print_ids("got ", &got);
	}
	if (lossless)
		round_trip(t, text, strlen(text), special, what);
	free(got.v);
	tok_free(t);
}

static void test_small_tokenizers(void)
{
	static const char bl[] = "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}";
	char pt[1024];

	/* Merge order: lowest rank first, new pairs join the queue. */
	expect_ids("merge ranks", bl, "", "abc", true, (int[]){ 257 }, 1, true);
	expect_ids("merge ranks 2", bl, "", "bcab", true, (int[]){ 258, 256 }, 2, true);
	expect_ids("merge ranks 3", bl, "", "abbc", true, (int[]){ 256, 258 }, 2, true);
	/* Removed: the spaces disappear. */
	snprintf(pt, sizeof(pt), "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
		 "\"pattern\":{\"String\":\" \"},\"behavior\":\"Removed\",\"invert\":false},%s]}", bl);
	expect_ids("Split Removed", pt, "", "abc abc", true, (int[]){ 257, 257 }, 2, false);
	/* An out-of-order range is ignored as Oniguruma ignores it: [z-ab]+ is [b]+. */
	snprintf(pt, sizeof(pt), "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
		 "\"pattern\":{\"Regex\":\"[z-ab]+\"},\"behavior\":\"Isolated\",\"invert\":false},%s]}", bl);
	expect_ids("out-of-order range", pt, "", "abba", true, (int[]){ 97, 98, 98, 97 }, 4, true);
	/* A regex that matches the empty string splits at every position where it does, as the
	 * onig crate's find_iter reports them (one empty match per position, none right after a
	 * match): "b*" cuts "abcabc" into single characters. */
	snprintf(pt, sizeof(pt), "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
		 "\"pattern\":{\"Regex\":\"b*\"},\"behavior\":\"Isolated\"},%s]}", bl);
	expect_ids("empty matches", pt, "", "abcabc", true, (int[]){ 97, 98, 99, 97, 98, 99 }, 6, true);
	/* Digits, inside a nested Sequence: "a11" is a|1|1 one by one, a|11 in runs; without
	 * Digits, a+1 (rank 3) merges before 1+1 (rank 4). */
	snprintf(pt, sizeof(pt), "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Sequence\","
		 "\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true}]},%s]}", bl);
	expect_ids("Digits one by one", pt, "", "a11", true, (int[]){ 97, 49, 49 }, 3, true);
	snprintf(pt, sizeof(pt), "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\","
		 "\"individual_digits\":false},%s]}", bl);
	expect_ids("Digits in runs", pt, "", "a11", true, (int[]){ 97, 260 }, 2, true);
	expect_ids("no Digits", bl, "", "a11", true, (int[]){ 259, 49 }, 2, true);
	/* \s is Unicode White_Space as in Oniguruma, NEL (U+0085) included. */
	snprintf(pt, sizeof(pt), "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
		 "\"pattern\":{\"Regex\":\"[\\\\s]|\\\\s\"},\"behavior\":\"Removed\"},%s]}", bl);
	expect_ids("\\s and NEL", pt, "", "a\xc2\x85" "b c\xe3\x80\x80", true, (int[]){ 97, 98, 99 }, 3, false);
	/* A lone ByteLevel with its own GPT-2 regex: " abc" stays one piece, "bc" another. */
	expect_ids("ByteLevel use_regex",
		   "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}", "",
		   " abc1bc", true, (int[]){ 32, 257, 49, 258 }, 4, true);
	/* A lone Split without ByteLevel: BPE starts from the characters, looked up in the vocab. */
	expect_ids("lone Split",
		   "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"c\"},\"behavior\":\"Isolated\"}", "",
		   "abcabc", true, (int[]){ 256, 99, 256, 99 }, 4, true);
	/* Added tokens: non-special ones are matched even without match_special, the longest at
	 * the leftmost position; "normalized" ones only in a second pass over what is left (as
	 * in tokenizers); lstrip/rstrip swallow the spaces around. */
	expect_ids("non-special added tokens", bl,
		   "{\"id\":300,\"content\":\"xy\",\"special\":false,\"normalized\":false},"
		   "{\"id\":301,\"content\":\"xyz\",\"special\":false,\"normalized\":false},"
		   "{\"id\":302,\"content\":\"<s>\",\"special\":true,\"normalized\":false},"
		   "{\"id\":303,\"content\":\"zz\",\"special\":false,\"normalized\":true},"
		   "{\"id\":304,\"content\":\"bxy\",\"special\":false,\"normalized\":true}",
		   "abxyzxy<s>zz", false, (int[]){ 256, 301, 300, 60, 115, 62, 303 }, 7, true);
	expect_ids("lstrip/rstrip", bl,
		   "{\"id\":300,\"content\":\"<m>\",\"special\":true,\"lstrip\":true,\"rstrip\":true,"
		   "\"normalized\":false}",
		   "ab  <m> \tbc", true, (int[]){ 256, 300, 258 }, 3, false);
}

static void test_bad_files(void)
{
	char *p;

	expect_load_error("a missing tokenizer.json", NULL, "No such file");
	expect_load_error("malformed JSON", "{\n  \"model\": {\n    \"type\": \"BPE\",,\n", ":3:");
	expect_load_error("a Unigram model",
			  "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\",0.0]]},"
			  "\"pre_tokenizer\":null,\"decoder\":null}",
			  "Unigram");
	p = small_tokenizer("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x\"},\"behavior\":\"MergedWithPrevious\"}", "");
	expect_load_error("an unsupported Split behavior", p, "MergedWithPrevious");
	free(p);
	p = small_tokenizer("{\"type\":\"Metaspace\"}", "");
	expect_load_error("an unsupported pre-tokenizer", p, "Metaspace");
	free(p);
	p = small_tokenizer("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},"
			    "{\"type\":\"Digits\"}]}", "");
	expect_load_error("a step after ByteLevel", p, "Digits step after ByteLevel");
	free(p);
	p = small_tokenizer("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(x\"},\"behavior\":\"Isolated\"}", "");
	expect_load_error("a regex that does not compile", p, "pattern 0");
	free(p);
	expect_load_error("a merge of unknown tokens",
			  "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a q\"]},"
			  "\"decoder\":{\"type\":\"ByteLevel\"}}",
			  "model.merges entry 0");
}

/* ---- threads: the shared BPE cache under concurrent encodes ---- */

struct thread_job {
	const struct tokenizer *t;
	const struct cases *c;
	struct ids *want;	/* one per case, encoded before the threads start */
	int mismatches;
};

static void *thread_encode(void *arg)
{
	struct thread_job *j = arg;
	struct ids got = { 0 };
	char word[32];

	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < j->c->n; i++) {
			encode(j->t, j->c->text[i], j->c->len[i], true, &got);
			if (!ids_equal(&got, &j->want[i]))
				j->mismatches++;
		}
		/* Distinct words, so that the threads also insert into the cache at once. */
		for (int k = 0; k < 200; k++) {
			snprintf(word, sizeof(word), " w%dq%dz", round, k);
			encode(j->t, word, strlen(word), true, &got);
		}
	}
	free(got.v);
	return NULL;
}

static void test_threads(const struct tokenizer *t, const struct cases *c)
{
	enum { N_THREADS = 4 };
	struct thread_job jobs[N_THREADS];
	pthread_t th[N_THREADS];
	struct ids *want = xcalloc(c->n, sizeof(*want));
	int bad = 0;

	for (size_t i = 0; i < c->n; i++)
		encode(t, c->text[i], c->len[i], true, &want[i]);
	for (int k = 0; k < N_THREADS; k++) {
		jobs[k] = (struct thread_job){ t, c, want, 0 };
		if (pthread_create(&th[k], NULL, thread_encode, &jobs[k]) != 0)
			fatal("cannot start a thread");
	}
	for (int k = 0; k < N_THREADS; k++) {
		pthread_join(th[k], NULL);
		bad += jobs[k].mismatches;
	}
	if (bad)
		FAIL("%d encodes from %d concurrent threads differ from the single-threaded ids", bad,
		     N_THREADS);
	else
		printf("threads: %d threads x 20 rounds of the cases agree\n", N_THREADS);
	for (size_t i = 0; i < c->n; i++)
		free(want[i].v);
	free(want);
}

/* ---- 7. speed (information only) ---- */

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Encodes buf twice; the cache must not change the ids, whether cold, warm or reset on the way. */
static void time_encode(const struct tokenizer *t, const char *what, const char *buf, size_t len)
{
	struct ids first = { 0 }, again = { 0 };
	double c0, c1, c2, w0, w1;

	c0 = cpu_now();
	w0 = wall_now();
	encode(t, buf, len, true, &first);
	c1 = cpu_now();
	w1 = wall_now();
	encode(t, buf, len, true, &again);
	c2 = cpu_now();
	if (!ids_equal(&first, &again))
		FAIL("%s: encoding the same text twice gave different ids (%zu, then %zu)", what,
		     first.n, again.n);
	printf("speed, %s: %.2f MB to %zu ids at %.1f MB/s of CPU time (%.1f by the clock), then %.1f MB/s again\n",
	       what, len / 1e6, first.n, len / 1e6 / (c1 - c0), len / 1e6 / (w1 - w0),
	       len / 1e6 / (c2 - c1));
	free(first.v);
	free(again.v);
}

static void test_speed(const struct tokenizer *t, const struct cases *c)
{
	const char *top = getenv("top_srcdir");
	char *path = xasprintf("%s/engine/tokenizer.c", top && *top ? top : ".");
	size_t code_len = 0, len = 0, cap = 4 << 20;
	char *code = fix_read_file(path, &code_len), *buf = xmalloc(cap + 65536);

	/* Mixed code and text: the reference cases (many scripts, emoji, digits) and C source. */
	while (len < cap) {
		for (size_t i = 0; i < c->n; i++) {
			memcpy(buf + len, c->text[i], c->len[i]);
			len += c->len[i];
			buf[len++] = '\n';
		}
		if (code != NULL) {
			size_t k = code_len < 65536 ? code_len : 65536;

			memcpy(buf + len, code, k);
			len += k;
		}
	}
	time_encode(t, "code and text", buf, len);
	/* The worst case for the cache: a megabyte of distinct random words, enough to overflow
	 * it and make it start again. */
	len = 0;
	while (len < (1 << 20)) {
		size_t k = 2 + rng() % 8;

		buf[len++] = rng() % 16 ? ' ' : '\n';
		for (size_t i = 0; i < k; i++)
			buf[len++] = (char)('a' + rng() % 26);
	}
	time_encode(t, "random words", buf, len);
	free(buf);
	free(code);
	free(path);
}

int main(void)
{
	char *dir = xasprintf("%s/tokenizer/deepseek-coder-v2", fix_dir());
	char err[512], tmpl[] = "/tmp/test-tokenizer-XXXXXX";
	struct stat st;
	struct tokenizer *t;
	struct cases c;

	/* A regression that loops forever (say, on empty regex matches) fails instead of hanging. */
	alarm(300);
	if (stat(dir, &st) != 0) {
		printf("SKIP: no fixtures at %s\n", dir);
		free(dir);
		return 77;
	}
	t = tok_load(dir, err, sizeof(err));
	if (t == NULL) {
		fprintf(stderr, "FAIL: %s\n", err);
		return 1;
	}
	{
		char *path = xasprintf("%s/cases.inp", dir);

		if (!load_cases(&c, path)) {
			fprintf(stderr, "FAIL: cannot read %s\n", path);
			return 1;
		}
		free(path);
		path = xasprintf("%s/cases.out", dir);
		test_cases(t, &c, "cases.inp (Hugging Face)", path, 46);
		free(path);
	}
	/* Real code, where punctuation runs meet the pre-tokenizer's splits, from an independent
	 * implementation; then this project's larger corpus of real source and random strings, with
	 * ids from Hugging Face's tokenizers.js (tests/tokenizer/README). */
	test_corpus(t, dir, "code", 351);
	test_corpus(t, SRCDIR "/tests/tokenizer", "corpus", 1000);
	test_model_prompts();
	test_round_trips(t, &c);
	test_lossy_input(t);
	test_special(t);
	test_stream(t);
	test_stream_bad_bytes(t, "deepseek-coder-v2", false);
	{
		char *d = xasprintf("%s/models/tiny-ds2-full", fix_dir());
		struct tokenizer *tiny = tok_load(d, err, sizeof(err));

		if (tiny == NULL)
			FAIL("%s", err);
		else
			test_stream_bad_bytes(tiny, "tiny-ds2-full", true);
		if (tiny != NULL)
			test_random_bytes(t, tiny);
		tok_free(tiny);
		free(d);
	}

	tmp_dir = mkdtemp(tmpl);
	if (tmp_dir == NULL)
		fatal("cannot create a temporary directory");
	test_bad_files();
	test_small_tokenizers();
	test_unnormalized_form(dir);
	{
		char *p = xasprintf("%s/tokenizer.json", tmp_dir);

		unlink(p);
		free(p);
		rmdir(tmp_dir);
	}

	test_threads(t, &c);
	test_speed(t, &c);

	for (size_t i = 0; i < c.n; i++)
		free(c.text[i]);
	free(c.text);
	free(c.len);
	tok_free(t);
	free(dir);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all tokenizer checks passed\n");
	return 0;
}

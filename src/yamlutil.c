/* yamlutil.c: libyaml helpers: one-document loading with FILE:LINE errors, typed getters, an emitter
 * writing into memory, and the sampling block shared by profiles and conversations. */
#define _GNU_SOURCE                 /* timegm */
#include "yamlutil.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xalloc.h"

/* The files always use "." for decimals, whatever LC_NUMERIC the program runs under (the TUI calls
 * setlocale(LC_ALL, ""), and a German locale would write 0,3 and stop reading 0.3 at the dot). */
static locale_t yu_c;
static pthread_once_t yu_c_once = PTHREAD_ONCE_INIT;

static void yu_c_init(void)
{
	yu_c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (yu_c == (locale_t)0)
		fatal("cannot create the C locale");
}

static locale_t yu_c_locale(void)
{
	pthread_once(&yu_c_once, yu_c_init);
	return yu_c;
}

/* ---- Reading ---- */

/* Returns the byte offset of the first invalid UTF-8 sequence in s[0..len), or len if valid.
 * Overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t yu_utf8_invalid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return i;
		}
		if (len - i <= n)
			return i;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

static int yu_line_of(const char *buf, size_t off)
{
	int line = 1;

	for (size_t i = 0; i < off; i++)
		line += buf[i] == '\n';
	return line;
}

/* How deep lists and mappings may nest. The files here need four levels (a conversation, its
 * messages, a message, its stats); libyaml's scanner spends time proportional to the depth on every
 * token, so `[[[[...` 100k deep took seconds to refuse. Composing stops at the first level too many. */
#define YU_MAX_DEPTH 64

/* An anchor seen while composing, for the message about a later alias. */
struct yu_anchor {
	char *name;
	int line;
};

/* The containers being composed, innermost last; key is the pending key of a mapping (0: none). */
struct yu_compose {
	struct yu_doc *d;
	int open[YU_MAX_DEPTH], key[YU_MAX_DEPTH];
	int depth;
	struct yu_anchor *anchors;
	size_t n_anchors, cap_anchors;
};

static void yu_compose_anchor(struct yu_compose *k, const yaml_char_t *anchor, yaml_mark_t mark)
{
	if (anchor == NULL)
		return;
	if (k->n_anchors == k->cap_anchors) {
		k->cap_anchors = k->cap_anchors ? 2 * k->cap_anchors : 8;
		k->anchors = xrealloc(k->anchors, k->cap_anchors * sizeof(*k->anchors));
	}
	k->anchors[k->n_anchors].name = xstrdup((const char *)anchor);
	k->anchors[k->n_anchors++].line = (int)mark.line + 1;
}

/* Hangs the finished node id into the innermost open container (the root needs nothing: it is the
 * document's first node). */
static void yu_compose_attach(struct yu_compose *k, int id)
{
	yaml_document_t *doc = &k->d->doc;
	int parent;
	yaml_node_t *p;

	if (k->depth == 0)
		return;
	parent = k->open[k->depth - 1];
	p = yaml_document_get_node(doc, parent);
	if (p->type == YAML_SEQUENCE_NODE) {
		if (!yaml_document_append_sequence_item(doc, parent, id))
			fatal("out of memory composing a YAML document");
	} else if (k->key[k->depth - 1] == 0) {
		k->key[k->depth - 1] = id;
	} else {
		if (!yaml_document_append_mapping_pair(doc, parent, k->key[k->depth - 1], id))
			fatal("out of memory composing a YAML document");
		k->key[k->depth - 1] = 0;
	}
}

static void yu_compose_mark(struct yu_compose *k, int id, const yaml_event_t *ev)
{
	yaml_node_t *n = yaml_document_get_node(&k->d->doc, id);

	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
}

static int yu_parse_error(yaml_parser_t *parser, const char *file, char *err, size_t errlen)
{
	if (parser->context != NULL)
		return errorf(err, errlen, "%s:%zu: not valid YAML: %s %s that starts on line %zu", file,
			      parser->problem_mark.line + 1, parser->problem ? parser->problem : "error",
			      parser->context, parser->context_mark.line + 1);
	return errorf(err, errlen, "%s:%zu: not valid YAML: %s", file, parser->problem_mark.line + 1,
		      parser->problem ? parser->problem : "error");
}

/* Composes the document from the parser's events, as yaml_parser_load would, except that it refuses
 * nesting deeper than YU_MAX_DEPTH and aliases (libyaml's loader turns an alias into a second
 * reference to the anchored node; these files never need aliases, and a few bytes of them can stand
 * for gigabytes of text once copied out, the "billion laughs"), and that a second document is an
 * error (it would be silently ignored). Tags are dropped: every node gets the default tag. */
static int yu_compose(struct yu_compose *k, yaml_parser_t *parser, char *err, size_t errlen)
{
	struct yu_doc *d = k->d;
	yaml_event_t ev;
	bool done = false;
	int id, ret = 0;

	while (!done && ret == 0) {
		if (!yaml_parser_parse(parser, &ev))
			return yu_parse_error(parser, d->file, err, errlen);
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (d->loaded) {
				ret = errorf(err, errlen, "%s:%zu: a second YAML document; the file must hold one", d->file,
					     ev.start_mark.line + 1);
				break;
			}
			if (!yaml_document_initialize(&d->doc, NULL, NULL, NULL, 1, 1))
				fatal("out of memory composing a YAML document");
			d->doc.start_mark = ev.start_mark;
			d->loaded = true;
			break;
		case YAML_DOCUMENT_END_EVENT:
			d->doc.end_mark = ev.end_mark;
			break;
		case YAML_ALIAS_EVENT: {
			int line = (int)ev.start_mark.line + 1;

			for (size_t i = 0; i < k->n_anchors; i++)
				if (strcmp(k->anchors[i].name, (const char *)ev.data.alias.anchor) == 0)
					line = k->anchors[i].line;
			ret = errorf(err, errlen, "%s:%d: YAML anchors and aliases (& and *) are not supported here; "
				     "write the value out", d->file, line);
			break;
		}
		case YAML_SCALAR_EVENT:
			yu_compose_anchor(k, ev.data.scalar.anchor, ev.start_mark);
			id = yaml_document_add_scalar(&d->doc, NULL, ev.data.scalar.value, (int)ev.data.scalar.length,
						      ev.data.scalar.style);
			if (id == 0)
				fatal("out of memory composing a YAML document");
			yu_compose_mark(k, id, &ev);
			yu_compose_attach(k, id);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (k->depth == YU_MAX_DEPTH) {
				ret = errorf(err, errlen, "%s:%zu: lists and mappings nested more than %d deep; this is "
					     "not a dscoder-tui file", d->file, ev.start_mark.line + 1, YU_MAX_DEPTH);
				break;
			}
			if (ev.type == YAML_SEQUENCE_START_EVENT) {
				yu_compose_anchor(k, ev.data.sequence_start.anchor, ev.start_mark);
				id = yaml_document_add_sequence(&d->doc, NULL, ev.data.sequence_start.style);
			} else {
				yu_compose_anchor(k, ev.data.mapping_start.anchor, ev.start_mark);
				id = yaml_document_add_mapping(&d->doc, NULL, ev.data.mapping_start.style);
			}
			if (id == 0)
				fatal("out of memory composing a YAML document");
			yu_compose_mark(k, id, &ev);
			yu_compose_attach(k, id);
			k->open[k->depth] = id;
			k->key[k->depth++] = 0;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			id = k->open[--k->depth];
			yaml_document_get_node(&d->doc, id)->end_mark = ev.end_mark;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	return ret;
}

int yu_load(struct yu_doc *d, const char *file, const char *buf, size_t len, char *err, size_t errlen)
{
	yaml_parser_t parser;
	struct yu_compose k;
	size_t bad;
	int ret;

	memset(d, 0, sizeof(*d));
	d->file = file;
	/* libyaml detects bad UTF-8 too, but its message names a byte offset; people need a line. */
	bad = yu_utf8_invalid((const unsigned char *)buf, len);
	if (bad < len)
		return errorf(err, errlen, "%s:%d: invalid UTF-8 (byte %zu); the file must be UTF-8 text",
			      file, yu_line_of(buf, bad), bad + 1);
	if (memchr(buf, '\0', len) != NULL)
		return errorf(err, errlen, "%s:%d: a NUL byte; this is not a text file", file,
			      yu_line_of(buf, (size_t)((const char *)memchr(buf, '\0', len) - buf)));
	if (!yaml_parser_initialize(&parser))
		fatal("out of memory initialising the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	memset(&k, 0, sizeof(k));
	k.d = d;
	ret = yu_compose(&k, &parser, err, errlen);
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < k.n_anchors; i++)
		free(k.anchors[i].name);
	free(k.anchors);
	if (ret != 0) {
		yu_free(d);
		return -1;
	}
	/* Empty, or only comments: no document, yu_root() is NULL; the caller decides whether that is
	 * fine. */
	return 0;
}

void yu_free(struct yu_doc *d)
{
	if (d->loaded)
		yaml_document_delete(&d->doc);
	d->loaded = false;
}

yaml_node_t *yu_root(struct yu_doc *d)
{
	return yaml_document_get_root_node(&d->doc);
}

int yu_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static const char *yu_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a single value";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "empty";
	}
}

int yu_map_each(struct yu_doc *d, yaml_node_t *map, const char *what, yu_map_fn fn, void *arg,
		char *err, size_t errlen)
{
	yaml_node_pair_t *p, *q;

	if (map->type != YAML_MAPPING_NODE)
		return errorf(err, errlen, "%s:%d: %s must be a mapping of keys to values, not %s", d->file,
			      yu_line(map), what, yu_kind(map));
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&d->doc, p->value);
		const char *key;
		int r;

		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
			return errorf(err, errlen, "%s:%d: a key in %s is not a plain name", d->file,
				      k != NULL ? yu_line(k) : yu_line(map), what);
		key = (const char *)k->data.scalar.value;
		if (strlen(key) != k->data.scalar.length)
			return errorf(err, errlen, "%s:%d: a key in %s contains a NUL character", d->file,
				      yu_line(k), what);
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(&d->doc, q->key);

			if (k2 != NULL && k2->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)k2->data.scalar.value, key) == 0)
				return errorf(err, errlen, "%s:%d: the key \"%s\" appears twice in %s (also line %d)",
					      d->file, yu_line(k), key, what, yu_line(k2));
		}
		d->key_line = yu_line(k);
		r = fn(d, key, v, arg, err, errlen);
		if (r != 0)
			return r;
	}
	return 0;
}

int yu_expect_seq(struct yu_doc *d, yaml_node_t *node, const char *what, char *err, size_t errlen)
{
	if (node->type != YAML_SEQUENCE_NODE && !yu_is_null(node))
		return errorf(err, errlen, "%s:%d: %s must be a list, not %s", d->file, yu_line(node), what,
			      yu_kind(node));
	return 0;
}

bool yu_is_null(const yaml_node_t *n)
{
	static const char *const words[] = { "", "~", "null", "Null", "NULL" };
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(v, words[i]) == 0)
			return true;
	return false;
}

static int yu_scalar(struct yu_doc *d, yaml_node_t *n, const char *key, const char *want,
		     char *err, size_t errlen)
{
	if (n->type != YAML_SCALAR_NODE)
		return errorf(err, errlen, "%s:%d: %s must be %s, not %s", d->file, yu_line(n), key, want,
			      yu_kind(n));
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL)
		return errorf(err, errlen, "%s:%d: %s contains a NUL character", d->file, yu_line(n), key);
	return 0;
}

int yu_str(struct yu_doc *d, yaml_node_t *n, const char *key, bool nullable, char **out,
	   char *err, size_t errlen)
{
	if (yu_scalar(d, n, key, "text", err, errlen) != 0)
		return -1;
	if (yu_is_null(n)) {
		if (!nullable)
			return errorf(err, errlen, "%s:%d: %s is empty; give it a value", d->file, yu_line(n), key);
		free(*out);
		*out = NULL;
		return 0;
	}
	free(*out);
	*out = xstrndup((const char *)n->data.scalar.value, n->data.scalar.length);
	return 0;
}

int yu_text(struct yu_doc *d, yaml_node_t *n, const char *key, char **out, size_t *len,
	    char *err, size_t errlen)
{
	if (yu_scalar(d, n, key, "text", err, errlen) != 0)
		return -1;
	free(*out);
	*out = xstrndup((const char *)n->data.scalar.value, n->data.scalar.length);
	if (len != NULL)
		*len = n->data.scalar.length;
	return 0;
}

int yu_int(struct yu_doc *d, yaml_node_t *n, const char *key, int64_t min, int64_t max, int64_t *out,
	   char *err, size_t errlen)
{
	const char *s;
	char *end;
	long long v;

	if (yu_scalar(d, n, key, "a whole number", err, errlen) != 0)
		return -1;
	s = (const char *)n->data.scalar.value;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return errorf(err, errlen, "%s:%d: %s must be a whole number from %" PRId64 " to %" PRId64
			      ", not \"%s\"", d->file, yu_line(n), key, min, max, s);
	*out = v;
	return 0;
}

int yu_double(struct yu_doc *d, yaml_node_t *n, const char *key, double *out, char *err, size_t errlen)
{
	const char *s;
	char *end;
	double v;

	if (yu_scalar(d, n, key, "a number", err, errlen) != 0)
		return -1;
	s = (const char *)n->data.scalar.value;
	errno = 0;
	v = strtod_l(s, &end, yu_c_locale());
	if (s[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v))
		return errorf(err, errlen, "%s:%d: %s must be a number, not \"%s\"", d->file, yu_line(n), key, s);
	*out = v;
	return 0;
}

/* Parses exactly `digits` decimal digits. */
static int yu_digits(const char **p, int digits, int *out)
{
	int v = 0;

	for (int i = 0; i < digits; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += digits;
	*out = v;
	return 0;
}

int yu_time(struct yu_doc *d, yaml_node_t *n, const char *key, int64_t *out, char *err, size_t errlen)
{
	const char *s, *p;
	struct tm tm;
	int y, mo, da, h, mi, se, oh = 0, om = 0, sign = 0;
	time_t t;

	if (yu_scalar(d, n, key, "a date and time", err, errlen) != 0)
		return -1;
	s = p = (const char *)n->data.scalar.value;
	if (yu_digits(&p, 4, &y) || *p++ != '-' || yu_digits(&p, 2, &mo) || *p++ != '-' ||
	    yu_digits(&p, 2, &da) || (*p != 'T' && *p != 't' && *p != ' ') || !*p++ ||
	    yu_digits(&p, 2, &h) || *p++ != ':' || yu_digits(&p, 2, &mi) || *p++ != ':' ||
	    yu_digits(&p, 2, &se))
		goto bad;
	if (*p == '.') {            /* fractional seconds: accepted, dropped */
		p++;
		if (*p < '0' || *p > '9')
			goto bad;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (yu_digits(&p, 2, &oh) || *p++ != ':' || yu_digits(&p, 2, &om))
			goto bad;
	} else {
		goto bad;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || se > 60 ||
	    oh > 23 || om > 59)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = da;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	*out = (int64_t)t - sign * (oh * 3600 + om * 60);
	return 0;
bad:
	return errorf(err, errlen, "%s:%d: %s must be a date and time like 2024-05-01T12:00:00Z, not \"%s\"",
		      d->file, yu_line(n), key, s);
}

/* Edit distance between two short keys (insertions, deletions, substitutions, swaps of neighbours). */
static size_t yu_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[34][34];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

int yu_unknown_key(struct yu_doc *d, yaml_node_t *v, const char *key, const char *const *known,
		   const char *what, char *err, size_t errlen)
{
	char list[512] = "";
	const char *near = NULL;
	size_t best = 3, used = 0;

	for (size_t i = 0; known[i] != NULL; i++) {
		size_t dist = yu_distance(key, known[i]);
		int w;

		if (dist < best) {
			best = dist;
			near = known[i];
		}
		w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", known[i]);
		if (w > 0 && (size_t)w < sizeof(list) - used)
			used += (size_t)w;
	}
	if (near != NULL)
		return errorf(err, errlen, "%s:%d: unknown key \"%s\" in %s; did you mean \"%s\"? (known: %s)",
			      d->file, d->key_line, key, what, near, list);
	return errorf(err, errlen, "%s:%d: unknown key \"%s\" in %s (known: %s)", d->file, d->key_line, key,
		      what, list);
}

struct yu_sampling_ctx {
	struct params_sampling *p;
	yaml_node_t *map;
};

static int yu_sampling_key(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg,
			   char *err, size_t errlen)
{
	struct params_sampling *p = ((struct yu_sampling_ctx *)arg)->p;
	double x;
	int64_t i;

	if (strcmp(key, "temperature") == 0) {
		if (yu_double(d, v, key, &x, err, errlen))
			return -1;
		if (x < 0)
			goto range;
		p->temperature = x;
	} else if (strcmp(key, "top_k") == 0) {
		if (yu_int(d, v, key, 0, 1000000, &i, err, errlen))
			return -1;
		p->top_k = (int)i;
	} else if (strcmp(key, "top_p") == 0) {
		if (yu_double(d, v, key, &x, err, errlen))
			return -1;
		if (!(x > 0 && x <= 1))
			goto range;
		p->top_p = x;
	} else if (strcmp(key, "min_p") == 0) {
		if (yu_double(d, v, key, &x, err, errlen))
			return -1;
		if (!(x >= 0 && x <= 1))
			goto range;
		p->min_p = x;
	} else if (strcmp(key, "repetition_penalty") == 0) {
		if (yu_double(d, v, key, &x, err, errlen))
			return -1;
		if (!(x > 0))
			goto range;
		p->repetition_penalty = x;
	} else if (strcmp(key, "max_tokens") == 0) {
		if (yu_int(d, v, key, 0, INT32_MAX, &i, err, errlen))
			return -1;
		p->max_tokens = (int)i;
	} else if (strcmp(key, "seed") == 0) {
		if (v->type == YAML_SCALAR_NODE && (yu_is_null(v) ||
		    strcmp((const char *)v->data.scalar.value, "random") == 0)) {
			p->seed = PARAMS_SEED_RANDOM;
			return 0;
		}
		if (yu_int(d, v, key, -1, INT64_MAX, &i, err, errlen))
			return -1;
		p->seed = i;
	} else {
		static const char *const known[] = { "temperature", "top_k", "top_p", "min_p",
			"repetition_penalty", "max_tokens", "seed", NULL };

		return yu_unknown_key(d, v, key, known, "sampling", err, errlen);
	}
	return 0;
range:
	return errorf(err, errlen, "%s:%d: %s is out of range (temperature >= 0, 0 < top_p <= 1, "
		      "0 <= min_p <= 1, repetition_penalty > 0)", d->file, yu_line(v), key);
}

int yu_sampling(struct yu_doc *d, yaml_node_t *n, struct params_sampling *p, char *err, size_t errlen)
{
	struct yu_sampling_ctx ctx = { p, n };

	if (yu_is_null(n))
		return 0;
	return yu_map_each(d, n, "sampling", yu_sampling_key, &ctx, err, errlen);
}

/* ---- Writing ---- */

static int yu_out(void *data, unsigned char *buf, size_t size)
{
	struct yu_emitter *e = data;

	if (e->len + size + 1 > e->cap) {
		while (e->len + size + 1 > e->cap)
			e->cap = e->cap ? e->cap * 2 : 4096;
		e->buf = xrealloc(e->buf, e->cap);
	}
	memcpy(e->buf + e->len, buf, size);
	e->len += size;
	return 1;
}

static void yu_fail(struct yu_emitter *e, const char *what)
{
	if (!e->failed)
		snprintf(e->err, sizeof(e->err), "%s: %s", what,
			 e->em.problem != NULL ? e->em.problem : "cannot be written as YAML");
	e->failed = true;
}

/* Emits ev (libyaml takes it over, also on failure) unless an earlier step failed. */
static void yu_emit(struct yu_emitter *e, yaml_event_t *ev, int made, const char *what)
{
	if (e->failed) {
		if (made)
			yaml_event_delete(ev);
		return;
	}
	if (!made) {
		yu_fail(e, what);
		return;
	}
	if (!yaml_emitter_emit(&e->em, ev))
		yu_fail(e, what);
}

void yu_emit_begin(struct yu_emitter *e)
{
	yaml_event_t ev;

	memset(e, 0, sizeof(*e));
	if (!yaml_emitter_initialize(&e->em))
		fatal("out of memory initialising the YAML emitter");
	yaml_emitter_set_output(&e->em, yu_out, e);
	yaml_emitter_set_unicode(&e->em, 1);    /* Chinese stays readable, not \u escapes */
	yaml_emitter_set_width(&e->em, -1);     /* never fold long lines */
	yaml_emitter_set_indent(&e->em, 2);
	yaml_emitter_set_break(&e->em, YAML_LN_BREAK);
	yu_emit(e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING), "stream");
	yu_emit(e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1), "document");
}

void yu_emit_map_start(struct yu_emitter *e)
{
	yaml_event_t ev;

	yu_emit(e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE),
		"mapping");
}

void yu_emit_map_end(struct yu_emitter *e)
{
	yaml_event_t ev;

	yu_emit(e, &ev, yaml_mapping_end_event_initialize(&ev), "mapping");
}

void yu_emit_seq_start(struct yu_emitter *e)
{
	yaml_event_t ev;

	yu_emit(e, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE),
		"list");
}

void yu_emit_seq_end(struct yu_emitter *e)
{
	yaml_event_t ev;

	yu_emit(e, &ev, yaml_sequence_end_event_initialize(&ev), "list");
}

static void yu_scalar_out(struct yu_emitter *e, const char *s, size_t len, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	/* Both implicit flags set: no "!" tags, libyaml only chooses how to quote. */
	yu_emit(e, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style),
		s);
}

void yu_emit_key(struct yu_emitter *e, const char *key)
{
	yu_scalar_out(e, key, strlen(key), YAML_PLAIN_SCALAR_STYLE);
}

void yu_emit_str(struct yu_emitter *e, const char *s)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (s == NULL) {
		yu_scalar_out(e, "~", 1, YAML_PLAIN_SCALAR_STYLE);
		return;
	}
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
		if (strcmp(s, nulls[i]) == 0) {
			yu_scalar_out(e, s, strlen(s), YAML_DOUBLE_QUOTED_SCALAR_STYLE);
			return;
		}
	}
	yu_scalar_out(e, s, strlen(s), YAML_ANY_SCALAR_STYLE);
}

void yu_emit_text(struct yu_emitter *e, const char *s, size_t len, yaml_scalar_style_t style)
{
	yu_scalar_out(e, s, len, style);
}

void yu_emit_int(struct yu_emitter *e, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	yu_scalar_out(e, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
}

void yu_emit_double(struct yu_emitter *e, double v)
{
	char buf[40];
	locale_t c = yu_c_locale(), old;

	if (!isfinite(v))
		v = 0;
	old = uselocale(c);
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod_l(buf, NULL, c) == v)
			break;
	}
	uselocale(old);
	yu_scalar_out(e, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
}

void yu_format_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	/* Not strftime's %Y: it writes 999 for the year 999, which RFC 3339 (and yu_time) refuse, so a
	 * file dated before 1000 could be loaded but never saved again. Always four digits. */
	snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void yu_emit_time(struct yu_emitter *e, int64_t t)
{
	char buf[40];

	yu_format_time(t, buf, sizeof(buf));
	yu_scalar_out(e, buf, strlen(buf), YAML_PLAIN_SCALAR_STYLE);
}

void yu_emit_sampling(struct yu_emitter *e, const struct params_sampling *p)
{
	yu_emit_map_start(e);
	yu_emit_key(e, "temperature");
	yu_emit_double(e, p->temperature);
	yu_emit_key(e, "top_k");
	yu_emit_int(e, p->top_k);
	yu_emit_key(e, "top_p");
	yu_emit_double(e, p->top_p);
	yu_emit_key(e, "min_p");
	yu_emit_double(e, p->min_p);
	yu_emit_key(e, "repetition_penalty");
	yu_emit_double(e, p->repetition_penalty);
	yu_emit_key(e, "max_tokens");
	yu_emit_int(e, p->max_tokens);
	yu_emit_key(e, "seed");
	if (p->seed == PARAMS_SEED_RANDOM)
		yu_scalar_out(e, "random", 6, YAML_PLAIN_SCALAR_STYLE);
	else
		yu_emit_int(e, p->seed);
	yu_emit_map_end(e);
}

int yu_emit_end(struct yu_emitter *e, char **out, size_t *len, char *err, size_t errlen)
{
	yaml_event_t ev;

	yu_emit(e, &ev, yaml_document_end_event_initialize(&ev, 1), "document");
	yu_emit(e, &ev, yaml_stream_end_event_initialize(&ev), "stream");
	if (!e->failed && !yaml_emitter_flush(&e->em))
		yu_fail(e, "flush");
	yaml_emitter_delete(&e->em);
	if (e->failed) {
		free(e->buf);
		e->buf = NULL;
		return errorf(err, errlen, "%s", e->err);
	}
	if (e->buf == NULL)
		e->buf = xmalloc(1);
	e->buf[e->len] = '\0';
	*out = e->buf;
	*len = e->len;
	e->buf = NULL;
	return 0;
}

/* tokenizer.c: encoding text to ids the way Hugging Face tokenizers does for a byte-level BPE
 * tokenizer.json: added tokens first, then the regex Splits, the byte-level alphabet, BPE. */
#include "tokenizer.h"
#include "tokenizer-int.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Pieces longer than this are not cached (rare, and they would crowd the cache). */
#define TOK_CACHE_KEY_MAX 256
/* When the cache passes any of these it is emptied and starts again. */
#define TOK_CACHE_MAX_ENTRIES (1u << 17)
#define TOK_CACHE_MAX_IDS (1u << 22)
#define TOK_CACHE_MAX_KEY_BYTES (8u << 20)
/* The pre-tokenizer level whose pieces are cached (see tok_pretokenize). */
#define TOK_CACHE_LEVEL 2

/* A stretch of the text: an added token (id >= 0) or text still to be split (id == -1). */
struct tok_span {
	size_t off, len;
	int id;
};
struct tok_spans {
	struct tok_span *v;
	size_t n, cap;
};

/* One BPE symbol in a doubly linked list over the piece; id -1 once merged into its left. */
struct tok_sym {
	int id;
	int prev, next;
};
/* A candidate merge of the symbol at pos with its right neighbour. */
struct tok_merge {
	int rank, pos, new_id;
};

/* Scratch space for one tok_encode call, reused for every piece so that the work per piece
 * allocates nothing once the buffers have grown. */
struct tok_work {
	struct tok_spans seg, seg2;
	struct tok_sym *sym;
	size_t cap_sym;
	struct tok_merge *heap;
	size_t n_heap, cap_heap;
	int *tmp;
	size_t n_tmp, cap_tmp;
	pcre2_match_data *md;
};

static void tok_spans_push(struct tok_spans *s, size_t off, size_t len, int id)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n].off = off;
	s->v[s->n].len = len;
	s->v[s->n].id = id;
	s->n++;
}

static void tok_ids_push(int **ids, size_t *n, size_t *cap, const int *v, size_t k)
{
	if (k == 0)
		return;
	if (*n + k > *cap) {
		size_t c = *cap ? *cap : 64;

		while (c < *n + k)
			c *= 2;
		*ids = xreallocarray(*ids, c, sizeof(**ids));
		*cap = c;
	}
	memcpy(*ids + *n, v, k * sizeof(*v));
	*n += k;
}

/* Input that is not valid UTF-8 is first decoded lossily, each maximal invalid subpart becoming
 * U+FFFD: Hugging Face tokenizers only ever sees a str, which in Python is what
 * bytes.decode("utf-8", errors="replace") gives; it also keeps PCRE2 away from invalid UTF-8.
 * Returns NULL when text is valid as it is. */
static char *tok_utf8_lossy(const char *text, size_t len, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0, n = 0, r, bad;
	char *out;

	while (i < len && (r = tok_utf8_check(p + i, len - i, &bad)) > 0)
		i += r;
	if (i == len)
		return NULL;
	out = xmalloc(len * 3 + 1);
	memcpy(out, text, i);
	n = i;
	while (i < len) {
		if ((r = tok_utf8_check(p + i, len - i, &bad)) > 0) {
			memcpy(out + n, p + i, r);
			n += r;
			i += r;
			continue;
		}
		memcpy(out + n, "\xef\xbf\xbd", 3);
		n += 3;
		i += bad ? bad : len - i;	/* a truncated sequence at the end is one subpart */
	}
	*out_len = n;
	return out;
}

/* Unicode White_Space, what Rust's char::is_whitespace tests for lstrip/rstrip. */
static bool tok_is_space(unsigned cp)
{
	return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
	       cp == 0x205f || cp == 0x3000;
}

static unsigned tok_decode_at(const unsigned char *p, size_t n)
{
	unsigned cp = p[0];

	if (cp < 0x80 || n < 2)
		return cp;
	if (cp < 0xe0)
		return (cp & 0x1f) << 6 | (p[1] & 0x3f);
	if (cp < 0xf0)
		return n < 3 ? cp : (cp & 0x0f) << 12 | (p[1] & 0x3f) << 6 | (p[2] & 0x3f);
	return n < 4 ? cp : (cp & 0x07) << 18 | (p[1] & 0x3f) << 12 | (p[2] & 0x3f) << 6 | (p[3] & 0x3f);
}

/* Finds added tokens in s[off, off + len) and appends token and text spans to out. One pass of
 * Hugging Face's AddedVocabulary: the tokens whose "normalized" flag equals normalized, leftmost
 * match first and the longest one at that position. A special token met while match_special is
 * off is stepped over as text (as encode with split_special_tokens does). */
static void tok_split_added(const struct tokenizer *t, const char *s, size_t off, size_t len,
			    bool normalized, bool match_special, struct tok_spans *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t end = off + len, pos = off, seg = off, last_stop = off;

	while (pos < end) {
		unsigned b = u[pos];
		const struct tok_added *m = NULL;
		size_t start, stop;

		for (uint32_t k = t->added_first[b]; k < t->added_first[b + 1]; k++) {
			const struct tok_added *a = &t->added[k];

			if (a->normalized == normalized && a->len <= end - pos &&
			    memcmp(s + pos, a->content, a->len) == 0) {
				m = a;
				break;
			}
		}
		if (m == NULL) {
			pos++;
			continue;
		}
		start = pos;
		stop = pos + m->len;
		pos = stop;
		if (m->special && !match_special)
			continue;
		if (m->lstrip) {
			while (start > last_stop) {
				size_t q = start - 1;

				while (q > last_stop && (u[q] & 0xc0) == 0x80)
					q--;
				if (!tok_is_space(tok_decode_at(u + q, start - q)))
					break;
				start = q;
			}
		}
		if (m->rstrip) {
			while (stop < end) {
				size_t r, bad;

				r = tok_utf8_check(u + stop, end - stop, &bad);
				if (r == 0 || !tok_is_space(tok_decode_at(u + stop, r)))
					break;
				stop += r;
			}
			pos = stop;
		}
		if (start > seg)
			tok_spans_push(out, seg, start - seg, -1);
		tok_spans_push(out, start, stop - start, m->id);
		seg = last_stop = stop;
	}
	if (end > seg)
		tok_spans_push(out, seg, end - seg, -1);
}

static bool tok_merge_less(const struct tok_merge *a, const struct tok_merge *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void tok_heap_push(struct tok_work *w, int rank, int pos, int new_id)
{
	size_t i;

	if (w->n_heap == w->cap_heap) {
		w->cap_heap = w->cap_heap ? w->cap_heap * 2 : 64;
		w->heap = xreallocarray(w->heap, w->cap_heap, sizeof(*w->heap));
	}
	i = w->n_heap++;
	w->heap[i] = (struct tok_merge){ rank, pos, new_id };
	while (i > 0 && tok_merge_less(&w->heap[i], &w->heap[(i - 1) / 2])) {
		struct tok_merge x = w->heap[i];

		w->heap[i] = w->heap[(i - 1) / 2];
		w->heap[(i - 1) / 2] = x;
		i = (i - 1) / 2;
	}
}

static struct tok_merge tok_heap_pop(struct tok_work *w)
{
	struct tok_merge top = w->heap[0];
	size_t i = 0;

	w->heap[0] = w->heap[--w->n_heap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < w->n_heap && tok_merge_less(&w->heap[l], &w->heap[m]))
			m = l;
		if (r < w->n_heap && tok_merge_less(&w->heap[r], &w->heap[m]))
			m = r;
		if (m == i)
			break;
		struct tok_merge x = w->heap[i];
		w->heap[i] = w->heap[m];
		w->heap[m] = x;
		i = m;
	}
	return top;
}

/* Adds the initial symbol for id (-1: not in the vocab, which becomes unk or is dropped). */
static void tok_sym_add(const struct tokenizer *t, struct tok_work *w, int *n, int id)
{
	if (id < 0) {
		if (t->unk_id < 0)
			return;
		if (t->fuse_unk && *n > 0 && w->sym[*n - 1].id == t->unk_id)
			return;
		id = t->unk_id;
	}
	w->sym[*n].id = id;
	w->sym[*n].prev = *n - 1;
	w->sym[*n].next = *n + 1;
	(*n)++;
}

/* BPE on one piece: repeatedly merges the adjacent pair of lowest rank, the leftmost on ties
 * (the order of Hugging Face's merge queue, stale entries skipped). Leaves the ids in w->tmp. */
static void tok_bpe(const struct tokenizer *t, struct tok_work *w, const unsigned char *p,
		    size_t len)
{
	int n = 0, rank, new_id;

	if (len + 1 > w->cap_sym) {
		w->cap_sym = len + 64;
		w->sym = xreallocarray(w->sym, w->cap_sym, sizeof(*w->sym));
	}
	if (t->byte_level) {
		for (size_t i = 0; i < len; i++)
			tok_sym_add(t, w, &n, t->byte_id[p[i]]);
	} else {
		/* Without ByteLevel the symbols are the characters themselves. */
		for (size_t i = 0, r, bad; i < len; i += r) {
			const struct tok_map_slot *s;

			r = tok_utf8_check(p + i, len - i, &bad);
			if (r == 0)
				r = 1;
			s = tok_map_get(&t->vocab, p + i, r, tok_hash(p + i, r));
			tok_sym_add(t, w, &n, s ? s->value : -1);
		}
	}
	if (n > 0)
		w->sym[n - 1].next = -1;

	w->n_heap = 0;
	for (int i = 0; i + 1 < n; i++)
		if (tok_pairs_get(&t->pairs, w->sym[i].id, w->sym[i + 1].id, &rank, &new_id))
			tok_heap_push(w, rank, i, new_id);
	while (w->n_heap > 0) {
		struct tok_merge m = tok_heap_pop(w);
		struct tok_sym *cur = &w->sym[m.pos];
		int next, got_id;

		if (cur->id < 0 || cur->next < 0)
			continue;
		next = cur->next;
		if (!tok_pairs_get(&t->pairs, cur->id, w->sym[next].id, &rank, &got_id) ||
		    got_id != m.new_id)
			continue;	/* stale: one side has changed since this entry was queued */
		cur->id = m.new_id;
		cur->next = w->sym[next].next;
		w->sym[next].id = -1;
		if (cur->next >= 0)
			w->sym[cur->next].prev = m.pos;
		if (cur->prev >= 0 &&
		    tok_pairs_get(&t->pairs, w->sym[cur->prev].id, cur->id, &rank, &new_id))
			tok_heap_push(w, rank, cur->prev, new_id);
		if (cur->next >= 0 &&
		    tok_pairs_get(&t->pairs, cur->id, w->sym[cur->next].id, &rank, &new_id))
			tok_heap_push(w, rank, m.pos, new_id);
	}

	w->n_tmp = 0;
	if (w->cap_tmp < (size_t)n + 1) {
		w->cap_tmp = (size_t)n + 64;
		w->tmp = xreallocarray(w->tmp, w->cap_tmp, sizeof(*w->tmp));
	}
	for (int i = n > 0 ? 0 : -1; i >= 0; i = w->sym[i].next)
		w->tmp[w->n_tmp++] = w->sym[i].id;
}

static void tok_encode_piece(const struct tokenizer *t, struct tok_work *w, const char *p,
			     size_t len, int **ids, size_t *n, size_t *cap)
{
	if (len == 1 && t->byte_level && t->byte_id[(unsigned char)*p] >= 0) {
		tok_ids_push(ids, n, cap, &t->byte_id[(unsigned char)*p], 1);
		return;
	}
	tok_bpe(t, w, (const unsigned char *)p, len);
	tok_ids_push(ids, n, cap, w->tmp, w->n_tmp);
}

/* Looks a piece up in the cache; on a hit appends its ids and returns true. */
static bool tok_cache_get(const struct tokenizer *t, const char *p, size_t len, uint64_t h,
			  int **ids, size_t *n, size_t *cap)
{
	struct tok_cache *c = t->cache;
	const struct tok_map_slot *slot;

	pthread_mutex_lock(&c->lock);
	slot = tok_map_get(&c->map, p, len, h);
	if (slot != NULL)
		tok_ids_push(ids, n, cap, c->ids + slot->value, slot->extra);
	pthread_mutex_unlock(&c->lock);
	return slot != NULL;
}

static void tok_cache_put(const struct tokenizer *t, const char *p, size_t len, uint64_t h,
			  const int *v, size_t k)
{
	struct tok_cache *c = t->cache;

	pthread_mutex_lock(&c->lock);
	if (c->map.n >= TOK_CACHE_MAX_ENTRIES || c->ids_len + k > TOK_CACHE_MAX_IDS ||
	    c->map.keys_len + len > TOK_CACHE_MAX_KEY_BYTES) {
		tok_map_clear(&c->map);
		c->ids_len = 0;
	}
	if (c->ids_len + k > c->ids_cap) {
		c->ids_cap = (c->ids_len + k) * 2 + 1024;
		c->ids = xreallocarray(c->ids, c->ids_cap, sizeof(*c->ids));
	}
	if (k > 0)
		memcpy(c->ids + c->ids_len, v, k * sizeof(*v));
	tok_map_put(&c->map, p, len, h, (int32_t)c->ids_len, (uint32_t)k);
	c->ids_len += k;
	pthread_mutex_unlock(&c->lock);
}

/* Where the pieces go: the output ids, and the work space for BPE. */
struct tok_sink {
	const struct tokenizer *t;
	struct tok_work *w;
	const char *s;
	int **ids;
	size_t *n, *cap;
};

static void tok_pretokenize(struct tok_sink *k, size_t level, size_t off, size_t len);

static void tok_emit_piece(struct tok_sink *k, size_t level, size_t base, size_t from, size_t to,
			   bool is_match)
{
	const struct tok_split *sp = &k->t->splits[level];

	/* Empty pieces are dropped, as the pre-tokenizer drops them. */
	if (to == from)
		return;
	if (sp->behavior == TOK_SPLIT_REMOVED && is_match != sp->invert)
		return;
	tok_pretokenize(k, level + 1, base + from, to - from);
}

/* Splits s[base, base + len) with the regex of one Split: matches and the gaps between them
 * become pieces, each handed on to the next Split at once (depth first, so no list of all
 * pieces is ever built). The regex sees only this piece, as in tokenizers, and the scan follows
 * the onig crate's find_iter: an empty match right where the previous match ended is skipped by
 * one character. */
static void tok_regex_split(struct tok_sink *k, size_t level, size_t base, size_t len)
{
	const struct tok_split *sp = &k->t->splits[level];
	pcre2_match_data *md = k->w->md;
	PCRE2_SPTR subj = (PCRE2_SPTR)(k->s + base);
	size_t last_end = 0, prev = 0, last_match_end = 0;
	bool have_last = false;

	while (last_end <= len) {
		int rc = sp->jit ? pcre2_jit_match(sp->re, subj, len, last_end, 0, md, NULL)
				 : pcre2_match(sp->re, subj, len, last_end, PCRE2_NO_UTF_CHECK, md, NULL);
		PCRE2_SIZE *ov;
		size_t ms, me;

		/* No match, or an error such as the match limit: the rest stays one piece. */
		if (rc < 0)
			break;
		ov = pcre2_get_ovector_pointer(md);
		ms = ov[0];
		me = ov[1];
		if (ms > me || me > len || ms < prev)
			break;	/* \K tricks; not used by real tokenizers */
		if (ms == me && have_last && last_match_end == me) {
			size_t bad, r;

			if (last_end >= len)
				break;
			r = tok_utf8_check(subj + last_end, len - last_end, &bad);
			last_end += r ? r : 1;
			continue;
		}
		last_end = me;
		last_match_end = me;
		have_last = true;
		/* md is reused by the deeper levels: everything needed was copied out above. */
		tok_emit_piece(k, level, base, prev, ms, false);
		tok_emit_piece(k, level, base, ms, me, true);
		prev = me;
	}
	tok_emit_piece(k, level, base, prev, len, false);
}

/* Runs Split number level (and the ones after it) on a piece; past the last, encodes it.
 * Everything from a level on depends only on the piece's bytes (each regex sees only its
 * piece), so results are cached at one level: TOK_CACHE_LEVEL, where the first Splits have cut
 * the text into lines and then words (DeepSeek-V2: newlines, then letter runs), which repeat;
 * with fewer Splits, the BPE pieces themselves. */
static void tok_pretokenize(struct tok_sink *k, size_t level, size_t off, size_t len)
{
	const struct tokenizer *t = k->t;
	const char *p = k->s + off;
	size_t cache_level = t->n_splits < TOK_CACHE_LEVEL ? t->n_splits : TOK_CACHE_LEVEL;
	size_t start = *k->n;
	uint64_t h;

	if (level != cache_level || len > TOK_CACHE_KEY_MAX || (len == 1 && level == t->n_splits)) {
		if (level < t->n_splits)
			tok_regex_split(k, level, off, len);
		else
			tok_encode_piece(t, k->w, p, len, k->ids, k->n, k->cap);
		return;
	}
	h = tok_hash(p, len);
	if (tok_cache_get(t, p, len, h, k->ids, k->n, k->cap))
		return;
	if (level < t->n_splits)
		tok_regex_split(k, level, off, len);
	else
		tok_encode_piece(t, k->w, p, len, k->ids, k->n, k->cap);
	tok_cache_put(t, p, len, h, *k->n > start ? *k->ids + start : NULL, *k->n - start);
}

void tok_encode(const struct tokenizer *t, const char *text, size_t len, bool match_special,
		int **ids, size_t *n, size_t *cap)
{
	struct tok_work w = { 0 };
	struct tok_sink sink = { t, &w, NULL, ids, n, cap };
	size_t slen = len;
	char *owned = tok_utf8_lossy(text, len, &slen);
	const char *s = owned ? owned : text;
	bool find_added = t->n_added > 0 && (match_special || t->any_nonspecial_added);

	if (slen == 0)
		goto out;
	sink.s = s;
	w.md = pcre2_match_data_create(1, NULL);
	if (w.md == NULL)
		fatal("out of memory creating PCRE2 match data");

	/* Added tokens: first those matched on the raw text, then (on what is left) those matched
	 * after normalisation, which with no normaliser is the same text. */
	if (find_added)
		tok_split_added(t, s, 0, slen, false, match_special, &w.seg);
	else
		tok_spans_push(&w.seg, 0, slen, -1);
	if (find_added && t->any_normalized_added) {
		for (size_t i = 0; i < w.seg.n; i++) {
			if (w.seg.v[i].id >= 0)
				tok_spans_push(&w.seg2, w.seg.v[i].off, w.seg.v[i].len, w.seg.v[i].id);
			else
				tok_split_added(t, s, w.seg.v[i].off, w.seg.v[i].len, true, match_special,
						&w.seg2);
		}
		struct tok_spans tmp = w.seg;
		w.seg = w.seg2;
		w.seg2 = tmp;
	}
	for (size_t i = 0; i < w.seg.n; i++) {
		if (w.seg.v[i].id >= 0)
			tok_ids_push(ids, n, cap, &w.seg.v[i].id, 1);
		else
			tok_pretokenize(&sink, 0, w.seg.v[i].off, w.seg.v[i].len);
	}
out:
	pcre2_match_data_free(w.md);
	free(w.seg.v);
	free(w.seg2.v);
	free(w.sym);
	free(w.heap);
	free(w.tmp);
	free(owned);
}

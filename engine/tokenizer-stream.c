/* tokenizer-stream.c: decoding ids back to bytes, and the streaming decoder that hands out only
 * whole, valid UTF-8 (invalid bytes as U+FFFD, like Python's errors="replace"). */
#include "tokenizer.h"
#include "tokenizer-int.h"

#include <string.h>

#include "xalloc.h"

const char *tok_id_bytes(const struct tokenizer *t, int id, size_t *len)
{
	if (id < 0 || id >= t->n_ids) {
		*len = 0;
		return "";
	}
	*len = t->id_off[id + 1] - t->id_off[id];
	return t->id_bytes + t->id_off[id];
}

void tok_stream_init(struct tok_stream *s)
{
	memset(s, 0, sizeof(*s));
}

/* Makes room for need more bytes plus a terminating NUL, which is always kept so that callers
 * may treat *out as a C string. */
static void tok_out_reserve(char **out, size_t *out_len, size_t *out_cap, size_t need)
{
	if (*out == NULL || *out_len + need + 1 > *out_cap) {
		size_t c = *out_cap ? *out_cap : 64;

		while (c < *out_len + need + 1)
			c *= 2;
		*out = xrealloc(*out, c);
		*out_cap = c;
	}
}

static void tok_out_put(char *out, size_t *out_len, const void *p, size_t n)
{
	memcpy(out + *out_len, p, n);
	*out_len += n;
}

/* Emits from the pending bytes everything that is decided: whole sequences as they are, invalid
 * subparts as U+FFFD. Stops when the pending bytes are empty or a prefix that may still
 * complete. */
static void tok_stream_drain(struct tok_stream *s, char *out, size_t *out_len)
{
	while (s->n_pending > 0) {
		size_t bad, r = tok_utf8_check(s->pending, s->n_pending, &bad);

		if (r == 0 && bad == 0)
			return;
		if (r > 0)
			tok_out_put(out, out_len, s->pending, r);
		else
			tok_out_put(out, out_len, "\xef\xbf\xbd", 3);
		r = r ? r : bad;
		memmove(s->pending, s->pending + r, s->n_pending - r);
		s->n_pending -= r;
	}
}

size_t tok_stream_push(struct tok_stream *s, const struct tokenizer *t, int id, char **out,
		       size_t *out_len, size_t *out_cap)
{
	size_t n, i = 0, start = *out_len;
	const unsigned char *p = (const unsigned char *)tok_id_bytes(t, id, &n);

	/* At worst every byte becomes a three-byte U+FFFD. */
	tok_out_reserve(out, out_len, out_cap, 3 * (n + sizeof(s->pending)));

	/* Complete (or give up on) the sequence held back from the previous id, byte by byte:
	 * pending never holds more than three bytes before this, so it cannot overflow. */
	while (s->n_pending > 0 && i < n) {
		s->pending[s->n_pending++] = p[i++];
		tok_stream_drain(s, *out, out_len);
	}
	while (i < n) {
		size_t bad, r;

		if (p[i] < 0x80) {
			size_t j = i + 1;

			while (j < n && p[j] < 0x80)
				j++;
			tok_out_put(*out, out_len, p + i, j - i);
			i = j;
			continue;
		}
		r = tok_utf8_check(p + i, n - i, &bad);
		if (r > 0) {
			tok_out_put(*out, out_len, p + i, r);
			i += r;
		} else if (bad > 0) {
			tok_out_put(*out, out_len, "\xef\xbf\xbd", 3);
			i += bad;
		} else {
			/* May still complete with the next id: hold it back. */
			memcpy(s->pending, p + i, n - i);
			s->n_pending = n - i;
			i = n;
		}
	}
	(*out)[*out_len] = '\0';
	return *out_len - start;
}

size_t tok_stream_flush(struct tok_stream *s, char **out, size_t *out_len, size_t *out_cap)
{
	size_t start = *out_len;

	tok_out_reserve(out, out_len, out_cap, 3);
	/* What is held back is a valid prefix of one sequence: one maximal subpart, one U+FFFD. */
	if (s->n_pending > 0)
		tok_out_put(*out, out_len, "\xef\xbf\xbd", 3);
	s->n_pending = 0;
	(*out)[*out_len] = '\0';
	return *out_len - start;
}

/* tokenizer-map.c: the tokenizer's byte-string hash map (open addressing, linear probing), used
 * for the vocab and for the BPE cache. */
#include "tokenizer-int.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

uint64_t tok_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xC2B2AE3D27D4EB4Full);
	uint64_t k;

	/* Eight bytes per step: pieces and tokens are short, so the loop is what matters. */
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&k, p, 8);
		k *= 0x87C37B91114253D5ull;
		k = (k << 31) | (k >> 33);
		h = (h ^ k) * 0x4CF5AD432745937Full;
		h = (h << 27) | (h >> 37);
	}
	k = 0;
	memcpy(&k, p, len);
	h ^= k * 0x87C37B91114253D5ull;
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDull;
	h ^= h >> 33;
	h *= 0xC4CEB9FE1A85EC53ull;
	h ^= h >> 33;
	return h ? h : 1;
}

void tok_map_init(struct tok_map *m, size_t expected)
{
	size_t n = 16;

	while (n < expected * 2)
		n *= 2;
	memset(m, 0, sizeof(*m));
	m->slots = xcalloc(n, sizeof(*m->slots));
	m->mask = n - 1;
}

void tok_map_clear(struct tok_map *m)
{
	memset(m->slots, 0, (m->mask + 1) * sizeof(*m->slots));
	m->n = 0;
	m->keys_len = 0;
}

void tok_map_free(struct tok_map *m)
{
	free(m->slots);
	free(m->keys);
	memset(m, 0, sizeof(*m));
}

const struct tok_map_slot *tok_map_get(const struct tok_map *m, const void *key, size_t len,
				       uint64_t hash)
{
	for (size_t i = hash & m->mask;; i = (i + 1) & m->mask) {
		const struct tok_map_slot *s = &m->slots[i];

		if (s->hash == 0)
			return NULL;
		if (s->hash == hash && s->key_len == len &&
		    memcmp(m->keys + s->key_off, key, len) == 0)
			return s;
	}
}

static void tok_map_grow(struct tok_map *m)
{
	size_t n = (m->mask + 1) * 2;
	struct tok_map_slot *old = m->slots;
	size_t old_n = m->mask + 1;

	m->slots = xcalloc(n, sizeof(*m->slots));
	m->mask = n - 1;
	for (size_t j = 0; j < old_n; j++) {
		size_t i;

		if (old[j].hash == 0)
			continue;
		for (i = old[j].hash & m->mask; m->slots[i].hash != 0; i = (i + 1) & m->mask)
			;
		m->slots[i] = old[j];
	}
	free(old);
}

struct tok_map_slot *tok_map_put(struct tok_map *m, const void *key, size_t len, uint64_t hash,
				 int32_t value, uint32_t extra)
{
	struct tok_map_slot *s;
	size_t i;

	if ((m->n + 1) * 2 > m->mask + 1)
		tok_map_grow(m);
	for (i = hash & m->mask;; i = (i + 1) & m->mask) {
		s = &m->slots[i];
		if (s->hash == 0)
			break;
		if (s->hash == hash && s->key_len == len &&
		    memcmp(m->keys + s->key_off, key, len) == 0) {
			s->value = value;
			s->extra = extra;
			return s;
		}
	}
	if (m->keys == NULL || m->keys_len + len > m->keys_cap) {
		m->keys_cap = (m->keys_len + len) * 2 + 64;
		m->keys = xrealloc(m->keys, m->keys_cap);
	}
	memcpy(m->keys + m->keys_len, key, len);
	s->hash = hash;
	s->key_off = (uint32_t)m->keys_len;
	s->key_len = (uint32_t)len;
	s->value = value;
	s->extra = extra;
	m->keys_len += len;
	m->n++;
	return s;
}

/* conversation.c: a conversation in memory: creating, changing, freeing; text hygiene (UTF-8 repair);
 * deleting and renaming files. The YAML files are conv-file.c, the list conv-list.c. */
#include "conversation.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "conv-internal.h"
#include "xalloc.h"

/* ---- Text hygiene ---- */

/* Length of the valid UTF-8 character at s[0..len), or 0 when it is invalid, in which case *bad gets
 * the length of its maximal subpart (at least 1): the bytes one U+FFFD replaces, as Unicode
 * recommends, so "\xe4\xbd" (a cut character) becomes one U+FFFD, not two. NUL counts as invalid. */
static size_t conv_utf8_char(const unsigned char *s, size_t len, size_t *bad)
{
	unsigned c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	*bad = 1;
	if (c >= 0x01 && c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	/* The second byte's range excludes overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4). */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (i = 1; i < n; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/* Returns a newly allocated copy of s[0..len) in which every invalid UTF-8 sequence and every NUL byte
 * is replaced by U+FFFD, so the text can always be written as YAML. *outlen gets its length. */
static char *conv_clean(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len * 3 + 1);       /* worst case: each byte becomes 3 */
	size_t o = 0, i = 0;

	while (i < len) {
		size_t bad, n = conv_utf8_char((const unsigned char *)s + i, len - i, &bad);

		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += bad;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

static bool conv_is_clean(const char *s, size_t len)
{
	size_t i = 0, bad;

	while (i < len) {
		size_t n = conv_utf8_char((const unsigned char *)s + i, len - i, &bad);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

static void conv_set_str(char **field, const char *s, bool nullable)
{
	free(*field);
	if (s == NULL)
		*field = nullable ? NULL : xstrdup("");
	else
		*field = conv_clean(s, strlen(s), NULL);
}

void conv_text_fix(char **field, size_t *len)
{
	size_t n;
	char *c;

	if (*field == NULL)
		return;
	n = len != NULL ? *len : strlen(*field);
	if (conv_is_clean(*field, n))
		return;
	c = conv_clean(*field, n, len);
	free(*field);
	*field = c;
}

/* ---- In memory ---- */

char *conv_make_id(time_t now)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[6];
	char stamp[32], slug[7];
	struct tm tm;

	/* The random part keeps two conversations started in the same second apart. */
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		unsigned long x = (unsigned long)now ^ ((unsigned long)getpid() << 16) ^ (unsigned long)clock();

		for (size_t i = 0; i < sizeof(rnd); i++) {
			x = x * 6364136223846793005UL + 1442695040888963407UL;
			rnd[i] = (unsigned char)(x >> 33);
		}
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		slug[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
	slug[6] = '\0';
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	return xasprintf("%s-%s", stamp, slug);
}

struct conversation *conv_new(void)
{
	struct conversation *c = xcalloc(1, sizeof(*c));
	time_t now = time(NULL);

	c->id = conv_make_id(now);
	c->title = xstrdup("");
	c->created = c->updated = now;
	c->mode = PARAMS_MODE_CHAT;
	params_sampling_defaults(&c->sampling);
	return c;
}

static void conv_free_messages(struct conversation *c)
{
	for (size_t i = 0; i < c->n_msgs; i++)
		free(c->msgs[i].content);
	free(c->msgs);
	c->msgs = NULL;
	c->n_msgs = c->cap_msgs = 0;
}

void conv_free(struct conversation *c)
{
	if (c == NULL)
		return;
	conv_free_messages(c);
	free(c->path);
	free(c->id);
	free(c->title);
	free(c->profile);
	free(c->model);
	free(c->system_prompt);
	free(c->prefix);
	free(c->suffix);
	conv_disk_free(c->disk);
	free(c);
}

void conv_set_title(struct conversation *c, const char *title)
{
	conv_set_str(&c->title, title, false);
}

void conv_set_profile(struct conversation *c, const char *profile)
{
	conv_set_str(&c->profile, profile, true);
}

void conv_set_model(struct conversation *c, const char *model)
{
	conv_set_str(&c->model, model, true);
}

void conv_set_system_prompt(struct conversation *c, const char *text)
{
	conv_set_str(&c->system_prompt, text, true);
}

void conv_set_fim(struct conversation *c, const char *prefix, const char *suffix)
{
	conv_set_str(&c->prefix, prefix, true);
	conv_set_str(&c->suffix, suffix, true);
}

struct conv_message *conv_msg_push(struct conversation *c)
{
	struct conv_message *m;

	if (c->n_msgs == c->cap_msgs) {
		c->cap_msgs = c->cap_msgs ? c->cap_msgs * 2 : 16;
		c->msgs = xreallocarray(c->msgs, c->cap_msgs, sizeof(*c->msgs));
	}
	m = &c->msgs[c->n_msgs++];
	memset(m, 0, sizeof(*m));
	return m;
}

struct conv_message *conv_add_message(struct conversation *c, enum conv_role role,
				      const char *content, size_t len)
{
	struct conv_message *m = conv_msg_push(c);

	m->role = role;
	m->content = conv_clean(content != NULL ? content : "", content != NULL ? len : 0, &m->len);
	m->time = time(NULL);
	c->updated = m->time;
	return m;
}

void conv_set_last_content(struct conversation *c, const char *content, size_t len)
{
	struct conv_message *m;

	if (c->n_msgs == 0)
		return;
	m = &c->msgs[c->n_msgs - 1];
	free(m->content);
	m->content = conv_clean(content != NULL ? content : "", content != NULL ? len : 0, &m->len);
	c->updated = time(NULL);
}

void conv_append_last(struct conversation *c, const char *text, size_t len)
{
	struct conv_message *m;

	if (c->n_msgs == 0 || len == 0)
		return;
	m = &c->msgs[c->n_msgs - 1];
	/* Raw bytes: a character split over two tokens joins up here; conv_save repairs leftovers. */
	m->content = xrealloc(m->content, m->len + len + 1);
	memcpy(m->content + m->len, text, len);
	m->len += len;
	m->content[m->len] = '\0';
	c->updated = time(NULL);
}

void conv_set_last_stats(struct conversation *c, const struct conv_stats *st)
{
	struct conv_message *m;

	if (c->n_msgs == 0)
		return;
	m = &c->msgs[c->n_msgs - 1];
	m->stats = *st;
	m->stats.finish[sizeof(m->stats.finish) - 1] = '\0';
	/* YAML has no portable spelling for inf/nan; a zero-length decode can produce them. */
	if (!isfinite(m->stats.ttft_ms))
		m->stats.ttft_ms = 0;
	if (!isfinite(m->stats.decode_tps))
		m->stats.decode_tps = 0;
	m->has_stats = true;
}

void conv_remove_messages(struct conversation *c, size_t first, size_t count)
{
	if (first >= c->n_msgs || count == 0)
		return;
	if (count > c->n_msgs - first)
		count = c->n_msgs - first;
	for (size_t i = first; i < first + count; i++)
		free(c->msgs[i].content);
	memmove(c->msgs + first, c->msgs + first + count, (c->n_msgs - first - count) * sizeof(*c->msgs));
	c->n_msgs -= count;
	c->updated = time(NULL);
}

static const char *const conv_roles[] = {
	[CONV_ROLE_SYSTEM] = "system",
	[CONV_ROLE_USER] = "user",
	[CONV_ROLE_ASSISTANT] = "assistant",
};

const char *conv_role_name(enum conv_role r)
{
	if ((unsigned)r < sizeof(conv_roles) / sizeof(conv_roles[0]))
		return conv_roles[r];
	return "user";
}

void conv_format_time(time_t t, char *buf, size_t size)
{
	yu_format_time((int64_t)t, buf, size);
}

/* ---- Files ---- */

int conv_delete(const char *path, char *err, size_t errlen)
{
	if (unlink(path) != 0)
		return errorf(err, errlen, "cannot delete %s: %s", path, strerror(errno));
	return 0;
}

int conv_rename(const char *path, const char *title, char *err, size_t errlen)
{
	struct conversation *c = conv_load(path, err, errlen);
	int r;

	if (c == NULL)
		return -1;
	conv_set_title(c, title);
	r = conv_save(c, err, errlen);
	conv_free(c);
	/* Merged with another program's save in between: the rename is in, with their messages. */
	return r < 0 ? -1 : 0;
}

/* ---- Buffers ---- */

void conv_buf_add(struct conv_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void conv_buf_str(struct conv_buf *b, const char *s)
{
	conv_buf_add(b, s, strlen(s));
}

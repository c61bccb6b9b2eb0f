/* conversation.c: conversations in memory, their YAML files (save with read-back check, load with
 * FILE:LINE errors), the list of saved ones with search, and Markdown export. */
#include "conversation.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utf8proc.h>

#include "atomicio.h"
#include "paths.h"
#include "xalloc.h"
#include "yamlutil.h"

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

/* Makes *field clean in place (for save). */
static void conv_fix(char **field, size_t *len)
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

static char *conv_make_id(time_t now)
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

static struct conv_message *conv_push(struct conversation *c)
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
	struct conv_message *m = conv_push(c);

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

/* ---- YAML: reading ---- */

struct conv_parse {
	struct conversation *c;
	bool have_version;
	struct conv_message *m;     /* the message being read */
	bool have_role, have_content;
};

static int conv_stats_key(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg,
			  char *err, size_t errlen)
{
	struct conv_stats *st = arg;
	int64_t i;
	char *s = NULL;

	if (strcmp(key, "prompt_tokens") == 0 || strcmp(key, "completion_tokens") == 0) {
		if (yu_int(d, v, key, 0, INT32_MAX, &i, err, errlen))
			return -1;
		*(key[0] == 'p' ? &st->prompt_tokens : &st->completion_tokens) = (int)i;
	} else if (strcmp(key, "ttft_ms") == 0) {
		return yu_double(d, v, key, &st->ttft_ms, err, errlen);
	} else if (strcmp(key, "decode_tps") == 0) {
		return yu_double(d, v, key, &st->decode_tps, err, errlen);
	} else if (strcmp(key, "finish") == 0) {
		if (yu_str(d, v, key, true, &s, err, errlen))
			return -1;
		snprintf(st->finish, sizeof(st->finish), "%s", s != NULL ? s : "");
		free(s);
	} else {
		static const char *const known[] = { "prompt_tokens", "completion_tokens", "ttft_ms",
			"decode_tps", "finish", NULL };

		return yu_unknown_key(d, v, key, known, "stats", err, errlen);
	}
	return 0;
}

static int conv_message_key(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg,
			    char *err, size_t errlen)
{
	struct conv_parse *p = arg;
	struct conv_message *m = p->m;
	int64_t t;
	char *s = NULL;

	if (strcmp(key, "role") == 0) {
		if (yu_str(d, v, key, false, &s, err, errlen))
			return -1;
		for (size_t r = 0; r < sizeof(conv_roles) / sizeof(conv_roles[0]); r++)
			if (strcmp(s, conv_roles[r]) == 0) {
				m->role = (enum conv_role)r;
				p->have_role = true;
			}
		if (!p->have_role) {
			errorf(err, errlen, "%s:%d: role must be system, user or assistant, not \"%s\"", d->file,
			       yu_line(v), s);
			free(s);
			return -1;
		}
		free(s);
	} else if (strcmp(key, "content") == 0) {
		if (yu_text(d, v, key, &m->content, &m->len, err, errlen))
			return -1;
		p->have_content = true;
	} else if (strcmp(key, "time") == 0) {
		if (yu_time(d, v, key, &t, err, errlen))
			return -1;
		m->time = (time_t)t;
	} else if (strcmp(key, "stats") == 0) {
		if (yu_is_null(v))
			return 0;
		if (yu_map_each(d, v, "stats", conv_stats_key, &m->stats, err, errlen))
			return -1;
		m->has_stats = true;
	} else {
		static const char *const known[] = { "role", "time", "stats", "content", NULL };

		return yu_unknown_key(d, v, key, known, "a message", err, errlen);
	}
	return 0;
}

static int conv_messages(struct yu_doc *d, yaml_node_t *seq, struct conv_parse *p, char *err, size_t errlen)
{
	yaml_node_item_t *it;

	if (yu_expect_seq(d, seq, "messages", err, errlen))
		return -1;
	if (seq->type != YAML_SEQUENCE_NODE)
		return 0;
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(&d->doc, *it);

		p->m = conv_push(p->c);
		p->have_role = p->have_content = false;
		if (yu_map_each(d, n, "a message", conv_message_key, p, err, errlen))
			return -1;
		if (!p->have_role || !p->have_content)
			return errorf(err, errlen, "%s:%d: a message without %s", d->file, yu_line(n),
				      !p->have_role ? "a role" : "content");
	}
	return 0;
}

static int conv_top_key(struct yu_doc *d, const char *key, yaml_node_t *v, void *arg,
			char *err, size_t errlen)
{
	struct conv_parse *p = arg;
	struct conversation *c = p->c;
	int64_t i;
	char *s = NULL;

	if (strcmp(key, "version") == 0) {
		if (yu_int(d, v, key, 1, INT32_MAX, &i, err, errlen))
			return -1;
		if (i > CONV_FORMAT_VERSION)
			return errorf(err, errlen, "%s:%d: written by a newer dscoder-tui (format version %d; this one "
				      "reads up to %d); upgrade to open it", d->file, yu_line(v), (int)i,
				      CONV_FORMAT_VERSION);
		p->have_version = true;
	} else if (strcmp(key, "title") == 0) {
		if (yu_str(d, v, key, true, &c->title, err, errlen))
			return -1;
		if (c->title == NULL)
			c->title = xstrdup("");
	} else if (strcmp(key, "created") == 0 || strcmp(key, "updated") == 0) {
		if (yu_time(d, v, key, &i, err, errlen))
			return -1;
		*(key[0] == 'c' ? &c->created : &c->updated) = (time_t)i;
	} else if (strcmp(key, "profile") == 0) {
		return yu_str(d, v, key, true, &c->profile, err, errlen);
	} else if (strcmp(key, "mode") == 0) {
		if (yu_str(d, v, key, false, &s, err, errlen))
			return -1;
		if (params_mode_parse(s, &c->mode) != 0) {
			errorf(err, errlen, "%s:%d: mode must be chat, completion or fim, not \"%s\"", d->file,
			       yu_line(v), s);
			free(s);
			return -1;
		}
		free(s);
	} else if (strcmp(key, "model") == 0) {
		return yu_str(d, v, key, true, &c->model, err, errlen);
	} else if (strcmp(key, "sampling") == 0) {
		return yu_sampling(d, v, &c->sampling, err, errlen);
	} else if (strcmp(key, "system_prompt") == 0) {
		return yu_str(d, v, key, true, &c->system_prompt, err, errlen);
	} else if (strcmp(key, "prefix") == 0) {
		return yu_str(d, v, key, true, &c->prefix, err, errlen);
	} else if (strcmp(key, "suffix") == 0) {
		return yu_str(d, v, key, true, &c->suffix, err, errlen);
	} else if (strcmp(key, "messages") == 0) {
		return conv_messages(d, v, p, err, errlen);
	} else {
		return errorf(err, errlen, "%s:%d: unknown key \"%s\"; this does not look like a dscoder-tui "
			      "conversation", d->file, d->key_line, key);
	}
	return 0;
}

/* Parses a conversation from buf; `file` names it in messages. The result has no path. */
static struct conversation *conv_parse(const char *file, const char *buf, size_t len, char *err, size_t errlen)
{
	struct yu_doc d;
	struct conv_parse p;
	struct conversation *c;
	yaml_node_t *root;
	const char *base;

	if (yu_load(&d, file, buf, len, err, errlen) != 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->mode = PARAMS_MODE_CHAT;
	params_sampling_defaults(&c->sampling);
	memset(&p, 0, sizeof(p));
	p.c = c;
	root = yu_root(&d);
	if (root == NULL) {
		errorf(err, errlen, "%s:1: the file is empty, not a dscoder-tui conversation", file);
		goto fail;
	}
	if (root->type != YAML_MAPPING_NODE) {
		errorf(err, errlen, "%s:%d: not a dscoder-tui conversation (the file is not a mapping of keys)",
		       file, yu_line(root));
		goto fail;
	}
	if (yu_map_each(&d, root, "the conversation", conv_top_key, &p, err, errlen) != 0)
		goto fail;
	if (!p.have_version) {
		errorf(err, errlen, "%s:%d: not a dscoder-tui conversation (no \"version\" key)", file, yu_line(root));
		goto fail;
	}
	yu_free(&d);
	if (c->title == NULL)
		c->title = xstrdup("");
	base = strrchr(file, '/');
	base = base != NULL ? base + 1 : file;
	c->id = xstrdup(base);
	if (strlen(c->id) > 5 && strcmp(c->id + strlen(c->id) - 5, ".yaml") == 0)
		c->id[strlen(c->id) - 5] = '\0';
	return c;
fail:
	yu_free(&d);
	conv_free(c);
	return NULL;
}

struct conversation *conv_load(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *buf = atomicio_read(path, CONV_MAX_FILE_SIZE, &len, err, errlen);
	struct conversation *c;
	struct stat st;

	if (buf == NULL)
		return NULL;
	c = conv_parse(path, buf, len, err, errlen);
	free(buf);
	if (c == NULL)
		return NULL;
	c->path = xstrdup(path);
	/* A hand-written file may lack timestamps: its mtime is the best guess. */
	if ((c->created == 0 || c->updated == 0) && stat(path, &st) == 0) {
		if (c->updated == 0)
			c->updated = st.st_mtime;
		if (c->created == 0)
			c->created = c->updated;
	}
	return c;
}

/* ---- YAML: writing ---- */

static bool conv_text_needs_quotes(const char *s, size_t len)
{
	/* YAML readers turn CR and CRLF inside a block scalar into LF, and NEL/LS/PS are line breaks
	 * too: such text only survives in double quotes, where they are escaped. */
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r')
			return true;
		if (ch == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] == 0x85)
			return true;
		if (ch == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
			return true;
	}
	return false;
}

/* libyaml's emitter is stricter than YAML: it will not put a tab, a space at the end of a line or a
 * character outside the Basic Multilingual Plane (emoji) into a block literal, and switches the whole
 * text to an escaped double-quoted string, unreadable for code indented with tabs. YAML allows all
 * three in a literal, so they are handed to libyaml as private-use stand-ins it accepts (code points
 * the conversation does not use) and swapped back in its output. conv_save's read-back check still
 * decides: a text that does not come back the same is written in double quotes. */
#define CONV_PUA_FIRST 0xe000u
#define CONV_PUA_COUNT 6400u        /* U+E000..U+F8FF */
#define CONV_LEADING_TAB 0x110000u  /* not a code point: the space + stand-in pair of a first tab */

struct conv_subst {
	uint32_t orig[CONV_PUA_COUNT];  /* stand-in index -> original code point; 0: free */
	bool taken[CONV_PUA_COUNT];     /* used by the conversation itself, or assigned */
	unsigned next;
	uint32_t tab, space, lead_tab;  /* stand-ins for '\t', a line-final ' ', a first tab (0: none yet) */
	bool any;
};

static uint32_t conv_decode(const unsigned char *s, size_t *n)
{
	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if (s[0] < 0xe0) {
		*n = 2;
		return ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
	}
	if (s[0] < 0xf0) {
		*n = 3;
		return ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
	}
	*n = 4;
	return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
	       ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
}

static void conv_subst_mark(struct conv_subst *t, const char *s)
{
	size_t n;

	for (const unsigned char *p = (const unsigned char *)s; s != NULL && *p; p += n) {
		uint32_t cp = conv_decode(p, &n);

		if (cp >= CONV_PUA_FIRST && cp < CONV_PUA_FIRST + CONV_PUA_COUNT)
			t->taken[cp - CONV_PUA_FIRST] = true;
	}
}

/* A free stand-in for cp, or 0 when all are taken. */
static uint32_t conv_subst_new(struct conv_subst *t, uint32_t cp)
{
	while (t->next < CONV_PUA_COUNT && t->taken[t->next])
		t->next++;
	if (t->next == CONV_PUA_COUNT)
		return 0;
	t->taken[t->next] = true;
	t->orig[t->next] = cp;
	t->any = true;
	return CONV_PUA_FIRST + t->next++;
}

static uint32_t conv_subst_for(struct conv_subst *t, uint32_t cp)
{
	if (cp == '\t')
		return t->tab != 0 ? t->tab : (t->tab = conv_subst_new(t, cp));
	if (cp == ' ')
		return t->space != 0 ? t->space : (t->space = conv_subst_new(t, cp));
	if (cp == CONV_LEADING_TAB)
		return t->lead_tab != 0 ? t->lead_tab : (t->lead_tab = conv_subst_new(t, cp));
	for (unsigned i = 0; i < t->next; i++)
		if (t->orig[i] == cp)
			return CONV_PUA_FIRST + i;
	return conv_subst_new(t, cp);
}

/* s with its tabs, line-final spaces and non-BMP characters replaced by stand-ins; NULL when the
 * stand-ins ran out. Caller frees. */
static char *conv_subst_apply(struct conv_subst *t, const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len * 3 + 2);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, n;

	/* A first tab: libyaml writes an indentation indicator only for a text that starts with a space,
	 * and a block whose first line starts with a tab needs one. So the text starts with a real space
	 * followed by a stand-in that means "this space and I are one tab". */
	if (len > 0 && p[0] == '\t') {
		uint32_t ph = conv_subst_for(t, CONV_LEADING_TAB);

		if (ph == 0) {
			free(out);
			return NULL;
		}
		out[o++] = ' ';
		out[o++] = (char)(0xe0 | (ph >> 12));
		out[o++] = (char)(0x80 | ((ph >> 6) & 0x3f));
		out[o++] = (char)(0x80 | (ph & 0x3f));
		i = 1;
	}
	while (i < len) {
		uint32_t cp = conv_decode(p + i, &n), ph = 0;

		if (cp == ' ') {
			size_t j = i;

			while (j < len && p[j] == ' ')
				j++;
			if (j == len || p[j] == '\n')
				ph = conv_subst_for(t, ' ');
			else
				ph = ' ';
		} else if (cp == '\t' || cp >= 0x10000) {
			ph = conv_subst_for(t, cp);
		} else {
			ph = cp;
		}
		if (ph == 0) {
			free(out);
			return NULL;
		}
		if (ph == cp) {
			memcpy(out + o, p + i, n);
			o += n;
		} else {
			out[o++] = (char)(0xe0 | (ph >> 12));
			out[o++] = (char)(0x80 | ((ph >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (ph & 0x3f));
		}
		i += n;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Swaps the stand-ins in libyaml's output back; returns a new buffer (caller frees). */
static char *conv_subst_undo(const struct conv_subst *t, const char *buf, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + len / 3 + 1);     /* 3-byte stand-ins become at most 4 bytes */
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0, o = 0, n;

	while (i < len) {
		uint32_t cp = conv_decode(p + i, &n), orig;

		if (cp >= CONV_PUA_FIRST && cp < CONV_PUA_FIRST + CONV_PUA_COUNT &&
		    (orig = t->orig[cp - CONV_PUA_FIRST]) != 0) {
			if (orig == CONV_LEADING_TAB) {
				if (o > 0 && out[o - 1] == ' ')
					o--;
				out[o++] = '\t';
			} else if (orig < 0x80) {
				out[o++] = (char)orig;
			} else {
				out[o++] = (char)(0xf0 | (orig >> 18));
				out[o++] = (char)(0x80 | ((orig >> 12) & 0x3f));
				out[o++] = (char)(0x80 | ((orig >> 6) & 0x3f));
				out[o++] = (char)(0x80 | (orig & 0x3f));
			}
		} else {
			memcpy(out + o, p + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static void conv_emit_text(struct yu_emitter *e, struct conv_subst *t, const char *s, bool quoted)
{
	size_t len = strlen(s), sublen;
	char *sub;

	/* A stand-in for a space first in the text would hide from libyaml that the block needs an
	 * indentation indicator: the swapped-back block would not parse. (A first tab is handled by
	 * conv_subst_apply.) */
	if (quoted || conv_text_needs_quotes(s, len) ||
	    (s[0] == ' ' && len == strspn(s, " ")) || (s[0] == ' ' && s[strspn(s, " ")] == '\n')) {
		yu_emit_text(e, s, len, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
		return;
	}
	sub = conv_subst_apply(t, s, len, &sublen);
	if (sub == NULL) {
		yu_emit_text(e, s, len, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
		return;
	}
	yu_emit_text(e, sub, sublen, YAML_LITERAL_SCALAR_STYLE);
	free(sub);
}

/* quoted[i] forces message i to double quotes (a literal block that did not read back the same). */
static int conv_emit(const struct conversation *c, const bool *quoted, bool quote_top, char **out,
		     size_t *len, char *err, size_t errlen)
{
	static const char header[] = "# dscoder-tui conversation; format: man 5 dscoder-tui\n";
	struct yu_emitter e;
	struct conv_subst *t = xcalloc(1, sizeof(*t));
	char *body;
	size_t n;

	conv_subst_mark(t, c->title);
	conv_subst_mark(t, c->profile);
	conv_subst_mark(t, c->model);
	conv_subst_mark(t, c->system_prompt);
	conv_subst_mark(t, c->prefix);
	conv_subst_mark(t, c->suffix);
	for (size_t i = 0; i < c->n_msgs; i++)
		conv_subst_mark(t, c->msgs[i].content);
	yu_emit_begin(&e);
	yu_emit_map_start(&e);
	yu_emit_key(&e, "version");
	yu_emit_int(&e, CONV_FORMAT_VERSION);
	yu_emit_key(&e, "title");
	yu_emit_str(&e, c->title);
	yu_emit_key(&e, "created");
	yu_emit_time(&e, c->created);
	yu_emit_key(&e, "updated");
	yu_emit_time(&e, c->updated);
	yu_emit_key(&e, "profile");
	yu_emit_str(&e, c->profile);
	yu_emit_key(&e, "mode");
	yu_emit_str(&e, params_mode_name(c->mode));
	yu_emit_key(&e, "model");
	yu_emit_str(&e, c->model);
	yu_emit_key(&e, "sampling");
	yu_emit_sampling(&e, &c->sampling);
	yu_emit_key(&e, "system_prompt");
	if (c->system_prompt != NULL)
		conv_emit_text(&e, t, c->system_prompt, quote_top);
	else
		yu_emit_str(&e, NULL);
	if (c->prefix != NULL && c->suffix != NULL) {
		yu_emit_key(&e, "prefix");
		conv_emit_text(&e, t, c->prefix, quote_top);
		yu_emit_key(&e, "suffix");
		conv_emit_text(&e, t, c->suffix, quote_top);
	}
	yu_emit_key(&e, "messages");
	yu_emit_seq_start(&e);
	for (size_t i = 0; i < c->n_msgs; i++) {
		const struct conv_message *m = &c->msgs[i];

		yu_emit_map_start(&e);
		yu_emit_key(&e, "role");
		yu_emit_str(&e, conv_role_name(m->role));
		yu_emit_key(&e, "time");
		yu_emit_time(&e, m->time);
		if (m->has_stats) {
			yu_emit_key(&e, "stats");
			yu_emit_map_start(&e);
			yu_emit_key(&e, "prompt_tokens");
			yu_emit_int(&e, m->stats.prompt_tokens);
			yu_emit_key(&e, "completion_tokens");
			yu_emit_int(&e, m->stats.completion_tokens);
			yu_emit_key(&e, "ttft_ms");
			yu_emit_double(&e, m->stats.ttft_ms);
			yu_emit_key(&e, "decode_tps");
			yu_emit_double(&e, m->stats.decode_tps);
			yu_emit_key(&e, "finish");
			yu_emit_str(&e, m->stats.finish);
			yu_emit_map_end(&e);
		}
		yu_emit_key(&e, "content");
		conv_emit_text(&e, t, m->content, quoted != NULL && quoted[i]);
		yu_emit_map_end(&e);
	}
	yu_emit_seq_end(&e);
	yu_emit_map_end(&e);
	if (yu_emit_end(&e, &body, &n, err, errlen) != 0) {
		free(t);
		return -1;
	}
	if (t->any) {
		char *swapped = conv_subst_undo(t, body, n, &n);

		free(body);
		body = swapped;
	}
	free(t);
	*out = xmalloc(sizeof(header) - 1 + n + 1);
	memcpy(*out, header, sizeof(header) - 1);
	memcpy(*out + sizeof(header) - 1, body, n + 1);
	*len = sizeof(header) - 1 + n;
	free(body);
	return 0;
}

static bool conv_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool conv_msg_eq(const struct conv_message *a, const struct conv_message *b)
{
	return a->role == b->role && a->len == b->len && memcmp(a->content, b->content, a->len) == 0 &&
	       a->time == b->time && a->has_stats == b->has_stats &&
	       (!a->has_stats || (a->stats.prompt_tokens == b->stats.prompt_tokens &&
				  a->stats.completion_tokens == b->stats.completion_tokens &&
				  a->stats.ttft_ms == b->stats.ttft_ms &&
				  a->stats.decode_tps == b->stats.decode_tps &&
				  strcmp(a->stats.finish, b->stats.finish) == 0));
}

/* Compares what was read back with the original; returns a description of the first difference, or
 * NULL. Message differences set bad[i]. */
static const char *conv_diff(const struct conversation *a, const struct conversation *b, bool *bad,
			     bool *bad_top)
{
	const char *what = NULL;
	const struct params_sampling *s = &a->sampling, *t = &b->sampling;

	if (!conv_str_eq(a->title, b->title))
		what = "the title";
	else if (a->created != b->created || a->updated != b->updated)
		what = "a timestamp";
	else if (!conv_str_eq(a->profile, b->profile) || !conv_str_eq(a->model, b->model) || a->mode != b->mode)
		what = "the profile, model or mode";
	else if (s->temperature != t->temperature || s->top_k != t->top_k || s->top_p != t->top_p ||
		 s->min_p != t->min_p || s->repetition_penalty != t->repetition_penalty ||
		 s->max_tokens != t->max_tokens || s->seed != t->seed)
		what = "the sampling parameters";
	else if (a->n_msgs != b->n_msgs)
		what = "the number of messages";
	if (what != NULL)
		return what;
	if (!conv_str_eq(a->system_prompt, b->system_prompt) || !conv_str_eq(a->prefix, b->prefix) ||
	    !conv_str_eq(a->suffix, b->suffix)) {
		*bad_top = true;
		what = "the system prompt or the prefix/suffix";
	}
	for (size_t i = 0; i < a->n_msgs; i++) {
		if (!conv_msg_eq(&a->msgs[i], &b->msgs[i])) {
			bad[i] = true;
			what = "a message";
		}
	}
	return what;
}

/* Whether c (with the given quoting) emits YAML that parses. */
static bool conv_emits_parsable(const struct conversation *c, const bool *quoted, bool quote_top)
{
	char *buf, perr[64];
	size_t len;
	struct conversation *back;

	if (conv_emit(c, quoted, quote_top, &buf, &len, NULL, 0) != 0)
		return false;
	back = conv_parse(c->path != NULL ? c->path : "-", buf, len, perr, sizeof(perr));
	free(buf);
	conv_free(back);
	return back != NULL;
}

/* Marks each text that, emitted alone in its place, does not parse. */
static void conv_find_unparsable(const struct conversation *c, bool *quoted, bool *quote_top)
{
	struct conversation one = *c;  /* shallow: shares every string, frees nothing */
	bool q = false;

	one.n_msgs = 0;
	if (!conv_emits_parsable(&one, NULL, false))
		*quote_top = true;
	one.n_msgs = 1;
	for (size_t i = 0; i < c->n_msgs; i++) {
		one.msgs = &c->msgs[i];
		if (!quoted[i] && !conv_emits_parsable(&one, &q, *quote_top))
			quoted[i] = true;
	}
}

int conv_save(struct conversation *c, char *err, size_t errlen)
{
	char *buf = NULL, *dir;
	size_t len;
	bool *quoted;
	bool quote_top = false;
	const char *diff = NULL;
	int ret = -1;

	if (c->path == NULL) {
		dir = paths_conversations_dir(1, err, errlen);
		if (dir == NULL)
			return -1;
		c->path = xasprintf("%s/%s.yaml", dir, c->id);
		free(dir);
	}
	/* Text that came in raw (streamed appends) may still hold broken UTF-8: YAML cannot. */
	conv_fix(&c->title, NULL);
	conv_fix(&c->profile, NULL);
	conv_fix(&c->model, NULL);
	conv_fix(&c->system_prompt, NULL);
	conv_fix(&c->prefix, NULL);
	conv_fix(&c->suffix, NULL);
	for (size_t i = 0; i < c->n_msgs; i++)
		conv_fix(&c->msgs[i].content, &c->msgs[i].len);
	/* The file has both fim fields or neither. */
	if (c->prefix != NULL || c->suffix != NULL || c->mode == PARAMS_MODE_FIM) {
		if (c->prefix == NULL)
			c->prefix = xstrdup("");
		if (c->suffix == NULL)
			c->suffix = xstrdup("");
	}

	/* Emit, read back, compare. Block literals are what people want to read, but libyaml and the
	 * YAML spec have corners (trailing spaces on the last line, leading blank lines, unusual line
	 * breaks) where a literal does not give the same text back: those texts are written again in
	 * double quotes, which always round-trip. */
	quoted = xcalloc(c->n_msgs + 1, sizeof(*quoted));
	for (int attempt = 0; attempt < 4; attempt++) {
		struct conversation *back;
		char perr[512];

		free(buf);
		buf = NULL;
		if (conv_emit(c, quoted, quote_top, &buf, &len, err, errlen) != 0) {
			errorf(err, errlen, "cannot save %s: a text cannot be written as YAML", c->path);
			goto out;
		}
		back = conv_parse(c->path, buf, len, perr, sizeof(perr));
		if (back == NULL) {
			/* Find the texts that break the document by trying each alone; as a last resort quote
			 * them all, which always works. */
			if (attempt == 0) {
				conv_find_unparsable(c, quoted, &quote_top);
				diff = "the document";
				continue;
			}
			if (attempt == 1) {
				for (size_t i = 0; i < c->n_msgs; i++)
					quoted[i] = true;
				quote_top = true;
				diff = "the document";
				continue;
			}
			errorf(err, errlen, "cannot save %s: the YAML written does not read back (%s); please report "
			       "this", c->path, perr);
			goto out;
		}
		diff = conv_diff(c, back, quoted, &quote_top);
		conv_free(back);
		if (diff == NULL)
			break;
	}
	if (diff != NULL) {
		errorf(err, errlen, "cannot save %s: %s would not read back the same; please report this",
		       c->path, diff);
		goto out;
	}
	ret = atomicio_write(c->path, buf, len, 0600, err, errlen);
out:
	free(quoted);
	free(buf);
	return ret;
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
	return r;
}

/* ---- Markdown ---- */

struct conv_buf {
	char *p;
	size_t len, cap;
};

static void conv_buf_add(struct conv_buf *b, const char *s, size_t n)
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

static void conv_buf_str(struct conv_buf *b, const char *s)
{
	conv_buf_add(b, s, strlen(s));
}

/* Text inside a fence longer than any run of backticks in it, so the text cannot close it early. */
static void conv_buf_fenced(struct conv_buf *b, const char *text)
{
	size_t run = 0, longest = 0, n = strlen(text);
	char fence[64];

	for (size_t i = 0; i < n; i++) {
		run = text[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	if (longest < 3)
		longest = 3;
	else
		longest++;
	if (longest > sizeof(fence) - 1)
		longest = sizeof(fence) - 1;
	memset(fence, '`', longest);
	fence[longest] = '\0';
	conv_buf_str(b, fence);
	conv_buf_str(b, "\n");
	conv_buf_add(b, text, n);
	if (n > 0 && text[n - 1] != '\n')
		conv_buf_str(b, "\n");
	conv_buf_str(b, fence);
	conv_buf_str(b, "\n\n");
}

static void conv_buf_section(struct conv_buf *b, const char *heading, const char *text, size_t n)
{
	conv_buf_str(b, "## ");
	conv_buf_str(b, heading);
	conv_buf_str(b, "\n\n");
	/* Content is already Markdown (code fences and all): copied byte for byte. */
	conv_buf_add(b, text, n);
	if (n > 0 && text[n - 1] != '\n')
		conv_buf_str(b, "\n");
	conv_buf_str(b, "\n");
}

int conv_export_markdown(const struct conversation *c, const char *path, char *err, size_t errlen)
{
	static const char *const headings[] = {
		[CONV_ROLE_SYSTEM] = "System", [CONV_ROLE_USER] = "User", [CONV_ROLE_ASSISTANT] = "Assistant",
	};
	struct conv_buf b = { 0 };
	char when[40];
	char *line;
	int r;

	conv_format_time(c->updated, when, sizeof(when));
	conv_buf_str(&b, "# ");
	conv_buf_str(&b, c->title[0] != '\0' ? c->title : "Conversation");
	conv_buf_str(&b, "\n\n");
	line = xasprintf("*dscoder-tui, %s mode%s%s%s%s, %s*\n\n", params_mode_name(c->mode),
			 c->profile ? ", profile " : "", c->profile ? c->profile : "",
			 c->model ? ", model " : "", c->model ? c->model : "", when);
	conv_buf_str(&b, line);
	free(line);
	if (c->system_prompt != NULL && c->system_prompt[0] != '\0')
		conv_buf_section(&b, "System prompt", c->system_prompt, strlen(c->system_prompt));
	if (c->mode == PARAMS_MODE_FIM || c->prefix != NULL || c->suffix != NULL) {
		conv_buf_str(&b, "## Prefix\n\n");
		conv_buf_fenced(&b, c->prefix != NULL ? c->prefix : "");
		conv_buf_str(&b, "## Suffix\n\n");
		conv_buf_fenced(&b, c->suffix != NULL ? c->suffix : "");
	}
	for (size_t i = 0; i < c->n_msgs; i++) {
		const struct conv_message *m = &c->msgs[i];
		const char *h = (unsigned)m->role < 3 ? headings[m->role] : "User";

		if (c->mode == PARAMS_MODE_FIM && m->role == CONV_ROLE_ASSISTANT) {
			/* The answer is code for the hole, not Markdown. */
			conv_buf_str(&b, "## Middle\n\n");
			conv_buf_fenced(&b, m->content);
		} else if (c->mode == PARAMS_MODE_COMPLETION) {
			conv_buf_str(&b, m->role == CONV_ROLE_ASSISTANT ? "## Completion\n\n" : "## Prompt\n\n");
			conv_buf_fenced(&b, m->content);
		} else {
			conv_buf_section(&b, h, m->content, m->len);
		}
		if (m->has_stats) {
			line = xasprintf("*%d prompt tokens, %d generated, first token after %.0f ms, %.1f tokens/s, "
					 "finish: %s*\n\n", m->stats.prompt_tokens, m->stats.completion_tokens,
					 m->stats.ttft_ms, m->stats.decode_tps,
					 m->stats.finish[0] ? m->stats.finish : "?");
			conv_buf_str(&b, line);
			free(line);
		}
	}
	r = atomicio_write(path, b.p, b.len, 0600, err, errlen);
	free(b.p);
	return r;
}

/* ---- The list ---- */

/* Case-folded copy for case-insensitive matching (Straße finds STRASSE). ASCII is folded here, only
 * runs of other characters go through utf8proc: most text is ASCII and utf8proc_map is slow on
 * megabytes. The text and the query are folded the same way, so they compare. */
static char *conv_fold(const char *s, size_t len)
{
	struct conv_buf b = { 0 };
	size_t i = 0;

	conv_buf_add(&b, "", 0);
	while (i < len) {
		size_t j = i;

		while (j < len && !((unsigned char)s[j] & 0x80))
			j++;
		if (j > i) {
			size_t start = b.len;

			conv_buf_add(&b, s + i, j - i);
			for (size_t k = start; k < b.len; k++)
				if (b.p[k] >= 'A' && b.p[k] <= 'Z')
					b.p[k] = (char)(b.p[k] - 'A' + 'a');
			i = j;
		}
		while (j < len && ((unsigned char)s[j] & 0x80))
			j++;
		if (j > i) {
			utf8proc_uint8_t *out = NULL;
			utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(j - i),
							  &out, UTF8PROC_CASEFOLD | UTF8PROC_STABLE);

			if (n >= 0)
				conv_buf_add(&b, (const char *)out, (size_t)n);
			else
				conv_buf_add(&b, s + i, j - i);
			free(out);
			i = j;
		}
	}
	return b.p;
}

static void conv_entry_search_text(struct conv_entry *en, const struct conversation *c)
{
	struct conv_buf b = { 0 };
	char *folded;

	/* A broken file has nothing else to be found by than its name. */
	conv_buf_str(&b, c != NULL ? c->title : en->id);
	if (c != NULL) {
		for (size_t i = 0; i < c->n_msgs; i++) {
			/* A separator no one types, so a match cannot span two messages. */
			conv_buf_str(&b, "\x1f");
			conv_buf_add(&b, c->msgs[i].content, c->msgs[i].len);
		}
	}
	folded = conv_fold(b.p, b.len);
	free(b.p);
	if (folded == NULL)
		folded = xstrdup("");
	en->search_text = folded;
}

static int conv_entry_cmp(const void *pa, const void *pb)
{
	const struct conv_entry *a = pa, *b = pb;

	if (a->updated != b->updated)
		return a->updated > b->updated ? -1 : 1;
	return strcmp(b->id, a->id);
}

int conv_list(const char *dir, struct conv_list *out, char *err, size_t errlen)
{
	char *d = dir != NULL ? xstrdup(dir) : paths_conversations_dir(0, err, errlen);
	DIR *dp;
	struct dirent *de;
	size_t cap = 0;

	out->v = NULL;
	out->n = 0;
	if (d == NULL)
		return -1;
	dp = opendir(d);
	if (dp == NULL) {
		int e = errno;

		if (e == ENOENT) {
			free(d);
			return 0;
		}
		errorf(err, errlen, "cannot read the conversations directory %s: %s", d, strerror(e));
		free(d);
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t nl = strlen(de->d_name);
		struct conv_entry *en;
		struct conversation *c;
		struct stat st;
		char lerr[512];

		/* Dot files are our own temp files (or not ours at all). */
		if (de->d_name[0] == '.' || nl <= 5 || strcmp(de->d_name + nl - 5, ".yaml") != 0)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 32;
			out->v = xreallocarray(out->v, cap, sizeof(*out->v));
		}
		en = &out->v[out->n];
		memset(en, 0, sizeof(*en));
		en->path = xasprintf("%s/%s", d, de->d_name);
		if (stat(en->path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(en->path);
			continue;
		}
		out->n++;
		en->id = xstrndup(de->d_name, nl - 5);
		c = conv_load(en->path, lerr, sizeof(lerr));
		if (c == NULL) {
			en->error = xstrdup(lerr);
			en->title = xstrdup("");
			en->updated = st.st_mtime;
		} else {
			en->title = xstrdup(c->title);
			en->updated = c->updated;
			en->n_messages = c->n_msgs;
		}
		conv_entry_search_text(en, c);
		conv_free(c);
	}
	closedir(dp);
	free(d);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), conv_entry_cmp);
	return 0;
}

void conv_list_free(struct conv_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].id);
		free(l->v[i].title);
		free(l->v[i].error);
		free(l->v[i].search_text);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void conv_list_update(struct conv_list *l, const struct conversation *c)
{
	struct conv_entry *en = NULL;

	if (c->path == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].path, c->path) == 0) {
			en = &l->v[i];
			free(en->path);
			free(en->id);
			free(en->title);
			free(en->error);
			free(en->search_text);
			break;
		}
	}
	if (en == NULL) {
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		en = &l->v[l->n++];
	}
	memset(en, 0, sizeof(*en));
	en->path = xstrdup(c->path);
	en->id = xstrdup(c->id);
	en->title = xstrdup(c->title);
	en->updated = c->updated;
	en->n_messages = c->n_msgs;
	conv_entry_search_text(en, c);
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), conv_entry_cmp);
}

size_t conv_search(const struct conv_list *l, const char *text, size_t *idx)
{
	char *q = conv_fold(text, strlen(text));
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++) {
		const char *hay = l->v[i].search_text != NULL ? l->v[i].search_text : "";

		if (q[0] == '\0' || strstr(hay, q) != NULL)
			idx[n++] = i;
	}
	free(q);
	return n;
}

/* conv-file.c: a conversation as a YAML file: reading with FILE:LINE errors, and saving atomically
 * after checking that what is written reads back the same. */
#include "conversation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicio.h"
#include "conv-internal.h"
#include "paths.h"
#include "xalloc.h"
#include "yamlutil.h"

static void conv_disk_note(struct conversation *c, const struct stat *st);

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
		for (int r = CONV_ROLE_SYSTEM; r <= CONV_ROLE_ASSISTANT; r++)
			if (strcmp(s, conv_role_name((enum conv_role)r)) == 0) {
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

		p->m = conv_msg_push(p->c);
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
	struct stat st;
	/* Before reading: should the file change in between, the next save reads it again. */
	bool have_st = stat(path, &st) == 0;
	char *buf = atomicio_read(path, CONV_MAX_FILE_SIZE, &len, err, errlen);
	struct conversation *c;

	if (buf == NULL)
		return NULL;
	c = conv_parse(path, buf, len, err, errlen);
	free(buf);
	if (c == NULL)
		return NULL;
	c->path = xstrdup(path);
	if (have_st)
		conv_disk_note(c, &st);
	/* A hand-written file may lack timestamps: its mtime is the best guess. */
	if ((c->created == 0 || c->updated == 0) && have_st) {
		if (c->updated == 0)
			c->updated = st.st_mtime;
		if (c->created == 0)
			c->created = c->updated;
	}
	return c;
}

/* ---- YAML: writing ---- */

/* quoted[i] forces message i to double quotes (a literal block that did not read back the same). */
static int conv_emit(const struct conversation *c, const bool *quoted, bool quote_top, char **out,
		     size_t *len, char *err, size_t errlen)
{
	static const char header[] = "# dscoder-tui conversation; format: man 5 dscoder-tui\n";
	struct yu_emitter e;
	struct conv_literal *t = conv_literal_new(c);
	char *body;
	size_t n;

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
		conv_literal_emit(&e, t, c->system_prompt, quote_top);
	else
		yu_emit_str(&e, NULL);
	if (c->prefix != NULL && c->suffix != NULL) {
		yu_emit_key(&e, "prefix");
		conv_literal_emit(&e, t, c->prefix, quote_top);
		yu_emit_key(&e, "suffix");
		conv_literal_emit(&e, t, c->suffix, quote_top);
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
			/* A figure never measured (an answer cut before its first token, or before a
			 * second) is left out rather than written as a 0 that reads like a measurement. */
			if (m->stats.ttft_ms > 0) {
				yu_emit_key(&e, "ttft_ms");
				yu_emit_double(&e, m->stats.ttft_ms);
			}
			if (m->stats.decode_tps > 0) {
				yu_emit_key(&e, "decode_tps");
				yu_emit_double(&e, m->stats.decode_tps);
			}
			yu_emit_key(&e, "finish");
			yu_emit_str(&e, m->stats.finish);
			yu_emit_map_end(&e);
		}
		yu_emit_key(&e, "content");
		conv_literal_emit(&e, t, m->content, quoted != NULL && quoted[i]);
		yu_emit_map_end(&e);
	}
	yu_emit_seq_end(&e);
	yu_emit_map_end(&e);
	if (yu_emit_end(&e, &body, &n, err, errlen) != 0) {
		free(conv_literal_finish(t, NULL, &n));
		return -1;
	}
	body = conv_literal_finish(t, body, &n);
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

/* ---- Other writers ---- */

/* Two TUIs may have the same conversation open; each save replaces the whole file, so without care
 * the last one wins and the other's turns vanish. conv_load and conv_save remember the file's
 * identity and messages; before writing, conv_save looks whether the file is still the one it
 * remembers and, if not, merges what the other side added, or saves this side as a new
 * conversation. The check and the write hold an flock on the directory, so two saves do not
 * interleave. */

/* A message as it was in the file, enough to tell later whether either side changed it: a message
 * keeps its role and time (streaming only extends it); its content and stats hash to hash. */
struct conv_disk_msg {
	enum conv_role role;
	time_t time;
	uint64_t hash;
};

struct conv_disk {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint64_t title;             /* hash of the title */
	struct conv_disk_msg *msgs;
	size_t n;
};

void conv_disk_free(struct conv_disk *k)
{
	if (k == NULL)
		return;
	free(k->msgs);
	free(k);
}

/* FNV-1a, 64 bits: not for security (both sides are the user's own), only to see a change. */
static uint64_t conv_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define CONV_HASH_SEED 0xcbf29ce484222325ULL

static uint64_t conv_msg_hash(const struct conv_message *m)
{
	uint64_t h = conv_hash(CONV_HASH_SEED, m->content, m->len);
	unsigned char has = m->has_stats;

	h = conv_hash(h, &has, 1);
	if (m->has_stats) {
		h = conv_hash(h, &m->stats.prompt_tokens, sizeof(m->stats.prompt_tokens));
		h = conv_hash(h, &m->stats.completion_tokens, sizeof(m->stats.completion_tokens));
		h = conv_hash(h, &m->stats.ttft_ms, sizeof(m->stats.ttft_ms));
		h = conv_hash(h, &m->stats.decode_tps, sizeof(m->stats.decode_tps));
		h = conv_hash(h, m->stats.finish, strnlen(m->stats.finish, sizeof(m->stats.finish)));
	}
	return h;
}

static uint64_t conv_title_hash(const struct conversation *c)
{
	return conv_hash(CONV_HASH_SEED, c->title, strlen(c->title));
}

/* Remembers that c->path, with identity st, holds c as it is now. */
static void conv_disk_note(struct conversation *c, const struct stat *st)
{
	struct conv_disk *k = c->disk;

	if (k == NULL)
		k = c->disk = xcalloc(1, sizeof(*k));
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = st->st_size;
	k->mtime = st->st_mtim;
	k->title = conv_title_hash(c);
	free(k->msgs);
	k->msgs = xcalloc(c->n_msgs + 1, sizeof(*k->msgs));
	k->n = c->n_msgs;
	for (size_t i = 0; i < c->n_msgs; i++) {
		k->msgs[i].role = c->msgs[i].role;
		k->msgs[i].time = c->msgs[i].time;
		k->msgs[i].hash = conv_msg_hash(&c->msgs[i]);
	}
}

/* Whether st is the file k remembers: every save makes a new inode (temp + rename), and an editor
 * that writes in place changes the size or the mtime. */
static bool conv_disk_same(const struct conv_disk *k, const struct stat *st)
{
	return k->dev == st->st_dev && k->ino == st->st_ino && k->size == st->st_size &&
	       k->mtime.tv_sec == st->st_mtim.tv_sec && k->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void conv_msg_copy(struct conv_message *dst, const struct conv_message *src)
{
	free(dst->content);
	*dst = *src;
	dst->content = xmalloc(src->len + 1);
	memcpy(dst->content, src->content, src->len + 1);
}

/* Merges theirs (the file as another program saved it after c's record of it, c->disk) into c: the
 * messages both had stay where they are (the one side changed, streamed further or given its stats,
 * wins), theirs' new ones follow, then c's own new ones. Returns the number of messages taken from
 * theirs (0: nothing to take), or -1, with c unchanged, when the two cannot be merged: a side
 * removed or replaced a message both had, or both changed the same one. */
static ssize_t conv_merge(struct conversation *c, const struct conversation *theirs)
{
	const struct conv_disk *k = c->disk;
	size_t n = k->n, add, old_n = c->n_msgs;
	ssize_t taken = 0;

	if (c->n_msgs < n || theirs->n_msgs < n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct conv_disk_msg *b = &k->msgs[i];
		const struct conv_message *o = &c->msgs[i], *t = &theirs->msgs[i];
		uint64_t ho, ht;

		if (o->role != b->role || o->time != b->time || t->role != b->role || t->time != b->time)
			return -1;
		ho = conv_msg_hash(o);
		ht = conv_msg_hash(t);
		if (ho != b->hash && ht != b->hash && ho != ht)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (conv_msg_hash(&theirs->msgs[i]) != k->msgs[i].hash &&
		    conv_msg_hash(&c->msgs[i]) == k->msgs[i].hash) {
			conv_msg_copy(&c->msgs[i], &theirs->msgs[i]);
			taken++;
		}
	}
	add = theirs->n_msgs - n;
	for (size_t i = 0; i < add; i++)
		conv_msg_push(c);
	memmove(c->msgs + n + add, c->msgs + n, (old_n - n) * sizeof(*c->msgs));
	for (size_t i = 0; i < add; i++) {
		c->msgs[n + i].content = NULL;
		conv_msg_copy(&c->msgs[n + i], &theirs->msgs[n + i]);
	}
	taken += (ssize_t)add;
	/* A rename on the other side stands unless this side renamed too. */
	if (conv_title_hash(c) == k->title && strcmp(c->title, theirs->title) != 0) {
		conv_set_title(c, theirs->title);
		taken += taken == 0;
	}
	if (theirs->updated > c->updated)
		c->updated = theirs->updated;
	return taken;
}

/* Looks whether someone else saved c->path since c's record of it and makes c safe to write: merged
 * with theirs, or moved to a new id and path. Returns the enum conv_saved value, with the sentence
 * for the user in note. */
static int conv_save_check(struct conversation *c, char *note, size_t notelen)
{
	struct conversation *theirs;
	struct stat st;
	char lerr[512];
	ssize_t taken = -1;
	char *dir;

	if (c->disk == NULL || stat(c->path, &st) != 0 || conv_disk_same(c->disk, &st))
		return CONV_SAVED;     /* a file gone meanwhile is simply written again */
	theirs = conv_load(c->path, lerr, sizeof(lerr));
	if (theirs != NULL)
		taken = conv_merge(c, theirs);
	if (taken >= 0) {
		/* What was read is now what c has in common with the file, should this write fail. */
		conv_disk_free(c->disk);
		c->disk = theirs->disk;
		theirs->disk = NULL;
		conv_free(theirs);
		if (taken == 0)
			return CONV_SAVED;
		errorf(note, notelen, "merged %zd message%s that another dscoder-tui saved to this conversation "
		       "meanwhile", taken, taken == 1 ? "" : "s");
		return CONV_SAVED_MERGED;
	}
	conv_free(theirs);
	dir = paths_dirname(c->path);
	free(c->id);
	c->id = conv_make_id(time(NULL));
	free(c->path);
	c->path = xasprintf("%s/%s.yaml", dir, c->id);
	free(dir);
	conv_disk_free(c->disk);
	c->disk = NULL;
	errorf(note, notelen, "another dscoder-tui changed this conversation meanwhile in a way that cannot "
	       "be merged; yours is saved as a new conversation, %s", c->id);
	return CONV_SAVED_AS_NEW;
}

/* Holds an exclusive flock on the directory of path (check and write of two saves do not
 * interleave); returns the descriptor to close, or -1 where locking is not possible (then unlocked). */
static int conv_lock_dir(const char *path)
{
	char *dir = paths_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	free(dir);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

int conv_save(struct conversation *c, char *err, size_t errlen)
{
	char *buf = NULL, *dir;
	size_t len;
	bool *quoted;
	bool quote_top = false;
	const char *diff = NULL;
	int ret = -1, outcome, lock;
	char note[512];
	struct stat st;

	if (c->path == NULL) {
		dir = paths_conversations_dir(1, err, errlen);
		if (dir == NULL)
			return -1;
		c->path = xasprintf("%s/%s.yaml", dir, c->id);
		free(dir);
	}
	lock = conv_lock_dir(c->path);
	outcome = conv_save_check(c, note, sizeof(note));
	/* Text that came in raw (streamed appends) may still hold broken UTF-8: YAML cannot. */
	conv_text_fix(&c->title, NULL);
	conv_text_fix(&c->profile, NULL);
	conv_text_fix(&c->model, NULL);
	conv_text_fix(&c->system_prompt, NULL);
	conv_text_fix(&c->prefix, NULL);
	conv_text_fix(&c->suffix, NULL);
	for (size_t i = 0; i < c->n_msgs; i++)
		conv_text_fix(&c->msgs[i].content, &c->msgs[i].len);
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
	ret = atomicio_write_stat(c->path, buf, len, 0600, &st, err, errlen);
	if (ret == 0) {
		conv_disk_note(c, &st);
		if (outcome != CONV_SAVED)
			errorf(err, errlen, "%s", note);
		ret = outcome;
	}
out:
	if (lock >= 0)
		close(lock);
	free(quoted);
	free(buf);
	return ret;
}

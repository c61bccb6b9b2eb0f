/* conv-list.c: the saved conversations for the list pane: listing a directory (broken files
 * included), refreshing one entry from memory, and case-insensitive search. */
#include "conversation.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <utf8proc.h>

#include "conv-internal.h"
#include "paths.h"
#include "xalloc.h"

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

/* Removes name from dir if it is a temp file of atomicio_write (".ID.yaml.XXXXXX") left by a save
 * that was killed, and is an hour old: no save takes that long, so nobody is writing it. */
static void conv_list_sweep(const char *dir, const char *name)
{
	size_t nl = strlen(name);
	struct stat st;
	char *path;

	if (nl < 1 + 6 + 7 || memcmp(name + nl - 12, ".yaml.", 6) != 0)
		return;
	for (size_t i = nl - 6; i < nl; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return;
	path = xasprintf("%s/%s", dir, name);
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < time(NULL) - 3600)
		unlink(path);
	free(path);
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
		if (de->d_name[0] == '.') {
			conv_list_sweep(d, de->d_name);
			continue;
		}
		if (nl <= 5 || strcmp(de->d_name + nl - 5, ".yaml") != 0)
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

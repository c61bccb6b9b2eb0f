/* test-conversation.c: conversation files: exact round trip of tricky text, private modes, atomic
 * save under failure, corrupted files (clear message, untouched, others still listed), search, rename,
 * delete and Markdown export; years before 1000, deep nesting refused fast, two programs saving the
 * same conversation. */
#include "store-test.h"

#include <locale.h>
#include <signal.h>
#include <time.h>

#include "atomicio.h"
#include "conversation.h"
#include "paths.h"
#include "xalloc.h"

static char conv_dir[4300];

/* Texts chosen for the corners of YAML block literals and of libyaml. */
static const char *const tricky[] = {
	"",
	"plain",
	"trailing spaces   ",
	"trailing spaces on lines   \nand here\t\nend",
	"ends with newline\n",
	"ends with three newlines\n\n\n",
	"\n\nstarts with blank lines",
	"\n",
	"\n\n",
	"   ",
	"  leading spaces\nsecond line",
	"    indented code\n  less\n      more\n",
	"\tstarts with a tab\n\ttab\tinside\n",
	"a\n   \nb (a line of spaces in the middle)",
	"---\n...\n--- not a document marker\n",
	"key: value\n# not a comment\n- not a list\n? not a key\n& * ! | > % @ `",
	"\"quoted\" and 'single' and \\backslash\\",
	"你好，世界！这是中文。\n代码：`printf(\"你好\")`",
	"emoji 👩‍💻 family 👨‍👩‍👧 flag 🇨🇳 combining e\xcc\x81",
	"CRLF line 1\r\nCRLF line 2\r\n",
	"lone CR\rin the middle",
	"NEL \xc2\x85 LS \xe2\x80\xa8 PS \xe2\x80\xa9 breaks",
	"escape \x1b[31mred\x1b[0m bell \a backspace \b",
	"BOM \xef\xbb\xbf inside",
	"```c\nint main(void) {\n\treturn 0;   \n}\n```\n",
	"|\n>\n|-\n",
	"- one\n- two\n  - nested: x\n",
	"null",
	"~",
	"# only a comment",
	"func main() {\n\tfmt.Println(\"tabs\")\n}\n",
	"\tstarts with a tab",
	"   \nfirst line only spaces",
	"emoji first 🎉 and private use \xee\x80\x80 \xef\xa3\xbf",
	"x\t\n \n\t \n",
};

static void check_text(const char *what, size_t i, const char *want, size_t wlen, const char *got, size_t glen)
{
	if (wlen == glen && memcmp(want, got, wlen) == 0)
		return;
	TS_CHECK(0, "%s %zu did not survive the round trip", what, i);
	ts_show_diff(what, want, wlen, got, glen);
}

static char *make_big(size_t size)
{
	char *s = xmalloc(size + 1);
	size_t n = 0;
	unsigned line = 0;

	/* Code-like lines with indentation, trailing spaces every so often, and Chinese. */
	while (n < size) {
		char buf[200];
		int w = snprintf(buf, sizeof(buf), "%*sline %u: x = f(%u); // 注释 %s\n", (int)(line % 8) * 2, "",
				 line, line * 7, line % 13 == 0 ? "  " : "");

		if (n + (size_t)w > size)
			w = (int)(size - n);
		memcpy(s + n, buf, (size_t)w);
		n += (size_t)w;
		line++;
	}
	s[n] = '\0';
	/* Do not end in the middle of a UTF-8 character. */
	while (n > 0 && ((unsigned char)s[n - 1] & 0x80))
		s[--n] = '\0';
	return s;
}

static void test_round_trip(void)
{
	struct conversation *c = conv_new(), *d;
	struct conv_stats st = { 0 };
	char err[1024], *big = make_big(1 << 20), *file;
	size_t n = sizeof(tricky) / sizeof(tricky[0]), flen;
	time_t t0 = time(NULL);

	conv_set_title(c, "Title: with # and \"quotes\" and 中文");
	conv_set_profile(c, "coder");
	conv_set_model(c, "/models/DeepSeek-Coder-V2-Lite-Instruct");
	conv_set_system_prompt(c, "  You are helpful.\nTrailing   \n\n");
	c->sampling.temperature = 0.1 + 0.2;   /* not exactly 0.3: the double must round-trip */
	c->sampling.top_k = 40;
	c->sampling.top_p = 0.9;
	c->sampling.min_p = 0;
	c->sampling.repetition_penalty = 1.1;
	c->sampling.max_tokens = 512;
	c->sampling.seed = 1234567890123LL;
	for (size_t i = 0; i < n; i++) {
		struct conv_message *m = conv_add_message(c, i % 2 ? CONV_ROLE_ASSISTANT : CONV_ROLE_USER, tricky[i],
							  strlen(tricky[i]));

		m->time = t0 - 1000 + (time_t)i;
		if (i % 2) {
			st.prompt_tokens = (int)i * 10;
			st.completion_tokens = (int)i + 1;
			st.ttft_ms = 123.456 + (double)i;
			st.decode_tps = 1.0 / 3.0 * (double)i;
			snprintf(st.finish, sizeof(st.finish), "%s", i % 4 == 1 ? "stop" : "length");
			conv_set_last_stats(c, &st);
		}
	}
	conv_add_message(c, CONV_ROLE_ASSISTANT, big, strlen(big));
	c->created = t0 - 5000;
	c->updated = t0 - 10;

	umask(022);
	TS_REQUIRE(conv_save(c, err, sizeof(err)) == 0, "save: %s", err);
	TS_CHECK(ts_mode(c->path) == 0600, "saved file has mode %o with umask 022, expected 600", ts_mode(c->path));
	TS_CHECK(ts_mode(conv_dir) == 0700, "conversations directory has mode %o, expected 700", ts_mode(conv_dir));
	TS_CHECK(ts_count_dotfiles(conv_dir) == 0, "temp files left after a save");
	file = ts_read(c->path, &flen);
	TS_REQUIRE(file != NULL, "cannot read back %s", c->path);
	/* People read these files: most content should be block literals, not escaped strings. */
	{
		size_t lit = 0;

		for (const char *p = file; (p = strstr(p, "content: |")) != NULL; p++)
			lit++;
		TS_CHECK(lit >= n / 2, "only %zu of %zu messages written as block literals", lit, n + 1);
		/* Tabs (Go, C, Makefiles) and emoji stay as they are inside a literal, not escaped. */
		TS_CHECK(strstr(file, "\n    \tfmt.Println(\"tabs\")\n") != NULL, "tab-indented code not kept literally");
		TS_CHECK(strstr(file, "content: |2-\n    \tstarts with a tab\n") != NULL, "a first tab is not kept literally");
		TS_CHECK(strstr(file, "👩‍💻") != NULL && strstr(file, "你好，世界") != NULL, "emoji or Chinese escaped");
	}
	free(file);

	d = conv_load(c->path, err, sizeof(err));
	TS_REQUIRE(d != NULL, "load: %s", err);
	TS_CHECK(strcmp(c->title, d->title) == 0, "title \"%s\" came back as \"%s\"", c->title, d->title);
	TS_CHECK(d->profile && strcmp(d->profile, "coder") == 0, "profile %s", d->profile);
	TS_CHECK(d->model && strcmp(d->model, c->model) == 0, "model %s", d->model);
	TS_CHECK(d->system_prompt && strcmp(d->system_prompt, c->system_prompt) == 0, "system prompt differs");
	TS_CHECK(d->mode == PARAMS_MODE_CHAT, "mode %d", d->mode);
	TS_CHECK(d->created == c->created && d->updated == c->updated, "created/updated %ld/%ld, expected %ld/%ld",
		 (long)d->created, (long)d->updated, (long)c->created, (long)c->updated);
	TS_CHECK(memcmp(&d->sampling, &c->sampling, sizeof(c->sampling)) == 0,
		 "sampling differs: temperature %.17g top_k %d top_p %g min_p %g rep %g max %d seed %lld",
		 d->sampling.temperature, d->sampling.top_k, d->sampling.top_p, d->sampling.min_p,
		 d->sampling.repetition_penalty, d->sampling.max_tokens, (long long)d->sampling.seed);
	TS_CHECK(strcmp(d->id, c->id) == 0, "id %s, expected %s", d->id, c->id);
	TS_REQUIRE(d->n_msgs == c->n_msgs, "%zu messages came back, expected %zu", d->n_msgs, c->n_msgs);
	for (size_t i = 0; i < c->n_msgs; i++) {
		struct conv_message *a = &c->msgs[i], *b = &d->msgs[i];

		check_text("message", i, a->content, a->len, b->content, b->len);
		TS_CHECK(a->role == b->role, "message %zu: role %d, expected %d", i, b->role, a->role);
		TS_CHECK(a->time == b->time, "message %zu: time %ld, expected %ld", i, (long)b->time, (long)a->time);
		TS_CHECK(a->has_stats == b->has_stats, "message %zu: stats lost or invented", i);
		if (a->has_stats && b->has_stats)
			TS_CHECK(a->stats.prompt_tokens == b->stats.prompt_tokens &&
				 a->stats.completion_tokens == b->stats.completion_tokens &&
				 a->stats.ttft_ms == b->stats.ttft_ms && a->stats.decode_tps == b->stats.decode_tps &&
				 strcmp(a->stats.finish, b->stats.finish) == 0,
				 "message %zu: stats %d %d %.17g %.17g %s came back as %d %d %.17g %.17g %s", i,
				 a->stats.prompt_tokens, a->stats.completion_tokens, a->stats.ttft_ms,
				 a->stats.decode_tps, a->stats.finish, b->stats.prompt_tokens,
				 b->stats.completion_tokens, b->stats.ttft_ms, b->stats.decode_tps, b->stats.finish);
	}
	/* Saving what was loaded writes the same bytes (no drift from save to save). */
	{
		char *before = ts_read(d->path, &flen), *after;
		size_t alen;

		TS_CHECK(conv_save(d, err, sizeof(err)) == 0, "re-save: %s", err);
		after = ts_read(d->path, &alen);
		TS_CHECK(before && after && flen == alen && memcmp(before, after, flen) == 0,
			 "saving a loaded conversation changed the file");
		free(before);
		free(after);
	}
	conv_free(d);
	TS_CHECK(conv_delete(c->path, err, sizeof(err)) == 0, "delete: %s", err);
	conv_free(c);
	free(big);
}

static void test_invalid_utf8_and_streaming(void)
{
	struct conversation *c = conv_new(), *d;
	char err[1024];

	/* Invalid bytes (a pasted binary) become U+FFFD so the file stays valid YAML. */
	conv_add_message(c, CONV_ROLE_USER, "bad \xff\xfe bytes \xc3(", 15);
	TS_CHECK(strcmp(c->msgs[0].content, "bad \xef\xbf\xbd\xef\xbf\xbd bytes \xef\xbf\xbd(") == 0,
		 "invalid UTF-8 not replaced: \"%s\"", c->msgs[0].content);
	/* NUL cannot live in a C string nor in YAML. */
	conv_add_message(c, CONV_ROLE_USER, "a\0b", 3);
	TS_CHECK(strcmp(c->msgs[1].content, "a\xef\xbf\xbd" "b") == 0, "NUL not replaced");
	/* Streaming: a character split across two pieces joins up. */
	conv_add_message(c, CONV_ROLE_ASSISTANT, "", 0);
	conv_append_last(c, "\xe4\xbd", 2);
	conv_append_last(c, "\xa0\xe5\xa5\xbd", 4);
	TS_CHECK(strcmp(c->msgs[2].content, "你好") == 0, "split character: \"%s\"", c->msgs[2].content);
	conv_set_last_content(c, "replaced", 8);
	TS_CHECK(strcmp(c->msgs[2].content, "replaced") == 0 && c->msgs[2].len == 8, "set_last_content");
	/* A save in the middle of a character keeps the file loadable. */
	conv_append_last(c, "\xe4\xbd", 2);
	TS_CHECK(conv_save(c, err, sizeof(err)) == 0, "save with a broken tail: %s", err);
	d = conv_load(c->path, err, sizeof(err));
	TS_CHECK(d != NULL && d->n_msgs == 3 && strcmp(d->msgs[2].content, "replaced\xef\xbf\xbd") == 0,
		 "broken tail: %s", d ? d->msgs[2].content : err);
	conv_free(d);
	conv_remove_messages(c, 0, 2);
	TS_CHECK(c->n_msgs == 1 && strncmp(c->msgs[0].content, "replaced", 8) == 0, "remove_messages");
	conv_remove_messages(c, 5, 1);
	TS_CHECK(c->n_msgs == 1, "removing past the end changed something");
	conv_delete(c->path, err, sizeof(err));
	conv_free(c);
}

static void test_fim(void)
{
	struct conversation *c = conv_new(), *d;
	char err[1024];

	c->mode = PARAMS_MODE_FIM;
	conv_set_fim(c, "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n");
	conv_add_message(c, CONV_ROLE_ASSISTANT, "return a + b", 12);
	TS_REQUIRE(conv_save(c, err, sizeof(err)) == 0, "fim save: %s", err);
	d = conv_load(c->path, err, sizeof(err));
	TS_REQUIRE(d != NULL, "fim load: %s", err);
	TS_CHECK(d->mode == PARAMS_MODE_FIM, "fim mode lost");
	TS_CHECK(d->prefix && strcmp(d->prefix, c->prefix) == 0, "prefix \"%s\"", d->prefix);
	TS_CHECK(d->suffix && strcmp(d->suffix, c->suffix) == 0, "suffix \"%s\"", d->suffix);
	conv_free(d);
	conv_delete(c->path, err, sizeof(err));
	conv_free(c);
}

static void save_failure_case(const char *dir)
{
	struct conversation *c = conv_new();
	char err[1024], *before, *after;
	size_t blen, alen;

	(void)dir;
	conv_set_title(c, "version one");
	conv_add_message(c, CONV_ROLE_USER, "hello", 5);
	TS_REQUIRE(conv_save(c, err, sizeof(err)) == 0, "save: %s", err);
	before = ts_read(c->path, &blen);
	conv_set_title(c, "version two");
	conv_add_message(c, CONV_ROLE_ASSISTANT, "world", 5);
	TS_REQUIRE(chmod(dir, 0500) == 0, "chmod %s", dir);
	err[0] = '\0';
	TS_CHECK(conv_save(c, err, sizeof(err)) == -1, "saving into a read-only directory succeeded");
	TS_CHECK(strstr(err, c->path) != NULL, "error does not name the file: \"%s\"", err);
	chmod(dir, 0700);
	after = ts_read(c->path, &alen);
	TS_CHECK(before && after && blen == alen && memcmp(before, after, blen) == 0,
		 "a failed save (read-only directory) changed the file");
	TS_CHECK(ts_count_dotfiles(dir) == 0, "a failed save left a temp file");
	free(after);
	free(before);
	conv_delete(c->path, err, sizeof(err));
	conv_free(c);
}

static void test_save_failure(void)
{
	struct conversation *c = conv_new();
	char err[1024], *before, *after;
	size_t blen, alen;
	char sub[4400];
	int n;

	conv_set_title(c, "version one");
	conv_add_message(c, CONV_ROLE_USER, "hello", 5);
	TS_REQUIRE(conv_save(c, err, sizeof(err)) == 0, "save: %s", err);
	before = ts_read(c->path, &blen);
	conv_set_title(c, "version two");
	conv_add_message(c, CONV_ROLE_ASSISTANT, "world", 5);
	for (int f = ATOMICIO_FAULT_WRITE; f <= ATOMICIO_FAULT_RENAME; f++) {
		atomicio_set_fault((enum atomicio_fault)f);
		err[0] = '\0';
		TS_CHECK(conv_save(c, err, sizeof(err)) == -1, "injected fault %d: save reported success", f);
		TS_CHECK(strstr(err, c->path) != NULL, "fault %d: error does not name the file: \"%s\"", f, err);
		after = ts_read(c->path, &alen);
		TS_CHECK(before && after && blen == alen && memcmp(before, after, blen) == 0,
			 "fault %d: a failed save changed the file", f);
		free(after);
		TS_CHECK(ts_count_dotfiles(conv_dir) == 0, "fault %d: a failed save left a temp file", f);
	}
	atomicio_set_fault(ATOMICIO_FAULT_NONE);
	TS_CHECK(conv_save(c, err, sizeof(err)) == 0, "save after the faults: %s", err);
	free(before);
	conv_delete(c->path, err, sizeof(err));
	conv_free(c);

	/* The real thing: a directory we may not write to (as an unprivileged user, root ignores modes). */
	snprintf(sub, sizeof(sub), "%s/rodata", ts_home);
	ts_mkdir(sub);
	setenv("XDG_DATA_HOME", sub, 1);
	snprintf(sub, sizeof(sub), "%s/rodata/dscoder-tui/conversations", ts_home);
	ts_mkdir(sub);
	chmod(sub, 0700);
	n = ts_run_unprivileged(sub, save_failure_case, sub);
	TS_CHECK(n == 0, "the read-only directory case had %d failure(s)", n);
	snprintf(sub, sizeof(sub), "%s/data", ts_home);
	setenv("XDG_DATA_HOME", sub, 1);
}

struct bad_file {
	const char *name;
	const char *text;
	int line;                   /* the line the message must name */
};

static const char good_tail[] =
	"messages:\n"
	"- role: user\n"
	"  time: 2024-05-01T12:00:00Z\n"
	"  content: |-\n"
	"    hi\n";

static void test_corrupted(void)
{
	static const struct bad_file bad[] = {
		{ "truncated.yaml", "version: 1\ntitle: \"cut in the mid", 2 },
		{ "truncated2.yaml", "version: 1\ntitle: t\nmessages:\n- role: user\n  content: \"abc\n", 6 },
		{ "notyaml.yaml", "version: 1\ntitle: x\n  : : [ {\n", 3 },
		{ "tabs.yaml", "version: 1\n\tmessages: []\n", 2 },
		{ "sequence.yaml", "- just\n- a list\n", 1 },
		{ "scalar.yaml", "hello world\n", 1 },
		{ "foreign.yaml", "version: 1\nservices:\n  web:\n    image: nginx\n", 2 },
		{ "noversion.yaml", "title: x\nmessages: []\n", 1 },
		{ "newer.yaml", "version: 99\ntitle: x\n", 1 },
		{ "badrole.yaml", "version: 1\nmessages:\n- role: robot\n  content: x\n", 3 },
		{ "nocontent.yaml", "version: 1\nmessages:\n- role: user\n", 3 },
		{ "msgmap.yaml", "version: 1\nmessages:\n  role: user\n", 3 },
		{ "badtime.yaml", "version: 1\ncreated: yesterday\n", 2 },
		{ "badstats.yaml", "version: 1\nmessages:\n- role: assistant\n  content: x\n  stats:\n    ttft_ms: fast\n", 6 },
		{ "dupkey.yaml", "version: 1\ntitle: a\ntitle: b\n", 3 },
		{ "badutf8.yaml", "version: 1\ntitle: ok\nmessages:\n- role: user\n  content: |-\n    caf\xe9 latin-1\n", 6 },
		{ "empty.yaml", "", 1 },
		{ "binary.yaml", "\x7f" "ELF\x02\x01\x01\0\0\0", 1 },
		{ "twodocs.yaml", "version: 1\n---\nversion: 1\n", 2 },
		{ "alias.yaml", "version: 1\nmessages:\n- &m\n  role: user\n  content: big\n- *m\n- *m\n", 3 },
	};
	size_t nbad = sizeof(bad) / sizeof(bad[0]);
	char err[1024], path[4400], want[64];
	struct conv_list list;
	struct conversation *g1 = conv_new(), *g2 = conv_new(), *x;
	int found_g1 = 0, found_g2 = 0;

	conv_set_title(g1, "good one");
	conv_add_message(g1, CONV_ROLE_USER, "first", 5);
	g1->updated = 1700000000;
	conv_set_title(g2, "good two, newer");
	conv_add_message(g2, CONV_ROLE_USER, "second", 6);
	conv_add_message(g2, CONV_ROLE_ASSISTANT, "answer", 6);
	g2->updated = 1700000100;
	TS_REQUIRE(conv_save(g1, err, sizeof(err)) == 0 && conv_save(g2, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < nbad; i++) {
		size_t len = strcmp(bad[i].name, "binary.yaml") == 0 ? 10 : strlen(bad[i].text);

		snprintf(path, sizeof(path), "%s/%s", conv_dir, bad[i].name);
		ts_write(path, bad[i].text, len);
	}
	/* A valid hand-written file with minimal keys also loads. */
	snprintf(path, sizeof(path), "%s/minimal.yaml", conv_dir);
	{
		char text[512];

		snprintf(text, sizeof(text), "version: 1\nupdated: 2024-05-01T14:00:00+02:00\n%s", good_tail);
		ts_write(path, text, strlen(text));
	}
	x = conv_load(path, err, sizeof(err));
	TS_CHECK(x != NULL && x->n_msgs == 1 && strcmp(x->msgs[0].content, "hi") == 0 && x->updated == 1714564800 &&
		 x->msgs[0].time == 1714564800 && strcmp(x->title, "") == 0 && x->mode == PARAMS_MODE_CHAT,
		 "minimal file: %s", x ? "wrong contents" : err);
	conv_free(x);

	for (size_t i = 0; i < nbad; i++) {
		size_t len = strcmp(bad[i].name, "binary.yaml") == 0 ? 10 : strlen(bad[i].text), blen;
		char *before, *after;

		snprintf(path, sizeof(path), "%s/%s", conv_dir, bad[i].name);
		before = ts_read(path, &blen);
		err[0] = '\0';
		x = conv_load(path, err, sizeof(err));
		TS_CHECK(x == NULL, "%s loaded although it is broken", bad[i].name);
		conv_free(x);
		snprintf(want, sizeof(want), "%s:%d:", bad[i].name, bad[i].line);
		TS_CHECK(strstr(err, want) != NULL, "%s: the message should name \"%s\": \"%s\"", bad[i].name, want, err);
		TS_CHECK(strchr(err, '\n') == NULL && strlen(err) < 400, "%s: message not one sentence: \"%s\"",
			 bad[i].name, err);
		/* Renaming a broken file must not rewrite it. */
		TS_CHECK(conv_rename(path, "new title", err, sizeof(err)) == -1, "renaming %s succeeded", bad[i].name);
		after = ts_read(path, NULL);
		TS_CHECK(before && after && blen == len && memcmp(before, bad[i].text, len) == 0 &&
			 memcmp(after, bad[i].text, len) == 0, "%s was modified", bad[i].name);
		free(before);
		free(after);
	}

	/* Temp files of a save killed long ago go; a fresh one (a save in progress) and others stay. */
	{
		static const char *const dots[] = { ".old.yaml.Ab3xYz", ".new.yaml.Qw9eRt", ".old.yaml.notours", ".hidden" };
		struct timespec old[2] = { { time(NULL) - 7200, 0 }, { time(NULL) - 7200, 0 } };

		for (size_t i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/%s", conv_dir, dots[i]);
			ts_write(path, "partial", 7);
			if (i != 1)
				utimensat(AT_FDCWD, path, old, 0);
		}
	}
	TS_REQUIRE(conv_list(NULL, &list, err, sizeof(err)) == 0, "list: %s", err);
	TS_CHECK(list.n == nbad + 3, "listed %zu files, expected %zu", list.n, nbad + 3);
	TS_CHECK(ts_count_dotfiles(conv_dir) == 3, "stale temp file not swept, or other dot files removed (%d left)",
		 ts_count_dotfiles(conv_dir));
	snprintf(path, sizeof(path), "%s/.old.yaml.Ab3xYz", conv_dir);
	TS_CHECK(access(path, F_OK) != 0, "the stale temp file is still there");
	for (size_t i = 1; i < 4; i++) {
		static const char *const keep[] = { NULL, ".new.yaml.Qw9eRt", ".old.yaml.notours", ".hidden" };

		snprintf(path, sizeof(path), "%s/%s", conv_dir, keep[i]);
		TS_CHECK(access(path, F_OK) == 0, "%s was removed", keep[i]);
		unlink(path);
	}
	for (size_t i = 0; i < list.n; i++) {
		struct conv_entry *e = &list.v[i];
		bool is_bad = false;

		for (size_t k = 0; k < nbad; k++)
			if (strcmp(e->id, bad[k].name) == 0 || (strncmp(bad[k].name, e->id, strlen(e->id)) == 0 &&
								  strcmp(bad[k].name + strlen(e->id), ".yaml") == 0))
				is_bad = true;
		TS_CHECK(is_bad == (e->error != NULL), "%s: error %s", e->path, e->error ? e->error : "(none)");
		if (strcmp(e->path, g1->path) == 0) {
			found_g1 = 1;
			TS_CHECK(strcmp(e->title, "good one") == 0 && e->n_messages == 1 && e->updated == 1700000000,
				 "good one listed as \"%s\" %zu %ld", e->title, e->n_messages, (long)e->updated);
		}
		if (strcmp(e->path, g2->path) == 0) {
			found_g2 = 1;
			TS_CHECK(e->n_messages == 2, "good two has %zu messages", e->n_messages);
		}
		if (i > 0)
			TS_CHECK(list.v[i - 1].updated >= e->updated, "list not sorted newest first at %zu", i);
	}
	TS_CHECK(found_g1 && found_g2, "the good conversations are missing from the list");
	{
		size_t idx[64], n = conv_search(&list, "TRUNCATED2", idx);

		TS_CHECK(n == 1 && strcmp(list.v[idx[0]].id, "truncated2") == 0, "a broken file found by its name: %zu hits", n);
		n = conv_search(&list, "20", idx);     /* ids of good files start with the year */
		TS_CHECK(n == 0, "good conversations matched by their file name: %zu hits", n);
	}
	/* The good two are newest-first among themselves. */
	for (size_t i = 0; i < list.n; i++) {
		if (strcmp(list.v[i].path, g2->path) == 0)
			break;
		TS_CHECK(strcmp(list.v[i].path, g1->path) != 0, "older conversation listed before the newer one");
	}
	conv_list_free(&list);
	for (size_t i = 0; i < nbad; i++) {
		snprintf(path, sizeof(path), "%s/%s", conv_dir, bad[i].name);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/minimal.yaml", conv_dir);
	unlink(path);
	conv_delete(g1->path, err, sizeof(err));
	conv_delete(g2->path, err, sizeof(err));
	conv_free(g1);
	conv_free(g2);
}

static void test_list_search_rename_delete(void)
{
	struct conversation *a = conv_new(), *b = conv_new(), *c = conv_new(), *x;
	struct conv_list list;
	size_t idx[16], n;
	char err[1024], missing[4400];

	conv_set_title(a, "Rust lifetimes");
	conv_add_message(a, CONV_ROLE_USER, "Explain HELLO world in Rust", 27);
	a->updated = 100;
	conv_set_title(b, "Python");
	conv_add_message(b, CONV_ROLE_USER, "Schreib eine Funktion für die Straße", strlen("Schreib eine Funktion für die Straße"));
	conv_add_message(b, CONV_ROLE_ASSISTANT, "好的，这是代码", strlen("好的，这是代码"));
	b->updated = 200;
	conv_set_title(c, "Empty");
	c->updated = 300;
	TS_REQUIRE(conv_save(a, err, sizeof(err)) == 0 && conv_save(b, err, sizeof(err)) == 0 &&
		   conv_save(c, err, sizeof(err)) == 0, "%s", err);
	TS_REQUIRE(conv_list(conv_dir, &list, err, sizeof(err)) == 0 && list.n == 3, "list: %zu %s", list.n, err);
	TS_CHECK(strcmp(list.v[0].title, "Empty") == 0 && strcmp(list.v[2].title, "Rust lifetimes") == 0,
		 "order: %s, %s, %s", list.v[0].title, list.v[1].title, list.v[2].title);
	n = conv_search(&list, "hello", idx);
	TS_CHECK(n == 1 && idx[0] == 2, "search hello: %zu hits", n);
	n = conv_search(&list, "STRASSE", idx);
	TS_CHECK(n == 1 && idx[0] == 1, "search STRASSE (case folding of ß): %zu hits", n);
	n = conv_search(&list, "代码", idx);
	TS_CHECK(n == 1 && idx[0] == 1, "search 代码: %zu hits", n);
	n = conv_search(&list, "rust LIFE", idx);
	TS_CHECK(n == 1 && idx[0] == 2, "search in the title: %zu hits", n);
	n = conv_search(&list, "no such text", idx);
	TS_CHECK(n == 0, "search for absent text: %zu hits", n);
	n = conv_search(&list, "", idx);
	TS_CHECK(n == 3, "empty search: %zu hits", n);
	/* Refresh from memory: the changed conversation moves to the top and is searchable. */
	conv_add_message(a, CONV_ROLE_ASSISTANT, "Borrowed ZEBRA", 14);
	a->updated = 400;
	conv_list_update(&list, a);
	TS_CHECK(list.n == 3 && strcmp(list.v[0].path, a->path) == 0 && list.v[0].n_messages == 2,
		 "list_update: %zu entries, first %s with %zu messages", list.n, list.v[0].title, list.v[0].n_messages);
	n = conv_search(&list, "zebra", idx);
	TS_CHECK(n == 1 && idx[0] == 0, "search after list_update: %zu hits", n);
	{
		struct conversation *fresh = conv_new();

		conv_set_title(fresh, "not saved");
		conv_list_update(&list, fresh);     /* no path yet: ignored */
		TS_CHECK(list.n == 3, "an unsaved conversation was added to the list");
		conv_free(fresh);
	}
	conv_list_free(&list);

	TS_CHECK(conv_rename(b->path, "Renamed: 新标题", err, sizeof(err)) == 0, "rename: %s", err);
	x = conv_load(b->path, err, sizeof(err));
	TS_CHECK(x != NULL && strcmp(x->title, "Renamed: 新标题") == 0 && x->n_msgs == 2 && x->updated == 200,
		 "after rename: %s", x ? x->title : err);
	conv_free(x);
	TS_CHECK(ts_mode(b->path) == 0600, "mode after rename %o", ts_mode(b->path));

	TS_CHECK(conv_delete(a->path, err, sizeof(err)) == 0, "delete: %s", err);
	TS_CHECK(access(a->path, F_OK) != 0, "deleted file still there");
	TS_CHECK(conv_delete(a->path, err, sizeof(err)) == -1 && strstr(err, a->path) != NULL,
		 "deleting a missing file: \"%s\"", err);
	conv_delete(b->path, err, sizeof(err));
	conv_delete(c->path, err, sizeof(err));
	conv_free(a);
	conv_free(b);
	conv_free(c);

	snprintf(missing, sizeof(missing), "%s/no-such-dir", ts_home);
	TS_CHECK(conv_list(missing, &list, err, sizeof(err)) == 0 && list.n == 0, "missing directory is not empty");
	conv_list_free(&list);
	x = conv_load(missing, err, sizeof(err));
	TS_CHECK(x == NULL && strstr(err, missing) != NULL, "loading a missing file: \"%s\"", err);
}

static void test_markdown(void)
{
	static const char want[] =
		"# Sort a list\n"
		"\n"
		"*dscoder-tui, chat mode, profile coder, model demo, 2024-05-01T12:00:00Z*\n"
		"\n"
		"## System prompt\n"
		"\n"
		"Be brief.\n"
		"\n"
		"## User\n"
		"\n"
		"How do I sort in **C**?\n"
		"\n"
		"## Assistant\n"
		"\n"
		"Use `qsort`:\n"
		"\n"
		"```c\n"
		"int cmp(const void *a, const void *b)\n"
		"{\n"
		"\treturn *(const int *)a - *(const int *)b;   \n"
		"}\n"
		"```\n"
		"\n"
		"*12 prompt tokens, 34 generated, first token after 56 ms, 78.9 tokens/s, finish: stop*\n"
		"\n";
	static const char answer[] =
		"Use `qsort`:\n\n```c\nint cmp(const void *a, const void *b)\n{\n"
		"\treturn *(const int *)a - *(const int *)b;   \n}\n```";
	struct conversation *c = conv_new();
	struct conv_stats st = { 12, 34, 56.0, 78.9, "stop" };
	char err[1024], path[4400], *got;
	size_t len;

	conv_set_title(c, "Sort a list");
	conv_set_profile(c, "coder");
	conv_set_model(c, "demo");
	conv_set_system_prompt(c, "Be brief.");
	conv_add_message(c, CONV_ROLE_USER, "How do I sort in **C**?", 23);
	conv_add_message(c, CONV_ROLE_ASSISTANT, answer, strlen(answer));
	conv_set_last_stats(c, &st);
	c->updated = 1714564800;
	snprintf(path, sizeof(path), "%s/export.md", ts_home);
	TS_REQUIRE(conv_export_markdown(c, path, err, sizeof(err)) == 0, "export: %s", err);
	got = ts_read(path, &len);
	TS_CHECK(got && len == strlen(want) && memcmp(got, want, len) == 0, "markdown differs:\n%s", got ? got : "(no file)");
	if (got && (len != strlen(want) || memcmp(got, want, len) != 0))
		ts_show_diff("markdown", want, strlen(want), got, len);
	free(got);
	TS_CHECK(ts_mode(path) == 0600, "export mode %o", ts_mode(path));

	/* fim: prefix, suffix and the middle go into fences longer than any backtick run inside. */
	c->mode = PARAMS_MODE_FIM;
	conv_set_fim(c, "x = ```\n", "y\n");
	TS_REQUIRE(conv_export_markdown(c, path, err, sizeof(err)) == 0, "export: %s", err);
	got = ts_read(path, &len);
	TS_CHECK(got && strstr(got, "## Prefix\n\n````\nx = ```\n````\n") != NULL && strstr(got, "## Middle\n") != NULL,
		 "fim markdown:\n%s", got ? got : "(no file)");
	free(got);
	conv_free(c);
}

/* Switches LC_NUMERIC to a locale whose decimal point is a comma: an installed one, else one built
 * with localedef in the temp home. Returns whether it worked. */
static bool comma_locale(void)
{
	static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8" };
	static const char def[] = "LC_NUMERIC\ndecimal_point \"<U002C>\"\nthousands_sep \"<U002E>\"\n"
		"grouping 3;3\nEND LC_NUMERIC\n";
	char src[4400], dir[4400], cmd[9000];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (setlocale(LC_NUMERIC, names[i]) != NULL && localeconv()->decimal_point[0] == ',')
			return true;
	snprintf(src, sizeof(src), "%s/comma.src", ts_home);
	snprintf(dir, sizeof(dir), "%s/locale", ts_home);
	ts_write(src, def, strlen(def));
	ts_mkdir(dir);
	/* localedef warns about the categories left out (exit status 1 with -c): the result decides. */
	snprintf(cmd, sizeof(cmd), "localedef -c -i '%s' -f UTF-8 '%s/comma' >/dev/null 2>&1", src, dir);
	if (system(cmd) == -1)
		return false;
	setenv("LOCPATH", dir, 1);
	return setlocale(LC_NUMERIC, "comma") != NULL && localeconv()->decimal_point[0] == ',';
}

/* The TUI runs under setlocale(LC_ALL, ""): numbers in files must still use a dot. */
static void test_locale(void)
{
	struct conversation *c = conv_new(), *d;
	struct conv_stats st = { 10, 20, 12.5, 33.25, "stop" };
	char err[1024], *file;

	if (!comma_locale()) {
		printf("no locale with a decimal comma (and no localedef): the locale case is skipped\n");
		conv_free(c);
		return;
	}
	c->sampling.temperature = 0.3;
	c->sampling.top_p = 0.9;
	conv_add_message(c, CONV_ROLE_ASSISTANT, "x", 1);
	conv_set_last_stats(c, &st);
	TS_REQUIRE(conv_save(c, err, sizeof(err)) == 0, "save under a comma locale: %s", err);
	file = ts_read(c->path, NULL);
	TS_CHECK(file && strstr(file, "temperature: 0.3\n") && strstr(file, "ttft_ms: 12.5\n"),
		 "numbers not written with a decimal point under a comma locale:\n%s", file ? file : "");
	free(file);
	d = conv_load(c->path, err, sizeof(err));
	TS_CHECK(d != NULL && d->sampling.temperature == 0.3 && d->sampling.top_p == 0.9 &&
		 d->msgs[0].stats.decode_tps == 33.25, "load under a comma locale: %s", d ? "numbers differ" : err);
	conv_free(d);
	conv_delete(c->path, err, sizeof(err));
	conv_free(c);
	setlocale(LC_NUMERIC, "C");
}

/* Years before 1000 load, and save as four digits (strftime's %Y wrote "999", which no reader takes). */
static void test_old_years(void)
{
	static const char text[] =
		"version: 1\n"
		"title: old\n"
		"created: 0999-03-04T05:06:07Z\n"
		"updated: 0001-01-01T00:00:00Z\n"
		"messages:\n"
		"- role: user\n"
		"  time: 0042-12-31T23:59:59Z\n"
		"  content: |-\n"
		"    hi\n";
	char err[1024], path[4400], *saved;
	struct conversation *c, *d;

	snprintf(path, sizeof(path), "%s/old-years.yaml", conv_dir);
	ts_write(path, text, strlen(text));
	c = conv_load(path, err, sizeof(err));
	TS_REQUIRE(c != NULL, "a file from the year 999: %s", err);
	TS_CHECK(conv_save(c, err, sizeof(err)) == 0, "a file from the year 999 cannot be saved: %s", err);
	saved = ts_read(path, NULL);
	TS_CHECK(saved && strstr(saved, "created: 0999-03-04T05:06:07Z\n") && strstr(saved, "0001-01-01T00:00:00Z") &&
		 strstr(saved, "time: 0042-12-31T23:59:59Z"), "years not written as four digits:\n%s", saved);
	free(saved);
	d = conv_load(path, err, sizeof(err));
	TS_CHECK(d != NULL && d->created == c->created && d->updated == c->updated && d->n_msgs == 1 &&
		 d->msgs[0].time == c->msgs[0].time, "the old dates do not read back the same: %s", d ? "" : err);
	conv_free(d);
	conv_free(c);
	{
		char buf[64];

		conv_format_time((time_t)-30610224000LL, buf, sizeof(buf));    /* 1000-01-01 */
		TS_CHECK(strcmp(buf, "1000-01-01T00:00:00Z") == 0, "conv_format_time gave %s", buf);
		conv_format_time((time_t)-30610224001LL, buf, sizeof(buf));
		TS_CHECK(strcmp(buf, "0999-12-31T23:59:59Z") == 0, "conv_format_time gave %s", buf);
	}
	unlink(path);
}

/* An answer cut before its first token has no time to first token and no speed: the file leaves
 * them out instead of writing 0 (which reads like a measurement), and reads back as unknown. */
static void test_unmeasured_stats(void)
{
	static const char text[] =
		"version: 1\n"
		"title: cut\n"
		"messages:\n"
		"- role: user\n"
		"  content: hi\n"
		"- role: assistant\n"
		"  stats:\n"
		"    prompt_tokens: 12\n"
		"    completion_tokens: 0\n"
		"    finish: error\n"
		"  content: ''\n";
	char err[1024], path[4400], *saved;
	struct conversation *c;

	snprintf(path, sizeof(path), "%s/unmeasured.yaml", conv_dir);
	ts_write(path, text, strlen(text));
	c = conv_load(path, err, sizeof(err));
	TS_REQUIRE(c != NULL, "a cut answer: %s", err);
	TS_CHECK(c->msgs[1].has_stats && c->msgs[1].stats.ttft_ms == 0 && c->msgs[1].stats.decode_tps == 0,
		 "figures invented on load");
	TS_CHECK(conv_save(c, err, sizeof(err)) == 0, "cannot save: %s", err);
	saved = ts_read(path, NULL);
	TS_CHECK(saved && strstr(saved, "ttft_ms") == NULL && strstr(saved, "decode_tps") == NULL &&
		 strstr(saved, "prompt_tokens: 12") != NULL, "unmeasured figures written as numbers:\n%s", saved);
	free(saved);
	conv_free(c);
	unlink(path);
}

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL: refusing deeply nested YAML took more than 10 s\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/* `title: [[[[...` 100k deep took 16 s to refuse (libyaml's scanner works in proportion to the depth
 * on each token), in the list too. It is refused at the first level too many, with the file named.
 * The alarm only keeps a regression from hanging the suite; no timing is asserted. */
static void test_deep_nesting(void)
{
	static const struct { const char *name, *open, *head; } deep[] = {
		{ "deep-flow.yaml", "[", "version: 1\ntitle: " },
		{ "deep-map.yaml", "{a: ", "version: 1\ntitle: " },
		{ "deep-block.yaml", "- ", "version: 1\ntitle:\n" },
	};
	const size_t depth = 100000;
	char err[1024], path[4400];
	struct conv_list list;

	signal(SIGALRM, on_alarm);
	alarm(10);
	for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++) {
		size_t hl = strlen(deep[i].head), ol = strlen(deep[i].open);
		char *text = xmalloc(hl + depth * ol + 2);
		struct conversation *c;

		memcpy(text, deep[i].head, hl);
		for (size_t k = 0; k < depth; k++)
			memcpy(text + hl + k * ol, deep[i].open, ol);
		memcpy(text + hl + depth * ol, "\n", 2);
		snprintf(path, sizeof(path), "%s/%s", conv_dir, deep[i].name);
		ts_write(path, text, strlen(text));
		free(text);
		err[0] = '\0';
		c = conv_load(path, err, sizeof(err));
		TS_CHECK(c == NULL, "%s loaded", deep[i].name);
		conv_free(c);
		TS_CHECK(strstr(err, deep[i].name) != NULL && strstr(err, "nested more than 64 deep") != NULL &&
			 strchr(err, '\n') == NULL, "%s: the message should name the file and the nesting: \"%s\"",
			 deep[i].name, err);
	}
	/* A little nesting in ordinary places is fine: a title that is a list is refused for its type. */
	snprintf(path, sizeof(path), "%s/shallow.yaml", conv_dir);
	ts_write(path, "version: 1\ntitle: [[[[x]]]]\n", 28);
	{
		struct conversation *c = conv_load(path, err, sizeof(err));

		TS_CHECK(c == NULL && strstr(err, "nested") == NULL && strstr(err, "shallow.yaml:2:") != NULL,
			 "shallow nesting: \"%s\"", c ? "loaded" : err);
		conv_free(c);
	}
	TS_REQUIRE(conv_list(NULL, &list, err, sizeof(err)) == 0, "list: %s", err);
	for (size_t i = 0; i < list.n; i++)
		if (strncmp(list.v[i].id, "deep-", 5) == 0)
			TS_CHECK(list.v[i].error != NULL && strstr(list.v[i].error, "nested more than 64 deep") != NULL,
				 "the list shows %s without the nesting error: %s", list.v[i].id,
				 list.v[i].error ? list.v[i].error : "(no error)");
	conv_list_free(&list);
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", conv_dir, deep[i].name);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/shallow.yaml", conv_dir);
	unlink(path);
}

static void add_turn(struct conversation *c, const char *q, const char *a)
{
	conv_add_message(c, CONV_ROLE_USER, q, strlen(q));
	conv_add_message(c, CONV_ROLE_ASSISTANT, a, strlen(a));
}

/* Checks that the file at path holds exactly the contents want[0..n) in order. */
static void check_turns(const char *what, const char *path, const char *const *want, size_t n)
{
	char err[1024];
	struct conversation *c = conv_load(path, err, sizeof(err));

	TS_REQUIRE(c != NULL, "%s: %s", what, err);
	TS_CHECK(c->n_msgs == n, "%s: %zu messages in the file, expected %zu", what, c->n_msgs, n);
	for (size_t i = 0; i < n && i < c->n_msgs; i++)
		TS_CHECK(strcmp(c->msgs[i].content, want[i]) == 0, "%s: message %zu is \"%s\", expected \"%s\"",
			 what, i, c->msgs[i].content, want[i]);
	conv_free(c);
}

/* Two TUIs on one conversation: each save used to replace the file with its own view, so the other
 * side's turns vanished. Now new turns of both are kept, in order, or this side goes to a new file. */
static void test_two_writers(void)
{
	char err[1024], path[4400];
	struct conversation *a = conv_new(), *b, *c;
	int r;

	conv_set_title(a, "shared");
	add_turn(a, "q0", "a0");
	TS_REQUIRE(conv_save(a, err, sizeof(err)) == CONV_SAVED, "save: %s", err);
	snprintf(path, sizeof(path), "%s", a->path);
	b = conv_load(path, err, sizeof(err));
	TS_REQUIRE(b != NULL, "%s", err);

	/* Both send; B saves second and must keep A's turn. */
	add_turn(a, "qA", "aA");
	TS_CHECK(conv_save(a, err, sizeof(err)) == CONV_SAVED, "A's save: %s", err);
	add_turn(b, "qB", "aB");
	err[0] = '\0';
	r = conv_save(b, err, sizeof(err));
	TS_CHECK(r == CONV_SAVED_MERGED, "B's save after A's returned %d (%s), expected CONV_SAVED_MERGED", r, err);
	TS_CHECK(strstr(err, "another dscoder-tui") != NULL && strstr(err, "merged 2 messages") != NULL,
		 "the note for the user: \"%s\"", err);
	{
		static const char *const want[] = { "q0", "a0", "qA", "aA", "qB", "aB" };

		check_turns("after both sent", path, want, 6);
		TS_CHECK(b->n_msgs == 6 && strcmp(b->msgs[2].content, "qA") == 0 && strcmp(b->msgs[5].content, "aB") == 0,
			 "B in memory has %zu messages, not the merged six", b->n_msgs);
	}

	/* A streams an answer, saving as it goes, while B (idle) saves too: nothing of A's answer is lost
	 * and B's turn stays. */
	conv_add_message(a, CONV_ROLE_USER, "qA2", 3);
	conv_add_message(a, CONV_ROLE_ASSISTANT, "part", 4);
	r = conv_save(a, err, sizeof(err));
	TS_CHECK(r == CONV_SAVED_MERGED, "A's save after B's returned %d (%s)", r, err);
	conv_append_last(a, " and more", 9);
	TS_CHECK(conv_save(a, err, sizeof(err)) == CONV_SAVED, "A's second streaming save: %s", err);
	r = conv_save(b, err, sizeof(err));         /* B quits without a change */
	TS_CHECK(r == CONV_SAVED_MERGED, "B's idle save returned %d (%s)", r, err);
	conv_append_last(a, ", done", 6);
	r = conv_save(a, err, sizeof(err));
	TS_CHECK(r >= 0, "A's last streaming save: %s", err);
	{
		static const char *const want[] = { "q0", "a0", "qA", "aA", "qB", "aB", "qA2", "part and more, done" };

		check_turns("after A streamed while B saved", path, want, 8);
	}

	/* Another program renames it (the list's rename); A's next turn keeps the new title. */
	TS_CHECK(conv_rename(path, "renamed elsewhere", err, sizeof(err)) == 0, "rename: %s", err);
	add_turn(a, "q3", "a3");
	TS_CHECK(conv_save(a, err, sizeof(err)) >= 0, "save after the rename: %s", err);
	c = conv_load(path, err, sizeof(err));
	TS_CHECK(c != NULL && strcmp(c->title, "renamed elsewhere") == 0 && c->n_msgs == 10,
		 "after a rename elsewhere: title \"%s\", %zu messages", c ? c->title : err, c ? c->n_msgs : 0);
	conv_free(c);

	/* B regenerates its last answer (removes one both had) while A added a turn: no merge; B goes to
	 * a new conversation and A's file keeps A's turn. */
	conv_free(b);
	b = conv_load(path, err, sizeof(err));
	TS_REQUIRE(b != NULL, "%s", err);
	add_turn(a, "q4", "a4");
	TS_CHECK(conv_save(a, err, sizeof(err)) == CONV_SAVED, "A: %s", err);
	conv_remove_messages(b, b->n_msgs - 1, 1);
	conv_add_message(b, CONV_ROLE_ASSISTANT, "a3 again", 8);
	b->msgs[b->n_msgs - 1].time += 1;           /* a new answer, even within the same second */
	err[0] = '\0';
	r = conv_save(b, err, sizeof(err));
	TS_CHECK(r == CONV_SAVED_AS_NEW, "B's regenerate over A's turn returned %d (%s)", r, err);
	TS_CHECK(strcmp(b->path, path) != 0 && strstr(err, "new conversation") != NULL && strstr(err, b->id) != NULL,
		 "B saved to %s with the note \"%s\"", b->path, err);
	c = conv_load(path, err, sizeof(err));
	TS_CHECK(c != NULL && c->n_msgs == 12 && strcmp(c->msgs[11].content, "a4") == 0 &&
		 strcmp(c->msgs[9].content, "a3") == 0, "A's file after B went its own way: %zu messages",
		 c ? c->n_msgs : 0);
	conv_free(c);
	c = conv_load(b->path, err, sizeof(err));
	TS_CHECK(c != NULL && c->n_msgs == 10 && strcmp(c->msgs[9].content, "a3 again") == 0,
		 "B's new file: %s", c ? "wrong messages" : err);
	conv_free(c);
	/* B's next save goes to its new file, quietly. */
	add_turn(b, "q5", "a5");
	TS_CHECK(conv_save(b, err, sizeof(err)) == CONV_SAVED, "B's next save: %s", err);

	/* A file that another program made unreadable is left alone too. */
	ts_write(path, "version: 1\ntitle: [broken\n", 26);
	add_turn(a, "q6", "a6");
	r = conv_save(a, err, sizeof(err));
	TS_CHECK(r == CONV_SAVED_AS_NEW && strcmp(a->path, path) != 0, "saving over a file broken meanwhile "
		 "returned %d (%s)", r, err);
	{
		char *t = ts_read(path, NULL);

		TS_CHECK(t && strcmp(t, "version: 1\ntitle: [broken\n") == 0, "the broken file was overwritten");
		free(t);
	}
	unlink(path);
	conv_delete(a->path, err, sizeof(err));
	conv_delete(b->path, err, sizeof(err));
	conv_free(a);
	conv_free(b);
}

int main(void)
{
	char err[512], *d;

	ts_setup();
	d = paths_conversations_dir(0, err, sizeof(err));
	TS_REQUIRE(d != NULL, "%s", err);
	snprintf(conv_dir, sizeof(conv_dir), "%s", d);
	free(d);
	test_round_trip();
	test_invalid_utf8_and_streaming();
	test_fim();
	test_save_failure();
	test_corrupted();
	test_list_search_rename_delete();
	test_markdown();
	test_locale();
	test_old_years();
	test_unmeasured_stats();
	test_deep_nesting();
	test_two_writers();
	return ts_finish("test-conversation");
}

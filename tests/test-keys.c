/* test-keys.c: the key table: every action reachable and documented, no key bound twice in one
 * pane, lookups with pane fallback to global keys, key names that parse back. */
#include "build-config.h"
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
	fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); } } while (0)

int main(void)
{
	/* No key twice in a context (the second would never fire), except IF_EMPTY variants. */
	for (const struct key_binding *a = keys_table; a->key; a++)
		for (const struct key_binding *b = a + 1; b->key; b++)
			if (a->ctx == b->ctx && a->key == b->key && a->flags == b->flags) {
				char n[32];
				CHECK(0, "%s bound twice in %s", keys_name(a->key, n, sizeof n),
				      keys_ctx_name(a->ctx));
			}
	/* Every action has a name, a help text and at least one visible key. */
	for (int act = 1; act < ACT__COUNT; act++) {
		CHECK(strcmp(keys_action_name(act), "?") != 0, "action %d has no name", act);
		CHECK(*keys_action_help(act), "action %s has no help", keys_action_name(act));
		int bound = 0;
		for (const struct key_binding *b = keys_table; b->key; b++)
			if ((int)b->act == act && !(b->flags & KB_HIDDEN))
				bound = 1;
		CHECK(bound, "action %s has no key in the help", keys_action_name(act));
	}
	/* Action names are unique (they are how config files and the manual name them). */
	for (int x = 1; x < ACT__COUNT; x++)
		for (int y = x + 1; y < ACT__COUNT; y++)
			CHECK(strcmp(keys_action_name(x), keys_action_name(y)) != 0, "name %s twice",
			      keys_action_name(x));
	/* Lookups. */
	const struct key_binding *b = keys_lookup(KCTX_INPUT, '\r', 1);
	CHECK(b && b->act == ACT_SEND, "Enter does not send");
	b = keys_lookup(KCTX_INPUT, KEYS_META | '\r', 1);
	CHECK(b && b->act == ACT_NEWLINE, "Alt-Enter does not insert a newline");
	b = keys_lookup(KCTX_INPUT, KEYS_CTRL('J'), 0);
	CHECK(b && b->act == ACT_NEWLINE, "Ctrl-J does not insert a newline");
	b = keys_lookup(KCTX_INPUT, KEYS_FUNC | KEY_F(1), 0);
	CHECK(b && b->act == ACT_HELP, "F1 (global) not found from the input");
	b = keys_lookup(KCTX_INPUT, '?', 1);
	CHECK(b && b->act == ACT_HELP, "? in an empty input is not help");
	b = keys_lookup(KCTX_INPUT, '?', 0);
	CHECK(!b, "? in a non-empty input should type a ?");
	b = keys_lookup(KCTX_INPUT, KEYS_FUNC | KEY_HOME, 0);
	CHECK(b && b->act == ACT_LINE_START, "Home in text is not line start");
	b = keys_lookup(KCTX_INPUT, KEYS_FUNC | KEY_HOME, 1);
	CHECK(b && b->act == ACT_SCROLL_TOP, "Home with an empty input does not scroll to the top");
	b = keys_lookup(KCTX_INPUT, KEYS_FUNC | KEY_END, 1);
	CHECK(b && b->act == ACT_SCROLL_BOTTOM, "End with an empty input does not scroll to the end");
	b = keys_lookup(KCTX_TRANSCRIPT, KEYS_FUNC | KEY_HOME, 1);
	CHECK(b && b->act == ACT_SCROLL_TOP, "Home in the transcript is not scroll-top");
	b = keys_lookup(KCTX_SIDEBAR, KEYS_FUNC | KEY_HOME, 1);
	CHECK(b && b->act == ACT_LIST_TOP, "Home in the list does not select the first conversation");
	b = keys_lookup(KCTX_SIDEBAR, '?', 1);
	CHECK(b && b->act == ACT_HELP, "? in the list does not open the help");
	b = keys_lookup(KCTX_SIDEBAR, 'd', 1);
	CHECK(b && b->act == ACT_LIST_DELETE, "d in the list is not delete");
	b = keys_lookup(KCTX_INPUT, 'd', 1);
	CHECK(!b, "d in the input is bound");
	b = keys_lookup(KCTX_INPUT, 27, 0);
	CHECK(b && b->act == ACT_ESCAPE, "Esc not bound");
	b = keys_lookup(KCTX_INPUT, KEYS_CTRL('C'), 0);
	CHECK(b && b->act == ACT_INTERRUPT, "Ctrl-C not bound");
	/* Names round-trip. */
	for (const struct key_binding *k = keys_table; k->key; k++) {
		char n[32];
		keys_name(k->key, n, sizeof n);
		CHECK(keys_parse(n) == k->key, "\"%s\" parses to %#x, not %#x", n, keys_parse(n), k->key);
	}
	char n[32];
	CHECK(strcmp(keys_name(KEYS_CTRL('C'), n, sizeof n), "Ctrl-C") == 0, "name %s", n);
	CHECK(strcmp(keys_name(KEYS_META | '\r', n, sizeof n), "Alt-Enter") == 0, "name %s", n);
	CHECK(strcmp(keys_name(KEYS_FUNC | KEY_F(12), n, sizeof n), "F12") == 0, "name %s", n);
	CHECK(keys_parse("Nonsense") == 0, "a bad name parsed");
	char buf[128];
	keys_for_action(ACT_HELP, KCTX_GLOBAL, buf, sizeof buf);
	CHECK(strcmp(buf, "F1 / ?") == 0, "help keys \"%s\"", buf);
	/* The manual lists every key of the table. */
	FILE *f = fopen(TOP_SRCDIR "/man/dscoder-tui.1", "r");
	CHECK(f != NULL, "cannot read %s", TOP_SRCDIR "/man/dscoder-tui.1");
	if (f) {
		static char man[1 << 17];
		size_t n = fread(man, 1, sizeof man - 1, f), o = 0;
		fclose(f);
		/* roff: "\-" is a hyphen. */
		for (size_t i = 0; i < n; i++) {
			if (man[i] == '\\' && i + 1 < n && man[i + 1] == '-')
				continue;
			man[o++] = man[i];
		}
		man[o] = '\0';
		for (const struct key_binding *k = keys_table; k->key; k++) {
			if (k->flags & KB_HIDDEN)
				continue;
			char name[32];
			keys_name(k->key, name, sizeof name);
			CHECK(strstr(man, name) != NULL, "the manual does not mention %s (%s)", name,
			      keys_action_name(k->act));
		}
	}
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}

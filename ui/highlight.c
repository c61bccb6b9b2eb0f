/* highlight.c: syntax highlighting of code-block lines by languages defined in syntax/NAME.syntax files. */

/*
 * The syntax file format (also in syntax/README and dscoder-tui(5)):
 *
 *   # A comment: a line whose first non-blank character is '#'.
 *   name = c                       the language's name (required, once)
 *   fence = c h                    fence tags that select it (case-insensitive; the file name
 *                                  without .syntax is always one); may repeat
 *   case = insensitive             word lists match in any case (default: sensitive)
 *   wordchars = _$                 characters that, besides letters and digits, make up a word
 *                                  (default "_"); bytes >= 0x80 are always word characters
 *   ROLE = WORD WORD ...           words shown with ROLE; may repeat (ROLE = keyword, type, ...)
 *   match ROLE = REGEX             every match of REGEX on a line is shown with ROLE
 *   region ROLE = REGEX            from a match of REGEX up to and including a match of the
 *   end = REGEX                      `end` regex that must follow it, over as many lines as it
 *   skip = REGEX                     takes; an optional `skip` (such as \\. for escapes) is
 *                                    stepped over while looking for the end
 *
 * ROLE is one of: keyword, type, string, comment, number, preproc, function, constant,
 * attribute, diff_add, diff_del, plain (the theme roles code_keyword ... without "code_").
 * REGEX is a PCRE2 pattern (UTF mode), the rest of the line after "= " as written, without
 * quotes. It is matched against one line at a time (no '\n'), so ^ and $ are line edges;
 * lookbehind sees the text before the match on the same line, \K and lookahead can limit what
 * is coloured (match function = \b[A-Za-z_]\w*(?=\s*\()).
 *
 * How a line is coloured: from the current position, the earliest match of any word, `match`
 * or region start wins; at the same position a listed word wins, then the rule that comes first
 * in the file. The matched text gets the role and scanning goes on after it, so text inside a
 * string or comment is never coloured as a keyword. Empty matches are ignored. Text no rule
 * claims is plain code (code_bg).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "highlight.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datafile.h"
#include "theme.h"
#include "xalloc.h"

enum rule_kind { RULE_MATCH, RULE_REGION };

struct hl_rule {
	enum rule_kind kind;
	uint8_t role;
	pcre2_code *re;   /* the match, or the region's start */
	pcre2_code *end;  /* region only */
	pcre2_code *skip; /* region only, may be NULL */
};

struct hl_word {
	const char *word; /* into hl_lang.words_text */
	size_t len;
	uint8_t role;
};

struct hl_lang {
	char *name;
	char **fences;
	size_t nfences;
	bool icase;
	bool wordchar[256];
	struct hl_rule *rules;
	size_t nrules;
	struct hl_word *words; /* sorted for binary search */
	size_t nwords;
	char **word_store; /* the word-list lines, owned */
	size_t nword_store;
	pcre2_match_data *md;
};

static const struct { const char *name; uint8_t role; } syntax_roles[] = {
	{ "keyword", ROLE_CODE_KEYWORD }, { "type", ROLE_CODE_TYPE }, { "string", ROLE_CODE_STRING },
	{ "comment", ROLE_CODE_COMMENT }, { "number", ROLE_CODE_NUMBER }, { "preproc", ROLE_CODE_PREPROC },
	{ "function", ROLE_CODE_FUNCTION }, { "constant", ROLE_CODE_CONSTANT },
	{ "attribute", ROLE_CODE_ATTRIBUTE }, { "diff_add", ROLE_CODE_DIFF_ADD },
	{ "diff_del", ROLE_CODE_DIFF_DEL }, { "plain", ROLE_CODE_BG },
};

static int syntax_role(const char *name)
{
	if (strncasecmp(name, "code_", 5) == 0)
		name += 5;
	for (size_t i = 0; i < sizeof syntax_roles / sizeof syntax_roles[0]; i++)
		if (strcasecmp(name, syntax_roles[i].name) == 0)
			return syntax_roles[i].role;
	return -1;
}

void hl_lang_free(struct hl_lang *lang)
{
	if (!lang)
		return;
	free(lang->name);
	for (size_t i = 0; i < lang->nfences; i++)
		free(lang->fences[i]);
	free(lang->fences);
	for (size_t i = 0; i < lang->nrules; i++) {
		pcre2_code_free(lang->rules[i].re);
		pcre2_code_free(lang->rules[i].end);
		pcre2_code_free(lang->rules[i].skip);
	}
	free(lang->rules);
	free(lang->words);
	for (size_t i = 0; i < lang->nword_store; i++)
		free(lang->word_store[i]);
	free(lang->word_store);
	if (lang->md)
		pcre2_match_data_free(lang->md);
	free(lang);
}

static pcre2_code *compile(const char *re, const char *filename, int lineno, char *err, size_t errlen)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
				      &code, &off, NULL);
	if (!c) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof msg);
		errorf(err, errlen, "%s:%d: bad regular expression at offset %zu: %s.", filename, lineno, (size_t)off,
		       (const char *)msg);
		return NULL;
	}
	/* JIT is only a speed-up: without it (no JIT support on this CPU) the interpreter runs. */
	pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
	return c;
}

static const struct hl_lang *sort_lang; /* for word_cmp (qsort has no context argument) */

static int word_cmp_n(const char *a, size_t alen, const char *b, size_t blen, bool icase)
{
	size_t n = alen < blen ? alen : blen;
	int c = icase ? strncasecmp(a, b, n) : strncmp(a, b, n);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int word_cmp(const void *x, const void *y)
{
	const struct hl_word *a = x, *b = y;
	return word_cmp_n(a->word, a->len, b->word, b->len, sort_lang->icase);
}

static void add_fence(struct hl_lang *l, const char *f)
{
	l->fences = xreallocarray(l->fences, l->nfences + 1, sizeof *l->fences);
	char *c = xstrdup(f);
	for (char *p = c; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	l->fences[l->nfences++] = c;
}

struct hl_lang *hl_lang_parse(const char *text, size_t len, const char *filename, char *err, size_t errlen)
{
	struct hl_lang *l = xcalloc(1, sizeof *l);
	for (int c = 0; c < 256; c++)
		l->wordchar[c] = isalnum(c) || c == '_' || c >= 0x80;
	size_t nwords_cap = 0;
	int lineno = 0;
	struct hl_rule *open_region = NULL;
	int open_region_line = 0;
	char *line = NULL;
	size_t pos = 0;
	while (pos < len) {
		size_t eol = pos;
		while (eol < len && text[eol] != '\n')
			eol++;
		lineno++;
		free(line);
		/* a file saved with CRLF line ends: the CR is not part of a regex */
		size_t end = eol > pos && text[eol - 1] == '\r' ? eol - 1 : eol;
		line = xstrndup(text + pos, end - pos);
		pos = eol + 1;
		char *s = datafile_trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			errorf(err, errlen, "%s:%d: expected 'key = value', found '%s'.", filename, lineno, s);
			goto fail;
		}
		*eq = '\0';
		char *key = datafile_trim(s);
		char *val = eq + 1;
		/* A regex is the value as written: only the one space after '=' is not part of it. */
		if (*val == ' ' || *val == '\t')
			val++;
		char *tcopy = xstrdup(val);
		char *tval = datafile_trim(tcopy); /* for the non-regex keys */
		char *arg = strchr(key, ' ');
		if (!arg)
			arg = strchr(key, '\t');
		if (arg) {
			*arg++ = '\0';
			arg = datafile_trim(arg);
		}
		if (strcmp(key, "end") != 0 && strcmp(key, "skip") != 0 && open_region && !open_region->end) {
			errorf(err, errlen, "%s:%d: the region started on line %d has no 'end = REGEX' line after it.",
			       filename, lineno, open_region_line);
			free(tcopy);
			goto fail;
		}
		int role;
		if (strcmp(key, "name") == 0 && !arg) {
			free(l->name);
			l->name = xstrdup(tval);
		} else if (strcmp(key, "fence") == 0 && !arg) {
			char *save = NULL;
			for (char *w = strtok_r(tval, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save))
				add_fence(l, w);
		} else if (strcmp(key, "case") == 0 && !arg) {
			if (strcasecmp(tval, "insensitive") == 0)
				l->icase = true;
			else if (strcasecmp(tval, "sensitive") == 0)
				l->icase = false;
			else {
				errorf(err, errlen, "%s:%d: case must be 'sensitive' or 'insensitive', not '%s'.", filename,
				       lineno, tval);
				free(tcopy);
				goto fail;
			}
		} else if (strcmp(key, "wordchars") == 0 && !arg) {
			for (char *p = tval; *p; p++)
				l->wordchar[(unsigned char)*p] = true;
		} else if ((strcmp(key, "match") == 0 || strcmp(key, "region") == 0) && arg) {
			role = syntax_role(arg);
			if (role < 0) {
				errorf(err, errlen,
				       "%s:%d: unknown role '%s' (keyword, type, string, comment, number, preproc, function, constant, attribute, diff_add, diff_del, plain).",
				       filename, lineno, arg);
				free(tcopy);
				goto fail;
			}
			pcre2_code *re = compile(val, filename, lineno, err, errlen);
			if (!re) {
				free(tcopy);
				goto fail;
			}
			l->rules = xreallocarray(l->rules, l->nrules + 1, sizeof *l->rules);
			struct hl_rule *r = &l->rules[l->nrules++];
			*r = (struct hl_rule){ .kind = key[0] == 'm' ? RULE_MATCH : RULE_REGION, .role = (uint8_t)role, .re = re };
			open_region = r->kind == RULE_REGION ? r : NULL;
			open_region_line = lineno;
		} else if ((strcmp(key, "end") == 0 || strcmp(key, "skip") == 0) && !arg) {
			if (!open_region) {
				errorf(err, errlen, "%s:%d: '%s' must follow a 'region ROLE = REGEX' line.", filename, lineno, key);
				free(tcopy);
				goto fail;
			}
			pcre2_code **slot = key[0] == 'e' ? &open_region->end : &open_region->skip;
			if (*slot) {
				errorf(err, errlen, "%s:%d: the region already has its '%s'.", filename, lineno, key);
				free(tcopy);
				goto fail;
			}
			*slot = compile(val, filename, lineno, err, errlen);
			if (!*slot) {
				free(tcopy);
				goto fail;
			}
		} else if (!arg && (role = syntax_role(key)) >= 0) {
			/* A word list: keep the line, point the words into it. */
			l->word_store = xreallocarray(l->word_store, l->nword_store + 1, sizeof *l->word_store);
			char *store = xstrdup(tval);
			l->word_store[l->nword_store++] = store;
			char *save = NULL;
			for (char *w = strtok_r(store, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
				if (l->nwords == nwords_cap) {
					nwords_cap = nwords_cap ? nwords_cap * 2 : 64;
					l->words = xreallocarray(l->words, nwords_cap, sizeof *l->words);
				}
				l->words[l->nwords++] = (struct hl_word){ .word = w, .len = strlen(w), .role = (uint8_t)role };
			}
		} else {
			errorf(err, errlen,
			       "%s:%d: unknown key '%s%s%s' (name, fence, case, wordchars, ROLE, match ROLE, region ROLE, end, skip).",
			       filename, lineno, key, arg ? " " : "", arg ? arg : "");
			free(tcopy);
			goto fail;
		}
		free(tcopy);
	}
	if (open_region && !open_region->end) {
		errorf(err, errlen, "%s:%d: the region started on line %d has no 'end = REGEX' line after it.", filename,
		       lineno, open_region_line);
		goto fail;
	}
	if (!l->name) {
		errorf(err, errlen, "%s: no 'name = ...' line.", filename);
		goto fail;
	}
	free(line);
	{
		char *b = datafile_name(filename, ".syntax");
		add_fence(l, b);
		free(b);
	}
	sort_lang = l;
	if (l->nwords)
		qsort(l->words, l->nwords, sizeof *l->words, word_cmp);
	sort_lang = NULL;
	l->md = pcre2_match_data_create(16, NULL);
	return l;
fail:
	free(line);
	hl_lang_free(l);
	return NULL;
}

const char *hl_lang_name(const struct hl_lang *lang)
{
	return lang ? lang->name : NULL;
}

/* ---- the registry ---- */

static struct {
	bool loaded;
	struct hl_lang **langs;
	size_t nlangs;
	char *errors;
} reg;

static void reg_error(const char *msg)
{
	char *e = reg.errors ? xasprintf("%s\n%s", reg.errors, msg) : xstrdup(msg);
	free(reg.errors);
	reg.errors = e;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void reg_load(void)
{
	reg.loaded = true;
	char *dirs[2];
	size_t nd = datafile_dirs("syntax", dirs);
	char **seen = NULL; /* file names already taken from an earlier (user) directory */
	size_t nseen = 0;
	for (size_t d = 0; d < nd; d++) {
		DIR *dir = opendir(dirs[d]);
		if (!dir)
			continue;
		char **names = NULL;
		size_t nn = 0;
		struct dirent *de;
		while ((de = readdir(dir))) {
			size_t n = strlen(de->d_name);
			if (n > 7 && strcmp(de->d_name + n - 7, ".syntax") == 0) {
				names = xreallocarray(names, nn + 1, sizeof *names);
				names[nn++] = xstrdup(de->d_name);
			}
		}
		closedir(dir);
		/* Sorted, so which file claims a fence tag first does not depend on the directory order. */
		if (nn)
			qsort(names, nn, sizeof *names, str_cmp);
		for (size_t i = 0; i < nn; i++) {
			bool dup = false;
			for (size_t j = 0; j < nseen; j++)
				dup |= strcmp(seen[j], names[i]) == 0;
			if (dup) {
				free(names[i]);
				continue;
			}
			char *path = xasprintf("%s/%s", dirs[d], names[i]);
			char err[512];
			size_t len;
			char *text = datafile_read(path, &len, err, sizeof err);
			struct hl_lang *l = text ? hl_lang_parse(text, len, path, err, sizeof err) : NULL;
			free(text);
			free(path);
			if (!l) {
				reg_error(err);
			} else {
				reg.langs = xreallocarray(reg.langs, reg.nlangs + 1, sizeof *reg.langs);
				reg.langs[reg.nlangs++] = l;
			}
			seen = xreallocarray(seen, nseen + 1, sizeof *seen);
			seen[nseen++] = names[i];
		}
		free(names);
	}
	for (size_t j = 0; j < nseen; j++)
		free(seen[j]);
	free(seen);
	for (size_t d = 0; d < nd; d++)
		free(dirs[d]);
}

void hl_reset(void)
{
	for (size_t i = 0; i < reg.nlangs; i++)
		hl_lang_free(reg.langs[i]);
	free(reg.langs);
	free(reg.errors);
	memset(&reg, 0, sizeof reg);
}

const char *hl_errors(void)
{
	if (!reg.loaded)
		reg_load();
	return reg.errors;
}

const struct hl_lang *hl_find(const char *tag)
{
	if (!tag)
		return NULL;
	/* "```{.python}" and "```python title=x": the first word, without braces or a dot. */
	while (*tag == '{' || *tag == '.' || isspace((unsigned char)*tag))
		tag++;
	size_t n = 0;
	while (tag[n] && !isspace((unsigned char)tag[n]) && tag[n] != '}' && tag[n] != ',' && tag[n] != '{')
		n++;
	if (n == 0 || n > 63)
		return NULL;
	char key[64];
	for (size_t i = 0; i < n; i++)
		key[i] = (char)tolower((unsigned char)tag[i]);
	key[n] = '\0';
	if (!reg.loaded)
		reg_load();
	for (size_t i = 0; i < reg.nlangs; i++)
		for (size_t f = 0; f < reg.langs[i]->nfences; f++)
			if (strcmp(reg.langs[i]->fences[f], key) == 0)
				return reg.langs[i];
	return NULL;
}

/* ---- colouring a line ---- */

static int word_lookup(const struct hl_lang *l, const char *w, size_t len)
{
	size_t lo = 0, hi = l->nwords;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = word_cmp_n(w, len, l->words[mid].word, l->words[mid].len, l->icase);
		if (c == 0)
			return l->words[mid].role;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* A user's syntax file may hold a regex that backtracks catastrophically; with this limit such
 * a rule simply does not match on that line instead of freezing the screen. */
static pcre2_match_context *match_context(void)
{
	static pcre2_match_context *ctx;
	if (!ctx) {
		ctx = pcre2_match_context_create(NULL);
		if (ctx) {
			pcre2_set_match_limit(ctx, 100000);
			pcre2_set_depth_limit(ctx, 10000);
		}
	}
	return ctx;
}

/* Finds re in line at or after from; empty matches are skipped. Returns false when none. */
static bool find(const struct hl_lang *l, const pcre2_code *re, const char *line, size_t len, size_t from,
		 size_t *ms, size_t *me)
{
	while (from <= len) {
		int rc = pcre2_match(re, (PCRE2_SPTR)line, len, from, 0, l->md, match_context());
		if (rc < 0)
			return false; /* no match, or a pathological pattern hit the match limit */
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(l->md);
		if (ov[1] > ov[0] && ov[0] >= from) {
			*ms = ov[0];
			*me = ov[1];
			return true;
		}
		/* An empty match (or \K pointing back): look again one code point further. */
		size_t next = (ov[0] > from ? ov[0] : from) + 1;
		while (next < len && ((unsigned char)line[next] & 0xC0) == 0x80)
			next++;
		from = next;
	}
	return false;
}

/* Where region r ends on this line when searching from `from`: the end of its end match, or
 * (size_t)-1 when it runs past the line. */
static size_t region_end(const struct hl_lang *l, const struct hl_rule *r, const char *line, size_t len, size_t from)
{
	for (;;) {
		size_t es, ee, ss, se;
		bool e = find(l, r->end, line, len, from, &es, &ee);
		if (r->skip && find(l, r->skip, line, len, from, &ss, &se) && (!e || ss < es)) {
			from = se;
			continue;
		}
		return e ? ee : (size_t)-1;
	}
}

static void fill(uint8_t *roles, size_t from, size_t to, uint8_t role)
{
	if (to > from)
		memset(roles + from, role, to - from);
}

#define HL_MAX_RULES_CACHED 64

void hl_line(const struct hl_lang *l, struct hl_state *state, const char *line, size_t len, uint8_t *roles)
{
	fill(roles, 0, len, ROLE_CODE_BG);
	if (!l)
		return;
	size_t p = 0;
	if (state->region >= 0 && (size_t)state->region < l->nrules) {
		const struct hl_rule *r = &l->rules[state->region];
		size_t e = region_end(l, r, line, len, 0);
		if (e == (size_t)-1) {
			fill(roles, 0, len, r->role);
			return;
		}
		fill(roles, 0, e, r->role);
		p = e;
	}
	state->region = -1;
	/* The next match of each rule from where it was last searched: valid while it lies at or
	 * after p, so each rule is searched about once per match it makes. */
	size_t cs[HL_MAX_RULES_CACHED], ce[HL_MAX_RULES_CACHED];
	size_t nr = l->nrules < HL_MAX_RULES_CACHED ? l->nrules : HL_MAX_RULES_CACHED;
	const size_t NONE = (size_t)-1;
	for (size_t i = 0; i < nr; i++)
		cs[i] = NONE - 1; /* "not searched yet" */
	size_t ws = NONE, we = 0; /* next listed word */
	int wrole = -1;
	bool words_searched = false;
	while (p < len) {
		/* next listed word at or after p */
		if (l->nwords && (!words_searched || (ws != NONE && ws < p))) {
			words_searched = true;
			ws = NONE;
			for (size_t q = p; q < len; q++) {
				if (!l->wordchar[(unsigned char)line[q]] || (q > 0 && l->wordchar[(unsigned char)line[q - 1]]))
					continue;
				size_t e = q;
				while (e < len && l->wordchar[(unsigned char)line[e]])
					e++;
				int r = word_lookup(l, line + q, e - q);
				if (r >= 0) {
					ws = q;
					we = e;
					wrole = r;
					break;
				}
				q = e - 1;
			}
		}
		size_t best = ws;
		int bi = -1; /* -1: the word (if any) */
		for (size_t i = 0; i < nr; i++) {
			if (cs[i] == NONE - 1 || (cs[i] != NONE && cs[i] < p)) {
				if (!find(l, l->rules[i].re, line, len, p, &cs[i], &ce[i]))
					cs[i] = NONE;
			}
			if (cs[i] != NONE && cs[i] < best) {
				best = cs[i];
				bi = (int)i;
			}
		}
		if (best == NONE)
			break;
		if (bi < 0) {
			fill(roles, ws, we, (uint8_t)wrole);
			p = we;
			continue;
		}
		const struct hl_rule *r = &l->rules[bi];
		fill(roles, cs[bi], ce[bi], r->role);
		p = ce[bi];
		if (r->kind == RULE_REGION) {
			size_t e = region_end(l, r, line, len, p);
			if (e == (size_t)-1) {
				fill(roles, p, len, r->role);
				state->region = bi;
				return;
			}
			fill(roles, p, e, r->role);
			p = e;
		}
	}
}

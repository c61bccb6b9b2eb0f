/* test-tokenizer-regex.c: the rewriting of tokenizer.json's Oniguruma regexes into PCRE2 syntax
 * (tok_regex_translate), pattern by pattern, and that every result compiles. */
#include "tokenizer-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void expect(const char *pat, const char *want)
{
	char err[256] = "";
	char *got = tok_regex_translate(pat, strlen(pat), err, sizeof(err));

	if (want == NULL) {
		if (got != NULL) {
			fprintf(stderr, "FAIL: \"%s\" should be refused, became \"%s\"\n", pat, got);
			failures++;
		} else {
			printf("refused \"%s\": %s\n", pat, err);
		}
		free(got);
		return;
	}
	if (got == NULL || strcmp(got, want) != 0) {
		fprintf(stderr, "FAIL: \"%s\"\n  want \"%s\"\n  got  \"%s\" %s\n", pat, want,
			got ? got : "(refused)", got ? "" : err);
		failures++;
	} else {
		int code;
		PCRE2_SIZE off;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)got, PCRE2_ZERO_TERMINATED,
					       PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);

		if (re == NULL) {
			fprintf(stderr, "FAIL: \"%s\" became \"%s\", which PCRE2 does not compile (%d at %zu)\n",
				pat, got, code, (size_t)off);
			failures++;
		}
		pcre2_code_free(re);
	}
	free(got);
}

int main(void)
{
	/* Unchanged: the syntax both dialects share. */
	expect("[\r\n]", "[\r\n]");
	expect("\\p{N}+", "\\p{N}+");
	expect("'s|'t|(?i:'re)| ?\\p{L}+|\\d{1,3}", "'s|'t|(?i:'re)| ?\\p{L}+|\\d{1,3}");
	expect("[]a]", "[]a]");
	expect("[^]a]", "[^]a]");
	expect("[[:alpha:]_]+", "[[:alpha:]_]+");
	expect("[!-/:-~\xef\xbc\x81-\xef\xbc\x8f]+", "[!-/:-~\xef\xbc\x81-\xef\xbc\x8f]+");
	expect("\\[x\\]", "\\[x\\]");
	expect("[\\]\\-]", "[\\]\\-]");
	/* Out-of-order ranges are dropped, as Oniguruma ignores them. */
	expect("[z-ab]+", "[b]+");
	expect("[\xe1\xbd\x9d\xe1\xbd\x9f-\xcf\x8e\xe1\xbe\x80]", "[\xe1\xbd\x9d\xe1\xbe\x80]");
	expect("[\\x{1f5f}-\\x{3ce}x]", "[x]");
	expect("[\\u1f5f-\\u03ce]", "[^\\x{0}-\\x{10FFFF}]");
	expect("[^z-a]", "[\\x{0}-\\x{10FFFF}]");
	/* Escapes spelled differently. */
	expect("\\u00e9+", "\\x{00E9}+");
	expect("[\\u0041-\\u005a]", "[\\x{0041}-\\x{005A}]");
	expect("\\x41\\x{1F600}", "\\x{41}\\x{1F600}");
	expect("\\h+", "[0-9a-fA-F]+");
	expect("[\\hxyz]", "[0-9a-fA-Fxyz]");
	/* \s is Unicode White_Space, U+0085 included. */
	expect("\\s+$", "[\\s\\x{85}]+$");
	expect("\\S", "[^\\s\\x{85}]");
	expect("[^\\s\\p{L}\\p{N}]+", "[^\\s\\x{85}\\p{L}\\p{N}]+");
	expect("[\\s-x]", "[\\s\\x{85}\\-x]");
	expect("\\s+(?!\\S)|\\s+", "[\\s\\x{85}]+(?![^\\s\\x{85}])|[\\s\\x{85}]+");
	/* What is refused rather than guessed. */
	expect("[a-z&&[^aeiou]]", NULL);
	expect("[[a]]", NULL);
	expect("[abc", NULL);
	expect("abc\\", NULL);
	expect("[\\H]", NULL);
	if (failures) {
		fprintf(stderr, "%d pattern(s) wrong\n", failures);
		return 1;
	}
	printf("all regex translations as expected\n");
	return 0;
}

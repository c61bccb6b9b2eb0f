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
	/* A backwards range matches nothing and is left out. */
	expect("[z-ab]+", "[b]+");
	expect("[^z-a]", "[\\x{0}-\\x{10FFFF}]");
	/* Characters that Unicode normalisation replaced are put back (tokenizer-regex.c): the
	 * DeepSeek-V2 letter class as checkpoints store it. U+03CE was U+1F7D, ASCII K was U+212A
	 * KELVIN SIGN, Ω U+03A9 was U+2126 OHM SIGN, ι U+03B9 was U+1FBE. */
	expect("[\xe1\xbd\x9d\xe1\xbd\x9f-\xcf\x8e\xe1\xbe\x80]", "[\xe1\xbd\x9d\xe1\xbd\x9f-\\x{1F7D}\xe1\xbe\x80]");
	expect("[\\x{1f5f}-\\x{3ce}x]", "[\\x{1F5F}-\\x{1F7D}x]");
	expect("[\\u1f5f-\\u03ce]", "[\\x{1F5F}-\\x{1F7D}]");
	expect("[\xe2\x84\xa8K-\xe2\x84\xad]", "[\xe2\x84\xa8\\x{212A}-\xe2\x84\xad]");
	expect("[\xe2\x84\xa4\xce\xa9\xe2\x84\xa8]", "[\xe2\x84\xa4\\x{2126}\xe2\x84\xa8]");
	expect("[\xe1\xbe\xbc\xce\xb9\xe1\xbf\x82]", "[\xe1\xbe\xbc\\x{1FBE}\xe1\xbf\x82]");
	/* Hand-written classes that merely contain such characters stay as they are. */
	expect("[A-Z]", "[A-Z]");
	expect("[K-Z]", "[K-Z]");
	expect("[0-K]", "[0-K]");
	expect("[\xce\xa9-\xcf\x89]", "[\xce\xa9-\xcf\x89]");
	expect("[K\xce\xa9;]", "[K\xce\xa9;]");
	expect("[A-Za-z\xc2\xb5]", "[A-Za-z\xc2\xb5]");
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

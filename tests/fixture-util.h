/* fixture-util.h: what the C tests share: the CHECK macro and its failure count, the fixtures folder,
 * and readers for the golden files (token ids as text, logits as little-endian float32). */
#ifndef FIXTURE_UTIL_H
#define FIXTURE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Checks that failed so far; a test returns 1 when it is non-zero. */
extern int fix_failures;

/* One failed check: counted, and a line on stdout that says what differed; a test that defines
 * FIX_CHECK_AT before including this also names the file and line, and one whose messages carry
 * more (the condition, stderr) defines FIX_OWN_CHECK and its own CHECK. */
#if defined(FIX_CHECK_AT)
#define CHECK(cond, ...) do { if (!(cond)) { fix_failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
	printf(__VA_ARGS__); printf("\n"); } } while (0)
#elif !defined(FIX_OWN_CHECK)
#define CHECK(cond, ...) do { if (!(cond)) { fix_failures++; printf("FAIL: " __VA_ARGS__); printf("\n"); } } while (0)
/* Marsaglia's xorshift64 (13, 7, 17): advances *STATE and returns it. A fixed seed per test, so a
 * failure reproduces. */
uint64_t fix_xorshift(uint64_t *state);

/* A value in [-1, 1] in steps of 1e-6, from bits 11 and up of the next fix_xorshift(STATE). */
float fix_rndf(uint64_t *state);

/* F rounded to the nearest BF16 (ties to even), as the bits of the BF16 value. */
uint16_t fix_bf16(float f);

#endif

/* The fixtures folder: the harness's $FIXTURES when set and not empty (so that a copy carried to
 * another machine is found), else the one configure saw (FIXTURES_DIR). */
const char *fix_dir(void);

/* Whether FIXTURES/models is there; when it is not, prints "SKIP: no fixtures at DIR" (the test then
 * exits 77). */
int fix_have_models(void);

/* The whitespace-separated integers of PATH in a new xmalloc'd array (the caller frees it), their
 * count in *N. NULL, and *N unchanged, when PATH cannot be opened. */
int *fix_read_ids(const char *path, int *n);

/* The whole of PATH in a new xmalloc'd buffer with a NUL after it (the caller frees it), its length
 * in *LEN. NULL, and *LEN unchanged, when PATH cannot be opened, is not a plain file or reads short. */
char *fix_read_file(const char *path, size_t *len);

/* The little-endian float32 values of PATH in a new xmalloc'd array (the caller frees it), their
 * count in *N. NULL, and *N unchanged, when PATH cannot be opened or is not a plain file. */
float *fix_read_f32(const char *path, size_t *n);

/* A fixture model's golden files: prompt.ids, greedy.ids and logits.f32 under DIR/golden. */
struct fix_golden {
	int *prompt, n_prompt;
	int *greedy, n_greedy;
	float *logits;              /* n_prompt x vocab */
};

/* Reads them into G (free with fix_golden_free, also after a failure). Returns 0 when all three are
 * there with n_greedy greedy ids and n_prompt x vocab logits, else -1. */
int fix_read_golden(const char *dir, int vocab, int n_greedy, struct fix_golden *g);
void fix_golden_free(struct fix_golden *g);

/* The largest |a[i] - b[i]| over N values; a NaN on either side counts as infinitely far. */
double fix_max_diff(const float *a, const float *b, size_t n);

/* Marsaglia's xorshift64 (13, 7, 17): advances *STATE and returns it. A fixed seed per test, so a
 * failure reproduces. */
uint64_t fix_xorshift(uint64_t *state);

/* A value in [-1, 1] in steps of 1e-6, from bits 11 and up of the next fix_xorshift(STATE). */
float fix_rndf(uint64_t *state);

/* F rounded to the nearest BF16 (ties to even), as the bits of the BF16 value. */
uint16_t fix_bf16(float f);

#endif

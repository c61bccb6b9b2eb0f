/* packed-check.h: a kernel set's prefill matrix product (pack once, then rows_packed per row block)
 * against its own rows() on many rows of the same tensor, bit for bit: the two do the same sums. Included
 * by test-kernels.c (float types) and test-quant-kernels.c (block-quantized types) after
 * fixture-util.h. */
#ifndef DS_PACKED_CHECK_H
#define DS_PACKED_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "cpu/cpu-kernels.h"
#include "xalloc.h"

/* Token counts that cross the forms' edges: the first packed count, one and two vectors of tokens,
 * several blocks of 32, past a group of 128 */
static const int packed_check_ns[] = { 4, 12, 13, 16, 17, 32, 33, 70, 129, 140 };

/* w (at least 97 rows) times n tokens of x (ldx apart, filled by the caller): rows() on rows
 * [1, rows) at once against rows_packed in blocks of bs rows starting off the tiles; returns the number of outputs that differ (and says which first). */
static int packed_check(const struct cpu_kernels *k, const struct ds_tensor *w, const float *x, int n,
			long ldx, long bs, const char *what)
{
	if (k->pack == NULL || n < k->packed_from(w->dtype))
		return 0;
	long rows = (long)w->rows, ldy = rows + 5;
	float *ya = xcalloc((size_t)n * (size_t)ldy, sizeof *ya), *yb = xcalloc((size_t)n * (size_t)ldy, sizeof *yb);
	float *xp = NULL;
	if (posix_memalign((void **)&xp, 64, k->pack_floats(w->dtype, n, (long)w->cols) * sizeof *xp) != 0)
		abort();
	k->pack(w->dtype, x, n, ldx, (long)w->cols, xp);
	/* rows() on a matrix of 96 rows or more takes the same form, packing as it goes */
	k->rows(w, 1, rows, x, n, ldx, ya, ldy);
	for (long r = 1; r < rows; r += bs)
		k->rows_packed(w, r, r + bs < rows ? r + bs : rows, xp, n, yb, ldy);
	int bad = 0;
	for (long i = 0; i < (long)n * ldy; i++)
		if (memcmp(&ya[i], &yb[i], sizeof *ya) != 0 && bad++ == 0)
			CHECK(0, "%s %s %ldx%ld, %d tokens: packed product differs at token %ld row %ld: %.9g, rows() %.9g",
			      k->name, what, rows, (long)w->cols, n, i / ldy, i % ldy, yb[i], ya[i]);
	free(xp);
	free(ya);
	free(yb);
	return bad;
}

#endif

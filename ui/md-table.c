/* md-table.c: GitHub tables in the markdown layout: aligned columns, or records when too wide. */
#include <stdlib.h>
#include <string.h>

#include "md-internal.h"
#include "theme.h"
#include "utf8.h"
#include "xalloc.h"

#define TABLE_MAX_COLS 32

struct cell {
	struct md_inl in;
	int width;
};

/* Splits a row into cells at '|' that is neither escaped nor inside a code span. */
static int table_split(const char *s, size_t len, size_t *cs, size_t *ce, int max)
{
	size_t a = 0, z = len;
	while (a < z && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t'))
		z--;
	if (a < z && s[a] == '|')
		a++;
	if (z > a && s[z - 1] == '|' && (z - 1 == a || s[z - 2] != '\\'))
		z--;
	int n = 0;
	size_t start = a;
	struct md_inl_memo memo;
	mdi_memo_init(&memo);
	for (size_t i = a; i <= z && n < max; i++) {
		if (i < z && s[i] == '\\') {
			i++;
			continue;
		}
		if (i < z && s[i] == '`') {
			size_t m = mdi_run_len(s, z, i, '`');
			size_t e = mdi_code_span_end(s, z, i, m, &memo);
			i = (e ? e : i + m) - 1;
			continue;
		}
		if (i == z || s[i] == '|') {
			size_t x = start, y = i;
			while (x < y && (s[x] == ' ' || s[x] == '\t'))
				x++;
			while (y > x && (s[y - 1] == ' ' || s[y - 1] == '\t'))
				y--;
			cs[n] = x;
			ce[n] = y;
			n++;
			start = i + 1;
		}
	}
	return n;
}

/* A delimiter row: every cell is -, :-, -: or :-: with any number of dashes. Stores alignments
 * ('l', 'r', 'c'). */
static bool table_delim(const char *s, const size_t *cs, const size_t *ce, int n, char *align)
{
	if (n == 0)
		return false;
	for (int c = 0; c < n; c++) {
		size_t a = cs[c], z = ce[c];
		bool left = a < z && s[a] == ':', right = z > a && s[z - 1] == ':';
		if (left)
			a++;
		if (right && z > a)
			z--;
		if (a >= z)
			return false;
		for (size_t i = a; i < z; i++)
			if (s[i] != '-')
				return false;
		align[c] = left && right ? 'c' : right ? 'r' : 'l';
	}
	return true;
}

void mdt_flush(struct md_builder *b, struct md_para *p)
{
	/* rows are the source lines joined by '\n' */
	size_t nrows = 1;
	for (size_t i = 0; i < p->len; i++)
		nrows += p->src[i] == '\n';
	struct cell(*cells)[TABLE_MAX_COLS] = xcalloc(nrows, sizeof *cells);
	int *ncells = xcalloc(nrows, sizeof *ncells);
	size_t *row_start = xcalloc(nrows + 1, sizeof *row_start);
	char align[TABLE_MAX_COLS];
	memset(align, 'l', sizeof align);
	int cols = 0, delim_row = -1;
	int colw[TABLE_MAX_COLS] = { 0 };
	size_t r = 0, a = 0;
	for (size_t i = 0; i <= p->len; i++) {
		if (i < p->len && p->src[i] != '\n')
			continue;
		size_t cs[TABLE_MAX_COLS], ce[TABLE_MAX_COLS];
		const char *row = p->src + a;
		int n = table_split(row, i - a, cs, ce, TABLE_MAX_COLS);
		row_start[r] = a;
		char al[TABLE_MAX_COLS];
		if (r == 1 && delim_row < 0 && table_delim(row, cs, ce, n, al)) {
			delim_row = 1;
			memcpy(align, al, (size_t)n);
			ncells[r] = 0;
		} else {
			for (int c = 0; c < n; c++) {
				mdi_parse(&cells[r][c].in, row + cs[c], ce[c] - cs[c], r == 0 ? ROLE_BOLD : b->base_role);
				cells[r][c].width = (int)utf8_width(cells[r][c].in.text, cells[r][c].in.len);
				if (cells[r][c].width > colw[c])
					colw[c] = cells[r][c].width;
			}
			ncells[r] = n;
			if (n > cols)
				cols = n;
		}
		r++;
		a = i + 1;
	}
	row_start[nrows] = p->len + 1;
	int total = cols > 0 ? 3 * (cols - 1) : 0;
	for (int c = 0; c < cols; c++)
		total += colw[c];
	if (delim_row == 1 && total <= b->width) {
		for (size_t y = 0; y < nrows; y++) {
			mdb_line_begin(b, 0, p->src_off);
			for (int c = 0; c < cols; c++) {
				if (c > 0)
					mdb_span_add(b, (int)y == delim_row ? "\xE2\x94\x80\xE2\x94\xBC\xE2\x94\x80" : " \xE2\x94\x82 ",
						 (int)y == delim_row ? 9 : 5, 3, ROLE_RULE); /* ─┼─ or " │ " */
				if ((int)y == delim_row) {
					for (int k = 0; k < colw[c]; k++)
						mdb_span_add(b, "\xE2\x94\x80", 3, 1, ROLE_RULE);
					continue;
				}
				int w = c < ncells[y] ? cells[y][c].width : 0;
				int pad = colw[c] - w, before = align[c] == 'r' ? pad : align[c] == 'c' ? pad / 2 : 0;
				mdb_spaces(b, before, b->base_role);
				if (c < ncells[y]) {
					struct md_inl *in = &cells[y][c].in;
					for (size_t k = 0; k < in->nruns; k++) {
						size_t e = k + 1 < in->nruns ? in->runs[k + 1].at : in->len;
						mdb_text(b, in->text + in->runs[k].at, e - in->runs[k].at, in->runs[k].role);
					}
				}
				/* no trailing spaces after the last column */
				if (c + 1 < cols)
					mdb_spaces(b, pad - before, b->base_role);
			}
		}
	} else if (delim_row == 1) {
		/* Too wide for the screen: one record per row, "header: value" lines. */
		for (size_t y = 2; y < nrows; y++) {
			if (y > 2)
				mdb_empty_line(b, p->src_off);
			for (int c = 0; c < ncells[y]; c++) {
				struct md_inl in = { 0 };
				if (c < ncells[0]) {
					struct md_inl *h = &cells[0][c].in;
					mdi_add(&in, h->text, h->len, ROLE_BOLD);
					mdi_add(&in, ":", 1, ROLE_BOLD);
				}
				mdi_add(&in, " ", 1, b->base_role);
				struct md_inl *v = &cells[y][c].in;
				for (size_t k = 0; k < v->nruns; k++) {
					size_t e = k + 1 < v->nruns ? v->runs[k + 1].at : v->len;
					mdi_add(&in, v->text + v->runs[k].at, e - v->runs[k].at, v->runs[k].role);
				}
				mdb_wrapped(b, &in, p->src_off, 0, NULL, 0, 0, 0);
				free(in.text);
				free(in.runs);
			}
		}
	} else {
		/* Not a table after all: each row as it was written, wrapped. */
		for (size_t y = 0; y < nrows; y++) {
			struct md_inl in = { 0 };
			size_t ra = row_start[y], rz = row_start[y + 1] - 1;
			mdi_parse(&in, p->src + ra, rz - ra, b->base_role);
			if (in.len > 0)
				mdb_wrapped(b, &in, p->src_off, 0, NULL, 0, 0, 0);
			free(in.text);
			free(in.runs);
		}
	}
	for (size_t y = 0; y < nrows; y++)
		for (int c = 0; c < TABLE_MAX_COLS; c++) {
			free(cells[y][c].in.text);
			free(cells[y][c].in.runs);
		}
	free(cells);
	free(ncells);
	free(row_start);
}

/* fixture-util.c: what the C tests share: the failure count, the fixtures folder, and readers for the
 * golden files (see fixture-util.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fixture-util.h"
#include "xalloc.h"

int fix_failures;

const char *fix_dir(void)
{
	const char *f = getenv("FIXTURES");

	return f != NULL && *f != '\0' ? f : FIXTURES_DIR;
}

int fix_have_models(void)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof path, "%s/models", fix_dir());
	if (stat(path, &st) == 0)
		return 1;
	printf("SKIP: no fixtures at %s\n", path);
	return 0;
}

int *fix_read_ids(const char *path, int *n)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	int cap = 64, *ids = xmalloc(sizeof *ids * (size_t)cap), v;
	*n = 0;
	while (fscanf(f, "%d", &v) == 1) {
		if (*n == cap)
			ids = xreallocarray(ids, (size_t)(cap *= 2), sizeof *ids);
		ids[(*n)++] = v;
	}
	fclose(f);
	return ids;
}

/* PATH opened for reading when it is a plain file, its size in *SIZE; NULL otherwise (a folder opens
 * too, with a meaningless size to allocate for). */
static FILE *open_plain(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return NULL;
	}
	*size = (size_t)st.st_size;
	return f;
}

char *fix_read_file(const char *path, size_t *len)
{
	size_t n;
	FILE *f = open_plain(path, &n);
	if (f == NULL)
		return NULL;
	char *buf = xmalloc(n + 1);
	if (fread(buf, 1, n, f) != n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

float *fix_read_f32(const char *path, size_t *n)
{
	size_t sz;
	FILE *f = open_plain(path, &sz);
	if (f == NULL)
		return NULL;
	/* a few spare bytes so that an empty file still gives a pointer to free, and a [0] to read */
	float *p = xmalloc(sz + 4);
	*n = fread(p, 1, sz, f) / sizeof(float);
	fclose(f);
	return p;
}

int fix_read_golden(const char *dir, int vocab, int n_greedy, struct fix_golden *g)
{
	char path[4200];
	size_t n_logits = 0;

	memset(g, 0, sizeof *g);
	snprintf(path, sizeof path, "%s/golden/prompt.ids", dir);
	g->prompt = fix_read_ids(path, &g->n_prompt);
	snprintf(path, sizeof path, "%s/golden/greedy.ids", dir);
	g->greedy = fix_read_ids(path, &g->n_greedy);
	snprintf(path, sizeof path, "%s/golden/logits.f32", dir);
	g->logits = fix_read_f32(path, &n_logits);
	if (g->prompt == NULL || g->greedy == NULL || g->logits == NULL ||
	    n_logits != (size_t)g->n_prompt * (size_t)vocab || g->n_greedy != n_greedy)
		return -1;
	return 0;
}

void fix_golden_free(struct fix_golden *g)
{
	free(g->prompt);
	free(g->greedy);
	free(g->logits);
	memset(g, 0, sizeof *g);
}

double fix_max_diff(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);
		if (!(d <= m))    /* NaN counts as infinitely far */
			m = isnan(d) ? INFINITY : d;
	}
	return m;
}

uint64_t fix_xorshift(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

float fix_rndf(uint64_t *state)
{
	return (float)((fix_xorshift(state) >> 11) % 2000001) / 1000000.0f - 1.0f;
}

uint16_t fix_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

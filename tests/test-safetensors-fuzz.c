/* test-safetensors-fuzz.c: deterministic mutations of a fixture's safetensors file (header bytes,
 * digits of offsets and shapes, the length field, truncation) loaded with ds_model_load: every
 * outcome must be success or one line of error, never a crash or a read outside the file (run
 * under ./configure --enable-asan to see those). */
#include "fixture-util.h"
#include "model.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ITERATIONS 1500

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static void write_all(const char *path, const unsigned char *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	if (fp == NULL || fwrite(buf, 1, len, fp) != len) {
		perror(path);
		exit(1);
	}
	fclose(fp);
}

/* Reads every byte of every tensor so that ASan sees a pointer outside the mapping. */
static unsigned touch(const struct ds_tensor *t)
{
	const unsigned char *p = t->data;
	unsigned s = 0;

	if (p == NULL)
		return 0;
	for (int64_t i = 0; i < t->rows * t->cols * (int64_t)ds_dtype_get(t->dtype)->block_bytes; i++)
		s += p[i];
	return s;
}

static unsigned touch_model(const struct ds_model *m)
{
	unsigned s = touch(&m->w.embed) + touch(&m->w.norm) + touch(&m->w.lm_head);

	for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
		const struct ds_layer *L = &m->w.layers[l];

		s += touch(&L->q_proj) + touch(&L->q_a_proj) + touch(&L->q_b_proj) + touch(&L->kv_b_proj) +
		     touch(&L->o_proj) + touch(&L->shared_down) + touch(&L->down_proj);
		if (L->exp_down != NULL)
			for (int e = 0; e < m->cfg.n_routed_experts; e++)
				s += touch(&L->exp_down[e]) + touch(&L->exp_up[e]);
	}
	return s;
}

int main(void)
{
	const char *root = fix_dir();
	char src[4096], dir_tmpl[] = "/tmp/test-st-fuzz-XXXXXX", path[4096], err[1024];
	unsigned char *orig, *buf;
	size_t len, hlen = 0;
	int loaded = 0, refused = 0, failures = 0;
	char *dir;

	snprintf(src, sizeof(src), "%s/models/tiny-ds2-full/model.safetensors", root);
	orig = (unsigned char *)fix_read_file(src, &len);
	if (orig == NULL) {
		fprintf(stderr, "test-safetensors-fuzz: no fixture %s: skipped\n", src);
		return 77;
	}
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | orig[i];
	dir = mkdtemp(dir_tmpl);
	if (dir == NULL) {
		perror("mkdtemp");
		return 1;
	}
	{
		size_t clen;
		unsigned char *cfg;

		snprintf(path, sizeof(path), "%s/models/tiny-ds2-full/config.json", root);
		cfg = (unsigned char *)fix_read_file(path, &clen);
		snprintf(path, sizeof(path), "%s/config.json", dir);
		write_all(path, cfg, clen);
		free(cfg);
	}
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	buf = xmalloc(len);

	for (int it = 0; it < ITERATIONS; it++) {
		size_t n = len;
		int kind = (int)(rng() % 5);
		struct ds_model m;

		memcpy(buf, orig, len);
		switch (kind) {
		case 0: /* a random byte of the header */
			buf[8 + rng() % hlen] = (unsigned char)rng();
			break;
		case 1: { /* a digit of the header becomes another digit: offsets and shapes move */
			for (int tries = 0; tries < 64; tries++) {
				size_t at = 8 + rng() % hlen;

				if (buf[at] >= '0' && buf[at] <= '9') {
					buf[at] = (unsigned char)('0' + rng() % 10);
					break;
				}
			}
			break;
		}
		case 2: /* the length field */
			buf[rng() % 8] = (unsigned char)rng();
			break;
		case 3: /* truncation anywhere */
			n = rng() % len;
			break;
		case 4: /* a digit becomes a long run of nines (overflowing numbers) */
			for (int tries = 0; tries < 64; tries++) {
				size_t at = 8 + rng() % hlen;

				if (buf[at] >= '0' && buf[at] <= '9') {
					for (size_t k = at; k < 8 + hlen && k < at + 19 && buf[k] >= '0' && buf[k] <= '9'; k++)
						buf[k] = '9';
					break;
				}
			}
			break;
		}
		write_all(path, buf, n);
		err[0] = '\0';
		if (ds_model_load(dir, &m, NULL, NULL, err, sizeof(err)) == 0) {
			touch_model(&m);
			ds_model_free(&m);
			loaded++;
		} else {
			refused++;
			if (err[0] == '\0' || strchr(err, '\n') != NULL) {
				fprintf(stderr, "FAIL iteration %d (mutation %d): error is empty or not one line: '%s'\n",
					it, kind, err);
				failures++;
			}
			if (refused <= 12)
				fprintf(stderr, "  mutation %d refused: %s\n", kind, err);
		}
	}
	unlink(path);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	unlink(path);
	rmdir(dir);
	free(buf);
	free(orig);
	fprintf(stderr, "test-safetensors-fuzz: %d mutations loaded, %d refused\n", loaded, refused);
	if (refused == 0) {
		fprintf(stderr, "FAIL: no mutation was refused: the checks do not run\n");
		failures++;
	}
	return failures ? 1 : 0;
}

/* cmd-dequantize.c: dscoder-engine --model FILE.gguf --dequantize NAME: one tensor of a GGUF file
 * as little-endian float32 on stdout, in GGUF order (first dimension fastest), decoded exactly as
 * the format defines (kernels/dtype.c); for tests and for people who debug files. */
#include "build-config.h"  /* autoconf results (src/config.h is config.yaml) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtype.h"
#include "engine-cli.h"
#include "gguf.h"
#include "xalloc.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "--dequantize writes the host's float32 bytes: a big-endian host needs a byte swap here"
#endif

static size_t common_prefix(const char *a, const char *b)
{
	size_t n = 0;

	while (a[n] != '\0' && a[n] == b[n])
		n++;
	return n;
}

/* Up to five of g's tensor names, those sharing the longest start with name first, into buf. */
static void near_names(const struct gguf *g, const char *name, char *buf, size_t len)
{
	size_t o = 0, shown = 0;

	buf[0] = '\0';
	for (size_t want = strlen(name) + 1; want-- > 0 && shown < 5;)
		for (size_t i = 0; i < g->n_tensors && shown < 5; i++) {
			if (common_prefix(g->tensors[i].name, name) != want)
				continue;
			o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s", shown ? ", " : "", g->tensors[i].name);
			shown++;
		}
}

int cli_dequantize(const struct cli_args *a)
{
	char err[1024], names[600], *path = ds_model_gguf_path(a->model);
	const struct gguf_tensor *t;
	struct gguf g;
	int64_t rows, cols;
	float *row;
	int rc = 0;

	if (path == NULL)
		return cli_fail(access(a->model, F_OK) == 0
				? "%s is a checkpoint directory, not a GGUF file; --dequantize reads a .gguf file (--quantize makes one)"
				: "%s does not exist; --dequantize reads a .gguf file", a->model);
	if (!gguf_is_gguf(path)) {
		rc = cli_fail("%s is not a GGUF file (it does not start with 'GGUF'); --dequantize reads a .gguf file", path);
		free(path);
		return rc;
	}
	if (gguf_open(path, &g, err, sizeof err) < 0) {
		free(path);
		return cli_fail("%s", err);
	}
	free(path);
	t = gguf_tensor(&g, a->dequantize_name);
	if (t == NULL) {
		near_names(&g, a->dequantize_name, names, sizeof names);
		rc = cli_fail("%s has no tensor '%s'; it has %zu, such as %s", g.path, a->dequantize_name, g.n_tensors,
			      names);
		gguf_close(&g);
		return rc;
	}
	if (isatty(STDOUT_FILENO)) {
		gguf_close(&g);
		return cli_fail("--dequantize writes binary float32 to stdout: send it to a file or a pipe");
	}
	cols = t->ne[0];
	rows = t->ne[1] * t->ne[2] * t->ne[3];
	row = xmalloc((size_t)cols * sizeof(float));
	/* A row is whole blocks (the reader checked ne[0] against the block), so decode row by row. */
	for (int64_t r = 0; r < rows; r++) {
		ds_dtype_get(t->dtype)->to_float((const char *)t->data + (size_t)r * ds_row_bytes(t->dtype, cols), row, cols);
		if (fwrite(row, sizeof(float), (size_t)cols, stdout) != (size_t)cols) {
			rc = cli_fail("cannot write tensor '%s' to stdout: %s", t->name, strerror(errno));
			break;
		}
	}
	if (rc == 0 && fflush(stdout) != 0)
		rc = cli_fail("cannot write tensor '%s' to stdout: %s", t->name, strerror(errno));
	free(row);
	gguf_close(&g);
	return rc;
}

const struct cli_verb_entry cli_dequantize_entry = {
	.verb = VERB_DEQUANTIZE, .name = "--dequantize",
	.exec = cli_dequantize,
	.usage = "  --dequantize NAME        tensor NAME of a GGUF --model as little-endian float32 on stdout\n"
		 "                           (GGUF order: first dimension fastest)\n",
};

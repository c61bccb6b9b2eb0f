/* render-bench.c: time per streamed token of md_layout (whole last message) and md_layout_extend (last block only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "markdown.h"
#include "theme.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* An answer of about `lines` source lines: prose (English and Chinese), lists and code blocks. */
static char *make_message(int lines, size_t *len)
{
	static const char *const chunk[] = {
		"Here is an explanation of the **algorithm** with `inline code` and *emphasis*, long enough to wrap on a terminal.\n",
		"这是一个很长的中文句子，用来测试宽字符的换行，以及标点符号的处理是否正确。\n",
		"- a list item with some text\n",
		"  - a nested item\n",
		"```python\n",
		"def fib(n: int) -> int:\n",
		"    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
		"    a, b = 0, 1  # start\n",
		"    for _ in range(n):\n",
		"        a, b = b, a + b\n",
		"    return a\n",
		"```\n",
		"```c\n",
		"static int add(int a, int b) { return a + b; /* sum */ }\n",
		"```\n",
		"\n",
	};
	size_t n = sizeof chunk / sizeof chunk[0];
	size_t cap = (size_t)lines * 128 + 64, o = 0;
	char *s = malloc(cap);
	for (int i = 0; i < lines; i++) {
		const char *c = chunk[(size_t)i % n];
		size_t l = strlen(c);
		memcpy(s + o, c, l);
		o += l;
	}
	*len = o;
	return s;
}

int main(int argc, char **argv)
{
	int width = argc > 1 ? atoi(argv[1]) : 100;
	if (!getenv("DSCODER_DATADIR"))
		setenv("DSCODER_DATADIR", TOP_SRCDIR, 1);
	int sizes[] = { 20, 100, 500, 2000, 10000 };
	printf("width %d; times per md_layout call (= per streamed token for a last message of that size)\n", width);
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t len;
		char *msg = make_message(sizes[k], &len);
		struct md_options o = { .width = width, .first_block = 1, .base_role = ROLE_TEXT };
		/* stream the last 2 KB in 4-byte tokens */
		size_t start = len > 2048 ? len - 2048 : 0;
		int calls = 0;
		size_t out_lines = 0;
		double t0 = now();
		for (size_t n = start; n <= len; n += 4) {
			struct md_layout *L = md_layout(msg, n, &o);
			out_lines = L->nlines;
			md_layout_free(L);
			calls++;
		}
		double dt = now() - t0;
		/* the same stream through md_layout_extend */
		struct md_layout *L = md_layout(msg, start, &o);
		double t1 = now();
		for (size_t n = start; n <= len; n += 4)
			L = md_layout_extend(L, msg, n);
		double dt2 = now() - t1;
		md_layout_free(L);
		printf("%6d source lines (%7zu bytes, %6zu display lines): md_layout %8.3f ms, md_layout_extend %7.4f ms per token\n",
		       sizes[k], len, out_lines, dt * 1e3 / calls, dt2 * 1e3 / calls);
		free(msg);
	}
	return 0;
}

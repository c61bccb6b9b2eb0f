/* clipboard.c: copying text to the terminal's clipboard with OSC 52, which works over SSH; inside
 * tmux the sequence is sent both plainly (tmux's set-clipboard takes it) and wrapped in tmux's
 * DCS passthrough (for the outer terminal when allow-passthrough is on). */
#include "build-config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "xalloc.h"

/* Terminals cap OSC 52 payloads (xterm: about 100 kB of base64); larger copies would be cut. */
#define CLIPBOARD_MAX (1024 * 1024)

static char *clipboard_base64(const char *s, size_t len, size_t *outlen)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc((len + 2) / 3 * 4 + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < len)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)s[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static void clipboard_write(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

int clipboard_copy(const char *text, size_t len)
{
	if (len > CLIPBOARD_MAX)
		return -1;
	size_t blen;
	char *b64 = clipboard_base64(text, len, &blen);
	char *plain = xasprintf("\033]52;c;%s\a", b64);
	fflush(stdout);
	clipboard_write(plain, strlen(plain));
	const char *tmux = getenv("TMUX");
	if (tmux && *tmux) {
		/* Passthrough: ESC inside the payload is doubled. */
		char *wrapped = xasprintf("\033Ptmux;\033\033]52;c;%s\a\033\\", b64);
		clipboard_write(wrapped, strlen(wrapped));
		free(wrapped);
	}
	free(plain);
	free(b64);
	return 0;
}

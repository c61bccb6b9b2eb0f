/* clipboard.c: copying text to the clipboard, and saying truthfully whether it was. Outside tmux:
 * with wl-copy / xclip / xsel when a display is set and one is installed, else with OSC 52 (works
 * over SSH; the terminal may still refuse it, which cannot be seen from here). Inside tmux, OSC 52
 * is only taken when tmux's set-clipboard is "on" ("external", the default, drops it): then it is
 * sent both plainly (tmux takes it into its buffer and passes it on) and wrapped in tmux's DCS
 * passthrough; otherwise the tools above, then the passthrough alone when allow-passthrough is on,
 * and failing those, nothing, with the reason. */
#include "build-config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

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

/* Sends text as OSC 52 (and, inside tmux, through its passthrough too). */
static void clipboard_osc52(const char *text, size_t len, bool tmux)
{
	size_t blen;
	char *b64 = clipboard_base64(text, len, &blen);
	char *plain = xasprintf("\033]52;c;%s\a", b64);
	fflush(stdout);
	clipboard_write(plain, strlen(plain));
	if (tmux) {
		/* Passthrough: ESC inside the payload is doubled. */
		char *wrapped = xasprintf("\033Ptmux;\033\033]52;c;%s\a\033\\", b64);
		clipboard_write(wrapped, strlen(wrapped));
		free(wrapped);
	}
	free(plain);
	free(b64);
}

/* Whether an executable named name is on $PATH. */
static bool clipboard_have(const char *name)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		return false;
	char *dirs = xstrdup(path), *save = NULL;
	bool found = false;
	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *f = xasprintf("%s/%s", *d ? d : ".", name);
		found = access(f, X_OK) == 0;
		free(f);
	}
	free(dirs);
	return found;
}

/* The value of a global tmux option ("on", "external", "off"; args: "-gv set-clipboard"), or ""
 * when tmux cannot be asked. */
static void clipboard_tmux_option(const char *args, char *buf, size_t len)
{
	buf[0] = '\0';
	char *cmd = xasprintf("tmux show-options %s 2>/dev/null </dev/null", args);
	FILE *p = popen(cmd, "r");
	free(cmd);
	if (!p)
		return;
	if (!fgets(buf, (int)len, p))
		buf[0] = '\0';
	pclose(p);
	buf[strcspn(buf, "\r\n")] = '\0';
}

/* Copies with a clipboard program when a display is set and one is installed; returns its name,
 * or NULL (nothing found, or it failed). */
static const char *clipboard_tool(const char *text, size_t len)
{
	static const struct { const char *env, *name, *cmd; } tools[] = {
		{ "WAYLAND_DISPLAY", "wl-copy", "wl-copy" },
		{ "DISPLAY", "xclip", "xclip -selection clipboard" },
		{ "DISPLAY", "xsel", "xsel --clipboard --input" },
	};
	for (size_t i = 0; i < sizeof tools / sizeof *tools; i++) {
		const char *env = getenv(tools[i].env);
		if (!env || !*env || !clipboard_have(tools[i].name))
			continue;
		/* Its output would land on the screen; it forks to keep serving the selection. */
		char *cmd = xasprintf("%s >/dev/null 2>&1", tools[i].cmd);
		FILE *p = popen(cmd, "w");
		free(cmd);
		if (!p)
			continue;
		bool ok = fwrite(text, 1, len, p) == len;
		int st = pclose(p);
		if (ok && st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			return tools[i].name;
	}
	return NULL;
}

enum clip_result clipboard_copy(const char *text, size_t len, char *how, size_t howlen)
{
	const char *tmux = getenv("TMUX");
	bool in_tmux = tmux && *tmux;
	char setting[32] = "";
	if (in_tmux) {
		clipboard_tmux_option("-gv set-clipboard", setting, sizeof setting);
		if (strcmp(setting, "on") == 0 && len <= CLIPBOARD_MAX) {
			clipboard_osc52(text, len, true);
			snprintf(how, howlen, "to the clipboard through tmux");
			return CLIP_COPIED;
		}
	}
	const char *tool = clipboard_tool(text, len);
	if (tool) {
		snprintf(how, howlen, "to the clipboard with %s", tool);
		return CLIP_COPIED;
	}
	if (len > CLIPBOARD_MAX) {
		snprintf(how, howlen, "it is too large for the terminal clipboard (OSC 52)");
		return CLIP_NOT_COPIED;
	}
	if (!in_tmux || !*setting) {
		/* The terminal (or a tmux that cannot be asked) may take it or not: say what was done. */
		clipboard_osc52(text, len, in_tmux);
		snprintf(how, howlen, "to the terminal's clipboard (OSC 52)");
		return CLIP_SENT;
	}
	char passthrough[32];
	clipboard_tmux_option("-gwv allow-passthrough", passthrough, sizeof passthrough);
	if (strcmp(passthrough, "on") == 0 || strcmp(passthrough, "all") == 0) {
		clipboard_osc52(text, len, true);
		snprintf(how, howlen, "to the outer terminal's clipboard through tmux's passthrough (OSC 52)");
		return CLIP_SENT;
	}
	snprintf(how, howlen, "tmux drops clipboard requests from programs (its set-clipboard option is "
		 "\"%s\"). To allow them, add this line to ~/.tmux.conf and run tmux source-file "
		 "~/.tmux.conf:\n\n    set -g set-clipboard on\n\nMeanwhile Alt-w saves a code block to a "
		 "file. (With a display, wl-copy, xclip or xsel is used when installed.)", setting);
	return CLIP_NOT_COPIED;
}

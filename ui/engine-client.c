/* engine-client.c: spawning and supervising the engine process over three pipes. */
#include "build-config.h"
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "engine-client.h"
#include "xalloc.h"

void engine_client_init(struct engine_client *c)
{
	memset(c, 0, sizeof *c);
	c->in_fd = c->out_fd = c->err_fd = -1;
	c->exit_status = -1;
}

static void engine_client_close_fds(struct engine_client *c)
{
	if (c->in_fd >= 0)
		close(c->in_fd);
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	c->in_fd = c->out_fd = c->err_fd = -1;
}

void engine_client_free(struct engine_client *c)
{
	engine_client_close_fds(c);
	for (int i = 0; i < ENGINE_STDERR_LINES; i++)
		free(c->err_lines[i]);
	free(c->outbuf);
	if (c->argv) {
		for (char **a = c->argv; *a; a++)
			free(*a);
		free(c->argv);
	}
	free(c->path);
	memset(c, 0, sizeof *c);
	c->in_fd = c->out_fd = c->err_fd = -1;
}

static void engine_client_keep_err(struct engine_client *c, const char *s, size_t n)
{
	free(c->err_lines[c->err_next]);
	c->err_lines[c->err_next] = xstrndup(s, n);
	c->err_next = (c->err_next + 1) % ENGINE_STDERR_LINES;
	if (c->err_count < ENGINE_STDERR_LINES)
		c->err_count++;
}

static int engine_client_spawn(struct engine_client *c, char *err, size_t errlen)
{
	int in[2], out[2], errp[2], status[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return errorf(err, errlen, "cannot create a pipe for the engine: %s", strerror(errno));
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]); close(in[1]);
		return errorf(err, errlen, "cannot create a pipe for the engine: %s", strerror(errno));
	}
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		return errorf(err, errlen, "cannot create a pipe for the engine: %s", strerror(errno));
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		close(errp[0]); close(errp[1]); close(status[0]); close(status[1]);
		return errorf(err, errlen, "cannot start the engine: %s", strerror(e));
	}
	if (pid == 0) {
		/* The child: the terminal belongs to the TUI, so the engine gets pipes only and its own
		 * process group (a Ctrl-C typed at the terminal is the TUI's to handle). */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGWINCH, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		execv(c->path, c->argv);
		int e = errno;
		ssize_t w = write(status[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	close(status[1]);
	int e = 0;
	ssize_t r;
	do
		r = read(status[0], &e, sizeof e);
	while (r < 0 && errno == EINTR);
	close(status[0]);
	if (r == (ssize_t)sizeof e) {
		close(in[1]); close(out[0]); close(errp[0]);
		waitpid(pid, NULL, 0);
		return errorf(err, errlen, "cannot run the engine %s: %s (use --engine PATH)",
			      c->path, strerror(e));
	}
	c->pid = pid;
	c->in_fd = in[1];
	c->out_fd = out[0];
	c->err_fd = errp[0];
	fcntl(c->out_fd, F_SETFL, fcntl(c->out_fd, F_GETFL) | O_NONBLOCK);
	fcntl(c->err_fd, F_SETFL, fcntl(c->err_fd, F_GETFL) | O_NONBLOCK);
	c->outlen = 0;
	c->errlen = 0;
	c->exit_status = -1;
	c->starts++;
	return 0;
}

int engine_client_start(struct engine_client *c, const char *path, char *const args[],
			char *err, size_t errlen)
{
	int n = 0;
	while (args && args[n])
		n++;
	if (c->argv) {
		for (char **a = c->argv; *a; a++)
			free(*a);
		free(c->argv);
	}
	free(c->path);
	c->path = xstrdup(path);
	c->argv = xcalloc((size_t)n + 2, sizeof *c->argv);
	c->argv[0] = xstrdup(path);
	for (int i = 0; i < n; i++)
		c->argv[i + 1] = xstrdup(args[i]);
	return engine_client_spawn(c, err, errlen);
}

int engine_client_restart(struct engine_client *c, char *err, size_t errlen)
{
	if (c->pid)
		return 0;
	engine_client_close_fds(c);
	for (int i = 0; i < ENGINE_STDERR_LINES; i++) {
		free(c->err_lines[i]);
		c->err_lines[i] = NULL;
	}
	c->err_next = c->err_count = 0;
	return engine_client_spawn(c, err, errlen);
}

int engine_client_running(const struct engine_client *c)
{
	return c->pid != 0;
}

int engine_client_send(struct engine_client *c, const char *line)
{
	if (c->in_fd < 0)
		return -1;
	size_t len = strlen(line);
	/* Requests are small except a long conversation; the engine reads its stdin on its own thread,
	 * so a blocking write finishes quickly. */
	for (int part = 0; part < 2; part++) {
		const char *p = part == 0 ? line : "\n";
		size_t n = part == 0 ? len : 1;
		while (n > 0) {
			ssize_t w = write(c->in_fd, p, n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			p += w;
			n -= (size_t)w;
		}
	}
	return 0;
}

int engine_client_read_out(struct engine_client *c, void (*on_line)(const char *line, void *arg),
			   void *arg)
{
	if (c->out_fd < 0)
		return -1;
	/* A bounded amount per call, so a fast engine cannot starve the keyboard. */
	for (int round = 0; round < 8; round++) {
		if (c->outcap - c->outlen < 65536) {
			c->outcap = c->outcap ? c->outcap * 2 : 131072;
			c->outbuf = xrealloc(c->outbuf, c->outcap);
		}
		ssize_t r = read(c->out_fd, c->outbuf + c->outlen, c->outcap - c->outlen - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (r == 0) {
			close(c->out_fd);
			c->out_fd = -1;
			return -1;
		}
		size_t start = 0, scan = c->outlen;
		c->outlen += (size_t)r;
		for (size_t i = scan; i < c->outlen; i++) {
			if (c->outbuf[i] != '\n')
				continue;
			c->outbuf[i] = '\0';
			on_line(c->outbuf + start, arg);
			start = i + 1;
		}
		memmove(c->outbuf, c->outbuf + start, c->outlen - start);
		c->outlen -= start;
		/* on_line may have stopped the client (engine_client_stop from a handler). */
		if (c->out_fd < 0)
			return -1;
	}
	return 0;
}

int engine_client_read_err(struct engine_client *c)
{
	if (c->err_fd < 0)
		return -1;
	for (;;) {
		char buf[4096];
		ssize_t r = read(c->err_fd, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (r == 0) {
			if (c->errlen)
				engine_client_keep_err(c, c->errbuf, c->errlen);
			c->errlen = 0;
			close(c->err_fd);
			c->err_fd = -1;
			return -1;
		}
		for (ssize_t i = 0; i < r; i++) {
			char ch = buf[i];
			if (ch == '\n' || ch == '\r') {
				if (c->errlen)
					engine_client_keep_err(c, c->errbuf, c->errlen);
				c->errlen = 0;
			} else if (c->errlen < sizeof c->errbuf) {
				c->errbuf[c->errlen++] = ch;
			}
		}
	}
}

const char *engine_client_err_line(const struct engine_client *c, int i)
{
	if (i < 0 || i >= c->err_count)
		return "";
	int first = (c->err_next - c->err_count + ENGINE_STDERR_LINES) % ENGINE_STDERR_LINES;
	const char *s = c->err_lines[(first + i) % ENGINE_STDERR_LINES];
	return s ? s : "";
}

int engine_client_reap(struct engine_client *c)
{
	if (!c->pid)
		return 1;
	int st;
	pid_t r = waitpid(c->pid, &st, WNOHANG);
	if (r == 0)
		return 0;
	if (r == c->pid)
		c->exit_status = st;
	/* Drain what is left of its stderr: the reason it died is usually there. */
	if (c->err_fd >= 0)
		engine_client_read_err(c);
	engine_client_close_fds(c);
	c->pid = 0;
	return 1;
}

const char *engine_client_describe_exit(const struct engine_client *c, char *buf, size_t len)
{
	int st = c->exit_status;
	if (st < 0)
		snprintf(buf, len, "stopped");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended");
	return buf;
}

static int engine_client_wait(struct engine_client *c, int ms)
{
	for (int waited = 0; waited <= ms; waited += 10) {
		if (engine_client_reap(c))
			return 1;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return engine_client_reap(c);
}

void engine_client_stop(struct engine_client *c, const char *shutdown_line, int grace_ms)
{
	if (!c->pid) {
		engine_client_close_fds(c);
		return;
	}
	if (shutdown_line)
		engine_client_send(c, shutdown_line);
	if (c->in_fd >= 0) {
		close(c->in_fd);
		c->in_fd = -1;
	}
	if (engine_client_wait(c, grace_ms))
		return;
	kill(c->pid, SIGTERM);
	if (engine_client_wait(c, grace_ms))
		return;
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &c->exit_status, 0);
	engine_client_close_fds(c);
	c->pid = 0;
}

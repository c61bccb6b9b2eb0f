/* engine-client.h: the TUI's side of the engine process: fork/exec with pipes, line reading from
 * its stdout, the last lines of its stderr, restart and clean shutdown. No ncurses, no JSON. */
#ifndef DS_ENGINE_CLIENT_H
#define DS_ENGINE_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#define ENGINE_STDERR_LINES 12

struct engine_client {
	pid_t pid;                  /* 0 when not running */
	int in_fd, out_fd, err_fd;  /* our ends: write requests, read events, read diagnostics */
	char *outbuf;               /* partial stdout line */
	size_t outlen, outcap;
	char errbuf[1024];          /* partial stderr line */
	size_t errlen;
	char *err_lines[ENGINE_STDERR_LINES];  /* ring of the last complete stderr lines */
	int err_next, err_count;
	int exit_status;            /* from waitpid once the process ended; -1 before */
	int starts;                 /* how many times it was started */
	char *path;                 /* the program */
	char **argv;                /* NULL-terminated, argv[0] is path */
};

void engine_client_init(struct engine_client *c);
/* Frees everything; the process must have been stopped first (engine_client_stop). */
void engine_client_free(struct engine_client *c);

/* Starts path with the given arguments (NULL-terminated, without argv[0]); they are kept for
 * restarts. Returns 0, or -1 with one sentence in err (the program could not be run). */
int engine_client_start(struct engine_client *c, const char *path, char *const args[],
			char *err, size_t errlen);
/* Starts again with the same program and arguments (after engine_client_reap). */
int engine_client_restart(struct engine_client *c, char *err, size_t errlen);
int engine_client_running(const struct engine_client *c);

/* Writes one line (a newline is appended). Returns 0, or -1 when the engine is gone. */
int engine_client_send(struct engine_client *c, const char *line);

/* Called when out_fd is readable: reads what is there and calls on_line for each complete line
 * (without the newline; the string is valid during the call). Returns 0, or -1 at end of file
 * (the engine closed its stdout: it exited or is exiting). */
int engine_client_read_out(struct engine_client *c, void (*on_line)(const char *line, void *arg),
			   void *arg);
/* Called when err_fd is readable: keeps the last lines. Returns -1 at end of file. */
int engine_client_read_err(struct engine_client *c);
/* The i-th of the last stderr lines, oldest first (i < c->err_count). */
const char *engine_client_err_line(const struct engine_client *c, int i);

/* Collects the exit status if the process ended (non-blocking). Returns 1 when it has ended (then
 * fds are closed and pid is 0), else 0. */
int engine_client_reap(struct engine_client *c);
/* Describes how the process ended as a predicate for "The engine ..." ("exited with status 1",
 * "was killed by signal 9 (Killed)") into buf. */
const char *engine_client_describe_exit(const struct engine_client *c, char *buf, size_t len);

/* Clean shutdown: writes shutdown_line (if not NULL), closes stdin, waits up to grace_ms for the
 * exit, then SIGTERM, waits again, then SIGKILL. Always leaves the process reaped. */
void engine_client_stop(struct engine_client *c, const char *shutdown_line, int grace_ms);

#endif

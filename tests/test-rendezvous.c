/* test-rendezvous.c: the multi-node bootstrap (engine/rendezvous.h) with real processes on this
 * machine: rank 0 hands a 128-byte id to three others over TCP; duplicates, wrong sizes, a process
 * that never comes, a rank 0 that starts late and one that is never there. */
#include "build-config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rendezvous.h"
#include "fixture-util.h"

#define ID_BYTES 128
#define HOST "127.0.0.1"

static void fill(unsigned char *id, unsigned seed)
{
	for (int i = 0; i < ID_BYTES; i++)
		id[i] = (unsigned char)(seed * 31u + (unsigned)i * 7u);
}

/* A joining process: exits 0 when it got the right id, 2 when refused or unreachable, 1 on a wrong id. */
static pid_t spawn_join(int port, int index, size_t len, unsigned seed, int timeout_ms)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	unsigned char got[ID_BYTES * 2], want[ID_BYTES];
	char err[256];
	fill(want, seed);
	if (ds_rdv_join(HOST, port, index, got, len, timeout_ms, err, sizeof err) != 0) {
		fprintf(stderr, "  (expected in some checks: %s)\n", err);
		_exit(2);
	}
	_exit(memcmp(got, want, ID_BYTES) == 0 ? 0 : 1);
}

static int wait_exit(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_three(void)
{
	char err[256];
	unsigned char id[ID_BYTES];
	struct ds_rdv *r = ds_rdv_listen(HOST, 0, err, sizeof err);
	CHECK(r != NULL, "listen: %s", err);
	if (r == NULL)
		return;
	fill(id, 42);
	pid_t p[3];
	for (int i = 0; i < 3; i++)
		p[i] = spawn_join(ds_rdv_port(r), i + 1, ID_BYTES, 42, 20000);
	CHECK(ds_rdv_serve(r, 3, id, ID_BYTES, 20000, err, sizeof err) == 0, "serve 3: %s", err);
	for (int i = 0; i < 3; i++) {
		int st = wait_exit(p[i]);
		CHECK(st == 0, "process %d ended with %d instead of getting the id", i + 1, st);
	}
	ds_rdv_close(r);
}

static void test_refusals(void)
{
	char err[256] = "";
	unsigned char id[ID_BYTES];
	fill(id, 7);
	/* two processes both say they are number 1 */
	struct ds_rdv *r = ds_rdv_listen(HOST, 0, err, sizeof err);
	CHECK(r != NULL, "listen: %s", err);
	if (r == NULL)
		return;
	pid_t a = spawn_join(ds_rdv_port(r), 1, ID_BYTES, 7, 20000);
	pid_t b = spawn_join(ds_rdv_port(r), 1, ID_BYTES, 7, 20000);
	CHECK(ds_rdv_serve(r, 2, id, ID_BYTES, 20000, err, sizeof err) != 0 && strstr(err, "twice") != NULL,
	      "a duplicate was not refused clearly: %s", err);
	int sa = wait_exit(a), sb = wait_exit(b);
	CHECK((sa == 0 && sb == 2) || (sa == 2 && sb == 0), "duplicate: exits %d and %d, expected 0 and 2", sa, sb);
	ds_rdv_close(r);

	/* a process expecting another id size, and one with a number outside 1..n */
	r = ds_rdv_listen(HOST, 0, err, sizeof err);
	CHECK(r != NULL, "listen: %s", err);
	if (r == NULL)
		return;
	a = spawn_join(ds_rdv_port(r), 1, ID_BYTES * 2, 7, 20000);
	b = spawn_join(ds_rdv_port(r), 9, ID_BYTES, 7, 20000);
	CHECK(ds_rdv_serve(r, 2, id, ID_BYTES, 20000, err, sizeof err) != 0, "wrong size and number accepted");
	CHECK(wait_exit(a) == 2 && wait_exit(b) == 2, "a wrong size or number was not refused");
	ds_rdv_close(r);

	/* process 2 never comes: rank 0 gives up and names it */
	r = ds_rdv_listen(HOST, 0, err, sizeof err);
	CHECK(r != NULL, "listen: %s", err);
	if (r == NULL)
		return;
	a = spawn_join(ds_rdv_port(r), 1, ID_BYTES, 7, 20000);
	CHECK(ds_rdv_serve(r, 2, id, ID_BYTES, 300, err, sizeof err) != 0 && strstr(err, "missing: 2") != NULL,
	      "a missing process was not named: %s", err);
	CHECK(wait_exit(a) == 0, "process 1 did not get the id while 2 was missing");
	ds_rdv_close(r);
}

/* The joining process starts first and retries until rank 0 listens. */
static void test_late_rank0(void)
{
	char err[256];
	unsigned char id[ID_BYTES];
	struct ds_rdv *probe = ds_rdv_listen(HOST, 0, err, sizeof err);
	CHECK(probe != NULL, "listen: %s", err);
	if (probe == NULL)
		return;
	int port = ds_rdv_port(probe);
	ds_rdv_close(probe);
	fill(id, 99);
	pid_t a = spawn_join(port, 1, ID_BYTES, 99, 20000);
	struct timespec ts = { 0, 300 * 1000000L };
	nanosleep(&ts, NULL);
	struct ds_rdv *r = ds_rdv_listen(HOST, port, err, sizeof err);
	if (r == NULL) {
		/* someone else took the port meanwhile: nothing to learn here */
		kill(a, SIGTERM);
		wait_exit(a);
		printf("late rank 0: port %d taken meanwhile, not checked\n", port);
		return;
	}
	CHECK(ds_rdv_serve(r, 1, id, ID_BYTES, 20000, err, sizeof err) == 0, "late rank 0: %s", err);
	CHECK(wait_exit(a) == 0, "the process that came first did not get the id");
	ds_rdv_close(r);

	/* nobody ever listens: a sentence, not a hang */
	CHECK(ds_rdv_join(HOST, port, 1, id, ID_BYTES, 300, err, sizeof err) != 0 && strstr(err, "cannot reach") != NULL,
	      "joining nobody: %s", err);
	CHECK(ds_rdv_listen("no-such-host.invalid", 0, err, sizeof err) == NULL, "listening on a bad host worked");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_three();
	test_refusals();
	test_late_rank0();
	if (fix_failures > 0) {
		printf("%d check(s) failed\n", fix_failures);
		return 1;
	}
	printf("rendezvous: all checks passed\n");
	return 0;
}

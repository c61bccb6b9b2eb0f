/* store-test.h: helpers for the storage tests: a throw-away home directory, checks that report what
 * differed, and small file utilities. Header-only so each test stays one program. */
#ifndef DS_TEST_STORE_H
#define DS_TEST_STORE_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/wait.h>

/* Helpers are static: not every test uses every one. */
#define TS_FN static __attribute__((unused))

static int ts_failures;

#define TS_CHECK(cond, ...)                                                        \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);      \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			ts_failures++;                                             \
		}                                                                  \
	} while (0)

/* Fatal setup failure: the test cannot go on. */
#define TS_REQUIRE(cond, ...)                                                      \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: FAIL (fatal): ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			exit(1);                                                   \
		}                                                                  \
	} while (0)

static char ts_home[4096];

static int ts_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* Undoes chmod 0500 of directories made read-only by a test, so they can be emptied. */
static void ts_chmod_tree(const char *dir)
{
	char cmd[8300];

	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null", dir);
	if (system(cmd) != 0) {
		/* nothing more to try: nftw reports what it cannot remove */
	}
}

static void ts_cleanup(void)
{
	if (ts_home[0] == '\0' || getenv("TS_KEEP") != NULL)
		return;
	ts_chmod_tree(ts_home);
	nftw(ts_home, ts_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a fresh temp home and points HOME, XDG_CONFIG_HOME, XDG_DATA_HOME at it, so nothing can
 * reach the real home. DSCODER_DATADIR is unset (tests set it when they need it). */
TS_FN void ts_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char buf[4200];

	snprintf(ts_home, sizeof(ts_home), "%s/dscoder-store-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	TS_REQUIRE(mkdtemp(ts_home) != NULL, "mkdtemp %s: %s", ts_home, strerror(errno));
	atexit(ts_cleanup);
	setenv("HOME", ts_home, 1);
	snprintf(buf, sizeof(buf), "%s/config", ts_home);
	setenv("XDG_CONFIG_HOME", buf, 1);
	snprintf(buf, sizeof(buf), "%s/data", ts_home);
	setenv("XDG_DATA_HOME", buf, 1);
	unsetenv("DSCODER_DATADIR");
	unsetenv("DSCODER_MODEL");
}

/* Whole file (caller frees), or NULL. */
TS_FN char *ts_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (n + 65536 + 1 > cap) {
			cap = (n + 65536 + 1) * 2;
			buf = realloc(buf, cap);
			TS_REQUIRE(buf != NULL, "out of memory");
		}
		r = fread(buf + n, 1, 65536, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

TS_FN void ts_write(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	TS_REQUIRE(f != NULL, "cannot create %s: %s", path, strerror(errno));
	TS_REQUIRE(fwrite(data, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
}

TS_FN void ts_mkdir(const char *path)
{
	char cmd[8300];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	TS_REQUIRE(system(cmd) == 0, "mkdir -p %s failed", path);
}

TS_FN int ts_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

/* Number of entries in dir whose name starts with '.', other than . and .. (left-over temp files). */
TS_FN int ts_count_dotfiles(const char *dir)
{
	char cmd[8300];
	FILE *p;
	int n = 0, c;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep '^\\.' ", dir);
	p = popen(cmd, "r");
	TS_REQUIRE(p != NULL, "popen");
	while ((c = fgetc(p)) != EOF)
		n += c == '\n';
	pclose(p);
	return n;
}

/* Prints where two byte strings first differ. */
TS_FN void ts_show_diff(const char *what, const char *a, size_t la, const char *b, size_t lb)
{
	size_t i = 0;

	while (i < la && i < lb && a[i] == b[i])
		i++;
	fprintf(stderr, "  %s: lengths %zu vs %zu, first difference at byte %zu", what, la, lb, i);
	if (i < la || i < lb)
		fprintf(stderr, " (0x%02x vs 0x%02x)", i < la ? (unsigned char)a[i] : 0,
			i < lb ? (unsigned char)b[i] : 0);
	fputc('\n', stderr);
}

TS_FN int ts_finish(const char *name)
{
	if (ts_failures) {
		fprintf(stderr, "%s: %d check(s) failed (run with TS_KEEP=1 to keep %s)\n", name,
			ts_failures, ts_home);
		return 1;
	}
	printf("%s: all checks passed\n", name);
	return 0;
}

/* Runs fn(arg) in a child that, when we are root, first becomes the unprivileged user nobody
 * (65534) owning dir, so permission checks apply; returns the child's failure count (0 = passed, or
 * skipped when privileges cannot be dropped, which the child says). */
TS_FN int ts_run_unprivileged(const char *dir, void (*fn)(const char *), const char *arg)
{
	pid_t pid;
	int status;

	if (geteuid() == 0) {
		TS_REQUIRE(chown(dir, 65534, 65534) == 0, "chown %s: %s", dir, strerror(errno));
		/* The child has to reach dir through the temp home. */
		TS_REQUIRE(chmod(ts_home, 0711) == 0, "chmod %s", ts_home);
	}
	fflush(NULL);
	pid = fork();
	TS_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
			fprintf(stderr, "cannot drop privileges (%s): permission case skipped\n", strerror(errno));
			_exit(77);
		}
		ts_failures = 0;
		fn(arg);
		fflush(NULL);
		_exit(ts_failures > 100 ? 100 : ts_failures);
	}
	TS_REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	if (geteuid() == 0)
		chmod(ts_home, 0700);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		return 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

#endif

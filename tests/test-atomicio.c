/* test-atomicio.c: atomic replacement (modes, injected failures, read-only directory, no temp files
 * left), capped reads, the file size limit (ulimit -f) failing like a full disk, and the XDG paths with
 * private directory creation. */
#include "store-test.h"

#include <signal.h>
#include <sys/resource.h>

#include "atomicio.h"
#include "paths.h"

static void check_content(const char *path, const char *want, const char *when)
{
	size_t len;
	char *got = ts_read(path, &len);

	TS_CHECK(got != NULL && len == strlen(want) && memcmp(got, want, len) == 0,
		 "%s: %s holds \"%s\", expected \"%s\"", when, path, got ? got : "(missing)", want);
	free(got);
}

static void test_write_modes(const char *dir)
{
	char path[4300], err[512];

	snprintf(path, sizeof(path), "%s/a.txt", dir);
	umask(022);
	TS_CHECK(atomicio_write(path, "one", 3, 0600, err, sizeof(err)) == 0, "first write: %s", err);
	check_content(path, "one", "after the first write");
	TS_CHECK(ts_mode(path) == 0600, "mode with umask 022 is %o, expected 600", ts_mode(path));
	umask(0);
	TS_CHECK(atomicio_write(path, "two!", 4, 0600, err, sizeof(err)) == 0, "second write: %s", err);
	check_content(path, "two!", "after the overwrite");
	TS_CHECK(ts_mode(path) == 0600, "mode with umask 000 is %o, expected 600", ts_mode(path));
	umask(077);
	TS_CHECK(atomicio_write(path, "", 0, 0644, err, sizeof(err)) == 0, "empty write: %s", err);
	check_content(path, "", "after an empty write");
	TS_CHECK(ts_mode(path) == 0644, "mode 0644 asked with umask 077 is %o", ts_mode(path));
	umask(022);
	TS_CHECK(ts_count_dotfiles(dir) == 0, "temp files left in %s", dir);
}

static void test_faults(const char *dir)
{
	static const struct { enum atomicio_fault f; const char *name; } faults[] = {
		{ ATOMICIO_FAULT_WRITE, "write" }, { ATOMICIO_FAULT_FSYNC, "fsync" },
		{ ATOMICIO_FAULT_RENAME, "rename" },
	};
	char path[4300], err[512];

	snprintf(path, sizeof(path), "%s/b.txt", dir);
	TS_REQUIRE(atomicio_write(path, "old contents\n", 13, 0600, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		err[0] = '\0';
		atomicio_set_fault(faults[i].f);
		TS_CHECK(atomicio_write(path, "NEW CONTENTS, LONGER\n", 21, 0600, err, sizeof(err)) == -1,
			 "an injected %s failure was not reported", faults[i].name);
		TS_CHECK(strstr(err, path) != NULL, "the %s error does not name the file: \"%s\"", faults[i].name, err);
		check_content(path, "old contents\n", faults[i].name);
		TS_CHECK(ts_count_dotfiles(dir) == 0, "a failed %s left a temp file in %s", faults[i].name, dir);
	}
	/* The hook fires once: the next write works. */
	TS_CHECK(atomicio_write(path, "new\n", 4, 0600, err, sizeof(err)) == 0, "write after faults: %s", err);
	check_content(path, "new\n", "write after faults");
}

/* Runs as an unprivileged user (see ts_run_unprivileged): root would ignore the read-only mode. */
static void readonly_case(const char *sub)
{
	char path[4400], err[512];

	snprintf(path, sizeof(path), "%s/c.txt", sub);
	TS_REQUIRE(atomicio_write(path, "keep me", 7, 0600, err, sizeof(err)) == 0, "%s", err);
	TS_REQUIRE(chmod(sub, 0500) == 0, "chmod: %s", strerror(errno));
	TS_CHECK(atomicio_write(path, "lost", 4, 0600, err, sizeof(err)) == -1,
		 "writing into a read-only directory succeeded");
	TS_CHECK(strstr(err, path) != NULL, "the error does not name the file: \"%s\"", err);
	check_content(path, "keep me", "after a failed write to a read-only directory");
	chmod(sub, 0700);
	TS_CHECK(ts_count_dotfiles(sub) == 0, "temp file left in %s", sub);
}

static void test_readonly_dir(const char *dir)
{
	char sub[4300];
	int n;

	snprintf(sub, sizeof(sub), "%s/ro", dir);
	ts_mkdir(sub);
	n = ts_run_unprivileged(sub, readonly_case, sub);
	TS_CHECK(n == 0, "the read-only directory case had %d failure(s)", n);
}

static void test_read(const char *dir)
{
	char path[4300], err[512];
	size_t len = 99;
	char *buf;

	snprintf(path, sizeof(path), "%s/r.txt", dir);
	ts_write(path, "0123456789", 10);
	buf = atomicio_read(path, 10, &len, err, sizeof(err));
	TS_CHECK(buf != NULL && len == 10 && memcmp(buf, "0123456789", 11) == 0, "read at the cap: %s",
		 buf ? buf : err);
	free(buf);
	buf = atomicio_read(path, 9, &len, err, sizeof(err));
	TS_CHECK(buf == NULL && strstr(err, "too big") != NULL && strstr(err, path) != NULL,
		 "a file over the cap was read, or the message is unclear: \"%s\"", err);
	free(buf);
	snprintf(path, sizeof(path), "%s/missing.txt", dir);
	buf = atomicio_read(path, 100, &len, err, sizeof(err));
	TS_CHECK(buf == NULL && errno == ENOENT && strstr(err, path) != NULL,
		 "missing file: errno %d, \"%s\"", errno, err);
	free(buf);
}

static void test_paths(void)
{
	char want[4300], err[512], *p;

	snprintf(want, sizeof(want), "%s/config/dscoder-tui", ts_home);
	p = paths_config_dir(err, sizeof(err));
	TS_CHECK(p != NULL && strcmp(p, want) == 0, "config dir %s, expected %s", p, want);
	free(p);
	/* A relative XDG value is ignored (XDG base directory spec). */
	setenv("XDG_DATA_HOME", "relative/dir", 1);
	snprintf(want, sizeof(want), "%s/.local/share/dscoder-tui", ts_home);
	p = paths_data_dir(err, sizeof(err));
	TS_CHECK(p != NULL && strcmp(p, want) == 0, "data dir with a relative XDG_DATA_HOME: %s, expected %s", p, want);
	free(p);
	/* Private directories whatever the umask, parents included. */
	umask(0);
	p = paths_conversations_dir(1, err, sizeof(err));
	TS_CHECK(p != NULL, "conversations dir: %s", err);
	if (p != NULL) {
		char parent[4400];

		TS_CHECK(ts_mode(p) == 0700, "%s has mode %o, expected 700", p, ts_mode(p));
		snprintf(parent, sizeof(parent), "%s/.local/share", ts_home);
		TS_CHECK(ts_mode(parent) == 0700, "created parent %s has mode %o, expected 700", parent, ts_mode(parent));
	}
	free(p);
	umask(022);
	snprintf(want, sizeof(want), "%s/data", ts_home);
	setenv("XDG_DATA_HOME", want, 1);
	unsetenv("HOME");
	unsetenv("XDG_CONFIG_HOME");
	p = paths_config_dir(err, sizeof(err));
	TS_CHECK(p == NULL && strstr(err, "HOME") != NULL, "no HOME and no XDG_CONFIG_HOME: got %s / \"%s\"", p, err);
	free(p);
	setenv("HOME", ts_home, 1);
	p = paths_expand_home("~/x/y");
	snprintf(want, sizeof(want), "%s/x/y", ts_home);
	TS_CHECK(strcmp(p, want) == 0, "~ expansion gave %s", p);
	free(p);
	/* An existing file in the way of a directory is reported, not clobbered. */
	snprintf(want, sizeof(want), "%s/file", ts_home);
	ts_write(want, "x", 1);
	snprintf(want, sizeof(want), "%s/file/sub", ts_home);
	TS_CHECK(paths_mkdir_p(want, 0700, err, sizeof(err)) == -1 && strstr(err, "/file") != NULL,
		 "mkdir through a file: \"%s\"", err);
	setenv("DSCODER_DATADIR", "/some/where", 1);
	TS_CHECK(strcmp(paths_pkgdatadir(), "/some/where") == 0, "DSCODER_DATADIR ignored");
	unsetenv("DSCODER_DATADIR");
	{
		/* Installed: DATADIR. Before make install: the source tree, which has the same layout. */
		struct stat st;
		const char *expect = stat(DATADIR, &st) == 0 ? DATADIR : SRCDIR;

		TS_CHECK(strcmp(paths_pkgdatadir(), expect) == 0, "pkgdatadir %s, expected %s",
			 paths_pkgdatadir(), expect);
	}
}

/* In a child: a file size limit of 4 KiB, then a 64 KiB write. SIGXFSZ used to kill the program
 * mid-save (a TUI left its terminal in curses mode and the temp file behind). */
static void fsize_case(const char *dir)
{
	char path[4400], err[512];
	struct rlimit rl = { 4096, 4096 };
	size_t big = 65536;
	char *data = calloc(1, big);
	struct sigaction sa;

	snprintf(path, sizeof(path), "%s/f.txt", dir);
	TS_REQUIRE(data != NULL && atomicio_write(path, "small", 5, 0600, err, sizeof(err)) == 0, "%s", err);
	TS_REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit: %s", strerror(errno));
	memset(data, 'x', big);
	err[0] = '\0';
	TS_CHECK(atomicio_write(path, data, big, 0600, err, sizeof(err)) == -1,
		 "a write over the file size limit was not reported");
	TS_CHECK(strstr(err, path) != NULL && strstr(err, "ulimit -f") != NULL && strstr(err, "unchanged") != NULL,
		 "the message should name the file and the limit: \"%s\"", err);
	check_content(path, "small", "after a write over the file size limit");
	TS_CHECK(ts_count_dotfiles(dir) == 0, "a write over the file size limit left a temp file in %s", dir);
	/* The signal's action is the default again afterwards. */
	TS_CHECK(sigaction(SIGXFSZ, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL, "SIGXFSZ left ignored");
	/* A caller's own choice (ignored) is kept. */
	signal(SIGXFSZ, SIG_IGN);
	TS_CHECK(atomicio_write(path, data, big, 0600, err, sizeof(err)) == -1, "second write over the limit");
	TS_CHECK(sigaction(SIGXFSZ, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN, "the caller's SIG_IGN was undone");
	free(data);
}

static void test_file_size_limit(const char *dir)
{
	char sub[4300];
	pid_t pid;
	int status;

	snprintf(sub, sizeof(sub), "%s/fsize", dir);
	ts_mkdir(sub);
	fflush(NULL);
	pid = fork();
	TS_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		signal(SIGXFSZ, SIG_DFL);
		ts_failures = 0;
		fsize_case(sub);
		fflush(NULL);
		_exit(ts_failures > 100 ? 100 : ts_failures);
	}
	TS_REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	TS_CHECK(!WIFSIGNALED(status), "a write over the file size limit killed the program (signal %d, %s)",
		 WIFSIGNALED(status) ? WTERMSIG(status) : 0, WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "");
	TS_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the file size limit case had %d failure(s)",
		 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	TS_CHECK(ts_count_dotfiles(sub) == 0, "a temp file was left in %s", sub);
}

int main(void)
{
	char dir[4200];

	ts_setup();
	snprintf(dir, sizeof(dir), "%s/w", ts_home);
	ts_mkdir(dir);
	test_write_modes(dir);
	test_faults(dir);
	test_readonly_dir(dir);
	test_read(dir);
	test_file_size_limit(dir);
	test_paths();
	return ts_finish("test-atomicio");
}

/* lib/atomic_file.c, the one writer every file replacement goes
 * through: the mode asked for whatever the umask, and on each way it can
 * fail (no room, no file descriptor, a rename refused, no directory) the
 * old file exactly as it was and no temporary file left. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Where valgrind is not installed (the Debian 13 root), nothing runs
 * under it. */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND	0
#endif

#include "atomic_file.h"
#include "unit_tmpdir.h"

static char dir[64], path[128];
static const char old_text[] = "the old content\n";

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/vg-atomic-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/file", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return remove_tree(dir);
}

static void put_old(void)
{
	assert_int_equal(vg_atomic_write(AT_FDCWD, path, old_text,
					 strlen(old_text), 0640), 0);
}

static const char *read_text(const char *p)
{
	static char buf[4096];
	FILE *f = fopen(p, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static mode_t mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

/* Names in the test directory other than "." and ".." and keep. */
static int others(const char *keep)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    (!keep || strcmp(e->d_name, keep))) {
			print_message("left: %s\n", e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

/* The old file untouched, nothing else beside it. */
static void assert_old_kept(void)
{
	assert_string_equal(read_text(path), old_text);
	assert_int_equal(mode_of(path), 0640);
	assert_int_equal(others("file"), 0);
}

static void t_mode_and_content(void **state)
{
	mode_t old = umask(077);

	(void)state;
	assert_int_equal(vg_atomic_write(AT_FDCWD, path, "a\n", 2, 0644), 0);
	assert_string_equal(read_text(path), "a\n");
	assert_int_equal(mode_of(path), 0644);	/* not narrowed by the umask */
	assert_int_equal(vg_atomic_write(AT_FDCWD, path, "", 0, 0600), 0);
	assert_string_equal(read_text(path), "");
	assert_int_equal(mode_of(path), 0600);
	umask(old);
	assert_int_equal(others("file"), 0);
}

/* Relative to a directory fd (lib/totp.c's way), a sub-directory of it,
 * and AT_FDCWD with a relative path. */
static void t_dirfd_relative(void **state)
{
	char sub[160], cwd[4096];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	(void)state;
	assert_true(dfd >= 0);
	assert_int_equal(vg_atomic_write(dfd, "file", "x", 1, 0600), 0);
	assert_string_equal(read_text(path), "x");
	assert_int_equal(mkdirat(dfd, "sub", 0700), 0);
	assert_int_equal(vg_atomic_write(dfd, "sub/f", "y", 1, 0600), 0);
	snprintf(sub, sizeof(sub), "%s/sub/f", dir);
	assert_string_equal(read_text(sub), "y");
	close(dfd);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(vg_atomic_write(AT_FDCWD, "file", "z", 1, 0600), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(read_text(path), "z");
	assert_int_equal(vg_atomic_write(AT_FDCWD, "/", "z", 1, 0600),
			 -EISDIR);
	assert_int_equal(vg_atomic_write(AT_FDCWD, "", "z", 1, 0600),
			 -ENOENT);
}

/* A symbolic link at the path is replaced, what it points at never
 * written through. */
static void t_symlink_replaced(void **state)
{
	char target[160];

	(void)state;
	snprintf(target, sizeof(target), "%s/target", dir);
	put_old();
	assert_int_equal(rename(path, target), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(vg_atomic_write(AT_FDCWD, path, "new", 3, 0600), 0);
	assert_string_equal(read_text(target), old_text);
	assert_string_equal(read_text(path), "new");
	assert_int_equal(mode_of(path), 0600);	/* lstat: a file now */
}

/* A write that fails half way (a full disk; here RLIMIT_FSIZE, which
 * fails write(2) the same way). */
static void t_write_fails(void **state)
{
	static char big[8192];
	struct rlimit old, small = { 2048, 2048 };
	int ret;

	(void)state;
	put_old();
	memset(big, 'b', sizeof(big));
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	ret = vg_atomic_write(AT_FDCWD, path, big, sizeof(big), 0600);
	setrlimit(RLIMIT_FSIZE, &old);
	assert_int_equal(ret, -EFBIG);
	assert_old_kept();
}

/* No file descriptor left: the temporary file cannot be created. */
static void t_create_fails(void **state)
{
	struct rlimit old, none;
	int dfd, next, ret;

	(void)state;
	if (RUNNING_ON_VALGRIND) {
		/* valgrind keeps RLIMIT_NOFILE itself and refuses the fd
		 * after the kernel has created the file, which the product
		 * never sees; the plain run of this binary covers it. */
		print_message("skip: valgrind emulates RLIMIT_NOFILE after "
			      "open(2) has created the file\n");
		skip();
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	put_old();
	next = dup(dfd);	/* the lowest free descriptor */
	assert_true(next > dfd);
	close(next);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	none = old;
	none.rlim_cur = (rlim_t)next;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
	ret = vg_atomic_write(dfd, "file", "new", 3, 0600);
	setrlimit(RLIMIT_NOFILE, &old);
	close(dfd);
	assert_int_equal(ret, -EMFILE);
	assert_old_kept();
}

/* The rename refused (a directory in the way): the temporary file, fully
 * written by then, goes. */
static void t_rename_fails(void **state)
{
	char inner[160];

	(void)state;
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/inner", path);
	assert_int_equal(mkdir(inner, 0700), 0);
	assert_int_equal(vg_atomic_write(AT_FDCWD, path, "new", 3, 0600),
			 -EISDIR);
	assert_int_equal(others("file"), 0);
	assert_int_equal(access(inner, F_OK), 0);
}

static void t_no_directory(void **state)
{
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s/none/file", dir);
	assert_int_equal(vg_atomic_write(AT_FDCWD, p, "x", 1, 0600), -ENOENT);
	assert_int_equal(others(NULL), 0);
}

/* Under the directory's lock (the TOTP files): the fixed temporary name
 * that a writer killed between create and rename left behind, with its
 * old content, is cleared by the next write instead of staying. */
static void t_locked_clears_leftover(void **state)
{
	char left[160];
	FILE *f;

	(void)state;
	put_old();
	snprintf(left, sizeof(left), "%s/.file.new", dir);
	f = fopen(left, "w");
	assert_non_null(f);
	fputs("a secret, half written", f);
	fclose(f);
	assert_int_equal(vg_atomic_write_locked(AT_FDCWD, path, "new", 3,
						0600), 0);
	assert_string_equal(read_text(path), "new");
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(others("file"), 0);
	/* A link planted there is removed, never written through. */
	assert_int_equal(symlink("/etc/passwd", left), 0);
	assert_int_equal(vg_atomic_write_locked(AT_FDCWD, path, "x", 1,
						0600), 0);
	assert_string_equal(read_text(path), "x");
	assert_int_equal(others("file"), 0);
}

/* A file named name in the test directory, last changed age s ago. */
static void plant(const char *name, time_t age)
{
	struct timespec ts[2];
	char p[160];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("left by a writer that died", f);
	fclose(f);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static bool there(const char *name)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

/* A writer killed between create and rename leaves its temporary file:
 * the next write of the same file removes it once it is old enough that
 * no live writer can be using it, and nothing else. */
static void t_stale_temp_swept(void **state)
{
	char p[160];

	(void)state;
	put_old();
	plant(".file.0123456789abcdef", 3600);		/* stale: ours */
	plant(".file.fedcba9876543210", 10);		/* a live writer's */
	plant(".other.0123456789abcdef", 3600);	/* another file's */
	plant(".file.0123456789abcdeg", 3600);		/* not our name */
	plant(".file.0123456789abcde", 3600);		/* too short */
	plant("file.0123456789abcdef", 3600);		/* no dot */
	snprintf(p, sizeof(p), "%s/.file.aaaaaaaaaaaaaaaa", dir);
	assert_int_equal(mkdir(p, 0700), 0);		/* not a file */
	assert_int_equal(utimensat(AT_FDCWD, p, (struct timespec[2]){
		{ 1, 0 }, { 1, 0 } }, 0), 0);
	assert_int_equal(vg_atomic_write(AT_FDCWD, path, "new", 3, 0600), 0);
	assert_string_equal(read_text(path), "new");
	assert_false(there(".file.0123456789abcdef"));
	assert_true(there(".file.fedcba9876543210"));
	assert_true(there(".other.0123456789abcdef"));
	assert_true(there(".file.0123456789abcdeg"));
	assert_true(there(".file.0123456789abcde"));
	assert_true(there("file.0123456789abcdef"));
	assert_true(there(".file.aaaaaaaaaaaaaaaa"));
	/* The locked writer (the module's) has a fixed name of its own and
	 * sweeps nothing. */
	plant(".file.1111111111111111", 3600);
	assert_int_equal(vg_atomic_write_locked(AT_FDCWD, path, "x", 1,
						0600), 0);
	assert_true(there(".file.1111111111111111"));
}

/* The sweep removes only what one of our writers could have left: never
 * a symbolic link (nor what it points at) and never a file someone else
 * owns, however old and well named. */
static void t_sweep_spares_links_and_others(void **state)
{
	char p[160], target[160];

	(void)state;
	put_old();
	plant("victim", 3600);
	snprintf(target, sizeof(target), "%s/victim", dir);
	snprintf(p, sizeof(p), "%s/.file.bbbbbbbbbbbbbbbb", dir);
	assert_int_equal(symlink(target, p), 0);
	plant(".file.cccccccccccccccc", 3600);
	snprintf(p, sizeof(p), "%s/.file.cccccccccccccccc", dir);
	if (geteuid() == 0)
		assert_int_equal(chown(p, 65534, 65534), 0);
	assert_int_equal(vg_atomic_write(AT_FDCWD, path, "new", 3, 0600), 0);
	assert_true(there(".file.bbbbbbbbbbbbbbbb"));
	assert_true(there("victim"));
	if (geteuid() == 0)
		assert_true(there(".file.cccccccccccccccc"));
	else
		assert_false(there(".file.cccccccccccccccc"));	/* ours */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(t_mode_and_content),
		T(t_dirfd_relative),
		T(t_symlink_replaced),
		T(t_write_fails),
		T(t_create_fails),
		T(t_rename_fails),
		T(t_no_directory),
		T(t_locked_clears_leftover),
		T(t_stale_temp_swept),
		T(t_sweep_spares_links_and_others),
	};

	return cmocka_run_group_tests_name("atomic_file", tests, NULL, NULL);
}

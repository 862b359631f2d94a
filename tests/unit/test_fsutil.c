/* helper/sys/fsutil.c's fs_mkdirs(), which makes the directories harden,
 * setup and confirm write into: like mkdir -p, it must stop at a name
 * that exists and is not a directory, instead of reporting success and
 * leaving the write that follows to fail with a less useful error. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "unit_tmpdir.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/vg-fsutil-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return remove_tree(dir);
}

static const char *at(const char *rel)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
	return buf[i];
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode;
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	close(fd);
}

static void t_creates_every_level_with_its_mode(void **state)
{
	(void)state;
	umask(022);
	assert_int_equal(fs_mkdirs(at("a/b/c"), 0700), 0);
	assert_true(S_ISDIR(mode_of(at("a"))));
	assert_int_equal(mode_of(at("a/b/c")) & 07777, 0700);
	/* Again, all there: nothing to do. */
	assert_int_equal(fs_mkdirs(at("a/b/c"), 0700), 0);
}

static void t_follows_a_link_to_a_directory(void **state)
{
	(void)state;
	assert_int_equal(mkdir(at("real"), 0755), 0);
	assert_int_equal(symlink(at("real"), at("link")), 0);
	assert_int_equal(fs_mkdirs(at("link/d"), 0755), 0);
	assert_true(S_ISDIR(mode_of(at("real/d"))));
}

static void t_a_file_in_the_path_is_enotdir(void **state)
{
	(void)state;
	touch(at("f"));
	assert_int_equal(fs_mkdirs(at("f"), 0755), -ENOTDIR);
	assert_int_equal(fs_mkdirs(at("f/d"), 0755), -ENOTDIR);
	assert_true(S_ISREG(mode_of(at("f"))));
}

static void t_a_dangling_link_is_an_error(void **state)
{
	(void)state;
	assert_int_equal(symlink(at("nowhere"), at("dangling")), 0);
	assert_int_equal(fs_mkdirs(at("dangling"), 0755), -ENOENT);
	assert_int_equal(fs_mkdirs(at("dangling/d"), 0755), -ENOENT);
	/* Nothing was created at the link's target. */
	assert_int_equal(access(at("nowhere"), F_OK), -1);
}

static void t_a_link_to_a_file_is_enotdir(void **state)
{
	(void)state;
	touch(at("g"));
	assert_int_equal(symlink(at("g"), at("to-file")), 0);
	assert_int_equal(fs_mkdirs(at("to-file/d"), 0755), -ENOTDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			t_creates_every_level_with_its_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(
			t_follows_a_link_to_a_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(
			t_a_file_in_the_path_is_enotdir, setup, teardown),
		cmocka_unit_test_setup_teardown(
			t_a_dangling_link_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(
			t_a_link_to_a_file_is_enotdir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

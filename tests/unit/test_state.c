/* The state file: round trip, atomic replacement, corrupt and truncated
 * files, and a write that cannot complete leaving the old file intact. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "unit_tmpdir.h"

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/vg-state-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return remove_tree(dir);
}

static struct vg_state_rec rec(const char *cidr, uint32_t count,
			       int64_t until)
{
	struct vg_state_rec r = { .ban_count = count, .banned_at = 1000,
				  .banned_until = until, .flags = 1 };

	assert_int_equal(vg_cidr_parse(cidr, &r.key), 0);
	return r;
}

static void write_text(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(void)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void t_round_trip(void **state)
{
	struct vg_state_rec in[3], *out;
	char err[256];
	size_t n;
	struct stat st;

	(void)state;
	in[0] = rec("203.0.113.7", 2, 1763846400);
	in[1] = rec("2001:db8:66::/64", 1, 1763763600);
	in[2] = rec("2001:db8::1", 7, 0);
	in[2].last_success = 1763000000;
	assert_int_equal(vg_state_save(path, in, 3, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(vg_state_load(path, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_true(vg_addr_equal(&in[i].key, &out[i].key));
		assert_int_equal(in[i].ban_count, out[i].ban_count);
		assert_int_equal(in[i].banned_until, out[i].banned_until);
		assert_int_equal(in[i].last_success, out[i].last_success);
		assert_int_equal(in[i].flags, out[i].flags);
	}
	free(out);
	/* empty is valid too */
	assert_int_equal(vg_state_save(path, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(vg_state_load(path, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(out);
}

static void t_missing(void **state)
{
	struct vg_state_rec *out;
	char err[256];
	size_t n;

	(void)state;
	assert_int_equal(vg_state_load(path, &out, &n, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(n, 0);
}

static void expect_corrupt(const char *text, const char *why)
{
	struct vg_state_rec *out;
	char err[256];
	size_t n;

	write_text(text);
	assert_int_equal(vg_state_load(path, &out, &n, err, sizeof(err)),
			 -EBADMSG);
	assert_null(out);
	assert_non_null(strstr(err, why));
}

static void t_corrupt(void **state)
{
	(void)state;
	expect_corrupt("", "not a pam_vpsguard state file");
	expect_corrupt("pam_vpsguard-state 2\nend 0\n", "another version");
	expect_corrupt("pam_vpsguard-state 1\n203.0.113.7 1 0 1 2 0\n",
		       "truncated");
	expect_corrupt("pam_vpsguard-state 1\n203.0.113.7 1 0 1 2 0\nend 2\n",
		       ":3: corrupt");
	expect_corrupt("pam_vpsguard-state 1\n203.0.113.777 1 0 1 2 0\n"
		       "end 1\n", ":2: corrupt");
	expect_corrupt("pam_vpsguard-state 1\n203.0.113.7 1 0 -1 2 0\n"
		       "end 1\n", ":2: corrupt");
	expect_corrupt("pam_vpsguard-state 1\n203.0.113.7 1 0 1 2\nend 1\n",
		       ":2: corrupt");
	expect_corrupt("pam_vpsguard-state 1\nend 0\n203.0.113.7 1 0 1 2 0\n",
		       ":3: corrupt");
	/* a cut in the middle of the last line */
	expect_corrupt("pam_vpsguard-state 1\n203.0.113.7 1 0 1 2 0\nen",
		       "corrupt");
}

static void t_quarantine_keeps_every_copy(void **state)
{
	char q1[256], q2[256];

	(void)state;
	write_text("junk 1\n");
	assert_int_equal(vg_state_quarantine(path, q1, sizeof(q1)), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(q1, F_OK), 0);
	write_text("junk 2\n");
	assert_int_equal(vg_state_quarantine(path, q2, sizeof(q2)), 0);
	assert_string_not_equal(q1, q2);
	assert_int_equal(access(q1, F_OK), 0);
	assert_int_equal(access(q2, F_OK), 0);
}

/* A write that fails half way (a full disk; here RLIMIT_FSIZE, which
 * fails write(2) the same way) leaves the old file as it was and no
 * temporary behind. */
static void t_failed_write_keeps_old(void **state)
{
	struct vg_state_rec big[400], *out;
	struct rlimit old, small = { 2048, 2048 };
	char err[256], before[4096];
	size_t n;

	(void)state;
	big[0] = rec("192.0.2.1", 1, 5);
	assert_int_equal(vg_state_save(path, big, 1, err, sizeof(err)), 0);
	strcpy(before, read_text());
	for (int i = 0; i < 400; i++)
		big[i] = rec("2001:db8:1234:5678::/64", 99, 1763846400);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int ret = vg_state_save(path, big, 400, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	assert_int_equal(ret, -EFBIG);
	assert_non_null(strstr(err, "previous state kept"));
	assert_string_equal(read_text(), before);
	assert_int_equal(vg_state_load(path, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	free(out);
	char cmd[160];

	/* no temporary left: "state" alone */
	snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = state", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(t_round_trip),
		T(t_missing),
		T(t_corrupt),
		T(t_quarantine_keeps_every_copy),
		T(t_failed_write_keeps_old),
	};

	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}

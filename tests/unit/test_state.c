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
#include "unit_child.h"
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

/* A record keyed wider than any table key (a /24, a /48) would become a
 * drop of a whole network, 0.0.0.0/0 of everything: a corrupt line,
 * located like any other. */
static void t_wide_prefix(void **state)
{
	static const char *const wide[] = {
		"0.0.0.0/0", "::/0", "10.0.0.0/8", "::ffff:0:0/96",
		"192.0.2.0/23", "2001:db8::/32", "2001:db8::/47",
	};
	static const char *const ok[] = {
		"192.0.2.0/24", "2001:db8:1::/48", "2001:db8:1:2::/64",
		"192.0.2.7", "::ffff:192.0.2.8",
	};
	struct vg_state_rec *out;
	char text[256], err[256];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
		snprintf(text, sizeof(text), "pam_vpsguard-state 1\n# k\n"
			 "192.0.2.9 1 0 1 2 0\n%s 1 0 1 2 0\nend 2\n",
			 wide[i]);
		print_message("%s\n", wide[i]);
		expect_corrupt(text, ":4: corrupt");
	}
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "pam_vpsguard-state 1\n"
			 "%s 1 0 1 2 0\nend 1\n", ok[i]);
		write_text(text);
		assert_int_equal(vg_state_load(path, &out, &n, err,
					       sizeof(err)), 0);
		assert_int_equal(n, 1);
		free(out);
	}
}

/* What one vg_state_load() in a child gave. */
struct loaded {
	int ret;
	size_t n;
	char err[256];
};

static void load_in_child(void *arg, void *out)
{
	struct loaded *x = out;
	struct vg_state_rec *recs = NULL;

	x->ret = vg_state_load(arg, &recs, &x->n, x->err, sizeof(x->err));
	free(recs);
}

/* vg_state_load(p) in a child the parent gives 5 s: a FIFO at the path
 * blocked the old fopen() for ever, which must fail this case rather
 * than hang the suite.  false: no answer in time (the child is killed). */
static bool load_bounded(const char *p, struct loaded *r)
{
	memset(r, 0, sizeof(*r));
	return run_bounded(load_in_child, (void *)p, r, sizeof(*r), 5000);
}

static const char good[] = "pam_vpsguard-state 1\n192.0.2.7 1 0 1 "
			   "4000000000 0\nend 1\n";

static void expect_refused(const char *why)
{
	struct loaded r;

	assert_true(load_bounded(path, &r));
	print_message("%s\n", r.err);
	assert_int_equal(r.ret, -EBADMSG);
	assert_int_equal(r.n, 0);
	assert_non_null(strstr(r.err, why));
}

/* A FIFO is refused at once (never waited for), and set aside as itself
 * by the quarantine, which never opens it. */
static void t_fifo(void **state)
{
	char q[256];
	struct stat st;

	(void)state;
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_refused("not a regular file");
	assert_int_equal(vg_state_quarantine(path, q, sizeof(q)), 0);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(access(path, F_OK), -1);
}

/* A symlink is not followed: refused, and set aside as the link itself,
 * its target untouched. */
static void t_symlink(void **state)
{
	char target[160], q[256];
	struct stat st;

	(void)state;
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	write_text(good);
	assert_int_equal(rename(path, target), 0);
	assert_int_equal(symlink(target, path), 0);
	expect_refused("a symbolic link");
	assert_int_equal(vg_state_quarantine(path, q, sizeof(q)), 0);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(target, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(access(path, F_OK), -1);
}

/* Another user's file (planted in a loose directory) or one others may
 * write is not the helper's: its bans are never applied. */
static void t_foreign_or_loose(void **state)
{
	(void)state;
	write_text(good);
	assert_int_equal(chmod(path, 0620), 0);
	expect_refused("writable by group or others");
	assert_int_equal(chmod(path, 0602), 0);
	expect_refused("writable by group or others");
	if (geteuid() != 0) {
		print_message("skipped the owner case: needs root\n");
		return;
	}
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(chmod(path, 0600), 0);
	expect_refused("owned by uid 65534, not root");
	assert_int_equal(chmod(path, 0666), 0);
	expect_refused("owned by uid 65534, not root");
	/* And the helper's own, as it writes it, still loads. */
	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(chmod(path, 0600), 0);
	{
		struct loaded r;

		assert_true(load_bounded(path, &r));
		assert_int_equal(r.ret, 0);
		assert_int_equal(r.n, 1);
	}
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
		T(t_wide_prefix),
		T(t_fifo),
		T(t_symlink),
		T(t_foreign_or_loose),
	};

	/* Files are written 0600/0644 whatever the caller's umask: the
	 * loader refuses group- or other-writable ones. */
	umask(022);

	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}

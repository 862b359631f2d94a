/* lib/totp.c and lib/sha256.c: RFC 6238 vectors through the module's
 * own path (vg_oath_load -> vg_totp_verify on a real file), the window,
 * replay, malformed input, recovery codes, file checks, user names; and
 * the CLI's enrolment (helper/totp_enrol.c, included: the helper's
 * top-level files are in no archive). */
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
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sha256.h"
#include "totp.h"
#include "totp_enrol.h"
#include "unit_child.h"

static struct vg_oath oath;
static char dir[64];		/* the secrets directory of one test */
static char err[512];

/* RFC 6238 appendix B seed for SHA-1. */
static const char seed[] = "12345678901234567890";

static void rfc_secret(struct vg_totp *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->secret, seed, 20);
	s->secret_len = 20;
}

static int group_setup(void **state)
{
	(void)state;
	return vg_oath_load(&oath, err, sizeof(err));
}

static int group_teardown(void **state)
{
	(void)state;
	vg_oath_unload(&oath);
	return 0;
}

/* The secret store refuses files root does not own (lib/totp.c): as
 * another user (make check) the cases that store one are skipped. */
#define NEED_ROOT()							\
	do {								\
		if (geteuid() != 0) {					\
			print_message("skipped: needs root (secret "	\
				      "files must be root-owned)\n");	\
			skip();						\
		}							\
	} while (0)

static int dir_setup(void **state)
{
	char base[] = "/tmp/vg-unit-totp-XXXXXX";

	(void)state;
	if (!mkdtemp(base))
		return -1;
	snprintf(dir, sizeof(dir), "%s/totp", base);
	return 0;
}

static int dir_teardown(void **state)
{
	char cmd[128];

	(void)state;
	if (strncmp(dir, "/tmp/vg-unit-totp-", 18) != 0)
		return -1;
	*strrchr(dir, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void store_rfc(const char *user)
{
	struct vg_totp s;

	rfc_secret(&s);
	assert_int_equal(vg_totp_store(dir, user, &s, false, err,
				       sizeof(err)), 0);
}

static void t_sha256(void **state)
{
	static const struct { const char *in; const char *hex; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	uint8_t out[32];
	char hex[65];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct vg_sha256 c;

		vg_sha256_init(&c);
		/* byte by byte: the buffering path too */
		for (const char *p = v[i].in; *p; p++)
			vg_sha256_update(&c, p, 1);
		vg_sha256_final(&c, out);
		for (int k = 0; k < 32; k++)
			sprintf(hex + 2 * k, "%02x", out[k]);
		assert_string_equal(hex, v[i].hex);
	}
}

/* liboath's encoder, as enrolment shows a secret: RFC 4648 section 10
 * for the padding that the Key Uri Format leaves out. */
static void t_base32(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "MY" }, { "fo", "MZXQ" },
		{ "foo", "MZXW6" }, { "foob", "MZXW6YQ" },
		{ "fooba", "MZXW6YTB" }, { "foobar", "MZXW6YTBOI" },
	};
	struct vg_oath none = { 0 };
	char out[64];

	(void)state;
	assert_int_equal(vg_totp_base32(&oath, (const uint8_t *)seed, 20, out,
					sizeof(out)), 0);
	assert_string_equal(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	assert_int_equal(vg_totp_base32(&oath, (const uint8_t *)seed, 20, out,
					32), -ENOSPC);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(vg_totp_base32(&oath,
						(const uint8_t *)v[i].in,
						strlen(v[i].in), out,
						sizeof(out)), 0);
		assert_string_equal(out, v[i].out);
	}
	assert_int_equal(vg_totp_base32(&none, (const uint8_t *)seed, 20, out,
					sizeof(out)), -ELIBACC);
}

/* RFC 6238 appendix B, SHA-1, last 6 of the 8 digits. */
static const struct { long long t; const char *code; } rfc[] = {
	{ 59, "287082" }, { 1111111109, "081804" }, { 1111111111, "050471" },
	{ 1234567890, "005924" }, { 2000000000, "279037" },
	{ 20000000000LL, "353130" },
};
#define N_RFC	(sizeof(rfc) / sizeof(rfc[0]))

static void t_rfc_check(void **state)
{
	struct vg_totp s;

	(void)state;
	for (size_t i = 0; i < N_RFC; i++) {
		rfc_secret(&s);
		assert_int_equal(vg_totp_check(&oath, &s, rfc[i].code,
					       (time_t)rfc[i].t, 0),
				 VG_TOTP_OK);
		assert_true(s.last == (uint64_t)(rfc[i].t / 30));
	}
}

/* The module's call: a file, the lock, the store of the step. */
static void t_rfc_verify_files(void **state)
{
	struct vg_totp s;

	char left[300];
	FILE *f;

	(void)state;
	NEED_ROOT();
	store_rfc("alice");
	/* What a login killed between the temp file's creation and its
	 * rename (sshd's LoginGraceTime alarm) leaves: a copy of the secret.
	 * The next recorded code clears it. */
	snprintf(left, sizeof(left), "%s/.alice.new", dir);
	f = fopen(left, "w");
	assert_non_null(f);
	fputs("secret copy\n", f);
	fclose(f);
	for (size_t i = 0; i < N_RFC; i++)
		assert_int_equal(vg_totp_verify(&oath, dir, "alice",
						rfc[i].code,
						(time_t)rfc[i].t, 1, err,
						sizeof(err)), VG_TOTP_OK);
	assert_int_equal(vg_totp_load(dir, "alice", &s, err, sizeof(err)), 0);
	assert_true(s.last == 20000000000ULL / 30);
	assert_int_equal(access(left, F_OK), -1);
	/* Each vector again: all older than the last step now. */
	for (size_t i = 0; i < N_RFC; i++)
		assert_int_equal(vg_totp_verify(&oath, dir, "alice",
						rfc[i].code,
						(time_t)rfc[i].t, 1, err,
						sizeof(err)), VG_TOTP_REPLAY);
}

static void t_window(void **state)
{
	struct vg_totp s;

	(void)state;
	/* "287082" is step 1 (t 30..59). */
	rfc_secret(&s);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 89, 1),
			 VG_TOTP_OK);	/* one step late */
	rfc_secret(&s);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 90, 1),
			 VG_TOTP_BAD);	/* two steps late */
	rfc_secret(&s);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 29, 1),
			 VG_TOTP_OK);	/* one step early */
	rfc_secret(&s);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 89, 0),
			 VG_TOTP_BAD);	/* window 0: this step only */
	rfc_secret(&s);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 30, 0),
			 VG_TOTP_OK);
	rfc_secret(&s);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 119, 2),
			 VG_TOTP_OK);
	rfc_secret(&s);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 120, 2),
			 VG_TOTP_BAD);
}

static void t_replay(void **state)
{
	struct vg_totp s;

	(void)state;
	rfc_secret(&s);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 59, 1),
			 VG_TOTP_OK);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 59, 1),
			 VG_TOTP_REPLAY);
	assert_int_equal(vg_totp_check(&oath, &s, "287082", 70, 1),
			 VG_TOTP_REPLAY);
	/* An older step, still in the window: a replay too.  RFC 4226
	 * appendix D: counter 0 = 755224, counter 2 = 359152. */
	s.last = 1;
	assert_int_equal(vg_totp_check(&oath, &s, "755224", 59, 1),
			 VG_TOTP_REPLAY);
	assert_int_equal(vg_totp_check(&oath, &s, "359152", 59, 1),
			 VG_TOTP_OK);	/* the next step, early */
	assert_true(s.last == 2);
	assert_int_equal(vg_totp_check(&oath, &s, "359152", 60, 1),
			 VG_TOTP_REPLAY);
}

static void t_malformed(void **state)
{
	static const char *bad[] = {
		"", "28708", "2870821", "28708a", " 287082", "287082 ",
		"287 082", "+28708", "２87082", "287082\n", "0x1234",
		"abcd-efgh-ijk", "abcd-efgh-ijkl1", "abcd-efgh-ij1l",
	};
	char big[1025];
	struct vg_totp s;

	(void)state;
	NEED_ROOT();
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rfc_secret(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vg_totp_classify(bad[i]),
				 VG_TOTP_IN_MALFORMED);
		/* Refused before liboath: no library handed in at all. */
		assert_int_equal(vg_totp_check(NULL, &s, bad[i], 59, 1),
				 VG_TOTP_MALFORMED);
	}
	assert_int_equal(vg_totp_check(NULL, &s, big, 59, 1),
			 VG_TOTP_MALFORMED);
	assert_int_equal(vg_totp_classify(NULL), VG_TOTP_IN_MALFORMED);
	assert_true(s.last == 0);
	assert_int_equal(vg_totp_classify("287082"), VG_TOTP_IN_CODE);
	assert_int_equal(vg_totp_classify("abcd-efgh-ijkl"),
			 VG_TOTP_IN_RECOVERY);
	assert_int_equal(vg_totp_classify("ABCD EFGH IJKL"),
			 VG_TOTP_IN_RECOVERY);
	/* Through the file path too: malformed never stores anything. */
	store_rfc("bob");
	assert_int_equal(vg_totp_verify(&oath, dir, "bob", big, 59, 1, err,
					sizeof(err)), VG_TOTP_MALFORMED);
	assert_int_equal(vg_totp_verify(&oath, dir, "bob", "28708", 59, 1,
					err, sizeof(err)), VG_TOTP_MALFORMED);
	assert_int_equal(vg_totp_verify(&oath, dir, "bob", "000000", 59, 1,
					err, sizeof(err)), VG_TOTP_BAD);
}

static void t_recovery(void **state)
{
	char codes[VG_TOTP_RECOVERY_N][VG_TOTP_RECOVERY_TEXT], alt[32];
	struct vg_totp s;

	(void)state;
	NEED_ROOT();
	assert_int_equal(vg_totp_new(&s, codes), 0);
	assert_int_equal(s.n_recovery, VG_TOTP_RECOVERY_N);
	assert_true(s.secret_len == VG_TOTP_SECRET_LEN);
	for (int i = 0; i < VG_TOTP_RECOVERY_N; i++) {
		assert_int_equal(strlen(codes[i]), 14);
		assert_int_equal(vg_totp_classify(codes[i]),
				 VG_TOTP_IN_RECOVERY);
	}
	assert_int_equal(vg_totp_store(dir, "carol", &s, false, err,
				       sizeof(err)), 0);
	assert_int_equal(vg_totp_verify(&oath, dir, "carol", codes[3], 59, 1,
					err, sizeof(err)),
			 VG_TOTP_RECOVERY_OK);
	assert_int_equal(vg_totp_verify(&oath, dir, "carol", codes[3], 59, 1,
					err, sizeof(err)), VG_TOTP_BAD);
	/* Upper case without dashes is the same code. */
	for (size_t i = 0, j = 0; i <= strlen(codes[4]); i++)
		if (codes[4][i] != '-')
			alt[j++] = (char)(codes[4][i] >= 'a' &&
					  codes[4][i] <= 'z' ?
					  codes[4][i] - 32 : codes[4][i]);
	assert_int_equal(vg_totp_verify(&oath, dir, "carol", alt, 59, 1,
					err, sizeof(err)),
			 VG_TOTP_RECOVERY_OK);
	assert_int_equal(vg_totp_verify(&oath, dir, "carol",
					"aaaa-aaaa-aaaa", 59, 1, err,
					sizeof(err)), VG_TOTP_BAD);
	vg_totp_wipe(&s);
	assert_int_equal(vg_totp_load(dir, "carol", &s, err, sizeof(err)), 0);
	assert_int_equal(s.n_recovery, VG_TOTP_RECOVERY_N - 2);
	/* The others still work, once each. */
	assert_int_equal(vg_totp_verify(&oath, dir, "carol", codes[9], 59, 1,
					err, sizeof(err)),
			 VG_TOTP_RECOVERY_OK);
	assert_int_equal(vg_totp_verify(&oath, dir, "carol", codes[0], 59, 1,
					err, sizeof(err)),
			 VG_TOTP_RECOVERY_OK);
	vg_totp_wipe(&s);
	explicit_bzero(codes, sizeof(codes));
}

static void t_file_checks(void **state)
{
	char path[128], link[128];
	struct vg_totp s;
	int fd;

	(void)state;
	NEED_ROOT();
	assert_int_equal(vg_totp_load(dir, "dave", &s, err, sizeof(err)),
			 -ENOENT);	/* no directory yet */
	store_rfc("dave");
	snprintf(path, sizeof(path), "%s/dave", dir);
	assert_int_equal(vg_totp_load(dir, "dave", &s, err, sizeof(err)), 0);
	assert_int_equal(vg_totp_load(dir, "erin", &s, err, sizeof(err)),
			 -ENOENT);
	/* Stored root only, whatever the umask. */
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		*strrchr(path, '/') = '\0';
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0700);
		strcat(path, "/dave");
	}
	assert_int_equal(vg_totp_store(dir, "dave", &s, false, err,
				       sizeof(err)), -EEXIST);
	for (mode_t m = 0604; m; m = m == 0604 ? 0640 : m == 0640 ? 0660 :
	     m == 0660 ? 0602 : 0) {
		assert_int_equal(chmod(path, m), 0);
		assert_int_equal(vg_totp_load(dir, "dave", &s, err,
					      sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "insecure"));
		assert_int_equal(vg_totp_verify(&oath, dir, "dave", "287082",
						59, 1, err, sizeof(err)),
				 -EPERM);
	}
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(vg_totp_load(dir, "dave", &s, err, sizeof(err)),
			 -EPERM);
	assert_non_null(strstr(err, "not root"));
	assert_int_equal(chown(path, 0, 0), 0);
	/* A symbolic link is never followed. */
	snprintf(link, sizeof(link), "%s/frank", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(vg_totp_load(dir, "frank", &s, err, sizeof(err)),
			 -EPERM);
	/* Not our format. */
	snprintf(link, sizeof(link), "%s/gina", dir);
	fd = open(link, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "HOTP/T30/6 gina - 00\n", 21), 21);
	close(fd);
	assert_int_equal(vg_totp_load(dir, "gina", &s, err, sizeof(err)),
			 -EBADMSG);
	/* A directory others may write into is refused as a whole. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(vg_totp_load(dir, "dave", &s, err, sizeof(err)),
			 -EPERM);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(vg_totp_load(dir, "dave", &s, err, sizeof(err)), 0);
	assert_int_equal(vg_totp_remove(dir, "dave", err, sizeof(err)), 0);
	assert_int_equal(vg_totp_load(dir, "dave", &s, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(vg_totp_remove(dir, "dave", err, sizeof(err)),
			 -ENOENT);
	vg_totp_wipe(&s);
}

static void t_user_names(void **state)
{
	static const char *ok[] = { "alice", "a.b-c_d", "A1", "x",
		"abcdefghijklmnopqrstuvwxyz012345" };
	static const char *bad[] = { "", ".", "..", ".x", "-x", "a/b",
		"../etc/shadow", "a b", "caf\xc3\xa9", "a\nb", "a:b",
		"abcdefghijklmnopqrstuvwxyz0123456" };
	struct vg_totp s;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(vg_totp_user_ok(ok[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(vg_totp_user_ok(bad[i]));
		assert_int_equal(vg_totp_load("/tmp", bad[i], &s, err,
					      sizeof(err)), -EINVAL);
		assert_int_equal(vg_totp_verify(&oath, "/tmp", bad[i],
						"287082", 59, 1, err,
						sizeof(err)), -EINVAL);
	}
	assert_false(vg_totp_user_ok(NULL));
}

#ifndef VG_TOTP_LOCK_WAIT_MS	/* so this case builds against older trees */
#define VG_TOTP_LOCK_WAIT_MS	5000
#endif

/* What one vg_totp_verify() in a child gave, and how long it took. */
struct bounded {
	int ret;
	long ms;
	char err[256];
};

static void verify_in_child(void *arg, void *out)
{
	struct bounded *x = out;
	struct timespec a, z;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &a);
	x->ret = vg_totp_verify(&oath, dir, "alice", rfc[0].code,
				(time_t)rfc[0].t, 1, x->err, sizeof(x->err));
	clock_gettime(CLOCK_MONOTONIC, &z);
	x->ms = (z.tv_sec - a.tv_sec) * 1000 +
		(z.tv_nsec - a.tv_nsec) / 1000000;
}

/* vg_totp_verify of alice's first RFC vector in a child the parent
 * gives limit_ms: an unbounded wait fails the case instead of hanging
 * the suite.  false: no answer in time (the child is killed). */
static bool verify_bounded(int limit_ms, struct bounded *b)
{
	memset(b, 0, sizeof(*b));
	return run_bounded(verify_in_child, NULL, b, sizeof(*b), limit_ms);
}

/* A holder of DIR/.lock that never lets go (stopped, stuck on a dead
 * disk) must not hang the module inside sshd: the wait is bounded at
 * VG_TOTP_LOCK_WAIT_MS and the code refused with -ETIMEDOUT (a second
 * factor never fails open); once the lock is free the same code works. */
static void t_lock_timeout(void **state)
{
	char lock[128];
	struct bounded b;
	int hold;

	(void)state;
	NEED_ROOT();
	store_rfc("alice");
	snprintf(lock, sizeof(lock), "%s/.lock", dir);
	/* Its own open file description: conflicts with the child's. */
	hold = open(lock, O_RDWR | O_CLOEXEC);
	assert_true(hold >= 0);
	assert_int_equal(flock(hold, LOCK_EX), 0);
	assert_true(verify_bounded(VG_TOTP_LOCK_WAIT_MS + 10000, &b));
	assert_int_equal(b.ret, -ETIMEDOUT);
	assert_true(b.ms >= VG_TOTP_LOCK_WAIT_MS - 100);
	assert_true(b.ms < VG_TOTP_LOCK_WAIT_MS + 3000);
	assert_non_null(strstr(b.err, "/.lock: held by another process for "
				      "5 s"));
	close(hold);
	assert_true(verify_bounded(5000, &b));
	assert_int_equal(b.ret, VG_TOTP_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_sha256),
		cmocka_unit_test(t_base32),
		cmocka_unit_test(t_rfc_check),
		cmocka_unit_test_setup_teardown(t_rfc_verify_files, dir_setup,
						dir_teardown),
		cmocka_unit_test(t_window),
		cmocka_unit_test(t_replay),
		cmocka_unit_test_setup_teardown(t_malformed, dir_setup,
						dir_teardown),
		cmocka_unit_test_setup_teardown(t_recovery, dir_setup,
						dir_teardown),
		cmocka_unit_test_setup_teardown(t_file_checks, dir_setup,
						dir_teardown),
		cmocka_unit_test(t_user_names),
		cmocka_unit_test_setup_teardown(t_lock_timeout, dir_setup,
						dir_teardown),
	};

	return cmocka_run_group_tests_name("totp", tests, group_setup,
					   group_teardown);
}

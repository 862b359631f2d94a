/* The built pam_vpsguard.so through real Linux-PAM.
 *
 * Two levels: the module's entry points called directly (dlopen of the
 * built .so, a real pam handle from pam_start_confdir) to assert the
 * exact code each mode returns, and whole stacks through
 * pam_authenticate()/pam_acct_mgmt() from a private confdir, so no file
 * under /etc/pam.d is ever touched. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>
#include <sys/wait.h>

#include <security/pam_appl.h>
#include <security/pam_modules.h>

#include "table_internal.h"

typedef int (*sm_fn)(pam_handle_t *, int, int, const char **);

static char dir[64], conf[128], mod[4096];
static void *so;
static sm_fn sm_auth, sm_acct, sm_setcred;

static int conv(int n, const struct pam_message **msg,
		struct pam_response **resp, void *data)
{
	(void)msg;
	(void)data;
	*resp = calloc((size_t)n, sizeof(**resp));	/* texts only */
	return *resp ? PAM_SUCCESS : PAM_BUF_ERR;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void write_conf(const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text), "table.path = %s/run/table\n"
		 "table.size = 1024\n%s", dir, extra);
	write_file(conf, text);
}

static int group_setup(void **state)
{
	char path[256], text[16384], rel[256];
	int n;
	/* The build directory (make O=...), as the shell suites take it. */
	const char *builddir = getenv("VG_BUILD");

	(void)state;
	snprintf(rel, sizeof(rel), "%s/pam_vpsguard.so",
		 builddir ? builddir : "build");
	assert_non_null(realpath(rel, mod));
	strcpy(dir, "/tmp/vg-pam-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/vpsguard.conf", dir);
	snprintf(path, sizeof(path), "%s/run", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/direct", dir);
	write_file(path, "auth required pam_permit.so\n");
	/* SPEC's reference stack with the password check replaced by a
	 * user-name test: "gooduser" has the right password. */
	snprintf(path, sizeof(path), "%s/stack", dir);
	n = snprintf(text, sizeof(text),
		 "auth requisite %1$s preauth conf=%2$s\n"
		 "auth [success=1 default=ignore] pam_succeed_if.so quiet "
		 "user = gooduser\n"
		 "auth [default=die] %1$s authfail conf=%2$s\n"
		 "auth sufficient %1$s authsucc conf=%2$s\n"
		 "auth requisite pam_deny.so\n"
		 "account requisite %1$s conf=%2$s\n"
		 "account required pam_permit.so\n", mod, conf);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	write_file(path, text);
	so = dlopen(mod, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(so);
	sm_auth = (sm_fn)dlsym(so, "pam_sm_authenticate");
	sm_acct = (sm_fn)dlsym(so, "pam_sm_acct_mgmt");
	sm_setcred = (sm_fn)dlsym(so, "pam_sm_setcred");
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	dlclose(so);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int reset(void **state)
{
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/run/table", dir);
	unlink(path);
	write_conf("");
	return 0;
}

static pam_handle_t *handle(const char *svc, const char *user,
			    const char *rhost)
{
	static const struct pam_conv c = { conv, NULL };
	pam_handle_t *h = NULL;

	assert_int_equal(pam_start_confdir(svc, user, &c, dir, &h),
			 PAM_SUCCESS);
	if (rhost)
		assert_int_equal(pam_set_item(h, PAM_RHOST, rhost), 0);
	return h;
}

/* Call one entry point the way libpam would, with these arguments. */
static int call(sm_fn fn, const char *rhost, const char *user,
		const char *a0, const char *a1)
{
	const char *argv[3];
	char confarg[160];
	int argc = 0, rc;
	pam_handle_t *h = handle("direct", user, rhost);

	snprintf(confarg, sizeof(confarg), "conf=%s", conf);
	if (a0)
		argv[argc++] = a0;
	argv[argc++] = confarg;
	if (a1)
		argv[argc++] = a1;
	rc = fn(h, 0, argc, argv);
	pam_end(h, rc);
	return rc;
}

static int stack(const char *user, const char *rhost, bool account)
{
	pam_handle_t *h = handle("stack", user, rhost);
	int rc = pam_authenticate(h, 0);

	if (rc == PAM_SUCCESS && account)
		rc = pam_acct_mgmt(h, 0);
	pam_end(h, rc);
	return rc;
}

/* Refused in preauth and in the account phase (banned, or failmode
 * closed). */
static void assert_refused(const char *ip)
{
	assert_int_equal(call(sm_auth, ip, "root", "preauth", NULL),
			 PAM_AUTH_ERR);
	assert_int_equal(call(sm_acct, ip, "root", NULL, NULL),
			 PAM_PERM_DENIED);
}

static void t_exports_only_pam_sm(void **state)
{
	(void)state;
	assert_non_null(sm_auth);
	assert_non_null(sm_acct);
	assert_non_null(sm_setcred);
	assert_null(dlsym(so, "vg_table_open"));
	assert_null(dlsym(so, "vg_config_set"));
	assert_null(dlsym(so, "vg_log"));
}

static void t_mode_codes(void **state)
{
	const char *ip = "203.0.113.7";

	(void)state;
	assert_int_equal(call(sm_auth, ip, "root", "preauth", NULL),
			 PAM_SUCCESS);
	for (int i = 0; i < 5; i++)
		assert_int_equal(call(sm_auth, ip, "root", "authfail", NULL),
				 PAM_AUTH_ERR);
	assert_refused(ip);
	assert_int_equal(call(sm_auth, ip, "root", "authsucc", NULL),
			 PAM_SUCCESS);
	assert_int_equal(call(sm_setcred, ip, "root", NULL, NULL),
			 PAM_SUCCESS);
	/* another source */
	assert_int_equal(call(sm_auth, "203.0.113.8", "root", "preauth",
			      NULL), PAM_SUCCESS);
	assert_int_equal(call(sm_acct, "203.0.113.8", "root", NULL, NULL),
			 PAM_SUCCESS);
}

static void t_no_rhost(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(call(sm_auth, NULL, "root", "authfail", NULL),
				 PAM_AUTH_ERR);
	assert_int_equal(call(sm_auth, NULL, "root", "preauth", NULL),
			 PAM_IGNORE);
	assert_int_equal(call(sm_auth, "", "root", "preauth", NULL),
			 PAM_IGNORE);
	assert_int_equal(call(sm_acct, NULL, "root", NULL, NULL), PAM_IGNORE);
	assert_int_equal(call(sm_auth, NULL, "root", "authsucc", NULL),
			 PAM_SUCCESS);
	/* even with a broken config and failmode closed */
	write_conf("failmode = closed\nbogus = 1\n");
	assert_int_equal(call(sm_auth, NULL, "root", "preauth", NULL),
			 PAM_IGNORE);
	assert_int_equal(call(sm_acct, NULL, "root", NULL, NULL), PAM_IGNORE);
}

static void t_ignoreip(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(call(sm_auth, "127.0.0.9", "root", "authfail",
				      NULL), PAM_AUTH_ERR);
	assert_int_equal(call(sm_auth, "127.0.0.9", "root", "preauth", NULL),
			 PAM_SUCCESS);
	assert_int_equal(call(sm_acct, "::ffff:127.0.0.9", "root", NULL,
			      NULL), PAM_SUCCESS);
	assert_int_equal(call(sm_auth, "127.0.0.9", "root", "authsucc", NULL),
			 PAM_SUCCESS);
}

static void t_failmode_open(void **state)
{
	const char *ip = "198.51.100.3";

	(void)state;
	write_conf("maxretry = lots\n");
	assert_int_equal(call(sm_auth, ip, "root", "preauth", NULL),
			 PAM_IGNORE);
	assert_int_equal(call(sm_auth, ip, "root", "authfail", NULL),
			 PAM_AUTH_ERR);
	assert_int_equal(call(sm_auth, ip, "root", "authsucc", NULL),
			 PAM_SUCCESS);
	assert_int_equal(call(sm_acct, ip, "root", NULL, NULL), PAM_IGNORE);
	/* a bad module argument, and an auth line without a mode */
	write_conf("");
	assert_int_equal(call(sm_auth, ip, "root", "preauth", "maxretry=0"),
			 PAM_IGNORE);
	assert_int_equal(call(sm_auth, ip, "root", "preauth", "frobnicate"),
			 PAM_IGNORE);
	assert_int_equal(call(sm_auth, ip, "root", NULL, NULL), PAM_IGNORE);
	/* the second factor never fails open */
	assert_int_equal(call(sm_auth, ip, "root", "totp", "maxretry=0"),
			 PAM_AUTH_ERR);
}

/* A process stuck while it holds the table's lock (stopped, frozen):
 * every call waits out the lock's bound, then failmode applies, except
 * that a ban that stands still refuses (read without the lock). */
static void t_stuck_lock_keeps_bans(void **state)
{
	const char *ip = "198.51.100.30", *other = "198.51.100.31";
	char path[256], c;
	struct vg_table *t;
	int p[2];
	pid_t pid;

	(void)state;
	assert_int_equal(call(sm_auth, ip, "root", "preauth", NULL),
			 PAM_SUCCESS);
	for (int i = 0; i < 5; i++)
		call(sm_auth, ip, "root", "authfail", NULL);
	assert_int_equal(call(sm_auth, ip, "root", "preauth", NULL),
			 PAM_AUTH_ERR);
	snprintf(path, sizeof(path), "%s/run/table", dir);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Never outlives a failed test, nor holds its output open. */
		alarm(20);
		if (!freopen("/dev/null", "w", stdout) ||
		    !freopen("/dev/null", "w", stderr))
			_exit(1);
		if (vg_table_open(&t, path, 0, false) != 0 ||
		    table_lock(t) != 0 || write(p[1], "L", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_refused(ip);
	/* not banned: failmode (open) as before */
	assert_int_equal(call(sm_auth, other, "root", "preauth", NULL),
			 PAM_IGNORE);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
}

static void t_failmode_closed(void **state)
{
	const char *ip = "198.51.100.4";

	(void)state;
	/* the bad line comes first: failmode still holds */
	write_conf("maxretry = lots\nfailmode = closed\n");
	assert_refused(ip);
	assert_int_equal(call(sm_auth, ip, "root", "authsucc", NULL),
			 PAM_SUCCESS);
	/* an unusable table: its directory is open to everyone */
	char bad[200];

	snprintf(bad, sizeof(bad), "table.path = %s/open/table\n"
		 "failmode = closed\n", dir);
	write_file(conf, bad);
	snprintf(bad, sizeof(bad), "%s/open", dir);
	assert_int_equal(mkdir(bad, 0777), 0);
	assert_int_equal(chmod(bad, 0777), 0);
	assert_refused(ip);
	assert_int_equal(call(sm_auth, ip, "root", "preauth",
			      "failmode=open"), PAM_IGNORE);
	rmdir(bad);
}

static void t_arguments_override_file(void **state)
{
	const char *ip = "198.51.100.5";

	(void)state;
	write_conf("maxretry = 9\n");
	for (int i = 0; i < 2; i++)
		assert_int_equal(call(sm_auth, ip, "root", "authfail",
				      "maxretry=2"), PAM_AUTH_ERR);
	assert_int_equal(call(sm_auth, ip, "root", "preauth", "maxretry=2"),
			 PAM_AUTH_ERR);
	/* conf= naming a missing file is an error, not the defaults */
	assert_int_equal(call(sm_auth, "198.51.100.6", "root", "preauth",
			      "conf=/nonexistent/vpsguard.conf"), PAM_IGNORE);
}

static void t_reference_stack(void **state)
{
	const char *bad = "203.0.113.20", *other = "203.0.113.21";

	(void)state;
	assert_int_equal(stack("gooduser", bad, true), PAM_SUCCESS);
	for (int i = 0; i < 5; i++)
		assert_int_equal(stack("root", bad, false), PAM_AUTH_ERR);
	/* the right password is never even checked now */
	assert_int_equal(stack("gooduser", bad, false), PAM_AUTH_ERR);
	assert_int_equal(stack("gooduser", other, true), PAM_SUCCESS);
	/* the console is never blocked */
	assert_int_equal(stack("gooduser", NULL, true), PAM_SUCCESS);
}

static void t_reference_stack_invalid_user_weight(void **state)
{
	const char *ip = "203.0.113.22";

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(stack("no-such-user-vg", ip, false),
				 PAM_AUTH_ERR);
	assert_int_equal(stack("gooduser", ip, false), PAM_SUCCESS);
	assert_int_equal(stack("no-such-user-vg", ip, false), PAM_AUTH_ERR);
	for (int i = 0; i < 2; i++)
		assert_int_equal(stack("no-such-user-vg", ip, false),
				 PAM_AUTH_ERR);
	/* 3 x weight 2 = 6 >= maxretry 5 */
	assert_int_equal(stack("gooduser", ip, false), PAM_AUTH_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup(fn, reset)
		T(t_exports_only_pam_sm),
		T(t_mode_codes),
		T(t_no_rhost),
		T(t_ignoreip),
		T(t_failmode_open),
		T(t_failmode_closed),
		T(t_stuck_lock_keeps_bans),
		T(t_arguments_override_file),
		T(t_reference_stack),
		T(t_reference_stack_invalid_user_weight),
	};

	return cmocka_run_group_tests_name("pam_module", tests, group_setup,
					   group_teardown);
}

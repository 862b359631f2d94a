/* helper/sshd/accounts.c, the lockout guards' view of who can still get
 * in once passwords are off: counted exactly when sshd would let the user
 * in with a key.  Each case is a tree (--root) of its own: etc/passwd,
 * etc/group, the homes with their authorized_keys, and the shells. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accounts.h"
#include "unit_tmpdir.h"

static char root[64];

static void put(const char *rel, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void dir(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

/* A tree with a shell, a non-executable file where a shell is named, and
 * a home with a key for each user named in "keyed". */
static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/vg-accounts-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	dir("etc");
	dir("bin");
	dir("usr");
	dir("usr/sbin");
	dir("home");
	put("bin/sh", "#!/bin/true\n", 0755);
	put("bin/bash", "#!/bin/true\n", 0755);
	put("bin/notexec", "", 0644);
	put("usr/sbin/nologin", "#!/bin/true\n", 0755);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return remove_tree(root);
}

/* One user line, in group sudo, with a key: counted or not.  What
 * follows the home directory on alice's passwd line (the shell field). */
struct shell_case {
	const char *field;
	bool counted;
};

static void t_shell(void **state)
{
	const struct shell_case *c = *state;
	char line[256];
	struct acct_report r;

	dir("home/alice");
	dir("home/alice/.ssh");
	put("home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAA alice\n",
	    0600);
	put("etc/group", "root:x:0:\nsudo:x:27:alice\nalice:x:1000:\n",
	    0644);
	snprintf(line, sizeof(line), "root:x:0:0:root:/root:/bin/bash\n"
		 "alice:x:1000:1000::/home/alice%s\n", c->field);
	put("etc/passwd", line, 0644);
	assert_int_equal(acct_check(root, NULL, &r), 0);
	assert_int_equal(r.key_users, c->counted ? 1 : 0);
	assert_int_equal(r.sudo_users, c->counted ? 1 : 0);
	assert_string_equal(r.admin, c->counted ? "alice" : "");
}

static struct shell_case login_shell = { ":/bin/bash", true },
	/* passwd(5): an empty shell is /bin/sh, which exists here. */
	empty_shell = { ":", true },
	/* No shell field at all: glibc's shell is "", i.e. /bin/sh. */
	no_shell_field = { "", true },
	/* glibc reads everything after the sixth colon as the shell: with
	 * a stray colon at the end it is "/usr/sbin/nologin:", which does
	 * not exist, so sshd refuses alice; counting her would let harden
	 * turn passwords off with no admin able to log in. */
	stray_colon_nologin = { ":/usr/sbin/nologin:", false },
	stray_colon_bash = { ":/bin/bash:", false },
	nologin = { ":/usr/sbin/nologin", false },
	shell_missing = { ":/bin/zsh", false },
	shell_not_executable = { ":/bin/notexec", false };

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(c) { #c, t_shell, setup, teardown, &c }
		T(login_shell),
		T(empty_shell),
		T(no_shell_field),
		T(stray_colon_nologin),
		T(stray_colon_bash),
		T(nologin),
		T(shell_missing),
		T(shell_not_executable),
	};

	return cmocka_run_group_tests_name("accounts", tests, NULL, NULL);
}

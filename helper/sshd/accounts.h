/* Who could still get in after passwords are off: the lockout guards of
 * harden and the "no public key for any sudo/wheel user" line of audit.
 * Read from the tree's own /etc/passwd and /etc/group (never NSS: under
 * --root the host's users are not the tree's). */
#ifndef VG_ACCOUNTS_H
#define VG_ACCOUNTS_H

#define ACCT_NAME_MAX	64

struct acct_report {
	unsigned int key_users;		/* non-root, with an authorized key */
	unsigned int sudo_users;	/* non-root, in sudo, wheel or admin */
	char key_user[ACCT_NAME_MAX];	/* one of each, for messages */
	char sudo_user[ACCT_NAME_MAX];
	char admin[ACCT_NAME_MAX];	/* in sudo/wheel *and* has a key */
};

/* akfile: sshd -T's authorizedkeysfile value (NULL: sshd's default);
 * %h, %u and %% are expanded, relative names are under the home.  Only
 * users with a login shell count.  0 or -errno (no passwd file). */
int acct_check(const char *root, const char *akfile, struct acct_report *r);

#endif

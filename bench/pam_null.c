/*
 * pam_null: the floor under any limiter built as a PAM module.
 *
 * bench_pam stacks it exactly like pam_vpsguard and pam_faillock
 * (preauth / authfail / authsucc lines).  It does what every limiter
 * must do and nothing else: it is loaded by libpam on each pam_start
 * (dlopen, relocation under -z now, dlclose in pam_end) and reads
 * PAM_RHOST.  With the argument "lookup", authfail also looks the user
 * up, as pam_vpsguard (invalid_user.weight) and pam_faillock do.  With
 * "refuse", preauth refuses (the banned scenario's floor), and its
 * account hook passes (the success scenario's).  It is linked with the
 * module's own flags, so the difference between this row and
 * pam_vpsguard's is what pam_vpsguard itself costs.
 */
#define _GNU_SOURCE
#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <security/pam_modules.h>

static bool has_arg(int argc, const char **argv, const char *want)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *w = want;

		while (*a && *a == *w) {
			a++;
			w++;
		}
		if (*a == '\0' && *w == '\0')
			return true;
	}
	return false;
}

__attribute__((visibility("default"))) int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	const void *rhost = NULL;

	(void)flags;
	if (pam_get_item(pamh, PAM_RHOST, &rhost) != PAM_SUCCESS || !rhost)
		return PAM_IGNORE;
	if (has_arg(argc, argv, "preauth"))
		return has_arg(argc, argv, "refuse") ? PAM_AUTH_ERR :
		       PAM_SUCCESS;
	if (has_arg(argc, argv, "authsucc"))
		return PAM_SUCCESS;
	if (has_arg(argc, argv, "lookup")) {
		const void *user = NULL;
		struct passwd pw, *res = NULL;
		char buf[1024];

		if (pam_get_item(pamh, PAM_USER, &user) == PAM_SUCCESS && user)
			(void)getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	}
	return PAM_AUTH_ERR;
}

__attribute__((visibility("default"))) int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			      const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

__attribute__((visibility("default"))) int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
				const char **argv)
{
	const void *rhost = NULL;

	(void)flags;
	(void)argc;
	(void)argv;
	return pam_get_item(pamh, PAM_RHOST, &rhost) == PAM_SUCCESS && rhost ?
	       PAM_SUCCESS : PAM_IGNORE;
}

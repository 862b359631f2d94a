/*
 * pam_vgpass: a TEST-ONLY stand-in for pam_unix in tests/adversary/.
 *
 *	auth [success=1 default=ignore] /abs/pam_vgpass.so pass=SECRET
 *
 * It does what pam_unix does at that line, as far as pam_vpsguard can
 * tell: asks for the password through the conversation (one
 * PAM_PROMPT_ECHO_OFF "Password: " per call, which is what the driver
 * counts as "a password evaluated") and returns PAM_SUCCESS for SECRET,
 * PAM_AUTH_ERR for anything else.  It exists only because yescrypt /
 * SHA-512 hashing makes a 10k-source flood through the real pam_unix
 * too slow for `make test`; the cases that need few attempts run the
 * real pam_unix (test users in a private overlay of /etc), and the
 * NAT-neighbour case a real sshd.  Never install it.
 *
 * It prompts on every call (no cached PAM_AUTHTOK), so one handle can
 * carry several attempts, as sshd's password method does.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
			       const char **argv)
{
	const char *want = NULL;
	char *resp = NULL;
	int ret;

	(void)flags;
	for (int i = 0; i < argc; i++)
		if (strncmp(argv[i], "pass=", 5) == 0)
			want = argv[i] + 5;
	if (!want)
		return PAM_AUTH_ERR;
	ret = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "Password: ");
	if (ret != PAM_SUCCESS || !resp) {
		free(resp);
		return PAM_AUTH_ERR;
	}
	ret = strcmp(resp, want) == 0 ? PAM_SUCCESS : PAM_AUTH_ERR;
	free(resp);
	return ret;
}

EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			  const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
			    const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

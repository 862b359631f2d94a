/* vg_sandbox: run a command under the seccomp part of
 * pam-vpsguard.service's sandbox, where systemd is not PID 1 (the test
 * machines) and systemd-run cannot apply the unit.  Applies, like systemd:
 *
 *   NoNewPrivileges=yes          PR_SET_NO_NEW_PRIVS
 *   MemoryDenyWriteExecute=yes   PR_SET_MDWE (Linux >= 6.3, as systemd 253+)
 *   SystemCallFilter=...         --syscalls FILE: one name a line, allowed;
 *   SystemCallErrorNumber=EPERM  everything else fails with EPERM
 *   SystemCallArchitectures=native  (a libseccomp filter is native only)
 *   RestrictAddressFamilies=...  --families AF_X,AF_Y: socket(2) with any
 *                                other family fails with EAFNOSUPPORT
 *
 * The rest of the unit (capability bounding set, read-only system) is
 * applied by the calling test with setpriv and a mount namespace.
 *
 *   vg_sandbox --syscalls FILE --families AF_UNIX,AF_NETLINK -- CMD ARGS */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

static const struct { const char *name; int af; } fams[] = {
	{ "AF_UNIX", AF_UNIX }, { "AF_INET", AF_INET }, { "AF_INET6", AF_INET6 },
	{ "AF_NETLINK", AF_NETLINK }, { "AF_PACKET", AF_PACKET },
};

static int family(const char *name)
{
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++)
		if (!strcmp(fams[i].name, name))
			return fams[i].af;
	return -1;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "vg_sandbox: %s: %s\n", what, strerror(err));
	exit(125);
}

int main(int argc, char **argv)
{
	const char *sysfile = NULL, *famlist = NULL;
	bool allowed_af[AF_MAX] = { false };
	char line[128], *list, *tok, *save;
	scmp_filter_ctx ctx;
	int i, sock, rc;
	FILE *f;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--syscalls") && i + 1 < argc)
			sysfile = argv[++i];
		else if (!strcmp(argv[i], "--families") && i + 1 < argc)
			famlist = argv[++i];
		else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else
			break;
	}
	if (!sysfile || !famlist || i >= argc) {
		fprintf(stderr, "usage: vg_sandbox --syscalls FILE --families AF_X,... -- CMD [ARG...]\n");
		return 125;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("PR_SET_NO_NEW_PRIVS", errno);
	if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0))
		fprintf(stderr, "vg_sandbox: note: no PR_SET_MDWE (%s): MemoryDenyWriteExecute not applied\n",
			strerror(errno));

	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		die("seccomp_init", ENOMEM);
	sock = seccomp_syscall_resolve_name("socket");
	if (!(f = fopen(sysfile, "r")))
		die(sysfile, errno);
	while (fgets(line, sizeof(line), f)) {
		int nr;

		line[strcspn(line, " \t\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		nr = seccomp_syscall_resolve_name(line);
		if (nr == __NR_SCMP_ERROR || nr == sock)
			continue;	/* not on this arch; socket: below */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)))
			die(line, -rc);
	}
	fclose(f);
	list = strdup(famlist);
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		int af = family(tok);

		if (af < 0) {
			fprintf(stderr, "vg_sandbox: unknown family %s\n", tok);
			return 125;
		}
		allowed_af[af] = true;
	}
	free(list);
	for (int af = 0; af < AF_MAX; af++) {
		rc = seccomp_rule_add(ctx, allowed_af[af] ? SCMP_ACT_ALLOW :
				      SCMP_ACT_ERRNO(EAFNOSUPPORT), sock, 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af));
		if (rc)
			die("socket rule", -rc);
	}
	if ((rc = seccomp_load(ctx)))
		die("seccomp_load", -rc);
	seccomp_release(ctx);
	execvp(argv[i], argv + i);
	die(argv[i], errno);
	return 125;
}

/*
 * pam_vpsguard-admin: see and steer the shared table.
 *
 * A table of subcommands as in wireguard-tools' wg.c: adding a verb is
 * one line here, one prototype in subcommands.h and one <verb>_main.
 * Global options (--conf, --table, --json) may come before the verb;
 * each verb also takes them after its name (cli_parse()).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "subcommands.h"

static const struct {
	const char *name;
	int (*fn)(int argc, const char **argv);
	const char *help;
	/* Changes what only root may change, or reads what only root may
	 * read (sshd -T needs the host keys): said up front, rather than
	 * as whatever error the first denied file happens to give.  The
	 * read commands are left to the table's own "root only" error, so
	 * --table can point them at a test table. */
	bool root;
} subcommands[] = {
	{ "status", status_main, "failing, banned, dropped, table fill", false },
	{ "list", list_main, "one row per source, optionally filtered", false },
	{ "show", show_main, "one source in detail, and its ignoreip cover", false },
	{ "ban", ban_main, "ban an address or prefix by hand", true },
	{ "unban", unban_main, "lift the ban of an address, or --all", true },
	{ "metrics", metrics_main, "Prometheus text for node_exporter", false },
	{ "sync", sync_main, "one helper pass: save state, nftables drops", true },
	{ "daemon", daemon_main, "the helper in the foreground (systemd)", true },
	{ "setup", setup_main, "stack the module into /etc/pam.d/sshd", true },
	{ "harden", harden_main, "write the key-only sshd drop-in, safely", true },
	{ "unharden", unharden_main, "remove the sshd drop-in", true },
	{ "confirm", confirm_main, "keep a pending harden --confirm change", true },
	{ "audit", audit_main, "the first-day checklist, PASS/WARN/FAIL", true },
	{ "totp", totp_main, "enroll, remove, status of TOTP secrets", true },
};

static bool wants_help(int argc, const char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

#define N_SUBCOMMANDS	(sizeof(subcommands) / sizeof(subcommands[0]))

static void show_usage(FILE *f)
{
	fprintf(f, "Usage: %s [--conf PATH] [--table PATH] [--json] "
		"<cmd> [<args>]\n\nAvailable subcommands:\n", prog);
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", subcommands[i].name,
			subcommands[i].help);
	fprintf(f, "\nWithout a subcommand: status.  '%s <cmd> --help' "
		"for its options.\nExit status: 0 done, 1 failed, 2 usage or "
		"configuration error, 3 audit found a FAIL.\n", prog);
}

int main(int argc, const char *argv[])
{
	static const char *status_argv[] = { "status", NULL };
	int i, ret;

	cli_init(argv[0]);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			show_usage(stdout);
			return VG_EXIT_OK;
		}
		if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			printf("%s %s\n", prog, VG_VERSION);
			return VG_EXIT_OK;
		}
		ret = cli_global_option(argc, argv, &i);
		if (ret == 1)
			continue;
		if (ret == 0)
			cli_error("unknown option '%s'", argv[i]);
		show_usage(stderr);
		return VG_EXIT_USAGE;
	}
	if (i == argc)
		return status_main(1, status_argv);
	for (size_t c = 0; c < N_SUBCOMMANDS; c++)
		if (!strcmp(argv[i], subcommands[c].name)) {
			if (subcommands[c].root && geteuid() != 0 &&
			    !wants_help(argc - i, argv + i)) {
				cli_error("%s: must be run as root",
					  subcommands[c].name);
				return VG_EXIT_FAIL;
			}
			return subcommands[c].fn(argc - i, argv + i);
		}
	cli_error("unknown subcommand '%s'", argv[i]);
	show_usage(stderr);
	return VG_EXIT_USAGE;
}

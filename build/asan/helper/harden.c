/* Placeholder until the harden work lands (session 2). */
#include "cli.h"
#include "subcommands.h"

int harden_main(int argc, const char **argv)
{
	(void)argc;
	cli_error("%s: not implemented yet", argv[0]);
	return VG_EXIT_FAIL;
}

int unharden_main(int argc, const char **argv)
{
	(void)argc;
	cli_error("%s: not implemented yet", argv[0]);
	return VG_EXIT_FAIL;
}

int confirm_main(int argc, const char **argv)
{
	(void)argc;
	cli_error("%s: not implemented yet", argv[0]);
	return VG_EXIT_FAIL;
}


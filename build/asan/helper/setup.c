/* Placeholder until the setup work lands (session 2). */
#include "cli.h"
#include "subcommands.h"

int setup_main(int argc, const char **argv)
{
	(void)argc;
	cli_error("%s: not implemented yet", argv[0]);
	return VG_EXIT_FAIL;
}


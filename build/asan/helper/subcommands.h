/* One entry point per verb, named <verb>_main, called with argv[0] set
 * to the verb (wg's convention).  Each returns an exit code. */
#ifndef VG_SUBCOMMANDS_H
#define VG_SUBCOMMANDS_H

int status_main(int argc, const char **argv);
int list_main(int argc, const char **argv);
int show_main(int argc, const char **argv);
int ban_main(int argc, const char **argv);
int unban_main(int argc, const char **argv);
int metrics_main(int argc, const char **argv);
int sync_main(int argc, const char **argv);
int daemon_main(int argc, const char **argv);
int setup_main(int argc, const char **argv);
int harden_main(int argc, const char **argv);
int unharden_main(int argc, const char **argv);
int confirm_main(int argc, const char **argv);
int audit_main(int argc, const char **argv);
int totp_main(int argc, const char **argv);

#endif

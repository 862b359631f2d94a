/* Running sshd, ssh, systemctl, nft: fork + execve of a fixed path,
 * never a shell.  The child gets a fixed PATH and nothing else of our
 * environment, /dev/null as stdin, and no fd of ours (cli_init closed
 * them, and ours are O_CLOEXEC). */
#ifndef VG_RUN_H
#define VG_RUN_H

#include <stddef.h>

/* Run argv (argv[0] an absolute path), at most timeout_s seconds (then
 * SIGKILL; 0: no limit).  Its stdout goes to out and its stderr to err
 * (either NULL: discarded), NUL-terminated, cut at len - 1.  The exit
 * status (0-255; 128 + signal if killed), or -errno if it could not
 * run (-ENOENT: no such program). */
int vg_run(const char *const argv[], unsigned int timeout_s,
	   char *out, size_t outlen, char *err, size_t errlen);

#endif

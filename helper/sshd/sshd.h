/* Asking the installed sshd, never guessing from files. */
#ifndef VG_SSHD_H
#define VG_SSHD_H

#include <stddef.h>
#include <stdint.h>

#ifndef VG_PATH_SSHD
#define VG_PATH_SSHD	"/usr/sbin/sshd"
#endif

/* The ports sshd listens on, from `sshd -T` (run with a fixed PATH and
 * an empty environment).  0 with *n >= 1, or -errno (no sshd, sshd -T
 * failed: its config is broken or the host keys are missing). */
int vg_sshd_ports(uint16_t *ports, unsigned int *n, unsigned int max);

/* Make the running sshd re-read its configuration.  Under --root DIR:
 * SIGHUP to the pid in DIR/run/sshd.pid (the tree's sshd, as the tests
 * run it).  On /: `systemctl reload ssh` (or sshd, the RHEL unit name)
 * where systemd runs, else SIGHUP to /run/sshd.pid.  What was done goes
 * to how (for messages).  0 or -errno (-ESRCH: no sshd found). */
int vg_sshd_reload(const char *root, char *how, size_t len);

#endif

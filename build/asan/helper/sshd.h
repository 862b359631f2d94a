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

#endif

/*
 * A bounded wait for an exclusive flock (file_lock.h): the TOTP
 * directory's lock in the module, the helper's table.lock and the
 * CrowdSec link's lock in the CLI.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "file_lock.h"

#define NAP_MS	10

int vg_flock_wait(int fd, int wait_ms)
{
	const struct timespec nap = { 0, NAP_MS * 1000000L };

	/* Naps counted, not a clock read. */
	for (int n = wait_ms / NAP_MS;; n--) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (n <= 0)
			return -ETIMEDOUT;
		/* nanosleep() through syscall(), which the module already
		 * imports: every import is looked up in all of sshd's
		 * libraries at each connection's dlopen (bench/README.md),
		 * for a wait that almost never happens. */
		syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &nap, NULL);
	}
}

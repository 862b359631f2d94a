/* Run a call that may hang (the bug under test) in a child, so that a
 * hang fails the case instead of the whole suite. */
#ifndef VG_UNIT_CHILD_H
#define VG_UNIT_CHILD_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* fn(arg, out) in a child; its out (len bytes) comes back to the
 * caller's out through a pipe.  false: no answer within limit_ms (the
 * child is killed) or none at all. */
static inline bool run_bounded(void (*fn)(void *arg, void *out), void *arg,
			       void *out, size_t len, int limit_ms)
{
	struct pollfd pfd;
	int fds[2];
	pid_t pid;
	bool ok;

	if (pipe(fds) != 0)
		return false;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return false;
	}
	if (pid == 0) {
		close(fds[0]);
		fn(arg, out);
		_exit(write(fds[1], out, len) == (ssize_t)len ? 0 : 1);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	ok = poll(&pfd, 1, limit_ms) == 1 &&
	     read(fds[0], out, len) == (ssize_t)len;
	close(fds[0]);
	if (!ok)
		kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return ok;
}

#endif

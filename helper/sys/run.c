#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append what fd has to buf (cut at len - 1); 0 at EOF. */
static ssize_t drain(int fd, char *buf, size_t len, size_t *used)
{
	char scratch[4096];
	ssize_t r = read(fd, scratch, sizeof(scratch));

	if (r > 0 && buf && len) {
		size_t room = len - 1 - *used;
		size_t n = (size_t)r < room ? (size_t)r : room;

		memcpy(buf + *used, scratch, n);
		*used += n;
		buf[*used] = '\0';
	}
	return r;
}

int vg_run(const char *const argv[], unsigned int timeout_s,
	   char *out, size_t outlen, char *err, size_t errlen)
{
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
				      "LC_ALL=C", NULL };
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, st, ret;
	size_t uo = 0, ue = 0;
	long long deadline = timeout_s ? now_ms() + timeout_s * 1000LL : 0;
	bool killed = false;
	pid_t pid;

	if (out && outlen)
		out[0] = '\0';
	if (err && errlen)
		err[0] = '\0';
	if (access(argv[0], X_OK) != 0)
		return -errno;
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		ret = -errno;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto fail;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, STDIN_FILENO);
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		/* Our caller may have ignored SIGPIPE or SIGCHLD; the
		 * child starts from the defaults. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	for (int open_fds = 2; open_fds > 0;) {
		struct pollfd fds[2] = { { po[0], POLLIN, 0 },
					 { pe[0], POLLIN, 0 } };
		int wait_ms = -1;

		if (deadline) {
			long long left = deadline - now_ms();

			if (left <= 0) {
				kill(pid, SIGKILL);	/* our own child */
				killed = true;
				break;
			}
			wait_ms = (int)left;
		}
		if (poll(fds, 2, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents &
					       (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (drain(fds[i].fd, i ? err : out, i ? errlen : outlen,
				  i ? &ue : &uo) <= 0) {
				close(fds[i].fd);
				if (i)
					pe[0] = -1;
				else
					po[0] = -1;
				open_fds--;
			}
		}
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			ret = -errno;
			goto fail;
		}
	if (WIFEXITED(st))
		ret = WEXITSTATUS(st);
	else
		ret = 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (killed)
		ret = -ETIMEDOUT;
fail:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return ret;
}

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"
#include "sshd.h"

/* Run `sshd -T` and hand back a stream of its output. */
static FILE *sshd_T(pid_t *pid)
{
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
				      NULL };
	char *const argv[] = { VG_PATH_SSHD, "-T", NULL };
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		return NULL;
	*pid = fork();
	if (*pid < 0) {
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	if (*pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(p[1]);
	return fdopen(p[0], "r");
}

int vg_sshd_ports(uint16_t *ports, unsigned int *n, unsigned int max)
{
	char line[256];
	pid_t pid;
	int st, ret = 0;
	FILE *f = sshd_T(&pid);

	*n = 0;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *end;
		unsigned long v;

		if (strncmp(line, "port ", 5) != 0)
			continue;
		v = strtoul(line + 5, &end, 10);
		if (v == 0 || v > 65535 || (*end != '\n' && *end != '\0'))
			continue;
		if (*n < max)
			ports[(*n)++] = (uint16_t)v;
	}
	fclose(f);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		ret = -ENOEXEC;
	if (*n == 0 && !ret)
		ret = -ENOENT;
	return ret;
}

static int hup_pidfile(const char *path, char *how, size_t len)
{
	char buf[32] = "", *end;
	long pid;
	FILE *f = fopen(path, "re");

	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	pid = strtol(buf, &end, 10);
	if (pid <= 1 || (*end != '\n' && *end != '\0'))
		return -EINVAL;
	snprintf(how, len, "SIGHUP to sshd pid %ld (%s)", pid, path);
	return kill((pid_t)pid, SIGHUP) == 0 ? 0 : -errno;
}

int vg_sshd_reload(const char *root, char *how, size_t len)
{
	const char *unit = "ssh.service";
	char path[4096];
	int ret;

	if (root && *root && strcmp(root, "/") != 0) {
		if (snprintf(path, sizeof(path), "%s/run/sshd.pid", root) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		return hup_pidfile(path, how, len);
	}
	if (access("/run/systemd/system", F_OK) == 0) {
		const char *argv[] = { "/usr/bin/systemctl", "reload", NULL,
				       NULL };

		if (access("/lib/systemd/system/ssh.service", F_OK) != 0 &&
		    access("/usr/lib/systemd/system/ssh.service", F_OK) != 0 &&
		    access("/etc/systemd/system/ssh.service", F_OK) != 0)
			unit = "sshd.service";
		argv[2] = unit;
		snprintf(how, len, "systemctl reload %s", unit);
		ret = vg_run(argv, 60, NULL, 0, NULL, 0);
		return ret == 0 ? 0 : ret < 0 ? ret : -EIO;
	}
	return hup_pidfile("/run/sshd.pid", how, len);
}

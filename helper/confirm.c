/* confirm, and the waiter behind harden --confirm (confirm.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "confirm.h"
#include "sshd.h"
#include "subcommands.h"

static int pending_path(const char *root, char *buf, size_t len, bool mkdir)
{
	char dir[FS_PATH_MAX];
	int ret;

	if (mkdir) {
		ret = fs_rooted(dir, sizeof(dir), root, PENDING_DIR);
		if (!ret)
			ret = fs_mkdirs(dir, 0700);
		if (ret)
			return ret;
	}
	return fs_rooted(buf, len, root, PENDING_FILE);
}

/* The state file, locked; -ENOENT if there is none. */
static int pending_lock(const char *path)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			int ret = -errno;

			close(fd);
			return ret;
		}
	return fd;
}

/* Still linked (nobody removed it while we waited for the lock) and
 * holding token? */
static bool pending_is(int fd, const char *token)
{
	char buf[128] = "";
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) != 0 || st.st_nlink == 0)
		return false;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strncmp(buf, token, strlen(token)) == 0;
}

static void waiter(const char *root, const char *path, const char *token,
		   const struct fs_snap *snap, unsigned int secs)
{
	struct timespec end, now;
	char how[256] = "";
	int fd, ret;

	clock_gettime(CLOCK_BOOTTIME, &end);
	end.tv_sec += secs;
	openlog("pam_vpsguard-admin", LOG_PID, LOG_AUTHPRIV);
	for (;;) {
		struct timespec nap = { 0, 250 * 1000 * 1000 };

		/* confirm removed the file: nothing left to do. */
		if (access(path, F_OK) != 0)
			_exit(0);
		clock_gettime(CLOCK_BOOTTIME, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec &&
						now.tv_nsec >= end.tv_nsec))
			break;
		nanosleep(&nap, NULL);
	}
	fd = pending_lock(path);
	if (fd < 0)
		_exit(0);
	if (!pending_is(fd, token))
		_exit(0);
	ret = fs_snap_restore(snap);
	if (ret) {
		syslog(LOG_ERR, "harden not confirmed within %us, but %s "
		       "could not be restored: %s", secs, snap->path,
		       strerror(-ret));
		_exit(1);
	}
	ret = vg_sshd_reload(root, how, sizeof(how));
	syslog(ret ? LOG_ERR : LOG_NOTICE, "harden not confirmed within "
	       "%us: %s restored, sshd reload (%s): %s", secs, snap->path,
	       how, ret ? strerror(-ret) : "done");
	unlink(path);
	close(fd);
	_exit(ret ? 1 : 0);
}

int pending_start(const char *root, const struct fs_snap *snap,
		  unsigned int secs)
{
	char path[FS_PATH_MAX], token[64], line[128];
	unsigned char rnd[8];
	pid_t pid;
	int fd, st, ret, n;

	ret = pending_path(root, path, sizeof(path), true);
	if (ret)
		return ret;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	snprintf(token, sizeof(token), "%02x%02x%02x%02x%02x%02x%02x%02x",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
		 rnd[7]);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%s %lld\n", token,
		     (long long)time(NULL) + secs);
	if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		ret = -errno;
		close(fd);
		unlink(path);
		return ret;
	}
	close(fd);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		unlink(path);
		return ret;
	}
	if (pid == 0) {
		int devnull;

		/* A session of its own: the admin's terminal, its hangup
		 * and a kill of its process group do not reach us. */
		setsid();
		signal(SIGHUP, SIG_IGN);
		if (fork() != 0)
			_exit(0);
		devnull = open("/dev/null", O_RDWR);
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
		if (chdir("/") != 0)
			_exit(1);
		waiter(root, path, token, snap, secs);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

int pending_cancel(const char *root)
{
	char path[FS_PATH_MAX];
	int fd, ret = pending_path(root, path, sizeof(path), false);

	if (ret)
		return ret;
	fd = pending_lock(path);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	ret = pending_is(fd, "") ? 1 : 0;	/* "" matches any token */
	if (ret && unlink(path) != 0)
		ret = -errno;
	close(fd);
	return ret;
}

static const char *opt_root;

static const struct cli_opt confirm_opts[] = {
	{ "root", NULL, &opt_root, "DIR",
	  "the tree harden --confirm worked on (default /)" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd confirm_cmd = {
	.name = "confirm",
	.help = "Keep the change of a pending `harden --confirm SECS`.  Run "
		"it from a NEW login\n(a fresh SSH session proves you can "
		"still get in); without it the old\nconfiguration comes back "
		"by itself after SECS and sshd is reloaded again.",
	.opts = confirm_opts,
};

int confirm_main(int argc, const char **argv)
{
	const char *args[1];
	unsigned int nargs;
	int ret = cli_parse(&confirm_cmd, argc, argv, args, &nargs);

	if (ret)
		return ret == CLI_HELP ? VG_EXIT_OK : ret;
	ret = pending_cancel(opt_root);
	if (ret < 0) {
		cli_error("confirm: %s", strerror(-ret));
		return VG_EXIT_FAIL;
	}
	if (ret == 0) {
		cli_error("confirm: no harden --confirm is pending (confirmed "
			  "already, or the time ran out and it was rolled "
			  "back)");
		return VG_EXIT_FAIL;
	}
	printf("confirmed: the hardened sshd configuration stays\n");
	return VG_EXIT_OK;
}

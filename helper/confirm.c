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
#include "run.h"
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

/* The snapshot on disk, beside the pending file, for a rollback run by
 * another process (the systemd timer): "vgsnap1 EXISTED MODE\nPATH\n"
 * and the file's bytes. */
static int orig_write(const char *opath, const struct fs_snap *snap)
{
	char head[FS_PATH_MAX + 64], *buf;
	int n, ret;

	n = snprintf(head, sizeof(head), "vgsnap1 %d %o\n%s\n",
		     snap->existed ? 1 : 0, (unsigned int)snap->mode,
		     snap->path);
	if (n < 0 || (size_t)n >= sizeof(head) || strchr(snap->path, '\n'))
		return -ENAMETOOLONG;
	buf = malloc((size_t)n + snap->len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, head, (size_t)n);
	if (snap->existed && snap->len)
		memcpy(buf + n, snap->data, snap->len);
	ret = fs_write_atomic(opath, buf, (size_t)n + (snap->existed ?
					snap->len : 0), 0600);
	free(buf);
	return ret;
}

static int orig_read(const char *opath, struct fs_snap *snap)
{
	char *buf = NULL, *nl, *pl, *end;
	unsigned long ul;
	unsigned int mode;
	size_t len, plen;
	int existed, ret = fs_read(opath, &buf, &len);

	memset(snap, 0, sizeof(*snap));
	if (ret)
		return ret;
	ret = -EINVAL;
	if (len < 12 || memcmp(buf, "vgsnap1 ", 8) != 0 ||
	    (buf[8] != '0' && buf[8] != '1') || buf[9] != ' ' ||
	    !(nl = memchr(buf, '\n', len)))
		goto out;
	existed = buf[8] == '1';
	errno = 0;
	ul = strtoul(buf + 10, &end, 8);
	if (errno || end != nl || end == buf + 10 || ul > 07777)
		goto out;
	mode = (unsigned int)ul;
	pl = nl + 1;
	if (!(nl = memchr(pl, '\n', len - (size_t)(pl - buf))))
		goto out;
	plen = (size_t)(nl - pl);
	if (plen == 0 || plen >= sizeof(snap->path))
		goto out;
	memcpy(snap->path, pl, plen);
	snap->existed = existed != 0;
	snap->mode = (mode_t)(mode & 07777);
	snap->len = len - (size_t)(nl + 1 - buf);
	snap->data = malloc(snap->len + 1);
	if (!snap->data) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(snap->data, nl + 1, snap->len);
	snap->data[snap->len] = '\0';
	ret = 0;
out:
	free(buf);
	return ret;
}

/* The rollback itself, by the waiter or by `confirm --rollback TOKEN`
 * (the systemd timer): only if the pending file still holds token, under
 * its lock.  mem: the waiter's own copy of the snapshot (NULL: read the
 * one on disk).  0 done or nothing to do, -errno. */
int pending_rollback(const char *root, const char *token,
		     const struct fs_snap *mem, unsigned int secs)
{
	char path[FS_PATH_MAX], opath[FS_PATH_MAX], how[256] = "";
	struct fs_snap disk = { .data = NULL };
	const struct fs_snap *snap = mem;
	int fd, ret;

	if ((ret = pending_path(root, path, sizeof(path), false)) ||
	    (ret = fs_rooted(opath, sizeof(opath), root, PENDING_ORIG)))
		return ret;
	openlog("pam_vpsguard-admin", LOG_PID, LOG_AUTHPRIV);
	fd = pending_lock(path);
	if (fd < 0)
		return 0;	/* confirmed (or rolled back) already */
	if (!pending_is(fd, token)) {
		close(fd);
		return 0;
	}
	if (!snap) {
		ret = orig_read(opath, &disk);
		if (ret) {
			syslog(LOG_ERR, "harden not confirmed in time, but "
			       "its saved copy %s cannot be read: %s", opath,
			       strerror(-ret));
			close(fd);
			return ret;
		}
		snap = &disk;
	}
	ret = fs_snap_restore(snap);
	if (ret) {
		syslog(LOG_ERR, "harden not confirmed within %us, but %s "
		       "could not be restored: %s", secs, snap->path,
		       strerror(-ret));
		goto out;
	}
	ret = vg_sshd_reload(root, how, sizeof(how));
	syslog(ret ? LOG_ERR : LOG_NOTICE, "harden not confirmed within "
	       "%us: %s restored, sshd reload (%s): %s", secs, snap->path,
	       how, ret ? strerror(-ret) : "done");
	unlink(path);
	unlink(opath);
out:
	fs_snap_free(&disk);
	close(fd);
	return ret;
}

static void waiter(const char *root, const char *path, const char *token,
		   const struct fs_snap *snap, unsigned int secs)
{
	struct timespec end, now;

	clock_gettime(CLOCK_BOOTTIME, &end);
	end.tv_sec += secs;
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
	_exit(pending_rollback(root, token, snap, secs) ? 1 : 0);
}

/* systemd is PID 1 (sd_booted(3): /run/systemd/system exists).  The
 * tests point VG_TEST_SYSTEMD_RUN at a stand-in for systemd-run. */
static const char *systemd_run(void)
{
	const char *t = getenv("VG_TEST_SYSTEMD_RUN");

	if (t && *t)
		return t;
	if (access("/run/systemd/system", F_OK) == 0 &&
	    access("/usr/bin/systemd-run", X_OK) == 0)
		return "/usr/bin/systemd-run";
	return NULL;
}

/* A transient timer unit that runs `confirm --rollback TOKEN` after
 * secs: it belongs to the service manager, so no kill of the admin's
 * session or of this command reaches it.  0 or an error (the caller
 * falls back to the forked waiter). */
static int arm_timer(const char *sdrun, const char *root, const char *token,
		     unsigned int secs, char *unit, size_t unitlen)
{
	char exe[FS_PATH_MAX], unitarg[192], active[64], err[256] = "";
	const char *argv[16];
	ssize_t n;
	int i = 0, rc;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -errno;
	exe[n] = '\0';
	snprintf(unit, unitlen, "pam-vpsguard-rollback-%s", token);
	snprintf(unitarg, sizeof(unitarg), "--unit=%s", unit);
	snprintf(active, sizeof(active), "--on-active=%u", secs);
	argv[i++] = sdrun;
	argv[i++] = "--quiet";
	argv[i++] = unitarg;
	argv[i++] = active;
	argv[i++] = "--timer-property=AccuracySec=1s";
	argv[i++] = "--description=pam_vpsguard: undo harden --confirm "
		    "unless confirmed";
	argv[i++] = exe;
	argv[i++] = "confirm";
	argv[i++] = "--rollback";
	argv[i++] = token;
	if (root && *root) {
		argv[i++] = "--root";
		argv[i++] = root;
	}
	argv[i] = NULL;
	rc = vg_run(argv, 30, NULL, 0, err, sizeof(err));
	if (rc != 0) {
		err[strcspn(err, "\n")] = '\0';
		cli_note("systemd-run: %s (exit %d); the rollback waits in a "
			 "detached process instead", err[0] ? err :
			 "failed", rc);
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

int pending_start(const char *root, const struct fs_snap *snap,
		  unsigned int secs)
{
	char path[FS_PATH_MAX], opath[FS_PATH_MAX], token[64], line[256];
	char unit[128] = "-";
	const char *sdrun;
	unsigned char rnd[8];
	pid_t pid;
	int fd, st, ret, n;

	ret = pending_path(root, path, sizeof(path), true);
	if (!ret)
		ret = fs_rooted(opath, sizeof(opath), root, PENDING_ORIG);
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
	ret = orig_write(opath, snap);
	if (ret)
		goto fail;
	if ((sdrun = systemd_run()) &&
	    arm_timer(sdrun, root, token, secs, unit, sizeof(unit)) != 0)
		snprintf(unit, sizeof(unit), "-");
	n = snprintf(line, sizeof(line), "%s %lld %s\n", token,
		     (long long)time(NULL) + secs, unit);
	if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		ret = -errno;
		goto fail;
	}
	close(fd);
	fd = -1;
	if (strcmp(unit, "-") != 0)
		return 0;	/* the timer unit has it */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto fail;
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
fail:
	if (fd >= 0)
		close(fd);
	unlink(path);
	unlink(opath);
	return ret;
}

int pending_cancel(const char *root)
{
	char path[FS_PATH_MAX], opath[FS_PATH_MAX], buf[256] = "";
	char unit[128] = "";
	int fd, ret = pending_path(root, path, sizeof(path), false);
	ssize_t n;

	if (!ret)
		ret = fs_rooted(opath, sizeof(opath), root, PENDING_ORIG);
	if (ret)
		return ret;
	fd = pending_lock(path);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	ret = pending_is(fd, "") ? 1 : 0;	/* "" matches any token */
	if (ret) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			if (sscanf(buf, "%*s %*d %127s", unit) != 1)
				unit[0] = '\0';
		}
		if (unlink(path) != 0)
			ret = -errno;
		unlink(opath);
	}
	close(fd);
	/* The timer would find nothing to do; stop it all the same. */
	if (ret == 1 && unit[0] && strcmp(unit, "-") != 0 &&
	    strncmp(unit, "pam-vpsguard-rollback-", 22) == 0) {
		char tu[160];
		const char *t = getenv("VG_TEST_SYSTEMCTL");
		const char *argv[] = { t && *t ? t : "/usr/bin/systemctl",
				       "stop", tu, NULL };

		snprintf(tu, sizeof(tu), "%s.timer", unit);
		vg_run(argv, 30, NULL, 0, NULL, 0);
	}
	return ret;
}

static const char *opt_root, *opt_rollback;

static const struct cli_opt confirm_opts[] = {
	{ "root", NULL, &opt_root, "DIR",
	  "the tree harden --confirm worked on (default /)" },
	{ "rollback", NULL, &opt_rollback, "TOKEN",
	  "internal: undo the pending change now if it is still\n"
	  "      TOKEN's (run by its systemd timer unit)" },
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
	if (opt_rollback) {
		ret = pending_rollback(opt_root, opt_rollback, NULL, 0);
		if (ret) {
			cli_error("confirm --rollback: %s", strerror(-ret));
			return VG_EXIT_FAIL;
		}
		return VG_EXIT_OK;
	}
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

/* Atomic replacement of a file: see atomic_file.h.
 *
 * Invariants:
 *  - the temporary file is ours alone: created with O_EXCL|O_NOFOLLOW in
 *    the target's own directory (rename(2) is atomic only within one
 *    file system), under a name nobody can predict, so a file or link
 *    planted under the name we will use is never written through
 *    (the _locked variant: a fixed name, for a directory whose every
 *    writer holds one lock, cleared first: O_EXCL still never follows
 *    what might be there);
 *  - from its creation to the rename, every way out unlinks it;
 *  - the data is on disk (fsync) before the rename makes it the only
 *    copy. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "hex.h"

#define TEMP_RAND	8	/* random bytes of a name: 16 hex digits */
#define TEMP_TRIES	16	/* names tried before giving up (EEXIST) */
/* ".", the name cut to fit, ".", the digits */
#define TEMP_BASE_MAX	(NAME_MAX - 2 - 2 * TEMP_RAND)
/* A temporary file lives from its create to its rename: milliseconds,
 * seconds for an fsync on a slow disk.  One this old was left by a
 * writer that died in between. */
#define TEMP_STALE_SEC	600
#define SWEEP_MAX	4096	/* directory entries looked at, at most */

/* The directory the new file goes in, as an fd (*owned: ours to close),
 * and *base, path's last component. */
static int open_parent(int dirfd, const char *path, const char **base,
		       bool *owned)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;
	int fd;

	*owned = true;
	*base = slash ? slash + 1 : path;
	if (**base == '\0')
		return path[0] ? -EISDIR : -ENOENT;
	if (!slash && dirfd != AT_FDCWD) {
		*owned = false;
		return dirfd;
	}
	if (!slash) {
		fd = openat(AT_FDCWD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, len);
	dir[len] = '\0';
	fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void temp_name(char out[NAME_MAX + 1], const char *base,
		      unsigned int attempt)
{
	uint8_t r[TEMP_RAND];
	char hex[2 * TEMP_RAND + 1];

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* Early boot, the pool not ready: O_EXCL keeps us safe
		 * whatever the name, this only makes a clash unlikely. */
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
		    ((uint64_t)getpid() << 16) ^ attempt;
		memcpy(r, &x, sizeof(r));
	}
	vg_hex_encode(hex, r, sizeof(r));
	snprintf(out, NAME_MAX + 1, ".%.*s.%s", TEMP_BASE_MAX, base, hex);
	explicit_bzero(r, sizeof(r));
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The temp file's content; fd stays open (the caller closes it). */
static int fill(int fd, const void *data, size_t len, mode_t mode)
{
	int ret = write_all(fd, data, len);

	if (ret)
		return ret;
	/* Created 0600, so nobody read it half written; now the mode
	 * asked for, exactly: the umask could only have narrowed it. */
	if (fchmod(fd, mode & 07777) != 0)
		return -errno;
	return fsync(fd) == 0 ? 0 : -errno;
}

static int open_excl(int dfd, const char *name)
{
	return openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		      O_CLOEXEC, 0600);
}

/* The temporary file, open for writing, its name in tmp.  locked: the
 * caller holds the lock every writer of the directory takes, so the name
 * can be fixed and a dead writer's leftover under it removed first. */
static int create_temp(int dfd, const char *base, bool locked,
		       char tmp[NAME_MAX + 1])
{
	int fd = -1;

	if (locked) {
		snprintf(tmp, NAME_MAX + 1, ".%.*s.new", TEMP_BASE_MAX, base);
		if (unlinkat(dfd, tmp, 0) != 0 && errno != ENOENT)
			return -errno;
		fd = open_excl(dfd, tmp);
		return fd < 0 ? -errno : fd;
	}
	for (unsigned int i = 0; i < TEMP_TRIES && fd < 0; i++) {
		temp_name(tmp, base, i);
		fd = open_excl(dfd, tmp);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	return fd < 0 ? -errno : fd;
}

/* Is name one of our random temporary names for base? */
static bool is_temp_of(const char *name, const char *base)
{
	size_t n = strnlen(base, TEMP_BASE_MAX);

	if (name[0] != '.' || strncmp(name + 1, base, n) != 0 ||
	    name[n + 1] != '.' || strlen(name + n + 2) != 2 * TEMP_RAND)
		return false;
	for (const char *p = name + n + 2; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* What writers that died between create and rename left for base in the
 * directory dfd: our files under our temporary names, old enough that
 * no live writer can still be using them.  Best effort, after the new
 * file is in place: an error here changes nothing that was written. */
static void sweep_stale(int dfd, const char *base)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct timespec now;
	struct dirent *de;
	struct stat st;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	for (int i = 0; i < SWEEP_MAX && (de = readdir(d)); i++) {
		if (!is_temp_of(de->d_name, base) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    st.st_mtime + TEMP_STALE_SEC < now.tv_sec)
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
}

/* The write itself, in the open directory dfd. */
static int replace_in(int dfd, const char *base, const void *data,
		      size_t len, mode_t mode, bool locked)
{
	char tmp[NAME_MAX + 1];
	int fd = create_temp(dfd, base, locked, tmp), ret;

	if (fd < 0)
		return fd;
	ret = fill(fd, data, len, mode);
	/* A network file system may report a lost write only here. */
	if (close(fd) != 0 && !ret)
		ret = -errno;
	if (!ret && renameat(dfd, tmp, dfd, base) != 0)
		ret = -errno;
	if (ret)
		unlinkat(dfd, tmp, 0);
	else
		fsync(dfd);	/* the rename is durable once this is */
	return ret;
}

int vg_atomic_write(int dirfd, const char *path, const void *data,
		    size_t len, mode_t mode)
{
	const char *base;
	bool owned;
	int dfd = open_parent(dirfd, path, &base, &owned), ret;

	if (dfd < 0)
		return dfd;
	ret = replace_in(dfd, base, data, len, mode, false);
	if (!ret)
		sweep_stale(dfd, base);
	if (owned)
		close(dfd);
	return ret;
}

/* No sweep: the fixed name is cleared before each write instead (and
 * the module, which links only this writer, links no readdir). */
int vg_atomic_write_locked(int dirfd, const char *path, const void *data,
			   size_t len, mode_t mode)
{
	const char *base;
	bool owned;
	int dfd = open_parent(dirfd, path, &base, &owned), ret;

	if (dfd < 0)
		return dfd;
	ret = replace_in(dfd, base, data, len, mode, true);
	if (owned)
		close(dfd);
	return ret;
}

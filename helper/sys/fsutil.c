#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "fsutil.h"
#include "run.h"

bool fs_root_is_slash(const char *root)
{
	return !root || !*root || strcmp(root, "/") == 0;
}

int fs_rooted(char *buf, size_t len, const char *root, const char *path)
{
	size_t rl;
	int n;

	if (fs_root_is_slash(root)) {
		n = snprintf(buf, len, "%s", path);
	} else {
		rl = strlen(root);
		while (rl > 1 && root[rl - 1] == '/')
			rl--;
		if (strncmp(path, root, rl) == 0 && path[rl] == '/')
			n = snprintf(buf, len, "%s", path);
		else
			n = snprintf(buf, len, "%.*s%s%s", (int)rl, root,
				     path[0] == '/' ? "" : "/", path);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int fs_read(const char *path, char **buf, size_t *len)
{
	struct stat st;
	char *b = NULL;
	size_t got = 0;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > FS_FILE_MAX) {
		ret = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	ret = -ENOMEM;
	if (!b)
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;		/* shrank underneath us */
		got += (size_t)r;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
	ret = 0;
out:
	free(b);
	close(fd);
	return ret;
}

static int fsync_dir_of(const char *path)
{
	char tmp[FS_PATH_MAX];
	int fd, ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		ret = -errno;
	close(fd);
	return ret;
}

int fs_write_atomic(const char *path, const char *buf, size_t len,
		    mode_t mode)
{
	return vg_atomic_write(AT_FDCWD, path, buf, len, mode);
}

int fs_remove(const char *path)
{
	if (unlink(path) != 0)
		return errno == ENOENT ? 0 : -errno;
	return fsync_dir_of(path);
}

int fs_mkdirs(const char *path, mode_t mode)
{
	char tmp[FS_PATH_MAX];
	size_t n = strlen(path);
	struct stat st;

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		/* EEXIST says a name is there, not that it is a directory:
		 * a file or a dangling symbolic link is an error here, not
		 * later, in whatever writes into the path. */
		if (mkdir(tmp, mode) != 0 &&
		    (errno != EEXIST || stat(tmp, &st) != 0 ||
		     !S_ISDIR(st.st_mode)))
			return errno == EEXIST ? -ENOTDIR : -errno;
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}

int fs_snap_take(struct fs_snap *s, const char *path)
{
	struct stat st;
	int ret;

	memset(s, 0, sizeof(*s));
	if (snprintf(s->path, sizeof(s->path), "%s", path) >=
	    (int)sizeof(s->path))
		return -ENAMETOOLONG;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;	/* a symlink or a directory: not ours */
	ret = fs_read(path, &s->data, &s->len);
	if (ret)
		return ret;
	s->existed = true;
	s->mode = st.st_mode & 07777;
	return 0;
}

int fs_snap_restore(const struct fs_snap *s)
{
	if (!s->existed)
		return fs_remove(s->path);
	return fs_write_atomic(s->path, s->data, s->len, s->mode);
}

void fs_snap_free(struct fs_snap *s)
{
	free(s->data);
	s->data = NULL;
}

bool fs_snap_same(const struct fs_snap *s)
{
	char *b;
	size_t n;
	bool same;
	int ret = fs_read(s->path, &b, &n);

	if (ret == -ENOENT)
		return !s->existed;
	if (ret)
		return false;
	same = s->existed && n == s->len &&
	       (n == 0 || memcmp(b, s->data, n) == 0);
	free(b);
	return same;
}

static int temp_with(char *path, size_t len, const char *data, size_t n)
{
	int fd, ret = 0;

	snprintf(path, len, "/tmp/vpsguard-diff-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	for (size_t done = 0; done < n; ) {
		ssize_t w = write(fd, data + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			break;
		}
		done += (size_t)w;
	}
	close(fd);
	if (ret)
		unlink(path);
	return ret;
}

int fs_print_diff(const char *label, const char *old, size_t oldlen,
		  const char *new_text, size_t newlen)
{
	char a[64], b[64], la[FS_PATH_MAX], lb[FS_PATH_MAX];
	const char *argv[] = { "/usr/bin/diff", "-u", "--label", la,
			       "--label", lb, a, b, NULL };
	size_t cap = 2 * (oldlen + newlen) + 4096;
	char *out = malloc(cap), err[512];
	int ret;

	if (!out)
		return -ENOMEM;
	snprintf(la, sizeof(la), "a%s", label);
	snprintf(lb, sizeof(lb), "b%s", label);
	ret = temp_with(a, sizeof(a), old, oldlen);
	if (ret)
		goto out;
	ret = temp_with(b, sizeof(b), new_text, newlen);
	if (ret) {
		unlink(a);
		goto out;
	}
	ret = vg_run(argv, 30, out, cap, err, sizeof(err));
	unlink(a);
	unlink(b);
	if (ret == 0 || ret == 1) {	/* diff(1): same / different */
		fputs(out, stdout);
		ret = 0;
	} else if (ret > 0) {
		ret = -EIO;
	}
out:
	free(out);
	return ret;
}

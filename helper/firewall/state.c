/*
 * The state file, a small text format so an admin can read it:
 *
 *   pam_vpsguard-state 1
 *   # key ban_count flags banned_at banned_until last_success
 *   203.0.113.7 2 0 1763760000 1763846400 0
 *   2001:db8:66::/64 1 1 1763760000 1763763600 0
 *   end 2
 *
 * The "end N" trailer makes a truncated file detectable: a file without
 * it, or whose count disagrees, is corrupt and loads nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "file_lock.h"
#include "hex.h"
#include "log.h"
#include "state.h"

#define STATE_MAGIC	"pam_vpsguard-state 1"
#define STATE_LINE_MAX	256

static void format_key(const struct vg_addr *a, char *buf, size_t len)
{
	if (a->family != VG_FAMILY_NAME) {
		vg_addr_format(a, buf, len);
		return;
	}
	if (len < sizeof("name:") + 32) {	/* never: VG_ADDR_STRLEN */
		if (len)
			buf[0] = '\0';
		return;
	}
	memcpy(buf, "name:", 5);
	vg_hex_encode(buf + 5, a->bytes, 16);
}

static int parse_key(const char *s, struct vg_addr *a)
{
	if (strncmp(s, "name:", 5) != 0)
		return vg_cidr_parse(s, a);
	s += 5;
	memset(a, 0, sizeof(*a));
	if (!vg_hex_decode(s, strlen(s), a->bytes, 16))
		return -EINVAL;
	a->family = VG_FAMILY_NAME;
	a->prefix = 128;
	return 0;
}

struct recs {
	const struct vg_state_rec *r;
	size_t n;
};

static int write_recs(FILE *f, void *arg)
{
	const struct recs *a = arg;
	char key[VG_ADDR_STRLEN], line[STATE_LINE_MAX];
	int len;

	fprintf(f, "%s\n# key ban_count flags banned_at banned_until "
		"last_success\n", STATE_MAGIC);
	for (size_t i = 0; i < a->n; i++) {
		const struct vg_state_rec *r = &a->r[i];

		format_key(&r->key, key, sizeof(key));
		len = snprintf(line, sizeof(line), "%s %" PRIu32 " %u %" PRId64
			       " %" PRId64 " %" PRId64 "\n", key,
			       r->ban_count, r->flags, r->banned_at,
			       r->banned_until, r->last_success);
		if (len < 0 || (size_t)len >= sizeof(line))
			continue;
		fputs(line, f);
	}
	fprintf(f, "end %zu\n", a->n);
	return 0;
}

/* The whole content in memory first, then one vg_atomic_write(): fn
 * writes to a FILE as it always did, and a failure of either leaves the
 * previous file as it was. */
int vg_state_replace(const char *path, int (*fn)(FILE *f, void *arg),
		     void *arg, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	if (!f)
		return vg_errf(err, errlen, -ENOMEM, "%s: not saved, previous "
			    "state kept: %s", path, strerror(ENOMEM));
	ret = fn(f, arg);
	/* A memory stream fails only for want of memory. */
	if ((fflush(f) != 0 || ferror(f)) && !ret)
		ret = -ENOMEM;
	if (fclose(f) != 0 && !ret)
		ret = -ENOMEM;
	if (!ret)
		ret = vg_atomic_write(AT_FDCWD, path, buf, len, 0600);
	free(buf);
	if (ret)
		return vg_errf(err, errlen, ret, "%s: not saved, previous state "
			    "kept: %s", path, strerror(-ret));
	return 0;
}

int vg_state_save(const char *path, const struct vg_state_rec *recs,
		  size_t n, char *err, size_t errlen)
{
	struct recs a = { recs, n };

	return vg_state_replace(path, write_recs, &a, err, errlen);
}

static int parse_i64(const char *s, int64_t *v)
{
	char *end;
	long long x;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end || x < 0)
		return -EINVAL;
	*v = x;
	return 0;
}

/* Wider than any key the table has (a /24, a /48): a record like
 * 0.0.0.0/0 or ::/0 would become a drop of the whole Internet, so the
 * file is not ours as written, and is treated as corrupt. */
static bool key_too_wide(const struct vg_addr *a)
{
	return (a->family == VG_FAMILY_V4 && a->prefix < VG_STATE_MIN_V4) ||
	       (a->family == VG_FAMILY_V6 && a->prefix < VG_STATE_MIN_V6);
}

static int parse_rec(char *line, struct vg_state_rec *r)
{
	char *save = NULL, *f[7];
	int64_t count, flags;
	int n = 0;

	for (char *tok = strtok_r(line, " \t\n", &save); tok && n < 7;
	     tok = strtok_r(NULL, " \t\n", &save))
		f[n++] = tok;
	if (n != 6)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	if (parse_key(f[0], &r->key) || key_too_wide(&r->key) ||
	    parse_i64(f[1], &count) ||
	    parse_i64(f[2], &flags) || parse_i64(f[3], &r->banned_at) ||
	    parse_i64(f[4], &r->banned_until) ||
	    parse_i64(f[5], &r->last_success) || count > UINT32_MAX ||
	    flags > 0xff)
		return -EINVAL;
	r->ban_count = (uint32_t)count;
	r->flags = (uint8_t)flags;
	return 0;
}

/* "end N\n", N in plain decimal (sscanf's %zu would take "+3", " 3"
 * and wrap on overflow without telling). */
static int parse_end(const char *line, size_t *n)
{
	char *end;
	unsigned long long v;

	if (strncmp(line, "end ", 4) != 0 || line[4] < '0' || line[4] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(line + 4, &end, 10);
	if (errno || strcmp(end, "\n") != 0 || v > SIZE_MAX)
		return -EINVAL;
	*n = (size_t)v;
	return 0;
}

static int load_lines(FILE *f, const char *path, struct vg_state_rec **out,
		      size_t *n, char *err, size_t errlen)
{
	char line[STATE_LINE_MAX];
	struct vg_state_rec *recs = NULL, *p;
	size_t cap = 0, count = 0, lineno = 1, end_n;
	bool ended = false;

	if (!fgets(line, sizeof(line), f) ||
	    strcmp(line, STATE_MAGIC "\n") != 0)
		return vg_errf(err, errlen, -EBADMSG, "%s:1: not a pam_vpsguard "
			    "state file (or another version)", path);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (ended || !strchr(line, '\n'))
			goto corrupt;
		if (line[0] == '#')
			continue;
		if (parse_end(line, &end_n) == 0) {
			if (end_n != count)
				goto corrupt;
			ended = true;
			continue;
		}
		if (count == cap) {
			if (cap >= VG_STATE_MAX_RECORDS)
				goto corrupt;
			cap = cap ? cap * 2 : 256;
			p = realloc(recs, cap * sizeof(*recs));
			if (!p) {
				free(recs);
				return vg_errf(err, errlen, -ENOMEM, "%s: out of "
					    "memory", path);
			}
			recs = p;
		}
		if (parse_rec(line, &recs[count]) != 0)
			goto corrupt;
		count++;
	}
	if (!ended) {
		free(recs);
		return vg_errf(err, errlen, -EBADMSG, "%s: truncated (no end "
			    "line after line %zu)", path, lineno);
	}
	*out = recs;
	*n = count;
	return 0;
corrupt:
	free(recs);
	return vg_errf(err, errlen, -EBADMSG, "%s:%zu: corrupt line", path,
		    lineno);
}

/* The file decides which sources are dropped at boot, so it is trusted
 * only as the helper itself writes it: a regular file (a FIFO would
 * hang every reader in open() or read()), reached without a symlink
 * (the next save would replace the link, not what it points at), owned
 * by our euid and writable by nobody else (in a loose directory another
 * user could plant bans).  Anything else is -EBADMSG, so the callers
 * set it aside as they do a corrupt file. */
static int open_trusted(const char *path, char *err, size_t errlen)
{
	struct stat st;
	uid_t euid = geteuid();
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int e;

	if (fd < 0) {
		e = errno;
		if (e == ELOOP)
			return vg_errf(err, errlen, -EBADMSG, "%s: refused: a "
				    "symbolic link", path);
		if (e == ENXIO)		/* a socket */
			return vg_errf(err, errlen, -EBADMSG, "%s: refused: "
				    "not a regular file", path);
		return vg_errf(err, errlen, -e, "%s: %s", path, strerror(e));
	}
	if (fstat(fd, &st) != 0) {
		e = errno;
		close(fd);
		return vg_errf(err, errlen, -e, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vg_errf(err, errlen, -EBADMSG, "%s: refused: not a "
			    "regular file", path);
	}
	if (st.st_uid != euid) {
		close(fd);
		if (euid == 0)
			return vg_errf(err, errlen, -EBADMSG, "%s: refused: "
				    "owned by uid %u, not root", path,
				    (unsigned int)st.st_uid);
		return vg_errf(err, errlen, -EBADMSG, "%s: refused: owned by "
			    "uid %u, not uid %u", path,
			    (unsigned int)st.st_uid, (unsigned int)euid);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		close(fd);
		return vg_errf(err, errlen, -EBADMSG, "%s: refused: writable "
			    "by group or others (mode %04o)", path,
			    (unsigned int)(st.st_mode & 07777));
	}
	/* A regular file: reads never wait, O_NONBLOCK or not; clear it
	 * anyway so stdio sees a plain fd. */
	if (fcntl(fd, F_SETFL, 0) != 0) {
		e = errno;
		close(fd);
		return vg_errf(err, errlen, -e, "%s: %s", path, strerror(e));
	}
	return fd;
}

int vg_state_lock(const char *beside, int wait_ms)
{
	char lock[PATH_MAX], dir[PATH_MAX], *slash;
	int fd, e;

	if (snprintf(lock, sizeof(lock), "%s.lock", beside) >=
	    (int)sizeof(lock))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", beside);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	e = vg_flock_wait(fd, wait_ms);
	if (e) {
		close(fd);
		return e;
	}
	return fd;
}

void vg_state_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

int vg_state_load(const char *path, struct vg_state_rec **recs, size_t *n,
		  char *err, size_t errlen)
{
	FILE *f;
	int fd, ret;

	*recs = NULL;
	*n = 0;
	fd = open_trusted(path, err, errlen);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "r");
	if (!f) {
		ret = -errno;
		close(fd);
		return vg_errf(err, errlen, ret, "%s: %s", path,
			    strerror(-ret));
	}
	ret = load_lines(f, path, recs, n, err, errlen);
	fclose(f);
	return ret;
}

int vg_state_quarantine(const char *path, char *newpath, size_t len)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	for (int i = 0; i < 100; i++) {
		int w = i ? snprintf(newpath, len, "%s.corrupt-%s.%d", path,
				     stamp, i) :
			    snprintf(newpath, len, "%s.corrupt-%s", path, stamp);

		if (w < 0 || (size_t)w >= len)
			return -ENAMETOOLONG;
		/* link + unlink, not rename: never replace an earlier
		 * quarantined copy.  linkat without AT_SYMLINK_FOLLOW
		 * links the name itself: a symlink is moved aside as a
		 * symlink (its target untouched), a FIFO is never opened. */
		if (linkat(AT_FDCWD, path, AT_FDCWD, newpath, 0) == 0)
			return unlink(path) == 0 ? 0 : -errno;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

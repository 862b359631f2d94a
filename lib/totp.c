/* TOTP: see totp.h for the file format and why liboath is dlopen()ed.
 *
 * Invariants:
 *  - a typed answer is classified (6 ASCII digits, or a recovery code)
 *    before any file or library sees it; anything else is MALFORMED;
 *  - secrets, typed codes and file buffers are wiped with explicit_bzero
 *    on every way out, and never copied into an error message;
 *  - every file is opened relative to the checked directory fd with
 *    O_NOFOLLOW, and checked on the fd (owner root, mode);
 *  - read-check-write runs under flock(LOCK_EX) of DIR/.lock (waited for
 *    at most VG_TOTP_LOCK_WAIT_MS, then refused), a file
 *    only root can open (the directory's own flock can be taken by any
 *    user who can read the directory, and would hold every TOTP login
 *    in sshd for as long as he likes), and a change is a new file: vg_atomic_write_locked (temp + fsync +
 *    rename + fsync of the dir; the fixed temp name clears what a writer
 *    killed under the lock left);
 *  - recovery hashes are compared in constant time, all of them. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "file_lock.h"
#include "hex.h"
#include "log.h"
#include "sha256.h"
#include "totp.h"

#define TOTP_MAGIC	"vpsguard-totp 1"
#define OATH_SONAME	"liboath.so.0"
#define OATH_INVALID_OTP	(-6)	/* oath.h; the header is not needed */

int vg_oath_load(struct vg_oath *o, char *err, size_t errlen)
{
	const char *what = NULL;

	memset(o, 0, sizeof(*o));
	o->dl = dlopen(OATH_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!o->dl)
		return vg_errf(err, errlen, -ELIBACC, "cannot load %s: %s "
			    "(install liboath0)", OATH_SONAME, dlerror());
	/* POSIX allows the object -> function pointer conversion of
	 * dlsym's result; memcpy keeps -Wpedantic quiet about it. */
#define SYM(field, name) do {						\
		void *p = dlsym(o->dl, name);				\
		if (!p && !what)					\
			what = name;					\
		memcpy(&o->field, &p, sizeof(p));			\
	} while (0)
	SYM(init, "oath_init");
	SYM(done, "oath_done");
	SYM(validate3, "oath_totp_validate3");
#undef SYM
	/* Enrolment's alone (the module never shows a secret): one that
	 * lacks it still checks codes, and the CLI says what is missing. */
	{
		void *p = dlsym(o->dl, "oath_base32_encode");

		memcpy(&o->base32_encode, &p, sizeof(p));
	}
	if (what || o->init() != 0) {
		dlclose(o->dl);
		memset(o, 0, sizeof(*o));
		return vg_errf(err, errlen, -ELIBACC, "%s: %s", OATH_SONAME,
			    what ? "a symbol is missing" : "oath_init failed");
	}
	return 0;
}

void vg_oath_unload(struct vg_oath *o)
{
	if (!o->dl)
		return;
	o->done();
	dlclose(o->dl);
	memset(o, 0, sizeof(*o));
}

const char *vg_totp_result_name(enum vg_totp_result r)
{
	switch (r) {
	case VG_TOTP_OK: return "accepted";
	case VG_TOTP_RECOVERY_OK: return "recovery code accepted";
	case VG_TOTP_BAD: return "wrong code";
	case VG_TOTP_REPLAY: return "replayed code";
	case VG_TOTP_MALFORMED: return "malformed code";
	}
	return "?";
}

bool vg_totp_user_ok(const char *user)
{
	size_t i;

	if (!user || user[0] == '\0' || user[0] == '.' || user[0] == '-')
		return false;
	for (i = 0; user[i]; i++) {
		char c = user[i];

		if (i >= VG_TOTP_USER_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Recovery code text -> its 12 significant characters (lower case):
 * dashes and spaces are for reading only.  false: not one. */
static bool recovery_norm(const char *in, char out[VG_TOTP_RECOVERY_CHARS])
{
	size_t n = 0;

	for (; *in; in++) {
		char c = *in;

		if (c == '-' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) ||
		    n == VG_TOTP_RECOVERY_CHARS)
			return false;
		out[n++] = c;
	}
	return n == VG_TOTP_RECOVERY_CHARS;
}

enum vg_totp_input vg_totp_classify(const char *in)
{
	char norm[VG_TOTP_RECOVERY_CHARS];
	size_t len = in ? strnlen(in, VG_TOTP_INPUT_MAX + 1) : 0;
	bool rec;

	if (len == 0 || len > VG_TOTP_INPUT_MAX)
		return VG_TOTP_IN_MALFORMED;
	if (len == VG_TOTP_DIGITS) {
		size_t i;

		for (i = 0; i < len && in[i] >= '0' && in[i] <= '9'; i++)
			;
		if (i == len)
			return VG_TOTP_IN_CODE;
	}
	rec = recovery_norm(in, norm);
	explicit_bzero(norm, sizeof(norm));
	return rec ? VG_TOTP_IN_RECOVERY : VG_TOTP_IN_MALFORMED;
}

void vg_totp_recovery_hash(const uint8_t salt[16],
			   const char code[VG_TOTP_RECOVERY_CHARS],
			   uint8_t out[32])
{
	struct vg_sha256 c;

	vg_sha256_init(&c);
	vg_sha256_update(&c, salt, 16);
	vg_sha256_update(&c, code, VG_TOTP_RECOVERY_CHARS);
	vg_sha256_final(&c, out);
}

/* Constant time in the contents: no early exit on the first difference. */
static bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* Every stored code is hashed and compared, whether or not an earlier
 * one matched, so the time taken says nothing about which one did. */
static int check_recovery(struct vg_totp *s, const char *in)
{
	char norm[VG_TOTP_RECOVERY_CHARS];
	uint8_t h[VG_SHA256_LEN];
	int hit = -1;

	if (!recovery_norm(in, norm))
		return VG_TOTP_MALFORMED;
	for (unsigned int i = 0; i < s->n_recovery; i++) {
		vg_totp_recovery_hash(s->rec[i].salt, norm, h);
		if (ct_equal(h, s->rec[i].hash, sizeof(h)) && hit < 0)
			hit = (int)i;
	}
	explicit_bzero(norm, sizeof(norm));
	explicit_bzero(h, sizeof(h));
	if (hit < 0)
		return VG_TOTP_BAD;
	s->n_recovery--;
	memmove(&s->rec[hit], &s->rec[hit + 1],
		(s->n_recovery - (unsigned int)hit) * sizeof(s->rec[0]));
	explicit_bzero(&s->rec[s->n_recovery], sizeof(s->rec[0]));
	return VG_TOTP_RECOVERY_OK;
}

int vg_totp_check(const struct vg_oath *o, struct vg_totp *s,
		  const char *in, time_t now, unsigned int window)
{
	uint64_t counter = 0;
	int pos = 0, rc;

	switch (vg_totp_classify(in)) {
	case VG_TOTP_IN_RECOVERY:
		return check_recovery(s, in);
	case VG_TOTP_IN_CODE:
		break;
	default:
		return VG_TOTP_MALFORMED;
	}
	if (!o || !o->validate3 || s->secret_len == 0)
		return -EINVAL;
	rc = o->validate3((const char *)s->secret, s->secret_len, now,
			  VG_TOTP_STEP, 0, window, &pos, &counter, in);
	if (rc == OATH_INVALID_OTP)
		return VG_TOTP_BAD;
	if (rc < 0)
		return -EINVAL;
	/* The step, not the code: the same code may come back in a later
	 * step legitimately, and an older step is a replay too. */
	if (counter <= s->last)
		return VG_TOTP_REPLAY;
	s->last = counter;
	return VG_TOTP_OK;
}

/* --- files ----------------------------------------------------------- */

static int open_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	fd = openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT)
			return vg_errf(err, errlen, -ENOENT, "%s: no such "
				    "directory (nobody is enrolled)", dir);
		return vg_errf(err, errlen, e == ELOOP || e == ENOTDIR ?
			    -EPERM : -e, "%s: cannot open the directory: %s",
			    dir, strerror(e));
	}
	if (fstat(fd, &st) != 0 || st.st_uid != 0 || (st.st_mode & 022)) {
		close(fd);
		return vg_errf(err, errlen, -EPERM, "%s: insecure: the TOTP "
			    "directory must be root's and writable by root "
			    "only (chown root: %s; chmod 700 %s)", dir, dir,
			    dir);
	}
	return fd;
}

/* One line (NUL-terminated, no newline) into s.  false: bad line. */
static bool parse_line(struct vg_totp *s, char *line, bool *magic)
{
	char *sp = strchr(line, ' '), *sp2, *end;
	const char *val;

	if (!*magic) {
		*magic = strcmp(line, TOTP_MAGIC) == 0;
		return *magic;
	}
	if (line[0] == '#' || line[0] == '\0')
		return true;
	if (!sp)
		return false;
	*sp = '\0';
	val = sp + 1;
	if (strcmp(line, "secret") == 0) {
		size_t n = strlen(val) / 2;

		if (s->secret_len || n < 10 || n > VG_TOTP_SECRET_MAX ||
		    !vg_hex_decode(val, strlen(val), s->secret, n))
			return false;
		s->secret_len = n;
		return true;
	}
	if (strcmp(line, "last") == 0) {
		errno = 0;
		s->last = strtoull(val, &end, 10);
		return errno == 0 && end != val && *end == '\0' &&
		       val[0] != '-';
	}
	if (strcmp(line, "recovery") == 0) {
		struct vg_totp_recovery *r = &s->rec[s->n_recovery];

		sp2 = strchr(val, ' ');
		if (s->n_recovery >= VG_TOTP_RECOVERY_N || !sp2 ||
		    !vg_hex_decode(val, (size_t)(sp2 - val), r->salt,
			   sizeof(r->salt)) ||
		    !vg_hex_decode(sp2 + 1, strlen(sp2 + 1), r->hash,
			   sizeof(r->hash)))
			return false;
		s->n_recovery++;
		return true;
	}
	return false;
}

static int load_at(int dfd, const char *dir, const char *user,
		   struct vg_totp *s, char *err, size_t errlen)
{
	char buf[VG_TOTP_FILE_MAX + 1], *line, *save = NULL;
	struct stat st;
	bool magic = false;
	ssize_t n;
	size_t len = 0;
	int fd, ret, lineno = 0;

	memset(s, 0, sizeof(*s));
	fd = openat(dfd, user, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT)
			return vg_errf(err, errlen, -ENOENT, "%s/%s: no TOTP "
				    "secret (pam_vpsguard-admin totp enroll "
				    "%s)", dir, user, user);
		return vg_errf(err, errlen, e == ELOOP ? -EPERM : -e,
			    "%s/%s: cannot open: %s", dir, user,
			    e == ELOOP ? "a symbolic link" : strerror(e));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ret = vg_errf(err, errlen, -EPERM, "%s/%s: not a regular file",
			   dir, user);
		goto out;
	}
	if (st.st_uid != 0) {
		ret = vg_errf(err, errlen, -EPERM, "%s/%s: insecure: owned by "
			   "uid %u, not root; refused (chown root: it)", dir,
			   user, (unsigned int)st.st_uid);
		goto out;
	}
	if (st.st_mode & 077) {
		ret = vg_errf(err, errlen, -EPERM, "%s/%s: insecure: mode %04o "
			   "lets others than root read or change it; refused "
			   "(chmod 600 it, and re-enroll: the secret may have "
			   "leaked)", dir, user,
			   (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > VG_TOTP_FILE_MAX) {
		ret = vg_errf(err, errlen, -EBADMSG, "%s/%s: too large", dir,
			   user);
		goto out;
	}
	while (len < VG_TOTP_FILE_MAX &&
	       (n = read(fd, buf + len, VG_TOTP_FILE_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = vg_errf(err, errlen, -errno, "%s/%s: read: %s", dir,
				   user, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	ret = 0;
	if (memchr(buf, '\0', len))
		ret = -EBADMSG;
	for (line = strtok_r(buf, "\n", &save); line && !ret;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (!parse_line(s, line, &magic))
			ret = -EBADMSG;
	}
	if (!ret && (!magic || s->secret_len == 0))
		ret = -EBADMSG;
	if (ret)
		vg_errf(err, errlen, ret, "%s/%s:%d: not a pam_vpsguard TOTP "
		     "file (re-enroll with --force)", dir, user, lineno);
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	if (ret)
		vg_totp_wipe(s);
	return ret;
}

int vg_totp_load(const char *dir, const char *user, struct vg_totp *s,
		 char *err, size_t errlen)
{
	int dfd, ret;

	memset(s, 0, sizeof(*s));
	if (!vg_totp_user_ok(user))
		return vg_errf(err, errlen, -EINVAL, "not a usable user name "
			    "for a TOTP file");
	dfd = open_dir(dir, err, errlen);
	if (dfd < 0)
		return dfd;
	ret = load_at(dfd, dir, user, s, err, errlen);
	close(dfd);
	return ret;
}

/* The file's text into buf; its length, or -EOVERFLOW. */
static int render(const struct vg_totp *s, const char *user, char *buf,
		  size_t size)
{
	char h1[2 * 16 + 1], h2[2 * 32 + 1], sec[2 * VG_TOTP_SECRET_MAX + 1];
	size_t len;
	int n;

	vg_hex_encode(sec, s->secret, s->secret_len);
	n = snprintf(buf, size, "%s\n# pam_vpsguard TOTP secret of %s:"
		     " root only; see pam_vpsguard-admin(8)\nsecret %s\n"
		     "last %" PRIu64 "\n", TOTP_MAGIC, user, sec, s->last);
	explicit_bzero(sec, sizeof(sec));
	len = n < 0 ? size : (size_t)n;
	for (unsigned int i = 0; i < s->n_recovery && len < size; i++) {
		vg_hex_encode(h1, s->rec[i].salt, sizeof(s->rec[i].salt));
		vg_hex_encode(h2, s->rec[i].hash, sizeof(s->rec[i].hash));
		n = snprintf(buf + len, size - len, "recovery %s %s\n", h1, h2);
		len = n < 0 ? size : len + (size_t)n;
	}
	return len < size ? (int)len : -EOVERFLOW;
}

int vg_totp_store_at(int dfd, const char *dir, const char *user,
		     const struct vg_totp *s, char *err, size_t errlen)
{
	char buf[VG_TOTP_FILE_MAX];
	int ret;

	/* The name becomes a path: every caller checks it, and so do we. */
	if (!vg_totp_user_ok(user))
		return vg_errf(err, errlen, -EINVAL, "%s: not a valid user "
			       "name", dir);
	ret = render(s, user, buf, sizeof(buf));
	if (ret < 0) {
		vg_errf(err, errlen, ret, "%s/%s: too large", dir, user);
		goto out;
	}
	/* Under the directory's lock (vg_totp_lock_dir): the fixed temp
	 * name clears what a writer killed mid-write left. */
	ret = vg_atomic_write_locked(dfd, user, buf, (size_t)ret, 0600);
	if (ret)
		vg_errf(err, errlen, ret, "%s/%s: cannot write: %s", dir, user,
			strerror(-ret));
out:
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

#define LOCK_NAME	".lock"	/* no user's: user names never start with '.' */

/* The lock file's fd, locked; -errno.  Only root opens it, so only root
 * (the module, the CLI) ever waits for it, and for at most
 * VG_TOTP_LOCK_WAIT_MS (-ETIMEDOUT). */
static int lock_dir(int dfd, const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int ret;
	int lfd = openat(dfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW |
			 O_CLOEXEC, 0600);

	if (lfd < 0)
		return vg_errf(err, errlen, -errno, "%s/" LOCK_NAME ": %s",
			    dir, strerror(errno));
	/* One made by hand with looser bits: take them back. */
	if (fstat(lfd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    ((st.st_mode & 077) && fchmod(lfd, 0600) != 0)) {
		close(lfd);
		return vg_errf(err, errlen, -EPERM, "%s/" LOCK_NAME ": not a "
			    "root-only file", dir);
	}
	/* Bounded: the module waits for it inside sshd's pre-auth
	 * path, and a holder that hangs must not hang every TOTP login. */
	ret = vg_flock_wait(lfd, VG_TOTP_LOCK_WAIT_MS);
	if (ret) {
		close(lfd);
		if (ret == -ETIMEDOUT)
			return vg_errf(err, errlen, ret, "%s/" LOCK_NAME ": held "
				    "by another process for %d s", dir,
				    VG_TOTP_LOCK_WAIT_MS / 1000);
		return vg_errf(err, errlen, ret, "%s: lock: %s", dir,
			    strerror(-ret));
	}
	return lfd;
}

int vg_totp_lock_dir(const char *dir, int *lockfd, char *err,
		     size_t errlen)
{
	int dfd = open_dir(dir, err, errlen), lfd;

	if (dfd < 0)
		return dfd;
	lfd = lock_dir(dfd, dir, err, errlen);
	if (lfd < 0) {
		close(dfd);
		return lfd;
	}
	*lockfd = lfd;
	return dfd;
}

void vg_totp_unlock_dir(int dfd, int lockfd)
{
	close(lockfd);		/* drops the lock */
	close(dfd);
}

int vg_totp_verify(const struct vg_oath *o, const char *dir,
		   const char *user, const char *input, time_t now,
		   unsigned int window, char *err, size_t errlen)
{
	struct vg_totp s;
	int dfd, lfd = -1, ret;

	if (!vg_totp_user_ok(user))
		return vg_errf(err, errlen, -EINVAL, "not a usable user name "
			    "for a TOTP file");
	dfd = vg_totp_lock_dir(dir, &lfd, err, errlen);
	if (dfd < 0)
		return dfd;
	ret = load_at(dfd, dir, user, &s, err, errlen);
	if (ret)
		goto out;
	ret = vg_totp_check(o, &s, input, now, window);
	if (ret == -EINVAL)
		vg_errf(err, errlen, ret, "liboath could not check the code");
	if (ret == VG_TOTP_OK || ret == VG_TOTP_RECOVERY_OK) {
		int r = vg_totp_store_at(dfd, dir, user, &s, err, errlen);

		if (r)
			ret = r;
	}
	vg_totp_wipe(&s);
out:
	vg_totp_unlock_dir(dfd, lfd);
	return ret;
}

void vg_totp_wipe(struct vg_totp *s)
{
	explicit_bzero(s, sizeof(*s));
}

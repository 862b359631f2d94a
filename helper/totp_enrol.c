/* TOTP enrolment: see totp_enrol.h (and lib/totp.h for the file).
 *
 * Invariants:
 *  - a new secret and the recovery codes come from getrandom(2), and
 *    are wiped with explicit_bzero on every way out, as is liboath's
 *    copy of the Base32 text;
 *  - files change only under the directory lock lib/totp.c takes for a
 *    login, through the same vg_totp_store_at. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "totp_enrol.h"

/* RFC 4648's Base32 alphabet, lower case: what a recovery code is
 * written in (vg_totp_classify takes either case). */
static const char recovery_chars[] = "abcdefghijklmnopqrstuvwxyz234567";

static int random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One code: its text ("abcd-efgh-ijkl") and, in rec, its salted hash. */
static int new_recovery(struct vg_totp_recovery *rec,
			char text[VG_TOTP_RECOVERY_TEXT])
{
	uint8_t r[VG_TOTP_RECOVERY_CHARS];
	char norm[VG_TOTP_RECOVERY_CHARS];
	int ret = random_bytes(r, sizeof(r));

	if (!ret)
		ret = random_bytes(rec->salt, sizeof(rec->salt));
	if (!ret) {
		/* 32 symbols: r & 31 is unbiased. */
		for (unsigned int k = 0; k < VG_TOTP_RECOVERY_CHARS; k++)
			norm[k] = recovery_chars[r[k] & 31];
		for (unsigned int k = 0, j = 0; k < VG_TOTP_RECOVERY_CHARS;
		     k++) {
			if (k && k % 4 == 0)
				text[j++] = '-';
			text[j++] = norm[k];
			text[j] = '\0';
		}
		vg_totp_recovery_hash(rec->salt, norm, rec->hash);
	}
	explicit_bzero(r, sizeof(r));
	explicit_bzero(norm, sizeof(norm));
	return ret;
}

int vg_totp_new(struct vg_totp *s,
		char codes[VG_TOTP_RECOVERY_N][VG_TOTP_RECOVERY_TEXT])
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->secret_len = VG_TOTP_SECRET_LEN;
	ret = random_bytes(s->secret, s->secret_len);
	for (unsigned int i = 0; !ret && i < VG_TOTP_RECOVERY_N; i++) {
		ret = new_recovery(&s->rec[i], codes[i]);
		if (!ret)
			s->n_recovery++;
	}
	if (ret) {
		vg_totp_wipe(s);
		explicit_bzero(codes, VG_TOTP_RECOVERY_N *
			       sizeof(codes[0]));
	}
	return ret;
}

/* mkdir of dir's parent, one level only. */
static int make_parent(const char *dir)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(dir, '/');
	size_t len = slash ? (size_t)(slash - dir) : 0;

	if (len == 0 || len >= sizeof(parent))
		return -1;
	memcpy(parent, dir, len);
	parent[len] = '\0';
	return mkdir(parent, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* A fresh install has no /etc/vpsguard either: make that one level too,
 * as root's only (it holds nothing else). */
static int make_dir(const char *dir, char *err, size_t errlen)
{
	int r = mkdir(dir, 0700);

	if (r != 0 && errno == ENOENT && make_parent(dir) == 0)
		r = mkdir(dir, 0700);
	if (r != 0 && errno != EEXIST)
		return vg_errf(err, errlen, -errno, "%s: cannot create: %s",
			       dir, strerror(errno));
	return 0;
}

int vg_totp_store(const char *dir, const char *user, const struct vg_totp *s,
		  bool replace, char *err, size_t errlen)
{
	struct stat st;
	int dfd, lfd = -1, ret;

	if (!vg_totp_user_ok(user))
		return vg_errf(err, errlen, -EINVAL, "'%s' cannot be used as "
			    "a TOTP file name", user);
	ret = make_dir(dir, err, errlen);
	if (ret)
		return ret;
	dfd = vg_totp_lock_dir(dir, &lfd, err, errlen);
	if (dfd < 0)
		return dfd;
	if (!replace && fstatat(dfd, user, &st, AT_SYMLINK_NOFOLLOW) == 0)
		ret = vg_errf(err, errlen, -EEXIST, "%s/%s: already enrolled",
			   dir, user);
	else
		ret = vg_totp_store_at(dfd, dir, user, s, err, errlen);
	vg_totp_unlock_dir(dfd, lfd);
	return ret;
}

int vg_totp_remove(const char *dir, const char *user, char *err,
		   size_t errlen)
{
	int dfd, lfd = -1, ret = 0;

	if (!vg_totp_user_ok(user))
		return vg_errf(err, errlen, -EINVAL, "'%s' cannot be used as "
			    "a TOTP file name", user);
	dfd = vg_totp_lock_dir(dir, &lfd, err, errlen);
	if (dfd < 0)
		return dfd;
	if (unlinkat(dfd, user, 0) != 0)
		ret = vg_errf(err, errlen, -errno, "%s/%s: %s", dir, user,
			   errno == ENOENT ? "not enrolled" : strerror(errno));
	else
		fsync(dfd);	/* the removal is durable once this is */
	vg_totp_unlock_dir(dfd, lfd);
	return ret;
}

int vg_totp_base32(const struct vg_oath *o, const uint8_t *in, size_t len,
		   char *out, size_t outlen)
{
	char *b32 = NULL;
	size_t n = 0, used;
	int ret = 0;

	if (!o || !o->base32_encode)
		return -ELIBACC;
	if (o->base32_encode((const char *)in, len, &b32, &n) != 0 || !b32)
		return -ENOMEM;
	/* The Key Uri Format's secret has no '=' padding. */
	for (used = n; used && b32[used - 1] == '='; used--)
		;
	if (used >= outlen) {
		ret = -ENOSPC;
	} else {
		memcpy(out, b32, used);
		out[used] = '\0';
	}
	explicit_bzero(b32, n);
	free(b32);
	return ret;
}

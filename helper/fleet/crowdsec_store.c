/*
 * STATE.crowdsec: what the CrowdSec link must not lose.  Text, like the
 * state file, so an admin can read it:
 *
 *   pam_vpsguard-crowdsec 1
 *   link BASELINE LAST_PULL LAST_PUSH FAILS ERROR_AT
 *   error TEXT
 *   d ID UNTIL CIDR [ORIGIN]              a decision pulled
 *   l ID UNTIL CIDR                       ... lifted here for CIDR
 *   p pending|done KEY BANNED_AT UNTIL BAN_COUNT
 *   x KEY AT UNTIL                        a retraction queued
 *   end N                                 N = number of d, l, p, x lines
 *
 * Written with vg_state_replace() (temp + fsync + rename); a file
 * without its trailer is corrupt, kept aside, and loads nothing.
 *
 * Every process that changes it holds an flock on STATE.crowdsec.lock
 * from reading to writing (see crowdsec.h); readers (status) need none:
 * the rename makes each version whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "crowdsec.h"
#include "file_lock.h"
#include "log.h"
#include "state.h"

#define CS_MAGIC	"pam_vpsguard-crowdsec 1"
#define CS_LINE_MAX	512

int cs_path(const struct vg_config *c, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.crowdsec", c->state_path);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Which file path names now (all zero when none): a writer replaces it
 * by rename, so another inode, or times, mean another version. */
static void file_id(const char *path, struct cs_file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) != 0)
		return;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = (uint64_t)st.st_size;
	id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		       st.st_mtim.tv_nsec;
	id->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 +
		       st.st_ctim.tv_nsec;
}

static int write_link(FILE *f, void *arg)
{
	const struct cs_link *l = arg;
	char a[VG_ADDR_STRLEN];
	size_t n = 0;

	fprintf(f, "%s\nlink %d %" PRId64 " %" PRId64 " %u %" PRId64 "\n",
		CS_MAGIC, l->baseline, l->last_pull, l->last_push, l->fails,
		l->error_at);
	if (l->error[0])
		fprintf(f, "error %s\n", l->error);
	for (size_t i = 0; i < l->n_dec; i++, n++) {
		vg_addr_format(&l->dec[i].net, a, sizeof(a));
		fprintf(f, "d %" PRId64 " %" PRId64 " %s%s%s\n", l->dec[i].id,
			l->dec[i].until, a, l->dec[i].origin[0] ? " " : "",
			l->dec[i].origin);
	}
	for (size_t i = 0; i < l->n_lift; i++, n++) {
		vg_addr_format(&l->lift[i].net, a, sizeof(a));
		fprintf(f, "l %" PRId64 " %" PRId64 " %s\n", l->lift[i].id,
			l->lift[i].until, a);
	}
	for (size_t i = 0; i < l->n_rt; i++, n++) {
		vg_addr_format(&l->rt[i].key, a, sizeof(a));
		fprintf(f, "x %s %" PRId64 " %" PRId64 "\n", a, l->rt[i].at,
			l->rt[i].until);
	}
	for (size_t i = 0; i < l->n_push; i++, n++) {
		const struct cs_push *p = &l->push[i];

		vg_addr_format(&p->key, a, sizeof(a));
		fprintf(f, "p %s %s %" PRId64 " %" PRId64 " %u\n",
			p->done ? "done" : "pending", a, p->banned_at,
			p->until, p->ban_count);
	}
	fprintf(f, "end %zu\n", n);
	return 0;
}

int cs_save(struct cs_link *l, const struct vg_config *c, char *err,
	    size_t errlen)
{
	char path[VG_PATH_MAX + 16];
	int ret = cs_path(c, path, sizeof(path));

	if (ret) {
		snprintf(err, errlen, "state.path too long");
		return ret;
	}
	ret = vg_state_replace(path, write_link, l, err, errlen);
	if (!ret) {
		l->dirty = false;
		file_id(path, &l->file);
	}
	return ret;
}

void cs_save_if_needed(struct cs_link *l, const struct vg_config *c,
		       int64_t now)
{
	char err[VG_ERR_MAX];

	if (!l->dirty && now - l->saved_at < 60)
		return;
	if (cs_save(l, c, err, sizeof(err)) == 0)
		l->saved_at = now;
	else
		vg_log(LOG_ERR, "crowdsec: %s", err);
}

static int grow(void **p, size_t *cap, size_t need, size_t size, size_t max)
{
	size_t ncap;
	void *q;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > max)
		ncap = max;
	q = realloc(*p, ncap * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = ncap;
	return 0;
}

static int add_dec(struct cs_link *l, const struct cs_decision *d)
{
	int r = grow((void **)&l->dec, &l->cap_dec, l->n_dec + 1,
		     sizeof(*l->dec), CS_DECISIONS_MAX);

	if (!r)
		l->dec[l->n_dec++] = *d;
	return r;
}

static int add_push(struct cs_link *l, const struct cs_push *p)
{
	int r = grow((void **)&l->push, &l->cap_push, l->n_push + 1,
		     sizeof(*l->push), CS_PUSH_MAX);

	if (!r)
		l->push[l->n_push++] = *p;
	return r;
}

int cs_add_decision(struct cs_link *l, const struct cs_decision *d)
{
	return add_dec(l, d);
}

int cs_add_push(struct cs_link *l, const struct cs_push *p)
{
	return add_push(l, p);
}

int cs_add_retract(struct cs_link *l, const struct cs_retract *r)
{
	int ret = grow((void **)&l->rt, &l->cap_rt, l->n_rt + 1,
		       sizeof(*l->rt), CS_RETRACT_MAX);

	if (!ret)
		l->rt[l->n_rt++] = *r;
	return ret;
}

int cs_add_lift(struct cs_link *l, const struct cs_lift *f)
{
	int ret = grow((void **)&l->lift, &l->cap_lift, l->n_lift + 1,
		       sizeof(*l->lift), CS_LIFT_MAX);
	size_t i = l->n_lift;

	if (ret)
		return ret;
	/* sorted by id: cs_lifted() searches it for every element */
	while (i > 0 && l->lift[i - 1].id > f->id)
		i--;
	memmove(&l->lift[i + 1], &l->lift[i],
		(l->n_lift - i) * sizeof(*l->lift));
	l->lift[i] = *f;
	l->n_lift++;
	return 0;
}

/* Split a line ending in '\n' into at most max fields separated by
 * single spaces: the file is ours, so anything looser is corruption.
 * The number of fields, or -EINVAL. */
static int split(char *line, char **f, int max)
{
	char *nl = strchr(line, '\n');
	int n = 0;

	if (!nl || nl[1] != '\0')
		return -EINVAL;
	*nl = '\0';
	for (char *p = line; ; p++) {
		if (n == max || *p == ' ' || *p == '\0')
			return -EINVAL;
		f[n++] = p;
		p += strcspn(p, " ");
		if (*p == '\0')
			return n;
		*p = '\0';
	}
}

/* Plain decimal only (strtoll would also take " 3", "+3" and clamp an
 * overflow; sscanf's %d would make it undefined). */
static int num(const char *s, int64_t min, int64_t max, int64_t *v)
{
	char *end;
	long long x;

	if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' &&
					   s[1] <= '9')))
		return -EINVAL;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end || x < min || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_line(struct cs_link *l, char *line, size_t *count)
{
	struct cs_decision d = { 0 };
	struct cs_push p = { 0 };
	struct cs_lift lf = { 0 };
	struct cs_retract r = { 0 };
	char *f[8];
	int64_t v[2];
	int n;

	if (strncmp(line, "error ", 6) == 0) {
		line[strcspn(line, "\n")] = '\0';
		vg_sanitize(l->error, sizeof(l->error), line + 6);
		return 0;
	}
	n = split(line, f, 8);
	if (n < 1)
		return -EINVAL;
	if (strcmp(f[0], "link") == 0) {
		if (n != 6 || num(f[1], 0, 1, &v[0]) ||
		    num(f[2], 0, INT64_MAX, &l->last_pull) ||
		    num(f[3], 0, INT64_MAX, &l->last_push) ||
		    num(f[4], 0, UINT32_MAX, &v[1]) ||
		    num(f[5], 0, INT64_MAX, &l->error_at))
			return -EINVAL;
		l->baseline = v[0] == 1;
		l->fails = (unsigned int)v[1];
		return 0;
	}
	if (strcmp(f[0], "d") == 0) {
		if (n < 4 || n > 5 || num(f[1], INT64_MIN, INT64_MAX, &d.id) ||
		    num(f[2], 0, INT64_MAX, &d.until) ||
		    vg_cidr_parse(f[3], &d.net) != 0)
			return -EINVAL;
		if (n == 5)
			vg_sanitize(d.origin, sizeof(d.origin), f[4]);
		(*count)++;
		return add_dec(l, &d);
	}
	if (strcmp(f[0], "l") == 0) {
		if (n != 4 || num(f[1], INT64_MIN, INT64_MAX, &lf.id) ||
		    num(f[2], 0, INT64_MAX, &lf.until) ||
		    vg_cidr_parse(f[3], &lf.net) != 0)
			return -EINVAL;
		(*count)++;
		return cs_add_lift(l, &lf);
	}
	if (strcmp(f[0], "x") == 0) {
		if (n != 4 || vg_cidr_parse(f[1], &r.key) != 0 ||
		    num(f[2], 0, INT64_MAX, &r.at) ||
		    num(f[3], 0, INT64_MAX, &r.until))
			return -EINVAL;
		(*count)++;
		return cs_add_retract(l, &r);
	}
	if (strcmp(f[0], "p") == 0) {
		if (n != 6 || (strcmp(f[1], "done") && strcmp(f[1], "pending")) ||
		    vg_cidr_parse(f[2], &p.key) != 0 ||
		    num(f[3], 0, INT64_MAX, &p.banned_at) ||
		    num(f[4], 0, INT64_MAX, &p.until) ||
		    num(f[5], 0, UINT32_MAX, &v[0]))
			return -EINVAL;
		p.ban_count = (uint32_t)v[0];
		p.done = strcmp(f[1], "done") == 0;
		(*count)++;
		return add_push(l, &p);
	}
	return -EINVAL;
}

static int load_file(struct cs_link *l, FILE *f)
{
	char line[CS_LINE_MAX];
	size_t count = 0;
	bool ended = false;
	int64_t end_n;

	if (!fgets(line, sizeof(line), f) || strcmp(line, CS_MAGIC "\n"))
		return -EBADMSG;
	while (fgets(line, sizeof(line), f)) {
		if (ended || !strchr(line, '\n'))
			return -EBADMSG;
		if (strncmp(line, "end ", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			if (num(line + 4, 0, INT64_MAX, &end_n) ||
			    (size_t)end_n != count)
				return -EBADMSG;
			ended = true;
			continue;
		}
		if (parse_line(l, line, &count))
			return -EBADMSG;
	}
	return ended ? 0 : -EBADMSG;
}

/* The persisted lists and fields only. */
static void free_persisted(struct cs_link *l)
{
	free(l->dec);
	free(l->push);
	free(l->lift);
	free(l->rt);
	l->dec = NULL;
	l->push = NULL;
	l->lift = NULL;
	l->rt = NULL;
	l->n_dec = l->cap_dec = l->n_push = l->cap_push = 0;
	l->n_lift = l->cap_lift = l->n_rt = l->cap_rt = 0;
	l->baseline = false;
	l->last_pull = l->last_push = l->error_at = 0;
	l->fails = 0;
	l->error[0] = '\0';
}

void cs_free(struct cs_link *l)
{
	cs_unlock(l);
	free_persisted(l);
	memset(l, 0, sizeof(*l));
}

/* Replace the persisted part of l with what path holds; what only this
 * process knows (token, backoffs, the lock) stays. */
static int load_path(struct cs_link *l, const char *path)
{
	struct cs_link n = { 0 };
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f && errno != ENOENT)
		return -errno;
	if (f) {
		ret = load_file(&n, f);
		fclose(f);
	}
	free_persisted(l);
	if (ret) {
		free_persisted(&n);
		return ret;
	}
	l->baseline = n.baseline;
	l->last_pull = n.last_pull;
	l->last_push = n.last_push;
	l->error_at = n.error_at;
	l->fails = n.fails;
	memcpy(l->error, n.error, sizeof(l->error));
#define TAKE(a, cnt, cap)	(l->a = n.a, l->cnt = n.cnt, l->cap = n.cap)
	TAKE(dec, n_dec, cap_dec);
	TAKE(push, n_push, cap_push);
	TAKE(lift, n_lift, cap_lift);
	TAKE(rt, n_rt, cap_rt);
#undef TAKE
	return 0;
}

int cs_load(struct cs_link *l, const struct vg_config *c, bool readonly)
{
	char path[VG_PATH_MAX + 16], aside[VG_PATH_MAX + 64];
	int ret;

	if (cs_path(c, path, sizeof(path)))
		return -ENAMETOOLONG;
	l->loaded = true;
	l->dirty = false;
	file_id(path, &l->file);
	ret = load_path(l, path);
	if (ret != -EBADMSG)
		return ret;
	/* Start empty (the next pull is a full one); never lose the file. */
	if (readonly)
		return ret;
	if (vg_state_quarantine(path, aside, sizeof(aside)) == 0)
		vg_log(LOG_ERR, "crowdsec: %s is corrupt; kept as %s, "
		       "starting without it", path, aside);
	else
		vg_log(LOG_ERR, "crowdsec: %s is corrupt; starting without "
		       "it", path);
	file_id(path, &l->file);
	l->dirty = true;
	return 0;
}

int cs_refresh(struct cs_link *l, const struct vg_config *c, bool readonly,
	       bool *changed)
{
	char path[VG_PATH_MAX + 16];
	struct cs_file_id now;

	*changed = false;
	if (cs_path(c, path, sizeof(path)))
		return -ENAMETOOLONG;
	file_id(path, &now);
	if (l->loaded && memcmp(&now, &l->file, sizeof(now)) == 0)
		return 0;
	*changed = true;
	return cs_load(l, c, readonly);
}

/* Whose lock it is, for the message: the holder wrote its pid. */
static long holder(int fd)
{
	char buf[24] = "";
	ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid = r > 0 ? strtol(buf, NULL, 10) : 0;

	return pid > 0 ? pid : 0;
}

int cs_lock(struct cs_link *l, const struct vg_config *c, int wait_ms,
	    char *err, size_t errlen)
{
	char path[VG_PATH_MAX + 24], mine[24], *slash;
	struct stat st;
	int fd, n, ret = 0;

	if (l->locked)
		return 0;
	if (snprintf(path, sizeof(path), "%s.crowdsec.lock", c->state_path) >=
	    (int)sizeof(path))
		return vg_errf(err, errlen, -ENAMETOOLONG, "state.path too "
			       "long");
	/* Its directory is the state file's (0700, as the helper makes it
	 * for the state file), which may not exist before the first save. */
	slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return vg_errf(err, errlen, -errno, "%s: %s", path,
				       strerror(errno));
		*slash = '/';
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		  0600);
	if (fd < 0)
		return vg_errf(err, errlen, -errno, "%s: %s", path,
			       strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ret = vg_errf(err, errlen, -EINVAL, "%s: not a regular file",
			      path);
		goto fail;
	}
	ret = vg_flock_wait(fd, wait_ms);
	if (ret == -ETIMEDOUT) {
		char who[32] = "another process";
		long pid = holder(fd);

		if (pid)
			snprintf(who, sizeof(who), "pid %ld", pid);
		ret = vg_errf(err, errlen, -EWOULDBLOCK, "%s is held by %s (the "
			      "daemon, a sync or an unban talking to LAPI) for "
			      "more than %d.%d s; try again", path, who,
			      wait_ms / 1000, wait_ms % 1000 / 100);
		goto fail;
	}
	if (ret) {
		ret = vg_errf(err, errlen, ret, "%s: flock: %s", path,
			      strerror(-ret));
		goto fail;
	}
	n = snprintf(mine, sizeof(mine), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, mine, (size_t)n, 0) != n)
		vg_log(LOG_DEBUG, "crowdsec: %s: cannot record our pid", path);
	l->lock_fd = fd;
	l->locked = true;
	return 0;
fail:
	close(fd);
	return ret;
}

void cs_unlock(struct cs_link *l)
{
	if (!l->locked)
		return;
	/* no stale pid for the next holder's waiters to blame */
	if (ftruncate(l->lock_fd, 0) != 0)
		vg_log(LOG_DEBUG, "crowdsec: cannot clear the lock file");
	close(l->lock_fd);	/* releases the flock */
	l->locked = false;
	l->lock_fd = -1;
}

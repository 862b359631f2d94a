/*
 * The shared table.
 *
 * Many sshd processes (one per connection, each root, each possibly
 * killed at any moment) update this table at once.  These rules are what
 * makes that safe; every function below keeps them.
 *
 * MUST:
 *  1. Live in a directory owned by the caller's euid (root in sshd) that
 *     no one else can write, so nobody can plant or swap the file.  The
 *     file itself is opened with O_NOFOLLOW and checked on the fd:
 *     regular, owned by our euid, no group/other bits.
 *  2. Be created complete or not at all: a new table is built under a
 *     temporary name in the same directory and link()ed (first creator
 *     wins) or rename()d (rebuild) into place.  Readers never see a half
 *     initialised header, mutex or size.
 *  3. Start with a header carrying magic, version, header size, entry
 *     size, entry count, mutex size and file size.  Any mismatch means
 *     the file is foreign or corrupt: rebuild it with a log line (or
 *     refuse, read-only), never trust it.  The size is checked before
 *     mmap(), because touching a mapping past the end of a shorter file
 *     is SIGBUS, and a SIGBUS kills the sshd monitor.
 *  4. Fixed-size 64-byte entries with reserved bytes; every field bounded
 *     (saturating counters, clamped times) so no value read back can
 *     overflow arithmetic or index anything.  Entries with an unknown
 *     family are treated as free.
 *  5. One process-shared robust mutex serialises writers.  A holder that
 *     dies leaves it EOWNERDEAD; the next locker marks it consistent and
 *     carries on (at most the dead process's own update is lost).  Locks
 *     are taken with a deadline: sshd must never hang on us.
 *  6. Nothing slow under the lock: no syslog, no allocation, no I/O.
 *  7. Times are CLOCK_BOOTTIME seconds: a stepped wall clock neither
 *     lifts nor stretches a ban.  The table is on a tmpfs (/run) and dies
 *     with the boot; bans that must survive a reboot are the helper's
 *     state file (written temp + fsync + rename), not this file.
 *  8. The probe window is bounded (VG_PROBE) and the hash is keyed with
 *     a per-table random seed, so no choice of source addresses costs
 *     more than VG_PROBE entry compares or can aim at one window.
 *  9. An active ban is never evicted; when a window is full the oldest
 *     entry that is not banned and holds no live slot makes room.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "policy.h"
#include "table.h"

#define VG_TABLE_MAGIC		0x56504754u	/* "TGPV" */
#define VG_TABLE_VERSION	1u
#define VG_HDR_SIZE		4096u
#define VG_PROBE		32u
#define VG_LOCK_TIMEOUT_MS	2000
#define VG_COUNT_MAX		0xffffu

struct vg_table_hdr {
	_Atomic uint32_t magic;		/* written last, with release */
	uint32_t version;
	uint32_t hdr_size;
	uint32_t entry_size;
	uint32_t nentries;
	uint32_t mutex_size;		/* libc ABI of the lock below */
	uint64_t file_size;
	uint64_t seed[2];		/* hash key, from getrandom() */
	_Atomic uint64_t failures_total;
	_Atomic uint64_t bans_total;
	_Atomic uint64_t denied_total;
	_Atomic uint64_t evictions_total;
	pthread_mutex_t lock;
	/* Log rate limit (vg_table_log_permit), shared by every process:
	 * each sshd lives for one connection, so only a counter here can
	 * bound what a flood of connections writes to syslog.  Appended
	 * to the header: a table built before these existed has them
	 * zero, which is a valid state. */
	_Atomic uint64_t log_window;	/* current window number */
	_Atomic uint32_t log_count[VG_LOG_KINDS];   /* lines logged in it */
	_Atomic uint64_t log_suppressed[VG_LOG_KINDS]; /* since last summary */
};

_Static_assert(sizeof(struct vg_entry) == 64, "entry must be 64 bytes");
_Static_assert(sizeof(struct vg_table_hdr) <= VG_HDR_SIZE, "header size");

struct vg_table {
	struct vg_table_hdr *hdr;
	struct vg_entry *ent;
	size_t map_len;
	uint32_t n;
	bool ro;
	dev_t dev;		/* the file mapped, to notice a replacement */
	ino_t ino;
	char path[VG_PATH_MAX];
};

vg_time_t vg_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
		clock_gettime(CLOCK_MONOTONIC, &ts);
	/* 0 means "never" in entries; a boot is always older than 1 s
	 * by the time sshd runs, but be exact anyway. */
	if (ts.tv_sec < 1)
		return 1;
	if ((uint64_t)ts.tv_sec > UINT32_MAX / 2)
		return UINT32_MAX / 2;
	return (vg_time_t)ts.tv_sec;
}

static uint64_t file_size_for(uint32_t n)
{
	return VG_HDR_SIZE + (uint64_t)n * sizeof(struct vg_entry);
}

/* Rule 1: the directory must be ours and closed to others. */
static int check_dir(const char *path, bool create)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat st;

	if (strlen(path) >= VG_PATH_MAX || path[0] != '/')
		return -EINVAL;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		return -EINVAL;		/* no tables in / */
	*slash = '\0';
	if (lstat(dir, &st) != 0) {
		if (errno != ENOENT || !create)
			return -errno;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
		if (lstat(dir, &st) != 0)
			return -errno;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022))
		return -EACCES;
	return 0;
}

static int check_fd(int fd, struct stat *st)
{
	if (fstat(fd, st) != 0)
		return -errno;
	if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() ||
	    (st->st_mode & 077))
		return -EACCES;
	return 0;
}

/* Rule 3.  size 0 accepts any entry count. */
static int check_hdr(const struct vg_table_hdr *h, uint32_t size,
		     const struct stat *st)
{
	if (atomic_load_explicit(&h->magic, memory_order_acquire) !=
	    VG_TABLE_MAGIC || h->version != VG_TABLE_VERSION ||
	    h->hdr_size != VG_HDR_SIZE ||
	    h->entry_size != sizeof(struct vg_entry) ||
	    h->mutex_size != sizeof(pthread_mutex_t))
		return -EBADMSG;
	if (h->nentries < VG_TABLE_SIZE_MIN || h->nentries > VG_TABLE_SIZE_MAX)
		return -EBADMSG;
	if (h->file_size != file_size_for(h->nentries) ||
	    (uint64_t)st->st_size != h->file_size)
		return -EBADMSG;
	if (size != 0 && h->nentries != size)
		return -ERANGE;
	return 0;
}

static int map_fd(struct vg_table *t, int fd, size_t len, bool ro)
{
	void *p = mmap(NULL, len, ro ? PROT_READ : PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	t->hdr = p;
	t->ent = (struct vg_entry *)((char *)p + VG_HDR_SIZE);
	t->map_len = len;
	t->n = t->hdr->nentries;
	t->ro = ro;
	return 0;
}

static int init_mutex(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int rc;

	rc = pthread_mutexattr_init(&a);
	if (rc)
		return -rc;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!rc)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -rc;
}

/* Rule 2: build a complete table under a temporary name, then publish
 * it with link() (replace = false: the first creator wins, EEXIST tells
 * the others to open the winner's) or rename() (replace = true). */
static int build(const char *path, uint32_t size, bool replace)
{
	char tmp[PATH_MAX];
	struct vg_table_hdr *h = NULL;
	uint64_t len = file_size_for(size);
	int fd = -1, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.new.XXXXXX", path) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)len) != 0) {
		ret = -errno;
		goto out;
	}
	h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		h = NULL;
		ret = -errno;
		goto out;
	}
	h->version = VG_TABLE_VERSION;
	h->hdr_size = VG_HDR_SIZE;
	h->entry_size = sizeof(struct vg_entry);
	h->nentries = size;
	h->mutex_size = sizeof(pthread_mutex_t);
	h->file_size = len;
	if (getrandom(h->seed, sizeof(h->seed), 0) != sizeof(h->seed)) {
		ret = -EIO;
		goto out;
	}
	ret = init_mutex(&h->lock);
	if (ret)
		goto out;
	atomic_store_explicit(&h->magic, VG_TABLE_MAGIC, memory_order_release);
	if (replace)
		ret = rename(tmp, path) == 0 ? 0 : -errno;
	else
		ret = link(tmp, path) == 0 ? 0 : -errno;
out:
	if (h)
		munmap(h, len);
	if (fd >= 0)
		close(fd);
	if (ret != 0 || !replace)
		unlink(tmp);
	return ret;
}

/* Open an existing file and validate it; *why gets a reason to rebuild. */
static int try_open(struct vg_table *t, uint32_t size, bool ro)
{
	struct vg_table_hdr h;
	struct stat st;
	int fd, ret;

	fd = open(t->path, (ro ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = check_fd(fd, &st);
	if (ret)
		goto out;
	if ((uint64_t)st.st_size < sizeof(h) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		ret = -EBADMSG;
		goto out;
	}
	ret = check_hdr(&h, size, &st);
	if (ret)
		goto out;
	ret = map_fd(t, fd, h.file_size, ro);
	t->dev = st.st_dev;
	t->ino = st.st_ino;
out:
	close(fd);
	return ret;
}

int vg_table_open(struct vg_table **tp, const char *path, uint32_t size,
		  bool create)
{
	struct vg_table *t;
	int ret, tries;

	*tp = NULL;
	ret = check_dir(path, create);
	if (ret)
		return ret;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	strcpy(t->path, path);	/* length checked by check_dir() */
	for (tries = 0; tries < 3; tries++) {
		ret = try_open(t, size, false);
		if (ret == 0 || !create || size == 0)
			break;
		if (ret == -ENOENT) {
			ret = build(path, size, false);
			if (ret == -EEXIST)
				continue;	/* lost the race: open theirs */
		} else if (ret == -EBADMSG || ret == -ERANGE ||
			   ret == -EACCES || ret == -ELOOP) {
			vg_log(LOG_WARNING, "table %s is %s: rebuilding it",
			       path, ret == -ERANGE ? "of another table.size" :
			       ret == -EACCES ? "not root-only" :
			       ret == -ELOOP ? "a symbolic link" :
			       "corrupt or of another version");
			ret = build(path, size, true);
		}
		if (ret)
			break;
	}
	if (ret) {
		free(t);
		return ret;
	}
	*tp = t;
	return 0;
}

int vg_table_open_ro(struct vg_table **tp, const char *path)
{
	struct vg_table *t;
	int ret;

	*tp = NULL;
	if (strlen(path) >= VG_PATH_MAX)
		return -ENAMETOOLONG;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	strcpy(t->path, path);
	ret = try_open(t, 0, true);
	if (ret) {
		free(t);
		return ret;
	}
	*tp = t;
	return 0;
}

/* The stat() comes first: reading the header of a file that has
 * shrunk below it would be SIGBUS.  (The file is root's, in a root-only
 * directory: the window between the two is not an attacker's.) */
bool vg_table_stale(const struct vg_table *t)
{
	struct stat st;

	if (stat(t->path, &st) != 0 || st.st_dev != t->dev ||
	    st.st_ino != t->ino || (uint64_t)st.st_size != t->map_len)
		return true;
	return check_hdr(t->hdr, t->n, &st) != 0;
}

bool vg_table_log_permit(struct vg_table *t, enum vg_log_kind kind,
			 vg_time_t now, uint64_t suppressed[VG_LOG_KINDS])
{
	struct vg_table_hdr *h = t->hdr;
	uint64_t w = now / VG_LOG_WINDOW, cur;

	for (int k = 0; k < VG_LOG_KINDS; k++)
		suppressed[k] = 0;
	if (t->ro || (unsigned int)kind >= VG_LOG_KINDS)
		return true;
	cur = atomic_load(&h->log_window);
	/* One process wins the new window and reports the old ones. */
	if (cur != w && atomic_compare_exchange_strong(&h->log_window, &cur,
						       w)) {
		for (int k = 0; k < VG_LOG_KINDS; k++) {
			atomic_store(&h->log_count[k], 0);
			suppressed[k] = atomic_exchange(&h->log_suppressed[k],
							0);
		}
	}
	/* Load first: the count never runs past the burst (no wrap). */
	if (atomic_load(&h->log_count[kind]) < VG_LOG_BURST &&
	    atomic_fetch_add(&h->log_count[kind], 1) < VG_LOG_BURST)
		return true;
	atomic_fetch_add(&h->log_suppressed[kind], 1);
	return false;
}

void vg_table_close(struct vg_table *t)
{
	if (!t)
		return;
	munmap(t->hdr, t->map_len);
	free(t);
}

uint32_t vg_table_size(const struct vg_table *t)
{
	return t->n;
}

/* Rule 5. */
static int lock(struct vg_table *t)
{
	struct timespec ts;
	int rc;

	if (t->ro)
		return -EROFS;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += VG_LOCK_TIMEOUT_MS / 1000;
	ts.tv_nsec += (VG_LOCK_TIMEOUT_MS % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	rc = pthread_mutex_clocklock(&t->hdr->lock, CLOCK_MONOTONIC, &ts);
	if (rc == EOWNERDEAD) {
		/* The holder died mid-update: its one entry may be half
		 * written, which rule 4 tolerates.  Everything else is
		 * intact. */
		pthread_mutex_consistent(&t->hdr->lock);
		rc = 0;
	}
	return -rc;
}

static void unlock(struct vg_table *t)
{
	pthread_mutex_unlock(&t->hdr->lock);
}

static bool valid_family(uint8_t f)
{
	return f == VG_FAMILY_V4 || f == VG_FAMILY_V6 || f == VG_FAMILY_NAME;
}

bool vg_entry_banned(const struct vg_entry *e, vg_time_t now)
{
	return e->banned_until != 0 && now < e->banned_until;
}

void vg_entry_addr(const struct vg_entry *e, struct vg_addr *a)
{
	memcpy(a->bytes, e->key, sizeof(a->bytes));
	a->family = e->family;
	a->prefix = e->prefix;
}

static bool key_match(const struct vg_entry *e, const struct vg_addr *k)
{
	return e->family == k->family && e->prefix == k->prefix &&
	       memcmp(e->key, k->bytes, sizeof(e->key)) == 0;
}

static bool slot_busy(const struct vg_entry *e, vg_time_t now)
{
	return e->inflight != 0 && now < e->inflight_expires;
}

/* Forget what has run out: slots of dead processes, an old failure
 * window, ban history older than `history` after the last ban. */
void vg_entry_refresh(struct vg_entry *e, const struct vg_config *c,
		      vg_time_t now)
{
	if (e->inflight && now >= e->inflight_expires)
		e->inflight = 0;
	/* Failures are forgotten after findtime without a failure, not
	 * findtime after the first one: a fixed window would let 2 x
	 * (maxretry - 1) guesses through around its edge, and SPEC promises
	 * at most maxretry in any findtime. */
	if (e->failures && (now < e->last_fail ||
			    now - e->last_fail >= c->findtime)) {
		e->failures = 0;
		e->window_start = 0;
	}
	if (e->ban_count && e->banned_until &&
	    now >= e->banned_until &&
	    (uint64_t)(now - e->banned_until) >= c->history)
		e->ban_count = 0;
}

static uint32_t slot_of(const struct vg_table *t, const struct vg_addr *k)
{
	uint8_t buf[18];

	memcpy(buf, k->bytes, 16);
	buf[16] = k->family;
	buf[17] = k->prefix;
	return (uint32_t)(vg_siphash(t->hdr->seed, buf, sizeof(buf)) % t->n);
}

/* Rules 8 and 9.  Find the key's entry in its probe window; with
 * `insert`, take a free slot or evict the oldest evictable entry. */
static struct vg_entry *find(struct vg_table *t, const struct vg_addr *k,
			     vg_time_t now, bool insert)
{
	uint32_t start = slot_of(t, k), probe = t->n < VG_PROBE ? t->n :
					       VG_PROBE;
	struct vg_entry *e, *free_e = NULL, *old = NULL;

	for (uint32_t i = 0; i < probe; i++) {
		e = &t->ent[(start + i) % t->n];
		if (!valid_family(e->family)) {
			if (!free_e)
				free_e = e;
			continue;
		}
		if (key_match(e, k))
			return e;
		if (!vg_entry_banned(e, now) && !slot_busy(e, now) &&
		    (!old || e->last_seen < old->last_seen))
			old = e;
	}
	if (!insert)
		return NULL;
	e = free_e;
	if (!e && old) {
		e = old;
		atomic_fetch_add(&t->hdr->evictions_total, 1);
	}
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, k->bytes, sizeof(e->key));
	e->family = k->family;
	e->prefix = k->prefix;
	e->last_seen = now;
	return e;
}

bool vg_entry_trusted(const struct vg_entry *e, const struct vg_config *c,
		      vg_time_t now)
{
	return e->last_success != 0 && now >= e->last_success &&
	       (uint64_t)(now - e->last_success) < c->trust;
}

static void result(struct vg_result *r, const struct vg_entry *e,
		   const struct vg_config *c, vg_time_t now,
		   enum vg_verdict v)
{
	if (!r)
		return;
	r->verdict = v;
	r->failures = e ? e->failures : 0;
	r->ban_count = e ? e->ban_count : 0;
	r->banned_until = e ? e->banned_until : 0;
	r->trusted = e ? vg_entry_trusted(e, c, now) : false;
	r->ban_length = 0;
}

static vg_time_t add_time(vg_time_t now, uint64_t len)
{
	uint64_t t = (uint64_t)now + len;

	return t >= UINT32_MAX ? UINT32_MAX - 1 : (vg_time_t)t;
}

int vg_table_preauth(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, vg_time_t now,
		     struct vg_result *r)
{
	enum vg_verdict v = VG_ALLOW;
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = find(t, key, now, true);
	if (!e) {
		ret = -ENOSPC;
		goto out;
	}
	vg_entry_refresh(e, c, now);
	e->last_seen = now;
	if (vg_entry_banned(e, now))
		v = VG_DENY_BANNED;
	else if (vg_entry_trusted(e, c, now))
		v = e->failures >= c->maxretry ? VG_DENY_INFLIGHT : VG_ALLOW;
	else if ((uint32_t)e->failures + e->inflight >= c->maxretry)
		v = VG_DENY_INFLIGHT;
	else {
		e->inflight++;
		e->inflight_expires = add_time(now, c->inflight_timeout);
	}
	if (v != VG_ALLOW)
		atomic_fetch_add(&t->hdr->denied_total, 1);
out:
	result(r, e, c, now, v);
	unlock(t);
	return ret;
}

static uint64_t start_ban(struct vg_table *t, struct vg_entry *e,
			  const struct vg_config *c, vg_time_t now)
{
	bool trust = vg_entry_trusted(e, c, now);
	uint64_t len;

	/* A trusted source (the admin behind a shared NAT, or mistyping)
	 * is banned but never escalated nor pushed towards nftables. */
	if (!trust && e->ban_count < UINT32_MAX)
		e->ban_count++;
	len = vg_ban_length(c, trust ? 1 : e->ban_count);
	e->banned_at = now;
	e->banned_until = add_time(now, len);
	e->flags &= (uint8_t)~VG_ENTRY_MANUAL;
	e->failures = 0;
	e->window_start = 0;
	e->inflight = 0;
	atomic_fetch_add(&t->hdr->bans_total, 1);
	return len;
}

int vg_table_fail(struct vg_table *t, const struct vg_config *c,
		  const struct vg_addr *key, unsigned int weight,
		  vg_time_t now, struct vg_result *r)
{
	enum vg_verdict v = VG_ALLOW;
	struct vg_entry *e;
	uint32_t f = 0;
	uint64_t len = 0;
	int ret = lock(t);

	if (ret)
		return ret;
	e = find(t, key, now, true);
	if (!e) {
		ret = -ENOSPC;
		goto out;
	}
	vg_entry_refresh(e, c, now);
	e->last_seen = now;
	if (e->inflight)
		e->inflight--;
	if (e->fail_total < UINT32_MAX)
		e->fail_total++;
	atomic_fetch_add(&t->hdr->failures_total, 1);
	if (vg_entry_banned(e, now)) {
		v = VG_DENY_BANNED;	/* banned while its password ran */
		goto out;
	}
	if (e->failures == 0)
		e->window_start = now;
	f = e->failures + weight;
	e->failures = (uint16_t)(f > VG_COUNT_MAX ? VG_COUNT_MAX : f);
	e->last_fail = now;
	if (e->failures >= c->maxretry) {
		len = start_ban(t, e, c, now);
		v = VG_BANNED_NOW;
	}
out:
	result(r, e, c, now, v);
	if (r && v == VG_BANNED_NOW) {
		r->failures = f;	/* what triggered it, for the log */
		r->ban_length = len;
	}
	unlock(t);
	return ret;
}

int vg_table_success(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, bool release_slot,
		     vg_time_t now)
{
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = find(t, key, now, true);
	if (!e) {
		ret = -ENOSPC;
		goto out;
	}
	vg_entry_refresh(e, c, now);
	if (release_slot && e->inflight)
		e->inflight--;
	e->failures = 0;
	e->window_start = 0;
	e->last_success = now;
	e->last_seen = now;
out:
	unlock(t);
	return ret;
}

int vg_table_release(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, vg_time_t now)
{
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = find(t, key, now, false);
	if (e) {
		vg_entry_refresh(e, c, now);
		if (e->inflight)
			e->inflight--;
	}
	unlock(t);
	return 0;
}

int vg_table_check(struct vg_table *t, const struct vg_config *c,
		   const struct vg_addr *key, vg_time_t now,
		   struct vg_result *r)
{
	enum vg_verdict v = VG_ALLOW;
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = find(t, key, now, false);
	if (e) {
		vg_entry_refresh(e, c, now);
		if (vg_entry_banned(e, now)) {
			v = VG_DENY_BANNED;
			atomic_fetch_add(&t->hdr->denied_total, 1);
		}
	}
	result(r, e, c, now, v);
	unlock(t);
	return 0;
}

int vg_table_ban(struct vg_table *t, const struct vg_config *c,
		 const struct vg_addr *key, uint64_t length, vg_time_t now)
{
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = find(t, key, now, true);
	if (!e) {
		ret = -ENOSPC;
		goto out;
	}
	vg_entry_refresh(e, c, now);
	if (e->ban_count < UINT32_MAX)
		e->ban_count++;
	e->banned_at = now;
	e->banned_until = add_time(now, length);
	e->flags |= VG_ENTRY_MANUAL;
	e->failures = 0;
	e->window_start = 0;
	e->inflight = 0;
	e->last_seen = now;
	atomic_fetch_add(&t->hdr->bans_total, 1);
out:
	unlock(t);
	return ret;
}

static void lift(struct vg_entry *e)
{
	e->banned_until = 0;
	e->failures = 0;
	e->window_start = 0;
	e->inflight = 0;
	e->flags &= (uint8_t)~(VG_ENTRY_MANUAL | VG_ENTRY_DROPPED);
}

int vg_table_unban(struct vg_table *t, const struct vg_addr *key)
{
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = find(t, key, 0, false);
	if (e)
		lift(e);
	else
		ret = -ENOENT;
	unlock(t);
	return ret;
}

int vg_table_unban_all(struct vg_table *t)
{
	int ret = lock(t);

	if (ret)
		return ret;
	for (uint32_t i = 0; i < t->n; i++)
		if (valid_family(t->ent[i].family))
			lift(&t->ent[i]);
	unlock(t);
	return 0;
}

int vg_table_restore(struct vg_table *t, const struct vg_entry *saved)
{
	struct vg_addr k;
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	vg_entry_addr(saved, &k);
	e = find(t, &k, saved->last_seen, true);
	if (!e) {
		ret = -ENOSPC;
		goto out;
	}
	if (saved->ban_count > e->ban_count)
		e->ban_count = saved->ban_count;
	if (saved->banned_until > e->banned_until) {
		e->banned_until = saved->banned_until;
		e->banned_at = saved->banned_at;
		e->flags |= saved->flags & VG_ENTRY_MANUAL;
	}
	if (saved->last_success > e->last_success)
		e->last_success = saved->last_success;
	if (saved->last_seen > e->last_seen)
		e->last_seen = saved->last_seen;
out:
	unlock(t);
	return ret;
}

int vg_table_lookup(struct vg_table *t, const struct vg_addr *key,
		    struct vg_entry *out)
{
	uint32_t start = slot_of(t, key);
	uint32_t probe = t->n < VG_PROBE ? t->n : VG_PROBE;

	for (uint32_t i = 0; i < probe; i++) {
		struct vg_entry e = t->ent[(start + i) % t->n];

		if (valid_family(e.family) && key_match(&e, key)) {
			*out = e;
			return 0;
		}
	}
	return -ENOENT;
}

long vg_table_snapshot(struct vg_table *t, struct vg_entry *out, size_t max)
{
	size_t k = 0;

	for (uint32_t i = 0; i < t->n && k < max; i++) {
		out[k] = t->ent[i];
		if (valid_family(out[k].family))
			k++;
	}
	return (long)k;
}

void vg_table_stats(struct vg_table *t, const struct vg_config *c,
		    vg_time_t now, struct vg_table_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->failures_total = atomic_load(&t->hdr->failures_total);
	s->bans_total = atomic_load(&t->hdr->bans_total);
	s->denied_total = atomic_load(&t->hdr->denied_total);
	s->evictions_total = atomic_load(&t->hdr->evictions_total);
	s->size = t->n;
	for (uint32_t i = 0; i < t->n; i++) {
		struct vg_entry e = t->ent[i];

		if (!valid_family(e.family))
			continue;
		s->used++;
		if (vg_entry_banned(&e, now))
			s->banned++;
		else if (e.failures && now >= e.last_fail &&
			 now - e.last_fail < c->findtime)
			s->failing++;
	}
}

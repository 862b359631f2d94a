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
 *  8. Entries live in buckets of VG_BUCKET; a key may sit in one of two
 *     buckets chosen by a hash keyed with a per-table random seed
 *     (bucketised cuckoo hashing).  A lookup costs at most 2 x VG_BUCKET
 *     compares whatever the sources; an insert may move entries to
 *     their other bucket along a path found by a breadth-first search of
 *     at most VG_SEARCH entries.  This holds > 90% of the entries
 *     before anything is refused (a 32-slot linear probe window gave
 *     out at ~53%).
 *  9. Room is only ever made from entries that hold nothing: no live
 *     failure, no slot, no ban, no ban history, no trust (and prefix
 *     counters, which are only a hint).  So no flood of new sources can
 *     evict an active ban, a repeat offender's history, the admin's
 *     trust, or a source's live count (which would reset its budget).
 * 10. A source that finds no room is counted in an overflow entry (its
 *     /24 or /48), and when that finds none, in the header's overflow
 *     bucket, which always exists.  A new entry inherits what its
 *     overflow entry and the bucket hold (failures, slots, ban), so
 *     moving between levels never buys a source more than maxretry
 *     guesses.  A full table is a normal state, never an error.
 * 11. The file is allocated (posix_fallocate) before it is published: a
 *     full /run fails creation, never a SIGBUS inside sshd later.
 * 12. A handle maps the header page, and either every entry (full
 *     handles: the helper, the CLI, long-lived users) or none: window
 *     handles (vg_table_open_window(), the PAM module) read the buckets
 *     an operation touches with pread() under the lock into a private
 *     window and write back with pwrite() what changed before the lock
 *     is released.  Both views are the same page cache pages, so they
 *     mix freely.  Why: a process that lives for one connection pays
 *     for every page it maps (mmap, one fault per page, munmap: tens of
 *     microseconds each on a virtualised host), and a 4 MiB mapping
 *     plus the pages of 2-4 buckets was most of the module's cost.
 *     pread/pwrite never SIGBUS: a file that shrank under a window
 *     handle gives a short read, and the operation fails (-EIO) without
 *     writing anything.  Entries moved by an insert are written through
 *     at once, step by step along the path, so a holder that dies
 *     mid-insert leaves an entry twice at worst (as with the mapping),
 *     never loses one.  Whole-table scans (a prefix ban's clean-up,
 *     snapshot, stats, unban all) map the entries first.
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>

#include "hash.h"
#include "log.h"
#include "policy.h"
#include "table.h"

#define VG_TABLE_MAGIC		0x56504754u	/* "TGPV" */
#define VG_TABLE_VERSION	2u
#define VG_HDR_SIZE		4096u
#define VG_BUCKET		8u
#define VG_SEARCH		512u	/* entries an insert may look at */
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
	/* Under the lock: */
	uint32_t used;			/* entries in use, every kind */
	uint32_t prefix_entries;	/* of them VG_KIND_PREFIX */
	uint32_t fill_at_overflow;	/* `used` when first overflowed */
	uint32_t reserved0;
	_Atomic uint64_t overflow_total;
	/* Bumped by every ban, and a futex: the helper sleeps on it and
	 * puts a new ban into nftables at once (vg_table_wait()).  A
	 * futex without FUTEX_PRIVATE_FLAG on a MAP_SHARED file is keyed
	 * by inode and offset, so it works across sshd's processes and
	 * their mount namespaces, with no socket to cross privsep. */
	_Atomic uint32_t ban_seq;
	uint32_t reserved1;
	/* The last level for sources (rule 10) and for user counters
	 * that find no room: always there, never evicted. */
	struct vg_entry overflow;
	struct vg_entry user_overflow;
};

_Static_assert(sizeof(struct vg_entry) == 64, "entry must be 64 bytes");
_Static_assert(sizeof(struct vg_table_hdr) <= VG_HDR_SIZE, "header size");

/* Rule 12: the buckets a window handle has read in one locked section.
 * Chunks are never moved, so entry pointers stay valid until unlock;
 * the first chunk is part of the handle, the others are allocated on
 * demand, up to VG_WIN_CHUNKS: more than one operation can touch (two
 * breadth-first searches of VG_SEARCH entries, a few lookups). */
#define VG_WIN_CHUNK	8u	/* buckets per chunk */
#define VG_WIN_CHUNKS	24u

struct win_chunk {
	uint32_t idx[VG_WIN_CHUNK];
	struct vg_entry cur[VG_WIN_CHUNK][VG_BUCKET];
	struct vg_entry orig[VG_WIN_CHUNK][VG_BUCKET];	/* as read */
};

struct win {
	uint32_t n;		/* buckets read since lock() */
	int err;		/* a read failed: write nothing back */
	struct win_chunk *more[VG_WIN_CHUNKS - 1];
	struct vg_entry scratch[VG_BUCKET];	/* stands in for a failed read */
	struct win_chunk first;
};

struct vg_table {
	struct vg_table_hdr *hdr;
	struct vg_entry *ent;	/* NULL: window handle (rule 12) */
	size_t map_len;		/* of the mapping at hdr */
	size_t ent_len;		/* entries mapped apart from hdr, or 0 */
	uint64_t file_len;
	int fd;			/* window handles: pread/pwrite; else -1 */
	uint32_t n;
	uint32_t nb;		/* buckets: n / VG_BUCKET (a rest is unused) */
	bool ro;
	uid_t euid;		/* who must own the directory and the file */
	dev_t dev;		/* the file mapped, to notice a replacement */
	ino_t ino;
	char path[VG_PATH_MAX];
	struct win win;		/* last: only window handles touch it */
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
static int check_dir(const char *path, bool create, uid_t euid)
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
	if (!S_ISDIR(st.st_mode) || st.st_uid != euid ||
	    (st.st_mode & 022))
		return -EACCES;
	return 0;
}

static int check_fd(int fd, struct stat *st, uid_t euid)
{
	if (fstat(fd, st) != 0)
		return -errno;
	if (!S_ISREG(st->st_mode) || st->st_uid != euid ||
	    (st->st_mode & 077))
		return -EACCES;
	return 0;
}

/* Rule 3's identity of a table: the header's first fields, copied.  A
 * copy of the whole header would do, but the header is 64-byte aligned
 * (its entries), which a copy on the stack need not be (sanitisers and
 * some ABIs do not honour it). */
struct hdr_id {
	uint32_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t entry_size;
	uint32_t nentries;
	uint32_t mutex_size;
	uint64_t file_size;
};

_Static_assert(offsetof(struct vg_table_hdr, version) ==
	       offsetof(struct hdr_id, version) &&
	       offsetof(struct vg_table_hdr, nentries) ==
	       offsetof(struct hdr_id, nentries) &&
	       offsetof(struct vg_table_hdr, mutex_size) ==
	       offsetof(struct hdr_id, mutex_size) &&
	       offsetof(struct vg_table_hdr, file_size) ==
	       offsetof(struct hdr_id, file_size), "hdr_id mirrors the header");

/* From a mapping: the magic first, with acquire (it is published last). */
static void hdr_id_of(const struct vg_table_hdr *h, struct hdr_id *id)
{
	id->magic = atomic_load_explicit(&h->magic, memory_order_acquire);
	id->version = h->version;
	id->hdr_size = h->hdr_size;
	id->entry_size = h->entry_size;
	id->nentries = h->nentries;
	id->mutex_size = h->mutex_size;
	id->file_size = h->file_size;
}

/* Rule 3.  size 0 accepts any entry count. */
static int check_hdr(const struct hdr_id *h, uint32_t size,
		     const struct stat *st)
{
	if (h->magic != VG_TABLE_MAGIC || h->version != VG_TABLE_VERSION ||
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

/* The whole file (full handle), or its header page only (window).
 * h is the header as read and checked: the mapping may change under
 * us, the entry count we index with must not. */
static int map_fd(struct vg_table *t, int fd, const struct hdr_id *h,
		  bool ro, bool full)
{
	size_t len = full ? h->file_size : VG_HDR_SIZE;
	void *p = mmap(NULL, len, ro ? PROT_READ : PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	t->hdr = p;
	t->ent = full ? (struct vg_entry *)((char *)p + VG_HDR_SIZE) : NULL;
	t->map_len = len;
	t->file_len = h->file_size;
	t->n = h->nentries;
	t->nb = t->n / VG_BUCKET;
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
	/* Rule 11: every page now, or a clean ENOSPC. */
	ret = -posix_fallocate(fd, 0, (off_t)len);
	if (ret)
		goto out;
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
	h->overflow.kind = VG_KIND_OVERFLOW;
	h->user_overflow.kind = VG_KIND_USER;
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

/* A window handle maps the header page straight away (fstat said it is
 * there: rule 3) and checks a copy of it, one system call less than
 * pread() + mmap() (each is microseconds in a VM, per connection).  It
 * keeps the fd for its reads and writes. */
static int open_window(struct vg_table *t, int fd, uint32_t size, bool ro,
		       const struct stat *st)
{
	struct hdr_id h;
	/* Populated: the page is read at once anyway, and a fault is one
	 * more exit to the hypervisor on a VM. */
	void *p = mmap(NULL, VG_HDR_SIZE, ro ? PROT_READ :
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       fd, 0);
	int ret;

	if (p == MAP_FAILED) {
		ret = -errno;
		close(fd);
		return ret;
	}
	hdr_id_of(p, &h);
	ret = check_hdr(&h, size, st);
	if (ret) {
		munmap(p, VG_HDR_SIZE);
		close(fd);
		return ret;
	}
	t->hdr = p;
	t->ent = NULL;
	t->map_len = VG_HDR_SIZE;
	t->file_len = h.file_size;
	t->n = h.nentries;
	t->nb = t->n / VG_BUCKET;
	t->ro = ro;
	t->dev = st->st_dev;
	t->ino = st->st_ino;
	t->fd = fd;
	return 0;
}

/* Open an existing file and validate it. */
static int try_open(struct vg_table *t, uint32_t size, bool ro, bool full)
{
	struct hdr_id h;	/* the file's first bytes, as they are */
	struct stat st;
	int fd, ret;

	fd = open(t->path, (ro ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = check_fd(fd, &st, t->euid);
	if (ret)
		goto out;
	if (!full && (uint64_t)st.st_size >= VG_HDR_SIZE)
		return open_window(t, fd, size, ro, &st);
	if ((uint64_t)st.st_size < sizeof(h) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		ret = -EBADMSG;
		goto out;
	}
	ret = check_hdr(&h, size, &st);
	if (ret)
		goto out;
	ret = map_fd(t, fd, &h, ro, full);
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	if (ret == 0 && !full) {
		t->fd = fd;
		return 0;
	}
out:
	close(fd);
	return ret;
}

/* Not calloc: the window's chunk is only written as it is used, and
 * zeroing 8 KB per open would touch pages for nothing. */
static struct vg_table *new_handle(const char *path, uid_t euid)
{
	struct vg_table *t = malloc(sizeof(*t));

	if (!t)
		return NULL;
	memset(t, 0, offsetof(struct vg_table, win));
	memset(&t->win, 0, offsetof(struct win, first));
	t->fd = -1;
	t->euid = euid;
	strcpy(t->path, path);	/* length checked by the caller */
	return t;
}

static int open_rw(struct vg_table **tp, const char *path, uint32_t size,
		   bool create, bool full)
{
	uid_t euid = geteuid();	/* once: a system call is microseconds */
	struct vg_table *t;
	int ret, tries;

	*tp = NULL;
	ret = check_dir(path, create, euid);
	if (ret)
		return ret;
	t = new_handle(path, euid);
	if (!t)
		return -ENOMEM;
	for (tries = 0; tries < 3; tries++) {
		ret = try_open(t, size, false, full);
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

int vg_table_open(struct vg_table **tp, const char *path, uint32_t size,
		  bool create)
{
	return open_rw(tp, path, size, create, true);
}

int vg_table_open_window(struct vg_table **tp, const char *path,
			 uint32_t size, bool create)
{
	return open_rw(tp, path, size, create, false);
}

int vg_table_open_ro(struct vg_table **tp, const char *path)
{
	struct vg_table *t;
	int ret;

	*tp = NULL;
	if (strlen(path) >= VG_PATH_MAX)
		return -ENAMETOOLONG;
	t = new_handle(path, geteuid());
	if (!t)
		return -ENOMEM;
	ret = try_open(t, 0, true, true);
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
	struct hdr_id id;
	struct stat st;

	if (stat(t->path, &st) != 0 || st.st_dev != t->dev ||
	    st.st_ino != t->ino || (uint64_t)st.st_size != t->file_len)
		return true;
	hdr_id_of(t->hdr, &id);
	return check_hdr(&id, t->n, &st) != 0;
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
	if (t->ent_len)
		munmap(t->ent, t->ent_len);
	munmap(t->hdr, t->map_len);
	if (t->fd >= 0)
		close(t->fd);
	for (uint32_t i = 0; i + 1 < VG_WIN_CHUNKS; i++)
		free(t->win.more[i]);
	free(t);
}

/* Rule 12: map every entry of a window handle, for a whole-table scan.
 * The size was checked at open and by vg_table_stale(); a window with
 * reads pending must be written back first (win_flush). */
static int map_entries(struct vg_table *t)
{
	void *p;

	if (t->ent)
		return 0;
	p = mmap(NULL, t->file_len - VG_HDR_SIZE, t->ro ? PROT_READ :
		 PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, VG_HDR_SIZE);
	if (p == MAP_FAILED)
		return -errno;
	t->ent = p;
	t->ent_len = t->file_len - VG_HDR_SIZE;
	return 0;
}

/* --- the window (rule 12) ---------------------------------------------- */

static off_t bucket_off(uint32_t b)
{
	return (off_t)VG_HDR_SIZE + (off_t)b * VG_BUCKET *
	       (off_t)sizeof(struct vg_entry);
}

static struct win_chunk *win_chunk(struct win *w, uint32_t k)
{
	return k == 0 ? &w->first : w->more[k - 1];
}

/* Bucket b as read in this locked section (read now if it was not).
 * On a failed read, a zeroed stand-in whose writes are discarded, and
 * the operation fails at unlock(). */
static struct vg_entry *win_bucket(struct vg_table *t, uint32_t b)
{
	struct win *w = &t->win;
	struct win_chunk *c;
	uint32_t k, i;
	ssize_t got;

	for (k = 0; k < w->n; k++) {
		c = win_chunk(w, k / VG_WIN_CHUNK);
		if (c->idx[k % VG_WIN_CHUNK] == b)
			return c->cur[k % VG_WIN_CHUNK];
	}
	if (w->err || w->n >= VG_WIN_CHUNK * VG_WIN_CHUNKS)
		goto fail;
	k = w->n / VG_WIN_CHUNK;
	i = w->n % VG_WIN_CHUNK;
	if (k > 0 && !w->more[k - 1]) {
		w->more[k - 1] = malloc(sizeof(struct win_chunk));
		if (!w->more[k - 1]) {
			w->err = -ENOMEM;
			goto fail;
		}
	}
	c = win_chunk(w, k);
	got = pread(t->fd, c->cur[i], sizeof(c->cur[i]), bucket_off(b));
	if (got != (ssize_t)sizeof(c->cur[i])) {
		w->err = got < 0 ? -errno : -EIO;
		goto fail;
	}
	memcpy(c->orig[i], c->cur[i], sizeof(c->orig[i]));
	c->idx[i] = b;
	w->n++;
	return c->cur[i];
fail:
	if (!w->err)
		w->err = -ENOSPC;
	memset(w->scratch, 0, sizeof(w->scratch));
	return w->scratch;
}

/* Write back the entries of bucket k that changed since they were read
 * (one pwrite from the first changed to the last). */
static int win_write(struct vg_table *t, uint32_t k)
{
	struct win_chunk *c = win_chunk(&t->win, k / VG_WIN_CHUNK);
	uint32_t i = k % VG_WIN_CHUNK, lo = VG_BUCKET, hi = 0;
	size_t len;

	for (uint32_t j = 0; j < VG_BUCKET; j++)
		if (memcmp(&c->cur[i][j], &c->orig[i][j],
			   sizeof(struct vg_entry))) {
			if (lo == VG_BUCKET)
				lo = j;
			hi = j;
		}
	if (lo == VG_BUCKET)
		return 0;
	len = (hi - lo + 1) * sizeof(struct vg_entry);
	if (pwrite(t->fd, &c->cur[i][lo], len, bucket_off(c->idx[i]) +
		   (off_t)(lo * sizeof(struct vg_entry))) != (ssize_t)len)
		return -EIO;
	memcpy(&c->orig[i][lo], &c->cur[i][lo], len);
	return 0;
}

/* Everything read since lock(), written back and forgotten. */
static int win_flush(struct vg_table *t)
{
	struct win *w = &t->win;
	int ret = w->err;

	for (uint32_t k = 0; k < w->n && ret == 0; k++)
		ret = win_write(t, k);
	w->n = 0;
	w->err = 0;
	return ret;
}

/* An entry moved by make_room(): written through at once (rule 12). */
static void win_sync(struct vg_table *t, uint32_t slot)
{
	struct win *w = &t->win;
	uint32_t b = slot / VG_BUCKET, j = slot % VG_BUCKET;

	if (t->ent || w->err)
		return;
	for (uint32_t k = 0; k < w->n; k++) {
		struct win_chunk *c = win_chunk(w, k / VG_WIN_CHUNK);
		uint32_t i = k % VG_WIN_CHUNK;

		if (c->idx[i] != b)
			continue;
		if (pwrite(t->fd, &c->cur[i][j], sizeof(struct vg_entry),
			   bucket_off(b) + (off_t)(j * sizeof(struct vg_entry)))
		    != (ssize_t)sizeof(struct vg_entry))
			w->err = -EIO;
		else
			c->orig[i][j] = c->cur[i][j];
		return;
	}
}

/* The VG_BUCKET entries of bucket b, and entry `slot`, in whichever
 * view the handle has. */
static struct vg_entry *bucket(struct vg_table *t, uint32_t b)
{
	return t->ent ? &t->ent[b * VG_BUCKET] : win_bucket(t, b);
}

static struct vg_entry *slot_at(struct vg_table *t, uint32_t i)
{
	return &bucket(t, i / VG_BUCKET)[i % VG_BUCKET];
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
	t->win.n = 0;
	t->win.err = 0;
	rc = pthread_mutex_clocklock(&t->hdr->lock, CLOCK_MONOTONIC, &ts);
	if (rc == EOWNERDEAD) {
		/* The holder died mid-update: its one entry may be half
		 * written, which rule 4 tolerates; a move between buckets
		 * may have left one entry twice, which lookups tolerate
		 * (the first copy wins).  `used` may be off by one: it
		 * only feeds statistics. */
		pthread_mutex_consistent(&t->hdr->lock);
		rc = 0;
	}
	return -rc;
}

/* A window handle writes back first: 0, or why the changes of this
 * section were not (all) written. */
static int unlock(struct vg_table *t)
{
	int ret = t->ent ? 0 : win_flush(t);

	pthread_mutex_unlock(&t->hdr->lock);
	return ret;
}

/* --- entries ---------------------------------------------------------- */

static bool valid_family(uint8_t f)
{
	return f == VG_FAMILY_V4 || f == VG_FAMILY_V6 || f == VG_FAMILY_NAME;
}

static bool valid_entry(const struct vg_entry *e)
{
	return valid_family(e->family) && e->kind <= VG_KIND_USER;
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

bool vg_entry_trusted(const struct vg_entry *e, const struct vg_config *c,
		      vg_time_t now)
{
	return e->last_success != 0 && now >= e->last_success &&
	       (uint64_t)(now - e->last_success) < c->trust;
}

static vg_time_t add_time(vg_time_t now, uint64_t len)
{
	uint64_t t = (uint64_t)now + len;

	return t >= UINT32_MAX ? UINT32_MAX - 1 : (vg_time_t)t;
}

/* In-flight slot clocks (see VG_SLOT_CLOCKS).  slot_exp[0 .. k-1] are
 * ascending, k = min(inflight, VG_SLOT_CLOCKS); the slots past the
 * last clock share it, and it is the latest of theirs. */
static void slot_push(struct vg_entry *e, vg_time_t exp)
{
	const unsigned int last = VG_SLOT_CLOCKS - 1;
	unsigned int n = e->inflight, i;

	if (n >= VG_COUNT_MAX)
		return;
	e->inflight++;
	if (n >= VG_SLOT_CLOCKS) {
		if (exp >= e->slot_exp[last]) {
			/* Joins the group, whose clock becomes the latest. */
			e->slot_exp[last] = exp;
			return;
		}
		/* Into the exact part; the latest exact clock (or exp
		 * itself) joins the group, whose clock is later still. */
		if (exp >= e->slot_exp[last - 1])
			return;
		n = last - 1;	/* slot_exp[last - 1] is overwritten */
	}
	for (i = n; i > 0 && e->slot_exp[i - 1] > exp; i--)
		if (i < VG_SLOT_CLOCKS)
			e->slot_exp[i] = e->slot_exp[i - 1];
	e->slot_exp[i] = exp;
}

/* Give back the oldest slot.  Whose slot ended is not known (another
 * process may hold the older one): keeping the later clocks is the side
 * that never frees a slot early. */
static void slot_pop(struct vg_entry *e)
{
	unsigned int n = e->inflight;

	if (n == 0)
		return;
	if (n <= VG_SLOT_CLOCKS) {
		for (unsigned int i = 1; i < n; i++)
			e->slot_exp[i - 1] = e->slot_exp[i];
		e->slot_exp[n - 1] = 0;
	} else {
		/* [a b G..]: b moves up, one member of the group becomes
		 * exact with the group's clock. */
		for (unsigned int i = 1; i < VG_SLOT_CLOCKS; i++)
			e->slot_exp[i - 1] = e->slot_exp[i];
	}
	e->inflight--;
}

/* An attempt ends: its slot goes back if it is still live (see
 * VG_SLOT_ANY in table.h).  Called after vg_entry_refresh(). */
static void give_back(struct vg_entry *e, vg_time_t slot, vg_time_t now)
{
	if (slot == VG_SLOT_NONE)
		return;
	if (slot == VG_SLOT_ANY || now < slot)
		slot_pop(e);
}

static void slots_clear(struct vg_entry *e)
{
	e->inflight = 0;
	memset(e->slot_exp, 0, sizeof(e->slot_exp));
}

/* Each slot on its own clock: the oldest go first. */
static void slots_expire(struct vg_entry *e, vg_time_t now)
{
	while (e->inflight && now >= e->slot_exp[0]) {
		if (e->inflight > VG_SLOT_CLOCKS &&
		    now >= e->slot_exp[VG_SLOT_CLOCKS - 1]) {
			slots_clear(e);
			return;
		}
		slot_pop(e);
	}
	if (e->inflight == 0)
		slots_clear(e);
}

/* A wall of clocks set from the entry's own slots, for inheritance. */
static void slots_copy(struct vg_entry *dst, const struct vg_entry *src)
{
	unsigned int n = src->inflight;

	for (unsigned int i = 0; i < n; i++)
		slot_push(dst, src->slot_exp[i < VG_SLOT_CLOCKS ? i :
					     VG_SLOT_CLOCKS - 1]);
}

/* Counting windows: a prefix entry counts banned sources for bantime,
 * everything else failures for findtime. */
static uint64_t window_of(const struct vg_entry *e, const struct vg_config *c)
{
	return e->kind == VG_KIND_PREFIX ? c->bantime : c->findtime;
}

/* Forget what has run out: slots whose clock ran out, an old failure
 * window, ban history older than `history` after the last ban. */
void vg_entry_refresh(struct vg_entry *e, const struct vg_config *c,
		      vg_time_t now)
{
	slots_expire(e, now);
	/* Failures are forgotten after findtime without a failure, not
	 * findtime after the first one: a fixed window would let 2 x
	 * (maxretry - 1) guesses through around its edge, and SPEC promises
	 * at most maxretry in any findtime. */
	if (e->failures && (now < e->last_fail ||
			    now - e->last_fail >= window_of(e, c)))
		e->failures = 0;
	if (e->ban_count && e->banned_until &&
	    now >= e->banned_until &&
	    (uint64_t)(now - e->banned_until) >= c->history)
		e->ban_count = 0;
}

/* Rule 9: how much an entry holds, as a candidate to make room. */
enum keep { KEEP_NOTHING, KEEP_HINT, KEEP_ALL };

static enum keep keep_of(const struct vg_entry *e, const struct vg_config *c,
			 vg_time_t now)
{
	struct vg_entry x = *e;

	if (!valid_entry(&x))
		return KEEP_NOTHING;
	vg_entry_refresh(&x, c, now);
	if (x.inflight || vg_entry_banned(&x, now) || x.ban_count)
		return KEEP_ALL;
	if (x.kind == VG_KIND_PREFIX)
		return x.failures ? KEEP_HINT : KEEP_NOTHING;
	if (x.failures || vg_entry_trusted(&x, c, now))
		return KEEP_ALL;
	return KEEP_NOTHING;
}

/* --- buckets ---------------------------------------------------------- */

struct vg_key {
	struct vg_addr a;
	uint8_t kind;
};

static void buckets_of(const struct vg_table *t, const uint8_t bytes[16],
		       uint8_t family, uint8_t prefix, uint8_t kind,
		       uint32_t b[2])
{
	uint8_t buf[19];
	uint64_t h;

	memcpy(buf, bytes, 16);
	buf[16] = family;
	buf[17] = prefix;
	buf[18] = kind;
	h = vg_siphash(t->hdr->seed, buf, sizeof(buf));
	b[0] = (uint32_t)(h % t->nb);
	b[1] = (uint32_t)((h >> 32) % t->nb);
	if (b[1] == b[0])
		b[1] = (b[0] + 1) % t->nb;
}

static void key_buckets(const struct vg_table *t, const struct vg_key *k,
			uint32_t b[2])
{
	buckets_of(t, k->a.bytes, k->a.family, k->a.prefix, k->kind, b);
}

/* The bucket an entry sitting in bucket `here` would move to. */
static uint32_t other_bucket(const struct vg_table *t,
			     const struct vg_entry *e, uint32_t here)
{
	uint32_t b[2];

	buckets_of(t, e->key, e->family, e->prefix, e->kind, b);
	return b[0] == here ? b[1] : b[0];
}

static bool key_match(const struct vg_entry *e, const struct vg_key *k)
{
	return e->family == k->a.family && e->prefix == k->a.prefix &&
	       e->kind == k->kind &&
	       memcmp(e->key, k->a.bytes, sizeof(e->key)) == 0;
}

static struct vg_entry *lookup(struct vg_table *t, const struct vg_key *k)
{
	uint32_t b[2];

	key_buckets(t, k, b);
	for (int j = 0; j < 2; j++) {
		struct vg_entry *e = bucket(t, b[j]);

		for (uint32_t i = 0; i < VG_BUCKET; i++)
			if (key_match(&e[i], k))
				return &e[i];
	}
	return NULL;
}

struct node {
	uint32_t slot;
	int16_t parent;		/* index in the search, -1 for a root */
};

static bool on_path(const struct node *n, int16_t i, uint32_t slot)
{
	for (; i >= 0; i = n[i].parent)
		if (n[i].slot == slot)
			return true;
	return false;
}

/* Rules 8 and 9: a slot for a new key in one of its buckets b, moving
 * entries to their other bucket when that leads to room.  Room is a
 * free slot, else an entry that holds nothing, else a prefix counter
 * (a hint); found breadth first, so the shortest path wins.  NULL: the
 * VG_SEARCH entries looked at all hold something worth keeping. */
static struct vg_entry *make_room(struct vg_table *t,
				  const struct vg_config *c,
				  const uint32_t b[2], vg_time_t now)
{
	struct node n[VG_SEARCH];
	int16_t nn = 0, best = -1;
	enum keep best_keep = KEEP_ALL;

	for (int j = 0; j < 2; j++)
		for (uint32_t i = 0; i < VG_BUCKET; i++)
			n[nn++] = (struct node){ b[j] * VG_BUCKET + i, -1 };
	for (int16_t i = 0; i < nn; i++) {
		struct vg_entry *e = slot_at(t, n[i].slot);
		enum keep k = keep_of(e, c, now);
		uint32_t alt;

		if (k < best_keep) {
			best = i;
			best_keep = k;
			if (!valid_entry(e))
				break;	/* a free slot: nothing better */
		}
		if (k != KEEP_ALL || nn + VG_BUCKET > VG_SEARCH ||
		    best_keep == KEEP_NOTHING)
			continue;
		alt = other_bucket(t, e, n[i].slot / VG_BUCKET);
		for (uint32_t s = 0; s < VG_BUCKET; s++) {
			uint32_t slot = alt * VG_BUCKET + s;

			if (!on_path(n, i, slot))
				n[nn++] = (struct node){ slot, i };
		}
	}
	if (best < 0)
		return NULL;
	if (valid_entry(slot_at(t, n[best].slot))) {
		if (slot_at(t, n[best].slot)->kind == VG_KIND_PREFIX &&
		    t->hdr->prefix_entries)
			t->hdr->prefix_entries--;
		atomic_fetch_add(&t->hdr->evictions_total, 1);
	} else {
		t->hdr->used++;
	}
	/* Move each entry on the path one step towards the room found,
	 * the room first: a holder that dies here leaves an entry twice,
	 * never loses one (window handles write each step through). */
	for (int16_t i = best; n[i].parent >= 0; i = n[i].parent) {
		struct vg_entry *dst = slot_at(t, n[i].slot);

		*dst = *slot_at(t, n[n[i].parent].slot);
		win_sync(t, n[i].slot);
	}
	for (; n[best].parent >= 0; best = n[best].parent)
		;
	return slot_at(t, n[best].slot);
}

static struct vg_entry *insert(struct vg_table *t, const struct vg_config *c,
			       const struct vg_key *k, vg_time_t now)
{
	uint32_t b[2];
	struct vg_entry *e;

	key_buckets(t, k, b);
	e = make_room(t, c, b, now);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, k->a.bytes, sizeof(e->key));
	e->family = k->a.family;
	e->prefix = k->a.prefix;
	e->kind = k->kind;
	e->last_seen = now;
	if (k->kind == VG_KIND_PREFIX)
		t->hdr->prefix_entries++;
	return e;
}

static void drop_entry(struct vg_table *t, struct vg_entry *e)
{
	if (e->kind == VG_KIND_PREFIX && t->hdr->prefix_entries)
		t->hdr->prefix_entries--;
	if (t->hdr->used)
		t->hdr->used--;
	memset(e, 0, sizeof(*e));
}

/* --- levels: source, overflow entry, overflow bucket (rule 10) -------- */

static struct vg_key source_key(const struct vg_addr *a)
{
	return (struct vg_key){ *a, VG_KIND_SOURCE };
}

/* The /24 or /48 a source is counted in, as `kind`.  false for a host
 * name (no prefix): its next level is the overflow bucket. */
static bool prefix_key(const struct vg_addr *a, unsigned int bits,
		       uint8_t kind, struct vg_key *out)
{
	if (a->family != VG_FAMILY_V4 && a->family != VG_FAMILY_V6)
		return false;
	out->a = *a;
	if (out->a.prefix > bits)
		vg_addr_mask(&out->a, bits);
	out->kind = kind;
	return true;
}

static unsigned int agg_bits(const struct vg_addr *a)
{
	return a->family == VG_FAMILY_V4 ? 24 : 48;
}

/* A new entry starts with what the levels below it hold for the source,
 * summed: failures and slots spent there still count, a ban there still
 * holds.  (Not the ban count: escalation is the source's own.) */
static void inherit(struct vg_entry *e, struct vg_entry *from,
		    const struct vg_config *c, vg_time_t now)
{
	uint32_t f;

	if (!from)
		return;
	vg_entry_refresh(from, c, now);
	f = (uint32_t)e->failures + from->failures;
	e->failures = (uint16_t)(f > VG_COUNT_MAX ? VG_COUNT_MAX : f);
	if (from->last_fail > e->last_fail)
		e->last_fail = from->last_fail;
	slots_copy(e, from);
	if (vg_entry_banned(from, now) &&
	    from->banned_until > e->banned_until) {
		/* A ban of strangers sharing a level: it still refuses
		 * this source's passwords, but, as on the level itself,
		 * not its key logins (vg_table_check). */
		e->banned_at = from->banned_at;
		e->banned_until = from->banned_until;
		e->flags |= VG_ENTRY_INHERITED;
	}
}

static void note_overflow(struct vg_table *t)
{
	if (t->hdr->fill_at_overflow == 0)
		t->hdr->fill_at_overflow = t->hdr->used ? t->hdr->used : 1;
	atomic_fetch_add(&t->hdr->overflow_total, 1);
}

/* The entry a source is counted in.  With `create`, a source without an
 * entry gets one when there is room, else its overflow entry (created
 * when there is room), else the overflow bucket; without, the level it
 * was counted in.  Never NULL. */
static struct vg_entry *route(struct vg_table *t, const struct vg_config *c,
			      const struct vg_addr *a, vg_time_t now,
			      bool create)
{
	struct vg_key sk = source_key(a), ok;
	struct vg_entry *e = lookup(t, &sk), *o = NULL;
	bool has_ok = prefix_key(a, agg_bits(a), VG_KIND_OVERFLOW, &ok);

	if (e)
		return e;
	/* Overflow entries are only made after note_overflow() below, so
	 * while the table never overflowed there is none to look for (two
	 * bucket reads saved per new source in a window handle). */
	if (has_ok && t->hdr->fill_at_overflow != 0)
		o = lookup(t, &ok);
	if (create) {
		e = insert(t, c, &sk, now);
		if (e) {
			/* The insert may have moved o to its other bucket. */
			if (o)
				o = lookup(t, &ok);
			inherit(e, o, c, now);
			inherit(e, &t->hdr->overflow, c, now);
			return e;
		}
	}
	if (create)
		note_overflow(t);
	if (o)
		return o;
	if (create && has_ok) {
		o = insert(t, c, &ok, now);
		if (o) {
			inherit(o, &t->hdr->overflow, c, now);
			return o;
		}
	}
	return &t->hdr->overflow;
}

/* The prefix ban covering a source, if any (aggregate.v6 / .v4). */
static struct vg_entry *prefix_ban(struct vg_table *t,
				   const struct vg_addr *a, vg_time_t now)
{
	struct vg_key pk;
	struct vg_entry *p;

	if (t->hdr->prefix_entries == 0 ||
	    !prefix_key(a, agg_bits(a), VG_KIND_PREFIX, &pk) ||
	    pk.a.prefix == a->prefix)
		return NULL;
	p = lookup(t, &pk);
	return p && vg_entry_banned(p, now) ? p : NULL;
}

static void result(struct vg_result *r, const struct vg_entry *e,
		   const struct vg_config *c, vg_time_t now,
		   enum vg_verdict v)
{
	if (!r)
		return;
	memset(r, 0, sizeof(*r));
	r->verdict = v;
	if (!e)
		return;
	r->kind = e->kind;
	vg_entry_addr(e, &r->subject);
	r->failures = e->failures;
	r->ban_count = e->ban_count;
	r->banned_until = e->banned_until;
	r->trusted = vg_entry_trusted(e, c, now);
}

/* --- waking the helper -------------------------------------------------- */

static void notify(struct vg_table *t)
{
	atomic_fetch_add(&t->hdr->ban_seq, 1);
	/* Wakes nobody when no helper waits: one cheap system call, and
	 * only when a ban starts or ends. */
	syscall(SYS_futex, &t->hdr->ban_seq, FUTEX_WAKE, INT_MAX, NULL,
		NULL, 0);
}

uint32_t vg_table_seq(const struct vg_table *t)
{
	return atomic_load(&t->hdr->ban_seq);
}

int vg_table_wait(struct vg_table *t, uint32_t seen, int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000,
			       (long)(timeout_ms % 1000) * 1000000L };

	if (atomic_load(&t->hdr->ban_seq) != seen)
		return 1;
	if (syscall(SYS_futex, &t->hdr->ban_seq, FUTEX_WAIT, seen, &ts,
		    NULL, 0) == 0)
		return atomic_load(&t->hdr->ban_seq) != seen;
	if (errno == EAGAIN)
		return 1;	/* it changed before we slept */
	if (errno == ETIMEDOUT)
		return 0;
	return -errno;		/* EINTR: a signal, the caller looks */
}

/* --- operations ------------------------------------------------------- */

int vg_table_preauth(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, vg_time_t now,
		     struct vg_result *r)
{
	enum vg_verdict v = VG_ALLOW;
	struct vg_entry *e, *p;
	int ret = lock(t);

	if (ret)
		return ret;
	e = route(t, c, key, now, true);
	vg_entry_refresh(e, c, now);
	e->last_seen = now;
	p = prefix_ban(t, key, now);
	if (vg_entry_banned(e, now)) {
		v = VG_DENY_BANNED;
	} else if (p) {
		v = VG_DENY_BANNED;
		e = p;
	} else if ((uint32_t)e->failures + e->inflight >= c->maxretry) {
		v = VG_DENY_INFLIGHT;
	} else {
		slot_push(e, add_time(now, c->inflight_timeout));
	}
	if (v != VG_ALLOW)
		atomic_fetch_add(&t->hdr->denied_total, 1);
	result(r, e, c, now, v);
	if (r && v == VG_ALLOW)
		r->slot = add_time(now, c->inflight_timeout);
	return unlock(t);
}

static uint64_t start_ban(struct vg_table *t, struct vg_entry *e,
			  const struct vg_config *c, vg_time_t now)
{
	bool trust = vg_entry_trusted(e, c, now);
	bool own = e->kind == VG_KIND_SOURCE || e->kind == VG_KIND_PREFIX;
	uint64_t len;

	/* A trusted source (the admin behind a shared NAT, or mistyping)
	 * is banned but never escalated nor pushed towards nftables.  The
	 * overflow levels stand for strangers sharing them: never
	 * escalated either, so a flood cannot lengthen their ban. */
	if (own && !trust && e->ban_count < UINT32_MAX)
		e->ban_count++;
	len = vg_ban_length(c, own && !trust ? e->ban_count : 1);
	e->banned_at = now;
	e->banned_until = add_time(now, len);
	e->flags &= (uint8_t)~(VG_ENTRY_MANUAL | VG_ENTRY_INHERITED);
	e->failures = 0;
	slots_clear(e);
	atomic_fetch_add(&t->hdr->bans_total, 1);
	return len;
}

static bool in_prefix(const struct vg_entry *e, const struct vg_addr *net)
{
	struct vg_addr a;

	if (e->kind != VG_KIND_SOURCE)
		return false;
	vg_entry_addr(e, &a);
	return vg_cidr_contains(net, &a);
}

/* aggregate.v6 / .v4: one more banned source inside its /48 (/24).  At
 * the threshold the prefix is banned as one entry, and the sources the
 * prefix ban now covers give their entries back.  That scan is the one
 * O(table.size) step, once per prefix ban, which takes threshold x
 * maxretry failed passwords to cause.  A window handle writes back
 * what it has and maps the entries for it (rule 12).  0, or the error
 * of that write-back. */
static int count_prefix(struct vg_table *t, const struct vg_config *c,
			const struct vg_entry *src, vg_time_t now,
			struct vg_result *r)
{
	unsigned int need = src->family == VG_FAMILY_V4 ? c->aggregate_v4 :
			    c->aggregate_v6;
	struct vg_addr a;
	struct vg_key pk;
	struct vg_entry *p;
	uint32_t members;
	vg_time_t until;
	int ret = 0;

	vg_entry_addr(src, &a);
	if (need == 0 || src->kind != VG_KIND_SOURCE ||
	    !prefix_key(&a, agg_bits(&a), VG_KIND_PREFIX, &pk) ||
	    pk.a.prefix >= a.prefix)
		return 0;
	p = lookup(t, &pk);
	if (!p)
		p = insert(t, c, &pk, now);
	if (!p)
		return 0;	/* a hint only: no room, no aggregation */
	vg_entry_refresh(p, c, now);
	p->last_seen = now;
	if (vg_entry_banned(p, now))
		return 0;
	if (p->failures < VG_COUNT_MAX)
		p->failures++;
	p->last_fail = now;
	if (p->failures < need)
		return 0;
	members = p->failures;
	start_ban(t, p, c, now);
	until = p->banned_until;
	if (r) {
		r->prefix_banned = pk.a;
		r->prefix_members = members;
	}
	if (!t->ent) {
		/* p and every window pointer die here. */
		ret = win_flush(t);
		if (ret || map_entries(t) != 0)
			return ret;	/* the ban stands, the clean-up
					 * (room only) waits for the next */
	}
	for (uint32_t i = 0; i < t->nb * VG_BUCKET; i++) {
		struct vg_entry *e = &t->ent[i];

		if (!valid_entry(e) || !in_prefix(e, &pk.a))
			continue;
		vg_entry_refresh(e, c, now);
		if (!e->inflight && !vg_entry_trusted(e, c, now) &&
		    e->banned_until <= until)
			drop_entry(t, e);
	}
	return 0;
}

int vg_table_fail(struct vg_table *t, const struct vg_config *c,
		  const struct vg_addr *key, unsigned int weight,
		  vg_time_t now, struct vg_result *r)
{
	return vg_table_fail_slot(t, c, key, weight, VG_SLOT_ANY, now, r);
}

int vg_table_fail_slot(struct vg_table *t, const struct vg_config *c,
		       const struct vg_addr *key, unsigned int weight,
		       vg_time_t slot, vg_time_t now, struct vg_result *r)
{
	enum vg_verdict v = VG_ALLOW;
	struct vg_entry *e, saved;
	uint32_t f = 0;
	uint64_t len = 0;
	bool prefix = false;
	int ret = lock(t);

	if (ret)
		return ret;
	e = route(t, c, key, now, true);
	vg_entry_refresh(e, c, now);
	e->last_seen = now;
	give_back(e, slot, now);
	if (e->fail_total < UINT32_MAX)
		e->fail_total++;
	atomic_fetch_add(&t->hdr->failures_total, 1);
	if (vg_entry_banned(e, now)) {
		v = VG_DENY_BANNED;	/* banned while its password ran */
		goto out;
	}
	f = e->failures + weight;
	e->failures = (uint16_t)(f > VG_COUNT_MAX ? VG_COUNT_MAX : f);
	e->last_fail = now;
	if (e->failures >= c->maxretry) {
		len = start_ban(t, e, c, now);
		v = VG_BANNED_NOW;
		prefix = e->kind == VG_KIND_SOURCE &&
			 !vg_entry_trusted(e, c, now);
	}
out:
	result(r, e, c, now, v);
	if (r && v == VG_BANNED_NOW) {
		r->failures = f;	/* what triggered it, for the log */
		r->ban_length = len;
	}
	if (prefix) {
		/* Last: it may drop e itself. */
		saved = *e;
		ret = count_prefix(t, c, &saved, now, r);
	}
	f = (uint32_t)unlock(t);	/* reused: the write-back's error */
	if (f != 0 && ret == 0)
		ret = (int)f;
	if (v == VG_BANNED_NOW && ret == 0)
		notify(t);
	return ret;
}

int vg_table_success(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, bool release_slot,
		     vg_time_t now)
{
	return vg_table_success_slot(t, c, key, release_slot ? VG_SLOT_ANY :
				     VG_SLOT_NONE, now);
}

int vg_table_success_slot(struct vg_table *t, const struct vg_config *c,
			  const struct vg_addr *key, vg_time_t slot,
			  vg_time_t now)
{
	struct vg_key sk = source_key(key);
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = lookup(t, &sk);
	if (!e) {
		/* Made like a counting entry (it inherits), so a login
		 * never moves a source to a fresh budget. */
		e = route(t, c, key, now, true);
		if (e->kind != VG_KIND_SOURCE) {
			/* No room: the slot goes back where it was
			 * taken; trust cannot be kept. */
			vg_entry_refresh(e, c, now);
			give_back(e, slot, now);
			goto out;
		}
	}
	vg_entry_refresh(e, c, now);
	give_back(e, slot, now);
	e->last_success = now;
	e->last_seen = now;
out:
	return unlock(t);
}

int vg_table_release(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, vg_time_t now)
{
	return vg_table_release_slot(t, c, key, VG_SLOT_ANY, now);
}

int vg_table_release_slot(struct vg_table *t, const struct vg_config *c,
			  const struct vg_addr *key, vg_time_t slot,
			  vg_time_t now)
{
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = route(t, c, key, now, false);
	vg_entry_refresh(e, c, now);
	give_back(e, slot, now);
	return unlock(t);
}

int vg_table_check(struct vg_table *t, const struct vg_config *c,
		   const struct vg_addr *key, vg_time_t now,
		   struct vg_result *r)
{
	struct vg_key sk = source_key(key);
	enum vg_verdict v = VG_ALLOW;
	struct vg_entry *e, *p;
	bool trusted = false;
	int ret = lock(t);

	if (ret)
		return ret;
	e = lookup(t, &sk);
	if (e) {
		vg_entry_refresh(e, c, now);
		trusted = vg_entry_trusted(e, c, now);
		if (vg_entry_banned(e, now) &&
		    !(e->flags & VG_ENTRY_INHERITED))
			v = VG_DENY_BANNED;
	}
	p = v == VG_ALLOW ? prefix_ban(t, key, now) : NULL;
	if (p)
		v = VG_DENY_BANNED;
	if (v != VG_ALLOW && !trusted)
		atomic_fetch_add(&t->hdr->denied_total, 1);
	result(r, p ? p : e, c, now, v);
	if (r)
		r->trusted = trusted;
	return unlock(t);
}

/* User counters: the key is a keyed hash of the name, so the table
 * never holds user names. */
static struct vg_key user_key(const struct vg_table *t, const char *user)
{
	struct vg_key k = { .kind = VG_KIND_USER };
	uint64_t seed2[2] = { t->hdr->seed[1], ~t->hdr->seed[0] };
	uint64_t h[2];
	size_t len = strnlen(user, 256);

	h[0] = vg_siphash(t->hdr->seed, user, len);
	h[1] = vg_siphash(seed2, user, len);
	memcpy(k.a.bytes, h, sizeof(k.a.bytes));
	k.a.family = VG_FAMILY_NAME;
	k.a.prefix = 0;
	return k;
}

static struct vg_entry *user_entry(struct vg_table *t,
				   const struct vg_config *c,
				   const char *user, vg_time_t now,
				   bool create)
{
	struct vg_key k = user_key(t, user);
	struct vg_entry *e = lookup(t, &k);

	if (!e && create)
		e = insert(t, c, &k, now);
	if (!e && create)
		e = &t->hdr->user_overflow;	/* all users share it */
	if (e)
		vg_entry_refresh(e, c, now);
	return e;
}

int vg_table_user_over(struct vg_table *t, const struct vg_config *c,
		       const char *user, vg_time_t now)
{
	struct vg_entry *e;
	int ret, over = 0;

	if (c->totp_maxfail == 0)
		return 0;
	ret = lock(t);
	if (ret)
		return ret;
	e = user_entry(t, c, user, now, false);
	if (e && e->failures >= c->totp_maxfail)
		over = 1;
	vg_entry_refresh(&t->hdr->user_overflow, c, now);
	if (!e && t->hdr->user_overflow.failures >= c->totp_maxfail)
		over = 1;
	ret = unlock(t);
	return ret ? ret : over;
}

int vg_table_user_fail(struct vg_table *t, const struct vg_config *c,
		       const char *user, vg_time_t now, uint32_t *count)
{
	struct vg_entry *e;
	int ret;

	if (c->totp_maxfail == 0)
		return 0;
	ret = lock(t);
	if (ret)
		return ret;
	e = user_entry(t, c, user, now, true);
	if (e->failures < VG_COUNT_MAX)
		e->failures++;
	e->last_fail = now;
	e->last_seen = now;
	if (count)
		*count = e->failures;
	return unlock(t);
}

int vg_table_ban(struct vg_table *t, const struct vg_config *c,
		 const struct vg_addr *key, uint64_t length, vg_time_t now)
{
	struct vg_key sk = source_key(key);
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = lookup(t, &sk);
	if (!e)
		e = insert(t, c, &sk, now);
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
	e->flags &= (uint8_t)~VG_ENTRY_INHERITED;
	e->failures = 0;
	slots_clear(e);
	e->last_seen = now;
	atomic_fetch_add(&t->hdr->bans_total, 1);
out:
	if (unlock(t) != 0 && ret == 0)
		ret = -EIO;
	if (ret == 0)
		notify(t);
	return ret;
}

static void lift(struct vg_entry *e)
{
	e->banned_until = 0;
	e->failures = 0;
	slots_clear(e);
	e->flags &= (uint8_t)~(VG_ENTRY_MANUAL | VG_ENTRY_DROPPED |
			       VG_ENTRY_INHERITED);
}

/* A source's own entry, or the prefix entry with that key (unban of a
 * /48 that aggregate.v6 banned). */
static struct vg_entry *lookup_any(struct vg_table *t,
				   const struct vg_addr *key)
{
	struct vg_key k = source_key(key);
	struct vg_entry *e = lookup(t, &k);

	if (!e) {
		k.kind = VG_KIND_PREFIX;
		e = lookup(t, &k);
	}
	return e;
}

int vg_table_unban(struct vg_table *t, const struct vg_addr *key)
{
	struct vg_entry *e;
	int ret = lock(t);

	if (ret)
		return ret;
	e = lookup_any(t, key);
	if (e)
		lift(e);
	else
		ret = -ENOENT;
	if (unlock(t) != 0 && ret == 0)
		ret = -EIO;
	if (ret == 0)
		notify(t);
	return ret;
}

int vg_table_unban_all(struct vg_table *t)
{
	int ret = map_entries(t);

	if (ret == 0)
		ret = lock(t);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < t->nb * VG_BUCKET; i++)
		if (valid_entry(&t->ent[i]))
			lift(&t->ent[i]);
	lift(&t->hdr->overflow);
	lift(&t->hdr->user_overflow);
	unlock(t);
	notify(t);
	return 0;
}

int vg_table_restore(struct vg_table *t, const struct vg_entry *saved)
{
	struct vg_key k;
	struct vg_entry *e;
	int ret;

	if (saved->kind != VG_KIND_SOURCE && saved->kind != VG_KIND_PREFIX)
		return -EINVAL;
	ret = lock(t);
	if (ret)
		return ret;
	vg_entry_addr(saved, &k.a);
	k.kind = saved->kind;
	e = lookup(t, &k);
	if (!e) {
		/* Restoring needs no config beyond what keep_of() reads:
		 * ranks are taken with the defaults. */
		struct vg_config d;

		vg_config_defaults(&d);
		e = insert(t, &d, &k, saved->last_seen);
	}
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
	if (unlock(t) != 0 && ret == 0)
		ret = -EIO;
	return ret;
}

/* Lock-free: scan both buckets on a copy of each entry. */
static int lookup_copy(struct vg_table *t, const struct vg_key *k,
		       struct vg_entry *out)
{
	uint32_t b[2];

	key_buckets(t, k, b);
	for (int j = 0; j < 2; j++)
		for (uint32_t i = 0; i < VG_BUCKET; i++) {
			struct vg_entry e = t->ent[b[j] * VG_BUCKET + i];

			if (valid_entry(&e) && key_match(&e, k)) {
				*out = e;
				return 0;
			}
		}
	return -ENOENT;
}

int vg_table_lookup(struct vg_table *t, const struct vg_addr *key,
		    struct vg_entry *out)
{
	struct vg_key k = source_key(key);
	int ret = map_entries(t);

	if (ret)
		return ret;

	if (lookup_copy(t, &k, out) == 0)
		return 0;
	k.kind = VG_KIND_PREFIX;
	return lookup_copy(t, &k, out);
}

long vg_table_snapshot(struct vg_table *t, struct vg_entry *out, size_t max)
{
	size_t k = 0;
	int ret = map_entries(t);

	if (ret)
		return ret;

	for (uint32_t i = 0; i < t->nb * VG_BUCKET && k < max; i++) {
		out[k] = t->ent[i];
		/* A prefix entry that never banned is only a counter of
		 * banned sources, not an address anyone acts on. */
		if (valid_entry(&out[k]) &&
		    (out[k].kind == VG_KIND_SOURCE ||
		     (out[k].kind == VG_KIND_PREFIX &&
		      (out[k].ban_count || out[k].banned_until))))
			k++;
	}
	return (long)k;
}

void vg_table_stats(struct vg_table *t, const struct vg_config *c,
		    vg_time_t now, struct vg_table_stats *s)
{
	struct vg_entry o = t->hdr->overflow;

	memset(s, 0, sizeof(*s));
	s->failures_total = atomic_load(&t->hdr->failures_total);
	s->bans_total = atomic_load(&t->hdr->bans_total);
	s->denied_total = atomic_load(&t->hdr->denied_total);
	s->evictions_total = atomic_load(&t->hdr->evictions_total);
	s->overflow_total = atomic_load(&t->hdr->overflow_total);
	s->fill_at_overflow = t->hdr->fill_at_overflow;
	s->overflow_banned = vg_entry_banned(&o, now);
	s->size = t->n;
	if (map_entries(t) != 0)
		return;		/* the header's figures only */
	for (uint32_t i = 0; i < t->nb * VG_BUCKET; i++) {
		struct vg_entry e = t->ent[i];

		if (!valid_entry(&e))
			continue;
		s->used++;
		if (e.kind != VG_KIND_SOURCE && e.kind != VG_KIND_PREFIX)
			continue;
		if (vg_entry_banned(&e, now)) {
			s->banned++;
			if (e.kind == VG_KIND_PREFIX)
				s->prefix_bans++;
		} else if (e.kind == VG_KIND_SOURCE && e.failures &&
			   now >= e.last_fail &&
			   now - e.last_fail < c->findtime) {
			s->failing++;
		}
	}
}

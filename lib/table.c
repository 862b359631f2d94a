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
 *     wins) or rename()d (rebuild, resize) into place.  Readers never
 *     see a half initialised header, mutex or size.
 *  3. Start with a header carrying magic, version, header size, entry
 *     size, entry count, mutex size and file size.  Any mismatch means
 *     the file is foreign or corrupt: rebuild it with a log line (or
 *     refuse, read-only), never trust it.  An entry count other than
 *     table.size is no mismatch: the table is used at its own size until
 *     the helper resizes it (vg_table_resize()).  The size is checked before
 *     mmap(), because touching a mapping past the end of a shorter file
 *     is SIGBUS, and a SIGBUS kills the sshd monitor.
 *  4. Fixed-size 64-byte entries with reserved bytes; every field bounded
 *     (saturating counters, clamped times) so no value read back can
 *     overflow arithmetic or index anything.  Entries with an unknown
 *     family are treated as free.
 *  5. One process-shared robust mutex serialises writers.  A holder that
 *     dies leaves it EOWNERDEAD; the next locker marks it consistent and
 *     carries on (at most the dead process's own update is lost).  Locks
 *     are taken with a deadline: sshd must never hang on us.  A resize
 *     marks the old file retired under its lock once the new one is in
 *     place; whoever locks it after that reopens the path and locks the
 *     new file, so no count lands in a file nobody reads.
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

#include "log.h"
#include "table.h"
#include "table_internal.h"

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
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		return -EINVAL;		/* no tables in / */
	*slash = '\0';
	if (fstatat(AT_FDCWD, dir, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT || !create)
			return -errno;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
		if (fstatat(AT_FDCWD, dir, &st, AT_SYMLINK_NOFOLLOW) != 0)
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

int table_init_mutex(pthread_mutex_t *m)
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

/* Rule 2: a complete, empty table under a temporary name beside path
 * (written to tmp), not yet published; on failure nothing is left. */
static int build_unpublished(const char *path, uint32_t size, char *tmp,
			     size_t tmplen)
{
	struct vg_table_hdr *h = NULL;
	uint64_t len = file_size_for(size);
	int fd = -1, ret;

	if (snprintf(tmp, tmplen, "%s.new.XXXXXX", path) >= (int)tmplen)
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
	ret = table_init_mutex(&h->lock);
	if (ret)
		goto out;
	atomic_store_explicit(&h->magic, VG_TABLE_MAGIC, memory_order_release);
out:
	if (h)
		munmap(h, len);
	if (fd >= 0)
		close(fd);
	if (ret != 0)
		unlinkat(AT_FDCWD, tmp, 0);
	return ret;
}

/* Publish with link() (replace = false: the first creator wins, EEXIST
 * tells the others to open the winner's) or rename() (replace = true). */
static int publish(const char *tmp, const char *path, bool replace)
{
	int ret;

	if (replace)
		ret = renameat(AT_FDCWD, tmp, AT_FDCWD, path) == 0 ? 0 : -errno;
	else
		ret = link(tmp, path) == 0 ? 0 : -errno;
	if (ret != 0 || !replace)
		unlinkat(AT_FDCWD, tmp, 0);
	return ret;
}

static int build(const char *path, uint32_t size, bool replace)
{
	char tmp[PATH_MAX];
	int ret = build_unpublished(path, size, tmp, sizeof(tmp));

	return ret ? ret : publish(tmp, path, replace);
}

/* A window handle maps the header page straight away (fstat said it is
 * there: rule 3) and checks a copy of it, one system call less than
 * pread() + mmap() (each is microseconds in a VM, per connection).  It
 * keeps the fd for its reads and writes. */
static int open_window(struct vg_table *t, int fd, bool ro,
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
	ret = check_hdr(&h, 0, st);
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
static int try_open(struct vg_table *t, bool ro, bool full)
{
	struct hdr_id h;	/* the file's first bytes, as they are */
	struct stat st;
	int fd, ret;

	fd = openat(AT_FDCWD, t->path, (ro ? O_RDONLY : O_RDWR) | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = check_fd(fd, &st, t->euid);
	if (ret)
		goto out;
	if (!full && (uint64_t)st.st_size >= VG_HDR_SIZE)
		return open_window(t, fd, ro, &st);
	if ((uint64_t)st.st_size < sizeof(h) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		ret = -EBADMSG;
		goto out;
	}
	ret = check_hdr(&h, 0, &st);
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
	snprintf(t->path, sizeof(t->path), "%s", path); /* length checked */
	return t;
}

static int open_rw(struct vg_table **tp, const char *path, uint32_t size,
		   bool create, bool full)
{
	uid_t euid = geteuid();	/* once: a system call is microseconds */
	struct vg_table *t;
	bool opened = false;
	int ret, tries;

	*tp = NULL;
	ret = check_dir(path, create, euid);
	if (ret)
		return ret;
	t = new_handle(path, euid);
	if (!t)
		return -ENOMEM;
	for (tries = 0; tries < 3; tries++) {
		/* A sound table of another size is used as it is: a
		 * table.size the module and the admin tool disagree on
		 * must not wipe every record (vg_table_resize() is the
		 * helper's, and carries them over). */
		ret = try_open(t, false, full);
		if (ret == 0) {
			opened = true;
			break;
		}
		if (!create || size == 0)
			break;
		if (ret == -ENOENT) {
			ret = build(path, size, false);
			if (ret == -EEXIST)
				continue;	/* lost the race: open theirs */
		} else if (ret == -EBADMSG || ret == -EACCES ||
			   ret == -ELOOP) {
			vg_log(LOG_WARNING, "table %s is %s: rebuilding it",
			       path, ret == -EACCES ? "not root-only" :
			       ret == -ELOOP ? "a symbolic link" :
			       "corrupt or of another version");
			ret = build(path, size, true);
		}
		if (ret)
			break;
	}
	/* The last try built a table and no open followed: something keeps
	 * breaking the file faster than we rebuild it.  A handle that was
	 * never opened must not be returned (its lock is a NULL pointer). */
	if (ret == 0 && !opened)
		ret = -EAGAIN;
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
	ret = try_open(t, true, true);
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

	if (fstatat(AT_FDCWD, t->path, &st, 0) != 0 || st.st_dev != t->dev ||
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

/* The mappings and the fd of t (not the handle). */
static void release_file(struct vg_table *t)
{
	if (t->ent_len)
		munmap(t->ent, t->ent_len);
	munmap(t->hdr, t->map_len);
	if (t->fd >= 0)
		close(t->fd);
}

void vg_table_close(struct vg_table *t)
{
	if (!t)
		return;
	release_file(t);
	for (uint32_t i = 0; i + 1 < VG_WIN_CHUNKS; i++)
		free(t->win.more[i]);
	free(t);
}

/* Rule 12: map every entry of a window handle, for a whole-table scan.
 * The size was checked at open and by vg_table_stale(); a window with
 * reads pending must be written back first (win_flush). */
int table_map_entries(struct vg_table *t)
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


/* Which entries a smaller table takes first.  make_room() evicts no
 * entry that holds anything (rule 9), so what is copied first stays:
 * bans and live slots, then ban history and trust, then counts. */
static int carry_rank(const struct vg_entry *e, const struct vg_config *c,
		      vg_time_t now)
{
	struct vg_entry x = *e;

	vg_entry_refresh(&x, c, now);
	if (vg_entry_banned(&x, now) || x.inflight)
		return 0;
	if (x.ban_count || vg_entry_trusted(&x, c, now))
		return 1;
	return 2;
}

/* Copy t's hash key, counters and overflow levels, and its entries,
 * into nt (locked).  Returns the entries kept; *lost_bans: the active
 * bans a smaller nt had no room for. */
static uint32_t carry_over(struct vg_table *nt, const struct vg_table *t,
			   const struct vg_config *c, vg_time_t now,
			   uint32_t *lost_bans)
{
	struct vg_table_hdr *d = nt->hdr;
	const struct vg_table_hdr *o = t->hdr;
	uint32_t kept = 0;

	/* The same hash key: user counters (totp.maxfail) are keyed by a
	 * hash of the name under it, so a new key would lose them. */
	memcpy(d->seed, o->seed, sizeof(d->seed));
	atomic_store(&d->failures_total, atomic_load(&o->failures_total));
	atomic_store(&d->bans_total, atomic_load(&o->bans_total));
	atomic_store(&d->denied_total, atomic_load(&o->denied_total));
	atomic_store(&d->evictions_total, atomic_load(&o->evictions_total));
	atomic_store(&d->overflow_total, atomic_load(&o->overflow_total));
	d->overflow = o->overflow;
	d->user_overflow = o->user_overflow;
	/* Overflow entries are only looked up once the table has
	 * overflowed (table_route()): the carried ones must stay found. */
	d->fill_at_overflow = o->fill_at_overflow;
	atomic_store(&d->restored, atomic_load(&o->restored));
	for (int rank = 0; rank <= 2; rank++) {
		for (uint32_t i = 0; i < t->nb * VG_BUCKET; i++) {
			const struct vg_entry *e = &t->ent[i];
			struct vg_entry *ne;
			struct vg_key k;

			if (!entry_valid(e) || carry_rank(e, c, now) != rank)
				continue;
			vg_entry_addr(e, &k.a);
			k.kind = e->kind;
			ne = table_lookup(nt, &k);
			if (!ne)
				ne = table_insert(nt, c, &k, now);
			if (!ne) {		/* a smaller table is full */
				if (rank == 0 && vg_entry_banned(e, now))
					(*lost_bans)++;
				continue;
			}
			*ne = *e;
			kept++;
		}
	}
	return kept;
}

int vg_table_resize(struct vg_table *t, uint32_t size,
		    const struct vg_config *c, uint32_t *kept)
{
	char tmp[PATH_MAX];
	struct vg_table *nt = NULL;
	uint32_t lost = 0;
	int ret;

	*kept = 0;
	if (!t->ent || t->ro || size < VG_TABLE_SIZE_MIN ||
	    size > VG_TABLE_SIZE_MAX)
		return -EINVAL;
	/* Held until the new file is in place: nothing changes the old
	 * one while it is copied. */
	ret = table_lock(t);
	if (ret)
		return ret;
	ret = build_unpublished(t->path, size, tmp, sizeof(tmp));
	if (ret)
		goto out;
	ret = vg_table_open(&nt, tmp, size, false);
	if (ret == 0)
		ret = table_lock(nt);
	if (ret) {
		vg_table_close(nt);
		unlinkat(AT_FDCWD, tmp, 0);
		goto out;
	}
	*kept = carry_over(nt, t, c, vg_now(), &lost);
	table_unlock(nt);
	vg_table_close(nt);
	if (lost) {
		/* A resize never lifts a ban: the admin asked for a size,
		 * not for bans to end.  The old table stays. */
		unlinkat(AT_FDCWD, tmp, 0);
		ret = -EOVERFLOW;
		goto out;
	}
	ret = publish(tmp, t->path, true);
	if (ret == 0)
		atomic_store(&t->hdr->retired, 1);
out:
	table_unlock(t);
	return ret;
}

uint32_t vg_table_size(const struct vg_table *t)
{
	return t->n;
}

/* t's file was retired by a resize: open what is at the path now, in
 * place and of the same kind (full, window, window with its entries
 * mapped), so that the caller's operation lands in the live table. */
static int table_reopen(struct vg_table *t)
{
	struct vg_table *nt = new_handle(t->path, t->euid);
	bool full = t->fd < 0;
	int ret;

	if (!nt)
		return -ENOMEM;
	ret = try_open(nt, false, full);
	if (ret) {
		free(nt);
		return ret;
	}
	if (!full && t->ent) {
		ret = table_map_entries(nt);
		if (ret) {
			vg_table_close(nt);
			return ret;
		}
	}
	release_file(t);
	/* Everything but the window, whose chunks t keeps (nt has none). */
	memcpy(t, nt, offsetof(struct vg_table, win));
	free(nt);
	return 0;
}

static int lock_once(struct vg_table *t)
{
	struct timespec ts;
	int rc;

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

/* Rule 5.  A caller that waited on the lock while vg_table_resize()
 * copied the table gets it once the copy is published: it moves to the
 * new file (twice at most: one resize follows another only by hand). */
int table_lock(struct vg_table *t)
{
	int ret;

	if (t->ro)
		return -EROFS;
	for (int tries = 0;; tries++) {
		ret = lock_once(t);
		if (ret || !atomic_load(&t->hdr->retired))
			return ret;
		pthread_mutex_unlock(&t->hdr->lock);
		if (tries == 2)
			return -ESTALE;
		ret = table_reopen(t);
		if (ret)
			return ret;
	}
}

/* A window handle writes back first: 0, or why the changes of this
 * section were not (all) written. */
int table_unlock(struct vg_table *t)
{
	int ret = t->ent ? 0 : table_win_flush(t);

	pthread_mutex_unlock(&t->hdr->lock);
	return ret;
}

/* --- waking the helper -------------------------------------------------- */

void table_notify(struct vg_table *t)
{
	atomic_fetch_add(&t->hdr->ban_seq, 1);
	/* Wakes nobody when no helper waits: one cheap system call, and
	 * only when a ban starts or ends or a source becomes trusted. */
	syscall(SYS_futex, &t->hdr->ban_seq, FUTEX_WAKE, INT_MAX, NULL,
		NULL, 0);
}

bool vg_table_restored(const struct vg_table *t)
{
	return atomic_load(&t->hdr->restored) != 0;
}

void vg_table_set_restored(struct vg_table *t)
{
	if (!t->ro)
		atomic_store(&t->hdr->restored, 1);
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


/* What the pieces of the shared table share: the file's header, the
 * handle, and the functions one piece calls in another.  Private to
 * lib/table*.c and their tests; the API is table.h.  The rules these
 * keep (1-12) are at the top of table.c.
 *
 *   table.c         open, create, rebuild, validate; lock; waking
 *   table_window.c  window handles: buckets by pread/pwrite (rule 12)
 *   table_entry.c   one entry: slot clocks, expiry, what it holds
 *   table_bucket.c  cuckoo buckets (rules 8, 9) and overflow levels (10)
 *   table_ops.c     preauth, fail, success, check, user counters, bans
 *   table_scan.c    whole-table passes: snapshot, stats, unban all, the
 *                   clean-up after a prefix ban
 */
#ifndef VG_TABLE_INTERNAL_H
#define VG_TABLE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
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
	/* Set by the helper once it has merged the state file into this
	 * file (vg_table_set_restored()): a table made by the module after
	 * a reboot, or rebuilt, has it zero however many records it got
	 * before the helper's next pass.  Was reserved, always zero. */
	_Atomic uint32_t restored;
	_Atomic uint64_t overflow_total;
	/* Bumped by every ban, and a futex: the helper sleeps on it and
	 * puts a new ban into nftables at once (vg_table_wait()).  A
	 * futex without FUTEX_PRIVATE_FLAG on a MAP_SHARED file is keyed
	 * by inode and offset, so it works across sshd's processes and
	 * their mount namespaces, with no socket to cross privsep. */
	_Atomic uint32_t ban_seq;
	/* Set (under the lock) once vg_table_resize() has renamed a new
	 * file over this one: whoever gets the lock next reopens the
	 * path instead of counting in a file nobody reads any more.  Was
	 * reserved, always zero: older tables read as not retired. */
	_Atomic uint32_t retired;
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
	uint32_t n;		/* buckets read since table_lock() */
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

/* A table key: an address (or a user name's hash) and what it counts. */
struct vg_key {
	struct vg_addr a;
	uint8_t kind;
};

/* Rule 9: how much an entry holds, as a candidate to make room. */
enum keep { KEEP_NOTHING, KEEP_HINT, KEEP_ALL };

/* --- table.c ---------------------------------------------------------- */

int table_init_mutex(pthread_mutex_t *m);
/* Rule 5.  A window handle's unlock writes back first: 0, or why the
 * changes of this section were not (all) written. */
int table_lock(struct vg_table *t);
int table_unlock(struct vg_table *t);
int table_map_entries(struct vg_table *t);
void table_notify(struct vg_table *t);

/* --- table_window.c (rule 12) ----------------------------------------- */

struct vg_entry *table_win_bucket(struct vg_table *t, uint32_t b);
int table_win_flush(struct vg_table *t);
void table_win_sync(struct vg_table *t, uint32_t slot);

/* The VG_BUCKET entries of bucket b, and entry `slot`, in whichever
 * view the handle has. */
static inline struct vg_entry *table_bucket(struct vg_table *t, uint32_t b)
{
	return t->ent ? &t->ent[b * VG_BUCKET] : table_win_bucket(t, b);
}

static inline struct vg_entry *table_slot_at(struct vg_table *t, uint32_t i)
{
	return &table_bucket(t, i / VG_BUCKET)[i % VG_BUCKET];
}

/* --- table_entry.c ---------------------------------------------------- */

/* Rule 4: an unknown family or kind is a free slot. */
static inline bool entry_valid(const struct vg_entry *e)
{
	return (e->family == VG_FAMILY_V4 || e->family == VG_FAMILY_V6 ||
		e->family == VG_FAMILY_NAME) && e->kind <= VG_KIND_USER;
}

static inline vg_time_t table_add_time(vg_time_t now, uint64_t len)
{
	uint64_t t = (uint64_t)now + len;

	return t >= UINT32_MAX ? UINT32_MAX - 1 : (vg_time_t)t;
}

void entry_slot_push(struct vg_entry *e, vg_time_t exp);
void entry_give_back(struct vg_entry *e, vg_time_t slot, vg_time_t now);
void entry_slots_clear(struct vg_entry *e);
void entry_slots_copy(struct vg_entry *dst, const struct vg_entry *src);
enum keep entry_keep(const struct vg_entry *e, const struct vg_config *c,
		     vg_time_t now);
void entry_lift(struct vg_entry *e);

/* --- table_bucket.c --------------------------------------------------- */

static inline struct vg_key table_source_key(const struct vg_addr *a)
{
	return (struct vg_key){ *a, VG_KIND_SOURCE };
}

/* The prefix an overflow entry counts, and the one aggregate.v4 / .v6
 * bans. */
static inline unsigned int table_agg_bits(const struct vg_addr *a)
{
	return a->family == VG_FAMILY_V4 ? 24 : 48;
}

bool entry_key_match(const struct vg_entry *e, const struct vg_key *k);
/* The /24 or /48 (bits) a source is counted in, as `kind`.  false for a
 * host name: it has no prefix. */
bool table_prefix_key(const struct vg_addr *a, unsigned int bits,
		      uint8_t kind, struct vg_key *out);
void table_key_buckets(const struct vg_table *t, const struct vg_key *k,
		       uint32_t b[2]);
struct vg_entry *table_lookup(struct vg_table *t, const struct vg_key *k);
struct vg_entry *table_insert(struct vg_table *t, const struct vg_config *c,
			      const struct vg_key *k, vg_time_t now);
void table_drop(struct vg_table *t, struct vg_entry *e);
struct vg_entry *table_route(struct vg_table *t, const struct vg_config *c,
			     const struct vg_addr *a, vg_time_t now,
			     bool create);
struct vg_entry *table_prefix_ban(struct vg_table *t,
				  const struct vg_addr *a, vg_time_t now);

/* --- table_scan.c ----------------------------------------------------- */

int table_drop_covered(struct vg_table *t, const struct vg_config *c,
		       const struct vg_addr *net, vg_time_t until,
		       vg_time_t now);

#endif

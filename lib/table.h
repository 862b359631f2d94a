/* The shared table: one fixed-size file under /run/vpsguard, mapped by
 * every sshd process, one 64-byte entry per source.  Invariants are
 * listed at the top of table.c. */
#ifndef VG_TABLE_H
#define VG_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"

/* Times in the table are whole seconds of CLOCK_BOOTTIME (vg_now()):
 * wall-clock steps neither lift nor stretch a ban, and the table lives
 * on a tmpfs that dies with the boot it counts from.  0 = never. */
typedef uint32_t vg_time_t;

vg_time_t vg_now(void);

/* In-flight slots keep their own expiry times: the first VG_SLOT_CLOCKS
 * slots exactly, any further ones together at the latest of them (so a
 * slot is never released before its own clock runs out). */
#define VG_SLOT_CLOCKS	3

struct vg_entry {
	uint8_t key[16];	/* struct vg_addr bytes (already masked) */
	uint8_t family;		/* VG_FAMILY_*; VG_FAMILY_NONE = free slot */
	uint8_t prefix;
	uint8_t flags;		/* VG_ENTRY_* */
	uint8_t kind;		/* VG_KIND_*, part of the key */
	uint16_t failures;	/* weighted failures in the current window */
	uint16_t inflight;	/* reserved evaluation slots (preauth) */
	uint32_t ban_count;	/* bans within history */
	vg_time_t last_fail;	/* the window ends findtime after this */
	vg_time_t banned_at;	/* start of the current / last ban */
	vg_time_t banned_until;	/* ban active while now < banned_until */
	vg_time_t last_seen;
	vg_time_t last_success;	/* trust: a login succeeded at this time */
	uint32_t fail_total;	/* failures ever (for list/metrics) */
	vg_time_t slot_exp[VG_SLOT_CLOCKS]; /* ascending; see above */
};

#define VG_ENTRY_MANUAL		0x01	/* the ban was set by the admin */
#define VG_ENTRY_DROPPED	0x02	/* on copies only, from the kernel's
					 * drop sets (pam_vpsguard-admin) */
#define VG_ENTRY_INHERITED	0x04	/* the ban came from an overflow
					 * level: it gates passwords only */

/* What an entry counts.  A source is one address (IPv6: one
 * ipv6.prefix network).  When the table cannot hold a source on its
 * own, it is counted in an overflow entry for its /24 or /48 (and, when
 * even that finds no room, in the header's one overflow bucket): limited
 * and banned like a source, but its ban gates only the password
 * attempts of sources without an entry of their own.  A prefix entry
 * counts the banned sources inside a /48 (/24) and, at aggregate.v6
 * (aggregate.v4) of them, bans the whole prefix.  A user entry counts
 * wrong TOTP codes for one user name from all sources (totp.maxfail). */
#define VG_KIND_SOURCE		0
#define VG_KIND_OVERFLOW	1
#define VG_KIND_PREFIX		2
#define VG_KIND_USER		3

struct vg_table;

struct vg_table_stats {
	uint64_t failures_total;
	uint64_t bans_total;
	uint64_t denied_total;
	uint64_t evictions_total;
	uint64_t overflow_total;	/* operations counted in an aggregate */
	uint32_t fill_at_overflow;	/* entries in use at the first one;
					 * 0 = the table never overflowed */
	uint32_t size;
	uint32_t used;		/* entries in use, of every kind */
	uint32_t banned;	/* sources and prefixes banned now */
	uint32_t failing;
	uint32_t prefix_bans;	/* of them, whole /48s or /24s */
	bool overflow_banned;	/* the overflow bucket is banned now */
};

/* Open (creating if missing and create is set) the table at path; a
 * new one gets `size` entries.  A sound table of another size is opened
 * as it is (vg_table_size() tells; vg_table_resize() changes it).  A
 * corrupt or foreign file is rebuilt (if create) with a log line.  0, or -errno: -EACCES for a caller that
 * may not use it, -ENOENT if missing and !create, -EBADMSG corrupt. */
int vg_table_open(struct vg_table **t, const char *path, uint32_t size,
		  bool create);
/* The same, for a process that makes a few operations and exits (the
 * PAM module in sshd): only the header page is mapped; operations read
 * and write the buckets they touch with pread/pwrite (table.c, rule 12),
 * and whole-table scans map the entries on first use.  Same results,
 * same file, mixes with full handles. */
int vg_table_open_window(struct vg_table **t, const char *path,
			 uint32_t size, bool create);
/* Read-only view for status/list: no lock taken, never writes. */
int vg_table_open_ro(struct vg_table **t, const char *path);
void vg_table_close(struct vg_table *t);

/* The file behind t was replaced, resized or its header no longer
 * checks out (truncated, zeroed, another version written in place):
 * close t and open the path again, which rebuilds a bad file.  Using a
 * mapping of a file that shrank would be SIGBUS. */
bool vg_table_stale(const struct vg_table *t);

/* Syslog rate limit for the events an attacker drives: at most
 * VG_LOG_BURST lines of each kind per VG_LOG_WINDOW seconds per table,
 * counted in the shared header across all processes.  Bans have their
 * own budget, so a storm of denials never hides a ban.  false: do not
 * log.  suppressed[kind], when not 0, is how many lines of that kind
 * were held back since the last report: log that first, once. */
#define VG_LOG_WINDOW	10
#define VG_LOG_BURST	100
enum vg_log_kind { VG_LOG_BAN, VG_LOG_DENY, VG_LOG_KINDS };
bool vg_table_log_permit(struct vg_table *t, enum vg_log_kind kind,
			 vg_time_t now, uint64_t suppressed[VG_LOG_KINDS]);

/* What one operation did, for the caller's single log line. */
enum vg_verdict {
	VG_ALLOW = 0,
	VG_DENY_BANNED,		/* an active ban */
	VG_DENY_INFLIGHT,	/* failures + in-flight slots reach maxretry */
	VG_BANNED_NOW,		/* this failure started a ban */
};

struct vg_result {
	enum vg_verdict verdict;
	uint8_t kind;		/* of the entry that decided: VG_KIND_* */
	struct vg_addr subject;	/* its key (the source, or its /24, /48;
				 * family NONE for the overflow bucket) */
	struct vg_addr prefix_banned; /* family != NONE: this failure's ban
				 * made its /48 (/24) a prefix ban */
	uint32_t prefix_members;	/* banned sources that did it */
	uint32_t failures;	/* after the operation */
	uint32_t ban_count;
	vg_time_t banned_until;
	uint64_t ban_length;	/* when verdict == VG_BANNED_NOW */
	vg_time_t slot;		/* preauth VG_ALLOW: the slot reserved,
				 * named by its expiry (see below) */
	bool trusted;
};

/* The slot an attempt's preauth reserved, as its later calls name it:
 * its expiry (r->slot of preauth).  Given back only while it is live:
 * a slot whose clock ran out was dropped already, and giving back
 * another one would free a live slot of someone still at the prompt.
 * VG_SLOT_ANY: not known, give back the oldest; VG_SLOT_NONE: none. */
#define VG_SLOT_NONE	0u
#define VG_SLOT_ANY	UINT32_MAX

/* preauth: deny a banned source (or one in a banned prefix); else
 * reserve an evaluation slot, unless failures + in-flight slots already
 * reach maxretry.  Trust changes nothing here.  A source the table
 * cannot hold is counted in its overflow entry or the overflow bucket:
 * never an error because the table is full. */
int vg_table_preauth(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, vg_time_t now,
		     struct vg_result *r);
/* authfail: turn a slot into `weight` failures; ban at maxretry.
 * vg_table_fail() is vg_table_fail_slot() with VG_SLOT_ANY. */
int vg_table_fail(struct vg_table *t, const struct vg_config *c,
		  const struct vg_addr *key, unsigned int weight,
		  vg_time_t now, struct vg_result *r);
int vg_table_fail_slot(struct vg_table *t, const struct vg_config *c,
		       const struct vg_addr *key, unsigned int weight,
		       vg_time_t slot, vg_time_t now, struct vg_result *r);
/* authsucc / account passed: release a slot (release_slot), stamp
 * trust.  Failures are NOT cleared: they expire with findtime, so a
 * login as one user never buys more guesses at another. */
int vg_table_success(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, bool release_slot,
		     vg_time_t now);
int vg_table_success_slot(struct vg_table *t, const struct vg_config *c,
			  const struct vg_addr *key, vg_time_t slot,
			  vg_time_t now);
/* An attempt ended without a verdict on a secret (totp: no secret, the
 * client left at the prompt): give its preauth slot back, nothing else.
 * Never creates an entry. */
int vg_table_release(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, vg_time_t now);
int vg_table_release_slot(struct vg_table *t, const struct vg_config *c,
			  const struct vg_addr *key, vg_time_t slot,
			  vg_time_t now);
/* account: is the source (or its prefix) banned?  r->trusted says
 * whether it logged in within `trust`.  Never creates an entry. */
int vg_table_check(struct vg_table *t, const struct vg_config *c,
		   const struct vg_addr *key, vg_time_t now,
		   struct vg_result *r);

/* totp.maxfail: wrong codes for one user name from all sources.
 * vg_table_user_over() is 1 when the user has reached c->totp_maxfail
 * within findtime (0 when not, or when totp.maxfail is 0), -errno on
 * error; vg_table_user_fail() counts one wrong code (failures after it
 * in *count, if not NULL). */
int vg_table_user_over(struct vg_table *t, const struct vg_config *c,
		       const char *user, vg_time_t now);
int vg_table_user_fail(struct vg_table *t, const struct vg_config *c,
		       const char *user, vg_time_t now, uint32_t *count);

/* Is the source banned (its own entry, or the /24 or /48 around it)?
 * Read without the lock, for when the lock cannot be had (its holder is
 * stopped or stuck: vg_table_* gave -ETIMEDOUT): a ban that stands must
 * not lapse because of it.  1 banned, 0 not seen banned; *trusted from
 * its entry.  A writer may be half way through an entry: for one
 * attempt the answer can be wrong either way. */
int vg_table_peek_ban(struct vg_table *t, const struct vg_config *c,
		      const struct vg_addr *key, vg_time_t now,
		      bool *trusted);

/* Waking the helper: every ban started, every unban and every source
 * newly trusted bumps a counter in the header and wakes whoever sleeps
 * on it.
 * vg_table_wait() returns 1 at once when the counter is no longer
 * `seen` (read it with vg_table_seq() before looking at the table),
 * else sleeps up to timeout_ms: 1 changed, 0 timed out, -EINTR a
 * signal, other -errno. */
uint32_t vg_table_seq(const struct vg_table *t);

/* Has the helper merged its state file into this table file yet?  A
 * new or rebuilt file says no, whatever it holds; a resize carries the
 * mark. */
bool vg_table_restored(const struct vg_table *t);
void vg_table_set_restored(struct vg_table *t);
int vg_table_wait(struct vg_table *t, uint32_t seen, int timeout_ms);

/* Admin: ban for `length` seconds (counts as a ban), or lift a ban
 * (failures, slots and the ban cleared, ban count kept). */
int vg_table_ban(struct vg_table *t, const struct vg_config *c,
		 const struct vg_addr *key, uint64_t length, vg_time_t now);
int vg_table_unban(struct vg_table *t, const struct vg_addr *key);
int vg_table_unban_all(struct vg_table *t);

/* Merge a saved entry (times already converted to vg_time_t) into the
 * table: the later ban, the higher ban count and the later trust stamp
 * win, so restoring twice, or over live data, changes nothing. */
int vg_table_restore(struct vg_table *t, const struct vg_entry *saved);

/* Copy out the entries that stand for addresses (sources, and prefixes
 * that are or were banned; not the counters behind them, overflow
 * levels nor user counters).  Lock-free: each copy is of
 * one moment, and an entry being moved between its two buckets may be
 * seen twice or missed.  Returns the number written (at most max), or
 * -errno. */
long vg_table_snapshot(struct vg_table *t, struct vg_entry *out, size_t max);
uint32_t vg_table_size(const struct vg_table *t);
/* Replace the table behind t (a full, writable handle) with one of
 * `size` entries holding t's records: every entry, the overflow levels
 * and the counters (a smaller table keeps what a flood would leave:
 * bans, ban history and trust first).  -EOVERFLOW, and the old table
 * kept, when a smaller one has no room for every active ban.  t's lock
 * is held throughout; the old file is then marked retired, so an
 * update that waited for the lock moves to the new file (table_lock()).
 * t is stale afterwards (vg_table_stale()): close it and open the path
 * again.  0 or -errno; *kept: the entries carried. */
int vg_table_resize(struct vg_table *t, uint32_t size,
		    const struct vg_config *c, uint32_t *kept);
void vg_table_stats(struct vg_table *t, const struct vg_config *c,
		    vg_time_t now, struct vg_table_stats *s);

/* A copy of one key's entry (a source; else a prefix entry with that
 * key), without the lock (readers and read-only handles): 0 or -ENOENT.
 * Raw values: see vg_entry_refresh(). */
int vg_table_lookup(struct vg_table *t, const struct vg_addr *key,
		    struct vg_entry *out);

/* Entry helpers shared by the CLI and tests. */
/* Forget what has run out by `now` (dead slots, an old failure window,
 * ban history past `history`): a copied entry shows what the table
 * would act on. */
void vg_entry_refresh(struct vg_entry *e, const struct vg_config *c,
		      vg_time_t now);
bool vg_entry_banned(const struct vg_entry *e, vg_time_t now);
void vg_entry_addr(const struct vg_entry *e, struct vg_addr *a);
/* A login succeeded from it within `trust`. */
bool vg_entry_trusted(const struct vg_entry *e, const struct vg_config *c,
		      vg_time_t now);

#endif

/* Fleet: the helper's link to a CrowdSec Local API (crowdsec.url).
 *
 * Pull (bouncer): ban decisions of scope Ip and Range become extra
 * elements of the same drop sets as our own persistent offenders
 * (cs_want()), for their remaining duration.  They are kept in a list by
 * decision id, so a delete removes exactly that decision; a source that
 * is also dropped by a local ban stays dropped, because the drop sets are
 * rebuilt from the union each pass.
 * Push (watcher): each new persistent offender here is queued once per
 * ban (cs_note_drop()) and sent as an alert with a ban decision.
 *
 * Unban (cs_unban()): an admin's `unban` retracts what this host pushed
 * for the source (the decisions of this machine's alerts for it are
 * deleted from the LAPI, now or, while it is unreachable, on a later
 * exchange: a queued retraction), and lifts here only the decisions
 * pulled for it, which stay in the LAPI for the rest of the fleet: a
 * lifted decision is not applied again until it is gone (deleted,
 * expired); a new decision for the source is applied.
 *
 * What must survive a restart lives in STATE.crowdsec (state.path plus
 * ".crowdsec", written like the state file: temp + fsync + rename, an
 * "end N" trailer): queued pushes until LAPI acknowledged them, queued
 * retractions, the decisions pulled and those lifted, and the link's
 * status for `status`.
 *
 * Several processes change that file (the daemon, `sync`, `unban`):
 * each holds an flock on STATE.crowdsec.lock from reading it to writing
 * it back (cs_lock() ... cs_unlock()), and re-reads it first when
 * another one replaced it (cs_refresh()), so no change is lost.  The
 * holder's LAPI requests stop starting after CS_BUDGET_MS, so the lock
 * is held at most that plus one request (LAPI_TIMEOUT_MS): a waiter
 * that waited CS_LOCK_WAIT_MS gives up with an error rather than hang.
 *
 * Never printed; events go to vg_log(), errors are returned. */
#ifndef VG_CROWDSEC_H
#define VG_CROWDSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "nft.h"

#define CS_DECISIONS_MAX	65536	/* decisions kept */
#define CS_PUSH_MAX		65536	/* pushes queued or remembered */
#define CS_PUSH_BATCH		32	/* alerts per POST */
#define CS_ELEMS_MAX		65536	/* drop elements from LAPI per pass */
/* A drop4 element is one address: an IPv4 range becomes its addresses,
 * so only ranges of at most 256 (a /24) are applied. */
#define CS_V4_RANGE_MIN		24
#define CS_RETRACT_MAX		4096	/* retractions queued */
#define CS_LIFT_MAX		65536	/* decisions lifted here */
#define CS_BACKOFF_MIN		5	/* seconds, doubled per failure */
#define CS_BACKOFF_MAX		300
#define CS_ERR_MAX		160
#define CS_BUDGET_MS		3000	/* no LAPI request starts after this */
#define CS_LOCK_WAIT_MS		8000	/* > CS_BUDGET_MS + LAPI_TIMEOUT_MS */

struct cs_decision {
	int64_t id;
	struct vg_addr net;
	int64_t until;		/* wall clock seconds */
	char origin[32];	/* for the log; "" when not known */
};

/* A pulled decision an admin unbanned here: its drop elements inside
 * net are not applied while the decision lasts.  Sorted by id. */
struct cs_lift {
	int64_t id;
	struct vg_addr net;
	int64_t until;
};

/* Delete from the LAPI the decisions of this machine's alerts for key
 * (what we pushed), queued by an unban until LAPI took it. */
struct cs_retract {
	struct vg_addr key;
	int64_t at;		/* when unbanned */
	int64_t until;		/* nothing of ours is left after this */
};

struct cs_push {
	struct vg_addr key;
	int64_t banned_at;	/* wall clock: which ban this is */
	int64_t until;
	uint32_t ban_count;
	bool done;		/* acknowledged (kept until `until`, so the
				 * same ban is never pushed twice) */
};

struct cs_link {
	/* persisted */
	bool baseline;		/* a full pull is applied: deltas from here */
	struct cs_decision *dec;
	size_t n_dec, cap_dec;
	struct cs_push *push;
	size_t n_push, cap_push;
	struct cs_lift *lift;
	size_t n_lift, cap_lift;
	struct cs_retract *rt;
	size_t n_rt, cap_rt;
	int64_t last_pull, last_push, error_at;	/* wall; 0 = never */
	unsigned int fails;	/* consecutive failed exchanges */
	char error[CS_ERR_MAX];	/* the last one, "" after a success */
	/* this process only */
	bool loaded, dirty;
	int64_t next_try;	/* link down: no request before this */
	int64_t push_next;	/* push failing: no push before this */
	unsigned int pull_fails, push_fails;	/* for the backoffs */
	int64_t next_pull;	/* crowdsec.interval */
	int64_t saved_at;
	bool want_full;		/* next pull: the whole list (daemon start) */
	int64_t budget_end;	/* monotonic ms: no request starts after */
	char token[2048];	/* watcher JWT, "" = log in first */
	/* the file as last read or written, to see another writer's */
	struct cs_file_id {
		uint64_t dev, ino, size;
		int64_t mtime_ns, ctime_ns;
	} file;
	int lock_fd;		/* valid while locked */
	bool locked;
};

static inline bool cs_enabled(const struct vg_config *c)
{
	return c->cs_url[0] && (c->cs_pull || c->cs_push);
}

/* The file next to the state file. */
int cs_path(const struct vg_config *c, char *buf, size_t len);

/* Load / save the persisted part (crowdsec_store.c).  A missing file is
 * an empty link (0).  A corrupt one is kept aside and the link starts
 * empty (0, logged): the next pull is a full one.  readonly (status):
 * a corrupt file is -EBADMSG and left where it is. */
int cs_load(struct cs_link *l, const struct vg_config *c, bool readonly);
int cs_save(struct cs_link *l, const struct vg_config *c, char *err,
	    size_t errlen);
/* Save only when something changed, or a minute went by (the times
 * `status` shows), not every pass. */
void cs_save_if_needed(struct cs_link *l, const struct vg_config *c,
		       int64_t now);
void cs_free(struct cs_link *l);
/* Append to the lists (-E2BIG beyond their caps, -ENOMEM). */
int cs_add_decision(struct cs_link *l, const struct cs_decision *d);
int cs_add_push(struct cs_link *l, const struct cs_push *p);
int cs_add_retract(struct cs_link *l, const struct cs_retract *r);
/* Keeps the list sorted by id. */
int cs_add_lift(struct cs_link *l, const struct cs_lift *f);

/* Take the lock on STATE.crowdsec (creating the file STATE.crowdsec.lock
 * and its directory), waiting up to wait_ms (0: not at all).  0, or
 * -EWOULDBLOCK with err naming the holder's pid, or -errno. */
int cs_lock(struct cs_link *l, const struct vg_config *c, int wait_ms,
	    char *err, size_t errlen);
void cs_unlock(struct cs_link *l);
/* Make l hold what STATE.crowdsec holds: the first time, and again when
 * another process replaced the file since l last read or wrote it; the
 * process-only fields (token, backoffs) are kept.  *changed: it was
 * (re)read, so the drop sets may need re-applying.  readonly: without
 * the lock, to look only (as cs_load()). */
int cs_refresh(struct cs_link *l, const struct vg_config *c, bool readonly,
	       bool *changed);

/* A local persistent offender: queue a push unless this ban (key and
 * banned_at) was queued already. */
void cs_note_drop(struct cs_link *l, const struct vg_addr *key,
		  int64_t banned_at, int64_t until, uint32_t ban_count);

/* Talk to the LAPI if due (interval, backoff): pull, then push.  At most
 * one failing request per call.  *changed: the decision list changed
 * (re-apply the drop sets).  0, or the -errno of the failure (already
 * recorded in l->error). */
int cs_exchange(struct cs_link *l, const struct vg_config *c, int64_t now,
		bool *changed);

struct cs_unban_report {
	size_t retracts;	/* sources whose pushes are to be retracted */
	size_t dropped;		/* queued pushes that never went out */
	size_t deleted;		/* decisions of ours deleted from LAPI now */
	size_t queued;		/* retractions for it still queued */
	char link_err[CS_ERR_MAX];	/* why, when they are */
	size_t lifted;		/* pulled decisions lifted here */
	int64_t lifted_id;	/* the first one, for the message */
	char lifted_origin[32];
};

/* An admin unbanned key (NULL: every source, unban --all): forget its
 * queued pushes, retract what was pushed for it (now, as an explicit
 * request: no backoff; queued when that fails), then lift the pulled
 * decisions that still drop it.  Logged.  Under the lock. */
void cs_unban(struct cs_link *l, const struct vg_config *c,
	      const struct vg_addr *key, int64_t now,
	      struct cs_unban_report *r);

/* The decision id is lifted here for the element a; for anything. */
bool cs_lifted(const struct cs_link *l, int64_t id, const struct vg_addr *a);
bool cs_lift_any(const struct cs_link *l, int64_t id);
/* n overlaps an ignoreip entry (either way). */
bool cs_overlaps_ignore(const struct vg_config *c, const struct vg_addr *n);

/* The most elements cs_want() may write. */
size_t cs_want_max(const struct cs_link *l);

/* Append the drop elements of active decisions to out (room for
 * cs_want_max()), leaving out those in ignoreip and those whose key is in
 * exempt (sorted by vg_addr bytes: the trusted sources).  The count. */
size_t cs_want(const struct cs_link *l, const struct vg_config *c,
	       int64_t now, const struct vg_nft_elem *exempt, size_t n_exempt,
	       struct vg_nft_elem *out);

/* Order of elements by family and key bytes (for qsort / bsearch). */
int cs_elem_cmp(const void *a, const void *b);

/* Read a credential file: regular, owned by root (or us), not readable
 * or writable by group or others; one line, trailing whitespace cut,
 * printable ASCII only.  0 or -errno with err saying why. */
int cs_read_secret(const char *path, char *buf, size_t len, char *err,
		   size_t errlen);

/* Shared by crowdsec.c and crowdsec_unban.c. */
void cs_failed(struct cs_link *l, int64_t now, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A request as the watcher: logs in first if needed, and again once on
 * a 401 (tokens die with a LAPI restart).  -EAGAIN: the exchange's time
 * budget is spent (not a failure: the rest waits for the next one);
 * other errors are recorded with cs_failed(), what prefixing them. */
int cs_machine_request(struct cs_link *l, const struct vg_config *c,
		       const char *method, const char *path, const char *body,
		       long *status, char **resp, size_t *len, int64_t now,
		       const char *what);
/* One pull now: the whole list on the first, the changes after. */
int cs_pull(struct cs_link *l, const struct vg_config *c, int64_t now,
	    bool *changed);
/* The queued retractions, in order; stops at the first failure. */
int cs_retract(struct cs_link *l, const struct vg_config *c, int64_t now,
	       size_t *deleted);
void cs_budget_start(struct cs_link *l);
/* The index of decision id in l->dec, or -1. */
long cs_find_decision(const struct cs_link *l, int64_t id);
/* Drops expired decisions, and pushes and retractions whose ban is over. */
void cs_prune(struct cs_link *l, int64_t now);
void cs_succeeded(struct cs_link *l);

#endif

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
 * What must survive a restart lives in STATE.crowdsec (state.path plus
 * ".crowdsec", written like the state file: temp + fsync + rename, an
 * "end N" trailer): queued pushes until LAPI acknowledged them, the
 * decisions pulled, and the link's status for `status`.
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
#define CS_BACKOFF_MIN		5	/* seconds, doubled per failure */
#define CS_BACKOFF_MAX		300
#define CS_ERR_MAX		160

struct cs_decision {
	int64_t id;
	struct vg_addr net;
	int64_t until;		/* wall clock seconds */
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
	char token[2048];	/* watcher JWT, "" = log in first */
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

#endif

/*
 * The operations on the shared table, each in one locked section: the
 * module's preauth, authfail, authsucc and account, TOTP's user
 * counters, and the admin's ban, unban and restore.  Nothing slow under
 * the lock (table.c, rule 6): callers log after the operation returns,
 * from what it put in struct vg_result.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "hash.h"
#include "policy.h"
#include "table_internal.h"

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

int vg_table_preauth(struct vg_table *t, const struct vg_config *c,
		     const struct vg_addr *key, vg_time_t now,
		     struct vg_result *r)
{
	enum vg_verdict v = VG_ALLOW;
	struct vg_entry *e, *p;
	/* now is whole seconds, rounded down: a slot taken at 10.9 s with
	 * a 3 s timeout must not expire at 13 s, 2.1 s later (a prompt
	 * held that long would get its password evaluated while the slot
	 * went to a new connection).  One second more: never early. */
	vg_time_t exp = table_add_time(now, (uint64_t)c->inflight_timeout + 1);
	int ret = table_lock(t);

	if (ret)
		return ret;
	e = table_route(t, c, key, now, true);
	vg_entry_refresh(e, c, now);
	e->last_seen = now;
	p = table_prefix_ban(t, key, now);
	if (vg_entry_banned(e, now)) {
		v = VG_DENY_BANNED;
	} else if (p) {
		v = VG_DENY_BANNED;
		e = p;
	} else if ((uint32_t)e->failures + e->inflight >= c->maxretry) {
		v = VG_DENY_INFLIGHT;
	} else {
		entry_slot_push(e, exp);
	}
	if (v != VG_ALLOW)
		atomic_fetch_add(&t->hdr->denied_total, 1);
	result(r, e, c, now, v);
	if (r && v == VG_ALLOW)
		r->slot = exp;
	return table_unlock(t);
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
	e->banned_until = table_add_time(now, len);
	e->flags &= (uint8_t)~(VG_ENTRY_MANUAL | VG_ENTRY_INHERITED);
	e->failures = 0;
	entry_slots_clear(e);
	atomic_fetch_add(&t->hdr->bans_total, 1);
	return len;
}

/* aggregate.v6 / .v4: one more banned source inside its /48 (/24).  At
 * the threshold the prefix is banned as one entry, and the sources the
 * prefix ban now covers give their entries back (table_drop_covered).
 * 0, or the error of a window handle's write-back before that scan. */
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

	vg_entry_addr(src, &a);
	if (need == 0 || src->kind != VG_KIND_SOURCE ||
	    !table_prefix_key(&a, table_agg_bits(&a), VG_KIND_PREFIX, &pk) ||
	    pk.a.prefix >= a.prefix)
		return 0;
	p = table_lookup(t, &pk);
	if (!p)
		p = table_insert(t, c, &pk, now);
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
	/* p and every window pointer may die here. */
	return table_drop_covered(t, c, &pk.a, until, now);
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
	int ret = table_lock(t);

	if (ret)
		return ret;
	e = table_route(t, c, key, now, true);
	vg_entry_refresh(e, c, now);
	e->last_seen = now;
	entry_give_back(e, slot, now);
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
	f = (uint32_t)table_unlock(t);	/* reused: the write-back's error */
	if (f != 0 && ret == 0)
		ret = (int)f;
	if (v == VG_BANNED_NOW && ret == 0)
		table_notify(t);
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
	struct vg_key sk = table_source_key(key);
	struct vg_entry *e;
	bool newly_trusted = false;
	int ret = table_lock(t);

	if (ret)
		return ret;
	e = table_lookup(t, &sk);
	if (!e) {
		/* Made like a counting entry (it inherits), so a login
		 * never moves a source to a fresh budget. */
		e = table_route(t, c, key, now, true);
		if (e->kind != VG_KIND_SOURCE) {
			/* No room: the slot goes back where it was
			 * taken; trust cannot be kept. */
			vg_entry_refresh(e, c, now);
			entry_give_back(e, slot, now);
			goto out;
		}
	}
	vg_entry_refresh(e, c, now);
	entry_give_back(e, slot, now);
	newly_trusted = c->trust && !vg_entry_trusted(e, c, now);
	e->last_success = now;
	e->last_seen = now;
out:
	ret = table_unlock(t);
	/* A source trusted from now on goes into trust4/trust6 at once,
	 * as a ban goes into drop4/drop6: the connection-rate guard exempts
	 * it, and the admin's first scp burst after the login must not be
	 * counted for the helper's next poll.  Once per trust period. */
	if (ret == 0 && newly_trusted)
		table_notify(t);
	return ret;
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
	int ret = table_lock(t);

	if (ret)
		return ret;
	e = table_route(t, c, key, now, false);
	vg_entry_refresh(e, c, now);
	entry_give_back(e, slot, now);
	return table_unlock(t);
}

int vg_table_check(struct vg_table *t, const struct vg_config *c,
		   const struct vg_addr *key, vg_time_t now,
		   struct vg_result *r)
{
	struct vg_key sk = table_source_key(key);
	enum vg_verdict v = VG_ALLOW;
	struct vg_entry *e, *p;
	bool trusted = false;
	int ret = table_lock(t);

	if (ret)
		return ret;
	e = table_lookup(t, &sk);
	if (e) {
		vg_entry_refresh(e, c, now);
		trusted = vg_entry_trusted(e, c, now);
		if (vg_entry_banned(e, now) &&
		    !(e->flags & VG_ENTRY_INHERITED))
			v = VG_DENY_BANNED;
	}
	p = v == VG_ALLOW ? table_prefix_ban(t, key, now) : NULL;
	if (p)
		v = VG_DENY_BANNED;
	if (v != VG_ALLOW && !trusted)
		atomic_fetch_add(&t->hdr->denied_total, 1);
	result(r, p ? p : e, c, now, v);
	if (r)
		r->trusted = trusted;
	return table_unlock(t);
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
	struct vg_entry *e = table_lookup(t, &k);

	if (!e && create)
		e = table_insert(t, c, &k, now);
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
	ret = table_lock(t);
	if (ret)
		return ret;
	e = user_entry(t, c, user, now, false);
	if (e && e->failures >= c->totp_maxfail)
		over = 1;
	vg_entry_refresh(&t->hdr->user_overflow, c, now);
	if (!e && t->hdr->user_overflow.failures >= c->totp_maxfail)
		over = 1;
	ret = table_unlock(t);
	return ret ? ret : over;
}

int vg_table_user_fail(struct vg_table *t, const struct vg_config *c,
		       const char *user, vg_time_t now, uint32_t *count)
{
	struct vg_entry *e;
	int ret;

	if (c->totp_maxfail == 0)
		return 0;
	ret = table_lock(t);
	if (ret)
		return ret;
	e = user_entry(t, c, user, now, true);
	if (e->failures < VG_COUNT_MAX)
		e->failures++;
	e->last_fail = now;
	e->last_seen = now;
	if (count)
		*count = e->failures;
	return table_unlock(t);
}

int vg_table_ban(struct vg_table *t, const struct vg_config *c,
		 const struct vg_addr *key, uint64_t length, vg_time_t now)
{
	struct vg_key sk = table_source_key(key);
	struct vg_entry *e;
	int ret = table_lock(t);

	if (ret)
		return ret;
	e = table_lookup(t, &sk);
	if (!e)
		e = table_insert(t, c, &sk, now);
	if (!e) {
		ret = -ENOSPC;
		goto out;
	}
	vg_entry_refresh(e, c, now);
	if (e->ban_count < UINT32_MAX)
		e->ban_count++;
	e->banned_at = now;
	e->banned_until = table_add_time(now, length);
	e->flags |= VG_ENTRY_MANUAL;
	e->flags &= (uint8_t)~VG_ENTRY_INHERITED;
	e->failures = 0;
	entry_slots_clear(e);
	e->last_seen = now;
	atomic_fetch_add(&t->hdr->bans_total, 1);
out:
	if (table_unlock(t) != 0 && ret == 0)
		ret = -EIO;
	if (ret == 0)
		table_notify(t);
	return ret;
}
/* A source's own entry, or the prefix entry with that key (unban of a
 * /48 that aggregate.v6 banned). */
static struct vg_entry *lookup_any(struct vg_table *t,
				   const struct vg_addr *key)
{
	struct vg_key k = table_source_key(key);
	struct vg_entry *e = table_lookup(t, &k);

	if (!e) {
		k.kind = VG_KIND_PREFIX;
		e = table_lookup(t, &k);
	}
	return e;
}

int vg_table_unban(struct vg_table *t, const struct vg_addr *key)
{
	struct vg_entry *e;
	int ret = table_lock(t);

	if (ret)
		return ret;
	e = lookup_any(t, key);
	if (e)
		entry_lift(e);
	else
		ret = -ENOENT;
	if (table_unlock(t) != 0 && ret == 0)
		ret = -EIO;
	if (ret == 0)
		table_notify(t);
	return ret;
}

int vg_table_restore(struct vg_table *t, const struct vg_entry *saved)
{
	struct vg_key k;
	struct vg_entry *e;
	int ret;

	if (saved->kind != VG_KIND_SOURCE && saved->kind != VG_KIND_PREFIX)
		return -EINVAL;
	ret = table_lock(t);
	if (ret)
		return ret;
	vg_entry_addr(saved, &k.a);
	k.kind = saved->kind;
	e = table_lookup(t, &k);
	if (!e) {
		/* Restoring needs no config beyond what entry_keep() reads:
		 * ranks are taken with the defaults. */
		struct vg_config d;

		vg_config_defaults(&d);
		e = table_insert(t, &d, &k, saved->last_seen);
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
	if (table_unlock(t) != 0 && ret == 0)
		ret = -EIO;
	return ret;
}


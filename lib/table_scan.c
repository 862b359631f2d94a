/*
 * Whole-table passes: the entries mapped (table.c, rule 12, also for a
 * window handle) and walked once.  The lock-free ones (snapshot, stats,
 * lookup) read a copy of each entry, which is of one moment; unban all
 * and the clean-up after a prefix ban hold the lock.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "table_internal.h"

static bool in_prefix(const struct vg_entry *e, const struct vg_addr *net)
{
	struct vg_addr a;

	if (e->kind != VG_KIND_SOURCE)
		return false;
	vg_entry_addr(e, &a);
	return vg_cidr_contains(net, &a);
}

/* After a prefix ban (until its end), the sources inside net it now
 * covers give their entries back.  The one O(table.size) step of an
 * operation, once per prefix ban, which takes threshold x maxretry
 * failed passwords to cause.  Under the lock; a window handle writes
 * back what it has and maps the entries first, so no window pointer
 * survives this.  0, or the error of that write-back. */
int table_drop_covered(struct vg_table *t, const struct vg_config *c,
		       const struct vg_addr *net, vg_time_t until,
		       vg_time_t now)
{
	int ret;

	if (!t->ent) {
		ret = table_win_flush(t);
		if (ret || table_map_entries(t) != 0)
			return ret;	/* the ban stands, the clean-up
					 * (room only) waits for the next */
	}
	for (uint32_t i = 0; i < t->nb * VG_BUCKET; i++) {
		struct vg_entry *e = &t->ent[i];

		if (!entry_valid(e) || !in_prefix(e, net))
			continue;
		vg_entry_refresh(e, c, now);
		if (!e->inflight && !vg_entry_trusted(e, c, now) &&
		    e->banned_until <= until)
			table_drop(t, e);
	}
	return 0;
}

int vg_table_unban_all(struct vg_table *t)
{
	int ret = table_map_entries(t);

	if (ret == 0)
		ret = table_lock(t);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < t->nb * VG_BUCKET; i++)
		if (entry_valid(&t->ent[i]))
			entry_lift(&t->ent[i]);
	entry_lift(&t->hdr->overflow);
	entry_lift(&t->hdr->user_overflow);
	table_unlock(t);
	table_notify(t);
	return 0;
}

/* Lock-free: scan both buckets on a copy of each entry. */
static int lookup_copy(struct vg_table *t, const struct vg_key *k,
		       struct vg_entry *out)
{
	uint32_t b[2];

	table_key_buckets(t, k, b);
	for (int j = 0; j < 2; j++)
		for (uint32_t i = 0; i < VG_BUCKET; i++) {
			struct vg_entry e = t->ent[b[j] * VG_BUCKET + i];

			if (entry_valid(&e) && entry_key_match(&e, k)) {
				*out = e;
				return 0;
			}
		}
	return -ENOENT;
}

int vg_table_lookup(struct vg_table *t, const struct vg_addr *key,
		    struct vg_entry *out)
{
	struct vg_key k = table_source_key(key);
	int ret = table_map_entries(t);

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
	int ret = table_map_entries(t);

	if (ret)
		return ret;

	for (uint32_t i = 0; i < t->nb * VG_BUCKET && k < max; i++) {
		out[k] = t->ent[i];
		/* A prefix entry that never banned is only a counter of
		 * banned sources, not an address anyone acts on. */
		if (entry_valid(&out[k]) &&
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
	if (table_map_entries(t) != 0)
		return;		/* the header's figures only */
	for (uint32_t i = 0; i < t->nb * VG_BUCKET; i++) {
		struct vg_entry e = t->ent[i];

		if (!entry_valid(&e))
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

/*
 * Where an entry lives: bucketised cuckoo hashing (table.c, rules 8 and
 * 9: two buckets per key, room made only from entries that hold
 * nothing) and the levels a source is counted in when it finds no room
 * (rule 10: its overflow entry, then the header's overflow bucket).
 * Called under the lock.
 */
#include <stdatomic.h>
#include <string.h>

#include "hash.h"
#include "table_internal.h"

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

void table_key_buckets(const struct vg_table *t, const struct vg_key *k,
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

bool entry_key_match(const struct vg_entry *e, const struct vg_key *k)
{
	return e->family == k->a.family && e->prefix == k->a.prefix &&
	       e->kind == k->kind &&
	       memcmp(e->key, k->a.bytes, sizeof(e->key)) == 0;
}

struct vg_entry *table_lookup(struct vg_table *t, const struct vg_key *k)
{
	uint32_t b[2];

	table_key_buckets(t, k, b);
	for (int j = 0; j < 2; j++) {
		struct vg_entry *e = table_bucket(t, b[j]);

		for (uint32_t i = 0; i < VG_BUCKET; i++)
			if (entry_key_match(&e[i], k))
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
		struct vg_entry *e = table_slot_at(t, n[i].slot);
		enum keep k = entry_keep(e, c, now);
		uint32_t alt;

		if (k < best_keep) {
			best = i;
			best_keep = k;
			if (!entry_valid(e))
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
	if (entry_valid(table_slot_at(t, n[best].slot))) {
		if (table_slot_at(t, n[best].slot)->kind == VG_KIND_PREFIX &&
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
		struct vg_entry *dst = table_slot_at(t, n[i].slot);

		*dst = *table_slot_at(t, n[n[i].parent].slot);
		table_win_sync(t, n[i].slot);
	}
	for (; n[best].parent >= 0; best = n[best].parent)
		;
	return table_slot_at(t, n[best].slot);
}

struct vg_entry *table_insert(struct vg_table *t, const struct vg_config *c,
			      const struct vg_key *k, vg_time_t now)
{
	uint32_t b[2];
	struct vg_entry *e;

	table_key_buckets(t, k, b);
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

void table_drop(struct vg_table *t, struct vg_entry *e)
{
	if (e->kind == VG_KIND_PREFIX && t->hdr->prefix_entries)
		t->hdr->prefix_entries--;
	if (t->hdr->used)
		t->hdr->used--;
	memset(e, 0, sizeof(*e));
}

/* --- levels: source, overflow entry, overflow bucket (rule 10) -------- */

/* The /24 or /48 a source is counted in, as `kind`.  false for a host
 * name (no prefix): its next level is the overflow bucket.
 * false too for a link-local source as VG_KIND_PREFIX: fe80::/48 holds
 * every host on the link, the default gateway too, so aggregate.v6 must
 * never ban it (count_prefix), nor a ban of it cover one neighbour
 * (table_prefix_ban, vg_table_peek_ban).  Its overflow entry stays: that
 * only refuses passwords, never reaches nftables (the helper drops
 * sources and prefix bans only), and keeps a neighbour that rotates
 * addresses in a full table out of the overflow bucket all share. */
bool table_prefix_key(const struct vg_addr *a, unsigned int bits,
		      uint8_t kind, struct vg_key *out)
{
	if (a->family != VG_FAMILY_V4 && a->family != VG_FAMILY_V6)
		return false;
	if (kind == VG_KIND_PREFIX && vg_addr_link_local(a))
		return false;
	out->a = *a;
	if (out->a.prefix > bits)
		vg_addr_mask(&out->a, bits);
	out->kind = kind;
	return true;
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
	entry_slots_copy(e, from);
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
struct vg_entry *table_route(struct vg_table *t, const struct vg_config *c,
			     const struct vg_addr *a, vg_time_t now,
			     bool create)
{
	struct vg_key sk = table_source_key(a), ok;
	struct vg_entry *e = table_lookup(t, &sk), *o = NULL;
	bool has_ok = table_prefix_key(a, table_agg_bits(a), VG_KIND_OVERFLOW,
				       &ok);

	if (e)
		return e;
	/* Overflow entries are only made after note_overflow() below, so
	 * while the table never overflowed there is none to look for (two
	 * bucket reads saved per new source in a window handle). */
	if (has_ok && t->hdr->fill_at_overflow != 0)
		o = table_lookup(t, &ok);
	if (create) {
		e = table_insert(t, c, &sk, now);
		if (e) {
			/* The insert may have moved o to its other bucket. */
			if (o)
				o = table_lookup(t, &ok);
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
		o = table_insert(t, c, &ok, now);
		if (o) {
			inherit(o, &t->hdr->overflow, c, now);
			return o;
		}
	}
	return &t->hdr->overflow;
}

/* The prefix ban covering a source, if any (aggregate.v6 / .v4). */
struct vg_entry *table_prefix_ban(struct vg_table *t,
				  const struct vg_addr *a, vg_time_t now)
{
	struct vg_key pk;
	struct vg_entry *p;

	if (t->hdr->prefix_entries == 0 ||
	    !table_prefix_key(a, table_agg_bits(a), VG_KIND_PREFIX, &pk) ||
	    pk.a.prefix == a->prefix)
		return NULL;
	p = table_lookup(t, &pk);
	return p && vg_entry_banned(p, now) ? p : NULL;
}

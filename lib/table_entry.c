/*
 * One entry of the shared table: its in-flight slot clocks, what runs
 * out with time (vg_entry_refresh), and what it holds that an insert
 * must not evict (rule 9).  No locking here: the callers hold the lock
 * or work on a copy.
 */
#include <string.h>

#include "table_internal.h"

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

/* In-flight slot clocks (see VG_SLOT_CLOCKS).  slot_exp[0 .. k-1] are
 * ascending, k = min(inflight, VG_SLOT_CLOCKS); the slots past the
 * last clock share it, and it is the latest of theirs. */
void entry_slot_push(struct vg_entry *e, vg_time_t exp)
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
void entry_give_back(struct vg_entry *e, vg_time_t slot, vg_time_t now)
{
	if (slot == VG_SLOT_NONE)
		return;
	if (slot == VG_SLOT_ANY || now < slot)
		slot_pop(e);
}

void entry_slots_clear(struct vg_entry *e)
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
			entry_slots_clear(e);
			return;
		}
		slot_pop(e);
	}
	if (e->inflight == 0)
		entry_slots_clear(e);
}

/* A wall of clocks set from the entry's own slots, for inheritance. */
void entry_slots_copy(struct vg_entry *dst, const struct vg_entry *src)
{
	unsigned int n = src->inflight;

	for (unsigned int i = 0; i < n; i++)
		entry_slot_push(dst, src->slot_exp[i < VG_SLOT_CLOCKS ? i :
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
enum keep entry_keep(const struct vg_entry *e, const struct vg_config *c,
		     vg_time_t now)
{
	struct vg_entry x = *e;

	if (!entry_valid(&x))
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

/* Unban: the ban, its failures and slots go; the ban count stays
 * (escalation remembers it for `history`). */
void entry_lift(struct vg_entry *e)
{
	e->banned_until = 0;
	e->failures = 0;
	entry_slots_clear(e);
	e->flags &= (uint8_t)~(VG_ENTRY_MANUAL | VG_ENTRY_DROPPED |
			       VG_ENTRY_INHERITED);
}

/*
 * What the decisions pulled from CrowdSec drop: elements for the drop
 * sets (IPv4 addresses, IPv6 keys of ipv6.prefix bits), never in
 * ignoreip, never a trusted source, never what an unban lifted here.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "crowdsec.h"

int cs_elem_cmp(const void *a, const void *b)
{
	const struct vg_nft_elem *x = a, *y = b;

	if (x->addr.family != y->addr.family)
		return x->addr.family < y->addr.family ? -1 : 1;
	return memcmp(x->addr.bytes, y->addr.bytes, sizeof(x->addr.bytes));
}

bool cs_overlaps_ignore(const struct vg_config *c, const struct vg_addr *n)
{
	for (unsigned int i = 0; i < c->ignoreip.n; i++)
		if (vg_cidr_contains(&c->ignoreip.net[i], n) ||
		    vg_cidr_contains(n, &c->ignoreip.net[i]))
			return true;
	return false;
}

/* The first lift of decision id (l->lift is sorted by id), or n_lift. */
static size_t first_lift(const struct cs_link *l, int64_t id)
{
	size_t lo = 0, hi = l->n_lift;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->lift[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool cs_lifted(const struct cs_link *l, int64_t id, const struct vg_addr *a)
{
	for (size_t i = first_lift(l, id); i < l->n_lift &&
	     l->lift[i].id == id; i++)
		if (vg_cidr_contains(&l->lift[i].net, a))
			return true;
	return false;
}

bool cs_lift_any(const struct cs_link *l, int64_t id)
{
	size_t i = first_lift(l, id);

	return i < l->n_lift && l->lift[i].id == id;
}

size_t cs_want_max(const struct cs_link *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n_dec && n < CS_ELEMS_MAX; i++)
		n += l->dec[i].net.family != VG_FAMILY_V4 ? 1 :
		     l->dec[i].net.prefix < CS_V4_RANGE_MIN ? 0 :
		     (size_t)1 << (32 - l->dec[i].net.prefix);
	return n < CS_ELEMS_MAX ? n : CS_ELEMS_MAX;
}

static bool emit(const struct cs_link *l, const struct vg_config *c,
		 int64_t id, const struct vg_addr *a, uint64_t ms,
		 const struct vg_nft_elem *exempt, size_t n_exempt,
		 struct vg_nft_elem *out)
{
	struct vg_nft_elem e = { 0 };

	e.addr = *a;
	if (cs_overlaps_ignore(c, a) || cs_lifted(l, id, a) ||
	    (n_exempt && bsearch(&e, exempt, n_exempt, sizeof(*exempt),
				 cs_elem_cmp)))
		return false;
	e.timeout_ms = ms;
	*out = e;
	return true;
}

size_t cs_want(const struct cs_link *l, const struct vg_config *c,
	       int64_t now, const struct vg_nft_elem *exempt, size_t n_exempt,
	       struct vg_nft_elem *out)
{
	size_t k = 0, max = cs_want_max(l);

	for (size_t i = 0; i < l->n_dec && k < max; i++) {
		const struct cs_decision *d = &l->dec[i];
		uint64_t ms = (uint64_t)(d->until - now) * 1000;
		struct vg_addr a;

		/* (a hand-edited file may hold what take() refuses) */
		if (d->until <= now || (d->net.family == VG_FAMILY_V4 &&
					d->net.prefix < CS_V4_RANGE_MIN))
			continue;
		if (d->net.family == VG_FAMILY_V6) {
			vg_addr_key(&d->net, c->ipv6_prefix, &a);
			k += emit(l, c, d->id, &a, ms, exempt, n_exempt,
				  &out[k]);
			continue;
		}
		/* IPv4: each address of the range (at most 256). */
		uint32_t base = (uint32_t)d->net.bytes[12] << 24 |
				(uint32_t)d->net.bytes[13] << 16 |
				(uint32_t)d->net.bytes[14] << 8 |
				d->net.bytes[15];
		uint32_t count = 1u << (32 - d->net.prefix);

		for (uint32_t j = 0; j < count && k < max; j++) {
			uint32_t v = base + j;

			a = d->net;
			a.prefix = 32;
			a.bytes[12] = (uint8_t)(v >> 24);
			a.bytes[13] = (uint8_t)(v >> 16);
			a.bytes[14] = (uint8_t)(v >> 8);
			a.bytes[15] = (uint8_t)v;
			k += emit(l, c, d->id, &a, ms, exempt, n_exempt,
				  &out[k]);
		}
	}
	return k;
}

/* The elements of drop4/drop6, trust4/trust6 and drop4net/drop6net:
 * add and delete (apply), list, reconcile.
 *
 * Elements are packed many per NEWSETELEM/DELSETELEM message (a nest
 * length is 16 bits, so a message is closed at ~60 KB), which keeps 10,000
 * elements at a few dozen messages and ACKs.  A refresh's three messages
 * are never cut apart when a batch must be split (nft_batch.c).
 *
 * Refresh.  Before Linux 6.12 re-adding an existing element keeps its old
 * timeout.  The portable refresh is NEWSETELEM (no EXCL: makes it exist),
 * DELSETELEM, NEWSETELEM with the new timeout, all in one batch: atomic,
 * no unbanned window.  Elements the caller knows are absent (fresh) get
 * the plain add only.
 *
 * Deletes.  DELSETELEM of an absent element fails the whole batch with
 * ENOENT.  apply() then re-reads the sets and sends once more without the
 * absent ones.
 *
 * Prefix bans.  drop4net/drop6net hold /24 and /48 keys, matched with
 * `saddr & MASK`; drop6 cannot, its mask is ipv6.prefix.  Elements must
 * come masked (valid_elem()), else they could never match.
 *
 * Link-local.  drop6 and drop6net never hold an address in fe80::/10,
 * whoever asks (a ban by hand, a restored state file, CrowdSec, an old
 * table keyed per /64): under the rule's mask such an element is
 * fe80::/64 or fe80::/48, every host on the link, the default gateway
 * too, and dropping the gateway's neighbour advertisements cuts the host
 * off from IPv6.  apply leaves them out of its adds (rep->skipped), and
 * reconcile deletes any it finds, ours or not.  Such a source is still
 * refused by the PAM module. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>

#include "nft_internal.h"

/* NFTNL_UDATA_*_COMMENT (type 0), "vpsguard\0": what nft shows as
 * comment "vpsguard" on the elements the helper adds. */
static const unsigned char elem_comment[] = {
	0, 9, 'v', 'p', 's', 'g', 'u', 'a', 'r', 'd', 0
};

/* ---- elements ------------------------------------------------------ */

static const char *set_name(enum vg_nft_set set, int family)
{
	if (set == VG_NFT_TRUST)
		return family == VG_FAMILY_V4 ? "trust4" : "trust6";
	if (set == VG_NFT_DROP_NET)
		return family == VG_FAMILY_V4 ? "drop4net" : "drop6net";
	return family == VG_FAMILY_V4 ? "drop4" : "drop6";
}

/* The prefix length of one element of the set in family fam. */
static unsigned int set_prefix(enum vg_nft_set set, int fam,
			       unsigned int v6prefix)
{
	if (set == VG_NFT_DROP_NET)
		return fam == VG_FAMILY_V4 ? VG_NFT_NET_V4 : VG_NFT_NET_V6;
	if (fam == VG_FAMILY_V4)
		return 32;
	return v6prefix && v6prefix <= 128 ? v6prefix : 128;
}

static const uint8_t *key_of(const struct vg_addr *a, size_t *len)
{
	if (a->family == VG_FAMILY_V4) {
		*len = 4;
		return a->bytes + 12;
	}
	*len = 16;
	return a->bytes;
}

void nft_put_elem(struct nlmsghdr *nlh, const void *key, size_t klen,
		  uint64_t timeout_ms, uint32_t flags, bool comment)
{
	struct nlattr *ne = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	struct nlattr *nk = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, klen, key);
	mnl_attr_nest_end(nlh, nk);
	if (flags)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htobe32(flags));
	if (timeout_ms)
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT,
				 htobe64(timeout_ms));
	if (comment)
		mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, sizeof(elem_comment),
			     elem_comment);
	mnl_attr_nest_end(nlh, ne);
}

struct elsrc {
	const struct vg_nft_elem *v;
	const long *idx;	/* positions in v, in this family */
	size_t n;
};

/* Element messages of one type for idx[from..) until the nest is full;
 * returns how many elements went in, or -errno. */
static long put_elem_msg(struct nft_batch *b, int type, const char *set,
			 const struct elsrc *s, size_t from, bool del, size_t lim)
{
	bool extras = type == NFT_MSG_NEWSETELEM;	/* timeout, comment */

	uint16_t fl = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0;
	struct nlmsghdr *nlh = nft_msg_start(b, type, fl);

	if (!nlh)
		return -ENOMEM;
	struct nft_msg *m = &b->m[b->nm];

	m->del = del;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	struct nlattr *nest = mnl_attr_nest_start(nlh,
						  NFTA_SET_ELEM_LIST_ELEMENTS);
	size_t i = from;

	for (; i < s->n && i - from < lim; i++) {
		const struct vg_nft_elem *e = &s->v[s->idx[i]];
		size_t klen;
		const uint8_t *key = key_of(&e->addr, &klen);
		uint32_t off = nlh->nlmsg_len;

		if (off - ((char *)nest - (char *)nlh) > NFT_NEST_MAX)
			break;
		nft_put_elem(nlh, key, klen, extras ? e->timeout_ms : 0, 0,
			     extras);
		if (nft_msg_add_elref(m, off, nlh->nlmsg_len - off,
				      s->idx[i]) < 0)
			return -ENOMEM;
	}
	mnl_attr_nest_end(nlh, nest);
	nft_msg_end(b, nlh);
	return (long)(i - from);
}

static int valid_elem(enum vg_nft_set set, const struct vg_nft_elem *e)
{
	if (e->addr.family != VG_FAMILY_V4 && e->addr.family != VG_FAMILY_V6)
		return -EINVAL;
	if (set == VG_NFT_DROP_NET) {
		/* The rule matches saddr & MASK: an element of any other
		 * length, or with host bits, would never match anything. */
		struct vg_addr m = e->addr;
		unsigned int bits = set_prefix(set, e->addr.family, 0);

		vg_addr_mask(&m, bits);
		if (e->addr.prefix != bits ||
		    memcmp(m.bytes, e->addr.bytes, sizeof(m.bytes)))
			return -EINVAL;
	}
	return 0;
}

/* May set hold e?  A drop set never holds a link-local address (see
 * the top); trust6 may, it only exempts from the connlimit meter. */
static bool droppable(enum vg_nft_set set, const struct vg_nft_elem *e)
{
	return set == VG_NFT_TRUST || !vg_addr_link_local(&e->addr);
}

/* How many elements of v set may not hold (apply leaves them out). */
static size_t count_undroppable(enum vg_nft_set set,
				const struct vg_nft_elem *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (!droppable(set, &v[i]))
			k++;
	return k;
}

/* Positions of list v in family fam (adds: only those set may hold).
 * Positions, not a filtered copy: errors name the caller's index. */
static long *pick(const struct vg_nft_elem *v, size_t n, int fam,
		  bool (*want)(const struct vg_nft_elem *),
		  const enum vg_nft_set *adds_to, size_t *out)
{
	long *idx = malloc((n ? n : 1) * sizeof(*idx));

	*out = 0;
	if (!idx)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i].addr.family == fam && (!want || want(&v[i])) &&
		    (!adds_to || droppable(*adds_to, &v[i])))
			idx[(*out)++] = (long)i;
	return idx;
}

static bool is_fresh(const struct vg_nft_elem *e) { return e->fresh; }
static bool is_stale(const struct vg_nft_elem *e) { return !e->fresh; }

static int build_elems(struct nft_batch *b, enum vg_nft_set set,
		       const struct vg_nft_elem *add, size_t nadd,
		       const struct vg_nft_elem *del, size_t ndel)
{
	static const int fams[2] = { VG_FAMILY_V4, VG_FAMILY_V6 };

	for (int f = 0; f < 2; f++) {
		const char *name = set_name(set, fams[f]);
		struct elsrc s;
		long *idx;
		long k = 0;	/* read after the loop even when it ran 0 times */

		/* fresh adds: one NEWSETELEM per chunk */
		s.v = add;
		s.idx = idx = pick(add, nadd, fams[f], is_fresh, &set, &s.n);
		if (!idx)
			return -ENOMEM;
		for (size_t i = 0; i < s.n; i += (size_t)k) {
			k = put_elem_msg(b, NFT_MSG_NEWSETELEM, name, &s, i,
					 false, SIZE_MAX);
			if (k < 0)
				break;
		}
		free(idx);
		if (k < 0)
			return (int)k;
		/* refreshes: NEW, DEL, NEW of the same chunk, never cut */
		s.idx = idx = pick(add, nadd, fams[f], is_stale, &set, &s.n);
		if (!idx)
			return -ENOMEM;
		k = 0;
		for (size_t i = 0; i < s.n; i += (size_t)k) {
			k = put_elem_msg(b, NFT_MSG_NEWSETELEM, name, &s, i,
					 false, SIZE_MAX);
			if (k < 0)
				break;
			b->m[b->nm - 1].cut_after = false;
			if (put_elem_msg(b, NFT_MSG_DELSETELEM, name, &s, i,
					 false, (size_t)k) != k) {
				k = -ENOMEM;
				break;
			}
			b->m[b->nm - 1].cut_after = false;
			b->m[b->nm - 1].del = false;
			if (put_elem_msg(b, NFT_MSG_NEWSETELEM, name, &s, i,
					 false, (size_t)k) != k) {
				k = -ENOMEM;
				break;
			}
		}
		free(idx);
		if (k < 0)
			return (int)k;
		/* deletes */
		s.v = del;
		s.idx = idx = pick(del, ndel, fams[f], NULL, NULL, &s.n);
		if (!idx)
			return -ENOMEM;
		k = 0;
		for (size_t i = 0; i < s.n; i += (size_t)k) {
			k = put_elem_msg(b, NFT_MSG_DELSETELEM, name, &s, i,
					 true, SIZE_MAX);
			if (k < 0)
				break;
		}
		free(idx);
		if (k < 0)
			return (int)k;
	}
	return 0;
}

/* ---- list ---------------------------------------------------------- */

struct list_ctx {
	struct vg_nft_elem *v;
	size_t n, cap;
	int family;
	unsigned int prefix;	/* of every element of this family */
	int err;
};

static int list_elem_cb(struct nftnl_set_elem *e, void *data)
{
	struct list_ctx *c = data;
	uint32_t klen = 0, ulen = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);

	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
	    (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) &
	     NFT_SET_ELEM_INTERVAL_END))
		return 0;
	if (!key || klen != (c->family == VG_FAMILY_V4 ? 4u : 16u))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct vg_nft_elem *p = realloc(c->v, cap * sizeof(*p));

		if (!p) {
			c->err = -ENOMEM;
			return -1;
		}
		c->v = p;
		c->cap = cap;
	}
	struct vg_nft_elem *o = &c->v[c->n++];

	memset(o, 0, sizeof(*o));
	o->addr.family = (uint8_t)c->family;
	if (c->family == VG_FAMILY_V4) {
		o->addr.bytes[10] = o->addr.bytes[11] = 0xff;
		memcpy(o->addr.bytes + 12, key, 4);
	} else {
		memcpy(o->addr.bytes, key, 16);
	}
	o->addr.prefix = (uint8_t)c->prefix;
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT))
		o->timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
		o->expires_ms = nftnl_set_elem_get_u64(e,
						NFTNL_SET_ELEM_EXPIRATION);
	const void *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &ulen);

	o->ours = ud && ulen == sizeof(elem_comment) &&
		  memcmp(ud, elem_comment, ulen) == 0;
	return 0;
}

static int list_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct list_ctx *c = data;

	/* On an error keep reading to NLMSG_DONE: the socket is reused. */
	if (c->err)
		return MNL_CB_OK;
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
		c->err = -EINTR;	/* a commit raced the dump: again */
		return MNL_CB_OK;
	}
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s) {
		c->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
		c->err = -EBADMSG;
	else
		nftnl_set_elem_foreach(s, list_elem_cb, c);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static int list_one(struct nft_nl *n, const char *name, struct list_ctx *c)
{
	char buf[8192] = { 0 };
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
					NFPROTO_INET, NLM_F_DUMP, n->seq++);

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	int r = nft_dump(n, nlh, list_msg_cb, c);

	return c->err ? c->err : r;
}

static int list_sock(struct nft_nl *n, enum vg_nft_set set, unsigned v6prefix,
		     struct vg_nft_elem **out, size_t *cnt)
{
	struct list_ctx c = { 0 };
	int r = -EINTR;

	for (int tries = 0; tries < 4 && r == -EINTR; tries++) {
		c.n = 0;
		c.err = 0;
		c.family = VG_FAMILY_V4;
		c.prefix = set_prefix(set, VG_FAMILY_V4, v6prefix);
		r = list_one(n, set_name(set, VG_FAMILY_V4), &c);
		if (!r) {
			c.family = VG_FAMILY_V6;
			c.prefix = set_prefix(set, VG_FAMILY_V6, v6prefix);
			r = list_one(n, set_name(set, VG_FAMILY_V6), &c);
		}
	}
	if (r) {
		free(c.v);
		*out = NULL;
		*cnt = 0;
		return r;
	}
	if (!c.n) {
		free(c.v);
		c.v = NULL;
	}
	*out = c.v;
	*cnt = c.n;
	return 0;
}

int vg_nft_list(enum vg_nft_set set, unsigned int v6prefix,
		struct vg_nft_elem **out, size_t *n)
{
	struct nft_nl nl;
	int r;

	*out = NULL;
	*n = 0;
	if ((unsigned int)set > VG_NFT_DROP_NET)
		return -EINVAL;
	r = nft_nl_open(&nl);
	if (r)
		return r;
	r = list_sock(&nl, set, v6prefix, out, n);
	nft_nl_close(&nl);
	return r;
}

/* ---- apply / reconcile --------------------------------------------- */

static int cmp_addr(const struct vg_addr *a, const struct vg_addr *b)
{
	size_t la, lb;
	const uint8_t *ka, *kb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	ka = key_of(a, &la);
	kb = key_of(b, &lb);
	return memcmp(ka, kb, la);
}

static int cmp_elem(const void *x, const void *y)
{
	return cmp_addr(&((const struct vg_nft_elem *)x)->addr,
			&((const struct vg_nft_elem *)y)->addr);
}

static int apply_sock(struct nft_nl *n, enum vg_nft_set set,
		      const struct vg_nft_elem *add, size_t nadd,
		      const struct vg_nft_elem *del, size_t ndel,
		      struct vg_nft_report *rep)
{
	struct vg_nft_elem *del2 = NULL, *have = NULL;
	size_t nhave = 0, skipped = count_undroppable(set, add, nadd);
	int r = 0;

	for (size_t i = 0; i < nadd; i++)
		if (valid_elem(set, &add[i]))
			return -EINVAL;
	for (size_t i = 0; i < ndel; i++)
		if (valid_elem(set, &del[i]))
			return -EINVAL;
	rep->skipped += skipped;
	if (skipped == nadd && !ndel)
		return 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct nft_batch b = { .nl = n };

		r = build_elems(&b, set, add, nadd, del, ndel);
		if (!r)
			r = nft_batch_send(&b, rep);
		/* A delete of an absent element (expired, or unbanned
		 * meanwhile)?  Re-read and send once more without it. */
		bool on_del = false;

		for (size_t i = 0; i < b.nm && r == -ENOENT; i++)
			if (b.m[i].err == -ENOENT && b.m[i].del)
				on_del = true;
		if (on_del && attempt == 0) {
			nft_batch_free(&b);
			r = list_sock(n, set, 0, &have, &nhave);
			if (r)
				break;
			if (nhave)	/* qsort(NULL, 0) is undefined */
				qsort(have, nhave, sizeof(*have), cmp_elem);
			del2 = malloc((ndel ? ndel : 1) * sizeof(*del2));
			if (!del2) {
				r = -ENOMEM;
				break;
			}
			size_t k = 0;

			for (size_t i = 0; i < ndel; i++)
				if (nhave && bsearch(&del[i], have, nhave,
						     sizeof(*have), cmp_elem))
					del2[k++] = del[i];
				else
					rep->already++;
			del = del2;
			ndel = k;
			rep->msg[0] = 0;
			continue;
		}
		if (r)
			nft_batch_errors(&b, rep, add, del);
		nft_batch_free(&b);
		break;
	}
	if (!r) {
		rep->added += nadd - skipped;
		rep->deleted += ndel;
	}
	free(del2);
	free(have);
	return r;
}

int vg_nft_apply(enum vg_nft_set set, const struct vg_nft_elem *add,
		 size_t nadd, const struct vg_nft_elem *del, size_t ndel,
		 struct vg_nft_report *rep)
{
	struct vg_nft_report dummy;
	struct nft_nl nl;
	int r;

	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	if ((unsigned int)set > VG_NFT_DROP_NET)
		return -EINVAL;
	if (!nadd && !ndel)
		return 0;
	r = nft_nl_open(&nl);
	if (r)
		return r;
	r = apply_sock(&nl, set, add, nadd, del, ndel, rep);
	nft_nl_close(&nl);
	return r;
}

int vg_nft_reconcile(enum vg_nft_set set, const struct vg_nft_elem *want,
		     size_t n, unsigned int v6prefix,
		     struct vg_nft_report *rep)
{
	struct vg_nft_report dummy;
	struct vg_nft_elem *w = NULL, *have = NULL, *add = NULL, *del = NULL;
	size_t nhave = 0, nadd = 0, ndel = 0, nw = 0, i = 0, j = 0;
	struct nft_nl nl;
	int r;

	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	if ((unsigned int)set > VG_NFT_DROP_NET)
		return -EINVAL;
	for (size_t k = 0; k < n; k++)
		if (valid_elem(set, &want[k]))
			return -EINVAL;
	r = nft_nl_open(&nl);
	if (r)
		return r;
	r = list_sock(&nl, set, v6prefix, &have, &nhave);
	if (r)
		goto out;
	w = malloc((n ? n : 1) * sizeof(*w));
	add = malloc((n ? n : 1) * sizeof(*add));
	del = malloc((nhave ? nhave : 1) * sizeof(*del));
	if (!w || !add || !del) {
		r = -ENOMEM;
		goto out;
	}
	/* What the set may not hold is not wanted: found there, it goes. */
	for (size_t k = 0; k < n; k++)
		if (droppable(set, &want[k]))
			w[nw++] = want[k];
	rep->skipped = n - nw;
	n = nw;
	qsort(w, n, sizeof(*w), cmp_elem);
	if (nhave)		/* have may be NULL: qsort(NULL, 0) is UB */
		qsort(have, nhave, sizeof(*have), cmp_elem);
	for (size_t k = 1; k < n; k++)
		if (cmp_elem(&w[k - 1], &w[k]) == 0) {
			r = -EINVAL;
			goto out;
		}
	while (i < n || j < nhave) {
		int c = i >= n ? 1 : j >= nhave ? -1 : cmp_elem(&w[i], &have[j]);

		if (c < 0) {			/* wanted, absent */
			add[nadd] = w[i++];
			add[nadd++].fresh = true;
		} else if (c > 0) {		/* present, unwanted */
			if (have[j].ours || !droppable(set, &have[j]))
				del[ndel++] = have[j];
			j++;
		} else {
			const struct vg_nft_elem *k = &have[j++];
			uint64_t want_ms = w[i].timeout_ms;
			bool redo;

			if (!want_ms || !k->timeout_ms)
				redo = (!want_ms) != (!k->timeout_ms) &&
				       (k->ours || !want_ms);
			else if (k->ours)
				redo = want_ms > k->expires_ms + VG_NFT_TOLERANCE_MS ||
				       k->expires_ms > want_ms + VG_NFT_TOLERANCE_MS;
			else
				redo = want_ms > k->expires_ms + VG_NFT_TOLERANCE_MS;
			if (redo) {
				add[nadd] = w[i];
				add[nadd++].fresh = false;
			} else {
				rep->kept++;
			}
			i++;
		}
	}
	if (nadd || ndel) {
		size_t kept = rep->kept, skipped = rep->skipped;

		r = apply_sock(&nl, set, add, nadd, del, ndel, rep);
		rep->kept = kept;
		rep->skipped = skipped;
	}
out:
	nft_nl_close(&nl);
	free(w);
	free(have);
	free(add);
	free(del);
	return r;
}

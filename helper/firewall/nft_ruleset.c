/* Table inet vpsguard as a whole: its sets, chain input and the rules in
 * it, the contents of ignore4/ignore6/sshports (all from the config), the
 * check whether they are up to date, and destroy.
 *
 * ensure() writes all of it in ONE batch, never split, so the chain is
 * never seen half written.  Every rule carries the tag nft_rule_tag()
 * makes of the config, so the check is a dump of the set definitions and
 * one of the rules' comments, not of the rules' expressions. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "config.h"
#include "log.h"
#include "nft_internal.h"

#define KEY_IPV4	7	/* nftables datatype ids (datatype.h) */
#define KEY_IPV6	8
#define KEY_SERVICE	13

struct setdef {
	const char *name;
	uint32_t key, klen, flags, size;
};

static const struct setdef sets[] = {
	{ "drop4", KEY_IPV4, 4, NFT_SET_TIMEOUT | NFT_SET_EVAL, VG_NFT_DROP_SIZE },
	{ "drop6", KEY_IPV6, 16, NFT_SET_TIMEOUT | NFT_SET_EVAL, VG_NFT_DROP_SIZE },
	{ "drop4net", KEY_IPV4, 4, NFT_SET_TIMEOUT, 0 },
	{ "drop6net", KEY_IPV6, 16, NFT_SET_TIMEOUT, 0 },
	{ "trust4", KEY_IPV4, 4, NFT_SET_TIMEOUT, 0 },
	{ "trust6", KEY_IPV6, 16, NFT_SET_TIMEOUT, 0 },
	{ "ignore4", KEY_IPV4, 4, NFT_SET_INTERVAL, 0 },
	{ "ignore6", KEY_IPV6, 16, NFT_SET_INTERVAL, 0 },
	{ "rate4", KEY_IPV4, 4, NFT_SET_TIMEOUT | NFT_SET_EVAL, VG_NFT_METER_SIZE },
	{ "rate6", KEY_IPV6, 16, NFT_SET_TIMEOUT | NFT_SET_EVAL, VG_NFT_METER_SIZE },
	{ "sshports", KEY_SERVICE, 2, 0, 0 },
};
#define NSETS (sizeof(sets) / sizeof(sets[0]))

/* -- the check: is the table as cfg wants it? -- */

struct check_ctx {
	const char *tag;
	unsigned int rules, good;
	unsigned int sets_ok;	/* bit per sets[] entry */
	int err;
};

static int check_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct check_ctx *c = data;
	struct nftnl_rule *r;
	uint32_t len = 0;

	if (c->err)
		return MNL_CB_OK;
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		c->err = -EINTR;
	r = nftnl_rule_alloc();
	if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0) {
		if (r)
			nftnl_rule_free(r);
		c->err = -EBADMSG;
		return MNL_CB_OK;
	}
	c->rules++;
	const unsigned char *ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA,
						      &len);
	size_t tl = strlen(c->tag) + 1;

	if (ud && len == tl + 2 && ud[0] == 0 && ud[1] == tl &&
	    memcmp(ud + 2, c->tag, tl) == 0)
		c->good++;
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static int check_set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct check_ctx *c = data;
	struct nftnl_set *s;

	if (c->err)
		return MNL_CB_OK;
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		c->err = -EINTR;
	s = nftnl_set_alloc();
	if (!s || nftnl_set_nlmsg_parse(nlh, s) < 0) {
		if (s)
			nftnl_set_free(s);
		c->err = -EBADMSG;
		return MNL_CB_OK;
	}
	const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME);

	for (size_t i = 0; name && i < NSETS; i++) {
		uint32_t size = 0;

		if (strcmp(name, sets[i].name))
			continue;
		if (nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE))
			size = nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE);
		if (nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE) == sets[i].key &&
		    nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN) == sets[i].klen &&
		    nftnl_set_get_u32(s, NFTNL_SET_FLAGS) == sets[i].flags &&
		    size == sets[i].size)
			c->sets_ok |= 1u << i;
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

/* 1: up to date, 0: needs writing, -errno: cannot tell. */
static int check(struct nft_nl *n, const struct vg_nft_config *cfg,
		 const char *tag)
{
	char buf[8192] = { 0 };
	struct check_ctx c = { .tag = tag };
	struct nlmsghdr *nlh;
	int r;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET,
				    NLM_F_DUMP, n->seq++);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, VG_NFT_TABLE);
	r = nft_dump(n, nlh, check_set_cb, &c);
	if (r == -ENOENT)
		return 0;
	if (r)
		return c.err ? c.err : r;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
				    NLM_F_DUMP, n->seq++);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, NFT_CHAIN);
	r = nft_dump(n, nlh, check_rule_cb, &c);
	if (r == -ENOENT)
		return 0;
	if (r)
		return c.err ? c.err : r;
	unsigned want = nft_rule_count(cfg);

	return c.sets_ok == (1u << NSETS) - 1 && c.rules == want &&
	       c.good == want;
}

/* -- interval elements for ignore4/ignore6 -- */

typedef unsigned __int128 u128;

struct range { u128 lo, last; };	/* inclusive */

static int cmp_range(const void *x, const void *y)
{
	const struct range *a = x, *b = y;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static void u128_put(u128 v, uint8_t *out, size_t len)
{
	for (size_t i = len; i-- > 0; v >>= 8)
		out[i] = (uint8_t)v;
}

/* Flush ignore4/ignore6 and fill it with the merged ranges of l (the
 * kernel refuses overlapping intervals).  Like nft: an end element at 0
 * first when the first range does not start there; a range reaching the
 * top of the address space has no end element. */
static int put_ignore(struct nft_batch *b, const struct vg_cidr_list *l,
		      int fam)
{
	struct range rg[VG_CIDR_LIST_MAX];
	unsigned int bits = fam == VG_FAMILY_V4 ? 32 : 128, nr = 0, m = 0;
	size_t klen = bits / 8;
	u128 max = fam == VG_FAMILY_V4 ? 0xffffffffu : ~(u128)0;
	const char *name = fam == VG_FAMILY_V4 ? "ignore4" : "ignore6";
	uint8_t key[16];

	for (unsigned i = 0; i < l->n && i < VG_CIDR_LIST_MAX; i++) {
		const struct vg_addr *a = &l->net[i];
		u128 lo = 0, host;

		if (a->family != fam || a->prefix > bits)
			continue;
		for (size_t k = 16 - klen; k < 16; k++)
			lo = lo << 8 | a->bytes[k];
		host = a->prefix == 0 ? max :
		       (((u128)1 << (bits - a->prefix)) - 1);
		rg[nr].lo = lo & ~host & max;
		rg[nr].last = rg[nr].lo | host;
		nr++;
	}
	struct nlmsghdr *nlh = nft_msg_start(b, NFT_MSG_DELSETELEM, 0);

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	nft_msg_end(b, nlh);
	if (!nr)
		return 0;
	qsort(rg, nr, sizeof(rg[0]), cmp_range);
	for (unsigned i = 1; i < nr; i++) {
		if (rg[m].last == max || rg[i].lo <= rg[m].last + 1) {
			if (rg[i].last > rg[m].last)
				rg[m].last = rg[i].last;
		} else {
			rg[++m] = rg[i];
		}
	}
	nr = m + 1;
	nlh = nft_msg_start(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	struct nlattr *nest = mnl_attr_nest_start(nlh,
						  NFTA_SET_ELEM_LIST_ELEMENTS);

	if (rg[0].lo != 0) {
		memset(key, 0, sizeof(key));
		nft_put_elem(nlh, key, klen, 0, NFT_SET_ELEM_INTERVAL_END,
			     false);
	}
	for (unsigned i = 0; i < nr; i++) {
		u128_put(rg[i].lo, key, klen);
		nft_put_elem(nlh, key, klen, 0, 0, false);
		if (rg[i].last != max) {
			u128_put(rg[i].last + 1, key, klen);
			nft_put_elem(nlh, key, klen, 0,
				     NFT_SET_ELEM_INTERVAL_END, false);
		}
	}
	mnl_attr_nest_end(nlh, nest);
	nft_msg_end(b, nlh);
	return 0;
}

static int put_ports(struct nft_batch *b, const struct vg_nft_config *cfg)
{
	struct nlmsghdr *nlh = nft_msg_start(b, NFT_MSG_DELSETELEM, 0);

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "sshports");
	nft_msg_end(b, nlh);
	if (!nft_connlimit_on(cfg))
		return 0;
	nlh = nft_msg_start(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "sshports");
	struct nlattr *nest = mnl_attr_nest_start(nlh,
						  NFTA_SET_ELEM_LIST_ELEMENTS);

	for (unsigned i = 0; i < cfg->n_ports && i < 16; i++) {
		bool dup = false;

		for (unsigned k = 0; k < i; k++)
			dup |= cfg->ports[k] == cfg->ports[i];
		if (dup)
			continue;
		uint16_t p = htobe16(cfg->ports[i]);

		nft_put_elem(nlh, &p, 2, 0, 0, false);
	}
	mnl_attr_nest_end(nlh, nest);
	nft_msg_end(b, nlh);
	return 0;
}

/* -- the ensure batch -- */

/* One table message: DELTABLE (recreate, destroy) or NEWTABLE. */
static int put_table(struct nft_batch *b, int type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, VG_NFT_TABLE);
	nlh = nft_msg_start(b, type, flags);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		nft_msg_end(b, nlh);
	}
	nftnl_table_free(t);
	return nlh ? 0 : -ENOMEM;
}

static int put_sets(struct nft_batch *b)
{
	for (size_t i = 0; i < NSETS; i++) {
		struct nftnl_set *s = nftnl_set_alloc();
		struct nlmsghdr *nlh;

		if (!s)
			return -ENOMEM;
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, VG_NFT_TABLE);
		nftnl_set_set_str(s, NFTNL_SET_NAME, sets[i].name);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, sets[i].key);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sets[i].klen);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, sets[i].flags);
		nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)i + 1);
		if (sets[i].size)
			nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, sets[i].size);
		nlh = nft_msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE);
		if (nlh) {
			nftnl_set_nlmsg_build_payload(nlh, s);
			nft_msg_end(b, nlh);
		}
		nftnl_set_free(s);
		if (!nlh)
			return -ENOMEM;
	}
	return 0;
}

/* NEWCHAIN input, then flush it (DELRULE with table + chain only). */
static int put_chain(struct nft_batch *b)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!ch)
		return -ENOMEM;
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, VG_NFT_TABLE);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, NFT_CHAIN);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_IN);
	nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, -10);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = nft_msg_start(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, ch);
		nft_msg_end(b, nlh);
	}
	nftnl_chain_free(ch);
	if (!nlh)
		return -ENOMEM;
	nlh = nft_msg_start(b, NFT_MSG_DELRULE, 0);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, NFT_CHAIN);
	nft_msg_end(b, nlh);
	return 0;
}

static int put_rules(struct nft_batch *b, const struct vg_nft_config *cfg,
		     const char *tag)
{
	for (int i = 0; i < (int)nft_rule_count(cfg); i++) {
		struct nftnl_rule *r = nft_make_rule(cfg, i, tag);
		struct nlmsghdr *nlh;

		if (!r)
			return -ENOMEM;
		nlh = nft_msg_start(b, NFT_MSG_NEWRULE,
				    NLM_F_CREATE | NLM_F_APPEND);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, r);
			nft_msg_end(b, nlh);
		}
		nftnl_rule_free(r);
		if (!nlh)
			return -ENOMEM;
	}
	return 0;
}

/* The whole ensure batch, in this order: [DELTABLE] NEWTABLE, NEWSET x11,
 * NEWCHAIN, flush chain, ignore4/ignore6/sshports contents, NEWRULE xn. */
static int build_ensure(struct nft_batch *b, const struct vg_nft_config *cfg,
			const char *tag, bool recreate)
{
	int err = 0;

	if (recreate)
		err = put_table(b, NFT_MSG_DELTABLE, 0);
	if (!err)
		err = put_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	if (!err)
		err = put_sets(b);
	if (!err)
		err = put_chain(b);
	/* ignoreip always: the prefix drops exempt it too. */
	if (!err)
		err = put_ignore(b, &cfg->ignore, VG_FAMILY_V4);
	if (!err)
		err = put_ignore(b, &cfg->ignore, VG_FAMILY_V6);
	if (!err)
		err = put_ports(b, cfg);
	if (!err)
		err = put_rules(b, cfg, tag);
	if (err)
		return err;
	for (size_t i = 0; i < b->nm; i++)	/* one transaction, always */
		b->m[i].cut_after = i + 1 == b->nm;
	return 0;
}

int vg_nft_ensure(const struct vg_nft_config *cfg, struct vg_nft_report *rep)
{
	struct vg_nft_report dummy;
	char tag[32];
	struct nft_nl nl;
	int r;

	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	if (cfg->v6prefix < 1 || cfg->v6prefix > 128 || cfg->n_ports > 16 ||
	    (nft_connlimit_on(cfg) && (cfg->conn_per > 86400 * 7 ||
				       cfg->conn_bantime > VG_DURATION_MAX ||
				       cfg->conn_count > UINT32_MAX)))
		return -EINVAL;
	nft_rule_tag(cfg, tag, sizeof(tag));
	r = nft_nl_open(&nl);
	if (r)
		return r;
	r = check(&nl, cfg, tag);
	if (r == -EINTR)
		r = check(&nl, cfg, tag);
	if (r == 1) {
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct nft_batch b = { .nl = &nl };

		r = build_ensure(&b, cfg, tag, attempt == 1);
		if (!r)
			r = nft_batch_send(&b, rep);
		if (r)
			nft_batch_errors(&b, rep, NULL, NULL);
		/* A set or the chain exists with another shape (an older
		 * version, an edit by hand): replace the whole table in
		 * one transaction.  Its elements are lost. */
		bool shape = false;

		for (size_t i = 0; i < b.nm && r; i++)
			if ((b.m[i].type == NFT_MSG_NEWSET ||
			     b.m[i].type == NFT_MSG_NEWCHAIN) &&
			    (b.m[i].err == -EEXIST || b.m[i].err == -EBUSY ||
			     b.m[i].err == -EOPNOTSUPP))
				shape = true;
		nft_batch_free(&b);
		if (r && shape && attempt == 0) {
			vg_log(LOG_WARNING, "nftables: table inet %s has "
			       "sets or a chain of another shape (%s); "
			       "recreating it, its elements are lost",
			       VG_NFT_TABLE, strerror(-r));
			memset(rep, 0, sizeof(*rep));
			continue;
		}
		break;
	}
	if (!r)
		rep->rebuilt = true;
out:
	nft_nl_close(&nl);
	return r;
}

int vg_nft_destroy(void)
{
	struct vg_nft_report rep = { 0 };
	struct nft_batch b = { 0 };
	struct nft_nl nl;
	int r;

	r = nft_nl_open(&nl);
	if (r)
		return r;
	b.nl = &nl;
	r = put_table(&b, NFT_MSG_DELTABLE, 0);
	if (!r)
		r = nft_batch_send(&b, &rep);
	if (r == -ENOENT)
		r = 0;
	nft_batch_free(&b);
	nft_nl_close(&nl);
	return r;
}

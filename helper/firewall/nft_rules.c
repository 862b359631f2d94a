/* The rules of chain input (nft.h lists them), built expression by
 * expression, and the tag in their comment.
 *
 * connlimit (nft.h has the whole argument).  The meter counts a
 * connection when conntrack marks it assured, i.e. on the client's ACK
 * that passed conntrack's window check against our SYN-ACK, and only
 * once, by conntrack labels: 126 set where the conntrack is born, 127
 * when it is counted.  Verified in namespaces (tests/nft): bare SYNs
 * with a forged source count for nothing, neither do the RST the real
 * owner of that address answers our SYN-ACK with, nor a forged RST or a
 * blind ACK; `ct state established` + `ct original packets 2` (the
 * first idea) counted those RSTs and dropped the forged address.  The
 * labels only ever get ORed in: a conntrack born before the rule never
 * has 126 and is never metered, instead of being metered per packet. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>

#include "nft_internal.h"

/* In every rule's comment hash: a new version of the rules (2 =
 * connlimit meters handshakes, not SYNs; the prefix drop sets; 3 = the
 * IPv6 meter leaves link-local sources alone) makes an older chain "not
 * up to date", so ensure() rewrites it. */
#define SCHEMA		"vpsguard-nft-3"

bool nft_connlimit_on(const struct vg_nft_config *cfg)
{
	return cfg->conn_count > 0 && cfg->conn_per > 0 && cfg->n_ports > 0;
}

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n--)
		h = (h ^ *s++) * 16777619u;
	return h;
}

/* "vpsguard 1a2b3c4d": the rules' comment, a hash of what they enforce. */
void nft_rule_tag(const struct vg_nft_config *cfg, char *buf, size_t len)
{
	uint32_t h = fnv(2166136261u, SCHEMA, sizeof(SCHEMA));
	uint64_t v[4] = { cfg->v6prefix, 0, 0, 0 };

	if (nft_connlimit_on(cfg)) {
		v[1] = cfg->conn_count;
		v[2] = cfg->conn_per;
		v[3] = cfg->conn_bantime;
	}
	h = fnv(h, v, sizeof(v));
	if (nft_connlimit_on(cfg))
		h = fnv(h, cfg->ports, cfg->n_ports * sizeof(cfg->ports[0]));
	/* ignore4/ignore6 serve the prefix drops as well: always hashed. */
	for (unsigned i = 0; i < cfg->ignore.n && i < VG_CIDR_LIST_MAX; i++) {
		const struct vg_addr *a = &cfg->ignore.net[i];

		h = fnv(h, a->bytes, 16);
		h = fnv(h, &a->family, 1);
		h = fnv(h, &a->prefix, 1);
	}
	snprintf(buf, len, "vpsguard %08x", h);
}

/* -- expressions -- */

static int add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (!e)
		return -ENOMEM;
	nftnl_rule_add_expr(r, e);
	return 0;
}

static int x_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return add_expr(r, e);
}

static int x_cmp(struct nftnl_rule *r, uint32_t op, const void *d, uint32_t l)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, d, l);
	return add_expr(r, e);
}

static int x_payload(struct nftnl_rule *r, uint32_t base, uint32_t off,
		     uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	return add_expr(r, e);
}

static int x_bitwise(struct nftnl_rule *r, const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	return add_expr(r, e);
}

static int x_lookup(struct nftnl_rule *r, const char *set, bool inv)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (inv)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	return add_expr(r, e);
}

static int x_drop(struct nftnl_rule *r)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
	return add_expr(r, e);
}

/* ct KEY & bits != 0, for the 32-bit keys state and status. */
static int x_ct_bits(struct nftnl_rule *r, uint32_t key, uint32_t bits)
{
	uint32_t zero = 0;
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	int err;

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	err = add_expr(r, e);
	if (!err)
		err = x_bitwise(r, &bits, 4);
	if (!err)
		err = x_cmp(r, NFT_CMP_NEQ, &zero, 4);
	return err;
}

/* The 16 bytes of the conntrack label bitmap with bit `bit` set, laid
 * out as the kernel's unsigned long bitmap is (what nft prints as
 * "ct label 126"). */
static void label_bits(unsigned int bit, uint8_t out[16])
{
	unsigned long w[16 / sizeof(unsigned long)] = { 0 };

	w[bit / (8 * sizeof(long))] = 1UL << (bit % (8 * sizeof(long)));
	memcpy(out, w, 16);
}

/* ct label & (BORN|COUNTED) == BORN */
static int x_ct_label_is(struct nftnl_rule *r, const uint8_t mask[16],
			 const uint8_t want[16])
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	int err;

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_LABELS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	err = add_expr(r, e);
	if (!err)
		err = x_bitwise(r, mask, 16);
	if (!err)
		err = x_cmp(r, NFT_CMP_EQ, want, 16);
	return err;
}

/* ct label set BIT.  The kernel ORs the register into the labels (it
 * never clears one), and does nothing for a conntrack created before
 * any label was in use in this netns (no label extension). */
static int x_ct_label_set(struct nftnl_rule *r, const uint8_t bits[16])
{
	struct nftnl_expr *i = nftnl_expr_alloc("immediate");
	struct nftnl_expr *e;
	int err;

	if (!i)
		return -ENOMEM;
	nftnl_expr_set_u32(i, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	nftnl_expr_set(i, NFTNL_EXPR_IMM_DATA, bits, 16);
	err = add_expr(r, i);
	if (err)
		return err;
	e = nftnl_expr_alloc("ct");
	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_LABELS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	return add_expr(r, e);
}

/* dynset OP @set { key [timeout] [limit rate over count/per] } */
static int x_dynset(struct nftnl_rule *r, uint32_t op, const char *set,
		    uint64_t timeout_ms, uint64_t count, uint64_t per)
{
	struct nftnl_expr *e = nftnl_expr_alloc("dynset");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, op);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	if (timeout_ms)
		nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
	if (count) {
		struct nftnl_expr *l = nftnl_expr_alloc("limit");

		if (!l) {
			nftnl_expr_free(e);
			return -ENOMEM;
		}
		nftnl_expr_set_u64(l, NFTNL_EXPR_LIMIT_RATE, count);
		nftnl_expr_set_u64(l, NFTNL_EXPR_LIMIT_UNIT, per);
		nftnl_expr_set_u32(l, NFTNL_EXPR_LIMIT_BURST,
				   count > UINT32_MAX ? UINT32_MAX : (uint32_t)count);
		nftnl_expr_set_u32(l, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
		nftnl_expr_set_u32(l, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
		nftnl_expr_add_expr(e, NFTNL_EXPR_DYNSET_EXPRESSIONS, l);
	}
	return add_expr(r, e);
}

/* Load the source address into reg 1, & mask when mask (4 bytes for
 * IPv4, 16 for IPv6). */
static int x_saddr(struct nftnl_rule *r, int fam, const uint8_t *mask)
{
	bool v4 = fam == VG_FAMILY_V4;
	int err = x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, v4 ? 12 : 8,
			    v4 ? 4 : 16);

	if (!err && mask)
		err = x_bitwise(r, mask, v4 ? 4 : 16);
	return err;
}

static int x_nfproto(struct nftnl_rule *r, int fam)
{
	uint8_t p = fam == VG_FAMILY_V4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
	int err = x_meta(r, NFT_META_NFPROTO);

	return err ? err : x_cmp(r, NFT_CMP_EQ, &p, 1);
}

static void v6mask(unsigned int prefix, uint8_t m[16])
{
	memset(m, 0, 16);
	if (!prefix || prefix > 128)
		prefix = 128;
	for (unsigned i = 0; i < prefix; i++)
		m[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

/* Which conntrack label bits the connlimit rules use (nft.h). */
#define LABEL_BORN	126
#define LABEL_COUNTED	127

/* The rules, in order: 0 drop4, 1 drop6, 2 drop4net, 3 drop6net, then
 * with connlimit 4 "born" (both families), 5/6 the v4/v6 meters. */
enum { R_DROP4, R_DROP6, R_DROP4NET, R_DROP6NET, R_BORN, R_METER4,
       R_METER6, R_N };

static int fam_of(int idx)
{
	return idx == R_DROP4 || idx == R_DROP4NET || idx == R_METER4 ?
	       VG_FAMILY_V4 : VG_FAMILY_V6;
}

unsigned int nft_rule_count(const struct vg_nft_config *cfg)
{
	return nft_connlimit_on(cfg) ? R_N : R_BORN;
}

/* tcp dport @sshports */
static int x_sshport(struct nftnl_rule *r)
{
	uint8_t tcp = IPPROTO_TCP;
	int err = x_meta(r, NFT_META_L4PROTO);

	if (!err)
		err = x_cmp(r, NFT_CMP_EQ, &tcp, 1);
	if (!err)
		err = x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
	if (!err)
		err = x_lookup(r, "sshports", false);
	return err;
}

/* ip6 saddr != fe80::/10.  A link-local source is a neighbour or the
 * default gateway (routes point at fe80::1): metered, its key is at
 * least fe80::/64 under the mask, every host on the link, and the drop
 * it earns takes the gateway's neighbour advertisements with it, which
 * cuts the host off from IPv6.  Such a source is still counted per
 * address by the PAM module. */
static int x_not_link_local(struct nftnl_rule *r)
{
	static const uint8_t ll[16] = { 0xfe, 0x80 };
	static const uint8_t ll_mask[16] = { 0xff, 0xc0 };
	int err = x_saddr(r, VG_FAMILY_V6, ll_mask);

	return err ? err : x_cmp(r, NFT_CMP_NEQ, ll, sizeof(ll));
}

/* The connlimit meter of one family (see nft.h for why it looks at an
 * assured conntrack, once, and not at the SYN):
 *   meta nfproto ipv4 tcp dport @sshports ct status assured
 *   ct label & (126|127) == 126 ct label set 127
 *   ip saddr != @trust4 ip saddr != @ignore4
 *   update @rate4 { ip saddr timeout PER limit rate over N/PER burst N }
 *   add @drop4 { ip saddr timeout BANTIME } drop
 * (ipv6: `ip6 saddr != fe80::/10` right after nfproto, x_not_link_local)
 * The label is set before the meter, so a connection is counted once
 * even when the meter refuses it (full). */
static int x_meter(struct nftnl_rule *r, const struct vg_nft_config *cfg,
		   int fam, const uint8_t *mask)
{
	bool v4 = fam == VG_FAMILY_V4;
	uint8_t born[16], counted[16], both[16];
	int err;

	if (v4)		/* the IPv6 mask is no IPv4 mask */
		mask = NULL;
	label_bits(LABEL_BORN, born);
	label_bits(LABEL_COUNTED, counted);
	for (int i = 0; i < 16; i++)
		both[i] = born[i] | counted[i];
	err = x_nfproto(r, fam);
	if (!err && !v4)	/* first: it is the cheapest way out */
		err = x_not_link_local(r);
	if (!err)
		err = x_sshport(r);
	if (!err)
		err = x_ct_bits(r, NFT_CT_STATUS, IPS_ASSURED);
	if (!err)
		err = x_ct_label_is(r, both, born);
	if (!err)
		err = x_ct_label_set(r, counted);
	if (!err)
		err = x_saddr(r, fam, mask);
	if (!err)
		err = x_lookup(r, v4 ? "trust4" : "trust6", true);
	if (!err)
		err = x_saddr(r, fam, NULL);
	if (!err)
		err = x_lookup(r, v4 ? "ignore4" : "ignore6", true);
	if (!err)
		err = x_saddr(r, fam, mask);
	if (!err)
		err = x_dynset(r, NFT_DYNSET_OP_UPDATE, v4 ? "rate4" : "rate6",
			       cfg->conn_per * 1000, cfg->conn_count,
			       cfg->conn_per);
	if (!err)
		err = x_saddr(r, fam, mask);
	if (!err)
		err = x_dynset(r, NFT_DYNSET_OP_ADD, v4 ? "drop4" : "drop6",
			       cfg->conn_bantime * 1000, 0, 0);
	return err;
}

struct nftnl_rule *nft_make_rule(const struct vg_nft_config *cfg, int idx,
				 const char *tag)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	static const uint8_t net4[4] = { 0xff, 0xff, 0xff, 0 };
	uint8_t mask[16], net6[16], born[16];
	int err = 0;

	if (!r)
		return NULL;
	v6mask(cfg->v6prefix, mask);
	v6mask(VG_NFT_NET_V6, net6);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, VG_NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, NFT_CHAIN);
	switch (idx) {
	case R_DROP4:
	case R_DROP6:
		err = x_nfproto(r, fam_of(idx));
		if (!err)
			err = x_saddr(r, fam_of(idx), idx == R_DROP6 ? mask : NULL);
		if (!err)
			err = x_lookup(r, idx == R_DROP4 ? "drop4" : "drop6",
				       false);
		if (!err)
			err = x_drop(r);
		break;
	case R_DROP4NET:
	case R_DROP6NET: {
		/* A /48 (/24) may hold a trusted source or an ignoreip one,
		 * which no drop may hit (SPEC): exempt them here, the
		 * rest of the prefix stays dropped. */
		bool v4 = idx == R_DROP4NET;

		err = x_nfproto(r, fam_of(idx));
		if (!err)
			err = x_saddr(r, fam_of(idx), v4 ? net4 : net6);
		if (!err)
			err = x_lookup(r, v4 ? "drop4net" : "drop6net", false);
		if (!err)
			err = x_saddr(r, fam_of(idx), v4 ? NULL : mask);
		if (!err)
			err = x_lookup(r, v4 ? "trust4" : "trust6", true);
		if (!err)
			err = x_saddr(r, fam_of(idx), NULL);
		if (!err)
			err = x_lookup(r, v4 ? "ignore4" : "ignore6", true);
		if (!err)
			err = x_drop(r);
		break;
	}
	case R_BORN:
		/* tcp dport @sshports ct state new ct label set 126 */
		label_bits(LABEL_BORN, born);
		err = x_sshport(r);
		if (!err)
			err = x_ct_bits(r, NFT_CT_STATE,
					NF_CT_STATE_BIT(IP_CT_NEW));
		if (!err)
			err = x_ct_label_set(r, born);
		break;
	default:
		err = x_meter(r, cfg, idx == R_METER4 ? VG_FAMILY_V4 :
			      VG_FAMILY_V6, mask);
		if (!err)
			err = x_drop(r);
		break;
	}

	if (!err) {
		struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(64);

		if (!u || !nftnl_udata_put_strz(u, 0, tag)) {
			err = -ENOMEM;
		} else {
			nftnl_rule_set_data(r, NFTNL_RULE_USERDATA,
					    nftnl_udata_buf_data(u),
					    nftnl_udata_buf_len(u));
		}
		if (u)
			nftnl_udata_buf_free(u);
	}
	if (err) {
		nftnl_rule_free(r);
		return NULL;
	}
	return r;
}

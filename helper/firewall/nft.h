/* The kernel firewall: table inet vpsguard, over netlink (libnftnl +
 * libmnl).  Linked into the helper only; the PAM module never references
 * vg_nft_* (so the archive member, and libnftnl, never reach sshd).
 *
 * The table (created if missing, never anything outside it touched):
 *
 *   set drop4   { type ipv4_addr; flags dynamic,timeout; size 262144 }
 *   set drop6   { type ipv6_addr; ... }  keys masked to ipv6.prefix
 *   set drop4net { type ipv4_addr; flags timeout }  /24 prefix bans
 *   set drop6net { type ipv6_addr; flags timeout }  /48 prefix bans
 *   set trust4  { type ipv4_addr; flags timeout }
 *   set trust6  { type ipv6_addr; flags timeout }  keys masked too
 *   set ignore4 { type ipv4_addr; flags interval }  = ignoreip (always)
 *   set ignore6 { type ipv6_addr; flags interval }
 *   set rate4   { type ipv4_addr; flags dynamic,timeout; size 65535 }
 *   set rate6   { type ipv6_addr; ... }  the connlimit meters
 *   set sshports { type inet_service }
 *   chain input { type filter hook input priority filter - 10; policy accept;
 *     ip saddr @drop4 drop
 *     ip6 saddr & MASK == @drop6 drop
 *     ip saddr & 255.255.255.0 == @drop4net ip saddr != @trust4
 *       ip saddr != @ignore4 drop
 *     ip6 saddr & ffff:ffff:ffff:: == @drop6net ip6 saddr & MASK != @trust6
 *       ip6 saddr != @ignore6 drop
 *     (connlimit.rate > 0 and ports given:)
 *     tcp dport @sshports ct state new ct label set 126
 *     meta nfproto ipv4 tcp dport @sshports ct status assured
 *       ct label & (126|127) == 126 ct label set 127
 *       ip saddr != @trust4 ip saddr != @ignore4
 *       update @rate4 { ip saddr timeout PER limit rate over N/PER
 *       burst N packets } add @drop4 { ip saddr timeout BANTIME } drop
 *     (the same for ip6, with the masked address for trust6, rate6 and
 *      drop6 and the full address for ignore6, after
 *      ip6 saddr != fe80::/10: a link-local source is never metered)
 *   }
 *
 * connlimit counts completed TCP handshakes, once per connection.  A
 * SYN proves nothing about its source address, so the meter looks at a
 * conntrack with status "assured": for TCP the kernel sets it only when
 * the client's ACK of our SYN-ACK passed conntrack's window check
 * (SYN_RECV -> ESTABLISHED), on that ACK, before this input hook runs.
 * A blind spoofer must guess our initial sequence number to about
 * 1 in 65,000 for each forged handshake.  Not `ct state established`:
 * that holds for ANY packet from the client side once our SYN-ACK went
 * out, including the RST that the real owner of a forged address sends
 * back for our unexpected SYN-ACK (and a forged RST): with it, or with
 * the `ct original packets 2` variant, forged SYNs that claim a live
 * host still put that host into drop4 (seen in a namespace with
 * tests/nft's live host 192.0.2.50).  `ct original packets 2` is also
 * skipped by a client that repeats its SYN (the ACK is then packet 3),
 * and needs nf_conntrack_acct.
 * Once per connection: conntrack label 126 ("born") is set on the
 * packet that creates the conntrack (ct state new: a SYN, or a
 * connection picked up mid-stream), and the meter takes a connection
 * whose labels are 126 without 127 and sets 127.  Labels are only ever
 * ORed in (never cleared, by us or anybody), and connections that
 * existed before the rule (no label extension, or no 126: the admin's
 * own session while the helper starts) are never metered at all, never
 * counted per packet.  Bits 126/127 are ours; other users of conntrack
 * labels (connlabel.conf, OVS) must keep off them.
 * Limits: with net.netfilter.nf_conntrack_tcp_be_liberal=1 conntrack
 * does not check the ACK, and a blind SYN+ACK pair counts (keep it 0,
 * the default).  Traffic exempt from conntrack (notrack) is unmetered.
 * The kernel needs CONFIG_NF_CONNTRACK_LABELS (Debian, Ubuntu, RHEL
 * kernels have it); without it ensure() fails with -EOPNOTSUPP.
 * Forged SYNs add nothing to rate4/rate6, so they cannot fill them.
 * A full meter (VG_NFT_METER_SIZE sources that completed handshakes
 * within PER) makes the kernel's dynset update fail: the connection of
 * a source not yet in the meter is not metered (fail open: it proceeds
 * to sshd, whose bans still apply), sources already in it still are,
 * and room comes back as elements expire after PER.  Failing closed
 * instead would drop every new ssh connection, the admin's too.
 *
 * Prefix bans (issue 14's aggregate.v6/.v4) go to drop6net/drop4net,
 * one element per /48 or /24: drop6 cannot hold them, its keys are
 * masked to ipv6.prefix.  Their rules exempt trust4/trust6 and
 * ignore4/ignore6 in the kernel, so a trusted or ignoreip source inside
 * a dropped /48 (/24) still gets through and the caller need not check
 * each prefix against them; the rest of the prefix is dropped.
 * Every rule carries the comment "vpsguard <hash of the config>", so
 * vg_nft_ensure() can tell an up-to-date chain from one to rewrite.
 * Elements the helper adds carry the comment "vpsguard"; elements the
 * connlimit rule adds from the packet path carry none, and reconcile
 * never deletes those (they expire by their own timeout).
 *
 * Every function opens its own netlink socket and closes it again.  All
 * return 0 or -errno; nothing prints (vg_log() for events only). */
#ifndef VG_NFT_H
#define VG_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct vg_config;

#define VG_NFT_TABLE		"vpsguard"
#define VG_NFT_DROP_SIZE	262144	/* max elements of drop4 / drop6 */
#define VG_NFT_METER_SIZE	65535	/* max elements of rate4 / rate6 */
#define VG_NFT_NET_V4		24	/* drop4net keys: /24 */
#define VG_NFT_NET_V6		48	/* drop6net keys: /48 */
/* reconcile leaves an element alone while the kernel's remaining time
 * is within this of the wanted one */
#define VG_NFT_TOLERANCE_MS	5000

struct vg_nft_config {
	unsigned int v6prefix;		/* 1..128: drop6/trust6/rate6 keys */
	unsigned int conn_count;	/* connlimit.rate N per conn_per, 0 = off */
	uint64_t conn_per;		/* seconds */
	uint64_t conn_bantime;		/* seconds */
	unsigned int n_ports;		/* 0 = no connlimit rules */
	uint16_t ports[16];
	struct vg_cidr_list ignore;	/* ignoreip, exempt from connlimit */
};

/* Copy the relevant keys.  c->n_ssh_ports == 0 ("ask sshd -T") must be
 * resolved by the caller first (else the connlimit rules are left out). */
void vg_nft_config_from(const struct vg_config *c, struct vg_nft_config *out);

/* Which pair of sets: elements of either family go to the 4 or 6 set.
 * VG_NFT_DROP_NET = drop4net/drop6net: every element's addr is a /24
 * (VG_NFT_NET_V4, prefix 24) or /48 (prefix 48) with its host bits 0,
 * as the table keys a prefix ban (else -EINVAL); list returns them so. */
enum vg_nft_set { VG_NFT_DROP, VG_NFT_TRUST, VG_NFT_DROP_NET };

struct vg_nft_elem {
	/* IPv4: lib/addr.h form (mapped bytes, VG_FAMILY_V4).  IPv6: already
	 * masked to v6prefix (vg_addr_key()); bytes beyond it must be 0. */
	struct vg_addr addr;
	uint64_t timeout_ms;	/* apply: the timeout to set (0 = none,
				 * permanent); list: the element's timeout */
	uint64_t expires_ms;	/* list: time left (0 when no timeout) */
	bool ours;		/* list: carries the helper's comment
				 * (false = added by the connlimit rule) */
	bool fresh;		/* apply: known absent, a plain add suffices
				 * (else: add + delete + add, see nft_sets.c) */
};

#define VG_NFT_REPORT_ERRS	8
struct vg_nft_report {
	size_t msgs;		/* netlink messages sent (not BEGIN/END) */
	size_t batches;		/* sendmsg() calls */
	size_t added;		/* elements added or refreshed */
	size_t deleted;
	size_t already;		/* deletes of absent elements, skipped */
	size_t kept;		/* reconcile: already right */
	size_t skipped;		/* link-local adds to drop6/drop6net, left
				 * out: never dropped (nft_sets.c) */
	bool rebuilt;		/* ensure: the chain or sets were written */
	bool split;		/* the changes went in more than one batch
				 * (not one transaction; see nft_batch.c) */
	size_t n_errs;		/* failing elements/messages, first few below */
	struct {
		int err;	/* -errno */
		bool del;	/* in the delete list, else the add list */
		long index;	/* into that list (apply), -1 = not an
				 * element (or reconcile: see addr) */
		struct vg_addr addr;	/* the element, when index >= 0 */
	} errs[VG_NFT_REPORT_ERRS];
	char msg[128];		/* kernel extended ACK message, if any */
};

/* Create what is missing and rewrite the chain when its rules differ from
 * cfg (ONE batch: NEWTABLE, NEWSET x11, NEWCHAIN, flush chain, NEWRULE xn,
 * ignore/ports set contents), keeping every element of the other sets.
 * When the chain already holds exactly the rules for cfg nothing is sent
 * (rep->msgs == 0).  A set or chain of another shape (an older version,
 * an edit by hand) is replaced by deleting and recreating the table in
 * the same batch; its elements are lost and logged.  rep may be NULL.
 * The up-to-date check reads the set definitions and the rules' comments
 * (a hash of cfg), not the contents of ignore4/ignore6/sshports: contents
 * edited by hand are restored only when the rules are rewritten.
 * Call it every pass (the check is two small dumps, ~0.2 ms) so that a
 * table or chain deleted by hand comes back; vg_nft_list() and friends
 * return -ENOENT while the table is missing. */
int vg_nft_ensure(const struct vg_nft_config *cfg, struct vg_nft_report *rep);

/* Read the elements back from the kernel (both families of the pair).
 * v6prefix only fills addr.prefix of IPv6 elements (not for DROP_NET).
 * *out is malloc'ed (free() it; NULL when *n == 0).  -ENOENT: table or
 * set missing. */
int vg_nft_list(enum vg_nft_set set, unsigned int v6prefix,
		struct vg_nft_elem **out, size_t *n);

/* One batch: add (refresh) every element of add, delete every element of
 * del.  An add of a link-local address (fe80::/10) to drop6 or drop6net
 * is left out (rep->skipped), never sent: such a drop would take the
 * whole link, the default gateway too (nft_sets.c).  A delete of an
 * absent element would abort the whole batch in the kernel; on that
 * ENOENT the sets are re-read and the batch is sent once more without
 * the absent ones (counted in rep->already).  On error nothing was
 * applied (the kernel batch is atomic) unless rep->split. */
int vg_nft_apply(enum vg_nft_set set, const struct vg_nft_elem *add,
		 size_t nadd, const struct vg_nft_elem *del, size_t ndel,
		 struct vg_nft_report *rep);

/* Make the set hold exactly want (by address): absent ones added,
 * remaining time off by more than VG_NFT_TOLERANCE_MS refreshed, elements
 * carrying our comment but not in want deleted.  Elements without it
 * (connlimit's) are never deleted, and are refreshed only when want asks
 * for more time than they have left.  Nothing to do = nothing sent.
 * Link-local addresses (fe80::/10) in want are left out of drop6 and
 * drop6net (rep->skipped), and any found there is deleted, with or
 * without our comment (an older helper's, or its connlimit rule's).
 * want must not hold the same address twice (-EINVAL). */
int vg_nft_reconcile(enum vg_nft_set set, const struct vg_nft_elem *want,
		     size_t n, unsigned int v6prefix,
		     struct vg_nft_report *rep);

/* Delete the table (tests, and an explicit admin request only). */
int vg_nft_destroy(void);

/* True for errors meaning "no nftables here": no CAP_NET_ADMIN (-EPERM,
 * -EACCES), no nf_tables in the kernel (-EOPNOTSUPP, -EPROTONOSUPPORT,
 * -EAFNOSUPPORT).  The helper then says so once and enforces in PAM only. */
bool vg_nft_unavailable(int err);

/* A message for any return value of this module, e.g.
 * "no CAP_NET_ADMIN (Operation not permitted)". */
const char *vg_nft_strerror(int err);

#endif

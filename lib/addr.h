/* Source addresses as the table keys them.
 *
 * Every address is kept in 16 bytes: IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so one key type serves both families and a mapped
 * rhost folds onto the plain IPv4 source without a special case.  IPv6
 * sources are masked to ipv6.prefix before they become keys, because an
 * attacker owns at least a /64 and would otherwise rotate addresses --
 * except link-local ones (fe80::/10), kept whole: every host on a link,
 * the default gateway too, shares fe80::/64, so one neighbour's key
 * would be everybody's. */
#ifndef VG_ADDR_H
#define VG_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_FAMILY_NONE	0
#define VG_FAMILY_V4	4
#define VG_FAMILY_V6	6
/* A host name we had to count literally (no numeric address anywhere):
 * bytes hold a keyed hash of the name, never shown as an address. */
#define VG_FAMILY_NAME	'N'

/* Longest rhost / address text we ever look at; longer is rejected. */
#define VG_ADDR_TEXT_MAX	255
/* Buffer for vg_addr_format(): "ffff:...:ffff/128" or "name:<32 hex>". */
#define VG_ADDR_STRLEN		64
#define VG_CIDR_LIST_MAX	64

struct vg_addr {
	uint8_t bytes[16];	/* network order; v4 as ::ffff:a.b.c.d */
	uint8_t family;		/* VG_FAMILY_* */
	uint8_t prefix;		/* in the family's own bits: 0-32 or 0-128 */
};

struct vg_cidr_list {
	unsigned int n;
	struct vg_addr net[VG_CIDR_LIST_MAX];
};

/* A single numeric address: IPv4 dotted quad, IPv6 (with an optional
 * "%zone" suffix, which is dropped), IPv4-mapped IPv6 folded to IPv4.
 * No prefix.  Result has prefix 32 or 128.  0 or -EINVAL. */
int vg_addr_parse(const char *s, struct vg_addr *out);

/* An address with an optional "/len".  Host bits are masked away
 * (fail2ban writes 127.0.0.1/8).  A mapped IPv6 prefix (::ffff:0:0/104)
 * becomes the IPv4 prefix it covers.  0 or -EINVAL. */
int vg_cidr_parse(const char *s, struct vg_addr *out);

/* A space and/or comma separated list of CIDRs, replacing *list.
 * On error *list is untouched and bad (if not NULL, size badlen)
 * receives the offending item.  0, -EINVAL or -E2BIG. */
int vg_cidr_list_parse(const char *s, struct vg_cidr_list *list,
		       char *bad, size_t badlen);

bool vg_cidr_contains(const struct vg_addr *net, const struct vg_addr *a);
bool vg_cidr_list_match(const struct vg_cidr_list *list,
			const struct vg_addr *a);

/* Mask a to its first prefix bits (in its family's own bit count). */
void vg_addr_mask(struct vg_addr *a, unsigned int prefix);

/* The table key for a source: IPv4 unchanged, IPv6 masked to v6prefix,
 * a link-local IPv6 address (vg_addr_link_local()) unchanged: the full
 * address, never its /64 (see above). */
void vg_addr_key(const struct vg_addr *a, unsigned int v6prefix,
		 struct vg_addr *key);

/* True for an IPv6 address in fe80::/10, the link-local unicast range
 * (RFC 4291 2.5.6), or a network whose address is in it.  Only the
 * address bits are looked at, not a->prefix: callers hold keys of /48 or
 * longer (ipv6.prefix, aggregate.v6), which lie wholly inside or wholly
 * outside fe80::/10.  IPv4, names and empty addresses: false. */
bool vg_addr_link_local(const struct vg_addr *a);

/* Why a is no source a login can come from ("multicast", "unspecified",
 * "broadcast"), or NULL for a unicast address or prefix.  ::/64 is
 * ::1's key, so only :: itself is unspecified. */
const char *vg_addr_not_unicast(const struct vg_addr *a);

/* "203.0.113.7", "2001:db8::1", and "2001:db8:66::/64" when the prefix
 * is shorter than the family's full length. */
void vg_addr_format(const struct vg_addr *a, char *buf, size_t len);

bool vg_addr_equal(const struct vg_addr *a, const struct vg_addr *b);

/* Which source a PAM request comes from.
 * rhost numeric -> that address.  rhost a name (sshd UseDNS yes: the
 * owner of the client's reverse zone picks it) -> the first field of
 * ssh_connection ("CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT") when that
 * is numeric.  Else the name itself, as a VG_FAMILY_NAME key (a hash of
 * the lower-cased name).  Returns 0 (numeric from rhost), 1 (numeric from
 * SSH_CONNECTION), 2 (literal name), -ENOENT (rhost NULL or empty: no
 * remote source), -EINVAL (rhost too long, control characters, or not a
 * host name, and nothing usable in ssh_connection). */
int vg_source_resolve(const char *rhost, const char *ssh_connection,
		      struct vg_addr *out);

#endif

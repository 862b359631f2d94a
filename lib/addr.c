/* Source addresses: parsing, CIDR lists (ignoreip), masking and keys.
 *
 * Everything here handles text an attacker may choose (PAM_RHOST, a PTR
 * name), so every reader is bounded by VG_ADDR_TEXT_MAX before it looks
 * at a byte, rejects control characters and blanks outright, and leaves
 * its output untouched on failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "hash.h"
#include "log.h"

/* Longest IPv6 text inet_pton() can accept, without the zone. */
#define V6_TEXT_MAX	(INET6_ADDRSTRLEN - 1)
#define ZONE_MAX	16
#define HOSTNAME_MAX	253
#define PREFIX_DIGITS	3

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Fixed keys for turning a host name into 16 bytes.  They are public, so
 * the name key is no secret: it only has to be stable and well spread;
 * the table's own keyed hash is what keeps probe windows unpredictable. */
static const uint64_t name_key0[2] = {
	0x7670736775617264ULL, 0x2d6e616d652d6b30ULL
};
static const uint64_t name_key1[2] = {
	0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL
};

static unsigned int family_bits(unsigned int family)
{
	if (family == VG_FAMILY_V4)
		return 32;
	if (family == VG_FAMILY_V6)
		return 128;
	return 0;
}

/* Where the family's own bits start in bytes[]. */
static unsigned int family_offset(unsigned int family)
{
	return family == VG_FAMILY_V4 ? 12 : 0;
}

/* Length of s if it is 1..VG_ADDR_TEXT_MAX visible ASCII bytes, else 0.
 * Never reads more than VG_ADDR_TEXT_MAX + 1 bytes. */
static size_t text_len(const char *s)
{
	size_t i, n = strnlen(s, VG_ADDR_TEXT_MAX + 1);

	if (n > VG_ADDR_TEXT_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c >= 0x7f)
			return 0;
	}
	return n;
}

static void set_v4(struct vg_addr *a, const uint8_t quad[4])
{
	memcpy(a->bytes, v4mapped, sizeof(v4mapped));
	memcpy(a->bytes + 12, quad, 4);
	a->family = VG_FAMILY_V4;
	a->prefix = 32;
}

static bool is_mapped(const uint8_t bytes[16])
{
	return memcmp(bytes, v4mapped, sizeof(v4mapped)) == 0;
}

/* fe80::/10, link-local unicast (RFC 4291 2.5.6). */
static bool in_link_local(const uint8_t bytes[16])
{
	return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

static bool zone_ok(const char *z, size_t n)
{
	size_t i;

	if (n == 0 || n > ZONE_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)z[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* s is n visible bytes and holds a ':'.  The zone names a link on this
 * host, which says nothing about the source, so it is checked and dropped,
 * and only a link-local address (fe80::/10) has one: sshd prints no zone
 * on any other, and a PTR name such as "::1%a.example" (not numeric to
 * getaddrinfo(), so sshd passes it on with UseDNS yes) must not count as
 * ::1, which ignoreip covers, in place of SSH_CONNECTION's address. */
static int parse_v6(const char *s, size_t n, struct vg_addr *out)
{
	char buf[V6_TEXT_MAX + 1];
	const char *pct = memchr(s, '%', n);
	size_t alen = pct ? (size_t)(pct - s) : n;

	if (alen > V6_TEXT_MAX)
		return -EINVAL;
	if (pct && !zone_ok(pct + 1, n - alen - 1))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET6, buf, out->bytes) != 1)
		return -EINVAL;
	if (pct && !in_link_local(out->bytes))
		return -EINVAL;
	/* ::ffff:a.b.c.d is the IPv4 source: one key, one ban, one ignoreip
	 * entry, whichever way the caller wrote it. */
	if (is_mapped(out->bytes)) {
		out->family = VG_FAMILY_V4;
		out->prefix = 32;
	} else {
		out->family = VG_FAMILY_V6;
		out->prefix = 128;
	}
	return 0;
}

int vg_addr_parse(const char *s, struct vg_addr *out)
{
	struct vg_addr a;
	uint8_t quad[4];
	size_t n = s ? text_len(s) : 0;
	int ret = -EINVAL;

	memset(&a, 0, sizeof(a));
	if (n == 0)
		goto out;
	if (memchr(s, ':', n)) {
		ret = parse_v6(s, n, &a);
	} else if (inet_pton(AF_INET, s, quad) == 1) {
		/* inet_pton, unlike inet_aton, refuses 010.1.1.1 and 1.2.3 */
		set_v4(&a, quad);
		ret = 0;
	}
	if (ret == 0)
		*out = a;
out:
	return ret;
}

/* Plain decimal, 1-3 digits, no sign, no leading zero ("/08" would be
 * read as octal by some tools and as 8 by others: refuse it). */
static int parse_prefix(const char *s, unsigned int *len)
{
	unsigned int v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i == PREFIX_DIGITS)
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (i == 0 || (i > 1 && s[0] == '0'))
		return -EINVAL;
	*len = v;
	return 0;
}

/* Apply "/len" to a parsed address.  v6text says the address was written
 * as IPv6, so len counts IPv6 bits even if it folded to IPv4. */
static int apply_prefix(struct vg_addr *a, bool v6text, unsigned int len)
{
	if (!v6text)
		return len <= 32 ? (int)len : -EINVAL;
	if (len > 128)
		return -EINVAL;
	if (a->family == VG_FAMILY_V4) {
		if (len >= 96)
			return (int)(len - 96);
		/* Wider than ::ffff:0:0/96: no longer only IPv4 sources, so
		 * keep it as the IPv6 network it literally is. */
		a->family = VG_FAMILY_V6;
		a->prefix = 128;
	}
	return (int)len;
}

/* A zone with a prefix is refused: a network is not on one link. */
int vg_cidr_parse(const char *s, struct vg_addr *out)
{
	char buf[V6_TEXT_MAX + 1];
	struct vg_addr a;
	unsigned int len;
	const char *slash;
	size_t n = s ? text_len(s) : 0, alen;
	int bits, ret = -EINVAL;

	if (n == 0)
		goto out;
	slash = memchr(s, '/', n);
	if (!slash) {
		ret = vg_addr_parse(s, out);
		goto out;
	}
	alen = (size_t)(slash - s);
	if (alen == 0 || alen > V6_TEXT_MAX || memchr(s, '%', alen))
		goto out;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (vg_addr_parse(buf, &a) || parse_prefix(slash + 1, &len))
		goto out;
	bits = apply_prefix(&a, memchr(buf, ':', alen) != NULL, len);
	if (bits < 0)
		goto out;
	/* Host bits are dropped, not refused: fail2ban writes 127.0.0.1/8. */
	vg_addr_mask(&a, (unsigned int)bits);
	*out = a;
	ret = 0;
out:
	return ret;
}

static bool is_list_sep(char c)
{
	return c == ' ' || c == '\t' || c == ',';
}

/* Next item of a list: skip separators, then take the run up to the next
 * one.  False at the end. */
static bool next_item(const char **p, const char **item, size_t *len)
{
	const char *s = *p;

	while (is_list_sep(*s))
		s++;
	if (*s == '\0')
		return false;
	*item = s;
	while (*s && !is_list_sep(*s))
		s++;
	*len = (size_t)(s - *item);
	*p = s;
	return true;
}

static int item_parse(const char *item, size_t len, struct vg_addr *out)
{
	char buf[VG_ADDR_TEXT_MAX + 1];

	if (len > VG_ADDR_TEXT_MAX)
		return -EINVAL;
	memcpy(buf, item, len);
	buf[len] = '\0';
	return vg_cidr_parse(buf, out);
}

/* The item goes into an error message: make it printable and short. */
static void quote_item(char *bad, size_t badlen, const char *item,
		       size_t len)
{
	char buf[VG_ADDR_TEXT_MAX + 1];

	if (!bad || badlen == 0)
		return;
	if (len > VG_ADDR_TEXT_MAX)
		len = VG_ADDR_TEXT_MAX;
	memcpy(buf, item, len);
	buf[len] = '\0';
	vg_sanitize_quoted(bad, badlen, buf);
}

int vg_cidr_list_parse(const char *s, struct vg_cidr_list *list,
		       char *bad, size_t badlen)
{
	struct vg_cidr_list tmp;
	const char *item = "";
	size_t len = 0;
	int ret = 0;

	if (bad && badlen)
		bad[0] = '\0';
	if (!s)
		return -EINVAL;
	/* Built aside, so a typo in ignoreip never leaves half a list. */
	memset(&tmp, 0, sizeof(tmp));
	while (next_item(&s, &item, &len)) {
		if (tmp.n == VG_CIDR_LIST_MAX) {
			ret = -E2BIG;
			break;
		}
		ret = item_parse(item, len, &tmp.net[tmp.n]);
		if (ret)
			break;
		tmp.n++;
	}
	if (ret)
		quote_item(bad, badlen, item, len);
	else
		*list = tmp;
	return ret;
}

bool vg_cidr_contains(const struct vg_addr *net, const struct vg_addr *a)
{
	unsigned int bits = family_bits(net->family);
	unsigned int off = family_offset(net->family);
	unsigned int prefix = net->prefix < bits ? net->prefix : bits;
	unsigned int full = prefix / 8, rem = prefix % 8;
	uint8_t mask;

	if (bits == 0 || a->family != net->family)
		return false;
	if (memcmp(net->bytes + off, a->bytes + off, full) != 0)
		return false;
	if (rem == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rem));
	return ((net->bytes[off + full] ^ a->bytes[off + full]) & mask) == 0;
}

bool vg_cidr_list_match(const struct vg_cidr_list *list,
			const struct vg_addr *a)
{
	unsigned int i, n = list->n;

	if (n > VG_CIDR_LIST_MAX)
		n = VG_CIDR_LIST_MAX;
	for (i = 0; i < n; i++)
		if (vg_cidr_contains(&list->net[i], a))
			return true;
	return false;
}

/* Names and empty addresses are left alone: masking a hash would merge
 * unrelated names. */
void vg_addr_mask(struct vg_addr *a, unsigned int prefix)
{
	unsigned int bits = family_bits(a->family);
	unsigned int off = family_offset(a->family);
	unsigned int i;

	if (bits == 0)
		return;
	if (prefix > bits)
		prefix = bits;
	for (i = 0; i < bits / 8; i++) {
		unsigned int keep = prefix > i * 8 ? prefix - i * 8 : 0;

		if (keep < 8)
			a->bytes[off + i] &= (uint8_t)(0xff00 >> keep);
	}
	a->prefix = (uint8_t)prefix;
}

bool vg_addr_link_local(const struct vg_addr *a)
{
	return a->family == VG_FAMILY_V6 && in_link_local(a->bytes);
}

/* Not a source a login can come from: multicast, unspecified (0.0.0.0,
 * ::) or the IPv4 broadcast address.  A ban of one does nothing the
 * module would ever see, and a drop of it in nftables can break the
 * host's own traffic (ff02::1 is neighbour discovery).  NULL: unicast. */
const char *vg_addr_not_unicast(const struct vg_addr *a)
{
	static const uint8_t zero[16];
	const uint8_t *v4 = a->bytes + 12;

	if (a->family == VG_FAMILY_V4) {
		if ((v4[0] & 0xf0) == 0xe0)
			return "multicast";
		if (a->prefix == 32 && !memcmp(v4, zero, 4))
			return "unspecified";
		if (a->prefix == 32 && v4[0] == 255 && v4[1] == 255 &&
		    v4[2] == 255 && v4[3] == 255)
			return "broadcast";
		return NULL;
	}
	if (a->family != VG_FAMILY_V6)
		return NULL;
	if (a->bytes[0] == 0xff && a->prefix >= 8)
		return "multicast";
	/* ::/64 is also ::1's key (loopback): only the address itself. */
	if (a->prefix == 128 && !memcmp(a->bytes, zero, 16))
		return "unspecified";
	return NULL;
}

void vg_addr_key(const struct vg_addr *a, unsigned int v6prefix,
		 struct vg_addr *key)
{
	struct vg_addr k = *a;

	if (k.family == VG_FAMILY_V4)
		k.prefix = 32;
	else if (k.family == VG_FAMILY_V6 && !vg_addr_link_local(&k))
		vg_addr_mask(&k, v6prefix);
	/* A link-local source keeps its whole address: its /64, fe80::/64,
	 * is shared by every host on the link, the gateway included, and
	 * a ban of it would end in nftables cutting the host off from its
	 * router.  Rotating addresses needs a place on the link. */
	*key = k;
}

static void format_v4(const struct vg_addr *a, char *buf, size_t len)
{
	const uint8_t *q = a->bytes + 12;
	int n;

	n = snprintf(buf, len, "%u.%u.%u.%u", q[0], q[1], q[2], q[3]);
	if (a->prefix < 32 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "/%u", a->prefix);
}

static void format_v6(const struct vg_addr *a, char *buf, size_t len)
{
	size_t n;

	if (!inet_ntop(AF_INET6, a->bytes, buf, (socklen_t)len)) {
		snprintf(buf, len, "?");
		return;
	}
	n = strlen(buf);
	if (a->prefix < 128)
		snprintf(buf + n, len - n, "/%u", a->prefix);
}

static void format_name(const struct vg_addr *a, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[32 + 1];
	size_t i;

	for (i = 0; i < 16; i++) {
		tmp[2 * i] = hex[a->bytes[i] >> 4];
		tmp[2 * i + 1] = hex[a->bytes[i] & 0xf];
	}
	tmp[32] = '\0';
	snprintf(buf, len, "name:%s", tmp);
}

void vg_addr_format(const struct vg_addr *a, char *buf, size_t len)
{
	char tmp[VG_ADDR_STRLEN];

	if (!buf || len == 0)
		return;
	/* Formatted in full, then cut: inet_ntop fails on a short buffer
	 * instead of truncating. */
	switch (a->family) {
	case VG_FAMILY_V4:
		format_v4(a, tmp, sizeof(tmp));
		break;
	case VG_FAMILY_V6:
		format_v6(a, tmp, sizeof(tmp));
		break;
	case VG_FAMILY_NAME:
		format_name(a, tmp, sizeof(tmp));
		break;
	case VG_FAMILY_NONE:
		snprintf(tmp, sizeof(tmp), "-");
		break;
	default:
		snprintf(tmp, sizeof(tmp), "?");
		break;
	}
	snprintf(buf, len, "%s", tmp);
}

bool vg_addr_equal(const struct vg_addr *a, const struct vg_addr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* The client address from "CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT". */
static int conn_client(const char *conn, struct vg_addr *out)
{
	char buf[VG_ADDR_TEXT_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(buf) && conn[i] && conn[i] != ' '; i++)
		buf[i] = conn[i];
	if (i == 0 || i == sizeof(buf))
		return -EINVAL;
	buf[i] = '\0';
	return vg_addr_parse(buf, out);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* DNS names are case-insensitive, so EVIL.example and evil.example must
 * share one key or the owner of the zone gets 2^n tries per name. */
static int name_key(const char *name, struct vg_addr *out)
{
	char low[HOSTNAME_MAX];
	size_t i, n = strnlen(name, HOSTNAME_MAX + 1);

	if (n == 0 || n > HOSTNAME_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			   c == '.' || c == '-' || c == '_'))
			return -EINVAL;
		low[i] = c;
	}
	put_le64(out->bytes, vg_siphash(name_key0, low, n));
	put_le64(out->bytes + 8, vg_siphash(name_key1, low, n));
	out->family = VG_FAMILY_NAME;
	out->prefix = 128;
	return 0;
}

int vg_source_resolve(const char *rhost, const char *ssh_connection,
		      struct vg_addr *out)
{
	int ret;

	/* A name is chosen by whoever owns the client's reverse zone; the
	 * numeric address sshd also hands us is the one to count. */
	if (!rhost || rhost[0] == '\0')
		ret = -ENOENT;
	else if (vg_addr_parse(rhost, out) == 0)
		ret = 0;
	else if (ssh_connection && conn_client(ssh_connection, out) == 0)
		ret = 1;
	else if (name_key(rhost, out) == 0)
		ret = 2;
	else
		ret = -EINVAL;
	return ret;
}

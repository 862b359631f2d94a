/* table inet vpsguard over netlink: see nft.h for the ruleset.
 *
 * Batches.  Every change goes out as NFNL_MSG_BATCH_BEGIN, messages each
 * with its own seq and NLM_F_ACK, NFNL_MSG_BATCH_END, in one sendmsg();
 * the kernel runs the batch synchronously and queues one NLMSG_ERROR per
 * message (error 0 = ACK), and one failure aborts the whole batch (earlier
 * messages still get their 0 ACK).  We read every reply with our own
 * NLMSG_ERROR callback (libmnl's default stops at the first ACK), map the
 * seq back to the message and, with NETLINK_EXT_ACK, the attribute offset
 * back to the element.  NETLINK_CAP_ACK keeps error replies small.
 *
 * Elements are packed many per NEWSETELEM/DELSETELEM message (a nest
 * length is 16 bits, so a message is closed at ~60 KB), which keeps 10,000
 * elements at a few dozen messages and ACKs.  A batch larger than the
 * socket send buffer is sent after raising it with SO_SNDBUFFORCE; where
 * that is refused (no CAP_NET_ADMIN in the initial user namespace: LXC
 * and similar containers) the batch is cut into several, at element-group
 * boundaries, and is then NOT one transaction (rep->split says so).
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
 * has 126 and is never metered, instead of being metered per packet.
 *
 * Prefix bans.  drop4net/drop6net hold /24 and /48 keys, matched with
 * `saddr & MASK`; drop6 cannot, its mask is ipv6.prefix.  Elements must
 * come masked (valid_elem()), else they could never match. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "config.h"
#include "log.h"
#include "nft.h"

#define CHAIN		"input"
/* In every rule's comment hash: a new version of the rules (here: 2 =
 * connlimit meters handshakes, not SYNs; the prefix drop sets) makes an
 * older chain "not up to date", so ensure() rewrites it. */
#define SCHEMA		"vpsguard-nft-2"
#define KEY_IPV4	7	/* nftables datatype ids (datatype.h) */
#define KEY_IPV6	8
#define KEY_SERVICE	13
#define NEST_MAX	60000	/* close an element message here */
#define MSG_ROOM	(NEST_MAX + 4096)
#define RECV_SIZE	65536

/* NFTNL_UDATA_*_COMMENT (type 0), "vpsguard\0": what nft shows as
 * comment "vpsguard" on the elements the helper adds. */
static const unsigned char elem_comment[] = {
	0, 9, 'v', 'p', 's', 'g', 'u', 'a', 'r', 'd', 0
};

/* ---- netlink socket ------------------------------------------------ */

struct nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
};

static int nl_open(struct nl *n)
{
	int one = 1;

	n->seq = 0;
	n->portid = 0;
	n->sock = mnl_socket_open(NETLINK_NETFILTER);
	if (!n->sock)
		return errno ? -errno : -EPROTONOSUPPORT;
	if (mnl_socket_bind(n->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		/* Never 0 on failure: the caller would use a closed socket. */
		int e = errno ? -errno : -EIO;

		mnl_socket_close(n->sock);
		n->sock = NULL;
		return e;
	}
	/* Best effort: both exist since Linux 4.12 / 4.3. */
	mnl_socket_setsockopt(n->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	n->portid = mnl_socket_get_portid(n->sock);
	n->seq = (uint32_t)time(NULL) << 8;
	return 0;
}

static void nl_close(struct nl *n)
{
	if (n->sock)
		mnl_socket_close(n->sock);
	n->sock = NULL;
}

/* Largest batch one sendmsg() takes (netlink: len <= sk_sndbuf - 32). */
static size_t nl_sndbuf_fit(struct nl *n, size_t want)
{
	int fd = mnl_socket_get_fd(n->sock), v;
	socklen_t l = sizeof(v);

	if (want < (1u << 30)) {
		v = (int)want + 4096;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	}
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &l) < 0 || v < 4096)
		return 4096;
	return (size_t)v - 64;
}

static void nl_rcvbuf(struct nl *n, size_t want)
{
	int fd = mnl_socket_get_fd(n->sock), v;

	socklen_t l = sizeof(v);

	if (want > (1u << 30))
		want = 1u << 30;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &l) == 0 &&
	    (size_t)v >= want)
		return;
	v = (int)want;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

/* ---- batch --------------------------------------------------------- */

struct elref {
	uint32_t off, len;	/* of the NFTA_LIST_ELEM nest in its message */
	long idx;		/* into the caller's list */
};

struct msg {
	uint32_t seq;
	size_t start, len;	/* in batch buf */
	int type;		/* NFT_MSG_* */
	bool del;		/* elements come from the delete list */
	bool cut_after;		/* a split may follow this message */
	bool answered;
	int err;
	struct elref *el;
	size_t nel, elcap;
};

struct batch {
	char *buf;
	size_t len, cap;
	struct msg *m;
	size_t nm, mcap;
	struct nl *nl;
	char extack[128];
	long err_off;		/* NLMSGERR_ATTR_OFFS of the first error */
	uint32_t err_seq;
	uint32_t begin_seq;	/* of the batch being sent */
	int batch_err;		/* an error for BEGIN: the batch was refused
				 * as a whole (no CAP_NET_ADMIN: EPERM) */
};

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->nm; i++)
		free(b->m[i].el);
	free(b->m);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

static int batch_room(struct batch *b, size_t need)
{
	if (b->cap - b->len >= need)
		return 0;
	size_t cap = b->cap ? b->cap : 65536;

	while (cap - b->len < need)
		cap *= 2;
	char *p = realloc(b->buf, cap);

	if (!p)
		return -ENOMEM;
	memset(p + b->cap, 0, cap - b->cap);
	b->buf = p;
	b->cap = cap;
	return 0;
}

/* Start a message at the end of the buffer.  NULL: -ENOMEM. */
static struct nlmsghdr *msg_start(struct batch *b, int type, uint16_t flags)
{
	if (batch_room(b, MSG_ROOM) < 0)
		return NULL;
	if (b->nm == b->mcap) {
		size_t c = b->mcap ? b->mcap * 2 : 32;
		struct msg *p = realloc(b->m, c * sizeof(*p));

		if (!p)
			return NULL;
		b->m = p;
		b->mcap = c;
	}
	struct msg *m = &b->m[b->nm];

	memset(m, 0, sizeof(*m));
	m->seq = b->nl->seq++;
	m->start = b->len;
	m->type = type;
	m->cut_after = true;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, (uint16_t)type,
				     NFPROTO_INET, flags | NLM_F_ACK, m->seq);
}

static void msg_end(struct batch *b, struct nlmsghdr *nlh)
{
	struct msg *m = &b->m[b->nm++];

	m->len = NLMSG_ALIGN(nlh->nlmsg_len);
	b->len += m->len;
}

static int msg_add_elref(struct msg *m, uint32_t off, uint32_t len, long idx)
{
	if (m->nel == m->elcap) {
		size_t c = m->elcap ? m->elcap * 2 : 64;
		struct elref *p = realloc(m->el, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->el = p;
		m->elcap = c;
	}
	m->el[m->nel++] = (struct elref){ off, len, idx };
	return 0;
}

static int cb_attr_ext(const struct nlattr *a, void *data)
{
	struct batch *b = data;

	switch (mnl_attr_get_type(a)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 &&
		    !b->extack[0])
			vg_sanitize(b->extack, sizeof(b->extack),
				    mnl_attr_get_str(a));
		break;
	case NLMSGERR_ATTR_OFFS:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0 && b->err_off < 0)
			b->err_off = mnl_attr_get_u32(a);
		break;
	}
	return MNL_CB_OK;
}

static int cb_error(const struct nlmsghdr *nlh, void *data)
{
	struct batch *b = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)) || !b->nm)
		return MNL_CB_OK;
	/* message seqs are consecutive from m[0].seq */
	uint32_t i = e->msg.nlmsg_seq - b->m[0].seq;

	if (e->msg.nlmsg_seq == b->begin_seq && e->error) {
		b->batch_err = e->error;
		if (!b->err_seq)
			b->err_seq = b->begin_seq;
	} else if (i < b->nm) {
		struct msg *m = &b->m[i];

		m->answered = true;
		m->err = e->error;
		if (e->error && !b->err_seq) {
			b->err_seq = m->seq;
			if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
				size_t off = sizeof(*e);

				if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
					off += e->msg.nlmsg_len -
					       sizeof(struct nlmsghdr);
				if (mnl_nlmsg_size(off) < nlh->nlmsg_len)
					mnl_attr_parse(nlh, (unsigned)off,
						       cb_attr_ext, b);
			}
		}
	}
	return MNL_CB_OK;
}

/* Send messages [from, to) as one kernel batch and read every answer. */
static int batch_send_range(struct batch *b, size_t from, size_t to,
			    char *rbuf)
{
	char hb[2][64] = { { 0 } };
	struct nlmsghdr *h0 = nftnl_batch_begin(hb[0], b->begin_seq = b->nl->seq++);
	struct nlmsghdr *h1 = nftnl_batch_end(hb[1], b->nl->seq++);
	size_t start = b->m[from].start;
	size_t end = b->m[to - 1].start + b->m[to - 1].len;
	struct iovec iov[3] = {
		{ hb[0], NLMSG_ALIGN(h0->nlmsg_len) },
		{ b->buf + start, end - start },
		{ hb[1], NLMSG_ALIGN(h1->nlmsg_len) },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct msghdr mh = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = iov, .msg_iovlen = 3,
	};
	int fd = mnl_socket_get_fd(b->nl->sock);
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = cb_error };
	size_t pending = to - from;
	bool failed = false;

	if (sendmsg(fd, &mh, 0) < 0)
		return -errno;
	while (pending) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, failed ? 0 : 2000);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return failed ? 0 : -ETIMEDOUT;
		ssize_t len = mnl_socket_recvfrom(b->nl->sock, rbuf, RECV_SIZE);

		if (len < 0)
			return -errno;	/* ENOBUFS: answers were lost */
		if (mnl_cb_run2(rbuf, (size_t)len, 0, b->nl->portid, NULL, b,
				ctl, NLMSG_MIN_TYPE) < 0 && errno != 0)
			return -errno;
		if (b->batch_err)
			return b->batch_err;
		pending = 0;
		for (size_t i = from; i < to; i++) {
			if (!b->m[i].answered)
				pending++;
			else if (b->m[i].err)
				failed = true;
		}
	}
	return 0;
}

/* Send the batch (in one piece if at all possible).  Returns 0 when every
 * message was answered with 0, the first error otherwise. */
static int batch_send(struct batch *b, struct vg_nft_report *rep)
{
	if (!b->nm)
		return 0;
	char *rbuf = malloc(RECV_SIZE);

	if (!rbuf)
		return -ENOMEM;
	size_t fit = nl_sndbuf_fit(b->nl, b->len + 256);
	int ret = 0;

	nl_rcvbuf(b->nl, b->nm * 512 + 65536);
	b->err_off = -1;
	for (size_t from = 0; from < b->nm && !ret;) {
		size_t to = from, cut = from;

		/* the longest run of whole groups that fits */
		while (to < b->nm &&
		       b->m[to].start + b->m[to].len - b->m[from].start + 256 <=
		       fit) {
			to++;
			if (b->m[to - 1].cut_after)
				cut = to;
		}
		if (cut == from)	/* one group larger than the buffer */
			cut = to > from ? to : from + 1;
		if (from != 0 || cut != b->nm)
			rep->split = true;
		ret = batch_send_range(b, from, cut, rbuf);
		rep->batches++;
		rep->msgs += cut - from;
		for (size_t i = from; i < cut && !ret; i++)
			if (b->m[i].err)
				ret = b->m[i].err;
		from = cut;
	}
	free(rbuf);
	if (b->extack[0] && !rep->msg[0])
		snprintf(rep->msg, sizeof(rep->msg), "%s", b->extack);
	return ret;
}

static void rep_err(struct vg_nft_report *rep, int err, bool del, long idx,
		    const struct vg_nft_elem *list)
{
	if (rep->n_errs < VG_NFT_REPORT_ERRS) {
		rep->errs[rep->n_errs].err = err;
		rep->errs[rep->n_errs].del = del;
		rep->errs[rep->n_errs].index = idx;
		memset(&rep->errs[rep->n_errs].addr, 0, sizeof(struct vg_addr));
		if (idx >= 0 && list)
			rep->errs[rep->n_errs].addr = list[idx].addr;
	}
	rep->n_errs++;
}

/* Record every failed message; the element at the extended-ACK offset
 * when the kernel named one, else the whole message. */
static void batch_errors(struct batch *b, struct vg_nft_report *rep,
			 const struct vg_nft_elem *add,
			 const struct vg_nft_elem *del)
{
	for (size_t i = 0; i < b->nm; i++) {
		struct msg *m = &b->m[i];
		long idx = -1;

		if (!m->err)
			continue;
		if (m->seq == b->err_seq && b->err_off >= 0)
			for (size_t k = 0; k < m->nel; k++)
				if ((uint32_t)b->err_off >= m->el[k].off &&
				    (uint32_t)b->err_off <
				    m->el[k].off + m->el[k].len)
					idx = m->el[k].idx;
		if (idx < 0 && m->nel == 1)
			idx = m->el[0].idx;
		rep_err(rep, m->err, m->del, idx, m->del ? del : add);
	}
}

/* ---- dumps --------------------------------------------------------- */

static int dump(struct nl *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char *buf = malloc(RECV_SIZE);
	uint32_t seq = nlh->nlmsg_seq;
	int ret;

	if (!buf)
		return -ENOMEM;
	if (mnl_socket_sendto(n->sock, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(n->sock, buf, RECV_SIZE);

		if (len < 0) {
			ret = -errno;
			break;
		}
		errno = 0;
		ret = mnl_cb_run(buf, (size_t)len, seq, n->portid, cb, data);
		if (ret < 0) {
			ret = errno ? -errno : -EIO;
			break;
		}
		if (ret == MNL_CB_STOP) {
			ret = 0;
			break;
		}
	}
out:
	free(buf);
	return ret;
}

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

/* One NFTA_LIST_ELEM.  timeout_ms 0 = no timeout attribute. */
static void put_elem(struct nlmsghdr *nlh, const void *key, size_t klen,
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
static long put_elem_msg(struct batch *b, int type, const char *set,
			 const struct elsrc *s, size_t from, bool del, size_t lim)
{
	bool extras = type == NFT_MSG_NEWSETELEM;	/* timeout, comment */

	uint16_t fl = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0;
	struct nlmsghdr *nlh = msg_start(b, type, fl);

	if (!nlh)
		return -ENOMEM;
	struct msg *m = &b->m[b->nm];

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

		if (off - ((char *)nest - (char *)nlh) > NEST_MAX)
			break;
		put_elem(nlh, key, klen, extras ? e->timeout_ms : 0, 0,
			 extras);
		if (msg_add_elref(m, off, nlh->nlmsg_len - off, s->idx[i]) < 0)
			return -ENOMEM;
	}
	mnl_attr_nest_end(nlh, nest);
	msg_end(b, nlh);
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

/* Positions of list v in family fam. */
static long *pick(const struct vg_nft_elem *v, size_t n, int fam,
		  bool (*want)(const struct vg_nft_elem *), size_t *out)
{
	long *idx = malloc((n ? n : 1) * sizeof(*idx));

	*out = 0;
	if (!idx)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i].addr.family == fam && (!want || want(&v[i])))
			idx[(*out)++] = (long)i;
	return idx;
}

static bool is_fresh(const struct vg_nft_elem *e) { return e->fresh; }
static bool is_stale(const struct vg_nft_elem *e) { return !e->fresh; }

static int build_elems(struct batch *b, enum vg_nft_set set,
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
		s.idx = idx = pick(add, nadd, fams[f], is_fresh, &s.n);
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
		s.idx = idx = pick(add, nadd, fams[f], is_stale, &s.n);
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
		s.idx = idx = pick(del, ndel, fams[f], NULL, &s.n);
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

static int list_one(struct nl *n, const char *name, struct list_ctx *c)
{
	char buf[8192] = { 0 };
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
					NFPROTO_INET, NLM_F_DUMP, n->seq++);

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	int r = dump(n, nlh, list_msg_cb, c);

	return c->err ? c->err : r;
}

static int list_sock(struct nl *n, enum vg_nft_set set, unsigned v6prefix,
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
	struct nl nl;
	int r;

	*out = NULL;
	*n = 0;
	if ((unsigned int)set > VG_NFT_DROP_NET)
		return -EINVAL;
	r = nl_open(&nl);
	if (r)
		return r;
	r = list_sock(&nl, set, v6prefix, out, n);
	nl_close(&nl);
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

static int apply_sock(struct nl *n, enum vg_nft_set set,
		      const struct vg_nft_elem *add, size_t nadd,
		      const struct vg_nft_elem *del, size_t ndel,
		      struct vg_nft_report *rep)
{
	struct vg_nft_elem *del2 = NULL, *have = NULL;
	size_t nhave = 0;
	int r = 0;

	for (size_t i = 0; i < nadd; i++)
		if (valid_elem(set, &add[i]))
			return -EINVAL;
	for (size_t i = 0; i < ndel; i++)
		if (valid_elem(set, &del[i]))
			return -EINVAL;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct batch b = { .nl = n };

		r = build_elems(&b, set, add, nadd, del, ndel);
		if (!r)
			r = batch_send(&b, rep);
		/* A delete of an absent element (expired, or unbanned
		 * meanwhile)?  Re-read and send once more without it. */
		bool on_del = false;

		for (size_t i = 0; i < b.nm && r == -ENOENT; i++)
			if (b.m[i].err == -ENOENT && b.m[i].del)
				on_del = true;
		if (on_del && attempt == 0) {
			batch_free(&b);
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
			batch_errors(&b, rep, add, del);
		batch_free(&b);
		break;
	}
	if (!r) {
		rep->added += nadd;
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
	struct nl nl;
	int r;

	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	if ((unsigned int)set > VG_NFT_DROP_NET)
		return -EINVAL;
	if (!nadd && !ndel)
		return 0;
	r = nl_open(&nl);
	if (r)
		return r;
	r = apply_sock(&nl, set, add, nadd, del, ndel, rep);
	nl_close(&nl);
	return r;
}

int vg_nft_reconcile(enum vg_nft_set set, const struct vg_nft_elem *want,
		     size_t n, unsigned int v6prefix,
		     struct vg_nft_report *rep)
{
	struct vg_nft_report dummy;
	struct vg_nft_elem *w = NULL, *have = NULL, *add = NULL, *del = NULL;
	size_t nhave = 0, nadd = 0, ndel = 0, i = 0, j = 0;
	struct nl nl;
	int r;

	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	if ((unsigned int)set > VG_NFT_DROP_NET)
		return -EINVAL;
	for (size_t k = 0; k < n; k++)
		if (valid_elem(set, &want[k]))
			return -EINVAL;
	r = nl_open(&nl);
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
	if (n)
		memcpy(w, want, n * sizeof(*w));
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
			if (have[j].ours)
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
		size_t kept = rep->kept;

		r = apply_sock(&nl, set, add, nadd, del, ndel, rep);
		rep->kept = kept;
	}
out:
	nl_close(&nl);
	free(w);
	free(have);
	free(add);
	free(del);
	return r;
}

/* ---- ensure -------------------------------------------------------- */

void vg_nft_config_from(const struct vg_config *c, struct vg_nft_config *out)
{
	memset(out, 0, sizeof(*out));
	out->v6prefix = c->ipv6_prefix;
	out->conn_count = c->connlimit_count;
	out->conn_per = c->connlimit_per;
	out->conn_bantime = c->connlimit_bantime;
	out->n_ports = c->n_ssh_ports;
	if (out->n_ports > 16)
		out->n_ports = 16;
	memcpy(out->ports, c->ssh_ports, out->n_ports * sizeof(out->ports[0]));
	out->ignore = c->ignoreip;
}

static bool connlimit_on(const struct vg_nft_config *cfg)
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
static void rule_tag(const struct vg_nft_config *cfg, char *buf, size_t len)
{
	uint32_t h = fnv(2166136261u, SCHEMA, sizeof(SCHEMA));
	uint64_t v[4] = { cfg->v6prefix, 0, 0, 0 };

	if (connlimit_on(cfg)) {
		v[1] = cfg->conn_count;
		v[2] = cfg->conn_per;
		v[3] = cfg->conn_bantime;
	}
	h = fnv(h, v, sizeof(v));
	if (connlimit_on(cfg))
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

static unsigned int rule_count(const struct vg_nft_config *cfg)
{
	return connlimit_on(cfg) ? R_N : R_BORN;
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

/* The connlimit meter of one family (see nft.h for why it looks at an
 * assured conntrack, once, and not at the SYN):
 *   meta nfproto ipv4 tcp dport @sshports ct status assured
 *   ct label & (126|127) == 126 ct label set 127
 *   ip saddr != @trust4 ip saddr != @ignore4
 *   update @rate4 { ip saddr timeout PER limit rate over N/PER burst N }
 *   add @drop4 { ip saddr timeout BANTIME } drop
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

static struct nftnl_rule *make_rule(const struct vg_nft_config *cfg, int idx,
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
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, CHAIN);
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
static int check(struct nl *n, const struct vg_nft_config *cfg,
		 const char *tag)
{
	char buf[8192] = { 0 };
	struct check_ctx c = { .tag = tag };
	struct nlmsghdr *nlh;
	int r;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET,
				    NLM_F_DUMP, n->seq++);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, VG_NFT_TABLE);
	r = dump(n, nlh, check_set_cb, &c);
	if (r == -ENOENT)
		return 0;
	if (r)
		return c.err ? c.err : r;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
				    NLM_F_DUMP, n->seq++);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, CHAIN);
	r = dump(n, nlh, check_rule_cb, &c);
	if (r == -ENOENT)
		return 0;
	if (r)
		return c.err ? c.err : r;
	unsigned want = rule_count(cfg);

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
static int put_ignore(struct batch *b, const struct vg_cidr_list *l, int fam)
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
	struct nlmsghdr *nlh = msg_start(b, NFT_MSG_DELSETELEM, 0);

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	msg_end(b, nlh);
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
	nlh = msg_start(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	struct nlattr *nest = mnl_attr_nest_start(nlh,
						  NFTA_SET_ELEM_LIST_ELEMENTS);

	if (rg[0].lo != 0) {
		memset(key, 0, sizeof(key));
		put_elem(nlh, key, klen, 0, NFT_SET_ELEM_INTERVAL_END, false);
	}
	for (unsigned i = 0; i < nr; i++) {
		u128_put(rg[i].lo, key, klen);
		put_elem(nlh, key, klen, 0, 0, false);
		if (rg[i].last != max) {
			u128_put(rg[i].last + 1, key, klen);
			put_elem(nlh, key, klen, 0, NFT_SET_ELEM_INTERVAL_END,
				 false);
		}
	}
	mnl_attr_nest_end(nlh, nest);
	msg_end(b, nlh);
	return 0;
}

static int put_ports(struct batch *b, const struct vg_nft_config *cfg)
{
	struct nlmsghdr *nlh = msg_start(b, NFT_MSG_DELSETELEM, 0);

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "sshports");
	msg_end(b, nlh);
	if (!connlimit_on(cfg))
		return 0;
	nlh = msg_start(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE);
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

		put_elem(nlh, &p, 2, 0, 0, false);
	}
	mnl_attr_nest_end(nlh, nest);
	msg_end(b, nlh);
	return 0;
}

static int build_ensure(struct batch *b, const struct vg_nft_config *cfg,
			const char *tag, bool recreate)
{
	struct nlmsghdr *nlh;
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_chain *ch = NULL;
	int err = 0;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, VG_NFT_TABLE);
	if (recreate) {
		nlh = msg_start(b, NFT_MSG_DELTABLE, 0);
		if (!nlh) {
			err = -ENOMEM;
			goto out;
		}
		nftnl_table_nlmsg_build_payload(nlh, t);
		msg_end(b, nlh);
	}
	nlh = msg_start(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	if (!nlh) {
		err = -ENOMEM;
		goto out;
	}
	nftnl_table_nlmsg_build_payload(nlh, t);
	msg_end(b, nlh);

	for (size_t i = 0; i < NSETS; i++) {
		struct nftnl_set *s = nftnl_set_alloc();

		if (!s) {
			err = -ENOMEM;
			goto out;
		}
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, VG_NFT_TABLE);
		nftnl_set_set_str(s, NFTNL_SET_NAME, sets[i].name);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, sets[i].key);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sets[i].klen);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, sets[i].flags);
		nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)i + 1);
		if (sets[i].size)
			nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, sets[i].size);
		nlh = msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE);
		if (nlh) {
			nftnl_set_nlmsg_build_payload(nlh, s);
			msg_end(b, nlh);
		}
		nftnl_set_free(s);
		if (!nlh) {
			err = -ENOMEM;
			goto out;
		}
	}

	ch = nftnl_chain_alloc();
	if (!ch) {
		err = -ENOMEM;
		goto out;
	}
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, VG_NFT_TABLE);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, CHAIN);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_IN);
	nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, -10);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = msg_start(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	if (!nlh) {
		err = -ENOMEM;
		goto out;
	}
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	msg_end(b, nlh);

	/* flush chain: DELRULE with table + chain only */
	nlh = msg_start(b, NFT_MSG_DELRULE, 0);
	if (!nlh) {
		err = -ENOMEM;
		goto out;
	}
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, VG_NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, CHAIN);
	msg_end(b, nlh);

	/* ignoreip always: the prefix drops exempt it too. */
	if ((err = put_ignore(b, &cfg->ignore, VG_FAMILY_V4)) ||
	    (err = put_ignore(b, &cfg->ignore, VG_FAMILY_V6)) ||
	    (err = put_ports(b, cfg)))
		goto out;

	for (int i = 0; i < (int)rule_count(cfg); i++) {
		struct nftnl_rule *r = make_rule(cfg, i, tag);

		if (!r) {
			err = -ENOMEM;
			goto out;
		}
		nlh = msg_start(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, r);
			msg_end(b, nlh);
		}
		nftnl_rule_free(r);
		if (!nlh) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < b->nm; i++)	/* one transaction, always */
		b->m[i].cut_after = i + 1 == b->nm;
out:
	if (ch)
		nftnl_chain_free(ch);
	nftnl_table_free(t);
	return err;
}

int vg_nft_ensure(const struct vg_nft_config *cfg, struct vg_nft_report *rep)
{
	struct vg_nft_report dummy;
	char tag[32];
	struct nl nl;
	int r;

	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	if (cfg->v6prefix < 1 || cfg->v6prefix > 128 || cfg->n_ports > 16 ||
	    (connlimit_on(cfg) && (cfg->conn_per > 86400 * 7 ||
				   cfg->conn_bantime > VG_DURATION_MAX ||
				   cfg->conn_count > UINT32_MAX)))
		return -EINVAL;
	rule_tag(cfg, tag, sizeof(tag));
	r = nl_open(&nl);
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
		struct batch b = { .nl = &nl };

		r = build_ensure(&b, cfg, tag, attempt == 1);
		if (!r)
			r = batch_send(&b, rep);
		if (r)
			batch_errors(&b, rep, NULL, NULL);
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
		batch_free(&b);
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
	nl_close(&nl);
	return r;
}

int vg_nft_destroy(void)
{
	struct vg_nft_report rep = { 0 };
	struct batch b = { 0 };
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	struct nl nl;
	int r;

	if (!t)
		return -ENOMEM;
	r = nl_open(&nl);
	if (r) {
		nftnl_table_free(t);
		return r;
	}
	b.nl = &nl;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, VG_NFT_TABLE);
	nlh = msg_start(&b, NFT_MSG_DELTABLE, 0);
	if (!nlh) {
		r = -ENOMEM;
	} else {
		nftnl_table_nlmsg_build_payload(nlh, t);
		msg_end(&b, nlh);
		r = batch_send(&b, &rep);
	}
	if (r == -ENOENT)
		r = 0;
	batch_free(&b);
	nftnl_table_free(t);
	nl_close(&nl);
	return r;
}

/* ---- errors -------------------------------------------------------- */

bool vg_nft_unavailable(int err)
{
	return err == -EPERM || err == -EACCES || err == -EOPNOTSUPP ||
	       err == -EPROTONOSUPPORT || err == -EAFNOSUPPORT;
}

const char *vg_nft_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EPERM:
	case -EACCES:
		return "no CAP_NET_ADMIN (operation not permitted)";
	case -EOPNOTSUPP:
		return "nf_tables not supported by this kernel "
		       "(or a ruleset feature missing)";
	case -EPROTONOSUPPORT:
	case -EAFNOSUPPORT:
		return "no netfilter netlink in this kernel";
	case -ENOENT:
		return "table inet " VG_NFT_TABLE " or one of its sets is missing";
	case -ENFILE:
		return "set full";
	case -ENOBUFS:
		return "netlink answers lost (receive buffer overrun)";
	case -ETIMEDOUT:
		return "no answer from the kernel";
	case -EMSGSIZE:
		return "batch larger than the socket send buffer";
	case -EINVAL:
		return "invalid argument";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

/* The netlink side of table inet vpsguard: the socket, batches, dumps.
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
 * A batch larger than the socket send buffer is sent after raising it
 * with SO_SNDBUFFORCE; where that is refused (no CAP_NET_ADMIN in the
 * initial user namespace: LXC and similar containers) the batch is cut
 * into several, at element-group boundaries (a message with cut_after),
 * and is then NOT one transaction (rep->split says so). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/netfilter.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

#include "log.h"
#include "nft_internal.h"

#define MSG_ROOM	(NFT_NEST_MAX + 4096)
#define RECV_SIZE	65536

/* ---- netlink socket ------------------------------------------------ */

int nft_nl_open(struct nft_nl *n)
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

void nft_nl_close(struct nft_nl *n)
{
	if (n->sock)
		mnl_socket_close(n->sock);
	n->sock = NULL;
}

/* Largest batch one sendmsg() takes (netlink: len <= sk_sndbuf - 32). */
static size_t nl_sndbuf_fit(struct nft_nl *n, size_t want)
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

static void nl_rcvbuf(struct nft_nl *n, size_t want)
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

void nft_batch_free(struct nft_batch *b)
{
	for (size_t i = 0; i < b->nm; i++)
		free(b->m[i].el);
	free(b->m);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

static int batch_room(struct nft_batch *b, size_t need)
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

struct nlmsghdr *nft_msg_start(struct nft_batch *b, int type, uint16_t flags)
{
	if (batch_room(b, MSG_ROOM) < 0)
		return NULL;
	if (b->nm == b->mcap) {
		size_t c = b->mcap ? b->mcap * 2 : 32;
		struct nft_msg *p = realloc(b->m, c * sizeof(*p));

		if (!p)
			return NULL;
		b->m = p;
		b->mcap = c;
	}
	struct nft_msg *m = &b->m[b->nm];

	memset(m, 0, sizeof(*m));
	m->seq = b->nl->seq++;
	m->start = b->len;
	m->type = type;
	m->cut_after = true;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, (uint16_t)type,
				     NFPROTO_INET, flags | NLM_F_ACK, m->seq);
}

void nft_msg_end(struct nft_batch *b, struct nlmsghdr *nlh)
{
	struct nft_msg *m = &b->m[b->nm++];

	m->len = NLMSG_ALIGN(nlh->nlmsg_len);
	b->len += m->len;
}

int nft_msg_add_elref(struct nft_msg *m, uint32_t off, uint32_t len, long idx)
{
	if (m->nel == m->elcap) {
		size_t c = m->elcap ? m->elcap * 2 : 64;
		struct nft_elref *p = realloc(m->el, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->el = p;
		m->elcap = c;
	}
	m->el[m->nel++] = (struct nft_elref){ off, len, idx };
	return 0;
}

static int cb_attr_ext(const struct nlattr *a, void *data)
{
	struct nft_batch *b = data;

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
	struct nft_batch *b = data;
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
		struct nft_msg *m = &b->m[i];

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
static int batch_send_range(struct nft_batch *b, size_t from, size_t to,
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

int nft_batch_send(struct nft_batch *b, struct vg_nft_report *rep)
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
void nft_batch_errors(struct nft_batch *b, struct vg_nft_report *rep,
		      const struct vg_nft_elem *add,
		      const struct vg_nft_elem *del)
{
	for (size_t i = 0; i < b->nm; i++) {
		struct nft_msg *m = &b->m[i];
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

int nft_dump(struct nft_nl *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
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

/* What the pieces of the firewall share; nft.h is the interface.
 *
 *   nft_batch.c    the netlink socket, the batch (build, send, ACKs and
 *                  errors back to the element) and dumps
 *   nft_sets.c     elements of drop/trust sets: add, delete, list,
 *                  reconcile, their order
 *   nft_rules.c    the rules of chain input (expressions, the connlimit
 *                  meter) and the tag that hashes them
 *   nft_ruleset.c  table, sets and chain: the up-to-date check, the
 *                  ensure batch, ignore/sshports contents, destroy
 *   nft.c          the configuration and the error messages
 *
 * Nothing here prints; everything returns 0 or -errno. */
#ifndef VG_NFT_INTERNAL_H
#define VG_NFT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "nft.h"

struct nftnl_rule;

#define NFT_CHAIN	"input"
#define NFT_NEST_MAX	60000	/* close an element message here */

/* ---- netlink socket (nft_batch.c) ---------------------------------- */

struct nft_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
};

int nft_nl_open(struct nft_nl *n);
void nft_nl_close(struct nft_nl *n);

/* ---- batch (nft_batch.c) ------------------------------------------- */

struct nft_elref {
	uint32_t off, len;	/* of the NFTA_LIST_ELEM nest in its message */
	long idx;		/* into the caller's list */
};

struct nft_msg {
	uint32_t seq;
	size_t start, len;	/* in batch buf */
	int type;		/* NFT_MSG_* */
	bool del;		/* elements come from the delete list */
	bool cut_after;		/* a split may follow this message */
	bool answered;
	int err;
	struct nft_elref *el;
	size_t nel, elcap;
};

struct nft_batch {
	char *buf;
	size_t len, cap;
	struct nft_msg *m;
	size_t nm, mcap;
	struct nft_nl *nl;
	char extack[128];
	long err_off;		/* NLMSGERR_ATTR_OFFS of the first error */
	uint32_t err_seq;
	uint32_t begin_seq;	/* of the batch being sent */
	int batch_err;		/* an error for BEGIN: the batch was refused
				 * as a whole (no CAP_NET_ADMIN: EPERM) */
};

void nft_batch_free(struct nft_batch *b);
/* Start a message at the end of the buffer.  NULL: -ENOMEM. */
struct nlmsghdr *nft_msg_start(struct nft_batch *b, int type,
			       uint16_t flags);
void nft_msg_end(struct nft_batch *b, struct nlmsghdr *nlh);
int nft_msg_add_elref(struct nft_msg *m, uint32_t off, uint32_t len,
		      long idx);
/* Send the batch (in one piece if at all possible).  Returns 0 when every
 * message was answered with 0, the first error otherwise. */
int nft_batch_send(struct nft_batch *b, struct vg_nft_report *rep);
/* Record every failed message in rep (add/del: the element lists the
 * messages came from, NULL for ensure). */
void nft_batch_errors(struct nft_batch *b, struct vg_nft_report *rep,
		      const struct vg_nft_elem *add,
		      const struct vg_nft_elem *del);
/* Send one dump request and feed every answer to cb. */
int nft_dump(struct nft_nl *n, struct nlmsghdr *nlh, mnl_cb_t cb,
	     void *data);

/* ---- elements (nft_sets.c) ----------------------------------------- */

/* One NFTA_LIST_ELEM.  timeout_ms 0 = no timeout attribute. */
void nft_put_elem(struct nlmsghdr *nlh, const void *key, size_t klen,
		  uint64_t timeout_ms, uint32_t flags, bool comment);

/* ---- rules (nft_rules.c) ------------------------------------------- */

bool nft_connlimit_on(const struct vg_nft_config *cfg);
/* "vpsguard 1a2b3c4d": the rules' comment, a hash of what they enforce. */
void nft_rule_tag(const struct vg_nft_config *cfg, char *buf, size_t len);
/* How many rules chain input holds for cfg. */
unsigned int nft_rule_count(const struct vg_nft_config *cfg);
/* Rule idx (0 .. nft_rule_count() - 1) of chain input, its comment tag;
 * NULL: -ENOMEM. */
struct nftnl_rule *nft_make_rule(const struct vg_nft_config *cfg, int idx,
				 const char *tag);

#endif

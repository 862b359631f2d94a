/* table inet vpsguard over netlink: see nft.h for the ruleset and the
 * interface, nft_internal.h for which file does what.  Here: the
 * configuration the firewall takes, and its error messages. */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "nft.h"

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

/*
 * daemon and sync: the privileged helper.
 *
 * One pass: merge the saved bans into a table file not merged yet, save
 * the bans when they changed (temp + fsync + rename), and make the
 * kernel's drop sets hold exactly the persistent offenders whose ban is
 * active, and the trust sets the sources that logged in lately.  `sync` is one pass;
 * `daemon` is a pass at once when the module (or `ban`/`unban`) wakes
 * it through the table's futex, and every VG_DAEMON_INTERVAL seconds as
 * the safety net; at once on SIGUSR1, a config reload on SIGHUP, and a
 * final save on SIGTERM.
 *
 * Stopping leaves the nftables table alone: drops keep working and
 * expire by their kernel timeouts, and a restart re-sends nothing that
 * is already there (reconcile compares before it sends).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crowdsec.h"
#include "log.h"
#include "nft.h"
#include "sshd.h"
#include "state.h"
#include "subcommands.h"

#ifndef VG_DAEMON_INTERVAL
#define VG_DAEMON_INTERVAL	5
#endif

/* Enough to notice that a file is no longer the one we left there. */
struct file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static struct file_id file_id_of(const char *path)
{
	struct file_id id = { 0 };
	struct stat st;

	if (lstat(path, &st) == 0) {
		id.exists = true;
		id.dev = st.st_dev;
		id.ino = st.st_ino;
		id.size = st.st_size;
		id.mtime = st.st_mtim;
	}
	return id;
}

static bool same_file_id(const struct file_id *a, const struct file_id *b)
{
	return a->exists == b->exists && (!a->exists ||
	       (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
		a->mtime.tv_sec == b->mtime.tv_sec &&
		a->mtime.tv_nsec == b->mtime.tv_nsec));
}

struct helper {
	struct vg_config cfg;
	struct vg_state_rec *saved;	/* what the state file holds */
	size_t n_saved;
	bool have_saved;
	struct file_id state_id;	/* the state file as we last read or
					 * wrote it: another change is merged */
	bool state_known;		/* state_id was taken */
	bool state_moved;		/* SIGHUP gave a new state.path: merge
					 * it at the next full pass */
	uint32_t resize_refused;	/* table.size a resize could not
					 * reach: tried again each pass, not
					 * logged again until SIGHUP */
	bool nft_off;			/* said once: enforcing in PAM only */
	bool ports_asked;		/* sshd -T ran (until SIGHUP) */
	unsigned int n_ports;
	uint16_t ports[16];
	int nft_last_err;
	struct cs_link cs;		/* crowdsec.url set */
	int cs_wait_ms;			/* for its lock: sync waits, the
					 * daemon tries again next pass */
	bool cs_busy;			/* said once: lock held elsewhere */
	struct vg_entry *snap;		/* the table copied, kept between
					 * passes: a 4 MiB calloc and its
					 * page faults per pass would be most
					 * of a woken pass's time */
	size_t snap_cap;
	int64_t last_full_ms;		/* the last pass that saved */
	char save_err[VG_ERR_MAX];	/* the failing save's error, as last
					 * logged ("": the last save worked) */
	int64_t save_err_ms;		/* when it was logged */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Boot-relative table times <-> wall-clock state times. */
static int64_t to_wall(vg_time_t t, vg_time_t now, int64_t wall)
{
	return t ? wall - ((int64_t)now - (int64_t)t) : 0;
}

static vg_time_t from_wall(int64_t w, vg_time_t now, int64_t wall)
{
	int64_t t;

	if (!w)
		return 0;
	t = (int64_t)now + (w - wall);
	/* Before this boot: it ended long ago; keep it as "ended". */
	if (t < 1)
		return 1;
	return t >= UINT32_MAX ? UINT32_MAX - 1 : (vg_time_t)t;
}

static bool worth_saving(const struct vg_entry *e, const struct vg_config *c,
			 vg_time_t now)
{
	/* An inherited ban (an overflow level's) is the table's own
	 * defence of the moment, not this source's record. */
	return e->ban_count || vg_entry_trusted(e, c, now) ||
	       (vg_entry_banned(e, now) && !(e->flags & VG_ENTRY_INHERITED));
}

/* The saved times are wall-clock times; the live table counts boot
 * time.  A wall clock stepped back between save and restore (a bad RTC,
 * NTP correcting a VM) would stretch every ban by the step.  A ban set
 * "in the future" is taken as set now, with its own length: no ban
 * outlasts its length from the moment it is restored.  A step forward
 * can only end bans early, by at most the step: accepted, as with any
 * wall-clock expiry. */
static void clamp_to_clock(struct vg_state_rec *r, int64_t wall)
{
	int64_t len = r->banned_until - r->banned_at;

	if (r->banned_at > wall && r->banned_until > r->banned_at) {
		r->banned_at = wall;
		r->banned_until = wall + len;
	}
	if (r->last_success > wall)
		r->last_success = wall;
}

/* No saved ban outlasts bantime.maxtime from the moment it is
 * restored: a hand-edited or hostile file cannot drop an address for
 * a century. */
static void clamp_to_maxtime(struct vg_state_rec *r,
			     const struct vg_config *c, int64_t wall)
{
	if (r->banned_until > wall &&
	    (uint64_t)(r->banned_until - wall) > c->bantime_maxtime)
		r->banned_until = wall + (int64_t)c->bantime_maxtime;
}

/* worth_saving() for a saved record (boot-time fields) the live table
 * has no entry for. */
static bool saved_worth(const struct vg_state_rec *r,
			const struct vg_config *c, vg_time_t now)
{
	return r->banned_until > (int64_t)now ||
	       (r->last_success && (int64_t)now - r->last_success <
				   (int64_t)c->trust) ||
	       (r->ban_count && r->banned_at &&
		(int64_t)now - r->banned_at < (int64_t)c->history);
}

/* Is k a key the table can hold: a source (IPv4 /32, IPv6 per
 * ipv6.prefix, link-local /128) or a prefix ban (/24, /48)?  The module
 * never looks up anything else, so a record keyed so (a hand-edited
 * file: 192.0.2.0/25) would be a dead ban, listed but never enforced. */
static bool key_of_table(const struct vg_addr *k, const struct vg_config *c)
{
	if (k->family == VG_FAMILY_V4)
		return k->prefix == 32 || k->prefix == 24;
	if (k->family != VG_FAMILY_V6)
		return false;
	if (vg_addr_link_local(k))
		return k->prefix == 128;
	return k->prefix == c->ipv6_prefix || k->prefix == 48;
}

/* Merge the state file into the live table (vg_table_restore keeps the
 * larger of each field).  0 when the file was read, absent or set
 * aside as corrupt; else -errno (and nothing is marked restored). */
static int restore(struct helper *h, struct vg_table *t, vg_time_t now,
		   int64_t wall)
{
	struct vg_state_rec *r = NULL;
	char err[VG_ERR_MAX], aside[4096];
	size_t n = 0, bad = 0, odd = 0;
	int ret = vg_state_load(h->cfg.state_path, &r, &n, err, sizeof(err));

	if (ret == -ENOENT)
		return 0;
	if (ret == -EBADMSG) {
		/* Never overwrite the only copy: keep it aside, start from
		 * what the live table has. */
		if (vg_state_quarantine(h->cfg.state_path, aside,
					sizeof(aside)) == 0)
			vg_log(LOG_ERR, "%s; kept as %s, starting without it",
			       err, aside);
		else
			vg_log(LOG_ERR, "%s; could not move it aside", err);
		return 0;
	}
	if (ret) {
		vg_log(LOG_ERR, "%s", err);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		struct vg_entry e = { 0 };

		if (!key_of_table(&r[i].key, &h->cfg)) {
			odd++;
			continue;
		}
		memcpy(e.key, r[i].key.bytes, sizeof(e.key));
		e.family = r[i].key.family;
		e.prefix = r[i].key.prefix;
		e.ban_count = r[i].ban_count;
		e.flags = r[i].flags & VG_ENTRY_MANUAL;
		/* Shorter than a source's key: a /48 (/24) prefix ban. */
		if ((e.family == VG_FAMILY_V4 && e.prefix < 32) ||
		    (e.family == VG_FAMILY_V6 && e.prefix < h->cfg.ipv6_prefix))
			e.kind = VG_KIND_PREFIX;
		clamp_to_clock(&r[i], wall);
		clamp_to_maxtime(&r[i], &h->cfg, wall);
		e.banned_at = from_wall(r[i].banned_at, now, wall);
		e.banned_until = from_wall(r[i].banned_until, now, wall);
		e.last_success = from_wall(r[i].last_success, now, wall);
		e.last_seen = now;
		if (vg_table_restore(t, &e) != 0)
			bad++;
	}
	if (odd)
		vg_log(LOG_WARNING, "%s: %zu records keyed neither as a source "
		       "nor as a prefix ban (a /24, /32, /48, /%u, or a "
		       "link-local /128): not restored, not saved again",
		       h->cfg.state_path, odd, h->cfg.ipv6_prefix);
	n -= odd;
	/* No room (a table.size smaller than what was saved): save()
	 * keeps in the file what the table has no entry for. */
	if (bad)
		vg_log(LOG_WARNING, "restored %zu sources from %s; %zu did "
		       "not fit the table (%u entries, table.size): kept in "
		       "the state file, not enforced until it is larger",
		       n - bad, h->cfg.state_path, bad, vg_table_size(t));
	else
		vg_log(LOG_INFO, "restored %zu sources from %s", n,
		       h->cfg.state_path);
	free(r);
	return 0;
}

static int ensure_parent(const char *path)
{
	char dir[4096], *slash;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Equal but for a second of clock rounding in the times: the boot and
 * wall clocks are read at slightly different instants each pass. */
static bool close_time(int64_t a, int64_t b)
{
	return (a == 0) == (b == 0) && a - b <= 1 && b - a <= 1;
}

static bool same_recs(const struct vg_state_rec *a,
		      const struct vg_state_rec *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&a[i].key, &b[i].key, sizeof(a[i].key)) ||
		    a[i].ban_count != b[i].ban_count ||
		    a[i].flags != b[i].flags ||
		    !close_time(a[i].banned_at, b[i].banned_at) ||
		    !close_time(a[i].banned_until, b[i].banned_until) ||
		    !close_time(a[i].last_success, b[i].last_success))
			return false;
	return true;
}

/* The state file into the table, when it has not been merged into this
 * table file yet (the module made it after a reboot, or rebuilt it),
 * or when someone else changed the file since we last read or wrote it
 * (deleted: rewritten; replaced by garbage: set aside; edited: merged).
 * A file that cannot be read now is tried again next pass, and the
 * table is not marked: save() must not replace what it holds. */
static void merge_state(struct helper *h, struct vg_table *t, vg_time_t now,
			int64_t wall, bool always)
{
	struct file_id id = file_id_of(h->cfg.state_path);
	bool changed = h->state_known && !same_file_id(&id, &h->state_id);

	if (changed) {
		vg_log(LOG_NOTICE, "%s changed under the helper: merging it "
		       "into the table and saving again", h->cfg.state_path);
		h->have_saved = false;	/* save() compares with the file */
	}
	if (h->state_moved) {
		always = true;
		h->state_moved = false;
	}
	if (!always && !changed && vg_table_restored(t))
		return;
	if (restore(h, t, now, wall) == 0)
		vg_table_set_restored(t);
	h->state_id = file_id_of(h->cfg.state_path);
	h->state_known = true;
}

/* Before the first save of this process (every `sync`): learn what the
 * file holds, so an unchanged table is not rewritten, and never replace
 * a corrupt file without keeping it aside (the live table being full
 * made restore() skip reading it). */
static void learn_saved(struct helper *h, vg_time_t now, int64_t wall)
{
	struct vg_state_rec *r = NULL;
	char err[VG_ERR_MAX], aside[4096];
	size_t n = 0;
	int ret = vg_state_load(h->cfg.state_path, &r, &n, err, sizeof(err));

	if (ret == -EBADMSG) {
		if (vg_state_quarantine(h->cfg.state_path, aside,
					sizeof(aside)) == 0)
			vg_log(LOG_ERR, "%s; kept as %s, saving the live "
			       "table instead", err, aside);
		else
			vg_log(LOG_ERR, "%s; could not move it aside", err);
		return;
	}
	if (ret)
		return;
	h->state_id = file_id_of(h->cfg.state_path);
	h->state_known = true;
	for (size_t i = 0; i < n; i++) {
		r[i].banned_at = from_wall(r[i].banned_at, now, wall);
		r[i].banned_until = from_wall(r[i].banned_until, now, wall);
		r[i].last_success = from_wall(r[i].last_success, now, wall);
	}
	free(h->saved);
	h->saved = r;
	h->n_saved = n;
	h->have_saved = true;
}

/* A save that fails fails at every pass (a full disk, every 5 s): it is
 * logged when it starts or its reason changes, then every ten minutes. */
static void save_failed(struct helper *h, const char *err)
{
	int64_t t = mono_ms();

	if (strcmp(err, h->save_err) == 0 && t - h->save_err_ms < 600000)
		return;
	vg_log(LOG_ERR, "%s%s", err, strcmp(err, h->save_err) == 0 ?
	       " (still failing)" : "");
	snprintf(h->save_err, sizeof(h->save_err), "%s", err);
	h->save_err_ms = t;
}

/* The table's records worth saving, and the saved ones it has no entry
 * for that still are (a smaller table had no room for them, or a prefix
 * ban freed its sources' entries): a record leaves the file only when
 * the table says so, or when it is worth nothing any more. */
static int save(struct helper *h, struct vg_table *t, const struct vg_entry *e,
		long n, vg_time_t now, int64_t wall)
{
	struct vg_state_rec *r, *w = NULL;
	char err[VG_ERR_MAX] = "";
	size_t k = 0;
	int ret = -ENOMEM;

	if (!h->have_saved)
		learn_saved(h, now, wall);
	r = calloc((size_t)n + (h->have_saved ? h->n_saved : 0) + 1,
		   sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* Built in boot time first, so an unchanged table compares equal
	 * whatever the two clocks' rounding does between passes. */
	for (long i = 0; i < n; i++) {
		if (!worth_saving(&e[i], &h->cfg, now))
			continue;
		vg_entry_addr(&e[i], &r[k].key);
		r[k].ban_count = e[i].ban_count;
		r[k].flags = e[i].flags & VG_ENTRY_MANUAL;
		r[k].banned_at = e[i].banned_at;
		r[k].banned_until = e[i].banned_until;
		r[k].last_success = e[i].last_success;
		k++;
	}
	for (size_t i = 0; h->have_saved && i < h->n_saved; i++) {
		struct vg_entry x;

		if (saved_worth(&h->saved[i], &h->cfg, now) &&
		    key_of_table(&h->saved[i].key, &h->cfg) &&
		    vg_table_lookup(t, &h->saved[i].key, &x) != 0)
			r[k++] = h->saved[i];
	}
	if (h->have_saved && k == h->n_saved && same_recs(r, h->saved, k)) {
		free(r);
		return 0;
	}
	w = calloc(k + 1, sizeof(*w));
	if (!w)
		goto out;
	for (size_t i = 0; i < k; i++) {
		w[i] = r[i];
		w[i].banned_at = to_wall((vg_time_t)r[i].banned_at, now, wall);
		w[i].banned_until = to_wall((vg_time_t)r[i].banned_until, now,
					    wall);
		w[i].last_success = to_wall((vg_time_t)r[i].last_success, now,
					    wall);
	}
	ret = ensure_parent(h->cfg.state_path);
	if (ret)
		snprintf(err, sizeof(err), "%s: cannot make its directory: %s",
			 h->cfg.state_path, strerror(-ret));
	else
		ret = vg_state_save(h->cfg.state_path, w, k, err, sizeof(err));
	if (ret) {
		save_failed(h, err);
		goto out;
	}
	if (h->save_err[0]) {
		vg_log(LOG_NOTICE, "%s: saved again", h->cfg.state_path);
		h->save_err[0] = '\0';
	}
	h->state_id = file_id_of(h->cfg.state_path);
	free(h->saved);
	h->saved = r;
	r = NULL;
	h->n_saved = k;
	h->have_saved = true;
out:
	free(w);
	free(r);
	return ret;
}

/* A persistent offender (SPEC: banned persistent.after times within
 * history, ban active, not trusted, not in ignoreip): an nftables drop. */
static bool is_drop(const struct vg_config *c, const struct vg_entry *e,
		    const struct vg_addr *a, vg_time_t now)
{
	/* A prefix ban (aggregate.v6 / .v4) goes to drop6net / drop4net
	 * (prefix_drops()); an inherited overflow ban is the table's
	 * defence of the moment, not this source's record. */
	return e->kind == VG_KIND_SOURCE && vg_entry_banned(e, now) &&
	       !(e->flags & VG_ENTRY_INHERITED) &&
	       e->ban_count >= c->persistent_after &&
	       !vg_entry_trusted(e, c, now) &&
	       !vg_cidr_list_match(&c->ignoreip, a);
}

/* The snapshot is read without the table's lock: an entry that a
 * concurrent insert was moving to its other bucket can be in it twice.
 * One element per address (the longer timeout), as reconcile wants. */
static size_t unique(struct vg_nft_elem *w, size_t k)
{
	size_t j = 0;

	qsort(w, k, sizeof(*w), cli_elem_cmp);
	for (size_t i = 0; i < k; i++) {
		if (j && cli_elem_cmp(&w[j - 1], &w[i]) == 0) {
			if (w[i].timeout_ms > w[j - 1].timeout_ms)
				w[j - 1].timeout_ms = w[i].timeout_ms;
			continue;
		}
		w[j++] = w[i];
	}
	return j;
}

/* Persistent offenders -> drop sets; the lately trusted -> trust sets,
 * exempt from the connlimit guard. */
static size_t wanted(const struct helper *h, const struct vg_entry *e,
		     long n, vg_time_t now, bool drop, struct vg_nft_elem *w)
{
	const struct vg_config *c = &h->cfg;
	size_t k = 0;

	for (long i = 0; i < n; i++) {
		struct vg_addr a;
		uint64_t left;

		if (e[i].family != VG_FAMILY_V4 && e[i].family != VG_FAMILY_V6)
			continue;
		vg_entry_addr(&e[i], &a);
		if (drop) {
			if (!is_drop(c, &e[i], &a, now))
				continue;
			left = e[i].banned_until - now;
		} else {
			if (!vg_entry_trusted(&e[i], c, now))
				continue;
			left = e[i].last_success + c->trust - now;
		}
		memset(&w[k], 0, sizeof(w[k]));
		w[k].addr = a;
		w[k].timeout_ms = left * 1000;
		k++;
	}
	return unique(w, k);
}

/* Banned prefixes (aggregate.v6 / .v4) -> drop6net / drop4net, one
 * element each, at once and whatever persistent.after says: a prefix
 * ban already took aggregate.v6 banned sources.  Trusted and ignoreip
 * addresses inside it are let through by the kernel rule itself. */
static size_t prefix_drops(const struct vg_entry *e, long n, vg_time_t now,
			   struct vg_nft_elem *w)
{
	size_t k = 0;

	for (long i = 0; i < n; i++) {
		struct vg_addr a;

		if (e[i].kind != VG_KIND_PREFIX || !vg_entry_banned(&e[i], now))
			continue;
		vg_entry_addr(&e[i], &a);
		if (!(a.family == VG_FAMILY_V4 && a.prefix == VG_NFT_NET_V4) &&
		    !(a.family == VG_FAMILY_V6 && a.prefix == VG_NFT_NET_V6))
			continue;
		memset(&w[k], 0, sizeof(w[k]));
		w[k].addr = a;
		w[k].timeout_ms = (uint64_t)(e[i].banned_until - now) * 1000;
		k++;
	}
	return unique(w, k);
}

static void nft_failed(struct helper *h, const char *what, int ret)
{
	if (vg_nft_unavailable(ret)) {
		if (!h->nft_off)
			vg_log(LOG_WARNING, "nftables unavailable (%s): "
			       "enforcing in PAM only", vg_nft_strerror(ret));
		h->nft_off = true;
		return;
	}
	if (ret != h->nft_last_err)
		vg_log(LOG_ERR, "nftables %s: %s", what, vg_nft_strerror(ret));
	h->nft_last_err = ret;
}

/* The drops pulled from CrowdSec join ours in w[0..k): never for a
 * trusted source (nor ignoreip, cs_want()), and one element per address
 * with the longer of the two timeouts, so a deleted decision leaves a
 * local ban in place.  The new count. */
static size_t add_pulled(struct helper *h, const struct vg_entry *e, long n,
			 vg_time_t now, int64_t wall, struct vg_nft_elem *w,
			 size_t k)
{
	struct vg_nft_elem *t = calloc((size_t)n + 1, sizeof(*t));
	size_t nt, j = 0;

	if (!t)
		return k;
	nt = wanted(h, e, n, now, false, t);
	qsort(t, nt, sizeof(*t), cs_elem_cmp);
	k += cs_want(&h->cs, &h->cfg, wall, t, nt, w + k);
	free(t);
	qsort(w, k, sizeof(*w), cs_elem_cmp);
	for (size_t i = 0; i < k; i++) {
		if (j && cs_elem_cmp(&w[j - 1], &w[i]) == 0) {
			if (w[i].timeout_ms > w[j - 1].timeout_ms)
				w[j - 1].timeout_ms = w[i].timeout_ms;
			continue;
		}
		w[j++] = w[i];
	}
	return j;
}

static int firewall(struct helper *h, const struct vg_entry *e, long n,
		    vg_time_t now, int64_t wall)
{
	struct vg_nft_config nc;
	struct vg_nft_report rep;
	size_t extra = cs_enabled(&h->cfg) && h->cfg.cs_pull ?
		       cs_want_max(&h->cs) : 0;
	struct vg_nft_elem *w = calloc((size_t)n + extra + 1, sizeof(*w));
	size_t k;
	int ret;

	if (!w)
		return -ENOMEM;
	vg_nft_config_from(&h->cfg, &nc);
	if (h->cfg.n_ssh_ports == 0 && h->cfg.connlimit_count) {
		/* Asked once, not every pass: sshd -T forks and reads
		 * every host key. */
		if (!h->ports_asked) {
			int r = vg_sshd_ports(h->ports, &h->n_ports, 16);

			h->ports_asked = true;
			if (r)
				vg_log(LOG_WARNING, "ssh.ports: `sshd -T` "
				       "failed (%s): connlimit guard off; set "
				       "ssh.ports", r == -ENOEXEC ? "its "
				       "configuration or host keys" :
				       strerror(-r));
		}
		memcpy(nc.ports, h->ports, sizeof(nc.ports));
		nc.n_ports = h->n_ports;
	}
	memset(&rep, 0, sizeof(rep));
	ret = vg_nft_ensure(&nc, &rep);
	if (ret) {
		nft_failed(h, "setup", ret);
		goto out;
	}
	if (h->nft_off)
		vg_log(LOG_NOTICE, "nftables available again");
	h->nft_off = false;
	k = wanted(h, e, n, now, true, w);
	if (extra)
		k = add_pulled(h, e, n, now, wall, w, k);
	ret = vg_nft_reconcile(VG_NFT_DROP, w, k, h->cfg.ipv6_prefix, &rep);
	if (ret) {
		nft_failed(h, "drop sets", ret);
		goto out;
	}
	if (rep.added || rep.deleted)
		vg_log(LOG_NOTICE, "nftables: %zu dropped, %zu lifted, %zu "
		       "kept", rep.added, rep.deleted, rep.kept);
	k = prefix_drops(e, n, now, w);
	memset(&rep, 0, sizeof(rep));
	ret = vg_nft_reconcile(VG_NFT_DROP_NET, w, k, h->cfg.ipv6_prefix, &rep);
	if (ret) {
		nft_failed(h, "prefix drop sets", ret);
		goto out;
	}
	if (rep.added || rep.deleted)
		vg_log(LOG_NOTICE, "nftables: %zu prefixes dropped, %zu lifted",
		       rep.added, rep.deleted);
	k = wanted(h, e, n, now, false, w);
	memset(&rep, 0, sizeof(rep));
	ret = vg_nft_reconcile(VG_NFT_TRUST, w, k, h->cfg.ipv6_prefix, &rep);
	if (ret)
		nft_failed(h, "trust sets", ret);
	else
		h->nft_last_err = 0;
out:
	free(w);
	return ret;
}

/* Queue a push for every persistent offender not pushed yet. */
static void note_drops(struct helper *h, const struct vg_entry *e, long n,
		       vg_time_t now, int64_t wall)
{
	for (long i = 0; i < n; i++) {
		struct vg_addr a;

		if (e[i].family != VG_FAMILY_V4 && e[i].family != VG_FAMILY_V6)
			continue;
		vg_entry_addr(&e[i], &a);
		/* A link-local address means nothing to another host. */
		if (is_drop(&h->cfg, &e[i], &a, now) &&
		    !vg_addr_link_local(&a))
			cs_note_drop(&h->cs, &a, to_wall(e[i].banned_at, now,
							 wall),
				     to_wall(e[i].banned_until, now, wall),
				     e[i].ban_count);
	}
}

/* The link's file is shared with `sync` and `unban`: lock it, and read
 * it again if one of them changed it.  Without the lock (held
 * elsewhere) the drop sets are made from the file as it is (an unban's
 * lifts included), and the exchange waits for a pass that gets it.
 * 0 or -EWOULDBLOCK... */
static int link_begin(struct helper *h)
{
	char err[VG_ERR_MAX];
	bool changed;
	int ret = cs_lock(&h->cs, &h->cfg, h->cs_wait_ms, err, sizeof(err));

	if (ret == 0) {
		h->cs_busy = false;
		cs_refresh(&h->cs, &h->cfg, false, &changed);
		return 0;
	}
	if (h->cs_wait_ms)
		cli_error("crowdsec: %s; the pass was done without the "
			  "CrowdSec exchange", err);
	else if (!h->cs_busy)
		vg_log(LOG_INFO, "crowdsec: %s; exchange postponed", err);
	h->cs_busy = true;
	/* Read only: a corrupt file is set aside by whoever has the lock. */
	if (cs_refresh(&h->cs, &h->cfg, true, &changed) != 0)
		h->cs.loaded = false;
	return ret;
}

/* After the local work: the LAPI may be slow or down, and nothing above
 * waited for it.  New or deleted decisions are applied at once.  Under
 * the lock taken by link_begin(), released here. */
static void crowdsec(struct helper *h, const struct vg_entry *e, long n,
		     vg_time_t now, int64_t wall)
{
	bool changed = false;

	if (h->cfg.cs_push && h->cfg.cs_machine[0])
		note_drops(h, e, n, now, wall);
	cs_exchange(&h->cs, &h->cfg, wall, &changed);
	if (changed && !h->nft_off)
		firewall(h, e, n, now, wall);
	cs_save_if_needed(&h->cs, &h->cfg, wall);
	cs_unlock(&h->cs);
}

/* The table's entries, refreshed, into h->snap. */
static long snapshot(struct helper *h, struct vg_table *t, vg_time_t now)
{
	size_t size = vg_table_size(t);
	long n;

	if (h->snap_cap < size) {
		free(h->snap);
		h->snap = calloc(size, sizeof(*h->snap));
		h->snap_cap = h->snap ? size : 0;
		if (!h->snap)
			return -ENOMEM;
	}
	n = vg_table_snapshot(t, h->snap, size);
	for (long i = 0; i < n; i++)
		cli_entry_refresh(&h->snap[i], &h->cfg, now);
	return n;
}

/* table.size changed (or the module made the table with another size):
 * a full pass resizes it, carrying every record, and goes on with the
 * new file; one that cannot keeps the old one and says why (once per
 * size asked: a shrink refused for its bans is tried again each pass,
 * and succeeds once enough of them have ended).  *failed: it could not. */
static int resize(struct helper *h, struct vg_table **t,
		  struct vg_table **own, bool *failed)
{
	uint32_t from = vg_table_size(*t), kept;
	int ret = vg_table_resize(*t, h->cfg.table_size, &h->cfg, &kept);

	if (ret) {
		*failed = true;
		if (h->resize_refused == h->cfg.table_size)
			return 0;
		h->resize_refused = h->cfg.table_size;
		if (ret == -EOVERFLOW)
			vg_log(LOG_ERR, "table %s: not resized from %u to %u "
			       "entries (table.size): it holds more active "
			       "bans than that; a resize never lifts a ban, "
			       "so it stays at %u entries until enough bans "
			       "end (or raise table.size)", h->cfg.table_path,
			       from, h->cfg.table_size, from);
		else
			vg_log(LOG_ERR, "table %s: cannot resize it from %u "
			       "to %u entries (table.size): %s; keeping it as "
			       "it is", h->cfg.table_path, from,
			       h->cfg.table_size, strerror(-ret));
		return 0;
	}
	h->resize_refused = 0;
	vg_log(LOG_NOTICE, "table %s resized from %u to %u entries "
	       "(table.size), %u records carried over", h->cfg.table_path,
	       from, h->cfg.table_size, kept);
	vg_table_close(*own);
	*own = NULL;
	ret = cli_table_open(&h->cfg, true, own);
	if (ret == 0)
		*t = *own;
	return ret;
}

/* A woken pass (fast) only brings the kernel's sets up to date: the
 * state file, the restore and the CrowdSec exchange wait for the next
 * full pass, at most VG_DAEMON_INTERVAL away.  t: the daemon's open
 * table, or NULL to open one for this pass (sync). */
static int one_pass(struct helper *h, struct vg_table *t,
		    bool restore_always, bool fast)
{
	struct vg_table *own = NULL;
	struct vg_entry *e;
	vg_time_t now = vg_now();
	int64_t wall = (int64_t)time(NULL);
	bool resize_failed = false;
	long n;
	int ret = 0, fw, link = -1, lock = -1;

	if (!t) {
		ret = cli_table_open(&h->cfg, true, &own);
		if (ret)
			return ret;
		t = own;
	}
	if (!fast && vg_table_size(t) != h->cfg.table_size) {
		ret = resize(h, &t, &own, &resize_failed);
		if (ret)
			goto out;
	}
	if (!fast) {
		/* Merge ... save under table.lock, so an unban is wholly
		 * before or after it (vg_state_lock()).  Not had (an unban
		 * stuck?): the kernel's sets only, this pass. */
		lock = vg_state_lock(h->cfg.table_path, h->cs_wait_ms ?
				     10000 : 2000);
		if (lock < 0) {
			vg_log(LOG_WARNING, "%s.lock: %s; the state file waits "
			       "for the next pass", h->cfg.table_path,
			       strerror(-lock));
			fast = true;
		}
	}
	if (!fast)
		merge_state(h, t, now, wall, restore_always);
	n = snapshot(h, t, now);
	e = h->snap;
	if (n < 0) {
		cli_error("cannot read the table: %s", strerror((int)-n));
		ret = cli_exit_code((int)n);
		goto out;
	}
	if (fast) {
		fw = firewall(h, e, n, now, wall);
		ret = fw && !vg_nft_unavailable(fw) ? VG_EXIT_FAIL : 0;
		goto out;
	}
	h->last_full_ms = mono_ms();
	if (cs_enabled(&h->cfg)) {
		link = link_begin(h);
		if (link && h->cs_wait_ms)
			ret = VG_EXIT_FAIL;
	}
	/* The kernel first: a new ban is what woke us, and the state
	 * file's fsync may take a while on a slow disk. */
	fw = firewall(h, e, n, now, wall);
	if (fw && !vg_nft_unavailable(fw))
		ret = VG_EXIT_FAIL;
	if (save(h, t, e, n, now, wall))
		ret = VG_EXIT_FAIL;
	vg_state_unlock(lock);
	lock = -1;
	if (link == 0)
		crowdsec(h, e, n, now, wall);
	if (resize_failed)
		ret = VG_EXIT_FAIL;	/* sync says so; the pass went on */
out:
	vg_state_unlock(lock);
	vg_table_close(own);
	return ret;
}

static const struct cli_opt no_opts[] = { { NULL, NULL, NULL, NULL, NULL } };

static const struct cli_cmd sync_cmd = {
	.name = "sync",
	.help = "One pass of the helper: merge the saved bans into a table "
		"that has not had\nthem yet, save the bans to state.path when "
		"they changed, and make the nftables\nsets hold exactly what "
		"the table says: drop4/drop6 the persistent offenders\n(banned "
		"persistent.after times, ban still active), drop4net/drop6net "
		"the banned\nprefixes, trust4/trust6 the trusted sources; and "
		"the connection-rate rules\n(connlimit.*).  Without nftables "
		"it says so and does the rest.",
	.opts = no_opts,
};

static const struct cli_cmd daemon_cmd = {
	.name = "daemon",
	.help = "The privileged helper, in the foreground (run by "
		"pam-vpsguard.service): a\nsync pass at start (restoring "
		"saved bans) and every few seconds; SIGUSR1:\na pass now; "
		"SIGHUP: re-read the configuration; SIGTERM: save and exit.\n"
		"Stopping leaves the nftables table in place.",
	.opts = no_opts,
};

int sync_main(int argc, const char **argv)
{
	struct helper h = { 0 };
	const char *args[1];
	unsigned int nargs;
	int ret = cli_parse(&sync_cmd, argc, argv, args, &nargs);

	if (ret)
		return ret == CLI_HELP ? VG_EXIT_OK : ret;
	ret = cli_load_config(&h.cfg);
	if (ret)
		return ret;
	h.cs_wait_ms = CS_LOCK_WAIT_MS;
	ret = one_pass(&h, NULL, false, false);
	free(h.saved);
	free(h.snap);
	cs_free(&h.cs);
	return ret;
}

static void daemon_log(void *ctx, int prio, const char *fmt, va_list ap)
{
	va_list again;

	(void)ctx;
	/* vsyslog() consumed ap: the second use needs its own copy. */
	va_copy(again, ap);
	vsyslog(LOG_AUTHPRIV | prio, fmt, ap);
	if (isatty(STDERR_FILENO) || getenv("VG_LOG_STDERR")) {
		vfprintf(stderr, fmt, again);
		fputc('\n', stderr);
	}
	va_end(again);
}

/* Signals set flags and interrupt the wait (no SA_RESTART). */
static volatile sig_atomic_t sig_stop, sig_hup, sig_usr1;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_hup = 1;
	else if (sig == SIGUSR1)
		sig_usr1 = 1;
	else
		sig_stop = 1;
}

static void handle_signals(void)
{
	struct sigaction sa;
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* The table the daemon sleeps on, kept open between passes; reopened
 * when it was rebuilt (a new file has a new futex word). */
static struct vg_table *wait_table(struct helper *h, struct vg_table *t)
{
	if (t && !vg_table_stale(t))
		return t;
	vg_table_close(t);
	t = NULL;
	if (cli_table_open(&h->cfg, true, &t) != VG_EXIT_OK)
		t = NULL;
	return t;
}

/* Until a ban starts or ends (the module's futex wake: true), a
 * signal, or VG_DAEMON_INTERVAL seconds after the last full pass: the
 * polling pass stays as the safety net.  Slices of at most a second
 * bound the delay of a signal that lands just before the futex sleep. */
static bool wait_event(struct vg_table *t, uint32_t seen, int64_t since)
{
	int64_t end = since + VG_DAEMON_INTERVAL * 1000, left;
	struct timespec slice;

	while (!sig_stop && !sig_hup && !sig_usr1 &&
	       (left = end - mono_ms()) > 0) {
		if (left > 1000)
			left = 1000;
		if (t) {
			if (vg_table_wait(t, seen, (int)left) == 1)
				return true;
			continue;
		}
		slice.tv_sec = left / 1000;
		slice.tv_nsec = (long)(left % 1000) * 1000000L;
		nanosleep(&slice, NULL);
	}
	return false;
}

/* One helper per network namespace: two (the unit and one started by
 * hand with another --conf) would fight over its one nftables table,
 * each lifting the other's drops at every pass.  An abstract socket's
 * name belongs to the network namespace, and is let go with the
 * process however it ends.  The fd, or -errno (-EADDRINUSE: taken). */
static int claim_netns(void)
{
	static const char name[] = "pam_vpsguard-helper";
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				    sizeof(name));	/* '\0' + name */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	if (s < 0)
		return -errno;
	memcpy(a.sun_path + 1, name, sizeof(name) - 1);
	if (bind(s, (struct sockaddr *)&a, len) == 0)
		return s;
	e = errno;
	close(s);
	return -e;
}

int daemon_main(int argc, const char **argv)
{
	struct helper h = { 0 };
	const char *args[1];
	unsigned int nargs;
	struct vg_table *wt = NULL;
	uint32_t seen;
	int ret = cli_parse(&daemon_cmd, argc, argv, args, &nargs), claim;
	bool first = true, woken = false;

	if (ret)
		return ret == CLI_HELP ? VG_EXIT_OK : ret;
	ret = cli_load_config(&h.cfg);
	if (ret)
		return ret;
	claim = claim_netns();
	if (claim == -EADDRINUSE) {
		cli_error("daemon: another helper already runs in this network "
			  "namespace (systemctl status pam-vpsguard): two would "
			  "undo each other's nftables drops");
		return VG_EXIT_FAIL;
	}
	handle_signals();
	openlog("pam_vpsguard-admin", LOG_PID, LOG_AUTHPRIV);
	vg_log_set(daemon_log, NULL);
	vg_log(LOG_INFO, "started, table %s, state %s", h.cfg.table_path,
	       h.cfg.state_path);
	if (claim < 0)		/* not EADDRINUSE: go on, unguarded */
		vg_log(LOG_WARNING, "cannot tell whether another helper runs "
		       "here: %s", strerror(-claim));
	/* A start pulls the whole decision list: whatever changed while
	 * we were down is then exact, not a delta we may have missed. */
	h.cs.want_full = true;
	for (;;) {
		wt = wait_table(&h, wt);
		/* Read before the pass: a ban during it wakes the wait. */
		seen = wt ? vg_table_seq(wt) : 0;
		one_pass(&h, wt, first, woken &&
			 mono_ms() - h.last_full_ms < VG_DAEMON_INTERVAL * 1000);
		first = false;
		/* The pass resized the table, or the module rebuilt it:
		 * its bans now wake the new file's futex, not this one. */
		if (wt && vg_table_stale(wt)) {
			woken = false;
			continue;
		}
		woken = wait_event(wt, seen, h.last_full_ms);
		/* SIGUSR1 asks for a full pass, even when a ban woke us
		 * at the same moment (it used to be cleared unheeded). */
		if (sig_usr1)
			woken = false;
		sig_usr1 = 0;
		if (sig_stop)
			break;
		if (sig_hup) {
			struct vg_config c;

			sig_hup = 0;

			if (cli_load_config(&c) == VG_EXIT_OK) {
				/* The link re-reads its file (state.path
				 * may have moved) and logs in again; every
				 * pass saved what it changed. */
				cs_free(&h.cs);
				h.state_moved = strcmp(c.state_path,
						       h.cfg.state_path) != 0;
				h.cfg = c;
				h.ports_asked = false;
				/* state.path may have moved: compare with,
				 * and save to, the new file */
				h.have_saved = false;
				h.state_known = false;
				h.resize_refused = 0;
				vg_table_close(wt);	/* table.path may move */
				wt = NULL;
				vg_log(LOG_INFO, "configuration re-read");
			} else {
				vg_log(LOG_ERR, "configuration not re-read: "
				       "keeping the running one");
			}
		}
	}
	/* The final pass saves; the kernel table stays. */
	ret = one_pass(&h, wt, false, false);
	vg_table_close(wt);
	vg_log(LOG_INFO, "stopped; nftables drops stay until they expire");
	if (claim >= 0)
		close(claim);
	free(h.saved);
	free(h.snap);
	cs_free(&h.cs);
	closelog();
	return ret;
}

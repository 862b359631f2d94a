/* ban and unban by hand.  Both act on the key the module itself uses,
 * so a ban here is what the next preauth/account check sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crowdsec.h"
#include "log.h"
#include "nft.h"
#include "output.h"
#include "policy.h"
#include "state.h"
#include "subcommands.h"

/* SPEC: unban also removes the nftables drop, at once (the helper's
 * next pass would, but an admin who unbans wants it now).  No table
 * (the helper never ran) or no nftables here: there is no drop to
 * remove.  0 or -errno. */
static int nft_done(int ret)
{
	if (ret == -ENOENT)
		return 0;
	if (vg_nft_unavailable(ret)) {
		cli_note("nftables not available (%s): no drop to remove",
			 vg_nft_strerror(ret));
		return 0;
	}
	if (ret)
		cli_error("nftables: %s", vg_nft_strerror(ret));
	return ret;
}

/* A prefix ban's key (a /24, or a /48 shorter than a source's key) is
 * an element of drop4net/drop6net, a source's of drop4/drop6. */
static int nft_drop_remove(const struct vg_config *cfg,
			   const struct vg_addr *key)
{
	struct vg_nft_elem e;
	struct vg_nft_report rep;
	bool net = (key->family == VG_FAMILY_V4 &&
		    key->prefix == VG_NFT_NET_V4) ||
		   (key->family == VG_FAMILY_V6 &&
		    key->prefix == VG_NFT_NET_V6 &&
		    key->prefix < cfg->ipv6_prefix);
	int ret;

	memset(&e, 0, sizeof(e));
	e.addr = *key;
	memset(&rep, 0, sizeof(rep));
	ret = vg_nft_apply(net ? VG_NFT_DROP_NET : VG_NFT_DROP, NULL, 0, &e,
			   1, &rep);
	return nft_done(ret);
}

/* Every element of set; *count += how many went. */
static int nft_drop_remove_set(const struct vg_config *cfg,
			       enum vg_nft_set set, size_t *count)
{
	struct vg_nft_elem *e = NULL;
	struct vg_nft_report rep;
	size_t n = 0;
	int ret = vg_nft_list(set, cfg->ipv6_prefix, &e, &n);

	memset(&rep, 0, sizeof(rep));
	if (ret == 0 && n)
		ret = vg_nft_apply(set, NULL, 0, e, n, &rep);
	if (ret == 0)
		*count += n;
	free(e);
	return ret;
}

static int nft_drop_remove_all(const struct vg_config *cfg, size_t *count)
{
	int ret;

	*count = 0;
	ret = nft_drop_remove_set(cfg, VG_NFT_DROP, count);
	/* -ENOENT from the prefix sets alone: an older helper's table. */
	if (ret == 0) {
		ret = nft_drop_remove_set(cfg, VG_NFT_DROP_NET, count);
		if (ret == -ENOENT)
			ret = 0;
	}
	return nft_done(ret);
}

static const char *ban_time;
static bool ban_force;

static const struct cli_opt ban_opts[] = {
	{ "time", NULL, &ban_time, "DUR",
	  "ban length, e.g. 90, 10m, 1h30m, 7d (default: the length the "
	  "next ban\n      of this source would get: bantime, "
	  "escalated by bantime.factor); at most\n      bantime.maxtime" },
	{ "force", &ban_force, NULL, NULL,
	  "ban even where ignoreip covers the address" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd ban_cmd = {
	.name = "ban",
	.args = "ADDR [--time DUR] [--force]",
	.help = "Ban ADDR (IPv4, IPv6, ::ffff:a.b.c.d, or an IPv6 prefix "
		"of ipv6.prefix bits)\nnow, under the key the module "
		"counts it by.  The ban counts as one more ban\nof the "
		"source.  An address inside ignoreip is refused without "
		"--force: the\nmodule ignores such sources, so the ban "
		"would do nothing there.",
	.opts = ban_opts,
	.min_args = 1,
	.max_args = 1,
};

/* --time, checked before anything is opened; 0 = not given. */
static int parse_time(uint64_t *len)
{
	*len = 0;
	if (ban_time && (vg_duration_parse(ban_time, len) != 0 || *len == 0)) {
		cli_error("ban: --time '%s' is not a duration from 1s to 10 "
			  "years (e.g. 90, 10m, 1h30m, 7d)", ban_time);
		return VG_EXIT_USAGE;
	}
	return VG_EXIT_OK;
}

/* Without --time: the length this source's next ban would get. */
static int default_length(struct vg_table *t, const struct vg_config *cfg,
			  const struct vg_addr *key, vg_time_t now,
			  uint64_t *len)
{
	struct vg_entry e;
	uint32_t n = 0;
	int ret = cli_lookup(t, cfg, key, now, &e);

	if (ret && ret != -ENOENT) {
		cli_error("ban: cannot read the table: %s", strerror(-ret));
		return cli_exit_code(ret);
	}
	if (ret == 0)
		n = e.ban_count;
	*len = vg_ban_length(cfg, n < UINT32_MAX ? n + 1 : n);
	return VG_EXIT_OK;
}

int ban_main(int argc, const char **argv)
{
	struct vg_config cfg;
	struct vg_table *t = NULL;
	struct vg_addr a, key;
	char shown[VG_ADDR_STRLEN], ign[VG_ADDR_STRLEN], span[32];
	const char *args[1];
	unsigned int nargs;
	vg_time_t now = vg_now();
	struct vg_entry e;
	uint64_t len;
	int ret, how;

	ret = cli_parse(&ban_cmd, argc, argv, args, &nargs);
	if (ret)
		goto out;
	ret = parse_time(&len);
	if (ret)
		goto out;
	ret = cli_load_config(&cfg);
	if (ret)
		goto out;
	/* SPEC: no ban is longer than bantime.maxtime, by hand neither. */
	if (len > cfg.bantime_maxtime) {
		vg_duration_format(cfg.bantime_maxtime, span, sizeof(span));
		cli_error("ban: --time '%s' is longer than bantime.maxtime "
			  "(%s)", ban_time, span);
		ret = VG_EXIT_USAGE;
		goto out;
	}
	ret = cli_parse_source(args[0], &cfg, &a, &key, false);
	if (ret)
		goto out;
	if (vg_addr_not_unicast(&a)) {
		vg_addr_format(&a, ign, sizeof(ign));
		cli_error("ban: %s is not a unicast source address (%s): not "
			  "banned", ign, vg_addr_not_unicast(&a));
		ret = VG_EXIT_USAGE;
		goto out;
	}
	vg_addr_format(&key, shown, sizeof(shown));
	how = cli_ignore_match(&cfg, &a, &key, ign, sizeof(ign));
	if (how && !ban_force) {
		cli_error("ban: %s %s ignoreip entry %s: not banned (--force "
			  "to ban it anyway)", shown, how == 1 ?
			  "is covered by" : "contains", ign);
		ret = VG_EXIT_FAIL;
		goto out;
	}
	ret = cli_table_open(&cfg, true, &t);
	if (ret)
		goto out;
	if (len == 0) {
		ret = default_length(t, &cfg, &key, now, &len);
		if (ret)
			goto out;
	}
	ret = vg_table_ban(t, &cfg, &key, len, now);
	if (ret) {
		cli_error("ban: %s: %s%s", shown, strerror(-ret),
			  ret == -ENOSPC ? " (the table is full of active "
			  "bans around this key)" : "");
		ret = cli_exit_code(ret);
		goto out;
	}
	vg_duration_format(len, span, sizeof(span));
	if (cli_lookup(t, &cfg, &key, now, &e) == 0)
		printf("banned %s for %s (ban #%u)\n", shown, span,
		       e.ban_count);
	else
		printf("banned %s for %s\n", shown, span);
	ret = VG_EXIT_OK;
out:
	vg_table_close(t);
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

/* The CrowdSec side of an unban (crowdsec.h, crowdsec_unban.c). */
struct fleet {
	int err;		/* the link's file could not be locked/read */
	char why[VG_ERR_MAX];
	struct cs_unban_report r;
};

/* An admin's unban changes the fleet's view: it goes to syslog
 * (authpriv), and to stderr as well with VG_LOG_STDERR (as the daemon);
 * standard output gets the summary. */
static void unban_log(void *ctx, int prio, const char *fmt, va_list ap)
{
	va_list ap2;

	(void)ctx;
	va_copy(ap2, ap);
	vsyslog(LOG_AUTHPRIV | prio, fmt, ap);
	if (getenv("VG_LOG_STDERR")) {
		fprintf(stderr, "pam_vpsguard-admin: ");
		vfprintf(stderr, fmt, ap2);
		fputc('\n', stderr);
	}
	va_end(ap2);
}

/* Lock the link's file, apply the unban to it, try the retractions at
 * once (an explicit request: no backoff), save, unlock. */
static void fleet_unban(const struct vg_config *cfg, const struct vg_addr *key,
			struct fleet *f)
{
	struct cs_link l = { 0 };
	int64_t now = (int64_t)time(NULL);
	bool changed;

	memset(f, 0, sizeof(*f));
	f->err = cs_lock(&l, cfg, CS_LOCK_WAIT_MS, f->why, sizeof(f->why));
	if (f->err)
		return;
	f->err = cs_refresh(&l, cfg, false, &changed);
	if (f->err) {
		snprintf(f->why, sizeof(f->why), "%s.crowdsec: %s",
			 cfg->state_path, strerror(-f->err));
		goto out;
	}
	cs_unban(&l, cfg, key, now, &f->r);
	if (l.dirty)
		f->err = cs_save(&l, cfg, f->why, sizeof(f->why));
out:
	cs_free(&l);
}

static void fleet_print(const struct fleet *f, const char *shown)
{
	const struct cs_unban_report *r = &f->r;

	if (f->err) {
		cli_error("unban: crowdsec: %s; the CrowdSec part of this "
			  "unban is not done: run it again", f->why);
		return;
	}
	if (r->deleted)
		printf("crowdsec: deleted %zu decision%s this host had "
		       "pushed for %s from the LAPI\n", r->deleted,
		       r->deleted == 1 ? "" : "s", shown);
	if (r->queued)
		printf("crowdsec: %s%s%sdeleting what this host pushed for %s "
		       "from the LAPI is queued, and retried by the helper's "
		       "next exchange\n", r->link_err[0] ? "LAPI not reached ("
		       : "", r->link_err, r->link_err[0] ? "): " : "", shown);
	if (r->lifted == 1)
		printf("crowdsec: decision %lld from %s lifted here only: it "
		       "stays in the LAPI for the rest of the fleet, and is "
		       "not applied here again until it is deleted or "
		       "expires\n", (long long)r->lifted_id, r->lifted_origin);
	else if (r->lifted)
		printf("crowdsec: %zu decisions pulled from the LAPI lifted "
		       "here only: they stay in the LAPI for the rest of the "
		       "fleet, and are not applied here again until they are "
		       "deleted or expire\n", r->lifted);
}

static bool fleet_matched(const struct fleet *f)
{
	return f->r.lifted || f->r.retracts || f->r.dropped;
}

static bool unban_all;

static const struct cli_opt unban_opts[] = {
	{ "all", &unban_all, NULL, NULL, "lift every ban in the table" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd unban_cmd = {
	.name = "unban",
	.args = "ADDR|--all",
	.help = "Lift the ban of ADDR (as for ban), or of every source with "
		"--all, and clear\ntheir failures.  The ban count is kept, so "
		"a source that comes back is still\nescalated.  An address "
		"with no record fails (exit 1), unless nftables drops it\n"
		"(the connection-rate guard, CrowdSec): then the drop is "
		"lifted (exit 0).\nWith crowdsec.url: the decisions this host "
		"pushed for it are deleted from the\nLAPI (queued while LAPI is "
		"unreachable), and those pulled for it are lifted\nhere only.",
	.opts = unban_opts,
	.max_args = 1,
};

/* The saved bans too (key NULL: all of them).  The helper restores the
 * state file into the live table when it starts: a ban lifted while it
 * was stopped (the admin at the console, getting back in) would come
 * back with its nftables drop.  A running helper saves the table soon
 * after anyway; this covers the stopped one and the reboot.  Only the
 * bans go: ban counts and trust stay, as in the table.  *lifted: how
 * many bans still in force went (expired ones are cleared too, but
 * lifting them changed nothing). */
static int state_lift(const struct vg_config *cfg, const struct vg_addr *key,
		      size_t *lifted)
{
	struct vg_state_rec *r = NULL;
	char err[VG_ERR_MAX];
	size_t n = 0, in_force = 0;
	int64_t wall = (int64_t)time(NULL);
	bool changed = false;
	int ret = vg_state_load(cfg->state_path, &r, &n, err, sizeof(err));

	*lifted = 0;
	if (ret == -ENOENT)
		return 0;
	if (ret == -EBADMSG) {
		/* The helper sets a bad file aside and restores nothing. */
		cli_note("%s: left for the helper to set aside", err);
		return 0;
	}
	if (ret) {
		cli_error("unban: %s", err);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		if ((key && !vg_addr_equal(&r[i].key, key)) ||
		    r[i].banned_until == 0)
			continue;
		if (r[i].banned_until > wall)
			in_force++;
		r[i].banned_until = 0;
		r[i].flags &= (uint8_t)~VG_ENTRY_MANUAL;
		changed = true;
	}
	if (changed) {
		ret = vg_state_save(cfg->state_path, r, n, err, sizeof(err));
		if (ret)
			cli_error("unban: %s", err);
		else
			*lifted = in_force;
	}
	free(r);
	return ret;
}

/* Each part of an unban -- the live table, CrowdSec, the nftables drop,
 * the saved ban -- is tried whatever became of the others: a table that
 * cannot be opened (a corrupt header on a full /run) or that has no
 * record (after a reboot, before the helper ran) must not keep the drop
 * or leave a saved ban for the next sync to restore.  t NULL: the table
 * could not be opened (cli_table_open said why).  A source with no record
 * may still be dropped by a decision pulled from CrowdSec, or by the
 * connection-rate guard: that is lifted too. */
static int unban_one(struct vg_table *t, const struct vg_config *cfg,
		     const struct vg_addr *key)
{
	char shown[VG_ADDR_STRLEN];
	struct vg_entry e;
	struct fleet f = { 0 };
	vg_time_t now = vg_now();
	bool rec = false, was_banned = false, dropped, nft_lifted, did;
	bool fleet = cs_enabled(cfg), table_bad = !t;
	size_t saved = 0;
	int ret, nft_err = 0, state_err;

	vg_addr_format(key, shown, sizeof(shown));
	if (t) {
		ret = cli_lookup(t, cfg, key, now, &e);
		if (ret == 0) {
			was_banned = vg_entry_banned(&e, now);
			ret = vg_table_unban(t, key);
			rec = ret == 0;
		}
		if (ret && ret != -ENOENT) {
			cli_error("unban: %s: the live table %s: %s", shown,
				  cfg->table_path, strerror(-ret));
			table_bad = true;
		}
	}
	dropped = cli_kernel_drop(cfg, key, NULL);
	if (fleet)
		fleet_unban(cfg, key, &f);
	if (rec || dropped || table_bad || fleet_matched(&f) || f.err)
		nft_err = nft_drop_remove(cfg, key);
	nft_lifted = dropped && nft_err == 0;
	state_err = state_lift(cfg, key, &saved);
	did = rec || nft_lifted || saved || fleet_matched(&f);

	if (rec)
		printf(was_banned ? "unbanned %s\n" :
		       "%s was not banned; its failures are cleared\n", shown);
	else if (!table_bad && saved)
		printf("unbanned %s (no record in the live table: lifted its "
		       "saved ban in %s%s)\n", shown, cfg->state_path,
		       nft_lifted ? "; its drop in nftables is gone" : "");
	else if (!table_bad && nft_lifted && !fleet_matched(&f))
		printf("unbanned %s (no record: its drop in nftables is "
		       "gone)\n", shown);
	else if (!table_bad && fleet_matched(&f))
		printf("unbanned %s\n", shown);
	if (table_bad) {
		if (nft_lifted)
			printf("%s: its drop in nftables is gone\n", shown);
		if (saved)
			printf("%s: lifted its saved ban in %s\n", shown,
			       cfg->state_path);
		cli_error("unban: %s: not done: its record in the live table "
			  "%s (unreadable, see above), if it has one; %s", shown,
			  cfg->table_path, did ? "the rest is lifted" :
			  "nothing else was there to lift (no drop in "
			  "nftables, no saved ban)");
	} else if (rec && saved && !was_banned) {
		printf("%s: lifted its saved ban in %s\n", shown,
		       cfg->state_path);
	} else if (!did && !nft_err && !state_err && !f.err) {
		cli_error("unban: no record for %s", shown);
	}
	if (fleet)
		fleet_print(&f, shown);
	if (nft_err || state_err)	/* each said what failed */
		return cli_exit_code(nft_err ? nft_err : state_err);
	/* Nothing anywhere (the admin's typo, not a usage error), or
	 * nothing lifted while the table could not be read: exit 1. */
	return !did || f.err ? VG_EXIT_FAIL : VG_EXIT_OK;
}

static int unban_every(struct vg_table *t, const struct vg_config *cfg)
{
	struct vg_entry *e = NULL;
	struct fleet f = { 0 };
	vg_time_t now = vg_now();
	long n = 0, banned = 0;
	size_t drops = 0, saved = 0;
	bool table_bad = !t;
	int ret = 0, nft_err, state_err;

	if (t) {
		n = cli_snapshot(t, cfg, now, &e);
		ret = n < 0 ? (int)n : 0;
		for (long i = 0; i < n; i++)
			if (vg_entry_banned(&e[i], now))
				banned++;
		free(e);
		if (ret == 0)
			ret = vg_table_unban_all(t);
		if (ret) {
			cli_error("unban: the live table %s: %s",
				  cfg->table_path, strerror(-ret));
			table_bad = true;
		}
	}
	if (cs_enabled(cfg))
		fleet_unban(cfg, NULL, &f);
	nft_err = nft_drop_remove_all(cfg, &drops);
	state_err = state_lift(cfg, NULL, &saved);
	if (!table_bad)
		printf("unbanned %ld source%s\n", banned,
		       banned == 1 ? "" : "s");
	if (table_bad && drops)
		printf("lifted %zu drop%s in nftables\n", drops,
		       drops == 1 ? "" : "s");
	if (saved)
		printf("lifted %zu saved ban%s in %s\n", saved,
		       saved == 1 ? "" : "s", cfg->state_path);
	if (table_bad)
		cli_error("unban: not done: the records of the live table %s "
			  "(unreadable, see above); %s", cfg->table_path,
			  drops || saved ? "the rest is lifted" : "nothing "
			  "else was there to lift (no drop in nftables, no "
			  "saved ban)");
	if (cs_enabled(cfg))
		fleet_print(&f, "the unbanned sources");
	if (nft_err || state_err)	/* each said what failed */
		return cli_exit_code(nft_err ? nft_err : state_err);
	if (table_bad && !drops && !saved)
		return VG_EXIT_FAIL;
	return f.err ? VG_EXIT_FAIL : VG_EXIT_OK;
}

int unban_main(int argc, const char **argv)
{
	struct vg_config cfg;
	struct vg_table *t = NULL;
	struct vg_addr a = { 0 }, key = { 0 };
	const char *args[1];
	unsigned int nargs;
	int ret, lock = -1;

	ret = cli_parse(&unban_cmd, argc, argv, args, &nargs);
	if (ret)
		goto out;
	if ((nargs == 1) == unban_all) {
		cli_error("unban: give an address or --all");
		cli_usage(&unban_cmd, stderr);
		ret = VG_EXIT_USAGE;
		goto out;
	}
	ret = cli_load_config(&cfg);
	if (ret)
		goto out;
	if (!unban_all) {
		ret = cli_parse_source(args[0], &cfg, &a, &key, true);
		if (ret)
			goto out;
	}
	/* The helper's full pass must not merge the state file as it was
	 * before this unban into the table after it (the ban would come
	 * back): the table and the file are lifted under its lock. */
	lock = vg_state_lock(cfg.table_path, 10000);
	if (lock < 0)
		cli_note("cannot take %s.lock (%s): a helper pass running now "
			 "may bring the ban back; `show` tells, run unban "
			 "again then", cfg.table_path, strerror(-lock));
	/* A table that cannot be opened (it said why) still leaves the
	 * nftables drop and the saved ban to lift: t stays NULL. */
	if (cli_table_open(&cfg, true, &t) != VG_EXIT_OK)
		t = NULL;
	if (cs_enabled(&cfg)) {
		openlog("pam_vpsguard-admin", LOG_PID, LOG_AUTHPRIV);
		vg_log_set(unban_log, NULL);
	}
	ret = unban_all ? unban_every(t, &cfg) : unban_one(t, &cfg, &key);
out:
	vg_table_close(t);
	vg_state_unlock(lock);
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

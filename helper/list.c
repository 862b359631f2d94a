/* list and show: who is failing, who is banned, until when, and why. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "subcommands.h"

/* One table time as both outputs give it: words for people, an ISO
 * time and a count of seconds (remaining or ago) for programs. */
struct when {
	char rel[32];
	char iso[32];
	long long secs;
};

static void when_set(struct when *w, vg_time_t t, vg_time_t now, time_t wall)
{
	out_rel(w->rel, sizeof(w->rel), t, now);
	out_iso(w->iso, sizeof(w->iso), t, now, wall);
	w->secs = t > now ? (long long)(t - now) : (long long)(now - t);
}

/* A JSON time field: the ISO text, or null when t is 0 (never). */
static struct out_field iso_field(const char *key, const struct when *w,
				  vg_time_t t)
{
	return (struct out_field){ key, NULL, t ? OUT_STR : OUT_NULL,
				   t ? w->iso : NULL, 0, NULL, false };
}

static struct out_field secs_field(const char *key, const struct when *w,
				   bool set)
{
	return (struct out_field){ key, NULL, set ? OUT_INT : OUT_NULL, NULL,
				   w->secs, NULL, false };
}

struct row {
	char addr[VG_ADDR_STRLEN];
	struct when until, seen;
	struct out_field f[12];
};

/* The fields of one list row; everything points into r. */
static size_t row_fields(struct row *r, const struct vg_entry *e,
			 const struct vg_config *cfg, vg_time_t now,
			 time_t wall)
{
	bool banned = vg_entry_banned(e, now);
	bool trusted = vg_entry_trusted(e, cfg, now);
	bool dropped = e->flags & VG_ENTRY_DROPPED;
	struct vg_addr a;
	size_t n = 0;

	vg_entry_addr(e, &a);
	vg_addr_format(&a, r->addr, sizeof(r->addr));
	when_set(&r->until, banned ? e->banned_until : 0, now, wall);
	when_set(&r->seen, e->last_seen, now, wall);
	r->f[n++] = (struct out_field){ "address", "ADDRESS", OUT_STR,
					r->addr, 0, NULL, false };
	r->f[n++] = (struct out_field){ "failures", "FAILURES", OUT_INT, NULL,
					e->failures, cli_entry_failing(e, now) ?
					"33" : NULL, true };
	r->f[n++] = (struct out_field){ "ban_count", "BAN #", OUT_INT, NULL,
					e->ban_count, NULL, true };
	r->f[n++] = (struct out_field){ "banned", NULL, OUT_BOOL, NULL,
					banned, NULL, false };
	r->f[n++] = (struct out_field){ NULL, "BANNED UNTIL", OUT_STR,
					r->until.rel, 0, banned ? "31" : NULL,
					false };
	r->f[n++] = iso_field("banned_until", &r->until,
			      banned ? e->banned_until : 0);
	r->f[n++] = secs_field("ban_remaining", &r->until, banned);
	r->f[n++] = (struct out_field){ "dropped", "DROPPED", OUT_BOOL, NULL,
					dropped, dropped ? "35" : NULL, false };
	/* Why a source with no failures is listed at all, and why its
	 * bans do not escalate. */
	r->f[n++] = (struct out_field){ "trusted", "TRUSTED", OUT_BOOL, NULL,
					trusted, trusted ? "32" : NULL, false };
	r->f[n++] = (struct out_field){ NULL, "LAST SEEN", OUT_STR,
					r->seen.rel, 0, NULL, false };
	r->f[n++] = iso_field("last_seen", &r->seen, e->last_seen);
	r->f[n++] = secs_field("last_seen_ago", &r->seen, e->last_seen != 0);
	return n;
}

/* Banned first (longest remaining ban first), then failing (most
 * failures first), then the rest; most recently seen first within
 * each, and the key last so that equal rows always come out alike. */
static int rank(const struct vg_entry *e, vg_time_t now)
{
	return vg_entry_banned(e, now) ? 0 : cli_entry_failing(e, now) ? 1 : 2;
}

static int cmp_u32_desc(uint32_t a, uint32_t b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static int compare(const void *pa, const void *pb, void *ctx)
{
	const struct vg_entry *a = pa, *b = pb;
	vg_time_t now = *(const vg_time_t *)ctx;
	int ra = rank(a, now), rb = rank(b, now), c;

	if (ra != rb)
		return ra - rb;
	if (ra == 0 && (c = cmp_u32_desc(a->banned_until, b->banned_until)))
		return c;
	if (ra == 1 && (c = cmp_u32_desc(a->failures, b->failures)))
		return c;
	if ((c = cmp_u32_desc(a->last_seen, b->last_seen)))
		return c;
	if (a->family != b->family)
		return a->family - b->family;
	return memcmp(a->key, b->key, sizeof(a->key));
}

static bool list_opt_banned, list_opt_failing, list_opt_dropped;

static const struct cli_opt list_opts[] = {
	{ "banned", &list_opt_banned, NULL, NULL, "only sources banned now" },
	{ "failing", &list_opt_failing, NULL, NULL,
	  "only sources with failures in the current window" },
	{ "dropped", &list_opt_dropped, NULL, NULL,
	  "only sources dropped in nftables" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd list_cmd = {
	.name = "list",
	.args = "[--banned|--failing|--dropped]",
	.help = "One row per source: address (IPv6 per ipv6.prefix), "
		"failures in the current\nwindow, ban count within history, "
		"when the ban ends, whether nftables drops\nit, whether it is "
		"trusted (a login within trust), and when it was last seen.\n"
		"Banned sources first (longest ban first), then failing ones "
		"(most failures\nfirst).  Several filters show sources that "
		"match any of them.",
	.opts = list_opts,
	.json = true,
};

static bool wanted(const struct vg_entry *e, vg_time_t now)
{
	if (!list_opt_banned && !list_opt_failing && !list_opt_dropped)
		return true;
	return (list_opt_banned && vg_entry_banned(e, now)) ||
	       (list_opt_failing && cli_entry_failing(e, now)) ||
	       (list_opt_dropped && (e->flags & VG_ENTRY_DROPPED));
}

static int print_list(struct vg_entry *e, long n,
		      const struct vg_config *cfg, vg_time_t now)
{
	time_t wall = time(NULL);
	struct row r;
	struct out o;
	size_t nf;

	if (n > 0)	/* e is NULL for an empty table: qsort(NULL) is UB */
		qsort_r(e, (size_t)n, sizeof(*e), compare, &now);
	out_init(&o, cli_opts.json);
	out_table_begin(&o);
	for (long i = 0; i < n; i++) {
		if (!wanted(&e[i], now))
			continue;
		nf = row_fields(&r, &e[i], cfg, now, wall);
		out_table_row(&o, r.f, nf);
	}
	out_table_end(&o);
	return out_finish(&o);
}

int list_main(int argc, const char **argv)
{
	struct vg_config cfg;
	struct vg_table *t = NULL;
	struct vg_entry *e = NULL;
	const char *args[1];
	unsigned int nargs;
	vg_time_t now = vg_now();
	long n;
	int ret;

	ret = cli_parse(&list_cmd, argc, argv, args, &nargs);
	if (ret)
		goto out;
	ret = cli_load_config(&cfg);
	if (ret)
		goto out;
	ret = cli_table_open(&cfg, false, &t);
	if (ret)
		goto out;
	n = cli_snapshot(t, &cfg, now, &e);
	if (n > 0)
		cli_mark_dropped(&cfg, e, n);
	if (n >= 0)
		n = cli_add_kernel_only(&cfg, &e, n);
	ret = n < 0 ? (int)n : print_list(e, n, &cfg, now);
	if (ret)
		cli_error("list: %s", strerror(-ret));
	ret = cli_exit_code(ret);
out:
	free(e);
	vg_table_close(t);
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

static const struct cli_cmd show_cmd = {
	.name = "show",
	.args = "ADDR",
	.help = "One source in detail.  ADDR is an IPv4 or IPv6 address "
		"(::ffff:a.b.c.d is the\nIPv4 source), a prefix no wider than "
		"a table key, or the /24 or /48 of a\nprefix ban.  Shows the "
		"key the module counts it under (IPv6: the\nipv6.prefix "
		"network), whether ignoreip covers it, its record, and a ban "
		"of\nthe /24 or /48 around it (aggregate.v4 / .v6), which "
		"refuses it too.  Exit 0\nwhether or not it has a record.",
	.min_args = 1,
	.max_args = 1,
	.json = true,
};

struct detail {
	/* Sized for the longest text gcc can prove, not the usual one. */
	char addr[VG_ADDR_STRLEN], key[VG_ADDR_STRLEN], ign[VG_ADDR_STRLEN];
	char net[VG_ADDR_STRLEN], net_text[160];
	char counted[160], ign_text[192], failures[96], trust[128];
	char until_text[160], drop_text[160];
	struct when until, at, fail, seen, succ, net_until;
	struct out_field f[36];
};

/* The /24 or /48 around a source, banned as a whole (aggregate.v4 /
 * .v6): the module refuses every source inside it, with or without a
 * record of its own, so "why is this address refused" must say so.
 * 0 and *pe filled, or -ENOENT. */
static int prefix_ban_of(struct vg_table *t, const struct vg_config *cfg,
			 const struct vg_addr *key, vg_time_t now,
			 struct vg_entry *pe)
{
	unsigned int bits = key->family == VG_FAMILY_V4 ? 24 : 48;
	struct vg_addr net = *key;

	if (!t || key->prefix <= bits)
		return -ENOENT;	/* the key is the prefix: its own record */
	vg_addr_mask(&net, bits);
	if (cli_lookup(t, cfg, &net, now, pe) != 0 ||
	    pe->kind != VG_KIND_PREFIX || !vg_entry_banned(pe, now))
		return -ENOENT;
	return 0;
}

/* The prefix-ban part of show. */
static size_t prefix_fields(struct detail *d, size_t n,
			    const struct vg_entry *pe, vg_time_t now)
{
	struct vg_addr net;

	if (pe) {
		vg_entry_addr(pe, &net);
		vg_addr_format(&net, d->net, sizeof(d->net));
		when_set(&d->net_until, pe->banned_until, now, time(NULL));
		snprintf(d->net_text, sizeof(d->net_text), "%s, until %s: "
			 "refuses every source inside it as a ban of its own would", d->net,
			 d->net_until.rel);
	}
	d->f[n++] = (struct out_field){ NULL, "prefix ban", OUT_STR,
					pe ? d->net_text : "-", 0,
					pe ? "31" : NULL, 0 };
	d->f[n++] = (struct out_field){ "prefix_ban", NULL,
					pe ? OUT_STR : OUT_NULL,
					pe ? d->net : NULL, 0, NULL, 0 };
	d->f[n++] = iso_field("prefix_banned_until", &d->net_until,
			      pe ? pe->banned_until : 0);
	return n;
}

/* The record part of show; counts fields added to d->f. */
static size_t record_fields(struct detail *d, size_t n,
			    const struct vg_entry *e,
			    const struct vg_config *cfg, vg_time_t now)
{
	time_t wall = time(NULL);
	bool banned = vg_entry_banned(e, now);
	bool trusted = vg_entry_trusted(e, cfg, now);
	bool inherited;
	char span[32];

	when_set(&d->until, e->banned_until, now, wall);
	when_set(&d->at, e->banned_at, now, wall);
	when_set(&d->fail, e->last_fail, now, wall);
	when_set(&d->seen, e->last_seen, now, wall);
	when_set(&d->succ, e->last_success, now, wall);
	out_span(span, sizeof(span), cfg->findtime);
	snprintf(d->failures, sizeof(d->failures), "%u (maxretry %u in %s)",
		 e->failures, cfg->maxretry, span);
	d->trust[0] = '\0';
	if (trusted) {
		out_span(span, sizeof(span),
			 cfg->trust - (now - e->last_success));
		snprintf(d->trust, sizeof(d->trust), "%s (trusted for %s more)",
			 d->succ.rel, span);
	}
	d->f[n++] = (struct out_field){ "failures", "failures", OUT_INT,
					d->failures, e->failures, NULL, 0 };
	d->f[n++] = (struct out_field){ "failures_ever", "failures ever",
					OUT_INT, NULL, e->fail_total, NULL, 0 };
	d->f[n++] = (struct out_field){ "inflight", "in flight", OUT_INT,
					NULL, e->inflight, NULL, 0 };
	d->f[n++] = (struct out_field){ "ban_count", "ban #", OUT_INT, NULL,
					e->ban_count, NULL, 0 };
	d->f[n++] = (struct out_field){ "banned", NULL, OUT_BOOL, NULL,
					banned, NULL, 0 };
	/* A ban taken over from the overflow level the source was counted
	 * in while the table was full: ban # stays 0, and it refuses the
	 * source's passwords but not its key logins (vg_table_check). */
	inherited = banned && (e->flags & VG_ENTRY_INHERITED);
	snprintf(d->until_text, sizeof(d->until_text), "%s%s",
		 banned ? d->until.rel : "-", inherited ? " (inherited from "
		 "the sources counted together while the table was full: "
		 "passwords only)" : "");
	d->f[n++] = (struct out_field){ NULL, "banned until", OUT_STR,
					d->until_text, 0,
					banned ? "31" : NULL, 0 };
	d->f[n++] = (struct out_field){ "inherited", NULL, OUT_BOOL, NULL,
					inherited, NULL, 0 };
	d->f[n++] = iso_field("banned_until", &d->until,
			      banned ? e->banned_until : 0);
	d->f[n++] = secs_field("ban_remaining", &d->until, banned);
	d->f[n++] = (struct out_field){ NULL, "last ban", OUT_STR, d->at.rel,
					0, NULL, 0 };
	d->f[n++] = iso_field("banned_at", &d->at, e->banned_at);
	d->f[n++] = (struct out_field){ "manual", "by hand", OUT_BOOL, NULL,
					(e->flags & VG_ENTRY_MANUAL) != 0, NULL,
					0 };
	d->f[n++] = (struct out_field){ "dropped", "dropped", OUT_BOOL, NULL,
					(e->flags & VG_ENTRY_DROPPED) != 0,
					NULL, 0 };
	d->f[n++] = (struct out_field){ NULL, "last failure", OUT_STR,
					d->fail.rel, 0, NULL, 0 };
	d->f[n++] = iso_field("last_failure", &d->fail, e->last_fail);
	d->f[n++] = (struct out_field){ NULL, "last seen", OUT_STR,
					d->seen.rel, 0, NULL, 0 };
	d->f[n++] = iso_field("last_seen", &d->seen, e->last_seen);
	d->f[n++] = secs_field("last_seen_ago", &d->seen, e->last_seen != 0);
	d->f[n++] = (struct out_field){ NULL, "last login", OUT_STR,
					trusted ? d->trust : d->succ.rel, 0,
					NULL, 0 };
	d->f[n++] = iso_field("last_success", &d->succ, e->last_success);
	d->f[n++] = (struct out_field){ "trusted", NULL, OUT_BOOL, NULL,
					trusted, NULL, 0 };
	return n;
}

/* A drop in nftables with no record behind it: the connection-rate
 * guard's (connlimit), or a CrowdSec decision's.  ms: time left. */
static size_t kernel_only_fields(struct detail *d, size_t n, bool dropped,
				 uint64_t ms)
{
	char span[32];

	out_span(span, sizeof(span), (ms + 999) / 1000);
	snprintf(d->drop_text, sizeof(d->drop_text), "yes, for %s more, with "
		 "no record here: the connection-rate guard (connlimit) or "
		 "a CrowdSec decision dropped it", ms ? span : "ever");
	d->f[n++] = (struct out_field){ NULL, "dropped", OUT_STR,
					dropped ? d->drop_text : "-", 0,
					dropped ? "35" : NULL, 0 };
	d->f[n++] = (struct out_field){ "dropped", NULL, OUT_BOOL, NULL,
					dropped, NULL, 0 };
	d->f[n++] = (struct out_field){ "drop_remaining", NULL,
					dropped && ms ? OUT_INT : OUT_NULL,
					NULL, (long long)((ms + 999) / 1000),
					NULL, 0 };
	return n;
}

static int print_show(const struct vg_config *cfg, const struct vg_addr *a,
		      const struct vg_addr *key, const struct vg_entry *e,
		      const struct vg_entry *pe, bool kdrop, uint64_t kms,
		      vg_time_t now)
{
	struct detail *d = calloc(1, sizeof(*d));
	int how, ret;
	size_t n = 0;
	struct out o;

	if (!d)
		return -ENOMEM;
	vg_addr_format(a, d->addr, sizeof(d->addr));
	vg_addr_format(key, d->key, sizeof(d->key));
	if (key->family == VG_FAMILY_V6)
		snprintf(d->counted, sizeof(d->counted), "%s (ipv6.prefix %u)",
			 d->key, cfg->ipv6_prefix);
	else
		snprintf(d->counted, sizeof(d->counted), "%s", d->key);
	how = cli_ignore_match(cfg, a, key, d->ign, sizeof(d->ign));
	if (how == 1)
		snprintf(d->ign_text, sizeof(d->ign_text), "covered by %s "
			 "(never counted nor banned)", d->ign);
	else if (how == 2)
		snprintf(d->ign_text, sizeof(d->ign_text), "not covered, but "
			 "%s lies inside %s", d->ign, d->key);
	else
		snprintf(d->ign_text, sizeof(d->ign_text), "not covered");
	d->f[n++] = (struct out_field){ "address", "address", OUT_STR,
					d->addr, 0, NULL, 0 };
	d->f[n++] = (struct out_field){ "key", NULL, OUT_STR, d->key, 0, NULL,
					0 };
	d->f[n++] = (struct out_field){ NULL, "counted as", OUT_STR,
					d->counted, 0, NULL, 0 };
	d->f[n++] = (struct out_field){ "ipv6_prefix", NULL, OUT_INT, NULL,
					cfg->ipv6_prefix, NULL, 0 };
	d->f[n++] = (struct out_field){ "ignored", "ignoreip", OUT_BOOL,
					d->ign_text, how == 1, NULL, 0 };
	d->f[n++] = (struct out_field){ "ignoreip_entry", NULL,
					how ? OUT_STR : OUT_NULL,
					how ? d->ign : NULL, 0, NULL, 0 };
	d->f[n++] = (struct out_field){ "record", "record", OUT_BOOL,
					e ? "yes" : "no record", e != NULL,
					NULL, 0 };
	if (e)
		n = record_fields(d, n, e, cfg, now);
	else
		n = kernel_only_fields(d, n, kdrop, kms);
	/* The module never gets as far as a prefix for an ignored source. */
	n = prefix_fields(d, n, how == 1 ? NULL : pe, now);
	out_init(&o, cli_opts.json);
	out_record(&o, d->f, n);
	ret = out_finish(&o);
	free(d);
	return ret;
}

int show_main(int argc, const char **argv)
{
	struct vg_config cfg;
	struct vg_table *t = NULL;
	struct vg_entry e, pe;
	struct vg_addr a, key;
	const char *args[1];
	unsigned int nargs;
	vg_time_t now = vg_now();
	uint64_t kms = 0;
	bool kdrop;
	int ret, found;

	ret = cli_parse(&show_cmd, argc, argv, args, &nargs);
	if (ret)
		goto out;
	ret = cli_load_config(&cfg);
	if (ret)
		goto out;
	ret = cli_parse_source(args[0], &cfg, &a, &key, true);
	if (ret)
		goto out;
	ret = cli_table_open(&cfg, false, &t);
	if (ret)
		goto out;
	found = t ? cli_lookup(t, &cfg, &key, now, &e) : -ENOENT;
	if (found == 0)
		cli_mark_dropped(&cfg, &e, 1);
	kdrop = found == -ENOENT && cli_kernel_drop(&cfg, &key, &kms);
	ret = found == 0 || found == -ENOENT ?
	      print_show(&cfg, &a, &key, found == 0 ? &e : NULL,
			 prefix_ban_of(t, &cfg, &key, now, &pe) == 0 ? &pe :
			 NULL, kdrop, kms, now) : found;
	if (ret)
		cli_error("show: %s", strerror(-ret));
	ret = cli_exit_code(ret);
out:
	vg_table_close(t);
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

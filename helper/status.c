/* status: the counts an admin asks first ("is anyone at it right now,
 * who is banned, is the table filling up"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "crowdsec.h"
#include "nft.h"
#include "output.h"
#include "subcommands.h"

static const struct cli_cmd cmd = {
	.name = "status",
	.help = "Counts: sources failing now, failures total, sources banned "
		"now, bans total,\nsources dropped in nftables, and how full "
		"the table is.  Totals count since\nthe table was created "
		"(it lives on /run: since boot).",
	.json = true,
};

/* The CrowdSec link as the helper last recorded it (STATE.crowdsec). */
struct link_view {
	char state[CS_ERR_MAX + VG_CS_URL_MAX + 32], pull[64], push[64];
	long long pending, decisions, lifted;
	const char *error;
	struct cs_link l;
};

static void when(char *buf, size_t len, int64_t t, int64_t wall, bool json)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!t) {
		snprintf(buf, len, json ? "" : "never");
	} else if (json) {
		gmtime_r(&tt, &tm);
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	} else {
		out_span(buf, len, (uint64_t)(wall > t ? wall - t : 0));
		strncat(buf, " ago", len - strlen(buf) - 1);
	}
}

static size_t link_fields(const struct vg_config *cfg, struct link_view *v,
			  struct out_field *f)
{
	int64_t wall = (int64_t)time(NULL);
	const char *st = "off";
	int r = 0;
	size_t n = 0;

	memset(v, 0, sizeof(*v));
	if (cs_enabled(cfg))
		r = cs_load(&v->l, cfg, true);
	for (size_t i = 0; i < v->l.n_push; i++)
		v->pending += !v->l.push[i].done;
	for (size_t i = 0; i < v->l.n_dec; i++)
		v->decisions += v->l.dec[i].until > wall;
	for (size_t i = 0; i < v->l.n_lift; i++)
		v->lifted += v->l.lift[i].until > wall;
	if (!cs_enabled(cfg))
		st = "off";
	else if (r)
		st = "unknown";
	else if (v->l.error[0])
		st = "down";
	else if (v->l.last_pull || v->l.last_push)
		st = "up";
	else
		st = "not contacted yet";
	v->error = v->l.error[0] ? v->l.error : NULL;
	if (!cli_opts.json && cs_enabled(cfg))
		snprintf(v->state, sizeof(v->state), "%s (%s)%s%s", st,
			 cfg->cs_url, v->error ? ": " : "",
			 v->error ? v->error : "");
	else
		snprintf(v->state, sizeof(v->state), "%s", st);
	when(v->pull, sizeof(v->pull), v->l.last_pull, wall, cli_opts.json);
	when(v->push, sizeof(v->push), v->l.last_push, wall, cli_opts.json);
	f[n++] = (struct out_field){ "crowdsec_link", "crowdsec", OUT_STR,
				     v->state, 0, v->error ? "31" : NULL, 0 };
	if (!cs_enabled(cfg))
		return n;
	f[n++] = (struct out_field){ "crowdsec_last_pull", "last pull",
				     v->l.last_pull ? OUT_STR : OUT_NULL,
				     v->pull, 0, NULL, 0 };
	f[n++] = (struct out_field){ "crowdsec_last_push", "last push",
				     v->l.last_push ? OUT_STR : OUT_NULL,
				     v->push, 0, NULL, 0 };
	f[n++] = (struct out_field){ "crowdsec_pending_pushes",
				     "pending pushes", OUT_INT, NULL,
				     v->pending, v->pending ? "33" : NULL, 0 };
	f[n++] = (struct out_field){ "crowdsec_pending_retractions",
				     "pending retractions", OUT_INT, NULL,
				     (long long)v->l.n_rt,
				     v->l.n_rt ? "33" : NULL, 0 };
	f[n++] = (struct out_field){ "crowdsec_decisions", "pulled decisions",
				     OUT_INT, NULL, v->decisions, NULL, 0 };
	f[n++] = (struct out_field){ "crowdsec_lifted", "lifted here",
				     OUT_INT, NULL, v->lifted, NULL, 0 };
	f[n++] = (struct out_field){ "crowdsec_error", NULL,
				     v->error ? OUT_STR : OUT_NULL,
				     v->error, 0, NULL, 0 };
	return n;
}

static int print_status(const struct vg_config *cfg,
			const struct vg_table_stats *s)
{
	unsigned int dropped;
	char fill[64], drop[96];
	double pct = s->size ? 100.0 * s->used / s->size : 0;
	size_t kn = 0;
	/* What the kernel holds, read back: not what the helper believes. */
	int kerr = cli_kernel_drops(cfg, &kn);
	struct out o;

	if (kerr == -ENOENT)
		snprintf(drop, sizeof(drop), "0 (no nftables table yet: is "
			 "the helper running?)");
	else if (kerr)
		snprintf(drop, sizeof(drop), "? (%s)", vg_nft_strerror(kerr));
	else
		snprintf(drop, sizeof(drop), "%zu", kn);
	dropped = kerr ? 0 : (unsigned int)kn;
	const char *ovf = s->overflow_banned ? "banned (the table is full: "
			  "sources it cannot hold are refused)" : "open";
	const struct out_field f[] = {
		{ "table", "table", OUT_STR, cfg->table_path, 0, NULL, 0 },
		{ "sources_failing", "failing now", OUT_INT, NULL,
		  s->failing, s->failing ? "33" : NULL, 0 },
		{ "failures_total", "failures total", OUT_INT, NULL,
		  (long long)s->failures_total, NULL, 0 },
		{ "sources_banned", "banned now", OUT_INT, NULL, s->banned,
		  s->banned ? "31" : NULL, 0 },
		{ "bans_total", "bans total", OUT_INT, NULL,
		  (long long)s->bans_total, NULL, 0 },
		{ "denied_total", "denied total", OUT_INT, NULL,
		  (long long)s->denied_total, NULL, 0 },
		{ "sources_dropped", "dropped", OUT_INT, drop, dropped, NULL,
		  0 },
		/* Tells "nothing dropped" from "no table to ask" in JSON. */
		{ "nftables", NULL, OUT_STR, kerr == 0 ? "ok" :
		  kerr == -ENOENT ? "no table" : vg_nft_strerror(kerr), 0,
		  NULL, 0 },
		{ "table_used", NULL, OUT_INT, NULL, s->used, NULL, 0 },
		{ "table_size", NULL, OUT_INT, NULL, s->size, NULL, 0 },
		{ NULL, "table fill", OUT_STR, fill, 0, NULL, 0 },
		{ "evictions_total", "evictions", OUT_INT, NULL,
		  (long long)s->evictions_total, NULL, 0 },
		{ "prefix_bans", "prefixes banned", OUT_INT, NULL,
		  s->prefix_bans, s->prefix_bans ? "31" : NULL, 0 },
		{ "overflow_total", "overflowed", OUT_INT, NULL,
		  (long long)s->overflow_total,
		  s->overflow_total ? "33" : NULL, 0 },
		{ "fill_at_overflow", NULL, OUT_INT, NULL,
		  s->fill_at_overflow, NULL, 0 },
		{ "overflow_banned", "overflow bucket", OUT_BOOL, ovf,
		  s->overflow_banned, s->overflow_banned ? "31" : NULL, 0 },
	};

	struct out_field all[sizeof(f) / sizeof(f[0]) + 10];
	struct link_view lv;
	size_t n = sizeof(f) / sizeof(f[0]);
	int ret;

	snprintf(fill, sizeof(fill), "%u/%u (%.1f%%)", s->used, s->size, pct);
	memcpy(all, f, sizeof(f));
	n += link_fields(cfg, &lv, all + n);

	out_init(&o, cli_opts.json);
	out_record(&o, all, n);
	ret = out_finish(&o);
	cs_free(&lv.l);
	return ret;
}

int status_main(int argc, const char **argv)
{
	struct vg_config cfg;
	struct vg_table_stats s;
	const char *args[1];
	unsigned int nargs;
	int ret;

	ret = cli_parse(&cmd, argc, argv, args, &nargs);
	if (ret)
		goto out;
	ret = cli_load_config(&cfg);
	if (ret)
		goto out;
	ret = cli_table_stats(&cfg, vg_now(), &s);
	if (ret)
		goto out;
	ret = print_status(&cfg, &s);
	if (ret)
		cli_error("cannot write the output: %s", strerror(-ret));
	ret = cli_exit_code(ret);
out:
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

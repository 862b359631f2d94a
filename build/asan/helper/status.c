/* status: the counts an admin asks first ("is anyone at it right now,
 * who is banned, is the table filling up"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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
		{ "table_used", NULL, OUT_INT, NULL, s->used, NULL, 0 },
		{ "table_size", NULL, OUT_INT, NULL, s->size, NULL, 0 },
		{ NULL, "table fill", OUT_STR, fill, 0, NULL, 0 },
		{ "evictions_total", "evictions", OUT_INT, NULL,
		  (long long)s->evictions_total, NULL, 0 },
	};

	snprintf(fill, sizeof(fill), "%u/%u (%.1f%%)", s->used, s->size, pct);

	out_init(&o, cli_opts.json);
	out_record(&o, f, sizeof(f) / sizeof(f[0]));
	return out_finish(&o);
}

int status_main(int argc, const char **argv)
{
	struct vg_config cfg;
	struct vg_table *t = NULL;
	struct vg_table_stats s = { 0 };
	const char *args[1];
	unsigned int nargs;
	vg_time_t now = vg_now();
	int ret;

	ret = cli_parse(&cmd, argc, argv, args, &nargs);
	if (ret)
		goto out;
	ret = cli_load_config(&cfg);
	if (ret)
		goto out;
	ret = cli_table_open(&cfg, false, &t);
	if (ret)
		goto out;
	/* No table yet: report the size the module will create. */
	if (t)
		vg_table_stats(t, &cfg, now, &s);
	else
		s.size = cfg.table_size;
	ret = print_status(&cfg, &s);
	if (ret)
		cli_error("cannot write the output: %s", strerror(-ret));
	ret = cli_exit_code(ret);
out:
	vg_table_close(t);
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

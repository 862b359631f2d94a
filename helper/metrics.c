/* metrics: Prometheus text exposition format 0.0.4, for node_exporter's
 * textfile collector (or anything that scrapes a file). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "subcommands.h"

static const struct cli_cmd cmd = {
	.name = "metrics",
	.help = "The table's counters in the Prometheus text exposition "
		"format (0.0.4).\nCounters count since the table was "
		"created (it lives on /run: since boot).\n\n"
		"For node_exporter's textfile collector, write a temporary "
		"file in the\ncollector's directory and rename it, so a "
		"scrape never reads half a file:\n\n"
		"  pam_vpsguard-admin metrics > DIR/vpsguard.prom.$$ &&\n"
		"    mv DIR/vpsguard.prom.$$ DIR/vpsguard.prom\n\n"
		"e.g. from a cron job or systemd timer every minute, with "
		"DIR as given to\n--collector.textfile.directory.\n\n"
		"With --json: one object, the same names and values.",
	.json = true,
};

struct metric {
	const char *name;
	const char *type;
	const char *help;
	unsigned long long value;
};

static int print_metrics(const struct vg_table_stats *s, unsigned int dropped,
			 bool nft_up)
{
	const struct metric m[] = {
		{ "vpsguard_failures_total", "counter",
		  "Failed password evaluations recorded.", s->failures_total },
		{ "vpsguard_bans_total", "counter",
		  "Bans started (by the module or by hand).", s->bans_total },
		{ "vpsguard_denied_total", "counter",
		  "Attempts of banned or over-limit sources refused.",
		  s->denied_total },
		{ "vpsguard_evictions_total", "counter",
		  "Entries evicted from the full table to make room.",
		  s->evictions_total },
		{ "vpsguard_overflow_total", "counter",
		  "Attempts counted in an overflow level (its /24 or /48, or "
		  "the overflow bucket): the table had no room for the "
		  "source.", s->overflow_total },
		{ "vpsguard_prefix_bans", "gauge",
		  "Whole /48s or /24s banned now (aggregate.v6, aggregate.v4).",
		  s->prefix_bans },
		{ "vpsguard_sources_failing", "gauge",
		  "Sources with failures in the current window, not banned.",
		  s->failing },
		{ "vpsguard_sources_banned", "gauge",
		  "Sources banned now.", s->banned },
		{ "vpsguard_sources_dropped", "gauge",
		  "Sources dropped in nftables now.", dropped },
		{ "vpsguard_nftables_up", "gauge",
		  "1 if the nftables table inet vpsguard could be read (0: no "
		  "table, the helper never ran, or no nftables): "
		  "vpsguard_sources_dropped is 0 then.", nft_up },
		{ "vpsguard_table_entries", "gauge",
		  "Entries in use in the shared table.", s->used },
		{ "vpsguard_table_size", "gauge",
		  "Entries the shared table holds (table.size).", s->size },
	};

	const size_t n = sizeof(m) / sizeof(m[0]);
	struct out_field f[sizeof(m) / sizeof(m[0])];
	struct out o;

	out_init(&o, cli_opts.json);
	for (size_t i = 0; i < n; i++) {
		/* no label: the text is Prometheus's, printed here */
		f[i] = (struct out_field){ m[i].name, NULL, OUT_INT, NULL,
					   (long long)m[i].value, NULL, false };
		if (!cli_opts.json)
			printf("# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
			       m[i].name, m[i].help, m[i].name, m[i].type,
			       m[i].name, m[i].value);
	}
	if (cli_opts.json)
		out_record(&o, f, n);
	return out_finish(&o) ? VG_EXIT_FAIL : VG_EXIT_OK;
}

int metrics_main(int argc, const char **argv)
{
	struct vg_config cfg;
	struct vg_table_stats s;
	const char *args[1];
	unsigned int nargs, dropped = 0;
	size_t kn = 0;
	bool nft_up;
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
	/* What the kernel drops, read back (0 without nftables). */
	nft_up = cli_kernel_drops(&cfg, &kn) == 0;
	if (nft_up)
		dropped = (unsigned int)kn;
	ret = print_metrics(&s, dropped, nft_up);
	if (ret)
		cli_error("metrics: cannot write the output");
out:
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

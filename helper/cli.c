#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nft.h"
#include "log.h"

struct cli_options cli_opts;
const char *prog = "pam_vpsguard-admin";

static void log_stderr(void *ctx, int prio, const char *fmt, va_list ap)
{
	(void)ctx;
	(void)prio;
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* STYLE 7: nothing the caller left open may leak into what we open or,
 * later, run; and 0-2 must be open so that no table or config fd we
 * open can become "stdout" and receive our output. */
void cli_init(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

	if (argv0 && *argv0)
		prog = slash ? slash + 1 : argv0;
	if (close_range(3, ~0u, 0) != 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 &&
		    open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
			_exit(VG_EXIT_FAIL);	/* fail safe */
	vg_log_set(log_stderr, NULL);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void cli_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: note: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int cli_exit_code(int err)
{
	switch (err) {
	case 0:
		return VG_EXIT_OK;
	case -EINVAL:		/* a malformed path, address or value */
	case -ENAMETOOLONG:
		return VG_EXIT_USAGE;
	default:
		return VG_EXIT_FAIL;
	}
}

/* "--name" or "--name=value" against name: NULL, or what follows. */
static const char *match_opt(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, n) != 0)
		return NULL;
	if (arg[2 + n] == '\0' || arg[2 + n] == '=')
		return arg + 2 + n;
	return NULL;
}

/* The value of an option at argv[*i], inline ("=v") or the next word. */
static int opt_value(int argc, const char **argv, int *i, const char *rest,
		     const char **value)
{
	if (*rest == '=') {
		*value = rest + 1;
	} else if (*i + 1 < argc) {
		*value = argv[++*i];
	} else {
		cli_error("option '%s' needs a value", argv[*i]);
		return VG_EXIT_USAGE;
	}
	return 0;
}

static int cli_usage_error(const char *msg)
{
	cli_error("%s", msg);
	return VG_EXIT_USAGE;
}

int cli_global_option(int argc, const char **argv, int *i)
{
	const char *rest;
	int ret = 0;

	if ((rest = match_opt(argv[*i], "conf"))) {
		ret = opt_value(argc, argv, i, rest, &cli_opts.conf);
		if (!ret && !*cli_opts.conf)
			ret = cli_usage_error("--conf needs a path, not ''");
	} else if ((rest = match_opt(argv[*i], "table"))) {
		ret = opt_value(argc, argv, i, rest, &cli_opts.table);
		if (!ret && !*cli_opts.table)
			ret = cli_usage_error("--table needs a path, not ''");
	} else if ((rest = match_opt(argv[*i], "json")) && *rest == '\0') {
		cli_opts.json = true;
	} else {
		return 0;
	}
	return ret ? ret : 1;
}

void cli_usage(const struct cli_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: %s %s%s%s%s\n", prog, cmd->name,
		cmd->args ? " " : "", cmd->args ? cmd->args : "",
		cmd->json ? " [--json]" : "");
	if (f == stderr)
		return;
	fprintf(f, "\n%s\n", cmd->help);
	fputs("\nOptions:\n", f);
	for (const struct cli_opt *o = cmd->opts; o && o->name; o++)
		fprintf(f, "  --%s%s%s\n      %s\n", o->name,
			o->value ? " " : "", o->value ? o->metavar : "",
			o->help);
	if (cmd->json)
		fputs("  --json\n      JSON instead of text\n", f);
	fprintf(f, "  --conf PATH\n      configuration file (default %s)\n"
		"  --table PATH\n      live table (default: table.path)\n"
		"  --help\n      this text\n", VG_PATH_CONF);
}

/* One option of cmd at argv[*i]: 1 taken, 0 unknown, or an exit code. */
static int cmd_option(const struct cli_cmd *cmd, int argc, const char **argv,
		      int *i)
{
	const char *rest;
	int ret;

	for (const struct cli_opt *o = cmd->opts; o && o->name; o++) {
		rest = match_opt(argv[*i], o->name);
		if (!rest || (!o->value && *rest))
			continue;
		if (o->flag)
			*o->flag = true;
		if (o->value) {
			ret = opt_value(argc, argv, i, rest, o->value);
			if (ret)
				return ret;
		}
		return 1;
	}
	return cli_global_option(argc, argv, i);
}

int cli_parse(const struct cli_cmd *cmd, int argc, const char **argv,
	      const char **args, unsigned int *nargs)
{
	bool opts_done = false;
	int i, ret = VG_EXIT_USAGE;

	*nargs = 0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = true;
		} else if (!opts_done && (strcmp(a, "--help") == 0 ||
					  strcmp(a, "-h") == 0)) {
			cli_usage(cmd, stdout);
			ret = CLI_HELP;
			goto out;
		} else if (!opts_done && a[0] == '-' && a[1] != '\0') {
			int r = cmd_option(cmd, argc, argv, &i);

			if (r == 0)
				cli_error("%s: unknown option '%s'",
					  cmd->name, a);
			if (r != 1)
				goto usage;
		} else if (*nargs < cmd->max_args) {
			args[(*nargs)++] = a;
		} else {
			cli_error("%s: unexpected argument '%s'", cmd->name, a);
			goto usage;
		}
	}
	if (*nargs < cmd->min_args) {
		cli_error("%s: missing argument", cmd->name);
		goto usage;
	}
	if (cli_opts.json && !cmd->json) {
		cli_error("%s: --json is for the read commands", cmd->name);
		goto usage;
	}
	ret = 0;
	goto out;
usage:
	cli_usage(cmd, stderr);
out:
	return ret;
}

int cli_load_config(struct vg_config *cfg)
{
	const char *path = cli_opts.conf ? cli_opts.conf : VG_PATH_CONF;
	char err[VG_ERR_MAX];
	int ret;

	vg_config_defaults(cfg);
	ret = vg_config_read_file(cfg, path, err, sizeof(err));
	/* Like the module: only the default file may be missing. */
	if (ret == -ENOENT && !cli_opts.conf)
		ret = 0;
	if (ret == 0 && cli_opts.table)
		ret = vg_config_set(cfg, "table.path", cli_opts.table,
				    "--table", err, sizeof(err));
	if (ret == 0)
		ret = vg_config_check_paths(cfg, cli_opts.table ? "--table" :
					    path, err, sizeof(err));
	if (ret) {
		cli_error("%s", err);
		return VG_EXIT_USAGE;	/* SPEC: every config error is 2 */
	}
	return VG_EXIT_OK;
}

int cli_table_open(const struct vg_config *cfg, bool rw, struct vg_table **t)
{
	const char *path = cfg->table_path;
	int ret;

	if (rw)
		ret = vg_table_open(t, path, cfg->table_size, true);
	else
		ret = vg_table_open_ro(t, path);
	if (ret == -ENOENT && !rw) {
		cli_note("no table at %s: nothing recorded yet", path);
		*t = NULL;
		ret = 0;
	} else if (ret) {
		cli_error("cannot open the table %s: %s%s", path,
			  strerror(-ret), ret == -EACCES ?
			  " (root only, mode 0600 in a 0700 directory)" : "");
	} else if (vg_table_size(*t) != cfg->table_size) {
		cli_note("the table %s holds %u entries, table.size says %u: "
			 "the helper's next pass resizes it and keeps its "
			 "records (now: pam_vpsguard-admin sync)", path,
			 vg_table_size(*t), cfg->table_size);
	}
	return cli_exit_code(ret);
}

int cli_table_stats(const struct vg_config *cfg, vg_time_t now,
		    struct vg_table_stats *s)
{
	struct vg_table *t = NULL;
	int ret = cli_table_open(cfg, false, &t);

	memset(s, 0, sizeof(*s));
	if (ret)
		return ret;
	if (t)
		vg_table_stats(t, cfg, now, s);
	else
		s->size = cfg->table_size;
	vg_table_close(t);
	return VG_EXIT_OK;
}

bool cli_entry_failing(const struct vg_entry *e, vg_time_t now)
{
	return e->failures != 0 && !vg_entry_banned(e, now);
}

/* What the kernel really drops (SPEC: read back, not what the helper
 * believes), read once per run, sorted for bsearch. */
static struct {
	bool loaded;
	int err;
	struct vg_nft_elem *e;
	size_t n;
} drops;

int cli_elem_cmp(const void *a, const void *b)
{
	const struct vg_nft_elem *x = a, *y = b;

	if (x->addr.family != y->addr.family)
		return x->addr.family < y->addr.family ? -1 : 1;
	/* A /48 of drop6net and a /64 of drop6 can share their bytes. */
	if (x->addr.prefix != y->addr.prefix)
		return x->addr.prefix < y->addr.prefix ? -1 : 1;
	return memcmp(x->addr.bytes, y->addr.bytes, sizeof(x->addr.bytes));
}

/* drop4/drop6 and the prefix bans' drop4net/drop6net, in one list. */
static void load_drops(const struct vg_config *cfg)
{
	struct vg_nft_elem *net = NULL, *all;
	size_t nnet = 0;
	int err;

	if (drops.loaded)
		return;
	drops.loaded = true;
	drops.err = vg_nft_list(VG_NFT_DROP, cfg->ipv6_prefix, &drops.e,
				&drops.n);
	if (drops.err) {
		drops.n = 0;
		return;
	}
	/* -ENOENT: a table written by an older helper, without them. */
	err = vg_nft_list(VG_NFT_DROP_NET, cfg->ipv6_prefix, &net, &nnet);
	if (err && err != -ENOENT) {
		free(drops.e);
		drops.e = NULL;
		drops.n = 0;
		drops.err = err;
		return;
	}
	if (!err && nnet) {
		all = realloc(drops.e, (drops.n + nnet) * sizeof(*all));
		if (!all) {
			free(net);
			free(drops.e);
			drops.e = NULL;
			drops.n = 0;
			drops.err = -ENOMEM;
			return;
		}
		memcpy(all + drops.n, net, nnet * sizeof(*all));
		drops.e = all;
		drops.n += nnet;
	}
	free(net);
	if (drops.n)	/* drops.e may be NULL: qsort(NULL, 0) is UB */
		qsort(drops.e, drops.n, sizeof(*drops.e), cli_elem_cmp);
}

int cli_kernel_drops(const struct vg_config *cfg, size_t *n)
{
	load_drops(cfg);
	*n = drops.n;
	return drops.err;
}

/* Dropped: its own element, or (a source) the /24 or /48 around it. */
static void mark_dropped(struct vg_entry *e)
{
	struct vg_nft_elem k = { 0 }, net;

	e->flags &= (uint8_t)~VG_ENTRY_DROPPED;
	if (!drops.n)
		return;
	vg_entry_addr(e, &k.addr);
	net = k;
	vg_addr_mask(&net.addr, k.addr.family == VG_FAMILY_V4 ?
		     VG_NFT_NET_V4 : VG_NFT_NET_V6);
	if (bsearch(&k, drops.e, drops.n, sizeof(k), cli_elem_cmp) ||
	    (e->kind == VG_KIND_SOURCE &&
	     (k.addr.family == VG_FAMILY_V4 || k.addr.family == VG_FAMILY_V6) &&
	     bsearch(&net, drops.e, drops.n, sizeof(net), cli_elem_cmp)))
		e->flags |= VG_ENTRY_DROPPED;
}

void cli_entry_refresh(struct vg_entry *e, const struct vg_config *cfg,
		       vg_time_t now)
{
	vg_entry_refresh(e, cfg, now);
}

void cli_mark_dropped(const struct vg_config *cfg, struct vg_entry *e,
		      long n)
{
	load_drops(cfg);
	for (long i = 0; i < n; i++)
		mark_dropped(&e[i]);
}

bool cli_kernel_drop(const struct vg_config *cfg, const struct vg_addr *key,
		     uint64_t *expires_ms)
{
	struct vg_nft_elem k = { 0 }, *f;

	load_drops(cfg);
	k.addr = *key;
	f = drops.n ? bsearch(&k, drops.e, drops.n, sizeof(k), cli_elem_cmp) :
	    NULL;
	if (f && expires_ms)
		*expires_ms = f->expires_ms;
	return f != NULL;
}

long cli_add_kernel_only(const struct vg_config *cfg, struct vg_entry **e,
			 long n)
{
	struct vg_entry *all;
	bool *has;
	size_t extra = 0;

	load_drops(cfg);
	if (!drops.n)
		return n;
	has = calloc(drops.n, sizeof(*has));
	if (!has)
		return -ENOMEM;
	for (long i = 0; i < n; i++) {
		struct vg_nft_elem k = { 0 }, *f;

		vg_entry_addr(&(*e)[i], &k.addr);
		f = bsearch(&k, drops.e, drops.n, sizeof(k), cli_elem_cmp);
		if (f)
			has[f - drops.e] = true;
	}
	for (size_t j = 0; j < drops.n; j++)
		extra += !has[j];
	all = extra ? realloc(*e, ((size_t)n + extra) * sizeof(*all)) : *e;
	if (!all) {
		free(has);
		return -ENOMEM;
	}
	*e = all;
	for (size_t j = 0; j < drops.n; j++) {
		struct vg_entry *x = &all[n];
		const struct vg_addr *a = &drops.e[j].addr;

		if (has[j])
			continue;
		memset(x, 0, sizeof(*x));
		memcpy(x->key, a->bytes, sizeof(x->key));
		x->family = a->family;
		x->prefix = a->prefix;
		/* Shorter than a source's key: a /24 or /48. */
		x->kind = a->prefix < (a->family == VG_FAMILY_V4 ? 32 :
				       cfg->ipv6_prefix) ?
			  VG_KIND_PREFIX : VG_KIND_SOURCE;
		x->flags = VG_ENTRY_DROPPED;
		n++;
	}
	free(has);
	return n;
}

long cli_snapshot(struct vg_table *t, const struct vg_config *cfg,
		  vg_time_t now, struct vg_entry **out)
{
	struct vg_entry *e;
	long n;

	*out = NULL;
	if (!t)
		return 0;
	e = calloc(vg_table_size(t), sizeof(*e));
	if (!e)
		return -ENOMEM;
	n = vg_table_snapshot(t, e, vg_table_size(t));
	if (n < 0) {
		free(e);
		return n;
	}
	for (long i = 0; i < n; i++)
		cli_entry_refresh(&e[i], cfg, now);
	*out = e;
	return n;
}

int cli_lookup(struct vg_table *t, const struct vg_config *cfg,
	       const struct vg_addr *key, vg_time_t now, struct vg_entry *out)
{
	int ret = vg_table_lookup(t, key, out);

	if (ret == 0)
		cli_entry_refresh(out, cfg, now);
	return ret;
}

int cli_parse_source(const char *arg, const struct vg_config *cfg,
		     struct vg_addr *addr, struct vg_addr *key,
		     bool whole_prefix)
{
	char shown[80];
	unsigned int kp, agg;

	if (vg_cidr_parse(arg, addr) != 0) {
		vg_sanitize_quoted(shown, sizeof(shown), arg);
		cli_error("'%s' is not an IPv4 or IPv6 address or prefix",
			  shown);
		return VG_EXIT_USAGE;
	}
	vg_addr_key(addr, cfg->ipv6_prefix, key);
	/* A link-local source is counted per address (vg_addr_key()). */
	kp = addr->family == VG_FAMILY_V4 ? 32 :
	     vg_addr_link_local(addr) ? 128 : cfg->ipv6_prefix;
	agg = addr->family == VG_FAMILY_V4 ? 24 : 48;
	if (whole_prefix && addr->prefix == agg && agg < kp) {
		*key = *addr;	/* a prefix ban (aggregate.v6 / .v4) */
		return VG_EXIT_OK;
	}
	if (addr->prefix < kp) {
		vg_addr_format(addr, shown, sizeof(shown));
		cli_error("%s spans many sources: %s are counted per /%u; "
			  "give an address or a /%u", shown,
			  addr->family == VG_FAMILY_V4 ? "IPv4 sources" :
			  kp == 128 ? "link-local sources" :
			  "IPv6 sources (ipv6.prefix)", kp, kp);
		return VG_EXIT_USAGE;
	}
	return VG_EXIT_OK;
}

int cli_ignore_match(const struct vg_config *cfg, const struct vg_addr *addr,
		     const struct vg_addr *key, char *which, size_t len)
{
	const struct vg_cidr_list *l = &cfg->ignoreip;
	int ret = 0;

	for (unsigned int i = 0; i < l->n && i < VG_CIDR_LIST_MAX; i++) {
		if (vg_cidr_contains(&l->net[i], addr)) {
			ret = 1;
		} else if (l->net[i].prefix >= key->prefix &&
			   vg_cidr_contains(key, &l->net[i])) {
			ret = 2;
		} else {
			continue;
		}
		vg_addr_format(&l->net[i], which, len);
		break;
	}
	return ret;
}

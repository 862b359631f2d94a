/* Plumbing shared by every subcommand: options, configuration, the
 * table, and the one mapping from library errors to exit codes.
 *
 * Error convention: functions named cli_* that print their own message
 * return an exit code (VG_EXIT_*), so a subcommand just passes it on;
 * lower-level helpers return 0 or -errno like the library. */
#ifndef VG_CLI_H
#define VG_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "addr.h"
#include "config.h"
#include "table.h"
#include "version.h"

/* SPEC: 0 done, 1 failed, 2 usage or configuration error. */
#define VG_EXIT_OK	0
#define VG_EXIT_FAIL	1
#define VG_EXIT_USAGE	2
#define VG_EXIT_AUDIT	3	/* audit found a FAIL line */
/* cli_parse() saw --help and printed it: the subcommand returns 0. */
#define CLI_HELP	(-1)

/* Options every subcommand takes, before or after its name. */
struct cli_options {
	const char *conf;	/* --conf PATH; NULL: VG_PATH_CONF */
	const char *table;	/* --table PATH; NULL: table.path */
	bool json;		/* --json */
};

extern struct cli_options cli_opts;
extern const char *prog;

/* One option of a subcommand: a flag (value NULL) or "--name VALUE". */
struct cli_opt {
	const char *name;	/* without the dashes */
	bool *flag;
	const char **value;
	const char *metavar;	/* the value's name in --help ("DUR") */
	const char *help;	/* for --help */
};

struct cli_cmd {
	const char *name;
	const char *args;	/* "ADDR [--time DUR]" for the usage line */
	const char *help;	/* paragraph(s) printed by --help */
	const struct cli_opt *opts;	/* ends with { NULL } */
	unsigned int min_args, max_args;
	bool json;		/* a read command: takes --json */
};

/* Close inherited fds, make sure 0-2 are open, route library logging to
 * stderr with our name.  Call first thing in main(). */
void cli_init(const char *argv0);

/* A global option at argv[*i]: 1 (taken, *i moved past its value),
 * 0 (not one of ours), or VG_EXIT_USAGE (message printed). */
int cli_global_option(int argc, const char **argv, int *i);

/* Options and operands of a subcommand (argv[0] is its name).  Operands
 * go to args[0..*nargs).  0, CLI_HELP, or VG_EXIT_USAGE (printed). */
int cli_parse(const struct cli_cmd *cmd, int argc, const char **argv,
	      const char **args, unsigned int *nargs);
void cli_usage(const struct cli_cmd *cmd, FILE *f);

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The single mapping from a library -errno to an exit code. */
int cli_exit_code(int err);

/* Defaults, then the configuration file exactly as the module reads it
 * (VG_PATH_CONF may be absent, a --conf file may not), then --table.
 * An exit code. */
int cli_load_config(struct vg_config *cfg);

/* rw: vg_table_open() creating it with table.size.  Read-only: never
 * creates; a missing table is *t = NULL plus a note, and VG_EXIT_OK.
 * An exit code. */
int cli_table_open(const struct vg_config *cfg, bool rw, struct vg_table **t);
/* The table's counters (status, metrics): opened read-only and closed
 * again; with no table yet, zeros and the size the module will create. */
int cli_table_stats(const struct vg_config *cfg, vg_time_t now,
		    struct vg_table_stats *s);

/* Every used entry in one malloc'd array (*out, free() it), each with
 * cli_entry_refresh() applied.  t may be NULL (no table: 0 entries).
 * The count, or -errno. */
long cli_snapshot(struct vg_table *t, const struct vg_config *cfg,
		  vg_time_t now, struct vg_entry **out);

/* The entry of one key, refreshed.  0, -ENOENT, or -errno. */
int cli_lookup(struct vg_table *t, const struct vg_config *cfg,
	       const struct vg_addr *key, vg_time_t now, struct vg_entry *out);

/* What the module would see now: the failure window, in-flight slots and
 * ban history expire as vg_entry_refresh() (lib/table_entry.c) expires
 * them on next touch. */
void cli_entry_refresh(struct vg_entry *e, const struct vg_config *cfg,
		       vg_time_t now);
/* How many elements the kernel's drop sets hold, addresses and /24 or
 * /48 prefix bans (read back once per run); -errno when nftables cannot
 * be read (no table yet: -ENOENT). */
int cli_kernel_drops(const struct vg_config *cfg, size_t *n);
/* Set VG_ENTRY_DROPPED on copies whose address the kernel's drop sets
 * hold, or a source whose /24 or /48 drop4net/drop6net holds (read
 * back once per run), clear it on the others.  Only for what
 * is shown: the helper and ban/unban have no use for the dump. */
void cli_mark_dropped(const struct vg_config *cfg, struct vg_entry *e,
		      long n);
/* The kernel's own drop element for exactly this key (drop4/drop6, or
 * a prefix's in drop4net/drop6net): true, with the time it has left
 * (0: none) if expires_ms. */
bool cli_kernel_drop(const struct vg_config *cfg, const struct vg_addr *key,
		     uint64_t *expires_ms);
/* Append to *e (n entries, realloc'd) one entry for each kernel drop
 * element that none of them stands for: the connection-rate guard's
 * drops and CrowdSec's decisions have no record in the table, and a
 * list of what is dropped must show them.  They carry only their key
 * and VG_ENTRY_DROPPED.  The new count, or -ENOMEM. */
long cli_add_kernel_only(const struct vg_config *cfg, struct vg_entry **e,
			 long n);
bool cli_entry_failing(const struct vg_entry *e, vg_time_t now);
/* qsort/bsearch order of nftables elements: family, prefix, bytes (a
 * /48 of drop6net and a /64 of drop6 can share their bytes). */
int cli_elem_cmp(const void *a, const void *b);

/* An ADDR operand: an address or prefix, and the key the module counts
 * it under.  A prefix coarser than a key (203.0.113.0/24, or /48 with
 * ipv6.prefix 64) spans many keys and is refused, except, with
 * whole_prefix, exactly the /24 or /48 of a prefix ban (aggregate.v4,
 * aggregate.v6), which is its own key.  An exit code. */
int cli_parse_source(const char *arg, const struct vg_config *cfg,
		     struct vg_addr *addr, struct vg_addr *key,
		     bool whole_prefix);

/* Does ignoreip touch this source?  0: no.  1: an entry covers the
 * address (the module never counts it).  2: the key's prefix contains
 * an ignoreip entry (a ban of the whole prefix would hit it).  The
 * entry goes to which (VG_ADDR_STRLEN). */
int cli_ignore_match(const struct vg_config *cfg, const struct vg_addr *addr,
		     const struct vg_addr *key, char *which, size_t len);

#endif

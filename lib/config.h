/* Configuration: /etc/security/vpsguard.conf and module arguments.
 *
 * One setter, vg_config_set(), serves both sources, so a key means the
 * same thing wherever it is written.  Order: vg_config_defaults(), read
 * the file (conf= chooses it), then module arguments through the same
 * setter so they win.  Every error names where it came from (file:line
 * or "argument") and the key, and is returned, never merely logged:
 * the module turns it into failmode, the CLI into exit status 2. */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#ifndef VG_PATH_CONF
#define VG_PATH_CONF	"/etc/security/vpsguard.conf"
#endif
#ifndef VG_PATH_TABLE
#define VG_PATH_TABLE	"/run/vpsguard/table"
#endif
#ifndef VG_PATH_STATE
#define VG_PATH_STATE	"/var/lib/vpsguard/state"
#endif
#ifndef VG_PATH_TOTP
#define VG_PATH_TOTP	"/etc/vpsguard/totp"
#endif

#define VG_ERR_MAX		512	/* size of every error buffer */
/* Paths in the configuration: far below PATH_MAX, so that the config
 * (copied and zeroed on every authentication) stays small, and a
 * table path plus ".new.XXXXXX" always fits. */
#define VG_PATH_MAX		256
#define VG_CONF_LINE_MAX	4096	/* longer lines are an error */
#define VG_SSH_PORTS_MAX	16

/* Hard limits, so no configured value can make the module allocate,
 * loop or overflow without bound. */
#define VG_MAXRETRY_MAX		1000
#define VG_WEIGHT_MAX		100
#define VG_FACTOR_MAX		1000
#define VG_TABLE_SIZE_MIN	64
#define VG_TABLE_SIZE_MAX	(1u << 24)
#define VG_DURATION_MAX		(10ull * 365 * 86400)	/* ten years */
#define VG_TOTP_WINDOW_MAX	10
#define VG_CS_URL_MAX		256	/* crowdsec.url, with the NUL */
#define VG_CS_MACHINE_MAX	64	/* crowdsec.machine, with the NUL */
#ifndef VG_PATH_CS_KEY
#define VG_PATH_CS_KEY		"/etc/vpsguard/crowdsec-bouncer.key"
#endif
#ifndef VG_PATH_CS_PASSWORD
#define VG_PATH_CS_PASSWORD	"/etc/vpsguard/crowdsec-machine.password"
#endif

enum vg_failmode { VG_FAILMODE_OPEN, VG_FAILMODE_CLOSED };

struct vg_config {
	unsigned int maxretry;
	uint64_t findtime;		/* all durations in seconds */
	uint64_t bantime;
	bool bantime_increment;
	unsigned int bantime_factor;
	uint64_t bantime_maxtime;
	uint64_t history;
	struct vg_cidr_list ignoreip;
	unsigned int ipv6_prefix;	/* 48..128 */
	unsigned int invalid_user_weight;
	uint32_t table_size;
	char table_path[VG_PATH_MAX];
	char state_path[VG_PATH_MAX];
	unsigned int persistent_after;
	uint64_t trust;
	uint64_t inflight_timeout;
	unsigned int aggregate_v6;	/* banned /64s that ban their /48; 0 off */
	unsigned int aggregate_v4;	/* banned IPv4s that ban their /24 */
	unsigned int connlimit_count;	/* 0 = off */
	uint64_t connlimit_per;		/* seconds: 1, 60, 3600, 86400 */
	uint64_t connlimit_bantime;
	unsigned int n_ssh_ports;	/* 0 = ask sshd -T */
	uint16_t ssh_ports[VG_SSH_PORTS_MAX];
	enum vg_failmode failmode;
	char totp_secrets[VG_PATH_MAX];
	unsigned int totp_window;
	unsigned int totp_maxfail;	/* wrong codes per user, all sources */
	bool silent;
	/* Fleet: CrowdSec's Local API (helper only; the module ignores
	 * these).  Empty url = off. */
	char cs_url[VG_CS_URL_MAX];
	char cs_bouncer_key[VG_PATH_MAX];	/* file holding the API key */
	char cs_machine[VG_CS_MACHINE_MAX];	/* "" = no push */
	char cs_password[VG_PATH_MAX];		/* file */
	bool cs_push;
	bool cs_pull;
	uint64_t cs_interval;
};

void vg_config_defaults(struct vg_config *c);

/* Set one key.  where names the source for the message ("file:12" or
 * "argument").  0, or -EINVAL with err filled:
 *   "/etc/security/vpsguard.conf:12: maxretry: 'x' is not a number" */
int vg_config_set(struct vg_config *c, const char *key, const char *value,
		  const char *where, char *err, size_t errlen);

/* One line of a file: blank, "# comment", or "key = value" (a trailing
 * "# comment" after the value is allowed).  where as above. */
int vg_config_line(struct vg_config *c, const char *line, const char *where,
		   char *err, size_t errlen);

/* Read a whole file.  A missing file is -ENOENT (the caller decides
 * whether the default path may be absent); unreadable -errno; the first
 * bad line -EINVAL.  Every error fills err with path, line and key. */
int vg_config_read_file(struct vg_config *c, const char *path,
			char *err, size_t errlen);

/* The helper's two files must differ: table.path and state.path naming
 * one file, or one a temporary or set-aside name of the other, is
 * -EINVAL with err naming where and both keys (the helper would set the
 * table aside as a corrupt state file at every pass).  For a whole
 * configuration (after the file and --table), so the order of its lines
 * does not matter.  The CLI checks; the module does not: it never opens
 * state.path, and a helper's mistake must not put every login under
 * failmode. */
int vg_config_check_paths(const struct vg_config *c, const char *where,
			  char *err, size_t errlen);

/* The same, applying every good line and skipping bad ones: only to
 * find out what an admin meant by a broken file (the module's failmode
 * must hold even when the bad line comes before "failmode = closed").
 * Never use the result as a configuration. */
int vg_config_read_file_lenient(struct vg_config *c, const char *path);

/* "90", "90s", "10m", "1h", "7d", "5w", also compound "1h30m".
 * 0 or -EINVAL (empty, junk, overflow, more than VG_DURATION_MAX). */
int vg_duration_parse(const char *s, uint64_t *out);

/* Shortest exact text for a duration: 3600 -> "1h", 5400 -> "1h30m",
 * 0 -> "0s". */
void vg_duration_format(uint64_t secs, char *buf, size_t len);

#endif

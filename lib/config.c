/* Configuration: defaults, one setter for file lines and module
 * arguments, durations.
 *
 * Every key is one row of keys[]: its name as the SPEC spells it, the
 * setter for its kind, where it lives in struct vg_config and its
 * limits.  A setter parses into a temporary and stores only on success,
 * so a rejected value leaves the key as it was.  Setters describe the
 * problem ("is not a number between 1 and 1000"); vg_config_set() alone
 * builds the message around it, so every error has the same shape:
 *   WHERE: KEY: 'VALUE' PROBLEM
 * with WHERE and VALUE sanitised, since both may come from hostile or
 * merely broken input and end up in syslog. */
/* As in the rest of lib/: with glibc >= 2.38 it also makes strtoull() the
 * C23 one, so the module imports one strtoull, not two (base 10 here:
 * the two read the same digits). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

/* How much of a hostile value or key a message quotes. */
#define QUOTE_MAX	64
/* "where" is a path plus ":line"; the error buffer is what cuts it. */
#define WHERE_MAX	(PATH_MAX + 32)
#define WHY_MAX		256
/* A rate above this is no limit at all; it only keeps nft's numbers sane. */
#define RATE_COUNT_MAX	1000000u

struct key;
typedef int (*setter_fn)(struct vg_config *c, const struct key *k,
			 const char *v, char *why, size_t whylen);

struct key {
	const char *name;
	setter_fn set;
	size_t off;		/* of the field in struct vg_config */
	uint64_t min, max;	/* numbers and durations only */
};

#define FIELD(c, k, type)	((type *)(void *)((char *)(c) + (k)->off))

void vg_config_defaults(struct vg_config *c)
{
	memset(c, 0, sizeof(*c));
	c->maxretry = 5;
	c->findtime = 10 * 60;
	c->bantime = 3600;
	c->bantime_increment = true;
	c->bantime_factor = 24;
	c->bantime_maxtime = 5 * 7 * 86400;
	c->history = 7 * 86400;
	/* The address parser owns the representation; this text cannot
	 * fail, and the unit test checks the result. */
	(void)vg_cidr_list_parse("127.0.0.1/8 ::1", &c->ignoreip, NULL, 0);
	c->ipv6_prefix = 64;
	c->invalid_user_weight = 2;
	c->table_size = 65536;
	snprintf(c->table_path, sizeof(c->table_path), "%s", VG_PATH_TABLE);
	snprintf(c->state_path, sizeof(c->state_path), "%s", VG_PATH_STATE);
	c->persistent_after = 1;
	c->trust = 7 * 86400;
	c->inflight_timeout = 2 * 60;
	c->aggregate_v6 = 8;
	c->aggregate_v4 = 0;
	c->connlimit_count = 20;
	c->connlimit_per = 60;
	c->connlimit_bantime = 10 * 60;
	c->n_ssh_ports = 0;
	c->failmode = VG_FAILMODE_OPEN;
	snprintf(c->totp_secrets, sizeof(c->totp_secrets), "%s", VG_PATH_TOTP);
	c->totp_window = 1;
	c->totp_maxfail = 10;
	c->silent = false;
	snprintf(c->cs_bouncer_key, sizeof(c->cs_bouncer_key), "%s",
		 VG_PATH_CS_KEY);
	snprintf(c->cs_password, sizeof(c->cs_password), "%s",
		 VG_PATH_CS_PASSWORD);
	c->cs_push = true;
	c->cs_pull = true;
	c->cs_interval = 10;
}

/* Decimal digits only: no sign, no space, no junk, no overflow. */
static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > ULONG_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_ranged(const struct key *k, const char *v,
			unsigned long *out, char *why, size_t whylen)
{
	if (parse_ulong(v, out) == 0 && *out >= k->min && *out <= k->max)
		return 0;
	snprintf(why, whylen, "is not a number between %llu and %llu",
		 (unsigned long long)k->min, (unsigned long long)k->max);
	return -EINVAL;
}

static int set_uint(struct vg_config *c, const struct key *k, const char *v,
		    char *why, size_t whylen)
{
	unsigned long n;

	if (parse_ranged(k, v, &n, why, whylen))
		return -EINVAL;
	*FIELD(c, k, unsigned int) = (unsigned int)n;
	return 0;
}

static int set_u32(struct vg_config *c, const struct key *k, const char *v,
		   char *why, size_t whylen)
{
	unsigned long n;

	if (parse_ranged(k, v, &n, why, whylen))
		return -EINVAL;
	*FIELD(c, k, uint32_t) = (uint32_t)n;
	return 0;
}

static int set_dur(struct vg_config *c, const struct key *k, const char *v,
		   char *why, size_t whylen)
{
	uint64_t d;
	char lo[32], hi[32];

	if (vg_duration_parse(v, &d) == 0 && d >= k->min && d <= k->max) {
		*FIELD(c, k, uint64_t) = d;
		return 0;
	}
	vg_duration_format(k->min, lo, sizeof(lo));
	vg_duration_format(k->max, hi, sizeof(hi));
	snprintf(why, whylen, "is not a duration between %s and %s "
		 "(e.g. 90, 10m, 1h30m, 7d)", lo, hi);
	return -EINVAL;
}

static int set_bool(struct vg_config *c, const struct key *k, const char *v,
		    char *why, size_t whylen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
			*FIELD(c, k, bool) = strcasecmp(v, yes[i]) == 0;
			return 0;
		}
	}
	snprintf(why, whylen, "is not yes or no (nor true/false, on/off, 1/0)");
	return -EINVAL;
}

static int set_path(struct vg_config *c, const struct key *k, const char *v,
		    char *why, size_t whylen)
{
	size_t i, len = strlen(v);

	if (v[0] != '/' || len >= VG_PATH_MAX)
		goto bad;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch < 0x20 || ch == 0x7f)
			goto bad;
	}
	memcpy(FIELD(c, k, char), v, len + 1);
	return 0;
bad:
	snprintf(why, whylen, "is not an absolute path (shorter than %d "
		 "bytes, no control characters)", VG_PATH_MAX);
	return -EINVAL;
}

static int set_cidrs(struct vg_config *c, const struct key *k, const char *v,
		     char *why, size_t whylen)
{
	struct vg_cidr_list tmp;
	char bad[QUOTE_MAX + 1], qbad[QUOTE_MAX + 1];
	int r;

	memset(&tmp, 0, sizeof(tmp));
	bad[0] = '\0';
	/* An empty list is how an admin says "ignore nobody". */
	if (v[strspn(v, " \t,")] != '\0') {
		r = vg_cidr_list_parse(v, &tmp, bad, sizeof(bad));
		if (r == -E2BIG) {
			snprintf(why, whylen, "has more than %d entries",
				 VG_CIDR_LIST_MAX);
			return -EINVAL;
		}
		if (r) {
			vg_sanitize_quoted(qbad, sizeof(qbad), bad);
			snprintf(why, whylen, "is not a list of addresses or "
				 "CIDRs: bad item '%s'", qbad);
			return -EINVAL;
		}
	}
	*FIELD(c, k, struct vg_cidr_list) = tmp;
	return 0;
}

static int set_rate(struct vg_config *c, const struct key *k, const char *v,
		    char *why, size_t whylen)
{
	static const struct { const char *name; uint64_t secs; } units[] = {
		{ "second", 1 }, { "minute", 60 }, { "hour", 3600 },
		{ "day", 86400 },
	};
	char num[16];
	const char *slash = strchr(v, '/');
	unsigned long n;
	size_t i;

	(void)k;
	if (strcmp(v, "0") == 0) {
		c->connlimit_count = 0;
		return 0;
	}
	if (!slash || (size_t)(slash - v) >= sizeof(num))
		goto bad;
	memcpy(num, v, (size_t)(slash - v));
	num[slash - v] = '\0';
	if (parse_ulong(num, &n) || n < 1 || n > RATE_COUNT_MAX)
		goto bad;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(slash + 1, units[i].name) == 0) {
			c->connlimit_count = (unsigned int)n;
			c->connlimit_per = units[i].secs;
			return 0;
		}
	}
bad:
	snprintf(why, whylen, "is not 0 (off) or N/second, N/minute, N/hour "
		 "or N/day with N between 1 and %u", RATE_COUNT_MAX);
	return -EINVAL;
}

/* Ports separated by spaces and/or commas; a repeated port is rejected
 * rather than merged, so nothing the admin wrote is silently dropped. */
static int set_ports(struct vg_config *c, const struct key *k, const char *v,
		     char *why, size_t whylen)
{
	uint16_t ports[VG_SSH_PORTS_MAX] = { 0 };
	unsigned int n = 0, i;
	unsigned long p;
	char tok[8];
	size_t len;

	(void)k;
	for (v += strspn(v, " \t,"); *v; v += strspn(v, " \t,")) {
		len = strcspn(v, " \t,");
		if (len >= sizeof(tok) || n == VG_SSH_PORTS_MAX)
			goto bad;
		memcpy(tok, v, len);
		tok[len] = '\0';
		v += len;
		if (parse_ulong(tok, &p) || p < 1 || p > 65535)
			goto bad;
		for (i = 0; i < n; i++)
			if (ports[i] == p)
				goto bad;
		ports[n++] = (uint16_t)p;
	}
	memcpy(c->ssh_ports, ports, n * sizeof(ports[0]));
	c->n_ssh_ports = n;
	return 0;
bad:
	snprintf(why, whylen, "is not a list of up to %d different ports "
		 "1-65535", VG_SSH_PORTS_MAX);
	return -EINVAL;
}

static int set_failmode(struct vg_config *c, const struct key *k,
			const char *v, char *why, size_t whylen)
{
	(void)k;
	if (strcasecmp(v, "open") == 0) {
		c->failmode = VG_FAILMODE_OPEN;
	} else if (strcasecmp(v, "closed") == 0) {
		c->failmode = VG_FAILMODE_CLOSED;
	} else {
		snprintf(why, whylen, "is not open or closed");
		return -EINVAL;
	}
	return 0;
}

#ifdef VG_IN_MODULE
/* The module never talks to CrowdSec: the helper judges these keys
 * (pam_vpsguard-admin refuses a bad one, exit 2).  Their checks would
 * only add code to what libpam maps into sshd at every connection: one
 * page more costs each login more than all of them (bench/README.md). */
static int set_helper_only(struct vg_config *c, const struct key *k,
			   const char *v, char *why, size_t whylen)
{
	(void)c;
	(void)k;
	(void)v;
	(void)why;
	(void)whylen;
	return 0;
}
#define set_url		set_helper_only
#define set_machine	set_helper_only
#else
/* crowdsec.url: empty (off), or http(s)://host[:port][/path] with no
 * spaces, quotes or control bytes; it becomes part of request URLs. */
/* The host of an http:// URL (after the scheme) is a loopback address:
 * localhost, 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 (SPEC, Fleet: the
 * LAPI credentials never travel in clear). */
static bool url_host_loopback(const char *auth)
{
	char host[VG_CS_URL_MAX];
	unsigned char a[16];
	size_t n = strcspn(auth, "/");
	const char *at, *end;

	/* userinfo@host: the host is after the last '@' of the authority */
	for (at = auth; (end = memchr(at, '@', n - (size_t)(at - auth)));)
		at = end + 1;
	n -= (size_t)(at - auth);
	if (n >= sizeof(host))
		return false;
	memcpy(host, at, n);
	host[n] = '\0';
	if (host[0] == '[') {
		char *rb = strchr(host, ']');

		if (!rb)
			return false;
		*rb = '\0';
		if (inet_pton(AF_INET6, host + 1, a) != 1)
			return false;
		return !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) ||
		       (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) &&
			a[12] == 127);
	}
	host[strcspn(host, ":")] = '\0';
	if (!strcasecmp(host, "localhost") || !strcasecmp(host, "localhost."))
		return true;
	return inet_pton(AF_INET, host, a) == 1 && a[0] == 127;
}

static int set_url(struct vg_config *c, const struct key *k, const char *v,
		   char *why, size_t whylen)
{
	size_t i, len = strlen(v);

	(void)k;
	if (len == 0) {
		c->cs_url[0] = '\0';
		return 0;
	}
	if (len >= VG_CS_URL_MAX || (strncmp(v, "http://", 7) != 0 &&
				     strncmp(v, "https://", 8) != 0))
		goto bad;
	if (v[strncmp(v, "https", 5) == 0 ? 8 : 7] == '\0')
		goto bad;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' ||
		    ch == '?' || ch == '#')
			goto bad;
	}
	if (strncmp(v, "http://", 7) == 0 && !url_host_loopback(v + 7)) {
		snprintf(why, whylen, "is plain http:// to a host that is not "
			 "loopback: the bouncer key and the machine password "
			 "would cross the network in clear; use https://, or "
			 "http:// only to 127.0.0.1, ::1 or localhost");
		return -EINVAL;
	}
	memcpy(c->cs_url, v, len + 1);
	/* "http://h:8080/" and "http://h:8080" mean the same. */
	while (len > 8 && c->cs_url[len - 1] == '/')
		c->cs_url[--len] = '\0';
	return 0;
bad:
	snprintf(why, whylen, "is not empty (off) or an http:// or https:// "
		 "URL (shorter than %d bytes, no query)", VG_CS_URL_MAX);
	return -EINVAL;
}

/* crowdsec.machine: a CrowdSec machine id, which travels in JSON. */
static int set_machine(struct vg_config *c, const struct key *k,
		       const char *v, char *why, size_t whylen)
{
	size_t len = strlen(v);

	(void)k;
	if (len >= VG_CS_MACHINE_MAX ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789._-@") != len) {
		snprintf(why, whylen, "is not a machine name (letters, "
			 "digits, . _ - @; at most %d)", VG_CS_MACHINE_MAX - 1);
		return -EINVAL;
	}
	memcpy(c->cs_machine, v, len + 1);
	return 0;
}
#endif /* VG_IN_MODULE */

#define F(m)	offsetof(struct vg_config, m)

/* connlimit.bantime must be >= 1s as well: an nft element timeout of 0
 * means "no timeout", which would turn a rate drop into a permanent one. */
static const struct key keys[] = {
	{ "maxretry", set_uint, F(maxretry), 1, VG_MAXRETRY_MAX },
	{ "findtime", set_dur, F(findtime), 1, VG_DURATION_MAX },
	{ "bantime", set_dur, F(bantime), 1, VG_DURATION_MAX },
	{ "bantime.increment", set_bool, F(bantime_increment), 0, 0 },
	{ "bantime.factor", set_uint, F(bantime_factor), 1, VG_FACTOR_MAX },
	{ "bantime.maxtime", set_dur, F(bantime_maxtime), 1, VG_DURATION_MAX },
	{ "history", set_dur, F(history), 0, VG_DURATION_MAX },
	{ "ignoreip", set_cidrs, F(ignoreip), 0, 0 },
	{ "ipv6.prefix", set_uint, F(ipv6_prefix), 48, 128 },
	{ "invalid_user.weight", set_uint, F(invalid_user_weight),
	  1, VG_WEIGHT_MAX },
	{ "table.size", set_u32, F(table_size),
	  VG_TABLE_SIZE_MIN, VG_TABLE_SIZE_MAX },
	{ "table.path", set_path, F(table_path), 0, 0 },
	{ "state.path", set_path, F(state_path), 0, 0 },
	{ "persistent.after", set_uint, F(persistent_after), 1, 1000 },
	{ "trust", set_dur, F(trust), 0, VG_DURATION_MAX },
	{ "inflight.timeout", set_dur, F(inflight_timeout),
	  1, VG_DURATION_MAX },
	{ "aggregate.v6", set_uint, F(aggregate_v6), 0, 65536 },
	{ "aggregate.v4", set_uint, F(aggregate_v4), 0, 256 },
	{ "connlimit.rate", set_rate, 0, 0, 0 },
	{ "connlimit.bantime", set_dur, F(connlimit_bantime),
	  1, VG_DURATION_MAX },
	{ "ssh.ports", set_ports, 0, 0, 0 },
	{ "failmode", set_failmode, F(failmode), 0, 0 },
	{ "totp.secrets", set_path, F(totp_secrets), 0, 0 },
	{ "totp.window", set_uint, F(totp_window), 0, VG_TOTP_WINDOW_MAX },
	{ "totp.maxfail", set_uint, F(totp_maxfail), 0, VG_MAXRETRY_MAX },
	{ "silent", set_bool, F(silent), 0, 0 },
	{ "crowdsec.url", set_url, 0, 0, 0 },
	{ "crowdsec.bouncer_key", set_path, F(cs_bouncer_key), 0, 0 },
	{ "crowdsec.machine", set_machine, 0, 0, 0 },
	{ "crowdsec.password", set_path, F(cs_password), 0, 0 },
	{ "crowdsec.push", set_bool, F(cs_push), 0, 0 },
	{ "crowdsec.pull", set_bool, F(cs_pull), 0, 0 },
	{ "crowdsec.interval", set_dur, F(cs_interval), 1, 86400 },
};

/* Sanitise and cut a quoted string; "..." marks that it was cut. */
static void quote(char *dst, size_t dstlen, const char *src)
{
	vg_sanitize_quoted(dst, dstlen, src);
	if (dstlen > 4 && strlen(src) >= dstlen)
		memcpy(dst + dstlen - 4, "...", 4);
}

static void set_err(char *err, size_t errlen, const char *where,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* err = "WHERE: " + the formatted rest. */
static void set_err(char *err, size_t errlen, const char *where,
		    const char *fmt, ...)
{
	char w[WHERE_MAX];
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return;
	quote(w, sizeof(w), where ? where : "argument");
	n = snprintf(err, errlen, "%s: ", w);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static const struct key *find_key(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(keys) / sizeof(keys[0]); i++)
		if (name[0] == keys[i].name[0] &&
		    strcmp(name, keys[i].name) == 0)
			return &keys[i];
	return NULL;
}

/* path with "//" and "/./" folded, so another spelling of one name is
 * no way around vg_config_check_paths().  No symlink is resolved: the
 * files need not exist yet. */
static void norm_path(char *out, size_t len, const char *in)
{
	size_t o = 0;

	for (const char *p = in; *p && o + 1 < len; p++) {
		if (*p == '/' && o && out[o - 1] == '/')
			continue;
		if (*p == '.' && o && out[o - 1] == '/' &&
		    (p[1] == '/' || p[1] == '\0'))
			continue;
		out[o++] = *p;
	}
	/* "/a/" and "/a" name one file; "/" stays "/". */
	if (o > 1 && out[o - 1] == '/')
		o--;
	out[o] = '\0';
}

/* Is name one of the names the owner of path writes: path itself,
 * path.ANYTHING (the table's path.new.XXXXXX, the state's
 * path.corrupt-STAMP and path.crowdsec*), or DIR/.BASE.ANYTHING (the
 * temporaries vg_atomic_write makes next to the state file)? */
static bool owns_name(const char *path, const char *name)
{
	size_t n = strlen(path), dl;
	const char *base = strrchr(path, '/');

	if (strncmp(name, path, n) == 0 &&
	    (name[n] == '\0' || name[n] == '.'))
		return true;
	if (!base || base[1] == '\0')
		return false;
	dl = (size_t)(base - path) + 1;		/* "DIR/" */
	base++;
	n = strlen(base);
	return strncmp(name, path, dl) == 0 && name[dl] == '.' &&
	       strncmp(name + dl + 1, base, n) == 0 && name[dl + 1 + n] == '.';
}

/* The table and the state file must be different files, and neither
 * one of the other's temporary or set-aside names: the helper would
 * read the 4 MiB table as a corrupt state file, set it aside and
 * rebuild it on every pass, piling copies in /run. */
int vg_config_check_paths(const struct vg_config *c, const char *where,
			  char *err, size_t errlen)
{
	char t[VG_PATH_MAX], st[VG_PATH_MAX];
	char qt[QUOTE_MAX + 1], qs[QUOTE_MAX + 1];

	norm_path(t, sizeof(t), c->table_path);
	norm_path(st, sizeof(st), c->state_path);
	if (!owns_name(t, st) && !owns_name(st, t))
		return 0;
	quote(qt, sizeof(qt), c->table_path);
	quote(qs, sizeof(qs), c->state_path);
	set_err(err, errlen, where, "state.path '%s' and table.path '%s' %s: "
		"the helper would take the table for a corrupt state file "
		"(give them different names)", qs, qt, strcmp(t, st) == 0 ?
		"are the same file" : "clash (one is a temporary or "
		"set-aside name of the other)");
	return -EINVAL;
}

static int set_key(struct vg_config *c, const char *key, const char *value,
		   const char *where, char *err, size_t errlen)
{
	char qk[QUOTE_MAX + 1], qv[QUOTE_MAX + 1], why[WHY_MAX];
	const struct key *k = find_key(key);

	if (!k) {
		quote(qk, sizeof(qk), key ? key : "");
		set_err(err, errlen, where, "unknown key '%s'", qk);
		return -EINVAL;
	}
	if (!value) {
		set_err(err, errlen, where, "%s: missing value", key);
		return -EINVAL;
	}
	why[0] = '\0';
	if (k->set(c, k, value, why, sizeof(why)) == 0)
		return 0;
	quote(qv, sizeof(qv), value);
	set_err(err, errlen, where, "%s: '%s' %s", key, qv, why);
	return -EINVAL;
}

int vg_config_set(struct vg_config *c, const char *key, const char *value,
		  const char *where, char *err, size_t errlen)
{
	return set_key(c, key, value, where, err, errlen);
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' ||
	       ch == '\v' || ch == '\f';
}

static char *trim(char *s)
{
	size_t len;

	while (is_space(*s))
		s++;
	len = strlen(s);
	while (len > 0 && is_space(s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* A '#' at the start of the value or after whitespace opens a comment;
 * one inside a word ("/srv/a#b") does not. */
static void strip_comment(char *v)
{
	char *p;

	for (p = v; *p; p++) {
		if (*p == '#' && (p == v || is_space(p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

static int line_apply(struct vg_config *c, const char *line,
		      const char *where, char *err, size_t errlen)
{
	char buf[VG_CONF_LINE_MAX], q[QUOTE_MAX + 1];
	char *s, *eq, *key, *value;
	size_t len = strlen(line);

	if (len >= sizeof(buf)) {
		set_err(err, errlen, where, "line longer than %d characters",
			VG_CONF_LINE_MAX - 1);
		return -EINVAL;
	}
	memcpy(buf, line, len + 1);
	s = trim(buf);
	if (*s == '\0' || *s == '#')
		return 0;
	eq = strchr(s, '=');
	if (!eq) {
		quote(q, sizeof(q), s);
		set_err(err, errlen, where, "'%s' is not 'key = value'", q);
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(s);
	if (*key == '\0') {
		set_err(err, errlen, where, "missing key before '='");
		return -EINVAL;
	}
	value = eq + 1;
	strip_comment(value);
	value = trim(value);
	return set_key(c, key, value, where, err, errlen);
}

int vg_config_line(struct vg_config *c, const char *line, const char *where,
		   char *err, size_t errlen)
{
	return line_apply(c, line, where, err, errlen);
}

/* A configuration file is small; anything larger is a mistake. */
#define CONF_FILE_MAX	(256 * 1024)

/* Read the whole file in one go: this runs inside sshd on every
 * authentication, so no stdio and no per-line formatting. */
static int slurp(int fd, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	ssize_t r = 0;
	char *b;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size > CONF_FILE_MAX)
		return -EFBIG;
	b = malloc((size_t)st.st_size + 1);
	if (!b)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		r = read(fd, b + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;		/* shrank under us: take what is there */
		got += (size_t)r;
	}
	if (r < 0) {
		free(b);
		return -errno;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

/* Apply the lines of buf.  keep_going: skip bad lines (the module's
 * failmode rescue) instead of stopping at the first. */
static int apply_lines(struct vg_config *c, char *buf, size_t len,
		       const char *path, bool keep_going, char *err,
		       size_t errlen)
{
	char where[WHERE_MAX];
	unsigned long lineno = 0;
	char *p = buf, *end = buf + len, *nl, *s;
	/* The next NUL byte, looked for once per file rather than per line
	 * (the module parses the file on every authentication). */
	char *nul = buf ? memchr(buf, '\0', len) : NULL;
	int r, first = 0;

	for (; p < end; p = nl + 1) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		*nl = '\0';
		for (s = p; s < nl && is_space(*s); s++)
			;
		if (nul && nul < nl) {
			nul = nl + 1 < end ? memchr(nl + 1, '\0',
					(size_t)(end - nl - 1)) : NULL;
			r = -EILSEQ;
		} else if ((size_t)(nl - p) >= VG_CONF_LINE_MAX) {
			r = -E2BIG;
		} else if (s == nl || *s == '#') {
			continue;	/* the common case: cheap */
		} else {
			r = line_apply(c, p, NULL, NULL, 0);
			if (r == 0)
				continue;
		}
		if (first == 0)
			first = -EINVAL;
		if (keep_going)
			continue;
		/* Only now pay for the location in the message. */
		snprintf(where, sizeof(where), "%s:%lu", path, lineno);
		if (r == -EILSEQ)
			set_err(err, errlen, where, "NUL byte in line");
		else if (r == -E2BIG)
			set_err(err, errlen, where, "line longer than %d "
				"characters", VG_CONF_LINE_MAX - 1);
		else
			line_apply(c, p, where, err, errlen);
		return -EINVAL;
	}
	return first;
}

static int read_file(struct vg_config *c, const char *path, bool keep_going,
		     char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, ret;

	/* No O_NOFOLLOW: an admin may well symlink /etc/security. */
	fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		set_err(err, errlen, path, "%s", strerror(-ret));
		return ret;
	}
	ret = slurp(fd, &buf, &len);
	close(fd);
	if (ret == -EINVAL)
		set_err(err, errlen, path, "not a regular file");
	else if (ret == -EFBIG)
		set_err(err, errlen, path, "larger than %d bytes",
			CONF_FILE_MAX);
	else if (ret)
		set_err(err, errlen, path, "%s", strerror(-ret));
	if (ret)
		return ret == -EFBIG ? -EINVAL : ret;
	ret = apply_lines(c, buf, len, path, keep_going, err, errlen);
	free(buf);
	return ret;
}

/* Lines are applied as they are read: on an error, earlier lines have
 * already changed *c.  That is fine because every caller treats any
 * error as fatal (failmode in the module, exit 2 in the CLI) and never
 * uses a half-read configuration. */
int vg_config_read_file(struct vg_config *c, const char *path,
			char *err, size_t errlen)
{
	return read_file(c, path, false, err, errlen);
}

int vg_config_read_file_lenient(struct vg_config *c, const char *path)
{
	return read_file(c, path, true, NULL, 0);
}

static const struct {
	char suffix;
	uint64_t secs;
} dur_units[] = {
	{ 'w', 604800 }, { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 },
	{ 's', 1 },
};

#define N_DUR_UNITS	(sizeof(dur_units) / sizeof(dur_units[0]))

/* Bare digits are seconds.  Otherwise parts of digits plus a suffix,
 * largest unit first and each at most once ("1h30m", not "30m1h" nor
 * "1h30"), so a typo is an error rather than a surprise.  Every number
 * is capped at VG_DURATION_MAX as it is read, which keeps all the
 * arithmetic far from overflowing. */
int vg_duration_parse(const char *s, uint64_t *out)
{
	uint64_t total = 0, n;
	size_t u = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	while (*s) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (n = 0; *s >= '0' && *s <= '9'; s++) {
			n = n * 10 + (uint64_t)(*s - '0');
			if (n > VG_DURATION_MAX)
				return -EINVAL;
		}
		if (*s == '\0' && total == 0 && u == 0) {
			total = n;	/* bare number */
			break;
		}
		while (u < N_DUR_UNITS && dur_units[u].suffix != *s)
			u++;
		if (u == N_DUR_UNITS)
			return -EINVAL;
		total += n * dur_units[u].secs;
		if (total > VG_DURATION_MAX)
			return -EINVAL;
		s++;
		u++;
	}
	*out = total;
	return 0;
}

void vg_duration_format(uint64_t secs, char *buf, size_t len)
{
	size_t i, used = 0;
	int n;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (secs == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (i = 0; i < N_DUR_UNITS && used < len; i++) {
		if (secs < dur_units[i].secs)
			continue;
		n = snprintf(buf + used, len - used, "%llu%c",
			     (unsigned long long)(secs / dur_units[i].secs),
			     dur_units[i].suffix);
		if (n < 0)
			break;
		used += (size_t)n;
		secs %= dur_units[i].secs;
	}
}

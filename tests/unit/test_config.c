/* Unit tests for lib/config.c.
 *
 * The per-key accept/reject cases live in tests/data/config.txt (found
 * through $VG_TESTDATA, else ./tests/data) and run through one driver,
 * test_config_table(); what a text file cannot hold (control bytes,
 * over-long lines, files on disk) is tested here directly.  The sample
 * pam_module/vpsguard.conf ($VG_SAMPLE_CONF) is checked to document the
 * true defaults. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

enum kind { K_UINT, K_U32, K_DUR, K_BOOL, K_PATH, K_CIDRS, K_RATE, K_PORTS,
	    K_FAILMODE };

/* The test's own list of keys, independent of config.c's table. */
static const struct {
	const char *name;
	enum kind kind;
	size_t off;
} tkeys[] = {
#define K(n, k, m)	{ n, k, offsetof(struct vg_config, m) }
	K("maxretry", K_UINT, maxretry),
	K("findtime", K_DUR, findtime),
	K("bantime", K_DUR, bantime),
	K("bantime.increment", K_BOOL, bantime_increment),
	K("bantime.factor", K_UINT, bantime_factor),
	K("bantime.maxtime", K_DUR, bantime_maxtime),
	K("history", K_DUR, history),
	K("ignoreip", K_CIDRS, ignoreip),
	K("ipv6.prefix", K_UINT, ipv6_prefix),
	K("invalid_user.weight", K_UINT, invalid_user_weight),
	K("table.size", K_U32, table_size),
	K("table.path", K_PATH, table_path),
	K("state.path", K_PATH, state_path),
	K("persistent.after", K_UINT, persistent_after),
	K("trust", K_DUR, trust),
	K("inflight.timeout", K_DUR, inflight_timeout),
	K("aggregate.v6", K_UINT, aggregate_v6),
	K("aggregate.v4", K_UINT, aggregate_v4),
	K("connlimit.rate", K_RATE, connlimit_count),
	K("connlimit.bantime", K_DUR, connlimit_bantime),
	K("ssh.ports", K_PORTS, ssh_ports),
	K("failmode", K_FAILMODE, failmode),
	K("totp.secrets", K_PATH, totp_secrets),
	K("totp.window", K_UINT, totp_window),
	K("totp.maxfail", K_UINT, totp_maxfail),
	K("silent", K_BOOL, silent),
	K("crowdsec.url", K_PATH, cs_url),
	K("crowdsec.bouncer_key", K_PATH, cs_bouncer_key),
	K("crowdsec.machine", K_PATH, cs_machine),
	K("crowdsec.password", K_PATH, cs_password),
	K("crowdsec.push", K_BOOL, cs_push),
	K("crowdsec.pull", K_BOOL, cs_pull),
	K("crowdsec.interval", K_DUR, cs_interval),
#undef K
};

#define N_TKEYS	(sizeof(tkeys) / sizeof(tkeys[0]))

static int tkey_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_TKEYS; i++)
		if (strcmp(tkeys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void append(char *buf, size_t len, const char *sep, const char *s)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? sep : "", s);
}

/* One key's value as text, in the notation of config.txt. */
static void dump(const struct vg_config *c, int i, char *buf, size_t len)
{
	const void *p = (const char *)c + tkeys[i].off;
	static const char *const per[] = { "second", "minute", "hour", "day" };
	static const uint64_t secs[] = { 1, 60, 3600, 86400 };
	char a[VG_ADDR_STRLEN];
	unsigned int j;

	buf[0] = '\0';
	switch (tkeys[i].kind) {
	case K_UINT:
		snprintf(buf, len, "%u", *(const unsigned int *)p);
		break;
	case K_U32:
		snprintf(buf, len, "%u", (unsigned int)*(const uint32_t *)p);
		break;
	case K_DUR:
		vg_duration_format(*(const uint64_t *)p, buf, len);
		break;
	case K_BOOL:
		snprintf(buf, len, "%s", *(const bool *)p ? "yes" : "no");
		break;
	case K_PATH:
		snprintf(buf, len, "%s", (const char *)p);
		break;
	case K_CIDRS:
		for (j = 0; j < c->ignoreip.n; j++) {
			vg_addr_format(&c->ignoreip.net[j], a, sizeof(a));
			append(buf, len, " ", a);
		}
		break;
	case K_RATE:
		if (c->connlimit_count == 0) {
			snprintf(buf, len, "0");
			break;
		}
		for (j = 0; j < 4; j++)
			if (c->connlimit_per == secs[j])
				snprintf(buf, len, "%u/%s", c->connlimit_count,
					 per[j]);
		break;
	case K_PORTS:
		for (j = 0; j < c->n_ssh_ports; j++) {
			snprintf(a, sizeof(a), "%u", c->ssh_ports[j]);
			append(buf, len, ",", a);
		}
		break;
	case K_FAILMODE:
		snprintf(buf, len, "%s", c->failmode == VG_FAILMODE_OPEN ?
			 "open" : c->failmode == VG_FAILMODE_CLOSED ?
			 "closed" : "?");
		break;
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

/* Equal key by key; names the first difference to ease debugging. */
static bool config_equal(const struct vg_config *a, const struct vg_config *b)
{
	char x[2048], y[2048];
	size_t i;

	for (i = 0; i < N_TKEYS; i++) {
		dump(a, (int)i, x, sizeof(x));
		dump(b, (int)i, y, sizeof(y));
		if (strcmp(x, y) != 0) {
			print_error("%s differs: '%s' vs '%s'\n",
				    tkeys[i].name, x, y);
			return false;
		}
	}
	/* dump() shows the list as text; also compare the bytes. */
	for (i = 0; i < a->ignoreip.n; i++)
		if (!vg_addr_equal(&a->ignoreip.net[i], &b->ignoreip.net[i]))
			return false;
	return a->ignoreip.n == b->ignoreip.n;
}

static void path_in(char *buf, size_t len, const char *env,
		    const char *fallback)
{
	const char *dir = getenv(env);

	snprintf(buf, len, "%s", dir && *dir ? dir : fallback);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void test_defaults(void **state)
{
	struct vg_config c;
	struct vg_cidr_list l;
	struct vg_addr a;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	vg_config_defaults(&c);
	assert_int_equal(c.maxretry, 5);
	assert_int_equal(c.findtime, 600);
	assert_int_equal(c.bantime, 3600);
	assert_true(c.bantime_increment);
	assert_int_equal(c.bantime_factor, 24);
	assert_int_equal(c.bantime_maxtime, 5 * 604800);
	assert_int_equal(c.history, 604800);
	assert_int_equal(c.ipv6_prefix, 64);
	assert_int_equal(c.invalid_user_weight, 2);
	assert_int_equal(c.table_size, 65536);
	assert_string_equal(c.table_path, VG_PATH_TABLE);
	assert_string_equal(c.state_path, VG_PATH_STATE);
	assert_int_equal(c.persistent_after, 1);
	assert_int_equal(c.trust, 7 * 86400);
	assert_int_equal(c.inflight_timeout, 120);
	assert_int_equal(c.aggregate_v6, 8);
	assert_int_equal(c.aggregate_v4, 0);
	assert_int_equal(c.totp_maxfail, 10);
	assert_int_equal(c.connlimit_count, 20);
	assert_int_equal(c.connlimit_per, 60);
	assert_int_equal(c.connlimit_bantime, 600);
	assert_int_equal(c.n_ssh_ports, 0);
	assert_int_equal(c.failmode, VG_FAILMODE_OPEN);
	assert_string_equal(c.totp_secrets, VG_PATH_TOTP);
	assert_int_equal(c.totp_window, 1);
	assert_false(c.silent);
	assert_string_equal(c.cs_url, "");
	assert_string_equal(c.cs_bouncer_key, VG_PATH_CS_KEY);
	assert_string_equal(c.cs_machine, "");
	assert_string_equal(c.cs_password, VG_PATH_CS_PASSWORD);
	assert_true(c.cs_push);
	assert_true(c.cs_pull);
	assert_int_equal(c.cs_interval, 10);

	assert_int_equal(vg_cidr_list_parse("127.0.0.1/8 ::1", &l, NULL, 0),
			 0);
	assert_int_equal(c.ignoreip.n, 2);
	assert_true(vg_addr_equal(&c.ignoreip.net[0], &l.net[0]));
	assert_true(vg_addr_equal(&c.ignoreip.net[1], &l.net[1]));
	assert_int_equal(vg_addr_parse("127.8.9.10", &a), 0);
	assert_true(vg_cidr_list_match(&c.ignoreip, &a));
	assert_int_equal(vg_addr_parse("::1", &a), 0);
	assert_true(vg_cidr_list_match(&c.ignoreip, &a));
	assert_int_equal(vg_addr_parse("10.0.0.1", &a), 0);
	assert_false(vg_cidr_list_match(&c.ignoreip, &a));
}

/* "OK|ERR <config line>[ => <expected>]"; see config.txt. */
static void run_case(char *line, unsigned long lineno)
{
	struct vg_config def, c;
	char where[64], err[VG_ERR_MAX], got[2048], key[128];
	char *cfg, *want, *eq;
	bool ok;
	int i, r;
	size_t klen;

	ok = strncmp(line, "OK", 2) == 0 && (line[2] == ' ' || !line[2]);
	if (!ok && !(strncmp(line, "ERR", 3) == 0 &&
		     (line[3] == ' ' || !line[3]))) {
		fail_msg("config.txt:%lu: no OK/ERR marker", lineno);
	}
	cfg = line + (ok ? 2 : 3) + (line[ok ? 2 : 3] == ' ');
	want = strstr(cfg, " => ");
	if (want) {
		*want = '\0';
		want += 4;
	}
	/* The key as the line names it, for the read-back and the message. */
	key[0] = '\0';
	eq = strchr(cfg, '=');
	if (eq && cfg[strspn(cfg, " \t")] != '#') {
		klen = (size_t)(eq - cfg);
		snprintf(key, sizeof(key), "%.*s", (int)klen, cfg);
		while (klen && strchr(" \t", key[klen - 1]))
			key[--klen] = '\0';
		memmove(key, key + strspn(key, " \t"),
			strlen(key + strspn(key, " \t")) + 1);
	}

	vg_config_defaults(&def);
	vg_config_defaults(&c);
	snprintf(where, sizeof(where), "config.txt:%lu", lineno);
	err[0] = '\0';
	r = vg_config_line(&c, cfg, where, err, sizeof(err));
	/* What the CLI checks once a whole configuration is in (and then
	 * exits: the configuration it refuses is never used). */
	if (r == 0) {
		r = vg_config_check_paths(&c, where, err, sizeof(err));
		if (r)
			c = def;
	}
	if (ok) {
		if (r != 0)
			fail_msg("%s: '%s' rejected: %s", where, cfg, err);
		i = tkey_find(key);
		if (want && i < 0)
			fail_msg("%s: no key to read back", where);
		if (want) {
			dump(&c, i, got, sizeof(got));
			if (strcmp(got, want) != 0)
				fail_msg("%s: '%s' read back '%s', want '%s'",
					 where, cfg, got, want);
		}
		return;
	}
	if (r != -EINVAL)
		fail_msg("%s: '%s' returned %d, want -EINVAL", where, cfg, r);
	if (strncmp(err, where, strlen(where)) != 0 ||
	    strncmp(err + strlen(where), ": ", 2) != 0)
		fail_msg("%s: message lacks the where prefix: %s", where, err);
	if (key[0] && !strstr(err, key))
		fail_msg("%s: message does not name '%s': %s", where, key,
			 err);
	if (want && !strstr(err, want))
		fail_msg("%s: message lacks '%s': %s", where, want, err);
	if (!config_equal(&c, &def))
		fail_msg("%s: rejected '%s' changed the config", where, cfg);
}

static void test_config_table(void **state)
{
	char path[PATH_MAX], line[8192];
	unsigned long lineno = 0, cases = 0;
	FILE *f;
	size_t len;

	(void)state;
	path_in(path, sizeof(path) - 16, "VG_TESTDATA", "tests/data");
	strcat(path, "/config.txt");
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		len = strcspn(line, "\n");
		assert_int_equal(line[len], '\n');
		line[len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		run_case(line, lineno);
		cases++;
	}
	fclose(f);
	assert_true(cases > 150);
}

static void test_duration_parse(void **state)
{
	static const struct {
		const char *s;
		uint64_t want;
	} good[] = {
		{ "0", 0 }, { "0s", 0 }, { "1", 1 }, { "90", 90 },
		{ "90s", 90 }, { "10m", 600 }, { "1h", 3600 },
		{ "7d", 604800 }, { "5w", 3024000 }, { "1h30m", 5400 },
		{ "1w1d1h1m1s", 694861 }, { "2d12h", 216000 },
		{ "0001m", 60 }, { "315360000", VG_DURATION_MAX },
		{ "521w3d", VG_DURATION_MAX }, { "3650d", VG_DURATION_MAX },
	};
	static const char *const bad[] = {
		"", " 5", "5 ", "m", "s", "10x", "1h-", "-1", "+1", "1h30",
		"30m1h", "1m1m", "1ss", "1 h", "1H", "1.5h", "1h 30m",
		"315360001", "3650d1s", "521w4d", "99999999999999999999",
		"18446744073709551616", "18446744073709551615s",
		"30500000000w", "0x10", "1e3", "5\n", "\t5",
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (vg_duration_parse(good[i].s, &v) != 0)
			fail_msg("'%s' rejected", good[i].s);
		if (v != good[i].want)
			fail_msg("'%s' -> %llu", good[i].s,
				 (unsigned long long)v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (vg_duration_parse(bad[i], &v) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(v, 12345);
	}
	assert_int_equal(vg_duration_parse(NULL, &v), -EINVAL);
}

static void test_duration_format(void **state)
{
	static const struct {
		uint64_t secs;
		const char *want;
	} cases[] = {
		{ 0, "0s" }, { 1, "1s" }, { 59, "59s" }, { 60, "1m" },
		{ 61, "1m1s" }, { 3600, "1h" }, { 5400, "1h30m" },
		{ 86400, "1d" }, { 172800, "2d" }, { 604800, "1w" },
		{ 3024000, "5w" }, { 90061, "1d1h1m1s" },
		{ 694861, "1w1d1h1m1s" }, { VG_DURATION_MAX, "521w3d" },
	};
	char buf[32], tiny[4];
	uint64_t s, v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vg_duration_format(cases[i].secs, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	/* Round trip over small values and a spread up to the maximum. */
	for (s = 0; s <= VG_DURATION_MAX; s = s < 200000 ? s + 1 : s * 3 + 7) {
		vg_duration_format(s, buf, sizeof(buf));
		if (vg_duration_parse(buf, &v) != 0 || v != s)
			fail_msg("%llu -> '%s' does not parse back",
				 (unsigned long long)s, buf);
	}
	/* A short buffer is cut, never overrun. */
	memset(tiny, 'x', sizeof(tiny));
	vg_duration_format(694861, tiny, sizeof(tiny));
	assert_int_equal(strlen(tiny), 3);
	vg_duration_format(694861, tiny, 0);
	assert_int_equal(tiny[0], '1');
}

static void test_messages(void **state)
{
	struct vg_config c;
	char err[VG_ERR_MAX];

	(void)state;
	vg_config_defaults(&c);
	assert_int_equal(vg_config_set(&c, "maxretry", "abc",
				       "/etc/security/vpsguard.conf:12", err,
				       sizeof(err)), -EINVAL);
	assert_string_equal(err, "/etc/security/vpsguard.conf:12: maxretry: "
			    "'abc' is not a number between 1 and 1000");
	assert_int_equal(vg_config_set(&c, "maxretries", "5", "argument",
				       err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "argument: unknown key 'maxretries'");
	assert_int_equal(vg_config_set(&c, "maxretry", NULL, "argument",
				       err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "argument: maxretry: missing value");
	assert_int_equal(vg_config_set(&c, "bantime", "1y", "x:1", err,
				       sizeof(err)), -EINVAL);
	assert_string_equal(err, "x:1: bantime: '1y' is not a duration "
			    "between 1s and 521w3d (e.g. 90, 10m, 1h30m, 7d)");
	assert_int_equal(vg_config_line(&c, "no equals sign", "f:3", err,
					sizeof(err)), -EINVAL);
	assert_string_equal(err, "f:3: 'no equals sign' is not 'key = value'");
	/* Module arguments use the very same setter. */
	assert_int_equal(vg_config_set(&c, "maxretry", "9", "argument", err,
				       sizeof(err)), 0);
	assert_int_equal(c.maxretry, 9);
}

static void test_hostile(void **state)
{
	struct vg_config c, def;
	char err[VG_ERR_MAX], big[10000];
	static const char evil[] = "\x1b[31mred\x1b[0m\r\nJan  1 sshd: ok\t\x7f"
				   "\xff\xfe";

	(void)state;
	vg_config_defaults(&c);
	vg_config_defaults(&def);
	assert_int_equal(vg_config_set(&c, "maxretry", evil, "argument", err,
				       sizeof(err)), -EINVAL);
	assert_true(printable(err));
	assert_non_null(strstr(err, "maxretry: '?[31mred?[0m??Jan  1"));
	assert_int_equal(vg_config_set(&c, evil, "1", "argument", err,
				       sizeof(err)), -EINVAL);
	assert_true(printable(err));
	assert_non_null(strstr(err, "unknown key '?[31m"));
	assert_int_equal(vg_config_set(&c, "table.path", "/tmp/\nx", evil,
				       err, sizeof(err)), -EINVAL);
	assert_true(printable(err));
	assert_int_equal(vg_config_set(&c, "ignoreip", "10.0.0.1 \x1b[2J",
				       "argument", err, sizeof(err)), -EINVAL);
	assert_true(printable(err));
	assert_int_equal(vg_config_set(&c, "silent", "\x01", "argument",
				       err, sizeof(err)), -EINVAL);
	assert_true(printable(err));

	/* A huge value is quoted only in part. */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(vg_config_set(&c, "failmode", big, "argument", err,
				       sizeof(err)), -EINVAL);
	assert_true(strlen(err) < 200);
	assert_non_null(strstr(err, "AAA...'"));
	assert_int_equal(vg_config_set(&c, big, "1", "argument", err,
				       sizeof(err)), -EINVAL);
	assert_true(strlen(err) < 200);
	assert_true(config_equal(&c, &def));
}

static void test_small_err(void **state)
{
	struct vg_config c;
	char err[16];

	(void)state;
	vg_config_defaults(&c);
	memset(err, 'x', sizeof(err));
	assert_int_equal(vg_config_set(&c, "maxretry", "0", "some/long/where",
				       err, 8), -EINVAL);
	assert_string_equal(err, "some/lo");
	assert_int_equal(err[8], 'x');
	assert_int_equal(vg_config_set(&c, "maxretry", "0", "w", NULL, 0),
			 -EINVAL);
	assert_int_equal(vg_config_line(&c, "x", "w", NULL, 0), -EINVAL);
	assert_int_equal(vg_config_set(&c, "maxretry", "3", NULL, err,
				       sizeof(err)), 0);
	assert_int_equal(c.maxretry, 3);
}

static void test_long_line(void **state)
{
	struct vg_config c;
	char err[VG_ERR_MAX], line[VG_CONF_LINE_MAX + 1];
	size_t n = VG_CONF_LINE_MAX - 1;

	(void)state;
	vg_config_defaults(&c);
	/* VG_CONF_LINE_MAX - 1 characters is the longest accepted line. */
	memset(line, ' ', sizeof(line));
	memcpy(line, "maxretry = 4", 12);
	line[n] = '\0';
	assert_int_equal(vg_config_line(&c, line, "w:1", err, sizeof(err)), 0);
	assert_int_equal(c.maxretry, 4);
	line[n] = ' ';
	line[n + 1] = '\0';
	assert_int_equal(vg_config_line(&c, line, "w:2", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "w:2: line longer than 4095 characters");
}

/* Files are written under one temporary directory. */
struct tmp {
	char dir[64];
	char path[128];
};

static const char *tmp_write(struct tmp *t, const char *name,
			     const void *data, size_t len)
{
	FILE *f;

	snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
	f = fopen(t->path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return t->path;
}

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_config.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", t->dir);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

static void test_file(void **state)
{
	static const char good[] =
		"# vpsguard test\n"
		"\n"
		"   \t\n"
		"maxretry = 3   # three strikes\n"
		"  findtime=1h\r\n"
		"ignoreip = 10.0.0.0/8, ::1\n"
		"ssh.ports = 22 2222\n"
		"failmode = closed";	/* no final newline */
	static const char bad[] =
		"maxretry = 3\n"
		"# comment\n"
		"\n"
		"bantime = 1h\n"
		"bantime.factor = 2x   # typo\n"
		"maxretry = 9\n";
	struct tmp *t = *state;
	struct vg_config c;
	char err[VG_ERR_MAX], want[VG_ERR_MAX];
	const char *p;

	vg_config_defaults(&c);
	p = tmp_write(t, "good.conf", good, sizeof(good) - 1);
	assert_int_equal(vg_config_read_file(&c, p, err, sizeof(err)), 0);
	assert_int_equal(c.maxretry, 3);
	assert_int_equal(c.findtime, 3600);
	assert_int_equal(c.ignoreip.n, 2);
	assert_int_equal(c.n_ssh_ports, 2);
	assert_int_equal(c.ssh_ports[1], 2222);
	assert_int_equal(c.failmode, VG_FAILMODE_CLOSED);

	vg_config_defaults(&c);
	p = tmp_write(t, "bad.conf", bad, sizeof(bad) - 1);
	assert_int_equal(vg_config_read_file(&c, p, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:5: bantime.factor: '2x' is not a "
		 "number between 1 and 1000", p);
	assert_string_equal(err, want);
	/* Reading stops at the first error. */
	assert_int_equal(c.maxretry, 3);

	snprintf(want, sizeof(want), "%s/missing.conf", t->dir);
	assert_int_equal(vg_config_read_file(&c, want, err, sizeof(err)),
			 -ENOENT);
	strcat(want, ": No such file or directory");
	assert_string_equal(err, want);

	assert_int_equal(vg_config_read_file(&c, t->dir, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_file_bad_bytes(void **state)
{
	static const char nul[] = "maxretry = 3\nmaxretry\0 = 4\n";
	struct tmp *t = *state;
	struct vg_config c;
	char err[VG_ERR_MAX], want[VG_ERR_MAX];
	char *big = malloc(3 * VG_CONF_LINE_MAX);
	const char *p;
	size_t n;

	assert_non_null(big);
	vg_config_defaults(&c);
	p = tmp_write(t, "nul.conf", nul, sizeof(nul) - 1);
	assert_int_equal(vg_config_read_file(&c, p, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", p);
	assert_string_equal(err, want);

	/* Line 2 is exactly VG_CONF_LINE_MAX - 1 characters: fine. */
	n = (size_t)snprintf(big, 3 * VG_CONF_LINE_MAX, "# one\n");
	memset(big + n, ' ', VG_CONF_LINE_MAX - 1);
	memcpy(big + n, "silent = yes", 12);
	n += VG_CONF_LINE_MAX - 1;
	big[n++] = '\n';
	p = tmp_write(t, "edge.conf", big, n);
	assert_int_equal(vg_config_read_file(&c, p, err, sizeof(err)), 0);
	assert_true(c.silent);

	/* Line 3 one character longer: an error, not two lines. */
	memset(big + n, '#', VG_CONF_LINE_MAX);
	n += VG_CONF_LINE_MAX;
	big[n++] = '\n';
	p = tmp_write(t, "long.conf", big, n);
	assert_int_equal(vg_config_read_file(&c, p, err, sizeof(err)),
			 -EINVAL);
	snprintf(want, sizeof(want), "%s:3: line longer than 4095 "
		 "characters", p);
	assert_string_equal(err, want);
	free(big);
}

/* The sample must load as shipped (all commented out), and with every
 * "#key = value" line uncommented it must load and equal the defaults:
 * that proves it documents every key at its true default. */
static void test_sample(void **state)
{
	struct tmp *t = *state;
	struct vg_config c, def;
	char path[PATH_MAX], err[VG_ERR_MAX], line[VG_CONF_LINE_MAX];
	char *out = NULL, key[128];
	size_t outlen = 0, n = 0;
	bool seen[N_TKEYS] = { false };
	FILE *in, *mem;
	int i;

	path_in(path, sizeof(path), "VG_SAMPLE_CONF",
		"pam_module/vpsguard.conf");
	vg_config_defaults(&def);
	vg_config_defaults(&c);
	if (vg_config_read_file(&c, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_true(config_equal(&c, &def));

	in = fopen(path, "r");
	assert_non_null(in);
	mem = open_memstream(&out, &outlen);
	assert_non_null(mem);
	while (fgets(line, sizeof(line), in)) {
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z') {
			assert_int_equal(sscanf(line + 1, "%127[^ =]", key),
					 1);
			i = tkey_find(key);
			if (i < 0 || seen[i])
				fail_msg("sample: '%s' unknown or twice", key);
			seen[i] = true;
			n++;
			fputs(line + 1, mem);
		} else {
			fputs(line, mem);
		}
	}
	fclose(in);
	assert_int_equal(fclose(mem), 0);
	assert_int_equal(n, N_TKEYS);

	vg_config_defaults(&c);
	c.maxretry = 77;	/* must be set back by the file */
	c.n_ssh_ports = 1;
	c.ignoreip.n = 0;
	if (vg_config_read_file(&c, tmp_write(t, "sample.conf", out, outlen),
				err, sizeof(err)) != 0)
		fail_msg("uncommented sample: %s", err);
	free(out);
	assert_true(config_equal(&c, &def));
}

/* The state file and the table are different files, and neither is a
 * temporary or set-aside name of the other (the helper would set the
 * table aside as a corrupt state file on every pass).  Judged on a whole
 * configuration (vg_config_check_paths(), which the CLI calls after the
 * file and --table), so moving both in either order is fine; the
 * module's reading of a file does not judge it. */
static void test_paths_clash(void **state)
{
	static const char same[] =
		"table.path = /srv/vg/table\n"
		"state.path = /srv/vg/table\n";
	/* state.path first takes today's table.path: fine once the
	 * table has moved too. */
	static const char swap[] =
		"state.path = /run/vpsguard/table\n"
		"table.path = /run/vpsguard/live\n";
	struct tmp *t = *state;
	struct vg_config c;
	char err[VG_ERR_MAX];
	const char *p;

	vg_config_defaults(&c);
	p = tmp_write(t, "same.conf", same, sizeof(same) - 1);
	assert_int_equal(vg_config_read_file(&c, p, err, sizeof(err)), 0);
	assert_int_equal(vg_config_check_paths(&c, p, err, sizeof(err)),
			 -EINVAL);
	print_message("%s\n", err);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "state.path '/srv/vg/table' and "
				    "table.path '/srv/vg/table' are the same "
				    "file"));

	vg_config_defaults(&c);
	p = tmp_write(t, "swap.conf", swap, sizeof(swap) - 1);
	assert_int_equal(vg_config_read_file(&c, p, err, sizeof(err)), 0);
	assert_int_equal(vg_config_check_paths(&c, p, err, sizeof(err)), 0);
	assert_string_equal(c.state_path, "/run/vpsguard/table");
	assert_string_equal(c.table_path, "/run/vpsguard/live");

	/* --table after the file (the CLI) */
	assert_int_equal(vg_config_set(&c, "table.path",
				       "/run/vpsguard/table.corrupt-1",
				       "--table", err, sizeof(err)), 0);
	assert_int_equal(vg_config_check_paths(&c, "--table", err,
					       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--table: state.path"));
	assert_non_null(strstr(err, "clash"));
	/* a trailing '/' or doubled ones are the same file */
	assert_int_equal(vg_config_set(&c, "table.path",
				       "/run//vpsguard/./table/", "--table",
				       err, sizeof(err)), 0);
	assert_int_equal(vg_config_check_paths(&c, "--table", err,
					       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "are the same file"));
	/* distinct files in one directory */
	assert_int_equal(vg_config_set(&c, "table.path",
				       "/run/vpsguard/tablex", "--table",
				       err, sizeof(err)), 0);
	assert_int_equal(vg_config_check_paths(&c, "--table", err,
					       sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_table),
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_small_err),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test_setup_teardown(test_file, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_file_bad_bytes, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_sample, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_paths_clash, tmp_setup,
						tmp_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

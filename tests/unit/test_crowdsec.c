/* Unit tests for the CrowdSec link: helper/fleet/lapi_json.c (the JSON of the
 * Local API: decision stream, Go durations, login token, the alerts we
 * push, the alerts we read back to retract), and helper/crowdsec*.c (the
 * state file, its lock, unban: lifts and retractions), with the HTTP
 * layer replaced by a script (lapi_request() below).
 * Linked with build/helper/libfleet.a; lapi_request() defined here
 * wins over the archive's (lapi_http.o is never pulled in). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "crowdsec.h"
#include "lapi.h"
#include "unit_tmpdir.h"

static const char *str_field(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void test_duration(void **state)
{
	static const struct {
		const char *in;
		int64_t ms;
	} ok[] = {
		{ "3h59m58.814340346s", 14398814 },
		{ "-14.915674ms", -14 },
		{ "90s", 90000 },
		{ "1.5h", 5400000 },
		{ "0", 0 },
		{ "0s", 0 },
		{ "59m59.35s", 3599350 },
		{ "1h0m0s", 3600000 },
		{ "250us", 0 },
		{ "+2m", 120000 },
	};
	static const char *const bad[] = {
		"", "5", "5x", "h", "-", "1h-5m", "1e3s", " 5s", "5s ",
		"99999999h", "NaNs", "1..5s", NULL,
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (lapi_parse_duration(ok[i].in, &ms) != 0)
			fail_msg("'%s' refused", ok[i].in);
		if (ms != ok[i].ms)
			fail_msg("'%s' -> %lld, want %lld", ok[i].in,
				 (long long)ms, (long long)ok[i].ms);
	}
	for (size_t i = 0; bad[i]; i++)
		if (lapi_parse_duration(bad[i], &ms) == 0)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(lapi_parse_duration(NULL, &ms), -EINVAL);
}

#define STREAM(n, d)	"{\"new\": " n ", \"deleted\": " d "}"

static int parse_str(const char *s, struct lapi_stream *out)
{
	char err[256];

	return lapi_parse_stream(s, strlen(s), out, err, sizeof(err));
}

static void test_stream(void **state)
{
	const char *doc = STREAM(
		"[{\"duration\":\"3h59m58.8s\",\"id\":1,\"origin\":\"cscli\","
		"\"scenario\":\"manual 'ban' from 'x'\",\"scope\":\"Ip\","
		"\"type\":\"ban\",\"value\":\"203.0.113.9\"},"
		"{\"duration\":\"1h\",\"id\":2,\"origin\":\"crowdsec\","
		"\"scenario\":\"s\",\"scope\":\"Range\",\"type\":\"ban\","
		"\"value\":\"2001:db8:77::/64\"},"
		"{\"duration\":\"1h\",\"id\":3,\"origin\":\"o\",\"scope\":"
		"\"range\",\"type\":\"BAN\",\"value\":\"203.0.113.65/30\"},"
		"{\"duration\":\"1h\",\"id\":4,\"scope\":\"ip\",\"type\":\"ban\","
		"\"value\":\"::ffff:192.0.2.1\"}]",
		"[{\"duration\":\"-14.9ms\",\"id\":9,\"origin\":\"cscli\","
		"\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"192.0.2.9\"}]");
	struct lapi_stream s;
	char a[VG_ADDR_STRLEN];

	(void)state;
	assert_int_equal(parse_str(doc, &s), 0);
	assert_int_equal(s.n_added, 4);
	assert_int_equal(s.n_deleted, 1);
	assert_int_equal(s.ignored, 0);
	assert_int_equal(s.added[0].id, 1);
	assert_false(s.added[0].range);
	vg_addr_format(&s.added[0].net, a, sizeof(a));
	assert_string_equal(a, "203.0.113.9");
	assert_int_equal(s.added[0].duration_ms, 14398800);
	assert_string_equal(s.added[0].origin, "cscli");
	assert_string_equal(s.added[0].scenario, "manual 'ban' from 'x'");
	assert_true(s.added[1].range);
	vg_addr_format(&s.added[1].net, a, sizeof(a));
	assert_string_equal(a, "2001:db8:77::/64");
	/* host bits masked, scope and type case-insensitive */
	vg_addr_format(&s.added[2].net, a, sizeof(a));
	assert_string_equal(a, "203.0.113.64/30");
	/* a mapped address is the IPv4 source; no origin is "?" */
	vg_addr_format(&s.added[3].net, a, sizeof(a));
	assert_string_equal(a, "192.0.2.1");
	assert_int_equal(s.added[3].net.family, VG_FAMILY_V4);
	assert_string_equal(s.added[3].origin, "?");
	assert_int_equal(s.deleted[0].id, 9);
	assert_int_equal(s.deleted[0].duration_ms, -14);
	lapi_stream_free(&s);
}

static void test_stream_nulls(void **state)
{
	struct lapi_stream s;

	(void)state;
	assert_int_equal(parse_str(STREAM("null", "null"), &s), 0);
	assert_int_equal(s.n_added + s.n_deleted, 0);
	assert_int_equal(parse_str("{}", &s), 0);
	assert_int_equal(parse_str(" {\"new\":[]} \n", &s), 0);
	lapi_stream_free(&s);
}

/* One decision we cannot use is skipped, never fatal for the rest. */
static void test_stream_skips(void **state)
{
	const char *doc = STREAM(
		"[{\"duration\":\"1h\",\"id\":1,\"scope\":\"Ip\",\"type\":"
		"\"captcha\",\"value\":\"192.0.2.1\"},"
		"{\"duration\":\"1h\",\"id\":2,\"scope\":\"Country\",\"type\":"
		"\"ban\",\"value\":\"FR\"},"
		"{\"duration\":\"1h\",\"id\":3,\"scope\":\"Ip\",\"type\":\"ban\","
		"\"value\":\"not-an-ip\"},"
		"{\"duration\":\"1h\",\"id\":4,\"scope\":\"Ip\",\"type\":\"ban\","
		"\"value\":\"192.0.2.1/24\"},"
		"{\"duration\":\"soon\",\"id\":5,\"scope\":\"Ip\",\"type\":"
		"\"ban\",\"value\":\"192.0.2.1\"},"
		"{\"duration\":\"1h\",\"scope\":\"Ip\",\"type\":\"ban\","
		"\"value\":\"192.0.2.1\"},"
		"{\"duration\":\"1h\",\"id\":\"7\",\"scope\":\"Ip\",\"type\":"
		"\"ban\",\"value\":\"192.0.2.1\"},"
		"{\"duration\":1,\"id\":8,\"scope\":\"Ip\",\"type\":\"ban\","
		"\"value\":\"192.0.2.1\"},"
		"42, null, [],"
		"{\"duration\":\"1h\",\"id\":10,\"scope\":\"Ip\",\"type\":\"ban\","
		"\"value\":\"192.0.2.10\",\"origin\":\"a\\u001b[31mb\"}]",
		"null");
	struct lapi_stream s;

	(void)state;
	assert_int_equal(parse_str(doc, &s), 0);
	assert_int_equal(s.n_added, 1);
	assert_int_equal(s.ignored, 11);
	assert_int_equal(s.added[0].id, 10);
	/* an escape in a string never reaches a log line */
	assert_string_equal(s.added[0].origin, "a?[31mb");
	lapi_stream_free(&s);
}

static void test_stream_rejects(void **state)
{
	static const char *const bad[] = {
		"", "[]", "null", "42", "\"x\"", "{\"new\": {}}",
		"{\"new\": 1}", "{\"deleted\": \"x\"}", "{\"new\": [",
		"{\"new\": []} x", "{\"new\": []}{}",
		"{\"new\": [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}",
	};
	struct lapi_stream s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_str(bad[i], &s) != -EBADMSG)
			fail_msg("'%s' not rejected", bad[i]);
		assert_null(s.added);
		assert_null(s.deleted);
	}
}

/* No answer can make us take more than LAPI_DECISIONS_MAX decisions. */
static void test_stream_cap(void **state)
{
	const char *one = "{\"duration\":\"1h\",\"id\":1,\"scope\":\"Ip\","
			  "\"type\":\"ban\",\"value\":\"192.0.2.1\"},";
	size_t n = LAPI_DECISIONS_MAX + 5, len = strlen(one);
	char *doc = malloc((n + 1) * len + 64), *p = doc;
	struct lapi_stream s;

	(void)state;
	assert_non_null(doc);
	p += sprintf(p, "{\"deleted\":[%.*s],\"new\":[", (int)len - 1, one);
	for (size_t i = 0; i < n; i++, p += len)
		memcpy(p, one, len);
	strcpy(p - 1, "]}");
	assert_int_equal(parse_str(doc, &s), 0);
	assert_int_equal(s.n_deleted, 1);
	assert_int_equal(s.n_added, LAPI_DECISIONS_MAX - 1);
	assert_int_equal(s.over_cap, 6);
	lapi_stream_free(&s);
	free(doc);
}

static void test_token(void **state)
{
	const char *ok = "{\"code\":200,\"expire\":\"x\",\"token\":"
			 "\"eyJhbGc.eyJleH-_A.3W_gd=\"}";
	char tok[64];

	(void)state;
	assert_int_equal(lapi_parse_token(ok, strlen(ok), tok, sizeof(tok)), 0);
	assert_string_equal(tok, "eyJhbGc.eyJleH-_A.3W_gd=");
	assert_int_equal(lapi_parse_token(ok, strlen(ok), tok, 8), -EBADMSG);
#define BAD(s)	assert_int_equal(lapi_parse_token(s, strlen(s), tok, \
						  sizeof(tok)), -EBADMSG)
	BAD("{\"token\":\"a\\r\\nX-Evil: 1\"}");
	BAD("{\"token\":\"a b\"}");
	BAD("{\"token\":\"\"}");
	BAD("{\"token\":5}");
	BAD("{\"code\":401,\"message\":\"incorrect Username or Password\"}");
	BAD("not json");
#undef BAD
}

static void test_login_json(void **state)
{
	char *s = lapi_login_json("vps-1", "p\"w\\");
	struct json_object *o, *v;

	(void)state;
	assert_non_null(s);
	o = json_tokener_parse(s);
	assert_non_null(o);
	assert_string_equal(str_field(o, "machine_id"), "vps-1");
	assert_string_equal(str_field(o, "password"), "p\"w\\");
	assert_true(json_object_object_get_ex(o, "scenarios", &v));
	assert_string_equal(json_object_get_string(
		json_object_array_get_idx(v, 0)), LAPI_SCENARIO);
	json_object_put(o);
	free(s);
}

static void test_alerts_json(void **state)
{
	struct lapi_alert a[2];
	struct json_object *arr, *o, *d, *src;
	char *s;

	(void)state;
	memset(a, 0, sizeof(a));
	assert_int_equal(vg_addr_parse("203.0.113.7", &a[0].key), 0);
	a[0].banned_at = 1795300000;
	a[0].duration_s = 3600;
	a[0].ban_count = 3;
	assert_int_equal(vg_cidr_parse("2001:db8:66::/64", &a[1].key), 0);
	a[1].duration_s = 60;
	a[1].ban_count = 4;
	s = lapi_alerts_json(a, 2, 1795303600);
	assert_non_null(s);
	arr = json_tokener_parse(s);
	assert_non_null(arr);
	assert_int_equal(json_object_array_length(arr), 2);

	o = json_object_array_get_idx(arr, 0);
	assert_string_equal(str_field(o, "scenario"), LAPI_SCENARIO);
	assert_string_equal(str_field(o, "start_at"), "2026-11-21T22:26:40Z");
	assert_string_equal(str_field(o, "stop_at"), "2026-11-21T23:26:40Z");
	assert_non_null(strstr(str_field(o, "message"), "banned 3 times"));
	assert_true(json_object_object_get_ex(o, "source", &src));
	assert_string_equal(str_field(src, "scope"), "Ip");
	assert_string_equal(str_field(src, "value"), "203.0.113.7");
	assert_true(json_object_object_get_ex(o, "decisions", &d));
	d = json_object_array_get_idx(d, 0);
	assert_string_equal(str_field(d, "origin"), "crowdsec");
	assert_string_equal(str_field(d, "type"), "ban");
	assert_string_equal(str_field(d, "scope"), "Ip");
	assert_string_equal(str_field(d, "value"), "203.0.113.7");
	assert_string_equal(str_field(d, "duration"), "3600s");
	assert_string_equal(str_field(d, "scenario"), LAPI_SCENARIO);
	/* every field LAPI 1.4.6 requires is there */
	for (const char *const *k = (const char *const[]){ "scenario_hash",
	     "scenario_version", "events_count", "capacity", "leakspeed",
	     "simulated", "events", NULL }; *k; k++)
		if (!json_object_object_get_ex(o, *k, NULL))
			fail_msg("alert without %s", *k);

	o = json_object_array_get_idx(arr, 1);
	assert_true(json_object_object_get_ex(o, "decisions", &d));
	d = json_object_array_get_idx(d, 0);
	assert_string_equal(str_field(d, "scope"), "Range");
	assert_string_equal(str_field(d, "value"), "2001:db8:66::/64");
	assert_string_equal(str_field(d, "duration"), "60s");
	json_object_put(arr);
	free(s);
}


/* ---- the HTTP layer, scripted ------------------------------------------ */

struct step {
	const char *method, *path;	/* expected (path: a prefix) */
	long status;			/* 0: a transport failure */
	const char *body;
};
static const struct step *script;
static size_t script_n, script_at;
static char calls[2048];		/* "METHOD PATH\n" of every call */

int lapi_request(const char *method, const char *base, const char *path,
		 const char *hdr, const char *body, long *status, char **resp,
		 size_t *len, char *err, size_t errlen)
{
	const struct step *st = script_at < script_n ? &script[script_at] :
				NULL;

	(void)base;
	(void)hdr;
	(void)body;
	snprintf(calls + strlen(calls), sizeof(calls) - strlen(calls),
		 "%s %s\n", method, path);
	*status = 0;
	*resp = NULL;
	*len = 0;
	if (!st || st->status == 0) {
		script_at += st != NULL;
		snprintf(err, errlen, "Connection refused");
		return -ECONNREFUSED;
	}
	if (strcmp(st->method, method) != 0 ||
	    strncmp(st->path, path, strlen(st->path)) != 0)
		fail_msg("request %zu: %s %s, want %s %s", script_at, method,
			 path, st->method, st->path);
	script_at++;
	*status = st->status;
	*resp = strdup(st->body);
	*len = strlen(st->body);
	return 0;
}

static void play(const struct step *s, size_t n)
{
	script = s;
	script_n = n;
	script_at = 0;
	calls[0] = '\0';
}

static char dir[] = "/tmp/vg-unit-cs-XXXXXX";

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return remove_tree(dir);
}

/* A config whose credentials exist (mode 0600) and whose state file is
 * new in the temp dir. */
static void config(struct vg_config *c, const char *name)
{
	char key[VG_PATH_MAX];
	FILE *f;

	vg_config_defaults(c);
	snprintf(c->state_path, sizeof(c->state_path), "%s/%s", dir, name);
	snprintf(c->cs_url, sizeof(c->cs_url), "http://127.0.0.1:1");
	snprintf(key, sizeof(key), "%s/secret", dir);
	f = fopen(key, "w");
	assert_non_null(f);
	fputs("s3cret\n", f);
	fclose(f);
	assert_int_equal(chmod(key, 0600), 0);
	snprintf(c->cs_bouncer_key, sizeof(c->cs_bouncer_key), "%s", key);
	snprintf(c->cs_password, sizeof(c->cs_password), "%s", key);
	snprintf(c->cs_machine, sizeof(c->cs_machine), "vps-1");
	c->cs_pull = c->cs_push = true;
}

static struct vg_addr A(const char *s)
{
	struct vg_addr a;

	assert_int_equal(vg_cidr_parse(s, &a), 0);
	return a;
}

static void put_dec(struct cs_link *l, int64_t id, const char *net,
		    int64_t until, const char *origin)
{
	struct cs_decision d = { id, A(net), until, "" };

	snprintf(d.origin, sizeof(d.origin), "%s", origin);
	assert_int_equal(cs_add_decision(l, &d), 0);
}

/* (an lvalue for calls that take a pointer) */
static const struct vg_addr *addr(const char *s)
{
	static struct vg_addr a;

	a = A(s);
	return &a;
}

static bool want_has(const struct cs_link *l, const struct vg_config *c,
		     int64_t now, const char *addr, size_t *n)
{
	struct vg_nft_elem e[1024];
	struct vg_addr a = A(addr);

	assert_true(cs_want_max(l) <= 1024);
	*n = cs_want(l, c, now, NULL, 0, e);
	for (size_t i = 0; i < *n; i++)
		if (vg_addr_equal(&e[i].addr, &a))
			return true;
	return false;
}

#define NOW	1795300000

static void test_store_roundtrip(void **state)
{
	struct vg_config c;
	struct cs_link l = { 0 }, m = { 0 };
	struct cs_push p = { A("203.0.113.30"), NOW - 60, NOW + 3600, 2, true };
	struct cs_retract r = { A("2001:db8:66::/64"), NOW - 5, NOW + 600 };
	struct cs_lift f = { 4, A("203.0.113.65"), NOW + 60 };
	char err[256], path[VG_PATH_MAX + 16];
	FILE *fp;

	(void)state;
	config(&c, "roundtrip");
	put_dec(&l, 4, "203.0.113.64/30", NOW + 60, "cscli");
	put_dec(&l, 3, "2001:db8:77::/64", NOW + 90, "");
	assert_int_equal(cs_add_push(&l, &p), 0);
	assert_int_equal(cs_add_retract(&l, &r), 0);
	assert_int_equal(cs_add_lift(&l, &f), 0);
	f.id = 2;
	assert_int_equal(cs_add_lift(&l, &f), 0);
	assert_int_equal(l.lift[0].id, 2);	/* kept sorted */
	l.baseline = true;
	assert_int_equal(cs_save(&l, &c, err, sizeof(err)), 0);
	assert_int_equal(cs_load(&m, &c, true), 0);
	assert_true(m.baseline);
	assert_int_equal(m.n_dec, 2);
	assert_string_equal(m.dec[0].origin, "cscli");
	assert_string_equal(m.dec[1].origin, "");
	assert_int_equal(m.n_push, 1);
	assert_true(m.push[0].done);
	assert_int_equal(m.n_rt, 1);
	assert_true(vg_addr_equal(&m.rt[0].key, &r.key));
	assert_int_equal(m.rt[0].at, NOW - 5);
	assert_int_equal(m.rt[0].until, NOW + 600);
	assert_int_equal(m.n_lift, 2);
	assert_true(cs_lifted(&m, 4, &f.net));
	assert_false(cs_lifted(&m, 3, &f.net));
	cs_free(&m);
	cs_free(&l);

	/* a file of the previous layout (no origin, no l or x lines) */
	assert_int_equal(cs_path(&c, path, sizeof(path)), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("pam_vpsguard-crowdsec 1\nlink 1 5 6 0 0\nd 7 1795300100 "
	      "192.0.2.7\nend 1\n", fp);
	fclose(fp);
	assert_int_equal(cs_load(&m, &c, true), 0);
	assert_int_equal(m.n_dec, 1);
	cs_free(&m);
	/* a retraction without its times is corruption */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("pam_vpsguard-crowdsec 1\nx 192.0.2.7 5\nend 1\n", fp);
	fclose(fp);
	assert_int_equal(cs_load(&m, &c, true), -EBADMSG);
	cs_free(&m);
}

/* A lift holds back one decision, for what was unbanned: one address of
 * a range, a whole Ip decision, an IPv6 key; --all every one. */
static void test_unban_lifts(void **state)
{
	struct vg_config c;
	struct cs_link l = { 0 };
	struct cs_unban_report r;
	size_t n;

	(void)state;
	config(&c, "lifts");
	c.cs_pull = c.cs_push = false;		/* no requests */
	put_dec(&l, 1, "203.0.113.9", NOW + 3600, "cscli");
	put_dec(&l, 2, "203.0.113.64/30", NOW + 3600, "crowdsec");
	put_dec(&l, 3, "2001:db8:77::5", NOW + 3600, "CAPI");
	assert_true(want_has(&l, &c, NOW, "203.0.113.65", &n));
	assert_int_equal(n, 6);

	cs_unban(&l, &c, addr("203.0.113.65"), NOW, &r);
	assert_int_equal(r.lifted, 1);
	assert_int_equal(r.lifted_id, 2);
	assert_string_equal(r.lifted_origin, "crowdsec");
	assert_true(l.dirty);
	assert_false(want_has(&l, &c, NOW, "203.0.113.65", &n));
	assert_true(want_has(&l, &c, NOW, "203.0.113.64", &n));
	assert_int_equal(n, 5);
	/* again: nothing more to lift */
	cs_unban(&l, &c, addr("203.0.113.65"), NOW, &r);
	assert_int_equal(r.lifted, 0);

	cs_unban(&l, &c, addr("2001:db8:77::/64"), NOW, &r);
	assert_int_equal(r.lifted, 1);
	assert_false(want_has(&l, &c, NOW, "2001:db8:77::/64", &n));
	assert_int_equal(n, 4);
	/* an address nothing drops */
	cs_unban(&l, &c, addr("192.0.2.1"), NOW, &r);
	assert_int_equal(r.lifted + r.retracts + r.dropped, 0);

	cs_unban(&l, &c, NULL, NOW, &r);
	assert_int_equal(r.lifted, 2);		/* .9, and the rest of /30 */
	want_has(&l, &c, NOW, "203.0.113.9", &n);
	assert_int_equal(n, 0);

	/* a lift goes with its decision: a new one is applied */
	l.dec[0].until = NOW - 1;
	cs_prune(&l, NOW);
	assert_false(cs_lift_any(&l, 1));
	put_dec(&l, 11, "203.0.113.9", NOW + 3600, "cscli");
	assert_true(want_has(&l, &c, NOW, "203.0.113.9", &n));
	cs_free(&l);
}

static const char alerts_30[] =
	"[{\"id\":7,\"machine_id\":\"vps-1\",\"scenario\":\""
	LAPI_SCENARIO "\",\"decisions\":[{\"id\":10,\"duration\":\"59m\"},"
	"{\"id\":9,\"duration\":\"-3s\"}]},"
	"{\"id\":8,\"machine_id\":\"vps-2\",\"scenario\":\"" LAPI_SCENARIO
	"\",\"decisions\":[{\"id\":12,\"duration\":\"59m\"}]},"
	"{\"id\":9,\"machine_id\":\"vps-1\",\"scenario\":\"other\","
	"\"decisions\":[{\"id\":13,\"duration\":\"59m\"}]}]";

static const char stream_30[] =
	"{\"new\":[{\"id\":10,\"duration\":\"59m\",\"origin\":\"crowdsec\","
	"\"scenario\":\"" LAPI_SCENARIO "\",\"scope\":\"Ip\",\"type\":\"ban\","
	"\"value\":\"203.0.113.30\"},{\"id\":12,\"duration\":\"2h\","
	"\"origin\":\"crowdsec\",\"scenario\":\"x\",\"scope\":\"Ip\","
	"\"type\":\"ban\",\"value\":\"203.0.113.31\"}],\"deleted\":null}";

/* unban: a pull, our decisions deleted (only ours, only active ones),
 * the rest lifted; retracted decisions are not "lifted here only". */
static void test_unban_retracts(void **state)
{
	static const struct step s[] = {
		{ "GET", "/v1/decisions/stream?startup=true", 200, stream_30 },
		{ "POST", "/v1/watchers/login", 200, "{\"token\":\"t.k\"}" },
		{ "GET", "/v1/alerts?scope=Ip&value=203.0.113.30&scenario="
		  LAPI_SCENARIO, 200, alerts_30 },
		{ "DELETE", "/v1/decisions/10", 200, "{\"nbDeleted\":\"1\"}" },
	};
	struct vg_config c;
	struct cs_link l = { 0 };
	struct cs_push p = { A("203.0.113.30"), NOW - 60, NOW + 3600, 2, true };
	struct cs_unban_report r;
	size_t n;

	(void)state;
	config(&c, "retract");
	assert_int_equal(cs_add_push(&l, &p), 0);
	play(s, 4);
	cs_unban(&l, &c, &p.key, NOW, &r);
	assert_int_equal(script_at, 4);
	assert_null(strstr(calls, "/v1/decisions/12"));
	assert_null(strstr(calls, "/v1/decisions/13"));
	assert_null(strstr(calls, "/v1/decisions/9"));
	assert_int_equal(r.retracts, 1);
	assert_int_equal(r.deleted, 1);
	assert_int_equal(r.queued, 0);
	assert_int_equal(r.lifted, 0);
	assert_int_equal(l.n_rt, 0);
	assert_int_equal(l.n_push, 0);
	assert_int_equal(cs_find_decision(&l, 10), -1);
	assert_false(want_has(&l, &c, NOW, "203.0.113.30", &n));
	assert_true(want_has(&l, &c, NOW, "203.0.113.31", &n));
	assert_string_equal(l.error, "");
	cs_free(&l);
}

/* LAPI down: the retraction waits in the file, our decision as pulled
 * is lifted meanwhile; the next exchange sends the retraction before a
 * push, so a source banned again is never retracted after its new push. */
static void test_unban_queued(void **state)
{
	static const struct step down[] = { { "GET", "/", 0, "" } };
	static const struct step back[] = {
		{ "GET", "/v1/decisions/stream", 200,
		  "{\"new\":null,\"deleted\":null}" },
		{ "POST", "/v1/watchers/login", 200, "{\"token\":\"t.k\"}" },
		{ "GET", "/v1/alerts?scope=Ip&value=203.0.113.30", 200,
		  alerts_30 },
		{ "DELETE", "/v1/decisions/10", 200, "{\"nbDeleted\":\"1\"}" },
		{ "POST", "/v1/alerts", 201, "[\"21\"]" },
	};
	struct vg_config c;
	struct cs_link l = { 0 }, m = { 0 };
	struct cs_push p = { A("203.0.113.30"), NOW - 60, NOW + 3600, 2, true };
	struct cs_unban_report r;
	char err[256];
	bool changed;
	size_t n;

	(void)state;
	config(&c, "queued");
	c.cs_interval = 1;
	l.baseline = true;
	put_dec(&l, 10, "203.0.113.30", NOW + 3600, "crowdsec");
	assert_int_equal(cs_add_push(&l, &p), 0);
	play(down, 1);
	cs_unban(&l, &c, &p.key, NOW, &r);
	assert_int_equal(r.queued, 1);
	assert_int_equal(r.deleted, 0);
	assert_non_null(strstr(r.link_err, "Connection refused"));
	assert_int_equal(r.lifted, 1);
	assert_int_equal(r.lifted_id, 10);
	assert_false(want_has(&l, &c, NOW, "203.0.113.30", &n));
	assert_int_equal(cs_save(&l, &c, err, sizeof(err)), 0);
	cs_free(&l);

	/* a new process: from the file alone; banned again meanwhile */
	assert_int_equal(cs_refresh(&m, &c, false, &changed), 0);
	assert_true(changed);
	assert_int_equal(m.n_rt, 1);
	cs_note_drop(&m, &p.key, NOW + 5, NOW + 7200, 3);
	play(back, 5);
	assert_int_equal(cs_exchange(&m, &c, NOW + 10, &changed), 0);
	assert_int_equal(script_at, 5);
	assert_int_equal(m.n_rt, 0);
	assert_true(m.push[0].done);
	assert_string_equal(m.error, "");
	cs_free(&m);
}

static void test_our_decisions(void **state)
{
	int64_t ids[4];
	size_t n;
	bool more;

	(void)state;
	assert_int_equal(lapi_parse_our_decisions(alerts_30,
			 strlen(alerts_30), "vps-1", ids, 4, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 10);
	assert_false(more);
	assert_int_equal(lapi_parse_our_decisions(alerts_30,
			 strlen(alerts_30), "vps-2", ids, 4, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 12);
	assert_int_equal(lapi_parse_our_decisions(alerts_30,
			 strlen(alerts_30), "vps-2", ids, 0, &n, &more), 0);
	assert_true(more);
	assert_int_equal(lapi_parse_our_decisions(" null\n", 6, "vps-1", ids,
						  4, &n, &more), 0);
	assert_int_equal(n, 0);
	assert_int_equal(lapi_parse_our_decisions("[]", 2, "vps-1", ids, 4,
						  &n, &more), 0);
	assert_int_equal(lapi_parse_our_decisions("{}", 2, "vps-1", ids, 4,
						  &n, &more), -EBADMSG);
	assert_int_equal(lapi_parse_our_decisions("[1]", 3, "vps-1", ids, 4,
						  &n, &more), -EBADMSG);
	assert_int_equal(lapi_parse_our_decisions("nul", 3, "vps-1", ids, 4,
						  &n, &more), -EBADMSG);
}

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* flock: per open file, so two links in one process exclude each other
 * as two processes do. */
static void test_lock(void **state)
{
	struct vg_config c;
	struct cs_link a = { 0 }, b = { 0 };
	char err[512], want[64];
	struct timespec t0;

	(void)state;
	config(&c, "sub/lock");		/* its directory is made */
	assert_int_equal(cs_lock(&a, &c, 0, err, sizeof(err)), 0);
	assert_int_equal(cs_lock(&a, &c, 0, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(cs_lock(&b, &c, 300, err, sizeof(err)), -EWOULDBLOCK);
	assert_true(ms_since(&t0) >= 300);
	assert_true(ms_since(&t0) < 2000);
	snprintf(want, sizeof(want), "held by pid %ld", (long)getpid());
	assert_non_null(strstr(err, want));
	assert_false(b.locked);
	cs_unlock(&a);
	assert_int_equal(cs_lock(&b, &c, 0, err, sizeof(err)), 0);
	cs_free(&b);			/* unlocks */
	assert_int_equal(cs_lock(&a, &c, 0, err, sizeof(err)), 0);
	cs_free(&a);
}

/* Another writer's version is read again; our own is not. */
static void test_refresh(void **state)
{
	struct vg_config c;
	struct cs_link a = { 0 }, b = { 0 };
	char err[256];
	bool changed;

	(void)state;
	config(&c, "refresh");
	assert_int_equal(cs_refresh(&a, &c, false, &changed), 0);
	assert_true(changed);
	assert_int_equal(cs_refresh(&a, &c, false, &changed), 0);
	assert_false(changed);
	a.next_pull = 42;		/* this process only */
	snprintf(a.token, sizeof(a.token), "tok");
	put_dec(&a, 1, "192.0.2.1", NOW + 60, "x");
	assert_int_equal(cs_save(&a, &c, err, sizeof(err)), 0);
	assert_int_equal(cs_refresh(&a, &c, false, &changed), 0);
	assert_false(changed);

	assert_int_equal(cs_refresh(&b, &c, false, &changed), 0);
	put_dec(&b, 2, "192.0.2.2", NOW + 60, "y");
	assert_int_equal(cs_save(&b, &c, err, sizeof(err)), 0);

	assert_int_equal(cs_refresh(&a, &c, false, &changed), 0);
	assert_true(changed);
	assert_int_equal(a.n_dec, 2);
	assert_int_equal(a.next_pull, 42);
	assert_string_equal(a.token, "tok");
	cs_free(&a);
	cs_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_stream_nulls),
		cmocka_unit_test(test_stream_skips),
		cmocka_unit_test(test_stream_rejects),
		cmocka_unit_test(test_stream_cap),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_login_json),
		cmocka_unit_test(test_alerts_json),
		cmocka_unit_test(test_our_decisions),
		cmocka_unit_test(test_store_roundtrip),
		cmocka_unit_test(test_unban_lifts),
		cmocka_unit_test(test_unban_retracts),
		cmocka_unit_test(test_unban_queued),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_refresh),
	};

	return cmocka_run_group_tests_name("crowdsec", tests, group_setup,
					   group_teardown);
}

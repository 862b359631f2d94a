/* Unit tests for helper/lapi_json.c: the JSON of CrowdSec's Local API
 * (decision stream, Go durations, login token, the alerts we push).
 * The file is #included: it is helper code, linked with json-c, and
 * never part of lib/ (the PAM module must not pull json-c in). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../helper/lapi_json.c"

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
	};

	return cmocka_run_group_tests_name("crowdsec", tests, NULL, NULL);
}

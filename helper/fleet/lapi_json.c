/*
 * The JSON of the CrowdSec Local API, both ways (json-c).
 *
 * Parsing is strict about shape and lenient about content: a stream
 * answer that is not {"new": [...]|null, "deleted": [...]|null} is
 * rejected as a whole, while one decision we cannot use (a captcha, a
 * Country scope, a value that is not an address) is counted and
 * skipped, so one odd entry never blocks every other ban.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lapi.h"
#include "log.h"

/* Ten years, as for our own durations: nothing longer is meaningful. */
#define DUR_MAX_MS	(10ll * 365 * 86400 * 1000)

static const struct {
	const char *unit;
	double ms;
} go_units[] = {
	/* longest names first, so "ms" is not read as "m" then "s" */
	{ "ns", 1e-6 }, { "us", 1e-3 }, { "\xc2\xb5s", 1e-3 },
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
};

int lapi_parse_duration(const char *s, int64_t *ms)
{
	double total = 0;
	bool neg = false;
	size_t i;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		size_t digits = strspn(s, "0123456789."), dots = 0;
		char num[32];
		double v;

		/* Go's own notation only: no exponent, no sign, one dot. */
		for (i = 0; i < digits; i++)
			dots += s[i] == '.';
		if (digits == 0 || digits >= sizeof(num) || dots > 1 ||
		    digits == dots)
			return -EINVAL;
		memcpy(num, s, digits);
		num[digits] = '\0';
		v = strtod(num, NULL);
		s += digits;
		for (i = 0; i < sizeof(go_units) / sizeof(go_units[0]); i++)
			if (strncmp(s, go_units[i].unit,
				    strlen(go_units[i].unit)) == 0)
				break;
		if (i == sizeof(go_units) / sizeof(go_units[0]))
			return -EINVAL;
		s += strlen(go_units[i].unit);
		total += v * go_units[i].ms;
		if (total > (double)DUR_MAX_MS)
			return -EINVAL;
	}
	*ms = neg ? -(int64_t)total : (int64_t)total;
	return 0;
}

static const char *str_field(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* One decision; false when it is not a ban we can apply. */
static bool parse_decision(struct json_object *o, struct lapi_decision *d)
{
	const char *type = str_field(o, "type"), *scope = str_field(o, "scope");
	const char *value = str_field(o, "value");
	const char *dur = str_field(o, "duration");
	const char *origin = str_field(o, "origin");
	const char *scen = str_field(o, "scenario");
	struct json_object *id;

	memset(d, 0, sizeof(*d));
	if (!json_object_is_type(o, json_type_object) || !type || !scope ||
	    !value || !dur || !json_object_object_get_ex(o, "id", &id) ||
	    !json_object_is_type(id, json_type_int))
		return false;
	if (strcasecmp(type, "ban") != 0 ||
	    strlen(value) >= VG_ADDR_TEXT_MAX)
		return false;
	d->id = json_object_get_int64(id);
	if (strcasecmp(scope, "ip") == 0) {
		if (vg_addr_parse(value, &d->net) != 0)
			return false;
	} else if (strcasecmp(scope, "range") == 0) {
		if (vg_cidr_parse(value, &d->net) != 0)
			return false;
		d->range = true;
	} else {
		return false;
	}
	if (lapi_parse_duration(dur, &d->duration_ms) != 0)
		return false;
	vg_sanitize(d->origin, sizeof(d->origin), origin ? origin : "?");
	vg_sanitize(d->scenario, sizeof(d->scenario), scen ? scen : "?");
	return true;
}

/* "new" or "deleted": null or an array.  Takes at most *room decisions. */
static int parse_list(struct json_object *root, const char *key,
		      struct lapi_decision **out, size_t *n, size_t *room,
		      struct lapi_stream *s)
{
	struct json_object *a;
	size_t len, i;

	*out = NULL;
	*n = 0;
	if (!json_object_object_get_ex(root, key, &a) ||
	    json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -EBADMSG;
	len = json_object_array_length(a);
	if (len > *room) {
		s->over_cap += len - *room;
		len = *room;
	}
	if (len == 0)
		return 0;
	*out = calloc(len, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		if (parse_decision(json_object_array_get_idx(a, i),
				   &(*out)[*n]))
			(*n)++;
		else
			s->ignored++;
	}
	*room -= len;
	return 0;
}

/* Parse len bytes (no NUL needed) with the nesting bounded. */
static struct json_object *parse(const char *body, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(LAPI_JSON_DEPTH);
	struct json_object *o;

	if (!tok || len > LAPI_RESP_MAX) {
		if (tok)
			json_tokener_free(tok);
		return NULL;
	}
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len) {
		/* trailing junk after the document, or a truncated one */
		if (o && json_tokener_get_error(tok) == json_tokener_success &&
		    strspn(body + tok->char_offset, " \t\r\n") ==
		    len - (size_t)tok->char_offset) {
			json_tokener_free(tok);
			return o;
		}
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int lapi_parse_stream(const char *body, size_t len, struct lapi_stream *out,
		      char *err, size_t errlen)
{
	struct json_object *root = parse(body, len);
	size_t room = LAPI_DECISIONS_MAX;
	int ret = -EBADMSG;

	memset(out, 0, sizeof(*out));
	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "decision stream: not a JSON object");
		goto out;
	}
	ret = parse_list(root, "deleted", &out->deleted, &out->n_deleted,
			 &room, out);
	if (!ret)
		ret = parse_list(root, "new", &out->added, &out->n_added,
				 &room, out);
	if (ret == -EBADMSG)
		snprintf(err, errlen, "decision stream: \"new\" or "
			 "\"deleted\" is not a list");
	else if (ret)
		snprintf(err, errlen, "decision stream: %s", strerror(-ret));
	if (ret)
		lapi_stream_free(out);
out:
	json_object_put(root);
	return ret;
}

void lapi_stream_free(struct lapi_stream *s)
{
	free(s->added);
	free(s->deleted);
	memset(s, 0, sizeof(*s));
}

char *lapi_login_json(const char *machine, const char *password)
{
	struct json_object *o = json_object_new_object(), *sc;
	char *ret = NULL;

	sc = json_object_new_array();
	if (!o || !sc)
		goto out;
	json_object_array_add(sc, json_object_new_string(LAPI_SCENARIO));
	json_object_object_add(o, "machine_id",
			       json_object_new_string(machine));
	json_object_object_add(o, "password",
			       json_object_new_string(password));
	json_object_object_add(o, "scenarios", sc);
	sc = NULL;
	ret = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(sc);
	json_object_put(o);
	return ret;
}

int lapi_parse_token(const char *body, size_t len, char *tok, size_t toklen)
{
	struct json_object *root = parse(body, len);
	const char *t;
	int ret = -EBADMSG;

	if (!root || !json_object_is_type(root, json_type_object))
		goto out;
	t = str_field(root, "token");
	/* It goes into a header line: printable, no spaces. */
	if (!t || !*t || strlen(t) >= toklen ||
	    strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789-_.=+/") != strlen(t))
		goto out;
	strcpy(tok, t);
	ret = 0;
out:
	json_object_put(root);
	return ret;
}

static void iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A v6 key is a prefix; v4 and full-length v6 keys are addresses. */
static bool key_is_range(const struct vg_addr *key)
{
	return key->family == VG_FAMILY_V6 && key->prefix < 128;
}

int lapi_alerts_query(const struct vg_addr *key, char *buf, size_t len)
{
	char val[VG_ADDR_STRLEN];
	int n;

	/* ':' and '/' may stand in a query as they are (RFC 3986 3.4) */
	vg_addr_format(key, val, sizeof(val));
	n = snprintf(buf, len, "?scope=%s&value=%s&scenario=%s",
		     key_is_range(key) ? "Range" : "Ip", val, LAPI_SCENARIO);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* One alert's decisions that are still active, appended to ids. */
static void active_ids(struct json_object *alert, int64_t *ids, size_t max,
		       size_t *n, bool *more)
{
	struct json_object *ds, *d, *id;
	int64_t ms;

	if (!json_object_object_get_ex(alert, "decisions", &ds) ||
	    !json_object_is_type(ds, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(ds); i++) {
		d = json_object_array_get_idx(ds, i);
		if (!json_object_is_type(d, json_type_object) ||
		    !json_object_object_get_ex(d, "id", &id) ||
		    !json_object_is_type(id, json_type_int) ||
		    json_object_get_int64(id) <= 0 ||
		    lapi_parse_duration(str_field(d, "duration"), &ms) != 0 ||
		    ms <= 0)
			continue;
		if (*n == max) {
			*more = true;
			return;
		}
		ids[(*n)++] = json_object_get_int64(id);
	}
}

static bool is_null(const char *body, size_t len)
{
	size_t i = strspn(body, " \t\r\n");

	if (i > len || len - i < 4 || memcmp(body + i, "null", 4) != 0)
		return false;
	for (i += 4; i < len; i++)
		if (!strchr(" \t\r\n", body[i]) || body[i] == '\0')
			return false;
	return true;
}

int lapi_parse_our_decisions(const char *body, size_t len,
			     const char *machine, int64_t *ids, size_t max,
			     size_t *n, bool *more)
{
	struct json_object *root = parse(body, len), *a;
	const char *m, *scen;
	int ret = -EBADMSG;

	*n = 0;
	*more = false;
	/* LAPI 1.4.6 answers null when no alert matches */
	if (!root && is_null(body, len))
		return 0;
	if (!root || !json_object_is_type(root, json_type_array))
		goto out;
	for (size_t i = 0; i < json_object_array_length(root); i++) {
		a = json_object_array_get_idx(root, i);
		if (!json_object_is_type(a, json_type_object))
			goto out;
		m = str_field(a, "machine_id");
		scen = str_field(a, "scenario");
		/* Only what this machine sent, with our scenario: another
		 * host's bans are its own business. */
		if (m && scen && strcmp(m, machine) == 0 &&
		    strcmp(scen, LAPI_SCENARIO) == 0)
			active_ids(a, ids, max, n, more);
	}
	ret = 0;
out:
	json_object_put(root);
	return ret;
}

static struct json_object *alert(const struct lapi_alert *a, int64_t now)
{
	struct json_object *o = json_object_new_object(), *src, *dec, *ds;
	char val[VG_ADDR_STRLEN], msg[256], start[32], stop[32], dur[32];
	bool range = key_is_range(&a->key);
	const char *scope = range ? "Range" : "Ip";

	if (!o)
		return NULL;
	vg_addr_format(&a->key, val, sizeof(val));
	snprintf(msg, sizeof(msg), "pam_vpsguard: %s banned %u times here "
		 "(persistent offender: nftables drop)", val, a->ban_count);
	iso_time(a->banned_at ? a->banned_at : now, start, sizeof(start));
	iso_time(now, stop, sizeof(stop));
	snprintf(dur, sizeof(dur), "%llds", (long long)a->duration_s);

	json_object_object_add(o, "scenario",
			       json_object_new_string(LAPI_SCENARIO));
	json_object_object_add(o, "scenario_hash", json_object_new_string(""));
	json_object_object_add(o, "scenario_version",
			       json_object_new_string(""));
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_object_add(o, "events_count",
			       json_object_new_int((int)a->ban_count));
	json_object_object_add(o, "start_at", json_object_new_string(start));
	json_object_object_add(o, "stop_at", json_object_new_string(stop));
	json_object_object_add(o, "capacity", json_object_new_int(0));
	json_object_object_add(o, "leakspeed", json_object_new_string("0s"));
	json_object_object_add(o, "simulated", json_object_new_boolean(0));
	json_object_object_add(o, "remediation", json_object_new_boolean(1));
	json_object_object_add(o, "events", json_object_new_array());

	src = json_object_new_object();
	json_object_object_add(src, "scope", json_object_new_string(scope));
	json_object_object_add(src, "value", json_object_new_string(val));
	json_object_object_add(src, range ? "range" : "ip",
			       json_object_new_string(val));
	json_object_object_add(o, "source", src);

	/* origin "crowdsec": what `cscli decisions list` shows by default;
	 * the scenario is ours, so the decision stays traceable. */
	dec = json_object_new_object();
	json_object_object_add(dec, "origin", json_object_new_string("crowdsec"));
	json_object_object_add(dec, "type", json_object_new_string("ban"));
	json_object_object_add(dec, "scope", json_object_new_string(scope));
	json_object_object_add(dec, "value", json_object_new_string(val));
	json_object_object_add(dec, "duration", json_object_new_string(dur));
	json_object_object_add(dec, "scenario",
			       json_object_new_string(LAPI_SCENARIO));
	ds = json_object_new_array();
	json_object_array_add(ds, dec);
	json_object_object_add(o, "decisions", ds);
	return o;
}

char *lapi_alerts_json(const struct lapi_alert *a, size_t n, int64_t now)
{
	struct json_object *arr = json_object_new_array(), *o;
	char *ret = NULL;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		o = alert(&a[i], now);
		if (!o)
			goto out;
		json_object_array_add(arr, o);
	}
	ret = strdup(json_object_to_json_string_ext(arr,
						    JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(arr);
	return ret;
}

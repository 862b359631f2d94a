/* CrowdSec Local API (LAPI) on the wire: HTTP requests (lapi_http.c,
 * libcurl) and the JSON we send and accept (lapi_json.c, json-c).
 * Helper only: nothing here is in lib/, so the PAM module never links
 * libcurl or json-c.
 *
 * The LAPI is a remote party we do not control: every answer is bounded
 * (LAPI_RESP_MAX bytes, LAPI_JSON_DEPTH levels, LAPI_DECISIONS_MAX
 * decisions taken from one answer) and every value is checked before it
 * reaches the firewall or a log line.  All return 0 or -errno, with err
 * filled where given; nothing prints. */
#ifndef VG_LAPI_H
#define VG_LAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define LAPI_RESP_MAX		(2u << 20)	/* bytes of one answer */
#define LAPI_JSON_DEPTH		8
#define LAPI_DECISIONS_MAX	10000	/* new + deleted from one answer */
#define LAPI_TIMEOUT_MS		3000	/* a whole request */
#define LAPI_CONNECT_MS		1500
#define LAPI_TOKEN_MAX		2048
#define LAPI_SCENARIO		"pam_vpsguard/ssh-bruteforce"

struct lapi_decision {
	int64_t id;
	struct vg_addr net;	/* Ip: prefix 32/128; Range: the prefix */
	bool range;
	int64_t duration_ms;	/* remaining; <= 0: already expired */
	char origin[32];	/* sanitised, for the log */
	char scenario[96];
};

struct lapi_stream {
	struct lapi_decision *added, *deleted;	/* malloc'd */
	size_t n_added, n_deleted;
	size_t ignored;		/* not a ban, another scope, bad value */
	size_t over_cap;	/* beyond LAPI_DECISIONS_MAX */
};

/* GET /v1/decisions/stream answer: {"new": [...]|null, "deleted":
 * [...]|null}.  Entries we cannot use are counted, not fatal; a
 * document that is not this shape is -EBADMSG. */
int lapi_parse_stream(const char *body, size_t len, struct lapi_stream *out,
		      char *err, size_t errlen);
void lapi_stream_free(struct lapi_stream *s);

/* A Go duration ("3h59m58.81s", "-14.9ms", "90s") to milliseconds,
 * rounded toward zero.  -EINVAL on anything else, or beyond ten years. */
int lapi_parse_duration(const char *s, int64_t *ms);

/* POST /v1/watchers/login body, and the token from its answer. */
char *lapi_login_json(const char *machine, const char *password);
int lapi_parse_token(const char *body, size_t len, char *tok, size_t toklen);

/* GET /v1/alerts answer: the ids of the decisions still active in the
 * alerts of scenario LAPI_SCENARIO that machine sent (what this host
 * pushed), at most max of them (*more: there were others).  -EBADMSG
 * when the answer is not a list of alerts. */
int lapi_parse_our_decisions(const char *body, size_t len,
			     const char *machine, int64_t *ids, size_t max,
			     size_t *n, bool *more);

/* The query string of GET /v1/alerts for what we pushed about key
 * ("?scope=Ip&value=...&scenario=..."), as lapi_alerts_json() names it. */
int lapi_alerts_query(const struct vg_addr *key, char *buf, size_t len);

/* One alert per persistent offender, each carrying one ban decision. */
struct lapi_alert {
	struct vg_addr key;	/* IPv4 address, or the IPv6 key prefix */
	int64_t banned_at;	/* wall clock */
	int64_t duration_s;	/* remaining */
	uint32_t ban_count;
};
/* The JSON array for POST /v1/alerts (malloc'd), NULL on ENOMEM. */
char *lapi_alerts_json(const struct lapi_alert *a, size_t n, int64_t now);

/* One request.  method: "GET", "POST" or "DELETE"; base: crowdsec.url;
 * path: "/v1/...".  hdr: one extra header line ("X-Api-Key: ..."), or
 * NULL.  body: JSON to send (POST), or NULL.  *status: the HTTP status
 * (0 if none arrived); *resp
 * (malloc'd, NUL-terminated, at most LAPI_RESP_MAX) and *len: the answer.
 * A transport failure (refused, timeout, TLS, too large) is -EIO,
 * -ETIMEDOUT, -EFBIG... with err saying what. */
int lapi_request(const char *method, const char *base, const char *path,
		 const char *hdr, const char *body, long *status, char **resp,
		 size_t *len, char *err, size_t errlen);

#endif

/*
 * The CrowdSec link: what to pull, what to push and retract, when to try
 * again.
 *
 * Timing: the helper calls cs_exchange() once per pass, after its local
 * work (state file, drop sets) is done, so a LAPI that hangs delays
 * nothing of ours.  A request lasts at most LAPI_TIMEOUT_MS; after a
 * failure no request is made before a backoff of 5 s doubling to 5 min
 * (the daemon; every `sync` is an explicit request and tries once); and
 * a failed pull skips the push of the same pass, so a LAPI that is down
 * costs one attempt per pass at most.  The caller holds the link's lock:
 * no request starts after CS_BUDGET_MS (cs_budget_start()), so others
 * never wait for it long.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

#include "crowdsec.h"
#include "lapi.h"
#include "log.h"

#define SECRET_MAX	1024

int cs_read_secret(const char *path, char *buf, size_t len, char *err,
		   size_t errlen)
{
	struct stat st;
	ssize_t r;
	size_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	int ret = -EINVAL;

	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	/* Checked on the open fd: no window for a swap. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 077)) {
		ret = -EPERM;
		snprintf(err, errlen, "%s: refused: a credential file must be "
			 "owned by root and not accessible to group or others "
			 "(chown root; chmod 600)", path);
		goto out;
	}
	r = read(fd, buf, len - 1);
	if (r < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	n = (size_t)r;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
		     buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (n == 0 || (size_t)r == len - 1) {
		snprintf(err, errlen, "%s: %s", path, n ? "too long" : "empty");
		goto out;
	}
	/* It goes into a header line or JSON: one printable line. */
	for (size_t i = 0; i < n; i++) {
		if (buf[i] < 0x20 || buf[i] == 0x7f) {
			snprintf(err, errlen, "%s: more than one line, or "
				 "control characters", path);
			goto out;
		}
	}
	ret = 0;
out:
	if (ret)
		explicit_bzero(buf, len);
	close(fd);
	return ret;
}

/* Record a failure.  Logged when the reason changes, not on every retry
 * of the same outage. */
void cs_failed(struct cs_link *l, int64_t now, const char *fmt, ...)
{
	char msg[CS_ERR_MAX], clean[CS_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vg_sanitize(clean, sizeof(clean), msg);
	if (strcmp(clean, l->error) != 0)
		vg_log(LOG_WARNING, "crowdsec: %s (local bans go on; "
		       "retrying with backoff)", clean);
	snprintf(l->error, sizeof(l->error), "%s", clean);
	l->fails++;
	l->error_at = now;
	l->dirty = true;
}

/* 5 s, 10 s, 20 s ... 5 min after the 1st, 2nd, 3rd ... failure. */
static int64_t backoff(unsigned int *fails, int64_t now)
{
	unsigned int shift = *fails > 6 ? 6 : *fails;
	int64_t wait = (int64_t)CS_BACKOFF_MIN << shift;

	(*fails)++;
	return now + (wait > CS_BACKOFF_MAX ? CS_BACKOFF_MAX : wait);
}

void cs_succeeded(struct cs_link *l)
{
	if (l->fails || l->error[0]) {
		vg_log(LOG_NOTICE, "crowdsec: link up again");
		l->dirty = true;
	}
	l->fails = 0;
	l->error[0] = '\0';
	l->next_try = 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Other processes wait for our lock while we talk to LAPI: no request
 * starts once CS_BUDGET_MS are spent (see crowdsec.h). */
void cs_budget_start(struct cs_link *l)
{
	l->budget_end = mono_ms() + CS_BUDGET_MS;
}

static bool budget_spent(const struct cs_link *l)
{
	return l->budget_end && mono_ms() >= l->budget_end;
}

long cs_find_decision(const struct cs_link *l, int64_t id)
{
	for (size_t i = 0; i < l->n_dec; i++)
		if (l->dec[i].id == id)
			return (long)i;
	return -1;
}

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Lifts whose decision is gone (deleted, expired, not in a full list)
 * are forgotten: a lift holds one decision back, not the source. */
static void prune_lifts(struct cs_link *l, int64_t now)
{
	int64_t *ids = l->n_lift ? malloc((l->n_dec + 1) * sizeof(*ids)) :
		       NULL;
	size_t k = 0;

	/* (without memory: by time only, this once) */
	for (size_t i = 0; ids && i < l->n_dec; i++)
		ids[i] = l->dec[i].id;
	if (ids)
		qsort(ids, l->n_dec, sizeof(*ids), id_cmp);
	for (size_t i = 0; i < l->n_lift; i++)
		if (l->lift[i].until > now &&
		    (!ids || bsearch(&l->lift[i].id, ids, l->n_dec,
				     sizeof(*ids), id_cmp)))
			l->lift[k++] = l->lift[i];
	free(ids);
	if (k != l->n_lift)
		l->dirty = true;
	l->n_lift = k;
}

/* One new decision from the stream: kept unless it cannot be applied.
 * Logged once, here, with its origin. */
static bool take(struct cs_link *l, const struct vg_config *c,
		 const struct lapi_decision *d, int64_t now)
{
	struct cs_decision cd = { d->id, d->net, 0, "" };
	char a[VG_ADDR_STRLEN], dur[32];
	long i = cs_find_decision(l, d->id);
	int64_t secs = (d->duration_ms + 999) / 1000;

	if (d->duration_ms <= 0)
		return false;
	cd.until = now + secs;
	if (i >= 0) {
		if (l->dec[i].until == cd.until)
			return false;
		l->dec[i].until = cd.until;
		return true;
	}
	/* one word in the file: the origin is sanitised, spaces cut */
	snprintf(cd.origin, sizeof(cd.origin), "%s", d->origin);
	for (char *p = cd.origin; *p; p++)
		if (*p == ' ')
			*p = '_';
	vg_addr_format(&d->net, a, sizeof(a));
	vg_duration_format((uint64_t)secs, dur, sizeof(dur));
	/* drop4 holds addresses, drop6 keys of ipv6.prefix bits: a range
	 * wider than that is many elements (v4: at most 256 expanded) or
	 * cannot be one (v6: a /48 is 65536 keys of /64) -- not applied
	 * rather than applied in part. */
	if (d->net.family == VG_FAMILY_V4 && d->net.prefix < CS_V4_RANGE_MIN) {
		vg_log(LOG_WARNING, "crowdsec: decision %lld ban %s from %s "
		       "(%s) not applied: IPv4 ranges wider than /%d are not "
		       "supported", (long long)d->id, a, d->origin,
		       d->scenario, CS_V4_RANGE_MIN);
		return false;
	}
	if (d->net.family == VG_FAMILY_V6 && d->net.prefix < c->ipv6_prefix) {
		vg_log(LOG_WARNING, "crowdsec: decision %lld ban %s from %s "
		       "(%s) not applied: wider than ipv6.prefix /%u, the "
		       "unit of drop6", (long long)d->id, a, d->origin,
		       d->scenario, c->ipv6_prefix);
		return false;
	}
	if (cs_add_decision(l, &cd) != 0) {
		vg_log(LOG_WARNING, "crowdsec: decision %lld ban %s not "
		       "applied: more than %d decisions", (long long)d->id, a,
		       CS_DECISIONS_MAX);
		return false;
	}
	vg_log(LOG_NOTICE, "crowdsec: ban %s for %s from %s (%s), decision "
	       "%lld%s", a, dur, d->origin, d->scenario, (long long)d->id,
	       cs_lift_any(l, d->id) ? ": lifted here by an unban, not "
	       "applied" : cs_overlaps_ignore(c, &d->net) ? ": not applied "
	       "while it touches ignoreip" : "");
	return true;
}

static bool forget(struct cs_link *l, const struct lapi_decision *d)
{
	char a[VG_ADDR_STRLEN];
	long i = cs_find_decision(l, d->id);

	if (i < 0)
		return false;
	vg_addr_format(&l->dec[i].net, a, sizeof(a));
	vg_log(LOG_NOTICE, "crowdsec: decision %lld (%s, from %s) deleted",
	       (long long)d->id, a, d->origin);
	l->dec[i] = l->dec[--l->n_dec];
	return true;
}

int cs_pull(struct cs_link *l, const struct vg_config *c, int64_t now,
	    bool *changed)
{
	char key[SECRET_MAX], hdr[SECRET_MAX + 16], err[VG_ERR_MAX];
	bool full = !l->baseline || l->want_full;
	struct lapi_stream s;
	char *resp = NULL;
	size_t len;
	long status;
	int ret = cs_read_secret(c->cs_bouncer_key, key, sizeof(key), err,
				 sizeof(err));

	if (ret) {
		cs_failed(l, now, "crowdsec.bouncer_key: %s", err);
		return ret;
	}
	snprintf(hdr, sizeof(hdr), "X-Api-Key: %s", key);
	explicit_bzero(key, sizeof(key));
	ret = lapi_request("GET", c->cs_url, full ?
			   "/v1/decisions/stream?startup=true" :
			   "/v1/decisions/stream", hdr, NULL, &status, &resp,
			   &len, err, sizeof(err));
	explicit_bzero(hdr, sizeof(hdr));
	if (ret) {
		cs_failed(l, now, "pull: %s", err);
		return ret;
	}
	if (status != 200) {
		cs_failed(l, now, "pull: HTTP %ld%s", status, status == 403 ?
			  " (bouncer key refused)" : "");
		ret = -EPROTO;
		goto out;
	}
	ret = lapi_parse_stream(resp, len, &s, err, sizeof(err));
	if (ret) {
		cs_failed(l, now, "pull: %s", err);
		goto out;
	}
	if (full && l->n_dec) {
		/* A full answer replaces what we had (a LAPI rebuilt, or a
		 * daemon start): drop the old ones not in it. */
		l->n_dec = 0;
		*changed = true;
	}
	for (size_t i = 0; i < s.n_deleted; i++)
		*changed |= forget(l, &s.deleted[i]);
	for (size_t i = 0; i < s.n_added; i++)
		*changed |= take(l, c, &s.added[i], now);
	if (s.ignored || s.over_cap)
		vg_log(LOG_INFO, "crowdsec: %zu decisions not for us (not a "
		       "ban of an Ip or Range), %zu over the limit of %d per "
		       "pull", s.ignored, s.over_cap, LAPI_DECISIONS_MAX);
	lapi_stream_free(&s);
	if (full)
		l->dirty = true;
	l->baseline = true;
	l->want_full = false;
	l->last_pull = now;
	if (*changed) {
		prune_lifts(l, now);
		l->dirty = true;
	}
out:
	free(resp);
	return ret;
}

static int login(struct cs_link *l, const struct vg_config *c, int64_t now)
{
	char pw[SECRET_MAX], err[VG_ERR_MAX];
	char *body = NULL, *resp = NULL;
	size_t len;
	long status;
	int ret = cs_read_secret(c->cs_password, pw, sizeof(pw), err,
				 sizeof(err));

	if (ret) {
		cs_failed(l, now, "crowdsec.password: %s", err);
		return ret;
	}
	body = lapi_login_json(c->cs_machine, pw);
	explicit_bzero(pw, sizeof(pw));
	if (!body)
		return -ENOMEM;
	ret = lapi_request("POST", c->cs_url, "/v1/watchers/login", NULL, body,
			   &status, &resp, &len, err, sizeof(err));
	explicit_bzero(body, strlen(body));
	free(body);
	if (ret) {
		cs_failed(l, now, "login: %s", err);
		goto out;
	}
	if (status != 200 ||
	    lapi_parse_token(resp, len, l->token, sizeof(l->token)) != 0) {
		cs_failed(l, now, "login as %s: HTTP %ld%s", c->cs_machine,
			  status, status == 403 || status == 401 ?
			  " (machine or password refused)" : "");
		ret = -EACCES;
	}
out:
	free(resp);
	return ret;
}

int cs_machine_request(struct cs_link *l, const struct vg_config *c,
		       const char *method, const char *path, const char *body,
		       long *status, char **resp, size_t *len, int64_t now,
		       const char *what)
{
	char hdr[LAPI_TOKEN_MAX + 32], err[VG_ERR_MAX];
	int ret = 0;

	*resp = NULL;
	*status = 0;
	/* Tokens die with a LAPI restart (401): log in again, once. */
	for (int tries = 0; tries < 2; tries++) {
		if (budget_spent(l))
			return -EAGAIN;
		if (!l->token[0] && (ret = login(l, c, now)) != 0)
			return ret;
		if (budget_spent(l))
			return -EAGAIN;
		free(*resp);
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s",
			 l->token);
		ret = lapi_request(method, c->cs_url, path, hdr, body, status,
				   resp, len, err, sizeof(err));
		explicit_bzero(hdr, sizeof(hdr));
		if (ret) {
			cs_failed(l, now, "%s: %s", what, err);
			return ret;
		}
		if (*status != 401)
			break;
		l->token[0] = '\0';
	}
	return 0;
}

static int push(struct cs_link *l, const struct vg_config *c, int64_t now)
{
	struct lapi_alert a[CS_PUSH_BATCH];
	size_t idx[CS_PUSH_BATCH], n = 0, len;
	char *body, *resp = NULL;
	long status = 0;
	int ret;

	for (size_t i = 0; i < l->n_push && n < CS_PUSH_BATCH; i++) {
		const struct cs_push *p = &l->push[i];

		if (p->done || p->until <= now)
			continue;
		a[n].key = p->key;
		a[n].banned_at = p->banned_at;
		a[n].duration_s = p->until - now;
		a[n].ban_count = p->ban_count;
		idx[n++] = i;
	}
	if (n == 0)
		return 0;
	body = lapi_alerts_json(a, n, now);
	if (!body)
		return -ENOMEM;
	ret = cs_machine_request(l, c, "POST", "/v1/alerts", body, &status,
				 &resp, &len, now, "push");
	free(resp);
	if (ret)
		goto out;
	if (status != 201 && status != 200) {
		cs_failed(l, now, "push: HTTP %ld", status);
		ret = -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char s[VG_ADDR_STRLEN];

		l->push[idx[i]].done = true;
		vg_addr_format(&a[i].key, s, sizeof(s));
		vg_log(LOG_NOTICE, "crowdsec: pushed %s (banned %u times, "
		       "%llds left) as %s", s, a[i].ban_count,
		       (long long)a[i].duration_s, LAPI_SCENARIO);
	}
	l->last_push = now;
	l->dirty = true;
out:
	free(body);
	return ret;
}

void cs_note_drop(struct cs_link *l, const struct vg_addr *key,
		  int64_t banned_at, int64_t until, uint32_t ban_count)
{
	struct cs_push p = { *key, banned_at, until, ban_count, false };
	char a[VG_ADDR_STRLEN];

	for (size_t i = 0; i < l->n_push; i++) {
		struct cs_push *q = &l->push[i];

		if (!vg_addr_equal(&q->key, key))
			continue;
		/* The same ban, seen again (times can differ by a second
		 * of clock rounding between passes). */
		if (q->banned_at - banned_at <= 2 &&
		    banned_at - q->banned_at <= 2)
			return;
		if (!q->done) {		/* a newer ban before it went out */
			*q = p;
			l->dirty = true;
			return;
		}
	}
	vg_addr_format(key, a, sizeof(a));
	if (cs_add_push(l, &p) != 0) {
		vg_log(LOG_WARNING, "crowdsec: push of %s not queued: more "
		       "than %d queued", a, CS_PUSH_MAX);
		return;
	}
	l->dirty = true;
}

/* Expired decisions, and pushes and retractions whose ban is over, are
 * gone. */
void cs_prune(struct cs_link *l, int64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < l->n_dec; i++)
		if (l->dec[i].until > now)
			l->dec[k++] = l->dec[i];
	if (k != l->n_dec)
		l->dirty = true;
	l->n_dec = k;
	k = 0;
	for (size_t i = 0; i < l->n_push; i++)
		if (l->push[i].until > now)
			l->push[k++] = l->push[i];
	if (k != l->n_push)
		l->dirty = true;
	l->n_push = k;
	k = 0;
	for (size_t i = 0; i < l->n_rt; i++)
		if (l->rt[i].until > now)
			l->rt[k++] = l->rt[i];
	if (k != l->n_rt)
		l->dirty = true;
	l->n_rt = k;
	prune_lifts(l, now);
}

static bool have_pending(const struct cs_link *l)
{
	for (size_t i = 0; i < l->n_push; i++)
		if (!l->push[i].done)
			return true;
	return false;
}

/* A failed pull means the link is down: nothing is tried (push
 * included) until its backoff ends.  A failed push or retraction (a
 * refused login, a LAPI error) backs off both, so pulls go on.
 * Retractions go before pushes: a source unbanned, then banned again
 * while LAPI was away, has its old decisions deleted before the new
 * one is sent, never after. */
int cs_exchange(struct cs_link *l, const struct vg_config *c, int64_t now,
		bool *changed)
{
	bool machine = c->cs_push && c->cs_machine[0];
	bool pushing = machine && (have_pending(l) || l->n_rt);
	size_t deleted;
	int ret;

	*changed = false;
	cs_prune(l, now);
	if (now < l->next_try)
		return 0;
	cs_budget_start(l);
	if (c->cs_pull && now >= l->next_pull) {
		l->next_pull = now + (int64_t)c->cs_interval;
		ret = cs_pull(l, c, now, changed);
		if (ret) {
			l->next_try = backoff(&l->pull_fails, now);
			return ret;
		}
		l->pull_fails = 0;
	}
	if (pushing && now >= l->push_next) {
		ret = cs_retract(l, c, now, &deleted);
		if (!ret)
			ret = push(l, c, now);
		if (ret == -EAGAIN)
			return 0;	/* the next pass goes on */
		if (ret) {
			l->push_next = backoff(&l->push_fails, now);
			return ret;
		}
		l->push_fails = 0;
	}
	if (!pushing || !l->push_fails)
		cs_succeeded(l);
	return 0;
}

/*
 * An admin's unban, as the CrowdSec link sees it.
 *
 * What this host pushed for the source is retracted: the decisions of
 * this machine's alerts (scenario LAPI_SCENARIO) for it are deleted from
 * the LAPI, with DELETE /v1/decisions/ID, which LAPI 1.4.6 grants any
 * logged-in machine (DELETE /v1/alerts only to its trusted_ips, which a
 * fleet member usually is not).  The ids come from GET /v1/alerts for the
 * source, keeping only our machine_id's alerts: we never delete another
 * host's decision.  Until LAPI took it, the retraction waits in
 * STATE.crowdsec and goes out on the next exchange, before any push.
 *
 * What was pulled for the source is lifted here only: another host's
 * ban, or an operator's, is the fleet's to keep or delete (cscli), and
 * one host's unban is local policy.  A lift is by decision id, so a new
 * decision for the source is applied again; the lift is forgotten with
 * its decision.  IPv4 range decisions are lifted for the one address.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "crowdsec.h"
#include "lapi.h"
#include "log.h"

#define IDS_MAX		64	/* decisions deleted per source and try */

static bool matches(const struct vg_addr *key, const struct vg_addr *a)
{
	return key == NULL || vg_addr_equal(key, a);
}

/* Queue the retraction of key until `until` (one entry per source). */
static void queue_retract(struct cs_link *l, const struct vg_addr *key,
			  int64_t now, int64_t until, size_t *count)
{
	struct cs_retract r = { *key, now, until };
	char a[VG_ADDR_STRLEN];

	for (size_t i = 0; i < l->n_rt; i++) {
		if (!vg_addr_equal(&l->rt[i].key, key))
			continue;
		if (l->rt[i].until < until)
			l->rt[i].until = until;
		l->rt[i].at = now;
		return;
	}
	vg_addr_format(key, a, sizeof(a));
	if (cs_add_retract(l, &r) != 0) {
		vg_log(LOG_WARNING, "crowdsec: retraction of %s not queued: "
		       "more than %d queued", a, CS_RETRACT_MAX);
		return;
	}
	(*count)++;
}

/* Every push for the source goes: a queued one must not go out any
 * more, and one that went out (or may have: a push whose answer was
 * lost) is retracted. */
static void unban_pushes(struct cs_link *l, const struct vg_addr *key,
			 int64_t now, struct cs_unban_report *r)
{
	size_t k = 0;

	for (size_t i = 0; i < l->n_push; i++) {
		struct cs_push *p = &l->push[i];

		if (!matches(key, &p->key)) {
			l->push[k++] = *p;
			continue;
		}
		r->dropped += !p->done;
		if (p->until > now)
			queue_retract(l, &p->key, now, p->until,
				      &r->retracts);
	}
	l->n_push = k;
}

/* The part of decision d that the unban of key lifts: key itself for a
 * v4 range holding it, else all of d's drop elements; false when d does
 * not drop key. */
static bool lift_net(const struct cs_decision *d, const struct vg_config *c,
		     const struct vg_addr *key, struct vg_addr *net)
{
	struct vg_addr e = d->net;

	if (d->net.family == VG_FAMILY_V6)
		vg_addr_key(&d->net, c->ipv6_prefix, &e);	/* the element */
	if (key == NULL) {
		*net = e;
		return true;
	}
	if (!vg_cidr_contains(&e, key) && !vg_cidr_contains(key, &e))
		return false;
	*net = e.family == VG_FAMILY_V4 ? *key : e;
	return true;
}

static void unban_pulled(struct cs_link *l, const struct vg_config *c,
			 const struct vg_addr *key, int64_t now,
			 struct cs_unban_report *r)
{
	for (size_t i = 0; i < l->n_dec; i++) {
		const struct cs_decision *d = &l->dec[i];
		struct cs_lift f = { d->id, { { 0 }, 0, 0 }, d->until };
		char a[VG_ADDR_STRLEN];

		if (d->until <= now || !lift_net(d, c, key, &f.net) ||
		    cs_lifted(l, d->id, &f.net))
			continue;
		vg_addr_format(&d->net, a, sizeof(a));
		if (cs_add_lift(l, &f) != 0) {
			vg_log(LOG_WARNING, "crowdsec: decision %lld (%s) not "
			       "lifted: more than %d lifted", (long long)d->id,
			       a, CS_LIFT_MAX);
			continue;
		}
		if (r->lifted++ == 0) {
			r->lifted_id = d->id;
			snprintf(r->lifted_origin, sizeof(r->lifted_origin),
				 "%s", d->origin[0] ? d->origin : "?");
		}
		vg_log(LOG_NOTICE, "crowdsec: decision %lld (%s, from %s) "
		       "lifted here by an unban; it stays in the LAPI, and "
		       "is not applied here again until it is deleted or "
		       "expires", (long long)d->id, a,
		       d->origin[0] ? d->origin : "?");
	}
}

/* A pull first, so that what is lifted is every decision the LAPI
 * holds for the source now, not only those seen by the last pass; then
 * the retractions: our own decisions come back in the pull too, and
 * once deleted from the LAPI they are not "lifted here only". */
void cs_unban(struct cs_link *l, const struct vg_config *c,
	      const struct vg_addr *key, int64_t now,
	      struct cs_unban_report *r)
{
	size_t n_push = l->n_push, n_lift = l->n_lift, n_rt = l->n_rt;
	bool changed = false;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	unban_pushes(l, key, now, r);
	if (r->dropped)
		vg_log(LOG_NOTICE, "crowdsec: %zu queued push%s dropped by an "
		       "unban", r->dropped, r->dropped == 1 ? "" : "es");
	cs_budget_start(l);
	if (c->cs_pull)
		ret = cs_pull(l, c, now, &changed);
	if (c->cs_push && c->cs_machine[0] && l->n_rt &&
	    cs_retract(l, c, now, &r->deleted) != 0)
		ret = -EIO;
	if (ret)
		snprintf(r->link_err, sizeof(r->link_err), "%s", l->error);
	else
		cs_succeeded(l);
	for (size_t i = 0; i < l->n_rt; i++)
		r->queued += matches(key, &l->rt[i].key);
	unban_pulled(l, c, key, now, r);
	if (l->n_push != n_push || l->n_lift != n_lift || l->n_rt != n_rt ||
	    r->deleted)
		l->dirty = true;
}

/* Deleted from the LAPI by us: not pulled any more (the next pull says
 * so too, and finds it gone). */
static void forget_id(struct cs_link *l, int64_t id)
{
	size_t k = 0;

	for (size_t i = 0; i < l->n_dec; i++)
		if (l->dec[i].id != id)
			l->dec[k++] = l->dec[i];
	l->n_dec = k;
}

/* Delete the active decisions of our alerts for one source.  *done:
 * nothing of ours is left for it. */
static int retract_one(struct cs_link *l, const struct vg_config *c,
		       const struct cs_retract *rt, int64_t now,
		       size_t *deleted, bool *done)
{
	char q[VG_ADDR_STRLEN + 128], path[VG_ADDR_STRLEN + 160];
	char a[VG_ADDR_STRLEN];
	int64_t ids[IDS_MAX];
	size_t n = 0, len;
	char *resp = NULL;
	long status;
	bool more;
	int ret;

	*done = false;
	vg_addr_format(&rt->key, a, sizeof(a));
	ret = lapi_alerts_query(&rt->key, q, sizeof(q));
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/v1/alerts%s", q);
	ret = cs_machine_request(l, c, "GET", path, NULL, &status, &resp,
				 &len, now, "retract");
	if (ret)
		goto out;
	if (status != 200 || lapi_parse_our_decisions(resp, len,
			c->cs_machine, ids, IDS_MAX, &n, &more) != 0) {
		cs_failed(l, now, "retract %s: GET /v1/alerts: HTTP %ld%s", a,
			  status, status == 200 ? " (not a list of alerts)" :
			  "");
		ret = -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/v1/decisions/%lld",
			 (long long)ids[i]);
		free(resp);
		ret = cs_machine_request(l, c, "DELETE", path, NULL, &status,
					 &resp, &len, now, "retract");
		if (ret)
			goto out;
		if (status != 200) {
			cs_failed(l, now, "retract %s: DELETE decision %lld: "
				  "HTTP %ld", a, (long long)ids[i], status);
			ret = -EPROTO;
			goto out;
		}
		(*deleted)++;
		forget_id(l, ids[i]);
	}
	if (n)
		vg_log(LOG_NOTICE, "crowdsec: retracted %s (unbanned here): "
		       "%zu decision%s this host pushed deleted from the LAPI",
		       a, n, n == 1 ? "" : "s");
	else
		vg_log(LOG_INFO, "crowdsec: retracted %s (unbanned here): no "
		       "active decision of this host left in the LAPI", a);
	*done = !more;
out:
	free(resp);
	return ret;
}

int cs_retract(struct cs_link *l, const struct vg_config *c, int64_t now,
	       size_t *deleted)
{
	size_t i = 0;
	int ret = 0;

	*deleted = 0;
	while (i < l->n_rt) {
		bool done;

		if (l->rt[i].until <= now) {
			i++;
			continue;
		}
		ret = retract_one(l, c, &l->rt[i], now, deleted, &done);
		if (ret)
			break;
		if (!done) {		/* more than IDS_MAX: next time */
			i++;
			continue;
		}
		l->rt[i] = l->rt[--l->n_rt];
		l->dirty = true;
	}
	return ret;
}

/*
 * The totp mode: the second factor, after the first one (a key, or
 * pam_unix) passed.
 * Everything is verified whatever the source; only a countable source
 * (rhost, not ignoreip) gets the table: a wrong, replayed or malformed
 * code is a failure of weight 1 (the user is real: it has a secret), a
 * right one ends the login like authsucc (the preauth slot released,
 * trust stamped, failures kept: they expire with findtime).  A wrong
 * code also counts for its user across all sources (totp.maxfail).
 * Nothing here fails open.
 *
 * Results follow module.h: enum result or -errno, PAM codes only in
 * to_pam() (pam_vpsguard.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <security/pam_ext.h>

#include "log.h"
#include "module.h"
#include "totp.h"

#define TOTP_PROMPT	"Verification code: "

/* TOTP steps count from the Unix epoch: the wall clock, not the table's
 * boot time.  clock_gettime() rather than time(): the module already
 * imports it, and each symbol it imports is looked up on every load. */
static time_t wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* The table for a countable source.  R_OK: go on, with *t set when the
 * source is counted, NULL when nothing is to be recorded; R_DENY: no
 * code is asked (banned, or table trouble under failmode closed). */
static enum result totp_table(struct request *rq, int src, vg_time_t now,
		      struct vg_table **t)
{
	struct vg_result r;
	int ret;

	*t = NULL;
	if (src != 0) {		/* console, ignoreip, unusable rhost */
		if (src < 0 && rq->host_note != HOST_OK &&
		    get_table(rq, false, t) != 0)
			*t = NULL;
		log_host_note(rq, *t, now);
		*t = NULL;
		return R_OK;
	}
	ret = get_table(rq, true, t);
	log_host_note(rq, ret ? NULL : *t, now);
	if (!ret)
		ret = vg_table_check(*t, rq->cfg, &rq->key, now, &r);
	if (ret) {
		vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
		       strerror(-ret));
		*t = NULL;
		return rq->cfg->failmode == VG_FAILMODE_CLOSED ? R_DENY :
		       R_OK;
	}
	/* Banned meanwhile (or no preauth line): no code is asked. */
	if (r.verdict == VG_DENY_BANNED) {
		log_denied(rq, *t, &r, now);
		tell_denied(rq);
		return R_DENY;
	}
	return R_OK;
}

/* R_OK: the secret file is there and sound; R_IGNORE: none, and
 * nullok; else R_DENY. */
static enum result totp_has_secret(struct request *rq)
{
	char err[VG_ERR_MAX];
	struct vg_totp s;
	int ret = vg_totp_load(rq->cfg->totp_secrets, rq->raw_user, &s, err,
			       sizeof(err));

	vg_totp_wipe(&s);
	if (ret == 0)
		return R_OK;
	if (ret == -ENOENT && rq->nullok)
		return R_IGNORE;
	if (ret == -ENOENT)
		vg_log(LOG_NOTICE, "deny user '%s': no TOTP secret (enroll "
		       "with pam_vpsguard-admin totp enroll, or add nullok)",
		       rq->user);
	else
		vg_log(LOG_ERR, "deny user '%s': %s", rq->user, err);
	return R_DENY;
}

/* R_OK with the code typed, R_DENY: no answer (the client left). */
static enum result totp_ask(struct request *rq, char **code)
{
	char *resp = NULL;
	int ret = pam_prompt(rq->pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s",
			     TOTP_PROMPT);

	if (ret != PAM_SUCCESS || !resp) {
		if (resp) {
			explicit_bzero(resp, strlen(resp));
			free(resp);
		}
		return R_DENY;
	}
	*code = resp;
	return R_OK;
}

/* totp.maxfail: a wrong code counts for its user across all sources. */
static void totp_count_user(struct request *rq, vg_time_t now)
{
	char win[32];
	uint32_t n = 0;
	int ret;

	if (!rq->ut)
		return;
	ret = vg_table_user_fail(rq->ut, rq->cfg, rq->raw_user, now, &n);
	if (ret) {
		vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
		       strerror(-ret));
		return;
	}
	if (rq->cfg->totp_maxfail && n == rq->cfg->totp_maxfail) {
		vg_duration_format(rq->cfg->findtime, win, sizeof(win));
		vg_log(LOG_WARNING, "totp: user '%s' reached totp.maxfail (%u "
		       "wrong codes from all sources within %s): codes for "
		       "this user are refused until %s pass without one",
		       rq->user, n, win, win);
	}
}

/* 1: the user is over totp.maxfail, no code may be judged now. */
static bool totp_user_over(struct request *rq)
{
	char win[32];
	int ret;

	if (!rq->ut)
		return false;
	ret = vg_table_user_over(rq->ut, rq->cfg, rq->raw_user, vg_now());
	if (ret < 0)
		vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
		       strerror(-ret));
	if (ret != 1)
		return false;
	vg_duration_format(rq->cfg->findtime, win, sizeof(win));
	vg_log(LOG_NOTICE, "totp: code for user '%s' refused, not checked: "
	       "%u wrong codes from all sources within %s (totp.maxfail)",
	       rq->user, rq->cfg->totp_maxfail, win);
	return true;
}

/* R_OK for a right code, else R_DENY; table errors are logged here:
 * the code decides, not the table. */
static enum result totp_verdict(struct request *rq, struct vg_table *t,
				int res, const char *err)
{
	const char *from = t ? shown_src(rq) : "(not counted)";
	vg_time_t now = vg_now();
	int ret;

	switch (res) {
	case VG_TOTP_RECOVERY_OK:
		vg_log(LOG_NOTICE, "user '%s' from %s used a recovery code",
		       rq->user, from);
		/* fall through */
	case VG_TOTP_OK:
		ret = t ? vg_table_success_slot(t, rq->cfg, &rq->key,
						take_slot(rq), now) :
			  0;
		if (ret)
			vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
			       strerror(-ret));
		return R_OK;
	case VG_TOTP_BAD:
	case VG_TOTP_REPLAY:
	case VG_TOTP_MALFORMED:
		/* sshd logs only "Failed keyboard-interactive/pam": say
		 * which factor failed and how, never what was typed. */
		vg_log(LOG_NOTICE, "totp: %s for user '%s' from %s",
		       vg_totp_result_name((enum vg_totp_result)res),
		       rq->user, from);
		totp_count_user(rq, now);
		ret = t ? do_authfail(rq, t, now, 1) : R_DENY;
		if (ret < 0)
			vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
			       strerror(-ret));
		return R_DENY;
	default:
		vg_log(LOG_ERR, "deny user '%s': %s", rq->user, err);
		return R_DENY;
	}
}

/* No code was judged (no secret, the client left at the prompt): the
 * preauth slot goes back now rather than after inflight.timeout, and
 * nothing is counted, since nothing was guessed.  Returns ret. */
static enum result totp_release(struct request *rq, struct vg_table *t,
				enum result ret)
{
	int err = t ? vg_table_release_slot(t, rq->cfg, &rq->key,
					    take_slot(rq), vg_now()) : 0;

	if (err)
		vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
		       strerror(-err));
	return ret;
}

/* src: get_source()'s answer (0 counted, 1 ignoreip, -errno none).
 * An enum result: never -errno, table errors are logged here. */
int do_totp(struct request *rq, int src)
{
	struct vg_table *t = NULL;
	struct vg_oath o = { 0 };
	char err[VG_ERR_MAX] = "", *code = NULL;
	enum result ret;
	int res;

	if (!rq->cfg_ok)
		return R_DENY;
	if (!vg_totp_user_ok(rq->raw_user)) {
		vg_log(LOG_NOTICE, "deny user '%s': not a name a TOTP secret "
		       "can be stored under", rq->user);
		return R_DENY;
	}
	ret = totp_table(rq, src, vg_now(), &t);
	if (ret != R_OK)
		return ret;
	ret = totp_has_secret(rq);
	if (ret)
		return totp_release(rq, t, ret);
	/* liboath only now, for this one check: see lib/totp.h. */
	if (vg_oath_load(&o, err, sizeof(err)) != 0) {
		vg_log(LOG_ERR, "deny user '%s': %s", rq->user, err);
		return totp_release(rq, t, R_DENY);
	}
	/* The user counters need a table whenever a remote client asks
	 * (also ignoreip ones); the console is exempt. */
	if (t)
		rq->ut = t;	/* the same mapping: never reopen under t */
	else if (src != -ENOENT && get_table(rq, true, &rq->ut) != 0)
		rq->ut = NULL;
	ret = totp_ask(rq, &code);
	if (ret == R_OK && totp_user_over(rq)) {
		/* Refused unjudged: not a guess, so not the source's
		 * failure either; the slot goes back. */
		explicit_bzero(code, strlen(code));
		free(code);
		ret = totp_release(rq, t, R_DENY);
	} else if (ret == R_OK) {
		res = vg_totp_verify(&o, rq->cfg->totp_secrets, rq->raw_user,
				     code, wall_now(), rq->cfg->totp_window,
				     err, sizeof(err));
		explicit_bzero(code, strlen(code));
		free(code);
		ret = totp_verdict(rq, t, res, err);
	} else {
		ret = totp_release(rq, t, ret);	/* the client left */
	}
	vg_oath_unload(&o);
	return ret;
}

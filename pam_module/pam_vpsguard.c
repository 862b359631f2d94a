/*
 * pam_vpsguard.so: count failed logins per remote source in the shared
 * table and deny sources over the limit, inside the auth path itself.
 *
 * This file stays thin: arguments -> source -> one table operation ->
 * one PAM code and one log line.  The logic is in lib/ where the unit
 * tests reach it.  Return codes per mode are SPEC.md's table:
 *
 *   preauth   banned or out of slots -> PAM_AUTH_ERR, else PAM_SUCCESS
 *   authfail  always PAM_AUTH_ERR (reached only after a failed password)
 *   authsucc  always PAM_SUCCESS  (reached only after a right password)
 *   account   banned -> PAM_PERM_DENIED, else PAM_SUCCESS
 *
 * No rhost (console, su): nothing recorded, preauth/account PAM_IGNORE,
 * so the provider's console is never locked out.  A broken config or
 * table applies failmode: open -> PAM_IGNORE, closed -> deny.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "table.h"

/* Everything is built -fvisibility=hidden; the version script then keeps
 * exactly these three. */
#define VG_EXPORT __attribute__((visibility("default")))

enum mode { MODE_ACCOUNT, MODE_PREAUTH, MODE_AUTHFAIL, MODE_AUTHSUCC,
	    MODE_TOTP };

static const char *const mode_names[] = {
	[MODE_ACCOUNT] = "account", [MODE_PREAUTH] = "preauth",
	[MODE_AUTHFAIL] = "authfail", [MODE_AUTHSUCC] = "authsucc",
	[MODE_TOTP] = "totp",
};

#define USER_LOG_MAX	64

struct request {
	pam_handle_t *pamh;
	int flags;
	enum mode mode;
	struct vg_config cfg;
	bool cfg_ok;
	struct vg_addr key;
	char src[VG_ADDR_STRLEN];
	char user[USER_LOG_MAX];	/* sanitised, for log lines only */
	const char *raw_user;
};

static void pam_log_hook(void *ctx, int prio, const char *fmt, va_list ap)
{
	pam_vsyslog(ctx, prio, fmt, ap);
}

/* Read the file once more, skipping bad lines, for its failmode only:
 * "closed" must hold even when the error is on an earlier line. */
static enum vg_failmode rescue_failmode(const char *path, int argc,
					const char **argv)
{
	struct vg_config c;
	char line[VG_CONF_LINE_MAX], err[VG_ERR_MAX];
	FILE *f;

	vg_config_defaults(&c);
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			vg_config_line(&c, line, "rescue", err, sizeof(err));
		fclose(f);
	}
	for (int i = 0; i < argc; i++)
		if (strncmp(argv[i], "failmode=", 9) == 0)
			vg_config_set(&c, "failmode", argv[i] + 9, "argument",
				      err, sizeof(err));
	return c.failmode;
}

/* Defaults, then the file (conf= picks it; the default one may be
 * absent), then key=value arguments through the same setter. */
static int load_config(struct request *rq, int argc, const char **argv)
{
	const char *conf = VG_PATH_CONF;
	char err[VG_ERR_MAX];
	int ret, first = 0;

	for (int m = MODE_PREAUTH; argc > 0 && m <= MODE_TOTP; m++)
		if (strcmp(argv[0], mode_names[m]) == 0) {
			rq->mode = (enum mode)m;
			first = 1;
		}
	for (int i = first; i < argc; i++)
		if (strncmp(argv[i], "conf=", 5) == 0)
			conf = argv[i] + 5;
	vg_config_defaults(&rq->cfg);
	ret = vg_config_read_file(&rq->cfg, conf, err, sizeof(err));
	if (ret == -ENOENT && strcmp(conf, VG_PATH_CONF) == 0)
		ret = 0;
	for (int i = first; i < argc && ret == 0; i++) {
		const char *eq = strchr(argv[i], '=');
		char key[64];

		if (strncmp(argv[i], "conf=", 5) == 0)
			continue;
		if (!eq || (size_t)(eq - argv[i]) >= sizeof(key)) {
			char bad[64];

			vg_sanitize(bad, sizeof(bad), argv[i]);
			snprintf(err, sizeof(err), "argument: unknown "
				 "argument '%s'", bad);
			ret = -EINVAL;
			break;
		}
		memcpy(key, argv[i], (size_t)(eq - argv[i]));
		key[eq - argv[i]] = '\0';
		ret = vg_config_set(&rq->cfg, key, eq + 1, "argument", err,
				    sizeof(err));
	}
	if (ret) {
		vg_log(LOG_ERR, "configuration error: %s", err);
		rq->cfg.failmode = rescue_failmode(conf, argc, argv);
		return ret;
	}
	rq->cfg_ok = true;
	return 0;
}

/* 0: remote source in rq->key; -ENOENT: no rhost; -EINVAL: unusable. */
static int get_source(struct request *rq)
{
	const void *rhost = NULL, *user = NULL;
	struct vg_addr a;
	int ret;

	pam_get_item(rq->pamh, PAM_USER, &user);
	rq->raw_user = user;
	vg_sanitize(rq->user, sizeof(rq->user), user ? user : "");
	if (pam_get_item(rq->pamh, PAM_RHOST, &rhost) != PAM_SUCCESS)
		rhost = NULL;
	ret = vg_source_resolve(rhost, pam_getenv(rq->pamh, "SSH_CONNECTION"),
				&a);
	if (ret == -ENOENT)
		return ret;
	if (ret < 0) {
		char bad[80];

		vg_sanitize(bad, sizeof(bad), rhost);
		vg_log(LOG_WARNING, "unusable remote host '%s' and no numeric "
		       "SSH_CONNECTION", bad);
		return ret;
	}
	if (ret == 2) {
		char bad[80];

		vg_sanitize(bad, sizeof(bad), rhost);
		vg_log(LOG_NOTICE, "counting host name '%s' literally: no "
		       "numeric address (set UseDNS no in sshd_config)", bad);
	}
	vg_addr_key(&a, rq->cfg.ipv6_prefix, &rq->key);
	vg_addr_format(&rq->key, rq->src, sizeof(rq->src));
	return vg_cidr_list_match(&rq->cfg.ignoreip, &a) ? 1 : 0;
}

/* What a mode returns when it cannot do its job: SPEC's failmode. */
static int failmode_code(const struct request *rq)
{
	bool closed = rq->cfg.failmode == VG_FAILMODE_CLOSED;

	switch (rq->mode) {
	case MODE_AUTHFAIL:
	case MODE_TOTP:		/* a second factor never fails open */
		return PAM_AUTH_ERR;
	case MODE_AUTHSUCC:
		return PAM_SUCCESS;
	case MODE_PREAUTH:
		return closed ? PAM_AUTH_ERR : PAM_IGNORE;
	case MODE_ACCOUNT:
	default:
		return closed ? PAM_PERM_DENIED : PAM_IGNORE;
	}
}

/* The code when the source is not ours to judge (ignoreip). */
static int pass_code(const struct request *rq)
{
	return rq->mode == MODE_AUTHFAIL || rq->mode == MODE_TOTP ?
	       PAM_AUTH_ERR : PAM_SUCCESS;
}

static unsigned int failure_weight(const struct request *rq)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	/* A name longer than any real one is not looked up at all. */
	if (!rq->raw_user || strlen(rq->raw_user) > 256)
		return rq->cfg.invalid_user_weight;
	if (getpwnam_r(rq->raw_user, &pw, buf, sizeof(buf), &res) == 0 &&
	    res == NULL)
		return rq->cfg.invalid_user_weight;
	return 1;
}

static void tell_denied(const struct request *rq)
{
	if (rq->cfg.silent || (rq->flags & PAM_SILENT))
		return;
	pam_error(rq->pamh, "Too many failed logins from this address. "
		  "Try again later.");
}

static void log_denied(const struct request *rq, const struct vg_result *r,
		       vg_time_t now)
{
	char left[32], win[32];

	if (r->verdict == VG_DENY_BANNED) {
		vg_duration_format(r->banned_until - now, left, sizeof(left));
		vg_log(LOG_NOTICE, "deny %s user '%s': banned for %s more "
		       "(ban #%u)", rq->src, rq->user, left, r->ban_count);
	} else {
		vg_duration_format(rq->cfg.findtime, win, sizeof(win));
		vg_log(LOG_NOTICE, "deny %s user '%s': %u attempts failed or "
		       "in progress within %s", rq->src, rq->user,
		       rq->cfg.maxretry, win);
	}
}

static int do_preauth(struct request *rq, struct vg_table *t, vg_time_t now)
{
	struct vg_result r;
	int ret = vg_table_preauth(t, &rq->cfg, &rq->key, now, &r);

	if (ret)
		return ret;
	if (r.verdict == VG_ALLOW)
		return PAM_SUCCESS;
	log_denied(rq, &r, now);
	tell_denied(rq);
	return PAM_AUTH_ERR;
}

static int do_authfail(struct request *rq, struct vg_table *t, vg_time_t now)
{
	char len[32], win[32];
	struct vg_result r;
	unsigned int w = failure_weight(rq);
	int ret = vg_table_fail(t, &rq->cfg, &rq->key, w, now, &r);

	if (ret)
		return ret;
	vg_duration_format(rq->cfg.findtime, win, sizeof(win));
	if (r.verdict == VG_BANNED_NOW) {
		vg_duration_format(r.ban_length, len, sizeof(len));
		vg_log(LOG_NOTICE, "ban %s for %s (%u failures in %s, ban #%u%s)",
		       rq->src, len, r.failures, win, r.ban_count,
		       r.trusted ? ", trusted: not escalated" : "");
	} else if (r.verdict == VG_ALLOW) {
		vg_log(LOG_INFO, "failure %u/%u from %s user '%s'%s",
		       r.failures, rq->cfg.maxretry, rq->src, rq->user,
		       w > 1 ? " (unknown user)" : "");
	}
	return PAM_AUTH_ERR;
}

static int do_account(struct request *rq, struct vg_table *t, vg_time_t now)
{
	struct vg_result r;
	int ret = vg_table_check(t, &rq->cfg, &rq->key, now, &r);

	if (ret)
		return ret;
	if (r.verdict == VG_DENY_BANNED) {
		log_denied(rq, &r, now);
		tell_denied(rq);
		return PAM_PERM_DENIED;
	}
	/* The account phase passing is a login (public-key ones never run
	 * the auth stack): stamp trust. */
	ret = vg_table_success(t, &rq->cfg, &rq->key, false, now);
	return ret ? ret : PAM_SUCCESS;
}

static int run(struct request *rq)
{
	struct vg_table *t = NULL;
	vg_time_t now = vg_now();
	int src, ret;

	src = get_source(rq);
	if (src == -ENOENT)		/* console, serial, su: never block */
		return rq->mode == MODE_AUTHFAIL ? PAM_AUTH_ERR :
		       rq->mode == MODE_AUTHSUCC ? PAM_SUCCESS : PAM_IGNORE;
	if (!rq->cfg_ok || src < 0)
		return failmode_code(rq);
	if (src == 1)
		return pass_code(rq);
	if (rq->mode == MODE_TOTP) {
		vg_log(LOG_ERR, "mode totp is not available in this build");
		return PAM_AUTH_ERR;
	}
	ret = vg_table_open(&t, rq->cfg.table_path, rq->cfg.table_size,
			    rq->mode != MODE_ACCOUNT);
	if (ret == -ENOENT && rq->mode == MODE_ACCOUNT)
		return PAM_SUCCESS;	/* no table yet: nobody is banned */
	if (ret) {
		vg_log(LOG_ERR, "table %s: %s", rq->cfg.table_path,
		       strerror(-ret));
		return failmode_code(rq);
	}
	switch (rq->mode) {
	case MODE_PREAUTH:
		ret = do_preauth(rq, t, now);
		break;
	case MODE_AUTHFAIL:
		ret = do_authfail(rq, t, now);
		break;
	case MODE_AUTHSUCC:
		ret = vg_table_success(t, &rq->cfg, &rq->key, true, now);
		ret = ret ? ret : PAM_SUCCESS;
		break;
	default:
		ret = do_account(rq, t, now);
		break;
	}
	vg_table_close(t);
	if (ret < 0) {		/* a table error, not a PAM code */
		vg_log(LOG_ERR, "table %s: %s", rq->cfg.table_path,
		       strerror(-ret));
		return failmode_code(rq);
	}
	return ret;
}

static int entry(pam_handle_t *pamh, int flags, int argc, const char **argv,
		 bool account)
{
	struct request *rq;
	int ret;

	vg_log_set(pam_log_hook, pamh);
	/* struct vg_config holds paths and CIDR lists: ~10 KB, too much
	 * for the stack of every caller we may be loaded into. */
	rq = calloc(1, sizeof(*rq));
	if (!rq)
		return account ? PAM_IGNORE : PAM_BUF_ERR;
	rq->pamh = pamh;
	rq->flags = flags;
	rq->mode = MODE_ACCOUNT;
	load_config(rq, argc, argv);
	if (account)
		rq->mode = MODE_ACCOUNT;
	else if (rq->mode == MODE_ACCOUNT) {
		vg_log(LOG_ERR, "auth needs a mode: preauth, authfail, "
		       "authsucc or totp");
		rq->cfg_ok = false;
		rq->mode = MODE_PREAUTH;
	}
	ret = run(rq);
	free(rq);
	vg_log_set(NULL, NULL);
	return ret;
}

VG_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
			const char **argv)
{
	return entry(pamh, flags, argc, argv, false);
}

VG_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
		     const char **argv)
{
	return entry(pamh, flags, argc, argv, true);
}

/* sshd calls setcred after every login, public-key ones too, walking the
 * auth stack; anything but success there ends the login. */
VG_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
		   const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

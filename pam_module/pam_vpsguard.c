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
 *   totp      right code -> PAM_SUCCESS (as authsucc), wrong, replayed
 *             or malformed -> PAM_AUTH_ERR (counted as authfail); no
 *             secret -> PAM_AUTH_ERR, or PAM_IGNORE with nullok
 *
 * No rhost (console, su): nothing recorded, preauth/account PAM_IGNORE,
 * so the provider's console is never locked out.  A broken config or
 * table applies failmode: open -> PAM_IGNORE, closed -> deny.
 *
 * Internal functions return -errno or an enum result (module.h); only
 * to_pam() below speaks PAM codes.  The totp mode is totp_mode.c.
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

#include "log.h"
#include "module.h"

/* Everything is built -fvisibility=hidden; the version script then keeps
 * exactly these three. */
#define VG_EXPORT __attribute__((visibility("default")))

static const char *const mode_names[] = {
	[MODE_ACCOUNT] = "account", [MODE_PREAUTH] = "preauth",
	[MODE_AUTHFAIL] = "authfail", [MODE_AUTHSUCC] = "authsucc",
	[MODE_TOTP] = "totp",
};

/* The handle's struct ctx (module.h). */
#define VG_DATA_CTX	"pam_vpsguard:ctx"

/* One attempt runs several lines of the stack; problems that every line
 * would see (a bad config, a strange rhost) are logged by the first one
 * only: preauth in auth, and the account line. */
static bool chatty(const struct request *rq)
{
	return rq->account || rq->mode == MODE_PREAUTH ||
	       rq->mode == MODE_TOTP;
}

static void pam_log_hook(void *ctx, int prio, const char *fmt, va_list ap)
{
	pam_vsyslog(ctx, prio, fmt, ap);
}

/* Read the file once more, skipping bad lines, for its failmode only:
 * "closed" must hold even when the error is on an earlier line. */
static enum vg_failmode rescue_failmode(const char *path, int argc,
					const char **argv)
{
	struct vg_config *c = malloc(sizeof(*c));
	char err[VG_ERR_MAX];
	enum vg_failmode m;

	if (!c)
		return VG_FAILMODE_CLOSED;
	vg_config_defaults(c);
	vg_config_read_file_lenient(c, path);
	for (int i = 0; i < argc; i++)
		if (strncmp(argv[i], "failmode=", 9) == 0)
			vg_config_set(c, "failmode", argv[i] + 9, "argument",
				      err, sizeof(err));
	m = c->failmode;
	free(c);
	return m;
}

/* The mode word, if argv[0] is one; returns the index of the first
 * key=value argument. */
static int parse_mode(struct request *rq, int argc, const char **argv)
{
	for (int m = MODE_PREAUTH; argc > 0 && m <= MODE_TOTP; m++)
		if (strcmp(argv[0], mode_names[m]) == 0) {
			rq->mode = (enum mode)m;
			return 1;
		}
	return 0;
}

/* Defaults, then the file (conf= picks it; the default one may be
 * absent), then key=value arguments through the same setter. */
static int load_config(struct request *rq, int argc, const char **argv,
		       int first)
{
	const char *conf = VG_PATH_CONF;
	char err[VG_ERR_MAX];
	int ret;

	for (int i = first; i < argc; i++)
		if (strncmp(argv[i], "conf=", 5) == 0)
			conf = argv[i] + 5;
	vg_config_defaults(rq->cfg);
	ret = vg_config_read_file(rq->cfg, conf, err, sizeof(err));
	if (ret == -ENOENT && strcmp(conf, VG_PATH_CONF) == 0)
		ret = 0;
	for (int i = first; i < argc && ret == 0; i++) {
		const char *eq = strchr(argv[i], '=');
		char key[64];

		if (strncmp(argv[i], "conf=", 5) == 0)
			continue;
		if (rq->mode == MODE_TOTP && strcmp(argv[i], "nullok") == 0)
			continue;
		if (!eq || (size_t)(eq - argv[i]) >= sizeof(key)) {
			char bad[64];

			vg_sanitize_quoted(bad, sizeof(bad), argv[i]);
			snprintf(err, sizeof(err), "argument: unknown "
				 "argument '%s'", bad);
			ret = -EINVAL;
			break;
		}
		memcpy(key, argv[i], (size_t)(eq - argv[i]));
		key[eq - argv[i]] = '\0';
		ret = vg_config_set(rq->cfg, key, eq + 1, "argument", err,
				    sizeof(err));
	}
	if (ret) {
		if (chatty(rq))
			vg_log(LOG_ERR, "configuration error: %s", err);
		rq->cfg->failmode = rescue_failmode(conf, argc, argv);
		return ret;
	}
	rq->cfg_ok = true;
	return 0;
}

static void ctx_cleanup(pam_handle_t *pamh, void *data, int status)
{
	struct ctx *c = data;

	(void)pamh;
	(void)status;
	if (!c)
		return;
	vg_table_close(c->t);
	free(c);
}

/* The arguments after the mode, NUL-separated: lines of one stack that
 * differ only in their mode share one parsed configuration.  -1: too
 * long to cache. */
static long args_key(int argc, const char **argv, int first, char *buf)
{
	size_t len = 0, n;

	for (int i = first; i < argc; i++) {
		n = strlen(argv[i]) + 1;
		if (len + n > ARGS_KEY_MAX)
			return -1;
		memcpy(buf + len, argv[i], n);
		len += n;
	}
	return (long)len;
}

/* The handle's context when it was parsed from the same arguments, else
 * a new one (kept on the handle when its configuration is good). */
static struct ctx *get_ctx(struct request *rq, int argc, const char **argv,
			   int first)
{
	char key[ARGS_KEY_MAX];
	long len = args_key(argc, argv, first, key);
	const void *p = NULL;
	struct ctx *c;

	if (len >= 0 && pam_get_data(rq->pamh, VG_DATA_CTX, &p) ==
	    PAM_SUCCESS && p) {
		c = (struct ctx *)p;
		if (c->args_len == (size_t)len &&
		    !memcmp(c->args, key, (size_t)len)) {
			rq->ctx = c;
			rq->cfg = &c->cfg;
			rq->cfg_ok = true;
			rq->ctx_shared = true;
			return c;
		}
	}
	/* Not calloc: the config is filled by vg_config_defaults(), and
	 * zeroing the 1 KB args buffer would be pure waste per login. */
	c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	c->args_len = 0;
	c->t = NULL;
	c->slot = VG_SLOT_ANY;
	rq->ctx = c;
	rq->cfg = &c->cfg;
	load_config(rq, argc, argv, first);
	if (rq->cfg_ok && len >= 0) {
		memcpy(c->args, key, (size_t)len);
		c->args_len = (size_t)len;
		if (pam_set_data(rq->pamh, VG_DATA_CTX, c, ctx_cleanup) ==
		    PAM_SUCCESS)
			rq->ctx_shared = true;
	}
	return c;
}

/* The table, mapped once per handle; reopened when the file was
 * replaced (rebuilt), resized or damaged in place since: touching a
 * mapping of a truncated file would be SIGBUS in sshd. */
int get_table(struct request *rq, bool create, struct vg_table **t)
{
	struct ctx *c = rq->ctx;
	int ret;

	if (c->t) {
		if (!vg_table_stale(c->t)) {
			*t = c->t;
			return 0;
		}
		vg_table_close(c->t);
		c->t = NULL;
	}
	/* A window handle: this process makes a few operations and exits,
	 * and mapping the whole table costs more than all of them. */
	ret = vg_table_open_window(&c->t, c->cfg.table_path,
				   c->cfg.table_size, create);
	if (ret)
		return ret;
	*t = c->t;
	return 0;
}

/* The lines an attacker's rate drives (bans, denials, a full table) go
 * through the table's shared rate limit, with one summary line for what
 * was held back.  t NULL (no usable table): logged as is. */
static void log_event(struct vg_table *t, enum vg_log_kind kind,
		      vg_time_t now, int prio, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void log_event(struct vg_table *t, enum vg_log_kind kind,
		      vg_time_t now, int prio, const char *fmt, ...)
{
	static const char *const what[VG_LOG_KINDS] = {
		[VG_LOG_BAN] = "ban", [VG_LOG_DENY] = "deny/error",
	};
	uint64_t held[VG_LOG_KINDS] = { 0 };
	bool ok = !t || vg_table_log_permit(t, kind, now, held);
	va_list ap;

	for (int k = 0; k < VG_LOG_KINDS; k++)
		if (held[k])
			vg_log(LOG_WARNING, "%llu %s messages suppressed "
			       "(more than %d in %ds)",
			       (unsigned long long)held[k], what[k],
			       VG_LOG_BURST, VG_LOG_WINDOW);
	if (!ok)
		return;
	va_start(ap, fmt);
	vg_vlog(prio, fmt, ap);
	va_end(ap);
}

/* The source as log lines show it.  Formatted only when a line needs
 * it: most attempts log nothing. */
const char *shown_src(struct request *rq)
{
	if (rq->src_text[0] == '\0')
		vg_addr_format(&rq->key, rq->src_text, sizeof(rq->src_text));
	return rq->src_text;
}

/* What get_source() found odd about the rhost, said once per attempt.
 * Through the table's rate limit when there is a table: a client that
 * sends no usable address can drive these lines too. */
void log_host_note(struct request *rq, struct vg_table *t, vg_time_t now)
{
	if (rq->host_note == HOST_OK || !chatty(rq))
		return;
	if (rq->host_note == HOST_UNUSABLE)
		log_event(t, VG_LOG_DENY, now, LOG_WARNING, "unusable remote "
			  "host '%s' and no numeric SSH_CONNECTION", rq->host);
	else
		log_event(t, VG_LOG_DENY, now, LOG_NOTICE, "counting host "
			  "name '%s' literally: no numeric address (set "
			  "UseDNS no in sshd_config)", rq->host);
}

/* 0: remote source in rq->key; -ENOENT: no rhost; -EINVAL: unusable. */
static int get_source(struct request *rq)
{
	const void *rhost = NULL, *user = NULL;
	struct vg_addr a;
	int ret;

	pam_get_item(rq->pamh, PAM_USER, &user);
	rq->raw_user = user;
	vg_sanitize_quoted(rq->user, sizeof(rq->user), user ? user : "");
	if (pam_get_item(rq->pamh, PAM_RHOST, &rhost) != PAM_SUCCESS)
		rhost = NULL;
	ret = vg_source_resolve(rhost, pam_getenv(rq->pamh, "SSH_CONNECTION"),
				&a);
	if (ret == -ENOENT)
		return ret;
	if (ret < 0 || ret == 2) {
		rq->host_note = ret < 0 ? HOST_UNUSABLE : HOST_LITERAL;
		vg_sanitize_quoted(rq->host, sizeof(rq->host), rhost);
		if (ret < 0)
			return ret;
	}
	vg_addr_key(&a, rq->cfg->ipv6_prefix, &rq->key);
	return vg_cidr_list_match(&rq->cfg->ignoreip, &a) ? 1 : 0;
}

static unsigned int failure_weight(const struct request *rq)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (rq->cfg->invalid_user_weight <= 1)
		return 1;		/* nothing to tell apart */
	/* A name longer than any real one is not looked up at all. */
	if (!rq->raw_user || strlen(rq->raw_user) > 256)
		return rq->cfg->invalid_user_weight;
	if (getpwnam_r(rq->raw_user, &pw, buf, sizeof(buf), &res) == 0 &&
	    res == NULL)
		return rq->cfg->invalid_user_weight;
	return 1;
}

void tell_denied(const struct request *rq)
{
	if (rq->cfg->silent || (rq->flags & PAM_SILENT))
		return;
	pam_error(rq->pamh, "Too many failed logins from this address. "
		  "Try again later.");
}

/* Which entry decided, when it is not the source's own: " (table full:
 * counted in the overflow bucket)" and the like.  Empty for the source
 * itself. */
static const char *level_note(const struct vg_result *r, char *buf,
			      size_t len)
{
	char a[VG_ADDR_STRLEN];

	buf[0] = '\0';
	if (r->kind == VG_KIND_SOURCE)
		return buf;
	if (r->kind == VG_KIND_OVERFLOW && r->subject.family ==
	    VG_FAMILY_NONE) {
		snprintf(buf, len, " (table full: counted in the overflow "
			 "bucket)");
		return buf;
	}
	vg_addr_format(&r->subject, a, sizeof(a));
	snprintf(buf, len, r->kind == VG_KIND_PREFIX ? " (prefix %s is "
		 "banned)" : " (table full: counted with %s)", a);
	return buf;
}

void log_denied(struct request *rq, struct vg_table *t,
		const struct vg_result *r, vg_time_t now)
{
	char left[32], win[32], note[96];

	level_note(r, note, sizeof(note));
	if (r->verdict == VG_DENY_BANNED) {
		vg_duration_format(r->banned_until - now, left, sizeof(left));
		log_event(t, VG_LOG_DENY, now, LOG_NOTICE, "deny %s user "
			  "'%s': banned for %s more%s", shown_src(rq),
			  rq->user, left, note);
	} else {
		vg_duration_format(rq->cfg->findtime, win, sizeof(win));
		log_event(t, VG_LOG_DENY, now, LOG_NOTICE, "deny %s user "
			  "'%s': %u attempts failed or in progress within "
			  "%s%s", shown_src(rq), rq->user, rq->cfg->maxretry,
			  win, note);
	}
}

/* The slot to give back, once: a second line of the same attempt (or
 * an attempt without a preauth line) must not give back another. */
vg_time_t take_slot(struct request *rq)
{
	vg_time_t s = rq->ctx->slot;

	if (rq->ctx_shared)
		rq->ctx->slot = VG_SLOT_NONE;
	return s;
}

static int do_preauth(struct request *rq, struct vg_table *t, vg_time_t now)
{
	struct vg_result r;
	int ret = vg_table_preauth(t, rq->cfg, &rq->key, now, &r);

	if (ret)
		return ret;
	if (r.verdict == VG_ALLOW) {
		rq->ctx->slot = rq->ctx_shared ? r.slot : VG_SLOT_ANY;
		return R_OK;
	}
	log_denied(rq, t, &r, now);
	tell_denied(rq);
	return R_DENY;
}

static const char *plural(unsigned int n)
{
	return n == 1 ? "" : "s";
}

int do_authfail(struct request *rq, struct vg_table *t, vg_time_t now,
		unsigned int w)
{
	char len[32], win[32];
	struct vg_result r;
	int ret = vg_table_fail_slot(t, rq->cfg, &rq->key, w, take_slot(rq),
				     now, &r);

	if (ret)
		return ret;
	vg_duration_format(rq->cfg->findtime, win, sizeof(win));
	if (r.verdict == VG_BANNED_NOW && r.kind != VG_KIND_SOURCE) {
		char note[96];

		vg_duration_format(r.ban_length, len, sizeof(len));
		log_event(t, VG_LOG_BAN, now, LOG_NOTICE, "ban %s for %s "
			  "(%u failure%s in %s)%s: sources the table cannot "
			  "hold share this limit", shown_src(rq), len,
			  r.failures, plural(r.failures), win,
			  level_note(&r, note, sizeof(note)));
	} else if (r.verdict == VG_BANNED_NOW) {
		vg_duration_format(r.ban_length, len, sizeof(len));
		if (r.trusted)
			log_event(t, VG_LOG_BAN, now, LOG_NOTICE, "ban %s for "
				  "%s (%u failure%s in %s, trusted: not escalated)",
				  shown_src(rq), len, r.failures,
				  plural(r.failures), win);
		else
			log_event(t, VG_LOG_BAN, now, LOG_NOTICE, "ban %s for "
				  "%s (%u failure%s in %s, ban #%u)", shown_src(rq),
				  len, r.failures, plural(r.failures), win,
				  r.ban_count);
	}
	if (r.prefix_banned.family != VG_FAMILY_NONE) {
		char net[VG_ADDR_STRLEN];

		vg_addr_format(&r.prefix_banned, net, sizeof(net));
		log_event(t, VG_LOG_BAN, now, LOG_NOTICE, "ban %s as one "
			  "prefix (%u of its sources banned within bantime)",
			  net, r.prefix_members);
	}
	/* No line per failure: sshd logs each failed password itself, with
	 * user and source; ours are the events it cannot see (bans and
	 * refusals), and the counts are in `pam_vpsguard-admin show`. */
	return R_DENY;
}

static int do_account(struct request *rq, struct vg_table *t, vg_time_t now)
{
	struct vg_result r;
	int ret = vg_table_check(t, rq->cfg, &rq->key, now, &r);

	if (ret)
		return ret;
	/* A trusted source passes while banned: its passwords stay refused
	 * in preauth, but the admin's key still opens the door when a
	 * neighbour behind the same NAT or /64 got the address banned. */
	if (r.verdict == VG_DENY_BANNED && !r.trusted) {
		log_denied(rq, t, &r, now);
		tell_denied(rq);
		return R_BANNED;
	}
	/* The account phase passing is a login (public-key ones never run
	 * the auth stack): stamp trust, clear nothing.  0 is R_OK. */
	return vg_table_success(t, rq->cfg, &rq->key, false, now);
}


/* The table's lock could not be had in time (its holder is stopped or
 * stuck): failmode would apply, but a ban that stands still refuses, read
 * without the lock.  account: a trusted source's key login passes. */
static bool stuck_ban(struct request *rq, struct vg_table *t, vg_time_t now,
		      bool account)
{
	bool trusted;

	if (vg_table_peek_ban(t, rq->cfg, &rq->key, now, &trusted) != 1 ||
	    (account && trusted))
		return false;
	log_event(t, VG_LOG_DENY, now, LOG_NOTICE, "deny %s: banned (read "
		  "without the table's lock: its holder is stuck)",
		  shown_src(rq));
	tell_denied(rq);
	return true;
}

static int run(struct request *rq)
{
	struct vg_table *t = NULL;
	vg_time_t now = vg_now();
	int src, ret;

	src = get_source(rq);
	/* Before the console exit below: a second factor is asked for
	 * whatever the source, it only decides what is recorded. */
	if (rq->mode == MODE_TOTP)
		return do_totp(rq, src);
	if (src == -ENOENT)		/* console, serial, su: never block */
		return R_CONSOLE;
	if (!rq->cfg_ok)
		return R_FAILMODE;
	if (src < 0) {
		/* Only for the rate limit of the line that says why. */
		if (rq->host_note != HOST_OK && chatty(rq) &&
		    get_table(rq, false, &t) != 0)
			t = NULL;
		log_host_note(rq, t, now);
		return R_FAILMODE;
	}
	if (src == 1)
		return R_PASS;
	/* The account phase creates the table too: passing it stamps
	 * trust, and the admin's first key login after a reboot must not
	 * be lost to a table nobody had made yet. */
	ret = get_table(rq, true, &t);
	log_host_note(rq, ret ? NULL : t, now);
	if (ret) {
		/* Every line of every attempt would see it: the first one
		 * of each phase says it (the table cannot rate-limit). */
		if (chatty(rq))
			vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
			       strerror(-ret));
		return R_FAILMODE;
	}
	switch (rq->mode) {
	case MODE_PREAUTH:
		ret = do_preauth(rq, t, now);
		if (ret == -ETIMEDOUT && stuck_ban(rq, t, now, false))
			ret = R_DENY;
		break;
	case MODE_AUTHFAIL:
		ret = do_authfail(rq, t, now, failure_weight(rq));
		break;
	case MODE_AUTHSUCC:
		ret = vg_table_success_slot(t, rq->cfg, &rq->key,
					    take_slot(rq), now);
		break;
	default:
		ret = do_account(rq, t, now);
		if (ret == -ETIMEDOUT && stuck_ban(rq, t, now, true))
			ret = R_BANNED;
		break;
	}
	if (ret < 0)		/* to_pam(): failmode */
		log_event(t, VG_LOG_DENY, now, LOG_ERR, "table %s: %s",
			  rq->cfg->table_path, strerror(-ret));
	return ret;
}

/* The one place results become PAM codes, per mode: SPEC.md's table
 * (see the top of this file).  -errno: the table failed, failmode. */
static int to_pam(const struct request *rq, int res)
{
	bool closed;

	switch (res) {
	case R_OK:
		return PAM_SUCCESS;
	case R_DENY:
		return PAM_AUTH_ERR;
	case R_BANNED:
		return PAM_PERM_DENIED;
	case R_IGNORE:
		return PAM_IGNORE;
	case R_NOMEM:
		return rq->account ? PAM_IGNORE : PAM_BUF_ERR;
	case R_CONSOLE:
		return rq->mode == MODE_AUTHFAIL ? PAM_AUTH_ERR :
		       rq->mode == MODE_AUTHSUCC ? PAM_SUCCESS : PAM_IGNORE;
	case R_PASS:
		return rq->mode == MODE_AUTHFAIL || rq->mode == MODE_TOTP ?
		       PAM_AUTH_ERR : PAM_SUCCESS;
	default:			/* R_FAILMODE, -errno */
		break;
	}
	closed = rq->cfg->failmode == VG_FAILMODE_CLOSED;
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

static int entry(pam_handle_t *pamh, int flags, int argc, const char **argv,
		 bool account)
{
	struct request rq = { .pamh = pamh, .flags = flags,
			      .mode = MODE_ACCOUNT, .account = account };
	int ret, first;

	vg_log_set(pam_log_hook, pamh);
	first = parse_mode(&rq, argc, argv);
	for (int i = first; rq.mode == MODE_TOTP && i < argc; i++)
		if (strcmp(argv[i], "nullok") == 0)
			rq.nullok = true;
	if (!get_ctx(&rq, argc, argv, first)) {
		ret = to_pam(&rq, R_NOMEM);
		goto out;
	}
	if (account) {
		rq.mode = MODE_ACCOUNT;
	} else if (rq.mode == MODE_ACCOUNT) {
		char bad[64];

		vg_sanitize_quoted(bad, sizeof(bad), argc > 0 ? argv[0] : "");
		vg_log(LOG_ERR, "auth needs a mode (preauth, authfail, "
		       "authsucc or totp) as its first argument, not '%s'",
		       bad);
		rq.cfg_ok = false;
		rq.mode = MODE_PREAUTH;
	}
	ret = to_pam(&rq, run(&rq));
	if (!rq.ctx_shared)
		ctx_cleanup(pamh, rq.ctx, 0);
out:
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

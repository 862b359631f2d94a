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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "table.h"
#include "totp.h"

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
#define ARGS_KEY_MAX	1024

/* What one PAM handle keeps between the module's lines and between the
 * attempts of one connection (sshd: one handle, one pam_authenticate
 * per password): the parsed configuration and the mapped table, so
 * preauth pays for them and authfail and later attempts do not. */
#define VG_DATA_CTX	"pam_vpsguard:ctx"

struct ctx {
	char args[ARGS_KEY_MAX];	/* the arguments it was parsed from */
	size_t args_len;
	struct vg_config cfg;
	struct vg_table *t;
	vg_time_t slot;		/* the slot this attempt's preauth took
				 * (VG_SLOT_ANY: not known); the next line
				 * of the same pam_authenticate gives back
				 * exactly that one (vg_table_fail_slot) */
};

struct request {
	pam_handle_t *pamh;
	int flags;
	enum mode mode;
	struct ctx *ctx;
	struct vg_config *cfg;		/* &ctx->cfg */
	bool cfg_ok;
	struct vg_addr key;
	char src_text[VG_ADDR_STRLEN];	/* see shown_src() */
	enum { HOST_OK, HOST_UNUSABLE, HOST_LITERAL } host_note;
	char host[80];			/* sanitised rhost, for host_note */
	char user[USER_LOG_MAX];	/* sanitised, for log lines only */
	const char *raw_user;
	bool account;
	bool ctx_shared;		/* ctx belongs to the PAM handle */
	bool nullok;			/* totp: no secret -> PAM_IGNORE */
	struct vg_table *ut;		/* totp: the table of user counters */
};

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

			vg_sanitize(bad, sizeof(bad), argv[i]);
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
static int get_table(struct request *rq, bool create, struct vg_table **t)
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
static const char *shown_src(struct request *rq)
{
	if (rq->src_text[0] == '\0')
		vg_addr_format(&rq->key, rq->src_text, sizeof(rq->src_text));
	return rq->src_text;
}

/* What get_source() found odd about the rhost, said once per attempt.
 * Through the table's rate limit when there is a table: a client that
 * sends no usable address can drive these lines too. */
static void log_host_note(struct request *rq, struct vg_table *t,
			  vg_time_t now)
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
	vg_sanitize(rq->user, sizeof(rq->user), user ? user : "");
	if (pam_get_item(rq->pamh, PAM_RHOST, &rhost) != PAM_SUCCESS)
		rhost = NULL;
	ret = vg_source_resolve(rhost, pam_getenv(rq->pamh, "SSH_CONNECTION"),
				&a);
	if (ret == -ENOENT)
		return ret;
	if (ret < 0 || ret == 2) {
		rq->host_note = ret < 0 ? HOST_UNUSABLE : HOST_LITERAL;
		vg_sanitize(rq->host, sizeof(rq->host), rhost);
		if (ret < 0)
			return ret;
	}
	vg_addr_key(&a, rq->cfg->ipv6_prefix, &rq->key);
	return vg_cidr_list_match(&rq->cfg->ignoreip, &a) ? 1 : 0;
}

/* What a mode returns when it cannot do its job: SPEC's failmode. */
static int failmode_code(const struct request *rq)
{
	bool closed = rq->cfg->failmode == VG_FAILMODE_CLOSED;

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

static void tell_denied(const struct request *rq)
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

static void log_denied(struct request *rq, struct vg_table *t,
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
static vg_time_t take_slot(struct request *rq)
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
		return PAM_SUCCESS;
	}
	log_denied(rq, t, &r, now);
	tell_denied(rq);
	return PAM_AUTH_ERR;
}

static int do_authfail(struct request *rq, struct vg_table *t, vg_time_t now,
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
			  "(%u failures in %s)%s: sources the table cannot "
			  "hold share this limit", shown_src(rq), len,
			  r.failures, win, level_note(&r, note, sizeof(note)));
	} else if (r.verdict == VG_BANNED_NOW) {
		vg_duration_format(r.ban_length, len, sizeof(len));
		if (r.trusted)
			log_event(t, VG_LOG_BAN, now, LOG_NOTICE, "ban %s for "
				  "%s (%u failures in %s, trusted: not escalated)",
				  shown_src(rq), len, r.failures, win);
		else
			log_event(t, VG_LOG_BAN, now, LOG_NOTICE, "ban %s for "
				  "%s (%u failures in %s, ban #%u)", shown_src(rq),
				  len, r.failures, win, r.ban_count);
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
	return PAM_AUTH_ERR;
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
		return PAM_PERM_DENIED;
	}
	/* The account phase passing is a login (public-key ones never run
	 * the auth stack): stamp trust, clear nothing. */
	ret = vg_table_success(t, rq->cfg, &rq->key, false, now);
	return ret ? ret : PAM_SUCCESS;
}

/* --- totp ------------------------------------------------------------
 *
 * The second factor, after the first one (a key, or pam_unix) passed.
 * Everything is verified whatever the source; only a countable source
 * (rhost, not ignoreip) gets the table: a wrong, replayed or malformed
 * code is a failure of weight 1 (the user is real: it has a secret), a
 * right one ends the login like authsucc (the preauth slot released,
 * trust stamped, failures kept: they expire with findtime).  A wrong
 * code also counts for its user across all sources (totp.maxfail).
 * Nothing here fails open.
 */
#define TOTP_PROMPT	"Verification code: "

/* The table for a countable source: 1 with *t set, 0 when nothing is to
 * be recorded, or a PAM code to return (banned, or table trouble under
 * failmode closed). */
static int totp_table(struct request *rq, int src, vg_time_t now,
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
		return 0;
	}
	ret = get_table(rq, true, t);
	log_host_note(rq, ret ? NULL : *t, now);
	if (!ret)
		ret = vg_table_check(*t, rq->cfg, &rq->key, now, &r);
	if (ret) {
		vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
		       strerror(-ret));
		*t = NULL;
		return rq->cfg->failmode == VG_FAILMODE_CLOSED ?
		       PAM_AUTH_ERR : 0;
	}
	/* Banned meanwhile (or no preauth line): no code is asked. */
	if (r.verdict == VG_DENY_BANNED) {
		log_denied(rq, *t, &r, now);
		tell_denied(rq);
		return PAM_AUTH_ERR;
	}
	return 1;
}

/* 0: the secret file is there and sound.  Else a PAM code. */
static int totp_has_secret(struct request *rq)
{
	char err[VG_ERR_MAX];
	struct vg_totp s;
	int ret = vg_totp_load(rq->cfg->totp_secrets, rq->raw_user, &s, err,
			       sizeof(err));

	vg_totp_wipe(&s);
	if (ret == 0)
		return 0;
	if (ret == -ENOENT && rq->nullok)
		return PAM_IGNORE;
	if (ret == -ENOENT)
		vg_log(LOG_NOTICE, "deny user '%s': no TOTP secret (enroll "
		       "with pam_vpsguard-admin totp enroll, or add nullok)",
		       rq->user);
	else
		vg_log(LOG_ERR, "deny user '%s': %s", rq->user, err);
	return PAM_AUTH_ERR;
}

static int totp_ask(struct request *rq, char **code)
{
	char *resp = NULL;
	int ret = pam_prompt(rq->pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s",
			     TOTP_PROMPT);

	if (ret != PAM_SUCCESS || !resp) {
		if (resp) {
			explicit_bzero(resp, strlen(resp));
			free(resp);
		}
		return PAM_AUTH_ERR;
	}
	*code = resp;
	return PAM_SUCCESS;
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

static int totp_verdict(struct request *rq, struct vg_table *t, int res,
			const char *err)
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
		return PAM_SUCCESS;
	case VG_TOTP_BAD:
	case VG_TOTP_REPLAY:
	case VG_TOTP_MALFORMED:
		/* sshd logs only "Failed keyboard-interactive/pam": say
		 * which factor failed and how, never what was typed. */
		vg_log(LOG_NOTICE, "totp: %s for user '%s' from %s",
		       vg_totp_result_name((enum vg_totp_result)res),
		       rq->user, from);
		totp_count_user(rq, now);
		ret = t ? do_authfail(rq, t, now, 1) : PAM_AUTH_ERR;
		if (ret < 0)
			vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
			       strerror(-ret));
		return PAM_AUTH_ERR;
	default:
		vg_log(LOG_ERR, "deny user '%s': %s", rq->user, err);
		return PAM_AUTH_ERR;
	}
}

/* No code was judged (no secret, the client left at the prompt): the
 * preauth slot goes back now rather than after inflight.timeout, and
 * nothing is counted, since nothing was guessed.  Returns ret. */
static int totp_release(struct request *rq, struct vg_table *t, int ret)
{
	int err = t ? vg_table_release_slot(t, rq->cfg, &rq->key,
					    take_slot(rq), vg_now()) : 0;

	if (err)
		vg_log(LOG_ERR, "table %s: %s", rq->cfg->table_path,
		       strerror(-err));
	return ret;
}

static int do_totp(struct request *rq, int src)
{
	struct vg_table *t = NULL;
	struct vg_oath o = { 0 };
	char err[VG_ERR_MAX] = "", *code = NULL;
	int ret, res;

	if (!rq->cfg_ok)
		return PAM_AUTH_ERR;
	if (!vg_totp_user_ok(rq->raw_user)) {
		vg_log(LOG_NOTICE, "deny user '%s': not a name a TOTP secret "
		       "can be stored under", rq->user);
		return PAM_AUTH_ERR;
	}
	ret = totp_table(rq, src, vg_now(), &t);
	if (ret != 0 && ret != 1)
		return ret;
	ret = totp_has_secret(rq);
	if (ret)
		return totp_release(rq, t, ret);
	/* liboath only now, for this one check: see lib/totp.h. */
	if (vg_oath_load(&o, err, sizeof(err)) != 0) {
		vg_log(LOG_ERR, "deny user '%s': %s", rq->user, err);
		return totp_release(rq, t, PAM_AUTH_ERR);
	}
	/* The user counters need a table whenever a remote client asks
	 * (also ignoreip ones); the console is exempt. */
	if (t)
		rq->ut = t;	/* the same mapping: never reopen under t */
	else if (src != -ENOENT && get_table(rq, true, &rq->ut) != 0)
		rq->ut = NULL;
	ret = totp_ask(rq, &code);
	if (ret == PAM_SUCCESS && totp_user_over(rq)) {
		/* Refused unjudged: not a guess, so not the source's
		 * failure either; the slot goes back. */
		explicit_bzero(code, strlen(code));
		free(code);
		ret = totp_release(rq, t, PAM_AUTH_ERR);
	} else if (ret == PAM_SUCCESS) {
		res = vg_totp_verify(&o, rq->cfg->totp_secrets, rq->raw_user,
				     code, time(NULL), rq->cfg->totp_window,
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
		return rq->mode == MODE_AUTHFAIL ? PAM_AUTH_ERR :
		       rq->mode == MODE_AUTHSUCC ? PAM_SUCCESS : PAM_IGNORE;
	if (!rq->cfg_ok)
		return failmode_code(rq);
	if (src < 0) {
		/* Only for the rate limit of the line that says why. */
		if (rq->host_note != HOST_OK && chatty(rq) &&
		    get_table(rq, false, &t) != 0)
			t = NULL;
		log_host_note(rq, t, now);
		return failmode_code(rq);
	}
	if (src == 1)
		return pass_code(rq);
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
		return failmode_code(rq);
	}
	switch (rq->mode) {
	case MODE_PREAUTH:
		ret = do_preauth(rq, t, now);
		break;
	case MODE_AUTHFAIL:
		ret = do_authfail(rq, t, now, failure_weight(rq));
		break;
	case MODE_AUTHSUCC:
		ret = vg_table_success_slot(t, rq->cfg, &rq->key,
					    take_slot(rq), now);
		ret = ret ? ret : PAM_SUCCESS;
		break;
	default:
		ret = do_account(rq, t, now);
		break;
	}
	if (ret < 0) {		/* a table error, not a PAM code */
		log_event(t, VG_LOG_DENY, now, LOG_ERR, "table %s: %s",
			  rq->cfg->table_path, strerror(-ret));
		return failmode_code(rq);
	}
	return ret;
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
		ret = account ? PAM_IGNORE : PAM_BUF_ERR;
		goto out;
	}
	if (account) {
		rq.mode = MODE_ACCOUNT;
	} else if (rq.mode == MODE_ACCOUNT) {
		char bad[64];

		vg_sanitize(bad, sizeof(bad), argc > 0 ? argv[0] : "");
		vg_log(LOG_ERR, "auth needs a mode (preauth, authfail, "
		       "authsucc or totp) as its first argument, not '%s'",
		       bad);
		rq.cfg_ok = false;
		rq.mode = MODE_PREAUTH;
	}
	ret = run(&rq);
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

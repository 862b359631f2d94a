/* What pam_vpsguard.c and totp_mode.c share: one request and the
 * module's return convention.  Private to pam_module/. */
#ifndef VG_MODULE_H
#define VG_MODULE_H

#include <stdbool.h>
#include <stddef.h>

#include <security/pam_modules.h>

#include "addr.h"
#include "config.h"
#include "table.h"

enum mode { MODE_ACCOUNT, MODE_PREAUTH, MODE_AUTHFAIL, MODE_AUTHSUCC,
	    MODE_TOTP };

#define USER_LOG_MAX	64
#define ARGS_KEY_MAX	1024

/* What one PAM handle keeps between the module's lines and between the
 * attempts of one connection (sshd: one handle, one pam_authenticate
 * per password): the parsed configuration and the mapped table, so
 * preauth pays for them and authfail and later attempts do not. */
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

/* The return convention: a function of the module returns -errno (a
 * table error: the caller logs it, and it means failmode) or one of
 * these, and only to_pam() turns them into PAM codes, by mode.  R_OK
 * is 0, as a library call's success. */
enum result {
	R_OK = 0,	/* PAM_SUCCESS */
	R_DENY,		/* PAM_AUTH_ERR */
	R_BANNED,	/* account: PAM_PERM_DENIED */
	R_IGNORE,	/* PAM_IGNORE (totp nullok: no secret) */
	R_CONSOLE,	/* no rhost: never block, record nothing */
	R_PASS,		/* ignoreip: the source is not ours to judge */
	R_FAILMODE,	/* cannot do its job: SPEC's failmode */
	R_NOMEM,	/* no context could be made */
};

/* pam_vpsguard.c, for totp_mode.c. */
int get_table(struct request *rq, bool create, struct vg_table **t);
const char *shown_src(struct request *rq);
void log_host_note(struct request *rq, struct vg_table *t, vg_time_t now);
void log_denied(struct request *rq, struct vg_table *t,
		const struct vg_result *r, vg_time_t now);
void tell_denied(const struct request *rq);
vg_time_t take_slot(struct request *rq);
int do_authfail(struct request *rq, struct vg_table *t, vg_time_t now,
		unsigned int w);

/* totp_mode.c */
int do_totp(struct request *rq, int src);

#endif

/* What harden's drop-in says, and the ways sshd can still let a
 * connection around it.  sshd keeps the first value it reads, but a
 * Match block that matches a connection overrides the global values for
 * it wherever the block sits (servconf.c re-parses only the active Match
 * lines and copies what they set over the global options), so neither
 * "read first" nor plain `sshd -T` covers Match blocks.  Two looks:
 * every Match block in the files (sshd_walk), and sshd's own Match
 * evaluation (`sshd -T -C`) for root and one other user, for criteria
 * and syntax the file reading does not follow. */
#ifndef VG_DROPIN_H
#define VG_DROPIN_H

#include <stdbool.h>
#include <stddef.h>

#include "sshdconf.h"

enum { KW_KEYONLY = 1, KW_TOTP = 2, KW_BOTH = 3 };

/* Which values let in more than ours does. */
enum dropin_cmp {
	CMP_NO,		/* ours "no": any other value */
	CMP_YES,	/* ours "yes": "no" (UsePAM: PAM's account phase) */
	CMP_NEVER,	/* "no" only lets in less (PubkeyAuthentication) */
	CMP_MAX,	/* a number: a bigger one, or 0 (= no limit) */
	CMP_METHODS,	/* a list without publickey + keyboard-interactive */
};

/* One line of the drop-in.  A keyword is written only where the
 * installed sshd knows it (an unknown one is fatal: no sshd after the
 * next restart); since/before are OpenSSH versions, 0 = any. */
struct dropin_kw {
	const char *name, *value, *dump;	/* dump: sshd -T's spelling */
	unsigned int flags;			/* KW_* */
	int since_major, since_minor, before_major, before_minor;
	enum dropin_cmp cmp;
	const char *comment;
};

extern const struct dropin_kw dropin_kws[];
extern const size_t dropin_nkws;

bool dropin_kw_applies(const struct dropin_kw *k, const struct sshd_tree *t,
		       bool totp);
/* Does val (as written in a file, or as sshd -T prints it) let in more
 * than k's value?  A value we cannot read counts as weaker. */
bool dropin_weaker(const struct dropin_kw *k, const char *val);

/* Are sshd -T's global values harden --totp's kind (every method list
 * a key and then keyboard-interactive)? */
bool dropin_dump_is_totp(const char *dump);

#define DROPIN_FINDINGS_MAX	16

/* One way around the drop-in: a Match block setting a weaker value
 * (match_file set), or a weaker value sshd -T -C gives that no Match block we
 * read explains (spec set). */
struct dropin_finding {
	const struct dropin_kw *kw;
	char name[64], value[128];	/* as written (or as sshd prints) */
	char match_file[FS_PATH_MAX];	/* the Match line */
	unsigned int match_line;
	char criteria[256];
	char file[FS_PATH_MAX];		/* the setting: the same file, or */
	unsigned int line;		/* one included inside the block */
	char spec[384];			/* sshd -C's argument */
};

struct dropin_report {
	struct dropin_finding f[DROPIN_FINDINGS_MAX];
	unsigned int n;
	unsigned int more;		/* found beyond DROPIN_FINDINGS_MAX */
	char err[640];			/* sshd -T -C failed: why */
};

/* Fill r (zeroed first).  dump: plain sshd -T of the tree (for the
 * listen address and the global values); totp: compare with harden
 * --totp's values; user: the non-root user for sshd -C (NULL: a name
 * that exists nowhere, which still matches "Match User *" and
 * addresses).  0, or -errno / sshd's exit status when an sshd -T -C run
 * failed (r->err says why; the Match blocks of the files are in r
 * all the same). */
int dropin_match_check(const struct sshd_tree *t, const char *dump,
		       bool totp, const char *user, struct dropin_report *r);
/* Is one of r's findings about keyword k? */
bool dropin_reported(const struct dropin_report *r, const struct dropin_kw *k);
/* "Match block at FILE:N ("Match User *") sets KW VALUE (line M)" or
 * "sshd -T -C SPEC gives KW VALUE". */
void dropin_finding_text(const struct dropin_finding *f, char *buf,
			 size_t len);

#endif

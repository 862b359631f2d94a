#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dropin.h"

const struct dropin_kw dropin_kws[] = {
	{ "PermitRootLogin", "no", "permitrootlogin", KW_BOTH, 0, 0, 0, 0,
	  CMP_NO, "No root login at all: log in as your sudo user." },
	{ "PasswordAuthentication", "no", "passwordauthentication", KW_BOTH,
	  0, 0, 0, 0, CMP_NO, "No passwords: nothing left to guess." },
	{ "KbdInteractiveAuthentication", "no", "kbdinteractiveauthentication",
	  KW_KEYONLY, 0, 0, 0, 0, CMP_NO,
	  "No keyboard-interactive either: through PAM it can ask the\n"
	  "# password too." },
	{ "ChallengeResponseAuthentication", "no",
	  "challengeresponseauthentication", KW_KEYONLY, 0, 0, 8, 7, CMP_NO,
	  "Before OpenSSH 8.7 a separate option with the same effect." },
	/* --totp: "no" in a Match block only locks those users out. */
	{ "KbdInteractiveAuthentication", "yes",
	  "kbdinteractiveauthentication", KW_TOTP, 0, 0, 0, 0, CMP_NEVER,
	  "Keyboard-interactive carries the TOTP code (PAM asks it)." },
	{ "ChallengeResponseAuthentication", "yes",
	  "challengeresponseauthentication", KW_TOTP, 0, 0, 8, 7, CMP_NEVER,
	  "Before OpenSSH 8.7 a separate option with the same effect." },
	{ "AuthenticationMethods", "publickey,keyboard-interactive",
	  "authenticationmethods", KW_TOTP, 0, 0, 0, 0, CMP_METHODS,
	  "Both: a key, then the code." },
	{ "PubkeyAuthentication", "yes", "pubkeyauthentication", KW_BOTH,
	  0, 0, 0, 0, CMP_NEVER, "Keys are the way in." },
	{ "PermitEmptyPasswords", "no", "permitemptypasswords", KW_BOTH,
	  0, 0, 0, 0, CMP_NO, "Never an empty password." },
	{ "MaxAuthTries", "3", "maxauthtries", KW_BOTH, 0, 0, 0, 0, CMP_MAX,
	  "Three tries per connection (a client offering many keys\n"
	  "# uses them up: IdentitiesOnly=yes on the client)." },
	{ "LoginGraceTime", "30", "logingracetime", KW_BOTH, 0, 0, 0, 0,
	  CMP_MAX, "Unauthenticated connections are dropped after 30 s." },
	{ "UsePAM", "yes", "usepam", KW_BOTH, 0, 0, 0, 0, CMP_YES,
	  "PAM's account phase runs for key logins too: pam_vpsguard\n"
	  "# refuses banned sources there." },
};

const size_t dropin_nkws = sizeof(dropin_kws) / sizeof(dropin_kws[0]);

/* The connection sshd -C pretends: an address from the Internet at
 * large (TEST-NET-3), a host name nothing matches. */
#define PROBE_ADDR	"203.0.113.7"
#define PROBE_HOST	"x"
#define PROBE_USER	"vpsguard-match-probe"
#define SEEN_MAX	256

bool dropin_kw_applies(const struct dropin_kw *k, const struct sshd_tree *t,
		       bool totp)
{
	if (!(k->flags & (totp ? KW_TOTP : KW_KEYONLY)))
		return false;
	if (t->major == 0)	/* unknown version: the common subset */
		return k->before_major == 0;
	if (k->since_major && !sshd_at_least(t, k->since_major,
					     k->since_minor))
		return false;
	if (k->before_major && sshd_at_least(t, k->before_major,
					     k->before_minor))
		return false;
	return true;
}

/* sshd's TIME FORMATS (sshd_config(5)): "30", "1m30s".  Plain numbers
 * (MaxAuthTries) read the same. */
static bool parse_time(const char *s, unsigned long *v)
{
	unsigned long total = 0;

	if (!*s)
		return false;
	while (*s) {
		unsigned long n, mul;
		char *end;

		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		n = strtoul(s, &end, 10);
		if (errno || n > 1000000000UL)
			return false;
		switch (tolower((unsigned char)*end)) {
		case '\0':	mul = 1; break;
		case 's':	mul = 1; end++; break;
		case 'm':	mul = 60; end++; break;
		case 'h':	mul = 3600; end++; break;
		case 'd':	mul = 86400; end++; break;
		case 'w':	mul = 604800; end++; break;
		default:	return false;
		}
		total += n * mul;
		s = end;
	}
	*v = total;
	return true;
}

/* Every alternative list (space-separated) asks for a key and then
 * keyboard-interactive (the code), as ours does. */
static bool methods_weaker(const char *val)
{
	char buf[512], *list, *save = NULL;

	if (snprintf(buf, sizeof(buf), "%s", val) >= (int)sizeof(buf))
		return true;
	for (list = strtok_r(buf, " \t", &save); list;
	     list = strtok_r(NULL, " \t", &save)) {
		char *m, *save2 = NULL;
		bool key = false, kbd = false;

		for (m = strtok_r(list, ",", &save2); m;
		     m = strtok_r(NULL, ",", &save2)) {
			key |= strcmp(m, "publickey") == 0;
			kbd |= strncmp(m, "keyboard-interactive", 20) == 0 &&
			       (m[20] == '\0' || m[20] == ':');
		}
		if (!key || !kbd)
			return true;	/* also "any" */
	}
	return false;
}

bool dropin_weaker(const struct dropin_kw *k, const char *val)
{
	unsigned long ours, v;

	switch (k->cmp) {
	case CMP_NO:
		return strcasecmp(val, "no") != 0;
	case CMP_YES:
		return strcasecmp(val, "yes") != 0;
	case CMP_NEVER:
		return false;
	case CMP_MAX:
		if (!parse_time(val, &v) || !parse_time(k->value, &ours))
			return true;
		return v == 0 || v > ours;
	case CMP_METHODS:
		return methods_weaker(val);
	}
	return true;
}

bool dropin_dump_is_totp(const char *dump)
{
	char am[512];

	return sshd_dump_get(dump, "authenticationmethods", am, sizeof(am)) &&
	       !methods_weaker(am);
}

bool dropin_reported(const struct dropin_report *r, const struct dropin_kw *k)
{
	for (unsigned int i = 0; i < r->n; i++)
		if (r->f[i].kw == k)
			return true;
	return false;
}

static struct dropin_finding *new_finding(struct dropin_report *r,
					  const struct dropin_kw *k,
					  const char *name, const char *val)
{
	struct dropin_finding *f;

	if (r->n >= DROPIN_FINDINGS_MAX) {
		r->more++;
		return NULL;
	}
	f = &r->f[r->n++];
	memset(f, 0, sizeof(*f));
	f->kw = k;
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->value, sizeof(f->value), "%s", val);
	return f;
}

/* Our entry for a keyword as written in a file.  ChallengeResponse-
 * Authentication is KbdInteractiveAuthentication since OpenSSH 8.7. */
static const struct dropin_kw *lookup(const struct sshd_tree *t, bool totp,
				      const char *kw)
{
	if (strcasecmp(kw, "challengeresponseauthentication") == 0 &&
	    (t->major == 0 || sshd_at_least(t, 8, 7)))
		kw = "kbdinteractiveauthentication";
	for (size_t i = 0; i < dropin_nkws; i++)
		if (strcasecmp(kw, dropin_kws[i].name) == 0 &&
		    dropin_kw_applies(&dropin_kws[i], t, totp))
			return &dropin_kws[i];
	return NULL;
}

struct walk_ctx {
	const struct sshd_tree *t;
	bool totp;
	struct dropin_report *r;
	uint64_t seen[SEEN_MAX];	/* (block, keyword) pairs met */
	unsigned int nseen;
};

/* Within one block only the first value of a keyword counts (sshd keeps
 * the first one it reads among the blocks that match). */
static bool first_in_block(struct walk_ctx *w, const struct sshd_match *m,
			   const struct dropin_kw *k)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (const char *p = m->file; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ m->line) * 1099511628211ULL;
	h = (h ^ (uint64_t)(k - dropin_kws)) * 1099511628211ULL;
	for (unsigned int i = 0; i < w->nseen; i++)
		if (w->seen[i] == h)
			return false;
	if (w->nseen < SEEN_MAX)
		w->seen[w->nseen++] = h;
	return true;
}

/* A value as sshd's argument splitting sees it: up to a comment (a
 * token starting with '#'), one pair of double quotes removed. */
static void clean_value(const char *val, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%s", val);
	for (char *p = buf; *p; p++)
		if (*p == '#' && (p == buf || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	n = strlen(buf);
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	if (n >= 2 && buf[0] == '"' && buf[n - 1] == '"' &&
	    !memchr(buf + 1, '"', n - 2)) {
		memmove(buf, buf + 1, n - 2);
		buf[n - 2] = '\0';
	}
}

static int match_fn(void *ctx, const struct sshd_match *m, const char *file,
		    unsigned int line, const char *kw, const char *val)
{
	struct walk_ctx *w = ctx;
	const struct dropin_kw *k;
	struct dropin_finding *f;
	char v[512];

	if (!m || !(k = lookup(w->t, w->totp, kw)))
		return 0;
	clean_value(val, v, sizeof(v));
	if (!first_in_block(w, m, k) || !dropin_weaker(k, v))
		return 0;
	f = new_finding(w->r, k, kw, v);
	if (f) {
		snprintf(f->match_file, sizeof(f->match_file), "%s", m->file);
		f->match_line = m->line;
		snprintf(f->criteria, sizeof(f->criteria), "%s", m->criteria);
		snprintf(f->file, sizeof(f->file), "%s", file);
		f->line = line;
	}
	return 0;
}

/* laddr and lport for sshd -C: the first address sshd listens on. */
static void listen_of(const char *dump, char *addr, size_t alen, char *port,
		      size_t plen)
{
	char v[128], *a = v, *colon;

	snprintf(addr, alen, "0.0.0.0");
	if (!sshd_dump_get(dump, "port", port, plen))
		snprintf(port, plen, "22");
	/* "listenaddress 0.0.0.0:22", "[::]:22", "… rdomain X" */
	if (!sshd_dump_get(dump, "listenaddress", v, sizeof(v)))
		return;
	v[strcspn(v, " ")] = '\0';
	colon = strrchr(v, ':');
	if (!colon)
		return;
	*colon = '\0';
	if (colon[1])
		snprintf(port, plen, "%s", colon + 1);
	if (*a == '[') {
		a++;
		a[strcspn(a, "]")] = '\0';
	}
	if (*a)
		snprintf(addr, alen, "%s", a);
}

/* The values sshd gives one connection: a weaker one that differs from
 * the global value (that one is the global check's) and that no Match
 * block of the files explains comes from a block we did not place. */
static int conn_check(const struct sshd_tree *t, const char *dump, bool totp,
		      const char *spec, struct dropin_report *r)
{
	char *cd = NULL, err[200];
	int ret;

	ret = sshd_dump_conn(t, spec, &cd, err, sizeof(err));
	if (ret) {
		err[strcspn(err, "\n")] = '\0';
		snprintf(r->err, sizeof(r->err), "sshd -T -C %s: %s", spec,
			 ret < 0 ? strerror(-ret) : err);
		return ret;
	}
	for (size_t i = 0; i < dropin_nkws; i++) {
		const struct dropin_kw *k = &dropin_kws[i];
		struct dropin_finding *f;
		char v[128], g[128];

		if (!dropin_kw_applies(k, t, totp) ||
		    !sshd_dump_get(cd, k->dump, v, sizeof(v)) ||
		    !dropin_weaker(k, v) || dropin_reported(r, k))
			continue;
		if (sshd_dump_get(dump, k->dump, g, sizeof(g)) &&
		    strcmp(g, v) == 0)
			continue;
		f = new_finding(r, k, k->name, v);
		if (f)
			snprintf(f->spec, sizeof(f->spec), "%s", spec);
	}
	free(cd);
	return 0;
}

/* A passwd name fits in sshd -C's comma-separated list. */
static bool plain_name(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

int dropin_match_check(const struct sshd_tree *t, const char *dump,
		       bool totp, const char *user, struct dropin_report *r)
{
	struct walk_ctx *w;
	char laddr[128], lport[16], spec[384];
	const char *users[2] = { "root", plain_name(user) ? user : PROBE_USER };
	int ret = 0;

	memset(r, 0, sizeof(*r));
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(r->err, sizeof(r->err), "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	w->t = t;
	w->totp = totp;
	w->r = r;
	sshd_walk(t, match_fn, w);
	free(w);
	listen_of(dump, laddr, sizeof(laddr), lport, sizeof(lport));
	for (int i = 0; i < 2 && !ret; i++) {
		snprintf(spec, sizeof(spec), "user=%s,host=" PROBE_HOST
			 ",addr=" PROBE_ADDR ",laddr=%s,lport=%s", users[i],
			 laddr, lport);
		ret = conn_check(t, dump, totp, spec, r);
	}
	return ret;
}

void dropin_finding_text(const struct dropin_finding *f, char *buf,
			 size_t len)
{
	if (!f->match_file[0])
		snprintf(buf, len, "sshd -T -C %s gives %s %s", f->spec,
			 f->kw->name, f->value);
	else if (strcmp(f->match_file, f->file) == 0)
		snprintf(buf, len, "Match block at %s:%u (\"Match %s\") sets "
			 "%s %s (line %u)", f->match_file, f->match_line,
			 f->criteria, f->name, f->value, f->line);
	else
		snprintf(buf, len, "Match block at %s:%u (\"Match %s\") sets "
			 "%s %s (%s:%u, included inside the block)",
			 f->match_file, f->match_line, f->criteria, f->name,
			 f->value, f->file, f->line);
}

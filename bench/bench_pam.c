/*
 * bench_pam: end-to-end cost of one authentication through Linux-PAM,
 * per stack and scenario.
 *
 * Each iteration is what one password costs the sshd monitor:
 * pam_start_confdir -> pam_set_item(PAM_RHOST) -> pam_authenticate
 * (-> pam_acct_mgmt in the success scenario) -> pam_end.  libpam loads
 * (dlopen) every module of the stack in pam_start and unloads it in
 * pam_end, so module load, relocation and configuration parsing are
 * part of the cost, as they are in sshd (one pam_start per connection).
 *
 * Scenarios (--scenario):
 *
 *   rotating  (default) a wrong password from a new source each time:
 *             preauth -> failed check -> authfail (with the user lookup
 *             both limiters do).  Counting, never banning.
 *   banned    the steady state under attack: one source that is banned
 *             (vpsguard: maxretry 3, the warm-up bans it) or one user
 *             that is locked (faillock: deny=3, tally never reset), and
 *             a preauth line that refuses at once (`requisite`, as
 *             pam_faillock(8) suggests "if you do not want to prompt for
 *             the password on locked accounts").  The password check
 *             and authfail never run.
 *   success   the right password (pam_permit plays pam_unix) from the
 *             rotating sources: preauth -> check -> authsucc, then the
 *             account phase (pam_acct_mgmt) with the limiter's account
 *             line.
 *
 * Stacks (written into a private confdir under a tmpfs temp directory;
 * nothing under /etc is read for the stack itself):
 *
 *   permit    auth required pam_permit.so              (issue's baseline)
 *   deny      the same stack with no limiter lines:    (exact baseline)
 *               auth [success=1 default=ignore] PW
 *               auth requisite pam_deny.so
 *               (success: + auth required pam_permit.so, where the jump
 *               lands, as in Debian's common-auth)
 *   vpsguard  auth requisite MOD preauth conf=C
 *             auth [success=1 default=ignore] PW   (the "password")
 *             auth [default=die] MOD authfail conf=C
 *             auth sufficient MOD authsucc conf=C
 *             auth requisite pam_deny.so
 *   faillock  the same with pam_faillock.so preauth/authfail/authsucc
 *             dir=<private tally dir> deny=1000 nodelay (banned: deny=3)
 *
 * PW is pam_deny.so, or pam_permit.so in the success scenario, where
 * every stack also gets an account line: pam_permit.so (permit, deny),
 * MOD conf=C, pam_faillock.so dir=..., pam_null.so.
 *   null      the same with build/bench/pam_null.so (--null): a module that
 *             only reads PAM_RHOST, linked with pam_vpsguard's flags.
 *             The floor under any limiter that is a PAM module: what
 *             libpam's dlopen/dlclose of a module costs by itself.  In
 *             the banned scenario its preauth refuses.
 *   null-lookup  the same, and its authfail looks the user up
 *             (getpwnam_r), which both limiters do (the same as null in
 *             the banned and success scenarios, where authfail never
 *             runs)
 *
 * Fairness:
 *  - every stack runs with the same user ("nobody", an account that
 *    exists on every Debian system, so both limiters do their user
 *    lookup) and the same PAM_RHOST sequence: rotating over --sources
 *    (banned: always the first one) distinct
 *    documentation addresses, 198.51.100.0/24, 203.0.113.0/24 and
 *    2001:db8::/64 hosts, so pam_vpsguard counts without ever banning;
 *    maxretry = 1000 in its private config);
 *  - pam_faillock counts per user in a tally file that grows by one
 *    record per failure until `deny` locks the account.  To measure its
 *    counting path at a realistic tally size, the driver deletes the
 *    tally file every --faillock-reset iterations (default 4: the tally
 *    holds 0-3 records, as under deny=5).  0 = never (the tally grows
 *    for the whole run and so does faillock's cost per iteration).
 *    Banned: never reset, the tally stays at deny=3 (locked);
 *  - PAM_FAIL_DELAY is set to a no-op so no module's fail delay sleeps;
 *  - banned: the driver checks that each limiter's preauth really
 *    refused: its message to the user reached the conversation.
 *
 * Output: one line per stack and run, then per stack the median
 * ns/iteration; with --quiet only the "median" lines.  For callgrind,
 * the timed loop is the non-inlined function bench_loop(): run under
 * valgrind --tool=callgrind --collect-atstart=no
 * --toggle-collect=bench_loop, with --warmup iterations outside it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include <security/pam_appl.h>

#include "bench_util.h"

#define MAX_RUNS	101

enum { PERMIT, DENY, NULLMOD, NULL_LOOKUP, VPSGUARD, FAILLOCK, BEFORE,
       MAX_STACKS };
enum scenario { ROTATING, BANNED, SUCCESS };

static const char *const scenario_names[] = {
	[ROTATING] = "rotating", [BANNED] = "banned", [SUCCESS] = "success"
};

static const char *const stack_names[MAX_STACKS] = {
	"permit", "deny", "null", "null-lookup", "vpsguard", "faillock",
	"vpsguard-before"
};

struct opts {
	enum scenario scenario;
	long iters;
	long warmup;
	int runs;
	int sources;
	int faillock_reset;
	const char *module;
	const char *before;		/* --module-before: another build */
	const char *null_module;
	const char *faillock;
	const char *pamdir;
	const char *user;
	const char *tmpbase;
	const char *conf_template;
	bool keep;
	bool quiet;
	bool use[MAX_STACKS];
};

static char g_tmp[PATH_MAX];
static char g_confdir[PATH_MAX];
static char g_tally[PATH_MAX];
static char g_tallyfile[PATH_MAX];
static char **g_rhosts;
static long g_messages;		/* info/error texts the modules sent */

static int null_conv(int n, const struct pam_message **msg,
		     struct pam_response **resp, void *data)
{
	struct pam_response *r;

	(void)data;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_ERROR_MSG ||
		    msg[i]->msg_style == PAM_TEXT_INFO)
			g_messages++;
	r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	*resp = r;		/* empty answers; libpam frees them */
	return PAM_SUCCESS;
}

static void no_delay(int retval, unsigned int usec, void *data)
{
	(void)retval;
	(void)usec;
	(void)data;
}

static const struct pam_conv conv = { null_conv, NULL };

static void die(const char *what)
{
	fprintf(stderr, "bench_pam: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* snprintf that refuses to truncate. */
__attribute__((format(printf, 3, 4)))
static void fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "bench_pam: path or text too long\n");
		exit(2);
	}
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	fmt(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f)
		die(path);
	fputs(text, f);
	if (fclose(f) != 0)
		die(path);
}

static void cleanup(void)
{
	rm_tree(g_tmp);
}

/* Documentation addresses only (RFC 5737, RFC 3849): 198.51.100.x,
 * 203.0.113.x, then 2001:db8::/64 hosts. */
static void make_rhosts(int n)
{
	g_rhosts = calloc((size_t)n, sizeof(*g_rhosts));
	if (!g_rhosts)
		die("calloc");
	for (int i = 0; i < n; i++) {
		char buf[64];

		if (i < 256)
			fmt(buf, sizeof(buf), "198.51.100.%d", i);
		else if (i < 512)
			fmt(buf, sizeof(buf), "203.0.113.%d", i - 256);
		else	/* distinct /64s: pam_vpsguard keys IPv6 per /64 */
			fmt(buf, sizeof(buf), "2001:db8:%x:%x::1",
				 (i >> 16) & 0xffff, i & 0xffff);
		g_rhosts[i] = strdup(buf);
		if (!g_rhosts[i])
			die("strdup");
	}
}

static void setup(const struct opts *o)
{
	char text[4 * PATH_MAX], conf[PATH_MAX], dir[PATH_MAX];
	char acct[PATH_MAX + 64], fl_args[PATH_MAX + 64];
	const bool ok = o->scenario == SUCCESS, banned = o->scenario == BANNED;
	/* The password check: fails, or passes in the success scenario. */
	const char *pw = ok ? "pam_permit.so" : "pam_deny.so";

	fmt(g_tmp, sizeof(g_tmp), "%s/vg-bench-pam-XXXXXX", o->tmpbase);
	if (!mkdtemp(g_tmp))
		die(g_tmp);
	atexit(cleanup);
	fmt(g_confdir, sizeof(g_confdir), "%s/pam.d", g_tmp);
	fmt(dir, sizeof(dir), "%s/vpsguard", g_tmp);
	fmt(g_tally, sizeof(g_tally), "%s/faillock", g_tmp);
	fmt(g_tallyfile, sizeof(g_tallyfile), "%s/%s", g_tally, o->user);
	if (mkdir(g_confdir, 0700) || mkdir(dir, 0700) ||
	    mkdir(g_tally, 0700))
		die("mkdir");

	/* Counting, never banning (rotating, success): maxretry at its
	 * maximum, and the rhosts rotate over --sources addresses.
	 * Banned: maxretry 3, so the warm-up bans the one source, for
	 * longer than any run.  With --conf-template (run.sh passes the
	 * shipped, fully commented vpsguard.conf, as an install has it)
	 * these lines are appended to a copy of that file, so the module
	 * parses what it parses in production. */
	fmt(conf, sizeof(conf), "%s/vpsguard.conf", g_tmp);
	{
		FILE *in, *out = fopen(conf, "we");
		char buf[4096];
		size_t n;

		if (!out)
			die(conf);
		if (o->conf_template) {
			in = fopen(o->conf_template, "re");
			if (!in)
				die(o->conf_template);
			while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
				fwrite(buf, 1, n, out);
			fclose(in);
		}
		fprintf(out, "\n# bench_pam\nmaxretry = %s\nfindtime = 1h\n"
			"%stable.size = 65536\ntable.path = %s/table\n",
			banned ? "3" : "1000", banned ? "bantime = 1d\n" : "",
			dir);
		if (fclose(out) != 0)
			die(conf);
	}

	/* Banned: the user is locked after 3 failures for longer than any
	 * run; the tally is never reset. */
	fmt(fl_args, sizeof(fl_args), "dir=%s %s nodelay", g_tally,
	    banned ? "deny=3 unlock_time=86400" : "deny=1000");
	fmt(acct, sizeof(acct), "account required pam_permit.so\n");
	fmt(text, sizeof(text), "auth required pam_permit.so\n%s",
	    ok ? acct : "");
	write_file(g_confdir, "permit", text);
	/* Success: the jump over pam_deny counts as "ignore", and a stack
	 * of ignores fails; Debian's common-auth lands on pam_permit, the
	 * limiter stacks on their authsucc line. */
	fmt(text, sizeof(text), "auth [success=1 default=ignore] %s\n"
	    "auth requisite pam_deny.so\n%s%s", pw,
	    ok ? "auth required pam_permit.so\n" : "", ok ? acct : "");
	write_file(g_confdir, "deny", text);

	fmt(acct, sizeof(acct), "account required %s conf=%s\n", o->module,
	    conf);
	fmt(text, sizeof(text),
		 "auth requisite %1$s preauth conf=%2$s\n"
		 "auth [success=1 default=ignore] %3$s\n"
		 "auth [default=die] %1$s authfail conf=%2$s\n"
		 "auth sufficient %1$s authsucc conf=%2$s\n"
		 "auth requisite pam_deny.so\n%4$s", o->module, conf, pw,
		 ok ? acct : "");
	write_file(g_confdir, "vpsguard", text);
	if (o->before) {
		/* Another build of the module (run.sh: MODULE_BEFORE, e.g.
		 * the last release) with the same config and table, for a
		 * before/after in one run. */
		fmt(acct, sizeof(acct), "account required %s conf=%s\n",
		    o->before, conf);
		fmt(text, sizeof(text),
		    "auth requisite %1$s preauth conf=%2$s\n"
		    "auth [success=1 default=ignore] %3$s\n"
		    "auth [default=die] %1$s authfail conf=%2$s\n"
		    "auth sufficient %1$s authsucc conf=%2$s\n"
		    "auth requisite pam_deny.so\n%4$s", o->before, conf, pw,
		    ok ? acct : "");
		write_file(g_confdir, stack_names[BEFORE], text);
	}
	/* preauth is requisite like pam_vpsguard's line: the same stack.
	 * Only the banned scenario sees a difference (a locked user is
	 * refused at once, no password asked). */
	fmt(acct, sizeof(acct), "account required %s %s\n", o->faillock,
	    fl_args);
	fmt(text, sizeof(text),
		 "auth requisite %1$s preauth %2$s\n"
		 "auth [success=1 default=ignore] %3$s\n"
		 "auth [default=die] %1$s authfail %2$s\n"
		 "auth sufficient %1$s authsucc %2$s\n"
		 "auth requisite pam_deny.so\n%4$s", o->faillock, fl_args,
		 pw, ok ? acct : "");
	write_file(g_confdir, "faillock", text);
	if (o->null_module) {
		static const char *const arg[2] = { "", " lookup" };

		fmt(acct, sizeof(acct), "account required %s\n",
		    o->null_module);
		for (int k = 0; k < 2; k++) {
			fmt(text, sizeof(text),
			    "auth requisite %1$s preauth%2$s\n"
			    "auth [success=1 default=ignore] %3$s\n"
			    "auth [default=die] %1$s authfail%4$s\n"
			    "auth sufficient %1$s authsucc\n"
			    "auth requisite pam_deny.so\n%5$s",
			    o->null_module, banned ? " refuse" : "", pw,
			    arg[k], ok ? acct : "");
			write_file(g_confdir, stack_names[NULLMOD + k], text);
		}
	}
	if (o->keep)
		fprintf(stderr, "bench_pam: keeping %s\n", g_tmp);
}

static long g_errors;

static int one_auth(const char *service, const char *user,
		    const char *rhost, bool account)
{
	pam_handle_t *pamh = NULL;
	int rc;

	rc = pam_start_confdir(service, user, &conv, g_confdir, &pamh);
	if (rc != PAM_SUCCESS) {
		g_errors++;
		return rc;
	}
	pam_set_item(pamh, PAM_RHOST, rhost);
	pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay);
	rc = pam_authenticate(pamh, 0);
	if (rc == PAM_SUCCESS && account)
		rc = pam_acct_mgmt(pamh, 0);
	pam_end(pamh, rc);
	return rc;
}

static __attribute__((noinline)) long run_iters(int stack, long n, long *pos,
					       const struct opts *o)
{
	const char *service = stack_names[stack];
	const bool banned = o->scenario == BANNED;
	/* Banned: the limiter's preauth must have told the user, every
	 * time; the baselines and pam_null say nothing. */
	const bool tells = banned && (stack == VPSGUARD || stack == FAILLOCK ||
				      stack == BEFORE);
	long bad = 0;

	for (long i = 0; i < n; i++) {
		long k = (*pos)++, msgs = g_messages;
		int rc;

		if (stack == FAILLOCK && !banned && o->faillock_reset > 0 &&
		    k % o->faillock_reset == 0)
			unlink(g_tallyfile);
		rc = one_auth(service, o->user,
			      g_rhosts[banned ? 0 : k % o->sources],
			      o->scenario == SUCCESS);
		/* permit must succeed, and every stack in the success
		 * scenario; every other stack fail (pam_deny's
		 * PAM_AUTH_ERR; PAM_PERM_DENIED when pam_faillock's authfail
		 * returns PAM_IGNORE into [default=die]). */
		if (stack == PERMIT || o->scenario == SUCCESS ?
		    rc != PAM_SUCCESS :
		    rc != PAM_AUTH_ERR && rc != PAM_PERM_DENIED)
			bad++;
		/* The first failures of the warm-up ban (lock); from then
		 * on, every attempt must be refused by preauth. */
		else if (tells && k >= 3 && g_messages == msgs)
			bad++;
	}
	return bad;
}

/* The measured loop: callgrind's --toggle-collect=bench_loop counts
 * exactly this (the warm-up calls run_iters() directly). */
__attribute__((noinline)) long bench_loop(int stack, long n, long *pos,
					  const struct opts *o);
__attribute__((noinline)) long bench_loop(int stack, long n, long *pos,
					  const struct opts *o)
{
	return run_iters(stack, n, pos, o);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_pam --module /abs/pam_vpsguard.so [options]\n"
		"  --scenario S         rotating (default), banned or success\n"
		"  --stacks LIST        permit,deny,null,null-lookup,vpsguard,\n"
		"                       faillock (default all; null* need --null)\n"
		"  --null PATH          build/bench/pam_null.so (absolute)\n"
		"  --module-before PATH another build, as stack vpsguard-before\n"
		"  --iters N            iterations per run (2000)\n"
		"  --runs N             runs per stack, interleaved (7)\n"
		"  --warmup N           untimed iterations per stack first (50)\n"
		"  --sources N          distinct rhosts to rotate over (4096)\n"
		"  --faillock-reset N   delete faillock's tally every N (4; 0 never)\n"
		"  --user NAME          PAM user (nobody)\n"
		"  --faillock PATH      pam_faillock.so (Debian path by default)\n"
		"  --tmp DIR            base for the temp dir (/dev/shm)\n"
		"  --conf-template F    vpsguard.conf to copy before the bench\n"
		"                       settings (default: those settings only)\n"
		"  --keep --quiet\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "module-before", required_argument, NULL, 'B' },
		{ "scenario", required_argument, NULL, 'x' },
		{ "null", required_argument, NULL, 'N' },
		{ "stacks", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'n' },
		{ "runs", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "sources", required_argument, NULL, 'S' },
		{ "faillock-reset", required_argument, NULL, 'R' },
		{ "user", required_argument, NULL, 'u' },
		{ "faillock", required_argument, NULL, 'f' },
		{ "tmp", required_argument, NULL, 't' },
		{ "conf-template", required_argument, NULL, 'c' },
		{ "keep", no_argument, NULL, 'k' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = {
		.iters = 2000, .warmup = 50, .runs = 7, .sources = 4096,
		.faillock_reset = 4, .user = "nobody", .tmpbase = "/dev/shm",
		.faillock = "/lib/x86_64-linux-gnu/security/pam_faillock.so",
	};
	static double ns[MAX_STACKS][MAX_RUNS];
	long pos[MAX_STACKS] = { 0 };
	bool any = false;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o.module = optarg; break;
		case 'B': o.before = optarg; break;
		case 'x':
			for (c = 0; c < 3; c++)
				if (strcmp(optarg, scenario_names[c]) == 0)
					break;
			if (c == 3)
				usage();
			o.scenario = (enum scenario)c;
			break;
		case 'N': o.null_module = optarg; break;
		case 's': {
			char *list = strdup(optarg), *save = NULL;

			for (char *w = strtok_r(list, ",", &save); w;
			     w = strtok_r(NULL, ",", &save)) {
				int k;

				for (k = 0; k < MAX_STACKS; k++)
					if (strcmp(w, stack_names[k]) == 0)
						break;
				if (k == MAX_STACKS)
					usage();
				o.use[k] = any = true;
			}
			free(list);
			break;
		}
		case 'n': o.iters = atol(optarg); break;
		case 'r': o.runs = atoi(optarg); break;
		case 'w': o.warmup = atol(optarg); break;
		case 'S': o.sources = atoi(optarg); break;
		case 'R': o.faillock_reset = atoi(optarg); break;
		case 'u': o.user = optarg; break;
		case 'f': o.faillock = optarg; break;
		case 't': o.tmpbase = optarg; break;
		case 'c': o.conf_template = optarg; break;
		case 'k': o.keep = true; break;
		case 'q': o.quiet = true; break;
		default: usage();
		}
	}
	if (!o.module || o.module[0] != '/' || o.iters < 1 || o.runs < 1 ||
	    o.runs > MAX_RUNS || o.warmup < 0 || o.sources < 1 ||
	    o.sources > 65536 || o.faillock_reset < 0 ||
	    (o.scenario == BANNED && o.warmup < 3))
		usage();
	if (!any)
		for (int k = 0; k < MAX_STACKS; k++)
			o.use[k] = k == BEFORE ? o.before != NULL :
				   o.null_module || (k != NULLMOD &&
						     k != NULL_LOOKUP);
	if ((o.use[NULLMOD] || o.use[NULL_LOOKUP]) &&
	    (!o.null_module || o.null_module[0] != '/'))
		usage();
	if (o.use[BEFORE] && (!o.before || o.before[0] != '/' ||
			      access(o.before, R_OK) != 0))
		usage();
	if (o.null_module && access(o.null_module, R_OK) != 0)
		die(o.null_module);
	if (access(o.module, R_OK) != 0)
		die(o.module);
	if (o.use[FAILLOCK] && access(o.faillock, R_OK) != 0)
		die(o.faillock);

	make_rhosts(o.sources);
	setup(&o);
	if (o.keep)
		g_tmp[0] = '\0';

	/* Warm-up: first table creation, page cache, libpam's own state. */
	for (int k = 0; k < MAX_STACKS; k++)
		if (o.use[k] && o.warmup &&
		    run_iters(k, o.warmup, &pos[k], &o)) {
			fprintf(stderr, "bench_pam: stack %s did not return "
				"the expected code (errors %ld)\n",
				stack_names[k], g_errors);
			return 1;
		}
	/* Runs interleaved across stacks, so drift hits all alike. */
	for (int r = 0; r < o.runs; r++)
		for (int k = 0; k < MAX_STACKS; k++) {
			double t0, t1;
			long bad;

			if (!o.use[k])
				continue;
			t0 = now_ns();
			bad = bench_loop(k, o.iters, &pos[k], &o);
			t1 = now_ns();
			if (bad) {
				fprintf(stderr, "bench_pam: stack %s: %ld "
					"unexpected results\n",
					stack_names[k], bad);
				return 1;
			}
			ns[k][r] = (t1 - t0) / (double)o.iters;
			if (!o.quiet)
				printf("run %d %-11s %10.0f ns/iter\n", r + 1,
				       stack_names[k], ns[k][r]);
		}
	for (int k = 0; k < MAX_STACKS; k++) {
		if (!o.use[k])
			continue;
		qsort(ns[k], (size_t)o.runs, sizeof(double), cmp_double);
		printf("median %-11s %10.0f ns/iter  (min %.0f max %.0f, "
		       "%d runs x %ld)\n", stack_names[k], ns[k][o.runs / 2],
		       ns[k][0], ns[k][o.runs - 1], o.runs, o.iters);
	}
	return 0;
}

/*
 * vg_adversary: the attacker's side of tests/adversary/, through real
 * Linux-PAM (pam_start_confdir: a private confdir, no /etc/pam.d file).
 *
 * "A password evaluated" is a PAM_PROMPT_ECHO_OFF prompt the password
 * module (pam_unix, or the test stand-in pam_vgpass.so at its place)
 * makes through our conversation: the SPEC's stack asks for a password
 * only after preauth let the attempt through.  Every answer is ANSWER.
 * pam_unix's failure delay is replaced by a no-op (PAM_FAIL_DELAY).
 * RHOST "-" sets no PAM_RHOST (the console).
 *
 *   vg_adversary try CONFDIR SVC USER RHOST ANSWER [N]
 *	N attempts (default 1), each on a fresh handle: pam_authenticate,
 *	then pam_acct_mgmt when it passed.  Prints
 *	"TRY n=N ok=K auth_ok=A prompts=P rc=LAST" (ok: both passed).
 *   vg_adversary acct CONFDIR SVC USER RHOST [N]
 *	the account phase alone, N times (a public-key login: sshd runs
 *	no auth stack for it).  Prints "ACCT n=N ok=K rc=LAST".
 *   vg_adversary flood CONFDIR SVC USER PATTERN FIRST COUNT PER ANSWER
 *	COUNT sources, PATTERN with its "%x" replaced by FIRST+i in hex,
 *	PER attempts each.  One handle per source, its PER attempts on it
 *	(as sshd: one handle per connection, one pam_authenticate per
 *	password, the account phase after a success).  Prints "FLOOD
 *	sources= attempts= prompts= ok= max_per_source= us_per_auth="
 *	(max_per_source: the most passwords any one source got
 *	evaluated) and one "CODE" line per PAM code.
 *   vg_adversary parallel CONFDIR SVC USER RHOST N ANSWER
 *	N processes at once, each holding its handle at the password
 *	prompt (blocked in the conversation) until every one of them has
 *	either reached the prompt or been refused: nothing completes
 *	while the others pass preauth.  Then all are released.  Prints
 *	"PARALLEL n=N prompted=P ok=K".
 *   vg_adversary hold CONFDIR SVC USER RHOST WAIT_MS SECOND EXTRA ANSWER
 *	in-flight slots on their own clock: process 1 reaches the prompt
 *	and holds it WAIT_MS (past inflight.timeout), then SECOND more
 *	processes reach the prompt and hold it, then process 1 answers
 *	(a failure), then EXTRA more try while the SECOND still hold.
 *	Prints "HOLD first=1|0 second=S extra=E evaluated=T".
 *
 * Syslog: this executable defines syslog() and friends, which libpam's
 * pam_vsyslog() calls instead of libc's (see tests/security/
 * vg_pamstress.c); with VG_ADV_LOG=1 in the environment each line is
 * printed as "LOG: ...", else only counted ("LOGLINES n").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define MAXCHILD 256

static unsigned long n_log;
static bool show_log;

static void capture(const char *fmt, va_list ap)
{
	char buf[2048];

	n_log++;
	if (!show_log)
		return;
	if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
		return;
	fputs("LOG: ", stdout);
	for (const char *p = buf; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('\n');
	fflush(stdout);
}

#include "../syslog_hook.h"

/* --- the conversation ---------------------------------------------------- */

static const char *answer = "";
static unsigned long n_prompts;	/* ECHO_OFF prompts answered */
/* In a held child: tell the parent we reached the prompt, then wait. */
static int hold_status_fd = -1, hold_go_fd = -1;

static int conv(int n, const struct pam_message **msg,
		struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
			n_prompts++;
			if (hold_status_fd >= 0) {
				char c = 'P';

				if (write(hold_status_fd, &c, 1) != 1)
					_exit(3);
				/* Blocks until the parent writes or dies. */
				if (read(hold_go_fd, &c, 1) < 0)
					_exit(3);
			}
		}
		r[i].resp = strdup(answer);
		if (!r[i].resp) {
			for (int j = 0; j < i; j++)
				free(r[j].resp);
			free(r);
			return PAM_BUF_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static const struct pam_conv pconv = { conv, NULL };

static void nodelay(int retval, unsigned int usec, void *p)
{
	(void)retval;
	(void)usec;
	(void)p;
}

static pam_handle_t *start(const char *dir, const char *svc,
			   const char *user, const char *rhost)
{
	pam_handle_t *h = NULL;
	int r = pam_start_confdir(svc, user, &pconv, dir, &h);

	if (r != PAM_SUCCESS) {
		fprintf(stderr, "pam_start_confdir(%s, %s): %s\n", svc, dir,
			pam_strerror(NULL, r));
		exit(2);
	}
	pam_set_item(h, PAM_FAIL_DELAY, (const void *)nodelay);
	if (strcmp(rhost, "-") != 0)
		pam_set_item(h, PAM_RHOST, rhost);
	return h;
}

/* One login attempt on a fresh handle: authenticate, then the account
 * phase if that passed.  Returns the first failing code, or 0; *auth_ok
 * tells whether authenticate passed. */
static int login(const char *dir, const char *svc, const char *user,
		 const char *rhost, bool *auth_ok)
{
	pam_handle_t *h = start(dir, svc, user, rhost);
	int r = pam_authenticate(h, 0);

	*auth_ok = r == PAM_SUCCESS;
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(h, 0);
	pam_end(h, r);
	return r;
}

static long num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "bad number '%s' (%ld..%ld)\n", s, lo, hi);
		exit(2);
	}
	return v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_try(char **a, int n)
{
	long count = n > 5 ? num(a[5], 1, 1000000) : 1;
	unsigned long ok = 0, aok = 0;
	int rc = 0;

	answer = a[4];
	for (long i = 0; i < count; i++) {
		bool auth_ok;

		rc = login(a[0], a[1], a[2], a[3], &auth_ok);
		ok += rc == PAM_SUCCESS;
		aok += auth_ok;
	}
	printf("TRY n=%ld ok=%lu auth_ok=%lu prompts=%lu rc=%d (%s)\n",
	       count, ok, aok, n_prompts, rc, pam_strerror(NULL, rc));
	return 0;
}

static int cmd_acct(char **a, int n)
{
	long count = n > 4 ? num(a[4], 1, 1000000) : 1;
	unsigned long ok = 0;
	int rc = 0;

	for (long i = 0; i < count; i++) {
		pam_handle_t *h = start(a[0], a[1], a[2], a[3]);

		rc = pam_acct_mgmt(h, 0);
		ok += rc == PAM_SUCCESS;
		pam_end(h, rc);
	}
	printf("ACCT n=%ld ok=%lu rc=%d (%s)\n", count, ok, rc,
	       pam_strerror(NULL, rc));
	return 0;
}

/* PATTERN with its first "%x" replaced by i in hex. */
static void mkhost(char *out, size_t len, const char *pat, unsigned long i)
{
	const char *p = strstr(pat, "%x");
	char hex[32];

	if (!p) {
		snprintf(out, len, "%s", pat);
		return;
	}
	snprintf(hex, sizeof(hex), "%lx", i);
	snprintf(out, len, "%.*s%s%s", (int)(p - pat), pat, hex, p + 2);
}

static int cmd_flood(char **a)
{
	long first = num(a[4], 0, 0xffffffffL), count = num(a[5], 1, 1000000);
	long per = num(a[6], 1, 1000);
	unsigned long prompts = 0, ok = 0, maxp = 0, attempts = 0;
	unsigned long codes[64] = { 0 };
	double t0 = now_s(), dt;
	char host[128];

	pam_handle_t *h;

	answer = a[7];
	for (long i = 0; i < count; i++) {
		unsigned long before = n_prompts, got;

		mkhost(host, sizeof(host), a[3], (unsigned long)(first + i));
		h = start(a[0], a[1], a[2], host);
		for (long k = 0; k < per; k++) {
			int rc = pam_authenticate(h, 0);

			if (rc == PAM_SUCCESS)
				rc = pam_acct_mgmt(h, 0);
			ok += rc == PAM_SUCCESS;
			codes[rc >= 0 && rc < 64 ? rc : 63]++;
			attempts++;
		}
		pam_end(h, PAM_SUCCESS);
		got = n_prompts - before;
		prompts += got;
		if (got > maxp)
			maxp = got;
	}
	dt = now_s() - t0;
	printf("FLOOD sources=%ld attempts=%lu prompts=%lu ok=%lu "
	       "max_per_source=%lu us_per_auth=%.1f\n",
	       count, attempts, prompts, ok, maxp,
	       attempts ? dt * 1e6 / (double)attempts : 0.0);
	for (int c = 0; c < 64; c++)
		if (codes[c])
			printf("CODE %d (%s): %lu\n", c, pam_strerror(NULL, c),
			       codes[c]);
	return 0;
}

/* --- held attempts (separate processes, as sshd runs them) ------------ */

struct child {
	pid_t pid;
	int status_fd;		/* child -> parent: 'P' at the prompt, 'D' rc */
	int go_fd;		/* parent -> child: any byte releases it */
	bool prompted;
	bool done;
	int rc;
};

static struct child kids[MAXCHILD];
static int n_kids;

static void child_run(const char *dir, const char *svc, const char *user,
		      const char *rhost, int sfd, int gfd)
{
	bool auth_ok;
	unsigned char msg[2];
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(3);
	hold_status_fd = sfd;
	hold_go_fd = gfd;
	rc = login(dir, svc, user, rhost, &auth_ok);
	msg[0] = 'D';
	msg[1] = (unsigned char)rc;
	if (write(sfd, msg, 2) != 2)
		_exit(3);
	_exit(0);
}

static struct child *spawn(const char *dir, const char *svc,
			   const char *user, const char *rhost)
{
	int s[2], g[2];
	struct child *k;
	pid_t pid;

	if (n_kids >= MAXCHILD || pipe2(s, O_CLOEXEC) || pipe2(g, O_CLOEXEC)) {
		fprintf(stderr, "spawn: too many children or pipe: %s\n",
			strerror(errno));
		exit(2);
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		close(s[0]);
		close(g[1]);
		child_run(dir, svc, user, rhost, s[1], g[0]);
	}
	close(s[1]);
	close(g[0]);
	k = &kids[n_kids++];
	*k = (struct child){ .pid = pid, .status_fd = s[0], .go_fd = g[1],
			     .rc = -1 };
	return k;
}

/* Read what the child says: until it is at the prompt or done.  false
 * on timeout or a dead child without a word. */
static bool settle(struct child *k, int timeout_ms)
{
	unsigned char c, rc;
	struct pollfd p = { .fd = k->status_fd, .events = POLLIN };

	if (k->prompted || k->done)
		return true;
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	if (read(k->status_fd, &c, 1) != 1)
		return false;
	if (c == 'P') {
		k->prompted = true;
		return true;
	}
	if (c == 'D' && read(k->status_fd, &rc, 1) == 1) {
		k->done = true;
		k->rc = rc;
		return true;
	}
	return false;
}

/* Let it answer and wait for its verdict. */
static bool finish(struct child *k, int timeout_ms)
{
	unsigned char c = 'g', buf[2];
	struct pollfd p = { .fd = k->status_fd, .events = POLLIN };
	int st;

	/* Finished already (hold's connection 1): pid 0 would make the
	 * waitpid() below wait for any child, one still held included. */
	if (k->pid == 0)
		return true;
	if (k->go_fd >= 0) {
		/* A refused child has exited: nothing reads its pipe. */
		if (!k->done && write(k->go_fd, &c, 1) != 1)
			return false;
		close(k->go_fd);
		k->go_fd = -1;
	}
	if (!k->done) {
		if (poll(&p, 1, timeout_ms) <= 0 ||
		    read(k->status_fd, buf, 2) != 2 || buf[0] != 'D')
			return false;
		k->done = true;
		k->rc = buf[1];
	}
	close(k->status_fd);
	k->status_fd = -1;
	waitpid(k->pid, &st, 0);
	k->pid = 0;
	return true;
}

static void kill_all(void)
{
	for (int i = 0; i < n_kids; i++)
		if (kids[i].pid > 0) {
			kill(kids[i].pid, SIGKILL);
			waitpid(kids[i].pid, NULL, 0);
			kids[i].pid = 0;
		}
}

static int cmd_parallel(char **a)
{
	long n = num(a[4], 1, MAXCHILD);
	int prompted = 0, ok = 0;

	answer = a[5];
	for (long i = 0; i < n; i++)
		spawn(a[0], a[1], a[2], a[3]);
	/* The barrier: every child at the prompt or refused. */
	for (int i = 0; i < n_kids; i++)
		if (!settle(&kids[i], 20000)) {
			fprintf(stderr, "child %d neither prompted nor done\n",
				i);
			kill_all();
			return 1;
		}
	for (int i = 0; i < n_kids; i++)
		prompted += kids[i].prompted;
	for (int i = 0; i < n_kids; i++) {
		if (!finish(&kids[i], 20000)) {
			fprintf(stderr, "child %d did not finish\n", i);
			kill_all();
			return 1;
		}
		ok += kids[i].rc == PAM_SUCCESS;
	}
	printf("PARALLEL n=%ld prompted=%d ok=%d\n", n, prompted, ok);
	return 0;
}

static int cmd_hold(char **a)
{
	long wait_ms = num(a[4], 0, 60000), second = num(a[5], 0, 100);
	long extra = num(a[6], 0, 100);
	int first_p, sec_p = 0, extra_p = 0, i;
	struct child *k1;

	answer = a[7];
	k1 = spawn(a[0], a[1], a[2], a[3]);
	if (!settle(k1, 20000))
		goto broken;
	first_p = k1->prompted;
	usleep((useconds_t)wait_ms * 1000);
	for (i = 0; i < second; i++) {
		struct child *k = spawn(a[0], a[1], a[2], a[3]);

		if (!settle(k, 20000))
			goto broken;
		sec_p += k->prompted;
	}
	/* Process 1 answers (wrong) while the second group holds. */
	if (!finish(k1, 20000))
		goto broken;
	for (i = 0; i < extra; i++) {
		struct child *k = spawn(a[0], a[1], a[2], a[3]);

		if (!settle(k, 20000))
			goto broken;
		extra_p += k->prompted;
	}
	for (i = 0; i < n_kids; i++)
		if (!finish(&kids[i], 20000))
			goto broken;
	printf("HOLD first=%d second=%d extra=%d evaluated=%d\n", first_p,
	       sec_p, extra_p, first_p + sec_p + extra_p);
	return 0;
broken:
	fprintf(stderr, "hold: a child neither prompted nor finished\n");
	kill_all();
	return 1;
}

static int usage(void)
{
	fputs("usage: vg_adversary try CONFDIR SVC USER RHOST ANSWER [N]\n"
	      "       vg_adversary acct CONFDIR SVC USER RHOST [N]\n"
	      "       vg_adversary flood CONFDIR SVC USER PATTERN FIRST COUNT "
	      "PER ANSWER\n"
	      "       vg_adversary parallel CONFDIR SVC USER RHOST N ANSWER\n"
	      "       vg_adversary hold CONFDIR SVC USER RHOST WAIT_MS SECOND "
	      "EXTRA ANSWER\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	int n = argc - 2, ret;
	char **a = argv + 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	show_log = getenv("VG_ADV_LOG") != NULL;
	/* No case may hang the suite; bench/bench_flood.sh's long floods
	 * set their own bound. */
	alarm(getenv("VG_ADV_ALARM") ? (unsigned int)atoi(getenv("VG_ADV_ALARM")) :
	      120);
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "try") == 0 && (n == 5 || n == 6))
		ret = cmd_try(a, n);
	else if (strcmp(argv[1], "acct") == 0 && (n == 4 || n == 5))
		ret = cmd_acct(a, n);
	else if (strcmp(argv[1], "flood") == 0 && n == 8)
		ret = cmd_flood(a);
	else if (strcmp(argv[1], "parallel") == 0 && n == 6)
		ret = cmd_parallel(a);
	else if (strcmp(argv[1], "hold") == 0 && n == 8)
		ret = cmd_hold(a);
	else
		return usage();
	printf("LOGLINES %lu\n", n_log);
	return ret;
}

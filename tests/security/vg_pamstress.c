/*
 * The module through real Linux-PAM (pam_start_confdir), on one handle
 * as sshd uses it, for what pamtester is too slow or too coarse for:
 *
 *   vg_pamstress flood CONFDIR SERVICE N [tail]
 *	N failed passwords, each from its own IPv6 /64, as fast as
 *	possible; prints the PAM codes seen and the syslog lines.  With
 *	"tail", waits for the next log-rate window (<= VG_LOG_WINDOW s)
 *	and fails once more, which reports what was suppressed.
 *   vg_pamstress try CONFDIR SERVICE USER RHOST
 *	one attempt; prints "RC n".
 *   vg_pamstress corrupt CONFDIR SERVICE TABLE truncate|zero|version
 *	failures from one source, then the table file is damaged in place
 *	(same inode: the handle's mapping is still on it), then more
 *	attempts on the same handle and a fresh one.
 *
 * Syslog is captured in-process: this executable defines syslog() and
 * its fortified variants, which libpam's pam_vsyslog() then calls
 * instead of libc's.  Every captured line is printed as "LOG: ...",
 * bytes outside printable ASCII as \xNN, so a line the module split or
 * polluted shows.  tests/security/test_faults.sh asserts on the output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>


static unsigned long n_lines, n_bad;

static void capture(const char *fmt, va_list ap)
{
	char buf[2048];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		return;
	n_lines++;
	fputs("LOG: ", stdout);
	for (const char *p = buf; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f || c == '\\') {
			printf("\\x%02x", c);
			n_bad++;
		} else {
			putchar(c);
		}
	}
	putchar('\n');
}

#include "../syslog_hook.h"

static int conv(int n, const struct pam_message **msg,
		struct pam_response **resp, void *data)
{
	(void)msg;
	(void)data;
	*resp = calloc((size_t)n, sizeof(**resp));
	return *resp ? PAM_SUCCESS : PAM_BUF_ERR;
}

static const struct pam_conv pconv = { conv, NULL };

static pam_handle_t *start(const char *dir, const char *svc, const char *user)
{
	pam_handle_t *h = NULL;
	int r = pam_start_confdir(svc, user, &pconv, dir, &h);

	if (r != PAM_SUCCESS) {
		fprintf(stderr, "pam_start_confdir: %d\n", r);
		exit(2);
	}
	return h;
}

static int attempt(pam_handle_t *h, const char *rhost)
{
	pam_set_item(h, PAM_RHOST, rhost);
	return pam_authenticate(h, 0);
}

/* Sleep into the next VG_LOG_WINDOW (10 s) of CLOCK_BOOTTIME. */
static void next_window(void)
{
	struct timespec ts;
	long ms;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	ms = (10 - ts.tv_sec % 10) * 1000 - ts.tv_nsec / 1000000 + 200;
	usleep((useconds_t)ms * 1000);
}

/* unusable: every rhost is one the module cannot use (and there is no
 * SSH_CONNECTION), after one countable attempt that creates the table. */
static int flood(const char *dir, const char *svc, long n, bool tail,
		 bool unusable)
{
	pam_handle_t *h = start(dir, svc, "root");
	unsigned long codes[64] = { 0 };
	char rh[64];

	if (unusable)
		printf("FIRST %d\n", attempt(h, "192.0.2.200"));
	for (long i = 0; i < n; i++) {
		int r;

		/* 2001:db8:XXXX:YYYY::1: a new /64 every time */
		if (unusable)
			snprintf(rh, sizeof(rh), "bad host\n%ld", i);
		else
			snprintf(rh, sizeof(rh), "2001:db8:%lx:%lx::1",
				 (i >> 16) & 0xffff, i & 0xffff);
		r = attempt(h, rh);
		codes[r >= 0 && r < 64 ? r : 63]++;
	}
	printf("FLOOD DONE LINES %lu\n", n_lines);
	if (tail) {
		next_window();
		printf("TAIL %d\n", attempt(h, "2001:db8:ffff:ffff::1"));
	}
	pam_end(h, PAM_SUCCESS);
	for (int c = 0; c < 64; c++)
		if (codes[c])
			printf("CODE %d (%s): %lu\n", c,
			       pam_strerror(NULL, c), codes[c]);
	printf("LINES %lu BAD %lu\n", n_lines, n_bad);
	return 0;
}

static int damage(const char *table, const char *how)
{
	int fd = open(table, O_RDWR | O_CLOEXEC);
	int ret = -1;

	if (fd < 0)
		return -1;
	if (strcmp(how, "truncate") == 0) {
		ret = ftruncate(fd, 100);
	} else if (strcmp(how, "zero") == 0) {
		static char z[65536];
		off_t len = lseek(fd, 0, SEEK_END);

		ret = 0;
		for (off_t o = 0; o < len && ret == 0; o += (off_t)sizeof(z))
			ret = pwrite(fd, z, sizeof(z), o) > 0 ? 0 : -1;
	} else if (strcmp(how, "version") == 0) {
		unsigned int v = 99;	/* the word after the magic */

		ret = pwrite(fd, &v, sizeof(v), 4) == sizeof(v) ? 0 : -1;
	}
	close(fd);
	return ret;
}

/* Prints "STEP name rc" for the test to match. */
static int corrupt(const char *dir, const char *svc, const char *table,
		   const char *how)
{
	pam_handle_t *h = start(dir, svc, "root"), *g;

	printf("STEP fail1 %d\n", attempt(h, "198.51.100.1"));
	printf("STEP fail2 %d\n", attempt(h, "198.51.100.1"));
	if (damage(table, how) != 0) {
		perror("damage");
		return 2;
	}
	/* Same handle: its mapping is on the damaged file. */
	printf("STEP after %d\n", attempt(h, "198.51.100.1"));
	for (int i = 0; i < 3; i++)
		printf("STEP more%d %d\n", i, attempt(h, "198.51.100.2"));
	pam_end(h, PAM_SUCCESS);
	/* A new connection: the rebuilt table bans at maxretry (3). */
	g = start(dir, svc, "gooduser");
	printf("STEP good-banned %d\n", attempt(g, "198.51.100.2"));
	printf("STEP good-other %d\n", attempt(g, "198.51.100.3"));
	pam_end(g, PAM_SUCCESS);
	printf("LINES %lu BAD %lu\n", n_lines, n_bad);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "flood") == 0)
		return flood(argv[2], argv[3], atol(argv[4]),
			     argc == 6 && strcmp(argv[5], "tail") == 0,
			     argc == 6 && strcmp(argv[5], "unusable") == 0);
	if (argc == 6 && strcmp(argv[1], "try") == 0) {
		pam_handle_t *h = start(argv[2], argv[3], argv[4]);

		printf("RC %d\n", attempt(h, argv[5]));
		pam_end(h, PAM_SUCCESS);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "corrupt") == 0)
		return corrupt(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: vg_pamstress flood DIR SVC N [tail|unusable] | "
		"try DIR SVC USER RHOST | "
		"corrupt DIR SVC TABLE truncate|zero|version\n");
	return 2;
}

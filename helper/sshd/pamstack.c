#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "pamstack.h"

const char *pam_layout_name(enum pam_layout l)
{
	switch (l) {
	case PAM_LAYOUT_DEBIAN:
		return "Debian (@include common-auth)";
	case PAM_LAYOUT_RHEL:
		return "RHEL (auth substack password-auth)";
	default:
		return "unknown";
	}
}

/* The words of one line (at most n), comments cut off; the count. */
static int words(const char *line, size_t len, char w[][256], int n)
{
	int c = 0;
	size_t i = 0;

	while (i < len && c < n) {
		size_t s, l;

		while (i < len && isspace((unsigned char)line[i]))
			i++;
		if (i >= len || line[i] == '#')
			break;
		s = i;
		/* [a=b c=d] is one control word */
		if (line[i] == '[') {
			while (i < len && line[i] != ']')
				i++;
			if (i < len)
				i++;
		} else {
			while (i < len && !isspace((unsigned char)line[i]))
				i++;
		}
		l = i - s < 255 ? i - s : 255;
		memcpy(w[c], line + s, l);
		w[c][l] = '\0';
		c++;
	}
	return c;
}

static const char *line_end(const char *p, const char *end)
{
	const char *e = memchr(p, '\n', (size_t)(end - p));

	return e ? e + 1 : end;
}

/* The module's file name without its directory ("pam_unix.so"). */
static const char *base(const char *m)
{
	const char *s = strrchr(m, '/');

	return s ? s + 1 : m;
}

bool pamstack_has_block(const char *text)
{
	return strstr(text, PAMSTACK_BEGIN) != NULL;
}

bool pamstack_has_module(const char *text)
{
	const char *p = text, *end = text + strlen(text);

	while (p < end) {
		const char *e = line_end(p, end);
		char w[3][256];
		int n = words(p, (size_t)(e - p), w, 3);

		if (n == 3 && strcmp(w[0], "auth") == 0 &&
		    strcmp(base(w[2]), "pam_vpsguard.so") == 0)
			return true;
		p = e;
	}
	return false;
}

enum pam_layout pamstack_detect(const char *text, size_t *off)
{
	const char *p = text, *end = text + strlen(text);

	while (p < end) {
		const char *e = line_end(p, end);
		char w[3][256];
		int n = words(p, (size_t)(e - p), w, 3);

		*off = (size_t)(p - text);
		if (n == 2 && strcmp(w[0], "@include") == 0 &&
		    strcmp(w[1], "common-auth") == 0)
			return PAM_LAYOUT_DEBIAN;
		if (n == 3 && strcmp(w[0], "auth") == 0 &&
		    (strcmp(w[1], "substack") == 0 ||
		     strcmp(w[1], "include") == 0) &&
		    strcmp(w[2], "password-auth") == 0)
			return PAM_LAYOUT_RHEL;
		p = e;
	}
	return PAM_LAYOUT_UNKNOWN;
}

/* A growing output buffer; oom sticks. */
struct sbuf {
	char *b;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *s, const char *p, size_t n)
{
	if (s->oom)
		return;
	if (!s->b || s->len + n + 1 > s->cap) {
		size_t cap = (s->len + n + 1) * 2;
		char *b = realloc(s->b, cap);

		if (!b) {
			s->oom = true;
			return;
		}
		s->b = b;
		s->cap = cap;
	}
	memcpy(s->b + s->len, p, n);
	s->len += n;
	s->b[s->len] = '\0';
}

static void sb_printf(struct sbuf *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		s->oom = true;
		return;
	}
	sb_add(s, tmp, (size_t)n);
}

static int sb_finish(struct sbuf *s, char **out, size_t *outlen)
{
	if (s->oom || !s->b) {
		free(s->b);
		return -ENOMEM;
	}
	*out = s->b;
	*outlen = s->len;
	return 0;
}

int pamstack_apply(const char *text, size_t len, enum pam_layout l,
		   size_t off, const char *module, const char *unix_args,
		   char **out, size_t *outlen)
{
	struct sbuf s = { 0 };
	const char *line = text + off, *e = line_end(line, text + len);
	bool debian = l == PAM_LAYOUT_DEBIAN;

	sb_add(&s, text, off);
	sb_printf(&s, "%s\n", PAMSTACK_BEGIN);
	sb_printf(&s, "# The password check of the line kept below, with "
		  "pam_vpsguard around it\n# (SPEC reference stack; see "
		  "/usr/share/pam_vpsguard/pam.d-sshd.%s).\n"
		  "# preauth: a banned source is refused before any "
		  "password is checked.\n", debian ? "debian" : "rhel");
	sb_printf(&s, "auth     requisite                   %s preauth\n",
		  module);
	sb_printf(&s, "# Right password: skip the authfail line.\n");
	sb_printf(&s, "auth     [success=1 default=ignore]  pam_unix.so%s%s\n",
		  *unix_args ? " " : "", unix_args);
	sb_printf(&s, "# Wrong password: count one failure, end the stack.\n");
	sb_printf(&s, "auth     [default=die]               %s authfail\n",
		  module);
	if (debian) {
		sb_printf(&s, "# Right password: free the slot, stamp trust "
			  "(failures stay), done.\n");
		sb_printf(&s, "auth     sufficient                  %s "
			  "authsucc\n", module);
		sb_printf(&s, "auth     requisite                   "
			  "pam_deny.so\n");
	} else {
		sb_printf(&s, "# Right password: free the slot, stamp trust "
			  "(failures stay); the auth lines below still run.\n");
		sb_printf(&s, "auth     required                    %s "
			  "authsucc\n", module);
	}
	sb_printf(&s, "# Every login, public-key ones too: a banned source "
		  "is refused.\n");
	sb_printf(&s, "account  requisite                   %s\n", module);
	sb_printf(&s, "%s\n", PAMSTACK_END);
	sb_add(&s, PAMSTACK_KEPT, strlen(PAMSTACK_KEPT));
	sb_add(&s, line, (size_t)(e - line));
	sb_add(&s, e, (size_t)(text + len - e));
	return sb_finish(&s, out, outlen);
}

int pamstack_undo(const char *text, size_t len, char **out, size_t *outlen)
{
	struct sbuf s = { 0 };
	const char *p = text, *end = text + len;
	bool in_block = false, found = false;
	size_t bl = strlen(PAMSTACK_BEGIN), el = strlen(PAMSTACK_END);
	size_t kl = strlen(PAMSTACK_KEPT);

	while (p < end) {
		const char *e = line_end(p, end);
		size_t n = (size_t)(e - p);

		if (!in_block && n >= bl && strncmp(p, PAMSTACK_BEGIN, bl) == 0) {
			in_block = found = true;
		} else if (in_block) {
			if (n >= el && strncmp(p, PAMSTACK_END, el) == 0)
				in_block = false;
		} else if (n >= kl && strncmp(p, PAMSTACK_KEPT, kl) == 0) {
			sb_add(&s, p + kl, n - kl);
		} else {
			sb_add(&s, p, n);
		}
		p = e;
	}
	if (!found) {
		free(s.b);
		return -ENOENT;
	}
	if (!s.b)
		sb_add(&s, "", 0);	/* an empty original */
	return sb_finish(&s, out, outlen);
}

/* Auth modules a local-password check may carry that we can leave out
 * for sshd without changing who gets in. */
static bool harmless(const char *m)
{
	static const char *const ok[] = {
		"pam_unix.so", "pam_deny.so", "pam_permit.so", "pam_cap.so",
		"pam_env.so", "pam_faildelay.so", "pam_usertype.so",
		"pam_localuser.so", "pam_succeed_if.so", NULL,
	};

	for (int i = 0; ok[i]; i++)
		if (strcmp(m, ok[i]) == 0)
			return true;
	return false;
}

int pamstack_read_include(const char *path, char *args, size_t alen,
			  char *foreign, size_t flen)
{
	char *text;
	size_t len;
	const char *p, *end;
	bool unix_found = false;
	int ret = fs_read(path, &text, &len);

	args[0] = '\0';
	foreign[0] = '\0';
	if (ret)
		return ret;
	for (p = text, end = text + len; p < end; ) {
		const char *e = line_end(p, end);
		char w[12][256];
		int n = words(p, (size_t)(e - p), w, 12);

		p = e;
		if (n < 3 || (strcmp(w[0], "auth") != 0 &&
			      strcmp(w[0], "-auth") != 0))
			continue;
		if (strcmp(base(w[2]), "pam_unix.so") == 0 && !unix_found) {
			size_t o = 0;

			unix_found = true;
			/* try_first_pass/use_first_pass lean on a module
			 * that asked before: pam_unix asks itself here. */
			for (int i = 3; i < n; i++) {
				if (strcmp(w[i], "try_first_pass") == 0 ||
				    strcmp(w[i], "use_first_pass") == 0)
					continue;
				o += (size_t)snprintf(args + o, alen - o, "%s%s",
						      o ? " " : "", w[i]);
				if (o >= alen) {
					free(text);
					return -ENAMETOOLONG;
				}
			}
		} else if (!harmless(base(w[2])) && !foreign[0]) {
			snprintf(foreign, flen, "%s", base(w[2]));
		}
	}
	free(text);
	return unix_found ? 0 : -ENOENT;
}

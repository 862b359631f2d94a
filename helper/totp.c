/* totp: enroll, remove and inspect TOTP secrets (lib/totp.h has the
 * file format, totp_enrol.h what only enrolment needs).  The secret is
 * shown exactly once, at enrolment, as an otpauth:// URI and a QR code,
 * with ten recovery codes; only hashes of those are kept. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "qr.h"
#include "subcommands.h"
#include "totp_enrol.h"

static bool force;

static const struct cli_opt enroll_opts[] = {
	{ "force", &force, NULL, NULL,
	  "replace an existing secret (the old one stops working)" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd enroll_cmd = {
	.name = "totp enroll",
	.args = "USER [--force]",
	.help = "Create a TOTP secret for USER (RFC 6238: SHA-1, 6 digits, "
		"30 s) in totp.secrets,\nroot only, and print it once: an "
		"otpauth:// URI, the same as a QR code for an\nauthenticator "
		"app, and ten single-use recovery codes (kept only hashed).",
	.opts = enroll_opts,
	.min_args = 1, .max_args = 1,
};

static const struct cli_cmd remove_cmd = {
	.name = "totp remove",
	.args = "USER",
	.help = "Delete USER's TOTP secret and recovery codes.  With the "
		"totp mode in the\nPAM stack (and no nullok) USER can no "
		"longer log in until enrolled again.",
	.min_args = 1, .max_args = 1,
};

static const struct cli_cmd status_cmd = {
	.name = "totp status",
	.args = "[USER]",
	.help = "Enrolled users (or USER): whether the module would accept "
		"the file, recovery\ncodes left, and when a code was last "
		"accepted.",
	.min_args = 0, .max_args = 1,
	.json = true,
};

static const struct cli_cmd totp_cmd = {
	.name = "totp",
	.args = "enroll USER [--force] | remove USER | status [USER]",
	.help = "TOTP second factor: see 'totp enroll --help', 'totp remove "
		"--help',\n'totp status --help'.",
	.min_args = 1, .max_args = 1,
};

/* RFC 3986 unreserved characters stay, the rest is %XX.  A ':' is
 * refused by the Key Uri Format in issuer and account alike; it never
 * gets here (host names and checked user names have none). */
static void uri_encode(char *out, size_t len, const char *in)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in && o + 4 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		}
	}
	out[o] = '\0';
}

static void issuer_name(char *buf, size_t len)
{
	if (gethostname(buf, len) != 0 || buf[0] == '\0')
		snprintf(buf, len, "pam_vpsguard");
	buf[len - 1] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == ':')
			*p = '-';
}

/* The enrolment on standard output, flushed.  0, or -errno when any of
 * it could not be written (a full disk behind >FILE, a closed pipe, a
 * dropped session): the caller then stores nothing. */
static int print_enrolment(const char *user, const char *b32,
			   char codes[VG_TOTP_RECOVERY_N][VG_TOTP_RECOVERY_TEXT])
{
	char host[256], iss[3 * 256], acct[3 * VG_TOTP_USER_MAX + 1];
	char uri[2048];
	int ret;

	issuer_name(host, sizeof(host));
	uri_encode(iss, sizeof(iss), host);
	uri_encode(acct, sizeof(acct), user);
	snprintf(uri, sizeof(uri), "otpauth://totp/%s:%s?secret=%s&issuer=%s"
		 "&algorithm=SHA1&digits=%d&period=%d", iss, acct, b32, iss,
		 VG_TOTP_DIGITS, VG_TOTP_STEP);
	printf("TOTP secret for %s (shown once; keep this output private)\n\n"
	       "Scan the QR code with an authenticator app, or enter the "
	       "secret by hand:\n  secret: %s\n  uri:    %s\n\n", user, b32,
	       uri);
	ret = qr_print(stdout, uri);
	if (ret)
		cli_error("cannot draw the QR code: %s (use the URI above)",
			  strerror(-ret));
	printf("\nRecovery codes, each accepted once in place of a code "
	       "(store them offline):\n");
	for (int i = 0; i < VG_TOTP_RECOVERY_N; i++)
		printf("  %s\n", codes[i]);
	explicit_bzero(uri, sizeof(uri));
	/* stdio keeps the first write error in ferror() only: an earlier
	 * failed flush of a full buffer leaves nothing for fflush to
	 * report, so both are checked. */
	errno = 0;
	if (fflush(stdout) != 0)
		return errno ? -errno : -EIO;
	return ferror(stdout) ? -EIO : 0;
}

/* Is USER's file there?  Checked before anything is shown, so an
 * enrolment without --force is refused before a secret is printed that
 * would never be stored.  vg_totp_store checks again under the lock. */
static bool enrolled(const char *dir, const char *user)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, user) >=
	    (int)sizeof(path))
		return false;
	return lstat(path, &st) == 0;
}

/* A new secret and its Base32 text, ready before anything is stored:
 * a secret stored but never shown would lock the user out. */
static int new_secret(struct vg_totp *s,
		      char codes[VG_TOTP_RECOVERY_N][VG_TOTP_RECOVERY_TEXT],
		      char b32[VG_TOTP_BASE32_MAX])
{
	char err[VG_ERR_MAX];
	struct vg_oath o;
	int ret = vg_oath_load(&o, err, sizeof(err));

	if (ret) {
		cli_error("totp enroll: %s", err);
		return ret;
	}
	ret = vg_totp_new(s, codes);
	if (ret)
		cli_error("totp enroll: getrandom: %s", strerror(-ret));
	else if ((ret = vg_totp_base32(&o, s->secret, s->secret_len, b32,
				       VG_TOTP_BASE32_MAX)))
		cli_error("totp enroll: Base32 of the secret (liboath "
			  "oath_base32_encode): %s", strerror(-ret));
	vg_oath_unload(&o);
	return ret;
}

/* Is standard output /dev/null?  cli_init() puts a closed one there
 * too (`enroll >&-`): writes then succeed, and nobody sees them. */
static bool stdout_is_null(void)
{
	struct stat a, b;

	return fstat(STDOUT_FILENO, &a) == 0 && S_ISCHR(a.st_mode) &&
	       stat("/dev/null", &b) == 0 && a.st_rdev == b.st_rdev;
}

static int enroll(const char *user, const struct vg_config *cfg)
{
	char codes[VG_TOTP_RECOVERY_N][VG_TOTP_RECOVERY_TEXT];
	char err[VG_ERR_MAX], b32[VG_TOTP_BASE32_MAX];
	struct vg_totp s;
	int ret;

	if (!getpwnam(user)) {
		cli_error("totp enroll: no such user '%s'", user);
		return VG_EXIT_USAGE;
	}
	if (!vg_totp_user_ok(user)) {
		cli_error("totp enroll: '%s' cannot be used as a file name",
			  user);
		return VG_EXIT_USAGE;
	}
	if (!force && enrolled(cfg->totp_secrets, user)) {
		cli_error("totp enroll: %s: already enrolled; --force "
			  "replaces the secret (the old one stops working)",
			  user);
		return VG_EXIT_FAIL;
	}
	if (stdout_is_null()) {
		cli_error("totp enroll: %s: standard output is /dev/null (or "
			  "was closed): the secret would be shown to nobody; "
			  "nothing stored", user);
		return VG_EXIT_FAIL;
	}
	if (new_secret(&s, codes, b32) != 0) {
		ret = VG_EXIT_FAIL;
		goto out;
	}
	/* Shown first, stored second: a secret stored but never shown
	 * would lock the user out (and with --force would already have
	 * replaced the one that works).  A closed pipe must be an error
	 * here, not a silent SIGPIPE death. */
	signal(SIGPIPE, SIG_IGN);
	ret = print_enrolment(user, b32, codes);
	if (ret) {
		cli_error("totp enroll: %s: cannot write the enrolment to "
			  "standard output: %s; nothing stored (%s)", user,
			  strerror(-ret), enrolled(cfg->totp_secrets, user) ?
			  "the old secret still works" : "not enrolled");
		ret = VG_EXIT_FAIL;
		goto out;
	}
	ret = vg_totp_store(cfg->totp_secrets, user, &s, force, err,
			    sizeof(err));
	if (ret == -EEXIST) {
		cli_error("totp enroll: %s: enrolled meanwhile by someone "
			  "else: the secret shown above is NOT stored, discard "
			  "it; --force replaces the secret (the old one stops "
			  "working)", user);
		ret = VG_EXIT_FAIL;
	} else if (ret) {
		cli_error("totp enroll: %s: the secret shown above is NOT "
			  "stored, discard it", err);
		ret = cli_exit_code(ret);
	} else {
		ret = VG_EXIT_OK;
	}
out:
	vg_totp_wipe(&s);
	explicit_bzero(codes, sizeof(codes));
	explicit_bzero(b32, sizeof(b32));
	return ret;
}

static int remove_user(const char *user, const struct vg_config *cfg)
{
	char err[VG_ERR_MAX];
	int ret = vg_totp_remove(cfg->totp_secrets, user, err, sizeof(err));

	if (ret) {
		cli_error("totp remove: %s", err);
		return ret == -ENOENT ? VG_EXIT_FAIL : cli_exit_code(ret);
	}
	printf("removed the TOTP secret of %s\n", user);
	return VG_EXIT_OK;
}

static void status_row(struct out *o, const struct vg_config *cfg,
		       const char *user)
{
	char err[VG_ERR_MAX], last[32] = "never", state[VG_ERR_MAX + 16];
	struct vg_totp s;
	int ret = vg_totp_load(cfg->totp_secrets, user, &s, err, sizeof(err));
	bool ok = ret == 0;

	if (ok && s.last) {
		time_t t = (time_t)(s.last * VG_TOTP_STEP);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	snprintf(state, sizeof(state), "%s", ok ? "ok" : ret == -ENOENT ?
		 "not enrolled" : err);
	const struct out_field f[] = {
		{ "user", "user", OUT_STR, user, 0, NULL, false },
		{ "enrolled", NULL, OUT_BOOL, NULL, ret != -ENOENT, NULL,
		  false },
		{ "usable", NULL, OUT_BOOL, NULL, ok, NULL, false },
		{ "recovery_codes_left", "recovery left", OUT_INT, NULL,
		  ok ? s.n_recovery : 0, NULL, true },
		{ "last_used", "last code", ok && s.last ? OUT_STR : OUT_NULL,
		  last, 0, NULL, false },
		{ "state", "state", OUT_STR, state, 0,
		  ok ? NULL : "31", false },
	};

	vg_totp_wipe(&s);
	out_table_row(o, f, sizeof(f) / sizeof(f[0]));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int status(const char *user, const struct vg_config *cfg)
{
	char **names = NULL;
	size_t n = 0;
	struct out o;
	struct dirent *d;
	DIR *dir = NULL;
	int ret = 0;

	if (user && !vg_totp_user_ok(user)) {
		cli_error("totp status: '%s' cannot be used as a file name",
			  user);
		return VG_EXIT_USAGE;
	}
	if (!user) {
		dir = opendir(cfg->totp_secrets);
		if (!dir && errno != ENOENT) {
			cli_error("totp status: %s: %s", cfg->totp_secrets,
				  strerror(errno));
			return VG_EXIT_FAIL;
		}
		while (dir && (d = readdir(dir))) {
			char **nn;

			if (!vg_totp_user_ok(d->d_name))
				continue;	/* ., .., our temp files */
			nn = realloc(names, (n + 1) * sizeof(*names));
			if (!nn || !(nn[n] = strdup(d->d_name))) {
				names = nn ? nn : names;
				ret = -ENOMEM;
				break;
			}
			names = nn;
			n++;
		}
		if (dir)
			closedir(dir);
		if (n)
			qsort(names, n, sizeof(*names), name_cmp);
	}
	out_init(&o, cli_opts.json);
	out_table_begin(&o);
	if (user)
		status_row(&o, cfg, user);
	for (size_t i = 0; i < n && !ret; i++)
		status_row(&o, cfg, names[i]);
	out_table_end(&o);
	if (!ret)
		ret = out_finish(&o);
	else
		out_finish(&o);
	if (!ret && !user && !n && !cli_opts.json)
		cli_note("nobody is enrolled in %s", cfg->totp_secrets);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (ret)
		cli_error("totp status: %s", strerror(-ret));
	return ret ? VG_EXIT_FAIL : VG_EXIT_OK;
}

int totp_main(int argc, const char **argv)
{
	const struct cli_cmd *cmd = NULL;
	const char *args[1] = { NULL };
	struct vg_config cfg;
	unsigned int nargs;
	int ret, i;

	/* Global options may come between "totp" and the verb. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			cli_usage(&totp_cmd, stdout);
			return VG_EXIT_OK;
		}
		ret = cli_global_option(argc, argv, &i);
		if (ret != 1) {
			if (ret == 0)
				cli_error("totp: unknown option '%s'",
					  argv[i]);
			cli_usage(&totp_cmd, stderr);
			return VG_EXIT_USAGE;
		}
	}
	if (i < argc && !strcmp(argv[i], "enroll"))
		cmd = &enroll_cmd;
	else if (i < argc && !strcmp(argv[i], "remove"))
		cmd = &remove_cmd;
	else if (i < argc && !strcmp(argv[i], "status"))
		cmd = &status_cmd;
	if (!cmd) {
		if (i < argc)
			cli_error("totp: unknown verb '%s'", argv[i]);
		cli_usage(&totp_cmd, stderr);
		return VG_EXIT_USAGE;
	}
	ret = cli_parse(cmd, argc - i, argv + i, args, &nargs);
	if (ret)
		return ret == CLI_HELP ? VG_EXIT_OK : ret;
	ret = cli_load_config(&cfg);
	if (ret)
		return ret;
	/* Whatever we create is root's alone (files are written 0600 and
	 * the directory made 0700 anyway; this covers anything else a
	 * failure might leave). */
	umask(077);
	if (cmd == &enroll_cmd)
		return enroll(args[0], &cfg);
	if (cmd == &remove_cmd)
		return remove_user(args[0], &cfg);
	return status(nargs ? args[0] : NULL, &cfg);
}

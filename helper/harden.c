/* harden / unharden: the key-only sshd drop-in, written so that the
 * admin cannot lock themselves out by accident.
 *
 * Order matters: guards (who can still get in) -> write -> sshd -t
 * (roll back byte for byte on failure) -> sshd -T (is each value really
 * ours, else name the file that wins) -> only then, and only with
 * --confirm, a reload with an automatic way back (confirm.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accounts.h"
#include "cli.h"
#include "confirm.h"
#include "dropin.h"
#include "sshd.h"
#include "sshdconf.h"
#include "subcommands.h"

#define ERR_MAX		2048
#define PORTS_MAX	16

static bool opt_dry, opt_totp, opt_force, opt_reload;
static const char *opt_root, *opt_port, *opt_confirm;

/* The whole drop-in. */
static int build(const struct sshd_tree *t, const unsigned int *ports,
		 unsigned int nports, char *buf, size_t len)
{
	size_t o = 0;
	int n;

#define ADD(...) do { \
		n = snprintf(buf + o, len - o, __VA_ARGS__); \
		if (n < 0 || (size_t)n >= len - o) \
			return -ENOSPC; \
		o += (size_t)n; \
	} while (0)
	ADD("# Written by pam_vpsguard-admin harden%s; removed by "
	    "pam_vpsguard-admin unharden.\n# The name sorts before "
	    "cloud-init's 50-cloud-init.conf: sshd keeps the first value\n"
	    "# it reads, so these win over every later file and over "
	    "sshd_config itself\n# (which includes this directory at its "
	    "top).  Edits here are overwritten.\n", opt_totp ? " --totp" : "");
	for (size_t i = 0; i < dropin_nkws; i++) {
		const struct dropin_kw *k = &dropin_kws[i];

		if (dropin_kw_applies(k, t, opt_totp))
			ADD("\n# %s\n%s %s\n", k->comment, k->name, k->value);
	}
	if (nports) {
		ADD("\n# Ports: the new one beside the old (list keywords "
		    "add up across files);\n# drop the old one only after "
		    "a login through the new one worked.\n");
		for (unsigned int i = 0; i < nports; i++)
			ADD("Port %u\n", ports[i]);
	}
#undef ADD
	return 0;
}

/* Port lines of our previous drop-in: a rerun keeps the admin's port. */
static unsigned int old_ports(const struct fs_snap *s, unsigned int *ports,
			      unsigned int max)
{
	unsigned int n = 0;

	if (!s->existed)
		return 0;
	for (const char *p = s->data; p && *p && n < max; ) {
		unsigned long v;
		char *end;

		/* Only the "Port N" lines we wrote ourselves. */
		if (strncmp(p, "Port ", 5) == 0 && p[5] >= '1' && p[5] <= '9') {
			v = strtoul(p + 5, &end, 10);
			if (v < 65536 && (*end == '\n' || *end == '\0'))
				ports[n++] = (unsigned int)v;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return n;
}

/* One /proc/net/tcp{,6} line: local port (hex after the first ':' of
 * the local address) is port and the state (4th field) is 0A, LISTEN. */
static bool tcp_listens_on(const char *line, unsigned int port)
{
	const char *p = line + strspn(line, " ");
	unsigned long lport, state;
	char *end;

	p += strcspn(p, " ");		/* "0:" */
	p += strspn(p, " ");
	p = strchr(p, ':');		/* local address ':' port */
	if (!p)
		return false;
	errno = 0;
	lport = strtoul(p + 1, &end, 16);
	if (errno || *end != ' ')
		return false;
	p = end + strspn(end, " ");
	p += strcspn(p, " ");		/* remote address */
	p += strspn(p, " ");
	state = strtoul(p, &end, 16);
	if (errno || *end != ' ')
		return false;
	return lport == port && state == 0x0A;
}

/* Is something listening on TCP port (in this network namespace)? */
static bool port_in_use(unsigned int port)
{
	static const char *const files[] = { "/proc/net/tcp",
					     "/proc/net/tcp6" };
	char line[512];
	bool used = false;

	for (int i = 0; i < 2 && !used; i++) {
		FILE *f = fopen(files[i], "re");

		if (!f)
			continue;
		while (!used && fgets(line, sizeof(line), f)) {
			/* "  0: 0100007F:1F90 00000000:0000 0A ..." */
			if (tcp_listens_on(line, port))
				used = true;
		}
		fclose(f);
	}
	return used;
}

/* sshd's message with our temporary copy's name replaced by the file
 * the admin knows. */
static void print_sshd_err(const struct sshd_tree *t, const char *err)
{
	const char *p = err;
	size_t cl = strlen(t->check);

	fputs("  sshd: ", stderr);
	while (*p) {
		if (t->check_is_temp && strncmp(p, t->check, cl) == 0) {
			fputs(t->main, stderr);
			p += cl;
		} else {
			fputc(*p == '\n' && p[1] ? '\n' : *p, stderr);
			if (*p == '\n' && p[1])
				fputs("  sshd: ", stderr);
			p++;
		}
	}
	if (p == err || p[-1] != '\n')
		fputc('\n', stderr);
}

/* The lockout guards; each failure printed.  Count of failures.  r: who
 * can log in (for the Match check's sample user). */
static int guards(const struct sshd_tree *t, const char *dump,
		  struct acct_report *rp)
{
	struct acct_report r;
	char ak[1024];
	int bad = 0, ret;
	const char *how = opt_force ? "warning (--force)" : "refused";

	memset(rp, 0, sizeof(*rp));
	ret = acct_check(t->root, sshd_dump_get(dump, "authorizedkeysfile",
						 ak, sizeof(ak)) ? ak : NULL,
			 &r);
	if (!ret)
		*rp = r;
	if (ret) {
		cli_error("harden: %s: cannot read the users: %s", how,
			  strerror(-ret));
		return 1;
	}
	if (!r.key_users) {
		/* Name the files sshd reads: AuthorizedKeysFile may move
		 * them, and the admin must add the key where it looks. */
		cli_error("harden: %s: no user but root has an authorized key "
			  "(AuthorizedKeysFile: %s): with passwords off, "
			  "nobody could log in.  Add your key for your sudo "
			  "user (ssh-copy-id) and test a key login first", how,
			  sshd_dump_get(dump, "authorizedkeysfile", ak,
					sizeof(ak)) ? ak :
			  ".ssh/authorized_keys .ssh/authorized_keys2");
		bad++;
	}
	if (!r.sudo_users) {
		cli_error("harden: %s: no user but root is in sudo or wheel: "
			  "with root login off, nobody could become root.  "
			  "usermod -aG sudo USER (RHEL: wheel)", how);
		bad++;
	}
	if (r.key_users && r.sudo_users && !r.admin[0]) {
		cli_error("harden: %s: no sudo/wheel user has an authorized "
			  "key (%s has a key, %s has sudo): give one user "
			  "both", how, r.key_user, r.sudo_user);
		bad++;
	}
	if (!sshd_includes_dropins(t)) {
		cli_error("harden: %s: %s has no Include of %s, so the drop-in "
			  "would do nothing.  Add this as its first line:\n"
			  "  Include /etc/ssh/sshd_config.d/*.conf", how,
			  t->main, SSHD_DROPIN_DIR);
		bad++;
	}
	return bad;
}

/* Our values as sshd -T reports them; a loser is named with the file
 * and line that sshd reads first.  Count of overridden values. */
static int global_overrides(const struct sshd_tree *t, const char *dump,
			    const struct dropin_report *mr)
{
	int bad = 0;

	for (size_t i = 0; i < dropin_nkws; i++) {
		const struct dropin_kw *k = &dropin_kws[i];
		struct sshd_origin o;
		char val[256];

		if (!dropin_kw_applies(k, t, opt_totp))
			continue;
		if (!sshd_dump_get(dump, k->dump, val, sizeof(val)))
			continue;	/* not printed by this sshd */
		if (strcasecmp(val, k->value) == 0)
			continue;
		bad++;
		if (sshd_who_sets(t, k->dump, &o) == 1 &&
		    strcmp(o.file, t->dropin) != 0)
			cli_error("harden: %s is '%s', not '%s': %s line %u "
				  "(\"%s\") is read first and sshd keeps the "
				  "first value.  Remove that line or set it to "
				  "'%s'", k->name, val, k->value, o.file,
				  o.line, o.value, k->value);
		else if (!dropin_reported(mr, k))
			cli_error("harden: %s is '%s', not '%s' (a Match "
				  "block or the sshd command line?)", k->name,
				  val, k->value);
		/* else a "Match all" block: named below */
	}
	return bad;
}

/* Match blocks that give some connections a weaker value than ours:
 * sshd applies them over every global value, ours included. */
static int match_overrides(const struct dropin_report *mr)
{
	char text[FS_PATH_MAX * 2 + 512];

	for (unsigned int i = 0; i < mr->n; i++) {
		const struct dropin_finding *f = &mr->f[i];

		dropin_finding_text(f, text, sizeof(text));
		if (f->match_file[0])
			cli_error("harden: %s: for the connections it matches "
				  "it wins over the drop-in.  Remove that line "
				  "or set it to '%s'", text, f->kw->value);
		else
			cli_error("harden: %s, not '%s': a Match block applies "
				  "that the files read here do not show.  Find "
				  "it (sshd_config and its Includes) and remove "
				  "the setting", text, f->kw->value);
	}
	if (mr->more)
		cli_error("harden: and %u more Match block setting(s) like "
			  "these", mr->more);
	return (int)(mr->n + mr->more);
}

/* Everything that keeps our values from applying to every connection.
 * Count of problems. */
static int overrides(const struct sshd_tree *t, const char *dump,
		     const unsigned int *ports, unsigned int nports,
		     const char *user)
{
	struct dropin_report *mr = calloc(1, sizeof(*mr));
	int bad = 0;

	if (!mr) {
		cli_error("harden: %s", strerror(ENOMEM));
		return 1;
	}
	if (dropin_match_check(t, dump, opt_totp, user, mr) != 0) {
		cli_error("harden: cannot check the Match blocks with sshd: %s",
			  mr->err);
		bad++;
	}
	bad += global_overrides(t, dump, mr);
	bad += match_overrides(mr);
	for (unsigned int i = 0; i < nports; i++) {
		char p[16];

		snprintf(p, sizeof(p), "%u", ports[i]);
		if (!sshd_dump_has(dump, "port", p)) {
			cli_error("harden: sshd does not list port %s", p);
			bad++;
		}
	}
	free(mr);
	return bad;
}

static const struct cli_opt harden_opts[] = {
	{ "dry-run", &opt_dry, NULL, NULL,
	  "check the guards, print the drop-in as a diff, write nothing" },
	{ "totp", &opt_totp, NULL, NULL,
	  "key and a TOTP code (keyboard-interactive); needs the TOTP "
	  "PAM stack" },
	{ "port", NULL, &opt_port, "N",
	  "listen on N (1024-65535, free) too, beside the current port" },
	{ "force", &opt_force, NULL, NULL,
	  "write even if a lockout guard says no" },
	{ "confirm", NULL, &opt_confirm, "SECS",
	  "reload sshd now and roll back by itself after SECS unless\n"
	  "      `pam_vpsguard-admin confirm` is run (from a new login)" },
	{ "root", NULL, &opt_root, "DIR",
	  "work on the tree under DIR instead of /" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd harden_cmd = {
	.name = "harden",
	.args = "[--dry-run] [--totp] [--port N] [--force] [--confirm SECS] "
		"[--root DIR]",
	.help = "Write " SSHD_DROPIN ": no root login, no passwords,\n"
		"keys only (or key + TOTP with --totp), MaxAuthTries 3, "
		"LoginGraceTime 30.\nRefused without --force when no "
		"non-root user has an authorized key, no\nnon-root user is "
		"in sudo/wheel, or sshd_config does not include\n"
		"sshd_config.d.  Checked with sshd -t (failure: the old "
		"files come back\nunchanged), then with sshd -T: a file "
		"that overrides one of our values is\nnamed (exit 1), and "
		"so is a Match block that weakens one for some\nconnections "
		"(read from the files, and asked with sshd -T -C for root "
		"and a\nuser).  sshd is reloaded only with --confirm.",
	.opts = harden_opts,
};

static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned int *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || n < min || n > max)
		return -EINVAL;
	*v = (unsigned int)n;
	return 0;
}

static bool selinux(const char *root)
{
	char p[FS_PATH_MAX];

	return access("/sys/fs/selinux/enforce", F_OK) == 0 ||
	       (fs_rooted(p, sizeof(p), root, "/etc/selinux/config") == 0 &&
		access(p, F_OK) == 0);
}

/* Tests only: VG_TEST_HARDEN_KILL=armed|written kills harden right after
 * that step, the window a killed admin session can hit. */
static void test_killpoint(const char *where)
{
	const char *k = getenv("VG_TEST_HARDEN_KILL");

	if (k && strcmp(k, where) == 0)
		raise(SIGKILL);
}

/* One harden run: what each step leaves for the next and for the one
 * clean-up path (harden_main). */
struct harden {
	struct sshd_tree t;
	struct acct_report acct;
	struct fs_snap snap;
	char *dump;		/* sshd -T before the change */
	char *dump2;		/* and after it */
	char text[8192];	/* the drop-in */
	unsigned int port, secs, ports[PORTS_MAX], nports;
	bool made_dir;		/* we created sshd_config.d */
	bool armed;		/* the --confirm rollback is pending */
	bool rollback;		/* a failure after the write: put it back */
	bool unchanged;		/* the drop-in already said exactly this */
};

/* 0, CLI_HELP or VG_EXIT_USAGE (printed). */
static int harden_options(struct harden *h, int argc, const char **argv)
{
	const char *args[1];
	unsigned int nargs;
	int ret;

	ret = cli_parse(&harden_cmd, argc, argv, args, &nargs);
	if (ret)
		return ret;
	if (opt_port && parse_uint(opt_port, 1024, 65535, &h->port)) {
		cli_error("harden: --port %s: a port from 1024 to 65535",
			  opt_port);
		return VG_EXIT_USAGE;
	}
	if (opt_confirm && parse_uint(opt_confirm, 3, 86400, &h->secs)) {
		cli_error("harden: --confirm %s: seconds, 3 to 86400",
			  opt_confirm);
		return VG_EXIT_USAGE;
	}
	return 0;
}

/* The configuration as it is, the base of every check, and the lockout
 * guards on it.  0 or VG_EXIT_FAIL (printed). */
static int harden_check(struct harden *h)
{
	char err[ERR_MAX];
	int ret;

	ret = sshd_tree_open(&h->t, opt_root);
	if (ret) {
		cli_error("harden: %s: %s", h->t.main, strerror(-ret));
		return VG_EXIT_FAIL;
	}
	ret = sshd_dump(&h->t, &h->dump, err, sizeof(err));
	if (ret) {
		cli_error("harden: the current sshd configuration does not "
			  "pass sshd -T; fix it first:");
		print_sshd_err(&h->t, ret < 0 ? strerror(-ret) : err);
		return VG_EXIT_FAIL;
	}
	if (guards(&h->t, h->dump, &h->acct) && !opt_force) {
		cli_error("harden: nothing written (--force to write anyway)");
		return VG_EXIT_FAIL;
	}
	return 0;
}

/* The drop-in to write, into h->text, with the ports of the one it
 * replaces (h->snap) and --port.  0 or VG_EXIT_FAIL (printed). */
static int harden_plan(struct harden *h)
{
	int ret;

	ret = fs_snap_take(&h->snap, h->t.dropin);
	if (ret) {
		cli_error("harden: %s: %s", h->t.dropin, strerror(-ret));
		return VG_EXIT_FAIL;
	}
	h->nports = old_ports(&h->snap, h->ports, PORTS_MAX - 2);
	if (h->port) {
		bool have = false;

		for (unsigned int i = 0; i < h->nports; i++)
			have |= h->ports[i] == h->port;
		if (!have && port_in_use(h->port)) {
			cli_error("harden: --port %u: something listens there "
				  "already", h->port);
			return VG_EXIT_FAIL;
		}
		/* No Port line anywhere means sshd's default 22; one of
		 * ours alone would replace it, not add to it. */
		if (!h->nports && !sshd_explicit_ports(&h->t, h->t.dropin))
			h->ports[h->nports++] = 22;
		if (!have)
			h->ports[h->nports++] = h->port;
	}
	ret = build(&h->t, h->ports, h->nports, h->text, sizeof(h->text));
	if (ret) {
		cli_error("harden: %s", strerror(-ret));
		return VG_EXIT_FAIL;
	}
	return 0;
}

/* Armed before anything is written: a harden killed at any point from
 * here on (with the admin's session, or alone) is undone after secs
 * (confirm.h).  Every failure after it puts the old files back first,
 * then cancels it.  0 or VG_EXIT_FAIL (printed). */
static int harden_arm(struct harden *h)
{
	int ret;

	if (!h->secs)
		return 0;
	ret = pending_start(opt_root, &h->snap, h->secs);
	if (ret) {
		cli_error("harden: cannot arm the rollback: %s%s; nothing "
			  "written", strerror(-ret), ret == -EEXIST ?
			  " (one is pending already: confirm it, or wait for "
			  "it)" : "");
		return VG_EXIT_FAIL;
	}
	h->armed = true;
	return 0;
}

/* Does path hold exactly text, as a 0644 root file?  A second harden
 * then says so rather than "wrote" (and leaves the file alone). */
static bool same_text(const char *path, const char *text)
{
	char *buf = NULL;
	struct stat st;
	size_t len = 0;
	bool same;

	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 07777) != 0644 || st.st_uid != 0 ||
	    fs_read(path, &buf, &len) != 0)
		return false;
	same = len == strlen(text) && memcmp(buf, text, len) == 0;
	free(buf);
	return same;
}

/* Write the drop-in, then sshd -t and sshd -T on the result.  0 or
 * VG_EXIT_FAIL (printed; h->rollback once the file is touched). */
static int harden_write(struct harden *h)
{
	char err[ERR_MAX];
	int ret;

	if (access(h->t.dropin_dir, F_OK) != 0) {
		ret = fs_mkdirs(h->t.dropin_dir, 0755);
		if (ret) {
			cli_error("harden: %s: %s; nothing written",
				  h->t.dropin_dir, strerror(-ret));
			/* Or it would fire later, reload sshd for nothing
			 * and refuse the next harden --confirm. */
			if (h->armed)
				pending_cancel(opt_root);
			return VG_EXIT_FAIL;
		}
		h->made_dir = true;
	}
	h->rollback = true;
	h->unchanged = same_text(h->t.dropin, h->text);
	ret = h->unchanged ? 0 : fs_write_atomic(h->t.dropin, h->text,
						 strlen(h->text), 0644);
	if (ret) {
		cli_error("harden: %s: %s", h->t.dropin, strerror(-ret));
		return VG_EXIT_FAIL;
	}
	test_killpoint("written");
	ret = sshd_test(&h->t, err, sizeof(err));
	if (ret) {
		cli_error("harden: sshd -t rejects the result; the old files "
			  "are back, unchanged:");
		print_sshd_err(&h->t, ret < 0 ? strerror(-ret) : err);
		return VG_EXIT_FAIL;
	}
	ret = sshd_dump(&h->t, &h->dump2, err, sizeof(err));
	if (ret) {
		cli_error("harden: sshd -T fails after the change; the old "
			  "files are back:");
		print_sshd_err(&h->t, ret < 0 ? strerror(-ret) : err);
		return VG_EXIT_FAIL;
	}
	h->rollback = false;
	return 0;
}

/* Does the written drop-in win everywhere?  0 or VG_EXIT_FAIL (printed;
 * h->rollback when armed: never reload a configuration we do not
 * own). */
static int harden_verify(struct harden *h)
{
	const struct acct_report *a = &h->acct;

	printf("%s %s (sshd -t: ok)\n", h->unchanged ? "unchanged, already "
	       "as wanted:" : "wrote", h->t.dropin);
	if (opt_totp)
		printf("--totp: keyboard-interactive now asks PAM; the sshd "
		       "stack must ask the code, not\nthe password "
		       "(sshd_snippets' TOTP stack), and each user needs "
		       "`pam_vpsguard-admin totp enroll`.\n");
	if (!overrides(&h->t, h->dump2, h->ports, h->nports,
		       a->admin[0] ? a->admin : a->key_user[0] ?
		       a->key_user : a->sudo_user))
		return 0;
	if (h->armed) {
		cli_error("harden: the drop-in does not win everywhere "
			  "(above); sshd not reloaded, the old files are "
			  "back");
		h->rollback = true;
	} else {
		cli_error("harden: the drop-in is in place but does not win "
			  "everywhere (above); sshd not reloaded");
	}
	return VG_EXIT_FAIL;
}

static void harden_port_note(unsigned int port)
{
	printf("Port %u added beside the current one.  Before you use it:\n"
	       "  - open TCP %u in your provider's firewall (and ufw allow "
	       "%u/tcp, or\n    firewall-cmd --permanent "
	       "--add-port=%u/tcp)\n", port, port, port, port);
	if (selinux(opt_root))
		printf("  - SELinux: semanage port -a -t ssh_port_t -p tcp "
		       "%u\n", port);
	printf("  - log in through it, then remove the old port\n");
}

/* Only with --confirm: reload sshd, the armed rollback as the way back.
 * 0 or VG_EXIT_FAIL (printed, h->rollback). */
static int harden_reload(struct harden *h)
{
	char how[256];
	int ret;

	if (!h->secs) {
		printf("sshd not reloaded: it still runs the old "
		       "configuration.  Reload it (systemctl reload ssh), "
		       "then\ntest a key login from a NEW terminal before "
		       "closing this one; or use --confirm SECS.\n");
		return 0;
	}
	ret = vg_sshd_reload(opt_root, how, sizeof(how));
	if (ret) {
		cli_error("harden: reload failed (%s: %s); the old files are "
			  "back", how[0] ? how : "reload",
			  ret == -ESRCH ? "no running sshd found" :
			  strerror(-ret));
		h->rollback = true;
		return VG_EXIT_FAIL;
	}
	printf("sshd reloaded (%s).  Now open a NEW login and run\n"
	       "  pam_vpsguard-admin confirm%s%s\nwithin %u seconds, or the "
	       "old configuration comes back by itself.\n", how,
	       opt_root ? " --root " : "", opt_root ? opt_root : "",
	       h->secs);
	return 0;
}

static void harden_rollback(struct harden *h)
{
	if (fs_snap_restore(&h->snap) != 0 || !fs_snap_same(&h->snap))
		cli_error("harden: could not put %s back: check it by hand",
			  h->t.dropin);
	if (h->made_dir)
		rmdir(h->t.dropin_dir);
	/* Only now: a kill before this line leaves the armed rollback. */
	if (h->armed)
		pending_cancel(opt_root);
}

/* --dry-run: the change as a diff, nothing written, nothing armed. */
static int harden_dry_run(const struct harden *h)
{
	const struct fs_snap *s = &h->snap;

	if (fs_print_diff(SSHD_DROPIN, s->existed ? s->data : "", s->len,
			  h->text, strlen(h->text)))
		return VG_EXIT_FAIL;
	return VG_EXIT_OK;
}

/* Order: guards -> arm -> write -> sshd -t, -T -> overrides -> reload
 * (the file's head comment says why). */
static int harden_apply(struct harden *h)
{
	int ret;

	ret = harden_arm(h);
	if (ret)
		return ret;
	test_killpoint("armed");
	ret = harden_write(h);
	if (!ret)
		ret = harden_verify(h);
	if (ret)
		return ret;
	if (h->port)
		harden_port_note(h->port);
	return harden_reload(h);
}

int harden_main(int argc, const char **argv)
{
	struct harden run, *h = &run;
	int ret;

	memset(h, 0, sizeof(*h));
	ret = harden_options(h, argc, argv);
	if (!ret)
		ret = harden_check(h);
	if (!ret)
		ret = harden_plan(h);
	if (!ret && opt_dry)
		ret = harden_dry_run(h);
	else if (!ret)
		ret = harden_apply(h);
	if (h->rollback)
		harden_rollback(h);
	free(h->dump);
	free(h->dump2);
	fs_snap_free(&h->snap);
	sshd_tree_close(&h->t);
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

static const struct cli_opt unharden_opts[] = {
	{ "reload", &opt_reload, NULL, NULL, "reload sshd afterwards" },
	{ "root", NULL, &opt_root, "DIR",
	  "work on the tree under DIR instead of /" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd unharden_cmd = {
	.name = "unharden",
	.args = "[--reload] [--root DIR]",
	.help = "Remove " SSHD_DROPIN " (and drop a pending\nharden "
		"--confirm rollback).  Checked with sshd -t; the file comes "
		"back if\nsshd rejects the result.",
	.opts = unharden_opts,
};

/* Remove the drop-in, check that sshd accepts what is left (or put the
 * drop-in back), reload if asked.  VG_EXIT_OK or VG_EXIT_FAIL (printed). */
static int unharden_apply(struct sshd_tree *t, struct fs_snap *snap)
{
	char err[ERR_MAX], how[256];
	int ret;

	if (pending_cancel(opt_root) == 1)
		printf("pending harden --confirm rollback dropped\n");
	if (!snap->existed) {
		printf("%s: not there: nothing to do\n", t->dropin);
		return VG_EXIT_OK;
	}
	ret = fs_remove(t->dropin);
	if (ret) {
		cli_error("unharden: %s: %s", t->dropin, strerror(-ret));
		return VG_EXIT_FAIL;
	}
	ret = sshd_test(t, err, sizeof(err));
	if (ret) {
		cli_error("unharden: sshd -t rejects the result; %s is back:",
			  t->dropin);
		print_sshd_err(t, ret < 0 ? strerror(-ret) : err);
		fs_snap_restore(snap);
		return VG_EXIT_FAIL;
	}
	printf("removed %s\n", t->dropin);
	if (!opt_reload) {
		printf("reload sshd to apply it (systemctl reload ssh)\n");
		return VG_EXIT_OK;
	}
	ret = vg_sshd_reload(opt_root, how, sizeof(how));
	if (ret) {
		cli_error("unharden: reload (%s): %s", how, strerror(-ret));
		return VG_EXIT_FAIL;
	}
	printf("sshd reloaded (%s)\n", how);
	return VG_EXIT_OK;
}

int unharden_main(int argc, const char **argv)
{
	struct sshd_tree t;
	struct fs_snap snap = { .data = NULL };
	const char *args[1];
	unsigned int nargs;
	int ret;

	memset(&t, 0, sizeof(t));
	ret = cli_parse(&unharden_cmd, argc, argv, args, &nargs);
	if (ret)
		return ret == CLI_HELP ? VG_EXIT_OK : ret;
	ret = sshd_tree_open(&t, opt_root);
	if (!ret)
		ret = fs_snap_take(&snap, t.dropin);
	if (ret) {
		cli_error("unharden: %s", strerror(-ret));
		ret = VG_EXIT_FAIL;
	} else {
		ret = unharden_apply(&t, &snap);
	}
	fs_snap_free(&snap);
	sshd_tree_close(&t);
	return ret;
}

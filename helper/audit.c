/* audit: the first-day checklist of SPEC.md, PASS/WARN/FAIL per line,
 * each non-PASS with a one-line fix.  Facts come from sshd -T and the
 * real files of the tree, and one fact from the running sshd itself:
 * which methods it offers, asked over loopback (an SSH "none"
 * authentication probe; BatchMode means no password is ever sent). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "accounts.h"
#include "cli.h"
#include "dropin.h"
#include "nft.h"
#include "output.h"
#include "pamstack.h"
#include "run.h"
#include "sshdconf.h"
#include "subcommands.h"

enum verdict { PASS, WARN, FAIL };
static const char *const verdict_name[] = { "PASS", "WARN", "FAIL" };

#define LINES_MAX	48

struct line {
	enum verdict v;
	const char *id;		/* stable name for --json */
	char text[512];
	char fix[512];
};

struct report {
	struct line l[LINES_MAX];
	unsigned int n;
	unsigned int fails;
};

static void add(struct report *r, enum verdict v, const char *id,
		const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void add(struct report *r, enum verdict v, const char *id,
		const char *fix, const char *fmt, ...)
{
	struct line *l;
	va_list ap;

	if (v == FAIL)
		r->fails++;	/* counted even if the line is dropped */
	if (r->n >= LINES_MAX)
		return;
	l = &r->l[r->n++];
	l->v = v;
	l->id = id;
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	snprintf(l->fix, sizeof(l->fix), "%s", v == PASS ? "" : fix);
}

static const char *opt_root;

static bool rooted_exists(const char *path)
{
	char p[FS_PATH_MAX];
	glob_t g;
	bool found = false;

	if (fs_rooted(p, sizeof(p), opt_root, path) != 0)
		return false;
	if (glob(p, 0, NULL, &g) == 0)
		found = g.gl_pathc > 0;
	globfree(&g);
	return found;
}

/* Does any file matching the rooted glob contain needle? */
static bool rooted_grep(const char *pattern, const char *needle)
{
	char p[FS_PATH_MAX];
	glob_t g;
	bool found = false;

	if (fs_rooted(p, sizeof(p), opt_root, pattern) != 0 ||
	    glob(p, 0, NULL, &g) != 0)
		return false;
	for (size_t i = 0; i < g.gl_pathc && !found; i++) {
		char *buf;
		size_t len;

		if (fs_read(g.gl_pathv[i], &buf, &len) != 0)
			continue;
		/* one non-comment line holding the needle */
		for (char *l = buf; l && *l && !found; ) {
			char *e = strchr(l, '\n');

			if (e)
				*e = '\0';
			while (*l == ' ' || *l == '\t')
				l++;
			if (*l != '#' && *l != '/' && strstr(l, needle))
				found = true;
			l = e ? e + 1 : NULL;
		}
		free(buf);
	}
	globfree(&g);
	return found;
}

/* Can a password (or a keyboard-interactive prompt, which PAM may use
 * for the password) alone log in?  Every AuthenticationMethods list
 * that has one of them but no publickey is such a way. */
static bool password_alone(const char *dump)
{
	char am[512], pw[16] = "", kbd[16] = "", *list, *save = NULL;
	bool bad = false;

	sshd_dump_get(dump, "passwordauthentication", pw, sizeof(pw));
	sshd_dump_get(dump, "kbdinteractiveauthentication", kbd, sizeof(kbd));
	if (!sshd_dump_get(dump, "authenticationmethods", am, sizeof(am)) ||
	    strcmp(am, "any") == 0)
		return strcmp(pw, "yes") == 0 || strcmp(kbd, "yes") == 0;
	for (list = strtok_r(am, " ", &save); list && !bad;
	     list = strtok_r(NULL, " ", &save)) {
		bool key = strstr(list, "publickey") != NULL;
		bool p = strstr(list, "password") && strcmp(pw, "yes") == 0;
		bool k = strstr(list, "keyboard-interactive") &&
			 strcmp(kbd, "yes") == 0;

		bad = !key && (p || k);
	}
	return bad;
}

/* The methods the running sshd offers before any credential: 1 and the
 * list in methods, 0 not reachable, -errno. */
static int probe(unsigned int port, char *methods, size_t len)
{
	static const char *const hosts[] = { "127.0.0.1", "::1" };
	char p[16], err[2048];

	snprintf(p, sizeof(p), "%u", port);
	for (int i = 0; i < 2; i++) {
		const char *argv[] = {
			"/usr/bin/ssh", "-F", "/dev/null",
			"-o", "BatchMode=yes",
			"-o", "PubkeyAuthentication=no",
			"-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null",
			"-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "ConnectTimeout=5",
			"-o", "LogLevel=ERROR",
			"-p", p, "-l", "vpsguard-audit-probe", hosts[i],
			"true", NULL,
		};
		const char *s, *e;
		int ret = vg_run(argv, 20, NULL, 0, err, sizeof(err));

		if (ret < 0)
			return ret;
		s = strstr(err, "Permission denied (");
		if (!s)
			continue;
		s += strlen("Permission denied (");
		e = strchr(s, ')');
		if (!e || (size_t)(e - s) >= len)
			continue;
		memcpy(methods, s, (size_t)(e - s));
		methods[e - s] = '\0';
		return 1;
	}
	return 0;
}

/* Does a helper run for this network namespace, the one whose
 * nftables it would fill?  It holds the abstract socket name of
 * daemon.c's claim_netns(), which /proc/net/unix lists for the reader's
 * namespace only: a daemon of another namespace or container, or one
 * that is merely named so, does not count. */
static bool helper_running(void)
{
	static const char tail[] = " @pam_vpsguard-helper";
	const size_t tl = sizeof(tail) - 1;
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\n");

		line[n] = '\0';
		found = n >= tl && strcmp(line + n - tl, tail) == 0;
	}
	fclose(f);
	return found;
}

/* A base chain on the input hook with policy drop, in a table not ours. */
static bool default_deny_nft(void)
{
	const char *argv[] = { "/usr/sbin/nft", "list", "chains", NULL };
	char *out = malloc(256 * 1024), table[256] = "";
	bool found = false;

	if (!out)
		return false;
	if (vg_run(argv, 20, out, 256 * 1024, NULL, 0) == 0) {
		for (char *l = out; l && *l && !found; ) {
			char *e = strchr(l, '\n');

			if (e)
				*e = '\0';
			if (sscanf(l, " table %255[^{]", table) == 1)
				;
			else if (strstr(l, "hook input") &&
				 strstr(l, "policy drop") &&
				 strncmp(table, "inet vpsguard", 13) != 0)
				found = true;
			l = e ? e + 1 : NULL;
		}
	}
	free(out);
	return found;
}

static void check_sshd(struct report *r, const struct sshd_tree *t,
		       const char *dump)
{
	char v[512], methods[256];
	unsigned long n;

	sshd_dump_get(dump, "permitrootlogin", v, sizeof(v));
	add(r, strcmp(v, "no") == 0 ? PASS : FAIL, "root-login",
	    "pam_vpsguard-admin harden (PermitRootLogin no; log in as a "
	    "sudo user)", "root login: PermitRootLogin %s", v);
	add(r, password_alone(dump) ? FAIL : PASS, "password-login",
	    "pam_vpsguard-admin harden (keys only), or harden --totp",
	    password_alone(dump) ? "password login allowed without a second "
	    "factor" : "no password login without a key");
	if (sshd_dump_get(dump, "port", v, sizeof(v)) &&
	    (n = strtoul(v, NULL, 10)) > 0 && n < 65536) {
		int ret = probe((unsigned int)n, methods, sizeof(methods));

		if (ret == 1 && (strstr(methods, "password") ||
				 strstr(methods, "keyboard-interactive")))
			add(r, FAIL, "running-sshd", "reload sshd so it runs "
			    "the configuration on disk: systemctl reload ssh",
			    "the running sshd on port %lu offers %s before "
			    "any key (asked over loopback)", n, methods);
		else if (ret == 1)
			add(r, PASS, "running-sshd", "", "the running sshd on "
			    "port %lu offers only: %s", n, methods);
		else
			add(r, WARN, "running-sshd", "is sshd running? "
			    "systemctl status ssh", "could not ask the "
			    "running sshd on port %lu over loopback", n);
	}
	sshd_dump_get(dump, "usedns", v, sizeof(v));
	add(r, strcmp(v, "yes") == 0 ? WARN : PASS, "usedns",
	    "UseDNS no (a client's reverse DNS then names the source)",
	    "UseDNS %s", v);
	sshd_dump_get(dump, "maxauthtries", v, sizeof(v));
	add(r, strtoul(v, NULL, 10) > 4 ? WARN : PASS, "maxauthtries",
	    "pam_vpsguard-admin harden (MaxAuthTries 3)", "MaxAuthTries %s", v);
	sshd_dump_get(dump, "x11forwarding", v, sizeof(v));
	add(r, strcmp(v, "yes") == 0 ? WARN : PASS, "x11forwarding",
	    "X11Forwarding no (in a drop-in), unless you need it",
	    "X11Forwarding %s", v);
	add(r, sshd_includes_dropins(t) ? PASS : WARN, "include",
	    "add \"Include /etc/ssh/sshd_config.d/*.conf\" as the first line "
	    "of /etc/ssh/sshd_config", sshd_includes_dropins(t) ?
	    "sshd_config includes sshd_config.d" :
	    "sshd_config has no Include of sshd_config.d");
	if (sshd_at_least(t, 9, 8)) {
		v[0] = '\0';
		sshd_dump_get(dump, "persourcepenalties", v, sizeof(v));
		add(r, strncmp(v, "no", 2) == 0 ? WARN : PASS,
		    "persourcepenalties", "remove \"PerSourcePenalties no\" "
		    "(on by default since OpenSSH 9.8)",
		    "PerSourcePenalties %s", v[0] ? v : "(default)");
	}
}

/* A keyboard-interactive prompt can be held open for LoginGraceTime; a
 * slot that ran out before (inflight.timeout) goes to another connection
 * while the held password is still to be evaluated: more than maxretry. */
static void check_grace(struct report *r, const char *dump)
{
	struct vg_config c;
	char v[64] = "", span[32];
	unsigned long g;

	if (cli_load_config(&c) != VG_EXIT_OK) {
		add(r, WARN, "inflight-timeout", "correct the configuration "
		    "(the line above names it)", "inflight.timeout not "
		    "compared with LoginGraceTime: the configuration does "
		    "not read");
		return;
	}
	vg_duration_format(c.inflight_timeout, span, sizeof(span));
	sshd_dump_get(dump, "logingracetime", v, sizeof(v));
	g = strtoul(v, NULL, 10);
	if (g == 0 || g > c.inflight_timeout)
		add(r, WARN, "inflight-timeout", "LoginGraceTime 30 "
		    "(pam_vpsguard-admin harden), or at least not more than "
		    "inflight.timeout", "LoginGraceTime %s is longer than "
		    "inflight.timeout (%s): a client holding a "
		    "keyboard-interactive prompt that long gets its password "
		    "evaluated after its slot went to another connection",
		    g ? v : "0 (no limit)", span);
	else
		add(r, PASS, "inflight-timeout", "", "LoginGraceTime %lus is "
		    "within inflight.timeout (%s): a held prompt never "
		    "outlives its slot", g, span);
}

/* Match blocks that let some connections around the hardened values
 * (dropin.h): the same findings as harden's, one line each. */
static void check_match(struct report *r, const struct sshd_tree *t,
			const char *dump, const char *user)
{
	struct dropin_report *mr = calloc(1, sizeof(*mr));
	char text[512], fix[512];

	if (!mr) {
		add(r, WARN, "match-block", "retry", "out of memory");
		return;
	}
	if (dropin_match_check(t, dump, dropin_dump_is_totp(dump), user,
			       mr) != 0)
		add(r, WARN, "match-sshd", "run that sshd -T -C by hand to see "
		    "why", "could not ask sshd how its Match blocks apply: "
		    "%s", mr->err);
	for (unsigned int i = 0; i < mr->n; i++) {
		const struct dropin_finding *f = &mr->f[i];

		dropin_finding_text(f, text, sizeof(text));
		if (f->match_file[0]) {
			int n = snprintf(fix, sizeof(fix), "remove line %u of "
					 "%s (or set %s %s): for the "
					 "connections a Match block matches "
					 "it wins over the drop-in", f->line,
					 f->file, f->kw->name, f->kw->value);

			/* A path near PATH_MAX: the advice, shortened. */
			if (n < 0 || (size_t)n >= sizeof(fix))
				memcpy(fix + sizeof(fix) - 4, "...", 4);
		} else {
			snprintf(fix, sizeof(fix), "find the Match block that "
				 "sets %s (sshd_config and its Includes) and "
				 "remove that line", f->kw->name);
		}
		/* audit's own scale: MaxAuthTries and the like only WARN */
		add(r, f->kw->cmp == CMP_MAX ? WARN : FAIL,
		    f->match_file[0] ? "match-block" : "match-sshd", fix,
		    "%s", text);
	}
	if (mr->more)
		add(r, FAIL, "match-block", "remove them like the ones above "
		    "(grep -n Match in sshd_config and its Includes)",
		    "%u more Match block settings like these", mr->more);
	if (!mr->n && !mr->more)
		add(r, PASS, "match-block", "", "no Match block weakens root "
		    "or password login (files read; sshd -T -C for root and "
		    "%s)", user ? user : "a made-up user");
	free(mr);
}

static void check_files(struct report *r, const char *dump,
			struct acct_report *a0)
{
	struct acct_report a;
	char ak[1024], path[FS_PATH_MAX], *pam;
	size_t len;
	int ret;

	ret = acct_check(opt_root, sshd_dump_get(dump, "authorizedkeysfile",
						  ak, sizeof(ak)) ? ak : NULL,
			 &a);
	memset(a0, 0, sizeof(*a0));
	if (!ret)
		*a0 = a;
	if (ret || !a.admin[0])
		add(r, FAIL, "admin-key", "ssh-copy-id to a sudo/wheel user, "
		    "then test a key login", "no public key for any sudo/"
		    "wheel user");
	else
		add(r, PASS, "admin-key", "", "sudo/wheel user %s has a "
		    "public key", a.admin);
	if (fs_rooted(path, sizeof(path), opt_root, "/etc/pam.d/sshd") == 0 &&
	    fs_read(path, &pam, &len) == 0) {
		ret = pamstack_has_module(pam);
		free(pam);
	} else {
		ret = 0;
	}
	add(r, ret ? PASS : FAIL, "pam-module", "pam_vpsguard-admin setup",
	    ret ? "pam_vpsguard is stacked in /etc/pam.d/sshd" :
	    "pam_vpsguard is not stacked in /etc/pam.d/sshd");
}

/* The connection-rate guard counts only handshakes that conntrack has
 * seen completed ("assured"): its TCP window check is what stops a blind
 * spoofer from completing one with a guessed ACK.  be_liberal turns that
 * check off, and forged SYN + ACK pairs then get any address they claim
 * dropped (tests/sshd/test_sshd_companion.sh shows the setting; tests/nft
 * the attack).  Read live, whatever --root says: it is the kernel's. */
static void check_conntrack(struct report *r)
{
	static const char path[] =
		"/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal";
	char v[8] = "";
	/* Not fs_read(): a /proc file says it is 0 bytes long. */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, v, sizeof(v) - 1) : -1;
	bool liberal = n > 0 && v[0] != '0';

	if (fd >= 0)
		close(fd);

	add(r, liberal ? WARN : PASS, "conntrack-liberal",
	    "sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=0, and "
	    "remove it from /etc/sysctl.d",
	    liberal ? "nf_conntrack_tcp_be_liberal = 1: forged connections "
	    "can get any address dropped by the connection-rate guard" :
	    n > 0 ? "conntrack checks TCP windows "
	    "(nf_conntrack_tcp_be_liberal = 0)" :
	    "conntrack not loaded yet (it checks TCP windows by default)");
}

static void check_host(struct report *r)
{
	struct vg_nft_elem *e = NULL;
	size_t n = 0;
	int ret;
	bool ok;

	ok = helper_running();
	add(r, ok ? PASS : WARN, "helper", "systemctl enable --now "
	    "pam-vpsguard", ok ? "the helper is running" :
	    "the helper (pam_vpsguard-admin daemon) is not running");
	ret = vg_nft_list(VG_NFT_DROP, 64, &e, &n);
	free(e);
	add(r, ret == 0 ? PASS : WARN, "nftables", "start the helper "
	    "(it creates the table): systemctl enable --now pam-vpsguard",
	    ret == 0 ? "nftables table inet vpsguard present" :
	    "nftables table inet vpsguard absent");
	ok = (rooted_exists("/usr/bin/unattended-upgrade") &&
	      rooted_grep("/etc/apt/apt.conf.d/*",
			  "APT::Periodic::Unattended-Upgrade \"1\"")) ||
	     (rooted_grep("/etc/dnf/automatic.conf", "apply_updates = yes") &&
	      rooted_exists("/etc/systemd/system/timers.target.wants/"
			    "dnf-automatic*.timer")) ||
	     rooted_exists("/etc/systemd/system/timers.target.wants/"
			   "dnf-automatic-install.timer");
	add(r, ok ? PASS : WARN, "auto-updates", "apt install "
	    "unattended-upgrades (RHEL: dnf install dnf-automatic && "
	    "systemctl enable --now dnf-automatic-install.timer)",
	    ok ? "automatic security updates are on" :
	    "no automatic security updates");
	ok = rooted_grep("/etc/ufw/ufw.conf", "ENABLED=yes") ||
	     rooted_exists("/etc/systemd/system/multi-user.target.wants/"
			   "firewalld.service") ||
	     default_deny_nft();
	add(r, ok ? PASS : WARN, "firewall", "a default-deny input policy "
	    "that allows your SSH port (ufw default deny incoming; ufw allow "
	    "22/tcp; ufw enable)", ok ? "a default-deny input firewall is "
	    "on" : "no default-deny input firewall besides pam_vpsguard's");
	check_conntrack(r);
}

/* {"fail": N, "lines": [{"result", "check", "text", "fix"}, ...]}: fix
 * is null on a PASS line. */
static struct json_object *report_json(const struct report *r)
{
	const struct out_field top = { "fail", NULL, OUT_INT, NULL, r->fails,
				       NULL, false };
	struct json_object *root = out_json_object(&top, 1);
	struct json_object *lines = json_object_new_array();
	bool ok = root && lines;

	for (unsigned int i = 0; ok && i < r->n; i++) {
		const struct line *l = &r->l[i];
		const struct out_field f[] = {
			{ "result", NULL, OUT_STR, verdict_name[l->v], 0,
			  NULL, false },
			{ "check", NULL, OUT_STR, l->id, 0, NULL, false },
			{ "text", NULL, OUT_STR, l->text, 0, NULL, false },
			{ "fix", NULL, l->v == PASS ? OUT_NULL : OUT_STR,
			  l->fix, 0, NULL, false },
		};
		struct json_object *obj = out_json_object(f, 4);

		ok = obj && json_object_array_add(lines, obj) == 0;
		if (!ok)
			json_object_put(obj);
	}
	if (ok && json_object_object_add(root, "lines", lines) == 0)
		return root;
	json_object_put(lines);
	json_object_put(root);
	return NULL;
}

static int print(const struct report *r, bool json)
{
	struct out o;

	out_init(&o, json);
	if (json)
		out_json_emit(&o, report_json(r));
	for (unsigned int i = 0; !json && i < r->n; i++) {
		printf("%s  %s\n", verdict_name[r->l[i].v], r->l[i].text);
		if (r->l[i].v != PASS)
			printf("      fix: %s\n", r->l[i].fix);
	}
	return out_finish(&o);
}

static const struct cli_opt audit_opts[] = {
	{ "root", NULL, &opt_root, "DIR",
	  "check the tree under DIR instead of /" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd audit_cmd = {
	.name = "audit",
	.args = "[--root DIR]",
	.help = "The first-day checklist: PASS, WARN or FAIL per line, each "
		"non-PASS with a\none-line fix.  Exit 3 if any line FAILs.",
	.opts = audit_opts,
	.json = true,
};

int audit_main(int argc, const char **argv)
{
	struct sshd_tree t;
	struct acct_report acct;
	struct report *r = NULL;
	char err[2048], *dump = NULL;
	const char *args[1];
	unsigned int nargs;
	int ret;

	memset(&t, 0, sizeof(t));
	ret = cli_parse(&audit_cmd, argc, argv, args, &nargs);
	if (ret)
		return ret == CLI_HELP ? VG_EXIT_OK : ret;
	r = calloc(1, sizeof(*r));
	if (!r)
		return VG_EXIT_FAIL;
	ret = sshd_tree_open(&t, opt_root);
	if (!ret)
		ret = sshd_dump(&t, &dump, err, sizeof(err));
	if (ret) {
		cli_error("audit: cannot read the sshd configuration (%s): %s",
			  t.main, ret < 0 ? strerror(-ret) : err);
		ret = VG_EXIT_FAIL;
		goto out;
	}
	check_sshd(r, &t, dump);
	check_grace(r, dump);
	check_files(r, dump, &acct);
	check_match(r, &t, dump, acct.admin[0] ? acct.admin :
		    acct.key_user[0] ? acct.key_user :
		    acct.sudo_user[0] ? acct.sudo_user : NULL);
	check_host(r);
	ret = print(r, cli_opts.json);
	if (ret) {
		cli_error("audit: cannot write the output: %s", strerror(-ret));
		ret = VG_EXIT_FAIL;
		goto out;
	}
	ret = r->fails ? VG_EXIT_AUDIT : VG_EXIT_OK;
out:
	free(dump);
	free(r);
	sshd_tree_close(&t);
	return ret;
}

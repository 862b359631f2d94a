/* setup: stack pam_vpsguard into /etc/pam.d/sshd (pamstack.h has the
 * why of the edit), with a backup; idempotent; --undo gives the exact
 * original back; --dry-run shows the diff and writes nothing. */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "pamstack.h"
#include "subcommands.h"

#define PAM_SSHD	"/etc/pam.d/sshd"
#define BACKUP_DIR	"/var/lib/vpsguard/backup"
#define BACKUP		BACKUP_DIR "/pam.d-sshd.orig"

static bool opt_undo, opt_dry, opt_force;
static const char *opt_root, *opt_module;

static const struct cli_opt setup_opts[] = {
	{ "undo", &opt_undo, NULL, NULL,
	  "take our lines out again: the file as it was before setup" },
	{ "dry-run", &opt_dry, NULL, NULL,
	  "print the change as a unified diff, write nothing" },
	{ "root", NULL, &opt_root, "DIR",
	  "work on the tree under DIR instead of /" },
	{ "module", NULL, &opt_module, "PATH",
	  "the module as the stack names it (default pam_vpsguard.so;\n"
	  "      an absolute path for tests and unusual installs)" },
	{ "force", &opt_force, NULL, NULL,
	  "stack even if the module is not installed or the included\n"
	  "      file uses other authentication modules" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_cmd setup_cmd = {
	.name = "setup",
	.args = "[--undo] [--dry-run] [--root DIR]",
	.help = "Stack pam_vpsguard into /etc/pam.d/sshd.  Debian layout: "
		"the line\n\"@include common-auth\" is replaced by the "
		"reference stack (pam_unix between\npreauth and "
		"authfail/authsucc); RHEL layout: \"auth substack "
		"password-auth\"\nthe same way.  The replaced line stays in "
		"the file behind a comment prefix,\nso --undo restores the "
		"exact original; a copy is also kept in\n" BACKUP ".  "
		"Running setup twice changes nothing the second time.\n"
		"Any other layout is refused: stack it by hand after "
		"/usr/share/pam_vpsguard/.",
	.opts = setup_opts,
};

/* Is the module where PAM will look for it? */
static bool module_installed(const char *root, const char *module)
{
	static const char *const dirs[] = {
		"/lib/*/security", "/usr/lib/*/security", "/lib64/security",
		"/usr/lib64/security", "/lib/security", "/usr/lib/security",
		NULL,
	};
	char p[FS_PATH_MAX];
	bool found = false;

	if (module[0] == '/')
		return (fs_rooted(p, sizeof(p), root, module) == 0 &&
			access(p, R_OK) == 0) || access(module, R_OK) == 0;
	for (int i = 0; dirs[i] && !found; i++) {
		char pat[FS_PATH_MAX];
		glob_t g;

		if (fs_rooted(p, sizeof(p), root, dirs[i]) != 0 ||
		    snprintf(pat, sizeof(pat), "%s/%s", p, module) >=
		    (int)sizeof(pat))
			continue;
		if (glob(pat, 0, NULL, &g) == 0)
			found = g.gl_pathc > 0;
		globfree(&g);
	}
	return found;
}

static int write_like(const char *path, const char *data, size_t len)
{
	struct stat st;
	mode_t mode = 0644;

	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	return fs_write_atomic(path, data, len, mode);
}

static int undo(const char *path, const char *text, size_t len)
{
	char *out = NULL;
	size_t outlen;
	int ret = pamstack_undo(text, len, &out, &outlen);

	if (ret == -ENOENT) {
		printf("%s: no pam_vpsguard-admin setup lines: nothing to "
		       "undo%s\n", path, pamstack_has_module(text) ?
		       " (pam_vpsguard.so was stacked by hand: edit it by "
		       "hand)" : "");
		return VG_EXIT_OK;
	}
	if (ret) {
		cli_error("setup: %s: %s", path, strerror(-ret));
		return VG_EXIT_FAIL;
	}
	if (opt_dry) {
		ret = fs_print_diff(PAM_SSHD, text, len, out, outlen);
	} else {
		ret = write_like(path, out, outlen);
		if (!ret)
			printf("%s: pam_vpsguard lines removed, the original "
			       "restored\n", path);
	}
	free(out);
	if (ret) {
		cli_error("setup: %s: %s", path, strerror(-ret));
		return VG_EXIT_FAIL;
	}
	return VG_EXIT_OK;
}

static int stack(const char *path, const char *text, size_t len)
{
	const char *module = opt_module ? opt_module : "pam_vpsguard.so";
	char inc[FS_PATH_MAX], args[256], foreign[64], bpath[FS_PATH_MAX];
	char *out = NULL, *back = NULL;
	size_t off, outlen, backlen;
	enum pam_layout l;
	int ret;

	if (pamstack_has_block(text)) {
		printf("%s: pam_vpsguard is stacked already: nothing to do\n",
		       path);
		return VG_EXIT_OK;
	}
	if (pamstack_has_module(text)) {
		printf("%s: names pam_vpsguard.so already (edited by hand): "
		       "left as it is\n", path);
		return VG_EXIT_OK;
	}
	l = pamstack_detect(text, &off);
	if (l == PAM_LAYOUT_UNKNOWN) {
		cli_error("setup: %s has neither \"@include common-auth\" "
			  "(Debian) nor \"auth substack password-auth\" "
			  "(RHEL): unknown layout, not guessing.  Put the "
			  "lines of /usr/share/pam_vpsguard/pam.d-sshd.debian "
			  "around your password check by hand (preauth "
			  "before it, authfail and authsucc after it, as the "
			  "comments there explain)", path);
		return VG_EXIT_FAIL;
	}
	ret = fs_rooted(inc, sizeof(inc), opt_root,
			l == PAM_LAYOUT_DEBIAN ? "/etc/pam.d/common-auth" :
			"/etc/pam.d/password-auth");
	if (!ret)
		ret = pamstack_read_include(inc, args, sizeof(args), foreign,
					    sizeof(foreign));
	if (ret) {
		cli_error("setup: %s: %s; the %s layout takes its password "
			  "check from there", inc, ret == -ENOENT ?
			  "no pam_unix.so auth line (or no file)" :
			  strerror(-ret), pam_layout_name(l));
		return VG_EXIT_FAIL;
	}
	if (foreign[0] && strcmp(foreign, "pam_sss.so") == 0) {
		/* authselect's default sssd profile has it even where no
		 * directory is configured: say it, do not refuse. */
		cli_note("%s also asks pam_sss.so: for sshd the password "
			 "check becomes pam_unix.so (local users); directory "
			 "users keep key logins", inc);
	} else if (foreign[0] && !opt_force) {
		cli_error("setup: %s also authenticates with %s, which the "
			  "stack would leave out for sshd; stack by hand, or "
			  "--force", inc, foreign);
		return VG_EXIT_FAIL;
	}
	if (!module_installed(opt_root, module) && !opt_force) {
		cli_error("setup: %s is not installed (a missing module in "
			  "\"account requisite\" refuses every login, keys "
			  "too): install it first, or --force", module);
		return VG_EXIT_FAIL;
	}
	ret = pamstack_apply(text, len, l, off, module, args, &out, &outlen);
	if (ret)
		goto err;
	/* The promise of --undo, checked before anything is written. */
	ret = pamstack_undo(out, outlen, &back, &backlen);
	if (ret || backlen != len || memcmp(back, text, len) != 0) {
		cli_error("setup: internal error: the edit would not undo "
			  "exactly; nothing written");
		ret = VG_EXIT_FAIL;
		goto out;
	}
	if (opt_dry) {
		ret = fs_print_diff(PAM_SSHD, text, len, out, outlen);
		if (ret)
			goto err;
		ret = VG_EXIT_OK;
		goto out;
	}
	if ((ret = fs_rooted(bpath, sizeof(bpath), opt_root, BACKUP_DIR)) ||
	    (ret = fs_mkdirs(bpath, 0700)) ||
	    (ret = fs_rooted(bpath, sizeof(bpath), opt_root, BACKUP)) ||
	    (ret = fs_write_atomic(bpath, text, len, 0600)))
		goto err;
	ret = write_like(path, out, outlen);
	if (ret)
		goto err;
	printf("%s: pam_vpsguard stacked (%s layout, pam_unix.so %s); "
	       "original kept in %s\n", path, pam_layout_name(l),
	       args[0] ? args : "(no arguments)", bpath);
	ret = VG_EXIT_OK;
	goto out;
err:
	cli_error("setup: %s", strerror(-ret));
	ret = VG_EXIT_FAIL;
out:
	free(out);
	free(back);
	return ret;
}

int setup_main(int argc, const char **argv)
{
	char path[FS_PATH_MAX], *text = NULL;
	const char *args[1];
	unsigned int nargs;
	size_t len;
	int ret;

	ret = cli_parse(&setup_cmd, argc, argv, args, &nargs);
	if (ret)
		goto out;
	ret = fs_rooted(path, sizeof(path), opt_root, PAM_SSHD);
	if (!ret)
		ret = fs_read(path, &text, &len);
	if (ret) {
		cli_error("setup: %s: %s", path, strerror(-ret));
		ret = VG_EXIT_FAIL;
		goto out;
	}
	ret = opt_undo ? undo(path, text, len) : stack(path, text, len);
out:
	free(text);
	return ret == CLI_HELP ? VG_EXIT_OK : ret;
}

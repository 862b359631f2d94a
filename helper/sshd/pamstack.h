/* Stacking pam_vpsguard into /etc/pam.d/sshd as a reversible text edit.
 *
 * The password check has to sit *between* our lines (SPEC "The module"):
 * preauth before it, authfail on its failure path, authsucc on its
 * success path.  Modules cannot read earlier results, and a module after
 * "@include common-auth" never runs on a wrong password (common-auth's
 * requisite pam_deny ends the whole stack), nor can a line after
 * "auth substack password-auth" tell success from failure.  So the line
 * that pulls in the distribution's password check is commented out and
 * replaced by the SPEC's reference stack, with pam_unix's arguments
 * taken from the file it used to include:
 *
 *   Debian   "@include common-auth"          -> the reference stack
 *   RHEL     "auth substack|include password-auth" -> the same, with
 *            "required" authsucc and no pam_deny, so that the following
 *            "auth include postlogin" still runs
 *
 * The edit: a marked block in place of the line, and the line itself
 * kept behind a prefix.  Undo drops the block and the prefix, which
 * gives back the original bytes exactly. */
#ifndef VG_PAMSTACK_H
#define VG_PAMSTACK_H

#include <stdbool.h>
#include <stddef.h>

enum pam_layout { PAM_LAYOUT_UNKNOWN, PAM_LAYOUT_DEBIAN, PAM_LAYOUT_RHEL };

#define PAMSTACK_BEGIN	"# >>> pam_vpsguard: added by pam_vpsguard-admin setup " \
			"(undo: pam_vpsguard-admin setup --undo)"
#define PAMSTACK_END	"# <<< pam_vpsguard"
#define PAMSTACK_KEPT	"#pam_vpsguard-setup# "

const char *pam_layout_name(enum pam_layout l);

/* Is the module in this stack already (our block, or a hand-made stack
 * naming pam_vpsguard on a non-comment auth line)? */
bool pamstack_has_module(const char *text);
bool pamstack_has_block(const char *text);

/* Which layout, and which line (0-based byte offset of its start) is
 * the password-check include.  PAM_LAYOUT_UNKNOWN if neither. */
enum pam_layout pamstack_detect(const char *text, size_t *off);

/* The stacked file: module is what the lines name (pam_vpsguard.so or a
 * path), unix_args pam_unix's arguments ("nullok").  *out malloc'd.
 * 0 or -errno. */
int pamstack_apply(const char *text, size_t len, enum pam_layout l,
		   size_t off, const char *module, const char *unix_args,
		   char **out, size_t *outlen);
/* The file without our edit; 0, -ENOENT if there is none. */
int pamstack_undo(const char *text, size_t len, char **out, size_t *outlen);

/* Read the auth lines of the included file (common-auth or
 * password-auth): pam_unix's arguments into args, and the first module
 * we would drop that is not a plain local-password helper into foreign
 * ("" if none).  0, -ENOENT (no pam_unix line), -errno. */
int pamstack_read_include(const char *path, char *args, size_t alen,
			  char *foreign, size_t flen);

#endif

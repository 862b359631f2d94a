/* "Commit confirmed" for harden --confirm SECS: the change is live, and
 * a detached process puts the old drop-in back (and reloads sshd again)
 * after SECS unless `pam_vpsguard-admin confirm` runs first, from a new
 * login that proves the admin can still get in.
 *
 * The waiter is a double-forked, setsid()ed child of harden: it has the
 * snapshot of the old file in its own memory, survives the admin's SSH
 * session (SIGHUP, a killed process group), and needs no systemd.  The
 * pending state is ROOT/run/vpsguard/harden-pending (0600 in a 0700
 * directory): "token DEADLINE", where the token is the waiter's own.
 * confirm removes it under an flock; the waiter acts only if, holding
 * the same lock, the file still exists with its token.  A reboot clears
 * /run: the change is then kept (it passed sshd -t). */
#ifndef VG_CONFIRM_H
#define VG_CONFIRM_H

#include "fsutil.h"

#define PENDING_DIR	"/run/vpsguard"
#define PENDING_FILE	PENDING_DIR "/harden-pending"

/* Start the waiter: after secs, put snap back and reload sshd.  0, or
 * -EEXIST (one is pending already), -errno. */
int pending_start(const char *root, const struct fs_snap *snap,
		  unsigned int secs);
/* Drop a pending rollback (confirm, unharden).  1 dropped, 0 none
 * pending, -errno. */
int pending_cancel(const char *root);

#endif

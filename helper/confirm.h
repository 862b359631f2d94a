/* "Commit confirmed" for harden --confirm SECS: the rollback is armed
 * *before* anything is written, and puts the old drop-in back (and
 * reloads sshd again) after SECS unless `pam_vpsguard-admin confirm`
 * runs first, from a new login that proves the admin can still get in.
 * A harden killed at any point after arming is therefore undone.
 *
 * Where systemd is PID 1 the rollback is a transient timer unit
 * (systemd-run --on-active=SECS ... confirm --rollback TOKEN): it belongs
 * to the service manager, not to the admin's session.  Elsewhere (or if
 * systemd-run fails) it is a double-forked, setsid()ed child of harden
 * that keeps the snapshot in its own memory, survives the admin's SSH
 * session (SIGHUP, a killed process group), and needs no systemd.  The
 * pending state is ROOT/run/vpsguard/harden-pending (0600 in a 0700
 * directory): "token DEADLINE UNIT" (UNIT "-" for the forked waiter),
 * and harden-pending.orig, the snapshot for the timer.
 * confirm removes it under an flock; the waiter acts only if, holding
 * the same lock, the file still exists with its token.  A reboot clears
 * /run: the change is then kept (it passed sshd -t). */
#ifndef VG_CONFIRM_H
#define VG_CONFIRM_H

#include "fsutil.h"

#define PENDING_DIR	"/run/vpsguard"
#define PENDING_FILE	PENDING_DIR "/harden-pending"
#define PENDING_ORIG	PENDING_DIR "/harden-pending.orig"

/* Start the waiter: after secs, put snap back and reload sshd.  0, or
 * -EEXIST (one is pending already), -errno. */
int pending_start(const char *root, const struct fs_snap *snap,
		  unsigned int secs);
/* Undo now if the pending change is still token's (the waiter, and
 * `confirm --rollback TOKEN` from the timer unit); mem: the waiter's copy
 * of the snapshot, NULL to read PENDING_ORIG.  0 done or nothing to do. */
int pending_rollback(const char *root, const char *token,
		     const struct fs_snap *mem, unsigned int secs);
/* Drop a pending rollback (confirm, unharden).  1 dropped, 0 none
 * pending, -errno. */
int pending_cancel(const char *root);

#endif

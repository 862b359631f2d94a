/* Bans that survive a reboot: the helper's state file.
 *
 * The live table counts in CLOCK_BOOTTIME and dies with the boot; this
 * file keeps what must not: bans, ban counts and trust stamps, in
 * wall-clock seconds.  Only the helper links this (never the module). */
#ifndef VG_STATE_H
#define VG_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"

#define VG_STATE_MAX_RECORDS	(1u << 24)

struct vg_state_rec {
	struct vg_addr key;
	uint32_t ban_count;
	uint8_t flags;		/* VG_ENTRY_* */
	int64_t banned_at;	/* wall clock (time(2)) seconds; 0 = never */
	int64_t banned_until;
	int64_t last_success;
};

/* Write all records atomically (vg_atomic_write: a temporary file in
 * the same directory, fsync, rename over path, fsync the directory).  On
 * any error (a full disk included) the previous file is left exactly as
 * it was and the temporary removed.  The file is 0600.  0 or -errno,
 * with err filled. */
int vg_state_save(const char *path, const struct vg_state_rec *recs,
		  size_t n, char *err, size_t errlen);

/* The same atomic replacement for any file the helper must not lose
 * (the CrowdSec link's pending pushes): fn writes the whole content to
 * f and returns 0 or -errno.  Same guarantees and messages. */
int vg_state_replace(const char *path, int (*fn)(FILE *f, void *arg),
		     void *arg, char *err, size_t errlen);

/* Read a state file into a malloc'd array (caller frees).  A missing
 * file is -ENOENT with *n = 0.  A file that is truncated, corrupt or of
 * another version is -EBADMSG, with err naming the line; nothing from
 * it is returned.  The caller then keeps it aside with
 * vg_state_quarantine() and starts from what it can trust. */
int vg_state_load(const char *path, struct vg_state_rec **recs, size_t *n,
		  char *err, size_t errlen);

/* Rename path to path.corrupt-YYYYmmddTHHMMSS (never overwriting an
 * earlier one), so a bad file is kept for the admin, not lost. */
int vg_state_quarantine(const char *path, char *newpath, size_t len);

#endif

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
/* The widest keys the table has: a /24 and a /48 prefix ban.  A record
 * wider than these is a corrupt line. */
#define VG_STATE_MIN_V4		24
#define VG_STATE_MIN_V6		48

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
 * it is returned.  So is one that is not as the helper writes it: a
 * symbolic link, not a regular file (a FIFO: never waited for), owned
 * by another uid than the euid, or writable by group or others; err
 * says which.  A record keyed wider than the table's widest key (an
 * IPv4 prefix shorter than /24, IPv6 shorter than /48) is a corrupt
 * line.  The caller then keeps it aside with
 * vg_state_quarantine() and starts from what it can trust. */
int vg_state_load(const char *path, struct vg_state_rec **recs, size_t *n,
		  char *err, size_t errlen);

/* The lock that orders the table and the state file between the
 * helper's full pass (merge the file into the table ... save it) and an
 * unban (lift in the table, then in the file): interleaved, the pass
 * could merge the file as it was before the unban into the table after
 * it, and the lifted ban came back.  flock(LOCK_EX) of BESIDE.lock
 * (0600, made if missing, its directory 0700 too), waited for at most
 * wait_ms.  Callers put it beside the table (table.path.lock, in /run:
 * nothing on disk).  The fd, or -errno (-ETIMEDOUT). */
int vg_state_lock(const char *beside, int wait_ms);
void vg_state_unlock(int fd);

/* Rename path to path.corrupt-YYYYmmddTHHMMSS (never overwriting an
 * earlier one), so a bad file is kept for the admin, not lost.  The
 * name itself is moved: a symlink stays a symlink, a FIFO is never
 * opened. */
int vg_state_quarantine(const char *path, char *newpath, size_t len);

#endif

/* The one way this project replaces a file: the module's TOTP secrets
 * (a used code is recorded), the helper's state file, and the files the
 * CLI edits for the admin (/etc/pam.d/sshd, the sshd drop-in).
 *
 * A reader sees the old file or the new one, never half of one; after a
 * crash the file is the old or the new one; on any error the old file is
 * left exactly as it was and no temporary file is left behind.
 *
 * Errors are -errno; nothing here prints or logs. */
#ifndef VG_ATOMIC_FILE_H
#define VG_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replace path (relative to dirfd, or AT_FDCWD) by data[0..len) with
 * the permission bits mode, whatever the umask:
 *
 *   a temporary file in path's directory (".NAME.<16 random hex>",
 *   O_CREAT|O_EXCL|O_NOFOLLOW, created 0600, a few names tried), fchmod,
 *   write all, fsync, renameat over path, fsync of the directory.
 *
 * Then, best effort, it removes what writers of path that died between
 * create and rename left: regular files of ours under such a name for
 * the same path, last changed over 10 minutes ago (no live writer keeps
 * one that long; the first 4096 directory entries are looked at).
 *
 * The owner is the caller's (the callers run as root).  A symbolic link
 * at path is replaced, never followed.  The directory's fsync comes after
 * the rename made the new file the only one, so its failure is not
 * reported: the old file is gone by then, and an error would say it
 * was kept.  0 or -errno. */
int vg_atomic_write(int dirfd, const char *path, const void *data,
		    size_t len, mode_t mode);

/* The same, for a caller that holds an exclusive lock every writer of
 * path's directory takes (the TOTP directory's flock): the temporary
 * name is fixed, ".NAME.new", and a file left under it by a writer that
 * died between create and rename (sshd's LoginGraceTime alarm, a kill)
 * is removed first, so such a leftover, a copy of a secret, lasts only
 * until the next write instead of for good.  0 or -errno. */
int vg_atomic_write_locked(int dirfd, const char *path, const void *data,
			   size_t len, mode_t mode);

#endif

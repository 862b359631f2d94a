/* Files the CLI changes on the admin's behalf (/etc/pam.d/sshd, the
 * sshd drop-in): read whole, written atomically, named under --root, and
 * snapshotted first so a failed check puts back exactly what was there.
 * Functions return 0 or -errno and print nothing. */
#ifndef VG_FSUTIL_H
#define VG_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Config files we parse or rewrite are small; anything bigger is not
 * one of them. */
#define FS_FILE_MAX	(1024 * 1024)
#define FS_PATH_MAX	4096

/* DIR + path for --root (root NULL, "" or "/": path itself).  A path
 * that already lies under root (an Include written for the tree, as the
 * tests do) is kept as it is.  0 or -ENAMETOOLONG. */
int fs_rooted(char *buf, size_t len, const char *root, const char *path);
bool fs_root_is_slash(const char *root);

/* The whole file, NUL-terminated (*len without the NUL); free() it.
 * -ENOENT when absent, -EFBIG over FS_FILE_MAX. */
int fs_read(const char *path, char **buf, size_t *len);

/* Replace path by buf with mode: vg_atomic_write() (lib/atomic_file.h),
 * so readers see the old or the new file, never half of one, and a
 * failure leaves the old one as it was. */
int fs_write_atomic(const char *path, const char *buf, size_t len,
		    mode_t mode);
/* Remove path and fsync its directory; an absent file is 0. */
int fs_remove(const char *path);
/* mkdir -p with mode for the directories it creates; a component
 * that exists and is not a directory (or a symbolic link to one) is
 * -ENOTDIR, a dangling symbolic link -ENOENT. */
int fs_mkdirs(const char *path, mode_t mode);

/* What a file was before we touched it: absent, or its bytes and mode. */
struct fs_snap {
	char path[FS_PATH_MAX];
	bool existed;
	char *data;
	size_t len;
	mode_t mode;
};

int fs_snap_take(struct fs_snap *s, const char *path);
/* Put the file back as it was (rewrite it, or remove it). */
int fs_snap_restore(const struct fs_snap *s);
void fs_snap_free(struct fs_snap *s);
/* Does path now hold exactly what the snapshot holds? */
bool fs_snap_same(const struct fs_snap *s);



/* A unified diff of old -> new on stdout, labelled a/label and b/label
 * (diff -u run on two temp files).  0 (also when equal), or -errno. */
int fs_print_diff(const char *label, const char *old, size_t oldlen,
		  const char *new_text, size_t newlen);
#endif

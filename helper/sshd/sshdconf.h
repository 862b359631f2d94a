/* The sshd configuration of a tree (/ or --root DIR), as the installed
 * sshd reads it.  sshd itself is the judge (sshd -t, sshd -T); reading
 * the files here only answers "which line set this?".
 *
 * --root: the main file's Include lines name absolute paths
 * ("/etc/ssh/sshd_config.d/ *.conf" without the space) that mean the
 * host's files.  So sshd
 * is run on a temporary copy of DIR/etc/ssh/sshd_config whose Include
 * arguments are re-rooted into DIR (an argument already under DIR is
 * kept; relative ones are relative to /etc/ssh, as in sshd).  Nothing
 * else is rewritten: HostKey, AuthorizedKeysFile etc. are read as
 * written.  Include lines inside drop-ins are scanned re-rooted too, but
 * sshd -t/-T would follow them as written. */
#ifndef VG_SSHDCONF_H
#define VG_SSHDCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "fsutil.h"

#define SSHD_MAIN	"/etc/ssh/sshd_config"
#define SSHD_DROPIN_DIR	"/etc/ssh/sshd_config.d"
#define SSHD_DROPIN	"/etc/ssh/sshd_config.d/10-vpsguard.conf"

struct sshd_tree {
	const char *root;		/* NULL: / */
	char main[FS_PATH_MAX];		/* ROOT/etc/ssh/sshd_config */
	char dropin_dir[FS_PATH_MAX];
	char dropin[FS_PATH_MAX];	/* ours */
	char check[FS_PATH_MAX];	/* what sshd -t / -T are given */
	bool check_is_temp;
	int major, minor;		/* sshd -V; 0.0 if unknown */
};

/* Paths, the version, and the re-rooted copy.  -errno (-ENOENT: no
 * sshd_config in the tree). */
int sshd_tree_open(struct sshd_tree *t, const char *root);
/* Rebuild the re-rooted copy after the main file changed. */
int sshd_tree_refresh(struct sshd_tree *t);
void sshd_tree_close(struct sshd_tree *t);
bool sshd_at_least(const struct sshd_tree *t, int major, int minor);

/* sshd -t: 0 valid; > 0 sshd's exit status with its message in err;
 * -errno if sshd could not be run. */
int sshd_test(const struct sshd_tree *t, char *err, size_t len);
/* sshd -T into *dump (free() it): 0, > 0 as above, or -errno. */
int sshd_dump(const struct sshd_tree *t, char **dump, char *err, size_t len);
/* sshd -T -C spec ("user=root,host=x,addr=203.0.113.7"): the values for
 * such a connection, Match blocks applied by sshd itself.  As above. */
int sshd_dump_conn(const struct sshd_tree *t, const char *spec, char **dump,
		   char *err, size_t len);
/* The first value of a lowercase keyword in a dump; false if absent. */
bool sshd_dump_get(const char *dump, const char *kw, char *val, size_t len);
/* Does any line of the dump read "kw value"? (list keywords: port) */
bool sshd_dump_has(const char *dump, const char *kw, const char *val);

/* Does the main file Include the drop-in directory (outside Match)? */
bool sshd_includes_dropins(const struct sshd_tree *t);

/* Every setting in sshd's reading order (the main file, each Include
 * expanded in place, its files in lexical order), with the Match block
 * it is in: NULL outside any.  A block runs to the next Match or the end
 * of its file; an included file starts in the block of its Include line.
 * Include lines themselves are not passed.  Non-zero from fn stops the
 * walk and is returned. */
struct sshd_match {
	const char *file;		/* valid during the call only */
	unsigned int line;		/* of the Match line */
	char criteria[256];		/* "User alice", "all" */
};
typedef int (*sshd_walk_fn)(void *ctx, const struct sshd_match *m,
			    const char *file, unsigned int line,
			    const char *kw, const char *val);
int sshd_walk(const struct sshd_tree *t, sshd_walk_fn fn, void *ctx);

/* Where sshd reads its first value of kw, in its own order (the main
 * file, each Include expanded in place in lexical order; Match blocks
 * skipped).  Aliases (ChallengeResponseAuthentication for
 * KbdInteractiveAuthentication) count.  1 found, 0 not set anywhere. */
struct sshd_origin {
	char file[FS_PATH_MAX];
	unsigned int line;
	char value[256];
};
int sshd_who_sets(const struct sshd_tree *t, const char *kw,
		  struct sshd_origin *o);
/* Count of Port lines outside Match in every file but skip (ours). */
unsigned int sshd_explicit_ports(const struct sshd_tree *t, const char *skip);

#endif

/* TOTP second factor (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps) with
 * per-user secret files, replay protection and recovery codes.
 *
 * liboath does the HMAC and the window search, but it is never a
 * DT_NEEDED of the module: libpam loads the module for every login, and
 * only logins that reach the `totp` mode need liboath.  So everyone --
 * the module, the CLI and the unit tests -- reaches liboath through
 * vg_oath_load() (dlopen) and the function pointers it fills, and the
 * RFC test vectors run through exactly the code the module runs.
 *
 * A user's file, TOTP_DIR/USER (0600 root, in a root-only directory):
 *
 *   vpsguard-totp 1
 *   secret 3132333435363738393031323334353637383930
 *   last 58761234
 *   recovery 0f1e...(16 bytes salt, hex) 9a8b...(SHA-256, hex)
 *   ... up to 10 recovery lines
 *
 * "last" is the time-step counter of the last accepted code (0: none);
 * a code whose step is not after it is a replay.  A recovery line is
 * SHA-256(salt || code) of a single-use code; using one removes its line.
 * Every change is a new file renamed over the old one under an flock of
 * the directory's root-only lock file (vg_totp_lock_dir), so concurrent
 * logins never both accept one code.
 *
 * This is what the module needs: loading, checking and recording a
 * code.  Enrolment (new secrets, their text, removal) is the CLI's
 * alone: helper/totp_enrol.h.
 *
 * Errors are -errno with a message in err (path, what, how to fix it);
 * nothing here logs or prints, and no secret or typed code ever reaches
 * err.
 */
#ifndef VG_TOTP_H
#define VG_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define VG_TOTP_SECRET_LEN	20	/* RFC 4226 §4: 160 bits */
#define VG_TOTP_SECRET_MAX	64
#define VG_TOTP_RECOVERY_N	10
#define VG_TOTP_RECOVERY_CHARS	12	/* base32: 60 bits each */
/* "abcd-efgh-ijkl" + NUL */
#define VG_TOTP_RECOVERY_TEXT	(VG_TOTP_RECOVERY_CHARS + 3)
#define VG_TOTP_STEP		30
#define VG_TOTP_DIGITS		6
#define VG_TOTP_USER_MAX	32	/* useradd's limit */
#define VG_TOTP_FILE_MAX	4096
/* Longest typed answer looked at; longer is malformed, whatever it is. */
#define VG_TOTP_INPUT_MAX	64

struct vg_oath {
	void *dl;
	int (*init)(void);
	int (*done)(void);
	int (*validate3)(const char *secret, size_t secret_length, time_t now,
			 unsigned time_step_size, time_t start_offset,
			 size_t window, int *otp_pos, uint64_t *otp_counter,
			 const char *otp);
	/* The CLI's, to show a new secret; NULL if liboath lacks it. */
	int (*base32_encode)(const char *in, size_t inlen, char **out,
			     size_t *outlen);
};

/* dlopen("liboath.so.0") + oath_init().  0 or -ELIBACC (err says why). */
int vg_oath_load(struct vg_oath *o, char *err, size_t errlen);
void vg_oath_unload(struct vg_oath *o);

struct vg_totp_recovery {
	uint8_t salt[16];
	uint8_t hash[32];
};

struct vg_totp {
	uint8_t secret[VG_TOTP_SECRET_MAX];
	size_t secret_len;
	uint64_t last;		/* last accepted step; 0: none yet */
	unsigned int n_recovery;
	struct vg_totp_recovery rec[VG_TOTP_RECOVERY_N];
};

enum vg_totp_result {
	VG_TOTP_OK = 0,		/* a right code, its step now "last" */
	VG_TOTP_RECOVERY_OK,	/* a recovery code, now removed */
	VG_TOTP_BAD,		/* well-formed, not right */
	VG_TOTP_REPLAY,		/* right, but its step was already used */
	VG_TOTP_MALFORMED,	/* neither 6 digits nor a recovery code */
};

const char *vg_totp_result_name(enum vg_totp_result r);

/* A name usable as a file name here: 1..VG_TOTP_USER_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.' or '-' (so never ".", "..", a
 * temp file of ours or an option). */
bool vg_totp_user_ok(const char *user);

/* What a typed answer is, before any secret or library is touched. */
enum vg_totp_input { VG_TOTP_IN_CODE, VG_TOTP_IN_RECOVERY,
		     VG_TOTP_IN_MALFORMED };
enum vg_totp_input vg_totp_classify(const char *input);

/* The check itself on a loaded secret: s is updated on success (last,
 * or the recovery code removed) and must then be stored.  A result, or
 * -errno from liboath (-EINVAL). */
int vg_totp_check(const struct vg_oath *o, struct vg_totp *s,
		  const char *input, time_t now, unsigned int window);

/* Load USER's file: the directory and the file must be root's and not
 * writable (file: not readable either) by anyone else, the file a
 * regular file reached without a symlink.  -ENOENT: no secret;
 * -EPERM: insecure; -EBADMSG: not our format; -EINVAL: bad name. */
int vg_totp_load(const char *dir, const char *user, struct vg_totp *s,
		 char *err, size_t errlen);

/* Lock, load, check, store when accepted, unlock: what the module does.
 * A result, or -errno as above (a store failure refuses the code: an
 * unrecorded step could be replayed). */
int vg_totp_verify(const struct vg_oath *o, const char *dir,
		   const char *user, const char *input, time_t now,
		   unsigned int window, char *err, size_t errlen);

/* Longest wait for DIR/.lock, and the poll step: a holder that hangs
 * must not hang sshd's logins with it. */
#define VG_TOTP_LOCK_WAIT_MS	5000

/* The directory's fd, checked as vg_totp_load() does, locked for a
 * read-check-write: LOCK_EX on DIR/.lock, a file only root can open
 * (made 0600 when missing), whose fd goes to *lockfd.  A lock held by
 * another process for VG_TOTP_LOCK_WAIT_MS is -ETIMEDOUT ("DIR/.lock:
 * held by another process for 5 s"): the module then refuses the code
 * (a second factor never fails open).
 * vg_totp_unlock_dir() drops the lock and closes both.  -errno as above,
 * err filled. */
int vg_totp_lock_dir(const char *dir, int *lockfd, char *err,
		     size_t errlen);
void vg_totp_unlock_dir(int dfd, int lockfd);

/* Store s as USER's file in the locked directory dfd (dir names it in
 * messages): vg_atomic_write, 0600.  0 or -errno, err filled. */
int vg_totp_store_at(int dfd, const char *dir, const char *user,
		     const struct vg_totp *s, char *err, size_t errlen);

/* SHA-256(salt || code) of a recovery code's 12 significant characters
 * (lower case, no dashes): what a file keeps of it. */
void vg_totp_recovery_hash(const uint8_t salt[16],
			   const char code[VG_TOTP_RECOVERY_CHARS],
			   uint8_t out[32]);

void vg_totp_wipe(struct vg_totp *s);

#endif

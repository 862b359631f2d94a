/* TOTP enrolment, the CLI's half of lib/totp.h: a new secret and its
 * recovery codes, storing and removing a user's file, and the secret as
 * Base32 for an authenticator app.  The module never enrols anyone, so
 * none of this is in what sshd loads.  0 or -errno, err filled where
 * there is one; nothing here prints. */
#ifndef VG_TOTP_ENROL_H
#define VG_TOTP_ENROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "totp.h"

/* Base32 of the longest secret, and its NUL. */
#define VG_TOTP_BASE32_MAX	((VG_TOTP_SECRET_MAX * 8 + 4) / 5 + 1)

/* A fresh secret and recovery codes (getrandom), the codes' text for
 * showing once ("abcd-efgh-ijkl"); s keeps only their hashes. */
int vg_totp_new(struct vg_totp *s,
		char codes[VG_TOTP_RECOVERY_N][VG_TOTP_RECOVERY_TEXT]);

/* Store s as USER's file (lib's vg_totp_store_at, 0600), creating the
 * directory 0700 (and its parent, one level) if missing.  replace
 * false: -EEXIST when one exists. */
int vg_totp_store(const char *dir, const char *user, const struct vg_totp *s,
		  bool replace, char *err, size_t errlen);
int vg_totp_remove(const char *dir, const char *user, char *err,
		   size_t errlen);

/* RFC 4648 Base32 of the secret, upper case, no padding (the Key Uri
 * Format's), by liboath's oath_base32_encode.  -ENOSPC: out too small;
 * -ELIBACC: liboath has no encoder; -ENOMEM. */
int vg_totp_base32(const struct vg_oath *o, const uint8_t *in, size_t len,
		   char *out, size_t outlen);

#endif

/* SHA-256 (FIPS 180-4), small and in-tree: only to store TOTP recovery
 * codes hashed.  liboath has no SHA-256 export, and linking libcrypto
 * into a module that sshd loads for every login is not worth it for ten
 * hashes. */
#ifndef VG_SHA256_H
#define VG_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define VG_SHA256_LEN	32

struct vg_sha256 {
	uint32_t h[8];
	uint64_t len;		/* bytes hashed so far */
	uint8_t buf[64];
	size_t n;		/* bytes in buf */
};

void vg_sha256_init(struct vg_sha256 *c);
void vg_sha256_update(struct vg_sha256 *c, const void *data, size_t len);
/* Writes the digest and wipes the context. */
void vg_sha256_final(struct vg_sha256 *c, uint8_t out[VG_SHA256_LEN]);

#endif

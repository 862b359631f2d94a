/* SipHash-2-4: a keyed hash, so that sources an attacker picks cannot be
 * steered into one probe window of the table without knowing its key. */
#ifndef VG_HASH_H
#define VG_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t vg_siphash(const uint64_t key[2], const void *data, size_t len);

#endif

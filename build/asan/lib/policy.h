/* Ban arithmetic: pure functions, no I/O, no clock. */
#ifndef VG_POLICY_H
#define VG_POLICY_H

#include <stdint.h>

#include "config.h"

/* Length of the n-th ban (n >= 1) in seconds:
 * n = 1 or no increment: bantime; n >= 2: bantime * factor * (n - 1);
 * never more than bantime.maxtime, and never overflowing. */
uint64_t vg_ban_length(const struct vg_config *c, uint32_t n);

#endif

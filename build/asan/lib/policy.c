#include "policy.h"

uint64_t vg_ban_length(const struct vg_config *c, uint32_t n)
{
	uint64_t len = c->bantime, mult;

	if (c->bantime_increment && n >= 2) {
		mult = (uint64_t)c->bantime_factor * (n - 1);
		/* bantime, factor and n are all bounded, but check anyway:
		 * a wrapped product would turn a long ban into a short one. */
		if (mult != 0 && len > UINT64_MAX / mult)
			len = UINT64_MAX;
		else
			len *= mult;
	}
	if (len > c->bantime_maxtime)
		len = c->bantime_maxtime;
	return len;
}

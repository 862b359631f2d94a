/* The unit tests' temporary directories: made by mkdtemp() in a setup,
 * removed here by the teardown, whatever the case left in them. */
#ifndef VG_UNIT_TMPDIR_H
#define VG_UNIT_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/* rm -rf dir: 0, or -1 (cmocka fails the teardown). */
static inline int remove_tree(const char *dir)
{
	char cmd[128];

	if (snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir) >=
	    (int)sizeof(cmd))
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

#endif

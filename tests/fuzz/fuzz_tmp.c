/* fuzz_tmpdir(): one private directory per fuzzing process, removed at
 * exit.  /dev/shm when usable: the targets write a file per input. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"

static char dir[64];

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void cleanup(void)
{
	if (dir[0])
		nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
	if (dir[0])
		return dir;
	snprintf(dir, sizeof(dir), "/dev/shm/vg-fuzz-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "/tmp/vg-fuzz-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	atexit(cleanup);
	return dir;
}

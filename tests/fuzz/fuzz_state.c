/* The helper's state file: whatever is on disk, loading it either
 * fails cleanly (nothing returned) or gives records that save and load
 * back to the same records. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[128], path2[128];
	struct vg_state_rec *recs = NULL, *back = NULL;
	size_t n = 0, n2 = 0;
	char err[VG_ERR_MAX];
	int fd, ret;

	if (!path[0]) {
		snprintf(path, sizeof(path), "%s/state", fuzz_tmpdir());
		snprintf(path2, sizeof(path2), "%s/state2", fuzz_tmpdir());
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
	close(fd);

	err[0] = '\0';
	ret = vg_state_load(path, &recs, &n, err, sizeof(err));
	if (ret) {
		FUZZ_ASSERT(recs == NULL && n == 0);
		fuzz_check_text(err, sizeof(err));
		return 0;
	}
	FUZZ_ASSERT(vg_state_save(path2, recs, n, err, sizeof(err)) == 0);
	FUZZ_ASSERT(vg_state_load(path2, &back, &n2, err, sizeof(err)) == 0);
	FUZZ_ASSERT(n2 == n);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(vg_addr_equal(&recs[i].key, &back[i].key));
		FUZZ_ASSERT(recs[i].ban_count == back[i].ban_count);
		FUZZ_ASSERT(recs[i].flags == back[i].flags);
		FUZZ_ASSERT(recs[i].banned_at == back[i].banned_at);
		FUZZ_ASSERT(recs[i].banned_until == back[i].banned_until);
		FUZZ_ASSERT(recs[i].last_success == back[i].last_success);
	}
	free(recs);
	free(back);
	return 0;
}

/* The table file as found on disk, and the entries as found in it.
 *
 *   first byte even: the rest is the whole file.  vg_table_open() (no
 *     create), vg_table_open_ro() and vg_table_open() with create (the
 *     rebuild path) must refuse or rebuild anything that is not a valid
 *     table, and must never map past the end of the file;
 *   first byte odd: a valid 64-entry table whose entries are the rest of
 *     the input: every operation copes with any entry content (rule 4 of
 *     table.c: bounded fields, unknown families are free).
 * Either way, when a table opens, every operation runs on it.
 *
 * The internal header gives it the handle, to re-initialise the mutex
 * of a fuzzed header: a garbage lock word would only make the fuzzer wait
 * for the lock timeout (the lock is root's, like the rest of the file). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "table_internal.h"

#include "fuzz.h"

#define N_SMALL	64

static void exercise(struct vg_table *t, const uint8_t *data, size_t size)
{
	struct vg_config c;
	struct vg_result r;
	struct vg_addr k;
	struct vg_entry saved, *snap;
	struct vg_table_stats st;
	vg_time_t now = 1000;
	long got;

	vg_config_defaults(&c);
	c.maxretry = 3;
	FUZZ_ASSERT(table_init_mutex(&t->hdr->lock) == 0);
	memset(&k, 0, sizeof(k));
	memcpy(k.bytes, data, size < 16 ? size : 16);
	k.family = VG_FAMILY_V6;
	k.prefix = 64;
	for (int i = 0; i < 4; i++) {
		(void)vg_table_preauth(t, &c, &k, now, &r);
		(void)vg_table_fail(t, &c, &k, 1, now, &r);
	}
	(void)vg_table_check(t, &c, &k, now, &r);
	(void)vg_table_success(t, &c, &k, true, now);
	(void)vg_table_ban(t, &c, &k, 3600, now);
	(void)vg_table_lookup(t, &k, &saved);
	(void)vg_table_unban(t, &k);
	memset(&saved, 0, sizeof(saved));
	memcpy(&saved, data, size < sizeof(saved) ? size : sizeof(saved));
	(void)vg_table_restore(t, &saved);
	snap = calloc(t->n, sizeof(*snap));
	FUZZ_ASSERT(snap);
	got = vg_table_snapshot(t, snap, t->n);
	FUZZ_ASSERT(got >= 0 && got <= (long)t->n);
	for (long i = 0; i < got; i++) {
		vg_entry_refresh(&snap[i], &c, now);
		(void)vg_entry_banned(&snap[i], now);
		(void)vg_entry_trusted(&snap[i], &c, now);
	}
	free(snap);
	vg_table_stats(t, &c, now, &st);
	FUZZ_ASSERT(st.used <= st.size && st.banned <= st.used);
	(void)vg_table_unban_all(t);
}

static void raw_file(const char *path, const uint8_t *data, size_t size)
{
	struct vg_table *t = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
	close(fd);
	if (vg_table_open_ro(&t, path) == 0) {
		struct vg_entry e;
		struct vg_addr k = { .family = VG_FAMILY_V4, .prefix = 32 };

		(void)vg_table_lookup(t, &k, &e);
		vg_table_close(t);
	}
	if (vg_table_open(&t, path, 0, false) == 0) {
		exercise(t, data, size);
		vg_table_close(t);
	}
	/* The rebuild path: a bad file is replaced by a valid table. */
	if (vg_table_open(&t, path, N_SMALL, true) == 0) {
		FUZZ_ASSERT(t->n == N_SMALL);
		vg_table_close(t);
	}
}

static void entries(const char *path, const uint8_t *data, size_t size)
{
	static struct vg_table *t;
	size_t len = N_SMALL * sizeof(struct vg_entry);

	if (!t)
		FUZZ_ASSERT(vg_table_open(&t, path, N_SMALL, true) == 0);
	memset(t->ent, 0, len);
	memcpy(t->ent, data, size < len ? size : len);
	exercise(t, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char raw[128], ent[128];

	if (!raw[0]) {
		snprintf(raw, sizeof(raw), "%s/raw", fuzz_tmpdir());
		snprintf(ent, sizeof(ent), "%s/entries", fuzz_tmpdir());
	}
	if (size == 0)
		return 0;
	if (data[0] & 1)
		entries(ent, data + 1, size - 1);
	else
		raw_file(raw, data + 1, size - 1);
	return 0;
}

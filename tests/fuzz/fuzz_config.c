/* The configuration parser, both ways the module feeds it:
 *   first byte even: the input is a whole file (vg_config_read_file and
 *                    the lenient failmode rescue read);
 *   first byte odd:  the input is module arguments, one per line, each
 *                    split at '=' and given to vg_config_set() exactly
 *                    as pam_vpsguard.c's load_config() does, and also
 *                    as one vg_config_line().
 * Whatever the input, every error message is a bounded string and the
 * resulting configuration stays within the documented hard limits. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static void check_config(const struct vg_config *c)
{
	FUZZ_ASSERT(c->maxretry <= VG_MAXRETRY_MAX);
	FUZZ_ASSERT(c->findtime <= VG_DURATION_MAX);
	FUZZ_ASSERT(c->bantime <= VG_DURATION_MAX);
	FUZZ_ASSERT(c->bantime_maxtime <= VG_DURATION_MAX);
	FUZZ_ASSERT(c->bantime_factor <= VG_FACTOR_MAX);
	FUZZ_ASSERT(c->ignoreip.n <= VG_CIDR_LIST_MAX);
	FUZZ_ASSERT(c->ipv6_prefix >= 48 && c->ipv6_prefix <= 128);
	FUZZ_ASSERT(c->invalid_user_weight <= VG_WEIGHT_MAX);
	FUZZ_ASSERT(c->table_size >= VG_TABLE_SIZE_MIN &&
		    c->table_size <= VG_TABLE_SIZE_MAX);
	FUZZ_ASSERT(c->n_ssh_ports <= VG_SSH_PORTS_MAX);
	FUZZ_ASSERT(c->totp_window <= VG_TOTP_WINDOW_MAX);
	fuzz_check_text(c->table_path, sizeof(c->table_path));
	fuzz_check_text(c->state_path, sizeof(c->state_path));
	fuzz_check_text(c->totp_secrets, sizeof(c->totp_secrets));
}

static void as_file(const uint8_t *data, size_t size)
{
	static char path[128];
	struct vg_config c;
	char err[VG_ERR_MAX];
	int fd;

	if (!path[0])
		snprintf(path, sizeof(path), "%s/conf", fuzz_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
	close(fd);

	vg_config_defaults(&c);
	err[0] = '\0';
	if (vg_config_read_file(&c, path, err, sizeof(err)) != 0)
		fuzz_check_text(err, sizeof(err));
	else
		check_config(&c);
	vg_config_defaults(&c);
	vg_config_read_file_lenient(&c, path);
	check_config(&c);
}

static void as_arguments(const uint8_t *data, size_t size)
{
	char *buf = fuzz_str(data, size), *line, *save = NULL, *eq;
	struct vg_config c, l;
	char err[VG_ERR_MAX];

	vg_config_defaults(&c);
	vg_config_defaults(&l);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		err[0] = '\0';
		if (vg_config_line(&l, line, "fuzz:1", err, sizeof(err)))
			fuzz_check_text(err, sizeof(err));
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		err[0] = '\0';
		if (vg_config_set(&c, line, eq + 1, "argument", err,
				  sizeof(err)))
			fuzz_check_text(err, sizeof(err));
	}
	check_config(&c);
	check_config(&l);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		as_arguments(data + 1, size - 1);
	else
		as_file(data + 1, size - 1);
	return 0;
}

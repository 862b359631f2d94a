/*
 * bench_wake: how long a ban takes to reach the kernel's drop set.
 *
 *   bench_wake CONF N
 *
 * With `pam_vpsguard-admin daemon` running on CONF's table in the same
 * network namespace (bench/bench_wake.sh sets that up), N times: ban a
 * new IPv4 source the way the module does (vg_table_fail reaching
 * maxretry, which wakes the helper through the table's futex), then
 * read drop4 back over netlink until the address is there.  Prints the
 * median, p90, p99 and max in microseconds, and "RESULT wake_p50_us=..
 * wake_p99_us=..".  Sources: 198.51.100.0/24 and 203.0.113.0/24.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "config.h"
#include "nft.h"
#include "table.h"

#define MAX_N		500
#define GIVE_UP_US	2000000.0	/* a lost wake: the 5 s poll */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static bool in_drop4(const struct vg_addr *a)
{
	struct vg_nft_elem *e = NULL;
	size_t n = 0;
	bool found = false;

	if (vg_nft_list(VG_NFT_DROP, 64, &e, &n) != 0)
		return false;
	for (size_t i = 0; i < n && !found; i++)
		found = vg_addr_equal(&e[i].addr, a);
	free(e);
	return found;
}

int main(int argc, char **argv)
{
	static double lat[MAX_N];
	char err[VG_ERR_MAX], buf[64];
	struct vg_config c;
	struct vg_table *t;
	struct vg_result r;
	int n, ret;

	if (argc != 3 || (n = atoi(argv[2])) < 1 || n > MAX_N) {
		fprintf(stderr, "usage: bench_wake CONF N (1..%d)\n", MAX_N);
		return 2;
	}
	vg_config_defaults(&c);
	if (vg_config_read_file(&c, argv[1], err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_wake: %s\n", err);
		return 2;
	}
	ret = vg_table_open(&t, c.table_path, c.table_size, true);
	if (ret) {
		fprintf(stderr, "bench_wake: table: %s\n", strerror(-ret));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct vg_addr a;
		double t0, dt;

		snprintf(buf, sizeof(buf), "%s.%d", i < 250 ? "198.51.100" :
			 "203.0.113", i % 250 + 1);
		if (vg_addr_parse(buf, &a) != 0)
			return 1;
		t0 = now_us();
		ret = vg_table_fail(t, &c, &a, c.maxretry, vg_now(), &r);
		if (ret || r.verdict != VG_BANNED_NOW) {
			fprintf(stderr, "bench_wake: %s not banned\n", buf);
			return 1;
		}
		while (!in_drop4(&a) && (dt = now_us() - t0) < GIVE_UP_US)
			;
		lat[i] = now_us() - t0;
	}
	vg_table_close(t);
	qsort(lat, (size_t)n, sizeof(lat[0]), cmp);
	printf("ban -> drop4 element, %d bans: median %.0f us, p90 %.0f us, "
	       "p99 %.0f us, max %.0f us\n", n, lat[n / 2], lat[n * 9 / 10],
	       lat[n * 99 / 100], lat[n - 1]);
	printf("RESULT wake_p50_us=%.0f wake_p99_us=%.0f\n", lat[n / 2],
	       lat[n * 99 / 100]);
	return lat[n - 1] >= GIVE_UP_US ? 1 : 0;
}

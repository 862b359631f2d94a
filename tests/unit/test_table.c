/* The shared table: counting, bans, escalation, slots, eviction, rebuild,
 * and concurrency between real forked processes.
 *
 * The internal header gives one test the table's lock, to be killed
 * while holding it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "log.h"
#include "policy.h"
#include "table_internal.h"

/* Every test runs twice: with full handles (the helper, the CLI) and
 * with window handles (the PAM module: pread/pwrite of the buckets
 * touched, table.c rule 12).  Both must give the same results. */
static bool g_window;

static int open_either(struct vg_table **t, const char *path, uint32_t n,
		       bool create)
{
	return g_window ? vg_table_open_window(t, path, n, create) :
			  vg_table_open(t, path, n, create);
}
#define vg_table_open open_either

/* See renameat() below. */
static bool g_break_after_rename;
static void (*g_before_rename)(void);

struct fx {
	char dir[64];
	char path[128];
	struct vg_config c;
	struct vg_table *t;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vg-table-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/table", f->dir);
	g_break_after_rename = false;
	g_before_rename = NULL;
	vg_config_defaults(&f->c);
	f->c.table_size = 1024;
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	vg_table_close(f->t);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct vg_addr addr(const char *s)
{
	struct vg_addr a, k;

	assert_int_equal(vg_addr_parse(s, &a), 0);
	vg_addr_key(&a, 64, &k);
	return k;
}

/* One full failed attempt: preauth, then authfail if it was allowed. */
static enum vg_verdict attempt(struct fx *f, const struct vg_addr *k,
			       unsigned int weight, vg_time_t now,
			       struct vg_result *r)
{
	assert_int_equal(vg_table_preauth(f->t, &f->c, k, now, r), 0);
	if (r->verdict != VG_ALLOW)
		return r->verdict;
	assert_int_equal(vg_table_fail(f->t, &f->c, k, weight, now, r), 0);
	return r->verdict;
}

static void t_ban_after_maxretry(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("203.0.113.7"), b = addr("203.0.113.8");
	struct vg_result r;

	for (int i = 1; i < 5; i++) {
		assert_int_equal(attempt(f, &a, 1, 1000, &r), VG_ALLOW);
		assert_int_equal(r.failures, i);
	}
	assert_int_equal(attempt(f, &a, 1, 1000, &r), VG_BANNED_NOW);
	assert_int_equal(r.failures, 5);
	assert_int_equal(r.ban_count, 1);
	assert_int_equal(r.ban_length, 3600);
	assert_int_equal(r.banned_until, 1000 + 3600);
	assert_int_equal(attempt(f, &a, 1, 1001, &r), VG_DENY_BANNED);
	assert_int_equal(vg_table_check(f->t, &f->c, &a, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	/* another source is unaffected */
	assert_int_equal(attempt(f, &b, 1, 1001, &r), VG_ALLOW);
	assert_int_equal(vg_table_check(f->t, &f->c, &b, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	/* the ban ends exactly at bantime */
	assert_int_equal(vg_table_check(f->t, &f->c, &a, 4599, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_int_equal(vg_table_check(f->t, &f->c, &a, 4600, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
}

static void t_findtime_window(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("198.51.100.1"), b = addr("198.51.100.9");
	struct vg_result r;

	/* findtime (600 s) without a failure forgives the count */
	for (int i = 0; i < 4; i++)
		assert_int_equal(attempt(f, &a, 1, 1000 + i, &r), VG_ALLOW);
	assert_int_equal(attempt(f, &a, 1, 1603, &r), VG_ALLOW);
	assert_int_equal(r.failures, 1);
	/* ... but any maxretry failures within findtime ban, also across
	 * the edge of a window that began with the first failure */
	assert_int_equal(attempt(f, &b, 1, 1000, &r), VG_ALLOW);
	for (int i = 0; i < 3; i++)
		assert_int_equal(attempt(f, &b, 1, 1590, &r), VG_ALLOW);
	assert_int_equal(attempt(f, &b, 1, 1610, &r), VG_BANNED_NOW);
	assert_int_equal(r.failures, 5);
}

static void t_weight(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("198.51.100.2");
	struct vg_result r;

	assert_int_equal(attempt(f, &a, 2, 1000, &r), VG_ALLOW);
	assert_int_equal(r.failures, 2);
	assert_int_equal(attempt(f, &a, 2, 1000, &r), VG_ALLOW);
	assert_int_equal(attempt(f, &a, 2, 1000, &r), VG_BANNED_NOW);
	assert_int_equal(r.failures, 6);
}

static void t_inflight_slots(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("2001:db8:66::1");
	struct vg_result r;

	for (int i = 0; i < 5; i++) {
		assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1000, &r), 0);
		assert_int_equal(r.verdict, VG_ALLOW);
	}
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	/* a slot released by a right password frees room */
	assert_int_equal(vg_table_success(f->t, &f->c, &a, true, 1001), 0);
	/* ... but that source is now trusted, so use a fresh one below */
	struct vg_addr b = addr("2001:db8:67::1");

	for (int i = 0; i < 5; i++) {
		assert_int_equal(vg_table_preauth(f->t, &f->c, &b, 1000, &r), 0);
		assert_int_equal(r.verdict, VG_ALLOW);
	}
	/* slots of processes that died expire after inflight.timeout,
	 * never before: taken in second 1000 (up to 1000.99), still held
	 * in second 1120, free from 1121 */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &b, 1120, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &b, 1121, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
}

/* Each slot on its own clock: a slot taken late is not freed with an
 * older one, and never before its own inflight.timeout. */
static void t_slot_clocks(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("198.51.100.44");
	const vg_time_t at[5] = { 1000, 1050, 1100, 1110, 1115 };
	struct vg_result r;

	for (int i = 0; i < 5; i++) {
		assert_int_equal(vg_table_preauth(f->t, &f->c, &a, at[i], &r),
				 0);
		assert_int_equal(r.verdict, VG_ALLOW);
	}
	/* A slot taken in second T is held through T + 120 (T may have
	 * been T.99) and free from T + 121.  1120: all five held */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1120, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	/* 1121: the first one ran out, only it: one new slot, no more */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1121, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1121, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	/* 1170: the second (1050 + 120) is still held */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1170, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1171, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	/* A finished attempt gives back the oldest clock: the late slots
	 * keep theirs.  Slots now: 1221 1231 1236 1242 1292 (held as
	 * VG_SLOT_CLOCKS clocks: some later than their own, never
	 * earlier). */
	assert_int_equal(vg_table_fail(f->t, &f->c, &a, 1, 1172, &r), 0);
	assert_int_equal(r.failures, 1);
	/* 4 held + 1 failure: full until at least 1231; the clocks left
	 * are 1242 1292 1292 (1231 and 1236 shared later ones) */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1230, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1242, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
}

static void t_v6_prefix_aggregation(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("2001:db8:66::1"), b = addr("2001:db8:66::ffff");
	struct vg_addr c = addr("2001:db8:66:1::1");
	struct vg_result r;
	char buf[VG_ADDR_STRLEN];

	vg_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:66::/64");
	for (int i = 0; i < 4; i++)
		assert_int_equal(attempt(f, i % 2 ? &a : &b, 1, 1000, &r),
				 VG_ALLOW);
	assert_int_equal(attempt(f, &b, 1, 1000, &r), VG_BANNED_NOW);
	assert_int_equal(vg_table_check(f->t, &f->c, &a, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_int_equal(vg_table_check(f->t, &f->c, &c, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
}

static void t_escalation_arithmetic(void **state)
{
	struct vg_config c;
	const uint64_t h = 3600, d = 86400;

	(void)state;
	vg_config_defaults(&c);
	assert_int_equal(vg_ban_length(&c, 1), h);
	assert_int_equal(vg_ban_length(&c, 2), 24 * h);
	assert_int_equal(vg_ban_length(&c, 3), 48 * h);
	assert_int_equal(vg_ban_length(&c, 4), 3 * d);
	assert_int_equal(vg_ban_length(&c, 5), 4 * d);
	assert_int_equal(vg_ban_length(&c, 36), 35 * d);	/* = 5w */
	assert_int_equal(vg_ban_length(&c, 37), 35 * d);	/* capped */
	assert_int_equal(vg_ban_length(&c, UINT32_MAX), 35 * d);
	c.bantime_factor = VG_FACTOR_MAX;
	c.bantime = VG_DURATION_MAX;
	c.bantime_maxtime = VG_DURATION_MAX;
	assert_int_equal(vg_ban_length(&c, UINT32_MAX), VG_DURATION_MAX);
	vg_config_defaults(&c);
	c.bantime_increment = false;
	assert_int_equal(vg_ban_length(&c, 7), h);
	c.bantime_increment = true;
	c.bantime = 2 * d;
	c.bantime_maxtime = d;
	assert_int_equal(vg_ban_length(&c, 1), d);	/* maxtime caps all */
}

static void ban_once(struct fx *f, const struct vg_addr *a, vg_time_t now,
		     struct vg_result *r)
{
	for (int i = 0; i < 4; i++)
		assert_int_equal(attempt(f, a, 1, now, r), VG_ALLOW);
	assert_int_equal(attempt(f, a, 1, now, r), VG_BANNED_NOW);
}

static void t_escalation_and_history(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.50");
	struct vg_result r;
	vg_time_t now = 1000;

	ban_once(f, &a, now, &r);
	assert_int_equal(r.ban_length, 3600);
	now = r.banned_until;
	ban_once(f, &a, now, &r);
	assert_int_equal(r.ban_count, 2);
	assert_int_equal(r.ban_length, 24 * 3600);
	now = r.banned_until;
	ban_once(f, &a, now, &r);
	assert_int_equal(r.ban_count, 3);
	assert_int_equal(r.ban_length, 48 * 3600);
	/* history (1w) after the last ban ends, the count is forgotten */
	now = r.banned_until + 7 * 86400;
	ban_once(f, &a, now, &r);
	assert_int_equal(r.ban_count, 1);
	assert_int_equal(r.ban_length, 3600);
}

static void t_trust(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.60");
	struct vg_result r;
	unsigned int allowed = 0;
	uint32_t seq = vg_table_seq(f->t);

	assert_int_equal(vg_table_success(f->t, &f->c, &a, false, 1000), 0);
	/* the first login wakes the helper (trust4 at once), later ones
	 * within `trust` do not */
	assert_int_equal(vg_table_seq(f->t), seq + 1);
	assert_int_equal(vg_table_success(f->t, &f->c, &a, false, 1000), 0);
	assert_int_equal(vg_table_seq(f->t), seq + 1);
	/* trust never raises the budget: 20 parallel attempts of a
	 * trusted source get maxretry slots, like anyone's */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1001, &r), 0);
		allowed += r.verdict == VG_ALLOW;
		assert_true(r.trusted);
	}
	assert_int_equal(allowed, f->c.maxretry);
	for (unsigned int i = 0; i < allowed; i++)
		assert_int_equal(vg_table_fail(f->t, &f->c, &a, 1, 1001, &r), 0);
	/* banned at maxretry, without escalation */
	assert_int_equal(r.verdict, VG_BANNED_NOW);
	assert_int_equal(r.ban_length, 3600);
	assert_int_equal(r.ban_count, 0);
	ban_once(f, &a, r.banned_until, &r);
	assert_int_equal(r.ban_length, 3600);
	/* the account phase sees the ban and the trust */
	assert_int_equal(vg_table_check(f->t, &f->c, &a, r.banned_until - 1,
					&r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_true(r.trusted);
	/* trust runs out after `trust` (7d) */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1000 + 7 * 86400,
					  &r), 0);
	assert_false(r.trusted);
}

/* No success clears failures: cycles of 4 wrong passwords for one user
 * and a right one for another must not buy a fifth wrong one. */
static void t_success_never_clears(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.61");
	struct vg_result r;
	vg_time_t now = 1000;
	unsigned int evaluated = 0;

	for (int cycle = 0; cycle < 4; cycle++) {
		for (int i = 0; i < 4; i++)
			evaluated += attempt(f, &a, 1, now, &r) == VG_ALLOW ||
				     r.verdict == VG_BANNED_NOW;
		assert_int_equal(vg_table_preauth(f->t, &f->c, &a, now, &r), 0);
		if (r.verdict == VG_ALLOW)
			assert_int_equal(vg_table_success(f->t, &f->c, &a,
							  true, now), 0);
		/* the account phase of a key login clears nothing either */
		assert_int_equal(vg_table_success(f->t, &f->c, &a, false,
						  now), 0);
		now += 10;
	}
	assert_int_equal(evaluated, f->c.maxretry);
	assert_int_equal(vg_table_check(f->t, &f->c, &a, now, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
}

/* A slot given back without a verdict: neither a failure nor trust. */
static void t_release_slot_only(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.62"), b = addr("192.0.2.63");
	struct vg_result r;

	for (unsigned int i = 0; i < f->c.maxretry; i++) {
		assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1000, &r), 0);
		assert_int_equal(r.verdict, VG_ALLOW);
	}
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	assert_int_equal(vg_table_release(f->t, &f->c, &a, 1000), 0);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	assert_false(r.trusted);
	assert_int_equal(r.failures, 0);
	/* an unknown source: nothing created, no error */
	assert_int_equal(vg_table_release(f->t, &f->c, &b, 1000), 0);
	assert_int_equal(vg_table_check(f->t, &f->c, &b, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
}

static void t_manual_ban_unban(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.70"), b = addr("192.0.2.71");
	struct vg_result r;

	assert_int_equal(vg_table_ban(f->t, &f->c, &a, 60, 1000), 0);
	assert_int_equal(vg_table_check(f->t, &f->c, &a, 1059, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_int_equal(vg_table_unban(f->t, &a), 0);
	assert_int_equal(vg_table_check(f->t, &f->c, &a, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	assert_int_equal(vg_table_unban(f->t, &b), -ENOENT);
	assert_int_equal(vg_table_ban(f->t, &f->c, &a, 60, 1000), 0);
	assert_int_equal(vg_table_ban(f->t, &f->c, &b, 60, 1000), 0);
	assert_int_equal(vg_table_unban_all(f->t), 0);
	assert_int_equal(vg_table_check(f->t, &f->c, &b, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
}

/* A flood of one-failure strangers, 20x the table: bans, history and
 * trust survive; the strangers that find no room share an overflow
 * level, so a new one still gets at most maxretry guesses. */
static void t_eviction_keeps_bans(void **state)
{
	struct fx *f = *state;
	struct vg_addr bans[16], k, admin = addr("198.51.100.200");
	struct vg_addr old = addr("198.51.100.201");
	struct vg_result r;
	struct vg_table_stats s;
	unsigned int evaluated = 0;
	char buf[64];

	for (int i = 0; i < 16; i++) {
		snprintf(buf, sizeof(buf), "203.0.113.%d", 100 + i);
		bans[i] = addr(buf);
		ban_once(f, &bans[i], 1000, &r);
	}
	/* a repeat offender whose first ban ended (history kept 1w) */
	ban_once(f, &old, 1, &r);
	assert_int_equal(vg_table_success(f->t, &f->c, &admin, false, 1000), 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:%x:%x::1", i >> 8, i);
		k = addr(buf);
		assert_int_equal(vg_table_preauth(f->t, &f->c, &k, 1001 + i / 100,
						  &r), 0);
		if (r.verdict == VG_ALLOW)
			assert_int_equal(vg_table_fail(f->t, &f->c, &k, 1,
						       1001 + i / 100, &r), 0);
	}
	for (int i = 0; i < 16; i++) {
		assert_int_equal(vg_table_check(f->t, &f->c, &bans[i], 1300, &r),
				 0);
		assert_int_equal(r.verdict, VG_DENY_BANNED);
	}
	assert_int_equal(vg_table_check(f->t, &f->c, &admin, 1300, &r), 0);
	assert_true(r.trusted);
	vg_table_stats(f->t, &f->c, 1300, &s);
	/* (more: strangers that got an entry inherit the overflow ban) */
	assert_true(s.banned >= 16);
	assert_true(s.used <= 1024);
	assert_true(s.overflow_total > 0);
	print_message("fill at first overflow: %u of %u\n", s.fill_at_overflow,
		      s.size);
	assert_true(s.fill_at_overflow >= 1024 * 9 / 10);
	/* a new stranger: at most maxretry evaluated */
	k = addr("2001:db8:ffff:1::1");
	for (int i = 0; i < 12; i++)
		evaluated += attempt(f, &k, 1, 1300, &r) != VG_DENY_BANNED &&
			     r.verdict != VG_DENY_INFLIGHT;
	assert_true(evaluated <= f->c.maxretry);
	/* the repeat offender (its first ban ended at 3601) escalates */
	ban_once(f, &old, 4000, &r);
	assert_int_equal(r.ban_count, 2);
	assert_int_equal(r.ban_length, 24 * 3600);
}

/* More banned sources than entries, each in its own /48: >= 90% held
 * individually before the first overflow; then nothing fails open. */
static void t_full_of_bans(void **state)
{
	struct fx *f = *state;
	struct vg_config c = f->c;
	struct vg_table *t;
	struct vg_table_stats s;
	struct vg_addr k, admin = addr("192.0.2.250");
	struct vg_result r;
	char path[160], buf[64];
	unsigned int evaluated = 0;

	c.maxretry = 2;
	snprintf(path, sizeof(path), "%s/small", f->dir);
	assert_int_equal(vg_table_open(&t, path, 256, true), 0);
	assert_int_equal(vg_table_success(t, &c, &admin, false, 1000), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:%x::1", i);
		k = addr(buf);
		for (int j = 0; j < 2; j++) {
			assert_int_equal(vg_table_preauth(t, &c, &k, 1000, &r),
					 0);
			if (r.verdict == VG_ALLOW)
				assert_int_equal(vg_table_fail(t, &c, &k, 1,
							       1000, &r), 0);
		}
	}
	vg_table_stats(t, &c, 1000, &s);
	print_message("fill at first overflow: %u of %u\n",
		      s.fill_at_overflow, s.size);
	assert_true(s.fill_at_overflow >= 256 * 9 / 10);
	assert_true(s.overflow_banned);
	/* a new source: refused, not evaluated (failmode plays no part) */
	k = addr("2001:db8:ffff::1");
	for (int i = 0; i < 12; i++) {
		assert_int_equal(vg_table_preauth(t, &c, &k, 1001, &r), 0);
		if (r.verdict == VG_ALLOW) {
			evaluated++;
			assert_int_equal(vg_table_fail(t, &c, &k, 1, 1001, &r),
					 0);
		}
	}
	assert_true(evaluated <= c.maxretry);
	/* the trusted admin keeps its entry and its budget */
	assert_int_equal(vg_table_preauth(t, &c, &admin, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	assert_int_equal(r.kind, VG_KIND_SOURCE);
	assert_true(r.trusted);
	/* a key login from a new source passes the account phase */
	assert_int_equal(vg_table_check(t, &c, &k, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	vg_table_close(t);
}

/* A failure that arrives after its own slot ran out frees no live slot
 * of another attempt still at its prompt. */
static void t_late_failure_frees_no_live_slot(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("198.51.100.45");
	struct vg_result r;
	vg_time_t mine;

	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1000, &r), 0);
	mine = r.slot;
	assert_int_equal(mine, 1121);	/* 1000 + 120, rounded up */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1125, &r),
				 0);
		assert_int_equal(r.verdict, VG_ALLOW);
	}
	/* 1126: mine ran out; my failure gives back nothing */
	assert_int_equal(vg_table_fail_slot(f->t, &f->c, &a, 1, mine, 1126,
					    &r), 0);
	assert_int_equal(r.failures, 1);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1126, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	/* a live slot named by its attempt goes back */
	assert_int_equal(vg_table_release_slot(f->t, &f->c, &a, 1246, 1130),
			 0);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1130, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	/* VG_SLOT_NONE gives back nothing */
	assert_int_equal(vg_table_success_slot(f->t, &f->c, &a, VG_SLOT_NONE,
					       1131), 0);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1131, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
}

/* A source counted in the overflow bucket keeps its count when it gets
 * an entry of its own. */
static void t_overflow_inherited(void **state)
{
	struct fx *f = *state;
	struct vg_config c = f->c;
	struct vg_table *t;
	struct vg_addr k, s = addr("192.0.2.9");
	struct vg_result r;
	char path[160], buf[64];

	c.trust = 100;
	snprintf(path, sizeof(path), "%s/inh", f->dir);
	assert_int_equal(vg_table_open(&t, path, 64, true), 0);
	/* fill every entry with a trust stamp that runs out at 1100 */
	for (int i = 0; i < 64 * 4; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:%x::1", i);
		k = addr(buf);
		assert_int_equal(vg_table_success(t, &c, &k, false, 1000), 0);
	}
	/* s gets 3 failures in an overflow level */
	for (int i = 0; i < 3; i++)
		assert_int_equal(attempt(&(struct fx){ .c = c, .t = t }, &s, 1,
					 1050, &r), VG_ALLOW);
	assert_int_not_equal(r.kind, VG_KIND_SOURCE);
	/* the stamps run out: s gets an entry, with the 3 failures it
	 * made */
	assert_int_equal(vg_table_fail(t, &c, &s, 1, 1101, &r), 0);
	assert_int_equal(r.kind, VG_KIND_SOURCE);
	assert_int_equal(r.failures, 4);
	vg_table_close(t);
}

/* The overflow bucket's ban, inherited by a source that later gets an
 * entry, refuses its passwords but not its key logins. */
static void t_inherited_ban_gates_passwords_only(void **state)
{
	struct fx *f = *state;
	struct vg_config c = f->c;
	struct vg_table *t;
	struct vg_addr k, x = addr("192.0.2.10"), y = addr("198.51.100.10");
	struct vg_result r;
	char path[160], buf[64];

	c.trust = 100;
	snprintf(path, sizeof(path), "%s/inb", f->dir);
	assert_int_equal(vg_table_open(&t, path, 64, true), 0);
	for (int i = 0; i < 64 * 4; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:%x::1", i);
		k = addr(buf);
		assert_int_equal(vg_table_success(t, &c, &k, false, 1000), 0);
	}
	for (unsigned int i = 0; i < c.maxretry; i++)
		attempt(&(struct fx){ .c = c, .t = t }, &x, 1, 1050, &r);
	assert_int_equal(r.verdict, VG_BANNED_NOW);
	assert_int_equal(r.kind, VG_KIND_OVERFLOW);
	/* room again at 1101: y gets an entry with the bucket's ban */
	assert_int_equal(vg_table_preauth(t, &c, &y, 1101, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_int_equal(r.kind, VG_KIND_SOURCE);
	assert_int_equal(vg_table_check(t, &c, &y, 1101, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	vg_table_close(t);
}

/* aggregate.v6: 8 banned /64s inside one /48 ban the /48 as one entry
 * and give their entries back. */
static void t_prefix_ban(void **state)
{
	struct fx *f = *state;
	struct vg_addr k, net, other = addr("2001:db8:2::1");
	struct vg_result r;
	struct vg_table_stats s;
	struct vg_entry e;
	char buf[64];

	for (int i = 0; i < 8; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:1:%x::1", i);
		k = addr(buf);
		ban_once(f, &k, 1000, &r);
		if (i < 7)
			assert_int_equal(r.prefix_banned.family, VG_FAMILY_NONE);
	}
	assert_int_equal(r.prefix_banned.family, VG_FAMILY_V6);
	assert_int_equal(r.prefix_banned.prefix, 48);
	assert_int_equal(r.prefix_members, 8);
	net = r.prefix_banned;
	vg_table_stats(f->t, &f->c, 1001, &s);
	assert_int_equal(s.prefix_bans, 1);
	assert_int_equal(s.banned, 1);		/* the 8 entries folded */
	assert_int_equal(s.used, 1);
	assert_int_equal(vg_table_lookup(f->t, &net, &e), 0);
	assert_int_equal(e.kind, VG_KIND_PREFIX);
	/* any /64 in it: refused before a password, and in account */
	k = addr("2001:db8:1:ffff::1");
	assert_int_equal(vg_table_preauth(f->t, &f->c, &k, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_int_equal(r.kind, VG_KIND_PREFIX);
	assert_int_equal(vg_table_check(f->t, &f->c, &k, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	/* another /48 is not */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &other, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	/* unban of the /48 lifts it */
	assert_int_equal(vg_table_unban(f->t, &net), 0);
	assert_int_equal(vg_table_check(f->t, &f->c, &k, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	/* off: no aggregation */
	f->c.aggregate_v6 = 0;
	for (int i = 0; i < 9; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:3:%x::1", i);
		k = addr(buf);
		ban_once(f, &k, 2000, &r);
		assert_int_equal(r.prefix_banned.family, VG_FAMILY_NONE);
	}
}

/* totp.maxfail: wrong codes per user from all sources together. */
static void t_user_maxfail(void **state)
{
	struct fx *f = *state;
	uint32_t n = 0;

	for (unsigned int i = 0; i < f->c.totp_maxfail; i++) {
		assert_int_equal(vg_table_user_over(f->t, &f->c, "alice",
						    1000 + i), 0);
		assert_int_equal(vg_table_user_fail(f->t, &f->c, "alice",
						    1000 + i, &n), 0);
	}
	assert_int_equal(n, f->c.totp_maxfail);
	assert_int_equal(vg_table_user_over(f->t, &f->c, "alice", 1010), 1);
	assert_int_equal(vg_table_user_over(f->t, &f->c, "bob", 1010), 0);
	/* findtime after the last wrong code, the user is free again */
	assert_int_equal(vg_table_user_over(f->t, &f->c, "alice",
					    1009 + 600), 0);
	/* user counters are not sources */
	struct vg_table_stats s;

	vg_table_stats(f->t, &f->c, 1010, &s);
	assert_int_equal(s.banned + s.failing, 0);
}

static void write_at(const char *path, off_t off, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
	close(fd);
}

static void t_corrupt_rebuild(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.80");
	struct vg_table *t;
	struct vg_result r;
	uint32_t bad = 99;
	int fd;

	vg_table_close(f->t);
	f->t = NULL;
	/* wrong version */
	write_at(f->path, offsetof(struct vg_table_hdr, version), &bad, 4);
	assert_int_equal(vg_table_open_ro(&t, f->path), -EBADMSG);
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
	assert_int_equal(attempt(f, &a, 1, 1000, &r), VG_ALLOW);
	vg_table_close(f->t);
	/* truncated: must not be mapped (SIGBUS), rebuilt instead */
	assert_int_equal(truncate(f->path, 5000), 0);
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
	assert_int_equal(attempt(f, &a, 1, 1000, &r), VG_ALLOW);
	assert_int_equal(r.failures, 1);
	vg_table_close(f->t);
	/* zero length, and zeroed */
	assert_int_equal(truncate(f->path, 0), 0);
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
	vg_table_close(f->t);
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	char zero[VG_HDR_SIZE] = { 0 };
	assert_int_equal(write(fd, zero, sizeof(zero)), sizeof(zero));
	close(fd);
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
	/* another table.size: opened as it is, nothing lost (a size the
	 * module and the admin tool disagree on must not wipe the bans;
	 * vg_table_resize() is how it changes) */
	assert_int_equal(attempt(f, &a, 1, 1000, &r), VG_ALLOW);
	vg_table_close(f->t);
	assert_int_equal(vg_table_open(&f->t, f->path, 2048, true), 0);
	assert_int_equal(vg_table_size(f->t), 1024);
	assert_int_equal(attempt(f, &a, 1, 1000, &r), VG_ALLOW);
	assert_int_equal(r.failures, 2);
	vg_table_close(f->t);
	/* without create, a missing table is reported, not made */
	unlink(f->path);
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, false), -ENOENT);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
}

static void t_permissions(void **state)
{
	struct fx *f = *state;
	struct vg_table *t;
	struct stat st;
	char link_path[160], other[160];

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a group/other-readable table is not trusted: rebuilt 0600 */
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(vg_table_open_ro(&t, f->path), -EACCES);
	assert_int_equal(vg_table_open(&t, f->path, 1024, true), 0);
	vg_table_close(t);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a symlink planted in place of the table is never followed */
	snprintf(other, sizeof(other), "%s/victim", f->dir);
	snprintf(link_path, sizeof(link_path), "%s/linked", f->dir);
	close(open(other, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(symlink(other, link_path), 0);
	assert_int_equal(vg_table_open(&t, link_path, 1024, false), -ELOOP);
	assert_int_equal(vg_table_open(&t, link_path, 1024, true), 0);
	vg_table_close(t);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(st.st_size, 0);	/* the target is untouched */
	/* a directory others can write to is refused */
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(vg_table_open(&t, f->path, 1024, true), -EACCES);
	assert_int_equal(chmod(f->dir, 0700), 0);
}

/* --- concurrency: real processes on one table --- */

static pid_t spawn(void (*fn)(struct fx *, int), struct fx *f, int arg)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct vg_table *t;

		/* like an sshd process: its own open and mapping (the
		 * parent's copy is dropped, not leaked) */
		vg_table_close(f->t);
		f->t = NULL;
		if (vg_table_open(&t, f->path, 1024, true) != 0)
			_exit(2);
		f->t = t;
		fn(f, arg);
		vg_table_close(t);
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid, int want)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (want < 0) {
		assert_true(WIFSIGNALED(st));
	} else {
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), want);
	}
}

#define NPROC	8
#define NFAIL	2000

static void fail_many(struct fx *f, int n)
{
	struct vg_addr a = addr("203.0.113.99");
	struct vg_result r;

	for (int i = 0; i < n; i++)
		if (vg_table_fail(f->t, &f->c, &a, 1, 1000, &r) != 0)
			_exit(3);
}

static void t_concurrent_exact_counts(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("203.0.113.99");
	struct vg_entry e;
	pid_t pid[NPROC];

	f->c.maxretry = VG_MAXRETRY_MAX;
	for (int i = 0; i < NPROC; i++)
		pid[i] = spawn(fail_many, f, NFAIL);
	for (int i = 0; i < NPROC; i++)
		reap(pid[i], 0);
	assert_int_equal(vg_table_lookup(f->t, &a, &e), 0);
	assert_int_equal(e.fail_total, NPROC * NFAIL);
	assert_int_equal(atomic_load(&f->t->hdr->failures_total),
			 NPROC * NFAIL);
}

#define NRACE	32

static _Atomic int *race_allowed;
static int race_pipe[2];

/* preauth -> a slow password check -> authfail, all 32 at once */
static void race_one(struct fx *f, int unused)
{
	struct vg_addr a = addr("203.0.113.66");
	struct vg_result r;
	char go;

	(void)unused;
	if (read(race_pipe[0], &go, 1) != 1)
		_exit(4);
	if (vg_table_preauth(f->t, &f->c, &a, 1000, &r) != 0)
		_exit(3);
	if (r.verdict != VG_ALLOW)
		_exit(0);
	atomic_fetch_add(race_allowed, 1);
	usleep(50000);
	if (vg_table_fail(f->t, &f->c, &a, 1, 1000, &r) != 0)
		_exit(3);
	_exit(0);
}

static void t_concurrent_preauth_limit(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("203.0.113.66");
	struct vg_result r;
	pid_t pid[NRACE];
	char go[NRACE];

	race_allowed = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(race_allowed != MAP_FAILED);
	*race_allowed = 0;
	assert_int_equal(pipe(race_pipe), 0);
	for (int i = 0; i < NRACE; i++)
		pid[i] = spawn(race_one, f, 0);
	memset(go, 'g', sizeof(go));
	assert_int_equal(write(race_pipe[1], go, sizeof(go)), NRACE);
	for (int i = 0; i < NRACE; i++)
		reap(pid[i], 0);
	assert_int_equal(*race_allowed, f->c.maxretry);
	assert_int_equal(vg_table_check(f->t, &f->c, &a, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	close(race_pipe[0]);
	close(race_pipe[1]);
	munmap(race_allowed, 4096);
}

static void preauth_then_die(struct fx *f, int unused)
{
	struct vg_addr a = addr("203.0.113.77");
	struct vg_result r;

	(void)unused;
	if (vg_table_preauth(f->t, &f->c, &a, 1000, &r) != 0)
		_exit(3);
	raise(SIGKILL);		/* between preauth and authfail */
}

static void t_killed_between_preauth_and_authfail(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("203.0.113.77");
	struct vg_result r;

	for (int i = 0; i < 5; i++)
		reap(spawn(preauth_then_die, f, 0), -1);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_INFLIGHT);
	/* after inflight.timeout (2m) the dead processes' slots are free */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &a, 1121, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	assert_int_equal(r.failures, 0);
}

static void lock_and_hang(struct fx *f, int fd)
{
	if (table_lock(f->t) != 0)
		_exit(3);
	if (write(fd, "L", 1) != 1)
		_exit(4);
	pause();
}

static void t_killed_holding_lock(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("203.0.113.88");
	struct vg_result r;
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = spawn(lock_and_hang, f, p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	kill(pid, SIGKILL);
	reap(pid, -1);
	/* the next process recovers the lock and the table works */
	for (int i = 0; i < 3; i++)
		assert_int_equal(attempt(f, &a, 1, 1000, &r), VG_ALLOW);
	assert_int_equal(r.failures, 3);
	reap(spawn(fail_many, f, 10), 0);
	close(p[0]);
	close(p[1]);
}

/* A lock holder that is stuck (stopped, frozen) makes operations time
 * out; a ban that stands is still read, without the lock. */
static void t_stuck_holder_keeps_bans(void **state)
{
	struct fx *f = *state;
	struct vg_addr banned = addr("203.0.113.90"), other = addr("203.0.113.91");
	struct vg_addr trusted = addr("203.0.113.92");
	vg_time_t now = vg_now();
	struct vg_result r;
	bool tr;
	int p[2];
	char c;
	pid_t pid;

	for (unsigned int i = 0; i < f->c.maxretry; i++)
		attempt(f, &banned, 1, now, &r);
	assert_int_equal(r.verdict, VG_BANNED_NOW);
	assert_int_equal(vg_table_success(f->t, &f->c, &trusted, false, now), 0);
	assert_int_equal(vg_table_ban(f->t, &f->c, &trusted, 3600, now), 0);
	assert_int_equal(pipe(p), 0);
	pid = spawn(lock_and_hang, f, p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	/* the lock cannot be had: the operation gives up after its bound */
	assert_int_equal(vg_table_preauth(f->t, &f->c, &other, now, &r),
			 -ETIMEDOUT);
	assert_int_equal(vg_table_peek_ban(f->t, &f->c, &banned, now, &tr), 1);
	assert_false(tr);
	assert_int_equal(vg_table_peek_ban(f->t, &f->c, &other, now, &tr), 0);
	assert_int_equal(vg_table_peek_ban(f->t, &f->c, &trusted, now, &tr), 1);
	assert_true(tr);
	kill(pid, SIGKILL);
	reap(pid, -1);
	close(p[0]);
	close(p[1]);
}

/* Window and full handles on one file see each other's writes at once
 * (the same page cache pages), both ways. */
static void t_window_and_full_mix(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("198.51.100.20");
	struct vg_table *w, *m;
	struct vg_result r;

	assert_int_equal(vg_table_open_window(&w, f->path, 1024, false), 0);
	assert_int_equal(vg_table_open(&m, f->path, 1024, false), 0);
	for (int i = 0; i < 4; i++) {
		struct vg_table *t = i % 2 ? m : w;

		assert_int_equal(vg_table_preauth(t, &f->c, &a, 1000, &r), 0);
		assert_int_equal(r.verdict, VG_ALLOW);
		assert_int_equal(vg_table_fail(t, &f->c, &a, 1, 1000, &r), 0);
		assert_int_equal(r.failures, i + 1);
	}
	assert_int_equal(vg_table_preauth(w, &f->c, &a, 1000, &r), 0);
	assert_int_equal(vg_table_fail(w, &f->c, &a, 1, 1000, &r), 0);
	assert_int_equal(r.verdict, VG_BANNED_NOW);
	assert_int_equal(vg_table_check(m, &f->c, &a, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_int_equal(vg_table_unban(m, &a), 0);
	assert_int_equal(vg_table_check(w, &f->c, &a, 1001, &r), 0);
	assert_int_equal(r.verdict, VG_ALLOW);
	vg_table_close(w);
	vg_table_close(m);
}

/* A window handle on a file cut short under it (rule 12): the read of
 * a bucket past the end fails, the operation says so, nothing is
 * written (the file does not grow back) and nothing faults. */
static void t_window_file_shrunk(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("198.51.100.21");
	struct vg_table *w;
	struct vg_result r;
	struct stat st;

	assert_int_equal(vg_table_open_window(&w, f->path, 1024, false), 0);
	assert_int_equal(truncate(f->path, VG_HDR_SIZE), 0);
	assert_true(vg_table_stale(w));
	assert_int_equal(vg_table_preauth(w, &f->c, &a, 1000, &r), -EIO);
	assert_int_equal(vg_table_fail(w, &f->c, &a, 1, 1000, &r), -EIO);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, VG_HDR_SIZE);
	vg_table_close(w);
}

/* Stands in for whoever keeps breaking the table file: while set, every
 * table renamed into place gets its magic overwritten at once.  And
 * g_before_rename runs first, inside vg_table_resize()'s lock.  This
 * definition takes the place of libc's for the library linked in. */
int renameat(int olddirfd, const char *oldpath, int newdirfd,
	     const char *newpath)
{
	long r;

	if (g_before_rename)
		g_before_rename();
	r = syscall(SYS_renameat, olddirfd, oldpath, newdirfd, newpath);
	if (r == 0 && g_break_after_rename) {
		uint32_t bad = 0xdeadbeef;
		int fd = open(newpath, O_WRONLY);

		if (fd >= 0) {
			if (pwrite(fd, &bad, sizeof(bad), 0) != sizeof(bad))
				r = -1;
			close(fd);
		}
	}
	return r == 0 ? 0 : -1;
}

/* Three rebuilds all broken again before they could be opened: an error,
 * never a handle that was not opened (its lock was a NULL pointer, and
 * the next operation crashed sshd). */
static void t_rebuild_broken_each_time(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.99");
	struct vg_result r;

	vg_table_close(f->t);
	f->t = NULL;
	write_at(f->path, 0, "garbage!", 8);
	g_break_after_rename = true;
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), -EAGAIN);
	assert_null(f->t);
	g_break_after_rename = false;
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
	assert_int_equal(attempt(f, &a, 1, 1000, &r), VG_ALLOW);
}

/* The full handle vg_table_resize() needs, whatever g_window says. */
#undef vg_table_open
static struct vg_table *full_handle(struct fx *f)
{
	struct vg_table *t;

	assert_int_equal(vg_table_open(&t, f->path, 0, false), 0);
	return t;
}
#define vg_table_open open_either

static uint32_t failures_of(struct fx *f, const struct vg_addr *k)
{
	struct vg_entry e;

	assert_int_equal(vg_table_lookup(f->t, k, &e), 0);
	return e.failures;
}

/* table.size changed: every kind of record crosses to the new file. */
static void t_resize_carries_records(void **state)
{
	struct fx *f = *state;
	struct vg_addr banned = addr("192.0.2.90"), trusted = addr("192.0.2.91");
	struct vg_addr failing = addr("2001:db8:90::1");
	vg_time_t now = vg_now();
	struct vg_table_stats before, after;
	struct vg_table *full;
	struct vg_result r;
	struct vg_entry e;
	uint32_t kept, n = 0;

	for (unsigned int i = 0; i < f->c.maxretry; i++)
		attempt(f, &banned, 1, now, &r);
	assert_int_equal(r.verdict, VG_BANNED_NOW);
	assert_int_equal(vg_table_success(f->t, &f->c, &trusted, false, now), 0);
	attempt(f, &failing, 1, now, &r);
	assert_int_equal(vg_table_user_fail(f->t, &f->c, "alice", now, &n), 0);
	vg_table_stats(f->t, &f->c, now, &before);

	full = full_handle(f);
	assert_int_equal(vg_table_resize(full, 2048, &f->c, &kept), 0);
	assert_int_equal(kept, 4);
	assert_true(vg_table_stale(full));
	assert_true(vg_table_stale(f->t));
	vg_table_close(full);
	vg_table_close(f->t);
	/* the module's table.size still says 1024: it takes the new file */
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
	assert_int_equal(vg_table_size(f->t), 2048);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &banned, now, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_int_equal(vg_table_lookup(f->t, &trusted, &e), 0);
	assert_true(vg_entry_trusted(&e, &f->c, now));
	assert_int_equal(failures_of(f, &failing), 1);
	assert_int_equal(vg_table_user_fail(f->t, &f->c, "alice", now, &n), 0);
	assert_int_equal(n, 2);
	vg_table_stats(f->t, &f->c, now, &after);
	assert_int_equal(after.failures_total, before.failures_total);
	assert_int_equal(after.bans_total, before.bans_total);
}

/* Shrinking below what is stored keeps what a flood would: the ban and
 * the trusted source, not the one-failure strangers. */
static void t_resize_shrink_keeps_bans(void **state)
{
	struct fx *f = *state;
	struct vg_addr banned = addr("192.0.2.92"), trusted = addr("192.0.2.93");
	vg_time_t now = vg_now();
	struct vg_table *full;
	struct vg_result r;
	struct vg_entry e;
	char a[64];
	uint32_t kept;

	for (unsigned int i = 0; i < f->c.maxretry; i++)
		attempt(f, &banned, 1, now, &r);
	assert_int_equal(vg_table_success(f->t, &f->c, &trusted, false, now), 0);
	for (int i = 0; i < 600; i++) {
		struct vg_addr k;

		snprintf(a, sizeof(a), "2001:db8:%x::1", 0x100 + i);
		k = addr(a);
		attempt(f, &k, 1, now, &r);
	}
	full = full_handle(f);
	assert_int_equal(vg_table_resize(full, VG_TABLE_SIZE_MIN, &f->c,
					 &kept), 0);
	assert_true(kept <= VG_TABLE_SIZE_MIN);
	assert_true(kept >= VG_TABLE_SIZE_MIN / 2);
	vg_table_close(full);
	vg_table_close(f->t);
	assert_int_equal(vg_table_open(&f->t, f->path, 1024, true), 0);
	assert_int_equal(vg_table_size(f->t), VG_TABLE_SIZE_MIN);
	assert_int_equal(vg_table_preauth(f->t, &f->c, &banned, now, &r), 0);
	assert_int_equal(r.verdict, VG_DENY_BANNED);
	assert_int_equal(vg_table_lookup(f->t, &trusted, &e), 0);
	assert_true(vg_entry_trusted(&e, &f->c, now));
	/* a window handle or a read-only one cannot resize */
	assert_int_equal(vg_table_open_window(&full, f->path, 0, false), 0);
	assert_int_equal(vg_table_resize(full, 1024, &f->c, &kept), -EINVAL);
	vg_table_close(full);
}

/* A process that opened the table before a resize and takes its lock
 * after it (the module's handle waiting while the helper copies) counts
 * in the new file, not in the renamed-over one nobody reads. */
static void t_resize_moves_open_handles(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.94"), b = addr("2001:db8:94::1");
	vg_time_t now = vg_now();
	struct vg_table *full, *fresh;
	struct vg_result r;
	struct vg_entry e;
	uint32_t kept;

	attempt(f, &a, 1, now, &r);
	full = full_handle(f);
	assert_int_equal(vg_table_resize(full, 2048, &f->c, &kept), 0);
	/* f->t is the old file's handle, opened before the resize */
	assert_int_equal(attempt(f, &a, 1, now, &r), VG_ALLOW);
	assert_int_equal(attempt(f, &b, 1, now, &r), VG_ALLOW);
	assert_int_equal(vg_table_size(f->t), 2048);
	/* the resizer's own handle moves too */
	assert_int_equal(vg_table_fail(full, &f->c, &b, 1, now, &r), 0);
	assert_int_equal(vg_table_open(&fresh, f->path, 0, false), 0);
	assert_int_equal(vg_table_lookup(fresh, &a, &e), 0);
	assert_int_equal(e.failures, 2);
	assert_int_equal(vg_table_lookup(fresh, &b, &e), 0);
	assert_int_equal(e.failures, 2);
	vg_table_close(fresh);
	vg_table_close(full);
}


/* The race itself: a process (the module in sshd) opened the table, and
 * takes the lock while a resize holds it; it gets the lock once the
 * new file is in place and must count there. */
static int g_go[2];

static void let_child_go(void)
{
	if (write(g_go[1], "g", 1) != 1)
		abort();
	usleep(300 * 1000);	/* the child is now waiting on the lock */
}

static void t_resize_moves_waiting_process(void **state)
{
	struct fx *f = *state;
	struct vg_addr a = addr("192.0.2.95");
	vg_time_t now = vg_now();
	struct vg_table *full, *fresh;
	int ready[2], status;
	struct vg_entry e;
	uint32_t kept;
	pid_t pid;
	char ch;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(g_go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vg_table *t;
		struct vg_result r;
		int bad = 0;

		if (vg_table_open_window(&t, f->path, 1024, false) != 0)
			_exit(10);
		if (write(ready[1], "r", 1) != 1 || read(g_go[0], &ch, 1) != 1)
			_exit(11);
		for (int i = 0; i < 2; i++)
			bad |= vg_table_preauth(t, &f->c, &a, now, &r) != 0 ||
			       vg_table_fail(t, &f->c, &a, 1, now, &r) != 0;
		_exit(bad ? 12 : 0);
	}
	assert_int_equal(read(ready[0], &ch, 1), 1);
	g_before_rename = let_child_go;
	full = full_handle(f);
	assert_int_equal(vg_table_resize(full, 2048, &f->c, &kept), 0);
	g_before_rename = NULL;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(vg_table_open(&fresh, f->path, 0, false), 0);
	assert_int_equal(vg_table_size(fresh), 2048);
	assert_int_equal(vg_table_lookup(fresh, &a, &e), 0);
	assert_int_equal(e.failures, 2);
	vg_table_close(fresh);
	vg_table_close(full);
	for (int i = 0; i < 2; i++) {
		close(ready[i]);
		close(g_go[i]);
	}
}

/* A source counted in an overflow entry (its /48: no room for its own)
 * keeps that count across a resize.  Which level a source lands in
 * depends on the table's random hash key, so sources are tried until
 * one is counted in an overflow entry. */
static void t_resize_carries_overflow_entry(void **state)
{
	struct fx *f = *state;
	struct vg_config c = f->c;
	struct vg_table *t, *full;
	struct vg_addr k = { 0 };
	struct vg_result r = { 0 };
	char path[sizeof(f->path)], buf[64];
	uint32_t kept, before, bucket;
	bool found = false;
	/* the resize judges what each entry holds at vg_now() */
	vg_time_t now = vg_now();

	c.maxretry = 100;
	snprintf(path, sizeof(path), "%s/ovf", f->dir);
	/* Larger than an insert's search (VG_SEARCH): near full, a source
	 * can find no room where its /48's key still does. */
	assert_int_equal(vg_table_open(&t, path, 2048, true), 0);
	for (int i = 0; i < 8192 && !found; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:%x::1", i);
		k = addr(buf);
		assert_int_equal(vg_table_fail(t, &c, &k, 1, now, &r), 0);
		/* an overflow entry, not the header's bucket */
		found = r.kind == VG_KIND_OVERFLOW &&
			r.subject.family == VG_FAMILY_V6;
	}
	assert_true(found);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vg_table_fail(t, &c, &k, 1, now, &r), 0);
	assert_int_equal(r.kind, VG_KIND_OVERFLOW);
	assert_int_equal(r.subject.prefix, 48);
	before = r.failures;
	assert_true(before >= 4);
	/* sources that found no room at all went to the header's bucket,
	 * which a new entry inherits too (rule 10) */
	bucket = t->hdr->overflow.failures;
	vg_table_close(t);
	{
		struct fx g = { 0 };

		snprintf(g.path, sizeof(g.path), "%s", path);
		full = full_handle(&g);
	}
	assert_int_equal(vg_table_resize(full, 8192, &c, &kept), 0);
	/* in the larger table the source gets its own entry, with the
	 * count its /48 held */
	assert_int_equal(vg_table_fail(full, &c, &k, 1, now, &r), 0);
	assert_int_equal(r.kind, VG_KIND_SOURCE);
	assert_int_equal(r.failures, before + bucket + 1);
	vg_table_close(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(t_ban_after_maxretry),
		T(t_findtime_window),
		T(t_weight),
		T(t_inflight_slots),
		T(t_v6_prefix_aggregation),
		cmocka_unit_test(t_escalation_arithmetic),
		T(t_escalation_and_history),
		T(t_trust),
		T(t_success_never_clears),
		T(t_slot_clocks),
		T(t_late_failure_frees_no_live_slot),
		T(t_overflow_inherited),
		T(t_inherited_ban_gates_passwords_only),
		T(t_prefix_ban),
		T(t_user_maxfail),
		T(t_release_slot_only),
		T(t_manual_ban_unban),
		T(t_eviction_keeps_bans),
		T(t_full_of_bans),
		T(t_corrupt_rebuild),
		T(t_permissions),
		T(t_concurrent_exact_counts),
		T(t_concurrent_preauth_limit),
		T(t_killed_between_preauth_and_authfail),
		T(t_killed_holding_lock),
		T(t_stuck_holder_keeps_bans),
		T(t_window_and_full_mix),
		T(t_window_file_shrunk),
		T(t_rebuild_broken_each_time),
		T(t_resize_carries_records),
		T(t_resize_shrink_keeps_bans),
		T(t_resize_moves_open_handles),
		T(t_resize_moves_waiting_process),
		T(t_resize_carries_overflow_entry),
	};

	int failed;

	vg_log_set(NULL, NULL);
	failed = cmocka_run_group_tests_name("table (full handles)", tests,
					     NULL, NULL);
	g_window = true;
	failed += cmocka_run_group_tests_name("table (window handles)",
					      tests, NULL, NULL);
	return failed;
}

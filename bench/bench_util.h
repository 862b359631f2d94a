/* What the in-process benchmarks (bench_pam, bench_table, bench_dlopen)
 * share: the clock, the sort for medians, and removing their temporary
 * tree.  Static: each program takes what it uses. */
#ifndef VG_BENCH_UTIL_H
#define VG_BENCH_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* For qsort() of doubles, before taking a median. */
static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline int rm_entry(const char *p, const struct stat *st, int flag,
			   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

/* rm -rf dir, best effort (an exit handler's clean-up). */
static inline void rm_tree(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif

/*
 * bench_dlopen: what loading and unloading a PAM module costs by itself.
 *
 * libpam dlopen()s every module of a stack in pam_start and dlclose()s
 * it in pam_end, so a module that lives in sshd's pre-auth path is
 * loaded once per connection.  This times dlopen(RTLD_NOW) + dlclose of
 * each .so given, interleaved, RUNS runs of ITERS pairs, and prints the
 * median ns per pair.  libpam is linked and stays loaded, so that a
 * module's own dependency on it costs what it costs under sshd.
 *
 *   bench_dlopen [--runs N] [--iters N] module.so...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>

#include "bench_util.h"

#define MAX_MODULES	16
#define MAX_RUNS	101

static int time_pairs(const char *path, long iters, double *ns)
{
	double t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

		if (!h) {
			fprintf(stderr, "bench_dlopen: %s\n", dlerror());
			return -1;
		}
		dlclose(h);
	}
	*ns = (now_ns() - t0) / (double)iters;
	return 0;
}

int main(int argc, char **argv)
{
	static double res[MAX_MODULES][MAX_RUNS];
	const char *mods[MAX_MODULES];
	long runs = 15, iters = 300;
	int n = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = strtol(argv[++i], NULL, 10);
		else if (n < MAX_MODULES)
			mods[n++] = argv[i];
	}
	if (n == 0 || runs < 1 || runs > MAX_RUNS || iters < 1) {
		fprintf(stderr, "usage: bench_dlopen [--runs 1-%d] [--iters N] "
			"module.so... (at most %d)\n", MAX_RUNS, MAX_MODULES);
		return 2;
	}
	/* A reference, so that the linker keeps libpam loaded. */
	if (!pam_strerror(NULL, PAM_SUCCESS))
		return 1;
	for (long r = 0; r < runs; r++)
		for (int m = 0; m < n; m++)
			if (time_pairs(mods[m], iters, &res[m][r]) < 0)
				return 1;
	for (int m = 0; m < n; m++) {
		qsort(res[m], (size_t)runs, sizeof(double), cmp_double);
		printf("median %-50s %9.0f ns per dlopen+dlclose (%ld runs x %ld)\n",
		       mods[m], res[m][runs / 2], runs, iters);
	}
	return 0;
}

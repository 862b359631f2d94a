/*
 * bench_table: the shared table in process, no PAM.
 *
 * For each table size (default 1024 and 1048576 entries) a fresh table
 * is created in a private tmpfs directory (default /dev/shm, like /run
 * in production), pre-filled to 50% with distinct IPv4 sources, then:
 *
 *   fail/hot     vg_table_fail on one source, over and over
 *   fail/random  vg_table_fail on a random pre-filled source (the one
 *                lookup+update per failed password; the target)
 *   pre+fail     vg_table_preauth then vg_table_fail on a random source
 *                (what one failed attempt costs the table in the module)
 *   check        vg_table_check on a random source (account phase)
 *
 * Each figure is the median over batches of --batch ops of (batch time /
 * ops), CLOCK_MONOTONIC around each batch.  `now` is passed in and moves
 * on one second per op, with findtime = 1 s and maxretry = 1000: a
 * failure count is forgotten after findtime without a failure, so
 * counts keep expiring and no source is ever banned: every op takes the
 * counting path.  Then 2 processes (fork) each do --par-ops vg_table_fail
 * on random sources of the same table at once: throughput = all ops /
 * (last finish - first start).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "addr.h"
#include "config.h"
#include "table.h"

#define MAX_SIZES	4
#define MAX_PROCS	16

static char g_dir[256];

static void cleanup(void)
{
	rm_tree(g_dir);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_table: %s: %s\n", what, strerror(err));
	exit(2);
}

/* Source number i -> a distinct IPv4 key (10.0.0.0/8 + i), in the form
 * vg_addr_parse() gives: ::ffff:a.b.c.d, family V4, prefix 32. */
static void source(uint32_t i, struct vg_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->bytes[10] = 0xff;
	a->bytes[11] = 0xff;
	a->bytes[12] = 10;
	a->bytes[13] = (uint8_t)(i >> 16);
	a->bytes[14] = (uint8_t)(i >> 8);
	a->bytes[15] = (uint8_t)i;
	a->family = VG_FAMILY_V4;
	a->prefix = 32;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint32_t rnd(uint32_t n)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
}

enum op { OP_FAIL_HOT, OP_FAIL_RANDOM, OP_PREAUTH_FAIL, OP_CHECK };

static const char *const op_names[] = {
	"fail, one hot source", "fail, random source",
	"preauth+fail, random", "check, random",
};

struct ctx {
	struct vg_table *t;
	struct vg_config cfg;
	uint32_t filled;	/* sources 0 .. filled-1 are in the table */
	vg_time_t now;
};

static void run_op(struct ctx *x, enum op op, uint32_t n)
{
	struct vg_addr a;
	struct vg_result r;
	int ret = 0;

	source(0, &a);
	for (uint32_t i = 0; i < n; i++) {
		x->now++;
		if (op != OP_FAIL_HOT)
			source(rnd(x->filled), &a);
		switch (op) {
		case OP_FAIL_HOT:
		case OP_FAIL_RANDOM:
			ret = vg_table_fail(x->t, &x->cfg, &a, 1, x->now, &r);
			break;
		case OP_PREAUTH_FAIL:
			ret = vg_table_preauth(x->t, &x->cfg, &a, x->now, &r);
			if (!ret)
				ret = vg_table_fail(x->t, &x->cfg, &a, 1,
						    x->now, &r);
			break;
		case OP_CHECK:
			ret = vg_table_check(x->t, &x->cfg, &a, x->now, &r);
			break;
		}
		if (ret)
			die("table op", -ret);
		if (r.verdict != VG_ALLOW) {
			fprintf(stderr, "bench_table: unexpected verdict %d\n",
				r.verdict);
			exit(2);
		}
	}
}

static double median_ns(struct ctx *x, enum op op, uint32_t batch,
			int batches)
{
	double *v = calloc((size_t)batches, sizeof(double));
	double m;

	if (!v)
		die("calloc", ENOMEM);
	run_op(x, op, batch);		/* warm-up batch */
	for (int b = 0; b < batches; b++) {
		double t0 = now_ns();

		run_op(x, op, batch);
		v[b] = (now_ns() - t0) / batch;
	}
	qsort(v, (size_t)batches, sizeof(double), cmp_double);
	m = v[batches / 2];
	free(v);
	return m;
}

struct par_slot {
	double start, end;
	int ok;
};

/* nproc processes, each ops vg_table_fail on random sources. */
static double parallel(const char *path, uint32_t size, struct ctx *x,
		       int nproc, uint32_t ops)
{
	struct par_slot *slots;
	int go[2];
	pid_t pids[MAX_PROCS];
	double first = 0, last = 0;

	slots = mmap(NULL, sizeof(*slots) * MAX_PROCS, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		die("mmap", errno);
	memset(slots, 0, sizeof(*slots) * MAX_PROCS);
	if (pipe(go))
		die("pipe", errno);
	for (int p = 0; p < nproc; p++) {
		pids[p] = fork();
		if (pids[p] < 0)
			die("fork", errno);
		if (pids[p] == 0) {
			struct ctx c = *x;
			char b;
			int ret;

			close(go[1]);
			/* Each process maps the table itself, as each sshd
			 * does. */
			ret = vg_table_open(&c.t, path, size, false);
			if (ret)
				die("vg_table_open (child)", -ret);
			rng_state ^= (uint64_t)(p + 1) * 0xbf58476d1ce4e5b9ull;
			run_op(&c, OP_FAIL_RANDOM, 1000);	/* warm */
			if (read(go[0], &b, 1) != 0)
				_exit(3);
			slots[p].start = now_ns();
			run_op(&c, OP_FAIL_RANDOM, ops);
			slots[p].end = now_ns();
			slots[p].ok = 1;
			vg_table_close(c.t);
			_exit(0);
		}
	}
	close(go[0]);
	usleep(100000);		/* let both children open and warm up */
	close(go[1]);		/* EOF releases them at once */
	for (int p = 0; p < nproc; p++) {
		int st;

		if (waitpid(pids[p], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0 || !slots[p].ok) {
			fprintf(stderr, "bench_table: child %d failed\n", p);
			exit(2);
		}
		if (p == 0 || slots[p].start < first)
			first = slots[p].start;
		if (p == 0 || slots[p].end > last)
			last = slots[p].end;
	}
	munmap(slots, sizeof(*slots) * MAX_PROCS);
	return (double)nproc * ops / ((last - first) / 1e9);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_table [options]\n"
		"  --sizes LIST     table sizes (1024,1048576)\n"
		"  --fill PCT       pre-fill percentage (50)\n"
		"  --batch N        ops per timed batch (10000)\n"
		"  --batches N      timed batches per figure (101)\n"
		"  --procs N        parallel processes (2)\n"
		"  --par-ops N      ops per parallel process (2000000)\n"
		"  --tmp DIR        tmpfs base for the temp dir (/dev/shm)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "fill", required_argument, NULL, 'f' },
		{ "batch", required_argument, NULL, 'b' },
		{ "batches", required_argument, NULL, 'B' },
		{ "procs", required_argument, NULL, 'p' },
		{ "par-ops", required_argument, NULL, 'P' },
		{ "tmp", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	uint32_t sizes[MAX_SIZES] = { 1024, 1048576 };
	int nsizes = 2, fill = 50, batches = 101, procs = 2;
	uint32_t batch = 10000, par_ops = 2000000;
	const char *tmpbase = "/dev/shm";
	char err[VG_ERR_MAX];
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': {
			char *save = NULL, *list = strdup(optarg);

			nsizes = 0;
			for (char *w = strtok_r(list, ",", &save);
			     w && nsizes < MAX_SIZES;
			     w = strtok_r(NULL, ",", &save))
				sizes[nsizes++] = (uint32_t)strtoul(w, NULL, 0);
			free(list);
			break;
		}
		case 'f': fill = atoi(optarg); break;
		case 'b': batch = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'B': batches = atoi(optarg); break;
		case 'p': procs = atoi(optarg); break;
		case 'P': par_ops = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 't': tmpbase = optarg; break;
		default: usage();
		}
	}
	if (nsizes < 1 || fill < 1 || fill > 90 || batch < 1 || batches < 1 ||
	    procs < 1 || procs > MAX_PROCS || par_ops < 1 ||
	    strlen(tmpbase) > 200)
		usage();
	for (int i = 0; i < nsizes; i++)
		if (sizes[i] < VG_TABLE_SIZE_MIN || sizes[i] > VG_TABLE_SIZE_MAX)
			usage();

	snprintf(g_dir, sizeof(g_dir), "%s/vg-bench-table-XXXXXX", tmpbase);
	if (!mkdtemp(g_dir))
		die(g_dir, errno);
	atexit(cleanup);

	printf("struct vg_entry: %zu bytes\n", sizeof(struct vg_entry));
	printf("%-10s %-22s %10s\n", "entries", "operation", "median ns");
	for (int i = 0; i < nsizes; i++) {
		char path[320];
		struct ctx x;
		struct stat st;
		struct vg_addr a;
		struct vg_result r;
		double thr, thr2, ns[4];
		int ret;

		snprintf(path, sizeof(path), "%s/table-%u", g_dir, sizes[i]);
		vg_config_defaults(&x.cfg);
		if (vg_config_set(&x.cfg, "maxretry", "1000", "bench", err,
				  sizeof(err)) ||
		    vg_config_set(&x.cfg, "findtime", "1", "bench", err,
				  sizeof(err))) {
			fprintf(stderr, "bench_table: %s\n", err);
			return 2;
		}
		ret = vg_table_open(&x.t, path, sizes[i], true);
		if (ret)
			die(path, -ret);
		x.now = vg_now();
		x.filled = (uint32_t)((uint64_t)sizes[i] * (unsigned)fill / 100);
		for (uint32_t k = 0; k < x.filled; k++) {
			source(k, &a);
			ret = vg_table_fail(x.t, &x.cfg, &a, 1, x.now, &r);
			if (ret)
				die("pre-fill", -ret);
		}
		if (stat(path, &st))
			die(path, errno);
		for (int op = 0; op < 4; op++) {
			ns[op] = median_ns(&x, (enum op)op, batch, batches);
			printf("%-10u %-22s %10.1f\n", sizes[i], op_names[op],
			       ns[op]);
		}
		printf("%-10u %-22s %10.1f  (%lld bytes / %u entries)\n",
		       sizes[i], "file bytes per entry",
		       (double)st.st_size / sizes[i], (long long)st.st_size,
		       sizes[i]);
		thr2 = parallel(path, sizes[i], &x, procs, par_ops);
		printf("%-10u %d procs fail/random   %10.2f M updates/s "
		       "(%u ops each)\n", sizes[i], procs, thr2 / 1e6,
		       par_ops);
		thr = parallel(path, sizes[i], &x, 1, par_ops);
		printf("%-10u 1 proc  fail/random   %10.2f M updates/s\n",
		       sizes[i], thr / 1e6);
		printf("RESULT size=%u fail_hot=%.1f fail_random=%.1f "
		       "preauth_fail=%.1f check=%.1f bytes_per_entry=%.1f "
		       "procs=%d par_mups=%.3f single_mups=%.3f\n", sizes[i],
		       ns[0], ns[1], ns[2], ns[3],
		       (double)st.st_size / sizes[i], procs, thr2 / 1e6,
		       thr / 1e6);
		vg_table_close(x.t);
		unlink(path);
	}
	return 0;
}

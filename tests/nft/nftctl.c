/* Test driver for helper/firewall/nft.c, run by tests/nft/test_nft.sh and
 * bench/bench_nft.sh inside a throwaway network namespace.
 *
 *   nftctl [-p V6PREFIX] ensure [--rate N/SECS] [--bantime S] [--port P]...
 *                               [--ignore "CIDR,..."]
 *   nftctl [-p V6PREFIX] add drop|trust|dropnet TIMEOUT_S ADDR...
 *         (refresh add; dropnet: ADDR is masked to its /24 or /48, or
 *         ADDR/LEN is sent as given)
 *   nftctl [-p V6PREFIX] del drop|trust ADDR...
 *   nftctl [-p V6PREFIX] list drop|trust
 *   nftctl [-p V6PREFIX] reconcile drop|trust FILE   ("ADDR TIMEOUT_S" lines)
 *   nftctl [-p V6PREFIX] del|list|reconcile take dropnet too
 *   nftctl bulk apply|refresh|reconcile N TIMEOUT_S [FIRST]
 *         N IPv4 from 127.16.0.0: apply = known-absent plain adds,
 *         refresh = add+delete+add, reconcile = against the kernel set
 *   nftctl destroy
 *   nftctl [-p V6PREFIX] wait drop|trust|dropnet ADDR MS [T0_NS]
 *         list the set every millisecond until ADDR is in it, at most MS
 *         ms counted from T0_NS (CLOCK_REALTIME ns, the caller's
 *         `date +%s%N` when it did what should add ADDR), else from now:
 *         a latency measured without a process start per look
 * Prints one "rc=..." report line; exit 0 on rc 0, 1 otherwise. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "nft.h"

static unsigned int v6prefix = 64;

static void report(const char *what, int rc, const struct vg_nft_report *r,
		   double ms)
{
	printf("%s rc=%d unavailable=%d (%s) msgs=%zu batches=%zu added=%zu "
	       "deleted=%zu already=%zu kept=%zu rebuilt=%d split=%d errs=%zu "
	       "ms=%.3f msg=\"%s\"\n", what, rc, vg_nft_unavailable(rc),
	       vg_nft_strerror(rc), r->msgs, r->batches, r->added, r->deleted,
	       r->already, r->kept, r->rebuilt, r->split, r->n_errs, ms, r->msg);
	for (size_t i = 0; i < r->n_errs && i < VG_NFT_REPORT_ERRS; i++) {
		char buf[VG_ADDR_STRLEN] = "-";

		if (r->errs[i].index >= 0)
			vg_addr_format(&r->errs[i].addr, buf, sizeof(buf));
		printf("  err %d (%s) in %s list at index %ld: %s\n",
		       r->errs[i].err, vg_nft_strerror(r->errs[i].err),
		       r->errs[i].del ? "delete" : "add", r->errs[i].index, buf);
	}
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static enum vg_nft_set cur_set;

static int parse_set(const char *s, enum vg_nft_set *out)
{
	if (!strcmp(s, "dropnet"))
		*out = VG_NFT_DROP_NET;
	else if (!strcmp(s, "drop"))
		*out = VG_NFT_DROP;
	else if (!strcmp(s, "trust"))
		*out = VG_NFT_TRUST;
	else
		return -1;
	cur_set = *out;
	return 0;
}

static int parse_elem(const char *s, struct vg_nft_elem *e)
{
	struct vg_addr a;

	memset(e, 0, sizeof(*e));
	if (cur_set == VG_NFT_DROP_NET && strchr(s, '/')) {
		if (vg_cidr_parse(s, &e->addr) < 0) {
			fprintf(stderr, "bad prefix: %s\n", s);
			return -1;
		}
		return 0;
	}
	if (vg_addr_parse(s, &a) < 0) {
		fprintf(stderr, "bad address: %s\n", s);
		return -1;
	}
	if (cur_set == VG_NFT_DROP_NET) {
		e->addr = a;
		vg_addr_mask(&e->addr, a.family == VG_FAMILY_V4 ?
			     VG_NFT_NET_V4 : VG_NFT_NET_V6);
		return 0;
	}
	vg_addr_key(&a, v6prefix, &e->addr);
	return 0;
}

static double realtime_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static bool in_set(enum vg_nft_set set, const struct vg_addr *want)
{
	struct vg_nft_elem *v = NULL;
	size_t n = 0;
	bool found = false;

	if (vg_nft_list(set, v6prefix, &v, &n) == 0)
		for (size_t i = 0; i < n && !found; i++)
			found = v[i].addr.family == want->family &&
				!memcmp(v[i].addr.bytes, want->bytes,
					sizeof(want->bytes));
	free(v);
	return found;
}

static int parse_set(const char *s, enum vg_nft_set *out);
static int parse_elem(const char *s, struct vg_nft_elem *e);

static int cmd_wait(int argc, char **argv)
{
	struct timespec tick = { 0, 1000000 };
	enum vg_nft_set set;
	struct vg_nft_elem e;
	double limit, t0, ms;
	bool found;

	if ((argc != 5 && argc != 6) || parse_set(argv[2], &set) ||
	    parse_elem(argv[3], &e) < 0)
		return 2;
	limit = strtod(argv[4], NULL);
	if (limit <= 0 || limit > 10000)
		return 2;
	t0 = argc == 6 ? strtod(argv[5], NULL) / 1e6 : realtime_ms();
	while (!(found = in_set(set, &e.addr)) &&
	       realtime_ms() - t0 < limit)
		nanosleep(&tick, NULL);
	ms = realtime_ms() - t0;
	printf("wait rc=0 found=%d ms=%.1f\n", found, ms);
	return found && ms <= limit ? 0 : 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of nftctl.c\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct vg_nft_report rep;
	enum vg_nft_set set;
	int rc;
	double t0;

	memset(&rep, 0, sizeof(rep));
	if (argc > 2 && !strcmp(argv[1], "-p")) {
		v6prefix = (unsigned)atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];

	if (!strcmp(cmd, "ensure")) {
		struct vg_nft_config c;

		memset(&c, 0, sizeof(c));
		c.v6prefix = v6prefix;
		for (int i = 2; i < argc; i++) {
			if (i + 1 >= argc)
				return usage();
			if (!strcmp(argv[i], "--rate")) {
				unsigned n;
				unsigned long long per;

				if (sscanf(argv[++i], "%u/%llu", &n, &per) != 2)
					return usage();
				c.conn_count = n;
				c.conn_per = per;
			} else if (!strcmp(argv[i], "--bantime")) {
				c.conn_bantime = strtoull(argv[++i], NULL, 10);
			} else if (!strcmp(argv[i], "--port")) {
				if (c.n_ports >= 16)
					return usage();
				c.ports[c.n_ports++] = (uint16_t)atoi(argv[++i]);
			} else if (!strcmp(argv[i], "--ignore")) {
				char bad[64];

				if (vg_cidr_list_parse(argv[++i], &c.ignore, bad,
						       sizeof(bad)) < 0) {
					fprintf(stderr, "bad cidr %s\n", bad);
					return 2;
				}
			} else {
				return usage();
			}
		}
		t0 = now_ms();
		rc = vg_nft_ensure(&c, &rep);
		report("ensure", rc, &rep, now_ms() - t0);
		return rc ? 1 : 0;
	}
	if (!strcmp(cmd, "destroy")) {
		rc = vg_nft_destroy();
		printf("destroy rc=%d (%s)\n", rc, vg_nft_strerror(rc));
		return rc ? 1 : 0;
	}
	if (!strcmp(cmd, "wait"))
		return cmd_wait(argc, argv);
	if (!strcmp(cmd, "list")) {
		struct vg_nft_elem *v;
		size_t n;
		char buf[VG_ADDR_STRLEN];

		if (argc != 3 || parse_set(argv[2], &set))
			return usage();
		rc = vg_nft_list(set, v6prefix, &v, &n);
		for (size_t i = 0; i < n; i++) {
			vg_addr_format(&v[i].addr, buf, sizeof(buf));
			printf("%s timeout_ms=%llu expires_ms=%llu ours=%d\n", buf,
			       (unsigned long long)v[i].timeout_ms,
			       (unsigned long long)v[i].expires_ms, v[i].ours);
		}
		free(v);
		printf("list rc=%d unavailable=%d (%s) n=%zu\n", rc,
		       vg_nft_unavailable(rc), vg_nft_strerror(rc), n);
		return rc ? 1 : 0;
	}
	if (!strcmp(cmd, "add") || !strcmp(cmd, "del")) {
		bool add = !strcmp(cmd, "add");
		int first = add ? 4 : 3;

		if (argc < first + 1 || parse_set(argv[2], &set))
			return usage();
		size_t n = (size_t)(argc - first);
		struct vg_nft_elem *v = calloc(n, sizeof(*v));

		if (!v)
			return 1;
		for (size_t i = 0; i < n; i++) {
			if (parse_elem(argv[first + i], &v[i]) < 0)
				return 2;
			if (add)
				v[i].timeout_ms = strtoull(argv[3], NULL, 10) * 1000;
		}
		t0 = now_ms();
		rc = add ? vg_nft_apply(set, v, n, NULL, 0, &rep)
			 : vg_nft_apply(set, NULL, 0, v, n, &rep);
		report(cmd, rc, &rep, now_ms() - t0);
		free(v);
		return rc ? 1 : 0;
	}
	if (!strcmp(cmd, "reconcile")) {
		FILE *f;
		char line[256], a[128];
		unsigned long long secs;
		size_t n = 0, cap = 16;
		struct vg_nft_elem *v = malloc(cap * sizeof(*v));

		if (argc != 4 || parse_set(argv[2], &set) || !v)
			return usage();
		f = fopen(argv[3], "r");
		if (!f) {
			perror(argv[3]);
			return 2;
		}
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%127s %llu", a, &secs) != 2)
				continue;
			if (n == cap) {
				cap *= 2;
				v = realloc(v, cap * sizeof(*v));
				if (!v)
					return 1;
			}
			if (parse_elem(a, &v[n]) < 0)
				return 2;
			v[n++].timeout_ms = secs * 1000;
		}
		fclose(f);
		t0 = now_ms();
		rc = vg_nft_reconcile(set, v, n, v6prefix, &rep);
		report("reconcile", rc, &rep, now_ms() - t0);
		free(v);
		return rc ? 1 : 0;
	}
	if (!strcmp(cmd, "bulk")) {
		if (argc < 5)
			return usage();
		bool rec = !strcmp(argv[2], "reconcile");
		bool fresh = !strcmp(argv[2], "apply");
		size_t n = strtoul(argv[3], NULL, 10);
		uint64_t tmo = strtoull(argv[4], NULL, 10) * 1000;
		unsigned long first = argc > 5 ? strtoul(argv[5], NULL, 10) : 0;
		struct vg_nft_elem *v = calloc(n ? n : 1, sizeof(*v));

		if (!v || n > (1u << 24))
			return 1;
		for (size_t i = 0; i < n; i++) {
			uint32_t x = (uint32_t)(first + i);

			/* 127.16.0.0 upwards */
			v[i].addr.family = VG_FAMILY_V4;
			v[i].addr.prefix = 32;
			v[i].addr.bytes[10] = v[i].addr.bytes[11] = 0xff;
			v[i].addr.bytes[12] = 127;
			v[i].addr.bytes[13] = (uint8_t)(16 + (x >> 16));
			v[i].addr.bytes[14] = (uint8_t)(x >> 8);
			v[i].addr.bytes[15] = (uint8_t)x;
			v[i].timeout_ms = tmo;
			v[i].fresh = fresh;
		}
		t0 = now_ms();
		rc = rec ? vg_nft_reconcile(VG_NFT_DROP, v, n, v6prefix, &rep)
			 : vg_nft_apply(VG_NFT_DROP, v, n, NULL, 0, &rep);
		report(rec ? "bulk-reconcile" : fresh ? "bulk-apply" : "bulk-refresh", rc, &rep,
		       now_ms() - t0);
		free(v);
		return rc ? 1 : 0;
	}
	return usage();
}

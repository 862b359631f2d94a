/* Unit tests for lib/addr.c.  Most cases live in tests/data/addr.txt and
 * run through one driver; what a line of text cannot say (unterminated
 * buffers, 65-item lists, equal keys for two spellings) is here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define FIELD_MAX	4
#define FIELD_LEN	1024

struct caseline {
	const char *file;
	unsigned int line;
	int nf;
	char f[FIELD_MAX][FIELD_LEN];
	bool null[FIELD_MAX];	/* field was "-" */
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Two hex digits; NUL is refused, a C string cannot carry it. */
static int hexbyte(const char *p)
{
	if (hexval(p[0]) < 0 || hexval(p[1]) < 0)
		return -1;
	return hexval(p[0]) * 16 + hexval(p[1]);
}

/* Undo the data file's escapes; false on a malformed one. */
static bool unescape(char *dst, size_t len, const char *src)
{
	size_t o = 0;

	if (strcmp(src, "\"\"") == 0)
		src = "";
	for (; *src; src++) {
		char c = *src;

		if (c == '\\') {
			switch (*++src) {
			case 's': c = ' '; break;
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 'e': c = '\033'; break;
			case '\\': c = '\\'; break;
			case 'x':
				if (hexbyte(src + 1) <= 0)
					return false;
				c = (char)hexbyte(src + 1);
				src += 2;
				break;
			default:
				return false;
			}
		}
		if (o + 1 >= len)
			return false;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return true;
}

static bool split_line(char *buf, struct caseline *c)
{
	char *save = NULL, *tok;

	c->nf = 0;
	for (tok = strtok_r(buf, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (c->nf == FIELD_MAX)
			return false;
		c->null[c->nf] = strcmp(tok, "-") == 0;
		if (!unescape(c->f[c->nf], FIELD_LEN, tok))
			return false;
		c->nf++;
	}
	return true;
}

static void fmt_rc(int rc, const struct vg_addr *a, char *out, size_t len)
{
	if (rc)
		snprintf(out, len, "FAIL");
	else
		vg_addr_format(a, out, len);
}

static void run_addr(struct caseline *c, char *got, size_t len)
{
	struct vg_addr a;

	fmt_rc(vg_addr_parse(c->f[1], &a), &a, got, len);
}

static void run_cidr(struct caseline *c, char *got, size_t len)
{
	struct vg_addr a;

	fmt_rc(vg_cidr_parse(c->f[1], &a), &a, got, len);
}

static void run_key(struct caseline *c, char *got, size_t len)
{
	struct vg_addr a, k;
	unsigned int v6prefix = (unsigned int)atoi(c->f[0] + 3);
	int rc = vg_addr_parse(c->f[1], &a);

	if (rc == 0)
		vg_addr_key(&a, v6prefix, &k);
	fmt_rc(rc, &k, got, len);
}

static void run_list(struct caseline *c, char *got, size_t len)
{
	struct vg_cidr_list l;
	char bad[64], one[VG_ADDR_STRLEN];
	size_t o = 0;
	unsigned int i;

	if (vg_cidr_list_parse(c->f[1], &l, bad, sizeof(bad))) {
		snprintf(got, len, "FAIL");
		return;
	}
	snprintf(got, len, "-");
	for (i = 0; i < l.n; i++) {
		vg_addr_format(&l.net[i], one, sizeof(one));
		o += (size_t)snprintf(got + o, len - o, "%s%s",
				      i ? "," : "", one);
	}
}

static void run_match(struct caseline *c, char *got, size_t len)
{
	struct vg_cidr_list l;
	struct vg_addr a;

	if (vg_cidr_list_parse(c->f[1], &l, NULL, 0) ||
	    vg_addr_parse(c->f[2], &a))
		snprintf(got, len, "FAIL");
	else
		snprintf(got, len, "%s",
			 vg_cidr_list_match(&l, &a) ? "yes" : "no");
}

static void run_source(struct caseline *c, char *got, size_t len)
{
	struct vg_addr a;
	char one[VG_ADDR_STRLEN];
	int rc;

	rc = vg_source_resolve(c->null[1] ? NULL : c->f[1],
			       c->null[2] ? NULL : c->f[2], &a);
	if (rc == -ENOENT || rc == -EINVAL) {
		snprintf(got, len, "%s", rc == -ENOENT ? "ENOENT" : "EINVAL");
		return;
	}
	if (rc == 2 && a.family == VG_FAMILY_NAME && a.prefix == 128)
		snprintf(one, sizeof(one), "name");
	else
		vg_addr_format(&a, one, sizeof(one));
	snprintf(got, len, "%d:%s", rc, one);
}

struct kind {
	const char *name;
	int nf;
	void (*run)(struct caseline *c, char *got, size_t len);
};

static const struct kind kinds[] = {
	{ "addr", 3, run_addr },
	{ "cidr", 3, run_cidr },
	{ "key", 3, run_key },
	{ "list", 3, run_list },
	{ "match", 4, run_match },
	{ "source", 4, run_source },
};

/* One data line; false (after saying why) when it does not hold. */
static bool run_case(struct caseline *c)
{
	const struct kind *k = NULL;
	char got[2048];
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(c->f[0], kinds[i].name,
			    strlen(kinds[i].name)) == 0)
			k = &kinds[i];
	if (!k || c->nf != k->nf) {
		print_error("%s:%u: malformed case\n", c->file, c->line);
		return false;
	}
	k->run(c, got, sizeof(got));
	if (strcmp(got, c->f[c->nf - 1]) == 0)
		return true;
	print_error("%s:%u: %s: expected \"%s\", got \"%s\"\n", c->file,
		    c->line, c->f[0], c->f[c->nf - 1], got);
	return false;
}

static void test_data_file(void **state)
{
	static struct caseline c;
	const char *dir = getenv("VG_TESTDATA");
	char path[4096], buf[FIELD_LEN];
	unsigned int ncase = 0, nfail = 0, nreject = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/addr.txt", dir ? dir : "tests/data");
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (set VG_TESTDATA)", path);
	c.file = path;
	c.line = 0;
	while (fgets(buf, sizeof(buf), f)) {
		c.line++;
		if (buf[0] == '#' || buf[strspn(buf, " \t\n")] == '\0')
			continue;
		ncase++;
		if (!split_line(buf, &c) || c.nf < 3) {
			print_error("%s:%u: bad line\n", path, c.line);
			nfail++;
			continue;
		}
		if (!run_case(&c))
			nfail++;
		if (strcmp(c.f[c.nf - 1], "FAIL") == 0 ||
		    strcmp(c.f[c.nf - 1], "EINVAL") == 0)
			nreject++;
	}
	fclose(f);
	print_message("%s: %u cases (%u must fail), %u failed\n", path, ncase,
		      nreject, nfail);
	assert_int_equal(nfail, 0);
	assert_true(ncase >= 200);
}

/* A parser that fails must not have written its output. */
static void test_untouched_on_error(void **state)
{
	struct vg_addr a, before;

	(void)state;
	memset(&a, 0xa5, sizeof(a));
	before = a;
	assert_int_equal(vg_addr_parse("1.2.3.256", &a), -EINVAL);
	assert_int_equal(vg_addr_parse(NULL, &a), -EINVAL);
	assert_int_equal(vg_cidr_parse("10.0.0.0/33", &a), -EINVAL);
	assert_int_equal(vg_cidr_parse(NULL, &a), -EINVAL);
	assert_int_equal(vg_source_resolve("bad\nname", NULL, &a), -EINVAL);
	assert_int_equal(vg_source_resolve(NULL, "1.2.3.4 1 2 3", &a),
			 -ENOENT);
	assert_memory_equal(&a, &before, sizeof(a));
}

/* Exactly VG_ADDR_TEXT_MAX + 1 bytes and no NUL: under valgrind any read
 * past the limit shows up. */
static char *unterminated(char fill)
{
	char *p = malloc(VG_ADDR_TEXT_MAX + 1);

	assert_non_null(p);
	memset(p, fill, VG_ADDR_TEXT_MAX + 1);
	return p;
}

static void test_overlong(void **state)
{
	char big[1024 + 1], name[VG_ADDR_TEXT_MAX + 2];
	struct vg_addr a;
	char *p;

	(void)state;
	memset(big, '1', 1024);
	big[1024] = '\0';
	assert_int_equal(vg_addr_parse(big, &a), -EINVAL);
	assert_int_equal(vg_cidr_parse(big, &a), -EINVAL);
	memset(big, 'a', 1024);
	assert_int_equal(vg_source_resolve(big, NULL, &a), -EINVAL);
	assert_int_equal(vg_source_resolve(big, "203.0.113.9 1 2 3", &a), 1);

	p = unterminated('1');
	assert_int_equal(vg_addr_parse(p, &a), -EINVAL);
	assert_int_equal(vg_cidr_parse(p, &a), -EINVAL);
	free(p);
	p = unterminated('a');
	assert_int_equal(vg_source_resolve(p, NULL, &a), -EINVAL);
	assert_int_equal(vg_source_resolve("x.example", p, &a), 2);
	free(p);

	/* 253 is the longest DNS name; 254 and 255 are not names. */
	memset(name, 'a', sizeof(name));
	name[253] = '\0';
	assert_int_equal(vg_source_resolve(name, NULL, &a), 2);
	name[253] = 'a';
	name[254] = '\0';
	assert_int_equal(vg_source_resolve(name, NULL, &a), -EINVAL);
	name[254] = 'a';
	name[255] = '\0';
	assert_int_equal(vg_source_resolve(name, NULL, &a), -EINVAL);
}

static void test_list_error_keeps_list(void **state)
{
	struct vg_cidr_list l, before;
	char bad[32];

	(void)state;
	assert_int_equal(vg_cidr_list_parse("127.0.0.1/8, ::1", &l, bad,
					    sizeof(bad)), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(bad, "");
	before = l;

	assert_int_equal(vg_cidr_list_parse("10.0.0.0/8 10.0.0.0/80 x", &l,
					    bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "10.0.0.0/80");
	assert_memory_equal(&l, &before, sizeof(l));

	/* quoted item: control bytes made visible, cut to badlen - 1 */
	assert_int_equal(vg_cidr_list_parse("1.1.1.1\001\033x", &l, bad,
					    sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "1.1.1.1??x");
	assert_int_equal(vg_cidr_list_parse("2001:db8::/129", &l, bad, 5),
			 -EINVAL);
	assert_string_equal(bad, "2001");
	memset(bad, 'Z', sizeof(bad));
	assert_int_equal(vg_cidr_list_parse("nope", &l, bad, 0), -EINVAL);
	assert_int_equal(bad[0], 'Z');
	assert_int_equal(vg_cidr_list_parse("nope", &l, NULL, 9), -EINVAL);
	assert_int_equal(vg_cidr_list_parse(NULL, &l, bad, sizeof(bad)),
			 -EINVAL);
	assert_memory_equal(&l, &before, sizeof(l));

	/* an empty list replaces the old one */
	assert_int_equal(vg_cidr_list_parse(" , ", &l, bad, sizeof(bad)), 0);
	assert_int_equal(l.n, 0);
}

static void test_list_overflow(void **state)
{
	struct vg_cidr_list l, before;
	char s[VG_CIDR_LIST_MAX * 16 + 64], bad[32];
	size_t o = 0;
	unsigned int i;

	(void)state;
	for (i = 0; i < VG_CIDR_LIST_MAX; i++)
		o += (size_t)snprintf(s + o, sizeof(s) - o, "10.0.%u.0/24,\t",
				      i);
	assert_int_equal(vg_cidr_list_parse(s, &l, bad, sizeof(bad)), 0);
	assert_int_equal(l.n, VG_CIDR_LIST_MAX);
	before = l;

	snprintf(s + o, sizeof(s) - o, "192.0.2.1");
	assert_int_equal(vg_cidr_list_parse(s, &l, bad, sizeof(bad)), -E2BIG);
	assert_string_equal(bad, "192.0.2.1");
	assert_memory_equal(&l, &before, sizeof(l));
	snprintf(s + o, sizeof(s) - o, "junk");
	assert_int_equal(vg_cidr_list_parse(s, &l, bad, sizeof(bad)), -E2BIG);
	assert_memory_equal(&l, &before, sizeof(l));
}

/* An item longer than any address must fail, and be quoted cut. */
static void test_list_long_item(void **state)
{
	struct vg_cidr_list l;
	char s[2048], bad[16];

	(void)state;
	memset(s, '1', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	memcpy(s, "10.0.0.1 ", 9);
	assert_int_equal(vg_cidr_list_parse(s, &l, bad, sizeof(bad)),
			 -EINVAL);
	assert_int_equal(strlen(bad), sizeof(bad) - 1);
}

static void test_mapped_rhost_ignored(void **state)
{
	struct vg_cidr_list ignore;
	struct vg_addr a, b;

	(void)state;
	assert_int_equal(vg_cidr_list_parse("127.0.0.1/8 ::1", &ignore, NULL,
					    0), 0);
	assert_int_equal(vg_source_resolve("::ffff:127.0.0.1", NULL, &a), 0);
	assert_int_equal(a.family, VG_FAMILY_V4);
	assert_int_equal(a.prefix, 32);
	assert_true(vg_cidr_list_match(&ignore, &a));
	assert_int_equal(vg_addr_parse("127.0.0.1", &b), 0);
	assert_true(vg_addr_equal(&a, &b));
}

static void test_name_key(void **state)
{
	struct vg_addr a, b, c, k;
	struct vg_cidr_list all;
	char buf[VG_ADDR_STRLEN];
	size_t i;

	(void)state;
	assert_int_equal(vg_source_resolve("Evil.EXAMPLE", NULL, &a), 2);
	assert_int_equal(vg_source_resolve("evil.example", "junk", &b), 2);
	assert_int_equal(vg_source_resolve("evil.example2", NULL, &c), 2);
	assert_int_equal(a.family, VG_FAMILY_NAME);
	assert_int_equal(a.prefix, 128);
	assert_true(vg_addr_equal(&a, &b));
	assert_false(vg_addr_equal(&a, &c));
	/* two independent halves, not one hash written twice */
	assert_memory_not_equal(a.bytes, a.bytes + 8, 8);

	vg_addr_format(&a, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 5 + 32);
	assert_memory_equal(buf, "name:", 5);
	for (i = 5; i < 37; i++)
		assert_non_null(strchr("0123456789abcdef", buf[i]));

	vg_addr_key(&a, 48, &k);
	assert_true(vg_addr_equal(&a, &k));
	k = a;
	vg_addr_mask(&k, 8);
	assert_true(vg_addr_equal(&a, &k));
	assert_int_equal(vg_cidr_list_parse("0.0.0.0/0 ::/0", &all, NULL, 0),
			 0);
	assert_false(vg_cidr_list_match(&all, &a));
}

static void test_format_bounds(void **state)
{
	struct vg_addr a;
	char buf[VG_ADDR_STRLEN + 8];

	(void)state;
	assert_int_equal(vg_addr_parse("192.0.2.7", &a), 0);
	memset(buf, 'Z', sizeof(buf));
	vg_addr_format(&a, buf, 0);
	assert_int_equal(buf[0], 'Z');
	vg_addr_format(&a, buf, 1);
	assert_string_equal(buf, "");
	assert_int_equal(buf[1], 'Z');
	vg_addr_format(&a, buf, 4);
	assert_string_equal(buf, "192");
	assert_int_equal(buf[4], 'Z');
	vg_addr_format(&a, NULL, 16);

	/* the longest forms fit VG_ADDR_STRLEN */
	memset(&a, 0xff, sizeof(a));
	a.family = VG_FAMILY_V6;
	a.prefix = 127;
	vg_addr_format(&a, buf, VG_ADDR_STRLEN);
	assert_string_equal(buf,
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127");
	a.family = VG_FAMILY_V4;
	a.prefix = 31;
	vg_addr_format(&a, buf, VG_ADDR_STRLEN);
	assert_string_equal(buf, "255.255.255.255/31");
	a.family = VG_FAMILY_V6;
	vg_addr_format(&a, buf, 10);
	assert_string_equal(buf, "ffff:ffff");

	memset(&a, 0, sizeof(a));
	vg_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	a.family = 99;
	vg_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "?");
}

static void test_mask_and_equal(void **state)
{
	struct vg_addr a, b;
	char buf[VG_ADDR_STRLEN];

	(void)state;
	assert_int_equal(vg_addr_parse("203.0.113.77", &a), 0);
	b = a;
	vg_addr_mask(&a, 99);
	assert_int_equal(a.prefix, 32);
	assert_true(vg_addr_equal(&a, &b));
	vg_addr_mask(&a, 0);
	assert_int_equal(a.prefix, 0);
	/* IPv4 masking stays inside the IPv4 bytes */
	assert_memory_equal(a.bytes, b.bytes, 12);
	vg_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0/0");
	assert_false(vg_addr_equal(&a, &b));

	b = a;
	b.prefix = 1;
	assert_false(vg_addr_equal(&a, &b));

	assert_int_equal(vg_addr_parse("2001:db8::1", &a), 0);
	vg_addr_mask(&a, 1000);
	assert_int_equal(a.prefix, 128);
	vg_addr_mask(&a, 17);
	vg_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "2001::/17");

	/* the key may be the address itself */
	assert_int_equal(vg_addr_parse("2001:db8:1:2:3:4:5:6", &a), 0);
	vg_addr_key(&a, 64, &a);
	vg_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2::/64");
}

/* fe80::/10 exactly: its edges, other families, a network inside it. */
static void test_link_local(void **state)
{
	static const struct {
		const char *s;
		bool ll;
	} cases[] = {
		{ "fe80::", true },
		{ "fe80::1", true },
		{ "fe80::99%lo", true },
		{ "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true },
		{ "fe80::/64", true },
		{ "fe80::/10", true },
		{ "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false },
		{ "fec0::", false },		/* site-local, deprecated */
		{ "ff02::1", false },
		{ "fd00::1", false },
		{ "2001:db8::1", false },
		{ "::1", false },
		{ "::", false },
		{ "::ffff:192.0.2.7", false },	/* folds to IPv4 */
		{ "192.0.2.7", false },
		{ "254.128.0.1", false },	/* fe80 in IPv4's first bytes */
	};
	struct vg_addr a;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(vg_cidr_parse(cases[i].s, &a), 0);
		if (vg_addr_link_local(&a) != cases[i].ll)
			fail_msg("vg_addr_link_local(%s) is %d", cases[i].s,
				 !cases[i].ll);
	}
	assert_int_equal(vg_source_resolve("evil.example", NULL, &a), 2);
	a.bytes[0] = 0xfe;
	a.bytes[1] = 0x80;
	assert_false(vg_addr_link_local(&a));	/* a name's hash */
	memset(&a, 0, sizeof(a));
	a.bytes[0] = 0xfe;
	a.bytes[1] = 0x80;
	assert_false(vg_addr_link_local(&a));	/* VG_FAMILY_NONE */
}

/* A link-local source is keyed by its whole address at every ipv6.prefix:
 * two neighbours (or a neighbour and the gateway, fe80::1) never share a
 * key, and no key of one covers the other. */
static void test_link_local_key(void **state)
{
	static const unsigned int prefixes[] = { 48, 56, 64, 96, 127, 128 };
	struct vg_addr gw, nb, kg, kn, net;
	char buf[VG_ADDR_STRLEN];
	unsigned int i;

	(void)state;
	assert_int_equal(vg_addr_parse("fe80::1", &gw), 0);
	assert_int_equal(vg_source_resolve("fe80::99%eth0", NULL, &nb), 0);
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		vg_addr_key(&gw, prefixes[i], &kg);
		vg_addr_key(&nb, prefixes[i], &kn);
		assert_true(vg_addr_equal(&kg, &gw));
		assert_true(vg_addr_equal(&kn, &nb));
		assert_int_equal(kn.prefix, 128);
		assert_false(vg_addr_equal(&kg, &kn));
		assert_false(vg_cidr_contains(&kn, &gw));
		assert_true(vg_addr_link_local(&kn));
		vg_addr_format(&kn, buf, sizeof(buf));
		assert_string_equal(buf, "fe80::99");
	}
	/* in place, as the table's callers do */
	vg_addr_key(&nb, 64, &nb);
	vg_addr_format(&nb, buf, sizeof(buf));
	assert_string_equal(buf, "fe80::99");
	/* a network inside fe80::/10 (a CrowdSec range) is not widened to
	 * ipv6.prefix either; the firewall refuses to drop it anyway */
	assert_int_equal(vg_cidr_parse("fe80::/10", &net), 0);
	vg_addr_key(&net, 64, &kn);
	assert_true(vg_addr_equal(&kn, &net));
	/* just outside: masked as before */
	assert_int_equal(vg_addr_parse("fec0::1:2:3:4", &net), 0);
	vg_addr_key(&net, 64, &kn);
	vg_addr_format(&kn, buf, sizeof(buf));
	assert_string_equal(buf, "fec0::/64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_file),
		cmocka_unit_test(test_untouched_on_error),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_list_error_keeps_list),
		cmocka_unit_test(test_list_overflow),
		cmocka_unit_test(test_list_long_item),
		cmocka_unit_test(test_mapped_rhost_ignored),
		cmocka_unit_test(test_name_key),
		cmocka_unit_test(test_format_bounds),
		cmocka_unit_test(test_mask_and_equal),
		cmocka_unit_test(test_link_local),
		cmocka_unit_test(test_link_local_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Addresses as an attacker hands them to us: the rhost (reverse DNS
 * owners choose it), SSH_CONNECTION, and the admin's CIDR lists.
 * The input is split at the first '\n': rhost before, SSH_CONNECTION
 * after (absent without a '\n').  Every parser sees the rhost text. */
#include <errno.h>

#include "addr.h"
#include "fuzz.h"

static void check_addr(const struct vg_addr *a)
{
	char buf[VG_ADDR_STRLEN];
	struct vg_addr key, back;

	FUZZ_ASSERT(a->family == VG_FAMILY_V4 || a->family == VG_FAMILY_V6 ||
		    a->family == VG_FAMILY_NAME);
	FUZZ_ASSERT(a->prefix <= (a->family == VG_FAMILY_V4 ? 32 : 128));
	vg_addr_format(a, buf, sizeof(buf));
	fuzz_check_text(buf, sizeof(buf));
	/* A formatted numeric address parses back to itself. */
	if (a->family != VG_FAMILY_NAME) {
		FUZZ_ASSERT(vg_cidr_parse(buf, &back) == 0);
		FUZZ_ASSERT(vg_addr_equal(a, &back));
	}
	for (unsigned int p = 48; p <= 128; p += 16) {
		vg_addr_key(a, p, &key);
		vg_addr_format(&key, buf, sizeof(buf));
		fuzz_check_text(buf, sizeof(buf));
	}
	/* Small buffers are cut, never overrun. */
	vg_addr_format(a, buf, 5);
	FUZZ_ASSERT(strlen(buf) < 5);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *conn = strchr(s, '\n');
	char bad[64];
	struct vg_addr a;
	struct vg_cidr_list *l = calloc(1, sizeof(*l));
	int ret;

	FUZZ_ASSERT(l);
	if (conn)
		*conn++ = '\0';
	if (vg_addr_parse(s, &a) == 0)
		check_addr(&a);
	if (vg_cidr_parse(s, &a) == 0)
		check_addr(&a);
	bad[0] = '\0';
	ret = vg_cidr_list_parse(s, l, bad, sizeof(bad));
	if (ret == 0) {
		FUZZ_ASSERT(l->n <= VG_CIDR_LIST_MAX);
		for (unsigned int i = 0; i < l->n; i++)
			check_addr(&l->net[i]);
		if (vg_addr_parse(s, &a) == 0)
			(void)vg_cidr_list_match(l, &a);
	} else {
		FUZZ_ASSERT(ret == -EINVAL || ret == -E2BIG);
		fuzz_check_text(bad, sizeof(bad));
	}
	ret = vg_source_resolve(s, conn, &a);
	FUZZ_ASSERT(ret == 0 || ret == 1 || ret == 2 || ret == -ENOENT ||
		    ret == -EINVAL);
	if (ret >= 0)
		check_addr(&a);
	free(l);
	free(s);
	return 0;
}

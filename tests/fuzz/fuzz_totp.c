/* The TOTP code input: whatever a client types at "Verification code: "
 * goes through vg_totp_check() exactly as the module passes it (after
 * PAM's conversation, so a C string).  RFC 6238's SHA-1 secret and a
 * fixed clock: only the code at steps now-1..now+1 may be accepted, a
 * malformed answer never reaches liboath's verdict, and a rejected one
 * changes nothing. */
#include "fuzz.h"
#include "totp.h"

#define NOW	1111111109	/* RFC 6238 Appendix B: 07081804 */

static struct vg_oath oath;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int loaded;
	char *in = fuzz_str(data, size), err[256];
	struct vg_totp s = { 0 }, before;
	enum vg_totp_input kind;
	int res;

	if (!loaded) {
		if (vg_oath_load(&oath, err, sizeof(err)) != 0) {
			fprintf(stderr, "liboath: %s\n", err);
			abort();
		}
		loaded = 1;
	}
	memcpy(s.secret, "12345678901234567890", 20);
	s.secret_len = 20;
	s.last = 0;
	before = s;

	kind = vg_totp_classify(in);
	res = vg_totp_check(&oath, &s, in, NOW, 1);
	FUZZ_ASSERT(res == VG_TOTP_OK || res == VG_TOTP_BAD ||
		    res == VG_TOTP_REPLAY || res == VG_TOTP_MALFORMED ||
		    res == VG_TOTP_RECOVERY_OK || res < 0);
	if (kind == VG_TOTP_IN_MALFORMED)
		FUZZ_ASSERT(res == VG_TOTP_MALFORMED);
	/* No recovery codes are loaded: none can be accepted. */
	FUZZ_ASSERT(res != VG_TOTP_RECOVERY_OK);
	if (res == VG_TOTP_OK) {
		/* Only the three codes of the window, and its step kept. */
		FUZZ_ASSERT(kind == VG_TOTP_IN_CODE && strlen(in) == 6);
		FUZZ_ASSERT(s.last >= NOW / 30 - 1 && s.last <= NOW / 30 + 1);
	} else {
		FUZZ_ASSERT(memcmp(&s, &before, sizeof(s)) == 0);
	}
	vg_totp_wipe(&s);
	free(in);
	return 0;
}

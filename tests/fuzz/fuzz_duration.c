/* Durations: parse never overflows or exceeds VG_DURATION_MAX, and
 * what vg_duration_format() writes parses back to the same value. */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), buf[32], small[4];
	uint64_t v, back;

	if (vg_duration_parse(s, &v) == 0) {
		FUZZ_ASSERT(v <= VG_DURATION_MAX);
		vg_duration_format(v, buf, sizeof(buf));
		fuzz_check_text(buf, sizeof(buf));
		FUZZ_ASSERT(vg_duration_parse(buf, &back) == 0);
		FUZZ_ASSERT(back == v);
		vg_duration_format(v, small, sizeof(small));
		FUZZ_ASSERT(strlen(small) < sizeof(small));
	}
	free(s);
	return 0;
}

/* Shared bits of the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * Each target is built by clang with -fsanitize=fuzzer,address,undefined
 * straight from the lib/ sources (tests/fuzz/Makefile.inc), never from the
 * gcc objects in lib/.  A target aborts on a broken invariant, so that
 * libFuzzer reports it like a crash. */
#ifndef VG_FUZZ_H
#define VG_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (the parsers take NUL-terminated text; an
 * embedded NUL just ends it early, as it would for PAM items). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Abort with a message: an invariant the code promises does not hold. */
#define FUZZ_ASSERT(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: invariant failed: %s\n",\
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

/* A printable, NUL-terminated string of at most max - 1 bytes: what
 * every error buffer and formatted address must be. */
static inline void fuzz_check_text(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	FUZZ_ASSERT(n < max);
}

/* A private 0700 directory for targets that need real files (the
 * table validator, the file readers); created once per process. */
const char *fuzz_tmpdir(void);

#endif

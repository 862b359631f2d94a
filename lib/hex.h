/* Hex text for the files we write ourselves (the state file's name
 * keys, TOTP secrets and hashes): lower case out, either case in. */
#ifndef VG_HEX_H
#define VG_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2 * n digits and a NUL into out (2 * n + 1 bytes). */
void vg_hex_encode(char *out, const uint8_t *in, size_t n);
/* Exactly 2 * n hex digits in s[0..slen), nothing else: sscanf("%2x")
 * would also take " f", "+f" or "-1", so one value could be written
 * several ways.  false leaves out partly written. */
bool vg_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);

#endif

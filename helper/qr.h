/* A QR code drawn in the terminal (libqrencode), for `totp enroll`. */
#ifndef VG_QR_H
#define VG_QR_H

#include <stdio.h>

/* Two module rows per text line with Unicode half blocks, a light quiet
 * zone around it.  0, or -errno (text too long, no memory). */
int qr_print(FILE *f, const char *text);

#endif

/* Terminal QR rendering.  Scanners want dark modules on a light ground
 * with a light quiet zone; most terminals draw light text on a dark
 * background, so the *light* modules are the ones drawn (full/half
 * blocks in the foreground colour) and dark ones are left blank.  Two
 * module rows share one text line: 37 modules + quiet zone fit in 22
 * lines of 41 columns. */
#include <errno.h>
#include <qrencode.h>
#include <stdbool.h>

#include "qr.h"

#define QUIET	2	/* modules of light margin on each side */

static bool light(const QRcode *q, int x, int y)
{
	x -= QUIET;
	y -= QUIET;
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return true;			/* quiet zone */
	return !(q->data[y * q->width + x] & 1);	/* bit 0: dark */
}

int qr_print(FILE *f, const char *text)
{
	/* Level M: 15% damage recovery, still version 5 for our URIs. */
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int n;

	if (!q)
		return errno ? -errno : -EINVAL;
	n = q->width + 2 * QUIET;
	for (int y = 0; y < n; y += 2) {
		for (int x = 0; x < n; x++) {
			bool top = light(q, x, y);
			bool bot = y + 1 < n ? light(q, x, y + 1) : false;

			fputs(top && bot ? "\u2588" : top ? "\u2580" :
			      bot ? "\u2584" : " ", f);
		}
		fputc('\n', f);
	}
	QRcode_free(q);
	return 0;
}

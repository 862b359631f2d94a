#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static vg_log_fn log_fn;
static void *log_ctx;

void vg_log_set(vg_log_fn fn, void *ctx)
{
	log_fn = fn;
	log_ctx = ctx;
}

void vg_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* No hook: the library does not print on its own. */
	if (log_fn)
		log_fn(log_ctx, prio, fmt, ap);
	va_end(ap);
}

void vg_vlog(int prio, const char *fmt, va_list ap)
{
	if (log_fn)
		log_fn(log_ctx, prio, fmt, ap);
}

static void sanitize(char *dst, size_t dstlen, const char *src,
		     bool quoted)
{
	size_t i = 0;

	if (dstlen == 0)
		return;
	for (; src && src[i] && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f && !(quoted && c == '\'')) ?
			 (char)c : '?';
	}
	dst[i] = '\0';
}

void vg_sanitize(char *dst, size_t dstlen, const char *src)
{
	sanitize(dst, dstlen, src, false);
}

void vg_sanitize_quoted(char *dst, size_t dstlen, const char *src)
{
	sanitize(dst, dstlen, src, true);
}

int vg_errf(char *err, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* Logging from shared code goes through one hook, so the library never
 * prints: the module routes it to pam_syslog(), the CLI to stderr or syslog. */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

typedef void (*vg_log_fn)(void *ctx, int prio, const char *fmt, va_list ap);

/* NULL fn restores the default: messages are dropped. */
void vg_log_set(vg_log_fn fn, void *ctx);
void vg_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vg_vlog(int prio, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Copy src into dst (always NUL-terminated) with every byte that is not
 * printable ASCII replaced by '?', and cut to dstlen - 1 bytes, so that a
 * hostile user name or host name can never forge or split a log line. */
void vg_sanitize(char *dst, size_t dstlen, const char *src);
/* The same, and the single quote too: for text shown in '...', where a
 * quote of its own would end the field for whoever parses the line. */
void vg_sanitize_quoted(char *dst, size_t dstlen, const char *src);

/* Deep code returns errors, never prints them: format the message for
 * the caller into err (if any) and return ret, so that
 * "return vg_errf(err, len, -ENOENT, ...)" is one line. */
int vg_errf(char *err, size_t len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif

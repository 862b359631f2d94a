/* libc's syslog entry points, for a test driver that loads the module
 * through libpam in its own process (tests/adversary/vg_adversary.c,
 * tests/security/vg_pamstress.c): defined in the executable and exported
 * (it is linked with -rdynamic), so every line the module or libpam logs
 * goes to the includer's
 *
 *   static void capture(const char *fmt, va_list ap);
 *
 * instead of /dev/log.  Include it after capture() is defined. */
#ifndef VG_TEST_SYSLOG_HOOK_H
#define VG_TEST_SYSLOG_HOOK_H

#include <stdarg.h>

#define SYSLOG_HOOK __attribute__((visibility("default")))

SYSLOG_HOOK void vsyslog(int pri, const char *fmt, va_list ap)
{
	(void)pri;
	capture(fmt, ap);
}

SYSLOG_HOOK void syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	(void)pri;
	va_start(ap, fmt);
	capture(fmt, ap);
	va_end(ap);
}

/* What _FORTIFY_SOURCE turns the calls above into. */
SYSLOG_HOOK void __vsyslog_chk(int pri, int flag, const char *fmt,
			       va_list ap)
{
	(void)pri;
	(void)flag;
	capture(fmt, ap);
}

SYSLOG_HOOK void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)pri;
	(void)flag;
	va_start(ap, fmt);
	capture(fmt, ap);
	va_end(ap);
}

#endif

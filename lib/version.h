/* The product's version, one definition for every part that reports it
 * (pam_vpsguard-admin --version, the CrowdSec User-Agent). Keep it equal
 * to debian/changelog's and the man pages' (tests/pkg/test_deb.sh checks
 * the package's). */
#ifndef VG_VERSION_H
#define VG_VERSION_H

#ifndef VG_VERSION
#define VG_VERSION	"0.1.0"
#endif

#endif

#!/bin/bash
# Static analysis: cppcheck and clang-tidy (.clang-tidy) over every C
# file in lib/, pam_module/ and helper/ -- found by glob, so new files
# are checked without editing this.  Exit 0 when both are clean.
#   tests/security/lint.sh [cppcheck|clang-tidy]   (default: both)
# Used by `make lint` and by tests/security/test_static.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
what=${1:-all}
mapfile -t SRC < <(ls lib/*.c pam_module/*.c helper/*.c helper/*/*.c 2>/dev/null)
INC="-Ilib -Ihelper -Ihelper/firewall -Ihelper/fleet -Ihelper/sshd -Ihelper/sys"
TIDY=$(command -v clang-tidy-14 || command -v clang-tidy)
# The build's own defines; pkg-config only adds include paths.
VG_TIDY_DEFS="-std=gnu11 $INC -D_GNU_SOURCE $(pkg-config --cflags-only-I \
	libnftnl libmnl liboath libqrencode libcurl json-c 2>/dev/null)"
export VG_TIDY_DEFS TIDY
rc=0

if [ "$what" = all ] || [ "$what" = cppcheck ]; then
	# warning/portability/performance; "style" is a matter of taste.
	# unknownMacro etc. are configuration noise, not findings.
	echo "cppcheck: ${#SRC[@]} files"
	cppcheck -q --std=c11 --enable=warning,portability,performance \
		--inline-suppr --error-exitcode=1 $INC -D__linux__ \
		--suppress=missingIncludeSystem "${SRC[@]}" || rc=1
fi
if [ "$what" = all ] || [ "$what" = clang-tidy ]; then
	echo "clang-tidy: ${#SRC[@]} files"
	# Four files a process, two at a time: the analyzer is the slow
	# part.  A file that does not compile is an error: too.
	# shellcheck disable=SC2016
	printf '%s\0' "${SRC[@]}" | xargs -0 -n 4 -P 2 sh -c \
		'exec "$TIDY" --quiet "$@" -- $VG_TIDY_DEFS' sh 2>&1 |
		grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated' |
		grep -v '^Suppressed [0-9]+ warnings' |
		grep -v '^Use -header-filter=' >"${TMPDIR:-/tmp}/vg-tidy.$$"
	if grep -qE '(warning|error):' "${TMPDIR:-/tmp}/vg-tidy.$$"; then
		cat "${TMPDIR:-/tmp}/vg-tidy.$$"
		rc=1
	fi
	rm -f "${TMPDIR:-/tmp}/vg-tidy.$$"
fi
exit $rc

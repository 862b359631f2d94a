#!/bin/bash
# make test-asan: the module, the CLI and the tests built with ASan +
# UBSan, and the suites run against them.
#
# Out of tree: `make O=build/asan`, so no sanitised object ever mixes
# with the plain build in build/ (a plain `make test` afterwards is
# unaffected); the suites find the module and the CLI through VG_BUILD.
#
# What runs sanitised (and how):
#  - tests/unit/*, tests/pam/*: instrumented executables (ASan + LSan +
#    UBSan, leaks fatal).  These replace the valgrind runs of make test.
#  - tests/pamtester, tests/security/test_{hostile,faults}: pamtester is
#    not instrumented, so a wrapper first in PATH runs it with
#    LD_PRELOAD="libasan.so libubsan.so pam_vpsguard.so" (the runtime
#    must come first; preloading the module keeps its frames symbolised
#    after libpam dlclose()s it).  detect_leaks=0 there: pamtester's and
#    libpam's own allocations are not ours; leaks in the module's code
#    are caught by the instrumented tests/pam harness and valgrind.
#  - tests/cli/*: the instrumented pam_vpsguard-admin (no LSan: it
#    cannot run under the strace one case uses).
# Not here: the e2e/nft/sshd suites (a real sshd cannot load an ASan
# module: its runtime must be the first library of the process), the
# fuzz regression (already ASan/UBSan) and static analysis.
set -u
cd "$(dirname "$0")/../.." || exit 1
SRC=$PWD
B=$SRC/build/asan
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"

rm -rf "$B"
mkdir -p "$B/bin"
# Environment, not command line: the Makefile's += flags still apply.
CFLAGS="-O1 -g -fno-omit-frame-pointer $SAN" LDFLAGS="$SAN" MODULE_CFLAGS= \
	make O="$B" -j2 all tests-bin >"$B/build.log" 2>&1 || {
	tail -n 30 "$B/build.log"
	echo "FAIL: sanitiser build (see $B/build.log)"
	exit 1
}

LIBASAN=$(gcc -print-file-name=libasan.so)
LIBUBSAN=$(gcc -print-file-name=libubsan.so)
cat >"$B/bin/pamtester" <<EOW
#!/bin/sh
LD_PRELOAD="$LIBASAN $LIBUBSAN $B/pam_vpsguard.so" \\
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:\${ASAN_OPTIONS:-}" \\
	exec /usr/bin/pamtester "\$@"
EOW
chmod 755 "$B/bin/pamtester"
export PATH="$B/bin:$PATH"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export VG_TESTDATA="$SRC/tests/data" VG_BUILD="$B"

SUITE_LOG=$B SUITE_PREFIX=asan/
SUITE_REPORT='ERROR: (Address|Leak)Sanitizer|runtime error:'
. "$SRC/tests/suite.sh"

for t in "$B"/tests/unit/test_* "$B"/tests/pam/test_*; do
	case $t in *.c|*.d) continue ;; esac
	[ -x "$t" ] && run_suite "${t#"$B"/tests/}" "$t"
done
for t in tests/pamtester/*.sh tests/security/test_hostile.sh \
	 tests/security/test_faults.sh; do
	[ -f "$t" ] && run_suite "${t#tests/}" bash "$t"
done
# LeakSanitizer cannot run under ptrace, and test_cli.sh straces the CLI
# (the inherited-fd check): no leak checking for the CLI suites.
for t in tests/cli/*.sh; do
	[ -f "$t" ] && ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" \
		run_suite "${t#tests/}" bash "$t"
done
suite_summary "asan: "

#!/bin/bash
# Run every test suite and print one closing line, "N passed, N failed,
# N skipped", counted over individual test cases: cmocka's own summaries
# and the PASS/FAIL/SKIP lines of the shell suites (tests/lib.sh).
set -u
cd "$(dirname "$0")/.."
export VG_TESTDATA="$PWD/tests/data"
LOG=$(mktemp -d /tmp/vg-run-XXXXXX)
trap 'rm -rf "$LOG"' EXIT

SUITE_LOG=$LOG
. tests/suite.sh

for t in build/tests/unit/test_*; do
	case $t in *.c|*.d) continue ;; esac
	[ -x "$t" ] && run_suite "unit/$(basename "$t")" "$t"
	# The same binary under valgrind: no invalid access, no leak.
	[ -x "$t" ] && run_suite "valgrind/$(basename "$t")" \
		valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --trace-children=no "$t"
done
for t in build/tests/pam/test_*; do
	case $t in *.c|*.d) continue ;; esac
	[ -x "$t" ] && run_suite "pam/$(basename "$t")" "$t"
done
for t in tests/pamtester/*.sh tests/cli/*.sh tests/nft/test_*.sh \
	 tests/totp/test_*.sh tests/sshd/test_*.sh tests/fleet/test_*.sh \
	 tests/security/test_*.sh tests/e2e/test_*.sh tests/adversary/test_*.sh \
	 tests/bench/test_*.sh tests/pkg/test_*.sh \
	 tests/debian13/test_*.sh; do
	[ -f "$t" ] && run_suite "${t#tests/}" bash "$t"
done

suite_summary ""

#!/bin/bash
# Run every test suite and print one closing line, "N passed, N failed,
# N skipped", counted over individual test cases: cmocka's own summaries
# and the PASS/FAIL/SKIP lines of the shell suites (tests/lib.sh).
set -u
cd "$(dirname "$0")/.."
export VG_TESTDATA="$PWD/tests/data"
LOG=$(mktemp -d /tmp/vg-run-XXXXXX)
trap 'rm -rf "$LOG"' EXIT

passed=0 failed=0 skipped=0 suites_failed=""

run_suite() {	# name cmd...
	local name=$1 out="$LOG/${1//\//_}.log" rc p f s
	shift
	echo "=== $name"
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$out" | awk '{s+=$4} END {print s+0}')
	f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$out" | awk '{s+=$4} END {print s+0}')
	s=$(grep -E '^\[  SKIPPED \] [0-9]+ test' "$out" | awk '{s+=$4} END {print s+0}')
	p=$((p + $(grep -c '^PASS: ' "$out")))
	f=$((f + $(grep -c '^FAIL: ' "$out")))
	s=$((s + $(grep -c '^SKIP: ' "$out")))
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# crashed or failed before reporting a case
		echo "FAIL: $name exited with status $rc"
	fi
	[ "$f" -ne 0 ] && suites_failed="$suites_failed $name"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

for t in tests/unit/test_*; do
	case $t in *.c|*.d) continue ;; esac
	[ -x "$t" ] && run_suite "unit/$(basename "$t")" "$t"
	# The same binary under valgrind: no invalid access, no leak.
	[ -x "$t" ] && run_suite "valgrind/$(basename "$t")" \
		valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --trace-children=no "$t"
done
for t in tests/pam/test_*; do
	case $t in *.c|*.d) continue ;; esac
	[ -x "$t" ] && run_suite "pam/$(basename "$t")" "$t"
done
for t in tests/pamtester/*.sh tests/cli/*.sh tests/nft/test_*.sh \
	 tests/totp/test_*.sh tests/sshd/test_*.sh tests/fleet/test_*.sh \
	 tests/security/test_*.sh tests/e2e/test_*.sh; do
	[ -f "$t" ] && run_suite "${t#tests/}" bash "$t"
done

echo
[ -n "$suites_failed" ] && echo "failed suites:$suites_failed"
if [ "$passed" -eq 0 ]; then
	echo "FAIL: no test passed: the suites did not run"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

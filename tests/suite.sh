# The suite runner shared by tests/run.sh and tests/security/asan.sh:
# run_suite counts individual cases (cmocka's summaries and the
# PASS/FAIL/SKIP lines of tests/lib.sh) so both print one closing line,
# "N passed, N failed, N skipped".  Sourced; set before use:
#   SUITE_LOG     directory for each suite's output
#   SUITE_PREFIX  prefix of the "=== name" headers (may be empty)
#   SUITE_REPORT  extended regex: a match anywhere in a suite's output
#                 (a sanitiser report, even from a child the suite did
#                 not check) fails the suite (may be empty)
passed=0 failed=0 skipped=0 suites_failed=""
SUITE_PREFIX=${SUITE_PREFIX:-}
SUITE_REPORT=${SUITE_REPORT:-}

_suite_sum() {	# PATTERN FILE: sum of cmocka's "[  X  ] N test(s)" counts
	grep -E "$1" "$2" | awk '{s+=$4} END {print s+0}'
}

run_suite() {	# name cmd...
	local name=$1 out="$SUITE_LOG/${1//\//_}.log" rc p f s
	shift
	echo "=== $SUITE_PREFIX$name"
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(_suite_sum '^\[  PASSED  \] [0-9]+ test' "$out")
	f=$(_suite_sum '^\[  FAILED  \] [0-9]+ test' "$out")
	s=$(_suite_sum '^\[  SKIPPED \] [0-9]+ test' "$out")
	p=$((p + $(grep -c '^PASS: ' "$out")))
	f=$((f + $(grep -c '^FAIL: ' "$out")))
	s=$((s + $(grep -c '^SKIP: ' "$out")))
	if [ -n "$SUITE_REPORT" ] && grep -qE "$SUITE_REPORT" "$out"; then
		echo "FAIL: $name: sanitiser report"
		f=$((f + 1))
	fi
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# crashed or failed before reporting a case
		echo "FAIL: $name exited with status $rc"
	fi
	[ "$f" -ne 0 ] && suites_failed="$suites_failed $name"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

# suite_summary LABEL: the closing line; status 0 only if all passed and
# at least one case ran.
suite_summary() {
	echo
	[ -n "$suites_failed" ] && echo "${1}failed suites:$suites_failed"
	if [ "$passed" -eq 0 ]; then
		echo "FAIL: ${1}no test passed: the suites did not run"
		failed=$((failed + 1))
	fi
	echo "${1}$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
}

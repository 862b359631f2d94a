#!/bin/bash
# Every libFuzzer target over its committed corpus, once per input: the
# seeds and every crash ever found stay fixed (issue 8).  No fuzzing
# time here: `make fuzz` does that.  The targets are built by
# `make test` (fuzz-build) into build/fuzz/.
set -u
VG_SUITE=fuzz-regress
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for d in tests/fuzz/corpus/*/; do
	t=$(basename "$d")
	bin=build/fuzz/fuzz_$t
	n=$(find "$d" -type f | wc -l)
	if [ ! -x "$bin" ]; then
		fail "fuzz target $t over its corpus" "$bin not built (make fuzz-build)"
		continue
	fi
	# libFuzzer runs each file argument once; a crash exits non-zero.
	out=$(find "$d" -type f -print0 | xargs -0 "$bin" -rss_limit_mb=2048 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ "$n" -gt 0 ]; then
		pass "fuzz target $t over its corpus ($n inputs)"
	else
		fail "fuzz target $t over its corpus" "exit $rc: $(printf '%s\n' "$out" | grep -m3 -E 'ERROR|runtime error|invariant|SUMMARY' | tr '\n' '|')"
	fi
done
summary

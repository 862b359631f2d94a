#!/bin/bash
# make bench still runs: bench/run.sh's PAM part (callgrind and the clock,
# every stack, every scenario) with tiny knobs, so that a moved binary or
# a renamed stack is found by make test, not by the next person who
# measures.  No number is checked here: performance is for make bench.
set -u
VG_SUITE=bench-runs
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

need_root
need_cmd valgrind
BUILD=${VG_BUILD:-$ROOT/build}	# as bench/run.sh takes it
for f in "$BUILD/bench/bench_pam" "$BUILD/bench/bench_dlopen" "$BUILD/bench/pam_null.so" "$BUILD/pam_vpsguard.so"; do
	[ -e "$f" ] || { fail "$VG_SUITE" "$f not built (make bench builds it)"; summary; exit 1; }
done
new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }

ITERS=2 RUNS=1 CG_ITERS=2 PARTS=pam ./bench/run.sh >"$TMPD/out" 2>&1
rc=$?
[ $rc = 0 ] && pass "bench/run.sh PARTS=pam exits 0" ||
	fail "bench/run.sh PARTS=pam exits 0" "exit $rc: $(_vg_tail "$(cat "$TMPD/out")")"
# Two iterations are noise: an added cost, and so a ratio, can come out
# negative (-1.00 when faillock's is not positive).  Only the shape is
# checked here, never a number.
for sc in banned rotating success; do
	n=$(grep -cE "^   $sc +vpsguard +wall -?[0-9.]+ over deny, -?[0-9.]+ over permit" "$TMPD/out")
	[ "$n" = 1 ] && pass "$sc: the verdict line against the target" ||
		fail "$sc: the verdict line against the target" "$n lines"
	for s in permit deny null null-lookup vpsguard faillock; do
		grep -qE "^   $s +[0-9]+ Ir/iteration" <(sed -n "/^== 2.$sc /,/^== 3.$sc /p" "$TMPD/out") ||
			fail "$sc: instructions counted for stack $s" "no line"
	done
done
grep -qE '^   median .*pam_vpsguard.so +[0-9]+ ns per dlopen\+dlclose' "$TMPD/out" &&
	pass "the load-alone timing (3b) ran" || fail "the load-alone timing (3b) ran" "no line"
summary

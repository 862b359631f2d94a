#!/bin/sh
# bench/run.sh: pam_vpsguard benchmarks (make bench builds, then runs this).
#
#  1. bench_table: the shared table in process (ns/op at 1k and 1M
#     entries, bytes per entry, 2-process throughput).
#  2. bench_pam under callgrind: instructions per authentication for
#     each stack (permit, deny, null, null-lookup, vpsguard, faillock),
#     in each scenario (banned, rotating, success: see bench_pam.c).
#  3. bench_pam on the clock: median ns per authentication, RUNS runs of
#     ITERS iterations, stacks interleaved, per scenario.
#  4. Summary: cost each limiter adds over the baseline stacks (deny,
#     permit) and over the floors (null, null-lookup), the ratio
#     vpsguard / faillock in instructions and wall time, and MET / NOT
#     MET against issue 15's targets (banned <= 0.5, rotating <= 0.8,
#     success <= 1, wall time over deny and over permit).
#  5. The module's hotspots (callgrind, rotating).
#  6. nftables batches (bench_nft.sh).
#  7. bench_flood.sh: 10 x table.size sources through real PAM: time per
#     authentication, fill at the first overflow, most passwords for one
#     source (issue 14).
#  8. bench_wake.sh: ban -> drop4 element latency, p50/p99 (issue 15).
#  9. bench_banned.sh: sshd CPU per reconnection of a banned source.
#
# Knobs (environment): ITERS (400) RUNS (15) CG_ITERS (200) SOURCES (4096)
# SCENARIOS ("banned rotating success") MODULE_BEFORE (another build of
# pam_vpsguard.so, absolute path, run as stack vpsguard-before: a
# before/after in one run)
# FAILLOCK_RESET (4) TABLE_ARGS (extra bench_table options) TMPBASE
# (/dev/shm) KEEP=1 keeps the callgrind files.  SSHD_SCOPE=1: parts 2-3
# run bench_pam with sshd's libraries preloaded (ldd /usr/sbin/sshd), so
# each module's imports are looked up as under sshd.  PARTS (all of "table pam
# nft flood wake banned"): which of the parts above to run, e.g.
# PARTS=pam for 2-5 alone.  Runs as root (the table
# must be root-owned like in sshd; faillock writes tally files per user).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"		# the scripts
BUILD=${VG_BUILD:-$ROOT/build}	# make O=dir: VG_BUILD=dir
BIN="$BUILD/bench"		# what make bench built
MODULE="$BUILD/pam_vpsguard.so"
NULLMOD="$BIN/pam_null.so"
CONF_TEMPLATE="$ROOT/pam_module/vpsguard.conf"
ITERS=${ITERS:-400}
RUNS=${RUNS:-15}
SCENARIOS=${SCENARIOS:-banned rotating success}
CG_ITERS=${CG_ITERS:-200}
SOURCES=${SOURCES:-4096}
FAILLOCK_RESET=${FAILLOCK_RESET:-4}
TMPBASE=${TMPBASE:-/dev/shm}
TABLE_ARGS=${TABLE_ARGS:-}
MODULE_BEFORE=${MODULE_BEFORE:-}
STACKS="permit deny null null-lookup vpsguard faillock"
PARTS=${PARTS:-table pam nft flood wake banned}
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
# sshd's libraries but libc: under sshd, ld.so looks each symbol a module
# imports up in every library loaded before the one that has it.
SSHD_LIBS=$(ldd /usr/sbin/sshd 2>/dev/null | awk '/=>/ && $3 !~ /libc\.so/ { print $3 }' | tr '\n' ' ')
PAM_PRELOAD=
if [ "${SSHD_SCOPE:-0}" = 1 ]; then
	[ -n "$SSHD_LIBS" ] || { echo "run.sh: SSHD_SCOPE=1 needs /usr/sbin/sshd" >&2; exit 1; }
	PAM_PRELOAD=$SSHD_LIBS
fi

for f in "$BIN/bench_pam" "$BIN/bench_table" "$BIN/bench_dlopen" "$MODULE" "$NULLMOD"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "run.sh: $f missing: run 'make bench'" >&2; exit 1; }
done
command -v valgrind >/dev/null || { echo "run.sh: valgrind missing (make deps)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root" >&2; exit 1; }

OUT=$(mktemp -d "${TMPDIR:-/tmp}/vg-bench-out.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "results kept in $OUT"; else rm -rf "$OUT"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$MODULE_BEFORE" ]; then
	[ -f "$MODULE_BEFORE" ] || { echo "run.sh: MODULE_BEFORE=$MODULE_BEFORE missing" >&2; exit 1; }
	STACKS="$STACKS vpsguard-before"
	BEFORE_ARG="--module-before $MODULE_BEFORE"
else
	BEFORE_ARG=
fi
PAM_ARGS="$BEFORE_ARG --module $MODULE --null $NULLMOD --conf-template $CONF_TEMPLATE --sources $SOURCES --faillock-reset $FAILLOCK_RESET --tmp $TMPBASE"

echo "== pam_vpsguard benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   host: $(uname -srm), $(nproc) CPU(s): $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "   libpam $(dpkg-query -W -f '${Version}' libpam0g 2>/dev/null || echo '?'), $(valgrind --version)"
[ -n "$PAM_PRELOAD" ] && echo "   SSHD_SCOPE=1: bench_pam runs with sshd's $(echo "$SSHD_LIBS" | wc -w) libraries preloaded"
echo

if want table; then
	echo "== 1. shared table, in process (bench_table $TABLE_ARGS)"
	# shellcheck disable=SC2086
	"$BIN/bench_table" --tmp "$TMPBASE" $TABLE_ARGS | tee "$OUT/table.txt" | grep -v '^RESULT'
	echo
fi
: >>"$OUT/table.txt"
want pam || SCENARIOS=

# One scenario at a time (each has its own configs and faillock tally):
# callgrind per stack, then the clock with the stacks interleaved.
for sc in $SCENARIOS; do
	echo "== 2.$sc instructions per authentication, scenario $sc (callgrind, $CG_ITERS iterations after 20 warm-up)"
	for s in $STACKS; do
		# shellcheck disable=SC2086
		LD_PRELOAD=$PAM_PRELOAD valgrind --tool=callgrind --collect-atstart=no --toggle-collect=bench_loop \
			--callgrind-out-file="$OUT/cg.$sc.$s" \
			"$BIN/bench_pam" $PAM_ARGS --scenario "$sc" --stacks "$s" \
			--iters "$CG_ITERS" --runs 1 --warmup 20 --quiet >/dev/null 2>"$OUT/cg.$sc.$s.log" || {
			echo "run.sh: callgrind run of stack $s ($sc) failed:" >&2
			cat "$OUT/cg.$sc.$s.log" >&2
			exit 1
		}
		ir=$(awk -v n="$CG_ITERS" '/^summary:/ { printf "%.0f", $2 / n }' "$OUT/cg.$sc.$s")
		echo "$s $ir" >>"$OUT/ir.$sc.txt"
		printf '   %-11s %9s Ir/iteration\n' "$s" "$ir"
	done
	if [ "$sc" = rotating ]; then
		# The same stack with a 4-line config instead of the shipped
		# commented one: separates the cost of parsing comments.
		# shellcheck disable=SC2086
		LD_PRELOAD=$PAM_PRELOAD valgrind --tool=callgrind --collect-atstart=no --toggle-collect=bench_loop \
			--callgrind-out-file="$OUT/cg.vpsguard-min" \
			"$BIN/bench_pam" --module "$MODULE" --sources "$SOURCES" --tmp "$TMPBASE" \
			--stacks vpsguard --iters "$CG_ITERS" --runs 1 --warmup 20 --quiet \
			>/dev/null 2>"$OUT/cg.vpsguard-min.log"
		irmin=$(awk -v n="$CG_ITERS" '/^summary:/ { printf "%.0f", $2 / n }' "$OUT/cg.vpsguard-min")
		printf '   %-11s %9s Ir/iteration  (vpsguard with a 4-line conf= file, no comments)\n' "vpsguard-min" "$irmin"
	fi
	echo "== 3.$sc wall time per authentication, scenario $sc ($RUNS runs x $ITERS iterations, interleaved)"
	# shellcheck disable=SC2086
	LD_PRELOAD=$PAM_PRELOAD "$BIN/bench_pam" $PAM_ARGS --scenario "$sc" --iters "$ITERS" --runs "$RUNS" --quiet |
		tee "$OUT/wall.$sc.txt" | sed 's/^/   /'
	echo
done

if want pam; then
	echo "== 3b. loading alone: dlopen + dlclose per module, as libpam does per pam_start/pam_end"
	FAILLOCK_SO=$(for d in /lib/x86_64-linux-gnu/security /usr/lib/x86_64-linux-gnu/security /lib/security /usr/lib64/security; do
		[ -f "$d/pam_faillock.so" ] && echo "$d/pam_faillock.so" && break; done)
	# shellcheck disable=SC2086
	"$BIN/bench_dlopen" "$NULLMOD" "$MODULE" $MODULE_BEFORE $FAILLOCK_SO | sed 's/^/   /'
	# The same in sshd's symbol scope (~25 libraries, bench_pam's 4):
	# each import costs more under sshd.
	if [ -n "$SSHD_LIBS" ]; then
		echo "   -- in sshd's scope: its $(echo "$SSHD_LIBS" | wc -w) libraries (ldd /usr/sbin/sshd) preloaded"
		# shellcheck disable=SC2086
		LD_PRELOAD="$SSHD_LIBS" "$BIN/bench_dlopen" "$NULLMOD" "$MODULE" $MODULE_BEFORE $FAILLOCK_SO | sed 's/^/   /'
	else
		echo "   -- in sshd's scope: skipped (no /usr/sbin/sshd to read its libraries from)"
	fi
	echo
fi

echo "== 4. summary: what each limiter adds to one authentication (ratio = vpsguard / faillock)"
echo "   targets (issue 15, wall time): banned <= 0.5, rotating <= 0.8, success <= 1.0"
for sc in $SCENARIOS; do
	awk -v sc="$sc" '
	FNR == 1 { file++ }
	file == 1 { ir[$1] = $2; next }
	file == 2 && $1 == "median" { ns[$2] = $3; mn[$2] = $6; next }
	function ratio(a, b) { return b > 0 ? a / b : -1 }
	END {
		target = sc == "banned" ? 0.5 : sc == "rotating" ? 0.8 : 1.0
		nl = split("vpsguard vpsguard-before", lims, " ")
		printf "   -- %s (target %.1f)\n", sc, target
		# "min x": the same ratio from the fastest run of each stack, the
		# least disturbed by the host (shown, not judged).
		printf "   %-16s %-16s %9s %9s %9s %9s %6s %6s %6s  %s\n", "added over", "limiter", "Ir", "faillock", \
		    "us", "faillock", "Ir x", "wall x", "min x", "target (wall)"
		nb = split("deny permit null null-lookup", bases, " ")
		for (i = 1; i <= nb; i++) {
			b = bases[i]
			if (!(b in ir) || !(b in ns))
				continue
			for (j = 1; j <= nl; j++) {
				l = lims[j]
				if (!(l in ir) || !(l in ns))
					continue
				vi = ir[l] - ir[b]; fi = ir["faillock"] - ir[b]
				vn = (ns[l] - ns[b]) / 1000; fn = (ns["faillock"] - ns[b]) / 1000
				rw = ratio(vn, fn)
				rm = ratio(mn[l] - mn[b], mn["faillock"] - mn[b])
				verdict = b == "deny" || b == "permit" ? \
				    (rw >= 0 && rw <= target ? "MET" : "NOT MET") : "(above the floor)"
				printf "   %-16s %-16s %+9d %+9d %+9.1f %+9.1f %6.2f %6.2f %6.2f  %s\n", b, l, vi, fi, vn, fn, \
				    ratio(vi, fi), rw, rm, verdict
			}
		}
		# The floors themselves, as a share of what faillock adds.
		for (i = 3; i <= nb; i++) {
			b = bases[i]
			if (!(b in ir) || !(b in ns))
				continue
			printf "   floor %-12s %+9d Ir %+8.1f us over deny = %.2f (Ir) / %.2f (wall) of faillock'"'"'s\n", \
			    b, ir[b] - ir["deny"], (ns[b] - ns["deny"]) / 1000, \
			    ratio(ir[b] - ir["deny"], ir["faillock"] - ir["deny"]), \
			    ratio(ns[b] - ns["deny"], ns["faillock"] - ns["deny"])
		}
		for (j = 1; j <= nl; j++) {
			l = lims[j]
			if (!(l in ir) || !(l in ns))
				continue
			printf "RESULT scenario=%s limiter=%s target=%.2f wall_deny=%.3f wall_permit=%.3f ir_deny=%.3f ir_permit=%.3f\n", \
			    sc, l, target, \
			    ratio(ns[l] - ns["deny"], ns["faillock"] - ns["deny"]), \
			    ratio(ns[l] - ns["permit"], ns["faillock"] - ns["permit"]), \
			    ratio(ir[l] - ir["deny"], ir["faillock"] - ir["deny"]), \
			    ratio(ir[l] - ir["permit"], ir["faillock"] - ir["permit"]) > "/dev/stderr"
		}
	}' "$OUT/ir.$sc.txt" "$OUT/wall.$sc.txt" 2>>"$OUT/results.txt"
done
echo "   targets, vpsguard / faillock added wall time (over deny and over permit must both be at or under the target):"
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	printf "   %-9s %-16s wall %.2f over deny, %.2f over permit (Ir %.2f, %.2f): %s\n", v["scenario"], v["limiter"], \
	    v["wall_deny"], v["wall_permit"], v["ir_deny"], v["ir_permit"], \
	    (v["wall_deny"] >= 0 && v["wall_deny"] <= v["target"] && v["wall_permit"] >= 0 && \
	     v["wall_permit"] <= v["target"]) ? "MET" : "NOT MET" }' "$OUT/results.txt"
want table && awk '/^RESULT/ {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	printf "   table %8s entries: fail %.0f ns (hot) / %.0f ns (random), %.1f bytes/entry, %s procs %.2f M updates/s\n", \
	    v["size"], v["fail_hot"], v["fail_random"], v["bytes_per_entry"], v["procs"], v["par_mups"]
	hot[++n] = v["fail_hot"]; rnd[n] = v["fail_random"]; bpe[n] = v["bytes_per_entry"]; par[n] = v["par_mups"]
}
END {
	okh = okr = okb = okp = 1
	for (i = 1; i <= n; i++) {
		if (hot[i] > 200) okh = 0; if (rnd[i] > 200) okr = 0
		if (bpe[i] > 64.5 && i == n) okb = 0; if (par[i] < 1) okp = 0
	}
	printf "   targets: lookup+update <= 200 ns: hot %s, random %s; ", okh ? "MET" : "NOT MET", okr ? "MET" : "NOT MET"
	if (n >= 2) printf "1M within 2x of 1k: hot %.2fx, random %.2fx; ", hot[n] / hot[1], rnd[n] / rnd[1]
	printf "<= 64 B/entry (largest table): %s; >= 1M updates/s with 2 procs: %s\n", okb ? "MET" : "NOT MET", okp ? "MET" : "NOT MET"
}' "$OUT/table.txt"
echo

echo "== 5. where pam_vpsguard's instructions go (callgrind, rotating scenario, inclusive Ir per failed authentication: preauth + authfail)"
[ -f "$OUT/cg.rotating.vpsguard" ] &&
callgrind_annotate --inclusive=yes --threshold=100 "$OUT/cg.rotating.vpsguard" 2>/dev/null |
	awk -v n="$CG_ITERS" '
	/^ *[0-9,]+ .*(pam_vpsguard\.so\]|\?\?\?:[a-z_0-9.]+$)/ || /_dl_relocate_object \[|dlopen@@|getpwnam_r@@|pam_vsyslog \[|__snprintf_chk \[|getc \[|memset_avx2_unaligned_erms \[/ {
		x = $1; gsub(",", "", x); fn = $NF == "" ? $(NF-1) : $0
		sub(/^ *[0-9,]+ \([^)]*\) +/, "", fn); sub(/ \[.*\]$/, "", fn); sub(/^.*:/, "", fn)
		if (seen[fn]++) next
		printf "   %9.0f  %s\n", x / n, fn
		if (++k >= 22) exit
	}'
echo

if want nft; then
	echo "== 6. nftables: applying 1,000 and 10,000 bans (inside a throwaway network namespace)"
	"$BENCH/bench_nft.sh"
fi
echo

if want flood; then
	echo "== 7. the table under a flood: 10 x table.size sources through real PAM (issue 14)"
	"$BENCH/bench_flood.sh"
fi
echo

if want wake; then
	echo "== 8. ban -> nftables drop: the module wakes the helper (issue 15; p99 target <= 10 ms)"
	"$BENCH/bench_wake.sh"
fi
echo

if want banned; then
	echo "== 9. sshd CPU per connection attempt of a banned source (issue 15; goal <= 1 ms)"
	"$BENCH/bench_banned.sh"
fi

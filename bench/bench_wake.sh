#!/bin/bash
# Ban -> kernel drop latency (issue 15: p99 <= 10 ms), in a throwaway
# network namespace (never the host ruleset): the helper runs as
# `pam_vpsguard-admin daemon` with the product defaults on a private
# table, bench_wake bans 100 sources as the module does and reads drop4
# back until each appears.
set -u
cd "$(dirname "$0")/.." || exit 1
[ "$(id -u)" -eq 0 ] || { echo "bench_wake: needs root (network namespace)"; exit 0; }
N=${WAKE_N:-100}
if [ -z "${VG_BENCH_WAKE_INNER:-}" ]; then
	T=$(mktemp -d /tmp/vg-bench-wake-XXXXXX) || exit 1
	NS=vpsg-wake-$$
	cleanup() { ip netns del "$NS" 2>/dev/null; rm -rf --one-file-system "$T"; }
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ip netns add "$NS" || exit 1
	ip netns exec "$NS" ip link set lo up
	ip netns exec "$NS" env VG_BENCH_WAKE_INNER=1 T="$T" N="$N" bash "$0"
	exit
fi
mkdir -m 0700 "$T/run" "$T/lib"
printf '%s\n' "table.path = $T/run/table" "state.path = $T/lib/state" \
	"table.size = 65536" "ssh.ports = 22" >"$T/vg.conf"
./build/pam_vpsguard-admin --conf "$T/vg.conf" daemon >"$T/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 50); do [ -e "$T/lib/state" ] && break; sleep 0.1; done
./build/bench/bench_wake "$T/vg.conf" "$N"
rc=$?
kill "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
exit $rc

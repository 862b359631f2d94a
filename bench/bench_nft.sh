#!/bin/bash
# Adding N bans to drop4 (N = 1,000 and 10,000), three ways, inside a
# throwaway network namespace (never the host ruleset):
#   ours        helper/firewall/nft.c: one netlink batch (tests/nft/nftctl bulk apply);
#               the API call alone and the whole driver process
#   nft -f      one `add element` statement carrying all N elements
#   per-address one `nft add element` process per address (fail2ban's and
#               sshguard's way): 500 processes timed, scaled linearly to N
# Medians of 3 runs; the set is flushed before every run.
# Addresses: 127.16.0.0 upwards (loopback range).
set -u
cd "$(dirname "$0")/.." || exit 1
[ "$(id -u)" -eq 0 ] || { echo "bench_nft: needs root (network namespace)"; exit 0; }
for c in ip nft cc pkg-config; do
	command -v $c >/dev/null 2>&1 || { echo "bench_nft: $c not installed"; exit 0; }
done

# The outer run makes the namespace and runs this script again inside it,
# so no timing includes `ip netns exec`.
if [ -z "${VG_BENCH_NFT_INNER:-}" ]; then
	T=$(mktemp -d /tmp/vg-bench-nft-XXXXXX) || exit 1
	NS=vpsg-bench-$$
	cleanup() { ip netns del "$NS" 2>/dev/null; rm -rf --one-file-system "$T"; }
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# The Makefile's build, flags and all (make tests-bin builds it too).
	make -s build/tests/nft/nftctl || exit 1
	cp build/tests/nft/nftctl "$T/nftctl" || exit 1
	ip netns add "$NS" || exit 1
	ip netns exec "$NS" ip link set lo up
	ip netns exec "$NS" env VG_BENCH_NFT_INNER=1 T="$T" bash "$0"
	exit
fi
X() { "$@"; }
X "$T/nftctl" ensure >/dev/null || { echo "bench_nft: ensure failed"; exit 1; }

now_us() { echo $(( $(date +%s%N) / 1000 )); }
median() { sort -n | sed -n 2p; }	# of 3 lines
flush() { X nft flush set inet vpsguard drop4; }
addr() { echo "127.$((16 + ($1 >> 16))).$((($1 >> 8) & 255)).$(($1 & 255))"; }
count() { X nft list set inet vpsguard drop4 | grep -o 'timeout 10m' | wc -l; }

for n in 1000 10000; do
	{
		printf 'add element inet vpsguard drop4 { '
		for ((i = 0; i < n; i++)); do
			[ $i -gt 0 ] && printf ', '
			printf '%s timeout 10m' "$(addr $i)"
		done
		printf ' }\n'
	} >"$T/one-$n.nft"
done

declare -A R
for n in 1000 10000; do
	api=() proc=() nftf=()
	for run in 1 2 3; do
		flush
		t0=$(now_us)
		out=$(X "$T/nftctl" bulk apply $n 600)
		t1=$(now_us)
		proc+=($(( t1 - t0 )))
		api+=($(sed -n 's/.* ms=\([0-9.]*\).*/\1/p' <<<"$out" | awk '{printf "%d", $1 * 1000}'))
		got=$(count)
		[ "$got" = "$n" ] || echo "bench_nft: ours: $got of $n elements landed: $out"
		flush
		t0=$(now_us)
		X nft -f "$T/one-$n.nft" || echo "bench_nft: nft -f failed"
		t1=$(now_us)
		nftf+=($(( t1 - t0 )))
		got=$(count)
		[ "$got" = "$n" ] || echo "bench_nft: nft -f: $got of $n elements landed"
	done
	R[api$n]=$(printf '%s\n' "${api[@]}" | median)
	R[proc$n]=$(printf '%s\n' "${proc[@]}" | median)
	R[nftf$n]=$(printf '%s\n' "${nftf[@]}" | median)
done

# per-address: 500 processes, 3 runs
per=()
for run in 1 2 3; do
	flush
	t0=$(now_us)
	for ((i = 0; i < 500; i++)); do
		X nft add element inet vpsguard drop4 "{ $(addr $i) timeout 10m }"
	done
	t1=$(now_us)
	per+=($(( t1 - t0 )))
done
per500=$(printf '%s\n' "${per[@]}" | median)
flush

ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "nftables: add N bans to drop4 (median of 3, ms; kernel $(uname -r))"
printf '%-8s %10s %12s %10s %16s %10s %12s\n' N ours-api ours-process "nft -f" per-address "api/nft-f" "per-addr/api"
for n in 1000 10000; do
	pa=$(( per500 * n / 500 ))
	printf '%-8s %10s %12s %10s %16s %10s %12s\n' "$n" "$(ms ${R[api$n]})" \
		"$(ms ${R[proc$n]})" "$(ms ${R[nftf$n]})" "$(ms $pa)*" \
		"$(ratio ${R[api$n]} ${R[nftf$n]})" "$(ratio $pa ${R[api$n]})"
done
echo "* per-address: 500 processes took $(ms $per500) ms (median of 3), scaled linearly to N"

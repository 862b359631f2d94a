#!/bin/bash
# What a banned source that keeps reconnecting costs sshd (issue 15:
# goal <= 1 ms per attempt), in a sandbox (tests/e2e/sshd_env.sh: a
# real sshd in its own network and mount namespace; never the host's).
# One source is banned (5 wrong passwords), then reconnects K times, one
# password per connection; sshd's CPU (the listener plus its reaped
# children: utime+stime+cutime+cstime) over those K attempts, per attempt:
#   none     the plain stack (pam_unix), no defence: every password checked
#   module   pam_vpsguard, no helper: refused after the key exchange
#   helper   pam_vpsguard with the product defaults and its helper running
#            (persistent.after 1: the ban is an nftables drop at once)
# fail2ban's and sshguard's numbers after their ban: bench/compare.sh.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
[ "$(id -u)" -eq 0 ] || { echo "bench_banned: needs root"; exit 0; }
K=${BANNED_K:-40}
SRC=203.0.113.50
ADMIN=$ROOT/build/pam_vpsguard-admin
. tests/e2e/sshd_env.sh
HZ=$(getconf CLK_TCK)

sshd_ticks() {
	local s
	s=$(cat "/proc/$VE_SSHD_PID/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13} + ${14} + ${15}))
}

for mode in none module helper; do
	VE_CLEANED=0 VE_NS="" VE_DIR="" VE_SSHD_PID="" VE_USER="" VE_PIDS=()
	if [ $mode = none ]; then
		VE_SNIPPET=$ROOT/bench/compare/pam.d-plain
	else
		VE_SNIPPET=$ROOT/sshd_snippets/pam.d-sshd.debian
	fi
	ve_setup "ssh.ports = $VE_PORT" || { echo "bench_banned: $VE_ERR"; exit 1; }
	ve_add_addr "$SRC"
	if [ $mode = helper ]; then
		ve_run "$ADMIN" --conf "$VE_CONF" daemon >"$VE_DIR/daemon.log" 2>&1 &
		DPID=$!
		VE_PIDS+=("$DPID")
		sleep 1
	fi
	for _ in 1 2 3 4 5; do ve_ssh_pw "$SRC" wrong >/dev/null 2>&1; done
	sleep 0.5
	t0=$(sshd_ticks)
	for ((i = 0; i < K; i += 10)); do
		pids=()
		for ((j = 0; j < 10 && i + j < K; j++)); do
			ve_run timeout -k 1 8 sshpass -p wrong ssh "${VE_SSH_OPTS[@]}" "${VE_PW_OPTS[@]}" \
				-o ConnectTimeout=2 -o NumberOfPasswordPrompts=1 -b "$SRC" -p "$VE_PORT" \
				"$VE_USER@127.0.0.1" true </dev/null >/dev/null 2>&1 &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p"; done
	done
	sleep 0.5
	t1=$(sshd_ticks)
	printf '   %-7s %3d attempts of a banned source: sshd CPU %7.2f ms per attempt\n' "$mode" "$K" \
		"$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v k="$K" 'BEGIN { print t / hz * 1000 / k }')"
	echo "RESULT banned_cpu mode=$mode ms_per_attempt=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v k="$K" 'BEGIN { print t / hz * 1000 / k }')"
	ve_cleanup
done

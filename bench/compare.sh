#!/bin/bash
# bench/compare.sh: pam_vpsguard side by side with fail2ban and sshguard
# (issue 7, item 3), against the same real sshd under the same attack.
#
#	bench/compare.sh		# as root; RUNS=3 by default
#
# For each run and each defender, a fresh sandbox from
# tests/e2e/sshd_env.sh (network + mount namespace, private sshd on port
# 2222, count hook right before pam_unix):
#  - vpsguard: the reference stack with pam_vpsguard (maxretry 5,
#    findtime 10m, bantime 1h);
#  - fail2ban / sshguard: the same sshd with the plain stack
#    (bench/compare/pam.d-plain: pam_unix + hook, no module), sshd logging
#    with -E to a file (LogLevel INFO) that the defender reads.
#    fail2ban 1.0.2: private config dir (filter.d/action.d copied from
#    /etc/fail2ban, no jail.d), jail sshd, backend pyinotify, maxretry 5,
#    findtime 10m, bantime 1h, banaction nftables-allports.  sshguard
#    2.4.2: its own pipeline (sshg-logtail | sshg-parser | sshg-blocker
#    -a 50 -p 3600 -s 600 | sshg-fw-nft-sets), i.e. THRESHOLD 50 = 5
#    failed passwords of score 10; /etc/sshguard is not read.
#    Both run under `ip netns exec`, so their nft rules land in the
#    sandbox's ruleset, never the host's.
# Attack: 1, 8, 32 parallel connections from one source each (203.0.113.61,
# .68, .92), each connection trying 6 wrong passwords (MaxAuthTries 6).
# Measured per attack:
#  - guesses: passwords pam_unix evaluated for that source (count hook);
#  - block ms: first time the source shows up in the sandbox's nft ruleset
#    (polled every 10 ms inside the namespace) minus the hook's timestamp
#    of the 5th evaluated guess.  pam_vpsguard has no delay to measure:
#    the 5th failure's own PAM call writes the ban, before sshd answers;
#    reported as 0 ("in-line"), its guesses column is the proof.
# CPU per 1,000 failed attempts: 200 sources x 5 wrong passwords.
#  - fail2ban / sshguard: utime+stime+cutime+cstime (/proc/PID/stat) of
#    every process of the defender (session), after minus before;
#  - pam_vpsguard runs inside sshd: (a) bench_pam's wall time added per
#    failed authentication over the pam_deny baseline, x 1,000 (single
#    thread, so ~CPU); (b) for reference, sshd's whole CPU (master incl.
#    reaped children) with the module minus the plain stack's, over the
#    same 1,000 attempts (noisy: ssh crypto and the hook dominate).
# Medians over RUNS runs.  Knobs: RUNS (3), CPU_RUNS (1; CPU runs are the
# first CPU_RUNS runs), CPU_PAR (50 clients at once), CONNS ("1 8 32").
# Takes about 8 minutes on 2 cores.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
RUNS=${RUNS:-3}
CPU_RUNS=${CPU_RUNS:-1}
CONNS=${CONNS:-1 8 32}
CPU_PAR=${CPU_PAR:-50}
MAXRETRY=5
TRIES=6
SCEN_LIMIT=40		# s, hard bound per attack
QUIET=4			# s without a new guess after the block: attack over
DEFENDERS="vpsguard fail2ban sshguard"
SG=/usr/libexec/sshguard

die() { echo "compare.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
for c in fail2ban-server fail2ban-client nft; do
	command -v "$c" >/dev/null 2>&1 || die "$c missing (apt-get install fail2ban sshguard nftables)"
done
[ -x $SG/sshg-blocker ] || die "sshguard missing (apt-get install sshguard)"
if [ ! -f build/pam_vpsguard.so ] || [ ! -x build/bench/bench_pam ]; then
	make -s build/pam_vpsguard.so build/bench/bench_pam >/dev/null || die "build failed"
fi

. tests/e2e/sshd_env.sh

# sshd_env.sh writes LogLevel DEBUG1; fail2ban/sshguard get what a
# default sshd logs (INFO), and 200 sources at once must fit MaxStartups.
eval "_cmp_orig_write_start() $(declare -f _ve_write_start | tail -n +2)"
_ve_write_start() {
	sed -i -e 's/^LogLevel .*/LogLevel INFO/' \
		-e 's/^MaxStartups .*/MaxStartups 300:30:400/' "$VE_DIR/sshd_config"
	_cmp_orig_write_start
}

OUT=$(mktemp -d /tmp/vg-compare-XXXXXX) || exit 1
DEF_PID=""		# the defender's session leader (setsid), ours
STAMP_PID=""		# bench/compare/logstamp.py, ours
CL_PIDS=()

_cmp_kill_def() {
	local p=$DEF_PID i
	DEF_PID=""
	[ -n "$p" ] || return 0
	# a process group we created with setsid: its id is the leader's PID
	kill -TERM -- "-$p" 2>/dev/null
	for i in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL -- "-$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
_vg_cleanup() {		# called by sshd_env.sh's EXIT trap after ve_cleanup
	local p
	for p in ${CL_PIDS[@]+"${CL_PIDS[@]}"}; do kill "$p" 2>/dev/null; done
	_cmp_kill_def
	[ -n "$STAMP_PID" ] && kill "$STAMP_PID" 2>/dev/null
	case $OUT in /tmp/vg-compare-??????) rm -rf --one-file-system "$OUT" ;; esac
}
trap '_vg_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }

# --- sandbox per defender ----------------------------------------------------
sandbox_up() {		# DEFENDER
	# a fresh sshd_env sandbox (the library keeps one at a time)
	VE_CLEANED=0 VE_NS="" VE_DIR="" VE_SSHD_PID="" VE_USER="" VE_PIDS=()
	if [ "$1" = vpsguard ]; then
		VE_SNIPPET=$ROOT/sshd_snippets/pam.d-sshd.debian
	else
		VE_SNIPPET=$ROOT/bench/compare/pam.d-plain
	fi
	ve_setup "maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" \
		"ignoreip =" "connlimit.rate = 0" || return 1
	# the hook, now with a timestamp per evaluated password
	cat >"$VE_DIR/count.sh" <<EOF
#!/bin/sh
[ "\${PAM_TYPE:-}" = auth ] || exit 0
echo "\${PAM_RHOST:-none}" >>'$VE_COUNT'
echo "\${PAM_RHOST:-none} \$(date +%s.%N)" >>'$VE_DIR/count.ts'
exit 0
EOF
	python3 "$ROOT/bench/compare/logstamp.py" "$VE_SSHD_LOG" "$VE_DIR/log.ts" 300 &
	STAMP_PID=$!
	case $1 in
	fail2ban) start_fail2ban ;;
	sshguard) start_sshguard ;;
	*) return 0 ;;
	esac
}

sandbox_down() {
	local p
	for p in ${CL_PIDS[@]+"${CL_PIDS[@]}"}; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	CL_PIDS=()
	stop_stamp
	_cmp_kill_def
	ve_cleanup
	trap '_vg_cleanup' EXIT
}

start_fail2ban() {
	local d=$VE_DIR/f2b i
	mkdir -m 700 "$d"
	cp -r /etc/fail2ban/fail2ban.conf /etc/fail2ban/jail.conf \
		/etc/fail2ban/paths-common.conf /etc/fail2ban/paths-debian.conf \
		/etc/fail2ban/filter.d /etc/fail2ban/action.d "$d/"
	cat >"$d/fail2ban.local" <<EOF
[Definition]
loglevel = INFO
logtarget = $d/fail2ban.log
socket = $d/f2b.sock
pidfile = $d/f2b.pid
dbfile = :memory:
EOF
	cat >"$d/jail.local" <<EOF
[DEFAULT]
ignoreself = false
ignoreip = 127.0.0.1/8 ::1
maxretry = $MAXRETRY
findtime = 10m
bantime = 1h
banaction = nftables-allports
banaction_allports = nftables-allports

[sshd]
enabled = true
port = $VE_PORT
logpath = $VE_SSHD_LOG
backend = pyinotify
# sshd -E writes bare messages: no timestamp (fail2ban takes the time of
# reading) and no "host sshd[pid]:" prefix (the stock sshd filter's
# optional prefix regex does not match a bare line, so it is emptied)
datepattern = {NONE}
filter = sshd[__prefix_line=""]
EOF
	setsid ip netns exec "$VE_NS" fail2ban-server -f -x -c "$d" -s "$d/f2b.sock" \
		-p "$d/f2b.pid" --logtarget "$d/fail2ban.log" start \
		</dev/null >"$d/server.out" 2>&1 &
	DEF_PID=$!
	for i in $(seq 100); do
		ip netns exec "$VE_NS" timeout 5 fail2ban-client -c "$d" -s "$d/f2b.sock" \
			status sshd >/dev/null 2>&1 && return 0
		kill -0 "$DEF_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "fail2ban did not start: $(tail -n 5 "$d/server.out" "$d/fail2ban.log" 2>/dev/null | tr '\n' '|')" >&2
	return 1
}

start_sshguard() {
	local i
	setsid ip netns exec "$VE_NS" sh -c "$SG/sshg-logtail '$VE_SSHD_LOG' | $SG/sshg-parser |
		$SG/sshg-blocker -a 50 -p 3600 -s 600 -w 127.0.0.0/8 -w ::1 | $SG/sshg-fw-nft-sets" \
		</dev/null >"$VE_DIR/sshguard.out" 2>&1 &
	DEF_PID=$!
	for i in $(seq 50); do
		ve_run nft list table ip sshguard >/dev/null 2>&1 && pgrep -s "$DEF_PID" -x tail >/dev/null && return 0
		kill -0 "$DEF_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "sshguard did not start: $(tail -n 5 "$VE_DIR/sshguard.out" | tr '\n' '|')" >&2
	return 1
}

stop_stamp() {
	[ -n "$STAMP_PID" ] || return 0
	kill "$STAMP_PID" 2>/dev/null
	wait "$STAMP_PID" 2>/dev/null
	STAMP_PID=""
}

# CPU ticks of every process of the defender's session + reaped children.
def_ticks() {
	local p t=0 s
	for p in $(pgrep -s "$DEF_PID"); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		# shellcheck disable=SC2086
		set -- $s
		t=$((t + ${12} + ${13} + ${14} + ${15}))
	done
	echo "$t"
}
sshd_ticks() {
	local s
	s=$(cat "/proc/$VE_SSHD_PID/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13} + ${14} + ${15}))
}

# --- one attack: N connections from SRC ---------------------------------------
# Prints "GUESSES BLOCK_MS" (BLOCK_MS "-" when never blocked).
attack() {		# DEFENDER N SRC
	local def=$1 n=$2 src=$3 i t0 last c prev=-1 since blocked="" poll re t5 l5 b ms lms
	ve_add_addr "$src"
	re="(^|[^0-9.])${src//./\\.}([^0-9]|\$)"
	rm -f "$VE_DIR/block.$src"
	if [ "$def" != vpsguard ]; then
		# poller inside the namespace, 10 ms period, bounded
		ip netns exec "$VE_NS" bash -c '
			for ((i = 0; i < 4500; i++)); do
				if nft list ruleset 2>/dev/null | grep -Eq "$1"; then
					date +%s.%N >"$2"; exit 0
				fi
				sleep 0.01
			done' _ "$re" "$VE_DIR/block.$src" &
		poll=$!
	fi
	CL_PIDS=()
	for ((i = 0; i < n; i++)); do
		ip netns exec "$VE_NS" env SSH_ASKPASS="$VE_DIR/askpass-wrong" \
			SSH_ASKPASS_REQUIRE=force DISPLAY= \
			timeout -k 1 "$SCEN_LIMIT" ssh "${VE_SSH_OPTS[@]}" "${VE_PW_OPTS[@]}" \
			-o NumberOfPasswordPrompts="$TRIES" -b "$src" -p "$VE_PORT" \
			"$VE_USER@127.0.0.1" true </dev/null >/dev/null 2>&1 &
		CL_PIDS+=($!)
	done
	t0=$SECONDS
	while [ $((SECONDS - t0)) -lt "$SCEN_LIMIT" ]; do
		sleep 0.25
		last=0
		for i in "${CL_PIDS[@]}"; do kill -0 "$i" 2>/dev/null && { last=1; break; }; done
		[ "$last" = 0 ] && break
		c=$(ve_count "$src")
		if [ "$c" != "$prev" ]; then prev=$c; since=$SECONDS; fi
		[ -s "$VE_DIR/block.$src" ] && blocked=1
		# over: blocked (or pam_vpsguard's ban reached) and no new guess
		# for QUIET s (> pam_unix's ~2 s failure delay)
		if { [ -n "$blocked" ] || { [ "$def" = vpsguard ] && [ "$c" -ge "$MAXRETRY" ]; }; } &&
			[ $((SECONDS - since)) -ge "$QUIET" ]; then
			break
		fi
	done
	for i in "${CL_PIDS[@]}"; do kill "$i" 2>/dev/null; done
	for i in "${CL_PIDS[@]}"; do wait "$i" 2>/dev/null; done
	CL_PIDS=()
	if [ -n "${poll:-}" ]; then
		# give a late block a moment to show, then stop the poller
		for i in $(seq 20); do [ -s "$VE_DIR/block.$src" ] && break; sleep 0.1; done
		kill "$poll" 2>/dev/null; wait "$poll" 2>/dev/null
	fi
	c=$(ve_count "$src")
	t5=$(awk -v s="$src" '$1 == s { print $2 }' "$VE_DIR/count.ts" 2>/dev/null | sort -n | sed -n "${MAXRETRY}p")
	l5=$(awk -v s="$src" '$3 == "password" && $7 == s { print $1 }' "$VE_DIR/log.ts" 2>/dev/null | sort -n | sed -n "${MAXRETRY}p")
	ms=- lms=-
	if [ "$def" = vpsguard ]; then
		ms=0 lms=0
	elif [ -s "$VE_DIR/block.$src" ]; then
		b=$(cat "$VE_DIR/block.$src")
		[ -n "$t5" ] && ms=$(awk -v a="$t5" -v b="$b" 'BEGIN { printf "%d", (b - a) * 1000 }')
		[ -n "$l5" ] && lms=$(awk -v a="$l5" -v b="$b" 'BEGIN { printf "%d", (b - a) * 1000 }')
	fi
	echo "$c $ms $lms"
}

# --- 1,000 failed attempts: 200 sources x 5 ---------------------------------
cpu_run() {		# DEFENDER; prints "DEFENDER_TICKS SSHD_TICKS"
	local def=$1 i s d0 d1 s0 s1 t0 pids=()
	{
		for ((i = 1; i <= 200; i++)); do echo "addr add 198.51.100.$i/32 dev lo"; done
	} | ip -n "$VE_NS" -batch - || return 1
	sleep 0.5
	s0=$(sshd_ticks); d0=0
	[ -n "$DEF_PID" ] && d0=$(def_ticks)
	for ((i = 1; i <= 200; i++)); do
		# at most CPU_PAR clients at once (bounded: each client <= 60 s)
		while [ "$(jobs -rp | wc -l)" -ge "$CPU_PAR" ]; do sleep 0.05; done
		ip netns exec "$VE_NS" env SSH_ASKPASS="$VE_DIR/askpass-wrong" \
			SSH_ASKPASS_REQUIRE=force DISPLAY= \
			timeout -k 1 60 ssh "${VE_SSH_OPTS[@]}" "${VE_PW_OPTS[@]}" \
			-o NumberOfPasswordPrompts=$MAXRETRY -b "198.51.100.$i" -p "$VE_PORT" \
			"$VE_USER@127.0.0.1" true </dev/null >/dev/null 2>&1 &
		pids+=($!)
		CL_PIDS+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" 2>/dev/null; done
	CL_PIDS=()
	# let the defender finish reading the log and banning (bounded 15 s)
	t0=$SECONDS
	if [ -n "$DEF_PID" ]; then
		local prev=-1 cur
		while [ $((SECONDS - t0)) -lt 15 ]; do
			sleep 1
			cur=$(def_ticks)
			[ "$cur" = "$prev" ] && break
			prev=$cur
		done
	else
		sleep 1
	fi
	s1=$(sshd_ticks); d1=0
	[ -n "$DEF_PID" ] && d1=$(def_ticks)
	s=$(ve_count $(seq -f '198.51.100.%g' 1 200))
	echo "$((d1 - d0)) $((s1 - s0)) $s"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print a[NR / 2] }'; }
range() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi }'; }

HZ=$(getconf CLK_TCK)
echo "== pam_vpsguard vs fail2ban vs sshguard, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   host: $(uname -srm), $(nproc) CPU(s); fail2ban $(dpkg-query -W -f '${Version}' fail2ban), sshguard $(dpkg-query -W -f '${Version}' sshguard), openssh-server $(dpkg-query -W -f '${Version}' openssh-server)"
echo "   maxretry 5, findtime 10m, bantime 1h, MaxAuthTries 6; $RUNS runs; results in $OUT (removed at exit)"

T0=$SECONDS
for ((run = 1; run <= RUNS; run++)); do
	for def in $DEFENDERS; do
		if ! sandbox_up "$def"; then
			echo "run $run $def: sandbox failed: $VE_ERR" >&2
			sandbox_down
			continue
		fi
		for n in $CONNS; do
			src=203.0.113.$((60 + n))
			read -r g ms lms < <(attack "$def" "$n" "$src")
			echo "$g" >>"$OUT/$def.$n.guesses"
			[ "$ms" != - ] && echo "$ms" >>"$OUT/$def.$n.ms"
			[ "$lms" != - ] && echo "$lms" >>"$OUT/$def.$n.lms"
			printf '   run %d %-8s %2d conn: %3s guesses; block %s ms after the 5th guess, %s ms after its log line  (%ds)\n' \
				"$run" "$def" "$n" "$g" "$ms" "$lms" $((SECONDS - T0))
		done
		if [ "$run" -le "$CPU_RUNS" ]; then
			stop_stamp
			read -r dt st cnt < <(cpu_run "$def")
			awk -v t="$dt" -v hz="$HZ" -v c="$cnt" 'BEGIN { printf "%.3f\n", c ? t / hz * 1000 / c : 0 }' >>"$OUT/$def.cpu"
			awk -v t="$st" -v hz="$HZ" -v c="$cnt" 'BEGIN { printf "%.3f\n", c ? t / hz * 1000 / c : 0 }' >>"$OUT/$def.sshdcpu"
			printf '   run %d %-8s cpu: %s failed attempts evaluated; defender %s ticks, sshd %s ticks (HZ %s)  (%ds)\n' \
				"$run" "$def" "$cnt" "$dt" "$st" "$HZ" $((SECONDS - T0))
		fi
		sandbox_down
	done
done

# pam_vpsguard's own cost per failed authentication (bench_pam, wall ~ CPU)
echo "   bench_pam: deny vs vpsguard, 5 runs x 2000 ..."
bp=$(./build/bench/bench_pam --module "$ROOT/build/pam_vpsguard.so" \
	--conf-template "$ROOT/pam_module/vpsguard.conf" --stacks deny,vpsguard \
	--runs 5 --iters 2000 --tmp /dev/shm 2>&1)
bp_deny=$(printf '%s\n' "$bp" | awk '$1 == "median" && $2 == "deny" { print $3 }')
bp_vg=$(printf '%s\n' "$bp" | awk '$1 == "median" && $2 == "vpsguard" { print $3 }')
vg_cpu=-
[ -n "$bp_deny" ] && [ -n "$bp_vg" ] &&
	vg_cpu=$(awk -v a="$bp_vg" -v b="$bp_deny" 'BEGIN { printf "%.3f", (a - b) / 1e9 * 1000 }')

cell() {	# FILE...: "median [lo-hi]" over all values in the files, or -
	local v
	v=$(cat "$@" 2>/dev/null | grep .)
	[ -n "$v" ] || { echo -; return; }
	echo "$(printf '%s\n' "$v" | median) [$(printf '%s\n' "$v" | range)]"
}

echo
echo "== Results: medians over $RUNS runs [min-max], $((SECONDS - T0)) s"
printf '%-9s' "defender"
for n in $CONNS; do printf '| %-13s' "guesses @$n"; done
printf '| %-19s| %-19s| %s\n' "block ms, 5th guess" "block ms, 5th log" "CPU s / 1,000 fails"
for def in $DEFENDERS; do
	printf '%-9s' "$def"
	for n in $CONNS; do printf '| %-13s' "$(cell "$OUT/$def.$n.guesses")"; done
	if [ "$def" = vpsguard ]; then
		printf '| %-19s| %-19s| %s\n' "0 (in-line)" "0 (in-line)" "$vg_cpu (bench_pam)"
	else
		ms_files=() lms_files=()
		for n in $CONNS; do ms_files+=("$OUT/$def.$n.ms"); lms_files+=("$OUT/$def.$n.lms"); done
		printf '| %-19s| %-19s| %s\n' "$(cell "${ms_files[@]}")" "$(cell "${lms_files[@]}")" \
			"$(cell "$OUT/$def.cpu")"
	fi
done
echo
echo "block delay per attack size, median [min-max] ms (after the 5th evaluated guess / after its \"Failed password\" line):"
for def in fail2ban sshguard; do
	for n in $CONNS; do
		printf '   %-8s @%2d conn: %s / %s\n' "$def" "$n" "$(cell "$OUT/$def.$n.ms")" "$(cell "$OUT/$def.$n.lms")"
	done
done
echo "sshd's own CPU s / 1,000 failed attempts (whole sshd: ssh crypto, PAM, the count hook):"
for def in $DEFENDERS; do
	printf '   %-8s %s\n' "$def" "$(cell "$OUT/$def.sshdcpu")"
done
echo "bench_pam medians: deny ${bp_deny:-?} ns, vpsguard ${bp_vg:-?} ns per failed authentication"

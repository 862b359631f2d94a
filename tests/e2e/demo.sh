#!/bin/bash
# make demo: pam_vpsguard against a real sshd under a real brute force,
# narrated one step per line.  Exit status 1 if any step fails.
# Everything happens in a network + mount namespace created here and
# removed at exit (also on Ctrl-C): see tests/e2e/sshd_env.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (it creates network and mount namespaces)" >&2
	exit 1
fi
if [ ! -f build/pam_vpsguard.so ]; then
	make -s build/pam_vpsguard.so || exit 1
fi
[ -x build/pam_vpsguard-admin ] || make -s build/pam_vpsguard-admin >/dev/null 2>&1
. tests/e2e/sshd_env.sh

MAXRETRY=5
BANTIME=15	# short, so the attacker becomes a persistent offender in seconds
PERSIST=3
TRIES=6		# wrong passwords per connection (= sshd MaxAuthTries)
CONNS=8		# parallel connections per attack
ADMIN_SRC=127.0.0.10
ATT4=203.0.113.66
ATT6A=2001:db8:66::10
ATT6B=2001:db8:66::11
ATT6_NET=2001:db8:66::/64

NSTEP=0 NFAIL=0 NSKIP=0
T0=$(date +%s)

if [ -t 1 ]; then
	G=$'\e[32m' R=$'\e[31m' Y=$'\e[33m' B=$'\e[1m' N=$'\e[0m'
else
	G="" R="" Y="" B="" N=""
fi

# step DESCRIPTION cmd...: one line, PASS when cmd exits 0; then what
# the check chose to show (its fd 3), then on failure why (its output).
step() {
	local d=$1 out rc
	shift
	NSTEP=$((NSTEP + 1))
	out=$("$@" 3>"$VE_DIR/step.show" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		printf ' %2d. %s: %sPASS%s\n' "$NSTEP" "$d" "$G" "$N"
	else
		NFAIL=$((NFAIL + 1))
		printf ' %2d. %s: %sFAIL%s\n' "$NSTEP" "$d" "$R" "$N"
	fi
	cat "$VE_DIR/step.show" 2>/dev/null
	if [ $rc -ne 0 ] && [ -n "$out" ]; then
		printf '%s\n' "$out" | tail -n 5 | sed 's/^/       ! /'
	fi
	return $rc
}
skipstep() {	# DESCRIPTION REASON
	NSTEP=$((NSTEP + 1)) NSKIP=$((NSKIP + 1))
	printf ' %2d. %s: %sSKIP%s (%s)\n' "$NSTEP" "$1" "$Y" "$N" "$2"
}
say() { printf '%s\n' "$*"; }
show() { sed 's/^/       | /'; }	# indented command output

# Checks used by the steps (0 = as claimed).
rc_is() { local want=$1 rc; shift; "$@" >/dev/null 2>&1; rc=$?; [ $rc -eq "$want" ] || { echo "exit $rc, want $want"; return 1; }; }
rc_not0() { "$@" >/dev/null 2>&1 && { echo "succeeded"; return 1; }; return 0; }
count_is() { local want=$1 c; shift; c=$(ve_count "$@"); [ "$c" -eq "$want" ] || { echo "evaluated $c, want $want"; return 1; }; }
attack_round() {	# WANT_TOTAL SRC...: 8 parallel connections per source
	local want=$1
	shift
	ve_attack "$CONNS" "$TRIES" "$@"
	count_is "$want" "$@"
}
banned_in_log() {	# SRC BAN#
	ve_syslog_ok || return 0
	ve_syslog_has "ban $1 for " 3 && grep -F "ban $1 for " "$VE_SYSLOG" | grep -qF "ban #$2)" ||
		{ echo "no 'ban $1 ... ban #$2' line in the captured syslog"; return 1; }
}
banned_both() { banned_in_log "$ATT4" "$1" && { [ ${#V6[@]} -eq 0 ] || banned_in_log "$ATT6_NET" "$1"; }; }
admin_lists() {	# SUBCMD [ARGS] -- STRING...: output shows every STRING
	local args=() out s
	while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	out=$(ve_admin "${args[@]}" 2>&1) || { printf '%s\n' "$out"; return 1; }
	printf '%s\n' "$out" | show >&3
	for s in "$@"; do
		printf '%s\n' "$out" | grep -qF -- "$s" || { echo "'$s' not shown"; return 1; }
	done
}
admin_status_banned() {	# status ran, and a "banned ... 1" line
	admin_lists status -- || return 1
	ve_admin status 2>/dev/null | grep -Eiq 'banned[^0-9]*1([^0-9]|$)' ||
		{ echo "no 'banned ... 1' line"; return 1; }
}
nft_has() {	# SET ELEMENT
	local out
	out=$(ve_run nft list set inet vpsguard "$1" 2>&1) || { printf '%s\n' "$out"; return 1; }
	printf '%s\n' "$out" | grep -F elements | sed 's/^[[:space:]]*//' | show >&3
	printf '%s\n' "$out" | grep -qF -- "$2" || { echo "$2 not in set $1"; return 1; }
}
wait_ban_over() {	# seconds since the round began
	local left=$(( BANTIME + 1 - ($(date +%s) - $1) ))
	[ $left -gt 0 ] && sleep "$left"
	return 0
}

cat <<EOF
${B}pam_vpsguard demo${N}: a real sshd under a real password brute force.

Everything below runs in a network namespace and a private mount namespace
created for this demo: its own sshd on port 2222, its own PAM stack
(sshd_snippets/pam.d-sshd.debian with the module from this tree), its own
table, config and nftables ruleset, all under /tmp and removed at exit (also
on Ctrl-C).  The host's sshd, /etc/pam.d and firewall ruleset are untouched.
A hook right before pam_unix counts every password sshd really checks.
Settings: maxretry=$MAXRETRY findtime=10m bantime=${BANTIME}s bantime.increment=no persistent.after=$PERSIST

EOF

if ! ve_setup "maxretry = $MAXRETRY" "findtime = 10m" "bantime = ${BANTIME}s" \
	"bantime.increment = no" "persistent.after = $PERSIST" 2>/dev/null; then
	NSTEP=1 NFAIL=1
	printf ' %2d. %s: %sFAIL%s\n       ! %s\n' 1 "start the sandboxed sshd" "$R" "$N" "$VE_ERR"
	exit 1
fi
NSTEP=1
printf ' %2d. %s: %sPASS%s\n' 1 "sandboxed sshd listening (netns $VE_NS, port $VE_PORT)" "$G" "$N"
ve_add_addr "$ATT4"
V6=()	# the IPv6 attacker's addresses, when the kernel has IPv6
if [ "$VE_HAVE_V6" = 1 ]; then
	for a in "$ATT6A" "$ATT6B" 2001:db8:66::20 2001:db8:77::1; do ve_add_addr "$a"; done
	V6=("$ATT6A" "$ATT6B")
fi
ve_find_admin
HAVE_SYNC=0
ve_has_sub sync && HAVE_SYNC=1

say ""
say "${B}The admin logs in${N}"
step "admin logs in with the right password from $ADMIN_SRC" rc_is 0 ve_ssh_pw "$ADMIN_SRC" "$VE_PASS"

say ""
say "${B}Attacker $ATT4: $CONNS parallel connections, $TRIES wrong passwords each${N}"
step "$((CONNS * TRIES)) guesses sent, exactly $MAXRETRY evaluated by pam_unix, then banned" attack_round "$MAXRETRY" "$ATT4"
say "       > sshd logged $(grep -c "Failed password for $VE_USER from $ATT4 port" "$VE_SSHD_LOG") failed passwords from $ATT4; pam_unix checked $(ve_count "$ATT4") of them"
if ve_syslog_ok; then
	step "syslog has the ban line" banned_in_log "$ATT4" 1
	grep -F "ban $ATT4 for" "$VE_SYSLOG" | head -n 1 | sed 's/^<[0-9]*>//' | show
else
	skipstep "syslog has the ban line" "no /dev/log capture"
fi
step "the right password from $ATT4 is refused before it is checked" rc_not0 ve_ssh_pw "$ATT4" "$VE_PASS"
step "the right public key from $ATT4 is refused too (account phase)" rc_not0 ve_ssh_key "$ATT4"
step "the admin still logs in from $ADMIN_SRC (password)" rc_is 0 ve_ssh_pw "$ADMIN_SRC" "$VE_PASS"
step "the admin still logs in from $ADMIN_SRC (public key)" rc_is 0 ve_ssh_key "$ADMIN_SRC"
if ve_has_sub status; then
	step "pam_vpsguard-admin status shows the ban" admin_status_banned
else
	skipstep "pam_vpsguard-admin status shows the ban" "no 'status' subcommand in build/pam_vpsguard-admin yet"
fi
if ve_has_sub list; then
	step "pam_vpsguard-admin list shows $ATT4 banned" admin_lists list --banned -- "$ATT4"
else
	skipstep "pam_vpsguard-admin list shows $ATT4 banned" "no 'list' subcommand in build/pam_vpsguard-admin yet"
fi

say ""
r6=$(date +%s)
if [ "$VE_HAVE_V6" = 1 ]; then
	say "${B}IPv6 attacker from $ATT6_NET: $ATT6A and $ATT6B, $CONNS connections each${N}"
	step "$((2 * CONNS * TRIES)) guesses from two addresses, $MAXRETRY evaluated in total: one budget per /64" attack_round "$MAXRETRY" "$ATT6A" "$ATT6B"
	if ve_syslog_ok; then
		step "syslog: banned as the /64" banned_in_log "$ATT6_NET" 1
	else
		skipstep "syslog: banned as the /64" "no /dev/log capture"
	fi
	step "2001:db8:66::20 (same /64, never guessed) is refused with the right key" rc_not0 ve_ssh_key 2001:db8:66::20
	step "2001:db8:77::1 (another /64) logs in with the right password" rc_is 0 ve_ssh_pw 2001:db8:77::1 "$VE_PASS"
else
	skipstep "IPv6 attacker from $ATT6_NET" "no IPv6 in this kernel"
fi

say ""
say "${B}Both attackers come back each time their ${BANTIME}s ban ends, until they are persistent offenders (ban #$PERSIST)${N}"
for round in $(seq 2 "$PERSIST"); do
	wait_ban_over "$r6"	# the later of the two bans
	r6=$(date +%s)
	# Both at once, so their last bans end together.
	ve_attack "$CONNS" "$TRIES" "$ATT4" "${V6[@]}"
	step "round $round: $ATT4 gets exactly $MAXRETRY more guesses evaluated (total $((round * MAXRETRY)))" \
		count_is $((round * MAXRETRY)) "$ATT4"
	[ ${#V6[@]} -gt 0 ] &&
		step "round $round: $ATT6_NET gets exactly $MAXRETRY more (total $((round * MAXRETRY)))" \
			count_is $((round * MAXRETRY)) "${V6[@]}"
	if ve_syslog_ok; then
		step "round $round: syslog has ban #$round for both" banned_both "$round"
	fi
done
step "the admin still logs in from $ADMIN_SRC" rc_is 0 ve_ssh_pw "$ADMIN_SRC" "$VE_PASS"

say ""
say "${B}Persistent offenders are dropped by nftables (table inet vpsguard, inside the namespace)${N}"
say "(a drop lasts as long as the remaining ban: seconds here, hours or days with real settings)"
if [ "$HAVE_SYNC" = 1 ]; then
	step "pam_vpsguard-admin sync (one pass of the helper)" ve_admin sync
	step "nft list set inet vpsguard drop4 has $ATT4" nft_has drop4 "$ATT4"
	[ ${#V6[@]} -gt 0 ] &&
		step "nft list set inet vpsguard drop6 has 2001:db8:66::" nft_has drop6 "2001:db8:66::"
	step "a TCP connect from $ATT4 to port $VE_PORT times out (dropped, not rejected)" rc_is 1 ve_tcp "$ATT4" 127.0.0.1 2
	[ ${#V6[@]} -gt 0 ] &&
		step "a TCP connect from 2001:db8:66::20 times out" rc_is 1 ve_tcp 2001:db8:66::20 "$VE_V6SERVER" 2
	step "a TCP connect from $ADMIN_SRC still succeeds" rc_is 0 ve_tcp "$ADMIN_SRC" 127.0.0.1 2
	[ ${#V6[@]} -gt 0 ] &&
		step "a TCP connect from 2001:db8:77::1 still succeeds" rc_is 0 ve_tcp 2001:db8:77::1 "$VE_V6SERVER" 2
	step "the admin still logs in from $ADMIN_SRC" rc_is 0 ve_ssh_pw "$ADMIN_SRC" "$VE_PASS"
else
	why="no 'sync' subcommand in build/pam_vpsguard-admin yet"
	[ -z "$VE_ADMIN" ] && why="build/pam_vpsguard-admin not built"
	for d in "pam_vpsguard-admin sync (one pass of the helper)" \
		"nft set drop4 has $ATT4, drop6 has 2001:db8:66::" \
		"TCP connects from $ATT4 and 2001:db8:66::20 time out, $ADMIN_SRC and 2001:db8:77::1 connect"; do
		skipstep "$d" "$why"
	done
fi
if ve_has_sub status; then
	step "pam_vpsguard-admin status" admin_lists status --
fi
if ve_has_sub list; then
	if [ ${#V6[@]} -gt 0 ]; then
		step "pam_vpsguard-admin list shows both offenders" admin_lists list -- "$ATT4" "$ATT6_NET"
	else
		step "pam_vpsguard-admin list shows the offender" admin_lists list -- "$ATT4"
	fi
fi

say ""
total=$(( $(date +%s) - T0 ))
if [ "$NFAIL" -eq 0 ]; then
	say "${G}${B}demo passed${N}: $NSTEP steps, $NSKIP skipped, ${total}s.  Cleaning up the namespace."
	exit 0
fi
keep=$(mktemp -d /tmp/vg-demo-failed-XXXXXX) &&
	cp "$VE_SSHD_LOG" "$VE_SYSLOG" "$VE_COUNT" "$VE_CONF" "$VE_DIR/pam.d-sshd" "$keep/" 2>/dev/null
say "${R}${B}demo FAILED${N}: $NFAIL of $NSTEP steps failed, $NSKIP skipped, ${total}s."
say "sshd log, captured syslog, counts, config and PAM stack kept in $keep (remove it when done)."
exit 1

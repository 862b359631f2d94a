#!/bin/bash
# The helper under pam-vpsguard.service's own sandbox, with the CrowdSec
# link on (issue 16, item 4).  systemd is not PID 1 on the test machines,
# so the unit's filters are read from dist/pam-vpsguard.service and
# applied the way systemd applies them:
#   SystemCallFilter / SystemCallErrorNumber / SystemCallArchitectures,
#   RestrictAddressFamilies, NoNewPrivileges, MemoryDenyWriteExecute
#       tests/fleet/vg_sandbox.c (libseccomp; @groups expanded with
#       systemd-analyze syscall-filter, as systemd does)
#   CapabilityBoundingSet, AmbientCapabilities   setpriv
#   ProtectSystem=strict + ReadWritePaths        a mount namespace with /
#       read-only and the helper's table/state directory writable
# Then `sync` and `daemon` pull a decision from a real LAPI and push a
# ban to it, and the daemon (with the default connlimit guard) gets its
# ports from `sshd -T`, all under those filters.  A negative control runs `sync` under the families of the
# old unit (AF_UNIX AF_NETLINK) and must not reach the LAPI: the wrapper
# really filters.  Runs inside its own network namespace, like fleet.
set -u
VG_SUITE=unit-sandbox
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

ADMIN=$ROOT/build/pam_vpsguard-admin
UNIT=$ROOT/dist/pam-vpsguard.service

if [ -z "${VG_NETNS:-}" ]; then
	need_root
	need_cmd ip nft unshare setpriv systemd-analyze cc curl python3
	if ! command -v crowdsec >/dev/null 2>&1 || ! command -v cscli >/dev/null 2>&1; then
		skip "$VG_SUITE" "crowdsec not installed (make deps installs it)"
		exit 0
	fi
	if [ ! -e /usr/include/seccomp.h ]; then
		skip "$VG_SUITE" "libseccomp-dev not installed (make deps installs it)"
		exit 0
	fi
	[ -f "$ADMIN" ] || { fail "$VG_SUITE" "$ADMIN not built (make)"; exit 1; }
	reexec_in_netns vpsg-sbx "$@"
fi
in_own_netns || exit 1
ip link set lo up

new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
T=$TMPD
OUT=$T/out ERR=$T/err
VGS=${VG_BUILD:-$ROOT/build}/tests/fleet/vg_sandbox	# make tests-bin
[ -x "$VGS" ] || { fail "$VG_SUITE" "$VGS not built (make tests-bin)"; exit 1; }

# ---- the unit's filters, as shipped ----------------------------------------
unit_val() { sed -n "s/^$1=//p" "$UNIT"; }
expand_group() {	# @group or name -> syscall names
	case $1 in
	@*) systemd-analyze syscall-filter "$1" 2>/dev/null | sed '1d; s/^[[:space:]]*//; /^#/d; /^$/d' |
		while read -r s; do expand_group "$s"; done ;;
	*) echo "$1" ;;
	esac
}
SYSF=$T/syscalls
: >"$SYSF"
for tok in $(unit_val SystemCallFilter); do
	case $tok in
	~*) fail "$VG_SUITE" "a deny-list SystemCallFilter ($tok) is not modelled here"; summary; exit 1 ;;
	esac
	expand_group "$tok" >>"$SYSF"
done
sort -u -o "$SYSF" "$SYSF"
FAMS=$(unit_val RestrictAddressFamilies | tr ' ' ',')
CAPS=$(unit_val CapabilityBoundingSet | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
ERRNO=$(unit_val SystemCallErrorNumber)
if [ "$(wc -l <"$SYSF")" -gt 100 ] && [ -n "$FAMS" ] && [ -n "$CAPS" ] && [ "$ERRNO" = EPERM ] &&
   [ "$(unit_val NoNewPrivileges)" = yes ] && [ "$(unit_val ProtectSystem)" = strict ]; then
	pass "unit filters read: $(wc -l <"$SYSF") system calls ($(unit_val SystemCallFilter)), families $FAMS, caps $CAPS"
else
	fail "unit filters read" "syscalls $(wc -l <"$SYSF"), families '$FAMS', caps '$CAPS', errno '$ERRNO'"
	summary; exit 1
fi
case $FAMS in
*AF_INET,*AF_INET6*|*AF_INET6*AF_INET*) pass "unit allows AF_INET and AF_INET6 (the CrowdSec link)" ;;
*) fail "unit allows AF_INET and AF_INET6 (the CrowdSec link)" "RestrictAddressFamilies=$(unit_val RestrictAddressFamilies)" ;;
esac

# sandboxed FAMILIES CMD...: CMD as the unit would run it.  D (the
# table/state directory) plays ReadWritePaths.  SBX_EXEC=exec: replace
# the (background) subshell, so that its PID is the command's.
sandboxed() {
	local fams=$1
	shift
	${SBX_EXEC:-} unshare -m --propagation private sh -c '
		d=$1; shift
		# /run/sshd: ssh.service makes it (After=ssh.service); sshd -T
		# (the ports of the connlimit guard) needs it.
		mount -t tmpfs -o mode=755 vg-run /run && mkdir -m 755 /run/sshd &&
		mount -o remount,bind,ro / && mount --bind "$d" "$d" &&
			mount -o remount,bind,rw "$d" || exit 125
		exec "$@"' sh "$D" \
		setpriv --bounding-set "-all,$CAPS" --inh-caps -all -- \
		"$VGS" --syscalls "$SYSF" --families "$fams" -- "$@"
}

# ---- a private LAPI --------------------------------------------------------------
. tests/fleet/lapi.sh
lapi_setup 18081 vg-sbx vg-sbx-push
start_lapi || { fail "$VG_SUITE" "LAPI did not come up"; exit 1; }

# ---- the helper's files ---------------------------------------------------------
D=$T/vg
mkdir -m 0700 "$D" "$D/run"
CONF=$D/vg.conf
cat >"$CONF" <<EOC
table.path = $D/run/table
state.path = $D/lib/state
table.size = 1024
connlimit.rate = 0
persistent.after = 1
ssh.ports = 22
crowdsec.url = $URL
crowdsec.bouncer_key = $T/bouncer.key
crowdsec.machine = vg-sbx-push
crowdsec.password = $T/machine.pw
crowdsec.interval = 1s
EOC
in_drop4() { nft list set inet vpsguard drop4 2>/dev/null | grep -qF -- "$1"; }

# ---- negative control: the old unit's families --------------------------------
cscli decisions add --ip 203.0.113.9 --duration 2h >/dev/null 2>&1
# Its own table and state: what it records must not touch the runs below.
mkdir -m 0700 "$D/ctl"
sed "s|^table.path = .*|table.path = $D/ctl/table|; s|^state.path = .*|state.path = $D/ctl/state|" \
	"$CONF" >"$D/ctl/vg.conf"
sandboxed AF_UNIX,AF_NETLINK "$ADMIN" --conf "$D/ctl/vg.conf" sync >"$OUT" 2>"$ERR"
if ! in_drop4 203.0.113.9; then
	pass "control: under the old RestrictAddressFamilies=AF_UNIX AF_NETLINK sync cannot reach the LAPI ($(grep -io 'crowdsec[^|]*' "$ERR" | head -n 1 | cut -c1-100))"
else
	fail "control: under the old RestrictAddressFamilies=AF_UNIX AF_NETLINK sync cannot reach the LAPI" "the decision was pulled: the wrapper does not filter"
fi

# ---- as shipped: sync ------------------------------------------------------------
sbx_sync() {
	sandboxed "$FAMS" "$ADMIN" --conf "$CONF" sync >"$OUT" 2>"$ERR" ||
		{ echo "sync exit $?: $(head -c 300 "$ERR")"; return 1; }
	in_drop4 203.0.113.9 || { echo "203.0.113.9 not pulled: $(head -c 300 "$ERR" | tr '\n' '|')"; return 1; }
	"$ADMIN" --conf "$CONF" status >"$OUT" 2>&1 && has "crowdsec: +up"
}
case_ "shipped unit filters: sync pulls a decision from the LAPI" sbx_sync

# ---- as shipped: the daemon -----------------------------------------------------
"$ADMIN" --conf "$CONF" ban 203.0.113.30 --time 1h >/dev/null 2>&1
# The daemon as the unit runs it by default: no ssh.ports, the connlimit
# guard on, so it asks `sshd -T` for the ports, under the same filters.
grep -vE '^(ssh\.ports|connlimit\.rate) ' "$CONF" >"$D/daemon.conf"
VG_LOG_STDERR=1 SBX_EXEC=exec sandboxed "$FAMS" "$ADMIN" --conf "$D/daemon.conf" daemon \
	>"$D/daemon.out" 2>"$D/daemon.err" </dev/null &
DPID=$!
track_pid "$DPID"
cscli decisions add --ip 203.0.113.66 --duration 1h >/dev/null 2>&1
pulled() { wait_for 20 in_drop4 203.0.113.66 || { echo "not pulled within 20 s: $(tail -n 3 "$D/daemon.err" | tr '\n' '|')"; return 1; }; }
case_ "shipped unit filters: the daemon pulls a new decision" pulled
pushed_() { cscli decisions list -s pam_vpsguard/ssh-bruteforce 2>/dev/null | grep -q 203.0.113.30; }
pushed() { wait_for 20 pushed_ || { echo "no pushed decision: $(tail -n 3 "$D/daemon.err" | tr '\n' '|')"; return 1; }; }
case_ "shipped unit filters: the daemon pushes a local ban to the LAPI" pushed
kill -TERM "$DPID" 2>/dev/null
wait "$DPID"
rc=$?
untrack_pid "$DPID"
[ $rc -eq 0 ] && [ -s "$D/lib/state" ] && pass "daemon stops on SIGTERM with exit 0 and saves state" ||
	fail "daemon stops on SIGTERM with exit 0 and saves state" "exit $rc: $(tail -n 2 "$D/daemon.err" | tr '\n' '|')"
guard() {
	hasnt 'sshd -T. failed' "$D/daemon.err" &&
		nft list set inet vpsguard sshports 2>&1 | grep -qE 'elements = \{ 22 \}' ||
		{ echo "no connlimit rule for port 22: $(grep -i 'sshd' "$D/daemon.err" | head -n 2 | tr '\n' '|') $(nft list table inet vpsguard 2>&1 | grep -iE 'dport|tcp' | head -n 3 | tr '\n\t' '| ')"; return 1; }
}
case_ "shipped unit filters: sshd -T answers the daemon (connlimit guard on port 22)" guard
if grep -qiE 'operation not permitted|bad system call|address family not supported' "$D/daemon.err"; then
	fail "no system call or family refused to the daemon" "$(grep -iE 'operation not permitted|bad system call|address family' "$D/daemon.err" | head -n 2 | tr '\n' '|')"
else
	pass "no system call or family refused to the daemon"
fi

summary

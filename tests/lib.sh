# tests/lib.sh: helpers shared by the shell test suites.  Source it:
#	. "$(dirname "$0")/../lib.sh"
#
# Every case prints one line the runner (tests/run.sh) counts:
#	PASS: NAME | FAIL: NAME (detail) | SKIP: NAME (reason)
# and the suite ends with `summary`, which exits 1 if any case failed.
#
# Cleanup: new_tmpdir and track_pid register what this shell created;
# one EXIT trap kills exactly those PIDs and removes exactly those
# directories.  Nothing is ever killed by name.

VG_NPASS=0 VG_NFAIL=0 VG_NSKIP=0
VG_SUITE=${VG_SUITE:-$(basename "$0" .sh)}
VG_PIDS=()
VG_TMPDIRS=()
VG_SYSLOG_PID=""
VG_SYSLOG_FILE=""

pass() { echo "PASS: $1"; VG_NPASS=$((VG_NPASS + 1)); }

fail() {	# NAME [detail]
	if [ $# -ge 2 ] && [ -n "$2" ]; then
		echo "FAIL: $1 ($2)"
	else
		echo "FAIL: $1"
	fi
	VG_NFAIL=$((VG_NFAIL + 1))
}

skip() { echo "SKIP: $1 (${2:-no reason given})"; VG_NSKIP=$((VG_NSKIP + 1)); }

# The last lines of some output, on one line, for a FAIL detail.
_vg_tail() { printf '%s' "$1" | tail -n 3 | tr '\n\033' '|?' | cut -c1-300; }

check() {	# NAME cmd...: PASS when cmd exits 0
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "exit $rc: $(_vg_tail "$out")"
	fi
}

expect_rc() {	# NAME WANT cmd...: PASS when cmd exits WANT
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc, want $want: $(_vg_tail "$out")"
	fi
}

wait_for() {	# TIMEOUT_S cmd...: poll every 0.1 s; 0 once cmd succeeds
	local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && return 1
		sleep 0.1
	done
}

need_root() {	# skip the whole suite unless root
	if [ "$(id -u)" -ne 0 ]; then
		skip "$VG_SUITE" "needs root"
		exit 0
	fi
}

need_cmd() {	# cmd...: skip the whole suite unless every cmd exists
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			skip "$VG_SUITE" "$c not installed"
			exit 0
		fi
	done
}

# Re-run the calling script inside a private mount namespace (its mounts
# vanish with it and never reach the host).  Call before anything else.
reexec_private_mountns() {	# "$@" of the script
	if [ -z "${VG_HOST_MNTNS:-}" ]; then
		VG_HOST_MNTNS=$(readlink /proc/self/ns/mnt)
		export VG_HOST_MNTNS
		exec unshare -m --propagation private bash "$0" "$@"
	fi
	in_private_mountns || { echo "FAIL: $VG_SUITE (not in a private mount namespace)"; exit 1; }
}

in_private_mountns() {
	[ -n "${VG_HOST_MNTNS:-}" ] &&
		[ "$(readlink /proc/self/ns/mnt)" != "$VG_HOST_MNTNS" ]
}

# reexec_in_netns PREFIX "$@": run the calling script again inside a new
# network namespace PREFIX-$$ and a private mount namespace, then exit
# with its status; the namespace is deleted on exit.  The inner run has
# VG_NETNS set: test that first, and call in_own_netns there.
reexec_in_netns() {
	local ns=$1-$$ child rc
	shift
	# shellcheck disable=SC2064	# $ns now, not at exit
	trap "ip netns del '$ns' 2>/dev/null; _vg_cleanup" EXIT
	ip netns add "$ns" || { fail "$VG_SUITE" "ip netns add $ns"; exit 1; }
	VG_NETNS=$ns VG_HOST_MNTNS=$(readlink /proc/self/ns/mnt) \
		ip netns exec "$ns" unshare -m --propagation private \
		bash "$0" "$@" &
	child=$!
	track_pid "$child"
	wait "$child"
	rc=$?
	untrack_pid "$child"
	exit $rc
}

# Checked, not assumed: the inner run touches nftables and mounts.
in_own_netns() {
	if [ -z "${VG_NETNS:-}" ] ||
	   [ "$(ip netns identify $$ 2>/dev/null)" != "$VG_NETNS" ]; then
		fail "$VG_SUITE" "not inside network namespace ${VG_NETNS:-?}: refusing to touch nftables"
		return 1
	fi
	in_private_mountns || { fail "$VG_SUITE" "not in a private mount namespace"; return 1; }
}

# track_pid PID: a child of this shell, killed by the EXIT trap (only if
# it is still our child then, so a recycled PID is never hit).
track_pid() { VG_PIDS+=("$1"); }
untrack_pid() {
	local p keep=()
	for p in ${VG_PIDS[@]+"${VG_PIDS[@]}"}; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	VG_PIDS=(${keep[@]+"${keep[@]}"})
}
# stop_pid PID: SIGTERM to a tracked child, reap it, stop tracking it.
stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	untrack_pid "$1"
}
_vg_is_child() {	# PID
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }	# after "pid (comm) ": state ppid ...
	# shellcheck disable=SC2086
	set -- $s
	[ "${2:-}" = "$$" ]
}

new_tmpdir() {	# sets TMPD to a fresh 0700 directory removed at exit
	TMPD=$(mktemp -d "${TMPDIR:-/tmp}/vg-${VG_SUITE}-XXXXXX") || return 1
	chmod 0700 "$TMPD"
	VG_TMPDIRS+=("$TMPD")
}

# Our children (tracked and still ours), stopped and reaped.
_vg_stop_pids() {
	local p
	for p in ${VG_PIDS[@]+"${VG_PIDS[@]}"}; do
		_vg_is_child "$p" && kill "$p" 2>/dev/null
	done
	for p in ${VG_PIDS[@]+"${VG_PIDS[@]}"}; do
		wait "$p" 2>/dev/null
	done
	VG_PIDS=()
}

_vg_cleanup() {
	local d

	_vg_stop_pids
	for d in ${VG_TMPDIRS[@]+"${VG_TMPDIRS[@]}"}; do
		case $d in /tmp/vg-*|"${TMPDIR:-/tmp}"/vg-*)
			rm -rf --one-file-system "$d" ;;
		esac
	done
}
trap _vg_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Syslog capture.  There is no /dev/log on the test machines, so module
# messages would vanish: inside a private mount namespace (only there),
# put a tmpfs over /dev with the usual device nodes and bind a datagram
# socket on /dev/log.  Each message becomes one line of LOGFILE, bytes
# outside printable ASCII (and "\") written as \xNN, so a message with a
# raw newline or ESC is visible as such instead of splitting lines.
start_syslog() {	# LOGFILE
	local py=python3 n
	VG_SYSLOG_FILE=$1
	in_private_mountns || { echo "start_syslog: not in a private mount namespace" >&2; return 1; }
	[ -x /usr/bin/python3 ] && py=/usr/bin/python3
	mount -t tmpfs -o mode=755,size=1m vg-dev /dev || return 1
	for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
		# shellcheck disable=SC2086
		set -- $n
		mknod -m 666 "/dev/$1" c "$2" "$3" || { umount /dev; return 1; }
	done
	ln -s /proc/self/fd /dev/fd
	ln -s /proc/self/fd/0 /dev/stdin
	ln -s /proc/self/fd/1 /dev/stdout
	ln -s /proc/self/fd/2 /dev/stderr
	mkdir -m 1777 /dev/shm
	mkdir -m 755 /dev/pts
	: >"$VG_SYSLOG_FILE"
	"$py" -c '
import ctypes, os, signal, socket, sys
# Die with the shell that started us, even if it is SIGKILLed.
ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() == 1:
    sys.exit(0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
with open(sys.argv[1], "a") as f:
    while True:
        d = s.recv(65536)
        f.write("".join(chr(c) if 32 <= c < 127 and c != 92 else "\\x%02x" % c
                        for c in d) + "\n")
        f.flush()
' "$VG_SYSLOG_FILE" </dev/null >/dev/null 2>&1 &
	VG_SYSLOG_PID=$!
	track_pid "$VG_SYSLOG_PID"
	if ! wait_for 5 test -S /dev/log || ! syslog_sync; then
		stop_syslog
		umount /dev
		return 1
	fi
}

# Wait until every message sent so far is in the log file: a marker
# sent after them arrives after them (one datagram queue).
syslog_sync() {
	local m="vg-syslog-sync-$$-$RANDOM$RANDOM"
	[ -n "$VG_SYSLOG_PID" ] || return 1
	logger -u /dev/log -d -t vg-test "$m" 2>/dev/null || return 1
	wait_for 5 grep -qF "$m" "$VG_SYSLOG_FILE"
}

stop_syslog() {
	[ -n "$VG_SYSLOG_PID" ] || return 0
	stop_pid "$VG_SYSLOG_PID"
	VG_SYSLOG_PID=""
}

summary() {
	echo "$VG_SUITE: $VG_NPASS passed, $VG_NFAIL failed, $VG_NSKIP skipped"
	[ "$VG_NFAIL" -eq 0 ]
}

# case_ NAME cmd...: one PASS/FAIL line by cmd's status; cmd's output is
# the reason shown on failure (its last lines, one line, printable).
case_() {
	local name=$1 msg
	shift
	if msg=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$msg" | tail -n 3 | tr '\n\033' '|?' | cut -c1-300)"
	fi
}
# has / hasnt ERE [FILE]: FILE (default $OUT) has / has no line matching
# ERE; says what it saw when not.
has() { grep -qE -- "$1" "${2:-$OUT}" || { echo "no /$1/ in ${2:-stdout}: $(head -c 400 "${2:-$OUT}" | tr '\n' '|')"; return 1; }; }
hasnt() { ! grep -qE -- "$1" "${2:-$OUT}" || { echo "unexpected /$1/ in ${2:-stdout}: $(head -c 400 "${2:-$OUT}" | tr '\n' '|')"; return 1; }; }

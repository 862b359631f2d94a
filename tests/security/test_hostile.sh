#!/bin/bash
# Hostile input (issue 8): rhost and user names an attacker controls,
# through real Linux-PAM (build/tests/security/vg_pamstress try), every syslog
# line captured in-process.  Each run must end with a PAM code, never a
# signal; every log line must be one printable line; the outcome must be
# SPEC's.  tests/pamtester/test_module.sh already covers, via pamtester:
# rhost with a newline, with ESC, 1 KB of letters, 1 KB of digits and
# dots, trailing newline/space, a lone '%'; a host name with and without
# SSH_CONNECTION; ::ffff:-mapped folding; a user with newline + ESC and a
# 1 KB user.  This adds the rest and the log-line checks.
set -u
VG_SUITE=hostile
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

need_root
BUILD=${VG_BUILD:-$ROOT/build}	# make O=dir: VG_BUILD=dir
STRESS=$BUILD/tests/security/vg_pamstress
MOD=$BUILD/pam_vpsguard.so
for f in "$STRESS" "$MOD"; do
	[ -e "$f" ] || { fail "$VG_SUITE" "$f not built (make tests-bin)"; exit 1; }
done
new_tmpdir || { fail "$VG_SUITE" mktemp; exit 1; }
T=$TMPD
mkdir -m 0700 "$T/run"
echo "auth required pam_deny.so" >"$T/other"
for m in open closed; do
	printf 'table.path = %s/run/table\ntable.size = 1024\nmaxretry = 3\nfailmode = %s\n' "$T" "$m" >"$T/$m.conf"
	cat >"$T/$m" <<-EOF
	auth     requisite                   $MOD preauth conf=$T/$m.conf
	auth     [success=1 default=ignore]  pam_succeed_if.so quiet user = gooduser
	auth     [default=die]               $MOD authfail conf=$T/$m.conf
	auth     sufficient                  $MOD authsucc conf=$T/$m.conf
	auth     requisite                   pam_deny.so
	EOF
done
ALL=$T/all.log		# every captured line of the suite
: >"$ALL"

# try SVC USER RHOST: prints the PAM code; 99 if the process died.
try() {
	local out rc
	out=$("$STRESS" try "$T" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" >>"$ALL"
	[ $rc -eq 0 ] || { echo 99; return; }
	printf '%s\n' "$out" | sed -n 's/^RC //p'
}
is() {	# NAME WANT SVC USER RHOST
	local got
	got=$(try "$3" "$4" "$5")
	[ "$got" = "$2" ] && pass "$1" || fail "$1" "PAM code $got, want $2"
}
fails() {	# N SVC USER RHOST: N failed attempts, each PAM_AUTH_ERR (7)
	local i got
	for ((i = 0; i < $1; i++)); do
		got=$(try "$2" "$3" "$4")
		[ "$got" = 7 ] || { echo "attempt $i: $got"; return 1; }
	done
}

KB=$(printf 'a%.0s' $(seq 1 1024))
# --- rhost ---------------------------------------------------------------------
is "rhost empty: right password logs in (no source: console rules)" 0 open gooduser ""
check "rhost empty: 10 failures" fails 10 open root ""
is "rhost empty: still logs in after 10 failures (never blocked)" 0 open gooduser ""
is "rhost empty, failmode closed: logs in (empty is no rhost, not bad)" 0 closed gooduser ""
is "rhost 1 KB: failmode open lets the right password in" 0 open gooduser "$KB"
is "rhost 1 KB: failmode closed refuses" 7 closed gooduser "$KB"
is "rhost with a newline: failmode closed refuses" 7 closed gooduser $'198.51.100.9\nFAKE: root login'
is "rhost with terminal escapes: failmode open, wrong password fails" 7 open root $'\e]0;pwned\a\e[2J198.51.100.9'
check "rhost host name: counted literally, 3 failures" fails 3 open root "evil.example"
is "rhost host name: banned at maxretry" 7 open gooduser "EVIL.example"
check "rhost ::ffff:198.51.100.7: 3 failures" fails 3 open root "::ffff:198.51.100.7"
is "... ban 198.51.100.7 (mapped folds onto IPv4)" 7 open gooduser "198.51.100.7"
check "rhost fe80::1%eth0 (scoped): 3 failures" fails 3 open root "fe80::1%eth0"
is "... fe80::2 is another source (link-local: keyed per address, not per /64)" 0 open gooduser "fe80::2"
is "... ban fe80::1%eth1 (another zone is the same source)" 7 open gooduser "fe80::1%eth1"
is "rhost fe80::1%<300-byte zone>: rejected, failmode closed refuses" 7 closed gooduser "fe80::1%$(printf 'e%.0s' $(seq 1 300))"
is "rhost 2001:db8::1%: empty zone rejected, failmode closed refuses" 7 closed gooduser "2001:db8::1%"

# --- user names ---------------------------------------------------------------------
check "user with control characters: 3 failures from one source" \
	fails 3 open $'ro\x01ot\r\n\e[31m\x7f' 203.0.113.30
is "... the source is banned; the deny line is logged" 7 open $'ro\x01ot\r\n\e[31m\x7f' 203.0.113.30
check "user of 1 KB: 3 failures" fails 3 open "$KB" 203.0.113.31
is "... banned; logged cut short" 7 open "$KB" 203.0.113.31
check "user not UTF-8: 3 failures" fails 3 open $'\xff\xfe\xc3(\xe2\x82' 203.0.113.32
is "... banned" 7 open $'\xff\xfe\xc3(\xe2\x82' 203.0.113.32

# --- every log line --------------------------------------------------------------------
grep '^LOG: ' "$ALL" >"$T/lines"
n=$(wc -l <"$T/lines")
if [ "$n" -gt 0 ] && ! grep -q '\\x' "$T/lines"; then
	pass "all $n log lines are single printable lines"
else
	fail "log lines printable" "$(grep -m 2 '\\x' "$T/lines" | tr '\n' '|')"
fi
long=$(awk 'length($0) > 400' "$T/lines" | wc -l)
[ "$long" = 0 ] && pass "no log line is longer than 400 bytes (hostile input is cut)" ||
	fail "log lines bounded" "$long longer than 400 bytes"
grep -qF "deny 203.0.113.30 user 'ro?ot???[31m?'" "$T/lines" &&
	pass "control characters in the user name are logged as '?'" ||
	fail "control characters logged as '?'" "$(grep -m1 203.0.113.30 "$T/lines")"
grep -qE "deny 203\.0\.113\.31 user 'a{63}'" "$T/lines" &&
	pass "a 1 KB user name is logged cut to 63 bytes" ||
	fail "1 KB user name cut" "$(grep -m1 203.0.113.31 "$T/lines" | cut -c1-200)"
grep -qF "deny 203.0.113.32 user '???(??'" "$T/lines" &&
	pass "a non-UTF-8 user name is logged as '?'" ||
	fail "non-UTF-8 user name" "$(grep -m1 203.0.113.32 "$T/lines")"
grep -q "unusable remote host '198.51.100.9?FAKE: root login'" "$T/lines" &&
	pass "an rhost with a newline is logged on one line, the newline as '?'" ||
	fail "rhost with a newline logged on one line" "$(grep -m1 FAKE "$T/lines")"
summary

#!/bin/bash
# TOTP end to end through real libpam (pamtester), real liboath, and
# oathtool as the independent oracle (issue 6):
#  - `totp enroll` into a private secrets directory (--conf); the secret
#    is parsed from the printed otpauth:// URI, codes come from
#    `oathtool --totp -b SECRET`;
#  - pam_vpsguard.so totp: right code accepted, the same code again
#    refused (replay), wrong and malformed codes refused and counted in
#    the table for the rhost, a ban at maxretry, a recovery code once,
#    an insecure secret file refused, no secret denied (allowed with
#    nullok), the shipped PAM stacks from sshd_snippets/;
#  - `totp status`, `totp remove`, re-enrolling without --force.
# Private mount namespace: $T/pam.d is bind-mounted over /etc/pam.d and a
# tmpfs /dev carries a /dev/log socket; host files are never touched.
set -u
VG_SUITE=totp
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

need_root
need_cmd pamtester oathtool unshare mount mknod logger python3
MOD=$ROOT/build/pam_vpsguard.so
ADMIN=$ROOT/build/pam_vpsguard-admin
for f in "$MOD" "$ADMIN"; do
	[ -f "$f" ] || { fail "$VG_SUITE" "$f not built (make all)"; exit 1; }
done
reexec_private_mountns "$@"

new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
T=$TMPD
mkdir -m 0700 "$T/pam.d" "$T/run"
TABLE=$T/run/table
SECRETS=$T/totp
CONF=$T/vpsguard.conf
OUT=$T/out
MAXRETRY=3
printf '%s\n' "table.path = $TABLE" "totp.secrets = $SECRETS" "totp.window = 1" \
	"maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" "ignoreip =" \
	"connlimit.rate = 0" "totp.maxfail = 100" >"$CONF"
# (totp.maxfail high: this suite's many wrong codes for one user would
# otherwise lock it; the per-user limit is tests/adversary's subject.)

in_private_mountns || { fail "$VG_SUITE" "not in a private mount namespace"; exit 1; }
mount --bind "$T/pam.d" /etc/pam.d || { fail "$VG_SUITE" "bind mount of /etc/pam.d"; exit 1; }
printf '%s\n' "auth required pam_deny.so" "account required pam_deny.so" \
	"session required pam_deny.so" "password required pam_deny.so" >"$T/pam.d/other"
SYSLOG=$T/syslog
HAVE_SYSLOG=1
start_syslog "$SYSLOG" || { HAVE_SYSLOG=0; echo "note: no syslog capture"; }

admin() { "$ADMIN" --conf "$CONF" "$@"; }

# Services: the mode alone, nullok, and the shipped stacks with the
# module by absolute path (conf= after it) and pam_unix emulated by user
# name (nobody: right password; anyone else: wrong).
echo "auth requisite $MOD totp conf=$CONF" >"$T/pam.d/vg-totp"
printf '%s\n' "auth [success=done ignore=ignore default=die] $MOD totp nullok conf=$CONF" \
	"auth required pam_permit.so" >"$T/pam.d/vg-nullok"
from_snippet() {	# SNIPPET SERVICE
	grep -Ev '^[[:space:]]*(#|$)' "$ROOT/sshd_snippets/$1" |
	sed -e "s#pam_vpsguard.so\\( [a-z]*\\)\\?#$MOD\\1 conf=$CONF#" \
	    -e 's#pam_unix.so nullok#pam_succeed_if.so quiet user = nobody#' \
	    >"$T/pam.d/$2"
	echo "account required pam_permit.so" >>"$T/pam.d/$2"
}

# pt CODE RHOST SERVICE USER: one authenticate answering CODE at the
# prompt ("" RHOST: no rhost item); output in $OUT; pamtester's status.
pt() {
	local code=$1 rh=$2 svc=$3 user=$4
	if [ -n "$rh" ]; then
		printf '%s\n' "$code" | pamtester -v -I "rhost=$rh" "$svc" "$user" authenticate >"$OUT" 2>&1
	else
		printf '%s\n' "$code" | pamtester -v "$svc" "$user" authenticate >"$OUT" 2>&1
	fi
}
ok() {		# NAME CODE RHOST SERVICE USER: accepted
	if pt "${@:2}"; then pass "$1"; else fail "$1" "$(_vg_tail "$(cat "$OUT")")"; fi
}
refused() {	# NAME CODE RHOST SERVICE USER: "Authentication failure"
	local rc
	pt "${@:2}"
	rc=$?
	if [ $rc -eq 1 ] && grep -q 'Authentication failure' "$OUT"; then
		pass "$1"
	else
		fail "$1" "exit $rc: $(_vg_tail "$(cat "$OUT")")"
	fi
}
field() {	# ADDR LABEL: the first word of a value of `show ADDR`
	admin show "$1" 2>/dev/null | sed -n "s/^$2:[[:space:]]*//p" | cut -d' ' -f1
}
expect_field() {	# NAME ADDR LABEL WANT
	local got
	got=$(field "$2" "$3")
	if [ "$got" = "$4" ]; then pass "$1"; else fail "$1" "$3 '$got', want '$4'"; fi
}
logged() {	# NAME STRING: the module logged a line with STRING
	if [ "$HAVE_SYSLOG" = 0 ]; then skip "$1" "no syslog capture"; return; fi
	syslog_sync
	if grep -qF -- "$2" "$SYSLOG"; then pass "$1"; else fail "$1" "no '$2' in syslog"; fi
}
code_at() { oathtool --totp -b -N "@$2" "$1"; }	# SECRET UNIXTIME
secret_of() { sed -n 's/.*otpauth:\/\/totp\/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' "$1" | head -n 1; }

# liboath is dlopen()ed by the totp mode only: never loaded with the
# module for every other login.
if command -v readelf >/dev/null 2>&1; then
	if readelf -d "$MOD" | grep NEEDED | grep -q oath; then
		fail "the module has no DT_NEEDED on liboath" "$(readelf -d "$MOD" | grep NEEDED | tr '\n' '|')"
	else
		pass "the module has no DT_NEEDED on liboath"
	fi
else
	skip "the module has no DT_NEEDED on liboath" "no readelf"
fi

# --- enroll ---------------------------------------------------------------
U=nobody
getent passwd "$U" >/dev/null || { skip "$VG_SUITE" "no user $U"; exit 0; }
admin totp enroll "$U" >"$T/enroll.out" 2>"$T/enroll.err"
rc=$?
S=$(secret_of "$T/enroll.out")
if [ $rc -eq 0 ] && [ ${#S} -eq 32 ]; then
	pass "totp enroll $U prints an otpauth:// URI with a 160-bit Base32 secret"
else
	fail "totp enroll $U prints an otpauth:// URI with a 160-bit Base32 secret" "exit $rc, secret '$S': $(cat "$T/enroll.err")"
	summary; exit 1
fi
if grep -qE "^  uri: +otpauth://totp/[A-Za-z0-9._~%-]+:$U\\?secret=$S&issuer=[A-Za-z0-9._~%-]+&algorithm=SHA1&digits=6&period=30\$" "$T/enroll.out"; then
	pass "URI has issuer:account label, issuer, SHA1, 6 digits, 30 s"
else
	fail "URI has issuer:account label, issuer, SHA1, 6 digits, 30 s" "$(grep uri: "$T/enroll.out")"
fi
if [ "$(grep -c $'\xe2\x96' "$T/enroll.out")" -ge 10 ]; then
	pass "a QR code is drawn with half blocks"
else
	fail "a QR code is drawn with half blocks"
fi
mapfile -t REC < <(grep -E '^  [a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$' "$T/enroll.out" | tr -d ' ')
if [ ${#REC[@]} -eq 10 ]; then pass "ten recovery codes printed"; else fail "ten recovery codes printed" "${#REC[@]}"; fi
# A fresh install: neither /etc/vpsguard nor its totp directory exist yet.
mkdir -p "$T/etc-fresh"
sed "s|^totp.secrets = .*|totp.secrets = $T/etc-fresh/vpsguard/totp|" "$CONF" >"$T/fresh.conf"
if "$ADMIN" --conf "$T/fresh.conf" totp enroll "$U" >"$T/fresh.out" 2>&1 &&
   [ "$(stat -c '%a %U' "$T/etc-fresh/vpsguard")" = "700 root" ] &&
   [ "$(stat -c '%a %U' "$T/etc-fresh/vpsguard/totp")" = "700 root" ]; then
	pass "totp enroll on a fresh install creates /etc/vpsguard and its totp directory (0700 root)"
else
	fail "totp enroll on a fresh install" "$(tail -n 2 "$T/fresh.out" | tr '\n' '|') $(stat -c '%a %U %n' "$T/etc-fresh/vpsguard" "$T/etc-fresh/vpsguard/totp" 2>&1 | tr '\n' '|')"
fi
if [ "$(stat -c '%a %U' "$SECRETS")" = "700 root" ] && [ "$(stat -c '%a %U' "$SECRETS/$U")" = "600 root" ]; then
	pass "secrets dir 0700 root, file 0600 root"
else
	fail "secrets dir 0700 root, file 0600 root" "$(stat -c '%a %U %n' "$SECRETS" "$SECRETS/$U")"
fi
if grep -qiF "$S" "$SECRETS/$U" || grep -qF "${REC[0]}" "$SECRETS/$U" || grep -qF "${REC[0]//-/}" "$SECRETS/$U"; then
	fail "the file holds neither the Base32 text nor a recovery code in clear"
else
	pass "the file holds neither the Base32 text nor a recovery code in clear"
fi
cp "$SECRETS/$U" "$T/before"
expect_rc "re-enroll without --force is refused (exit 1)" 1 admin totp enroll "$U"
if cmp -s "$SECRETS/$U" "$T/before"; then
	pass "the refused re-enroll kept the file"
else
	fail "the refused re-enroll kept the file"
fi
expect_rc "enroll of an unknown user: exit 2" 2 admin totp enroll vg-no-such-user-x
expect_rc "enroll of a name unusable as a file: exit 2" 2 admin totp enroll ../etc

# --- codes through PAM ------------------------------------------------------
A=192.0.2.10
NOW=$(date +%s)
C0=$(code_at "$S" "$NOW")
ok "oathtool's code accepted by pamtester (mode totp)" "$C0" "$A" vg-totp "$U"
refused "the same code again: refused (replay)" "$C0" "$A" vg-totp "$U"
expect_field "the replay counted as a failure for $A" "$A" failures 1
logged "replay logged" "totp: replayed code for user '$U' from $A"
WRONG=$(printf '%06d' $(( (10#$C0 + 500000) % 1000000 )))
refused "a wrong code refused" "$WRONG" "$A" vg-totp "$U"
expect_field "the wrong code counted" "$A" failures 2
logged "wrong code logged (user, source)" "totp: wrong code for user '$U' from $A"
if [ "$HAVE_SYSLOG" = 1 ] && grep -qE "$C0|$WRONG|$S" "$SYSLOG"; then
	fail "no code or secret in the log"
else
	pass "no code or secret in the log"
fi
# The next step's code, within totp.window = 1: accepted; like authsucc
# it clears nothing (SPEC: the failures expire with findtime, a login
# never buys more guesses).
C1=$(code_at "$S" $((NOW + 30)))
ok "the next step's code accepted (window 1)" "$C1" "$A" vg-totp "$U"
expect_field "a right code does not clear the failures" "$A" failures 2
C3=$(code_at "$S" $((NOW + 90)))
refused "a code three steps ahead refused (outside the window)" "$C3" "$A" vg-totp "$U"
for m in 12345 abcdef; do
	refused "malformed '$m' refused" "$m" "$A" vg-totp "$U"
done
if admin show "$A" | grep -q '^banned until: *in '; then
	pass "malformed input counted: a ban at maxretry $MAXRETRY"
else
	fail "malformed input counted: a ban at maxretry $MAXRETRY" "$(admin show "$A" 2>&1 | tr '\n' '|')"
fi

B=192.0.2.20
for ((i = 1; i <= MAXRETRY; i++)); do
	pt "000000" "$B" vg-totp "$U"
done
if admin show "$B" | grep -q '^banned until: *in '; then
	pass "$MAXRETRY wrong codes ban $B"
else
	fail "$MAXRETRY wrong codes ban $B" "$(admin show "$B" 2>&1 | tr '\n' '|')"
fi
refused "a banned source is refused, even with a right recovery code" "${REC[0]}" "$B" vg-totp "$U"
if ! grep -q 'Verification code' "$OUT"; then
	pass "a banned source is not even asked for a code"
else
	fail "a banned source is not even asked for a code"
fi
logged "the ban is logged" "ban $B for"

# --- recovery codes ---------------------------------------------------------
R=192.0.2.30
ok "a recovery code is accepted" "${REC[1]}" "$R" vg-totp "$U"
refused "the same recovery code again: refused" "${REC[1]}" "$R" vg-totp "$U"
ok "another recovery code, upper case without dashes" "$(echo "${REC[2]}" | tr -d - | tr a-z A-Z)" "$R" vg-totp "$U"
if admin totp status "$U" | grep -qE "^$U +8 "; then
	pass "status: 8 recovery codes left"
else
	fail "status: 8 recovery codes left" "$(admin totp status "$U" 2>&1)"
fi
logged "recovery use logged" "user '$U' from $R used a recovery code"

# --- no rhost: still verified, nothing recorded ---------------------------------
before=$(admin list 2>/dev/null | wc -l)
refused "console (no rhost): a wrong code is refused" "000000" "" vg-totp "$U"
ok "console (no rhost): a recovery code is accepted" "${REC[3]}" "" vg-totp "$U"
if [ "$(admin list 2>/dev/null | wc -l)" = "$before" ]; then
	pass "console attempts leave the table alone"
else
	fail "console attempts leave the table alone"
fi

# --- insecure file, no secret, nullok ---------------------------------------
chmod 0644 "$SECRETS/$U"
refused "a world-readable secret file is refused" "${REC[4]}" "192.0.2.40" vg-totp "$U"
logged "insecure file logged clearly" "$SECRETS/$U: insecure: mode 0644"
if admin totp status "$U" | grep -q 'insecure'; then pass "status flags the insecure file"; else fail "status flags the insecure file"; fi
chmod 0600 "$SECRETS/$U"
chown 65534 "$SECRETS/$U"
refused "a secret file owned by another user is refused" "${REC[4]}" "192.0.2.40" vg-totp "$U"
chown 0 "$SECRETS/$U"
ok "restored to 0600 root: accepted again" "${REC[4]}" "192.0.2.40" vg-totp "$U"
expect_field "refusals for an insecure file are not counted against the source" "192.0.2.40" failures 0

N=daemon
refused "no secret, no nullok: denied" "123456" "192.0.2.50" vg-totp "$N"
logged "no secret logged" "deny user '$N': no TOTP secret"
ok "no secret, nullok: allowed (PAM_IGNORE, the next line decides)" "" "192.0.2.50" vg-nullok "$N"
refused "nullok does not help an enrolled user with a wrong code" "000000" "192.0.2.51" vg-nullok "$U"
refused "a user name that cannot be a file name is denied" "123456" "192.0.2.52" vg-totp "../$U"

# An attempt that judged no code gives its preauth slot back at once:
# otherwise a user not yet enrolled (or a client that leaves at the
# prompt) would lock its own address out until inflight.timeout.
printf '%s\n' "auth requisite $MOD preauth conf=$CONF" \
	"auth requisite $MOD totp conf=$CONF" >"$T/pam.d/vg-pre-totp"
for i in $(seq $((MAXRETRY + 1))); do pt 123456 192.0.2.53 vg-pre-totp "$N"; done
expect_field "no secret, $((MAXRETRY + 1)) tries: no slot left held" "192.0.2.53" "in flight" 0
expect_field "no secret, $((MAXRETRY + 1)) tries: nothing counted" "192.0.2.53" failures 0
for i in $(seq $((MAXRETRY + 1))); do
	pamtester -I rhost=192.0.2.54 vg-pre-totp "$U" authenticate </dev/null >/dev/null 2>&1
done
expect_field "client left at the prompt $((MAXRETRY + 1)) times: no slot left held" "192.0.2.54" "in flight" 0
expect_field "client left at the prompt: nothing counted" "192.0.2.54" failures 0

# --- the shipped stacks -----------------------------------------------------
if [ -f sshd_snippets/pam.d-sshd.debian-totp ] && [ -f sshd_snippets/pam.d-sshd.debian-password-totp ]; then
	from_snippet pam.d-sshd.debian-totp vg-key-totp
	from_snippet pam.d-sshd.debian-password-totp vg-pw-totp
	if grep -q 'pam_unix\|pam_succeed_if' "$T/pam.d/vg-key-totp"; then
		fail "key+TOTP stack has no password module"
	else
		pass "key+TOTP stack has no password module"
	fi
	refused "key+TOTP stack: a wrong code refused" "000000" "192.0.2.60" vg-key-totp "$U"
	ok "key+TOTP stack: a recovery code logs in" "${REC[5]}" "192.0.2.60" vg-key-totp "$U"
	refused "key+TOTP stack: a user without a secret is refused" "123456" "192.0.2.60" vg-key-totp "$N"
	ok "password+TOTP stack: right password + recovery code" "${REC[6]}" "192.0.2.61" vg-pw-totp "$U"
	refused "password+TOTP stack: right password + wrong code" "000000" "192.0.2.61" vg-pw-totp "$U"
	# Wrong "password" (user daemon under the emulation): authfail ends
	# the stack before any code is asked.
	refused "password+TOTP stack: wrong password refused" "123456" "192.0.2.62" vg-pw-totp "$N"
	if grep -q 'Verification code' "$OUT"; then
		fail "password+TOTP stack: no code asked after a wrong password"
	else
		pass "password+TOTP stack: no code asked after a wrong password"
	fi
	expect_field "password+TOTP stack: the wrong password counted" "192.0.2.62" failures 1
else
	fail "shipped TOTP stacks exist in sshd_snippets/"
fi

# --- status, remove -------------------------------------------------------
if admin --json totp status | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [r["user"] for r in d] == ["nobody"], d
r = d[0]
assert r["enrolled"] and r["usable"] and r["recovery_codes_left"] == 4, r
assert r["last_used"] is not None
'; then pass "totp status --json"; else fail "totp status --json"; fi
check "totp remove $U" admin totp remove "$U"
if admin totp status "$U" | grep -q 'not enrolled'; then pass "status after remove: not enrolled"; else fail "status after remove: not enrolled"; fi
expect_rc "remove again: exit 1" 1 admin totp remove "$U"
refused "after remove the user is denied" "$(code_at "$S" $((NOW + 60)))" "192.0.2.70" vg-totp "$U"
admin totp enroll "$U" >"$T/enroll2.out" 2>&1
S2=$(secret_of "$T/enroll2.out")
if [ -n "$S2" ] && [ "$S2" != "$S" ]; then pass "enroll after remove: a new secret"; else fail "enroll after remove: a new secret"; fi
admin totp enroll --force "$U" >"$T/enroll3.out" 2>&1
S3=$(secret_of "$T/enroll3.out")
ok "re-enroll with --force: the new secret works" "$(code_at "$S3" "$(date +%s)")" "192.0.2.71" vg-totp "$U"
refused "re-enroll with --force: the old secret no longer works" "$(code_at "$S2" $(( $(date +%s) + 30 )))" "192.0.2.71" vg-totp "$U"

# --- a local user cannot stall TOTP logins ----------------------------------
# The secrets directory may be 0755 (only group/other write is refused);
# any user can then open it and hold flock(LOCK_EX) on it.  The module's
# lock is a root-only file inside it, so that stalls nothing.
OT=$TMPD
new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
PUB=$TMPD
TMPD=$OT
chmod 0755 "$PUB" && mkdir -m 0755 "$PUB/totp"
sed "s|^totp.secrets = .*|totp.secrets = $PUB/totp|" "$CONF" >"$T/pub.conf"
echo "auth requisite $MOD totp conf=$T/pub.conf" >"$T/pam.d/vg-totp-pub"
"$ADMIN" --conf "$T/pub.conf" totp enroll "$U" >"$T/pub.out" 2>&1
SP=$(secret_of "$T/pub.out")
if [ -n "$SP" ] && command -v setpriv >/dev/null; then
	setpriv --reuid=nobody --regid=nogroup --clear-groups flock -x "$PUB/totp" sleep 20 &
	HOLDER=$!
	track_pid "$HOLDER"
	sleep 0.3
	t0=$(date +%s%N)
	ok "the directory flocked by nobody: a right code is still accepted" "$(code_at "$SP" "$(date +%s)")" "192.0.2.72" vg-totp-pub "$U"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	check "... without waiting for nobody's lock ($ms ms)" test "$ms" -lt 5000
	check "... and nobody cannot open the lock file" \
		eval '! setpriv --reuid=nobody --regid=nogroup --clear-groups flock -n -x "$PUB/totp/.lock" true 2>/dev/null'
	check "... which is root's, 0600" test "$(stat -c '%U %a' "$PUB/totp/.lock")" = "root 600"
	stop_pid "$HOLDER"
	check "totp status does not list the lock file as a user" \
		eval '! "$ADMIN" --conf "$T/pub.conf" totp status | grep -q "\.lock"'

	# A lock that is not root's own file (only root can put one there:
	# the directory is not writable by others): TOTP logins fail closed,
	# nothing is followed or changed, and the log says which file.  The
	# same unused code is accepted once root removes it, so the refusals
	# were the lock's, not the code's.
	NEXT=$(( $(date +%s) + 30 ))
	echo keep >"$T/victim" && chmod 0644 "$T/victim"
	rm -f "$PUB/totp/.lock" && ln -s "$T/victim" "$PUB/totp/.lock"
	refused "the TOTP lock a symbolic link: refused, fails closed" "$(code_at "$SP" "$NEXT")" "192.0.2.73" vg-totp-pub "$U"
	check "... its target untouched" test "$(cat "$T/victim") $(stat -c '%a %U' "$T/victim")" = "keep 644 root"
	logged "... the log names the lock" "$PUB/totp/.lock"
	rm -f "$PUB/totp/.lock" && touch "$PUB/totp/.lock" && chown nobody "$PUB/totp/.lock"
	refused "the TOTP lock owned by nobody: refused" "$(code_at "$SP" "$NEXT")" "192.0.2.73" vg-totp-pub "$U"
	logged "... the log says it is not root-only" ".lock: not a root-only file"
	rm -f "$PUB/totp/.lock"
	ok "lock removed by root: the same code is accepted" "$(code_at "$SP" "$NEXT")" "192.0.2.73" vg-totp-pub "$U"
else
	skip "TOTP lock held by another user" "no secret from enroll, or no setpriv"
fi

summary

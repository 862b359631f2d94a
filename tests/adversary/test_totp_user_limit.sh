#!/bin/bash
# Issue 14, row 6: wrong TOTP codes for one user, spread over many
# sources.  SPEC (totp.maxfail): wrong codes for one user, from all
# sources together, within findtime; beyond it that user's codes (and
# recovery codes) are refused and logged until the window passes; the
# console (no rhost) is exempt.  Counted per source only, a /48 holder
# gets 65,536 x maxretry guesses at a 6-digit code.
#
# Attacker: holds the user's key (or password) but not the second factor;
# guesses codes from many /64s of one /48, each staying under maxretry.
# After totp.maxfail wrong codes, even the RIGHT code (oathtool, the
# independent oracle) from a fresh source must be refused: otherwise the
# guessing simply goes on.  The owner on the provider's console still
# gets in; another user's codes are not affected.
#
# Through real Linux-PAM (build/tests/adversary/vg_adversary answers the
# "Verification code: " prompt) and real liboath, with the shipped
# key + TOTP stack sshd_snippets/pam.d-sshd.debian-totp; secrets enrolled
# with `pam_vpsguard-admin totp enroll` into a private directory.
set -u
VG_SUITE=adversary-totp-user-limit
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh
. tests/adversary/adv_env.sh
need_cmd oathtool
adv_init

MAXRETRY=3
U=nobody	# the victim (enroll needs an existing user)
U2=daemon	# another enrolled user
for u in "$U" "$U2"; do
	getent passwd "$u" >/dev/null || { skip "$VG_SUITE" "no user $u"; exit 0; }
done
secret_of() { sed -n 's/.*otpauth:\/\/totp\/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' "$1" | head -n 1; }
code_at() { oathtool --totp -b -N "@$2" "$1"; }	# SECRET UNIXTIME

# run NAME MAXFAIL [CONFIG LINE]: one sandbox (table, secrets, stack), the
# attack with MAXFAIL wrong codes, the checks.  The line sets
# totp.maxfail; without it the SPEC's default (10) applies.
run() {
	local name=$1 maxfail=$2 secrets=$T/$1-secrets s s2 now c_prev c_now c_next c2
	local valid d w out fl control
	shift 2
	# Enrolment reads only what it needs (works whatever keys the
	# module knows).
	printf 'totp.secrets = %s\n' "$secrets" >"$T/$name-enroll.conf"
	adv_conf "$name" "maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" "ignoreip =" \
		"connlimit.rate = 0" "failmode = open" "totp.secrets = $secrets" \
		"totp.window = 2" "$@"
	adv_stack "$name" "$T/$name.conf" - "$ROOT/sshd_snippets/pam.d-sshd.debian-totp" ||
		{ fail "$name: stack from pam.d-sshd.debian-totp"; return; }
	"$ADMIN" --conf "$T/$name-enroll.conf" totp enroll "$U" >"$T/$name-e1.out" 2>&1
	s=$(secret_of "$T/$name-e1.out")
	"$ADMIN" --conf "$T/$name-enroll.conf" totp enroll "$U2" >"$T/$name-e2.out" 2>&1
	s2=$(secret_of "$T/$name-e2.out")
	if [ ${#s} -ne 32 ] || [ ${#s2} -ne 32 ]; then
		fail "$name: totp enroll" "$(tail -n 2 "$T/$name-e1.out" "$T/$name-e2.out" | tr '\n' '|')"
		return
	fi
	# Codes of three consecutive steps (totp.window = 2 accepts each of
	# them even if a 30 s boundary passes meanwhile), used in increasing
	# order (a code is refused once a later one was accepted: replay).
	now=$(date +%s)
	c_prev=$(code_at "$s" $((now - 30)))
	c_now=$(code_at "$s" "$now")
	c_next=$(code_at "$s" $((now + 30)))
	c2=$(code_at "$s2" "$now")
	# A well-formed wrong code: none of the user's codes within +-3 steps.
	valid=" "
	for d in -90 -60 -30 0 30 60 90; do valid="$valid$(code_at "$s" $((now + d))) "; done
	w=$(printf '%06d' $(( (10#$c_now + 500000) % 1000000 )))
	while [[ "$valid" == *" $w "* ]]; do w=$(printf '%06d' $(( (10#$w + 1) % 1000000 ))); done

	# Control first: the stack accepts the user's right code.
	out=$(adv try "$name" "$U" 192.0.2.70 "$c_prev" 1)
	control=$(kv "$out" ok)
	if [ "$control" = 1 ]; then
		pass "$name: control: $U's right code (oathtool) from 192.0.2.70 logs in"
	else
		fail "$name: control: $U's right code (oathtool) from 192.0.2.70 logs in" "$(line1 "$out")"
	fi

	# maxfail wrong codes for U, one from each of maxfail /64s of one /48.
	fl=$(adv flood "$name" "$U" '2001:db8:70:%x::1' 1 "$maxfail" 1 "$w")
	figure "$name: $maxfail /64s of 2001:db8:70::/48, one wrong code each for $U (maxretry $MAXRETRY per source):" \
		"$(kv "$fl" prompts) codes asked, $(kv "$fl" ok) accepted"
	if [ "$(kv "$fl" prompts)" != "$maxfail" ]; then
		fail "$name: setup: each of the $maxfail sources was asked for a code" "$(line1 "$fl")"
	fi

	# The right code from a fresh source: refused, U is over maxfail.
	out=$(VG_ADV_LOG=1 adv try "$name" "$U" 203.0.113.77 "$c_now" 1)
	figure "$name: after $maxfail wrong codes, $U's RIGHT code from fresh 203.0.113.77:" \
		"$(line1 "$(printf '%s\n' "$out" | grep -v '^LOG: ')")"
	printf '%s\n' "$out" | grep '^LOG: ' | sed 's/^/    /'
	if [ "$control" != 1 ]; then
		fail "$name: after totp.maxfail ($maxfail) wrong codes from many sources, $U's right code from a fresh source is refused" \
			"proves nothing: the control's right code was refused too"
	elif [ "$(kv "$out" ok)" = 0 ]; then
		pass "$name: after totp.maxfail ($maxfail) wrong codes from many sources, $U's right code from a fresh source is refused"
	else
		fail "$name: after totp.maxfail ($maxfail) wrong codes from many sources, $U's right code from a fresh source is refused" \
			"accepted: wrong codes are counted per source only"
	fi

	# The console is exempt.
	out=$(adv try "$name" "$U" - "$c_next" 1)
	if [ "$(kv "$out" ok)" = 1 ]; then
		pass "$name: the console (no rhost): $U's right code is still accepted"
	else
		fail "$name: the console (no rhost): $U's right code is still accepted" "$(line1 "$out")"
	fi

	# Per user: another user's right code from a fresh source still works.
	out=$(adv try "$name" "$U2" 203.0.113.78 "$c2" 1)
	if [ "$(kv "$out" ok)" = 1 ]; then
		pass "$name: another user ($U2): right code from a fresh source still accepted (the limit is per user)"
	else
		fail "$name: another user ($U2): right code from a fresh source still accepted" "$(line1 "$out")"
	fi
}

run default 10
run maxfail4 4 "totp.maxfail = 4"

summary

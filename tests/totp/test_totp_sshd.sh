#!/bin/bash
# Key + TOTP against a real sshd (issue 6), in a network + mount
# namespace (tests/e2e/sshd_env.sh): the shipped PAM stack
# sshd_snippets/pam.d-sshd.debian-totp and the shipped drop-in
# sshd_snippets/sshd_config.d-10-vpsguard-totp.conf (put first in the
# sandbox's sshd_config: sshd keeps the first value it reads).
#  - the key alone is not enough;
#  - key + the code from `oathtool --totp` logs in (sshpass answers the
#    "Verification code" prompt); the same code again is refused;
#  - key + a wrong code is refused and counted for the source;
#  - the password alone never gets in (the test user has one), neither
#    by the password method nor over keyboard-interactive.
set -u
VG_SUITE=totp-sshd
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

need_root
need_cmd ip unshare nsenter sshd ssh sshpass ssh-keygen openssl python3 setsid timeout oathtool
for f in build/pam_vpsguard.so build/pam_vpsguard-admin; do
	[ -f "$f" ] || { fail "$VG_SUITE" "$f not built (make all)"; exit 1; }
done
for f in pam.d-sshd.debian-totp sshd_config.d-10-vpsguard-totp.conf; do
	[ -f "sshd_snippets/$f" ] || { fail "$VG_SUITE" "sshd_snippets/$f missing"; exit 1; }
done
. tests/e2e/sshd_env.sh
new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
SECRETS=$TMPD/totp

# The shipped key+TOTP stack instead of the password one.
VE_SNIPPET=$VE_ROOT/sshd_snippets/pam.d-sshd.debian-totp
# The shipped drop-in ahead of the sandbox's own settings, just before
# sshd is started (first value wins, as with sshd_config.d/10-*).
eval "_ve_write_start_orig() $(declare -f _ve_write_start | tail -n +2)"
_ve_write_start() {
	{
		echo "# --- sshd_snippets/sshd_config.d-10-vpsguard-totp.conf"
		grep -Ev '^[[:space:]]*(#|$)' "$VE_ROOT/sshd_snippets/sshd_config.d-10-vpsguard-totp.conf"
		echo "# --- sandbox"
		cat "$VE_DIR/sshd_config"
	} >"$VE_DIR/sshd_config.new" && mv "$VE_DIR/sshd_config.new" "$VE_DIR/sshd_config"
	_ve_write_start_orig
}

if ! ve_setup "maxretry = 3" "findtime = 10m" "bantime = 1h" "ignoreip =" \
	"connlimit.rate = 0" "totp.secrets = $SECRETS"; then
	fail "sandbox sshd with the key+TOTP stack starts" "$VE_ERR"
	summary
	exit 1
fi
pass "sandbox sshd with the key+TOTP stack starts (netns $VE_NS)"
ve_find_admin

# Enrol the sandbox user with the real CLI, inside sshd's namespaces
# (the user exists only in the sandbox's /etc).
nsenter -t "$VE_SSHD_PID" -m -n "$VE_ADMIN" --conf "$VE_CONF" totp enroll "$VE_USER" >"$TMPD/enroll.out" 2>&1
S=$(sed -n 's/.*otpauth:\/\/totp\/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' "$TMPD/enroll.out" | head -n 1)
mapfile -t REC < <(grep -E '^  [a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$' "$TMPD/enroll.out" | tr -d ' ')
if [ ${#S} -eq 32 ] && [ ${#REC[@]} -eq 10 ]; then
	pass "totp enroll $VE_USER (inside the sandbox)"
else
	fail "totp enroll $VE_USER (inside the sandbox)" "$(_vg_tail "$(cat "$TMPD/enroll.out")")"
	summary
	exit 1
fi

if nsenter -t "$VE_SSHD_PID" -m -n timeout 10 /usr/sbin/sshd -T -f "$VE_DIR/sshd_config" -C "user=$VE_USER,host=x,addr=127.0.0.2" 2>&1 |
	grep -qx 'authenticationmethods publickey,keyboard-interactive'; then
	pass "sshd -T: AuthenticationMethods publickey,keyboard-interactive"
else
	fail "sshd -T: AuthenticationMethods publickey,keyboard-interactive"
fi

# key_code SRC CODE: key, then CODE at the "Verification code" prompt.
# sshpass's rc: 0 logged in, 5 the code was refused (asked again).
key_code() {
	ve_run timeout -k 2 30 sshpass -P "Verification code" -p "$2" ssh "${VE_SSH_OPTS[@]}" \
		-o PreferredAuthentications=publickey,keyboard-interactive \
		-o IdentitiesOnly=yes -o NumberOfPasswordPrompts=1 -i "$VE_KEY" \
		-b "$1" -p "$VE_PORT" "$VE_USER@127.0.0.1" true </dev/null
}
accepted() { grep -c "Accepted .* for $VE_USER from $1 " "$VE_SSHD_LOG" 2>/dev/null; }
refused() {	# NAME SRC CODE: no login (ssh gives up after the one prompt)
	local rc=0
	key_code "$2" "$3" >/dev/null 2>&1 || rc=$?
	if [ $rc -ne 0 ] && [ "$(accepted "$2")" = 0 ]; then
		pass "$1"
	else
		fail "$1" "rc $rc, accepted $(accepted "$2")"
	fi
}

rc=0; ve_ssh_key 127.0.0.2 >/dev/null 2>&1 || rc=$?
if [ $rc -ne 0 ] && grep -q "Partial publickey for $VE_USER from 127.0.0.2" "$VE_SSHD_LOG"; then
	pass "the key alone is not enough (partial success, no login)"
else
	fail "the key alone is not enough (partial success, no login)" "ssh rc $rc"
fi

C0=$(oathtool --totp -b "$S")
expect_rc "key + oathtool's code logs in" 0 key_code 127.0.0.3 "$C0"
if grep -q "Accepted keyboard-interactive/pam for $VE_USER from 127.0.0.3" "$VE_SSHD_LOG"; then
	pass "sshd: Accepted keyboard-interactive/pam after the key"
else
	fail "sshd: Accepted keyboard-interactive/pam after the key"
fi
refused "key + the same code again: refused (replay)" 127.0.0.4 "$C0"
refused "key + a wrong code: refused" 127.0.0.5 "000000"
if [ "$(ve_admin show 127.0.0.5 2>/dev/null | sed -n 's/^failures: *\([0-9]*\).*/\1/p')" = 1 ]; then
	pass "the wrong code is counted for the source"
else
	fail "the wrong code is counted for the source" "$(ve_admin show 127.0.0.5 2>&1 | tr '\n' '|')"
fi
expect_rc "key + a recovery code logs in" 0 key_code 127.0.0.6 "${REC[0]}"
if ve_syslog_ok; then
	if ve_syslog_has "totp: wrong code for user '$VE_USER' from 127.0.0.5"; then
		pass "syslog names the wrong code's user and source"
	else
		fail "syslog names the wrong code's user and source"
	fi
else
	skip "syslog names the wrong code's user and source" "no syslog capture"
fi

# The password alone: by the password method, and over
# keyboard-interactive (answering any prompt with the password).
rc=0
ve_run timeout -k 2 30 sshpass -p "$VE_PASS" ssh "${VE_SSH_OPTS[@]}" \
	-o PreferredAuthentications=password -o PubkeyAuthentication=no \
	-o NumberOfPasswordPrompts=1 -b 127.0.0.7 -p "$VE_PORT" "$VE_USER@127.0.0.1" true </dev/null >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] && [ "$(accepted 127.0.0.7)" = 0 ] &&
	pass "the password alone never gets in (password method)" ||
	fail "the password alone never gets in (password method)" "rc $rc"
rc=0
ve_run timeout -k 2 30 sshpass -P "" -p "$VE_PASS" ssh "${VE_SSH_OPTS[@]}" \
	-o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
	-o NumberOfPasswordPrompts=1 -b 127.0.0.8 -p "$VE_PORT" "$VE_USER@127.0.0.1" true </dev/null >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] && [ "$(accepted 127.0.0.8)" = 0 ] &&
	pass "the password alone never gets in (keyboard-interactive)" ||
	fail "the password alone never gets in (keyboard-interactive)" "rc $rc"
# Even after the key: the password typed at the code prompt is refused.
refused "key + the password at the code prompt: refused" 127.0.0.9 "$VE_PASS"

summary

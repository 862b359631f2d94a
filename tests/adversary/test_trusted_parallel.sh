#!/bin/bash
# Issue 14, row 3: trust must not raise the password budget.  SPEC
# (trust; "Every evaluated password counts once"): at most maxretry
# passwords per source within findtime however many connections it opens
# at once; trusted sources take in-flight slots like everyone else.
#
# Attacker: a source that logged in once (trusted: a shared NAT, a
# compromised low-value account, or the attacker's own account on the
# box), then N parallel connections of wrong passwords.  Each one is a
# separate process holding its PAM handle at the password prompt (its
# conversation blocks) until every one of them has passed preauth or been
# refused, so no failure completes while the others pass preauth: the
# race sshd's parallel connections run, made deterministic.
#
# Through real Linux-PAM and the REAL pam_unix (two test users in a
# private overlay of /etc), the SPEC's Debian stack, driven by
# build/tests/adversary/vg_adversary parallel.  "Evaluated" = processes that
# reached pam_unix's password prompt (each is then answered and checked).
set -u
VG_SUITE=adversary-trusted-parallel
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh
. tests/adversary/adv_env.sh
need_root
need_cmd unshare mount openssl
reexec_private_mountns "$@"
adv_init
adv_users >"$T/users.log" 2>&1 || { fail "$VG_SUITE" "test users: $(cat "$T/users.log")"; summary; exit 1; }

MAXRETRY=5
N=16
adv_conf par "maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" "ignoreip =" \
	"connlimit.rate = 0" "failmode = closed" "inflight.timeout = 2m"
adv_stack par "$T/par.conf" - || { fail "$VG_SUITE" "stack"; exit 1; }

TRUSTED=192.0.2.33
out=$(adv try par "$ADV_USER_B" "$TRUSTED" "$ADV_PASS_B" 1)
tr=$(adv_show par "$TRUSTED" trusted)
if [ "$(kv "$out" ok)" = 1 ] && [ "$tr" = true ]; then
	pass "$TRUSTED logs in once as B with the right password: trusted"
else
	fail "$TRUSTED logs in once as B with the right password: trusted" "$(line1 "$out"), trusted '$tr'"
	summary
	exit 1
fi

out=$(adv parallel par "$ADV_USER_A" "$TRUSTED" "$N" wrong-pw)
p=$(kv "$out" prompted)
figure "trusted $TRUSTED: $N parallel connections, wrong passwords for A: $p evaluated" \
	"(failures now $(adv_show par "$TRUSTED" failures), banned $(adv_show par "$TRUSTED" banned))"
if [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -le "$MAXRETRY" ]; then
	pass "trusted source, $N parallel connections: at most maxretry ($MAXRETRY) passwords evaluated ($p)"
else
	fail "trusted source, $N parallel connections: at most maxretry ($MAXRETRY) passwords evaluated" "${p:-?} evaluated ($(line1 "$out")): trusted sources take no in-flight slot"
fi

# Control: the same race from an untrusted source (what the product
# already guaranteed), so the harness's race is known to be counted.
out=$(adv parallel par "$ADV_USER_A" 192.0.2.34 "$N" wrong-pw)
p=$(kv "$out" prompted)
figure "untrusted 192.0.2.34: $N parallel connections: $p evaluated"
if [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -le "$MAXRETRY" ] && [ "$p" -ge 1 ]; then
	pass "control: untrusted source, $N parallel connections: 1..$MAXRETRY passwords evaluated ($p)"
else
	fail "control: untrusted source, $N parallel connections: 1..$MAXRETRY passwords evaluated" "${p:-?}"
fi

summary

#!/bin/bash
# Issue 14, row 4: a neighbour behind the admin's NAT (same IPv4 address,
# or another address in the same IPv6 /64) must not lock the admin out.
# SPEC (trust, account phase): a source that logged in successfully
# within `trust` keeps passing the account phase while banned, so its
# public-key logins still work; passwords stay refused (trust never
# raises the password budget); a banned source that is not trusted gets
# PAM_PERM_DENIED as before.
#
# Attacker: the neighbour types wrong passwords from the shared address
# until it is banned, hoping to lock the admin out for the whole ban.
#
# A real sshd (OpenSSH, UsePAM yes) in its own network and mount
# namespace with the SPEC's Debian stack and the real pam_unix
# (tests/e2e/sshd_env.sh), real ssh clients with a key and with
# passwords.  The host's sshd, /etc and ruleset are never touched.
set -u
VG_SUITE=adversary-nat-neighbour
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

need_root
need_cmd ip unshare sshd ssh sshpass ssh-keygen openssl python3 setsid timeout
if [ ! -f build/pam_vpsguard.so ] || [ ! -x build/pam_vpsguard-admin ]; then
	fail "$VG_SUITE" "build/pam_vpsguard.so or build/pam_vpsguard-admin not built (make all)"
	summary
	exit 1
fi
. tests/e2e/sshd_env.sh
. tests/adversary/adv_env.sh
ve_find_admin

MAXRETRY=3
if ! ve_setup "maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" \
	"ignoreip =" "connlimit.rate = 0" "trust = 7d"; then
	fail "sandbox sshd starts" "$VE_ERR"
	summary
	exit 1
fi
pass "sandbox sshd starts (netns $VE_NS, real pam_unix, failmode closed)"

show() { ve_admin show "$1" --json 2>/dev/null | _json_key "$2"; }
# Passwords evaluated (the count hook before pam_unix) from A and B.
evaluated() { if [ "$1" = "$2" ]; then ve_count "$1"; else ve_count "$1" "$2"; fi; }

# admin_in ADMIN_SRC LABEL: the admin logs in with the key (trust stamped).
admin_in() {
	expect_rc "$2: the admin logs in with the key from $1" 0 ve_ssh_key "$1"
	if [ "$(show "$1" trusted)" != true ]; then
		fail "$2: the admin's key login stamps trust" "show $1: trusted '$(show "$1" trusted)'"
	fi
}

# after_ban ADMIN_SRC NEIGHBOUR_SRC LABEL: the neighbour has typed
# MAXRETRY + 1 wrong passwords from NEIGHBOUR_SRC; the admin comes back.
after_ban() {
	local a=$1 n=$2 l=$3 rc c before out
	c=$(evaluated "$n" "$a")
	figure "$l: neighbour $n typed $((MAXRETRY + 1)) wrong passwords at once: $c evaluated;" \
		"shared source banned $(show "$n" banned), ban #$(show "$n" ban_count), trusted $(show "$n" trusted)"
	if [ "$(show "$n" banned)" != true ]; then
		fail "$l: the neighbour's wrong passwords ban the shared source (setup)" "show $n: banned '$(show "$n" banned)'"
		return
	fi
	if [ "$c" -le "$MAXRETRY" ]; then
		pass "$l: the neighbour got at most maxretry ($MAXRETRY) passwords evaluated from the trusted source ($c)"
	else
		fail "$l: the neighbour got at most maxretry ($MAXRETRY) passwords evaluated from the trusted source" "$c evaluated: trust raised the budget"
	fi
	before=$c
	out=$(ve_ssh_key "$a" 2>&1)
	rc=$?
	figure "$l: the admin's key login from $a while the source is banned: ssh rc $rc"
	if [ $rc -eq 0 ]; then
		pass "$l: the admin's KEY login from $a still succeeds while the neighbour's ban runs"
	else
		fail "$l: the admin's KEY login from $a still succeeds while the neighbour's ban runs" \
			"ssh rc $rc $(_vg_tail "$out") (the account phase refused a trusted source)"
	fi
	out=$(ve_ssh_pw "$a" "$VE_PASS" 2>&1)
	rc=$?
	c=$(evaluated "$n" "$a")
	figure "$l: the admin's right password from $a while banned: ssh rc $rc, evaluated $before -> $c"
	if [ $rc -ne 0 ] && [ "$c" -eq "$before" ]; then
		pass "$l: a password login from $a stays refused, unevaluated (trust raises no budget)"
	else
		fail "$l: a password login from $a stays refused, unevaluated" "rc $rc, evaluated $before -> $c"
	fi
}

# After a reboot /run is empty: the admin's key login may be the first
# event the new table sees, and must stamp trust all the same (SPEC:
# passing the account phase stamps trust).
A4=127.0.0.44 A6=2001:db8:44::10 N6=2001:db8:44::11 S=127.0.0.45
expect_rc "fresh table: the admin logs in with the key from $A4" 0 ve_ssh_key "$A4"
tr=$(show "$A4" trusted)
figure "fresh table: after the admin's key login as the first event: trusted $tr"
if [ "$tr" = true ]; then
	pass "fresh table: the admin's key login as the table's first event stamps trust"
else
	fail "fresh table: the admin's key login as the table's first event stamps trust" "show $A4: trusted '$tr' (no table yet: the account phase recorded nothing)"
fi
# An internet-facing sshd sees logins and failures within seconds: the
# table exists from here on, whatever the case above found.
ve_ssh_pw 127.0.0.98 "$VE_PASS" >/dev/null 2>&1

admin_in "$A4" "IPv4 NAT"
V6=0
if [ "$VE_HAVE_V6" = 1 ]; then
	V6=1
	ve_add_addr "$A6"
	ve_add_addr "$N6"
	admin_in "$A6" "IPv6 /64"
fi
# The neighbours, and the control source, all at once (pam_unix's failure
# delay then runs once, not once per password): MAXRETRY + 1 connections
# of one wrong password each.
if [ $V6 = 1 ]; then
	ve_attack $((MAXRETRY + 1)) 1 "$A4" "$N6" "$S"
else
	ve_attack $((MAXRETRY + 1)) 1 "$A4" "$S"
fi

after_ban "$A4" "$A4" "IPv4 NAT"

# Control: a banned source nobody logged in from is still refused a key.
out=$(ve_ssh_key "$S" 2>&1)
rc=$?
if [ "$(show "$S" banned)" = true ] && [ $rc -ne 0 ] &&
   grep -q "Access denied for user $VE_USER by PAM account configuration" "$VE_SSHD_LOG"; then
	pass "control: a banned, untrusted source ($S) is refused the key (PAM account phase)"
else
	fail "control: a banned, untrusted source ($S) is refused the key" "banned '$(show "$S" banned)', ssh rc $rc"
fi

if [ $V6 = 1 ]; then
	after_ban "$A6" "$N6" "IPv6 /64"
else
	skip "IPv6 /64 NAT neighbour" "no IPv6 in this kernel"
fi

summary

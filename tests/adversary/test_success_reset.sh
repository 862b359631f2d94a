#!/bin/bash
# Issue 14, row 2: a login as one user must never buy more guesses at
# another.  SPEC (authsucc, account phase): no success clears a source's
# failures (they expire with findtime); authsucc releases the slot and
# stamps trust; passing the account phase stamps trust and clears
# nothing; trust never raises the password budget.
#
# Attacker: one source, cycles of (maxretry - 1) wrong passwords for user
# A and then one successful login as user B, which the attacker owns (any
# account: a shell user on the box, or a key login).  Over CYCLES cycles
# at most maxretry of A's passwords may be evaluated.
#
# Through real Linux-PAM and the REAL pam_unix (SHA-512 hashes of two
# test users in a private overlay of /etc; the host's /etc is never
# written), the SPEC's Debian stack, driven by tests/adversary/
# vg_adversary.  "Evaluated" = the password prompts pam_unix made.
set -u
VG_SUITE=adversary-success-reset
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
CYCLES=4
adv_conf reset "maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" "ignoreip =" \
	"connlimit.rate = 0" "failmode = closed"
adv_stack reset "$T/reset.conf" - || { fail "$VG_SUITE" "stack"; exit 1; }

# Sanity: the stack and the users work (B logs in, A's right password too).
out=$(adv try reset "$ADV_USER_B" 192.0.2.200 "$ADV_PASS_B" 1)
if [ "$(kv "$out" ok)" = 1 ] && [ "$(kv "$out" prompts)" = 1 ]; then
	pass "real pam_unix: user B logs in with the right password (1 password evaluated)"
else
	fail "real pam_unix: user B logs in with the right password" "$out"
	summary
	exit 1
fi

# cycles SRC MODE: CYCLES x ((maxretry-1) wrong for A, then B logs in);
# MODE pw = B's password login, key = B's public-key login (sshd runs
# only the account phase for it).  Prints the figures; A's evaluated
# passwords in $EVAL_A.
cycles() {
	local src=$1 mode=$2 c out p okb
	EVAL_A=0
	for ((c = 1; c <= CYCLES; c++)); do
		out=$(adv try reset "$ADV_USER_A" "$src" wrong-$c $((MAXRETRY - 1)))
		p=$(kv "$out" prompts)
		EVAL_A=$((EVAL_A + ${p:-0}))
		if [ "$mode" = pw ]; then
			okb=$(kv "$(adv try reset "$ADV_USER_B" "$src" "$ADV_PASS_B" 1)" ok)
		else
			okb=$(kv "$(adv acct reset "$ADV_USER_B" "$src")" ok)
		fi
		figure "$src cycle $c: $p of $((MAXRETRY - 1)) wrong passwords for A evaluated," \
			"then B's $mode login: $([ "$okb" = 1 ] && echo ok || echo refused);" \
			"failures now $(adv_show reset "$src" failures), ban #$(adv_show reset "$src" ban_count)"
	done
}

cycles 192.0.2.22 pw
figure "192.0.2.22: $EVAL_A of $((CYCLES * (MAXRETRY - 1))) wrong passwords for A evaluated in total"
if [ "$EVAL_A" -le "$MAXRETRY" ]; then
	pass "$CYCLES cycles of $((MAXRETRY - 1)) wrong for A + B's password login: at most maxretry ($MAXRETRY) of A's passwords evaluated ($EVAL_A)"
else
	fail "$CYCLES cycles of $((MAXRETRY - 1)) wrong for A + B's password login: at most maxretry ($MAXRETRY) of A's passwords evaluated" "$EVAL_A evaluated: B's success cleared the source's failures"
fi

cycles 192.0.2.23 key
figure "192.0.2.23: $EVAL_A of $((CYCLES * (MAXRETRY - 1))) wrong passwords for A evaluated in total"
if [ "$EVAL_A" -le "$MAXRETRY" ]; then
	pass "$CYCLES cycles of $((MAXRETRY - 1)) wrong for A + B's key login (account phase): at most maxretry ($MAXRETRY) of A's passwords evaluated ($EVAL_A)"
else
	fail "$CYCLES cycles of $((MAXRETRY - 1)) wrong for A + B's key login (account phase): at most maxretry ($MAXRETRY) of A's passwords evaluated" "$EVAL_A evaluated: the account phase cleared the source's failures"
fi

# The right password for A afterwards: the source is banned, so it is not
# even evaluated (the budget is spent whatever B did).
out=$(adv try reset "$ADV_USER_A" 192.0.2.22 "$ADV_PASS_A" 1)
if [ "$(kv "$out" prompts)" = 0 ] && [ "$(kv "$out" ok)" = 0 ]; then
	pass "afterwards A's right password from 192.0.2.22 is refused unevaluated (source banned)"
else
	fail "afterwards A's right password from 192.0.2.22 is refused unevaluated (source banned)" "$(line1 "$out")"
fi

summary

#!/bin/bash
# Issue 14, row 5: a flood of one-failure strangers must not evict trust
# stamps or ban history.  SPEC ("The shared table"): trusted entries,
# active bans and ban history are kept in preference to one-failure
# strangers: a flood of new sources evicts none of them.  Otherwise the
# admin loses trust (its key logins stop passing while banned, the helper
# may drop it) and a repeat offender never escalates (bantime.increment).
#
# Attacker: first gets banned once (R) and waits the short ban out, then
# floods the table with many more one-failure sources (each its own IPv6
# /48) than it has entries, then comes back from R expecting a first-ban
# length again.  Meanwhile the admin (T) logged in before the flood.
#
# Through real Linux-PAM (build/tests/adversary/vg_adversary, pam_start_confdir)
# with the SPEC's Debian stack; the password check is the test-only
# stand-in pam_vgpass.so at pam_unix's place (the flood is thousands of
# attempts; the real pam_unix runs in test_success_reset.sh and
# test_trusted_parallel.sh, a real sshd in test_nat_neighbour.sh).
set -u
VG_SUITE=adversary-stranger-flood
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh
. tests/adversary/adv_env.sh
adv_init

SIZE=256
MAXRETRY=3
BANTIME=3		# seconds: R's first ban runs out during the test (long
		# enough to be seen banned on a loaded host)
FACTOR=8		# R's second ban: BANTIME x FACTOR = 24 s
STRANGERS=$((SIZE * 8))
PW=right-$RANDOM
TRUSTED=192.0.2.55
REPEAT=192.0.2.66
adv_conf sf "maxretry = $MAXRETRY" "findtime = 10m" "bantime = ${BANTIME}s" \
	"bantime.increment = yes" "bantime.factor = $FACTOR" "bantime.maxtime = 5w" \
	"history = 1w" "trust = 7d" "ignoreip =" "invalid_user.weight = 1" \
	"table.size = $SIZE" "connlimit.rate = 0" "failmode = open"
adv_stack sf "$T/sf.conf" "$PW" || { fail "$VG_SUITE" "stack"; exit 1; }

out=$(adv try sf root "$TRUSTED" "$PW" 1)
if [ "$(kv "$out" ok)" = 1 ] && [ "$(adv_show sf "$TRUSTED" trusted)" = true ]; then
	pass "setup: the admin $TRUSTED logs in: trusted"
else
	fail "setup: the admin $TRUSTED logs in: trusted" "$(line1 "$out")"
fi
adv try sf root "$REPEAT" wrong-pw "$MAXRETRY" >/dev/null
if [ "$(adv_show sf "$REPEAT" ban_count)" = 1 ] && [ "$(adv_show sf "$REPEAT" banned)" = true ]; then
	pass "setup: $REPEAT banned once (ban #1, ${BANTIME}s)"
else
	fail "setup: $REPEAT banned once" "ban_count '$(adv_show sf "$REPEAT" ban_count)', banned '$(adv_show sf "$REPEAT" banned)'"
fi
r_banned() { [ "$(adv_show sf "$REPEAT" banned)" = false ]; }
if wait_for 10 r_banned; then
	pass "setup: $REPEAT's first ban ran out (history kept: ban #$(adv_show sf "$REPEAT" ban_count))"
else
	fail "setup: $REPEAT's first ban ran out" "banned '$(adv_show sf "$REPEAT" banned)'"
fi

# The flood: one wrong password from each of STRANGERS new /48s.
FL=$(adv flood sf root '2001:db8:%x::1' 8192 "$STRANGERS" 1 wrong-pw)
echo "$FL" | sed 's/^/  /'
figure "flood: $STRANGERS one-failure strangers into table.size $SIZE:" \
	"table_used $(adv_stat sf table_used)/$SIZE, evictions_total $(adv_stat sf evictions_total)," \
	"fill_at_overflow $(adv_stat sf fill_at_overflow), overflow_total $(adv_stat sf overflow_total)"

tr=$(adv_show sf "$TRUSTED" trusted)
rec=$(adv_show sf "$TRUSTED" record)
figure "after the flood: admin $TRUSTED record $rec, trusted $tr"
if [ "$tr" = true ]; then
	pass "the admin's trust stamp survived $STRANGERS strangers"
else
	fail "the admin's trust stamp survived $STRANGERS strangers" "show $TRUSTED: record '$rec', trusted '$tr' (evicted by strangers)"
fi
bc=$(adv_show sf "$REPEAT" ban_count)
figure "after the flood: repeat offender $REPEAT record $(adv_show sf "$REPEAT" record), ban #$bc"
if [ "$bc" = 1 ]; then
	pass "$REPEAT's ban history survived $STRANGERS strangers (ban #1 remembered)"
else
	fail "$REPEAT's ban history survived $STRANGERS strangers" "show $REPEAT: ban_count '$bc' (evicted by strangers)"
fi

# R comes back: its next ban must be the escalated second one.
adv try sf root "$REPEAT" wrong-pw "$MAXRETRY" >/dev/null
bc=$(adv_show sf "$REPEAT" ban_count)
left=$(adv_show sf "$REPEAT" ban_remaining)
figure "$REPEAT comes back, $MAXRETRY wrong passwords: ban #$bc, ${left}s left (ban #1 was ${BANTIME}s, #2 is $((BANTIME * FACTOR))s)"
if [ "$bc" = 2 ] && [[ "$left" =~ ^[0-9]+$ ]] && [ "$left" -gt "$BANTIME" ]; then
	pass "the repeat offender's next ban is escalated (ban #2, ${left}s)"
else
	fail "the repeat offender's next ban is escalated" "ban #$bc, ban_remaining '$left': not the escalated second ban"
fi
# The admin is still known for what trust does (kernel drops, escalation,
# key logins while banned): its key login passes the account phase.
out=$(adv acct sf root "$TRUSTED")
if [ "$(kv "$out" ok)" = 1 ]; then
	pass "the admin's key login (account phase) passes after the flood"
else
	fail "the admin's key login (account phase) passes after the flood" "$(line1 "$out")"
fi

summary

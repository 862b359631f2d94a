#!/bin/bash
# Issue 14, point 7: in-flight slots expire each on its own clock.  SPEC:
# preauth reserves an evaluation slot, authfail turns it into a failure,
# a slot whose process died expires after inflight.timeout, "each slot on
# its own clock: an attacker who holds prompts open never gets slots back
# early"; and at most maxretry passwords per source within findtime.
#
# The old code keeps one expiry per source, pushed back by every new
# reservation, so no slot ends early by the clock itself (a test of that
# alone could not fail there); what it gets wrong is which slot a late
# failure gives back: authfail decrements the source's count, i.e. frees
# someone else's live slot when its own has already expired.
#
# Attacker: connection 1 passes preauth and holds its
# password prompt past inflight.timeout, so its slot expires.  Then
# maxretry - 1 connections take the slots that are left and hold their
# prompts.  Connection 1 now answers (wrong): its failure must not hand
# back one of the LIVE slots of the others, whose clocks have barely
# started.  Budget: connection 1 + the maxretry - 1 held ones = maxretry
# passwords; any extra connection while they hold is one too many.
#
# Through real Linux-PAM (build/tests/adversary/vg_adversary hold: separate
# processes blocked in the conversation), the SPEC's Debian stack, the
# test-only stand-in pam_vgpass.so at pam_unix's place.  inflight.timeout
# is 3 s: connection 1 holds 4.3 s (its slot is void by then, in whole
# seconds), the others' slots have >= 2 s left while the extras try
# (milliseconds).
set -u
VG_SUITE=adversary-inflight-clock
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh
. tests/adversary/adv_env.sh
adv_init

MAXRETRY=5
EXTRA=4
adv_conf ic "maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" "ignoreip =" \
	"invalid_user.weight = 1" "connlimit.rate = 0" "inflight.timeout = 3s"
adv_stack ic "$T/ic.conf" right-$RANDOM || { fail "$VG_SUITE" "stack"; exit 1; }

out=$(adv hold ic root 192.0.2.88 4300 $((MAXRETRY - 1)) "$EXTRA" wrong-pw)
first=$(kv "$out" first) second=$(kv "$out" second) extra=$(kv "$out" extra) ev=$(kv "$out" evaluated)
figure "connection 1 held its prompt past inflight.timeout: prompted $first;" \
	"then $((MAXRETRY - 1)) held: $second prompted; connection 1 failed;" \
	"then $EXTRA more while they held: $extra prompted; evaluated in all: $ev (maxretry $MAXRETRY)"
if [ "$first" != 1 ] || [ "$second" != $((MAXRETRY - 1)) ]; then
	fail "setup: connection 1 and $((MAXRETRY - 1)) more reach the prompt" "$(line1 "$out")"
elif [ "$ev" -le "$MAXRETRY" ]; then
	pass "a late answer on an expired slot frees no live slot: $ev passwords evaluated (maxretry $MAXRETRY)"
else
	fail "a late answer on an expired slot frees no live slot: at most maxretry ($MAXRETRY) evaluated" \
		"$ev evaluated: connection 1's failure handed back a live slot of another connection"
fi

# A slot is never freed early: the table counts whole seconds, so a slot
# taken at x.93 s used to expire at x + 3 s, 2.07 s later, with a 3 s
# inflight.timeout.  Connection 1 takes its slot late in a second of the
# table's clock (CLOCK_BOOTTIME) and holds its prompt 2.2 s, less than
# the timeout; then maxretry more try: maxretry - 1 may get a slot.
adv_conf ie "maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" "ignoreip =" \
	"invalid_user.weight = 1" "connlimit.rate = 0" "inflight.timeout = 3s"
adv_stack ie "$T/ie.conf" right-$RANDOM || { fail "$VG_SUITE" "stack"; exit 1; }
python3 -c 'import time; t = time.clock_gettime(time.CLOCK_BOOTTIME); time.sleep((0.90 - (t - int(t))) % 1)'
out=$(adv hold ie root 192.0.2.89 2200 "$MAXRETRY" 1 wrong-pw)
first=$(kv "$out" first) second=$(kv "$out" second) ev=$(kv "$out" evaluated)
figure "connection 1 took its slot at ~0.9 s into a second and held 2.2 s (inflight.timeout 3s):" \
	"then $MAXRETRY tried: $second prompted; evaluated in all: $ev (maxretry $MAXRETRY)"
if [ "$first" != 1 ]; then
	fail "setup: connection 1 reaches the prompt" "$(line1 "$out")"
elif [ "$second" = $((MAXRETRY - 1)) ] && [ "$ev" -le "$MAXRETRY" ]; then
	pass "a slot held for less than inflight.timeout is never freed early: $second more prompted, $ev evaluated"
else
	fail "a slot held for less than inflight.timeout is never freed early" \
		"$second more prompted, $ev evaluated (maxretry $MAXRETRY): the whole-second clock freed it early"
fi

summary

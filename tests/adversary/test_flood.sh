#!/bin/bash
# Issue 14, row 1: flood the table with banned sources, more than it has
# entries, then come in as a new source.  SPEC ("The shared table"): no
# source ever gets more than maxretry evaluated passwords; a source the
# table cannot hold individually is counted in an aggregate (its /48,
# then one overflow bucket) that is limited and banned like a source; a
# full table is never "unusable" (neither failmode applies to it); the
# table holds >= 90% of table.size individually before any aggregate is
# used; trusted entries and bans are kept; aggregate.v6 banned /64s in
# one /48 ban the /48 as one entry and free their entries.
#
# Attacker: each flood source is its own IPv6 /48 (free to any /48
# holder), driven to a ban with maxretry wrong passwords.  Through real
# Linux-PAM (build/tests/adversary/vg_adversary, pam_start_confdir) with the
# SPEC's Debian stack; the password check is the test-only stand-in
# pam_vgpass.so at pam_unix's place (thousands of yescrypt hashes would
# be too slow here; tests/adversary/test_success_reset.sh and
# test_trusted_parallel.sh run the real pam_unix, test_nat_neighbour.sh
# a real sshd).  "Evaluated" = the password prompts the stand-in made.
set -u
VG_SUITE=adversary-flood
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh
. tests/adversary/adv_env.sh
adv_init

SIZE=256
MAXRETRY=2
FLOOD=$((SIZE * 4))	# distinct /48s, each banned
TRIES=12
AGG6=8
PW=right-$RANDOM
TRUSTED=192.0.2.10	# the admin: logged in before the flood
NEW=2001:db8:ffff::1	# a new source after the flood (its own /48)
base=("maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" "ignoreip ="
      "invalid_user.weight = 1" "table.size = $SIZE" "connlimit.rate = 0")

# flood_run NAME: T logs in, FLOOD /48s are banned, figures printed.
# Leaves $FL (the flood's driver output) and $FILL.
flood_run() {
	local name=$1 out
	out=$(adv try "$name" root "$TRUSTED" "$PW" 1)
	if [ "$(kv "$out" ok)" != 1 ]; then
		fail "$name: the admin logs in before the flood (setup)" "$out"
		return 1
	fi
	FL=$(adv flood "$name" root '2001:db8:%x::1' 4096 "$FLOOD" "$MAXRETRY" wrong-pw)
	echo "$FL" | sed 's/^/  /'
	FILL=$(adv_stat "$name" fill_at_overflow)
	figure "$name: $FLOOD /48 sources x $MAXRETRY wrong passwords into table.size $SIZE:" \
		"passwords evaluated $(kv "$FL" prompts) of $(kv "$FL" attempts)," \
		"most for one source $(kv "$FL" max_per_source)"
	figure "$name: table_used $(adv_stat "$name" table_used)/$(adv_stat "$name" table_size)," \
		"fill_at_overflow $FILL, overflow_total $(adv_stat "$name" overflow_total)," \
		"evictions_total $(adv_stat "$name" evictions_total), sources_banned $(adv_stat "$name" sources_banned)"
}

# --- failmode = open ----------------------------------------------------------
adv_conf open "${base[@]}" "failmode = open"
adv_stack open "$T/open.conf" "$PW" || { fail "$VG_SUITE" "stack"; exit 1; }
if flood_run open; then
	m=$(kv "$FL" max_per_source)
	if [ -n "$m" ] && [ "$m" -le "$MAXRETRY" ]; then
		pass "open: no flood source got more than maxretry ($MAXRETRY) passwords evaluated (most: $m)"
	else
		fail "open: no flood source got more than maxretry ($MAXRETRY) passwords evaluated" "most: ${m:-?}"
	fi
	out=$(adv try open root "$NEW" wrong-pw "$TRIES")
	p=$(kv "$out" prompts)
	figure "open: new source $NEW after the flood: $p of $TRIES wrong passwords evaluated"
	if [ -n "$p" ] && [ "$p" -le "$MAXRETRY" ]; then
		pass "open: a new source after the flood gets at most maxretry passwords evaluated ($p of $TRIES)"
	else
		fail "open: a new source after the flood gets at most maxretry passwords evaluated" "$p of $TRIES evaluated (full table failed open)"
	fi
	# SPEC: >= 90% of table.size held individually before any aggregate.
	if [[ "$FILL" =~ ^[0-9]+$ ]] && [ "$FILL" -gt 0 ] && [ $((FILL * 10)) -ge $((SIZE * 9)) ]; then
		pass "open: the table held $FILL of $SIZE sources individually before the first aggregate (>= 90%)"
	else
		fail "open: the table holds >= 90% of table.size individually before the first aggregate" \
			"fill_at_overflow '$FILL' (status --json)"
	fi
	tr=$(adv_show open "$TRUSTED" trusted)
	rec=$(adv_show open "$TRUSTED" record)
	figure "open: the admin $TRUSTED after the flood: record $rec, trusted $tr"
	if [ "$tr" = true ]; then
		pass "open: the admin's trust survived the flood"
	else
		fail "open: the admin's trust survived the flood" "show $TRUSTED: record '$rec', trusted '$tr'"
	fi
	b=$(adv_show open 2001:db8:1000::1 banned)
	figure "open: the first flood source's ban survived: $b"
	out=$(adv try open root "$TRUSTED" "$PW" 1)
	if [ "$(kv "$out" ok)" = 1 ]; then
		pass "open: the admin still logs in after the flood"
	else
		fail "open: the admin still logs in after the flood" "$out"
	fi
fi

# --- failmode = closed: full is not "unusable" -----------------------------
adv_conf closed "${base[@]}" "failmode = closed"
adv_stack closed "$T/closed.conf" "$PW" || { fail "$VG_SUITE" "stack"; exit 1; }
if flood_run closed; then
	out=$(adv try closed root "$TRUSTED" "$PW" 1)
	figure "closed: the admin's password login after the flood: $out"
	if [ "$(kv "$out" ok)" = 1 ]; then
		pass "closed: the trusted admin still logs in with the password after the flood"
	else
		fail "closed: the trusted admin still logs in with the password after the flood" "$(line1 "$out") (full table treated as unusable: failmode closed refuses everyone)"
	fi
	out=$(adv acct closed root "$TRUSTED")
	if [ "$(kv "$out" ok)" = 1 ]; then
		pass "closed: the trusted admin's key login (account phase) passes after the flood"
	else
		fail "closed: the trusted admin's key login (account phase) passes after the flood" "$(line1 "$out")"
	fi
	# (Passes on the old code too, which refuses everyone here: the
	# admin's login above is what tells "limited" from "locked".)
	out=$(adv try closed root "$NEW" wrong-pw "$TRIES")
	p=$(kv "$out" prompts)
	figure "closed: new source $NEW after the flood: $p of $TRIES wrong passwords evaluated"
	if [ -n "$p" ] && [ "$p" -le "$MAXRETRY" ]; then
		pass "closed: a new source after the flood gets at most maxretry passwords evaluated ($p of $TRIES)"
	else
		fail "closed: a new source after the flood gets at most maxretry passwords evaluated" "$p of $TRIES"
	fi
fi

# --- every /64 inside one /48: aggregate.v6 folds them -----------------------
adv_conf agg "${base[@]}" "failmode = open" "aggregate.v6 = $AGG6"
adv_stack agg "$T/agg.conf" "$PW" || { fail "$VG_SUITE" "stack"; exit 1; }
N64=$((SIZE * 4))
FL=$(adv flood agg root '2001:db8:4848:%x::1' 0 "$N64" "$MAXRETRY" wrong-pw)
echo "$FL" | sed 's/^/  /'
p=$(kv "$FL" prompts)
used=$(adv_stat agg table_used)
figure "agg: $N64 /64s of 2001:db8:4848::/48 x $MAXRETRY wrong passwords, aggregate.v6 $AGG6:" \
	"evaluated $p of $(kv "$FL" attempts) (bound $((AGG6 * MAXRETRY)))," \
	"table_used $used/$SIZE, fill_at_overflow $(adv_stat agg fill_at_overflow), overflow_total $(adv_stat agg overflow_total)"
# SPEC: the aggregate.v6-th banned /64 bans the /48.  Each of those bans
# cost exactly maxretry evaluated passwords (the driver is sequential: no
# attempt is in flight when another starts), and nothing in the /48 is
# evaluated after: aggregate.v6 x maxretry, exactly at most.
if [ -n "$p" ] && [ "$p" -le $((AGG6 * MAXRETRY)) ]; then
	pass "agg: $N64 /64s in one /48: at most aggregate.v6 x maxretry = $((AGG6 * MAXRETRY)) passwords evaluated ($p)"
else
	fail "agg: $N64 /64s in one /48: at most aggregate.v6 x maxretry = $((AGG6 * MAXRETRY)) passwords evaluated" "$p evaluated"
fi
if [[ "$used" =~ ^[0-9]+$ ]] && [ "$used" -lt "$SIZE" ]; then
	pass "agg: the /64 flood does not fill the table ($used of $SIZE used)"
else
	fail "agg: the /64 flood does not fill the table" "table_used '$used' of $SIZE"
fi
out=$(adv try agg root 2001:db8:4848:ffff::1 wrong-pw "$TRIES")
p=$(kv "$out" prompts)
if [ "$p" = 0 ]; then
	pass "agg: a fresh /64 in the banned /48 is refused before any password ($p of $TRIES)"
else
	fail "agg: a fresh /64 in the banned /48 is refused before any password" "$p of $TRIES evaluated"
fi
# Control: the /48 next door is not caught.
out=$(adv try agg root 2001:db8:4849::1 "$PW" 1)
if [ "$(kv "$out" ok)" = 1 ]; then
	pass "agg: a /64 in another /48 still logs in"
else
	fail "agg: a /64 in another /48 still logs in" "$(line1 "$out")"
fi

summary

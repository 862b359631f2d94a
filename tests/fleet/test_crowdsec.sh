#!/bin/bash
# Fleet: the helper against a real CrowdSec Local API (Debian's crowdsec
# 1.4.6), started by this script: pull (Ip and Range decisions into the
# drop sets, deletes, ignoreip), push (our persistent offenders show up
# in `cscli decisions list` with our scenario), a LAPI that is down
# (local bans go on, status says so, the queued push survives a helper
# restart and goes out once LAPI is back), and credential file checks.
#
# Runs ENTIRELY inside a network namespace this script creates (and
# deletes on exit): LAPI listens on 127.0.0.1 there, nftables changes
# never reach the host.  The LAPI has its own config dir and sqlite db
# under the temp dir, no online client (-no-cs: no agent either).  Only
# PIDs this script started are killed.  Addresses: documentation ranges.
set -u
VG_SUITE=fleet
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

ADMIN=$ROOT/build/pam_vpsguard-admin
NH="python3 $ROOT/tests/nft/nethelp.py"

# ---- outer: create the netns, run the suite inside it, delete it --------
if [ -z "${VG_NETNS:-}" ]; then
	need_root
	need_cmd ip nft unshare python3 curl
	if ! command -v crowdsec >/dev/null 2>&1 || ! command -v cscli >/dev/null 2>&1; then
		skip "$VG_SUITE" "crowdsec not installed (make deps installs it)"
		exit 0
	fi
	if [ ! -f "$ADMIN" ]; then
		fail "$VG_SUITE" "$ADMIN not built (make)"
		exit 1
	fi
	reexec_in_netns vpsg-fleet "$@"
fi

# ---- inner ---------------------------------------------------------------
in_own_netns || exit 1
ip link set lo up
for a in 203.0.113.9 203.0.113.30 203.0.113.40 203.0.113.66 203.0.113.99; do
	ip addr add "$a/32" dev lo
done
for a in 2001:db8:77::5 2001:db8:78::5 2001:db8:ff::1; do
	ip -6 addr add "$a/128" dev lo nodad
done

new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
T=$TMPD
OUT=$T/out ERR=$T/err

# ---- the LAPI ------------------------------------------------------------
. tests/fleet/lapi.sh
lapi_setup 18080 vg-fleet vg-push
start_lapi || { fail "$VG_SUITE" "LAPI did not come up: $(_vg_tail "$(cat "$CS/lapi.out" "$CS/log/"* 2>/dev/null)")"; exit 1; }

$NH serve 2222 </dev/null >/dev/null 2>&1 &
track_pid $!

# ---- the helper ------------------------------------------------------------
D=$T/vg
mkdir -m 0700 "$D" "$D/run"
CONF=$D/vg.conf STATE=$D/lib/state
cat >"$CONF" <<EOF
table.path = $D/run/table
state.path = $STATE
table.size = 1024
connlimit.rate = 0
persistent.after = 2
ignoreip = 127.0.0.1/8 ::1 198.51.100.0/24
crowdsec.url = $URL
crowdsec.bouncer_key = $T/bouncer.key
crowdsec.machine = vg-push
crowdsec.password = $T/machine.pw
crowdsec.interval = 1s
EOF

a() { "$ADMIN" --conf "$CONF" "$@" >"$OUT" 2>"$ERR"; }
sync_() { a sync || { echo "sync exit $?: $(head -c 300 "$ERR")"; return 1; }; }
elems() { nft list set inet vpsguard "$1" 2>&1; }
in_set() { elems "$1" | grep -qF -- "$2" || { echo "$2 not in $1: $(elems "$1" | tr '\n\t' '| ' | cut -c1-300)"; return 1; }; }
not_in_set() { ! elems "$1" | grep -qF -- "$2" || { echo "$2 in $1"; return 1; }; }
probe() { $NH probe "$@"; }
decisions() { cscli decisions list -o json 2>/dev/null; }

# ---- credentials -----------------------------------------------------------
chmod 644 "$T/bouncer.key"
creds_refused() {
	a sync
	has "bouncer.key: refused: .*not accessible to group or others" "$ERR" &&
		a status && has "crowdsec: +down"
}
case_ credentials-group-readable-refused creds_refused
chmod 600 "$T/bouncer.key"

# ---- pull: an Ip decision --------------------------------------------------
cscli decisions add --ip 203.0.113.9 --duration 2h --reason fleet-test >/dev/null 2>&1
pull_ip() {
	sync_ && in_set drop4 203.0.113.9 &&
		has "crowdsec: ban 203.0.113.9 for (2h|1h59m[0-9]+s) from cscli" "$ERR" &&
		elems drop4 | grep -qE '203\.0\.113\.9 timeout (1h59m|2h)' ||
		{ echo "timeout not about 2h: $(elems drop4 | grep -o '203.0.113.9 [^,]*')"; return 1; }
	[ "$(probe 203.0.113.9 127.0.0.1 2222)" = timeout ] || { echo "connect not dropped"; return 1; }
	[ "$(probe 203.0.113.99 127.0.0.1 2222)" = ok ] || { echo "other source dropped too"; return 1; }
}
case_ pull-ip-decision-dropped pull_ip
logged_once() { sync_ && hasnt "crowdsec: ban 203.0.113.9" "$ERR" && in_set drop4 203.0.113.9; }
case_ pull-decision-logged-once logged_once
status_up() { a status && has "crowdsec: +up" && has "pulled decisions: +1" && has "last pull: .*ago"; }
case_ status-link-up status_up

cscli decisions delete --ip 203.0.113.9 >/dev/null 2>&1
pull_del() {
	sync_ && not_in_set drop4 203.0.113.9 && has "decision [0-9]+ \(203.0.113.9, from cscli\) deleted" "$ERR" &&
		[ "$(probe 203.0.113.9 127.0.0.1 2222)" = ok ]
}
case_ pull-delete-lifts-drop pull_del

# ---- pull: ranges ----------------------------------------------------------
cscli decisions add --range 2001:db8:77::/64 --duration 1h >/dev/null 2>&1
cscli decisions add --range 2001:db8:88::/48 --duration 1h >/dev/null 2>&1
cscli decisions add --range 203.0.113.64/30 --duration 1h >/dev/null 2>&1
cscli decisions add --range 10.0.0.0/16 --duration 1h >/dev/null 2>&1
range64() {
	sync_ && in_set drop6 "2001:db8:77::" &&
		[ "$(probe 2001:db8:77::5 2001:db8:ff::1 2222)" = timeout ] &&
		[ "$(probe 2001:db8:78::5 2001:db8:ff::1 2222)" = ok ]
}
case_ pull-range-v6-64-dropped range64
range48() {
	has "2001:db8:88::/48 from cscli .* not applied: wider than ipv6.prefix /64" "$ERR" &&
		not_in_set drop6 "2001:db8:88::"
}
case_ pull-range-v6-48-not-applied-logged range48
range30() {
	for x in 64 65 66 67; do in_set drop4 "203.0.113.$x" || return 1; done
	not_in_set drop4 203.0.113.68 && [ "$(probe 203.0.113.66 127.0.0.1 2222)" = timeout ] &&
		has "10.0.0.0/16 from cscli .*not applied: IPv4 ranges wider than /24" "$ERR"
}
case_ pull-range-v4-expanded range30

# ---- ignoreip ---------------------------------------------------------------
cscli decisions add --ip 198.51.100.7 --duration 1h >/dev/null 2>&1
cscli decisions add --ip 127.0.0.5 --duration 1h >/dev/null 2>&1
ignored() {
	sync_ && not_in_set drop4 198.51.100.7 && not_in_set drop4 127.0.0.5 &&
		has "ban 198.51.100.7 .*not applied while it touches ignoreip" "$ERR"
}
case_ pull-ignoreip-never-dropped ignored

# ---- push --------------------------------------------------------------------
a ban 203.0.113.30 --time 1h && a ban 203.0.113.30 --time 1h
pushed() {
	sync_ && in_set drop4 203.0.113.30 && has "pushed 203.0.113.30 \(banned 2 times" "$ERR" &&
		cscli decisions list -s pam_vpsguard/ssh-bruteforce >"$T/list" 2>&1 &&
		has "203.0.113.30" "$T/list" &&
		decisions | python3 -c '
import json, sys
al = json.load(sys.stdin) or []
ok = [d for a in al for d in a.get("decisions") or []
      if d["value"] == "203.0.113.30" and d["scenario"] == "pam_vpsguard/ssh-bruteforce"
      and d["type"] == "ban" and d["scope"] == "Ip"]
sys.exit(0 if ok else "no decision for 203.0.113.30 with our scenario")'
}
case_ push-persistent-offender-in-cscli pushed
once() { sync_ && hasnt "pushed 203.0.113.30" "$ERR" && a status && has "pending pushes: +0" && has "last push: .*ago"; }
case_ push-sent-once once
# Our own decision comes back in the pull; deleting it in LAPI must not
# lift the local ban, which still holds.
local_holds() {
	cscli decisions delete --ip 203.0.113.30 >/dev/null 2>&1
	sync_ && in_set drop4 203.0.113.30
}
case_ pull-delete-keeps-local-ban local_holds

# ---- LAPI down ------------------------------------------------------------------
stop_lapi
a ban 203.0.113.40 --time 1h && a ban 203.0.113.40 --time 1h
down() {
	local t0 t1
	t0=$(date +%s%N)
	a sync
	t1=$(date +%s%N)
	[ $(( (t1 - t0) / 1000000 )) -lt 4000 ] || { echo "sync took $(( (t1 - t0) / 1000000 )) ms with LAPI down"; return 1; }
	in_set drop4 203.0.113.40 && has "crowdsec: pull: .*local bans go on" "$ERR" &&
		grep -q "^p pending 203.0.113.40 " "$STATE.crowdsec" || { echo "not pending in $STATE.crowdsec"; return 1; }
	a status && has "crowdsec: +down" && has "pending pushes: +1"
	a --json status && python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["crowdsec_link"] == "down", s
assert s["crowdsec_pending_pushes"] == 1, s
assert s["crowdsec_error"], s' "$OUT"
}
case_ lapi-down-local-goes-on-status-down down

start_lapi || fail lapi-restart "LAPI did not come back"
# A new `sync` process: the queued push comes from the file alone.
back() {
	sync_ && has "pushed 203.0.113.40" "$ERR" && has "link up again" "$ERR" &&
		cscli decisions list -s pam_vpsguard/ssh-bruteforce >"$T/list" 2>&1 &&
		has "203.0.113.40" "$T/list" && grep -q "^p done 203.0.113.40 " "$STATE.crowdsec" &&
		a status && has "crowdsec: +up" && has "pending pushes: +0"
}
case_ lapi-back-pending-push-delivered back

# ---- unban: retract what we pushed, lift what was pulled ---------------------------
# (cscli decisions list shows one decision per value: ask as the bouncer)
lapi_has() {	# VALUE [SCENARIO]: LAPI holds an active decision for VALUE
	curl -sf -H "X-Api-Key: $(cat "$T/bouncer.key")" "$URL/v1/decisions?ip=$1" | python3 -c '
import json, sys
ds = json.load(sys.stdin) or []
sys.exit(0 if any(d["value"] == sys.argv[1] and (len(sys.argv) < 3 or d["scenario"] == sys.argv[2])
                  for d in ds) else 1)' "$@"
}
SCEN=pam_vpsguard/ssh-bruteforce
a ban 203.0.113.50 --time 1h && a ban 203.0.113.50 --time 1h && a sync && a sync
# Another host's ban of the same source is not ours to delete.
cscli decisions add --ip 203.0.113.50 --duration 3h --reason other-host >/dev/null 2>&1
unban_retracts() {
	lapi_has 203.0.113.50 $SCEN || { echo "precondition: our decision for .50 not in LAPI"; return 1; }
	a unban 203.0.113.50 || { echo "unban exit $?: $(cat "$ERR")"; return 1; }
	has "^unbanned 203.0.113.50" && has "crowdsec: deleted 1 decision this host had pushed for 203.0.113.50" &&
		! lapi_has 203.0.113.50 $SCEN || { echo "our decision still in LAPI: $(cat "$OUT")"; return 1; }
	lapi_has 203.0.113.50 || { echo "the other host's decision was deleted too"; return 1; }
	not_in_set drop4 203.0.113.50
}
case_ unban-retracts-pushed-decision unban_retracts
# The next pulls bring back neither our decision nor the other one.
unban_stays() {
	sync_ && sync_ && not_in_set drop4 203.0.113.50 &&
		grep -q "^l [0-9]* [0-9]* 203.0.113.50$" "$STATE.crowdsec" ||
		{ echo "no lift line: $(grep -c . "$STATE.crowdsec") lines"; return 1; }
}
case_ unban-not-brought-back-by-pull unban_stays

cscli decisions add --ip 203.0.113.60 --duration 2h --reason other-host >/dev/null 2>&1
sync_ >/dev/null
unban_pulled() {
	in_set drop4 203.0.113.60 || return 1
	# no record in our table: the pulled decision alone is lifted, exit 0
	a unban 203.0.113.60 || { echo "unban exit $?: $(cat "$ERR")"; return 1; }
	has "^unbanned 203.0.113.60" && has "decision [0-9]+ from cscli lifted here only: it stays in the LAPI" &&
		not_in_set drop4 203.0.113.60 && lapi_has 203.0.113.60 &&
		sync_ && not_in_set drop4 203.0.113.60 &&
		a status && has "lifted here: +[1-9]"
}
case_ unban-pulled-decision-lifted-here-only unban_pulled
unban_none() {
	a unban 203.0.113.61
	[ $? -eq 1 ] && has "no record for 203.0.113.61" "$ERR"
}
case_ unban-unknown-source-still-fails unban_none

a ban 203.0.113.51 --time 1h && a ban 203.0.113.51 --time 1h && a sync
stop_lapi
unban_queued() {
	a unban 203.0.113.51 || { echo "unban exit $?: $(cat "$ERR")"; return 1; }
	has "^unbanned 203.0.113.51" && has "LAPI not reached .*deleting what this host pushed for 203.0.113.51 from the LAPI is queued" &&
		grep -q "^x 203.0.113.51 " "$STATE.crowdsec" &&
		a status && has "pending retractions: +1" && has "crowdsec: +down" &&
		a sync && not_in_set drop4 203.0.113.51 && grep -q "^x 203.0.113.51 " "$STATE.crowdsec"
}
case_ unban-lapi-down-retraction-queued unban_queued
start_lapi || fail lapi-restart "LAPI did not come back"
retract_later() {
	lapi_has 203.0.113.51 $SCEN || { echo "precondition: .51 not in LAPI"; return 1; }
	sync_ && has "retracted 203.0.113.51 \(unbanned here\): 1 decision this host pushed deleted" "$ERR" &&
		! grep -q "^x " "$STATE.crowdsec" && ! lapi_has 203.0.113.51 $SCEN &&
		sync_ && not_in_set drop4 203.0.113.51 && a status && has "pending retractions: +0"
}
case_ queued-retraction-sent-when-lapi-back retract_later
# A new decision for a lifted source is applied: the lift was for one decision.
cscli decisions add --ip 203.0.113.60 --duration 5h --reason again >/dev/null 2>&1
new_decision() { sync_ && in_set drop4 203.0.113.60; }
case_ new-decision-for-lifted-source-applied new_decision

# ---- STATE.crowdsec is locked across read-modify-write -------------------------------
lock_held() {
	local t0 t1 rc
	# a holder that is not ours (and writes no pid), killed with its lock
	rm -f "$T/locked"
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)' "$STATE.crowdsec.lock" "$T/locked" </dev/null >/dev/null 2>&1 &
	LPID=$!
	track_pid $LPID
	wait_for 5 test -e "$T/locked" || { echo "lock holder did not start"; return 1; }
	t0=$(date +%s%N)
	a sync
	rc=$?
	t1=$(date +%s%N)
	kill $LPID 2>/dev/null; wait $LPID 2>/dev/null; untrack_pid $LPID
	[ $rc -eq 1 ] || { echo "sync exit $rc with the lock held"; return 1; }
	[ $(( (t1 - t0) / 1000000 )) -ge 7000 ] && [ $(( (t1 - t0) / 1000000 )) -lt 12000 ] ||
		{ echo "sync gave up after $(( (t1 - t0) / 1000000 )) ms"; return 1; }
	has "crowdsec.lock is held by another process .* for more than 8.0 s; try again" "$ERR" &&
		sync_
}
case_ lock-held-sync-waits-bounded-then-errors lock_held

# ---- the daemon: a full pull at start, then deltas -------------------------------
VG_LOG_STDERR=1 "$ADMIN" --conf "$CONF" daemon >"$D/daemon.out" 2>"$D/daemon.err" </dev/null &
DPID=$!
track_pid "$DPID"
daemon_pull() {
	cscli decisions add --ip 203.0.113.99 --duration 1h >/dev/null 2>&1
	wait_for 20 sh -c "nft list set inet vpsguard drop4 | grep -qF 203.0.113.99" ||
		{ echo "not dropped by the daemon within 20 s: $(tail -n 3 "$D/daemon.err" | tr '\n' '|')"; return 1; }
	cscli decisions delete --ip 203.0.113.99 >/dev/null 2>&1
	wait_for 20 sh -c "! nft list set inet vpsguard drop4 | grep -qF 203.0.113.99" ||
		{ echo "not lifted by the daemon within 20 s"; return 1; }
}
case_ daemon-pulls-deltas daemon_pull

# Several writers of STATE.crowdsec at once (the daemon, two syncs, eight
# unbans): every unban's lift is in the file afterwards, and the daemon,
# which keeps the link in memory, does not write it back without them.
RACE="70 71 72 73 74 75 76 77"
for i in $RACE; do
	cscli decisions add --ip 203.0.113.$i --duration 2h >/dev/null 2>&1
done
race() {
	local i pids=() rc=0 p
	wait_for 20 sh -c "nft list set inet vpsguard drop4 | grep -qF 203.0.113.77" ||
		{ echo "the daemon did not pull the decisions"; return 1; }
	for i in $RACE; do
		"$ADMIN" --conf "$CONF" unban 203.0.113.$i >"$T/unban.$i" 2>&1 &
		pids+=($!)
	done
	"$ADMIN" --conf "$CONF" sync >"$T/sync.1" 2>&1 & pids+=($!)
	kill -USR1 "$DPID"
	"$ADMIN" --conf "$CONF" sync >"$T/sync.2" 2>&1 & pids+=($!)
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	[ $rc -eq 0 ] || { echo "a writer failed: $(cat "$T"/unban.* "$T"/sync.* | grep -v '^unbanned\|lifted here only\|^pam_vpsguard-admin: crowdsec: ' | head -3)"; return 1; }
	for i in $RACE; do
		grep -q "lifted here only" "$T/unban.$i" || { echo "unban .$i: $(cat "$T/unban.$i")"; return 1; }
		grep -q "^l [0-9]* [0-9]* 203.0.113.$i$" "$STATE.crowdsec" || { echo "lift of .$i lost"; return 1; }
	done
	# the daemon's next save (a new decision) keeps them, and drops none
	cscli decisions add --ip 203.0.113.79 --duration 1h >/dev/null 2>&1
	kill -USR1 "$DPID"
	wait_for 20 sh -c "nft list set inet vpsguard drop4 | grep -qF 203.0.113.79" ||
		{ echo "the daemon did not pull .79"; return 1; }
	kill -USR1 "$DPID"
	sleep 1
	for i in $RACE; do
		grep -q "^l [0-9]* [0-9]* 203.0.113.$i$" "$STATE.crowdsec" || { echo "the daemon lost the lift of .$i"; return 1; }
		not_in_set drop4 "203.0.113.$i " || return 1
	done
}
case_ concurrent-writers-nothing-lost race
kill "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
untrack_pid "$DPID"

# ---- a corrupt link file is kept aside, never fatal -------------------------------
printf 'pam_vpsguard-crowdsec 1\nd 1 2\n' >"$STATE.crowdsec"
corrupt() {
	sync_ && has "is corrupt; kept as" "$ERR" && ls "$STATE.crowdsec".corrupt-* >/dev/null &&
		grep -q "^end " "$STATE.crowdsec"
}
case_ corrupt-link-file-kept-aside corrupt

stop_lapi
nft delete table inet vpsguard 2>/dev/null
summary

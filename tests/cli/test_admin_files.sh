#!/bin/bash
# pam_vpsguard-admin and the files it trusts or must not lose:
#  - unban after a reboot, before the helper ran (empty table, the ban
#    only in the state file), and unban while the live table cannot be
#    opened (corrupt header on a full /run): the nftables drop and the
#    saved ban still go;
#  - a state file that is a FIFO, a symlink, another user's, or holds a
#    record wider than any table key: refused and set aside, never
#    waited for, never applied;
#  - table.path and state.path naming one file: a configuration error;
#  - totp enroll whose output cannot be written stores nothing (the old
#    secret keeps working); a stuck holder of the TOTP lock is waited
#    for at most 5 s;
#  - ban of a multicast, unspecified or broadcast address: refused.
#
# Runs ENTIRELY inside a network namespace this script creates (and
# deletes on exit), so the nftables part never touches the host ruleset:
# the script re-runs itself under `ip netns exec NS unshare -m`, which
# also gives it a private mount namespace (a tiny tmpfs for the full
# /run case).  Every file lives under one temp dir; only PIDs this script
# started are ever killed.  Addresses: documentation ranges only (the
# refused multicast/broadcast ones are never banned).
set -u
VG_SUITE=admin_files
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

. tests/admin_lib.sh

admin_suite vpsg-afiles "$ADMIN"
MKCONF_TOTP=1

# ---- helpers (the common ones: tests/admin_lib.sh) ----------------------------

# trc WANT ARGS...: rc, bounded to 15 s (a hang is exit 124, a failure)
trc() {
	local want=$1 r
	shift
	timeout -k 2 15 "$ADMIN" --conf "$CONF" "$@" >"$OUT" 2>"$ERR"
	r=$?
	[ $r -eq "$want" ] || { echo "$* exit $r, want $want (124: hung, killed after 15 s): $(head -c 300 "$ERR" | tr '\n' '|')"; return 1; }
}
jbanned() { python3 -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['banned'] else 1)" "$OUT"; }
not_banned() {	# ADDR: show --json says not banned
	rc 0 show "$1" --json || return 1
	! jbanned || { echo "$1 is banned: $(head -c 300 "$OUT")"; return 1; }
}
# saved_until ADDR: banned_until of ADDR's line in the state file
saved_until() { awk -v k="$1" '$1 == k { print $5; f = 1 } END { exit !f }' "$STATE"; }
saved_lifted() {	# ADDR: its line is there, with banned_until 0
	local u
	u=$(saved_until "$1") || { echo "no line for $1 in $STATE"; return 1; }
	[ "$u" = 0 ] || { echo "$1 still saved as banned until $u"; return 1; }
}
saved_banned() {	# ADDR: its line is there, banned until later than now
	local u
	u=$(saved_until "$1") || { echo "no line for $1 in $STATE"; return 1; }
	[ "$u" -gt "$(date +%s)" ] || { echo "$1 saved with banned_until $u"; return 1; }
}

# not in SET (a missing set or table holds nothing either)
not_dropped() {
	nftset "$1" >"$T/set" 2>/dev/null || return 0
	! grep -q "^$2 " "$T/set" || { echo "$2 in $1: $(tr '\n' '|' <"$T/set")"; return 1; }
}
# reboot: the live table and the ruleset are gone, the state file stays
reboot() { rm -f "$TABLE"; fresh_nft; }
aside() {	# TYPE (test -TYPE): exactly one state.corrupt-*, of that type
	local f
	f=$(ls "$D/lib" | grep '^state\.corrupt-') || { echo "no state.corrupt-* in $D/lib: $(ls "$D/lib" | tr '\n' ' ')"; return 1; }
	[ "$(printf '%s\n' "$f" | wc -l)" -eq 1 ] || { echo "several: $f"; return 1; }
	test "-$1" "$D/lib/$f" || { echo "$f: not -$1: $(ls -l "$D/lib/$f")"; return 1; }
}
now=$(date +%s)

# ---- B: unban after a reboot, before the helper ran -------------------------

fresh_nft
mkconf reboot
case_ "B: setup: ban, sync: a drop in nftables and a saved ban" \
	eval 'rc 0 ban 192.0.2.30 --time 1h && rc 0 ban 192.0.2.31 --time 1h && rc 0 sync &&
	      in_set drop4 192.0.2.30 && saved_banned 192.0.2.30'
reboot
case_ "B: unban after a reboot (empty table, ban only in the state file): exit 0, 'lifted its saved ban'" \
	eval 'rc 0 unban 192.0.2.30 && has "lifted its saved ban" && hasnt "no record" "$ERR"'
case_ "B: the state file keeps the source, its ban lifted (banned_until 0), the other ban kept" \
	eval 'saved_lifted 192.0.2.30 && saved_banned 192.0.2.31'
case_ "B: the next sync restores neither the ban nor its nftables drop" \
	eval 'rc 0 sync && not_banned 192.0.2.30 && not_dropped drop4 192.0.2.30 && in_set drop4 192.0.2.31'
case_ "B: an address in neither the table nor the state file: still 'no record', exit 1" \
	eval 'rc 1 unban 192.0.2.39 && has "no record for 192\.0\.2\.39" "$ERR"'
reboot
case_ "B: unban --all after a reboot: exit 0, 'lifted 1 saved ban'" \
	eval 'rc 0 unban --all && has "^lifted 1 saved ban in "'
case_ "B: ... and the next sync restores no ban, no drop" \
	eval 'saved_lifted 192.0.2.31 && rc 0 sync && not_banned 192.0.2.31 && not_dropped drop4 192.0.2.31'

# ---- C: unban while the live table cannot be opened -------------------------

fresh_nft
mkconf norun
if mount -t tmpfs -o size=160k,mode=0700 vg-afiles-run "$D/run"; then
	MOUNTS+=("$D/run")
	# broken_table: a corrupt header (a rebuild would need room) on a
	# full /run, so the table can be neither opened nor rebuilt.
	broken_table() {
		printf 'garbage!garbage!' | dd of="$TABLE" bs=1 seek=0 conv=notrunc 2>/dev/null
		dd if=/dev/zero of="$D/run/fill" bs=4k 2>/dev/null
		return 0
	}
	case_ "C: setup: ban two sources, sync: drops and saved bans" \
		eval 'rc 0 ban 192.0.2.40 --time 1h && rc 0 ban 192.0.2.41 --time 1h && rc 0 sync &&
		      in_set drop4 192.0.2.40 && in_set drop4 192.0.2.41 && saved_banned 192.0.2.40'
	broken_table
	case_ "C: setup: the table cannot be opened (show fails)" eval 'a show 192.0.2.40; [ $? -ne 0 ]'
	case_ "C: unban with an unopenable table: exit 0, the table error reported, what was done said" \
		eval 'rc 0 unban 192.0.2.40 && has "cannot open the table" "$ERR" &&
		      has "not done: its record in the live table" "$ERR" &&
		      has "its drop in nftables is gone" && has "lifted its saved ban"'
	case_ "C: ... its nftables drop is gone, its saved ban lifted, the other source untouched" \
		eval 'not_dropped drop4 192.0.2.40 && saved_lifted 192.0.2.40 &&
		      in_set drop4 192.0.2.41 && saved_banned 192.0.2.41'
	case_ "C: unban of an address with nothing to lift, table unopenable: exit 1, says so" \
		eval 'rc 1 unban 192.0.2.49 && has "nothing else was there to lift" "$ERR"'
	case_ "C: unban --all with an unopenable table: exit 0, drops and saved bans lifted" \
		eval 'rc 0 unban --all && has "cannot open the table" "$ERR" && has "^lifted 1 drop in nftables" &&
		      has "^lifted 1 saved ban" && not_dropped drop4 192.0.2.41 && saved_lifted 192.0.2.41'
	umount "$D/run" && MOUNTS=()
else
	skip "C: unban with an unopenable table" "cannot mount a tmpfs"
fi

# ---- D: state files the helper must not trust --------------------------------

# The saved ban the bad files below carry: if it is applied, sync made a
# drop of it.
bad_ban() { printf 'pam_vpsguard-state 1\n%s 1 0 %s %s 0\nend 1\n' "$1" "$now" $((now + 3600)); }

fresh_nft
mkconf fifo
mkdir -m 0700 "$D/lib"
mkfifo -m 0600 "$STATE"
case_ "D: a FIFO at state.path: sync does not hang, exit 0, says 'not a regular file'" \
	eval 'trc 0 sync && has "not a regular file" "$ERR"'
case_ "D: ... the FIFO is set aside as state.corrupt-*, a FIFO still, and a new state file saved" \
	eval 'aside p && test -f "$STATE" && test ! -p "$STATE"'
rm -f "$STATE"
mkfifo -m 0600 "$STATE"
case_ "D: a FIFO at state.path: unban does not hang either" \
	eval 'trc 1 unban 192.0.2.59 && has "no record for 192\.0\.2\.59" "$ERR"'
rm -f "$STATE"

fresh_nft
mkconf foreign
mkdir -m 1777 "$D/lib"
bad_ban 192.0.2.50 >"$STATE"
chown 65534:65534 "$STATE"
chmod 0666 "$STATE"
case_ "D: a state file owned by another user (0666 in a 1777 dir): sync exit 0, 'owned by uid 65534, not root'" \
	eval 'trc 0 sync && has "owned by uid 65534, not root" "$ERR"'
case_ "D: ... its ban is not applied (no ban, no drop), the file set aside" \
	eval 'not_banned 192.0.2.50 && not_dropped drop4 192.0.2.50 && aside f'

fresh_nft
mkconf loose
mkdir -m 0700 "$D/lib"
bad_ban 192.0.2.52 >"$STATE"
chmod 0622 "$STATE"
case_ "D: a root-owned state file writable by group/others: refused, not applied, set aside" \
	eval 'trc 0 sync && has "writable by group or others" "$ERR" && not_banned 192.0.2.52 && not_dropped drop4 192.0.2.52 && aside f'

fresh_nft
mkconf symlink
mkdir -m 0700 "$D/lib"
bad_ban 192.0.2.51 >"$D/real"
chmod 0600 "$D/real"
cp "$D/real" "$D/real.orig"
ln -s "$D/real" "$STATE"
case_ "D: a symlink at state.path: sync exit 0, 'a symbolic link', its target's ban not applied" \
	eval 'trc 0 sync && has "a symbolic link" "$ERR" && not_banned 192.0.2.51 && not_dropped drop4 192.0.2.51'
case_ "D: ... the link is set aside as a link, its target untouched, a regular state file saved" \
	eval 'aside L && cmp "$D/real" "$D/real.orig" && test -f "$STATE" && test ! -L "$STATE"'

for wide in 0.0.0.0/0 ::/0 10.0.0.0/8 ::ffff:0:0/96; do
	fresh_nft
	mkconf "wide-${wide//[:\/.]/_}"
	mkdir -m 0700 "$D/lib"
	bad_ban "$wide" >"$STATE"
	chmod 0600 "$STATE"
	case_ "D: a saved record keyed $wide (wider than a table key): a corrupt line 2, nothing applied, set aside" \
		eval 'trc 0 sync && has "state:2: corrupt line" "$ERR" && aside f &&
		      rc 0 list --json && python3 -c "import json,sys; sys.exit(len(json.load(open(sys.argv[1]))))" "$OUT" &&
		      ! nft list table inet vpsguard 2>/dev/null | grep -qE "(0\.0\.0\.0/0|::/0|10\.0\.0\.0/8)"'
done

# ---- E: state.path and table.path naming one file -----------------------------

mkconf same
echo "state.path = $TABLE" >>"$CONF"
case_ "E: state.path = table.path: a configuration error (exit 2) naming both keys" \
	eval 'rc 2 sync && has "state\.path .* and table\.path .* are the same file" "$ERR"'
case_ "E: ... and nothing was created or set aside in the table's directory" \
	eval '[ -z "$(ls -A "$D/run")" ] || { ls -A "$D/run"; false; }'
mkconf sametable
case_ "E: --table naming the state file: exit 2" \
	eval 'rc 2 --table "$STATE" status && has "--table: state\.path" "$ERR"'
mkconf tmpname
echo "table.path = $STATE.corrupt-20250101T000000" >>"$CONF"
case_ "E: table.path one of the state file's set-aside names: exit 2" \
	eval 'rc 2 sync && has "clash" "$ERR"'

# ---- A: totp enroll whose output cannot be written ------------------------------

mkconf totp
secret=$D/totp/root
case_ "A: totp enroll >/dev/full: exit 1 with a message on stderr, no secret stored" \
	eval '"$ADMIN" --conf "$CONF" totp enroll root >/dev/full 2>"$ERR"; r=$?;
	      [ $r -eq 1 ] || { echo "exit $r"; false; } && has "cannot write the enrolment to standard output" "$ERR" &&
	      { [ ! -e "$secret" ] || { echo "secret file written though never shown"; false; }; }'
case_ "A: setup: a working enrolment" eval 'rc 0 totp enroll root && test -f "$secret" && cp "$secret" "$D/secret.orig"'
case_ "A: totp enroll again without --force: refused before a secret is shown" \
	eval 'rc 1 totp enroll root && has "already enrolled" "$ERR" && hasnt "secret" && cmp "$secret" "$D/secret.orig"'
case_ "A: totp enroll --force >/dev/full: exit 1, says the old secret still works, the old secret kept" \
	eval '"$ADMIN" --conf "$CONF" totp enroll root --force >/dev/full 2>"$ERR"; r=$?;
	      [ $r -eq 1 ] || { echo "exit $r"; false; } && has "old secret still works" "$ERR" && cmp "$secret" "$D/secret.orig"'
cat >"$T/closed_pipe.py" <<'EOF'
# Run ARGV with stdout a pipe whose reader is gone (a dropped SSH session
# or `| head -0`), SIGPIPE at its default; print the exit status.
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=open(os.environ["ERRF"], "w"),
                   restore_signals=True, timeout=30)
print(p.returncode)
EOF
case_ "A: totp enroll --force into a closed pipe: exit 1 (no silent SIGPIPE death), a message, the old secret kept" \
	eval 'r=$(ERRF="$ERR" python3 "$T/closed_pipe.py" "$ADMIN" --conf "$CONF" totp enroll root --force);
	      [ "$r" = 1 ] || { echo "exit $r"; false; } && has "Broken pipe" "$ERR" && cmp "$secret" "$D/secret.orig"'
case_ "A: totp enroll --force >/dev/null, and with standard output closed: refused, the old secret kept" \
	eval '"$ADMIN" --conf "$CONF" totp enroll root --force >/dev/null 2>"$ERR"; r=$?;
	      [ $r -eq 1 ] || { echo "exit $r"; false; } && has "standard output is /dev/null" "$ERR" && cmp "$secret" "$D/secret.orig" &&
	      { "$ADMIN" --conf "$CONF" totp enroll root --force >&- 2>"$ERR"; r=$?; [ $r -eq 1 ]; } &&
	      has "standard output is /dev/null" "$ERR" && cmp "$secret" "$D/secret.orig"'

# ---- F: a stuck holder of the TOTP directory's lock ------------------------------

python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(40)
' "$D/totp/.lock" >"$T/holder.out" 2>&1 &
HOLDER=$!
track_pid "$HOLDER"
if wait_for 5 grep -q held "$T/holder.out"; then
	t0=$(date +%s%N)
	trc 1 totp enroll root --force >/dev/null 2>&1
	r=$?
	el=$(( ($(date +%s%N) - t0) / 1000000 ))
	case_ "F: enroll while another process holds DIR/.lock: fails after about 5 s, not hung (took ${el} ms)" \
		eval '[ $r -eq 0 ] && [ $el -ge 4500 ] && [ $el -lt 12000 ]'
	case_ "F: ... says 'DIR/.lock: held by another process for 5 s', the old secret kept" \
		eval 'has "/totp/\.lock: held by another process for 5 s" "$ERR" && cmp "$secret" "$D/secret.orig"'
else
	fail "F: setup" "the lock holder did not start"
fi
stop_pid "$HOLDER"

# ---- G: ban of an address no login comes from ----------------------------------

mkconf unicast
for addr in ff02::1 :: 0.0.0.0 224.0.0.1 239.255.255.250 255.255.255.255 ff02::/64; do
	case_ "G: ban $addr: exit 2, 'not a unicast source address', nothing recorded" \
		eval 'rc 2 ban "$addr" && has "not a unicast source address" "$ERR" &&
		      rc 0 list --json && python3 -c "import json,sys; sys.exit(len(json.load(open(sys.argv[1]))))" "$OUT"'
done
case_ "G: unicast addresses are still banned (192.0.2.61, 2001:db8::61, ::1)" \
	eval 'rc 0 ban 192.0.2.61 --time 1m && rc 0 ban 2001:db8::61 --time 1m && rc 0 ban ::1 --time 1m --force'

summary

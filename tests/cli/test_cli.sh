#!/bin/bash
# pam_vpsguard-admin: every subcommand's effect, output and exit code.
#
# Runs in a private mount namespace (re-executes itself under unshare):
# a private /etc/pam.d for pamtester (bans set by the CLI must be seen by
# the module at once) and an empty /etc/security, so the default config
# file is surely absent.  Every file lives under one temp dir.
#
# As in tests/pamtester: pam_succeed_if stands in for the password check,
# so "gooduser" has the right password and "root" a wrong one.
set -u
VG_SUITE=cli
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

need_root
need_cmd pamtester unshare mount python3
BUILD=${VG_BUILD:-$ROOT/build}	# make O=dir: VG_BUILD=dir
ADMIN=$BUILD/pam_vpsguard-admin
MOD=$BUILD/pam_vpsguard.so
for f in "$ADMIN" "$MOD"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		fail "$VG_SUITE" "$f not built (make)"
		exit 1
	fi
done
# A network namespace of its own too: unban talks to nftables, and the
# host's ruleset is never the test's to touch.  It dies with the suite.
if [ -z "${VG_CLI_NETNS:-}" ]; then
	export VG_CLI_NETNS=1
	exec unshare -n bash "$0" "$@"
fi
reexec_private_mountns "$@"

new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
T=$TMPD
mkdir -m 0700 "$T/pam.d" "$T/run" "$T/etcsec"
TABLE=$T/run/table
OUT=$T/out ERR=$T/err

mount --bind "$T/pam.d" /etc/pam.d || { fail "$VG_SUITE" "bind mount of /etc/pam.d"; exit 1; }
mount --bind "$T/etcsec" /etc/security || { fail "$VG_SUITE" "bind mount of /etc/security"; exit 1; }

cat >"$T/vg.conf" <<EOF
# cli test
table.path = $TABLE
table.size = 1024
maxretry = 3
ignoreip = 127.0.0.1/8 ::1 198.51.100.250
EOF
CONF=$T/vg.conf

cat >"$T/pam.d/vg-cli" <<EOF
auth     requisite                   $MOD preauth conf=$CONF
auth     [success=1 default=ignore]  pam_succeed_if.so quiet user = gooduser
auth     [default=die]               $MOD authfail conf=$CONF
auth     sufficient                  $MOD authsucc conf=$CONF
auth     requisite                   pam_deny.so
account  requisite                   $MOD conf=$CONF
account  required                    pam_permit.so
EOF

# a ARGS...: the CLI with our config; stdout in $OUT, stderr in $ERR.
a() { "$ADMIN" --conf "$CONF" "$@" >"$OUT" 2>"$ERR"; }
# rc WANT ARGS...: a, then 0 if the exit status is WANT.
rc() { local want=$1; shift; a "$@"; local r=$?; [ $r -eq "$want" ] || { echo "exit $r, want $want: $(head -c 300 "$ERR")"; return 1; }; }
login() {	# RHOST USER: one pamtester authenticate + acct_mgmt
	pamtester -I "rhost=$1" vg-cli "$2" authenticate acct_mgmt </dev/null >/dev/null 2>&1
}
wrong() {	# N RHOST: N wrong passwords
	local i
	for ((i = 0; i < $1; i++)); do
		login "$2" root && return 1
	done
	return 0
}
json_ok() { python3 -m json.tool "${1:-$OUT}" >/dev/null; }
# py EXPR: a python expression over j = json of $OUT; true -> 0.
py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$OUT" || { echo "false: $1 on $(head -c 400 "$OUT" | tr '\n' ' ')"; return 1; }; }

# --- global behaviour --------------------------------------------------------

case_ "--version prints 0.1.0" eval 'rc 0 --version && has "^pam_vpsguard-admin 0\.1\.0$"'
case_ "--help lists the subcommands, exit 0" \
	eval 'rc 0 --help && has "^  status " && has "^  list " && has "^  show " && has "^  ban " && has "^  unban " && has "^  metrics "'
case_ "--help lists every SPEC subcommand" \
	eval 'rc 0 --help && for c in sync daemon setup harden unharden confirm audit totp; do has "^  $c " || return 1; done'
for c in status list show ban unban metrics; do
	case_ "$c --help: usage on stdout, exit 0" eval "rc 0 $c --help && has '^Usage: pam_vpsguard-admin $c'"
done
case_ "unknown subcommand: exit 2, message and usage on stderr" \
	eval 'rc 2 frobnicate && has "unknown subcommand .frobnicate." "$ERR" && has "^Usage:" "$ERR" && [ ! -s "$OUT" ]'
case_ "unknown global option: exit 2" rc 2 --frob status
case_ "--conf without a value: exit 2" eval '"$ADMIN" --conf >/dev/null 2>&1; [ $? -eq 2 ]'
case_ "--conf= and --table '' (empty): exit 2, saying a path is needed" \
	eval '"$ADMIN" --conf= status >"$OUT" 2>"$ERR"; [ $? -eq 2 ] && has "needs a path" "$ERR" &&
	      { "$ADMIN" status --table "" >"$OUT" 2>"$ERR"; [ $? -eq 2 ]; } && has "needs a path" "$ERR"'
case_ "list --bogus: exit 2 with usage" eval 'rc 2 list --bogus && has "unknown option" "$ERR" && has "^Usage:" "$ERR"'
case_ "show without ADDR: exit 2" rc 2 show
case_ "show with two ADDRs: exit 2" rc 2 show 192.0.2.1 192.0.2.2
case_ "ban without ADDR: exit 2" rc 2 ban
case_ "ban --time junk: exit 2" eval 'rc 2 ban 192.0.2.1 --time 5x && has "not a duration" "$ERR"'
case_ "ban --time 0: exit 2" rc 2 ban 192.0.2.1 --time 0
case_ "ban --json (not a read command): exit 2" rc 2 --json ban 192.0.2.1
case_ "ban --time longer than bantime.maxtime: exit 2, names the key" \
	eval 'rc 2 ban 192.0.2.1 --time 6w && has "longer than bantime.maxtime" "$ERR"'
if command -v setpriv >/dev/null 2>&1; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$ADMIN" --conf "$CONF" "$@" >"$OUT" 2>"$ERR"; }
	for c in "ban 192.0.2.1" "unban 192.0.2.1" sync daemon setup harden audit "totp enroll root"; do
		# shellcheck disable=SC2086
		case_ "$c as a non-root user: exit 1, 'must be run as root'" \
			eval "as_nobody $c; [ \$? -eq 1 ] && has 'must be run as root' \"\$ERR\""
	done
	case_ "setup --help as a non-root user: usage, exit 0" \
		eval 'as_nobody setup --help && has "^Usage: pam_vpsguard-admin setup"'
else
	skip "commands as a non-root user" "setpriv not installed"
fi
case_ "unban with neither ADDR nor --all: exit 2" rc 2 unban
case_ "unban ADDR --all: exit 2" rc 2 unban 192.0.2.1 --all
case_ "show of a bad address: exit 2, clear message" \
	eval 'rc 2 show 300.1.2.3 && has "not an IPv4 or IPv6 address" "$ERR"'
case_ "ban of a prefix wider than a key: exit 2" \
	eval 'rc 2 ban 2001:db8::/32 && has "counted per /64" "$ERR" && rc 2 ban 203.0.113.0/24'

# --- configuration -----------------------------------------------------------

printf 'maxretry = 3\nbogus.key = 1\n' >"$T/bad.conf"
case_ "bad config key: exit 2 naming file, line and key" \
	eval '"$ADMIN" --conf "$T/bad.conf" status >"$OUT" 2>"$ERR"; [ $? -eq 2 ] && has "$T/bad.conf:2" "$ERR" && has "bogus\.key" "$ERR"'
printf 'maxretry = lots\n' >"$T/bad2.conf"
case_ "bad config value: exit 2 naming the key" \
	eval '"$ADMIN" --conf "$T/bad2.conf" list >"$OUT" 2>"$ERR"; [ $? -eq 2 ] && has "bad2.conf:1" "$ERR" && has "maxretry" "$ERR"'
case_ "a --conf file that does not exist: exit 2" \
	eval '"$ADMIN" --conf "$T/nope.conf" status >"$OUT" 2>"$ERR"; [ $? -eq 2 ] && has "nope.conf" "$ERR"'
case_ "the default config file may be absent (--table only)" \
	eval '"$ADMIN" --table "$T/run/none" status >"$OUT" 2>"$ERR"'
case_ "--table must be absolute: exit 2" \
	eval '"$ADMIN" --table run/table status >"$OUT" 2>"$ERR"; [ $? -eq 2 ] && has "table.path" "$ERR"'

# --- no table yet ------------------------------------------------------------

for c in status list "show 192.0.2.1" metrics; do
	case_ "$c with no table: exit 0 and a note" eval "rc 0 $c && has 'nothing recorded yet' \"\$ERR\""
done
case_ "list with no table: empty output" eval 'rc 0 list && [ ! -s "$OUT" ]'
case_ "list --json with no table: []" eval 'rc 0 list --json && py "j == []"'
case_ "show with no table: no record, exit 0" eval 'rc 0 show 192.0.2.1 && has "no record"'
case_ "read commands never create the table" test ! -e "$TABLE"

# --- ban / unban, seen by the module ----------------------------------------

case_ "a source logs in before any ban" login 203.0.113.7 gooduser
case_ "ban 203.0.113.7: exit 0, 'banned 203.0.113.7 for 1h'" \
	eval 'rc 0 ban 203.0.113.7 && has "^banned 203\.0\.113\.7 for 1h"'
case_ "ban creates the table root-only" eval '[ "$(stat -c %a "$TABLE")" = 600 ]'
case_ "the module refuses the banned source at once (right password)" eval '! login 203.0.113.7 gooduser'
case_ "another source still logs in" login 203.0.113.8 gooduser
case_ "list shows the ban: ban #1, banned until in ~1h" \
	eval 'rc 0 list && has "^203\.0\.113\.7 +0 +1 +in (1h|59m[0-9]+s) "'
case_ "unban 203.0.113.7: exit 0, 'unbanned'" eval 'rc 0 unban 203.0.113.7 && has "^unbanned 203\.0\.113\.7$"'
case_ "after unban the module lets it in again" login 203.0.113.7 gooduser
case_ "unban keeps the ban count: the next default ban is 1d (#2)" \
	eval 'rc 0 ban 203.0.113.7 && has "^banned 203\.0\.113\.7 for 1d \(ban #2\)"'
case_ "unban of an address with no record: exit 1, 'no record for'" \
	eval 'rc 1 unban 192.0.2.99 && has "no record for 192\.0\.2\.99" "$ERR"'
case_ "ban --time 90: 'for 1m30s', JSON remaining 81..90 s" \
	eval 'rc 0 ban 192.0.2.50 --time 90 && has "for 1m30s" && rc 0 show 192.0.2.50 --json && py "81 <= j[\"ban_remaining\"] <= 90 and j[\"manual\"]" && rc 0 unban 192.0.2.50'
case_ "ban of an ignoreip address is refused: exit 1" \
	eval 'rc 1 ban 127.0.0.5 && has "ignoreip" "$ERR"'
case_ "ban --force of an ignoreip address: exit 0" rc 0 ban 198.51.100.250 --force
case_ "v4-mapped address: ban/unban act on the IPv4 key" \
	eval 'rc 0 ban ::ffff:192.0.2.7 --time 1h && has "^banned 192\.0\.2\.7 " && ! login 192.0.2.7 gooduser && ! login ::ffff:192.0.2.7 gooduser && rc 0 unban 192.0.2.7 && login ::ffff:192.0.2.7 gooduser'

# IPv6: keyed per /64.
case_ "ban 2001:db8:66::1 bans the /64 key" \
	eval 'rc 0 ban 2001:db8:66::1 --time 2h && has "^banned 2001:db8:66::/64 for 2h"'
case_ "the module refuses another address of that /64" eval '! login 2001:db8:66::beef gooduser'
case_ "an address in another /64 logs in" login 2001:db8:67::1 gooduser
case_ "show of an IPv6 address names the /64 key and the record" \
	eval 'rc 0 show 2001:db8:66::abcd && has "counted as: +2001:db8:66::/64 \(ipv6\.prefix 64\)" && has "banned until: +in (2h|1h59m)" && has "ignoreip: +not covered"'
case_ "show --json of the /64 prefix: same key, banned" \
	eval 'rc 0 show 2001:db8:66::/64 --json && py "j[\"key\"] == \"2001:db8:66::/64\" and j[\"ipv6_prefix\"] == 64 and j[\"banned\"] and j[\"record\"] and not j[\"ignored\"]"'
case_ "show of an ignoreip address says which entry covers it" \
	eval 'rc 0 show 127.0.0.5 && has "ignoreip: +covered by 127\.0\.0\.0/8" && has "no record"'
case_ "show --json of an ignoreip address: ignored, entry named" \
	eval 'rc 0 show 127.0.0.5 --json && py "j[\"ignored\"] and j[\"ignoreip_entry\"] == \"127.0.0.0/8\" and not j[\"record\"]"'

# --- failures recorded by the module -----------------------------------------

case_ "2 wrong passwords from 198.51.100.1 (maxretry 3)" wrong 2 198.51.100.1
case_ "3 wrong passwords from 198.51.100.2: the module bans it" eval 'wrong 3 198.51.100.2 && ! login 198.51.100.2 gooduser'
case_ "list --failing: exactly 198.51.100.1 with 2 failures" \
	eval 'rc 0 list --failing && [ $(tail -n +2 "$OUT" | wc -l) -eq 1 ] && has "^198\.51\.100\.1 +2 +0 +- "'
case_ "list --banned: the banned ones, not the failing one" \
	eval 'rc 0 list --banned && has "^198\.51\.100\.2 +0 +1 +in " && has "^203\.0\.113\.7 " && has "^2001:db8:66::/64 " && hasnt "^198\.51\.100\.1 "'
case_ "list: banned first (longest first), then failing, then the rest" \
	eval 'rc 0 list && awk "NR>1 {print \$1}" "$OUT" >"$T/order" &&
	      [ "$(head -n 1 "$T/order")" = 203.0.113.7 ] &&
	      [ "$(grep -n . "$T/order" | grep ":198.51.100.1$" | cut -d: -f1)" -gt "$(grep -n . "$T/order" | grep ":198.51.100.2$" | cut -d: -f1)" ] &&
	      [ "$(tail -n 1 "$T/order")" != 198.51.100.1 ]'
case_ "show 198.51.100.1: 2 failures, no ban" \
	eval 'rc 0 show 198.51.100.1 && has "^failures: +2 " && has "^banned until: +-$"'

case_ "list: the source that logged in is TRUSTED, the guesser is not" \
	eval 'rc 0 list && has "^ADDRESS .* TRUSTED " && has "^203\.0\.113\.8 .* yes " && ! has "^198\.51\.100\.2 .* yes +[^ ]+ ago" &&
	      rc 0 list --json && py "[o[\"trusted\"] for o in j if o[\"address\"] == \"203.0.113.8\"] == [True] and [o[\"trusted\"] for o in j if o[\"address\"] == \"198.51.100.2\"] == [False]"'

# --- JSON carries the same facts ---------------------------------------------

# Column cells of the human table, cut at the header's column starts.
cat >"$T/cmp.py" <<'EOF'
import json, re, sys
human, js = open(sys.argv[1]).read().splitlines(), json.load(open(sys.argv[2]))
hdr = human[0]
starts = [m.start() for m in re.finditer(r"(?<!\S)(ADDRESS|BANNED UNTIL|DROPPED|LAST SEEN)", hdr)]
rows = []
for line in human[1:]:
    addr, fails, bans = line.split()[:3]
    until = line[starts[1]:starts[2]].strip()
    dropped = line[starts[2]:starts[3]].strip()
    rows.append((addr, int(fails), int(bans), until != "-", dropped == "yes"))
jrows = [(o["address"], o["failures"], o["ban_count"], o["banned"], o["dropped"]) for o in js]
if rows != jrows:
    print("human:", rows, "\njson: ", jrows)
    sys.exit(1)
for o in js:
    if o["banned"] != (o["ban_remaining"] is not None) or o["banned"] != (o["banned_until"] is not None):
        sys.exit("banned/ban_remaining/banned_until disagree: %r" % o)
    if o["banned"] and not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", o["banned_until"]):
        sys.exit("not ISO 8601 UTC: %r" % o["banned_until"])
print(len(rows), "rows agree")
EOF
for f in "" --banned --failing; do
	case_ "list $f --json parses and has the same rows and counts as the table" \
		eval "rc 0 list $f && cp \"\$OUT\" \"\$T/human\" && rc 0 list $f --json && json_ok && python3 \"\$T/cmp.py\" \"\$T/human\" \"\$OUT\""
done
case_ "--json before the subcommand equals --json after it" \
	eval 'rc 0 --json list --banned && python3 -c "import json,sys; print([o[\"address\"] for o in json.load(open(sys.argv[1]))])" "$OUT" >"$T/j1" &&
	      rc 0 list --banned --json && python3 -c "import json,sys; print([o[\"address\"] for o in json.load(open(sys.argv[1]))])" "$OUT" >"$T/j2" && cmp -s "$T/j1" "$T/j2"'
rc 0 list; USED=$(($(wc -l <"$OUT") - 1))
case_ "status: counts agree with list (banned 4, failing 1, $USED used)" \
	eval 'rc 0 status && has "^banned now: +4$" && has "^failing now: +1$" && has "^table fill: +$USED/1024 \([0-9.]+%\)$" && has "^dropped: +0 \(no nftables table yet"'
case_ "status --json: same numbers, failures_total counts the 5 wrong passwords" \
	eval 'rc 0 status --json && json_ok && py "j[\"sources_banned\"] == 4 and j[\"sources_failing\"] == 1 and j[\"table_used\"] == $USED and j[\"table_size\"] == 1024 and j[\"failures_total\"] == 5 and j[\"sources_dropped\"] == 0 and j[\"bans_total\"] >= 6"'
case_ "show --json parses, and agrees with show" \
	eval 'rc 0 show 198.51.100.2 --json && json_ok && py "j[\"banned\"] and j[\"ban_count\"] == 1 and j[\"failures_ever\"] == 3 and not j[\"manual\"]" && rc 0 show 198.51.100.2 && has "^ban #: +1$" && has "^failures ever: +3$" && has "^by hand: +-$"'

# --- metrics -----------------------------------------------------------------

cat >"$T/prom.py" <<'EOF'
import re, sys
want = {"vpsguard_failures_total": "counter", "vpsguard_bans_total": "counter",
        "vpsguard_denied_total": "counter", "vpsguard_evictions_total": "counter",
        "vpsguard_sources_failing": "gauge", "vpsguard_sources_banned": "gauge",
        "vpsguard_sources_dropped": "gauge", "vpsguard_table_entries": "gauge",
        "vpsguard_table_size": "gauge", "vpsguard_overflow_total": "counter",
        "vpsguard_prefix_bans": "gauge", "vpsguard_nftables_up": "gauge"}
helps, types, vals = set(), {}, {}
for line in open(sys.argv[1]).read().splitlines():
    if m := re.match(r"^# HELP ([a-z_]+) \S.*$", line):
        helps.add(m[1])
    elif m := re.match(r"^# TYPE ([a-z_]+) (counter|gauge)$", line):
        types[m[1]] = m[2]
    elif m := re.match(r"^([a-z_]+) (\d+)$", line):
        if m[1] not in types:
            sys.exit("sample before its TYPE: " + line)
        vals[m[1]] = int(m[2])
    else:
        sys.exit("not exposition format 0.0.4: %r" % line)
if helps != set(want) or types != want or set(vals) != set(want):
    sys.exit("metrics %r types %r" % (sorted(vals), types))
exp = dict(x.split("=") for x in sys.argv[2:])
for k, v in exp.items():
    if vals[k] != int(v):
        sys.exit("%s = %d, want %s" % (k, vals[k], v))
EOF
case_ "metrics: HELP and TYPE for every metric, values as status" \
	eval 'rc 0 metrics && python3 "$T/prom.py" "$OUT" vpsguard_sources_banned=4 vpsguard_sources_failing=1 vpsguard_table_entries=$USED vpsguard_table_size=1024 vpsguard_failures_total=5 vpsguard_sources_dropped=0'
case_ "metrics --json: one object, the same names and values" \
	eval 'rc 0 metrics --json && py "len(j) == 12 and j[\"vpsguard_overflow_total\"] == 0 and j[\"vpsguard_sources_banned\"] == 4 and j[\"vpsguard_table_size\"] == 1024 and j[\"vpsguard_failures_total\"] == 5"'

# --- unban --all ---------------------------------------------------------------

case_ "unban --all: exit 0, 'unbanned 4 sources'" eval 'rc 0 unban --all && has "^unbanned 4 sources$"'
case_ "after unban --all: list --banned is empty, status banned 0" \
	eval 'rc 0 list --banned && [ ! -s "$OUT" ] && rc 0 status --json && py "j[\"sources_banned\"] == 0"'
case_ "after unban --all the module-banned source logs in" login 198.51.100.2 gooduser

# --- output hygiene --------------------------------------------------------------

Q="$T/we\"ird\\dir"
case_ "JSON escapes quotes and backslashes in strings" \
	eval '"$ADMIN" --conf "$CONF" --table "$Q/table" status --json >"$OUT" 2>"$ERR" && python3 -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))[\"table\"] == sys.argv[2] else 1)" "$OUT" "$Q/table"'
B=$(printf '%s/bad\377byte' "$T")
mkdir -m 0700 "$B"
case_ "JSON of a non-UTF-8 path still parses (U+FFFD)" \
	eval '"$ADMIN" --conf "$CONF" --table "$B/table" status --json >"$OUT" 2>"$ERR" && json_ok && py "\"\\ufffd\" in j[\"table\"]"'
case_ "no colour when stdout is not a terminal" eval 'rc 0 ban 192.0.2.60 && rc 0 list && hasnt $(printf "\033")'
if command -v script >/dev/null 2>&1; then
	case_ "colour on a terminal, none with NO_COLOR=1" \
		eval 'script -qec "$ADMIN --conf $CONF list" /dev/null >"$OUT" </dev/null && has $(printf "\033")"\\[" &&
		      NO_COLOR=1 script -qec "$ADMIN --conf $CONF list" /dev/null >"$OUT" </dev/null && hasnt $(printf "\033")'
else
	skip "colour on a terminal" "script(1) not installed"
fi
case_ "a write error (stdout is /dev/full): exit 1" eval '"$ADMIN" --conf "$CONF" status >/dev/full 2>"$ERR"; [ $? -eq 1 ]'
fds_closed() {	# an fd left open by the caller is closed at start
	strace -f -e trace=close_range,close -o "$T/st" "$ADMIN" --conf "$CONF" status 7<"$CONF" >/dev/null 2>&1 &&
		grep -qE "close_range\(3, |close\(7\)" "$T/st"
}
if command -v strace >/dev/null 2>&1; then
	case_ "inherited fds are closed at start" fds_closed
else
	skip "inherited fds are closed at start" "strace not installed"
fi

# --- a big table ---------------------------------------------------------------

sed -e "s|^table.path = .*|table.path = $T/big/table|" -e "s|^table.size = .*|table.size = 65536|" "$CONF" >"$T/big.conf"
mkdir -m 0700 "$T/big"
big_fill() {	# 300 bans with distinct lengths, in a shuffled order
	local i
	for i in $(seq 1 300 | shuf); do
		"$ADMIN" --conf "$T/big.conf" ban "10.$((i / 256)).$((i % 256)).1" --time "$((i * 60))" >/dev/null || return 1
	done
}
case_ "300 bans into a 65,536-entry table" big_fill
start=$(date +%s%N)
"$ADMIN" --conf "$T/big.conf" list --json >"$T/big.json" 2>"$ERR"
echo "note: list --json of 300 sources in a 65,536-entry table took $(( ($(date +%s%N) - start) / 1000000 )) ms"
case_ "list of the 65,536-entry table: 300 rows, longest ban first" \
	eval 'cp "$T/big.json" "$OUT" && py "len(j) == 300 and [o[\"ban_remaining\"] for o in j] == sorted((o[\"ban_remaining\"] for o in j), reverse=True) and j[0][\"address\"] == \"10.1.44.1\""'
case_ "status of the big table: 300/65536" \
	eval '"$ADMIN" --conf "$T/big.conf" status >"$OUT" 2>"$ERR" && has "^table fill: +300/65536 \(0\.5%\)$"'

summary

#!/bin/bash
# lib/nft.c against the real kernel, inside a network namespace this
# script creates (and deletes on exit).  Never touches the host ruleset.
# Addresses: 127.0.0.0/8, 192.0.2.0/24, 2001:db8::/32 only.
# Driver: tests/nft/nftctl.c (built here), network helpers: nethelp.py.
set -u
VG_SUITE=nft
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

need_root
need_cmd ip nft python3 pkg-config cc

NS=vpsg-nft-$$
new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
T=$TMPD
cleanup_ns() { ip netns del "$NS" 2>/dev/null; _vg_cleanup; }
trap cleanup_ns EXIT

# ---- build -------------------------------------------------------------
if ! make -s lib/libvpsguard.a >"$T/build.log" 2>&1 ||
   ! cc -std=gnu11 -Wall -Wextra -Werror -Ilib -o "$T/nftctl" \
	tests/nft/nftctl.c lib/libvpsguard.a \
	$(pkg-config --libs libnftnl libmnl) >>"$T/build.log" 2>&1; then
	fail build "$(_vg_tail "$(cat "$T/build.log")")"
	summary
	exit 1
fi
pass build

ip netns add "$NS" || { fail netns "ip netns add $NS"; summary; exit 1; }
X() { ip netns exec "$NS" "$@"; }
X ip link set lo up
for a in 2001:db8:1::2 2001:db8:1::3 2001:db8:2::2 2001:db8:3::2 \
	 2001:db8:3::3 2001:db8:ff::1; do
	X ip -6 addr add "$a/128" dev lo nodad
done

CTL=$T/nftctl
NH="python3 $ROOT/tests/nft/nethelp.py"
ctl() { X "$CTL" "$@"; }
probe() { X $NH probe "$@"; }
elem() { X $NH elem "$@"; }
count() { X $NH count "$@"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" | head -n1; }	# KEY < report

X $NH serve 2222 2223 </dev/null >/dev/null 2>&1 &
track_pid $!
wait_for 10 sh -c "[ \"\$(ip netns exec $NS $NH probe 127.0.0.3 127.0.0.1 2222)\" = ok ]" ||
	fail listener "no listener on 2222"

# A foreign table made before anything of ours, and one whose name starts
# like ours: both must come out byte-for-byte unchanged.
X nft -f - <<'EOF'
table inet foreign {
	set s { type ipv4_addr; flags timeout; elements = { 192.0.2.200 timeout 1d } }
	chain c { type filter hook input priority 0; policy accept; tcp dport 9 counter accept; }
}
table ip vpsguard2 {
	chain c { ip saddr 192.0.2.201 counter; }
}
EOF
# -s: without the countdown of "expires"; -a: handles show a re-creation.
foreign() { X nft -a -s list table inet foreign && X nft -a -s list table ip vpsguard2; }
foreign >"$T/foreign.before" 2>&1

# ---- ensure ------------------------------------------------------------
out=$(ctl ensure)
if [ "$(field rc <<<"$out")" = 0 ] && [ "$(field rebuilt <<<"$out")" = 1 ] &&
   X nft list chain inet vpsguard input >"$T/chain" 2>&1; then
	pass ensure-creates
else
	fail ensure-creates "$out"
fi
want_rules='ip saddr @drop4 drop comment
ip6 saddr & ffff:ffff:ffff:ffff:: == @drop6 drop comment'
got=$(sed -n 's/^\t\t\(ip.*comment\).*/\1/p' "$T/chain")
[ "$got" = "$want_rules" ] && grep -q 'hook input priority filter - 10; policy accept;' "$T/chain" &&
	pass ensure-rules || fail ensure-rules "$(_vg_tail "$(cat "$T/chain")")"
out=$(ctl ensure)
[ "$(field rc <<<"$out")" = 0 ] && [ "$(field msgs <<<"$out")" = 0 ] &&
	pass ensure-idempotent-sends-nothing || fail ensure-idempotent-sends-nothing "$out"

# ---- drop4 -------------------------------------------------------------
out=$(ctl add drop 120 127.0.0.2)
e=$(elem drop4 127.0.0.2)
[ "$(field rc <<<"$out")" = 0 ] && [ "$e" = "timeout=120 comment=vpsguard" ] &&
	pass drop4-element-with-timeout || fail drop4-element-with-timeout "$out / $e"
r1=$(probe 127.0.0.2 127.0.0.1 2222) r2=$(probe 127.0.0.3 127.0.0.1 2222)
[ "$r1" = timeout ] && [ "$r2" = ok ] &&
	pass drop4-source-gets-no-answer || fail drop4-source-gets-no-answer "banned=$r1 other=$r2"
out=$(ctl list drop)
grep -q '^127.0.0.2 timeout_ms=120000 expires_ms=1[01][0-9][0-9][0-9][0-9] ours=1$' <<<"$out" &&
	pass list-reads-back-kernel || fail list-reads-back-kernel "$(_vg_tail "$out")"

# ---- drop6: the /64 as a whole ----------------------------------------
out=$(ctl -p 64 add drop 120 2001:db8:1::2)
e=$(elem drop6 2001:db8:1::)
[ "$(field rc <<<"$out")" = 0 ] && [ "$e" = "timeout=120 comment=vpsguard" ] &&
	pass drop6-masked-element || fail drop6-masked-element "$out / $e"
r1=$(probe 2001:db8:1::2 2001:db8:ff::1 2222)
r2=$(probe 2001:db8:1::3 2001:db8:ff::1 2222)
r3=$(probe 2001:db8:2::2 2001:db8:ff::1 2222)
[ "$r1" = timeout ] && [ "$r2" = timeout ] && [ "$r3" = ok ] &&
	pass drop6-whole-prefix-dropped || fail drop6-whole-prefix-dropped "::2=$r1 ::3=$r2 2::2=$r3"

# ---- delete ------------------------------------------------------------
out=$(ctl del drop 127.0.0.2)
e=$(elem drop4 127.0.0.2) r1=$(probe 127.0.0.2 127.0.0.1 2222)
[ "$(field deleted <<<"$out")" = 1 ] && [ "$e" = absent ] && [ "$r1" = ok ] &&
	pass delete-reopens-source || fail delete-reopens-source "$out / $e / $r1"
out=$(ctl -p 64 del drop 2001:db8:1::7)	# any address of the /64
r1=$(probe 2001:db8:1::2 2001:db8:ff::1 2222)
[ "$(field deleted <<<"$out")" = 1 ] && [ "$r1" = ok ] &&
	pass delete6-reopens-prefix || fail delete6-reopens-prefix "$out / $r1"
ctl add drop 120 192.0.2.10 >/dev/null
out=$(ctl del drop 192.0.2.99 192.0.2.10)
[ "$(field rc <<<"$out")" = 0 ] && [ "$(field already <<<"$out")" = 1 ] &&
	[ "$(field deleted <<<"$out")" = 1 ] && [ "$(elem drop4 192.0.2.10)" = absent ] &&
	pass delete-absent-is-already-done || fail delete-absent-is-already-done "$out"

# ---- refresh: a shorter timeout replaces a longer one ------------------
ctl add drop 600 127.0.0.4 >/dev/null
out=$(ctl add drop 30 127.0.0.4)
e=$(elem drop4 127.0.0.4)
[ "$e" = "timeout=30 comment=vpsguard" ] &&
	pass refresh-replaces-timeout || fail refresh-replaces-timeout "$out / $e"

# ---- kernel expiry -----------------------------------------------------
ctl add drop 2 127.0.0.9 >/dev/null
e1=$(elem drop4 127.0.0.9)
sleep 3
e2=$(elem drop4 127.0.0.9)
[ "$e1" = "timeout=2 comment=vpsguard" ] && [ "$e2" = absent ] &&
	pass element-expires-in-kernel || fail element-expires-in-kernel "$e1 / $e2"

# ---- rebuilt after deletion by hand; elements survive a rule rewrite ---
X nft delete table inet vpsguard
out=$(ctl ensure)
[ "$(field rebuilt <<<"$out")" = 1 ] && X nft list chain inet vpsguard input >/dev/null 2>&1 &&
	pass table-deleted-by-hand-rebuilt || fail table-deleted-by-hand-rebuilt "$out"
ctl add drop 300 127.0.0.11 >/dev/null
X nft delete chain inet vpsguard input
out=$(ctl ensure)
r1=$(probe 127.0.0.11 127.0.0.1 2222)
[ "$(field rebuilt <<<"$out")" = 1 ] && [ "$r1" = timeout ] &&
	pass chain-deleted-by-hand-rebuilt || fail chain-deleted-by-hand-rebuilt "$out / $r1"
X nft add rule inet vpsguard input counter	# a rule added by hand
out=$(ctl ensure)
n=$(X nft list chain inet vpsguard input | grep -c comment)
[ "$(field rebuilt <<<"$out")" = 1 ] && [ "$n" = 2 ] && ! X nft list chain inet vpsguard input | grep -q 'counter packets' &&
	pass foreign-rule-in-our-chain-rewritten || fail foreign-rule-in-our-chain-rewritten "$out / $n"
out=$(ctl -p 48 ensure)
[ "$(field rebuilt <<<"$out")" = 1 ] && [ "$(elem drop4 127.0.0.11)" != absent ] &&
	X nft list chain inet vpsguard input | grep -q 'ip6 saddr & ffff:ffff:ffff:: == @drop6' &&
	pass config-change-keeps-elements || fail config-change-keeps-elements "$out"
ctl -p 64 ensure >/dev/null
# A set of another shape (edited by hand): the table is recreated.
X nft delete table inet vpsguard
X nft add table inet vpsguard
X nft add set inet vpsguard drop4 '{ type ipv4_addr; }'
out=$(ctl ensure)
[ "$(field rc <<<"$out")" = 0 ] && [ "$(field rebuilt <<<"$out")" = 1 ] &&
	X nft list set inet vpsguard drop4 | grep -q 'flags dynamic,timeout' &&
	pass wrong-shape-set-replaced || fail wrong-shape-set-replaced "$out"

# ---- reconcile ---------------------------------------------------------
printf '127.0.0.21 300\n127.0.0.22 300\n2001:db8:3::9 300\n' >"$T/want"
out=$(ctl -p 64 reconcile drop "$T/want")
[ "$(field rc <<<"$out")" = 0 ] && [ "$(field added <<<"$out")" = 3 ] &&
	[ "$(elem drop6 2001:db8:3::)" = "timeout=300 comment=vpsguard" ] &&
	pass reconcile-adds || fail reconcile-adds "$out"
out=$(ctl -p 64 reconcile drop "$T/want")
[ "$(field msgs <<<"$out")" = 0 ] && [ "$(field kept <<<"$out")" = 3 ] &&
	pass reconcile-no-change-sends-nothing || fail reconcile-no-change-sends-nothing "$out"
printf '127.0.0.21 300\n127.0.0.22 60\n' >"$T/want"
out=$(ctl -p 64 reconcile drop "$T/want")
[ "$(field added <<<"$out")" = 1 ] && [ "$(field deleted <<<"$out")" = 1 ] &&
	[ "$(elem drop4 127.0.0.22)" = "timeout=60 comment=vpsguard" ] &&
	[ "$(elem drop6 2001:db8:3::)" = absent ] &&
	pass reconcile-refreshes-and-deletes || fail reconcile-refreshes-and-deletes "$out"
printf '127.0.0.31 300\n' >"$T/want"
out=$(ctl reconcile trust "$T/want")
[ "$(field added <<<"$out")" = 1 ] && [ "$(elem trust4 127.0.0.31)" != absent ] &&
	pass reconcile-trust || fail reconcile-trust "$out"
: >"$T/empty"
ctl reconcile drop "$T/empty" >/dev/null

# ---- 10,000 elements in one batch; then nothing to send ----------------
out=$(ctl bulk reconcile 10000 600)
n=$(count drop4)
[ "$(field rc <<<"$out")" = 0 ] && [ "$(field batches <<<"$out")" = 1 ] &&
	[ "$(field split <<<"$out")" = 0 ] && [ "$n" = 10000 ] &&
	pass 10000-elements-one-batch || fail 10000-elements-one-batch "$out / count=$n"
echo "  ($(field ms <<<"$out") ms, $(field msgs <<<"$out") messages)"
out=$(ctl bulk reconcile 10000 600)
[ "$(field rc <<<"$out")" = 0 ] && [ "$(field msgs <<<"$out")" = 0 ] &&
	[ "$(field kept <<<"$out")" = 10000 ] &&
	pass 10000-second-pass-sends-nothing || fail 10000-second-pass-sends-nothing "$out"
out=$(ctl bulk refresh 10000 900)	# 10,000 present: add+del+add
n=$(count drop4) e=$(elem drop4 127.16.39.15)
[ "$(field rc <<<"$out")" = 0 ] && [ "$n" = 10000 ] && [ "$e" = "timeout=900 comment=vpsguard" ] &&
	pass 10000-refresh-one-batch || fail 10000-refresh-one-batch "$out / $n / $e"
out=$(ctl reconcile drop "$T/empty")
n=$(count drop4)
[ "$(field deleted <<<"$out")" = 10000 ] && [ "$n" = 0 ] &&
	pass 10000-deleted || fail 10000-deleted "$out / count=$n"

# ---- errors map to elements --------------------------------------------
# A timeout the kernel refuses (ERANGE) aborts the batch; the report
# names the element and nothing of the batch was applied.
printf '127.0.0.41 120\n127.0.0.42 1000000000000\n127.0.0.43 120\n' >"$T/want"
out=$(ctl reconcile drop "$T/want")
if [ "$(field rc <<<"$out")" != 0 ] && [ "$(field errs <<<"$out")" = 1 ] &&
   grep -q '^  err .* in add list at index 1: 127.0.0.42$' <<<"$out" &&
   [ "$(elem drop4 127.0.0.41)" = absent ]; then
	pass error-names-element-batch-atomic
else
	fail error-names-element-batch-atomic "$(tr '\n' '|' <<<"$out")"
fi
if command -v valgrind >/dev/null 2>&1; then
	out=$(X valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite "$CTL" bulk reconcile 1000 60 2>&1)
	rc=$?
	[ $rc = 0 ] && pass valgrind-reconcile || fail valgrind-reconcile "exit $rc: $(_vg_tail "$out")"
	out=$(X valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite "$CTL" ensure --rate 5/60 --bantime 60 --port 2223 \
		--ignore 127.0.0.8,10.0.0.0/8 2>&1)
	rc=$?
	[ $rc = 0 ] && pass valgrind-ensure || fail valgrind-ensure "exit $rc: $(_vg_tail "$out")"
	ctl reconcile drop "$T/empty" >/dev/null
else
	skip valgrind "valgrind not installed"
fi

# ---- no CAP_NET_ADMIN --------------------------------------------------
nocap() {
	if command -v capsh >/dev/null 2>&1; then
		X capsh --drop=cap_net_admin -- -c "$(printf '%q ' "$@")"
	else
		X setpriv --bounding-set -net_admin --inh-caps -net_admin "$@"
	fi
}
ok=1 detail=""
for cmd in "add drop 60 127.0.0.10" "del drop 127.0.0.10" "ensure" "list drop"; do
	# shellcheck disable=SC2086
	out=$(nocap "$CTL" $cmd 2>&1)
	rc=$?
	if [ $rc != 1 ] || ! grep -q 'rc=-1 unavailable=1 (no CAP_NET_ADMIN' <<<"$out"; then
		ok=0 detail="$cmd: exit $rc: $out"
	fi
done
[ $ok = 1 ] && [ "$(elem drop4 127.0.0.10)" = absent ] &&
	pass no-cap-net-admin-eperm || fail no-cap-net-admin-eperm "$detail"

# ---- foreign tables untouched after many passes ------------------------
for i in $(seq 1 20); do
	ctl ensure >/dev/null
	ctl add drop 60 "192.0.2.$i" >/dev/null
	ctl -p 64 add drop 60 "2001:db8:1::$i" >/dev/null
	ctl del drop "192.0.2.$i" >/dev/null
	ctl reconcile drop "$T/empty" >/dev/null
	[ $((i % 5)) = 0 ] && X nft delete table inet vpsguard
done
ctl ensure >/dev/null
foreign >"$T/foreign.after" 2>&1
cmp -s "$T/foreign.before" "$T/foreign.after" && [ -s "$T/foreign.before" ] &&
	pass foreign-table-unchanged ||
	fail foreign-table-unchanged "$(diff "$T/foreign.before" "$T/foreign.after" | head -5 | tr '\n' '|')"

# ---- connlimit ---------------------------------------------------------
out=$(ctl -p 64 ensure --rate 5/60 --bantime 600 --port 2223 --ignore "127.0.0.8/32, 10.0.0.0/8, 10.1.0.0/16")
[ "$(field rc <<<"$out")" = 0 ] && pass connlimit-ensure || fail connlimit-ensure "$out"
ctl add trust 600 127.0.0.7 >/dev/null
fast=$(X $NH burst 127.0.0.5 127.0.0.1 2223 10)
after=$(probe 127.0.0.5 127.0.0.1 2223)
e=$(elem drop4 127.0.0.5)
case $fast in
"ok ok ok ok ok timeout") ;;
*) e="$e (burst: $fast)" ;;
esac
[ "$after" = timeout ] && [ "$e" = "timeout=600 comment=none" ] &&
	pass connlimit-fast-source-dropped || fail connlimit-fast-source-dropped "$fast / $after / $e"
r=$(X $NH burst 127.0.0.7 127.0.0.1 2223 10)
[ "$r" = "ok ok ok ok ok ok ok ok ok ok" ] && [ "$(elem drop4 127.0.0.7)" = absent ] &&
	pass connlimit-trusted-source-exempt || fail connlimit-trusted-source-exempt "$r"
r=$(X $NH burst 127.0.0.8 127.0.0.1 2223 10)
[ "$r" = "ok ok ok ok ok ok ok ok ok ok" ] && [ "$(elem drop4 127.0.0.8)" = absent ] &&
	pass connlimit-ignoreip-exempt || fail connlimit-ignoreip-exempt "$r"
r=$(X $NH burst 127.0.0.6 127.0.0.1 2223 3); sleep 1
r="$r $(X $NH burst 127.0.0.6 127.0.0.1 2223 1)"
[ "$r" = "ok ok ok ok" ] && [ "$(elem drop4 127.0.0.6)" = absent ] &&
	pass connlimit-slow-source-connects || fail connlimit-slow-source-connects "$r"
r=$(X $NH burst 127.0.0.12 127.0.0.1 2222 10)
[ "$r" = "ok ok ok ok ok ok ok ok ok ok" ] &&
	pass connlimit-other-port-unmetered || fail connlimit-other-port-unmetered "$r"
X $NH burst 2001:db8:3::2 2001:db8:ff::1 2223 10 >/dev/null
r=$(probe 2001:db8:3::3 2001:db8:ff::1 2223)	# the same /64
e=$(elem drop6 2001:db8:3::)
[ "$r" = timeout ] && [ "$e" = "timeout=600 comment=none" ] &&
	pass connlimit-ipv6-per-prefix || fail connlimit-ipv6-per-prefix "$r / $e"
out=$(ctl reconcile drop "$T/empty")
[ "$(elem drop4 127.0.0.5)" != absent ] && [ "$(field msgs <<<"$out")" = 0 ] &&
	pass reconcile-keeps-kernel-added || fail reconcile-keeps-kernel-added "$out"
out=$(ctl list drop)
grep -q '^127.0.0.5 timeout_ms=600000 .* ours=0$' <<<"$out" &&
	pass list-marks-kernel-added || fail list-marks-kernel-added "$(_vg_tail "$out")"
out=$(ctl del drop 127.0.0.5)
r=$(probe 127.0.0.5 127.0.0.1 2222)
[ "$(field deleted <<<"$out")" = 1 ] && [ "$r" = ok ] &&
	pass unban-kernel-added || fail unban-kernel-added "$out / $r"
X nft list set inet vpsguard ignore4 | grep -q 'elements = { 10.0.0.0/8, 127.0.0.8 }' &&
	pass ignore-intervals-merged || fail ignore-intervals-merged "$(X nft list set inet vpsguard ignore4 | tr '\n' ' ')"

# ---- destroy -----------------------------------------------------------
out=$(ctl destroy)
! X nft list table inet vpsguard >/dev/null 2>&1 && foreign >"$T/foreign.after" 2>&1 &&
	cmp -s "$T/foreign.before" "$T/foreign.after" &&
	pass destroy-only-ours || fail destroy-only-ours "$out"
out=$(ctl list drop)
grep -q 'rc=-2 ' <<<"$out" && pass list-missing-table-enoent || fail list-missing-table-enoent "$out"

summary

#!/bin/bash
# Link-local IPv6 sources (fe80::/10) never cost the host its IPv6.
# Every host on a link, the default gateway too (routes via fe80::1),
# shares fe80::/64, so a source keyed or dropped per /64 (ipv6.prefix)
# there is the whole link: a drop of it left the gateway's neighbour
# entry INCOMPLETE.  Checked here, against the real kernel:
#   - a ban by hand of fe80::1234: `show` says banned (per address), and
#     `sync` puts no fe80:: element in drop6 or drop6net;
#   - link-local elements already in drop6/drop6net (an older helper's,
#     its connlimit rule's, a restored state file's fe80::/64) are taken
#     out by the next sync;
#   - a PAM failure flood from rhost=fe80::99%lo bans fe80::99 only (the
#     module still refuses it; fe80::1 and another neighbour log in), no
#     fe80::/48 prefix ban (aggregate.v6), nothing dropped;
#   - the connection-rate guard over a veth between two namespaces: a
#     link-local client is never metered (nothing in rate6/drop6), while a
#     2001:db8:: client on the same link is dropped as before.
#
# Runs ENTIRELY inside a network namespace this script creates (and a
# second one for the client side of the veth), both deleted on exit, and
# a private mount namespace (private /etc/pam.d and /etc/security for
# pamtester).  Only PIDs this script started are ever killed.
# Addresses: fe80::/10 (on lo and the veth only), 2001:db8::/32 and
# 192.0.2.0/24.
set -u
VG_SUITE=linklocal
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh

. tests/admin_lib.sh

admin_suite vpsg-ll "$ADMIN" "$MOD"
NSC=vpsg-llc-$$			# the client side of the veth
admin_cleanup_extra() { ip netns del "$NSC" 2>/dev/null; }
private_pam

# ---- helpers (the common ones: tests/admin_lib.sh) ----------------------------

# no_link_local SET...: every SET exists and holds nothing in fe80::/10
# (fe80:: to febf:ffff:...).
no_link_local() {
	local s
	for s in "$@"; do
		nftset "$s" >"$T/set" || { echo "no set $s"; return 1; }
		if grep -qiE '^fe[89ab][0-9a-f]:' "$T/set"; then
			echo "$s holds link-local: $(tr '\n' ' ' <"$T/set")"
			return 1
		fi
	done
}
# jfield KEY: the value of KEY in the show --json in $OUT
jfield() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))" "$OUT" "$1"; }
# listed: the addresses list --json prints, one per line, in $T/listed
listed() {
	rc 0 list --json || return 1
	python3 -c "import json,sys; [print(o['address']) for o in json.load(open(sys.argv[1]))]" "$OUT" >"$T/listed"
}

# ---- 1. a ban by hand of a link-local address ------------------------------

fresh_nft
mkconf hand
case_ "ban fe80::1234 by hand and 2001:db8:5::1 (a control): exit 0" \
	eval 'rc 0 ban fe80::1234 --time 1h && rc 0 ban 2001:db8:5::1 --time 1h'
case_ "show fe80::1234: banned, counted as fe80::1234" \
	eval 'rc 0 show fe80::1234 --json && [ "$(jfield banned)" = True ] && [ "$(jfield key)" = fe80::1234 ] ||
	      { head -c 300 "$OUT"; false; }'
case_ "the ban is of fe80::1234 itself, not of fe80::/64" \
	eval 'listed && grep -qx "fe80::1234" "$T/listed" && ! grep -q "^fe80::/" "$T/listed" ||
	      { echo "list: $(tr "\n" " " <"$T/listed")"; false; }'
case_ "the gateway's address (fe80::1) is not banned" \
	eval 'rc 0 show fe80::1 --json && [ "$(jfield banned)" != True ] && [ "$(jfield key)" = fe80::1 ] ||
	      { head -c 300 "$OUT"; false; }'
case_ "sync: exit 0" rc 0 sync
case_ "sync: the control ban is in drop6 (the drop path works)" in_set drop6 2001:db8:5::
case_ "sync: no link-local element in drop6 or drop6net" no_link_local drop6 drop6net
case_ "a second sync keeps it so" eval 'rc 0 sync && no_link_local drop6 drop6net'
case_ "show fe80::1234 after sync: still banned (refused by the module)" \
	eval 'rc 0 show fe80::1234 --json && [ "$(jfield banned)" = True ] || { head -c 300 "$OUT"; false; }'
case_ "unban fe80::1234: exit 0 (nothing in nftables to lift)" rc 0 unban fe80::1234

# ---- 2. link-local elements already in the drop sets ----------------------
# What an older helper left behind: fe80:: in drop6 with our comment (its
# fe80::/64 ban), one without (its connlimit rule's), fe80:: in drop6net
# (an aggregate.v6 ban of fe80::/48).  The next sync takes them out.
case_ "elements fe80:: (ours and the kernel's) put in drop6 and drop6net" \
	eval 'nft add element inet vpsguard drop6 "{ fe80:: timeout 1h comment \"vpsguard\", fe80:0:0:1:: timeout 1h }" &&
	      nft add element inet vpsguard drop6net "{ fe80:: timeout 1h comment \"vpsguard\" }" &&
	      in_set drop6 fe80:: && in_set drop6 fe80:0:0:1:: && in_set drop6net fe80::'
case_ "sync deletes every link-local element, keeps the control" \
	eval 'rc 0 sync && no_link_local drop6 drop6net && in_set drop6 2001:db8:5::'

# A state file of an older helper, with a fe80::/64 ban: a key no source
# has any more (link-local sources are keyed per address), so it is not
# restored (said so), and never reaches nftables.
case_ "a state file with a fe80::/64 ban (written by an older helper)" \
	eval 'test -f "$STATE" && grep -q "^2001:db8:5::/64 " "$STATE" &&
	      sed -i "s|^2001:db8:5::/64 |fe80::/64 |" "$STATE" && grep -q "^fe80::/64 " "$STATE" ||
	      { cat "$STATE"; false; }'
fresh_nft
rm -f "$TABLE"
case_ "sync does not restore it (exit 0), and says why" eval 'rc 0 sync && has "keyed neither as a source nor as a prefix ban" "$ERR" &&
	listed && ! grep -qx "fe80::/64" "$T/listed" ||
	{ echo "$(head -c 300 "$ERR") / list: $(tr "\n" " " <"$T/listed" 2>/dev/null)"; false; }'
case_ "... and no fe80:: element is dropped in nftables" no_link_local drop6 drop6net

# ---- 3. a PAM failure flood from a link-local rhost -------------------------

if command -v pamtester >/dev/null 2>&1; then
	fresh_nft
	mkconf pam "maxretry = 3" "invalid_user.weight = 1" "aggregate.v6 = 2"
	cat >"$T/pam.d/vg-ll" <<-EOF
	auth     requisite                   $MOD preauth conf=$CONF
	auth     [success=1 default=ignore]  pam_succeed_if.so quiet user = gooduser
	auth     [default=die]               $MOD authfail conf=$CONF
	auth     sufficient                  $MOD authsucc conf=$CONF
	auth     requisite                   pam_deny.so
	account  requisite                   $MOD conf=$CONF
	account  required                    pam_permit.so
	EOF
	login() { pamtester -I rhost="$1" vg-ll "$2" authenticate acct_mgmt </dev/null >/dev/null 2>&1; }
	flood() {	# RHOST N: N wrong passwords; each must fail
		local i
		for ((i = 0; i < $2; i++)); do
			login "$1" baduser && { echo "attempt $i of $1 succeeded"; return 1; }
		done
		return 0
	}
	case_ "6 failed logins from rhost=fe80::99%lo" flood fe80::99%lo 6
	case_ "fe80::99 is banned: the module refuses its right password" \
		eval '! login fe80::99%lo gooduser || { echo "logged in"; false; }'
	case_ "the ban is of fe80::99 alone (no fe80::/64 key)" \
		eval 'listed && grep -qx "fe80::99" "$T/listed" && ! grep -q "^fe80::/" "$T/listed" ||
		      { echo "list: $(tr "\n" " " <"$T/listed")"; false; }'
	case_ "another neighbour (fe80::98) and the gateway (fe80::1) log in" \
		eval 'login fe80::98%lo gooduser && login fe80::1%lo gooduser'
	# A second banned neighbour in another /64 of fe80::/48: with
	# aggregate.v6 = 2 two banned sources of one /48 would ban fe80::/48.
	case_ "6 failed logins from rhost=fe80:0:0:1::97%lo" flood fe80:0:0:1::97%lo 6
	case_ "no prefix ban of fe80::/48 (aggregate.v6 = 2)" \
		eval 'listed && ! grep -q "^fe80::/48" "$T/listed" && grep -qx "fe80:0:0:1::97" "$T/listed" ||
		      { echo "list: $(tr "\n" " " <"$T/listed")"; false; }'
	case_ "after both bans, the gateway (fe80::1) still logs in" login fe80::1%lo gooduser
	# Control: the same for 2001:db8: does aggregate (the check above is
	# not vacuous).
	flood 2001:db8:a:1::1 3 >/dev/null; flood 2001:db8:a:2::1 3 >/dev/null
	case_ "control: two banned /64s of 2001:db8:a::/48 ban the /48" \
		eval 'listed && grep -qx "2001:db8:a::/48" "$T/listed" || { echo "list: $(tr "\n" " " <"$T/listed")"; false; }'
	case_ "sync: exit 0" rc 0 sync
	case_ "sync: the control /48 is in drop6net" in_set drop6net 2001:db8:a::
	case_ "sync: no link-local element in drop6 or drop6net" no_link_local drop6 drop6net
else
	skip "PAM failure flood from a link-local rhost" "pamtester not installed"
fi

# ---- 4. the connection-rate guard over a veth --------------------------------
# This namespace is the server (fe80::1 on the veth, as a host's router
# would be seen, and 2001:db8:ff::1); $NSC the link: client fe80::2 and
# the control 2001:db8:ff::2.  Only these addresses, none generated.

fresh_nft
mkconf conn "connlimit.rate = 5/minute" "connlimit.bantime = 10m" "ssh.ports = 2299"
VS=vgls$$ VC=vglc$$
XC() { ip netns exec "$NSC" "$@"; }
veth_up() {
	ip netns add "$NSC" &&
	ip link add "$VS" type veth peer name "$VC" netns "$NSC" &&
	ip link set dev "$VS" addrgenmode none &&
	XC ip link set dev "$VC" addrgenmode none &&
	XC ip link set lo up &&
	ip addr add fe80::1/64 dev "$VS" nodad &&
	ip addr add 2001:db8:ff::1/64 dev "$VS" nodad &&
	XC ip addr add fe80::2/64 dev "$VC" nodad &&
	XC ip addr add 2001:db8:ff::2/64 dev "$VC" nodad &&
	ip link set "$VS" up && XC ip link set "$VC" up
}
# One connect per line of output: ok | timeout | refused | error:N.
cat >"$T/burst.py" <<'EOF'
import socket, sys
src, dst, ifname, port, n = sys.argv[1:6]
scope = socket.if_nametoindex(ifname) if src.startswith("fe80") else 0
out = []
for _ in range(int(n)):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.bind((src, 0, 0, scope))
        s.connect((dst, int(port), 0, scope))
        s.sendall(b"x")
        r = "ok" if s.recv(1) == b"x" else "eof"
    except socket.timeout:
        r = "timeout"
    except ConnectionRefusedError:
        r = "refused"
    except OSError as e:
        r = "error:%d" % e.errno
    finally:
        s.close()
    out.append(r)
    if r == "timeout":
        break
print(" ".join(out))
EOF
burst() { XC python3 "$T/burst.py" "$1" "$2" "$VC" 2299 "$3"; }
if ! veth_up; then
	fail "veth between two namespaces" "could not set it up"
else
	python3 "$ROOT/tests/nft/nethelp.py" serve 2299 </dev/null >/dev/null 2>&1 &
	track_pid $!
	wait_for 10 sh -c "[ \"\$(python3 '$T/burst.py' 2001:db8:ff::1 2001:db8:ff::1 lo 2299 1)\" = ok ]" ||
		fail listener "no listener on 2299"
	case_ "sync with connlimit.rate 5/minute on port 2299: exit 0" \
		eval 'rc 0 sync && nft list chain inet vpsguard input | grep -q "ct status assured" ||
		      { head -c 300 "$ERR"; false; }'
	r=$(burst fe80::2 fe80::1 25)
	case_ "25 connections from neighbour fe80::2: all answered" \
		eval '[ "$r" = "$(printf "ok%.0s " $(seq 1 25) | sed "s/ $//")" ] || { echo "$r"; false; }'
	case_ "nothing link-local in rate6, drop6 or drop6net" no_link_local rate6 drop6 drop6net
	case_ "fe80::2 still gets an answer" eval '[ "$(burst fe80::2 fe80::1 1)" = ok ]'
	r=$(burst 2001:db8:ff::2 2001:db8:ff::1 10)
	case_ "control: 2001:db8:ff::2 on the same link is dropped by the guard" \
		eval 'in_set drop6 2001:db8:ff:: && [ "$(burst 2001:db8:ff::2 2001:db8:ff::1 1)" = timeout ] ||
		      { echo "burst: $r"; false; }'
	case_ "fe80::2 is still answered while its link's 2001:db8 /64 is dropped" \
		eval '[ "$(burst fe80::2 fe80::1 1)" = ok ]'
	case_ "a sync afterwards: drop6 still free of link-local" eval 'rc 0 sync && no_link_local drop6 drop6net rate6'
fi

summary

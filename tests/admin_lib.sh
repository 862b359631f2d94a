# The harness of the suites that drive pam_vpsguard-admin against real
# nftables (tests/cli/test_helper.sh, tests/cli/test_admin_files.sh,
# tests/nft/test_linklocal.sh).  Source it after tests/lib.sh, with
# VG_SUITE and ROOT set.
#
# admin_suite NETNS FILE...: outside, checks root, the tools and the
# built FILEs, then re-runs the script inside a network namespace of
# its own (deleted on exit) and a private mount namespace; inside, sets
# up T (a temp dir), OUT, ERR and the EXIT trap, which stops our
# children, runs admin_cleanup_extra if the script defines it, undoes
# the mounts listed in MOUNTS and removes the temp dirs.  Only PIDs this
# shell started are ever killed.

BUILD=${VG_BUILD:-$ROOT/build}	# make O=dir: VG_BUILD=dir
ADMIN=$BUILD/pam_vpsguard-admin
MOD=$BUILD/pam_vpsguard.so

admin_suite() {
	local ns=$1 f
	shift
	if [ -z "${VG_NETNS:-}" ]; then
		need_root
		need_cmd ip nft unshare mount python3 timeout
		for f in "$@"; do
			if [ ! -f "$f" ]; then
				fail "$VG_SUITE" "$f not built (make)"
				exit 1
			fi
		done
		reexec_in_netns "$ns"
	fi
	in_own_netns || exit 1
	ip link set lo up
	new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
	T=$TMPD
	OUT=$T/out ERR=$T/err
	MOUNTS=()
	trap admin_cleanup EXIT
}

# Our daemons first, then what they may hold open.
admin_cleanup() {
	local m

	_vg_stop_pids
	if declare -F admin_cleanup_extra >/dev/null; then
		admin_cleanup_extra
	fi
	for m in ${MOUNTS[@]+"${MOUNTS[@]}"}; do
		umount "$m" 2>/dev/null
	done
	_vg_cleanup
}

# private_pam: /etc/pam.d and /etc/security become empty private dirs
# (pamtester's service files go to $T/pam.d).
private_pam() {
	local m
	mkdir -m 0700 "$T/pam.d" "$T/etcsec"
	for m in /etc/pam.d:"$T/pam.d" /etc/security:"$T/etcsec"; do
		mount --bind "${m#*:}" "${m%%:*}" ||
			{ fail "$VG_SUITE" "bind mount of ${m%%:*}"; exit 1; }
		MOUNTS+=("${m%%:*}")
	done
}

# mkconf NAME [LINE...]: a fresh directory $T/NAME with a config CONF
# (table in D/run, state in D/lib; MKCONF_TOTP=1: TOTP secrets in
# D/totp); sets D, CONF, STATE, TABLE.  The LINEs come from line 5 on.
mkconf() {
	local l
	D=$T/$1
	shift
	mkdir -m 0700 "$D" "$D/run"
	CONF=$D/vg.conf STATE=$D/lib/state TABLE=$D/run/table
	{
		echo "table.path = $TABLE"
		echo "state.path = $STATE"
		echo "table.size = 1024"
		echo "connlimit.rate = 0"
		for l in "$@"; do echo "$l"; done
		[ "${MKCONF_TOTP:-0}" = 1 ] && echo "totp.secrets = $D/totp"
	} >"$CONF"
}
# a ARGS...: the CLI with $CONF; stdout in $OUT, stderr in $ERR.
a() { "$ADMIN" --conf "$CONF" "$@" >"$OUT" 2>"$ERR"; }
# rc WANT ARGS...: a, then 0 if the exit status is WANT.
rc() {
	local want=$1 r
	shift
	a "$@"
	r=$?
	[ $r -eq "$want" ] || { echo "$* exit $r, want $want: $(head -c 300 "$ERR" | tr '\n' '|') stdout: $(head -c 200 "$OUT" | tr '\n' '|')"; return 1; }
}
fresh_nft() { nft delete table inet vpsguard 2>/dev/null; return 0; }

# nftset SET: "ELEM TIMEOUT EXPIRES" per element of inet vpsguard SET
# (ELEM an address, or ADDR/LEN for a prefix; timeouts in seconds, "-"
# when none); exit 1 if the set is missing.
nftset() {
	python3 -c '
import json, subprocess, sys
p = subprocess.run(["nft", "-j", "list", "set", "inet", "vpsguard", sys.argv[1]],
                   capture_output=True, text=True)
if p.returncode:
    sys.exit(1)
for o in json.loads(p.stdout)["nftables"]:
    for e in o.get("set", {}).get("elem", []):
        t = x = "-"
        if isinstance(e, dict) and "elem" in e:
            t, x = e["elem"].get("timeout", "-"), e["elem"].get("expires", "-")
            e = e["elem"]["val"]
        if isinstance(e, dict) and "prefix" in e:
            e = "%s/%s" % (e["prefix"]["addr"], e["prefix"]["len"])
        print(e, t, x)
' "$1"
}
in_set() {	# SET ADDR: ADDR is an element of SET
	nftset "$1" >"$T/set" || { echo "no set $1"; return 1; }
	grep -q "^$2 " "$T/set" || { echo "$2 not in $1: $(tr '\n' '|' <"$T/set")"; return 1; }
}
not_in_set() {	# SET ADDR: SET exists and ADDR is not in it
	nftset "$1" >"$T/set" || { echo "no set $1"; return 1; }
	! grep -q "^$2 " "$T/set" || { echo "$2 in $1: $(tr '\n' '|' <"$T/set")"; return 1; }
}

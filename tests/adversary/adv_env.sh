# shellcheck shell=bash
# tests/adversary/adv_env.sh: what the adversarial cases share (issue 14).
# Sourced after tests/lib.sh by tests/adversary/test_*.sh:
#
#	adv_init			# root, binaries, TMPD=$T, $T/run
#	adv_conf NAME LINE...		# $T/NAME.conf: table under $T/run
#	adv_stack SVC CONF PW [SNIPPET]	# the SPEC's Debian stack as $T/SVC,
#					# pam_unix replaced by the stand-in
#					# (password PW), or PW "-": real pam_unix
#	adv_users			# test users A and B in a private
#					# overlay of /etc (real pam_unix)
#	adv try SVC USER RHOST ANSWER [N]	# vg_adversary, confdir $T
#	kv OUT KEY			# the value of KEY=... in OUT
#	adv_stat CONF KEY		# status --json KEY ("unknown" if absent)
#	adv_show CONF ADDR KEY		# show ADDR --json KEY
#
# Everything runs through real Linux-PAM: pam_start_confdir() with $T as
# the confdir, the module by absolute path, so no /etc/pam.d file is
# read or written.  The admin CLI reads the table with a separate
# "stat" configuration that names only table.path, so it answers on
# code that does not know the newer keys too.

ROOT=${ROOT:-$PWD}
ADV=$ROOT/build/tests/adversary/vg_adversary
STANDIN=$ROOT/build/tests/adversary/pam_vgpass.so
MOD=$ROOT/build/pam_vpsguard.so
ADMIN=$ROOT/build/pam_vpsguard-admin
SNIPPET=$ROOT/sshd_snippets/pam.d-sshd.debian
ADV_USER_A="" ADV_USER_B="" ADV_PASS_A="" ADV_PASS_B=""

adv_init() {
	local f
	need_root
	for f in "$ADV" "$STANDIN" "$MOD" "$ADMIN"; do
		if [ ! -e "$f" ]; then
			fail "$VG_SUITE" "$f not built (make all tests-bin)"
			exit 1
		fi
	done
	new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
	T=$TMPD
	mkdir -m 0700 "$T/run"
	# A service we name wrongly falls back to "other" in the confdir.
	printf '%s\n' "auth required pam_deny.so" "account required pam_deny.so" \
		"session required pam_deny.so" "password required pam_deny.so" >"$T/other"
}

# adv_conf NAME LINE...: $T/NAME.conf, its own table $T/run/NAME.table,
# and $T/NAME.stat.conf (table.path only) for the CLI.
adv_conf() {
	local name=$1
	shift
	{
		echo "# tests/adversary: $name"
		echo "table.path = $T/run/$name.table"
		echo "state.path = $T/run/$name.state"
		printf '%s\n' "$@"
	} >"$T/$name.conf"
	printf 'table.path = %s\n' "$T/run/$name.table" >"$T/$name.stat.conf"
}

# adv_stack SVC CONF PW [SNIPPET]: sshd_snippets/pam.d-sshd.debian (the
# reference stack, or SNIPPET) as confdir service SVC, module lines by absolute path with
# conf=CONF; "pam_unix.so nullok" becomes the stand-in (PW = its right
# password) or stays the real pam_unix (PW "-"); then the rest of
# Debian's account stack (pam_permit stands in for common-account).
adv_stack() {
	local svc=$1 conf=$2 pw=$3 snip=${4:-$SNIPPET} src pwmod
	[ -r "$snip" ] || { echo "no $snip" >&2; return 1; }
	src=$(grep -Ev '^[[:space:]]*(#|$)' "$snip")
	if [ "$pw" = - ]; then
		pwmod="pam_unix.so nullok"
	else
		pwmod="$STANDIN pass=$pw"
	fi
	printf '%s\n' "$src" |
	sed -e "s#pam_vpsguard.so\\( [a-z]*\\)\\?\$#$MOD\\1 conf=$conf#" \
	    -e "s#pam_unix.so nullok#$pwmod#" >"$T/$svc"
	echo "account  required                    pam_permit.so" >>"$T/$svc"
	if ! grep -q "$MOD" "$T/$svc" || grep -Eq '[[:space:]]pam_vpsguard\.so' "$T/$svc"; then
		echo "stack $svc: a module line was not rewritten: $(tr '\n' '|' <"$T/$svc")" >&2
		return 1
	fi
}

# adv ARGS...: the driver with confdir $T (its first argument after the
# command), e.g. adv try SVC USER RHOST ANSWER N.
adv() {
	local cmd=$1
	shift
	"$ADV" "$cmd" "$T" "$@"
}

kv() {	# OUT KEY: the value of KEY=VALUE in OUT (first match), or ""
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# _json_key KEY: from one-key-per-line JSON (the CLI's --json objects)
# on stdin, KEY's value without quotes or trailing comma; "none" for
# null; "unknown" when the key is absent.
_json_key() {
	local v
	v=$(sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*//p" | head -n 1)
	v=${v%,}
	v=${v#\"}
	v=${v%\"}
	case $v in
	"") echo unknown ;;
	null) echo none ;;
	*) echo "$v" ;;
	esac
}

# adv_stat NAME KEY: pam_vpsguard-admin status --json, one key ("unknown"
# when the CLI does not report it, or fails).
adv_stat() {
	"$ADMIN" --conf "$T/$1.stat.conf" status --json 2>/dev/null | _json_key "$2"
}

# adv_show NAME ADDR KEY: pam_vpsguard-admin show ADDR --json, one key
# ("none" when null, "unknown" when absent: e.g. no record).
adv_show() {
	"$ADMIN" --conf "$T/$1.stat.conf" show "$2" --json 2>/dev/null | _json_key "$3"
}

# adv_users: two test users with known passwords for the real pam_unix,
# in a private overlay of /etc (needs reexec_private_mountns first).  The
# host's /etc is never written: the overlay's upper layer is under $T and
# vanishes with the mount namespace.  Sets ADV_USER_A/B, ADV_PASS_A/B.
adv_users() {
	local n uid hash u
	in_private_mountns || { echo "adv_users: not in a private mount namespace"; return 1; }
	command -v openssl >/dev/null || { echo "openssl not installed"; return 1; }
	for n in vgadva vgadva1 vgadva2; do
		getent passwd "$n" >/dev/null 2>&1 || { ADV_USER_A=$n; break; }
	done
	for n in vgadvb vgadvb1 vgadvb2; do
		getent passwd "$n" >/dev/null 2>&1 || { ADV_USER_B=$n; break; }
	done
	if [ -z "$ADV_USER_A" ] || [ -z "$ADV_USER_B" ]; then
		echo "no free user name"
		return 1
	fi
	ADV_PASS_A="a-right-$RANDOM$RANDOM"
	ADV_PASS_B="b-right-$RANDOM$RANDOM"
	mkdir -m 755 "$T/etc-upper" "$T/etc-work"
	mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/etc-upper,workdir=$T/etc-work" /etc ||
		{ echo "overlay on /etc failed"; return 1; }
	uid=64201
	for u in "$ADV_USER_A:$ADV_PASS_A" "$ADV_USER_B:$ADV_PASS_B"; do
		while getent passwd "$uid" >/dev/null 2>&1; do uid=$((uid + 1)); done
		hash=$(openssl passwd -6 "${u#*:}") || return 1
		echo "${u%%:*}:x:$uid:$uid:tests/adversary:/nonexistent:/usr/sbin/nologin" >>/etc/passwd
		echo "${u%%:*}:$hash:19000:0:99999:7:::" >>/etc/shadow
		echo "${u%%:*}:x:$uid:" >>/etc/group
		uid=$((uid + 1))
	done
	if ! getent passwd "$ADV_USER_A" >/dev/null || ! getent passwd "$ADV_USER_B" >/dev/null; then
		echo "test users not visible"
		return 1
	fi
}

# The figures a case measured, on their own lines (not counted by the
# runner: no PASS/FAIL/SKIP prefix).
figure() { echo "  figure: $*"; }

# line1 TEXT: its first line (a driver's summary, for a FAIL detail).
line1() { printf '%s\n' "$1" | head -n 1; }

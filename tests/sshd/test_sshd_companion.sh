#!/bin/bash
# setup / harden / unharden / confirm / audit against a real sshd.
#
# The whole suite runs in its own mount AND network namespace (it
# re-executes itself under unshare -m -n): a tmpfs on /run (sshd's
# privsep dir), an overlay on /etc holding the test user (the host's
# /etc is never written), a bind of a temp dir over /home and a tmpfs
# over /root (root's authorized key), and an sshd on port 22 of the
# private loopback.  The trees the CLI edits are temp dirs given with
# --root; the host's /etc/pam.d, /etc/ssh, sshd and firewall are never
# touched.  Everything vanishes with the namespaces.
set -u
VG_SUITE=sshd-companion
cd "$(dirname "$0")/../.." || exit 1
SRC=$PWD
. tests/lib.sh

need_root
need_cmd unshare mount ip sshd ssh ssh-keygen sshpass openssl python3 pamtester diff sha256sum setsid
ADMIN=$SRC/build/pam_vpsguard-admin
MOD=$SRC/build/pam_vpsguard.so
if [ ! -x "$ADMIN" ] || [ ! -f "$MOD" ]; then
	fail "$VG_SUITE" "build first (make all)"
	exit 1
fi
if [ -z "${VG_HOST_MNTNS:-}" ]; then
	VG_HOST_MNTNS=$(readlink /proc/self/ns/mnt)
	export VG_HOST_MNTNS
	exec unshare -m -n --propagation private bash "$0" "$@"
fi
in_private_mountns || { fail "$VG_SUITE" "not in a private mount namespace"; exit 1; }
ip link set lo up

new_tmpdir || { fail "$VG_SUITE" mktemp; exit 1; }
T=$TMPD
chmod 755 "$T"
mount -t tmpfs -o mode=755,size=8m vg-run /run && mkdir -m 755 /run/sshd &&
	mkdir -m 700 /run/vpsguard || { fail "$VG_SUITE" "tmpfs /run"; exit 1; }
mkdir -p "$T/upper" "$T/work" "$T/home" "$T/roothome"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/upper,workdir=$T/work" /etc ||
	{ fail "$VG_SUITE" "overlay on /etc"; exit 1; }
mount --bind "$T/home" /home && mount --bind "$T/roothome" /root ||
	{ fail "$VG_SUITE" "bind /home, /root"; exit 1; }

# --- the test user: vgadmin, in sudo, with a key and a password ------------
U=vgadmin
PW="pw-$RANDOM$RANDOM"
getent passwd "$U" >/dev/null && { fail "$VG_SUITE" "user $U exists on the host"; exit 1; }
echo "$U:x:64201:64201:vpsguard test:/home/$U:/bin/sh" >>/etc/passwd
echo "$U:$(openssl passwd -6 "$PW"):19000:0:99999:7:::" >>/etc/shadow
echo "$U:x:64201:" >>/etc/group
awk -v u="$U" -F: 'BEGIN{OFS=":"} $1=="sudo"{ $4 = ($4=="" ? u : $4","u) } {print}' /etc/group >"$T/group" &&
	cat "$T/group" >/etc/group
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" && ssh-keygen -q -t ed25519 -N '' -f "$T/key" ||
	{ fail "$VG_SUITE" ssh-keygen; exit 1; }
mkdir -p "/home/$U/.ssh" /root/.ssh
cp "$T/key.pub" "/home/$U/.ssh/authorized_keys"
cp "$T/key.pub" /root/.ssh/authorized_keys
chown -R 64201:64201 "/home/$U"
chmod 700 "/home/$U/.ssh" /root/.ssh

# mk_tree DIR: a Debian 12 tree.  Its sshd_config is Debian's, with the
# Include pointing into DIR (so the real sshd below reads the tree's
# drop-ins), and the test's host key and pid file appended.
mk_tree() {
	local r=$1
	mkdir -p "$r/etc/ssh/sshd_config.d" "$r/etc/pam.d" "$r/run"
	sed "s|^Include /etc/ssh/sshd_config.d/|Include $r/etc/ssh/sshd_config.d/|" \
		/etc/ssh/sshd_config >"$r/etc/ssh/sshd_config"
	cat >>"$r/etc/ssh/sshd_config" <<-EOF
	HostKey $T/hostkey
	PidFile $r/run/sshd.pid
	StrictModes no
	LogLevel VERBOSE
	EOF
	cp /etc/passwd /etc/group "$r/etc/"
	cp /etc/pam.d/sshd /etc/pam.d/common-* "$r/etc/pam.d/"
	ln -sfn "$T/home" "$r/home"
	# The shells: a user counts only if his shell exists in the tree.
	ln -sfn /bin "$r/bin"
	ln -sfn /usr "$r/usr"
}
tree_sum() { (cd "$1" && find etc -type f -print0 | sort -z | xargs -0 sha256sum); }
A() { "$ADMIN" "$@"; }
OUT=$T/out
run() { "$@" >"$OUT" 2>&1; }	# rc kept, output in $OUT

# ============================ setup ========================================
S=$T/pam-deb
mkdir -p "$S/etc/pam.d"
cp /etc/pam.d/sshd /etc/pam.d/common-* "$S/etc/pam.d/"
cp "$S/etc/pam.d/sshd" "$T/sshd.orig"
before=$(tree_sum "$S")
expect_rc "setup --dry-run (Debian) exits 0" 0 A setup --root "$S" --module "$MOD" --dry-run
run A setup --root "$S" --module "$MOD" --dry-run
check "setup --dry-run prints a unified diff" grep -q '^+auth.*pam_vpsguard.so preauth' "$OUT"
check "setup --dry-run changes nothing" test "$before" = "$(tree_sum "$S")"
expect_rc "setup (Debian 12 /etc/pam.d/sshd copy)" 0 A setup --root "$S" --module "$MOD"
check "setup: preauth, authfail, authsucc, account stacked" \
	eval "grep -q 'requisite  *$MOD preauth' '$S/etc/pam.d/sshd' && grep -q 'die]  *$MOD authfail' '$S/etc/pam.d/sshd' && grep -q 'sufficient  *$MOD authsucc' '$S/etc/pam.d/sshd' && grep -q '^account  *requisite  *$MOD\$' '$S/etc/pam.d/sshd'"
check "setup: @include common-auth no longer active" eval "! grep -q '^@include common-auth' '$S/etc/pam.d/sshd'"
check "setup: backup of the original kept" cmp "$S/var/lib/vpsguard/backup/pam.d-sshd.orig" "$T/sshd.orig"
cp "$S/etc/pam.d/sshd" "$T/once"
expect_rc "setup again exits 0" 0 A setup --root "$S" --module "$MOD"
check "setup twice = once (byte-equal)" cmp "$S/etc/pam.d/sshd" "$T/once"
check "common-auth untouched" cmp "$S/etc/pam.d/common-auth" /etc/pam.d/common-auth
expect_rc "setup --undo exits 0" 0 A setup --root "$S" --undo
check "setup --undo restores the Debian file byte for byte" cmp "$S/etc/pam.d/sshd" "$T/sshd.orig"

# The stacked Debian result under pamtester: our private /etc/pam.d.
A setup --root "$S" --module "$MOD" >/dev/null 2>&1
mount --bind "$S/etc/pam.d" /etc/pam.d
pt() {	# RHOST PASSWORD OP
	echo "$2" | pamtester -I "rhost=$1" sshd "$U" "$3" >"$OUT" 2>&1
}
check "stacked Debian stack: right password logs in" pt 192.0.2.10 "$PW" authenticate
ok=1
for i in 1 2 3 4 5; do pt 192.0.2.11 "wrong-$i" authenticate && ok=0; done
check "stacked Debian stack: 5 wrong passwords fail" test $ok = 1
check "stacked Debian stack: then the right password is refused (banned)" eval "! pt 192.0.2.11 '$PW' authenticate"
check "stacked Debian stack: banned source denied in the account phase" eval "! pt 192.0.2.11 '$PW' acct_mgmt"
check "stacked Debian stack: another source still logs in" pt 192.0.2.12 "$PW" authenticate
check "stacked Debian stack: setcred succeeds after a login" \
	eval "echo '$PW' | pamtester -I rhost=192.0.2.13 sshd $U authenticate setcred >'$OUT' 2>&1"
umount /etc/pam.d
A setup --root "$S" --undo >/dev/null 2>&1

# Rocky 9
R9=$T/pam-rocky
mkdir -p "$R9/etc/pam.d"
cp tests/data/pam.d-sshd.rocky9 "$R9/etc/pam.d/sshd"
cp tests/data/pam.d-password-auth.rocky9 "$R9/etc/pam.d/password-auth"
expect_rc "setup (Rocky 9 /etc/pam.d/sshd copy)" 0 A setup --root "$R9" --module "$MOD"
check "setup Rocky: substack password-auth replaced, postlogin kept" \
	eval "grep -q '^#pam_vpsguard-setup# auth       substack     password-auth' '$R9/etc/pam.d/sshd' && grep -q '^auth       include      postlogin' '$R9/etc/pam.d/sshd' && grep -q 'required  *$MOD authsucc' '$R9/etc/pam.d/sshd'"
check "setup Rocky: pam_unix keeps password-auth's nullok" grep -q 'pam_unix.so nullok$' "$R9/etc/pam.d/sshd"
cp "$R9/etc/pam.d/sshd" "$T/once9"
A setup --root "$R9" --module "$MOD" >/dev/null 2>&1
check "setup Rocky twice = once" cmp "$R9/etc/pam.d/sshd" "$T/once9"
A setup --root "$R9" --undo >/dev/null 2>&1
check "setup --undo restores the Rocky file byte for byte" cmp "$R9/etc/pam.d/sshd" tests/data/pam.d-sshd.rocky9

# Unknown layout, missing module
X=$T/pam-odd
mkdir -p "$X/etc/pam.d"
printf 'auth required pam_unix.so\naccount required pam_unix.so\n' >"$X/etc/pam.d/sshd"
cp "$X/etc/pam.d/sshd" "$T/odd"
run A setup --root "$X" --module "$MOD"
rc=$?
check "setup refuses an unknown layout (exit 1)" test $rc = 1
check "... with instructions" grep -q 'unknown layout, not guessing' "$OUT"
check "... and leaves the file alone" cmp "$X/etc/pam.d/sshd" "$T/odd"
before=$(tree_sum "$S")
expect_rc "setup refuses when the module is not installed" 1 A setup --root "$S"
check "... and writes nothing" test "$before" = "$(tree_sum "$S")"

# ============================ harden: guards and rollback ==================
R=$T/tree
mk_tree "$R"
G=$T/guard
mk_tree "$G"
mv "$T/home/$U/.ssh/authorized_keys" "$T/ak.aside"
before=$(tree_sum "$G")
run A harden --root "$G"
rc=$?
check "harden without any authorized key is refused (exit 1)" test $rc = 1
check "... saying why" grep -q 'no user but root has an authorized key' "$OUT"
check "... and where sshd looks for keys (AuthorizedKeysFile, as sshd -T says)" \
	grep -q 'AuthorizedKeysFile: .ssh/authorized_keys .ssh/authorized_keys2)' "$OUT"
check "... and writes nothing" test "$before" = "$(tree_sum "$G")"
expect_rc "harden --force writes anyway" 0 A harden --root "$G" --force
check "... the drop-in is there" test -f "$G/etc/ssh/sshd_config.d/10-vpsguard.conf"
mv "$T/ak.aside" "$T/home/$U/.ssh/authorized_keys"
A unharden --root "$G" >/dev/null 2>&1
check "unharden removes the drop-in" test ! -e "$G/etc/ssh/sshd_config.d/10-vpsguard.conf"

grep -v '^Include' "$G/etc/ssh/sshd_config" >"$T/noinc" && cp "$T/noinc" "$G/etc/ssh/sshd_config"
before=$(tree_sum "$G")
run A harden --root "$G"
rc=$?
check "harden refuses a sshd_config without Include of sshd_config.d" test $rc = 1
check "... and says which line to add" grep -qF 'Include /etc/ssh/sshd_config.d/*.conf' "$OUT"
check "... writing nothing" test "$before" = "$(tree_sum "$G")"

sed -i 's/^sudo:\(.*\),vgadmin$/sudo:\1/; s/^sudo:\(.*\):vgadmin$/sudo:\1:/' "$R/etc/group"
run A harden --root "$R" --dry-run
check "harden refuses when no non-root user is in sudo/wheel" grep -q 'no user but root is in sudo or wheel' "$OUT"
cp /etc/group "$R/etc/group"

# Rollback: a later file with "AuthenticationMethods password" is fine
# until PasswordAuthentication goes off; then sshd -t fails.
mk_tree "$G"
rm -f "$G/etc/ssh/sshd_config.d/"*
echo "AuthenticationMethods password" >"$G/etc/ssh/sshd_config.d/60-local.conf"
echo "# an older drop-in of ours" >"$G/etc/ssh/sshd_config.d/10-vpsguard.conf"
before=$(tree_sum "$G")
run A harden --root "$G"
rc=$?
check "harden: sshd -t fails -> exit 1" test $rc = 1
check "... sshd's message is shown" grep -q 'sshd -t rejects' "$OUT"
check "... and the tree is byte for byte as before (sha256)" test "$before" = "$(tree_sum "$G")"

# Template and generated drop-in agree (the template is documentation).
run A harden --root "$R" --dry-run
check "harden --dry-run: the diff adds the SPEC keywords" \
	eval "grep -q '^+PasswordAuthentication no' '$OUT' && grep -q '^+MaxAuthTries 3' '$OUT'"
check "harden --dry-run writes nothing" test ! -e "$R/etc/ssh/sshd_config.d/10-vpsguard.conf"
check "sshd_snippets/sshd_config.d-10-vpsguard.conf = what harden writes (keywords)" \
	diff <(grep -E '^\+[A-Za-z]' "$OUT" | cut -c2-) <(grep -E '^[A-Za-z]' sshd_snippets/sshd_config.d-10-vpsguard.conf)
if [ -f sshd_snippets/sshd_config.d-10-vpsguard-totp.conf ]; then
	run A harden --root "$R" --dry-run --totp
	check "sshd_snippets/...-totp.conf = what harden --totp writes (keywords)" \
		diff <(grep -E '^\+[A-Za-z]' "$OUT" | cut -c2- | sort) <(grep -E '^[A-Za-z]' sshd_snippets/sshd_config.d-10-vpsguard-totp.conf | sort)
fi

# ============================ a real sshd on the tree ======================
echo "PasswordAuthentication yes" >"$R/etc/ssh/sshd_config.d/50-cloud-init.conf"
/usr/sbin/sshd -D -f "$R/etc/ssh/sshd_config" -E "$T/sshd.log" </dev/null &
SSHD=$!
track_pid "$SSHD"
SSH_OPTS=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=3)
pw_login() { sshpass -p "$PW" ssh "${SSH_OPTS[@]}" -o PreferredAuthentications=password,keyboard-interactive -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 "$U@127.0.0.1" true </dev/null; }
key_login() { ssh "${SSH_OPTS[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i "$T/key" "$1@127.0.0.1" true </dev/null; }
hups() { grep -c 'Received SIGHUP' "$T/sshd.log"; }
reload() { kill -HUP "$(cat "$R/run/sshd.pid")"; sleep 0.5; wait_for 5 ssh-keyscan -T 1 127.0.0.1; }
if ! wait_for 10 test -s "$R/run/sshd.pid" || ! wait_for 10 ssh-keyscan -T 1 127.0.0.1; then
	fail "$VG_SUITE" "sshd did not start: $(tail -n 3 "$T/sshd.log" | tr '\n' '|')"
	summary
	exit 1
fi
check "before harden: password login works (cloud-init's yes)" pw_login
run A audit --root "$R"
rc=$?
check "audit of the default Debian config: exit 3" test $rc = 3
check "... FAIL root login (PermitRootLogin without-password)" grep -q '^FAIL  root login' "$OUT"
check "... FAIL password login" grep -q '^FAIL  password login allowed' "$OUT"
check "... FAIL module not stacked" grep -q '^FAIL  pam_vpsguard is not stacked' "$OUT"
check "... FAIL the running sshd offers password" grep -q '^FAIL  the running sshd on port 22 offers.*password' "$OUT"
check "... WARN X11Forwarding yes (Debian's default) with a fix" \
	eval "grep -A1 '^WARN  X11Forwarding yes' '$OUT' | grep -q 'fix:'"
check "... PASS the sudo user's key" grep -q "^PASS  sudo/wheel user $U has a public key" "$OUT"

expect_rc "harden (with 50-cloud-init.conf PasswordAuthentication yes)" 0 A harden --root "$R"
T_OUT=$(/usr/sbin/sshd -T -f "$R/etc/ssh/sshd_config" 2>&1)
for kv in "permitrootlogin no" "passwordauthentication no" "kbdinteractiveauthentication no" "maxauthtries 3" "logingracetime 30"; do
	check "after harden: sshd -T shows $kv" grep -qx "$kv" <<<"$T_OUT"
done
DROPIN=$R/etc/ssh/sshd_config.d/10-vpsguard.conf
before=$(stat -c '%i %y' "$DROPIN")
run A harden --root "$R"
rc=$?
check "harden again: exit 0" test $rc = 0
check "... says the drop-in is unchanged, not 'wrote'" \
	eval "grep -q '^unchanged, already as wanted: ' '$OUT' && ! grep -q '^wrote' '$OUT'"
check "... and leaves the file as it was" test "$(stat -c '%i %y' "$DROPIN")" = "$before"
A setup --root "$R" --module "$MOD" >/dev/null 2>&1
run A audit --root "$R"
rc=$?
check "audit, files hardened but sshd not reloaded: exit 3" test $rc = 3
check "... only the running-sshd probe FAILs" test "$(grep -c '^FAIL' "$OUT")" = 1
check "... and it is the probe line" grep -q '^FAIL  the running sshd on port 22 offers' "$OUT"
reload
check "after reload: a password login is refused" eval '! pw_login'
check "after reload: key login of the sudo user works" key_login "$U"
check "after reload: root key login is refused" eval '! key_login root'
run A audit --root "$R"
rc=$?
check "audit on the hardened tree with the module stacked: exit 0" test $rc = 0
check "... no FAIL line" eval "! grep -q '^FAIL' '$OUT'"
check "... probe PASS: only publickey offered" grep -q '^PASS  the running sshd on port 22 offers only: publickey' "$OUT"
# The helper line is about this network namespace's helper (the one that
# fills its nftables), not any process with the name on the machine.
check "... no helper in this network namespace: WARN" grep -q '^WARN  the helper (pam_vpsguard-admin daemon) is not running' "$OUT"
mkdir -m 0700 "$T/hd" "$T/hd/run" "$T/hd/lib"
printf 'table.path = %s\nstate.path = %s\nconnlimit.rate = 0\n' "$T/hd/run/table" "$T/hd/lib/state" >"$T/hd/conf"
"$ADMIN" --conf "$T/hd/conf" daemon >"$T/hd/out" 2>&1 </dev/null &
HD=$!
track_pid "$HD"
wait_for 5 test -e "$T/hd/lib/state"
run A audit --root "$R"
check "... with the helper running here: PASS" grep -q '^PASS  the helper is running' "$OUT"
stop_pid "$HD"
run A audit --root "$R"
check "... stopped again: WARN" grep -q '^WARN  the helper (pam_vpsguard-admin daemon) is not running' "$OUT"
check "audit --json parses" eval "A audit --root '$R' --json | python3 -m json.tool >/dev/null"
check "audit --json: every line has result/check/text/fix" \
	eval "A audit --root '$R' --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"fail\"]==0 and all(set(l)=={\"result\",\"check\",\"text\",\"fix\"} for l in d[\"lines\"])'"

# conntrack's window check is what keeps forged handshakes out of the
# connection-rate guard (tests/nft): audit says when it is off.  This
# namespace has its own copy of the sysctl.
LIB=/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal
[ -e $LIB ] || modprobe nf_conntrack 2>/dev/null
if [ -w $LIB ]; then
	echo 1 >$LIB
	run A audit --root "$R"
	rc=$?
	echo 0 >$LIB
	check "audit with nf_conntrack_tcp_be_liberal=1: a WARN, exit 0" \
		eval "test $rc = 0 && grep -q '^WARN  nf_conntrack_tcp_be_liberal = 1: forged' '$OUT'"
	check "... with its fix" eval "grep -A1 '^WARN  nf_conntrack_tcp_be_liberal' '$OUT' | grep -q 'fix: sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=0'"
	run A audit --root "$R"
	check "... PASS once it is 0 again" grep -q '^PASS  conntrack checks TCP windows' "$OUT"
	# Before nf_conntrack is loaded the sysctl is missing: a tmpfs
	# over the directory, in a private mount namespace, shows that.
	run unshare -m sh -c 'mount --make-rprivate / &&
		mount -t tmpfs vg-empty /proc/sys/net/netfilter &&
		exec "$0" audit --root "$1"' "$ADMIN" "$R"
	check "... PASS 'not loaded yet' without the sysctl (conntrack's default checks windows)" \
		grep -q '^PASS  conntrack not loaded yet' "$OUT"
else
	skip "audit conntrack-liberal" "no nf_conntrack in this kernel ($LIB)"
fi

# The 01-evil.conf trap: read before ours, it wins.
echo "PasswordAuthentication yes" >"$R/etc/ssh/sshd_config.d/01-evil.conf"
run A harden --root "$R"
rc=$?
check "harden with an earlier 01-evil.conf: exit 1" test $rc = 1
check "... names 01-evil.conf and its line" grep -q '01-evil.conf line 1' "$OUT"
run A audit --root "$R"
rc=$?
check "audit with 01-evil.conf: exit 3, password login FAIL" \
	eval "test $rc = 3 && grep -q '^FAIL  password login allowed' '$OUT'"
rm -f "$R/etc/ssh/sshd_config.d/01-evil.conf"

# A held keyboard-interactive prompt must not outlive its slot: audit
# compares LoginGraceTime with inflight.timeout (2m by default).
run A audit --root "$R"
check "audit: LoginGraceTime 30s (harden's) is within inflight.timeout: PASS" \
	grep -q '^PASS  LoginGraceTime 30s is within inflight.timeout (2m)' "$OUT"
for g in 0 5m; do
	echo "LoginGraceTime $g" >"$R/etc/ssh/sshd_config.d/00-grace.conf"
	run A audit --root "$R"
	check "audit: LoginGraceTime $g: a WARN naming inflight.timeout, with a fix" \
		eval "grep -q '^WARN  LoginGraceTime .* is longer than inflight.timeout (2m)' '$OUT' &&
		      grep -A1 '^WARN  LoginGraceTime' '$OUT' | grep -q 'fix: LoginGraceTime 30'"
done
rm -f "$R/etc/ssh/sshd_config.d/00-grace.conf"

# ============================ Match blocks =================================
# sshd applies a matching Match block over every global value, ours
# included, and plain sshd -T does not show it: harden and audit read
# the blocks (file:line of the Match line) and ask sshd -T -C.
MAIN=$R/etc/ssh/sshd_config
cp "$MAIN" "$T/main.orig"
with_match() {	# LINE...: sshd_config as before, plus these lines at its end
	cp "$T/main.orig" "$MAIN" && printf '%s\n' "$@" >>"$MAIN"
}
mline() { grep -nxF -- "$1" "$MAIN" | head -n 1 | cut -d: -f1; }	# line number of an exact line
harden_rc() { run A harden --root "$R"; echo $? >"$T/rc"; }
rc_is() { [ "$(cat "$T/rc")" = "$1" ] || { echo "exit $(cat "$T/rc"), want $1"; cat "$OUT"; return 1; }; }
audit_rc() { run A audit --root "$R" "$@"; echo $? >"$T/rc"; }

with_match "Match Address 0.0.0.0/0" "	PasswordAuthentication yes"
n=$(mline "Match Address 0.0.0.0/0")
h0=$(hups)
harden_rc
case_ "Match Address 0.0.0.0/0 + PasswordAuthentication yes: harden exit 1, sshd not reloaded" \
	eval 'rc_is 1 && has "sshd not reloaded" && [ "$(hups)" = "$h0" ]'
case_ "... names sshd_config:LINE of the Match line and the setting" \
	has "sshd_config:$n \(\"Match Address 0\.0\.0\.0/0\"\) sets PasswordAuthentication yes \(line $((n + 1))\)"
case_ "... and only that block (no vague 'a Match block or the command line?')" \
	eval 'hasnt "command line" && [ "$(grep -c "Match block at" "$OUT")" = 1 ]'
audit_rc
case_ "audit: exit 3, FAIL line naming the Match block, with a fix" \
	eval 'rc_is 3 && has "^FAIL  Match block at .*sshd_config:$n .*PasswordAuthentication yes" && grep -A1 "^FAIL  Match block" "$OUT" | has "fix: remove line $((n + 1)) of .*sshd_config" /dev/stdin'
audit_rc --json
case_ "audit --json: a match-block FAIL with text and fix" \
	eval "rc_is 3 && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=[l for l in d[\"lines\"] if l[\"check\"]==\"match-block\"]; assert len(m)==1 and m[0][\"result\"]==\"FAIL\" and \"sshd_config:$n\" in m[0][\"text\"] and m[0][\"fix\"], m' '$OUT'"
# The gap is real: the running sshd offers passwords again once reloaded.
reload
case_ "(the Match Address block really re-enables password login after a reload)" pw_login
cp "$T/main.orig" "$MAIN"
reload
case_ "(and the restored config refuses it again)" eval '! pw_login'

with_match "Match User *" "	PermitRootLogin yes"
n=$(mline "Match User *")
harden_rc
case_ "Match User * + PermitRootLogin yes: harden exit 1 naming sshd_config:LINE" \
	eval 'rc_is 1 && has "sshd_config:$n \(\"Match User \*\"\) sets PermitRootLogin yes \(line $((n + 1))\)"'
audit_rc
case_ "... audit exit 3 with the FAIL line" eval 'rc_is 3 && has "^FAIL  Match block at .*sshd_config:$n .*PermitRootLogin yes"'

with_match "match group users" "kbdinteractiveauthentication yes" "MaxAuthTries 8"
n=$(mline "match group users")
harden_rc
case_ "match group users (lowercase keywords): KbdInteractiveAuthentication and MaxAuthTries caught" \
	eval 'rc_is 1 && has "sshd_config:$n \(\"Match group users\"\) sets kbdinteractiveauthentication yes \(line $((n + 1))\)" && has "sshd_config:$n .*MaxAuthTries 8 \(line $((n + 2))\)"'
audit_rc
case_ "... audit: FAIL for keyboard-interactive, WARN for MaxAuthTries" \
	eval 'rc_is 3 && has "^FAIL  Match block at .*kbdinteractiveauthentication yes" && has "^WARN  Match block at .*MaxAuthTries 8"'

with_match "Match User $U,root" "	PasswordAuthentication no" "	PermitRootLogin no" "	MaxAuthTries 2" \
	"	PubkeyAuthentication no" "	KbdInteractiveAuthentication no" "Match all" "	PasswordAuthentication no"
harden_rc
case_ "stricter Match blocks are silent: harden exit 0" \
	eval 'rc_is 0 && hasnt "Match block"'
audit_rc
case_ "... audit exit 0 with the PASS line for Match blocks" \
	eval 'rc_is 0 && has "^PASS  no Match block weakens"'
with_match "Match Address 192.0.2.0/24" "	PermitRootLogin no" "	PermitRootLogin yes"
harden_rc
case_ "only a block's first value counts (no, then yes: silent)" eval 'rc_is 0 && hasnt "Match block"'

# Match inside an Include'd drop-in; its block ends with that file.
cp "$T/main.orig" "$MAIN"
D=$R/etc/ssh/sshd_config.d
printf '# local\nMatch User %s\n  PasswordAuthentication "yes" # for the backup job\n' "$U" >"$D/60-match.conf"
harden_rc
case_ "Match in an included file: harden exit 1 naming 60-match.conf:2 and line 3" \
	eval 'rc_is 1 && has "60-match\.conf:2 \(\"Match User $U\"\) sets PasswordAuthentication yes \(line 3\)" && [ "$(grep -c "Match block at" "$OUT")" = 1 ]'
audit_rc
case_ "... audit FAIL names it" eval 'rc_is 3 && has "^FAIL  Match block at .*60-match\.conf:2"'
rm -f "$D/60-match.conf"

# Match all: a new block for every connection (plain sshd -T shows it).
with_match "Match User nobody" "	PasswordAuthentication yes" "Match all" "	X11Forwarding no" "	PermitRootLogin no"
n=$(mline "Match User nobody")
harden_rc
case_ "Match all ends the block before it: only 'Match User nobody' reported" \
	eval 'rc_is 1 && has "sshd_config:$n \(\"Match User nobody\"\) sets PasswordAuthentication yes" && hasnt "Match all" && [ "$(grep -c "Match block at" "$OUT")" = 1 ]'
with_match "Match all" "	PermitRootLogin yes"
n=$(mline "Match all")
harden_rc
case_ "Match all + PermitRootLogin yes: caught as the 'Match all' block (not a vague override)" \
	eval 'rc_is 1 && has "sshd_config:$n \(\"Match all\"\) sets PermitRootLogin yes \(line $((n + 1))\)" && hasnt "command line"'
audit_rc
case_ "... audit FAILs root login and the Match all block" \
	eval 'rc_is 3 && has "^FAIL  root login: PermitRootLogin yes" && has "^FAIL  Match block at .*\"Match all\""'

# A block the file reading cannot see (an Include outside the --root
# tree, which sshd follows as written): sshd -T -C still catches it.
cp "$T/main.orig" "$MAIN"
printf 'Match User root\n  PermitRootLogin yes\n' >"$T/outside.conf"
echo "Include $T/outside.conf" >"$D/60-outside.conf"
harden_rc
case_ "a Match block only sshd sees: harden exit 1 from sshd -T -C user=root" \
	eval 'rc_is 1 && has "sshd -T -C user=root,host=x,addr=203\.0\.113\.7,laddr=[^,]+,lport=22 gives PermitRootLogin yes"'
audit_rc
case_ "... audit FAIL (match-sshd)" eval 'rc_is 3 && has "^FAIL  sshd -T -C user=root.* gives PermitRootLogin yes"'
rm -f "$D/60-outside.conf" "$T/outside.conf"
harden_rc
case_ "config restored: harden exit 0 again" rc_is 0

# --port
expect_rc "harden --port 80 is a usage error" 2 A harden --root "$R" --port 80
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",2299)); s.listen(); time.sleep(60)' &
LP=$!
track_pid "$LP"
wait_for 5 grep -q ':08FB ' /proc/net/tcp
run A harden --root "$R" --port 2299
check "harden --port on a port in use is refused" eval "test $? = 1 && grep -q 'listens there' '$OUT'"
stop_pid "$LP"
run A harden --root "$R" --port 2222
check "harden --port 2222: exit 0" test $? = 0
check "... prints the provider firewall reminder" grep -q "provider's firewall" "$OUT"
T_OUT=$(/usr/sbin/sshd -T -f "$R/etc/ssh/sshd_config" 2>&1)
check "... sshd -T lists port 22 and port 2222" eval "grep -qx 'port 22' <<<\"\$T_OUT\" && grep -qx 'port 2222' <<<\"\$T_OUT\""
A harden --root "$R" >/dev/null 2>&1
check "harden again without --port keeps port 2222" grep -qx 'Port 2222' "$R/etc/ssh/sshd_config.d/10-vpsguard.conf"

# ============================ --confirm ====================================
A unharden --root "$R" >/dev/null 2>&1
reload
before=$(tree_sum "$R")
h0=$(hups)
run A harden --root "$R" --confirm 3
check "harden --confirm 3: exit 0, sshd reloaded" eval "test $? = 0 && test \$(hups) -gt $h0"
check "... the drop-in is live" test -f "$R/etc/ssh/sshd_config.d/10-vpsguard.conf"
h1=$(hups)
check "not confirmed: the tree is back byte for byte after 3 s" \
	wait_for 10 eval "test \"\$before\" = \"\$(tree_sum '$R')\""
check "... and sshd was reloaded again" wait_for 5 eval "test \$(hups) -gt $h1"
run A confirm --root "$R"
check "confirm after the rollback: exit 1 (nothing pending)" test $? = 1
run A harden --root "$R" --confirm 4
run A confirm --root "$R"
check "confirm in time: exit 0" test $? = 0
sleep 6
check "confirmed: the drop-in stays after the timeout" test -f "$R/etc/ssh/sshd_config.d/10-vpsguard.conf"
A unharden --root "$R" >/dev/null 2>&1
reload
before=$(tree_sum "$R")
setsid bash -c "'$ADMIN' harden --root '$R' --confirm 3 >/dev/null 2>&1; sleep 60" &
SP=$!
track_pid "$SP"
wait_for 10 test -f "$R/etc/ssh/sshd_config.d/10-vpsguard.conf"
kill -KILL -- "-$SP" 2>/dev/null
wait "$SP" 2>/dev/null
untrack_pid "$SP"
check "rollback survives a SIGKILL of the invoking session: tree restored" \
	wait_for 10 eval "test \"\$before\" = \"\$(tree_sum '$R')\""

# The window that used to have no rollback: harden killed right after it
# wrote the drop-in (before any reload).  The rollback is armed first now.
PENDING=$R/run/vpsguard/harden-pending
VG_TEST_HARDEN_KILL=written A harden --root "$R" --confirm 3 >/dev/null 2>&1
rc=$?
check "harden killed right after writing (exit $rc): the drop-in is there, a rollback is pending" \
	eval "test $rc = 137 && test -f '$R/etc/ssh/sshd_config.d/10-vpsguard.conf' && test -f '$PENDING'"
check "... and after 3 s the tree is back byte for byte" \
	wait_for 10 eval "test \"\$before\" = \"\$(tree_sum '$R')\" && test ! -e '$PENDING'"
VG_TEST_HARDEN_KILL=armed A harden --root "$R" --confirm 3 >/dev/null 2>&1
rc=$?
check "harden killed right after arming (exit $rc): nothing written yet, the rollback is armed" \
	eval "test $rc = 137 && test \"\$before\" = \"\$(tree_sum '$R')\" && test -f '$PENDING'"
check "... it fires on an unchanged tree and leaves it unchanged" \
	wait_for 10 eval "test ! -e '$PENDING' && test \"\$before\" = \"\$(tree_sum '$R')\""

# The drop-in directory cannot be made (etc/ssh read-only, in a mount
# namespace of its own): harden fails with nothing written and cancels
# the rollback it armed (it used to stay pending, reload sshd for nothing
# later and refuse the next harden --confirm).
DD=$R/etc/ssh/sshd_config.d
[ -e "$DD" ] && mv "$DD" "$T/dropin.saved"
ro_before=$(tree_sum "$R")
run unshare -m sh -c 'mount --bind "$1/etc/ssh" "$1/etc/ssh" &&
	mount -o remount,bind,ro "$1/etc/ssh" && shift &&
	exec "$@"' sh "$R" "$ADMIN" harden --root "$R" --confirm 3
rc=$?
check "sshd_config.d cannot be made: harden fails (exit $rc), says so, no rollback left pending" \
	eval "test $rc = 1 && grep -q 'sshd_config.d: Read-only file system; nothing written' '$OUT' && test ! -e '$PENDING'"
check "... and the tree is as it was" eval "test \"\$ro_before\" = \"\$(tree_sum '$R')\""
[ -e "$T/dropin.saved" ] && mv "$T/dropin.saved" "$DD"

# Where systemd is PID 1 the rollback is a transient timer unit.  systemd
# is not PID 1 here: a stand-in systemd-run records its arguments and runs
# the unit's command after --on-active seconds, detached like a unit.
cat >"$T/systemd-run" <<EOS
#!/bin/sh
echo "\$*" >>'$T/sdrun.args'
secs=0
while [ \$# -gt 0 ]; do
	case \$1 in --on-active=*) secs=\${1#--on-active=} ;; --*) ;; *) break ;; esac
	shift
done
setsid sh -c 'sleep "\$0"; exec "\$@"' "\$secs" "\$@" </dev/null >/dev/null 2>&1 &
exit 0
EOS
printf '#!/bin/sh\necho "$*" >>%s\n' "'$T/systemctl.args'" >"$T/systemctl"
chmod 755 "$T/systemd-run" "$T/systemctl"
: >"$T/sdrun.args"
: >"$T/systemctl.args"
export VG_TEST_SYSTEMD_RUN=$T/systemd-run VG_TEST_SYSTEMCTL=$T/systemctl
run A harden --root "$R" --confirm 3
check "systemd: harden --confirm 3 arms a transient timer unit (systemd-run --on-active=3 ... confirm --rollback)" \
	eval "test $? = 0 && grep -qE -- '--unit=pam-vpsguard-rollback-[0-9a-f]{16} --on-active=3 .* confirm --rollback [0-9a-f]{16} --root ' '$T/sdrun.args' && grep -qE '^[0-9a-f]{16} [0-9]+ pam-vpsguard-rollback-[0-9a-f]{16}\$' '$PENDING'"
check "systemd: not confirmed, the timer's confirm --rollback restores the tree" \
	wait_for 10 eval "test \"\$before\" = \"\$(tree_sum '$R')\" && test ! -e '$PENDING'"
run A harden --root "$R" --confirm 4
run A confirm --root "$R"
check "systemd: confirm stops the timer unit" \
	eval "test $? = 0 && grep -qE '^stop pam-vpsguard-rollback-[0-9a-f]{16}\\.timer\$' '$T/systemctl.args'"
sleep 5
check "systemd: confirmed, the drop-in stays after the timeout" test -f "$R/etc/ssh/sshd_config.d/10-vpsguard.conf"
unset VG_TEST_SYSTEMD_RUN VG_TEST_SYSTEMCTL
A unharden --root "$R" >/dev/null 2>&1
reload

# ============================ man page =====================================
if command -v man >/dev/null 2>&1; then
	check "man page: no warnings" eval "! man --warnings -l man/pam_vpsguard-admin.8 2>&1 >/dev/null | grep -q ."
	man_has() {
		grep -q '^\.SH SSHD COMMANDS' man/pam_vpsguard-admin.8 || return 1
		for c in setup harden unharden confirm audit; do
			grep -q "^\\\\fB$c\\\\fR" man/pam_vpsguard-admin.8 || return 1
		done
	}
	check "man page documents setup, harden, unharden, confirm, audit" man_has
fi

kill "$SSHD" 2>/dev/null
summary

#!/bin/bash
# The Debian package on Debian 12, installed, upgraded, removed and
# purged in a throwaway root: a cached debootstrap --variant=minbase
# bookworm root (tests/pkg/chroot.sh) under an overlay, in private mount
# and network namespaces, with a policy-rc.d that starts no service.
# The host's /etc/pam.d, sshd and ruleset are never touched.
#
# Asserts: files where SPEC "Packaging" puts them, /etc/pam.d and
# /etc/ssh untouched by install, the unit enabled, the module found by
# name by libpam; after `setup`, `apt remove` leaves no pam_vpsguard line
# and the original file byte for byte; a hand-made stack blocks removal;
# an upgrade keeps the state file, the live ban and the stack; purge
# removes configuration and state.
set -u
VG_SUITE=pkg-deb
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh
. tests/pkg/chroot.sh

need_root
need_cmd dpkg-buildpackage dpkg-deb debootstrap unshare chroot ip

# Runtime dependencies of the package are in the root already: the test
# runs offline, in its own network namespace.
BOOKWORM_PKGS=openssh-server,pamtester,nftables,libcurl4,libjson-c5,libmnl0,libnftnl11,libqrencode4,liboath0

if [ -z "${VG_NETNS:-}" ]; then
	# Host phase (network for the mirror): build the package and a
	# bumped copy of it, and get the cached root.
	new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
	if ! ./tools/mkdeb.sh "$TMPD/deb" >"$TMPD/build.out" 2>&1; then
		fail "make deb" "$(_vg_tail "$(cat "$TMPD/build.out")")"
		summary; exit 1
	fi
	pass "make deb: dpkg-buildpackage + lintian (no errors)"
	# README.md lists the lintian tags that remain: informational only.
	if grep -qE '^[WE]: ' "$TMPD/build.out"; then
		fail "lintian: no warnings" "$(grep -E '^[WE]: ' "$TMPD/build.out" | head -n 3 | tr '\n' '|')"
	else
		pass "lintian: no warnings"
	fi
	DEB=$(ls "$TMPD"/deb/pam-vpsguard_*.deb)
	V=$(dpkg-deb -f "$DEB" Version)
	# The "next version": the same payload and scripts, Version bumped.
	dpkg-deb -R "$DEB" "$TMPD/up" &&
		sed -i "s/^Version: .*/Version: $V+vgtest1/" "$TMPD/up/DEBIAN/control" &&
		dpkg-deb --root-owner-group -b "$TMPD/up" "$TMPD/deb/up.deb" >/dev/null ||
		{ fail "$VG_SUITE" "bumped package"; summary; exit 1; }
	if ! R=$(vg_cached_root bookworm "$BOOKWORM_PKGS"); then
		skip "$VG_SUITE: install/remove/purge" "no bookworm root (debootstrap failed: see above)"
		summary; exit $?
	fi
	VG_PKG_DEB=$DEB VG_PKG_UP=$TMPD/deb/up.deb VG_PKG_ROOT=$R VG_PKG_T=$TMPD \
		reexec_in_netns vpsg-pkg "$@"
fi
in_own_netns || exit 1

M=$VG_PKG_T/root
vg_enter_root "$VG_PKG_ROOT" "$M" || { fail "$VG_SUITE" "overlay of $VG_PKG_ROOT"; exit 1; }
cp "$VG_PKG_DEB" "$M/tmp/" && cp "$VG_PKG_UP" "$M/tmp/up.deb" || exit 1
D=/tmp/$(basename "$VG_PKG_DEB")
OUT=$VG_PKG_T/out
in_root() { chroot "$M" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
apt_() { in_root apt-get -y -q -o Dpkg::Use-Pty=0 "$@" >"$OUT" 2>&1; }
tree_sum() { (cd "$M" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum); }
has() { grep -qE "$1" "${2:-$OUT}"; }

PAMD_BEFORE=$(tree_sum etc/pam.d)
SSH_BEFORE=$(tree_sum etc/ssh)
SSHD_ORIG=$(sha256sum <"$M/etc/pam.d/sshd")

# --- install ----------------------------------------------------------
apt_ install "$D"
rc=$?
if [ $rc -eq 0 ]; then pass "apt install ./$(basename "$D")"
else fail "apt install ./$(basename "$D")" "exit $rc: $(_vg_tail "$(cat "$OUT")")"; summary; exit 1; fi
n=$(grep -c 'pam_vpsguard-admin setup' "$OUT")
[ "$n" -eq 1 ] && pass "postinst: one line names setup/harden" ||
	fail "postinst: one line names setup/harden" "$n lines"

MODP=$(in_root dpkg-query -L pam-vpsguard | grep '/security/pam_vpsguard\.so$')
case $MODP in
/lib/x86_64-linux-gnu/security/pam_vpsguard.so|/lib/*-linux-gnu*/security/pam_vpsguard.so)
	[ -f "$M$MODP" ] && pass "module in the PAM module dir ($MODP)" ||
		fail "module in the PAM module dir" "$MODP missing" ;;
*) fail "module in the PAM module dir" "got '$MODP'" ;;
esac
case_ "CLI in /usr/sbin runs" in_root /usr/sbin/pam_vpsguard-admin --version
# lib/version.h is written by hand: it must follow debian/changelog.
V=$(dpkg-deb -f "$VG_PKG_DEB" Version)
ver=$(in_root /usr/sbin/pam_vpsguard-admin --version 2>&1)
case $ver in
*" $V") pass "--version names the package's version ($V)" ;;
*) fail "--version names the package's version ($V)" "got '$ver'" ;;
esac
miss=""
for f in usr/share/man/man8/pam_vpsguard.8.gz usr/share/man/man8/pam_vpsguard-admin.8.gz \
	 usr/share/man/man5/vpsguard.conf.5.gz etc/security/vpsguard.conf \
	 lib/systemd/system/pam-vpsguard.service usr/lib/tmpfiles.d/pam-vpsguard.conf \
	 usr/share/pam_vpsguard/pam.d-sshd.debian; do
	[ -f "$M/$f" ] || miss="$miss /$f"
done
[ -z "$miss" ] && pass "man pages, sample config, unit, tmpfiles, snippets installed" ||
	fail "man pages, sample config, unit, tmpfiles, snippets installed" "missing:$miss"
in_root dpkg-query -W -f='${Conffiles}\n' pam-vpsguard >"$OUT"
has '^ /etc/security/vpsguard.conf ' && pass "vpsguard.conf is a conffile" ||
	fail "vpsguard.conf is a conffile" "$(tr '\n' '|' <"$OUT")"
[ -L "$M/etc/systemd/system/multi-user.target.wants/pam-vpsguard.service" ] &&
	pass "unit enabled (multi-user.target.wants)" || fail "unit enabled (multi-user.target.wants)"
[ "$(tree_sum etc/pam.d)" = "$PAMD_BEFORE" ] && pass "install left /etc/pam.d untouched" ||
	fail "install left /etc/pam.d untouched"
[ "$(tree_sum etc/ssh)" = "$SSH_BEFORE" ] && pass "install left /etc/ssh untouched" ||
	fail "install left /etc/ssh untouched"

# libpam finds the module by its bare name, and it bans.
printf '%s\n' "auth required pam_permit.so" "account requisite pam_vpsguard.so" \
	>"$M/etc/pam.d/vpsg-pkg"
# (another source than the one banned below: a passed account phase
# stamps trust, and a trusted source's key logins pass while banned)
case_ "libpam loads pam_vpsguard.so by name (acct_mgmt passes)" \
	in_root pamtester -I rhost=198.51.100.8 vpsg-pkg root acct_mgmt
in_root mkdir -p -m 700 /run/vpsguard
case_ "pam_vpsguard-admin ban" in_root pam_vpsguard-admin ban 198.51.100.7
expect_rc "banned source refused by the installed module" 1 \
	in_root pamtester -I rhost=198.51.100.7 vpsg-pkg root acct_mgmt
rm -f "$M/etc/pam.d/vpsg-pkg"

# --- setup, a saved ban, upgrade ---------------------------------------
case_ "pam_vpsguard-admin setup" in_root pam_vpsguard-admin setup
has_stack() { grep -q '^[^#]*pam_vpsguard\.so' "$M/etc/pam.d/sshd"; }
has_stack && pass "setup stacked /etc/pam.d/sshd" || fail "setup stacked /etc/pam.d/sshd"
case_ "sync saves the ban and builds the nft table" in_root pam_vpsguard-admin sync
ST=$M/var/lib/vpsguard/state
if [ -s "$ST" ]; then
	ST_SUM=$(sha256sum <"$ST")
	pass "state file written"
else
	ST_SUM=none
	fail "state file written" "no $ST"
fi
SSHD_STACKED=$(sha256sum <"$M/etc/pam.d/sshd")
apt_ install /tmp/up.deb
rc=$?
[ $rc -eq 0 ] && has 'Unpacking pam-vpsguard .*over' && pass "upgrade to the next version" ||
	fail "upgrade to the next version" "exit $rc: $(_vg_tail "$(cat "$OUT")")"
[ -s "$ST" ] && [ "$(sha256sum <"$ST")" = "$ST_SUM" ] &&
	pass "upgrade kept the state file" || fail "upgrade kept the state file"
in_root pam_vpsguard-admin show --json 198.51.100.7 >"$OUT" 2>&1
has '"banned": true' && pass "upgrade kept the live ban" ||
	fail "upgrade kept the live ban" "$(_vg_tail "$(cat "$OUT")")"
[ "$(sha256sum <"$M/etc/pam.d/sshd")" = "$SSHD_STACKED" ] &&
	pass "upgrade left the stack in place" || fail "upgrade left the stack in place"

# --- a stack made by hand blocks removal --------------------------------
echo "auth requisite pam_vpsguard.so preauth" >"$M/etc/pam.d/vpsg-hand"
apt_ remove pam-vpsguard
rc=$?
if [ $rc -ne 0 ] && has 'vpsg-hand' && [ -f "$M$MODP" ]; then
	pass "remove refused while /etc/pam.d/vpsg-hand stacks it by hand"
else
	fail "remove refused while /etc/pam.d/vpsg-hand stacks it by hand" "exit $rc: $(_vg_tail "$(cat "$OUT")")"
fi
rm -f "$M/etc/pam.d/vpsg-hand"
has_stack && pass "refused remove left the stack and the module" ||
	fail "refused remove left the stack and the module"

# --- a pending harden --confirm blocks removal too ------------------------
mkdir -p -m 700 "$M/run/vpsguard"
echo "0123456789abcdef 0 -" >"$M/run/vpsguard/harden-pending"
apt_ remove pam-vpsguard
rc=$?
if [ $rc -ne 0 ] && has 'harden --confirm. is pending' && [ -f "$M$MODP" ] && has_stack; then
	pass "remove refused while a harden --confirm rollback is pending"
else
	fail "remove refused while a harden --confirm rollback is pending" "exit $rc: $(_vg_tail "$(cat "$OUT")")"
fi
rm -f "$M/run/vpsguard/harden-pending"

# --- remove -------------------------------------------------------------
apt_ remove pam-vpsguard
rc=$?
[ $rc -eq 0 ] && pass "apt remove" || fail "apt remove" "exit $rc: $(_vg_tail "$(cat "$OUT")")"
if grep -rq 'pam_vpsguard' "$M/etc/pam.d/"; then
	fail "after setup + remove no pam_vpsguard line in /etc/pam.d" "$(grep -r pam_vpsguard "$M/etc/pam.d/" | head -n 2 | tr '\n' '|')"
else
	pass "after setup + remove no pam_vpsguard line in /etc/pam.d"
fi
[ "$(sha256sum <"$M/etc/pam.d/sshd")" = "$SSHD_ORIG" ] &&
	pass "/etc/pam.d/sshd is the original, byte for byte" ||
	fail "/etc/pam.d/sshd is the original, byte for byte"
[ ! -e "$M$MODP" ] && pass "module file gone" || fail "module file gone"
[ -f "$M/etc/security/vpsguard.conf" ] && [ -s "$ST" ] &&
	pass "remove kept vpsguard.conf and the saved bans" ||
	fail "remove kept vpsguard.conf and the saved bans"
if nft list table inet vpsguard >/dev/null 2>&1; then
	fail "remove deleted the nftables table inet vpsguard"
else
	pass "remove deleted the nftables table inet vpsguard"
fi

# --- purge --------------------------------------------------------------
mkdir -p -m 700 "$M/etc/vpsguard" && echo x >"$M/etc/vpsguard/crowdsec-machine.password"
apt_ purge pam-vpsguard
rc=$?
[ $rc -eq 0 ] && pass "apt purge" || fail "apt purge" "exit $rc: $(_vg_tail "$(cat "$OUT")")"
left=""
for f in etc/security/vpsguard.conf var/lib/vpsguard etc/vpsguard; do
	[ -e "$M/$f" ] && left="$left /$f"
done
[ -z "$left" ] && pass "purge removed configuration and saved state" ||
	fail "purge removed configuration and saved state" "left:$left"
in_root dpkg-query -W -f='${Status}' pam-vpsguard >"$OUT" 2>&1
has 'not-installed|no packages found' || ! [ -s "$OUT" ] &&
	pass "dpkg forgot the package" || fail "dpkg forgot the package" "$(cat "$OUT")"

summary

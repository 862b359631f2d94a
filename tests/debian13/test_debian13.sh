#!/bin/bash
# make test-debian13 (also run by make test): the tree on Debian 13
# (trixie: OpenSSH 10 with sshd-session and PerSourcePenalties on by
# default, Linux-PAM 1.7, merged /usr).
#
# A cached debootstrap --variant=minbase trixie root with the build and
# test dependencies (tests/pkg/chroot.sh; built once from the mirror this
# machine's apt uses, rebuilt when missing) is mounted as an overlay and
# entered with chroot, inside private mount and network namespaces.
# There tests/debian13/inside.sh builds the package with
# dpkg-buildpackage, installs, checks and removes it, builds the test
# binaries, and runs the unit, PAM, pamtester and real-sshd suites.  The
# cached root is never written; the host's /etc, sshd and ruleset never
# touched.  Debian 12 stays the host's own run (tests/run.sh).
set -u
VG_SUITE=debian13
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/pkg/chroot.sh

need_root
need_cmd debootstrap unshare chroot ip git tar

# Everything the build and the suites need, so the inner run is offline.
TRIXIE_PKGS=build-essential,pkg-config,debhelper,libpam0g-dev,libnftnl-dev,libmnl-dev,liboath-dev,libqrencode-dev,libcurl4-openssl-dev,libjson-c-dev,libcmocka-dev,pamtester,openssh-server,openssh-client,sshpass,iproute2,nftables,oathtool,python3,openssl,procps

if [ -z "${VG_NETNS:-}" ]; then
	if [ "${VG_SKIP_DEBIAN13:-0}" = 1 ]; then
		skip "$VG_SUITE" "VG_SKIP_DEBIAN13=1"
		summary; exit 0
	fi
	if ! R=$(vg_cached_root trixie "$TRIXIE_PKGS"); then
		skip "$VG_SUITE" "no Debian 13 root: debootstrap of trixie from $(vg_mirror || echo '(no mirror)') failed (see above)"
		summary; exit 0
	fi
	new_tmpdir || { fail "$VG_SUITE" "mktemp"; exit 1; }
	VG_D13_ROOT=$R VG_D13_T=$TMPD reexec_in_netns vpsg-d13 "$@"
fi
in_own_netns || exit 1

M=$VG_D13_T/root
vg_enter_root "$VG_D13_ROOT" "$M" || { fail "$VG_SUITE" "overlay of $VG_D13_ROOT"; exit 1; }
# The sources as make deb takes them: tracked and new files, no build
# products.
mkdir -p "$M/build/src"
git ls-files -z --cached --others --exclude-standard |
	tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$M/build/src" -xf - ||
	{ fail "$VG_SUITE" "copy of the tree"; exit 1; }
rm -f "$M"/build/src/*.deb
chroot "$M" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
	LANG=C.UTF-8 bash -c 'cd /build/src && exec bash tests/debian13/inside.sh'

#!/bin/bash
# Run by tests/debian13/test_debian13.sh inside the Debian 13 root (cwd:
# a copy of the tree).  Every case line says "trixie:" so the summary
# tells them from the host's own run.
set -u
VG_SUITE=trixie
. tests/lib.sh
export DEBIAN_FRONTEND=noninteractive
OUT=$(mktemp /tmp/vg-d13-XXXXXX)
has() { grep -qE "$1" "${2:-$OUT}"; }
tree_sum() { find "$@" -type f -print0 | sort -z | xargs -0 sha256sum; }
p() { pass "trixie: $1"; }
f() { fail "trixie: $1" "${2:-}"; }

echo "# $(. /etc/os-release; echo "$PRETTY_NAME"), $(ssh -V 2>&1), libpam $(dpkg-query -W -f='${Version}' libpam0g)"

# --- the package, built here --------------------------------------------
if ./tools/mkdeb.sh /build/out >"$OUT" 2>&1; then
	p "make deb (dpkg-buildpackage on Debian 13)"
else
	tail -n 30 build/deb/build.log 2>/dev/null
	f "make deb (dpkg-buildpackage on Debian 13)" "$(_vg_tail "$(cat "$OUT")")"
	summary; exit 1
fi
DEB=$(ls /build/out/pam-vpsguard_*.deb)
PAMD_BEFORE=$(tree_sum /etc/pam.d)
SSH_BEFORE=$(tree_sum /etc/ssh)
SSHD_ORIG=$(sha256sum </etc/pam.d/sshd)
if apt-get install -y -q -o Dpkg::Use-Pty=0 "$DEB" >"$OUT" 2>&1; then
	p "apt install ./$(basename "$DEB")"
else
	f "apt install ./$(basename "$DEB")" "$(_vg_tail "$(cat "$OUT")")"
fi
MODP=$(dpkg-query -L pam-vpsguard | grep '/security/pam_vpsguard\.so$')
want=$(pkg-config --variable=libdir pam)/security/pam_vpsguard.so
[ "$MODP" = "$want" ] && [ -f "$MODP" ] &&
	p "module in the Debian 13 PAM module dir ($MODP)" ||
	f "module in the Debian 13 PAM module dir" "got '$MODP', want $want"
[ -f /usr/lib/systemd/system/pam-vpsguard.service ] &&
	[ -L /etc/systemd/system/multi-user.target.wants/pam-vpsguard.service ] &&
	p "unit in /usr/lib/systemd/system, enabled" || f "unit in /usr/lib/systemd/system, enabled"
[ "$(tree_sum /etc/pam.d)" = "$PAMD_BEFORE" ] && [ "$(tree_sum /etc/ssh)" = "$SSH_BEFORE" ] &&
	p "install left /etc/pam.d and /etc/ssh untouched" || f "install left /etc/pam.d and /etc/ssh untouched"
printf '%s\n' "auth required pam_permit.so" "account requisite pam_vpsguard.so" >/etc/pam.d/vpsg-d13
# (another source than the banned one: a passed account phase stamps trust)
case_ "trixie: libpam 1.7 loads pam_vpsguard.so by name" pamtester -I rhost=198.51.100.8 vpsg-d13 root acct_mgmt
mkdir -p -m 700 /run/vpsguard
pam_vpsguard-admin ban 198.51.100.9 >/dev/null 2>&1
expect_rc "trixie: banned source refused by the installed module" 1 \
	pamtester -I rhost=198.51.100.9 vpsg-d13 root acct_mgmt
rm -f /etc/pam.d/vpsg-d13
case_ "trixie: setup stacks Debian 13's /etc/pam.d/sshd" pam_vpsguard-admin setup
grep -q '^[^#]*pam_vpsguard\.so' /etc/pam.d/sshd && p "/etc/pam.d/sshd names the module after setup" ||
	f "/etc/pam.d/sshd names the module after setup"
case_ "trixie: sshd -t accepts the stacked configuration" /usr/sbin/sshd -t
if apt-get remove -y -q -o Dpkg::Use-Pty=0 pam-vpsguard >"$OUT" 2>&1 &&
   ! grep -rq pam_vpsguard /etc/pam.d/ && [ "$(sha256sum </etc/pam.d/sshd)" = "$SSHD_ORIG" ]; then
	p "apt remove after setup: /etc/pam.d/sshd is the original again"
else
	f "apt remove after setup: /etc/pam.d/sshd is the original again" "$(_vg_tail "$(cat "$OUT")")"
fi
apt-get purge -y -q pam-vpsguard >/dev/null 2>&1
[ ! -e /var/lib/vpsguard ] && [ ! -e /etc/security/vpsguard.conf ] &&
	p "apt purge removed configuration and state" || f "apt purge removed configuration and state"

# --- the suites ------------------------------------------------------------
UNIT=$(ls tests/unit/test_*.c | sed 's|^|build/|; s/\.c$//')
PAMT=$(ls tests/pam/test_*.c | sed 's|^|build/|; s/\.c$//')
# shellcheck disable=SC2086
if make -j"$(nproc)" all $UNIT $PAMT >"$OUT" 2>&1; then
	p "build of the module, the CLI and the test binaries"
else
	f "build of the module, the CLI and the test binaries" "$(_vg_tail "$(cat "$OUT")")"
	summary; exit 1
fi
summary >/dev/null
rc=0
L="trixie"
suite() {	# name cmd...: its output, case lines marked "$L: "
	echo "=== $L: $1"
	shift
	"$@" 2>&1 | sed -E "s/^(PASS|FAIL|SKIP): /\\1: $L: /"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
}
for t in $UNIT $PAMT; do suite "$t" "$t"; done
suite pamtester/test_module.sh bash tests/pamtester/test_module.sh
# The hardening and the import budget with Debian 13's compiler, linker
# and glibc (_FORTIFY_SOURCE=3 there).
suite security/test_hardening.sh bash tests/security/test_hardening.sh
# OpenSSH 10 against the module alone (the claims are ours, not sshd's)...
L="trixie, PerSourcePenalties no"
VE_SSHD_EXTRA="PerSourcePenalties no" suite e2e/test_sshd.sh bash tests/e2e/test_sshd.sh
# ...and as Debian 13 ships it: penalties on (authfail 5s, noauth 1s,
# max 10min).  What they add shows in the key-login case: the listener
# drops a penalised source before PAM runs.
L="trixie, PerSourcePenalties default"
suite e2e/test_sshd.sh bash tests/e2e/test_sshd.sh
[ "$VG_NFAIL" -eq 0 ] || rc=1
exit $rc

#!/bin/bash
# make check: the tests any user can run, without root and without apt
# (the build dependencies installed): the unit tests and the module
# through real Linux-PAM in a private pam_start_confdir directory.  As
# root, make test runs these and every suite that needs namespaces, a
# real sshd, nftables or apt.  O= (the build directory) as for make.
set -u
cd "$(dirname "$0")/.." || exit 1
O=${O:-build}
export VG_TESTDATA="$PWD/tests/data"
LOG=$(mktemp -d "${TMPDIR:-/tmp}/vg-check-XXXXXX") || exit 1
trap 'rm -rf "$LOG"' EXIT

SUITE_LOG=$LOG
. tests/suite.sh

[ "$(id -u)" -eq 0 ] || echo "(as $(id -un): cases that need root say so and are skipped)"
for t in "$O"/tests/unit/test_* "$O"/tests/pam/test_*; do
	case $t in *.d) continue ;; esac
	[ -x "$t" ] && run_suite "${t#"$O"/tests/}" "$t"
done
suite_summary "check: "

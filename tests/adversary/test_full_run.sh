#!/bin/bash
# Issue 14, row 7: /run full when the table is created.  SPEC ("The
# shared table"): the file is fully allocated before it is published, so
# a full /run fails creation cleanly instead of a SIGBUS inside sshd
# later; the table is then unusable and failmode applies (open: preauth
# and account return PAM_IGNORE, the login proceeds as if the module were
# absent; closed: they deny).  A half-built table file is never left.
#
# Attacker: fills /run (or the admin's tiny /run meets a large
# table.size): on the old code the table file is created sparse, and the
# first entry written past what the tmpfs can hold is SIGBUS in the
# process that touches it: sshd's monitor.
#
# A tiny tmpfs (64 KiB) in a private mount namespace holds the table
# directory; table.size = 65536 needs 4 MiB.  Through real Linux-PAM
# (build/tests/adversary/vg_adversary) with the SPEC's Debian stack and the
# test-only stand-in pam_vgpass.so at pam_unix's place.
set -u
VG_SUITE=adversary-full-run
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lib.sh
. tests/adversary/adv_env.sh
need_root
need_cmd unshare mount
reexec_private_mountns "$@"
adv_init

SMALL=$T/small
mkdir -m 0700 "$SMALL"
# Unmounted before lib.sh removes $T (rm --one-file-system stops at it).
trap 'umount "$SMALL" 2>/dev/null; _vg_cleanup' EXIT
if ! mount -t tmpfs -o size=64k,mode=0700 vg-adv-small "$SMALL"; then
	fail "$VG_SUITE" "mount a 64k tmpfs on $SMALL"
	summary
	exit 1
fi
PW=right-$RANDOM

# attempt NAME USER RHOST ANSWER: one login; prints the driver's line and
# the exit status ("signal N" when it died of one).
attempt() {
	local out rc
	out=$(adv try "$1" "$2" "$3" "$4" 1 2>&1)
	rc=$?
	if [ $rc -gt 128 ]; then
		echo "signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
	else
		echo "exit $rc: $(line1 "$out")"
	fi
}

for mode in open closed; do
	rm -rf "${SMALL:?}"/* "$SMALL"/.[!.]* 2>/dev/null
	adv_conf "$mode" "maxretry = 3" "findtime = 10m" "bantime = 1h" "ignoreip =" \
		"invalid_user.weight = 1" "connlimit.rate = 0" "failmode = $mode" \
		"table.size = 65536"
	sed -i "s|^table.path = .*|table.path = $SMALL/table|" "$T/$mode.conf"
	adv_stack "$mode" "$T/$mode.conf" "$PW" || { fail "$VG_SUITE" "stack"; exit 1; }

	right=$(attempt "$mode" root 192.0.2.77 "$PW")
	figure "$mode: right password from 192.0.2.77 with /run (64 KiB) too small for the table (4 MiB): $right"
	# More sources, more entries touched: a sparse table faults on one.
	crash=""
	# 64 sources hash to ~64 of the file's 1024 entry pages; the tmpfs
	# holds 15.
	for ((i = 1; i <= 64; i++)); do
		r=$(attempt "$mode" root "198.51.100.$i" wrong-pw)
		case $r in signal*) crash="198.51.100.$i: $r"; break ;; esac
	done
	case $right in signal*) crash="192.0.2.77: $right" ;; esac
	if [ -z "$crash" ]; then
		pass "$mode: no crash authenticating with /run too small for the table"
	else
		fail "$mode: no crash authenticating with /run too small for the table" "$crash (sparse table file: SIGBUS on first touch)"
	fi
	if [ "$mode" = open ]; then
		want="exit 0: TRY n=1 ok=1"
		what="the right password logs in as if the module were absent (failmode open)"
	else
		want="exit 0: TRY n=1 ok=0"
		what="the right password is refused (failmode closed)"
	fi
	if [[ "$right" == "$want"* ]]; then
		pass "$mode: $what"
	else
		fail "$mode: $what" "$right"
	fi
	left=$(ls -A "$SMALL")
	figure "$mode: left in the table directory: ${left:-nothing}"
	if [ -z "$left" ]; then
		pass "$mode: no table file, complete or half-built, is left behind"
	else
		fail "$mode: no table file, complete or half-built, is left behind" "$(echo "$left" | tr '\n' ' ')"
	fi
done

summary

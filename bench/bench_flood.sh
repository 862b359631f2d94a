#!/bin/bash
# The table under a flood (issue 14): 10 x table.size distinct sources
# through real Linux-PAM (build/tests/adversary/vg_adversary, one PAM handle
# per source as in sshd), the SPEC's Debian stack with the test-only
# stand-in pam_vgpass.so at pam_unix's place (a real pam_unix would spend
# its yescrypt time, not ours).  Two floods, each on a fresh table:
#   banned   every source its own IPv6 /48, maxretry wrong passwords each
#            (each is banned: the table fills with bans that are never
#            evicted, then the overflow levels take over)
#   strangers every source one wrong password (the table fills with live
#            one-failure entries)
# Printed: time per authentication over the whole flood, the fill when
# the first source went to an overflow level, and the most passwords any
# one source got evaluated (must be <= maxretry).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
VG_SUITE=bench-flood
. tests/lib.sh
. tests/adversary/adv_env.sh
[ "$(id -u)" -eq 0 ] || { echo "bench_flood: needs root"; exit 0; }
SIZE=${FLOOD_SIZE:-4096}
N=$((SIZE * 10))
MAXRETRY=5
adv_init >/dev/null
bad=0
for kind in banned strangers; do
	adv_conf "$kind" "table.size = $SIZE" "maxretry = $MAXRETRY" "ignoreip =" \
		"invalid_user.weight = 1" "connlimit.rate = 0"
	adv_stack "$kind" "$T/$kind.conf" right-pw || exit 1
	per=$([ $kind = banned ] && echo $MAXRETRY || echo 1)
	out=$(VG_ADV_ALARM=3600 adv flood "$kind" root '2001:db8:%x::1' 4096 "$N" "$per" wrong-pw)
	fill=$(adv_stat "$kind" fill_at_overflow)
	most=$(kv "$out" max_per_source)
	printf '   %-9s %6d sources x %d into table.size %d: %6.1f us per authentication; fill at first overflow %s (%s%%); overflowed %s; most passwords for one source %s (maxretry %d): %s\n' \
		"$kind" "$N" "$per" "$SIZE" "$(kv "$out" us_per_auth)" "$fill" \
		"$(awk -v f="$fill" -v s="$SIZE" 'BEGIN { printf "%.1f", 100 * f / s }')" \
		"$(adv_stat "$kind" overflow_total)" "$most" "$MAXRETRY" \
		"$([ "${most:-99}" -le $MAXRETRY ] && echo OK || echo EXCEEDED)"
	[ "${most:-99}" -le $MAXRETRY ] || bad=1
	echo "RESULT flood=$kind size=$SIZE sources=$N us_per_auth=$(kv "$out" us_per_auth) fill_at_overflow=$fill max_per_source=$most"
done
exit $bad

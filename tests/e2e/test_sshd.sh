#!/bin/bash
# End-to-end proof against a real sshd (issue 7): a source gets exactly
# maxretry password guesses, however many connections it opens at once.
#
# A private sshd runs in its own network + mount namespace
# (tests/e2e/sshd_env.sh); a pam_exec hook right before pam_unix writes
# one line per password that is actually evaluated.  For 1, 8 and 32
# parallel connections from one attacker source, each connection trying
# MaxAuthTries (6) wrong passwords, the hook must count exactly maxretry.
# Then: other sources still log in, the ban also refuses public-key logins
# (account phase) and the right password, and an IPv6 /64 shares one budget.
# The host's sshd, /etc/pam.d and nftables ruleset are never touched.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

need_root
need_cmd ip unshare sshd ssh sshpass ssh-keygen openssl python3 setsid timeout
if [ ! -f build/pam_vpsguard.so ]; then
	make -s build/pam_vpsguard.so >/dev/null 2>&1 ||
		{ fail "build build/pam_vpsguard.so"; summary; exit 1; }
fi
. tests/e2e/sshd_env.sh

MAXRETRY=5
TRIES=6			# = sshd MaxAuthTries: wrong passwords per connection
ADMIN_SRC=127.0.0.10	# the admin, who must never be affected

T0=$(date +%s)
if ! ve_setup "maxretry = $MAXRETRY" "findtime = 10m" "bantime = 1h" \
	"ignoreip =" "connlimit.rate = 0"; then
	fail "sandbox sshd starts" "$VE_ERR"
	summary
	exit 1
fi
pass "sandbox sshd starts (netns $VE_NS, port $VE_PORT, stack from ${VE_SNIPPET#$VE_ROOT/} + count hook before pam_unix)"

# --- baseline: the admin logs in, both ways --------------------------------
expect_rc "admin logs in with the right password from $ADMIN_SRC" 0 \
	ve_ssh_pw "$ADMIN_SRC" "$VE_PASS"
c=$(ve_count "$ADMIN_SRC")
if [ "$c" -eq 1 ]; then
	pass "count hook sees the admin's password once (hook works)"
else
	fail "count hook sees the admin's password once (hook works)" "counted $c"
fi
expect_rc "admin logs in with the public key from $ADMIN_SRC" 0 ve_ssh_key "$ADMIN_SRC"

failed_logged() {	# SRC: sshd's "Failed password" lines for SRC
	grep -c "Failed password for $VE_USER from $1 port" "$VE_SSHD_LOG" 2>/dev/null || true
}

# --- the claim: exactly maxretry guesses, 1 / 8 / 32 parallel connections ----
for n in 1 8 32; do
	src=203.0.113.$n
	ve_add_addr "$src"
	t=$(date +%s%N)
	ve_attack "$n" "$TRIES" "$src"
	ms=$(( ($(date +%s%N) - t) / 1000000 ))
	c=$(ve_count "$src")
	tried=$(failed_logged "$src")
	name="$n parallel connection(s) from $src: exactly $MAXRETRY passwords evaluated"
	if [ "$c" -eq "$MAXRETRY" ]; then
		pass "$name ($(( n * TRIES )) tried, sshd logged $tried failures, $c evaluated, ${ms} ms)"
	else
		fail "$name" "evaluated $c of $(( n * TRIES )) tried, sshd logged $tried"
	fi
	# The same source coming back on a new connection gets nothing more.
	ve_attack 1 "$TRIES" "$src"
	c=$(ve_count "$src")
	if [ "$c" -eq "$MAXRETRY" ]; then
		pass "$src comes back on a new connection: still $MAXRETRY evaluated"
	else
		fail "$src comes back on a new connection: still $MAXRETRY evaluated" "now $c"
	fi
	expect_rc "admin logs in right after the $n-connection attack" 0 \
		ve_ssh_pw "$ADMIN_SRC" "$VE_PASS"
	if ve_syslog_ok; then
		line="pam_vpsguard(sshd:auth): ban $src for 1h ($MAXRETRY failures in 10m, ban #1)"
		if ve_syslog_has "$line" 3; then
			k=$(grep -cF "ban $src for" "$VE_SYSLOG")
			if [ "$k" -eq 1 ]; then
				pass "syslog: one ban line for $src"
			else
				fail "syslog: one ban line for $src" "$k ban lines"
			fi
		else
			fail "syslog: ban line for $src" "no '$line' in $(grep -c . "$VE_SYSLOG") captured lines"
		fi
	else
		skip "syslog: ban line for $src" "no /dev/log capture in the sshd namespace"
	fi
done

# --- the ban also holds in the account phase (public key) --------------------
BANNED=203.0.113.8
acct_denied() { grep -c "Access denied for user $VE_USER by PAM account configuration" "$VE_SSHD_LOG" || true; }
before=$(acct_denied)
out=$(ve_ssh_key "$BANNED" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ "$(acct_denied)" -eq $((before + 1)) ]; then
	pass "banned $BANNED: right public key refused in the account phase (ssh rc $rc)"
elif [ $rc -ne 0 ] && grep -qiE "penalty.*$BANNED|$BANNED.*penalty" "$VE_SSHD_LOG"; then
	# OpenSSH >= 9.8 with PerSourcePenalties on (the default): the
	# listener drops the source's connections before any PAM phase.
	pass "banned $BANNED: right public key refused (by sshd's PerSourcePenalties, before PAM; ssh rc $rc)"
else
	fail "banned $BANNED: right public key refused in the account phase" "rc $rc: $(_vg_tail "$out")"
fi
expect_rc "another source (127.0.0.11) logs in with the same key" 0 ve_ssh_key 127.0.0.11
before=$(ve_count "$BANNED")
out=$(ve_ssh_pw "$BANNED" "$VE_PASS" 2>&1)
rc=$?
after=$(ve_count "$BANNED")
if [ $rc -ne 0 ] && [ "$after" -eq "$before" ]; then
	pass "banned $BANNED: right password refused before pam_unix sees it (rc $rc, evaluated stays $after)"
else
	fail "banned $BANNED: right password refused before pam_unix sees it" "rc $rc, evaluated $before -> $after"
fi
expect_rc "admin password login still works after all that" 0 ve_ssh_pw "$ADMIN_SRC" "$VE_PASS"

# --- IPv6: one /64, one budget -----------------------------------------------
if [ "$VE_HAVE_V6" != 1 ]; then
	skip "IPv6 /64 shares one budget" "no IPv6 in this kernel"
else
	A6=2001:db8:66::10
	B6=2001:db8:66::11
	ve_add_addr "$A6"
	ve_add_addr "$B6"
	ve_add_addr 2001:db8:66::12
	ve_add_addr 2001:db8:77::1
	ve_attack 4 "$TRIES" "$A6" "$B6"
	ca=$(ve_count "$A6")
	cb=$(ve_count "$B6")
	if [ $((ca + cb)) -eq "$MAXRETRY" ]; then
		pass "IPv6 $A6 + $B6 (same /64, 4+4 parallel connections): $((ca + cb)) evaluated in total ($ca + $cb)"
	else
		fail "IPv6 $A6 + $B6 share one budget of $MAXRETRY" "evaluated $ca + $cb"
	fi
	if ve_syslog_ok; then
		if ve_syslog_has "ban 2001:db8:66::/64 for 1h" 3; then
			pass "syslog: the ban names the /64 (2001:db8:66::/64)"
		else
			fail "syslog: the ban names the /64" "$(grep -F 'ban 2001' "$VE_SYSLOG" | tail -n 1)"
		fi
	else
		skip "syslog: the ban names the /64" "no /dev/log capture in the sshd namespace"
	fi
	expect_rc "IPv6 2001:db8:66::12 (same /64, never guessed) refused with the right key" 255 \
		ve_ssh_key 2001:db8:66::12
	expect_rc "IPv6 2001:db8:77::1 (another /64) logs in with the key" 0 ve_ssh_key 2001:db8:77::1
	expect_rc "IPv6 2001:db8:77::1 logs in with the right password" 0 ve_ssh_pw 2001:db8:77::1 "$VE_PASS"
fi

# --- what the admin CLI says (only once it exists) ---------------------------
if ! ve_find_admin; then
	skip "pam_vpsguard-admin list shows the bans" "build/pam_vpsguard-admin not built"
elif ! ve_has_sub list; then
	skip "pam_vpsguard-admin list shows the bans" "no 'list' subcommand yet"
else
	out=$(ve_admin list --banned 2>&1)
	rc=$?
	miss=""
	want="203.0.113.1 203.0.113.8 203.0.113.32"
	[ "$VE_HAVE_V6" = 1 ] && want="$want 2001:db8:66::/64"
	for s in $want; do
		printf '%s\n' "$out" | grep -qF "$s" || miss="$miss $s"
	done
	if [ $rc -eq 0 ] && [ -z "$miss" ]; then
		pass "pam_vpsguard-admin list --banned shows every banned source"
	else
		fail "pam_vpsguard-admin list --banned shows every banned source" "rc $rc, missing:$miss"
	fi
	if printf '%s\n' "$out" | grep -qF "$ADMIN_SRC"; then
		fail "pam_vpsguard-admin list --banned leaves the admin out" "$ADMIN_SRC listed"
	else
		pass "pam_vpsguard-admin list --banned leaves the admin out"
	fi
fi

echo "e2e: $(( $(date +%s) - T0 )) s"
summary

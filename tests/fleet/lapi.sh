# A private CrowdSec LAPI for the fleet tests (test_crowdsec.sh,
# test_unit_sandbox.sh), sourced after tests/lib.sh with T set:
#
#   lapi_setup PORT BOUNCER MACHINE
#       writes its configuration under $T/cs, registers the CLI's machine,
#       the bouncer BOUNCER (its key in $T/bouncer.key) and the machine
#       MACHINE (its password in $T/machine.pw), and sets CS, PORT, URL;
#       exits the suite with a FAIL line when cscli cannot
#   start_lapi / stop_lapi
#       the LAPI in the background (tracked, killed on exit), up when its
#       /health says so (20 s at most)
LAPI_PID=""

cscli() { command cscli -c "$CS/etc/config.yaml" "$@"; }

lapi_setup() {
	PORT=$1 URL=http://127.0.0.1:$1 CS=$T/cs
	local bouncer=$2 machine=$3
	mkdir -p "$CS/etc" "$CS/data" "$CS/log" "$CS/hub"
	cat >"$CS/etc/config.yaml" <<EOL
common:
  daemonize: false
  log_media: file
  log_level: info
  log_dir: $CS/log/
  working_dir: .
config_paths:
  config_dir: $CS/etc/
  data_dir: $CS/data/
  simulation_path: $CS/etc/simulation.yaml
  hub_dir: $CS/hub/
  index_path: $CS/hub/.index.json
  notification_dir: $CS/etc/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: $CS/etc/acquis.yaml
cscli:
  output: human
db_config:
  log_level: info
  type: sqlite
  db_path: $CS/data/crowdsec.db
  use_wal: false
api:
  client:
    insecure_skip_verify: false
    credentials_path: $CS/etc/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: 127.0.0.1:$PORT
    profiles_path: $CS/etc/profiles.yaml
    trusted_ips:
      - 127.0.0.1
      - ::1
prometheus:
  enabled: false
EOL
	cat >"$CS/etc/profiles.yaml" <<'EOL'
name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
EOL
	: >"$CS/etc/simulation.yaml"
	umask 077
	cscli machines add vg-cli --auto -f "$CS/etc/local_api_credentials.yaml" \
		--url "$URL" >"$T/setup.log" 2>&1 &&
	cscli bouncers add "$bouncer" -o raw >"$T/bouncer.key" 2>>"$T/setup.log" &&
	head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$T/machine.pw" &&
	cscli machines add "$machine" --password "$(cat "$T/machine.pw")" \
		-f "$T/push.yaml" --url "$URL" >>"$T/setup.log" 2>&1 ||
		{ umask 022; fail "$VG_SUITE" "cscli setup: $(_vg_tail "$(cat "$T/setup.log")")"; exit 1; }
	umask 022
}

start_lapi() {
	crowdsec -c "$CS/etc/config.yaml" -no-cs >>"$CS/lapi.out" 2>&1 </dev/null &
	LAPI_PID=$!
	track_pid "$LAPI_PID"
	wait_for 20 sh -c "curl -sf $URL/health | grep -q up"
}

stop_lapi() {
	[ -n "$LAPI_PID" ] || return 0
	stop_pid "$LAPI_PID"
	LAPI_PID=""
}

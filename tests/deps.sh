#!/bin/sh
# Install every Debian package the build, the tests and the demo need.
# Idempotent: only missing packages are fetched.
set -eu

PKGS="build-essential pkg-config libpam0g-dev libpam-modules libcmocka-dev
pamtester openssh-server openssh-client sshpass iproute2 nftables
libnftnl-dev libmnl-dev liboath-dev oathtool valgrind python3 util-linux
systemd man-db libcap2-bin openssl
libqrencode-dev qrencode clang cppcheck clang-tidy libcurl4-openssl-dev
libjson-c-dev libclang-rt-14-dev crowdsec
dpkg-dev debhelper lintian debootstrap libseccomp-dev"

# make bench compares with fail2ban and sshguard (bench/compare.sh).
BENCH_PKGS="fail2ban sshguard"
[ "${VG_BENCH_DEPS:-0}" = 1 ] && PKGS="$PKGS $BENCH_PKGS"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "make deps: missing packages:$missing" >&2
	echo "make deps: run as root (apt-get install needs it)" >&2
	exit 1
fi
echo "make deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d: installing openssh-server must not start or restart the
# host's sshd (a running one is left exactly as it was).
cleanup_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	cleanup_policy=1
fi
trap 'if [ $cleanup_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
apt-get update -qq
# crowdsec (the fleet tests run a private LAPI in a netns): its postinst
# registers with the online Central API, and fails with no internet,
# unless online_api_credentials.yaml is already non-empty.  A placeholder
# that names no server disables that; the tests never use this file.
case " $missing " in *" crowdsec "*)
	if [ ! -s /etc/crowdsec/online_api_credentials.yaml ]; then
		install -d -m 755 /etc/crowdsec
		printf '# placeholder written by pam_vpsguard make deps: no online API\nurl: ""\n' \
			>/etc/crowdsec/online_api_credentials.yaml
		chmod 600 /etc/crowdsec/online_api_credentials.yaml
	fi ;;
esac
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
# Installed only to be measured or run inside namespaces: they must not
# start guarding this host at the next boot.
for p in $BENCH_PKGS crowdsec; do
	case " $missing " in *" $p "*)
		command -v systemctl >/dev/null 2>&1 &&
			systemctl disable "$p" >/dev/null 2>&1 || true ;;
	esac
done

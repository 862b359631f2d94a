# tests/pkg/chroot.sh: throwaway Debian roots for the package tests.
# Sourced after tests/lib.sh.
#
#   vg_mirror                      the Debian mirror this machine's apt uses
#   vg_cached_root RELEASE PKGS    a debootstrap --variant=minbase root of
#                                  RELEASE with PKGS (comma-separated),
#                                  cached under $VG_ROOT_CACHE; prints it
#   vg_enter_root ROOT MNT         (private mount namespace only) a
#                                  writable overlay of ROOT on MNT, with
#                                  /proc, a small /dev, tmpfs /run and /tmp, a
#                                  policy-rc.d that refuses every service
#                                  start; the cached root is never written
#
# A cached root is built once (in the host's network namespace: it needs
# the mirror), under a temporary name, renamed when complete, so a killed
# debootstrap never leaves a half root in the cache.  Its name carries a
# hash of the package list: changing the list builds a new one.
VG_ROOT_CACHE=${VG_ROOT_CACHE:-/var/cache/pam_vpsguard-test}
VG_DEBOOTSTRAP_TIMEOUT=${VG_DEBOOTSTRAP_TIMEOUT:-900}

vg_mirror() {
	local u
	u=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n 1)
	[ -n "$u" ] || u=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
	[ -n "$u" ] || return 1
	echo "${u%/}"
}

vg_cached_root() {	# RELEASE PKGS
	local rel=$1 pkgs=$2 h dir mirror log
	h=$(printf '%s %s' "$rel" "$pkgs" | sha256sum | cut -c1-12)
	dir=$VG_ROOT_CACHE/$rel-minbase-$h
	if [ -x "$dir/usr/bin/apt-get" ] && [ -e "$dir/.vg-complete" ]; then
		echo "$dir"
		return 0
	fi
	mirror=$(vg_mirror) || { echo "no Debian mirror in /etc/apt/sources.list*" >&2; return 1; }
	mkdir -p "$VG_ROOT_CACHE" || return 1
	rm -rf --one-file-system "$dir.tmp"
	log=$VG_ROOT_CACHE/$rel-minbase-$h.log
	echo "debootstrap --variant=minbase $rel from $mirror (once; cached in $dir)" >&2
	if ! timeout "$VG_DEBOOTSTRAP_TIMEOUT" debootstrap --variant=minbase \
		--include="$pkgs" "$rel" "$dir.tmp" "$mirror" >"$log" 2>&1; then
		echo "debootstrap $rel failed or took over ${VG_DEBOOTSTRAP_TIMEOUT}s: $(tail -n 2 "$log" | tr '\n' ' ')" >&2
		rm -rf --one-file-system "$dir.tmp"
		return 1
	fi
	# No services in a test root, ever (also if it is used by hand).
	printf '#!/bin/sh\nexit 101\n' >"$dir.tmp/usr/sbin/policy-rc.d"
	chmod 755 "$dir.tmp/usr/sbin/policy-rc.d"
	rm -f "$dir.tmp"/var/cache/apt/archives/*.deb
	touch "$dir.tmp/.vg-complete"
	mv "$dir.tmp" "$dir" || return 1
	echo "$dir"
}

vg_enter_root() {	# ROOT MNT
	local root=$1 mnt=$2 n
	in_private_mountns || { echo "vg_enter_root: not in a private mount namespace" >&2; return 1; }
	mkdir -p "$mnt.upper" "$mnt.work" "$mnt" || return 1
	mount -t overlay vg-root -o "lowerdir=$root,upperdir=$mnt.upper,workdir=$mnt.work" "$mnt" || return 1
	mount -t proc proc "$mnt/proc" || return 1
	mount -t tmpfs -o mode=755,size=4m vg-dev "$mnt/dev" || return 1
	for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
		# shellcheck disable=SC2086
		set -- $n
		mknod -m 666 "$mnt/dev/$1" c "$2" "$3" || return 1
	done
	ln -s /proc/self/fd "$mnt/dev/fd"
	mkdir -m 1777 "$mnt/dev/shm"
	mkdir -m 755 "$mnt/dev/pts"
	# A private devpts: ssh clients (sshpass) need a pseudo terminal.
	mount -t devpts -o newinstance,ptmxmode=0666,mode=620 vg-pts "$mnt/dev/pts" || return 1
	ln -s pts/ptmx "$mnt/dev/ptmx"
	mount -t tmpfs -o mode=755 vg-run "$mnt/run" || return 1
	# A tmpfs /tmp: suites inside put overlays there (an overlayfs cannot
	# be the upper layer of another).
	mount -t tmpfs -o mode=1777 vg-tmp "$mnt/tmp" || return 1
	mkdir -m 755 "$mnt/run/sshd" "$mnt/run/lock"
	printf '#!/bin/sh\nexit 101\n' >"$mnt/usr/sbin/policy-rc.d"
	chmod 755 "$mnt/usr/sbin/policy-rc.d"
}

#!/bin/sh
# Build pam-vpsguard_VERSION_ARCH.deb from this tree (make deb).
#
#   tools/mkdeb.sh [OUTDIR]     default OUTDIR: the tree's top
#
# dpkg-buildpackage runs in a copy under build/deb/ (its clean step
# would otherwise delete the tree's own build, and it writes the .deb
# into the parent directory); the .deb is copied to OUTDIR and checked
# with lintian (errors fail the build; warnings are listed in README.md).
# Needs the Build-Depends of debian/control, dpkg-dev and debhelper
# (make deps installs them); no root.
set -eu
cd "$(dirname "$0")/.."
TOP=$PWD
OUT=${1:-$TOP}
case $OUT in /*) ;; *) OUT=$TOP/$OUT ;; esac

VERSION=$(dpkg-parsechangelog -S Version)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
DEB=pam-vpsguard_${VERSION}_${ARCH}.deb
B=$TOP/build/deb
SRC=$B/pam-vpsguard-$VERSION

rm -rf "$B"
mkdir -p "$SRC"
# The sources only: tracked and new files, never build products.
if git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$TOP" ls-files -z --cached --others --exclude-standard |
		tar -C "$TOP" --null -T - --ignore-failed-read -cf - 2>/dev/null |
		tar -C "$SRC" -xf -
else
	tar -C "$TOP" --exclude=./build --exclude=./.git --exclude='*.o' \
		--exclude='*.d' --exclude='*.a' --exclude='*.so' --exclude='*.deb' \
		-cf - . | tar -C "$SRC" -xf -
fi
rm -f "$SRC"/*.deb

(cd "$SRC" && dpkg-buildpackage -us -uc -b -J"$(nproc)") >"$B/build.log" 2>&1 || {
	tail -n 40 "$B/build.log" >&2
	echo "make deb: dpkg-buildpackage failed (full log: $B/build.log)" >&2
	exit 1
}
mkdir -p "$OUT"
cp "$B/$DEB" "$OUT/$DEB"
echo "make deb: $OUT/$DEB"

if command -v lintian >/dev/null 2>&1; then
	# --fail-on error: warnings are reported, errors fail make deb.
	lintian --fail-on error --tag-display-limit 0 "$B"/pam-vpsguard_*.changes ||
		{ echo "make deb: lintian reported errors" >&2; exit 1; }
else
	echo "make deb: lintian not installed: not checked (make deps installs it)"
fi

#!/bin/bash
# Static analysis as a test case each: cppcheck and clang-tidy clean over
# lib/, pam_module/ and helper/ (tests/security/lint.sh; `make lint`).
set -u
VG_SUITE=static
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

for tool in cppcheck clang-tidy; do
	bin=$tool
	[ "$tool" = clang-tidy ] && ! command -v clang-tidy >/dev/null &&
		bin=clang-tidy-14
	if ! command -v "$bin" >/dev/null 2>&1; then
		fail "$tool clean" "$tool not installed (make deps)"
		continue
	fi
	out=$(tests/security/lint.sh "$tool" 2>&1)
	if [ $? -eq 0 ]; then
		pass "$tool clean ($(printf '%s\n' "$out" | head -n 1 | sed 's/.*: //'))"
	else
		printf '%s\n' "$out"
		fail "$tool clean" "$(printf '%s\n' "$out" | grep -m 3 -E '(warning|error):' | tr '\n' '|')"
	fi
done
summary

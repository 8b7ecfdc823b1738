#!/usr/bin/env bash
# Fails when any tracked C file differs from what clang-format (with .clang-format) would write.
set -euo pipefail
top=${1:-$(git rev-parse --show-toplevel)}
cd "$top"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' | grep -v -E '(^|/)(build[^/]*|subprojects)/' || true)
bad=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=1
	fi
done
echo "checked ${#files[@]} files"
exit $bad

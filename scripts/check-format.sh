#!/usr/bin/env bash
# Fails when any tracked C file differs from what clang-format (with .clang-format) would write.
set -euo pipefail
top=${1:-$(git rev-parse --show-toplevel)}
cd "$top"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' | grep -v -E '(^|/)(build[^/]*|subprojects)/' || true)
existing=()
for f in "${files[@]}"; do [ -f "$f" ] && existing+=("$f"); done
# One clang-format process per batch of files, two batches at a time.
out=$(printf '%s\0' "${existing[@]}" | xargs -0 -n 64 -P 2 clang-format --dry-run -Werror 2>&1 || true)
bad=$(printf '%s\n' "$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
echo "checked ${#existing[@]} files"
if [ -n "$bad" ]; then
	printf 'not formatted (run: clang-format -i FILE): %s\n' $bad
	exit 1
fi
if printf '%s\n' "$out" | grep -q 'error:'; then
	printf '%s\n' "$out" | head -20
	exit 1
fi

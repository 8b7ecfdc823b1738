#!/usr/bin/env bash
# Installs dependencies, builds keel with ASan+UBSan and -Werror, runs every test suite, prints "N passed, M failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

fail_early() {
	echo "test.sh: $1" >&2
	echo "0 passed, 1 failed"
	exit 1
}

bash scripts/deps.sh || fail_early "installing dependencies failed"

build=build/test
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all \
		-Dfuzzing=true -Dfailpoints=true -Dwerror=true >/dev/null ||
		fail_early "meson setup $build failed"
fi
ninja -C "$build" >/dev/null || { ninja -C "$build" | tail -40; fail_early "build with clang failed"; }

# A second compiler catches what the first does not warn about (compile only).
gccbuild=build/gcc
if [ ! -f "$gccbuild/build.ninja" ]; then
	CC=gcc meson setup "$gccbuild" -Dwerror=true -Dctr_supervisor_libc=glibc >/dev/null || fail_early "meson setup $gccbuild failed"
fi
ninja -C "$gccbuild" >/dev/null || { ninja -C "$gccbuild" | tail -40; fail_early "build with gcc failed"; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
meson test -C "$build" --print-errorlogs --num-processes "$(nproc)" "$@"
python3 scripts/test-summary.py "$build/meson-logs/testlog.json"

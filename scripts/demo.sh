#!/usr/bin/env bash
# Main job: installs, builds and runs a local cluster with a sample framework (arrives with keel-master and keel-agent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/release/build.ninja ] || meson setup build/release --buildtype=release >/dev/null
ninja -C build/release >/dev/null
echo "demo: keel-master and keel-agent are not built yet; the runtime, tests and benchmarks are." >&2
echo "demo: run 'bash scripts/test.sh' for the test suite and 'bash bench/http/run.sh' for the HTTP benchmark." >&2
exit 1

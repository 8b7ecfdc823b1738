#!/usr/bin/env bash
# Main job: installs, builds, starts a master (embedded coordination) and an agent, runs a sample task in a container from a locally built image, prints its output and final state.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/release/build.ninja ] || meson setup build/release --buildtype=release >/dev/null
ninja -C build/release >/dev/null
B=build/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/keel-demo.XXXXXX")
. scripts/lib/single.sh
trap 'single_down; rm -rf "$WORK"' EXIT

single_up
echo "demo: keel-master leads at http://127.0.0.1:$MPORT (coordination: embedded static://, registry: replicated log)"
echo "demo: keel-agent registered (http://127.0.0.1:$APORT), image busybox:latest in its store"

# The sample framework: keel-execute runs one command in a container and prints its output.
echo "demo: keel-execute --image=busybox:latest --command='echo hello from ...'"
set +e
"$B/sched/keel-execute" --master="127.0.0.1:$MPORT" --name=hello --image=busybox:latest \
	--resources='cpus:0.5;mem:64' \
	--command='echo "hello from a keel container on $(hostname), pid $$"; uname -sr'
rc=$?
set -e
echo "demo: keel-execute exited with $rc"
exit $rc

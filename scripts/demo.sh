#!/usr/bin/env bash
# Main job: installs, builds and runs a local cluster on the embedded default (today: a master and emulated agents; a sample framework arrives with keel-agent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/release/build.ninja ] || meson setup build/release --buildtype=release >/dev/null
ninja -C build/release >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-demo.XXXXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
master_pid=
emu_pid=
cleanup() {
	[ -n "$emu_pid" ] && kill -TERM "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
	[ -n "$master_pid" ] && kill -TERM "$master_pid" 2>/dev/null && wait "$master_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# One master on the embedded default (static://, no external service), its registry in a
# replicated log of one replica under $work.
build/release/master/keel-master --ip=127.0.0.1 --port="$port" --work_dir="$work/master" \
	>"$work/master.log" 2>&1 &
master_pid=$!
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$port/metrics/snapshot" 2>/dev/null | grep -q '"master/elected":1' && break
	sleep 0.1
done
echo "demo: keel-master leads at http://127.0.0.1:$port (coordination: embedded static://, registry: replicated log)"

# 100 emulated agents register with it.
build/release/tests/tools/keel-emu-agents --master="static://127.0.0.1:$port" --agents=100 \
	>"$work/emu.out" 2>&1 &
emu_pid=$!
for _ in $(seq 1 200); do
	grep -q "emu: wave" "$work/emu.out" && break
	sleep 0.1
done
grep "emu: wave" "$work/emu.out" | sed 's/^/demo: /'
curl -sf "http://127.0.0.1:$port/state" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("demo: /state: %d agents, e.g. %s with %s" % (len(s["slaves"]), s["slaves"][0]["id"], s["slaves"][0]["resources"]))'

echo "demo: frameworks, offers and tasks on real agents arrive with the next issues (keel-agent, the scheduler API);" >&2
echo "demo: until then this demo stops here. 'bash scripts/cluster.sh up DIR zk' starts a 3-master HA cluster." >&2
exit 1

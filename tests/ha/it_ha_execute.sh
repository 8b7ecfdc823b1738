#!/usr/bin/env bash
# keel-execute --master=zk://... on an HA quorum: output and exit 0, a failing command's exit code, an unknown image's message.
# Usage: it_ha_execute.sh BUILD_DIR [zk|etcd]   (as root; default zk)
# 3 keel-masters on a 3-server ZooKeeper, one keel-agent with busybox:latest in its image store;
# keel-execute finds the leader through the coordination URL alone.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath "$1")
BACKEND=${2:-zk}
WORK=$(mktemp -d "$B/tests-ha-exec.XXXXXX")
. scripts/lib/single.sh
AGENT_PID=
cleanup() {
	single_down
	KEEL_BUILD=$B bash scripts/cluster.sh down "$WORK/cluster" >/dev/null 2>&1
	[ -n "${KEEL_TEST_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fails=0
check() { # name, then a command that must succeed
	local name=$1
	shift
	if "$@"; then echo "ok $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
exec_task() { # out-prefix, then keel-execute flags; records stdout, stderr, exit code, seconds
	local p=$1 t0
	shift
	t0=$(date +%s.%N)
	timeout 120 "$B/sched/keel-execute" --master="$URL" "$@" >"$WORK/$p.out" 2>"$WORK/$p.err"
	echo $? >"$WORK/$p.rc"
	echo "$p: exit $(cat "$WORK/$p.rc") in $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }") s"
}

KEEL_BUILD=$B KEEL_SESSION_TIMEOUT=4secs bash scripts/cluster.sh up "$WORK/cluster" "$BACKEND" 3 \
	>"$WORK/cluster.out" 2>&1 || { cat "$WORK/cluster.out"; echo "FAIL cluster did not come up"; exit 1; }
URL=$(bash scripts/cluster.sh url "$WORK/cluster")
MPORT=$(bash scripts/cluster.sh masters "$WORK/cluster" | head -1 | sed 's|.*:||') # for single_down
python3 scripts/mkimage.py "$WORK/busybox.tar" >/dev/null || { echo "FAIL mkimage"; exit 1; }
"$B/containerizer/keel-containerizer" --work_dir "$WORK/agent" --image_dir "$WORK/images" \
	images import "$WORK/busybox.tar" --ref busybox:latest >/dev/null || { echo "FAIL image import"; exit 1; }
APORT=$(single_free_port)
"$B/agent/keel-agent" --master="$URL" --work_dir="$WORK/agent" --ip=127.0.0.1 --port="$APORT" \
	--resources='cpus:2;mem:1024' --isolation=cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux \
	--image_providers=docker --image_store_dir="$WORK/images" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
echo "$URL"

exec_task hi --name=hi --command='echo hi'
check "echo hi exits 0" [ "$(cat "$WORK/hi.rc")" = 0 ]
check "echo hi prints exactly hi" [ "$(cat "$WORK/hi.out")" = hi ]

exec_task fail --name=fail --command='exit 7'
check "a failing command exits with its code (7)" [ "$(cat "$WORK/fail.rc")" = 7 ]

exec_task img --name=img --image=busybox:latest --command='echo hi from busybox'
check "an image task exits 0" [ "$(cat "$WORK/img.rc")" = 0 ]
check "an image task prints its output" [ "$(cat "$WORK/img.out")" = "hi from busybox" ]

exec_task noimg --name=noimg --image=nosuch:latest --command=true
check "an unknown image exits 1" [ "$(cat "$WORK/noimg.rc")" = 1 ]
check "an unknown image is named in a clear message" \
	grep -q "keel-execute: task 'noimg' did not run to completion: .*nosuch:latest" "$WORK/noimg.err"
check "an unknown image prints nothing on stdout" [ ! -s "$WORK/noimg.out" ]

if [ "$fails" -ne 0 ]; then
	for f in "$WORK"/*.err "$WORK"/agent.log; do echo "--- $f"; tail -20 "$f"; done
	exit 1
fi

#!/usr/bin/env bash
# End to end with the real daemons: keel-master + keel-agent (cgroups, namespaces, an image) + keel-execute.
# Usage: it_execute.sh BUILD_DIR   (run from the source root; as root)
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$1
WORK=$(mktemp -d "$(realpath "$B")/tests-e2e.XXXXXX")
. scripts/lib/single.sh
trap 'single_down; rm -rf "$WORK"' EXIT
fails=0
check() { # name, then a command that must succeed
	local name=$1
	shift
	if "$@"; then echo "ok $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
exec_task() { # out-prefix, then keel-execute flags
	local p=$1
	shift
	timeout 120 "$B/sched/keel-execute" --master="127.0.0.1:$MPORT" "$@" >"$WORK/$p.out" 2>"$WORK/$p.err"
	echo $? >"$WORK/$p.rc"
}

single_up || { echo "FAIL cluster did not come up"; exit 1; }

# A container from the image: its output comes back through the agent's /files/read.
exec_task img --name=img --image=busybox:latest --resources='cpus:0.2;mem:32' \
	--command='echo hello-e2e; cat /etc/hostname 2>/dev/null; ls /bin/busybox'
check "image task exits 0" [ "$(cat "$WORK/img.rc")" = 0 ]
check "image task output" grep -qx hello-e2e "$WORK/img.out"
check "image task ran in the image rootfs" grep -qx /bin/busybox "$WORK/img.out"
check "image task states" grep -q 'TASK_RUNNING' "$WORK/img.err"
check "no reconnect after its own teardown" sh -c "! grep -q Disconnected '$WORK/img.err'"

# A failing command: keel-execute exits with its code.
exec_task fail --name=fail --command='echo about-to-fail; exit 3'
check "failing task exits with its code" [ "$(cat "$WORK/fail.rc")" = 3 ]
check "failing task output" grep -qx about-to-fail "$WORK/fail.out"

# An unknown image: TASK_ERROR with a clear message, nothing started.
exec_task noimg --name=noimg --image=nosuch:latest --command=true
check "unknown image fails" [ "$(cat "$WORK/noimg.rc")" != 0 ]
check "unknown image is named" grep -q nosuch "$WORK/noimg.err"
check "unknown image is TASK_ERROR" grep -q TASK_ERROR "$WORK/noimg.out" "$WORK/noimg.err"

# The master saw them end.
m=$(curl -sf "http://127.0.0.1:$MPORT/metrics/snapshot")
check "master counted finished tasks" python3 -c "
import json, sys
m = json.loads(sys.argv[1])
assert m.get('master/tasks_finished', 0) >= 1, m.get('master/tasks_finished')
assert m.get('master/tasks_failed', 0) >= 1, m.get('master/tasks_failed')
assert m.get('master/tasks_error', 0) >= 1, m.get('master/tasks_error')" "$m"

if [ "$fails" -ne 0 ]; then
	for f in "$WORK"/*.err "$WORK"/agent.log; do echo "--- $f"; tail -20 "$f"; done
	exit 1
fi
exit 0

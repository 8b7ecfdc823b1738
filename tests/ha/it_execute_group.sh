#!/usr/bin/env bash
# keel-execute --task_group=FILE on a real keel-master + keel-agent: LAUNCH_GROUP, every task's stdout, exit codes.
# Usage: it_execute_group.sh BUILD_DIR   (as root; the one-master one-agent cluster of scripts/lib/single.sh)
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath "$1")
WORK=$(mktemp -d "$B/tests-exec-group.XXXXXX")
. scripts/lib/single.sh
trap 'single_down; [ -n "${KEEL_TEST_KEEP:-}" ] || rm -rf "$WORK"' EXIT
fails=0
check() { # name, then a command that must succeed
	local name=$1
	shift
	if "$@"; then echo "ok $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
exec_group() { # out-prefix, group JSON; records stdout, stderr, exit code
	local p=$1
	printf '%s' "$2" >"$WORK/$p.json"
	timeout 120 "$B/sched/keel-execute" --master="127.0.0.1:$MPORT" --task_group="$WORK/$p.json" \
		--resources='cpus:0.1;mem:32' >"$WORK/$p.out" 2>"$WORK/$p.err"
	echo $? >"$WORK/$p.rc"
}

single_up || { echo "FAIL cluster did not come up"; exit 1; }

# Two commands and a container task in one group: all finish, every stdout in the file's order.
exec_group ok '{"tasks":[
 {"name":"one","task_id":{"value":"one"},"command":{"value":"echo from-one"}},
 {"name":"two","task_id":{"value":"two"},"command":{"value":"echo from-two; echo again-two"}},
 {"name":"box","task_id":{"value":"box"},"command":{"value":"echo from-box; ls /bin/busybox"},
  "container":{"type":"MESOS","mesos":{"image":{"type":"DOCKER","docker":{"name":"busybox:latest"}}}}}]}'
check "a finished group exits 0" [ "$(cat "$WORK/ok.rc")" = 0 ]
check "every task's stdout, in order" [ "$(cat "$WORK/ok.out")" = "$(printf 'from-one\nfrom-two\nagain-two\nfrom-box\n/bin/busybox')" ]
check "launched as one group" grep -q "Submitted task group with 3 tasks" "$WORK/ok.err"
check "every task finished" [ "$(grep -c 'Received status update TASK_FINISHED' "$WORK/ok.err")" = 3 ]

# One task fails with 4: the group's other (long) task is killed, the exit code is 4.
exec_group fail '{"tasks":[
 {"name":"long","task_id":{"value":"long"},"command":{"value":"echo long-started; exec sleep 60"}},
 {"name":"bad","task_id":{"value":"bad"},"command":{"value":"sleep 1; echo bad-out; exit 4"}}]}'
check "a failing group exits with the failing task's code" [ "$(cat "$WORK/fail.rc")" = 4 ]
check "its sibling was killed" grep -q "Received status update TASK_KILLED for task 'long'" "$WORK/fail.err"
check "the failing task's stdout is printed" grep -qx bad-out "$WORK/fail.out"

# An invalid group (a task without a command): every task TASK_ERROR, nothing runs, exit 1.
exec_group invalid '{"tasks":[
 {"name":"fine","task_id":{"value":"fine"},"command":{"value":"echo never"}},
 {"name":"nocmd","task_id":{"value":"nocmd"}}]}'
check "an invalid group exits 1" [ "$(cat "$WORK/invalid.rc")" = 1 ]
check "an invalid group is TASK_ERROR for every task" [ "$(grep -c 'Received status update TASK_ERROR' "$WORK/invalid.err")" = 2 ]
check "an invalid group says why" grep -q "did not run to completion" "$WORK/invalid.err"
check "an invalid group prints nothing" [ ! -s "$WORK/invalid.out" ]

if [ "$fails" -ne 0 ]; then
	for f in "$WORK"/*.err "$WORK"/agent.log; do echo "--- $f"; tail -30 "$f"; done
	exit 1
fi
exit 0

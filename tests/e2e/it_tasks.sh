#!/usr/bin/env bash
# End to end: 50 tasks through the real master on the real agent; the agent is SIGKILLed and restarted while they run.
# Usage: it_tasks.sh BUILD_DIR   (as root). Checks (tests/e2e/sched_tasks.py): every task RUNNING
# then FINISHED and run exactly once (a marker file per task), each task's updates in order, every
# update acknowledged, a sandbox read back.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$1
WORK=$(mktemp -d "$(realpath "$B")/tests-e2e-tasks.XXXXXX")
. scripts/lib/single.sh
trap 'single_down; rm -rf "$WORK"' EXIT
single_up || { echo "FAIL cluster did not come up"; exit 1; }
echo "$APORT" >"$WORK/agent_port"
python3 tests/e2e/sched_tasks.py "$MPORT" 50 "$WORK" &
sched=$!
if wait_for 150 test -e "$WORK/running"; then
	kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	echo "agent SIGKILLed with 50 tasks running; restarting it"
	single_agent_start
	touch "$WORK/restarted"
fi
wait "$sched"
rc=$?
if [ "$rc" -ne 0 ]; then
	tail -40 "$WORK/agent.log"
	echo "FAIL sched_tasks"
	exit 1
fi
# The restarted agent recovered the containers instead of starting them again.
grep -c 'recover' "$WORK/agent.log" | sed 's/^/agent log lines about recovery: /'
echo "ok 50 tasks through an agent restart"

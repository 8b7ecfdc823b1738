#!/usr/bin/env bash
# Reconciliation across a real master failover with an agent that re-registers late (Mesos's rules).
# Usage: it_reconcile_failover.sh BUILD_DIR   (as root)
# One keel-master (replicated log in its work dir) and one keel-agent; a PARTITION_AWARE v1 JSON
# scheduler (sched_reconcile.py) runs a task, the agent is SIGSTOPped, the master SIGKILLed and
# started again on the same work dir and port (a new leader that must wait for the agent): no
# answer for the task until the agent is SIGCONTed and re-registers, then TASK_RUNNING.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath "$1")
WORK=$(mktemp -d "$B/tests-ha-reconcile.XXXXXX")
. scripts/lib/single.sh
cleanup() {
	[ -n "$AGENT_PID" ] && kill -CONT "$AGENT_PID" 2>/dev/null
	if [ -f "$WORK/master2.pid" ]; then # not our child: wait for it by polling
		local pid
		pid=$(cat "$WORK/master2.pid")
		kill -TERM "$pid" 2>/dev/null && wait_for 20 sh -c "! kill -0 $pid"
	fi
	single_down
	[ -n "${KEEL_TEST_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
MPORT=$(single_free_port)
APORT=$(single_free_port)
# Pings every second: a re-registered agent is watched, and the agent's missed-ping watch (twice
# the leader's ping timeout) brings it back soon after SIGCONT.
MASTER_ARGS=(--ip=127.0.0.1 --port="$MPORT" --work_dir="$WORK/master" --allocation_interval=100ms
	--agent_ping_timeout=1secs --max_agent_ping_timeouts=30)
"$B/master/keel-master" "${MASTER_ARGS[@]}" >"$WORK/master.log" 2>&1 &
MASTER_PID=$!
elected() { curl -sf "http://127.0.0.1:$MPORT/metrics/snapshot" | grep -q '"master/elected":1'; }
wait_for 30 elected || { cat "$WORK/master.log"; echo "FAIL the master did not lead"; exit 1; }
"$B/agent/keel-agent" --master="127.0.0.1:$MPORT" --work_dir="$WORK/agent" --ip=127.0.0.1 \
	--port="$APORT" --resources='cpus:2;mem:1024' >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
wait_for 30 sh -c "curl -sf http://127.0.0.1:$MPORT/state | grep -q '\"hostname\"'" ||
	{ cat "$WORK/agent.log"; echo "FAIL the agent did not register"; exit 1; }

# The failover, run by the scheduler at its moment: SIGKILL, then a new master on the same work
# dir and port (retried while the old one's port is still taken), leading again.
cat >"$WORK/failover.sh" <<EOS
kill -KILL $MASTER_PID
for _ in 1 2 3 4 5 6 7 8 9 10; do
	"$B/master/keel-master" ${MASTER_ARGS[*]} >>"$WORK/master2.log" 2>&1 &
	echo \$! >"$WORK/master2.pid"
	for _ in \$(seq 1 300); do
		curl -sf "http://127.0.0.1:$MPORT/metrics/snapshot" | grep -q '"master/elected":1' && exit 0
		kill -0 \$(cat "$WORK/master2.pid") 2>/dev/null || break
		sleep 0.1
	done
done
exit 1
EOS
python3 tests/ha/sched_reconcile.py "127.0.0.1:$MPORT" "$WORK" "kill -STOP $AGENT_PID" \
	"bash $WORK/failover.sh" "kill -CONT $AGENT_PID"
rc=$?
if [ "$rc" -ne 0 ]; then
	for f in "$WORK"/master.log "$WORK"/master2.log "$WORK"/agent.log; do echo "--- $f"; tail -30 "$f"; done
	echo "FAIL reconciliation across the failover"
	exit 1
fi
grep -q "reconciliation of task long of framework .* dropped: its agent has not re-registered yet" \
	"$WORK/master2.log" || { echo "FAIL the new leader did not log the dropped reconciliation"; exit 1; }
echo "ok reconciliation across a failover with an agent that re-registers late"

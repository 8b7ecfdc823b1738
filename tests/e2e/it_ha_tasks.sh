#!/usr/bin/env bash
# End to end on an HA quorum: 3 masters on a 3-server ZooKeeper, a real agent and 20 tasks; the leading master is SIGKILLed while they run.
# Usage: it_ha_tasks.sh BUILD_DIR [MODE]   (as root). MODE "running" (default): the leader dies
# with all 20 RUNNING; "launching": with the first 10 (short) tasks partly FINISHED and the second
# 10 just accepted, still being launched (the scheduler kills the leader itself the moment the
# second wave's ACCEPT is answered: no polling delay lets those tasks reach RUNNING first).
# The agent and the scheduler (tests/e2e/sched_tasks.py) follow the new leader: same framework
# ID, every task FINISHED and run exactly once (marker files), updates in order (redelivered when
# the old leader took them unacknowledged), all acknowledged.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath "$1")
MODE=${2:-running}
WORK=$(mktemp -d "$B/tests-e2e-ha.XXXXXX")
. scripts/lib/single.sh
cleanup() {
	single_down
	KEEL_BUILD=$B bash scripts/cluster.sh down "$WORK/cluster" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
KEEL_BUILD=$B KEEL_SESSION_TIMEOUT=4secs bash scripts/cluster.sh up "$WORK/cluster" zk 3 >"$WORK/cluster.out" 2>&1 ||
	{ cat "$WORK/cluster.out"; echo "FAIL cluster did not come up"; exit 1; }
URL=$(bash scripts/cluster.sh url "$WORK/cluster")
ports=$(bash scripts/cluster.sh masters "$WORK/cluster" | sed 's|.*:||' | paste -sd, -)
APORT=$(single_free_port)
"$B/agent/keel-agent" --master="$URL" --work_dir="$WORK/agent" --ip=127.0.0.1 --port="$APORT" \
	--resources='cpus:2;mem:1024' --isolation=cgroups/cpu,cgroups/mem,namespaces/pid \
	>"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
echo "$APORT" >"$WORK/agent_port"
# "port pid" of each master, for the scheduler's own kill in "launching" mode.
i=1
for hp in $(bash scripts/cluster.sh masters "$WORK/cluster"); do
	echo "${hp##*:} $(cat "$WORK/cluster/masters/m$i/pid")"
	i=$((i + 1))
done >"$WORK/masters.map"
python3 tests/e2e/sched_tasks.py "$ports" 20 "$WORK" "$MODE" "$WORK/masters.map" &
sched=$!
if wait_for 150 test -e "$WORK/running"; then
	# The master the scheduler is subscribed to (the leader it found), by its port.
	lport=$(cat "$WORK/running")
	leader=$(bash scripts/cluster.sh masters "$WORK/cluster" | grep -n ":$lport\$" | cut -d: -f1)
	[ -n "$leader" ] || { echo "FAIL no master on port $lport"; exit 1; }
	KEEL_BUILD=$B bash scripts/cluster.sh kill "$WORK/cluster" "$leader"
	if curl -sf -m 5 "http://127.0.0.1:$lport/metrics/snapshot" >/dev/null; then
		echo "FAIL master $leader (port $lport) still answers after its SIGKILL"
		exit 1
	fi
	echo "leading master $leader (port $lport) SIGKILLed ($MODE)"
	touch "$WORK/restarted"
fi
wait "$sched"
rc=$?
if [ "$rc" -ne 0 ]; then
	tail -30 "$WORK/agent.log"
	echo "FAIL sched_tasks over a master failover"
	exit 1
fi
echo "ok 20 tasks through a master failover ($MODE)"

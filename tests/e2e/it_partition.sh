#!/usr/bin/env bash
# End to end: the agent cut off from the master (two network namespaces, a veth pair) longer than the ping timeout, then back.
# Usage: it_partition.sh BUILD_DIR   (as root). The master (and the schedulers) live in one
# network namespace, the agent in another; a veth pair joins only those two (the host's
# interfaces are never touched). The cut sets the agent's end of the pair down, the heal sets it
# up. Checks (tests/e2e/sched_partition.py): TASK_UNREACHABLE for a PARTITION_AWARE framework,
# TASK_LOST for another; after the heal the agent re-registers, reconciliation says RUNNING for
# the tasks that kept running, the update of a task that finished meanwhile arrives, every task
# FINISHED, run once.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath "$1")
WORK=$(mktemp -d "$B/tests-e2e-partition.XXXXXX")
. scripts/lib/single.sh
NSM= NSA= MASTER_PID= AGENT_PID=
cleanup() {
	single_down # TERM to the agent and the master, by PID
	# The namespaces (and the veth pair with them) go away with their last process.
	for p in $NSM $NSA; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
in_m() { nsenter -t "$NSM" -n "$@"; }
in_a() { nsenter -t "$NSA" -n "$@"; }

# Two empty network namespaces, each held by a sleeping process.
unshare -n sleep 100000 &
NSM=$!
unshare -n sleep 100000 &
NSA=$!
wait_for 10 sh -c "[ \"\$(readlink /proc/$NSM/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ] &&
	[ \"\$(readlink /proc/$NSA/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]" ||
	{ echo "FAIL no network namespaces"; exit 1; }
MIP=10.213.7.1
AIP=10.213.7.2
# The pair is created inside the master's namespace with its peer moved straight to the agent's.
in_m ip link set lo up && in_a ip link set lo up &&
	in_m ip link add keel-m type veth peer name keel-a netns "$NSA" &&
	in_m ip addr add "$MIP/24" dev keel-m && in_m ip link set keel-m up &&
	in_a ip addr add "$AIP/24" dev keel-a && in_a ip link set keel-a up ||
	{ echo "FAIL cannot set up the veth pair"; exit 1; }

MPORT=$(single_free_port)
APORT=$(single_free_port)
# Short pings so the test is quick: unreachable after 3 missed pings of 2 s (6-8 s).
# nsenter execs the daemon (no fork for a network namespace), so $! is the daemon's PID.
nsenter -t "$NSM" -n "$B/master/keel-master" --ip="$MIP" --port="$MPORT" --work_dir="$WORK/master" \
	--allocation_interval=100ms --agent_ping_timeout=2secs --max_agent_ping_timeouts=3 \
	>"$WORK/master.log" 2>&1 &
MASTER_PID=$!
wait_for 30 sh -c "nsenter -t $NSM -n curl -sf http://$MIP:$MPORT/metrics/snapshot | grep -q '\"master/elected\":1'" ||
	{ cat "$WORK/master.log"; echo "FAIL master did not come up"; exit 1; }
nsenter -t "$NSA" -n "$B/agent/keel-agent" --master="$MIP:$MPORT" --work_dir="$WORK/agent" --ip="$AIP" \
	--port="$APORT" --resources='cpus:2;mem:1024' \
	--isolation=cgroups/cpu,cgroups/mem,namespaces/pid >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
wait_for 30 sh -c "nsenter -t $NSM -n curl -sf http://$MIP:$MPORT/state | grep -q '\"hostname\"'" ||
	{ cat "$WORK/agent.log"; echo "FAIL agent did not register"; exit 1; }
case "$(readlink /proc/$MASTER_PID/exe) $(readlink /proc/$AGENT_PID/exe)" in
*/keel-master*/keel-agent) ;;
*) echo "FAIL the PIDs kept are not the daemons'"; exit 1 ;;
esac

in_m python3 tests/e2e/sched_partition.py "$MIP:$MPORT" "$WORK" \
	"nsenter -t $NSA -n ip link set keel-a down" "nsenter -t $NSA -n ip link set keel-a up"
rc=$?
if [ "$rc" -ne 0 ]; then
	tail -30 "$WORK/master.log"
	tail -30 "$WORK/agent.log"
	echo "FAIL sched_partition"
	exit 1
fi
grep -h 'unreachable\|re-registering\|reregistered' "$WORK/master.log" "$WORK/agent.log" | tail -5
echo "ok partition: UNREACHABLE / LOST, then truthful reconciliation"

#!/usr/bin/env bash
# HA acceptance of libkeel-sched: a C framework (ha_framework) keeps running tasks through consecutive leader kills.
# Usage: it_ha_sched.sh BUILD_DIR [zk|etcd] [KILLS] [TASKS]   (as root; defaults zk 3 60)
# 3 keel-masters on a 3-server ZooKeeper (or etcd), one real keel-agent (cgroups, pid namespace).
# The framework launches TASKS tasks (`echo ID >> marker; sleep 1`) in KILLS+1 batches; each time
# it has subscribed to the current leader, reconciled and launched its batch, whose last task runs
# until WORK/release.K exists, the leading master is SIGKILLed (then restarted).
# ha_framework itself checks the end (same framework ID, a reconcile after every subscription,
# each task's final state against the marker file, nothing run twice); this script checks the
# marker once more and that the framework exited 0 (under ASan: with no leak).
# KEEL_TEST_KEEP=1 keeps the work dir (logs, marker) under BUILD_DIR.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath "$1")
BACKEND=${2:-zk}
KILLS=${3:-3}
TASKS=${4:-60}
WORK=$(mktemp -d "$B/tests-ha-$BACKEND.XXXXXX")
. scripts/lib/single.sh
AGENT_PID=
FW_PID=
cleanup() {
	[ -n "$FW_PID" ] && kill -TERM "$FW_PID" 2>/dev/null && wait "$FW_PID" 2>/dev/null
	single_down
	KEEL_BUILD=$B bash scripts/cluster.sh down "$WORK/cluster" >/dev/null 2>&1
	[ -n "${KEEL_TEST_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
	echo "FAIL $*"
	echo "--- framework"; tail -40 "$WORK/fw.err"
	echo "--- agent"; tail -20 "$WORK/agent.log"
	for m in "$WORK"/cluster/masters/m*/log; do echo "--- $m"; tail -10 "$m"; done
	exit 1
}
t0=$(date +%s)
KEEL_BUILD=$B KEEL_SESSION_TIMEOUT=4secs bash scripts/cluster.sh up "$WORK/cluster" "$BACKEND" 3 \
	>"$WORK/cluster.out" 2>&1 || { cat "$WORK/cluster.out"; echo "FAIL cluster did not come up"; exit 1; }
URL=$(bash scripts/cluster.sh url "$WORK/cluster")
APORT=$(single_free_port)
"$B/agent/keel-agent" --master="$URL" --work_dir="$WORK/agent" --ip=127.0.0.1 --port="$APORT" \
	--resources='cpus:2;mem:1024' --isolation=cgroups/cpu,cgroups/mem,namespaces/pid \
	>"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
echo "cluster up ($URL) in $(($(date +%s) - t0)) s"

t1=$(date +%s)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1 \
	"$B/sched/ha_framework" --master="$URL" --tasks="$TASKS" --kills="$KILLS" \
	--marker="$WORK/marker" --dir="$WORK" >"$WORK/fw.out" 2>"$WORK/fw.err" &
FW_PID=$!

# progress: subscriptions reconciled launched running finished terminal
progress() { cat "$WORK/progress" 2>/dev/null || echo "0 0 0 0 0 0"; }
ready_to_kill() { # k: subscribed k times, reconciled after each, batch k launched, its last task
	# running (or, if the agent could not run it, every launched task ended: kill all the same)
	local k=$1 subs recon launched running terminal
	read -r subs recon launched running _ terminal < <(progress)
	[ "$subs" -eq "$k" ] && [ "$recon" -ge "$k" ] &&
		[ "$launched" -ge $((k * (TASKS / (KILLS + 1)))) ] &&
		{ [ "$running" -ge 1 ] || [ "$terminal" -eq "$launched" ]; }
}
for k in $(seq 1 "$KILLS"); do
	wait_for 180 ready_to_kill "$k" || fail "kill $k: the framework never got ready ($(progress))"
	leader=$(bash scripts/cluster.sh leader "$WORK/cluster") || fail "no leader before kill $k"
	KEEL_BUILD=$B bash scripts/cluster.sh kill "$WORK/cluster" "$leader"
	echo "kill $k: leading master $leader SIGKILLed at +$(($(date +%s) - t1)) s; progress $(progress)"
	touch "$WORK/release.$k" # the batch's last task, running across the kill, may end
	KEEL_BUILD=$B KEEL_SESSION_TIMEOUT=4secs bash scripts/cluster.sh start "$WORK/cluster" "$leader"
done
wait "$FW_PID"
rc=$?
FW_PID=
cat "$WORK/fw.out"
[ "$rc" -eq 0 ] || fail "ha_framework exited $rc"
# The marker once more, independently: no task ran twice; every line is one of ours.
dups=$(sort "$WORK/marker" | uniq -d)
[ -z "$dups" ] || fail "tasks ran twice: $dups"
lines=$(wc -l <"$WORK/marker")
finished=$(sed -n 's/.* finished=\([0-9]*\).*/\1/p' "$WORK/fw.out")
[ "$lines" = "$finished" ] || fail "marker has $lines lines, framework saw $finished FINISHED"
grep -q "subscriptions=$((KILLS + 1)) " "$WORK/fw.out" || echo "note: extra re-subscriptions"
grep -q " not_run=0 " "$WORK/fw.out" ||
	{ echo "note: some tasks did not run:"; grep -E 'ended|given up' "$WORK/fw.err" | head -20; }
echo "ok $BACKEND: $TASKS tasks through $KILLS leader kills in $(($(date +%s) - t1)) s ($lines ran, each once)"

#!/usr/bin/env bash
# keelctl cluster up|down: a static one-master cluster and HA ones on ZooKeeper and etcd, each running a task; down leaves nothing.
set -euo pipefail
B=$1
KEELCTL=$B/cli/keelctl
EXECUTE=$B/sched/keel-execute
WORK=$(mktemp -d "$B/tests-cluster.XXXXXX")
cleanup() {
	"$KEELCTL" cluster down --dir="$WORK/static" >/dev/null 2>&1 || true
	"$KEELCTL" cluster down --dir="$WORK/ha" >/dev/null 2>&1 || true
	"$KEELCTL" cluster down --dir="$WORK/etcd" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Every PID the cluster recorded under $1 (masters, agents, service members).
recorded_pids() { find "$1" -name pid -type f -exec cat {} + 2>/dev/null; }

# check_cluster DIR MASTERS: agents listed, a task in the image and one on the host, then down.
check_cluster() {
	local dir=$1 masters=$2 url pids
	url=$("$KEELCTL" cluster url --dir="$dir")
	[ "$("$KEELCTL" cluster masters --dir="$dir" | wc -l)" = "$masters" ] || fail "masters of $dir"
	"$KEELCTL" agents --master="$url" >"$WORK/agents" || fail "keelctl agents"
	grep -q "agent1 *yes" "$WORK/agents" || fail "agent1 not listed: $(cat "$WORK/agents")"
	timeout 120 "$EXECUTE" --master="$url" --name=c1 --image=busybox:latest \
		--command='echo in-busybox' >"$WORK/out" 2>"$WORK/err" || fail "image task: $(cat "$WORK/err")"
	grep -qx "in-busybox" "$WORK/out" || fail "image task output: $(cat "$WORK/out")"
	# Up again on a running cluster is refused, nothing started.
	if "$KEELCTL" cluster up --dir="$dir" 2>"$WORK/err"; then fail "second up succeeded"; fi
	grep -q "holds a cluster already" "$WORK/err" || fail "second up: $(cat "$WORK/err")"
	pids=$(recorded_pids "$dir")
	[ -n "$pids" ] || fail "no PIDs recorded in $dir"
	"$KEELCTL" cluster down --dir="$dir" || fail "down"
	for p in $pids; do
		if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF "$dir"; then
			fail "process $p of $dir still runs after down"
		fi
	done
	[ -z "$("$B/containerizer/keel-containerizer" --work_dir "$dir/agents/a1" ps 2>/dev/null | awk 'NR > 1')" ] ||
		fail "containers left in $dir"
}

# Bad flags: refused before anything starts.
rc=0; "$KEELCTL" cluster up --dir="$WORK/bad" --coord=consul 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "must be static, zk or etcd" "$WORK/err" || fail "--coord=consul: rc $rc $(cat "$WORK/err")"
rc=0; "$KEELCTL" cluster up --dir="$WORK/bad" --masters=3 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "static coordination runs one master" "$WORK/err" || fail "--masters=3: rc $rc"
rc=0; "$KEELCTL" cluster sideways 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "unknown subcommand: rc $rc"
rc=0; "$KEELCTL" cluster down --dir="$WORK/none" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] || fail "down of a missing dir: rc $rc"
[ -z "$(ls -A "$WORK/bad" 2>/dev/null)" ] || fail "a refused up left files: $(ls -A "$WORK/bad")"

"$KEELCTL" cluster up --dir="$WORK/static" --agents=1 >"$WORK/up" 2>"$WORK/uperr" ||
	fail "static up: $(cat "$WORK/uperr")"
grep -q "^static://127.0.0.1:" "$WORK/up" || fail "static up printed: $(cat "$WORK/up")"
check_cluster "$WORK/static" 1
echo "static cluster: up, a task, down: ok"

"$KEELCTL" cluster up --dir="$WORK/ha" --ha --agents=1 >"$WORK/up" 2>"$WORK/uperr" ||
	fail "HA up: $(cat "$WORK/uperr")"
grep -q "^zk://127.0.0.1:" "$WORK/up" || fail "HA up printed: $(cat "$WORK/up")"
check_cluster "$WORK/ha" 3
echo "HA cluster (3 masters, ZooKeeper): up, a task, down: ok"

"$KEELCTL" cluster up --dir="$WORK/etcd" --coord=etcd --masters=3 --agents=1 >"$WORK/up" \
	2>"$WORK/uperr" || fail "etcd up: $(cat "$WORK/uperr")"
grep -q "^etcd://127.0.0.1:" "$WORK/up" || fail "etcd up printed: $(cat "$WORK/up")"
check_cluster "$WORK/etcd" 3
echo "HA cluster (3 masters, etcd): up, a task, down: ok"
echo PASS

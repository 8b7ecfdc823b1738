#!/usr/bin/env bash
# bench/tasks: short tasks (`true`) through a real master and a real agent with full isolation, beside sequential `runc run` of the same rootfs in the same run.
#
# keel: one keel-master (embedded default, --allocation_interval=50ms) and one keel-agent
# (cpus:2;mem:1024; cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux; the
# busybox image of scripts/mkimage.py in its store); keel-tasks-bench (bench/tasks/driver.c, a
# libkeel-sched framework, protobuf) launches N tasks `true` in that image as fast as offers
# allow (0.05 cpus, 16 MiB each: up to 40 at once), acknowledges every update and prints
#   to_running_per_s   tasks / (last TASK_RUNNING - first ACCEPT)
#   to_finished_per_s  tasks / (last TASK_FINISHED - first ACCEPT)
#   accept_to_running  p50 and p99 of (TASK_RUNNING - its ACCEPT sent)
# keel-seq: the same with one task in flight at a time (RUNC_N tasks): the like of the peer.
# peer: `runc run` of an OCI bundle of the same busybox rootfs (pid+mount+uts+ipc namespaces,
# a memory and cpu cgroup under keel/), RUNC_N runs one after another: runs/s and p50 per run.
# Each round runs both; ROUNDS (3) rounds, medians printed at the end with `uptime`.
#
# Environment: N (200 tasks per round), RUNC_N (20), ROUNDS (3), BUILD (build/agent8-rel).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
n=${N:-200}
runc_n=${RUNC_N:-20}
rounds=${ROUNDS:-3}
build=${BUILD:-build/agent8-rel}
[ "$(id -u)" -eq 0 ] || { echo "bench/tasks: needs root" >&2; exit 1; }
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" master/keel-master agent/keel-agent containerizer/keel-containerizer \
	bench/keel-tasks-bench >/dev/null
B=$(realpath "$build")
WORK=$(mktemp -d /tmp/keel-bench-tasks.XXXXXX)
state=$(mktemp -d /run/keel-bench-tasks.XXXXXX)
cgp=keel/bench-tasks-$$
. scripts/lib/single.sh
cleanup() {
	single_down
	for c in $(runc --root "$state" list -q 2>/dev/null); do
		runc --root "$state" delete -f "$c" >/dev/null 2>&1 || true
	done
	for d in /sys/fs/cgroup/*/"$cgp" /sys/fs/cgroup/"$cgp"; do
		if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
	done
	rm -rf "$WORK" "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

MPORT=$(single_free_port)
APORT=$(single_free_port)
python3 scripts/mkimage.py "$WORK/busybox.tar"
"$B/containerizer/keel-containerizer" --work_dir "$WORK/agent" --image_dir "$WORK/images" \
	images import "$WORK/busybox.tar" --ref busybox:latest >/dev/null
"$B/master/keel-master" --ip=127.0.0.1 --port="$MPORT" --work_dir="$WORK/master" \
	--allocation_interval=50ms >"$WORK/master.log" 2>&1 &
MASTER_PID=$!
wait_for 30 sh -c "curl -sf http://127.0.0.1:$MPORT/metrics/snapshot | grep -q '\"master/elected\":1'" ||
	{ tail "$WORK/master.log" >&2; exit 1; }
"$B/agent/keel-agent" --master="127.0.0.1:$MPORT" --work_dir="$WORK/agent" --ip=127.0.0.1 \
	--port="$APORT" --resources='cpus:2;mem:1024' \
	--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux \
	--image_providers=docker --image_store_dir="$WORK/images" \
	>"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
wait_for 30 sh -c "curl -sf http://127.0.0.1:$MPORT/state | grep -q '\"hostname\"'" ||
	{ tail "$WORK/agent.log" >&2; exit 1; }

# The same rootfs for runc: the image's one layer, unpacked.
rootfs=$WORK/rootfs
mkdir -p "$rootfs" "$WORK/img"
tar -xf "$WORK/busybox.tar" -C "$WORK/img"
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][0])' "$WORK/img/manifest.json")
tar -xf "$WORK/img/$layer" -C "$rootfs"
mkdir -p "$rootfs"/{proc,sys,dev,tmp}
bundle=$WORK/bundle
mkdir -p "$bundle"
cat >"$bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/sh", "-c", "true"],
              "env": ["PATH=/bin"], "cwd": "/"},
  "root": {"path": "$rootfs", "readonly": false},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","mode=755"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","nodev","mode=1777"]}
  ],
  "linux": {
    "cgroupsPath": "/$cgp/runc",
    "resources": {"memory": {"limit": 16777216}, "cpu": {"shares": 51, "quota": 5000, "period": 100000},
                  "pids": {"limit": 64}},
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]
  }
}
JSON

# runc_round COUNT: prints "runs_per_s X p50_ms Y".
runc_round() {
	python3 - "$1" "$state" "$bundle" <<'PY'
import subprocess, sys, time
n, state, bundle = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lat = []
t0 = time.monotonic()
for i in range(n):
    s = time.monotonic()
    subprocess.run(["runc", "--root", state, "run", "--bundle", bundle, "b%d" % i], check=True,
                   stdin=subprocess.DEVNULL)
    lat.append(time.monotonic() - s)
total = time.monotonic() - t0
lat.sort()
print("runs_per_s %.1f p50_ms %.1f" % (n / total, lat[len(lat) // 2] * 1000))
PY
}

declare -a k_run k_fin k_p50 k_p99 s_fin s_p50 r_rate r_p50
for r in $(seq "$rounds"); do
	out=$("$B/bench/keel-tasks-bench" "127.0.0.1:$MPORT" "$n" busybox:latest)
	set -- $out
	k_run+=("$4") k_fin+=("$6") k_p50+=("$8") k_p99+=("${10}")
	sout=$("$B/bench/keel-tasks-bench" "127.0.0.1:$MPORT" "$runc_n" busybox:latest 1)
	set -- $sout
	s_fin+=("$6") s_p50+=("$8")
	rout=$(runc_round "$runc_n")
	set -- $rout
	r_rate+=("$2") r_p50+=("$4")
	echo "round $r: keel $out | keel-seq $sout | runc $rout"
done
med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "uptime: $(uptime)"
echo "keel  (median of $rounds, $n tasks each): $(med "${k_run[@]}") tasks/s to RUNNING," \
	"$(med "${k_fin[@]}") tasks/s to FINISHED, accept->RUNNING p50 $(med "${k_p50[@]}") ms" \
	"p99 $(med "${k_p99[@]}") ms"
echo "keel-seq (median of $rounds, $runc_n tasks one at a time): $(med "${s_fin[@]}") tasks/s" \
	"to FINISHED, accept->RUNNING p50 $(med "${s_p50[@]}") ms"
echo "runc  (median of $rounds, $runc_n sequential runs each): $(med "${r_rate[@]}") runs/s," \
	"p50 $(med "${r_p50[@]}") ms per run"

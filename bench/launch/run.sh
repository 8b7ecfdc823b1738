#!/bin/bash
# bench/launch: task launches per second end to end (scheduler API -> keel-master -> keel-emu-agents
# -> TASK_RUNNING at the frameworks), 3 runs, medians; optionally beside another keel-master binary
# (e.g. the one before a change) in the same run, alternating.
#
# Usage: bench/launch/run.sh [BUILD_DIR] [AGENTS FRAMEWORKS TASKS ENCODING TASK_MS]
#        BUILD_DIR is a release build (meson setup build/bench --buildtype=release;
#        ninja -C build/bench master/keel-launch-bench master/keel-master tests/tools/keel-emu-agents)
#        defaults: 2500 agents, 4 frameworks, 100000 tasks, mixed (JSON and protobuf), 0 (RUNNING)
# KEEL_LAUNCH_PEER=/path/to/keel-master also runs that master, alternating with BUILD_DIR's.
# KEEL_LAUNCH_RUNS=3 sets the number of runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build/bench}" && pwd)
shift || true
args=("${@:-}")
[ $# -eq 5 ] || args=(2500 4 100000 mixed 0)
bench=$build/master/keel-launch-bench
[ -x "$bench" ] || { echo "missing $bench" >&2; exit 2; }
runs=${KEEL_LAUNCH_RUNS:-3}
masters=("$build/master/keel-master")
[ -n "${KEEL_LAUNCH_PEER:-}" ] && masters+=("$KEEL_LAUNCH_PEER")

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ${args[*]}"
declare -A rate cpu rss p50 p99
for r in $(seq 1 "$runs"); do
	for m in "${masters[@]}"; do
		out=$("$bench" "$m" "$build/tests/tools/keel-emu-agents" "${args[@]}") || true
		echo "-- run $r $m (load $(cut -d' ' -f1 /proc/loadavg))"
		echo "$out" | sed 's/^/   /'
		rate[$m]+="$(echo "$out" | sed -n 's/.*= \([0-9]*\) tasks\/s; accept.*/\1/p') "
		cpu[$m]+="$(echo "$out" | sed -n 's/.*CPU to RUNNING: master \([0-9.]*\) us.*/\1/p') "
		rss[$m]+="$(echo "$out" | sed -n 's/.* \([0-9]*\) bytes\/task live.*/\1/p') "
		p50[$m]+="$(echo "$out" | sed -n 's/.*p50=\([0-9.]*\) ms.*/\1/p') "
		p99[$m]+="$(echo "$out" | sed -n 's/.*p99=\([0-9.]*\) ms.*/\1/p') "
	done
done
median() { tr ' ' '\n' | { grep -v '^$' || true; } | sort -n | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : "-"}'; }
echo "== medians of $runs (tasks/s to RUNNING | master CPU us/task | master RSS bytes/task | accept-to-running p50 / p99 ms)"
for m in "${masters[@]}"; do
	printf '%s: %s tasks/s | %s us/task | %s B/task | %s / %s ms   (runs: %s)\n' "$m" \
		"$(echo "${rate[$m]}" | median)" "$(echo "${cpu[$m]}" | median)" \
		"$(echo "${rss[$m]}" | median)" "$(echo "${p50[$m]}" | median)" \
		"$(echo "${p99[$m]}" | median)" "${rate[$m]}"
done
echo "== goal: > 10,000 tasks/s to RUNNING; anchor (not measured here): Nomad C1M 3,750 containers/s"

#!/bin/bash
# bench/replog/trace.sh: one traced keel-log bench (three replicas, KEEL_REPLOG_TRACE on), then the
# per-hop medians of bench/replog/trace_hops.py.
#
# Usage: bench/replog/trace.sh BUILD_DIR [disk|tmpfs|mixed] [SIZE] [COUNT] [INFLIGHT]
#   disk:  the three LMDB dirs under BUILD_DIR (the disk of run.sh)
#   tmpfs: the three under /dev/shm (fdatasync nearly free: keel's own overhead)
#   mixed: the writer's (replica 0) under /dev/shm, the followers' on disk
# KEEP=DIR keeps the trace files in DIR. Run it under `flock /work/bench.lock` on a shared machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: trace.sh BUILD_DIR [disk|tmpfs|mixed] [SIZE] [COUNT]}" && pwd)
mode=${2:-disk} size=${3:-100} count=${4:-1000} inflight=${5:-1}
klog=$build/replog/keel-log
. "$root/bench/replog/lib.sh"
[ -x "$klog" ] || { echo "missing $klog" >&2; exit 2; }
disk=$(mktemp -d "$build/trace-replog.XXXXXX")
shm=$(mktemp -d /dev/shm/keel-trace-replog.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$disk" "$shm"
}
trap cleanup EXIT
dir_of() {
	case "$mode" in
	disk) echo "$disk/r$1" ;;
	tmpfs) echo "$shm/r$1" ;;
	mixed) if [ "$1" = 0 ]; then echo "$shm/r$1"; else echo "$disk/r$1"; fi ;;
	*) echo "unknown mode $mode" >&2; exit 2 ;;
	esac
}
pick_ports
mkdir -p "$shm/trace"
KEEL_REPLOG_TRACE=$shm/trace/t start_replicas "$klog" "$disk/log" "$(dir_of 0)" "$(dir_of 1)" \
	"$(dir_of 2)"
"$klog" bench --targets=127.0.0.1:${port[0]} --count=200 --size="$size" --inflight=8 >/dev/null
# The warm-up's events end at this mark: the analysis takes only what follows.
mark=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC))')
sleep 0.2
"$klog" bench --targets=127.0.0.1:${port[0]} --count="$count" --size="$size" --inflight="$inflight"
for p in "${pids[@]}"; do kill "$p"; done
wait 2>/dev/null || true
pids=()
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$shm"/trace/t.* "$KEEP"/ && echo "$mark" >"$KEEP/mark"; fi
python3 "$root/bench/replog/trace_hops.py" --after="$mark" "$shm/trace/t"

#!/bin/bash
# bench/replog: three keel-log replicas (separate processes, own LMDB dirs, fsync before ack) vs a
# three-server ZooKeeper ensemble (forceSync on), same sizes and concurrency, plus machine limits.
#
# Usage: bench/replog/run.sh [BUILD_DIR]   (a build without sanitizers, e.g.
#        meson setup build/bench -Dbuildtype=release && ninja -C build/bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build/bench}" && pwd)
klog=$build/replog/keel-log
zkb=$build/replog/keel-replog-zk-bench
lim=$build/replog/keel-replog-limits
. "$root/bench/replog/lib.sh"
for b in "$klog" "$zkb" "$lim"; do [ -x "$b" ] || { echo "missing $b: ninja -C $build" >&2; exit 2; }; done
work=$(mktemp -d "$build/bench-replog.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$root/scripts/services/zookeeper.sh" stop "$work/zk" >/dev/null 2>&1 || true
	rm -rf "$work" ${shm:+"$shm"}
}
trap cleanup EXIT

echo "== machine limits (same filesystem as the LMDB dirs: $work)"
limits=$("$lim" "$work")
echo "$limits"
fsync_us=$(echo "$limits" | sed -n 's/^fdatasync_p50_us=\([0-9.]*\).*/\1/p')
rtt_us=$(echo "$limits" | sed -n 's/.*loopback_rtt_p50_us=\([0-9.]*\).*/\1/p')
rtt2_us=$(echo "$limits" | sed -n 's/.*loopback_rtt_2proc_p50_us=\([0-9.]*\).*/\1/p')
fsync3_us=$(echo "$limits" | sed -n 's/^fdatasync3_second_p50_us=\([0-9.]*\).*/\1/p')

pick_ports
start_replicas "$klog" "$work/log" "$work/r0" "$work/r1" "$work/r2"
# A failed run says why: the replicas' logs.
ours_failed() {
	echo "keel bench failed; replica logs:" >&2
	for i in 0 1 2; do tail -n 20 "$work/log$i" >&2; done
	exit 1
}

declare -A ours theirs
runs="100:1 100:64 4096:1 4096:64"
count_for() { [ "$1" = 1 ] && echo 1000 || echo 20000; }
echo "== keel replog (3 replicas)"
"$klog" bench --targets=127.0.0.1:${port[0]} --count=200 --size=100 --inflight=8 >/dev/null ||
	ours_failed # warm-up
for r in $runs; do
	size=${r%:*} k=${r#*:}
	ours[$r]=$("$klog" bench --targets=127.0.0.1:${port[0]} --count="$(count_for "$k")" \
		--size="$size" --inflight="$k") || ours_failed
	echo "${ours[$r]}"
done
for p in "${pids[@]}"; do kill "$p"; done
wait 2>/dev/null || true
pids=()

# The same 1-in-flight run with the three replicas on tmpfs, where fdatasync costs ~nothing: what
# is left is keel's own overhead (hops, wake-ups, HTTP), the rest of the p50 above is the disk's.
shm=$(mktemp -d /dev/shm/keel-bench-replog.XXXXXX)
start_replicas "$klog" "$work/shm-log" "$shm/r0" "$shm/r1" "$shm/r2"
"$klog" bench --targets=127.0.0.1:${port[0]} --count=200 --size=100 --inflight=8 >/dev/null ||
	ours_failed
tmpfs_1=$("$klog" bench --targets=127.0.0.1:${port[0]} --count=1000 --size=100 --inflight=1) ||
	ours_failed
echo "tmpfs: $tmpfs_1"
for p in "${pids[@]}"; do kill "$p"; done
wait 2>/dev/null || true
pids=()
rm -rf "$shm"

echo "== ZooKeeper (3 servers, forceSync=yes)"
conn=$("$root/scripts/services/zookeeper.sh" start "$work/zk" 3 | tail -1)
"$zkb" "$conn" 200 100 8 >/dev/null # warm-up
for r in $runs; do
	size=${r%:*} k=${r#*:}
	theirs[$r]=$("$zkb" "$conn" "$(count_for "$k")" "$size" "$k")
	echo "${theirs[$r]}"
done
"$root/scripts/services/zookeeper.sh" stop "$work/zk" >/dev/null

field() { echo "$1" | sed -n "s/.*$2=\([0-9.]*\).*/\1/p"; }
echo
echo "== summary (fdatasync p50 ${fsync_us} us, loopback RTT p50 ${rtt_us} us)"
printf "%-12s %12s %12s %7s %10s %10s %7s\n" "size:inflt" "keel/s" "zk/s" "ratio" "keel p50" \
	"zk p50" "ratio"
for r in $runs; do
	ko=$(field "${ours[$r]}" appends_per_sec) zo=$(field "${theirs[$r]}" appends_per_sec)
	kp=$(field "${ours[$r]}" p50_us) zp=$(field "${theirs[$r]}" p50_us)
	printf "%-12s %12s %12s %7s %9sus %9sus %7s\n" "$r" "$ko" "$zo" \
		"$(awk -v a="$ko" -v b="$zo" 'BEGIN { printf "%.2f", a / b }')" "$kp" "$zp" \
		"$(awk -v a="$kp" -v b="$zp" 'BEGIN { printf "%.2f", a / b }')"
done
p50_1=$(field "${ours[100:1]}" p50_us)
echo "goal: 64 in flight >= 3x ZooKeeper; 1 in flight p50 <= ZooKeeper's and <= 2x (RTT + fdatasync) ="\
"$(awk -v r="$rtt_us" -v f="$fsync_us" 'BEGIN { printf "%.0f", 2 * (r + f) }') us; ours: ${p50_1} us"
# The same bound with what one append really needs on this machine: a round trip between two
# processes that sleep (every hop wakes one) and the second of three flushes at once (a quorum).
echo "for reference: 2x (process-to-process RTT ${rtt2_us} us + second of three concurrent"\
" fdatasyncs ${fsync3_us} us) = $(awk -v r="$rtt2_us" -v f="$fsync3_us" \
	'BEGIN { printf "%.0f", 2 * (r + f) }') us"
echo "keel's own overhead without the disk (three replicas on tmpfs): 1 in flight p50"\
" $(field "$tmpfs_1" p50_us) us (100 B), against ${p50_1} us on the disk"

#!/bin/bash
# bench/allocator: the allocator core alone in Mesos's DeclineOffers scenario, 10k/50k/100k agents
# x 200/1,000 frameworks, printed beside Mesos 1.8's figures for the same benchmark.
#
# Usage: bench/allocator/run.sh [BUILD_DIR] [extra keel-allocator-bench flags]
#        BUILD_DIR is a build without sanitizers, e.g.
#        meson setup build/bench -Dbuildtype=release && ninja -C build/bench master/keel-allocator-bench
# KEEL_BENCH_SIZES="10000x200 10000x1000" picks the sizes (default: all six).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build/bench}" && pwd)
shift || true
bench=$build/master/keel-allocator-bench
[ -x "$bench" ] || { echo "missing $bench: ninja -C $build master/keel-allocator-bench" >&2; exit 2; }
sizes=${KEEL_BENCH_SIZES:-"10000x200 10000x1000 50000x200 50000x1000 100000x200 100000x1000"}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== scenario: every framework declines every offer with refuse_seconds=INT_MAX (365 days);"
echo "   a cycle = the declines of the previous round (recover calls) + one allocate();"
echo "   busy = rounds that offered something (until every framework refused every agent),"
echo "   quiet = the rounds after; p50/p99 over busy rounds after 2 warm-up rounds."
printf '%-8s %-6s %6s %10s %10s %10s %10s %9s %9s %9s %12s %12s\n' agents fws rounds \
	wall_p50 wall_p99 cpu_p50 cpu_p99 decl_p50 alloc_p50 quiet_p50 rss/agent rss/agent@end
declare -A res
for s in $sizes; do
	a=${s%x*} f=${s#*x}
	line=$("$bench" --agents "$a" --frameworks "$f" "$@")
	res[$s]=$line
	get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	printf '%-8s %-6s %6s %8sms %8sms %8sms %8sms %7sms %7sms %7sms %10sB %10sB\n' "$a" "$f" \
		"$(get busy_rounds)" "$(get busy_p50_ms)" "$(get busy_p99_ms)" "$(get busy_cpu_p50_ms)" \
		"$(get busy_cpu_p99_ms)" "$(get busy_decline_p50_ms)" "$(get busy_allocate_p50_ms)" \
		"$(get quiet_p50_ms)" "$(get rss_per_agent_bytes)" "$(get rss_per_agent_end_bytes)"
done
echo
echo "== raw"
for s in $sizes; do echo "${res[$s]}"; done
echo
echo "== peer (Mesos 1.8 HierarchicalAllocator_BENCHMARK_Test.DeclineOffers, server hardware,"
echo "   as quoted in issue 6): ~1.1 s per cycle at 10,000 agents x 1,000 frameworks;"
echo "   ~3.8 s at 20,000 x 2,000. Its cycle visits every agent for every framework every time."
echo "== goals on this machine: 10,000 x 1,000 <= 50 ms per cycle; 100,000 x 1,000 <= 500 ms."

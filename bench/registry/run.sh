#!/bin/bash
# bench/registry: what an admission costs at registry sizes 1, 10,000 and 50,000 agents, and how
# long recovery takes at 50,000, on a 1-replica durable log and on 3 replicas over loopback (all in
# one process, LMDB on the same disk, fsync before acknowledging). The peer figure is Mesos's
# published one: its registrar stores the whole registry on every change (about 15 MB at 55,000
# agents); ours appends only the operation, printed beside the size of the whole registry.
#
# Usage: bench/registry/run.sh [BUILD_DIR] [AGENTS]   (a build without sanitizers, e.g.
#        meson setup build/bench -Dbuildtype=release && ninja -C build/bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build/bench}" && pwd)
agents=${2:-50000}
bin=$build/master/keel-registry-bench
[ -x "$bin" ] || { echo "missing $bin: ninja -C $build master/keel-registry-bench" >&2; exit 2; }
work=$(mktemp -d "$build/bench-registry.XXXXXX")
trap 'rm -rf "$work"' EXIT

declare -A out
for n in 1 3; do
	echo "== $n replica(s), $agents agents"
	mkdir -p "$work/$n"
	out[$n]=$("$bin" "$work/$n" "$n" "$agents" 2>"$work/log$n")
	echo "${out[$n]}"
	rm -rf "${work:?}/$n"
done

field() { echo "$1" | sed -n "s/^\(.* \)\{0,1\}$2=\([0-9.]*\).*/\2/p" | head -1; }
level() { echo "$1" | grep "^level=$2 " | sed -n "s/.*$3=\([0-9.]*\).*/\1/p"; }
echo
echo "== summary"
printf "%-9s %14s %14s %14s %12s %14s %12s\n" replicas "p50 agent 1" "p50 agent 10k" \
	"p50 agent ${agents}" "ratio" "raw log p50" "recovery"
for n in 1 3; do
	o=${out[$n]}
	a=$(level "$o" 1 admit_p50_us) b=$(level "$o" 10000 admit_p50_us) c=$(level "$o" "$agents" admit_p50_us)
	printf "%-9s %12sus %12sus %12sus %12s %12sus %10sms\n" "$n" "$a" "$b" "$c" \
		"$(awk -v x="$c" -v y="$a" 'BEGIN { printf "%.2f", x / y }')" \
		"$(field "$o" raw_log_append_p50_us)" "$(field "$o" recovery_ms)"
done
printf "%-9s %14s %14s %14s\n" replicas "queued/s @1" "queued/s @10k" "queued/s @${agents}"
for n in 1 3; do
	o=${out[$n]}
	printf "%-9s %14s %14s %14s\n" "$n" "$(level "$o" 1 queued_admits_per_sec)" \
		"$(level "$o" 10000 queued_admits_per_sec)" "$(level "$o" "$agents" queued_admits_per_sec)"
done
o=${out[1]}
echo "bytes appended per admission: $(field "$o" append_bytes_per_admission);" \
	"whole packed registry at $(field "$o" registry_agents) agents: $(field "$o" registry_bytes) bytes" \
	"(Mesos stores the whole registry on every change: ~15 MB at 55,000 agents, published)"
echo "goal: admitting agent ${agents} within 1.5x of agent 1 (p50)"

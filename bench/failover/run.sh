#!/bin/bash
# bench/failover: master failover time with N emulated agents, split into detection, election, registry recovery and re-registration.
#
# Usage: bench/failover/run.sh [BUILD_DIR] [BACKEND] [AGENTS...]
#   BUILD_DIR  a release build (default build/release; made with meson when missing)
#   BACKEND    zk (default) or etcd
#   AGENTS     emulated agent counts to run (default: 10000 40000)
# Environment: KEEL_SESSION_TIMEOUT (default 4secs), ROUNDS (kills per count, default 3).
#
# Per round: SIGKILL the leader at T0; the next master logs "elected" at T1 and "leading" (registry
# recovered) at T2; the emulator's last re-registration with the new leader ends at T3.
#   detection       = T1 - T0  (the session timeout, plus the backend's notification)
#   election+recovery = T2 - T1 (replog writer election + catch-up + registry replay)
#   re-registration = T3 - T2  (every agent re-registered and answered)
# The anchor (peer figure) is Mesos 1.5's published failover: about 4.5 s at 10,000 agents and 19 s
# at 40,000 (about 2,100 re-registrations/s), quorum-1 log.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build/release}
BACKEND=${2:-zk}
shift 2 2>/dev/null || shift $#
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(10000 40000)
ROUNDS=${ROUNDS:-3}
export KEEL_SESSION_TIMEOUT=${KEEL_SESSION_TIMEOUT:-4secs}
if [ ! -x "$BUILD/master/keel-master" ] || [ ! -x "$BUILD/tests/tools/keel-emu-agents" ]; then
	[ -d "$BUILD" ] || meson setup "$BUILD" --buildtype=release "$ROOT" >/dev/null
	ninja -C "$BUILD" master/keel-master tests/tools/keel-emu-agents >/dev/null || exit 1
fi
BUILD=$(cd "$BUILD" && pwd)
export KEEL_BUILD=$BUILD
CLUSTER=$ROOT/scripts/cluster.sh
RESULTS=$(mktemp)

emu_status() { curl -sf -m 5 "http://127.0.0.1:$EMU_PORT/emu/status"; }
wave_done_after() {
	emu_status | python3 -c "
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s['wave_done'] and s['leader_epoch'] not in (0, $1) and s['current'] == $2 else 1)"
}
wait_for() {
	local n=0
	until eval "$1"; do
		n=$((n + 1))
		[ $n -gt "$2" ] && return 1
		sleep 0.05
	done
}
# First log line of master $1 matching $2 after unix time $3 (seconds): prints its unix time.
log_time_after() {
	python3 - "$WORK/masters/m$1/log" "$2" "$3" <<'EOF'
import sys, datetime
path, pat, after = sys.argv[1], sys.argv[2], float(sys.argv[3])
for line in open(path, errors="replace"):
    if pat not in line:
        continue
    t = datetime.datetime.strptime(line[:27], "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
    if t >= after:
        print("%.6f" % t)
        break
EOF
}

for N in "${COUNTS[@]}"; do
	WORK=$(mktemp -d "$BUILD/bench_failover.XXXXXX")
	if ! "$CLUSTER" up "$WORK" "$BACKEND" 3 >"$WORK/up.out" 2>&1; then
		cat "$WORK/up.out"
		"$CLUSTER" down "$WORK"
		exit 1
	fi
	"$BUILD/tests/tools/keel-emu-agents" --master="$("$CLUSTER" url "$WORK")" --agents="$N" \
		>"$WORK/emu.out" 2>&1 &
	EMU_PID=$!
	wait_for 'grep -qs "listening on" "$WORK/emu.out"' 200
	EMU_PORT=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$WORK/emu.out" | head -n 1)
	if ! wait_for "wave_done_after -1 $N" 6000; then
		echo "bench/failover: $N agents did not register" >&2
		tail "$WORK/emu.out" >&2
	else
		echo "bench/failover: $N agents registered: $(grep 'emu: wave' "$WORK/emu.out" | tail -n 1)"
		for r in $(seq 1 "$ROUNDS"); do
			L=$("$CLUSTER" leader "$WORK") || break
			EPOCH=$(emu_status | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_epoch"])')
			T0=$(date +%s.%N)
			"$CLUSTER" kill "$WORK" "$L"
			if ! wait_for "wave_done_after $EPOCH $N" 6000; then
				echo "bench/failover: round $r: agents did not re-register" >&2
				break
			fi
			NL=$("$CLUSTER" leader "$WORK")
			T1=$(log_time_after "$NL" "elected with epoch" "$T0")
			T2=$(log_time_after "$NL" "leading with epoch" "$T0")
			T3=$(grep 'emu: wave' "$WORK/emu.out" | tail -n 1 | sed -n 's/.*end_unix_ms=\([0-9]*\).*/\1/p')
			python3 - "$N" "$T0" "$T1" "$T2" "$T3" >>"$RESULTS" <<'EOF'
import sys
n, t0, t1, t2, t3 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3] or "nan"), float(sys.argv[4] or "nan"), float(sys.argv[5]) / 1000
print(n, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000, (t3 - t0) * 1000)
EOF
			tail -n 1 "$RESULTS" | awk -v r="$r" '{printf "  round %d: detection %.0f ms, election+recovery %.0f ms, re-registration %.0f ms, total %.0f ms\n", r, $2, $3, $4, $5}'
			"$CLUSTER" start "$WORK" "$L"
			sleep 1 # let the restarted master rejoin the replica set before the next kill
		done
	fi
	kill -TERM "$EMU_PID" 2>/dev/null
	wait "$EMU_PID" 2>/dev/null
	"$CLUSTER" down "$WORK" >/dev/null 2>&1
	rm -rf "$WORK"
done

echo
echo "bench/failover ($BACKEND, session timeout $KEEL_SESSION_TIMEOUT, medians of $ROUNDS rounds)"
python3 - "$RESULTS" <<'EOF'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    rows[int(f[0])].append([float(x) for x in f[1:]])
mesos = {10000: 4500, 40000: 19000}
print("%8s %12s %14s %14s %12s %16s %18s" % ("agents", "detection", "elect+recover", "re-register", "after-detect", "re-registr./s", "Mesos 1.5 (total)"))
for n in sorted(rows):
    med = [statistics.median(c) for c in zip(*rows[n])]
    after = med[1] + med[2]
    anchor = ("%d ms" % mesos[n]) if n in mesos else "-"
    print("%8d %9.0f ms %11.0f ms %11.0f ms %9.0f ms %16.0f %18s" % (n, med[0], med[1], med[2], after, n / (med[2] / 1000) if med[2] > 0 else 0, anchor))
print("goal: everything after detection under 2000 ms at 40,000 agents (>= 20,000 re-registrations/s)")
EOF
rm -f "$RESULTS"

#!/bin/bash
# Integration: three keel-log replicas on loopback survive SIGKILL of each one in turn during a
# stream of appends; every acknowledged append is then read back from every replica.
set -u
KEEL_LOG=${1:?usage: it_kill.sh path/to/keel-log [workdir]}
WORK=$(mktemp -d "${2:-/tmp}/replog_it.XXXXXX")
# Three ports the kernel reports free right now (not a random guess that may be taken).
read -r -a PORT < <(python3 -c 'import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
echo "it_kill: work dir $WORK, ports ${PORT[*]}"
PEERS=127.0.0.1:${PORT[0]},127.0.0.1:${PORT[1]},127.0.0.1:${PORT[2]}
declare -a PID
fail() {
	echo "it_kill: FAIL: $*"
	for i in 0 1 2; do echo "--- replica $i log (tail)"; tail -n 20 "$WORK/log$i" 2>/dev/null; done
	cleanup
	exit 1
}
cleanup() {
	for i in 0 1 2; do
		[ -n "${PID[$i]:-}" ] && kill -9 "${PID[$i]}" 2>/dev/null && wait "${PID[$i]}" 2>/dev/null
	done
	[ -n "${BENCH:-}" ] && kill -9 "$BENCH" 2>/dev/null
	rm -rf "$WORK"
}
start() {
	"$KEEL_LOG" replica --path="$WORK/r$1" --peers="$PEERS" --self="$1" --tick_ms=50 \
		2>>"$WORK/log$1" &
	PID[$1]=$!
}
ready() { # replica $1 answers a read (it is VOTING and can catch up)
	curl -sf -m 5 "http://127.0.0.1:${PORT[$1]}/log/read?from=0&to=0" >/dev/null
}
wait_for() { # condition, timeout in tenths of a second
	local n=0
	until eval "$1"; do
		n=$((n + 1))
		[ $n -gt "$2" ] && return 1
		sleep 0.1
	done
}
acked() { [ -f "$WORK/acked.txt" ] && wc -l <"$WORK/acked.txt" || echo 0; }

# Enough appends that all three kills land while the stream runs (a fast machine acknowledges
# several thousand a second, and the three kills take about 3,000 of them).
COUNT=9000
for i in 0 1 2; do start $i; done
for i in 0 1 2; do wait_for "ready $i" 600 || fail "replica $i never became ready"; done

"$KEEL_LOG" bench --targets="$PEERS" --count=$COUNT --size=100 --inflight=8 \
	--acked="$WORK/acked.txt" >"$WORK/bench.out" 2>&1 &
BENCH=$!
for victim in 0 1 2; do
	target=$(($(acked) + 300))
	wait_for "[ \$(acked) -ge $target ]" 600 || fail "appends stalled before killing $victim"
	echo "it_kill: SIGKILL replica $victim after $(acked) acknowledged appends"
	kill -9 "${PID[$victim]}"
	wait "${PID[$victim]}" 2>/dev/null
	target=$(($(acked) + 300))
	wait_for "[ \$(acked) -ge $target ]" 600 || fail "appends stalled with replica $victim down"
	start $victim
	wait_for "ready $victim" 300 || fail "replica $victim did not come back"
done
wait "$BENCH" || fail "bench failed: $(cat "$WORK/bench.out")"
BENCH=
cat "$WORK/bench.out"
n=$(acked)
[ "$n" -ge $COUNT ] || fail "only $n appends acknowledged"
for i in 0 1 2; do
	curl -sf -m 30 "http://127.0.0.1:${PORT[$i]}/log/read" | cut -c1-100 |
		awk '{ print $1, substr($2, 1, 9) }' | sort >"$WORK/read$i" ||
		fail "read from replica $i failed"
	missing=$(sort "$WORK/acked.txt" | comm -23 - "$WORK/read$i" | wc -l)
	[ "$missing" -eq 0 ] || fail "replica $i lost $missing acknowledged appends: \
$(sort "$WORK/acked.txt" | comm -23 - "$WORK/read$i" | head -3)"
	echo "it_kill: replica $i has all $n acknowledged appends"
done
cleanup
echo "it_kill: ok"

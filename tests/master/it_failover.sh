#!/bin/bash
# Integration: 3 masters on ZooKeeper or etcd with N emulated agents; SIGKILL the leader K times in a row: every agent re-registers with its ID, nothing admitted is lost, and the quota and weights set on the first leader are on every new one.
#
# Usage: it_failover.sh BUILD_DIR zk|etcd [AGENTS] [KILLS]
# Each round: find the leader, SIGKILL it, wait until the emulator has re-registered every agent
# with a new leader (a new epoch), check that no agent ID changed and that the new leader's
# registry holds every agent, then restart the killed master so the quorum stays whole.
set -u
BUILD=$(cd "${1:?usage: it_failover.sh BUILD_DIR zk|etcd [AGENTS] [KILLS]}" && pwd)
BACKEND=${2:?backend zk or etcd}
AGENTS=${3:-1000}
KILLS=${4:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER=$ROOT/scripts/cluster.sh
WORK=$(mktemp -d "$BUILD/it_failover_$BACKEND.XXXXXX")
export KEEL_BUILD=$BUILD
export KEEL_SESSION_TIMEOUT=${KEEL_SESSION_TIMEOUT:-2secs}
EMU_PID=

log() { echo "it_failover[$BACKEND]: $*"; }

cleanup() {
	if [ -n "$EMU_PID" ]; then
		kill -TERM "$EMU_PID" 2>/dev/null
		wait "$EMU_PID" 2>/dev/null
	fi
	"$CLUSTER" down "$WORK" >/dev/null 2>&1
	rm -rf "$WORK"
}

fail() {
	log "FAIL: $*"
	for f in "$WORK"/masters/m*/log; do
		echo "--- $f (tail)"
		tail -n 25 "$f"
	done
	echo "--- emulator (tail)"
	tail -n 20 "$WORK/emu.out" 2>/dev/null
	cleanup
	exit 1
}

# wait_for COND TENTHS: evaluates COND every 0.1 s until true or TENTHS have passed.
wait_for() {
	local n=0
	until eval "$1"; do
		n=$((n + 1))
		[ $n -gt "$2" ] && return 1
		sleep 0.1
	done
}

emu_status() { curl -sf -m 5 "http://127.0.0.1:$EMU_PORT/emu/status"; }
emu_field() { emu_status | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
wave_done_after() { # every agent accepted by a leader with an epoch other than $1
	emu_status | python3 -c "
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s['wave_done'] and s['leader_epoch'] not in (0, $1) and s['current'] == $AGENTS else 1)"
}
# Agents the master at index $1 reports in its registry (GET /state: activated + unreachable).
registry_agents() {
	curl -sf -m 10 "$(sed -n "${1}p" <("$CLUSTER" masters "$WORK"))/state" |
		python3 -c "import json,sys; s=json.load(sys.stdin); print(len(s['slaves']))"
}

trap 'fail "interrupted"' INT TERM
"$CLUSTER" up "$WORK" "$BACKEND" 3 >"$WORK/up.out" 2>&1 || {
	cat "$WORK/up.out"
	fail "cluster did not come up"
}
URL=$("$CLUSTER" url "$WORK")
log "cluster up: $URL"

"$BUILD/tests/tools/keel-emu-agents" --master="$URL" --agents="$AGENTS" >"$WORK/emu.out" 2>&1 &
EMU_PID=$!
wait_for 'grep -qs "listening on" "$WORK/emu.out"' 100 || fail "emulator did not start"
EMU_PORT=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$WORK/emu.out" | head -n 1)
wait_for 'wave_done_after -1' 1200 || fail "agents did not all register"
curl -sf "http://127.0.0.1:$EMU_PORT/emu/ids" | cut -d' ' -f1,2 | sort >"$WORK/ids0"
[ "$(wc -l <"$WORK/ids0")" -eq "$AGENTS" ] || fail "expected $AGENTS agent IDs"
log "$AGENTS agents registered: $(grep 'emu: wave' "$WORK/emu.out" | tail -n 1)"

# Quota and weights set on the first leader must be on every new one (they are in the registry).
api() { # api INDEX JSON: POSTs JSON to /api/v1 of the master at index INDEX; the answer on stdout
	curl -sf -m 10 -H 'Content-Type: application/json' -d "$2" \
		"$(sed -n "${1}p" <("$CLUSTER" masters "$WORK"))/api/v1"
}
quota_weights_kept() { # quota_weights_kept INDEX: that master's GET_QUOTA and GET_WEIGHTS show them
	api "$1" '{"type":"GET_QUOTA"}' | python3 -c "import json,sys
c = json.load(sys.stdin)['get_quota']['status']['configs'][0]
sys.exit(0 if c['role'] == 'dev' and c['guarantees']['cpus']['value'] == 2 and c['limits']['cpus']['value'] == 8 else 1)" &&
		api "$1" '{"type":"GET_WEIGHTS"}' | python3 -c "import json,sys
sys.exit(0 if {'role': 'dev', 'weight': 2.5} in json.load(sys.stdin)['get_weights']['weight_infos'] else 1)"
}
L=$("$CLUSTER" leader "$WORK") || fail "no leader for the quota"
api "$L" '{"type":"UPDATE_QUOTA","update_quota":{"force":true,"quota_configs":[{"role":"dev","guarantees":{"cpus":{"value":2}},"limits":{"cpus":{"value":8}}}]}}' >/dev/null ||
	fail "UPDATE_QUOTA failed"
api "$L" '{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"dev","weight":2.5}]}}' >/dev/null ||
	fail "UPDATE_WEIGHTS failed"
quota_weights_kept "$L" || fail "the leader does not show the quota and weights it was given"

for k in $(seq 1 "$KILLS"); do
	L=$("$CLUSTER" leader "$WORK") || fail "round $k: no leader"
	EPOCH=$(emu_field leader_epoch)
	log "round $k: SIGKILL master $L (epoch $EPOCH)"
	"$CLUSTER" kill "$WORK" "$L"
	wait_for "wave_done_after $EPOCH" 1200 || fail "round $k: agents did not re-register"
	log "round $k: $(grep 'emu: wave' "$WORK/emu.out" | tail -n 1)"
	curl -sf "http://127.0.0.1:$EMU_PORT/emu/ids" | cut -d' ' -f1,2 | sort >"$WORK/ids$k"
	cmp -s "$WORK/ids0" "$WORK/ids$k" || fail "round $k: agent IDs changed: $(diff "$WORK/ids0" "$WORK/ids$k" | head -n 5)"
	[ "$(emu_field id_changes)" = 0 ] || fail "round $k: an agent got a new ID"
	[ "$(emu_field gone_answers)" = 0 ] || fail "round $k: an agent was refused as gone"
	NL=$("$CLUSTER" leader "$WORK") || fail "round $k: no leader after failover"
	[ "$NL" != "$L" ] || fail "round $k: the killed master leads"
	N=$(registry_agents "$NL") || fail "round $k: cannot read /state of master $NL"
	[ "$N" -eq "$AGENTS" ] || fail "round $k: the new leader knows $N agents, not $AGENTS"
	quota_weights_kept "$NL" || fail "round $k: the new leader lost the quota or the weights"
	"$CLUSTER" start "$WORK" "$L"
done

# Split brain: a message stamped with a deposed leader's epoch is refused by the agents (409) and
# changes nothing. The Ping is encoded by hand: AgentID{value} = 1, epoch = 2, connected = 3.
OLD=$EPOCH
AID=$(head -n 1 "$WORK/ids0" | cut -d' ' -f2)
STALE0=$(emu_field pings_stale)
CODE=$(python3 -c '
import sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
aid = sys.argv[1].encode()
inner = b"\x0a" + varint(len(aid)) + aid
sys.stdout.buffer.write(b"\x0a" + varint(len(inner)) + inner + b"\x10" + varint(int(sys.argv[2])) + b"\x18\x01")
' "$AID" "$OLD" | curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' \
	--data-binary @- "http://127.0.0.1:$EMU_PORT/internal/master/ping")
[ "$CODE" = 409 ] || fail "a ping with the old epoch $OLD got $CODE, not 409"
[ "$(emu_field pings_stale)" -gt "$STALE0" ] || fail "the stale ping was not counted as dropped"
log "split brain: a ping stamped with old epoch $OLD was refused (409)"

# Deposed leader: SIGSTOP the leader past the session timeout; another is elected and every agent
# re-registers with it; on SIGCONT the old leader must fail-stop (exit 1) before writing anything.
L=$("$CLUSTER" leader "$WORK") || fail "no leader before the pause"
EPOCH=$(emu_field leader_epoch)
PID=$(cat "$WORK/masters/m$L/pid")
log "SIGSTOP master $L (pid $PID, epoch $EPOCH)"
kill -STOP "$PID"
wait_for "wave_done_after $EPOCH" 1200 || fail "agents did not move to a new leader while $L was stopped"
LINES=$(wc -l <"$WORK/masters/m$L/log")
kill -CONT "$PID"
wait_for '! kill -0 $PID 2>/dev/null' 300 || fail "the resumed old leader $L did not stop"
tail -n +"$((LINES + 1))" "$WORK/masters/m$L/log" >"$WORK/resumed.log"
grep -q "fail-stop" "$WORK/resumed.log" || fail "the resumed old leader did not fail-stop: $(cat "$WORK/resumed.log")"
if grep -Eq "registered at|marked unreachable|reachable again|shutting it down" "$WORK/resumed.log"; then
	fail "the resumed old leader acted: $(cat "$WORK/resumed.log")"
fi
curl -sf "http://127.0.0.1:$EMU_PORT/emu/ids" | cut -d' ' -f1,2 | sort >"$WORK/ids_after"
cmp -s "$WORK/ids0" "$WORK/ids_after" || fail "agent IDs changed across the pause"
log "deposed leader: resumed after the session timeout, $(grep -m1 fail-stop "$WORK/resumed.log" | cut -c1-160)"
log "PASS: $KILLS failovers, $AGENTS agents kept their IDs"
cleanup
exit 0

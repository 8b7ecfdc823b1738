#!/usr/bin/env bash
# keelctl agent deactivate|reactivate|drain: a keel-master and 3 emulated agents; the DRAIN column, Mesos's refusals, --mark-gone.
set -euo pipefail
B=$1
KEELCTL=$B/cli/keelctl
WORK=$(mktemp -d "$B/tests-agent-drain.XXXXXX")
MASTER_PID=
EMU_PID=
cleanup() {
	if [ -n "$EMU_PID" ]; then kill -TERM "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null || true; fi
	if [ -n "$MASTER_PID" ]; then kill -TERM "$MASTER_PID" 2>/dev/null && wait "$MASTER_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$WORK/master.log" ] && tail -20 "$WORK/master.log"; exit 1; }

# Flags checked before any master is asked.
rc=0; "$KEELCTL" agent drain 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "drain without an ID: rc $rc"
rc=0; "$KEELCTL" agent sideways some-id --master=127.0.0.1:1 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "unknown agent subcommand: rc $rc"
rc=0; "$KEELCTL" agent drain some-id --max-grace-period=soon --master=127.0.0.1:1 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "wants seconds" "$WORK/err" || fail "bad --max-grace-period: rc $rc $(cat "$WORK/err")"
rc=0; "$KEELCTL" agent deactivate some-id --mark-gone --master=127.0.0.1:1 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "go with agent drain" "$WORK/err" || fail "--mark-gone on deactivate: rc $rc"
"$KEELCTL" completion bash | grep -q "drain deactivate reactivate gone" || fail "completion"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B/master/keel-master" --ip=127.0.0.1 --port="$PORT" --work_dir="$WORK/m" >"$WORK/master.log" 2>&1 &
MASTER_PID=$!
URL=127.0.0.1:$PORT
"$B/tests/tools/keel-emu-agents" --master="static://$URL" --agents=3 >"$WORK/emu.log" 2>&1 &
EMU_PID=$!
for _ in $(seq 1 300); do
	[ "$("$KEELCTL" agents --master="$URL" --timeout=1 2>/dev/null | grep -c ' yes ')" = 3 ] && break
	sleep 0.1
done
"$KEELCTL" agents --master="$URL" >"$WORK/agents" || fail "keelctl agents"
[ "$(grep -c ' yes ' "$WORK/agents")" = 3 ] || fail "3 agents: $(cat "$WORK/agents")"
head -1 "$WORK/agents" | grep -q "DRAIN$" || fail "no DRAIN column: $(head -1 "$WORK/agents")"
A1=$(awk '$2 == "emu-0" {print $1}' "$WORK/agents")
A2=$(awk '$2 == "emu-1" {print $1}' "$WORK/agents")
A3=$(awk '$2 == "emu-2" {print $1}' "$WORK/agents")
[ -n "$A1" ] && [ -n "$A2" ] && [ -n "$A3" ] || fail "agent IDs: $(cat "$WORK/agents")"

# Deactivate, then reactivate; reactivating twice is refused as Mesos refuses it.
"$KEELCTL" agent deactivate "$A1" --master="$URL" | grep -qx "agent $A1: deactivated" || fail "deactivate"
"$KEELCTL" agents --master="$URL" | grep "^$A1 " | grep -q " DEACTIVATED$" || fail "not DEACTIVATED"
"$KEELCTL" agent reactivate "$A1" --master="$URL" | grep -qx "agent $A1: reactivated" || fail "reactivate"
"$KEELCTL" agents --master="$URL" | grep "^$A1 " | grep -q " -$" || fail "still deactivated"
rc=0; "$KEELCTL" agent reactivate "$A1" --master="$URL" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "answered 400: Agent is not deactivated" "$WORK/err" || fail "second reactivate: rc $rc $(cat "$WORK/err")"
rc=0; "$KEELCTL" agent deactivate no-such-agent --master="$URL" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "answered 400: Unknown agent" "$WORK/err" || fail "unknown agent: rc $rc $(cat "$WORK/err")"

# Drain: no tasks, so DRAINED at once (and durable before the answer).
"$KEELCTL" agent drain "$A2" --max-grace-period=2.5 --master="$URL" | grep -qx "agent $A2: draining" || fail "drain"
for _ in $(seq 1 100); do
	"$KEELCTL" agents --master="$URL" | grep "^$A2 " | grep -q " DRAINED$" && break
	sleep 0.1
done
"$KEELCTL" agents --master="$URL" | grep "^$A2 " | grep -q " DRAINED$" || fail "not DRAINED: $("$KEELCTL" agents --master="$URL")"
"$KEELCTL" agents --master="$URL" --json >"$WORK/json"
python3 - "$WORK/json" "$A2" <<'PY' || fail "drain_info in GET_AGENTS JSON"
import json, sys
agents = json.load(open(sys.argv[1]))["get_agents"]["agents"]
a = [x for x in agents if x["agent_info"]["id"]["value"] == sys.argv[2]][0]
assert a["deactivated"] is True, a
assert a["drain_info"]["state"] == "DRAINED", a
assert a["drain_info"]["config"]["max_grace_period"]["nanoseconds"] == 2500000000, a
PY

# Drain with --mark-gone: the agent ends gone and leaves the table.
"$KEELCTL" agent drain "$A3" --mark-gone --master="$URL" | grep -qx "agent $A3: draining" || fail "drain --mark-gone"
for _ in $(seq 1 100); do
	"$KEELCTL" agents --master="$URL" | grep -q "^$A3 " || break
	sleep 0.1
done
! "$KEELCTL" agents --master="$URL" | grep -q "^$A3 " || fail "gone agent still listed"
echo "PASS"

#!/usr/bin/env bash
# keelctl log dump: refused while the master runs; after it stops, every registry operation decoded (text and JSON).
set -euo pipefail
B=$1
KEELCTL=$B/cli/keelctl
WORK=$(mktemp -d "$B/tests-log-dump.XXXXXX")
MASTER_PID=
cleanup() {
	if [ -n "$MASTER_PID" ]; then kill -TERM "$MASTER_PID" 2>/dev/null && wait "$MASTER_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B/master/keel-master" --ip=127.0.0.1 --port="$PORT" --work_dir="$WORK/m" >"$WORK/master.log" 2>&1 &
MASTER_PID=$!
for _ in $(seq 1 300); do
	curl -sf "http://127.0.0.1:$PORT/metrics/snapshot" | grep -q '"master/elected":1' && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/metrics/snapshot" | grep -q '"master/elected":1' || { cat "$WORK/master.log"; fail "no leader"; }
# A framework: recorded in the registry before SUBSCRIBED comes back.
curl -s -m 2 -X POST "http://127.0.0.1:$PORT/api/v1/scheduler" -H 'Content-Type: application/json' \
	-d '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"dump-me","failover_timeout":60}}}' \
	>"$WORK/stream" || true
grep -q SUBSCRIBED "$WORK/stream" || fail "no SUBSCRIBED: $(cat "$WORK/stream")"

# While the master runs, its store is its own.
rc=0
"$KEELCTL" log dump --work_dir="$WORK/m" >"$WORK/out" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] || fail "dump of a live master exited $rc"
grep -q "is in use by another process (pid $MASTER_PID)" "$WORK/err" || fail "live: $(cat "$WORK/err")"

kill -TERM "$MASTER_PID"
wait "$MASTER_PID" || true
MASTER_PID=

"$KEELCTL" log dump --work_dir="$WORK/m" >"$WORK/out" || fail "dump exited $?"
head -1 "$WORK/out" | grep -q "^replica	status=VOTING" || fail "first line: $(head -1 "$WORK/out")"
grep -q "	update_master	{\"info\":" "$WORK/out" || fail "no update_master: $(cat "$WORK/out")"
grep -q "	add_framework	.*\"name\":\"dump-me\"" "$WORK/out" || fail "no add_framework: $(cat "$WORK/out")"

"$KEELCTL" log dump --work_dir="$WORK/m" --json >"$WORK/json" || fail "json dump exited $?"
python3 - "$WORK/json" <<'PY' || fail "JSON output"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[0]["replica"]["status"] == "VOTING", lines[0]
ops = [l for l in lines[1:] if "operation" in l]
names = [l["add_framework"]["info"]["name"] for l in ops if l["operation"] == "add_framework"]
assert names == ["dump-me"], names
assert all(a["position"] < b["position"] for a, b in zip(lines[1:], lines[2:])), "positions in order"
PY
"$KEELCTL" log dump --work_dir="$WORK/m" --from=2 >"$WORK/from" || fail "--from exited $?"
grep -q "add_framework" "$WORK/from" && ! grep -q "update_master" "$WORK/from" || fail "--from=2: $(cat "$WORK/from")"

# Bad input: a directory that is no master's, an unknown flag, no --work_dir.
rc=0; "$KEELCTL" log dump --work_dir="$WORK/none" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "is --work_dir a master's" "$WORK/err" || fail "missing dir: rc $rc $(cat "$WORK/err")"
[ ! -e "$WORK/none" ] || fail "a missing work dir was created"
rc=0; "$KEELCTL" log dump --work_dir="$WORK/m" --bogus 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "unknown flag: rc $rc"
rc=0; "$KEELCTL" log dump 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "no --work_dir: rc $rc"
echo "PASS"

#!/bin/bash
# keel-log's offline commands: initialize, dump (text and JSON), read, --help and bad usage.
set -u
K=${1:?usage: keel_log_cli.sh path/to/keel-log [workdir]}
W=$(mktemp -d "${2:-/tmp}/keel_log_cli.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "keel_log_cli: FAIL: $*"; exit 1; }

"$K" --help | grep -q "usage: keel-log" || fail "--help"
"$K" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command should exit 2"
"$K" dump --no-such-flag >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown flag should exit 2"
"$K" dump >/dev/null 2>&1; [ $? -eq 2 ] || fail "dump without --path should exit 2"

"$K" dump --path="$W/db" | grep -q "^meta	none" || fail "empty store dump"
"$K" initialize --path="$W/db" || fail "initialize"
"$K" dump --path="$W/db" | grep -q "^meta	status=VOTING	promised=0	begin=0" ||
	fail "dump after initialize: $("$K" dump --path="$W/db")"
"$K" initialize --path="$W/db" 2>"$W/err"; [ $? -eq 1 ] || fail "second initialize must fail"
grep -q "already initialised" "$W/err" || fail "second initialize message: $(cat "$W/err")"
"$K" dump --path="$W/db" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["meta"]["status"] == "VOTING", d
assert d["actions"] == [], d
' || fail "dump --json"
[ -z "$("$K" read --path="$W/db")" ] || fail "read of an empty log printed something"
echo "keel_log_cli: ok"

#!/usr/bin/env python3
"""Counts meson's test log (testlog.json) and prints the plain closing line 'N passed, M failed'."""
import json
import sys

passed = failed = skipped = 0
names = []
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            entry = json.loads(line)
            result = entry.get("result", "ERROR")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                names.append(f"{entry.get('name')} ({result})")
except OSError as e:
    print(f"test-summary: cannot read {sys.argv[1]}: {e}", file=sys.stderr)
    failed += 1
if names:
    print("failed: " + ", ".join(names))
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)

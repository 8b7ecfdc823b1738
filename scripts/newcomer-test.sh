#!/usr/bin/env bash
# Newcomer test: a fresh clone, the README's demo command as written, then docs/getting-started.md's HA-on-ZooKeeper blocks as written.
#
# Usage: bash scripts/newcomer-test.sh [WORKDIR]   (as root, from a checkout; default WORKDIR
#        build/newcomer). Clones the committed HEAD of this checkout into WORKDIR/keel, runs there
#        the README's `bash scripts/demo.sh` line (not its `scripts/test.sh` line: that is CI
#        itself), then every fenced block of docs/getting-started.md that is preceded by the
#        marker comment <!-- newcomer-test -->, in order, in one bash session (so D and URL carry
#        over) with `set -euo pipefail`, within 15 minutes. NEWCOMER_REUSE=1 reuses the previous
#        clone (reset to HEAD) and its build, for iterating on the docs. The commands are read from the docs at run time, so the
#        docs and this test cannot drift. Whatever the blocks start is stopped at the end (the
#        agent by its recorded PID, the cluster with `cluster.sh down`), also on failure.
# Prints the time of each step; exit 0 when all of it worked.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$src/build/newcomer}
case "$work" in /*) ;; *) work="$(pwd)/$work" ;; esac
clone=$work/keel
mkdir -p "$work"
t0=$(date +%s)
if [ -n "${NEWCOMER_REUSE:-}" ] && [ -d "$clone/.git" ]; then
	# For editing the docs: the previous clone moved to HEAD, its build/release kept.
	git -C "$clone" fetch --quiet "$src" HEAD && git -C "$clone" reset --quiet --hard FETCH_HEAD
	git -C "$clone" clean --quiet -fdx -e build/release # e.g. the docs' cluster dir: fresh
else
	rm -rf "$clone"
	git clone --quiet "$src" "$clone"
fi
cd "$clone"
echo "newcomer: cloned $(git rev-parse --short HEAD) into $clone"

# The fenced blocks of FILE (```sh ... ```) preceded by the marker, concatenated.
marked_blocks() {
	awk '
		/^<!-- newcomer-test -->/ { want = 1; next }
		/^```/ && inblock { inblock = 0; want = 0; print ""; next }
		/^```/ && want { inblock = 1; next }
		inblock { print }
		!inblock && NF { want = want && /^<!--/ }
	' "$1"
}

cleanup() {
	local d=$clone/build/ha
	if [ -f "$d/agent.pid" ]; then
		kill "$(cat "$d/agent.pid")" 2>/dev/null || true
	fi
	[ -d "$d" ] && bash "$clone/scripts/cluster.sh" down "$d" >/dev/null 2>&1 || true
	# The finished tasks' containers (cgroups, checkpoints) the agent left behind.
	if [ -d "$d/agent" ]; then
		"$clone/build/release/containerizer/keel-containerizer" --work_dir "$d/agent" ps 2>/dev/null |
			awk 'NR > 1 { print $1 }' | while read -r id; do
			"$clone/build/release/containerizer/keel-containerizer" --work_dir "$d/agent" destroy "$id" >/dev/null 2>&1 || true
		done
	fi
}
trap cleanup EXIT

# 1. The README's demo line, exactly as written (the first fenced block holds it).
demo=$(awk '/^```/ { n++; next } n == 1' README.md | grep -m1 'scripts/demo.sh' | sed 's/[[:space:]]*#.*$//')
[ -n "$demo" ] || { echo "newcomer: FAIL: no scripts/demo.sh line in the README's first block"; exit 1; }
echo "newcomer: README: $demo"
t=$(date +%s)
bash -c "$demo" >"$work/demo.log" 2>&1 || { tail -30 "$work/demo.log"; echo "newcomer: FAIL: the README's demo"; exit 1; }
grep -q 'TASK_FINISHED' "$work/demo.log" || { tail -30 "$work/demo.log"; echo "newcomer: FAIL: no TASK_FINISHED in the demo"; exit 1; }
echo "newcomer: demo ok in $(($(date +%s) - t)) s"

# 2. docs/getting-started.md, the marked blocks, literally.
marked_blocks docs/getting-started.md >"$work/getting-started.sh"
[ -s "$work/getting-started.sh" ] || { echo "newcomer: FAIL: no marked blocks in docs/getting-started.md"; exit 1; }
echo "newcomer: docs/getting-started.md: $(grep -c . "$work/getting-started.sh") command lines"
t=$(date +%s)
if ! timeout 900 bash -c "set -euo pipefail; $(cat "$work/getting-started.sh")" >"$work/getting-started.log" 2>&1; then
	tail -40 "$work/getting-started.log"
	echo "newcomer: FAIL: following docs/getting-started.md (commands in $work/getting-started.sh)"
	exit 1
fi
for want in '-S0 ' 'hi from HA' 'after failover'; do
	grep -q -- "$want" "$work/getting-started.log" ||
		{ tail -40 "$work/getting-started.log"; echo "newcomer: FAIL: no '$want' in the output (keelctl agents, keel-execute)"; exit 1; }
done
echo "newcomer: getting started (HA on ZooKeeper, keel-execute, a failover) ok in $(($(date +%s) - t)) s"
echo "newcomer: ok in $(($(date +%s) - t0)) s"

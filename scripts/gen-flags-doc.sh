#!/usr/bin/env bash
# Writes docs/flags.md from the binaries' own --help (the flag tables): `bash scripts/gen-flags-doc.sh BUILD > docs/flags.md`.
set -euo pipefail
B=${1:?usage: gen-flags-doc.sh BUILD_DIR}

block() { # block TITLE BINARY [ARGS...]: one section with the binary's --help output
	local title=$1
	shift
	printf '## %s\n\n```text\n' "$title"
	"$@" --help 2>&1
	printf '```\n\n'
}

cat <<'HEAD'
# Flags reference

Generated from the flag tables by `bash scripts/gen-flags-doc.sh BUILD > docs/flags.md`; the
unit test `docs_flags` fails when this page and the binaries disagree, so it is always current.
keel-master's and keel-agent's flags can also come from the environment as
`KEEL_MASTER_<NAME>` / `KEEL_AGENT_<NAME>` (name in upper case); the command line wins. Durations take `ns`, `us`, `ms`, `secs`, `mins`, `hrs`,
`days`, `weeks`; sizes `B`, `KB`, `MB`, `GB`, `TB`; `--[no-]flag` sets a boolean. A value
`file:///path` is read from that file (for secrets and long lists).

HEAD
block "keel-master" "$B/master/keel-master"
block "keel-agent" "$B/agent/keel-agent"
block "keel-log (the replicated log tool)" "$B/replog/keel-log"
block "keel-containerizer" "$B/containerizer/keel-containerizer"
block "keel-execute" "$B/sched/keel-execute"
block "keel-locality" "$B/sched/keel-locality"
block "keelctl" "$B/cli/keelctl"

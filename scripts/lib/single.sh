# Sourced: starts and stops a one-master, one-agent cluster on the embedded default (static://)
# with a busybox:latest image in the agent's store. Needs B (build dir) and WORK (empty dir).
# Sets MPORT, APORT, MASTER_PID, AGENT_PID. Everything it starts it stops by PID.

single_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; 1 when time runs out.
wait_for() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

# Starts (or restarts, same work dir and port) the agent in the background.
single_agent_start() {
	"$B/agent/keel-agent" --master="127.0.0.1:$MPORT" --work_dir="$WORK/agent" --ip=127.0.0.1 \
		--port="$APORT" --resources='cpus:2;mem:1024;disk:1024;ports:[31000-31100]' \
		--isolation=cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux \
		--image_providers=docker --image_store_dir="$WORK/images" >>"$WORK/agent.log" 2>&1 &
	AGENT_PID=$!
}

single_up() {
	MPORT=$(single_free_port)
	APORT=$(single_free_port)
	python3 scripts/mkimage.py "$WORK/busybox.tar" || return 1
	"$B/containerizer/keel-containerizer" --work_dir "$WORK/agent" --image_dir "$WORK/images" \
		images import "$WORK/busybox.tar" --ref busybox:latest >/dev/null || return 1
	"$B/master/keel-master" --ip=127.0.0.1 --port="$MPORT" --work_dir="$WORK/master" \
		--allocation_interval=100ms >"$WORK/master.log" 2>&1 &
	MASTER_PID=$!
	wait_for 30 sh -c "curl -sf http://127.0.0.1:$MPORT/metrics/snapshot | grep -q '\"master/elected\":1'" ||
		{ cat "$WORK/master.log" >&2; return 1; }
	single_agent_start
	wait_for 30 sh -c "curl -sf http://127.0.0.1:$MPORT/state | grep -q '\"hostname\"'" ||
		{ cat "$WORK/agent.log" >&2; return 1; }
}

single_down() {
	if [ -n "${AGENT_PID:-}" ]; then kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null; fi
	if [ -n "${MASTER_PID:-}" ]; then kill -TERM "$MASTER_PID" 2>/dev/null && wait "$MASTER_PID" 2>/dev/null; fi
	AGENT_PID=
	MASTER_PID=
	# The containers the agent made (finished by now): their checkpoints and cgroups.
	"$B/containerizer/keel-containerizer" --work_dir "$WORK/agent" ps 2>/dev/null |
		awk 'NR > 1 { print $1 }' | while read -r id; do
		"$B/containerizer/keel-containerizer" --work_dir "$WORK/agent" destroy "$id" >/dev/null 2>&1 || true
	done
}

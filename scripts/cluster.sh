#!/usr/bin/env bash
# Brings up and tears down a local HA keel cluster on loopback: a 3-server ZooKeeper (or etcd) and N masters.
#
# Usage:
#   cluster.sh up DIR [zk|etcd|static] [MASTERS] [AGENTS]
#                                           start the coordination service (3 servers; none for
#                                           static, which runs 1 master) and MASTERS masters
#                                           (default 3, quorum = majority) on free ports, then
#                                           AGENTS agents (default 0; with a busybox:latest image
#                                           when scripts/mkimage.py can build one), data under
#                                           DIR; waits until one master leads and every agent
#                                           registered; prints the coordination URL and the
#                                           master URLs
#   cluster.sh down DIR                     stop every agent (and its containers), master and
#                                           the service (by recorded PID)
#   cluster.sh url DIR                      print the coordination URL
#   cluster.sh masters DIR                  print the masters' URLs, one per line
#   cluster.sh agents DIR                   print the agents' URLs, one per line
#   cluster.sh leader DIR                   print the index (1-based) of the leading master
#   cluster.sh kill DIR I [SIG]             send SIG (default KILL) to master I and reap it
#   cluster.sh start DIR I                  (re)start master I on its port and work dir
#
# Environment: KEEL_BUILD (default: build/release, made with meson if missing) is the build dir
# holding master/keel-master, agent/keel-agent and containerizer/keel-containerizer; or name
# each binary with KEEL_MASTER_BIN, KEEL_AGENT_BIN, KEEL_CONTAINERIZER_BIN (installed keel);
# KEEL_MASTER_FLAGS adds flags to every master (e.g. --agent_ping_timeout=1secs);
# KEEL_SESSION_TIMEOUT (default 10secs) is --zk_session_timeout.
# Every process is started in the background, recorded in DIR, and stopped by that PID only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=services/common.sh
. "$here/services/common.sh"

usage() {
	sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
case "$dir" in
/*) ;;
*) dir="$(pwd)/$dir" ;;
esac

build=${KEEL_BUILD:-$root/build/release}
master_bin=${KEEL_MASTER_BIN:-$build/master/keel-master}
agent_bin=${KEEL_AGENT_BIN:-$build/agent/keel-agent}
ctr_bin=${KEEL_CONTAINERIZER_BIN:-$build/containerizer/keel-containerizer}

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

ensure_build() {
	if [ ! -x "$master_bin" ] || [ ! -x "$agent_bin" ] || [ ! -x "$ctr_bin" ]; then
		[ -z "${KEEL_MASTER_BIN:-}${KEEL_AGENT_BIN:-}${KEEL_CONTAINERIZER_BIN:-}" ] ||
			die "a binary named by KEEL_*_BIN is missing"
		[ -d "$build" ] || meson setup "$build" --buildtype=release "$root" >/dev/null
		ninja -C "$build" master/keel-master agent/keel-agent \
			containerizer/keel-containerizer >/dev/null
	fi
}

n_agents() { cat "$dir/agents/count" 2>/dev/null || echo 0; }
agent_port() { sed -n "${1}p" "$dir/agents/ports"; }

start_agent() {
	local i=$1 images=()
	mkdir -p "$dir/agents/a$i"
	[ -f "$dir/agents/has_images" ] && images=(--image_providers=docker --image_store_dir="$dir/agents/images")
	"$agent_bin" --master="$(coord_url)" --ip=127.0.0.1 --port="$(agent_port "$i")" \
		--work_dir="$dir/agents/a$i" --hostname="agent$i" \
		--isolation=cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux "${images[@]}" \
		>>"$dir/agents/a$i/log" 2>&1 &
	echo $! >"$dir/agents/a$i/pid"
}

# Number of agents the leader lists as active, or nothing.
active_agents() {
	local i
	i=$(leader_index) || return 1
	curl -sf -m 2 "http://127.0.0.1:$(master_port "$i")/metrics/snapshot" |
		python3 -c 'import json, sys; print(int(json.load(sys.stdin).get("master/slaves_active", 0)))'
}

# Stops agent I (TERM, then KILL) and destroys the containers it made: tasks outlive an agent
# by design, a cluster going down takes them with it.
stop_agent() {
	local i=$1 pid n
	pid=$(cat "$dir/agents/a$i/pid" 2>/dev/null || true)
	if svc_pid_is_ours "$pid" "$dir"; then
		kill -TERM "$pid" 2>/dev/null || true
		for n in $(seq 1 100); do
			svc_pid_is_ours "$pid" "$dir" || break
			sleep 0.05
		done
		svc_pid_is_ours "$pid" "$dir" && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null || true
	fi
	[ -d "$dir/agents/a$i" ] || return 0
	"$ctr_bin" --work_dir "$dir/agents/a$i" ps 2>/dev/null | awk 'NR > 1 { print $1 }' |
		while read -r id; do
			"$ctr_bin" --work_dir "$dir/agents/a$i" destroy "$id" >/dev/null 2>&1 || true
		done
}

# wait_until SECONDS WHAT CMD...: runs CMD every 0.1 s until it succeeds, saying on stderr every
# 2 s what it waits for; 1 when time runs out.
wait_until() {
	local secs=$1 what=$2 n
	shift 2
	for n in $(seq 1 $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		[ $((n % 20)) = 0 ] && echo "cluster.sh: waiting for $what ($((n / 10)) s)" >&2
		sleep 0.1
	done
	return 1
}

n_masters() { cat "$dir/masters/count"; }
master_port() { sed -n "${1}p" "$dir/masters/ports"; }
coord_url() { cat "$dir/url"; }

start_master() {
	local i=$1 port url
	port=$(master_port "$i")
	url=$(coord_url)
	mkdir -p "$dir/masters/m$i"
	local coord_flag="--coord=$url"
	# shellcheck disable=SC2086
	"$master_bin" --ip=127.0.0.1 --port="$port" --work_dir="$dir/masters/m$i" \
		--quorum="$(cat "$dir/masters/quorum")" "$coord_flag" \
		--zk_session_timeout="${KEEL_SESSION_TIMEOUT:-10secs}" ${KEEL_MASTER_FLAGS:-} \
		>>"$dir/masters/m$i/log" 2>&1 &
	echo $! >"$dir/masters/m$i/pid"
}

master_pid() { cat "$dir/masters/m$1/pid" 2>/dev/null || true; }

# Index of the master whose /metrics/snapshot says master/elected 1, or nothing.
leader_index() {
	local i
	for i in $(seq 1 "$(n_masters)"); do
		if curl -sf -m 2 "http://127.0.0.1:$(master_port "$i")/metrics/snapshot" 2>/dev/null |
			grep -q '"master/elected":1'; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

stop_master() {
	local i=$1 sig=${2:-KILL} pid n
	pid=$(master_pid "$i")
	if svc_pid_is_ours "$pid" "$dir"; then
		kill "-$sig" "$pid" 2>/dev/null || true
		[ "$sig" = KILL ] && kill -CONT "$pid" 2>/dev/null || true
		for n in $(seq 1 200); do
			svc_pid_is_ours "$pid" "$dir" || break
			[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = "Z" ] && break
			sleep 0.05
		done
		wait "$pid" 2>/dev/null || true
	fi
}

case "$cmd" in
up)
	backend=${3:-zk}
	masters=${4:-3}
	agents=${5:-0}
	[[ "$masters" =~ ^[1-9][0-9]*$ && "$agents" =~ ^[0-9]+$ ]] || usage
	[ ! -f "$dir/masters/count" ] || die "$dir holds a cluster already (cluster.sh down $dir first)"
	ensure_build
	mkdir -p "$dir/masters"
	# The service first, then the masters' ports: ports picked before the service binds its own
	# could be taken by it.
	case "$backend" in
	static)
		[ "$masters" = 1 ] || die "static runs one master (use zk or etcd for HA)"
		;;
	zk)
		conn=$("$here/services/zookeeper.sh" start "$dir/zk" 3 | tail -n 1)
		echo "zk://$conn/keel" >"$dir/url"
		;;
	etcd)
		conn=$("$here/services/etcd.sh" start "$dir/etcd" 3 | tail -n 1)
		echo "etcd://$conn/keel" >"$dir/url"
		;;
	*) usage ;;
	esac
	svc_free_ports "$masters" >"$dir/masters/ports"
	[ "$backend" != static ] || echo "static://127.0.0.1:$(master_port 1)" >"$dir/url"
	echo "$backend" >"$dir/backend"
	echo "$masters" >"$dir/masters/count"
	echo $((masters / 2 + 1)) >"$dir/masters/quorum"
	for i in $(seq 1 "$masters"); do
		start_master "$i"
	done
	wait_until 60 "a leading master" leader_index ||
		die "no master leads after 60 s; logs in $dir/masters/m*/log"
	if [ "$agents" -gt 0 ]; then
		mkdir -p "$dir/agents"
		echo "$agents" >"$dir/agents/count"
		svc_free_ports "$agents" >"$dir/agents/ports"
		if python3 "$here/mkimage.py" "$dir/agents/busybox.tar" >/dev/null 2>&1 &&
			"$ctr_bin" --work_dir "$dir/agents/a1" --image_dir "$dir/agents/images" \
				images import "$dir/agents/busybox.tar" --ref busybox:latest >/dev/null; then
			touch "$dir/agents/has_images"
		else
			echo "cluster.sh: no busybox image (scripts/mkimage.py failed): agents run tasks on the host filesystem only" >&2
		fi
		for i in $(seq 1 "$agents"); do
			start_agent "$i"
		done
		# shellcheck disable=SC2016
		wait_until 60 "$agents agent(s) to register" sh -c '[ "$("$0" agents_active "$1")" -ge "$2" ]' \
			"$0" "$dir" "$agents" || die "agents did not register in 60 s; logs in $dir/agents/a*/log"
	fi
	coord_url
	for i in $(seq 1 "$masters"); do echo "http://127.0.0.1:$(master_port "$i")"; done
	;;
down)
	for i in $(seq 1 "$(n_agents)"); do stop_agent "$i"; done
	if [ -f "$dir/masters/count" ]; then
		for i in $(seq 1 "$(n_masters)"); do stop_master "$i" TERM; done
		for i in $(seq 1 "$(n_masters)"); do stop_master "$i" KILL; done
	fi
	[ -d "$dir/zk" ] && "$here/services/zookeeper.sh" stop "$dir/zk"
	[ -d "$dir/etcd" ] && "$here/services/etcd.sh" stop "$dir/etcd"
	rm -f "$dir/masters/count" "$dir/agents/count"
	true
	;;
agents) for i in $(seq 1 "$(n_agents)"); do echo "http://127.0.0.1:$(agent_port "$i")"; done ;;
agents_active) active_agents ;;
url) coord_url ;;
masters) for i in $(seq 1 "$(n_masters)"); do echo "http://127.0.0.1:$(master_port "$i")"; done ;;
leader) leader_index || die "no leader" ;;
kill)
	[ $# -ge 3 ] || usage
	stop_master "$3" "${4:-KILL}"
	;;
start)
	[ $# -ge 3 ] || usage
	ensure_build
	start_master "$3"
	;;
*) usage ;;
esac

#!/usr/bin/env bash
# Brings up and tears down a local HA keel cluster on loopback: a 3-server ZooKeeper (or etcd) and N masters.
#
# Usage:
#   cluster.sh up DIR [zk|etcd] [MASTERS]   start the coordination service (3 servers) and MASTERS
#                                           masters (default 3, quorum = majority) on free ports,
#                                           data under DIR; waits until one master leads; prints
#                                           the coordination URL and the master URLs
#   cluster.sh down DIR                     stop every master and the service (by recorded PID)
#   cluster.sh url DIR                      print the coordination URL
#   cluster.sh masters DIR                  print the masters' URLs, one per line
#   cluster.sh leader DIR                   print the index (1-based) of the leading master
#   cluster.sh kill DIR I [SIG]             send SIG (default KILL) to master I and reap it
#   cluster.sh start DIR I                  (re)start master I on its port and work dir
#
# Environment: KEEL_BUILD (default: build/release, made with meson if missing) is the build dir
# holding master/keel-master; KEEL_MASTER_FLAGS adds flags to every master (e.g.
# --agent_ping_timeout=1secs); KEEL_SESSION_TIMEOUT (default 10secs) is --zk_session_timeout.
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
master_bin=$build/master/keel-master

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

ensure_build() {
	if [ ! -x "$master_bin" ]; then
		[ -d "$build" ] || meson setup "$build" --buildtype=release "$root" >/dev/null
		ninja -C "$build" master/keel-master >/dev/null
	fi
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
	ensure_build
	mkdir -p "$dir/masters"
	case "$backend" in
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
	echo "$backend" >"$dir/backend"
	echo "$masters" >"$dir/masters/count"
	echo $((masters / 2 + 1)) >"$dir/masters/quorum"
	svc_free_ports "$masters" >"$dir/masters/ports"
	for i in $(seq 1 "$masters"); do
		start_master "$i"
	done
	for n in $(seq 1 600); do
		leader_index >/dev/null && break
		sleep 0.1
	done
	leader_index >/dev/null || die "no master leads after 60 s; logs in $dir/masters/m*/log"
	coord_url
	for i in $(seq 1 "$masters"); do echo "http://127.0.0.1:$(master_port "$i")"; done
	;;
down)
	if [ -f "$dir/masters/count" ]; then
		for i in $(seq 1 "$(n_masters)"); do stop_master "$i" TERM; done
		for i in $(seq 1 "$(n_masters)"); do stop_master "$i" KILL; done
	fi
	[ -d "$dir/zk" ] && "$here/services/zookeeper.sh" stop "$dir/zk"
	[ -d "$dir/etcd" ] && "$here/services/etcd.sh" stop "$dir/etcd"
	true
	;;
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

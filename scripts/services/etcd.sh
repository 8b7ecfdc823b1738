#!/usr/bin/env bash
# Starts and stops etcd (one member or an N-member cluster) on loopback for tests and benchmarks.
#
# Usage:
#   etcd.sh start DIR [N]   start N members (default 1) on free loopback ports, data under DIR;
#                           waits until every member is healthy and prints the client endpoints
#                           (127.0.0.1:p1,127.0.0.1:p2,...). Run again on the same DIR it restarts
#                           the members that are not running and resumes paused ones, on the
#                           same ports and data.
#   etcd.sh stop DIR        stops every member (by recorded PID) and the watchdog
#   etcd.sh kill DIR I      SIGKILLs member I (1-based)
#   etcd.sh pause DIR [I]   SIGSTOPs member I, or all; resume DIR [I] sends SIGCONT
#   etcd.sh connstr DIR     prints the client endpoints
#   etcd.sh wait DIR [SECS] waits until every running member is healthy
#
# Environment: KEEL_SERVICE_OWNER=PID makes a watchdog stop the members when that process exits;
# KEEL_ETCD_HEARTBEAT_MS (default 100) and KEEL_ETCD_ELECTION_MS (default 1000) tune raft (the
# smallest lease TTL etcd grants is 1.5 election timeouts, rounded up to whole seconds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

SVC_NAME=etcd.sh
SVC_READY=healthy

etcd_port() { # member, kind (client|peer)
	local col=1
	[ "$2" = peer ] && col=2
	sed -n "${1}p" "$dir/ports" | cut -d' ' -f$col
}

svc_client_port() {
	etcd_port "$1" client
}

svc_ready() {
	curl -s -m 2 "http://127.0.0.1:$(etcd_port "$1" client)/health" | grep -q '"health":"true"'
}

svc_require() {
	command -v etcd >/dev/null || {
		echo "etcd.sh: needs the Debian 'etcd-server' package (apt-get install etcd-server)" >&2
		exit 1
	}
}

svc_configure() {
	local n=$1 i ports
	mapfile -t ports < <(svc_free_ports $((2 * n)))
	: >"$dir/ports"
	for i in $(seq 1 "$n"); do
		echo "${ports[$((2 * (i - 1)))]} ${ports[$((2 * (i - 1) + 1))]}" >>"$dir/ports"
		mkdir -p "$dir/member$i"
	done
	# A token unique to this directory keeps clusters started by parallel tests apart.
	echo "keel-$(basename "$dir")-$$-$RANDOM" >"$dir/token"
}

svc_launch() {
	local i=$1 m="$dir/member$1" n cluster="" j client peer
	n=$(svc_count)
	for j in $(seq 1 "$n"); do
		cluster="$cluster${cluster:+,}m$j=http://127.0.0.1:$(etcd_port "$j" peer)"
	done
	client="http://127.0.0.1:$(etcd_port "$i" client)"
	peer="http://127.0.0.1:$(etcd_port "$i" peer)"
	# The data dir on the command line is how stop/kill recognise the process as ours.
	setsid etcd --name "m$i" --data-dir "$m/data" \
		--listen-client-urls "$client" --advertise-client-urls "$client" \
		--listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "$(cat "$dir/token")" \
		--heartbeat-interval "${KEEL_ETCD_HEARTBEAT_MS:-100}" \
		--election-timeout "${KEEL_ETCD_ELECTION_MS:-1000}" \
		--logger zap --log-outputs stderr --log-level warn \
		</dev/null >>"$m/out.log" 2>&1 &
}

svc_main "$@"

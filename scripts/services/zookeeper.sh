#!/usr/bin/env bash
# Starts and stops ZooKeeper (standalone or an N-server ensemble) on loopback for tests and benchmarks.
#
# Usage:
#   zookeeper.sh start DIR [N]   start N servers (default 1) on free loopback ports, data under DIR;
#                                waits until every server serves and prints the connection string
#                                (127.0.0.1:p1,127.0.0.1:p2,...). Run again on the same DIR it
#                                restarts the members that are not running and resumes paused
#                                ones, on the same ports.
#   zookeeper.sh stop DIR        stops every member (by recorded PID) and the watchdog
#   zookeeper.sh kill DIR I      SIGKILLs member I (1-based)
#   zookeeper.sh pause DIR [I]   SIGSTOPs member I, or all; resume DIR [I] sends SIGCONT
#   zookeeper.sh connstr DIR     prints the connection string
#   zookeeper.sh wait DIR [SECS] waits until every running member serves
#
# Environment: KEEL_SERVICE_OWNER=PID makes a watchdog stop the servers when that process exits;
# KEEL_ZK_TICK_MS (default 200) sets tickTime, which bounds session timeouts to [2, 20] ticks
# unless overridden here (we allow 1 s to 60 s).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

SVC_NAME=zookeeper.sh
SVC_READY=serving

zk_jar=/usr/share/java/zookeeper.jar
# Log through log4j 1.2 (the Debian package ships the binding, not a default).
zk_cp="$zk_jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"

svc_client_port() {
	sed -n "${1}p" "$dir/client_ports"
}

# Sends a four-letter word to member $1 and prints the answer.
zk_4lw() {
	local port
	port=$(svc_client_port "$1")
	timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 && printf "%s" "$2" >&3 && cat <&3' _ "$port" "$2"
}

# True when member $1 answers "srvr" with a mode (standalone, leader or follower): it serves.
svc_ready() {
	zk_4lw "$1" srvr 2>/dev/null | grep -q '^Mode:'
}

svc_require() {
	[ -x "$(command -v java)" ] && [ -f "$zk_jar" ] || {
		echo "zookeeper.sh: needs java and the Debian 'zookeeper' package (apt-get install zookeeper)" >&2
		exit 1
	}
}

svc_configure() {
	local n=$1 i ports tick=${KEEL_ZK_TICK_MS:-200}
	mapfile -t ports < <(svc_free_ports $((3 * n)))
	: >"$dir/client_ports"
	for i in $(seq 1 "$n"); do
		echo "${ports[$((3 * (i - 1)))]}" >>"$dir/client_ports"
	done
	for i in $(seq 1 "$n"); do
		local m="$dir/member$i"
		mkdir -p "$m/data"
		echo "$i" >"$m/data/myid"
		{
			echo "tickTime=$tick"
			echo "initLimit=20"
			echo "syncLimit=10"
			echo "dataDir=$m/data"
			echo "clientPort=${ports[$((3 * (i - 1)))]}"
			echo "clientPortAddress=127.0.0.1"
			echo "minSessionTimeout=1000"
			echo "maxSessionTimeout=60000"
			echo "maxClientCnxns=0"
			echo "admin.enableServer=false"
			echo "4lw.commands.whitelist=srvr,ruok,stat,mntr,cons"
			echo "autopurge.purgeInterval=0"
			echo "cnxTimeout=1000"
			if [ "$n" -gt 1 ]; then
				local j
				for j in $(seq 1 "$n"); do
					echo "server.$j=127.0.0.1:${ports[$((3 * (j - 1) + 1))]}:${ports[$((3 * (j - 1) + 2))]}"
				done
			fi
		} >"$m/zoo.cfg"
		cat >"$m/log4j.properties" <<EOF
log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %m%n
EOF
	done
}

svc_launch() {
	local m="$dir/member$1"
	# The config path on the command line is how stop/kill recognise the process as ours.
	setsid java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Dzookeeper.log.dir="$m" -Dzookeeper.root.logger=WARN,CONSOLE \
		-Dzookeeper.jmx.log4j.disable=true \
		-cp "$m:$zk_cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$m/zoo.cfg" \
		</dev/null >>"$m/out.log" 2>&1 &
}

svc_main "$@"
